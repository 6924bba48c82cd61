"""KV over HTTP and `tribune kv`/`tribune info` against a real agent.

Each test module starts its own agent on its own loopback address
(conftest's next_ip), so modules do not collide.  The `agent`
fixture here is shared with test_session/test_txn/test_blocking.
"""
import base64
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import TRIBUNE, Agent as BaseAgent, sanitizer_report


class Agent(BaseAgent):
    """conftest's agent with the short HTTP helpers these modules use."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path)
        self.url = self.http_addr

    def get(self, path, **kw):
        return self.http("GET", path, **kw)

    def put(self, path, data=None, **kw):
        return self.http("PUT", path, data=data, **kw)

    def delete(self, path, **kw):
        return self.http("DELETE", path, **kw)

    def cli(self, *args, input=None):
        """`tribune` with CONSUL_HTTP_ADDR (as Consul users set it); bytes out."""
        env = dict(self.env, CONSUL_HTTP_ADDR=self.ip + ":8500")
        env.pop("TRIBUNE_HTTP_ADDR", None)
        return subprocess.run([TRIBUNE] + list(args), env=env, input=input,
                              capture_output=True, timeout=60)

    def wait_leader(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                r = self.get("/v1/status/leader", timeout=1)
                if r.status_code == 200 and r.json():
                    return
            except (requests.ConnectionError, ValueError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise AssertionError("no leader after %ss:\n%s" % (timeout, self.log()))


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    if not os.access(TRIBUNE, os.X_OK):
        pytest.skip("no tribune binary at " + TRIBUNE)
    a = Agent(tmp_path_factory.mktemp("agent"))
    a.start()
    a.wait_leader()
    yield a
    a.stop(timeout=15)
    line = sanitizer_report(a.log())
    assert not line, "sanitizer report in the agent's log: %s (%s)" % (line, a.log_path)


# --- HTTP ---------------------------------------------------------------------

def test_put_get_roundtrip(agent):
    r = agent.put("/v1/kv/app/db", data=b"192")
    assert r.status_code == 200 and r.text == "true"
    r = agent.get("/v1/kv/app/db")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    [p] = r.json()
    assert list(p) == ["LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"]
    assert p["Key"] == "app/db" and p["Value"] == "MTky" and p["Flags"] == 0
    assert p["CreateIndex"] == p["ModifyIndex"] == int(r.headers["X-Consul-Index"])


def test_read_headers(agent):
    agent.put("/v1/kv/h", data=b"x")
    for q, cons in (("", "leader"), ("?stale", "stale"), ("?consistent", "consistent")):
        r = agent.get("/v1/kv/h" + q)
        assert r.status_code == 200
        assert int(r.headers["X-Consul-Index"]) >= 1
        assert r.headers["X-Consul-KnownLeader"] == "true"
        assert r.headers["X-Consul-LastContact"] == "0"
        assert r.headers["X-Consul-Effective-Consistency"] == cons


def test_raw_and_binary(agent):
    blob = bytes(range(256))
    assert agent.put("/v1/kv/bin", data=blob).text == "true"
    r = agent.get("/v1/kv/bin?raw")
    assert r.content == blob
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert base64.b64decode(agent.get("/v1/kv/bin").json()[0]["Value"]) == blob


def test_empty_value_is_null(agent):
    agent.put("/v1/kv/empty", data=b"")
    assert agent.get("/v1/kv/empty").json()[0]["Value"] is None
    r = agent.get("/v1/kv/empty?raw")
    assert r.status_code == 200 and r.content == b""


def test_miss_is_404_with_index(agent):
    r = agent.get("/v1/kv/no/such/key")
    assert r.status_code == 404 and r.text == ""
    assert int(r.headers["X-Consul-Index"]) >= 1
    assert agent.get("/v1/kv/no/such/?recurse").status_code == 404


def test_recurse_keys_separator(agent):
    for k in ("web/bar", "web/foo", "web/subdir/x", "web/subdir/y", "webby"):
        agent.put("/v1/kv/" + k, data=k.encode())
    keys = [p["Key"] for p in agent.get("/v1/kv/web/?recurse").json()]
    assert keys == ["web/bar", "web/foo", "web/subdir/x", "web/subdir/y"]
    # Plain string prefixes: "web" also matches "webby".
    assert "webby" in [p["Key"] for p in agent.get("/v1/kv/web?recurse").json()]
    assert agent.get("/v1/kv/web/?keys").json() == ["web/bar", "web/foo", "web/subdir/x", "web/subdir/y"]
    assert agent.get("/v1/kv/web/?keys&separator=/").json() == ["web/bar", "web/foo", "web/subdir/"]
    r = agent.get("/v1/kv/web/?recurse", headers={})
    assert int(r.headers["X-Consul-Index"]) == max(p["ModifyIndex"] for p in r.json())


def test_flags(agent):
    assert agent.put("/v1/kv/f?flags=42", data=b"v").text == "true"
    assert agent.get("/v1/kv/f").json()[0]["Flags"] == 42
    r = agent.put("/v1/kv/f?flags=abc", data=b"v")
    assert r.status_code == 500
    assert r.text == 'strconv.ParseUint: parsing "abc": invalid syntax'


def test_cas(agent):
    agent.delete("/v1/kv/c")
    assert agent.put("/v1/kv/c?cas=0", data=b"1").text == "true"
    assert agent.put("/v1/kv/c?cas=0", data=b"2").text == "false"
    idx = agent.get("/v1/kv/c").json()[0]["ModifyIndex"]
    assert agent.put("/v1/kv/c?cas=%d" % (idx + 100), data=b"3").text == "false"
    assert agent.put("/v1/kv/c?cas=%d" % idx, data=b"4").text == "true"
    assert agent.get("/v1/kv/c?raw").text == "4"
    r = agent.put("/v1/kv/c?cas=abc", data=b"5")
    assert r.status_code == 500 and "invalid syntax" in r.text
    assert agent.get("/v1/kv/c?raw").text == "4"


def test_delete(agent):
    agent.put("/v1/kv/d/1", data=b"1")
    agent.put("/v1/kv/d/2", data=b"2")
    idx = agent.get("/v1/kv/d/1").json()[0]["ModifyIndex"]
    assert agent.delete("/v1/kv/d/1?cas=%d" % (idx + 7)).text == "false"
    assert agent.delete("/v1/kv/d/1?cas=%d" % idx).text == "true"
    assert agent.get("/v1/kv/d/1").status_code == 404
    assert agent.delete("/v1/kv/d/?recurse").text == "true"
    assert agent.get("/v1/kv/d/?recurse").status_code == 404
    assert agent.delete("/v1/kv/never-there").text == "true"


def test_conflicting_flags(agent):
    r = agent.put("/v1/kv/x?cas=1&acquire=abc", data=b"")
    assert r.status_code == 400
    assert r.text == "Conflicting flags: acquire=abc&cas=1\n"
    r = agent.delete("/v1/kv/x?recurse&cas=1")
    assert r.status_code == 400 and r.text.startswith("Conflicting flags: ")


def test_too_large(agent):
    r = agent.put("/v1/kv/big", data=b"x" * (512 * 1024 + 1))
    assert r.status_code == 413
    assert r.text.startswith("Request body(524289 bytes) too large, max size: 524288 bytes.")
    assert agent.get("/v1/kv/big").status_code == 404
    assert agent.put("/v1/kv/big", data=b"x" * (512 * 1024)).text == "true"


def test_bad_params(agent):
    r = agent.get("/v1/kv/a?index=1&wait=xyz")
    assert r.status_code == 400 and r.text == "Invalid wait time"
    r = agent.get("/v1/kv/a?index=abc")
    assert r.status_code == 400 and r.text == "Invalid index"
    r = agent.get("/v1/kv/a?stale&consistent")
    assert r.status_code == 400
    assert r.text == "Cannot specify ?stale with ?consistent, conflicting semantics."
    r = agent.get("/v1/kv/")
    assert r.status_code == 400 and r.text == "Missing key name"
    r = agent.put("/v1/kv/", data=b"")
    assert r.status_code == 400 and r.text == "Missing key name"
    agent.put("/v1/kv/u", data=b"1")
    assert agent.get("/v1/kv/u?whatever=1&dc=&foo").status_code == 200


def test_methods_and_paths(agent):
    r = requests.post(agent.url + "/v1/kv/x", data=b"1", timeout=5)
    assert r.status_code == 405 and r.text == "method POST not allowed"
    assert r.headers["Allow"] == "GET,PUT,DELETE"
    r = agent.get("/v1/session/create")
    assert r.status_code == 405 and r.headers["Allow"] == "PUT"
    r = agent.get("/v1/no/such/endpoint")
    assert r.status_code == 404 and r.text == "404 page not found\n"


def test_pretty(agent):
    agent.put("/v1/kv/p", data=b"v")
    r = agent.get("/v1/kv/p?pretty")
    assert r.text.startswith('[\n    {\n        "LockIndex": 0,\n')
    assert r.text.endswith("\n]\n")
    assert agent.put("/v1/kv/p?pretty", data=b"v").text == "true\n"


def test_status(agent):
    leader = agent.get("/v1/status/leader").json()
    assert leader.endswith(":8300")
    assert agent.get("/v1/status/peers").json() == [leader]


def test_agent_self(agent):
    s = agent.get("/v1/agent/self").json()
    assert list(s)[:2] == ["Config", "DebugConfig"]
    assert s["Config"]["Datacenter"] == "dc1"
    assert s["Config"]["Server"] is True
    assert s["Config"]["NodeName"].startswith("node-")
    assert s["Member"]["Name"] == s["Config"]["NodeName"]
    assert s["Stats"]["raft"]["state"] == "Leader"


# --- CLI ----------------------------------------------------------------------

def out(p):
    return p.stdout.decode(), p.stderr.decode(), p.returncode


def test_cli_put_get(agent):
    assert out(agent.cli("kv", "put", "test/kv", "hello")) == ("Success! Data written to: test/kv\n", "", 0)
    assert out(agent.cli("kv", "get", "test/kv")) == ("hello\n", "", 0)
    assert out(agent.cli("kv", "get", "nope/none")) == ("", "Error! No key exists at: nope/none\n", 1)
    assert out(agent.cli("kv", "get", "-base64", "test/kv")) == ("aGVsbG8=\n", "", 0)


def test_cli_detailed(agent):
    agent.cli("kv", "put", "-flags=42", "det/k", "v")
    lines = agent.cli("kv", "get", "-detailed", "det/k").stdout.decode().splitlines()
    assert [l.split()[0] for l in lines] == ["CreateIndex", "Flags", "Key", "LockIndex", "ModifyIndex", "Session", "Value"]
    assert lines[1] == "Flags            42"
    assert lines[2] == "Key              det/k"
    assert lines[5] == "Session          -"
    assert lines[6] == "Value            v"


def test_cli_recurse_keys(agent):
    agent.cli("kv", "put", "r/a", "1")
    agent.cli("kv", "put", "r/b/c", "2")
    assert agent.cli("kv", "get", "-recurse", "r/").stdout.decode() == "r/a:1\nr/b/c:2\n"
    assert agent.cli("kv", "get", "-keys", "r/").stdout.decode() == "r/a\nr/b/\n"


def test_cli_cas_stdin_file(agent, tmp_path):
    agent.cli("kv", "put", "cas/k", "1")
    idx = agent.get("/v1/kv/cas/k").json()[0]["ModifyIndex"]
    assert out(agent.cli("kv", "put", "-cas", "-modify-index=%d" % (idx + 5), "cas/k", "2")) == \
        ("", "Error! Did not write to cas/k: CAS failed\n", 1)
    assert agent.cli("kv", "put", "-cas", "-modify-index=%d" % idx, "cas/k", "2").returncode == 0
    assert agent.cli("kv", "put", "stdin/k", "-", input=b"from stdin").returncode == 0
    assert agent.get("/v1/kv/stdin/k?raw").content == b"from stdin"
    f = tmp_path / "v"
    f.write_bytes(b"from file")
    assert agent.cli("kv", "put", "file/k", "@" + str(f)).returncode == 0
    assert agent.get("/v1/kv/file/k?raw").content == b"from file"
    assert agent.cli("kv", "put", "-base64", "b64/k", "aGk=").returncode == 0
    assert agent.get("/v1/kv/b64/k?raw").content == b"hi"


def test_cli_delete(agent):
    agent.cli("kv", "put", "del/a", "1")
    assert out(agent.cli("kv", "delete", "del/a")) == ("Success! Deleted key: del/a\n", "", 0)
    agent.cli("kv", "put", "del/b", "1")
    assert out(agent.cli("kv", "delete", "-recurse", "del/")) == ("Success! Deleted keys with prefix: del/\n", "", 0)
    assert agent.get("/v1/kv/del/?recurse").status_code == 404


def test_cli_export_import(agent):
    agent.cli("kv", "put", "-flags=7", "exp/a", "A")
    agent.cli("kv", "put", "exp/b", "B")
    exported = agent.cli("kv", "export", "exp/").stdout.decode()
    assert json.loads(exported) == [{"key": "exp/a", "flags": 7, "value": "QQ=="},
                                    {"key": "exp/b", "flags": 0, "value": "Qg=="}]
    assert '\n\t{\n\t\t"key": "exp/a",' in exported
    p = agent.cli("kv", "import", "-prefix=copy/", "-", input=exported.encode())
    assert p.stdout.decode() == "Imported: copy/exp/a\nImported: copy/exp/b\n"
    assert agent.get("/v1/kv/copy/exp/a").json()[0]["Flags"] == 7



@pytest.mark.parametrize("doc,err", [
    ('[{"key": 5, "value": "eA=="}]',
     "json: cannot unmarshal number into Go struct field KVExportEntry.key of type string"),
    ('[{"key": "imp/x", "flags": "7", "value": "eA=="}]',
     "json: cannot unmarshal string into Go struct field KVExportEntry.flags of type uint64"),
    ('[{"key": "imp/x", "flags": -1}]',
     "json: cannot unmarshal number -1 into Go struct field KVExportEntry.flags of type uint64"),
    ('[{"key": "imp/x", "value": "eA=="}, 5]',
     "json: cannot unmarshal number into Go value of type api.KVExportEntry"),
])
def test_cli_import_refuses_wrong_types(agent, doc, err):
    """Like Consul, which decodes the whole document first: nothing is written."""
    p = agent.cli("kv", "import", "-", input=doc.encode())
    assert (p.returncode, p.stdout, p.stderr.decode()) == (1, b"", "Cannot unmarshal data: %s\n" % err)
    assert agent.get("/v1/kv/imp/?recurse").status_code == 404


def test_operator_raft_configuration_and_list_peers(agent):
    r = agent.get("/v1/operator/raft/configuration")
    assert r.status_code == 200
    doc = json.loads(r.text, object_pairs_hook=lambda p: p)
    assert [k for k, _ in doc] == ["Servers", "Index"]
    servers = dict(doc)["Servers"]
    assert len(servers) == 1
    assert [k for k, _ in servers[0]] == ["ID", "Node", "Address", "Leader", "Voter",
                                          "ProtocolVersion", "LastIndex"]
    s = dict(servers[0])
    assert s["Leader"] is True and s["Voter"] is True and s["ProtocolVersion"] == "3"
    assert s["Address"] == agent.get("/v1/status/leader").json()
    p = agent.cli("operator", "raft", "list-peers")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert lines[0].split() == ["Node", "ID", "Address", "State", "Voter", "RaftProtocol",
                                "Commit", "Index", "Trails", "Leader", "By"]
    row = lines[1].split()
    assert row[0] == s["Node"] and row[2] == s["Address"]
    assert row[3:6] == ["leader", "true", "3"] and row[7] == "-"
    assert int(row[6]) >= 1

def test_cli_info(agent):
    text = agent.cli("info").stdout.decode()
    sections = [l[:-1] for l in text.splitlines() if not l.startswith("\t")]
    assert sections == sorted(sections)
    assert {"agent", "build", "consul", "raft", "runtime"} <= set(sections)
    raft = text.split("raft:\n")[1].split("\n")
    keys = []
    for l in raft:
        if not l.startswith("\t"):
            break
        keys.append(l.strip().split(" = ")[0])
    assert keys == sorted(keys) and "applied_index" in keys and "state" in keys
    assert "\tstate = Leader\n" in text
    # Consul's keys, as hashicorp/raft prints its configuration.
    assert {"latest_configuration", "latest_configuration_index", "num_peers"} <= set(keys)
    leader = agent.get("/v1/status/leader").json()
    assert "\tlatest_configuration = [{Suffrage:Voter ID:" in text
    assert " Address:%s}]\n" % leader in text
