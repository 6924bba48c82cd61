"""Health checks run by checkd: http (going critical and back), tcp, script
(with and without -enable-script-checks, timeouts), ttl (expiry, state kept
across restarts), alias, the agent health endpoints."""
import http.server
import itertools
import os
import socket
import threading
import time

import pytest

_ips = itertools.count(int(os.environ.get("CHECKD_TEST_IP_BASE", "150")) + 20)


def fresh_ip():
    return "%s.%d" % (os.environ.get("TRIBUNE_TEST_NET", "127.0.0"), next(_ips))


def wait_for(fn, timeout=10, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("condition not met, last value %r" % (last,))


def check(a, cid):
    return a.http("GET", "/v1/agent/checks").json().get(cid)


def status_is(a, cid, want):
    def f():
        c = check(a, cid)
        return c if c is not None and c["Status"] == want else None
    return f


class Target:
    """A local HTTP server whose answer the test switches."""

    def __init__(self):
        self.code = 200
        self.body = b"ok"
        self.requests = []
        target = self

        class H(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                target.requests.append((self.command, self.path,
                                        dict(self.headers), self.rfile.read(n)))
                self.send_response(target.code)
                self.send_header("Content-Length", str(len(target.body)))
                self.end_headers()
                self.wfile.write(target.body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d/health" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def target():
    t = Target()
    yield t
    t.close()


@pytest.fixture
def a(agent_factory):
    return agent_factory(ip=fresh_ip()).start()


def test_http_check_critical_and_back(a, target):
    r = a.http("PUT", "/v1/agent/service/register", json={
        "Name": "web", "Port": target.port,
        "Check": {"HTTP": target.url, "Interval": "1s", "Timeout": "1s"}})
    assert r.status_code == 200, r.text
    c = wait_for(status_is(a, "service:web", "passing"))
    assert c["Output"] == "HTTP GET %s: 200 OK Output: ok" % target.url
    assert c["Type"] == "http" and c["Interval"] == "1s"
    assert a.http("GET", "/v1/agent/health/service/name/web").status_code == 200

    target.code, target.body = 503, b"down"
    c = wait_for(status_is(a, "service:web", "critical"), timeout=5)
    assert c["Output"] == ("HTTP GET %s: 503 Service Unavailable Output: down"
                           % target.url)
    r = a.http("GET", "/v1/agent/health/service/id/web?format=text")
    assert (r.status_code, r.text) == (503, "critical")
    # Anti-entropy carries the change into the catalog within a tick or two.
    if a.http("GET", "/v1/health/checks/web").status_code == 200:
        wait_for(lambda: [c for c in a.http("GET", "/v1/health/checks/web").json()
                          if c["CheckID"] == "service:web"
                          and c["Status"] == "critical"], timeout=5)

    target.code, target.body = 429, b"slow"
    wait_for(status_is(a, "service:web", "warning"), timeout=5)
    r = a.http("GET", "/v1/agent/health/service/name/web")
    assert r.status_code == 429
    assert r.json()[0]["AggregatedStatus"] == "warning"

    target.code, target.body = 200, b"ok"
    wait_for(status_is(a, "service:web", "passing"), timeout=5)
    method, path, headers, _ = target.requests[-1]
    assert (method, path) == ("GET", "/health")
    assert headers["User-Agent"] == "Consul Health Check"


def test_http_check_method_header_body_and_cap(a, target):
    target.body = b"x" * 10000
    r = a.http("PUT", "/v1/agent/check/register", json={
        "name": "posty", "http": target.url, "method": "POST",
        "header": {"X-Token": ["abc"]}, "body": '{"ping":1}',
        "interval": "1s"})
    assert r.status_code == 200, r.text
    c = wait_for(status_is(a, "posty", "passing"))
    prefix = "HTTP POST %s: 200 OK Output: " % target.url
    assert c["Output"].startswith(prefix)
    assert len(c["Output"]) - len(prefix) == 4096
    method, _, headers, body = target.requests[-1]
    assert method == "POST" and headers["X-Token"] == "abc"
    assert body == b'{"ping":1}'


def test_http_check_unreachable(a):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = "http://127.0.0.1:%d/" % port
    a.http("PUT", "/v1/agent/check/register",
           json={"name": "gone", "http": url, "interval": "1s",
                 "status": "passing"})
    c = wait_for(status_is(a, "gone", "critical"))
    assert c["Output"].startswith('Get "%s": ' % url)


def test_tcp_check(a):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    addr = "127.0.0.1:%d" % srv.getsockname()[1]
    a.http("PUT", "/v1/agent/check/register",
           json={"name": "tcp", "tcp": addr, "interval": "1s"})
    c = wait_for(status_is(a, "tcp", "passing"))
    assert c["Output"] == "TCP connect %s: Success" % addr
    # A host name goes through curl's resolver, never blocking the loop.
    named = "localhost:%d" % srv.getsockname()[1]
    a.http("PUT", "/v1/agent/check/register",
           json={"name": "tcpname", "tcp": named, "interval": "1s"})
    c = wait_for(status_is(a, "tcpname", "passing"))
    assert c["Output"] == "TCP connect %s: Success" % named
    a.http("PUT", "/v1/agent/check/register",
           json={"name": "nohost", "tcp": "no-such-host.invalid:80",
                 "interval": "1s", "status": "passing"})
    c = wait_for(status_is(a, "nohost", "critical"))
    assert c["Output"] == "dial tcp: lookup no-such-host.invalid: no such host"
    srv.close()
    c = wait_for(status_is(a, "tcp", "critical"), timeout=5)
    assert c["Output"] == "dial tcp %s: connect: connection refused" % addr
    c = wait_for(status_is(a, "tcpname", "critical"), timeout=5)
    assert "connection refused" in c["Output"]


def test_script_checks_need_the_flag(a):
    r = a.http("PUT", "/v1/agent/check/register",
               json={"name": "s", "args": ["true"], "interval": "1s"})
    assert r.status_code == 400
    assert "enable_script_checks" in r.text


def test_script_checks(agent_factory, tmp_path):
    a = agent_factory(ip=fresh_ip(), args=["-enable-script-checks"]).start()
    for name, args in (("ok", ["sh", "-c", "echo fine; exit 0"]),
                       ("warn", ["sh", "-c", "echo meh >&2; exit 1"]),
                       ("bad", ["sh", "-c", "exit 3"])):
        r = a.http("PUT", "/v1/agent/check/register",
                   json={"name": name, "args": args, "interval": "1s"})
        assert r.status_code == 200, r.text
    assert wait_for(status_is(a, "ok", "passing"))["Output"] == "fine\n"
    assert wait_for(status_is(a, "warn", "warning"))["Output"] == "meh\n"
    wait_for(status_is(a, "bad", "critical"))
    # A timeout kills the whole process group, grandchildren included.
    marker = tmp_path / "survivor"
    r = a.http("PUT", "/v1/agent/check/register", json={
        "name": "slow", "interval": "5s", "timeout": "1s", "status": "passing",
        "args": ["sh", "-c", "(sleep 3; touch %s) & sleep 30" % marker]})
    assert r.status_code == 200
    c = wait_for(status_is(a, "slow", "critical"), timeout=10)
    assert "Timed out" in c["Output"]
    time.sleep(3.5)
    assert not marker.exists()


def test_ttl_check(a):
    r = a.http("PUT", "/v1/agent/check/register",
               json={"Name": "mem", "TTL": "2s", "Notes": "memory"})
    assert r.status_code == 200
    c = check(a, "mem")
    assert c["Status"] == "critical" and c["Type"] == "ttl"
    assert a.http("PUT", "/v1/agent/check/pass/mem?note=fine").status_code == 200
    c = check(a, "mem")
    assert (c["Status"], c["Output"]) == ("passing", "fine")
    assert a.http("PUT", "/v1/agent/check/warn/mem").status_code == 200
    assert check(a, "mem")["Status"] == "warning"
    r = a.http("PUT", "/v1/agent/check/update/mem",
               json={"status": "passing", "output": "again"})
    assert r.status_code == 200
    assert check(a, "mem")["Output"] == "again"
    r = a.http("PUT", "/v1/agent/check/update/mem", json={"Status": "nope"})
    assert (r.status_code, r.text) == (400, "Invalid check status: 'nope'")
    c = wait_for(status_is(a, "mem", "critical"), timeout=5)
    assert c["Output"] == "TTL expired"
    assert a.http("PUT", "/v1/agent/check/fail/mem").status_code == 200
    assert a.http("PUT", "/v1/agent/check/deregister/mem").status_code == 200
    assert check(a, "mem") is None
    r = a.http("PUT", "/v1/agent/check/pass/mem")
    assert r.status_code == 404


def test_ttl_state_survives_restart(agent_factory):
    ip = fresh_ip()
    a = agent_factory(ip=ip).start()
    a.http("PUT", "/v1/agent/check/register", json={"Name": "long", "TTL": "5m"})
    a.http("PUT", "/v1/agent/check/register", json={"Name": "short", "TTL": "1s"})
    a.http("PUT", "/v1/agent/check/pass/long?note=alive")
    a.http("PUT", "/v1/agent/check/pass/short")
    a.stop()
    time.sleep(1.2)
    b = agent_factory(ip=ip).start()
    assert check(b, "long")["Status"] == "passing"
    assert check(b, "long")["Output"] == "alive"
    wait_for(status_is(b, "short", "critical"), timeout=3)


def test_alias_check(a):
    a.http("PUT", "/v1/agent/service/register",
           json={"Name": "db", "Check": {"TTL": "60s"}})
    a.http("PUT", "/v1/agent/service/register",
           json={"Name": "web", "Check": {"AliasService": "db"}})
    wait_for(status_is(a, "service:web", "critical"))
    a.http("PUT", "/v1/agent/check/pass/service:db")
    wait_for(status_is(a, "service:web", "passing"), timeout=3)


class GrpcHealth:
    """A grpc.health.v1 server over h2c (python3-h2), status switchable."""

    def __init__(self):
        import h2.config  # noqa: F401 (skip the test when missing)
        self.status = 1          # SERVING
        self.services = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        import h2.config
        import h2.connection
        import h2.events
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        bodies = {}
        try:
            while True:
                data = s.recv(65535)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.DataReceived):
                        bodies[ev.stream_id] = bodies.get(ev.stream_id, b"") + ev.data
                        conn.acknowledge_received_data(len(ev.data), ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        body = bodies.pop(ev.stream_id, b"")
                        self.services.append(body[7:].decode() if len(body) > 7 else "")
                        msg = bytes([0x08, self.status])
                        conn.send_headers(ev.stream_id, [
                            (":status", "200"), ("content-type", "application/grpc")])
                        conn.send_data(ev.stream_id, b"\x00" + len(msg).to_bytes(4, "big") + msg)
                        conn.send_headers(ev.stream_id, [("grpc-status", "0")],
                                          end_stream=True)
                s.sendall(conn.data_to_send())
        except Exception:
            pass
        finally:
            s.close()


def test_grpc_check(a):
    try:
        srv = GrpcHealth()
    except ImportError:
        pytest.skip("python3-h2 not installed")
    r = a.http("PUT", "/v1/agent/check/register", json={
        "name": "g", "grpc": srv.addr + "/my.Service", "interval": "1s"})
    assert r.status_code == 200, r.text
    c = wait_for(status_is(a, "g", "passing"))
    assert c["Output"] == "gRPC check %s/my.Service: success" % srv.addr
    assert c["Type"] == "grpc"
    assert "my.Service" in srv.services
    srv.status = 2           # NOT_SERVING
    c = wait_for(status_is(a, "g", "critical"), timeout=5)
    assert "NOT_SERVING" in c["Output"]


def dns_a(a, name):
    import dns.message
    import dns.query
    q = dns.message.make_query(name, "A")
    r = dns.query.udp(q, a.ip, port=8600, timeout=2)
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def test_failing_check_leaves_dns_and_returns(a, target):
    """The seed tutorial's step: an HTTP check going critical removes the
    instance from DNS; it comes back when healthy; maintenance too."""
    a.http("PUT", "/v1/agent/service/register", json={
        "name": "web", "port": 80,
        "check": {"http": target.url, "interval": "1s"}})
    wait_for(lambda: dns_a(a, "web.service.consul"), timeout=10)
    target.code = 500
    wait_for(lambda: dns_a(a, "web.service.consul") == [], timeout=10)
    target.code = 200
    wait_for(lambda: dns_a(a, "web.service.consul"), timeout=10)
    assert a.cli("maint", "-enable", "-service", "web").returncode == 0
    wait_for(lambda: dns_a(a, "web.service.consul") == [], timeout=10)
    assert a.cli("maint", "-disable", "-service", "web").returncode == 0
    wait_for(lambda: dns_a(a, "web.service.consul"), timeout=10)


def test_udp_check(a):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                data, peer = echo.recvfrom(512)
                echo.sendto(b"pong", peer)
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    closed_addr = "127.0.0.1:%d" % closed.getsockname()[1]
    closed.close()
    for name, sock_addr in (("echo", "127.0.0.1:%d" % echo.getsockname()[1]),
                            ("silent", "127.0.0.1:%d" % silent.getsockname()[1]),
                            ("closed", closed_addr)):
        r = a.http("PUT", "/v1/agent/check/register", json={
            "name": name, "udp": sock_addr, "interval": "1s", "timeout": "500ms",
            "status": "warning"})
        assert r.status_code == 200, r.text
    c = wait_for(status_is(a, "echo", "passing"))
    assert c["Output"].startswith("UDP connect 127.0.0.1:")
    wait_for(status_is(a, "silent", "passing"))
    c = wait_for(status_is(a, "closed", "critical"))
    assert "connection refused" in c["Output"]
    echo.close()
    silent.close()


def test_local_script_checks_only_from_files(agent_factory, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.json").write_text(
        '{"check": {"id": "disk", "name": "disk", "args": ["sh", "-c", '
        '"head -c 6000 /dev/zero | tr \\"\\\\0\\" x"], "interval": "1s"},'
        ' "check_output_max_size": 1000}')
    a = agent_factory(ip=fresh_ip(), args=["-enable-local-script-checks",
                                           "-config-dir", str(conf)]).start()
    c = wait_for(status_is(a, "disk", "passing"))
    # Output cap from the config: the tail, with Consul's note.
    assert c["Output"].startswith("Captured 1000 of 6000 bytes\n...\n")
    assert c["Output"].endswith("x" * 1000)
    r = a.http("PUT", "/v1/agent/check/register",
               json={"name": "s", "args": ["true"], "interval": "1s"})
    assert r.status_code == 400
