"""Writes resent to a restarted raftd are applied once.

When raftd dies with calls in flight, nng resends them to the new raftd
under the same request id.  A write whose entry reached the Raft log but
whose answer did not leave would then run twice: a cas=0 PUT on a new key
would answer `false` (its own first run made the key exist), a session
create would make a second session.  raftd records each write's request
id with its result in the same LMDB txn (docs/raftd.md, "Resent writes"),
so the resent call gets the first answer.  Where a kill lands is chance,
so the burst is killed several times; each kill has a fair chance to hit
an entry that is durable and unanswered."""
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

WRITES = 6000
KILLS = 4


def test_writes_in_flight_at_kill9_of_raftd_apply_once(agent):
    agent.http("PUT", "/v1/kv/probe", data="x")
    answers, lock, done = {}, threading.Lock(), [0]
    creates = []
    local = threading.local()
    kill_at = {WRITES * (k + 1) // (KILLS + 1) for k in range(KILLS)}
    killed = []

    def kill_raftd():
        # The one running now, not one that is still being restarted.
        deadline = time.time() + 10
        while time.time() < deadline:
            c = agent.children()["raftd"]
            if c["state"] == "running" and c["pid"] not in killed:
                try:
                    os.kill(c["pid"], signal.SIGKILL)
                    killed.append(c["pid"])
                    return
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def call(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        try:
            if i % 10 == 0:
                r = local.s.put(agent.http_addr + "/v1/session/create", data="{}", timeout=30)
                res = (r.status_code, r.text)
            else:
                r = local.s.put("%s/v1/kv/once/%d?cas=0" % (agent.http_addr, i),
                                data=str(i), timeout=30)
                res = (r.status_code, r.text)
        except requests.RequestException as e:
            res = (0, str(e))
        with lock:
            answers[i] = res
            done[0] += 1
            fire = done[0] in kill_at
        if fire:
            kill_raftd()

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(call, range(WRITES)))
    assert len(killed) == KILLS

    # Wait for raftd to lead again, then read what is there.
    deadline = time.time() + 20
    while agent.http("PUT", "/v1/kv/probe", data="x").text != "true":
        assert time.time() < deadline
        time.sleep(0.1)

    puts = {i: a for i, a in answers.items() if i % 10}
    sess = {i: a for i, a in answers.items() if i % 10 == 0}
    # A cas=0 on a key nobody else writes is `false` only if it ran twice.
    twice = [i for i, a in puts.items() if a == (200, "false")]
    assert not twice, "%d writes applied twice, e.g. %s" % (len(twice), twice[:10])
    ok = [i for i, a in puts.items() if a == (200, "true")]
    assert len(ok) > WRITES // 2
    r = agent.http("GET", "/v1/kv/once/?recurse", timeout=60)
    kept = {e["Key"] for e in r.json()}
    assert all("once/%d" % i in kept for i in ok)

    # Sessions: each answered create made exactly one; a create answered
    # with an error may or may not have been applied.
    made = [a for a in sess.values() if a[0] == 200]
    failed = [a for a in sess.values() if a[0] != 200]
    ids = {s["ID"] for s in agent.http("GET", "/v1/session/list").json()}
    assert {json.loads(a[1])["ID"] for a in made} <= ids
    assert len(made) <= len(ids) <= len(made) + len(failed)
