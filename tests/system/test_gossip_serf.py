"""
gossipd against a stock Debian `serf agent`: the proof that tribune's gossip
is memberlist/serf's protocol and not a private one.

Each process gets its own loopback address ($TRIBUNE_TEST_NET.x, 127.0.2.x by
default, a range the other suites leave alone) and port 7946.
tribune's side runs tribune-gossipd standalone with its control socket
(-ctl), which answers `members`, `events`, `event NAME PAYLOAD`, `leave`...
The last tests run whole `tribune agent`s and talk to them over HTTP and the
CLI, the way a user would.

Run: TRIBUNE_BUILD=$PWD/build python3 -m pytest -q tests/system/test_gossip_serf.py
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

BUILD = os.environ.get("TRIBUNE_BUILD", os.path.join(os.getcwd(), "build"))
GOSSIPD = os.path.join(BUILD, "libexec", "tribune-gossipd")
TRIBUNE = os.path.join(BUILD, "bin", "tribune")
SERF = shutil.which("serf") or "/usr/bin/serf"
# the /24 of this run's addresses (see conftest.py)
N = os.environ.get("TRIBUNE_TEST_NET", "127.0.2")
KEY = "8olOmRMU+8t3t0L+tkxyZ5W3J0RkGZ5eD7NjbypW9bo="
KEY2 = "T9jZ+8cTHUWtqVQ5GEm1qbe0cnVzNKsyXUHBx0PwuIw="

pytestmark = pytest.mark.skipif(
    not (os.path.exists(GOSSIPD) and os.path.exists(SERF)),
    reason="needs tribune-gossipd and serf")


def wait_for(fn, timeout=15.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


class Cluster:
    """Starts and stops the processes of one test."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.groups = []

    def serf(self, name, ip, key=None, join=None, handler=None, profile="lan"):
        args = [SERF, "agent", "-node", name, "-bind", ip + ":7946",
                "-rpc-addr", ip + ":7373", "-log-level", "debug",
                "-profile", profile]
        if key:
            args += ["-encrypt", key]
        if join:
            args += ["-join", join]
        if handler:
            args += ["-event-handler", handler]
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        rpc = ip + ":7373"
        assert wait_for(lambda: self.serf_members(rpc, quiet=True) is not None)
        return SerfNode(self, p, rpc, name)

    def serf_members(self, rpc, quiet=False):
        r = subprocess.run([SERF, "members", "-rpc-addr", rpc, "-format",
                            "json"], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        out = {}
        for m in json.loads(r.stdout)["members"]:
            out[m["name"]] = m
        return out

    def tribune(self, name, ip, key=None, join=None, dev=True, drop=0,
                data=False):
        sock = os.path.join(self.tmp, name + ".sock")
        args = [GOSSIPD, "-node", name, "-bind", ip, "-serf-lan-port",
                "7946", "-ctl", sock, "-v"]
        if dev:
            args.append("-dev")
        if key:
            args += ["-encrypt", key]
        if join:
            args += ["-join", join]
        if drop:
            args += ["-test-drop-pct", str(drop)]
        if data:
            args += ["-data-dir", os.path.join(self.tmp, name)]
        if os.path.exists(sock):  # left by a killed predecessor
            os.unlink(sock)
        log = open(os.path.join(self.tmp, name + ".tlog"), "a")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        assert wait_for(lambda: os.path.exists(sock))
        return TribuneNode(self, p, sock, name)

    def stop(self):
        for pgid in self.groups:  # agents and their children
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


class SerfNode:
    def __init__(self, c, p, rpc, name):
        self.c, self.p, self.rpc, self.name = c, p, rpc, name

    def members(self):
        return self.c.serf_members(self.rpc) or {}

    def status(self, who):
        m = self.members().get(who)
        return m["status"] if m else None

    def run(self, *args):
        # flags go before the positional arguments
        return subprocess.run([SERF, args[0], "-rpc-addr", self.rpc] +
                              list(args[1:]), capture_output=True, text=True)


class TribuneNode:
    def __init__(self, c, p, sock, name):
        self.c, self.p, self.sock, self.name = c, p, sock, name

    def ctl(self, line):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall(line.encode() + b"\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        return data.decode()

    def members(self):
        out = {}
        for line in self.ctl("members").splitlines():
            f = line.split(" ", 5)
            tags = {}
            if len(f) > 5 and f[5]:
                for kv in f[5].split(","):
                    k, _, v = kv.partition("=")
                    tags[k] = v
            out[f[0]] = {"addr": f[1], "status": f[2], "inc": int(f[3]),
                         "tags": tags}
        return out

    def status(self, who):
        m = self.members().get(who)
        return m["status"] if m else None

    def events(self):
        out = []
        for line in self.ctl("events").splitlines():
            f = line.split(" ", 3)
            out.append({"id": f[0], "name": f[1], "ltime": int(f[2]),
                        "payload": f[3] if len(f) > 3 else ""})
        return out


@pytest.fixture
def cluster():
    tmp = tempfile.mkdtemp(prefix="tribune-gossip-")
    c = Cluster(tmp)
    yield c
    c.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def all_alive(view, names):
    return all(view.status(n) == "alive" for n in names)


def test_join_both_ways_and_tags(cluster):
    s1 = cluster.serf("s1", N + ".21")
    t1 = cluster.tribune("t1", N + ".22", join=N + ".21")  # tribune -> serf
    t2 = cluster.tribune("t2", N + ".23")
    assert s1.run("join", N + ".23:7946").returncode == 0      # serf -> tribune
    names = ["s1", "t1", "t2"]
    for v in (s1, t1, t2):
        assert wait_for(lambda: all_alive(v, names)), (v.name, v.members())
    m = s1.members()["t1"]
    assert m["tags"]["role"] == "node"
    assert m["tags"]["dc"] == "dc1"
    assert m["tags"]["build"].startswith("1.15.2")
    assert len(m["tags"]["id"]) == 36
    assert m["protocol"]["version"] == 4  # serf protocol, as Consul speaks it
    # stays alive: serf never suspects us over 20 probe rounds
    time.sleep(3)
    assert all_alive(s1, names)
    assert t1.members()["t1"]["inc"] == 1


def test_kill9_detected_both_ways(cluster):
    s1 = cluster.serf("s1", N + ".31")
    s2 = cluster.serf("s2", N + ".32", join=N + ".31")
    t1 = cluster.tribune("t1", N + ".33", join=N + ".31")
    t2 = cluster.tribune("t2", N + ".34", join=N + ".31")
    names = ["s1", "s2", "t1", "t2"]
    for v in (s1, s2, t1, t2):
        assert wait_for(lambda: all_alive(v, names)), (v.name, v.members())
    t2.p.send_signal(signal.SIGKILL)
    assert wait_for(lambda: s1.status("t2") == "failed", 30)
    assert wait_for(lambda: t1.status("t2") == "failed", 30)
    s2.p.send_signal(signal.SIGKILL)
    assert wait_for(lambda: t1.status("s2") == "failed", 30)
    assert s1.status("t1") == "alive" and t1.status("s1") == "alive"


def test_graceful_leave_both_ways(cluster):
    s1 = cluster.serf("s1", N + ".41")
    s2 = cluster.serf("s2", N + ".42", join=N + ".41")
    t1 = cluster.tribune("t1", N + ".43", join=N + ".41")
    t2 = cluster.tribune("t2", N + ".44", join=N + ".41")
    names = ["s1", "s2", "t1", "t2"]
    for v in (s1, t1):
        assert wait_for(lambda: all_alive(v, names))
    assert t2.ctl("leave").strip() == "ok"
    assert wait_for(lambda: t2.p.poll() is not None, 10)
    assert wait_for(lambda: s1.status("t2") == "left", 10), s1.members()
    assert wait_for(lambda: t1.status("t2") == "left", 10)
    assert s2.run("leave").returncode == 0
    assert wait_for(lambda: t1.status("s2") == "left", 10), t1.members()
    assert s1.status("s2") == "left"


def test_user_events_both_ways(cluster, tmp_path):
    out = tmp_path / "handler.out"
    script = tmp_path / "handler.sh"
    script.write_text('#!/bin/sh\necho "$SERF_USER_EVENT $(cat)" >> %s\n' % out)
    script.chmod(0o755)
    s1 = cluster.serf("s1", N + ".51", handler="user=" + str(script))
    t1 = cluster.tribune("t1", N + ".52", join=N + ".51")
    t2 = cluster.tribune("t2", N + ".53", join=N + ".51")
    for v in (s1, t1, t2):
        assert wait_for(lambda: all_alive(v, ["s1", "t1", "t2"]))
    assert s1.run("event", "-coalesce=false", "deploy", "v42").returncode == 0
    for t in (t1, t2):
        assert wait_for(lambda: [e for e in t.events() if e["name"] == "deploy"])
        ev = [e for e in t.events() if e["name"] == "deploy"]
        assert len(ev) == 1 and ev[0]["payload"] == "v42"
    assert t1.ctl("event fromtribune hello").strip() == "ok"
    assert wait_for(lambda: out.exists() and "fromtribune hello" in out.read_text())
    assert wait_for(lambda: [e for e in t2.events() if e["name"] == "fromtribune"])
    time.sleep(2)
    # delivered once, however many times it was gossiped
    assert out.read_text().count("fromtribune hello") == 1
    assert len([e for e in t2.events() if e["name"] == "fromtribune"]) == 1


def test_encryption_and_wrong_key(cluster):
    s1 = cluster.serf("s1", N + ".61", key=KEY)
    t1 = cluster.tribune("t1", N + ".62", key=KEY, join=N + ".61")
    assert wait_for(lambda: all_alive(s1, ["s1", "t1"]))
    assert wait_for(lambda: all_alive(t1, ["s1", "t1"]))
    assert s1.run("event", "secret", "x").returncode == 0
    assert wait_for(lambda: [e for e in t1.events() if e["name"] == "secret"])
    t2 = cluster.tribune("t2", N + ".63", key=KEY2, join=N + ".61")
    t3 = cluster.tribune("t3", N + ".64", join=N + ".61")  # plaintext
    time.sleep(3)
    assert "t2" not in s1.members() and "t3" not in s1.members()
    assert "s1" not in t2.members() and "s1" not in t3.members()
    assert all_alive(s1, ["s1", "t1"])
    # serf joining a tribune agent with another key fails too
    assert s1.run("join", N + ".63:7946").returncode != 0


def test_five_tribune_one_killed_with_loss(cluster):
    ips = [N + ".7%d" % i for i in range(1, 6)]
    ts = [cluster.tribune("n%d" % i, ip, join=ips[0] if i else None, drop=5)
          for i, ip in enumerate(ips)]
    names = [t.name for t in ts]
    for t in ts:
        assert wait_for(lambda: all_alive(t, names), 20), t.members()
    time.sleep(5)  # under 5% loss nobody is falsely accused
    for t in ts:
        assert all_alive(t, names), t.members()
    victim = ts[2]
    victim.p.send_signal(signal.SIGKILL)
    t0 = time.time()
    others = [t for t in ts if t is not victim]
    assert wait_for(lambda: all(t.status(victim.name) == "failed"
                                for t in others), 10)
    took = time.time() - t0
    for t in others:
        for n in names:
            if n != victim.name:
                assert t.status(n) == "alive", (t.name, t.members())
    assert took < 4.0, took  # target 2 s; slack for a loaded machine


def test_restart_rejoins_from_snapshot(cluster):
    s1 = cluster.serf("s1", N + ".81")
    t1 = cluster.tribune("t1", N + ".82", join=N + ".81", data=True)
    assert wait_for(lambda: all_alive(s1, ["s1", "t1"]))
    t1.p.send_signal(signal.SIGKILL)
    assert wait_for(lambda: s1.status("t1") == "failed", 30)
    t1b = cluster.tribune("t1", N + ".82", data=True)  # no -join
    assert wait_for(lambda: s1.status("t1") == "alive", 15)
    assert wait_for(lambda: t1b.status("s1") == "alive")


def http(addr, path, method="GET", data=None):
    req = urllib.request.Request("http://%s%s" % (addr, path), method=method,
                                 data=data)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def test_tribune_agent_with_serf(cluster, tmp_path):
    """A whole `tribune agent` (supervisor + gossipd) and serf."""
    if not os.path.exists(TRIBUNE):
        pytest.skip("no tribune binary")
    s1 = cluster.serf("s1", N + ".91")
    data = tmp_path / "a1"
    log = open(tmp_path / "a1.log", "w")
    p = subprocess.Popen([TRIBUNE, "agent", "-node", "a1", "-bind",
                          N + ".92", "-client", N + ".92",
                          "-serf-lan-port", "7946", "-data-dir", str(data),
                          "-join", N + ".91"],
                         stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    cluster.procs.append(p)
    cluster.groups.append(p.pid)
    assert wait_for(lambda: s1.status("a1") == "alive", 20)
    assert s1.members()["a1"]["tags"]["role"] == "node"
    def members():
        try:
            return http(N + ".92:8500", "/v1/agent/members")
        except Exception:  # httpd may still be starting
            return None
    got = wait_for(members, 15)
    if got is None:
        pytest.skip("no /v1/agent/members")
    st, body = got
    members = {m["Name"]: m for m in json.loads(body)}
    assert members["s1"]["Status"] == 1 and members["a1"]["Status"] == 1
    assert s1.run("event", "-coalesce=false", "ping", "pong").returncode == 0

    def got_event():
        _, b = http(N + ".92:8500", "/v1/event/list")
        return [e for e in json.loads(b) if e["Name"] == "ping"]
    ev = wait_for(got_event)
    assert ev and base64.b64decode(ev[0]["Payload"]) == b"pong"
    p.send_signal(signal.SIGTERM)  # a client leaves on terminate
    assert wait_for(lambda: s1.status("a1") == "left", 10)


def test_key_rotation_and_query(cluster):
    s1 = cluster.serf("s1", N + ".101", key=KEY)
    t1 = cluster.tribune("t1", N + ".102", key=KEY, join=N + ".101",
                         data=True)
    assert wait_for(lambda: all_alive(s1, ["s1", "t1"]))
    r = s1.run("keys", "-list")
    assert KEY + "  [2/2]" in r.stdout, r.stdout
    assert s1.run("keys", "-install", KEY2).returncode == 0
    assert s1.run("keys", "-use", KEY2).returncode == 0
    assert s1.run("keys", "-remove", KEY).returncode == 0
    r = s1.run("keys", "-list")
    assert KEY2 + "  [2/2]" in r.stdout and KEY not in r.stdout, r.stdout
    time.sleep(2)  # gossip now runs on the new key only
    assert all_alive(s1, ["s1", "t1"]) and all_alive(t1, ["s1", "t1"])
    r = s1.run("query", "-timeout", "2s", "hello")
    assert "Ack from 't1'" in r.stdout, r.stdout
    # the rotated ring was saved: a restart with the old -encrypt still
    # speaks the new key (the keyring file wins, as in Consul)
    t1.p.send_signal(signal.SIGKILL)
    t1.p.wait()
    t1 = cluster.tribune("t1", N + ".102", key=KEY, data=True)
    assert wait_for(lambda: t1.status("s1") == "alive", 15), t1.members()
    assert wait_for(lambda: s1.status("t1") == "alive", 15)


class Agent:
    """A whole `tribune agent` on its own loopback address."""

    def __init__(self, cluster, tmp, name, ip, *extra):
        self.name, self.ip = name, ip
        self.http = ip + ":8500"
        log = open(os.path.join(tmp, name + ".alog"), "w")
        self.p = subprocess.Popen(
            [TRIBUNE, "agent", "-node", name, "-bind", ip, "-client", ip,
             "-serf-lan-port", "7946", "-data-dir", os.path.join(tmp, name)]
            + list(extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own group: kill -9 takes all
        cluster.procs.append(self.p)
        cluster.groups.append(self.p.pid)
        assert wait_for(lambda: self.members_http() is not None, 20)

    def members_http(self):
        try:
            _, b = http(self.http, "/v1/agent/members")
            return {m["Name"]: m for m in json.loads(b)}
        except Exception:
            return None

    def cli(self, *args):
        return subprocess.run([TRIBUNE] + list(args[:1]) +
                              ["-http-addr", self.http] + list(args[1:]),
                              capture_output=True, text=True, timeout=30)

    def status(self, who):
        m = (self.members_http() or {}).get(who)
        return {1: "alive", 2: "leaving", 3: "left", 4: "failed"}.get(
            m["Status"]) if m else None


def test_agents_and_serf(cluster, tmp_path):
    """Issue 5's acceptance: serf + two tribune agents, both directions."""
    if not os.path.exists(TRIBUNE):
        pytest.skip("no tribune binary")
    out = tmp_path / "handler.out"
    script = tmp_path / "handler.sh"
    script.write_text('#!/bin/sh\necho "$SERF_USER_EVENT" >> %s\n' % out)
    script.chmod(0o755)
    s1 = cluster.serf("s1", N + ".111", key=KEY,
                      handler="user=" + str(script))
    a1 = Agent(cluster, str(tmp_path), "a1", N + ".112", "-encrypt", KEY,
               "-join", N + ".111")
    a2 = Agent(cluster, str(tmp_path), "a2", N + ".113", "-encrypt", KEY)
    # serf joins the second agent (serf -> tribune)
    assert s1.run("join", N + ".113:7946").returncode == 0
    names = ["s1", "a1", "a2"]
    assert wait_for(lambda: all(s1.status(n) == "alive" for n in names), 20)
    for a in (a1, a2):
        assert wait_for(lambda: all(a.status(n) == "alive" for n in names), 20)
    # both views agree on tags
    sm = s1.members()
    for a in (a1, a2):
        hm = a.members_http()
        for n in ("a1", "a2"):
            assert hm[n]["Tags"] == sm[n]["tags"], (hm[n], sm[n])
    r = a1.cli("members")
    assert r.returncode == 0, r.stderr
    lines = {l.split()[0]: l.split() for l in r.stdout.splitlines()[1:]}
    assert set(lines) == set(names), r.stdout
    assert lines["a2"][2] == "alive" and lines["a2"][3] == "client"
    # tribune event runs serf's event handler
    r = a1.cli("event", "-name", "deploy", "v1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_for(lambda: out.exists() and "deploy" in out.read_text())
    # serf event reaches the other agent's /v1/event/list
    assert s1.run("event", "-coalesce=false", "fromserf", "p").returncode == 0

    def listed():
        _, b = http(a2.http, "/v1/event/list")
        return [e["Name"] for e in json.loads(b)]
    assert wait_for(lambda: "fromserf" in listed() and "deploy" in listed())
    # kill -9 of a whole agent (supervisor and children) is seen by all
    os.killpg(a2.p.pid, signal.SIGKILL)
    assert wait_for(lambda: s1.status("a2") == "failed", 30)
    assert wait_for(lambda: a1.status("a2") == "failed", 30)
    # ...and the reverse: serf killed, the agent marks it failed
    s1.p.send_signal(signal.SIGKILL)
    assert wait_for(lambda: a1.status("s1") == "failed", 30)
    # force-leave turns a failed member into left; -prune erases it
    r = a1.cli("force-leave", "s1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_for(lambda: a1.status("s1") == "left", 5)
    r = a1.cli("force-leave", "-prune", "s1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_for(lambda: "s1" not in (a1.members_http() or {"s1": 0}), 5)


def test_agent_retry_join_and_cli_join(cluster, tmp_path):
    """-retry-join keeps trying until serf is there; `tribune join` works."""
    if not os.path.exists(TRIBUNE):
        pytest.skip("no tribune binary")
    a1 = Agent(cluster, str(tmp_path), "a1", N + ".121", "-retry-join",
               N + ".122", "-retry-interval", "1s")
    time.sleep(2)
    s1 = cluster.serf("s1", N + ".122")
    assert wait_for(lambda: s1.status("a1") == "alive", 15)
    s2 = cluster.serf("s2", N + ".123")
    r = a1.cli("join", N + ".123")
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_for(lambda: s2.status("a1") == "alive", 10)
    assert wait_for(lambda: a1.status("s2") == "alive", 10)
    r = a1.cli("join", N + ".124")  # nobody there
    assert r.returncode != 0
    r = a1.cli("leave")
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_for(lambda: s1.status("a1") == "left", 15), s1.members()


def test_join_by_host_name(cluster):
    """`-join node1` as in the tutorials: names are resolved."""
    # serf on 127.0.0.1 with an unusual port, reached as "localhost"
    args = [SERF, "agent", "-node", "s1", "-bind", "127.0.0.1:17946",
            "-rpc-addr", N + ".131:7373"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    cluster.procs.append(p)
    s1 = SerfNode(cluster, p, N + ".131:7373", "s1")
    assert wait_for(lambda: cluster.serf_members(s1.rpc) is not None)
    t1 = cluster.tribune("t1", N + ".132", join="localhost:17946")
    assert wait_for(lambda: s1.status("t1") == "alive")
    assert t1.status("s1") == "alive"
    assert t1.ctl("join no-such-host.invalid").startswith("error")


def test_ipv6(cluster):
    if not socket.has_ipv6 or not os.path.exists("/proc/net/if_inet6"):
        pytest.skip("no IPv6")
    args = [SERF, "agent", "-node", "s1", "-bind", "[::1]:17951",
            "-rpc-addr", N + ".141:7373"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    cluster.procs.append(p)
    s1 = SerfNode(cluster, p, N + ".141:7373", "s1")
    assert wait_for(lambda: cluster.serf_members(s1.rpc) is not None)
    sock = os.path.join(cluster.tmp, "t6.sock")
    t = subprocess.Popen([GOSSIPD, "-node", "t6", "-bind", "::1",
                          "-serf-lan-port", "17952", "-join", "[::1]:17951",
                          "-ctl", sock, "-dev"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cluster.procs.append(t)
    assert wait_for(lambda: os.path.exists(sock))
    t6 = TribuneNode(cluster, t, sock, "t6")
    assert wait_for(lambda: s1.status("t6") == "alive")
    assert t6.members()["s1"]["addr"] == "[::1]:17951"
