"""KV GETs served by httpd from raftd's store (httpd/local.c).

A default or ?stale KV GET on the leader is answered by httpd reading
raftd's LMDB environment itself; ?consistent still goes to raftd (it needs
the barrier).  These tests check that the local path is the one taken, that
it sees a PUT as soon as the PUT has been answered, and that it answers byte
for byte what raftd answers (raftd's ?consistent is the reference: the same
read, only X-Consul-Effective-Consistency differs).
"""
import base64
import time

import pytest

# Headers that must match between the two paths (Date is the clock's).
META = ("X-Consul-Index", "X-Consul-Knownleader", "X-Consul-Lastcontact",
        "Content-Type", "X-Content-Type-Options", "Content-Security-Policy",
        "X-Consul-Default-Acl-Policy", "Content-Length")


def httpd_status(agent):
    return agent.children()["httpd"]["status"]


def wait_local(agent, timeout=10):
    """Until httpd says it can serve KV reads from raftd's store."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if httpd_status(agent).get("local_ready"):
            return
        time.sleep(0.1)
    raise AssertionError("httpd never served locally:\n" + agent.log())


@pytest.fixture
def local(agent):
    wait_local(agent)
    return agent


def same(local_resp, raftd_resp):
    assert local_resp.status_code == raftd_resp.status_code
    assert local_resp.content == raftd_resp.content
    for h in META:
        assert local_resp.headers.get(h) == raftd_resp.headers.get(h), h


def test_read_your_writes(local):
    before = httpd_status(local)
    for i in range(200):
        v = "value-%d" % i
        r = local.http("PUT", "/v1/kv/ryw/key", data=v)
        assert r.status_code == 200 and r.text == "true"
        # The PUT has been answered: the next GET must see it, every time.
        g = local.http("GET", "/v1/kv/ryw/key?raw")
        assert g.status_code == 200 and g.text == v, (i, g.text)
        g = local.http("GET", "/v1/kv/ryw/key")
        assert base64.b64decode(g.json()[0]["Value"]).decode() == v
        assert g.headers["X-Consul-Effective-Consistency"] == "leader"
        s = local.http("GET", "/v1/kv/ryw/key?stale&raw")
        assert s.text == v
        assert s.headers["X-Consul-Effective-Consistency"] == "stale"
    after = httpd_status(local)
    # 600 GETs, all of them served by httpd: no call to raftd for them.
    assert after["local_reads"] - before["local_reads"] >= 600
    assert after["bus_calls"] - before["bus_calls"] < 300


def test_delete_then_get(local):
    local.http("PUT", "/v1/kv/gone/a", data="1")
    assert local.http("GET", "/v1/kv/gone/a").status_code == 200
    assert local.http("DELETE", "/v1/kv/gone/a").text == "true"
    assert local.http("GET", "/v1/kv/gone/a").status_code == 404


def test_consistent_still_goes_to_raftd(local):
    local.http("PUT", "/v1/kv/cons/k", data="v")
    before = httpd_status(local)
    r = local.http("GET", "/v1/kv/cons/k?consistent")
    assert r.status_code == 200
    assert r.headers["X-Consul-Effective-Consistency"] == "consistent"
    assert base64.b64decode(r.json()[0]["Value"]) == b"v"
    after = httpd_status(local)
    assert after["local_reads"] == before["local_reads"]
    assert after["bus_calls"] > before["bus_calls"]


def test_same_answers_as_raftd(local):
    put = lambda k, v, q="": local.http("PUT", "/v1/kv/" + k + q, data=v)
    put("cmp/a", "1", "?flags=42")
    put("cmp/b/c", "")
    put("cmp/b/d", b"\x00\xff<&>")
    put("cmp/e\"x", "quote")
    put("cmp/gone/x", "x")
    local.http("DELETE", "/v1/kv/cmp/gone/x")     # a tombstone under cmp/
    sid = local.http("PUT", "/v1/session/create").json()["ID"]
    put("cmp/locked", "l", "?acquire=" + sid)
    queries = [
        "cmp/a", "cmp/a?raw", "cmp/b/c?raw", "cmp/b/d", "cmp/b/d?raw",
        "cmp/locked", "cmp/e%22x", "cmp/missing", "cmp/missing?raw",
        "cmp/gone/x", "cmp/?recurse", "cmp?recurse", "cmp/b?recurse",
        "cmp/gone/?recurse", "cmp/none/?recurse", "?recurse",
        "cmp/?keys", "cmp/?keys&separator=/", "?keys&separator=/",
        "cmp/gone/?keys", "cmp/a?pretty", "cmp/?recurse&pretty",
        "cmp/?keys&separator=b",
    ]
    before = httpd_status(local)
    for q in queries:
        sep = "&" if "?" in q else "?"
        mine = local.http("GET", "/v1/kv/" + q)
        ref = local.http("GET", "/v1/kv/" + q + sep + "consistent")
        same(mine, ref)
        assert mine.headers["X-Consul-Effective-Consistency"] == "leader", q
        stale = local.http("GET", "/v1/kv/" + q + sep + "stale")
        same(stale, ref)
        assert stale.headers["X-Consul-Effective-Consistency"] == "stale", q
    assert httpd_status(local)["local_reads"] - before["local_reads"] >= \
        2 * len(queries)


def test_blocking_query_wakes_with_local_read(local):
    import threading
    r = local.http("PUT", "/v1/kv/blk/k", data="one")
    idx = int(local.http("GET", "/v1/kv/blk/k").headers["X-Consul-Index"])
    out = {}

    def waiter():
        out["r"] = local.http("GET", "/v1/kv/blk/k?raw&index=%d&wait=10s" % idx,
                              timeout=20)
    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    assert t.is_alive()
    before = httpd_status(local)["local_reads"]
    r = local.http("PUT", "/v1/kv/blk/k", data="two")
    assert r.text == "true"
    t.join(15)
    assert out["r"].status_code == 200 and out["r"].text == "two"
    assert int(out["r"].headers["X-Consul-Index"]) > idx
    assert httpd_status(local)["local_reads"] > before


def test_raftd_restart(local):
    local.http("PUT", "/v1/kv/rs/k", data="before")
    local.cli("debug", "restart", "raftd", check=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        r = local.http("PUT", "/v1/kv/rs/k", data="after")
        if r.status_code == 200 and r.text == "true":
            break
        time.sleep(0.2)
    assert local.http("GET", "/v1/kv/rs/k?raw").text == "after"
    wait_local(local)
    for i in range(20):
        v = "again-%d" % i
        assert local.http("PUT", "/v1/kv/rs/k", data=v).text == "true"
        assert local.http("GET", "/v1/kv/rs/k?raw").text == v
