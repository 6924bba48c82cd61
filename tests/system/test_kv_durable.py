"""Every acknowledged KV write survives kill -9: of raftd in the middle of
a burst (the supervisor restarts it), and of the whole agent (started again
on the same data dir).  The writes come from 64 clients at once, so they
reach raftd in batches (one Raft entry each)."""
import base64
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

WRITES = 10000


def _burst(agent, prefix, n, during=None, after=0):
    """PUTs prefix<i> = i from 64 threads; returns the keys answered true.
    during() runs once, when `after` writes have been answered."""
    acked, lock, done = set(), threading.Lock(), [0]
    local = threading.local()

    def put(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        try:
            r = local.s.put("%s/v1/kv/%s%d" % (agent.http_addr, prefix, i),
                            data=str(i), timeout=30)
            ok = r.status_code == 200 and r.text == "true"
        except requests.RequestException:
            ok = False
        with lock:
            if ok:
                acked.add(i)
            done[0] += 1
            fire = during is not None and done[0] == after
        if fire:
            during()

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(put, range(n)))
    return acked


def _wait_writable(agent, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if agent.http("PUT", "/v1/kv/probe", data="x").text == "true":
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("no writes after %ss:\n%s" % (timeout, agent.log()[-3000:]))


def _check_kept(agent, prefix, acked):
    r = agent.http("GET", "/v1/kv/%s?recurse" % prefix, timeout=60)
    assert r.status_code == 200, r.text
    kept = {e["Key"][len(prefix):]: base64.b64decode(e["Value"]).decode()
            for e in r.json()}
    lost = [i for i in acked if kept.get(str(i)) != str(i)]
    assert not lost, "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:10])


def test_acknowledged_writes_survive_kill9_of_raftd(agent):
    _wait_writable(agent)
    killed = []

    def kill_raftd():
        pid = agent.children()["raftd"]["pid"]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    acked = _burst(agent, "dur/", WRITES, during=kill_raftd, after=WRITES // 4)
    assert killed, "raftd was never killed"
    _wait_writable(agent)
    assert agent.children()["raftd"]["pid"] != killed[0]
    # Most writes went through; the ones in flight at the kill may not.
    assert len(acked) > WRITES // 2, len(acked)
    _check_kept(agent, "dur/", acked)


def test_acknowledged_writes_survive_kill9_of_the_agent(agent_factory):
    a = agent_factory().start()
    _wait_writable(a)
    acked = _burst(a, "all/", WRITES)
    assert len(acked) == WRITES
    a.kill()
    b = agent_factory(ip=a.ip).start()
    _wait_writable(b)
    _check_kept(b, "all/", acked)
