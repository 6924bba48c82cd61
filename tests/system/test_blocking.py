"""Blocking queries (?index=&wait=): parked until the key changes or the
wait ends; thousands at once."""
import resource
import select
import socket
import threading
import time

from test_kv import agent  # noqa: F401


def index_of(agent, path):
    return int(agent.get(path).headers["X-Consul-Index"])


def background_get(agent, path):
    box = {}

    def run():
        r = agent.get(path, timeout=60)
        box["resp"], box["t"] = r, time.monotonic()

    t = threading.Thread(target=run)
    t.start()
    return t, box


def test_returns_within_100ms_of_put_and_not_before(agent):
    agent.put("/v1/kv/b/k", data=b"1")
    idx = index_of(agent, "/v1/kv/b/k")
    t, box = background_get(agent, "/v1/kv/b/k?index=%d&wait=30s" % idx)
    time.sleep(0.5)
    assert "resp" not in box
    agent.put("/v1/kv/b/other", data=b"x")      # another key: no wake-up
    time.sleep(0.3)
    assert "resp" not in box
    t0 = time.monotonic()
    agent.put("/v1/kv/b/k", data=b"2")
    t.join(5)
    r = box["resp"]
    assert box["t"] - t0 < 0.1, "woke after %.3fs" % (box["t"] - t0)
    assert r.status_code == 200
    assert int(r.headers["X-Consul-Index"]) > idx
    assert r.json()[0]["Value"] == "Mg=="


def test_wait_expires_with_jitter_bound(agent):
    agent.put("/v1/kv/b/idle", data=b"1")
    idx = index_of(agent, "/v1/kv/b/idle")
    t0 = time.monotonic()
    r = agent.get("/v1/kv/b/idle?index=%d&wait=1s" % idx)
    dt = time.monotonic() - t0
    assert r.status_code == 200
    assert int(r.headers["X-Consul-Index"]) == idx
    assert 1.0 <= dt < 1.0 + 1.0 / 16 + 0.3, dt


def test_miss_blocks_until_created(agent):
    r = agent.get("/v1/kv/b/new")
    assert r.status_code == 404
    idx = int(r.headers["X-Consul-Index"])
    t, box = background_get(agent, "/v1/kv/b/new?index=%d&wait=30s" % idx)
    time.sleep(0.3)
    assert "resp" not in box
    agent.put("/v1/kv/b/new", data=b"here")
    t.join(5)
    assert box["resp"].status_code == 200


def test_recurse_wakes_on_child_and_delete_tree(agent):
    agent.put("/v1/kv/b/tree/a", data=b"1")
    idx = index_of(agent, "/v1/kv/b/tree/?recurse")
    t, box = background_get(agent, "/v1/kv/b/tree/?recurse&index=%d&wait=30s" % idx)
    time.sleep(0.3)
    assert "resp" not in box
    agent.put("/v1/kv/b/tree/deep/x", data=b"2")
    t.join(5)
    assert len(box["resp"].json()) == 2
    idx = int(box["resp"].headers["X-Consul-Index"])
    t, box = background_get(agent, "/v1/kv/b/tree/?keys&index=%d&wait=30s" % idx)
    time.sleep(0.3)
    agent.delete("/v1/kv/b/?recurse")
    t.join(5)
    assert box["resp"].status_code == 404


def test_index_zero_and_stale_do_not_block(agent):
    agent.put("/v1/kv/b/z", data=b"1")
    t0 = time.monotonic()
    assert agent.get("/v1/kv/b/z?index=0&wait=5s").status_code == 200
    idx = index_of(agent, "/v1/kv/b/z")
    # An index below the current one answers at once.
    assert agent.get("/v1/kv/b/z?index=%d&wait=5s&stale" % (idx - 1)).status_code == 200
    assert time.monotonic() - t0 < 1.0


def test_session_list_blocks(agent):
    idx = index_of(agent, "/v1/session/list")
    t, box = background_get(agent, "/v1/session/list?index=%d&wait=30s" % idx)
    time.sleep(0.3)
    assert "resp" not in box
    sid = agent.put("/v1/session/create", json={}).json()["ID"]
    t.join(5)
    assert sid in [s["ID"] for s in box["resp"].json()]
    agent.put("/v1/session/destroy/" + sid)


def test_thousand_parked_all_return_after_one_change(agent):
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * n), hard))
    agent.put("/v1/kv/b/hot", data=b"0")
    idx = index_of(agent, "/v1/kv/b/hot")
    req = ("GET /v1/kv/b/hot?index=%d&wait=60s HTTP/1.1\r\nHost: x\r\n"
           "Connection: close\r\n\r\n" % idx).encode()
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((agent.ip, 8500), timeout=10)
            s.sendall(req)
            socks.append(s)
        time.sleep(1.0)
        readable, _, _ = select.select(socks, [], [], 0)
        assert readable == [], "%d returned before the change" % len(readable)
        t0 = time.monotonic()
        agent.put("/v1/kv/b/hot", data=b"1")
        done, answers = set(), {}
        deadline = t0 + 10
        while len(done) < n and time.monotonic() < deadline:
            readable, _, _ = select.select([s for s in socks if s not in done], [], [], 1)
            for s in readable:
                data = s.recv(65536)
                answers[s] = answers.get(s, b"") + data
                if not data:
                    done.add(s)
        elapsed = time.monotonic() - t0
        assert len(done) == n, "%d of %d returned" % (len(done), n)
        bad = [a for a in answers.values() if not a.startswith(b"HTTP/1.1 200")]
        assert not bad, bad[0][:300]
        ok = n - len(bad)
        assert ok == n
        assert all(b'"Value":"MQ=="' in a for a in answers.values())
        print("1000 parked queries answered in %.3fs" % elapsed)
    finally:
        for s in socks:
            s.close()
    # The agent still answers after all of that.
    assert agent.get("/v1/kv/b/hot?raw").text == "1"
