"""The web UI as a user reaches it: / and /ui redirect to /ui/, every UI path
serves the page, the API paths the page reads exist, and with the UI off
/ says so as Consul does."""
import json
import os
import re
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.path.join(ROOT, "ui", "index.html")


def wait_leader(a):
    deadline = time.time() + 15
    while time.time() < deadline:
        r = a.http("GET", "/v1/status/leader")
        if r.status_code == 200 and r.json():
            return
        time.sleep(0.1)
    raise AssertionError("no leader:\n" + a.log())


def test_dev_agent_serves_the_ui(agent_factory):
    a = agent_factory().start()
    r = a.http("GET", "/", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (301, "/ui/")
    r = a.http("GET", "/ui", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (301, "/ui/")
    with open(PAGE, "rb") as f:
        page = f.read()
    # The page routes Consul's UI paths itself: each one is the same page.
    for path in ("/ui/", "/ui/dc1/services", "/ui/dc1/services/web",
                 "/ui/dc1/nodes/" + a.name, "/ui/dc1/kv/app/"):
        r = a.http("GET", path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.content == page, path
    r = a.http("HEAD", "/ui/")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(page)
    assert a.http("POST", "/ui/").status_code == 405


def test_api_paths_the_page_reads_exist(agent_factory):
    """Every /v1/ path in the page answers 200 for a service, a node and a
    KV prefix that exist (a renamed or missing endpoint would break a view)."""
    a = agent_factory().start()
    wait_leader(a)
    reg = {"Name": "web", "ID": "web1", "Port": 80, "Check": {"TTL": "30s"}}
    assert a.http("PUT", "/v1/agent/service/register", data=json.dumps(reg)).status_code == 200
    assert a.http("PUT", "/v1/kv/app/name", data="demo").text == "true"
    args = {"service": "web", "node": a.name, "kv": "app/name"}
    with open(PAGE) as f:
        paths = set(re.findall(r'"(/v1/[a-z/]*)"', f.read()))
    assert {"/v1/catalog/services", "/v1/health/state/any", "/v1/status/leader",
            "/v1/agent/self", "/v1/kv/"} <= paths
    deadline = time.time() + 10
    while time.time() < deadline and not a.http("GET", "/v1/catalog/service/web").json():
        time.sleep(0.1)
    for p in sorted(paths):
        url = p
        if p.endswith("/"):
            kind = "kv" if p == "/v1/kv/" else ("node" if "node" in p else "service")
            url = p + args[kind]
        r = a.http("GET", url)
        assert r.status_code == 200, (url, r.status_code, r.text)
        json.loads(r.text)


def test_ui_off_says_so(agent_factory, tmp_path):
    a = agent_factory(dev=False, args=["-server", "-bootstrap-expect=1"]).start()
    r = a.http("GET", "/", allow_redirects=False)
    assert r.status_code == 200
    assert r.text == ("Consul Agent: UI disabled. To enable, set ui_config.enabled=true "
                      "in the agent configuration and restart.")
    assert a.http("GET", "/ui/").status_code == 404
    a.stop(timeout=10)

    conf = tmp_path / "ui.json"
    conf.write_text(json.dumps({"ui_config": {"enabled": True}}))
    b = agent_factory(dev=False, args=["-server", "-bootstrap-expect=1",
                                       "-config-file", str(conf)]).start()
    assert b.http("GET", "/ui/").status_code == 200
    assert b.http("GET", "/", allow_redirects=False).status_code == 301
