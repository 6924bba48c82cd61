"""Catalog and health reads answered from httpd's answer cache (httpd/cache.c).

A default or ?stale catalog/health read on the leader is answered again
from the cache while the catalog tables it was read from have not moved;
?consistent always goes to raftd.  These tests check that the cache is the
path taken, that it answers byte for byte what raftd answers (raftd's
?consistent is the reference: the same read, only
X-Consul-Effective-Consistency differs), that a write is seen by the very
next read, that filter variants are distinct answers, and that blocking
queries and anti-entropy still get through it.
"""
import json
import threading
import time

import pytest

META = ("X-Consul-Index", "X-Consul-Knownleader", "X-Consul-Lastcontact",
        "Content-Type", "X-Consul-Default-Acl-Policy", "Content-Length")


def cache_stats(agent):
    return agent.children()["httpd"]["status"]["cache"]


def register(a, body):
    r = a.http("PUT", "/v1/catalog/register", data=json.dumps(body))
    assert (r.status_code, r.text) == (200, "true"), r.text


def instance(i, status="passing", tags=None, port=8080):
    return {"Node": "n%02d" % i, "Address": "10.2.0.%d" % (i + 1),
            "NodeMeta": {"rack": "r%d" % (i % 2)},
            "Service": {"ID": "web", "Service": "web", "Port": port,
                        "Tags": tags if tags is not None else
                        ["v1", "odd" if i % 2 else "even"],
                        "Meta": {"i": str(i)}},
            "Checks": [{"CheckID": "web-ok", "Name": "web ok",
                        "ServiceID": "web", "Status": status},
                       {"CheckID": "node-ok", "Name": "node ok",
                        "Status": "passing"}]}


@pytest.fixture
def cat(agent):
    """A -dev agent whose own node is in the catalog and whose httpd can
    read raftd's store (the cache's precondition)."""
    deadline = time.time() + 15
    while time.time() < deadline:
        st = agent.children()["httpd"]["status"]
        r = agent.http("GET", "/v1/catalog/node/" + agent.name)
        if st.get("local_ready") and r.status_code == 200 and r.json():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("agent not ready:\n" + agent.log())
    for i in range(6):
        register(agent, instance(i, "critical" if i == 0 else "passing"))
    return agent


def same(mine, ref, what):
    assert mine.status_code == ref.status_code, what
    assert mine.content == ref.content, what
    for h in META:
        assert mine.headers.get(h) == ref.headers.get(h), (what, h)


QUERIES = [
    "/v1/health/service/web", "/v1/health/service/web?passing",
    "/v1/health/service/web?passing=false", "/v1/health/service/web?tag=odd",
    "/v1/health/service/web?tag=v1&tag=even", "/v1/health/service/web?node-meta=rack:r1",
    "/v1/health/service/web?filter=Service.Port%20%3D%3D%208080",
    "/v1/health/service/web?pretty", "/v1/health/service/nope",
    "/v1/catalog/service/web", "/v1/catalog/service/web?tag=odd",
    "/v1/catalog/service/web?node-meta=rack:r0", "/v1/catalog/services",
    "/v1/catalog/services?node-meta=rack:r1", "/v1/catalog/nodes",
    "/v1/catalog/nodes?filter=Meta.rack%20%3D%3D%20r0", "/v1/catalog/node/n03",
    "/v1/catalog/node/nope", "/v1/catalog/node-services/n03",
    "/v1/health/checks/web", "/v1/health/checks/web?filter=Status%20%3D%3D%20critical",
    "/v1/health/state/any", "/v1/health/state/critical", "/v1/health/state/passing",
    "/v1/health/node/n01", "/v1/catalog/datacenters",
]


def test_same_answers_as_raftd(cat):
    before = cache_stats(cat)
    for q in QUERIES:
        sep = "&" if "?" in q else "?"
        ref = cat.http("GET", q + sep + "consistent")
        assert ref.status_code == 200, (q, ref.text)
        assert ref.headers["X-Consul-Effective-Consistency"] == "consistent"
        for _ in range(2):          # a fill from raftd, then a hit
            mine = cat.http("GET", q)
            same(mine, ref, q)
            assert mine.headers["X-Consul-Effective-Consistency"] == "leader"
            stale = cat.http("GET", q + sep + "stale")
            same(stale, ref, q + " stale")
            assert stale.headers["X-Consul-Effective-Consistency"] == "stale"
    after = cache_stats(cat)
    # Default and ?stale share an entry: one fill per query, and the three
    # other reads of each are hits (unless a background write, say the
    # leader's reconcile, moved a table in between).
    assert after["hits"] - before["hits"] >= 2 * len(QUERIES)


def test_consistent_is_not_cached(cat):
    q = "/v1/health/service/web?consistent"
    cat.http("GET", q)
    before = cache_stats(cat)
    for _ in range(5):
        assert cat.http("GET", q).status_code == 200
    after = cache_stats(cat)
    assert (after["hits"], after["fills"]) == (before["hits"], before["fills"])


def test_read_your_writes(cat):
    paths = ["/v1/health/service/web", "/v1/health/service/web?passing",
             "/v1/catalog/service/web", "/v1/health/checks/web",
             "/v1/health/state/critical", "/v1/catalog/node/n03",
             "/v1/catalog/services"]
    for p in paths:                 # warm every entry
        cat.http("GET", p)
    for i in range(30):
        port, status = 9000 + i, ("critical" if i % 2 else "passing")
        register(cat, instance(3, status, tags=["t%d" % i], port=port))
        # The write has been answered: the next reads must all show it.
        hs = {e["Node"]["Node"]: e for e in
              cat.http("GET", "/v1/health/service/web").json()}
        assert hs["n03"]["Service"]["Port"] == port, i
        assert [c["Status"] for c in hs["n03"]["Checks"]
                if c["CheckID"] == "web-ok"] == [status], i
        passing = [e["Node"]["Node"] for e in
                   cat.http("GET", "/v1/health/service/web?passing").json()]
        assert ("n03" in passing) == (status == "passing"), i
        cs = {e["Node"]: e for e in cat.http("GET", "/v1/catalog/service/web").json()}
        assert cs["n03"]["ServicePort"] == port and cs["n03"]["ServiceTags"] == ["t%d" % i]
        ck = [c for c in cat.http("GET", "/v1/health/checks/web").json()
              if c["Node"] == "n03"]
        assert ck[0]["Status"] == status and ck[0]["ServiceTags"] == ["t%d" % i]
        crit = {(c["Node"], c["CheckID"]) for c in
                cat.http("GET", "/v1/health/state/critical").json()}
        assert (("n03", "web-ok") in crit) == (status == "critical"), i
        node = cat.http("GET", "/v1/catalog/node/n03").json()
        assert node["Services"]["web"]["Port"] == port
        assert "t%d" % i in cat.http("GET", "/v1/catalog/services").json()["web"]
    r = cat.http("PUT", "/v1/catalog/deregister", data=json.dumps({"Node": "n03"}))
    assert r.text == "true"
    assert "n03" not in [e["Node"]["Node"] for e in
                         cat.http("GET", "/v1/health/service/web").json()]
    assert cat.http("GET", "/v1/catalog/node/n03").json() is None
    assert "n03" not in [n["Node"] for n in cat.http("GET", "/v1/catalog/nodes").json()]


def test_variants_are_distinct_entries(cat):
    def names(q):
        r = cat.http("GET", q)
        assert r.status_code == 200
        return sorted(e["Node"]["Node"] if "Checks" in e else e["Node"] for e in r.json())

    for _ in range(2):              # the second round from the cache
        assert names("/v1/health/service/web") == ["n%02d" % i for i in range(6)]
        assert names("/v1/health/service/web?passing") == ["n%02d" % i for i in range(1, 6)]
        assert names("/v1/health/service/web?passing=0") == ["n%02d" % i for i in range(6)]
        assert names("/v1/health/service/web?tag=odd") == ["n01", "n03", "n05"]
        assert names("/v1/health/service/web?tag=even") == ["n00", "n02", "n04"]
        assert names("/v1/health/service/web?tag=even&tag=v1") == ["n00", "n02", "n04"]
        assert names("/v1/health/service/web?tag=even&tag=odd") == []
        assert names("/v1/health/service/web?passing&tag=even") == ["n02", "n04"]
        assert names("/v1/health/service/web?node-meta=rack:r0") == ["n00", "n02", "n04"]
        assert names("/v1/catalog/service/web?filter=ServiceMeta.i%20%3D%3D%20%222%22") == ["n02"]
        assert names("/v1/catalog/service/web?filter=ServiceMeta.i%20%3D%3D%20%224%22") == ["n04"]
    r = cat.http("GET", "/v1/health/service/web?filter=Service.Port%20%3D%3D")
    assert r.status_code == 400
    assert cat.http("GET", "/v1/health/service/web?passing=maybe").status_code == 400
    pretty = cat.http("GET", "/v1/catalog/nodes?pretty").text
    plain = cat.http("GET", "/v1/catalog/nodes").text
    assert pretty.endswith("\n") and "\n    " in pretty and "\n" not in plain
    assert json.loads(pretty) == json.loads(plain)


def test_blocking_query_wakes_through_the_cache(cat):
    q = "/v1/health/service/web?passing"
    r = cat.http("GET", q)
    cat.http("GET", q)
    idx = int(r.headers["X-Consul-Index"])
    out = {}

    def waiter():
        out["r"] = cat.http("GET", q + "&index=%d&wait=20s" % idx, timeout=30)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    # A KV write and an identical re-register move no catalog table.
    cat.http("PUT", "/v1/kv/unrelated", data="x")
    register(cat, instance(2))
    time.sleep(1.0)
    assert t.is_alive(), "woke without a change"
    register(cat, instance(2, "critical"))
    t.join(15)
    assert not t.is_alive()
    r = out["r"]
    assert r.status_code == 200 and int(r.headers["X-Consul-Index"]) > idx
    assert "n02" not in [e["Node"]["Node"] for e in r.json()]
    same(cat.http("GET", q), cat.http("GET", q + "&consistent"), q)


def test_agent_check_fail_reaches_health_service(cat):
    r = cat.http("PUT", "/v1/agent/service/register",
                 json={"Name": "api", "Port": 7000,
                       "Check": {"CheckID": "api-ttl", "TTL": "60s"}})
    assert r.status_code == 200
    assert cat.http("PUT", "/v1/agent/check/pass/api-ttl").status_code == 200
    q = "/v1/health/service/api?passing"

    def wait_for(pred, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = cat.http("GET", q)
            if pred(r.json()):
                return r
            time.sleep(0.05)
        raise AssertionError("never: %s" % r.text)

    wait_for(lambda body: len(body) == 1)
    before = cache_stats(cat)
    t0 = time.time()
    assert cat.http("PUT", "/v1/agent/check/fail/api-ttl").status_code == 200
    r = wait_for(lambda body: body == [])
    took = time.time() - t0
    # checkd pushes a status change into the catalog at once (anti-entropy's
    # periodic sync is a minute): well under that, however loaded the box.
    assert took < 10, took
    assert cache_stats(cat)["hits"] > before["hits"]
    same(r, cat.http("GET", q + "&consistent"), q)


def test_concurrent_misses_share_one_answer(cat):
    """After each change, a burst of reads of one key: the misses that come
    while raftd renders wait for that answer (coalesced) instead of asking
    the same question; every one of them gets the new answer."""
    from concurrent.futures import ThreadPoolExecutor
    q = "/v1/health/service/web?passing"
    before = cache_stats(cat)
    with ThreadPoolExecutor(32) as pool:
        for i in range(10):
            status = "critical" if i % 2 == 0 else "passing"
            register(cat, instance(4, status))
            got = list(pool.map(lambda _: cat.http("GET", q), range(32)))
            ref = cat.http("GET", q + "&consistent")
            for r in got:
                same(r, ref, (i, q))
            names = [e["Node"]["Node"] for e in ref.json()]
            assert ("n04" in names) == (status == "passing"), i
    after = cache_stats(cat)
    # 320 reads over 10 changes: a few asked raftd, most hit or waited.
    assert after["hits"] + after["coalesced"] - before["hits"] - \
        before["coalesced"] >= 160
    assert after["fills"] - before["fills"] <= 160


def test_woken_blocking_queries_share_one_render(cat):
    """50 blocking queries on one key, woken by one change: raftd renders
    the new answer about once, the others are served it from the cache,
    and all of them return it."""
    q = "/v1/health/service/web?passing"
    r = cat.http("GET", q)
    idx = int(r.headers["X-Consul-Index"])
    out = [None] * 50

    def waiter(i):
        out[i] = cat.http("GET", q + "&index=%d&wait=30s" % idx, timeout=60)

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    deadline = time.time() + 20
    while time.time() < deadline:
        if cat.children()["httpd"]["status"]["parked"] >= 50:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the queries never all parked")
    before = cache_stats(cat)
    register(cat, instance(5, "critical"))
    for t in threads:
        t.join(40)
    ref = cat.http("GET", q + "&consistent")
    assert "n05" not in [e["Node"]["Node"] for e in ref.json()]
    for r in out:
        same(r, ref, "woken")
    after = cache_stats(cat)
    assert after["fills"] - before["fills"] <= 5, (before, after)


def test_raftd_restart(cat):
    q = "/v1/catalog/service/web"
    cat.http("GET", q)
    cat.http("GET", q)
    cat.cli("debug", "restart", "raftd", check=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        r = cat.http("PUT", "/v1/catalog/register",
                     data=json.dumps(instance(2, port=7777)))
        if r.status_code == 200 and r.text == "true":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("no writes after raftd's restart:\n" + cat.log())
    for i in range(10):
        register(cat, instance(2, port=7000 + i))
        ports = {e["Node"]: e["ServicePort"] for e in cat.http("GET", q).json()}
        assert ports["n02"] == 7000 + i
    same(cat.http("GET", q), cat.http("GET", q + "?consistent"), q)
