"""Maintenance mode: tribune maint (Consul's lines), the HTTP endpoints, the
critical _node_maintenance / _service_maintenance:<id> checks, persistence."""
import itertools
import os

_ips = itertools.count(int(os.environ.get("CHECKD_TEST_IP_BASE", "150")) + 40)


def fresh_ip():
    return "%s.%d" % (os.environ.get("TRIBUNE_TEST_NET", "127.0.0"), next(_ips))


def checks(a):
    return a.http("GET", "/v1/agent/checks").json()


def test_maint_cli(agent_factory):
    ip = fresh_ip()
    a = agent_factory(ip=ip).start()
    assert a.http("PUT", "/v1/agent/service/register",
                  json={"name": "web", "check": {"ttl": "60s",
                                                 "status": "passing"}}).status_code == 200
    r = a.cli("maint")
    assert (r.returncode, r.stdout) == (0, "")

    r = a.cli("maint", "-enable", "-reason", "kernel upgrade")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Node maintenance is now enabled\n"
    c = checks(a)["_node_maintenance"]
    assert c["Name"] == "Node Maintenance Mode"
    assert c["Status"] == "critical"
    assert c["Notes"] == "kernel upgrade"
    assert c["ServiceID"] == ""

    r = a.cli("maint", "-enable", "-service", "web")
    assert r.stdout == 'Service maintenance is now enabled for "web"\n'
    c = checks(a)["_service_maintenance:web"]
    assert c["Name"] == "Service Maintenance Mode"
    assert c["ServiceID"] == "web" and c["Status"] == "critical"
    assert c["Notes"] == ("Maintenance mode is enabled for this service, but "
                          "no reason was provided. This is a default message.")

    r = a.cli("maint")
    blocks = sorted(r.stdout.strip("\n").split("\n\n"))
    assert blocks == sorted([
        "Node:\n  Name:   %s\n  Reason: kernel upgrade" % a.name,
        "Service:\n  ID:     web\n  Reason: Maintenance mode is enabled for "
        "this service, but no reason was provided. This is a default message."])

    r = a.http("GET", "/v1/agent/health/service/id/web?format=text")
    assert (r.status_code, r.text) == (503, "maintenance")

    # Maintenance survives a restart of the agent.
    a.stop()
    b = agent_factory(ip=ip).start()
    assert "_node_maintenance" in checks(b)
    assert "_service_maintenance:web" in checks(b)

    r = b.cli("maint", "-disable", "-service", "web")
    assert r.stdout == 'Service maintenance is now disabled for "web"\n'
    r = b.cli("maint", "-disable")
    assert r.stdout == "Node maintenance is now disabled\n"
    assert not [k for k in checks(b) if "maintenance" in k]
    assert b.cli("maint").stdout == ""
    r = b.http("GET", "/v1/agent/health/service/id/web?format=text")
    assert (r.status_code, r.text) == (200, "passing")


def test_maint_errors(agent_factory):
    a = agent_factory(ip=fresh_ip()).start()
    r = a.cli("maint", "-enable", "-disable")
    assert r.returncode == 1
    assert "Only one of -enable or -disable may be provided" in r.stderr
    r = a.cli("maint", "-reason", "x")
    assert r.returncode == 1
    r = a.cli("maint", "-enable", "-service", "ghost")
    assert r.returncode == 1
    assert "Error enabling service maintenance" in r.stderr
    r = a.http("PUT", "/v1/agent/maintenance")
    assert (r.status_code, r.text) == (400, "Missing value for enable")
    r = a.http("PUT", "/v1/agent/maintenance?enable=yes")
    assert (r.status_code, r.text) == (400, 'Invalid value for enable: "yes"')
    r = a.http("PUT", "/v1/agent/service/maintenance/ghost?enable=true")
    assert r.status_code == 404
    r = a.http("PUT", "/v1/agent/maintenance?enable=true&reason=r")
    assert r.status_code == 200 and r.text == ""
