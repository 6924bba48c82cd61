"""KV writes under concurrency: httpd sends the PUTs and DELETEs that arrive
together to raftd as one batch (one Raft entry), and each request must
still get exactly its own answer: a failed cas or acquire in a batch is
`false` for that request only, an invalid session its own 500, and the
store ends as if the writes had run one by one."""
import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

N = 120  # keys per kind of write


def _session(agent):
    r = agent.http("PUT", "/v1/session/create", data="{}")
    assert r.status_code == 200, r.text
    return r.json()["ID"]


def _httpd_batches(agent):
    st = agent.children()["httpd"]["status"]
    return st["kv_batches"], st["kv_batched"]


def test_concurrent_writes_each_get_their_own_answer(agent):
    mine, theirs = _session(agent), _session(agent)
    missing = "00000000-0000-4000-8000-000000000000"
    # Keys that exist before the burst, with the index each was written at.
    stale_index = {}
    for i in range(N):
        assert agent.http("PUT", "/v1/kv/pre/%d" % i, data="old").text == "true"
        stale_index[i] = agent.http("GET", "/v1/kv/pre/%d" % i).json()[0]["ModifyIndex"]
        assert agent.http("PUT", "/v1/kv/held/%d?acquire=%s" % (i, theirs),
                          data="theirs").text == "true"
        assert agent.http("PUT", "/v1/kv/gone/%d" % i, data="x").text == "true"
        assert agent.http("PUT", "/v1/kv/rel/%d?acquire=%s" % (i, mine),
                          data="held").text == "true"
        for leaf in ("a", "b/c"):
            assert agent.http("PUT", "/v1/kv/tree/%d/%s" % (i, leaf), data="x").text == "true"
    batches0, batched0 = _httpd_batches(agent)

    # (method, path, body, expected status, expected body)
    calls = []
    for i in range(N):
        calls += [
            ("PUT", "/v1/kv/set/%d?flags=%d" % (i, i), "v%d" % i, 200, "true"),
            ("PUT", "/v1/kv/cas0/%d?cas=0" % i, "new%d" % i, 200, "true"),
            # cas=0 on a key that exists, and a stale index: refused.
            ("PUT", "/v1/kv/pre/%d?cas=0" % i, "no", 200, "false"),
            ("PUT", "/v1/kv/pre/%d?cas=%d" % (i, stale_index[i] + 100000), "no", 200, "false"),
            ("PUT", "/v1/kv/lock/%d?acquire=%s" % (i, mine), "mine%d" % i, 200, "true"),
            # Held by the other session: refused.
            ("PUT", "/v1/kv/held/%d?acquire=%s" % (i, mine), "no", 200, "false"),
            ("PUT", "/v1/kv/bad/%d?acquire=%s" % (i, missing), "no", 500,
             'invalid session "%s"' % missing),
            ("DELETE", "/v1/kv/gone/%d?cas=1" % i, None, 200, "false"),
            ("DELETE", "/v1/kv/set-never/%d" % i, None, 200, "true"),
            # Release: by the holder, and by a session that does not hold it.
            ("PUT", "/v1/kv/rel/%d?release=%s" % (i, mine), "free%d" % i, 200, "true"),
            ("PUT", "/v1/kv/held/%d?release=%s" % (i, mine), "no", 200, "false"),
            ("DELETE", "/v1/kv/tree/%d/?recurse" % i, None, 200, "true"),
        ]
    # A body over the limit is refused by httpd, between batched writes.
    calls.append(("PUT", "/v1/kv/big", "x" * (512 * 1024 + 1), 413, None))

    local = threading.local()

    def fire(call):
        method, path, body, _, _ = call
        if not hasattr(local, "s"):
            local.s = requests.Session()
        r = local.s.request(method, agent.http_addr + path, data=body, timeout=30)
        return r.status_code, r.text

    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(fire, calls))

    wrong = [(c[0], c[1], c[3], c[4], a) for c, a in zip(calls, answers)
             if a[0] != c[3] or (c[4] is not None and a[1] != c[4])]
    assert not wrong, "%d wrong answers, e.g. %s" % (len(wrong), wrong[:5])
    assert answers[-1][1].startswith("Request body(524289 bytes) too large")

    # The writes did travel together, and every one was counted once.
    batches, batched = _httpd_batches(agent)
    writes = sum(1 for c in calls if c[3] != 413)
    assert batched - batched0 == writes
    assert batches - batches0 < writes

    # The store: what succeeded is there, what was refused left no trace.
    def tree(prefix):
        r = agent.http("GET", "/v1/kv/%s?recurse" % prefix)
        return {e["Key"]: e for e in r.json()} if r.status_code == 200 else {}

    def val(e):
        return base64.b64decode(e["Value"] or "").decode()

    st, c0, pre = tree("set/"), tree("cas0/"), tree("pre/")
    lock, held, bad = tree("lock/"), tree("held/"), tree("bad/")
    assert len(st) == len(c0) == len(pre) == len(lock) == len(held) == N
    assert bad == {} and tree("big") == {} and tree("tree/") == {}
    assert len(tree("gone/")) == N
    rel = tree("rel/")
    assert len(rel) == N
    for i in range(N):
        assert val(st["set/%d" % i]) == "v%d" % i and st["set/%d" % i]["Flags"] == i
        assert val(c0["cas0/%d" % i]) == "new%d" % i
        assert val(pre["pre/%d" % i]) == "old"
        assert pre["pre/%d" % i]["ModifyIndex"] == stale_index[i]
        assert lock["lock/%d" % i]["Session"] == mine
        assert val(lock["lock/%d" % i]) == "mine%d" % i
        assert held["held/%d" % i]["Session"] == theirs
        assert val(held["held/%d" % i]) == "theirs"
        assert "Session" not in rel["rel/%d" % i] or not rel["rel/%d" % i]["Session"]
        assert val(rel["rel/%d" % i]) == "free%d" % i


def test_cas_race_on_one_key_has_one_winner(agent):
    """64 clients cas the same key at the same index, most of them in the
    same batches: exactly one wins, and its value is the one kept."""
    assert agent.http("PUT", "/v1/kv/chain", data="0").text == "true"
    idx = agent.http("GET", "/v1/kv/chain").json()[0]["ModifyIndex"]

    def cas(n):
        return requests.put(agent.http_addr + "/v1/kv/chain?cas=%d" % idx,
                            data=str(n), timeout=30).text

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(cas, range(64)))
    assert answers.count("true") == 1, answers
    assert answers.count("false") == 63
    winner = answers.index("true")
    got = agent.http("GET", "/v1/kv/chain?raw").text
    assert got == str(winner)


def test_concurrent_values_at_the_size_limit(agent):
    """Values of the maximum size (512 KiB) among small writes: a batch
    holds at most 768 KiB of values, so they spread over batches, and every
    one arrives whole."""
    big = 512 * 1024

    def put(i):
        body = (b"%c" % (ord("a") + i % 26)) * (big if i % 4 == 0 else 10)
        r = requests.put("%s/v1/kv/size/%d" % (agent.http_addr, i), data=body, timeout=30)
        return r.status_code, r.text

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(put, range(64)))
    assert answers == [(200, "true")] * 64
    for i in range(64):
        got = agent.http("GET", "/v1/kv/size/%d?raw" % i).content
        assert got == (b"%c" % (ord("a") + i % 26)) * (big if i % 4 == 0 else 10), i
