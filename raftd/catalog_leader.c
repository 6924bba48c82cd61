/*
 * catalog_leader.c: the leader reconciles gossip membership into the
 * catalog, as Consul's leader does (agent/consul/leader.go reconcile).
 *
 * gossipd publishes gossip.member with the absolute state of one member on
 * every change and every 2 s for every member (msg_gossip.h).  On the
 * leader, for a member of our datacenter other than this server (which
 * server_self_register keeps):
 *
 *   alive     node registered (Address = member address, ID = tag "id") with
 *             serfHealth passing "Agent alive and reachable"; a server
 *             (tag role = "consul") also gets the `consul` service on its
 *             tag "port".  SkipNodeUpdate when the node is already there at
 *             the same address, so the member's own anti-entropy (checkd)
 *             owns its TaggedAddresses and Meta.
 *   failed    serfHealth critical "Agent not live or unreachable" (which
 *             invalidates sessions bound to it, catalog.c).
 *   left,
 *   reaped    the node deregistered, with its services and checks.
 *   leaving   nothing yet.
 *
 * Nothing is proposed when the store already says so
 * (catalog_register_current), so the 2-second repeats cost one read each.
 * Followers ignore the events: a new leader gets every member again within
 * 2 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "loop.h"
#include "raftd.h"

static void
catalog_leader_done(void *arg, int status, const struct fsm_result *res)
{
	char *node = arg;

	if (status != 0 || res == NULL || res->status != 200)
		log_warnx("reconciling member %s into the catalog failed: %s", node,
		    res != NULL && res->error ? res->error : consensus_strerror(status));
	free(node);
}

static void
catalog_leader_propose(struct raftd *r, int type, char *canon, const char *node)
{
	struct fsm_cmd cmd;
	uint8_t *buf;
	size_t len;
	char *arg = strdup(node);

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = type;
	cmd.now_ms = wall_now_us() / 1000;
	cmd.body = canon;
	if (arg == NULL || fsm_encode(&cmd, &buf, &len) != 0) {
		free(arg);
		return;
	}
	if (consensus_propose(r->cons, buf, len, catalog_leader_done, arg) != 0)
		free(arg);
	free(buf);
}

/*
 * The register body for member m in status alive/failed (NULL when the
 * member is not ours to register); `exists_same` = the node is in the
 * catalog at m's address already.
 */
char *
catalog_leader_body(const char *name, const char *addr, const char *status,
    const char *tags, const char *dc, bool exists_same)
{
	json_t *t = NULL, *body, *checks, *svc;
	const char *role, *id, *port, *mdc;
	bool failed = strcmp(status, "failed") == 0;
	char *out;

	if (tags != NULL && *tags != '\0')
		t = json_loads(tags, 0, NULL);
	mdc = json_string_value(json_object_get(t, "dc"));
	if (mdc != NULL && dc != NULL && strcmp(mdc, dc) != 0) {
		json_decref(t);
		return NULL;
	}
	role = json_string_value(json_object_get(t, "role"));
	id = json_string_value(json_object_get(t, "id"));
	port = json_string_value(json_object_get(t, "port"));
	body = json_object();
	json_object_set_new(body, "Node", json_string(name));
	json_object_set_new(body, "ID", json_string(id != NULL ? id : ""));
	json_object_set_new(body, "Address", json_string(addr != NULL ? addr : ""));
	json_object_set_new(body, "SkipNodeUpdate", json_boolean(exists_same));
	if (!exists_same)
		json_object_set_new(body, "TaggedAddresses", json_pack("{s:s,s:s,s:s,s:s}",
		    "lan", addr, "lan_ipv4", addr, "wan", addr, "wan_ipv4", addr));
	if (role != NULL && strcmp(role, "consul") == 0 && !failed) {
		svc = json_pack("{s:s,s:s,s:[],s:i}", "ID", "consul", "Service", "consul",
		    "Tags", "Port", port != NULL ? atoi(port) : 8300);
		json_object_set_new(body, "Service", svc);
	}
	checks = json_array();
	json_array_append_new(checks, json_pack("{s:s,s:s,s:s,s:s}", "CheckID", "serfHealth",
	    "Name", "Serf Health Status", "Status", failed ? "critical" : "passing",
	    "Output", failed ? "Agent not live or unreachable" : "Agent alive and reachable"));
	json_object_set_new(body, "Checks", checks);
	out = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	json_decref(t);
	return out;
}

void
catalog_leader_member(struct raftd *r, const char *name, const char *addr,
    const char *status, const char *tags)
{
	struct store_txn t;
	char have[64], *body = NULL, *canon = NULL, *err = NULL;
	bool exists, current = true;
	int type = FSM_CATALOG_REGISTER, rc;

	if (name == NULL || *name == '\0' || status == NULL || strcmp(name, r->node) == 0)
		return;
	if (strcmp(status, "alive") != 0 && strcmp(status, "failed") != 0 &&
	    strcmp(status, "left") != 0 && strcmp(status, "reaped") != 0)
		return;
	if (store_begin(&r->store, &t, false, 0) != 0)
		return;
	exists = catalog_node_address(&t, name, have, sizeof(have)) == 0;
	if (strcmp(status, "left") == 0 || strcmp(status, "reaped") == 0) {
		type = FSM_CATALOG_DEREGISTER;
		current = !exists;
		if (!current) {
			json_t *b = json_pack("{s:s}", "Node", name);
			body = json_dumps(b, JSON_COMPACT);
			json_decref(b);
			rc = catalog_parse_deregister(body, r->dc, &canon, &err);
		}
	} else {
		body = catalog_leader_body(name, addr, status, tags, r->dc,
		    exists && addr != NULL && strcmp(have, addr) == 0);
		if (body != NULL && (rc = catalog_parse_register(body, r->dc, &canon, &err)) == 0)
			current = catalog_register_current(&t, canon);
	}
	store_txn_free(&t);
	if (!current && canon != NULL) {
		log_info("leader: member %s is %s: %s the catalog", name, status,
		    type == FSM_CATALOG_DEREGISTER ? "deregistering it from" : "updating");
		catalog_leader_propose(r, type, canon, name);
	} else if (err != NULL) {
		log_warnx("member %s: %s", name, err);
	}
	free(body);
	free(canon);
	free(err);
}
