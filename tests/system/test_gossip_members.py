"""
/v1/agent/members' ?wan and ?segment, as Consul CE answers on a
single-datacenter agent: a server's WAN pool holds itself as <node>.<dc> on
the serf WAN port, a client has none (null); every member is in the default
segment "", "_all" lists them all, another segment is an error (a server:
not supported, a client: not found); a segment with ?wan is a 400.
"""
import time


def wait_members(agent, names, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        r = agent.http("GET", "/v1/agent/members")
        if r.status_code == 200 and sorted(m["Name"] for m in r.json()) == names:
            return
        time.sleep(0.2)
    raise AssertionError("members of %s: %s" % (agent.name, r.text))


def test_members_wan_and_segment(agent_factory):
    srv = agent_factory(name="srv").start()
    cli = agent_factory(name="cli", args=["-server=false", "-bootstrap=false",
                                          "-join", srv.ip]).start()
    for a in (srv, cli):
        wait_members(a, ["cli", "srv"])
        for seg in ("", "_all"):
            r = a.http("GET", "/v1/agent/members?segment=" + seg)
            assert r.status_code == 200, r.text
            assert sorted(m["Name"] for m in r.json()) == ["cli", "srv"]
            assert all(m["Tags"]["segment"] == "" for m in r.json())
        r = a.http("GET", "/v1/agent/members?wan=1&segment=alpha")
        assert r.status_code == 400, r.text
        assert "Cannot provide a segment with wan=true" in r.text

    r = srv.http("GET", "/v1/agent/members?segment=alpha")
    assert r.status_code == 500
    assert "Network segments are not supported in this version of Consul" in r.text
    r = cli.http("GET", "/v1/agent/members?segment=alpha")
    assert r.status_code == 500
    assert 'segment "alpha" not found' in r.text

    # the server's WAN pool: itself, named <node>.<dc>, on the WAN port
    r = srv.http("GET", "/v1/agent/members?wan=1")
    assert r.status_code == 200, r.text
    (m,) = r.json()
    assert (m["Name"], m["Addr"], m["Port"], m["Status"]) == \
        ("srv.dc1", srv.ip, 8302, 1), m
    assert m["Tags"]["role"] == "consul" and m["Tags"]["dc"] == "dc1"
    out = srv.cli("members", "-wan", check=True).stdout
    assert "srv.dc1" in out and "cli" not in out, out
    # a client has no WAN pool
    r = cli.http("GET", "/v1/agent/members?wan=1")
    assert r.status_code == 200 and r.text.strip() == "null", r.text


def test_join_at_start_is_done_before_running(agent_factory):
    """-join: the agent says it runs only once it has joined, and the log
    has Consul's two lines."""
    srv = agent_factory(name="srv").start()
    b = agent_factory(name="b", args=["-join", srv.ip]).start()
    names = sorted(m["Name"] for m in b.http("GET", "/v1/agent/members").json())
    assert names == ["b", "srv"]
    log = b.log()
    assert "Joining cluster..." in log
    assert "Join completed. Initial agents synced with: agent_count=1" in log
    assert log.index("Join completed") < log.index("agent running")


def test_join_at_start_that_fails_stops_the_agent(agent_factory):
    """Consul: if no -join address answers, the agent does not start."""
    dead = agent_factory(name="dead")          # never started: its address is silent
    a = agent_factory(name="lonely", args=["-join", dead.ip])
    a.start(wait=False)
    assert a.proc.wait(timeout=30) == 1
    log = a.log()
    assert "Failed to join" in log
    assert "agent running" not in log
