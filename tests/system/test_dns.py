"""dnsd through the wire, as dig and resolvers see it.

Most tests run tribune-dnsd --standalone over tests/golden/dns/fixture.json
(a catalog without raftd), each on its own loopback address and port 8600;
SIGHUP re-reads the fixture, which is how a health change is simulated
until raftd serves the catalog.  The last test checks dnsd under a real
agent.
"""
import copy
import json
import os
import random
import signal
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import BUILD, next_ip

DNSD = os.path.join(BUILD, "libexec", "tribune-dnsd")
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "golden", "dns", "fixture.json")


class Dnsd:
    def __init__(self, tmp_path, edit=None):
        self.ip = next_ip()
        with open(FIXTURE) as f:
            self.doc = json.load(f)
        self.doc["config"]["client_addr"] = self.ip
        self.doc["config"]["ports"] = {"dns": 8600}
        if edit:
            edit(self.doc)
        self.path = str(tmp_path / ("fixture-%s.json" % self.ip))
        self.write()
        self.log = open(str(tmp_path / ("dnsd-%s.log" % self.ip)), "wb")
        self.proc = subprocess.Popen([DNSD, "--standalone", self.path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                self.ask("consul", "SOA", timeout=0.2)
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("dnsd did not start")

    def write(self):
        with open(self.path, "w") as f:
            json.dump(self.doc, f)

    def reload(self):
        self.write()
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)

    def ask(self, name, rdtype="A", tcp=False, edns=1232, timeout=2):
        q = dns.message.make_query(name, rdtype, use_edns=edns is not None,
                                   payload=edns or 512)
        if tcp:
            return dns.query.tcp(q, self.ip, port=8600, timeout=timeout)
        return dns.query.udp(q, self.ip, port=8600, timeout=timeout)

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=5) == 0


@pytest.fixture
def dnsd(tmp_path):
    d = Dnsd(tmp_path)
    yield d
    d.stop()


def add_big(doc, n=300):
    for i in range(n):
        doc["Nodes"].append({"Node": "b%d" % i, "Address": "10.2.%d.%d" % (i // 200, i % 200 + 1)})
        doc["Services"].append({"Node": "b%d" % i, "Service": "big", "Port": 80})


def addrs(m):
    return sorted(r.address for rr in m.answer for r in rr
                  if rr.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))


def soa_in_authority(m):
    return any(rr.rdtype == dns.rdatatype.SOA for rr in m.authority)


def test_service_lookups_udp_and_tcp(dnsd):
    for tcp in (False, True):
        m = dnsd.ask("web.service.consul", tcp=tcp)
        assert m.rcode() == dns.rcode.NOERROR
        assert m.flags & dns.flags.AA and not m.flags & dns.flags.RA
        assert addrs(m) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4",
                            "192.168.1.5"]
    m = dnsd.ask("v1.WEB.service.Consul")
    assert addrs(m) == ["10.0.0.1", "10.0.0.3"]
    m = dnsd.ask("_web._tcp.service.consul", "SRV")
    assert len(m.answer[0]) == 5
    targets = {str(r.target) for r in m.answer[0]}
    assert "c0a80105.addr.dc1.consul." in targets
    extra = {str(rr.name) for rr in m.additional if rr.rdtype == dns.rdatatype.A}
    assert extra == targets


def test_truncation_sets_tc_and_tcp_has_all(dnsd):
    m = dnsd.ask("web.service.consul", edns=None)
    assert m.flags & dns.flags.TC
    assert len(addrs(m)) == 3
    q = dns.message.make_query("web.service.consul", "A", use_edns=False)
    m, used_tcp = dns.query.udp_with_fallback(q, dnsd.ip, port=8600, timeout=2)
    assert used_tcp and len(addrs(m)) == 5 and not m.flags & dns.flags.TC


def test_truncation_with_big_service(tmp_path):
    d = Dnsd(tmp_path, add_big)
    try:
        for size in (512, 1232, 4096):
            q = dns.message.make_query("big.service.consul", "SRV", use_edns=True, payload=size)
            wire = q.to_wire()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            s.sendto(wire, (d.ip, 8600))
            data, _ = s.recvfrom(65535)
            s.close()
            assert len(data) <= size
            m = dns.message.from_wire(data)
            assert m.flags & dns.flags.TC
            assert m.payload == size  # the requester's size, echoed
        m = d.ask("big.service.consul", "SRV", tcp=True)
        assert len(m.answer[0]) == 300 and not m.flags & dns.flags.TC
    finally:
        d.stop()


def test_negative_answers(dnsd):
    m = dnsd.ask("nobody.node.consul")
    assert m.rcode() == dns.rcode.NXDOMAIN and soa_in_authority(m)
    m = dnsd.ask("node2.node.consul", "AAAA")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer and soa_in_authority(m)
    m = dnsd.ask("example.com")
    assert m.rcode() == dns.rcode.REFUSED
    m = dnsd.ask("api.service.consul")  # only instance in maintenance
    assert m.rcode() == dns.rcode.NXDOMAIN


def test_health_change_reaches_dns(dnsd):
    assert "10.0.0.3" in addrs(dnsd.ask("web.service.consul"))
    dnsd.doc["Checks"].append({"Node": "node3", "CheckID": "service:web3",
                               "ServiceID": "web3", "Status": "critical"})
    dnsd.reload()
    assert "10.0.0.3" not in addrs(dnsd.ask("web.service.consul"))
    dnsd.doc["Checks"][-1]["Status"] = "passing"
    dnsd.reload()
    assert "10.0.0.3" in addrs(dnsd.ask("web.service.consul"))


def test_malformed_packets_do_not_kill_it(dnsd):
    rnd = random.Random(4)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    base = dns.message.make_query("web.service.consul", "SRV").to_wire()
    for i in range(3000):
        if i % 2:
            pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 80)))
        else:
            b = bytearray(base)
            for _ in range(rnd.randrange(1, 6)):
                b[rnd.randrange(len(b))] = rnd.getrandbits(8)
            pkt = bytes(b[:rnd.randrange(1, len(b) + 1)])
        s.sendto(pkt, (dnsd.ip, 8600))
    s.close()
    # TCP: a length prefix promising more than is sent, then a hang-up.
    t = socket.create_connection((dnsd.ip, 8600))
    t.sendall(b"\xff\xff" + b"\x00" * 100)
    t.close()
    t = socket.create_connection((dnsd.ip, 8600))
    t.sendall(b"\x00\x05\x01\x02\x03\x04\x05")
    t.close()
    time.sleep(0.2)
    assert dnsd.proc.poll() is None
    assert len(addrs(dnsd.ask("web.service.consul"))) == 5


def test_tcp_pipelined_queries(dnsd):
    t = socket.create_connection((dnsd.ip, 8600))
    t.settimeout(3)
    ids = []
    buf = b""
    for i in range(50):
        q = dns.message.make_query("node%d.node.consul" % (2 + i % 4), "A")
        ids.append(q.id)
        w = q.to_wire()
        buf += struct.pack("!H", len(w)) + w
    t.sendall(buf)
    got = []
    data = b""
    while len(got) < 50:
        chunk = t.recv(65536)
        assert chunk
        data += chunk
        while len(data) >= 2 and len(data) >= 2 + struct.unpack("!H", data[:2])[0]:
            n = struct.unpack("!H", data[:2])[0]
            got.append(dns.message.from_wire(data[2:2 + n]))
            data = data[2 + n:]
    t.close()
    assert [m.id for m in got] == ids
    assert all(len(m.answer) == 1 for m in got)


def test_forwarding_to_recursors(tmp_path):
    def upstream_edit(d):
        d["config"].update(domain="example.", alt_domain="")
        add_big(d)
    upstream = Dnsd(tmp_path, upstream_edit)
    front = Dnsd(tmp_path, lambda d: d["config"].update(
        recursors=[upstream.ip + ":8600"],
        dns_config=dict(d["config"]["dns_config"], recursor_timeout="300ms")))
    try:
        m = front.ask("web.service.example", "SRV")
        assert m.rcode() == dns.rcode.NOERROR and len(m.answer[0]) == 5
        m = front.ask("web.service.consul")
        assert m.flags & dns.flags.RA  # recursion available now
        # Too big for UDP upstream: TC relayed; over TCP it all comes
        # through, because a TCP client's query goes upstream over TCP.
        m = front.ask("big.service.example", "SRV", edns=None)
        assert m.flags & dns.flags.TC
        m = front.ask("big.service.example", "SRV", tcp=True)
        assert len(m.answer[0]) == 300 and not m.flags & dns.flags.TC
        q = dns.message.make_query("big.service.example", "A", use_edns=False)
        m, used_tcp = dns.query.udp_with_fallback(q, front.ip, port=8600, timeout=3)
        assert used_tcp and len(addrs(m)) == 300
        # A dead first recursor: after recursor_timeout, the next one.
        dead = next_ip()
        second = Dnsd(tmp_path, lambda d: d["config"].update(
            recursors=[dead + ":8600", upstream.ip + ":8600"],
            dns_config=dict(d["config"]["dns_config"], recursor_timeout="300ms")))
        try:
            t0 = time.time()
            m = second.ask("web.service.example", timeout=3)
            assert m.rcode() == dns.rcode.NOERROR and addrs(m)
            assert time.time() - t0 >= 0.25
            m = second.ask("web.service.example", "SRV", tcp=True, timeout=3)
            assert len(m.answer[0]) == 5
        finally:
            second.stop()
        upstream.stop()
        m = front.ask("web.service.example", timeout=3)
        assert m.rcode() == dns.rcode.SERVFAIL
        m = front.ask("web.service.example", tcp=True, timeout=3)
        assert m.rcode() == dns.rcode.SERVFAIL
    finally:
        if upstream.proc.poll() is None:
            upstream.stop()
        front.stop()


def test_dig(dnsd):
    if not os.path.exists("/usr/bin/dig"):
        pytest.skip("no dig")
    out = subprocess.run(["dig", "@" + dnsd.ip, "-p", "8600", "+short",
                          "server1.node.consul"], capture_output=True,
                         text=True, timeout=10).stdout
    assert out.strip() == "10.0.0.1"
    out = subprocess.run(["dig", "@" + dnsd.ip, "-p", "8600", "+short",
                          "-x", "10.0.0.2"], capture_output=True, text=True,
                         timeout=10).stdout
    assert out.strip() == "node2.node.dc1.consul."


def test_dnsd_under_the_agent(agent_factory):
    # Not the `agent` fixture: that waits for every child, and dnsd must
    # answer whatever the other children are doing.
    agent = agent_factory().start(wait=False)
    q = dns.message.make_query("consul", "SOA")
    deadline = time.time() + 10
    while True:
        try:
            m = dns.query.udp(q, agent.ip, port=8600, timeout=1)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    assert m.rcode() == dns.rcode.NOERROR
    assert m.answer[0][0].mname.to_text() == "ns.consul."
    m = dns.query.tcp(dns.message.make_query("nosuch.service.consul", "A"),
                      agent.ip, port=8600, timeout=2)
    assert m.rcode() == dns.rcode.NXDOMAIN


def test_catalog_changes_reach_dns(agent_factory):
    """Register through the HTTP catalog API, dig, fail a check, dig."""
    import requests
    agent = agent_factory().start(wait=False)
    url = agent.http_addr + "/v1/catalog/register"
    deadline = time.time() + 15
    while True:
        try:
            r = requests.put(url, json={
                "Node": "ext1", "Address": "10.9.0.1",
                "Service": {"Service": "web", "ID": "web1", "Port": 80}}, timeout=2)
            break
        except requests.RequestException:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    if r.status_code == 501:
        pytest.skip("raftd serves no catalog yet")
    assert r.status_code == 200

    def wait_for(pred):
        deadline = time.time() + 5
        while True:
            m = dns.query.udp(dns.message.make_query("web.service.consul", "A"),
                              agent.ip, port=8600, timeout=1)
            if pred(m):
                return m
            assert time.time() < deadline, m.to_text()
            time.sleep(0.1)

    wait_for(lambda m: addrs(m) == ["10.9.0.1"])
    check = {"Node": "ext1", "Address": "10.9.0.1",
             "Check": {"CheckID": "service:web1", "ServiceID": "web1",
                       "Name": "web", "Status": "critical"}}
    assert requests.put(url, json=check, timeout=2).status_code == 200
    wait_for(lambda m: m.rcode() == dns.rcode.NXDOMAIN)
    check["Check"]["Status"] = "passing"
    assert requests.put(url, json=check, timeout=2).status_code == 200
    wait_for(lambda m: addrs(m) == ["10.9.0.1"])

    # A restarted dnsd rebuilds its view from raftd by itself.
    agent.cli("debug", "restart", "dnsd", "-http-addr", agent.http_addr,
              check=True)

    def after_restart(m):
        return addrs(m) == ["10.9.0.1"]
    deadline = time.time() + 10
    while True:
        try:
            wait_for(after_restart)
            break
        except Exception:
            assert time.time() < deadline
            time.sleep(0.2)


def test_reload_applies_dns_config(agent_factory, tmp_path):
    """dns_config from a config file, changed by `tribune reload`."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "dns.json").write_text('{"dns_config":{"service_ttl":{"*":"7s"}}}')
    agent = agent_factory(args=["-config-dir", str(cfg)]).start(wait=False)

    def ttl():
        deadline = time.time() + 15
        while True:
            try:
                m = dns.query.udp(dns.message.make_query(
                    "consul.service.consul", "A"), agent.ip, port=8600, timeout=1)
                if m.answer:
                    return m.answer[0].ttl
            except Exception:
                pass
            if time.time() > deadline:
                pytest.skip("no consul service in DNS (raftd catalog not there yet)")
            time.sleep(0.2)

    assert ttl() == 7
    (cfg / "dns.json").write_text('{"dns_config":{"service_ttl":{"*":"9s"}}}')
    agent.cli("reload", "-http-addr", agent.http_addr, check=True)
    deadline = time.time() + 5
    while ttl() != 9:
        assert time.time() < deadline
        time.sleep(0.1)
