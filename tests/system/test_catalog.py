"""The catalog and health API and `tribune catalog` against a real -dev agent.

Registers through PUT /v1/catalog/register, reads back through every
catalog and health endpoint, checks Consul's field order, index rules
(an identical re-register moves nothing), blocking queries (wake on a
change, not before), the agent's own node with serfHealth and the `consul`
service, and the CLI's lines.  CATALOG_TEST_IP picks the agent's address
(else conftest's next free one).
"""
import json
import os
import threading
import time

import pytest

NODE_KEYS = ["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta",
             "CreateIndex", "ModifyIndex"]
CATALOG_SERVICE_KEYS = ["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta",
                        "ServiceKind", "ServiceID", "ServiceName", "ServiceTags",
                        "ServiceAddress", "ServiceWeights", "ServiceMeta", "ServicePort",
                        "ServiceEnableTagOverride", "ServiceProxy", "ServiceConnect",
                        "CreateIndex", "ModifyIndex"]
AGENT_SERVICE_KEYS = ["ID", "Service", "Tags", "Address", "Meta", "Port", "Weights",
                      "EnableTagOverride", "Proxy", "Connect", "PeerName", "CreateIndex",
                      "ModifyIndex"]
CHECK_KEYS = ["Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID",
              "ServiceName", "ServiceTags", "Type", "Interval", "Timeout", "ExposedPort",
              "Definition", "CreateIndex", "ModifyIndex"]

WEB = {
    "Node": "ext1",
    "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
    "Address": "10.1.0.1",
    "NodeMeta": {"env": "prod", "rack": "r1"},
    "Service": {"Service": "web", "Tags": ["v1", "primary"], "Port": 80,
                "Meta": {"team": "a"}},
    "Checks": [
        {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
        {"Name": "web alive", "ServiceID": "web", "Status": "passing", "Type": "http"},
    ],
}


def ordered(text):
    """Decodes JSON keeping key order (lists of (key, value) pairs for objects)."""
    return json.loads(text, object_pairs_hook=lambda pairs: pairs)


def keys(pairs):
    return [k for k, _ in pairs]


@pytest.fixture
def cat(agent_factory):
    a = agent_factory(ip=os.environ.get("CATALOG_TEST_IP") or None).start()
    # The leader registers its own node within a tick or two.
    deadline = time.time() + 15
    while time.time() < deadline:
        r = a.http("GET", "/v1/health/node/" + a.name)
        if r.status_code == 200 and any(c["CheckID"] == "serfHealth" for c in r.json()):
            return a
        time.sleep(0.2)
    raise AssertionError("own node never registered:\n" + a.log())


def register(a, body):
    r = a.http("PUT", "/v1/catalog/register", data=json.dumps(body))
    assert r.status_code == 200, r.text
    assert r.text == "true"
    return r


def test_own_node_serf_health_and_consul_service(cat):
    r = cat.http("GET", "/v1/catalog/nodes")
    assert r.status_code == 200
    assert int(r.headers["X-Consul-Index"]) >= 1
    assert r.headers["X-Consul-KnownLeader"] == "true"
    assert r.headers["X-Consul-Effective-Consistency"] == "leader"
    nodes = {n["Node"]: n for n in r.json()}
    me = nodes[cat.name]
    assert keys(ordered(r.text)[0]) == NODE_KEYS
    assert me["Address"] == cat.ip
    assert me["Datacenter"] == "dc1"
    assert me["TaggedAddresses"] == {"lan": cat.ip, "lan_ipv4": cat.ip,
                                     "wan": cat.ip, "wan_ipv4": cat.ip}
    checks = cat.http("GET", "/v1/health/node/" + cat.name).json()
    serf = [c for c in checks if c["CheckID"] == "serfHealth"][0]
    assert serf == {"Node": cat.name, "CheckID": "serfHealth", "Name": "Serf Health Status",
                    "Status": "passing", "Notes": "", "Output": "Agent alive and reachable",
                    "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": "",
                    "Interval": "", "Timeout": "", "ExposedPort": 0, "Definition": {},
                    "CreateIndex": serf["CreateIndex"], "ModifyIndex": serf["ModifyIndex"]}
    consul = cat.http("GET", "/v1/catalog/service/consul").json()
    assert len(consul) == 1
    assert consul[0]["ServiceID"] == "consul" and consul[0]["ServicePort"] == 8300
    assert consul[0]["Node"] == cat.name
    assert "consul" in cat.http("GET", "/v1/catalog/services").json()
    assert cat.http("GET", "/v1/catalog/datacenters").json() == ["dc1"]
    # Deregistered by hand, the leader puts its node back.
    assert cat.http("PUT", "/v1/catalog/deregister",
                    data=json.dumps({"Node": cat.name})).text == "true"
    deadline = time.time() + 10
    while time.time() < deadline:
        if cat.http("GET", "/v1/catalog/service/consul").json():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the leader did not re-register itself")


def test_register_and_read_back_everywhere(cat):
    register(cat, WEB)
    r = cat.http("GET", "/v1/catalog/service/web")
    row = ordered(r.text)[0]
    assert keys(row) == CATALOG_SERVICE_KEYS
    s = r.json()[0]
    assert s["Node"] == "ext1" and s["Address"] == "10.1.0.1"
    assert s["NodeMeta"] == {"env": "prod", "rack": "r1"}
    assert s["ServiceTags"] == ["v1", "primary"] and s["ServicePort"] == 80
    assert s["ServiceWeights"] == {"Passing": 1, "Warning": 1}
    assert s["CreateIndex"] == s["ModifyIndex"] == int(r.headers["X-Consul-Index"])

    services = cat.http("GET", "/v1/catalog/services").json()
    assert services["web"] == ["v1", "primary"]

    node = cat.http("GET", "/v1/catalog/node/ext1")
    doc = ordered(node.text)
    assert keys(doc) == ["Node", "Services"]
    assert keys(dict(doc)["Node"]) == NODE_KEYS
    assert keys(dict(dict(doc)["Services"])["web"]) == AGENT_SERVICE_KEYS
    assert cat.http("GET", "/v1/catalog/node/nope").text == "null"
    ns = cat.http("GET", "/v1/catalog/node-services/ext1").json()
    assert [x["ID"] for x in ns["Services"]] == ["web"]

    hn = cat.http("GET", "/v1/health/node/ext1")
    assert [c["CheckID"] for c in hn.json()] == ["serfHealth", "web alive"]
    assert keys(ordered(hn.text)[0]) == CHECK_KEYS
    hc = cat.http("GET", "/v1/health/checks/web").json()
    assert [c["CheckID"] for c in hc] == ["web alive"]
    assert hc[0]["ServiceName"] == "web" and hc[0]["ServiceTags"] == ["v1", "primary"]

    hs = cat.http("GET", "/v1/health/service/web")
    entry = ordered(hs.text)[0]
    assert keys(entry) == ["Node", "Service", "Checks"]
    e = hs.json()[0]
    assert e["Node"]["Node"] == "ext1" and e["Service"]["ID"] == "web"
    assert [c["CheckID"] for c in e["Checks"]] == ["serfHealth", "web alive"]

    st = cat.http("GET", "/v1/health/state/passing").json()
    assert {"serfHealth", "web alive"} <= {c["CheckID"] for c in st}
    assert cat.http("GET", "/v1/health/state/bogus").status_code == 400

    # Deregister: service (and its checks), then node (and the rest).
    assert cat.http("PUT", "/v1/catalog/deregister",
                    data=json.dumps({"Node": "ext1", "ServiceID": "web"})).text == "true"
    assert cat.http("GET", "/v1/catalog/service/web").json() == []
    assert [c["CheckID"] for c in cat.http("GET", "/v1/health/node/ext1").json()] == ["serfHealth"]
    assert cat.http("PUT", "/v1/catalog/deregister", data=json.dumps({"Node": "ext1"})).text == "true"
    assert cat.http("GET", "/v1/health/node/ext1").json() == []
    assert "ext1" not in [n["Node"] for n in cat.http("GET", "/v1/catalog/nodes").json()]


def test_any_key_case_and_errors(cat):
    r = cat.http("PUT", "/v1/catalog/register", data=json.dumps(
        {"node": "low", "address": "10.1.0.9", "service": {"service": "db", "port": 5432},
         "check": {"name": "db ok", "service_id": "db", "status": "warning"}}))
    assert r.status_code == 200 and r.text == "true"
    hc = cat.http("GET", "/v1/health/checks/db").json()
    assert hc[0]["Status"] == "warning" and hc[0]["ServiceID"] == "db"
    r = cat.http("PUT", "/v1/catalog/register", data=json.dumps({"Address": "1.2.3.4"}))
    assert r.status_code == 500 and "Must provide node" in r.text
    r = cat.http("PUT", "/v1/catalog/register", data="{nope")
    assert r.status_code == 400
    r = cat.http("PUT", "/v1/catalog/register", data=json.dumps(
        {"Node": "x", "Address": "1.2.3.4", "Check": {"Name": "c", "ServiceID": "missing"}}))
    assert r.status_code == 500 and "Missing service registration" in r.text
    assert cat.http("GET", "/v1/catalog/nodes?filter=Node%20%3D%3D").status_code == 400
    assert cat.http("GET", "/v1/catalog/register").status_code == 405
    r = cat.http("GET", "/v1/catalog/nodes?dc=dc2")
    assert r.status_code == 500 and r.text == "No path to datacenter"
    assert cat.http("GET", "/v1/catalog/nodes?dc=dc1").status_code == 200
    r = cat.http("PUT", "/v1/catalog/register", data=json.dumps(
        {"Node": "x", "Address": "1.2.3.4", "Check": {"Name": "c" * 300}}))
    assert r.status_code == 400


def test_service_name_any_case(cat):
    """Consul looks services and nodes up by name without regard to case."""
    body = dict(WEB, Service={"ID": "web", "Service": "Web", "Port": 80})
    register(cat, body)
    for path in ("/v1/catalog/service/web", "/v1/catalog/service/WEB",
                 "/v1/health/service/wEb", "/v1/health/checks/WEB"):
        r = cat.http("GET", path)
        assert r.status_code == 200, path
        assert len(r.json()) == 1, (path, r.text)
    row = cat.http("GET", "/v1/catalog/service/web").json()[0]
    assert row["ServiceName"] == "Web"
    assert cat.http("GET", "/v1/catalog/service/we").json() == []
    # Nodes too: the answer keeps the registered spelling.
    assert cat.http("GET", "/v1/catalog/node/EXT1").json()["Node"]["Node"] == "ext1"
    assert [c["CheckID"] for c in cat.http("GET", "/v1/health/node/Ext1").json()] == \
        ["serfHealth", "web alive"]
    assert cat.http("GET", "/v1/catalog/node/EXT").text == "null"


def test_identical_reregister_keeps_index(cat):
    register(cat, WEB)
    r1 = cat.http("GET", "/v1/health/service/web")
    i1 = int(r1.headers["X-Consul-Index"])
    register(cat, WEB)
    register(cat, json.loads(json.dumps(WEB)))
    r2 = cat.http("GET", "/v1/health/service/web")
    assert int(r2.headers["X-Consul-Index"]) == i1
    assert r2.json() == r1.json()
    changed = json.loads(json.dumps(WEB))
    changed["Service"]["Tags"] = ["v2"]
    register(cat, changed)
    r3 = cat.http("GET", "/v1/health/service/web")
    assert int(r3.headers["X-Consul-Index"]) > i1
    svc = r3.json()[0]["Service"]
    assert svc["CreateIndex"] == i1 and svc["ModifyIndex"] > i1


def test_blocking_wakes_on_change_not_before(cat):
    register(cat, WEB)
    idx = int(cat.http("GET", "/v1/health/service/web").headers["X-Consul-Index"])
    out = {}

    def block():
        t0 = time.time()
        r = cat.http("GET", "/v1/health/service/web?index=%d&wait=20s" % idx, timeout=30)
        out["r"] = r
        out["t"] = time.time() - t0

    th = threading.Thread(target=block)
    th.start()
    time.sleep(0.5)
    # Same content again, and a change elsewhere in KV: no wake.
    register(cat, WEB)
    cat.http("PUT", "/v1/kv/unrelated", data="x")
    time.sleep(1.5)
    assert th.is_alive(), "woke without a change: %r" % out
    changed = json.loads(json.dumps(WEB))
    changed["Checks"][1]["Status"] = "critical"
    t_change = time.time()
    register(cat, changed)
    th.join(10)
    assert not th.is_alive()
    r = out["r"]
    assert r.status_code == 200
    assert int(r.headers["X-Consul-Index"]) > idx
    assert time.time() - t_change < 3
    assert [c["Status"] for c in r.json()[0]["Checks"]] == ["passing", "critical"]
    # ?passing now filters the instance out; wait expiry answers the same index.
    assert cat.http("GET", "/v1/health/service/web?passing").json() == []
    idx2 = int(r.headers["X-Consul-Index"])
    t0 = time.time()
    r = cat.http("GET", "/v1/catalog/nodes?index=%d&wait=1s" % (idx2 + 1000))
    assert 0.9 <= time.time() - t0 < 5
    assert r.status_code == 200


def test_query_filters(cat):
    register(cat, WEB)
    two = {"Node": "ext2", "Address": "10.1.0.2", "NodeMeta": {"env": "dev"},
           "Service": {"Service": "web", "Tags": ["v2"], "Port": 81},
           "Check": {"Name": "w2", "ServiceID": "web", "Status": "warning"}}
    register(cat, two)

    def nodes_of(path):
        r = cat.http("GET", path)
        assert r.status_code == 200, r.text
        return sorted(x["Node"]["Node"] if "Service" in x and "Checks" in x else x["Node"]
                      for x in r.json())

    assert nodes_of("/v1/health/service/web") == ["ext1", "ext2"]
    assert nodes_of("/v1/health/service/web?passing") == ["ext1"]
    assert nodes_of("/v1/health/service/web?passing=false") == ["ext1", "ext2"]
    assert nodes_of("/v1/health/service/web?tag=v1&tag=primary") == ["ext1"]
    assert nodes_of("/v1/health/service/web?tag=v1&tag=v2") == []
    assert nodes_of("/v1/catalog/service/web?tag=v2") == ["ext2"]
    assert nodes_of("/v1/catalog/service/web?node-meta=env:dev") == ["ext2"]
    assert nodes_of("/v1/health/service/web?filter=Node.Meta.env%20%3D%3D%20prod") == ["ext1"]
    assert nodes_of("/v1/catalog/service/web?filter=" +
                    "ServicePort%20%3D%3D%2081%20or%20%22primary%22%20in%20ServiceTags") == ["ext1", "ext2"]
    assert nodes_of("/v1/catalog/service/web?filter=ServiceTags%20contains%20v2") == ["ext2"]
    ns = [n["Node"] for n in cat.http("GET", "/v1/catalog/nodes?node-meta=env:prod").json()]
    assert ns == ["ext1"]
    assert cat.http("GET", "/v1/catalog/services?node-meta=env:dev").json() == {"web": ["v2"]}
    r = cat.http("GET", "/v1/catalog/nodes?stale")
    assert r.headers["X-Consul-Effective-Consistency"] == "stale"
    r = cat.http("GET", "/v1/health/state/any?consistent")
    assert r.headers["X-Consul-Effective-Consistency"] == "consistent"
    assert len(r.json()) >= 4


def test_cli(cat):
    register(cat, WEB)
    register(cat, {"Node": "ext2", "ID": "5b2c3d4e-0000-1111-2222-333344445555",
                   "Address": "10.1.0.2", "Service": {"Service": "db", "Port": 5432}})
    me = cat.http("GET", "/v1/catalog/node/" + cat.name).json()["Node"]
    r = cat.cli("catalog", "datacenters", check=True)
    assert r.stdout == "dc1\n"

    rows = sorted([["ext1", "40e4a748", "10.1.0.1", "dc1"],
                   ["ext2", "5b2c3d4e", "10.1.0.2", "dc1"],
                   [cat.name, me["ID"].split("-")[0], cat.ip, "dc1"]])
    r = cat.cli("catalog", "nodes", check=True)
    assert r.stdout == columnize([["Node", "ID", "Address", "DC"]] + rows)

    r = cat.cli("catalog", "nodes", "-service", "web", check=True)
    assert r.stdout == columnize([["Node", "ID", "Address", "DC"],
                                  ["ext1", "40e4a748", "10.1.0.1", "dc1"]])
    r = cat.cli("catalog", "nodes", "-node-meta", "env=prod", "-detailed", check=True)
    assert r.stdout == columnize([["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"],
                                  ["ext1", WEB["ID"], "10.1.0.1", "dc1", "", "env=prod, rack=r1"]])
    r = cat.cli("catalog", "nodes", "-service", "nope")
    assert r.returncode == 0 and r.stdout == ""
    assert "No nodes match the given query" in r.stderr

    r = cat.cli("catalog", "services", check=True)
    assert r.stdout == "consul\ndb\nweb\n"
    r = cat.cli("catalog", "services", "-tags", check=True)
    assert r.stdout == "consul      \ndb          \nweb         primary,v1\n"
    r = cat.cli("catalog", "services", "-node", "ext1", check=True)
    assert r.stdout == "web\n"
    r = cat.cli("catalog", "bogus")
    assert r.returncode == 1


def columnize(rows):
    """Consul's columnize: left-aligned, two-space gutters, last column unpadded."""
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        out.append("  ".join([c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]))
    return "\n".join(out) + "\n"


def test_gossip_members_reconciled(agent_factory):
    """The leader mirrors gossip into the catalog: alive -> serfHealth passing,
    failed -> critical (and the node's sessions go), left -> deregistered."""
    a1 = agent_factory(ip=os.environ.get("CATALOG_TEST_IP") or None).start()
    a2 = agent_factory(ip=os.environ.get("CATALOG_TEST_IP2") or None, dev=False,
                       args=["-join", a1.ip]).start()

    def serf_of(node):
        for c in a1.http("GET", "/v1/health/node/" + node).json():
            if c["CheckID"] == "serfHealth":
                return c
        return None

    def wait(pred, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.2)
        raise AssertionError("%s:\n%s" % (what, a1.log()[-3000:]))

    c = wait(lambda: serf_of(a2.name), "member never registered")
    assert c["Status"] == "passing" and c["Output"] == "Agent alive and reachable"
    node = a1.http("GET", "/v1/catalog/node/" + a2.name).json()["Node"]
    assert node["Address"] == a2.ip
    # A client is no server: no consul service for it.
    wait(lambda: a1.http("GET", "/v1/catalog/service/consul").json(), "no consul service")
    assert [s["Node"] for s in a1.http("GET", "/v1/catalog/service/consul").json()] == [a1.name]
    sid = a1.http("PUT", "/v1/session/create", data=json.dumps({"Node": a2.name})).json()["ID"]
    assert len(a1.http("GET", "/v1/session/info/" + sid).json()) == 1

    a2.kill()
    c = wait(lambda: (serf_of(a2.name) or {}).get("Status") == "critical" and serf_of(a2.name),
             "failed member not critical", timeout=30)
    assert c["Output"] == "Agent not live or unreachable"
    assert a1.http("GET", "/v1/session/info/" + sid).json() == []
    assert a1.http("GET", "/v1/health/service/consul?passing").json()[0]["Node"]["Node"] == a1.name


def test_service_lookups_survive_restart_and_renames(agent_factory):
    """Lookups by service name (they read raftd's service_names index) answer
    the same after a restart on the same data dir, and follow an instance
    that is re-registered under another name."""
    a = agent_factory(dev=False, args=["-server", "-bootstrap-expect=1"]).start()

    def put(body):
        deadline = time.time() + 15
        while True:
            r = a.http("PUT", "/v1/catalog/register", data=json.dumps(body))
            if r.status_code == 200 and r.text == "true":
                return
            assert time.time() < deadline, r.text
            time.sleep(0.2)

    put(WEB)
    put({"Node": "ext2", "Address": "10.1.0.2",
         "Service": {"ID": "web2", "Service": "web", "Port": 81},
         "Check": {"CheckID": "web2-up", "ServiceID": "web2", "Status": "critical"}})
    put({"Node": "ext2", "SkipNodeUpdate": True,
         "Service": {"ID": "api1", "Service": "web", "Port": 82}})
    # api1 was registered as web by mistake: re-registered as api.
    put({"Node": "ext2", "SkipNodeUpdate": True,
         "Service": {"ID": "api1", "Service": "api", "Port": 82}})
    paths = ["/v1/catalog/service/web", "/v1/catalog/service/api",
             "/v1/health/service/web", "/v1/health/service/web?passing",
             "/v1/health/checks/web", "/v1/catalog/service/nope"]
    before = {p: a.http("GET", p).text for p in paths}
    assert [e["ServiceID"] for e in json.loads(before["/v1/catalog/service/web"])] == \
        ["web", "web2"]
    assert [e["ServiceID"] for e in json.loads(before["/v1/catalog/service/api"])] == ["api1"]
    assert [e["Service"]["ID"] for e in json.loads(before["/v1/health/service/web?passing"])] == \
        ["web"]
    assert sorted(c["CheckID"] for c in json.loads(before["/v1/health/checks/web"])) == \
        ["web alive", "web2-up"]
    assert json.loads(before["/v1/catalog/service/nope"]) == []

    a.stop()
    b = agent_factory(ip=a.ip, dev=False, args=["-server", "-bootstrap-expect=1"]).start()
    deadline = time.time() + 15
    while b.http("GET", "/v1/status/leader").text in ("", '""'):
        assert time.time() < deadline, "no leader after restart"
        time.sleep(0.2)
    after = {p: b.http("GET", p).text for p in paths}
    assert after == before
