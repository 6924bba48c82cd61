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

    def __init__(self, tmp_path, ip=None, args=(), dev=True, env=None, name=None):
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

    def command(self):
        cmd = [TRIBUNE, "agent"]
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
        cmd = [TRIBUNE] + list(args)
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
        kw.setdefault("timeout", 10)
        return requests.request(method, self.http_addr + path, **kw)

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
