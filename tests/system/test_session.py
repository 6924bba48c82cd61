"""Sessions and locks through HTTP, and `tribune lock`."""
import os
import time

from test_kv import agent  # noqa: F401  (the module's agent fixture)


def create(agent, body=None):
    r = agent.put("/v1/session/create", json=body) if body is not None else agent.put("/v1/session/create")
    assert r.status_code == 200, r.text
    return r.json()["ID"]


def test_create_info_list_node_destroy(agent):
    # python-consul/Patroni spell the keys in lowercase.
    sid = create(agent, {"name": "patroni", "lockdelay": "0.001s", "behavior": "delete", "ttl": "15s", "checks": []})
    r = agent.get("/v1/session/info/" + sid)
    assert r.status_code == 200 and "X-Consul-Index" in r.headers
    [s] = r.json()
    assert s["ID"] == sid and s["Name"] == "patroni" and s["Behavior"] == "delete"
    assert s["TTL"] == "15s" and s["LockDelay"] == 1000000
    node = s["Node"]
    assert sid in [x["ID"] for x in agent.get("/v1/session/list").json()]
    assert sid in [x["ID"] for x in agent.get("/v1/session/node/" + node).json()]
    r = agent.put("/v1/session/destroy/" + sid)
    assert r.status_code == 200 and r.text == "true"
    assert agent.get("/v1/session/info/" + sid).json() == []
    # Idempotent.
    assert agent.put("/v1/session/destroy/" + sid).text == "true"


def test_defaults(agent):
    sid = create(agent)
    [s] = agent.get("/v1/session/info/" + sid).json()
    assert s["Behavior"] == "release" and s["LockDelay"] == 15000000000
    assert s["NodeChecks"] == ["serfHealth"]
    agent.put("/v1/session/destroy/" + sid)


def test_renew(agent):
    sid = create(agent, {"TTL": "10s"})
    r = agent.put("/v1/session/renew/" + sid)
    assert r.status_code == 200 and r.json()[0]["ID"] == sid
    r = agent.put("/v1/session/renew/00000000-0000-0000-0000-00000000dead")
    assert r.status_code == 404
    agent.put("/v1/session/destroy/" + sid)


def test_bad_bodies(agent):
    r = agent.put("/v1/session/create", data=b"{not json")
    assert r.status_code == 400 and r.text.startswith("Request decode failed: ")
    r = agent.put("/v1/session/create", json={"TTL": "1s"})
    assert r.status_code == 500 and r.text.startswith("Invalid Session TTL")
    assert agent.get("/v1/session/info/").status_code == 400


def test_acquire_release_lockindex(agent):
    s1 = create(agent, {"LockDelay": "0s"})
    s2 = create(agent, {"LockDelay": "0s"})
    assert agent.put("/v1/kv/lock/k?acquire=" + s1, data=b"a").text == "true"
    [p] = agent.get("/v1/kv/lock/k").json()
    assert p["LockIndex"] == 1 and p["Session"] == s1
    # Held by s1: s2 fails, s1 re-acquires without bumping LockIndex.
    assert agent.put("/v1/kv/lock/k?acquire=" + s2, data=b"b").text == "false"
    assert agent.put("/v1/kv/lock/k?acquire=" + s1, data=b"c").text == "true"
    [p] = agent.get("/v1/kv/lock/k").json()
    assert p["LockIndex"] == 1 and agent.get("/v1/kv/lock/k?raw").text == "c"
    assert agent.put("/v1/kv/lock/k?release=" + s2).text == "false"
    assert agent.put("/v1/kv/lock/k?release=" + s1).text == "true"
    [p] = agent.get("/v1/kv/lock/k").json()
    assert "Session" not in p
    assert agent.put("/v1/kv/lock/k?acquire=" + s2, data=b"d").text == "true"
    assert agent.get("/v1/kv/lock/k").json()[0]["LockIndex"] == 2
    for s in (s1, s2):
        agent.put("/v1/session/destroy/" + s)


def test_acquire_invalid_session(agent):
    r = agent.put("/v1/kv/lock/bad?acquire=00000000-0000-0000-0000-000000000000", data=b"x")
    assert r.status_code == 500 and r.text.startswith("invalid session")
    assert agent.get("/v1/kv/lock/bad").status_code == 404


def test_delete_behavior(agent):
    sid = create(agent, {"Behavior": "delete", "LockDelay": "0s"})
    assert agent.put("/v1/kv/eph/k?acquire=" + sid, data=b"x").text == "true"
    agent.put("/v1/session/destroy/" + sid)
    assert agent.get("/v1/kv/eph/k").status_code == 404


def test_cli_lock(agent, tmp_path):
    marker = tmp_path / "held"
    p = agent.cli("lock", "svc/leader", "echo $CONSUL_LOCK_HELD > %s" % marker)
    assert p.returncode == 0, p.stderr
    assert marker.read_text() == "true\n"
    # Released and cleaned up afterwards; the session is gone.
    assert agent.get("/v1/kv/svc/leader/.lock").status_code == 404
    names = [s["Name"] for s in agent.get("/v1/session/list").json()]
    assert not any(n.startswith("Consul lock for") for n in names)


def test_cli_lock_waits_for_holder(agent, tmp_path):
    sid = create(agent, {"LockDelay": "0s"})
    assert agent.put("/v1/kv/w/.lock?acquire=" + sid, data=b"").text == "true"
    import subprocess
    env = dict(os.environ, CONSUL_HTTP_ADDR=agent.ip + ":8500")
    marker = tmp_path / "ran"
    p = subprocess.Popen([agent.cli.__globals__["TRIBUNE"], "lock", "w", "touch %s" % marker], env=env)
    time.sleep(1.0)
    assert not marker.exists()
    agent.put("/v1/kv/w/.lock?release=" + sid)
    assert p.wait(20) == 0
    assert marker.exists()
    agent.put("/v1/session/destroy/" + sid)
