"""Shared fixtures for system tests: real agents, talked to as a user would.

Every agent gets its own loopback address (127.0.0.2, 127.0.0.3, ...) and
Consul's default ports, the way the seed tutorials give each container its
own IP.  The binaries come from $TRIBUNE_BUILD (make test sets it).
"""
import itertools
import os
import signal
import subprocess
import time

import pytest
import requests

BUILD = os.environ.get("TRIBUNE_BUILD",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
TRIBUNE = os.path.join(BUILD, "bin", "tribune")
CHILDREN = ("raftd", "gossipd", "checkd", "httpd", "dnsd")

_next_ip = itertools.count(2)
# TRIBUNE_TEST_NET moves every agent to another /24 of 127/8 (say 127.0.3),
# so two test runs on one machine never share an address.
_net = os.environ.get("TRIBUNE_TEST_NET", "127.0.0")


def next_ip():
    """A fresh loopback address for one agent of one test."""
    return "%s.%d" % (_net, next(_next_ip))


class Agent:
    """One `tribune agent` process with its own address and data dir."""

    def __init__(self, tmp_path, ip=None, args=(), dev=True, env=None, name=None,
                 netns=None):
        # netns: run the agent (and cli()/curl() towards it) inside that
        # network namespace; ip is then its address there (see NetnsLan).
        self.netns = netns
        self.ip = ip or next_ip()
        self.name = name or "node-" + self.ip.split(".")[-1]
        self.data_dir = str(tmp_path / ("data-" + self.ip))
        self.log_path = str(tmp_path / ("agent-" + self.ip + ".log"))
        self.args = list(args)
        self.dev = dev
        self.env = dict(os.environ)
        self.env["TRIBUNE_AGENTS_DIR"] = str(tmp_path / "agents")
        os.makedirs(self.env["TRIBUNE_AGENTS_DIR"], exist_ok=True)
        if env:
            self.env.update(env)
        self.proc = None
        self.http_addr = "http://%s:8500" % self.ip

    def _in_netns(self, cmd):
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + cmd

    def command(self):
        cmd = self._in_netns([TRIBUNE, "agent"])
        if self.dev:
            cmd.append("-dev")
        cmd += ["-node", self.name, "-bind", self.ip, "-client", self.ip,
                "-data-dir", self.data_dir] + self.args
        return cmd

    def start(self, wait=True, timeout=20):
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)
        if wait:
            self.wait_running(timeout)
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_running(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "agent running" in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError("agent exited %s:\n%s" %
                                     (self.proc.returncode, self.log()))
            time.sleep(0.05)
        raise AssertionError("agent not running after %ss:\n%s" % (timeout, self.log()))

    def cli(self, *args, check=False, timeout=30, input=None):
        """Runs `tribune <args> -http-addr <this agent>`; returns CompletedProcess."""
        cmd = self._in_netns([TRIBUNE] + list(args))
        env = dict(self.env)
        env["TRIBUNE_HTTP_ADDR"] = self.http_addr
        r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError("%s: rc=%d\n%s%s" % (cmd, r.returncode, r.stdout, r.stderr))
        return r

    def status(self):
        import json
        r = self.cli("debug", "status", "-json", check=True)
        return json.loads(r.stdout)

    def children(self):
        return {c["name"]: c for c in self.status()["children"]}

    def http(self, method, path, **kw):
        assert not self.netns, "in a network namespace: use curl()"
        kw.setdefault("timeout", 10)
        return requests.request(method, self.http_addr + path, **kw)

    def curl(self, path, method="GET", timeout=10):
        """curl from the agent's side (its namespace); (status, body)."""
        r = subprocess.run(self._in_netns(
            ["curl", "-s", "-X", method, "-m", str(timeout), "-w", "\n%{http_code}",
             self.http_addr + path]), capture_output=True, text=True,
            timeout=timeout + 5)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def kill(self):
        """kill -9 of the whole agent (supervisor and children)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class NetnsLan:
    """A LAN of network namespaces: a hub namespace holding a bridge, and
    per agent a namespace joined to it by a veth pair, with an address in
    10.77.4.0/24.  Each agent namespace can drop a share of the UDP it
    receives (iptables' statistic match).  Needs root; delete() removes
    every namespace it made, and a new NetnsLan first removes those left
    by runs that died."""

    PREFIX = "tribtest"

    def __init__(self, net="10.77.4"):
        self.net = net
        self.tag = "%s-%d" % (self.PREFIX, os.getpid())
        self.hub = self.tag + "-hub"
        self.names = []
        self._reap_stale()
        self._ip("netns", "add", self.hub)
        self.names.append(self.hub)
        try:
            self._ns(self.hub, "ip", "link", "add", "br0", "type", "bridge")
            self._ns(self.hub, "ip", "link", "set", "br0", "up")
        except subprocess.CalledProcessError:
            self.delete()
            raise

    @classmethod
    def _reap_stale(cls):
        out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            parts = name.split("-")
            if len(parts) >= 3 and parts[0] == cls.PREFIX and parts[1].isdigit() \
                    and not os.path.exists("/proc/" + parts[1]):
                subprocess.run(["ip", "netns", "del", name])

    @staticmethod
    def _ip(*args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True)

    @staticmethod
    def _ns(ns, *cmd):
        subprocess.run(["ip", "netns", "exec", ns] + list(cmd), check=True,
                       capture_output=True)

    def add(self, i, udp_loss=0.0):
        """Namespace number i (1..250); returns (name, address)."""
        ns, ip = "%s-%d" % (self.tag, i), "%s.%d" % (self.net, i)
        self._ip("netns", "add", ns)
        self.names.append(ns)
        self._ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer",
                 "name", "p%d" % i, "netns", self.hub)
        self._ns(self.hub, "ip", "link", "set", "p%d" % i, "master", "br0", "up")
        self._ns(ns, "ip", "addr", "add", ip + "/24", "dev", "eth0")
        self._ns(ns, "ip", "link", "set", "eth0", "up")
        self._ns(ns, "ip", "link", "set", "lo", "up")
        if udp_loss:
            # the first rule only counts, so udp_counts() can tell the share
            self._ns(ns, "iptables", "-A", "INPUT", "-p", "udp")
            self._ns(ns, "iptables", "-A", "INPUT", "-p", "udp", "-m",
                     "statistic", "--mode", "random", "--probability",
                     str(udp_loss), "-j", "DROP")
        return ns, ip

    @staticmethod
    def udp_counts(ns):
        """(UDP packets received, dropped) by the loss rules of ns."""
        out = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-L",
                              "INPUT", "-v", "-n", "-x"], capture_output=True,
                             text=True, check=True).stdout
        rows = [l.split() for l in out.splitlines()[2:] if l.strip()]
        return int(rows[0][0]), int(rows[1][0])  # the two rules add() made

    def delete(self):
        for ns in reversed(self.names):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.names = []


@pytest.fixture
def netns_lan():
    """A NetnsLan, or a skip saying why namespaces cannot be made here."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    try:
        lan = NetnsLan()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip("cannot make network namespaces: %s %s" % (
            e, getattr(e, "stderr", "") or ""))
    try:
        yield lan
    finally:
        lan.delete()


def sanitizer_report(text):
    """The first line of an ASan/UBSan report in an agent's log, or None."""
    for line in text.splitlines():
        if "AddressSanitizer" in line or "LeakSanitizer" in line or "runtime error:" in line:
            return line
    return None


@pytest.fixture
def agent_factory(tmp_path):
    agents = []

    def make(**kw):
        a = Agent(tmp_path, **kw)
        agents.append(a)
        return a

    yield make
    reports = []
    for a in agents:
        try:
            a.stop(timeout=5)
        except Exception:
            pass
        if a.proc is not None and a.proc.poll() is None:
            os.killpg(a.proc.pid, signal.SIGKILL)
        try:
            if a.proc is not None:
                os.killpg(a.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if a.proc is not None:
            line = sanitizer_report(a.log())
            if line:
                reports.append("%s: %s (log: %s)" % (a.name, line, a.log_path))
    assert not reports, "sanitizer report in an agent's log: %s" % reports


@pytest.fixture
def agent(agent_factory):
    """One running -dev agent on its own loopback address."""
    return agent_factory().start()
