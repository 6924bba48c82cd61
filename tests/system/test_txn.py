"""PUT /v1/txn: KV verbs, atomic rollback, limits and bad bodies."""
import base64

from test_kv import agent  # noqa: F401


def b64(s):
    return base64.b64encode(s).decode()


def test_set_get(agent):
    r = agent.put("/v1/txn", json=[
        {"KV": {"Verb": "set", "Key": "t/a", "Value": b64(b"1")}},
        {"kv": {"verb": "set", "key": "t/b", "value": b64(b"2"), "flags": 5}},
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Errors"] is None and len(body["Results"]) == 2
    r = agent.put("/v1/txn", json=[{"KV": {"Verb": "get", "Key": "t/b"}}])
    assert r.status_code == 200
    kv = r.json()["Results"][0]["KV"]
    assert kv["Key"] == "t/b" and kv["Flags"] == 5 and kv["Value"] == b64(b"2")
    assert "X-Consul-KnownLeader" in r.headers


def test_rollback(agent):
    agent.put("/v1/kv/t/c", data=b"old")
    r = agent.put("/v1/txn", json=[
        {"KV": {"Verb": "set", "Key": "t/c", "Value": b64(b"new")}},
        {"KV": {"Verb": "cas", "Key": "t/c", "Value": b64(b"x"), "Index": 999999}},
    ])
    assert r.status_code == 409
    body = r.json()
    assert body["Results"] is None and body["Errors"][0]["OpIndex"] == 1
    assert agent.get("/v1/kv/t/c?raw").text == "old"


def test_delete_tree_and_checks(agent):
    agent.put("/v1/kv/t/tree/1", data=b"1")
    agent.put("/v1/kv/t/tree/2", data=b"2")
    r = agent.put("/v1/txn", json=[{"KV": {"Verb": "delete-tree", "Key": "t/tree/"}}])
    assert r.status_code == 200
    assert agent.get("/v1/kv/t/tree/?recurse").status_code == 404


def test_bad_bodies(agent):
    r = agent.put("/v1/txn", data=b"[{")
    assert r.status_code == 400 and r.text.startswith("Failed to parse body: ")
    r = agent.put("/v1/txn", json={"KV": {}})
    assert r.status_code == 400
    r = agent.put("/v1/txn", json=[{"KV": {"Verb": "set", "Key": "k"}}] * 129)
    assert r.status_code == 413
    assert r.text == "Transaction contains too many operations (129 > 128)"
    r = agent.put("/v1/txn", json=[{"KV": {"Verb": "set", "Key": "t/bad", "Value": "!!!"}}])
    assert r.status_code in (400, 409, 500)
    assert agent.get("/v1/kv/t/bad").status_code == 404
