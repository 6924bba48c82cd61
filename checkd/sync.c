/*
 * Anti-entropy: the catalog is made to match the agent.  On the daemon's
 * one-second tick, each service whose row changed (svc->dirty: a status, a
 * definition) is registered with its checks (one raft.catalog_register
 * each, Consul's /v1/catalog/register body), the node's own checks in one
 * more, and what was synced before but is gone is deregistered.  Every
 * CHECKD_AE_MS, and after a start or a reload, everything is pushed (that
 * pass also carries output-only changes).  Any failure (raftd down, no leader, 501 before raftd has
 * a catalog) leaves the state dirty, so the next tick tries again.
 *
 * After a start, the first sync waits for what the catalog already holds
 * for this node (node_services, health_node): what the agent no longer
 * has, say a service removed from a file while the agent was down, is then
 * deregistered too.  The leader's own rows (the consul service,
 * serfHealth) are not ours and are left alone.
 *
 * Status changes are also published, check.changed, with check.tick each
 * second carrying the sequence so that a subscriber sees lost events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"
#include "msg_raft.h"

void
sync_changed(struct checkd *cd, const struct chk *c, const char *status)
{
	struct proto_check_changed ev;

	if (cd->d == NULL || cd->d->bus == NULL)
		return;
	ev.check_id = c->id;
	ev.service_id = c->service_id != NULL ? c->service_id : (char *)"";
	ev.status = (char *)(uintptr_t)status;
	ev.output = c->output != NULL ? c->output : (char *)"";
	ev.seq = cd->seq;
	bus_publish(cd->d->bus, PROTO_CHECK_CHANGED, &ev);
}

/* The catalog register body of one service (NULL: the node's checks). */
json_t *
sync_register_body(struct checkd *cd, const struct svc *s)
{
	json_t *b = json_object(), *checks = json_array(), *svc;

	json_object_set_new(b, "ID", json_string(cd->node_id));
	json_object_set_new(b, "Node", json_string(cd->node));
	json_object_set_new(b, "Address", json_string(cd->addr));
	json_object_set_new(b, "Datacenter", json_string(cd->dc));
	json_object_set_new(b, "TaggedAddresses", json_pack("{s:s,s:s,s:s,s:s}",
	    "lan", cd->addr, "lan_ipv4", cd->addr, "wan", cd->addr,
	    "wan_ipv4", cd->addr));
	if (s != NULL) {
		svc = state_agent_service(cd, s);
		json_object_del(svc, "Datacenter");
		json_object_set_new(b, "Service", svc);
	}
	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		json_t *h;

		if (s != NULL ? c->service_id == NULL ||
		    strcmp(c->service_id, s->id) != 0 : c->service_id != NULL)
			continue;
		h = state_health_check(cd, c);
		json_object_del(h, "CreateIndex");
		json_object_del(h, "ModifyIndex");
		json_array_append_new(checks, h);
	}
	json_object_set_new(b, "Checks", checks);
	return b;
}

struct sync_call {
	struct checkd *cd;
	char           key[600];     /* "s:<id>", "c:<id>", "n:" */
	bool           dereg;
};

/* A push that failed: its row is stale again, retried next tick. */
static void
sync_restale(struct checkd *cd, const struct sync_call *sc)
{
	cd->dirty = true;
	if (sc->dereg)
		return;
	if (strcmp(sc->key, "n:") == 0)
		state_dirty(cd, NULL);
	else if (strncmp(sc->key, "s:", 2) == 0)
		state_dirty(cd, sc->key + 2);
}

static void
sync_reply(struct bus *b, int err, const struct proto_env *env, void *arg)
{
	struct sync_call        *sc = arg;
	struct checkd           *cd = sc->cd;
	struct proto_raft_result res;
	static bool              said;

	(void)b;
	cd->sync_inflight--;
	if (err != 0 || proto_unpack_raft_result(env, &res) != 0) {
		sync_restale(cd, sc);
		cd->sync_errors++;
		goto done;
	}
	if (res.status >= 400) {
		if (!said)
			log_warnx("anti-entropy: raftd answered %llu: %s "
			    "(retrying every second)",
			    (unsigned long long)res.status,
			    res.error != NULL ? res.error : "");
		said = true;
		sync_restale(cd, sc);
		cd->sync_errors++;
	} else {
		said = false;
		cd->sync_ok++;
		if (sc->dereg)
			json_object_del(cd->synced, sc->key);
		else
			json_object_set_new(cd->synced, sc->key, json_true());
	}
	proto_free_raft_result(&res);
done:
	free(sc);
}

static void
sync_send(struct checkd *cd, int type, json_t *body, const char *key,
    bool dereg)
{
	struct sync_call *sc = calloc(1, sizeof(*sc));
	char             *text = json_dumps(body, JSON_COMPACT |
	    JSON_PRESERVE_ORDER);
	int               rv = -1;

	json_decref(body);
	if (sc == NULL || text == NULL)
		goto fail;
	sc->cd = cd;
	sc->dereg = dereg;
	snprintf(sc->key, sizeof(sc->key), "%s", key);
	if (type == PROTO_RAFT_CATALOG_REGISTER) {
		struct proto_raft_catalog_register m = { .body = text };

		rv = bus_call_async(cd->d->bus, "raftd", type, &m, 7000, 0,
		    sync_reply, sc);
	} else {
		struct proto_raft_catalog_deregister m = { .body = text };

		rv = bus_call_async(cd->d->bus, "raftd", type, &m, 7000, 0,
		    sync_reply, sc);
	}
	free(text);
	if (rv == 0) {
		cd->sync_inflight++;
		return;
	}
fail:
	free(sc);
	cd->dirty = true;
}

static void
sync_prime_reply(struct bus *b, int err, const struct proto_env *env,
    void *arg)
{
	struct checkd           *cd = arg;
	struct proto_raft_result res;
	json_t                  *doc, *list, *x;
	size_t                   i;
	char                     k[600];

	(void)b;
	cd->prime_pending--;
	if (err != 0 || proto_unpack_raft_result(env, &res) != 0) {
		cd->prime_tries++;
		return;
	}
	if (res.status >= 400 || res.json == NULL ||
	    (doc = json_loads(res.json, JSON_DECODE_ANY, NULL)) == NULL) {
		cd->prime_tries++;
		proto_free_raft_result(&res);
		return;
	}
	list = json_is_array(doc) ? doc : json_object_get(doc, "Services");
	json_array_foreach(list, i, x) {
		const char *sid = json_string_value(json_object_get(x, "ID"));
		const char *cid = json_string_value(json_object_get(x,
		    "CheckID"));

		if (cid != NULL && strcmp(cid, "serfHealth") != 0)
			snprintf(k, sizeof(k), "c:%s", cid);
		else if (cid == NULL && sid != NULL &&
		    strcmp(sid, "consul") != 0)
			snprintf(k, sizeof(k), "s:%s", sid);
		else
			continue;
		json_object_set_new(cd->synced, k, json_true());
	}
	json_decref(doc);
	proto_free_raft_result(&res);
	if (cd->prime_pending == 0)
		cd->primed = true;
}

/* Asks raftd what the catalog holds for this node; 0 when sent. */
static int
sync_prime(struct checkd *cd)
{
	static const char *const what[] = { "node_services", "health_node" };

	for (size_t i = 0; i < 2; i++) {
		struct proto_raft_catalog_read m = {
			.what = (char *)(uintptr_t)what[i], .arg = cd->node,
			.query = (char *)(uintptr_t)"{}",
			.consistency = RAFT_CONS_STALE, .min_index = 0 };

		if (bus_call_async(cd->d->bus, "raftd", PROTO_RAFT_CATALOG_READ,
		        &m, 7000, 0, sync_prime_reply, cd) == 0)
			cd->prime_pending++;
	}
	return cd->prime_pending > 0 ? 0 : -1;
}

void
sync_tick(struct checkd *cd, uint64_t now)
{
	struct proto_check_tick tick;
	const char             *key;
	json_t                 *v, *want;
	void                   *tmp;
	size_t                  crit = 0;
	char                    k[600];
	bool                    nodechecks = false, full;

	if (cd->d == NULL || cd->d->bus == NULL)
		return;
	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		if (strcmp(c->status, "critical") == 0)
			crit++;
		if (c->service_id == NULL)
			nodechecks = true;
	}
	tick.seq = cd->seq;
	tick.services = cd->nsvcs;
	tick.checks = cd->nchks;
	tick.critical = crit;
	bus_publish(cd->d->bus, PROTO_CHECK_TICK, &tick);

	if (cd->prime_pending > 0)
		return;
	/* Give up priming after a while: syncing matters more. */
	if (!cd->primed && cd->prime_tries < 10) {
		if (sync_prime(cd) != 0)
			cd->prime_tries++;
		return;
	}
	if (cd->sync_inflight > 0)
		return;
	if (now - cd->last_sync_ms >= CHECKD_AE_MS)
		cd->full_sync = true;
	if (!cd->dirty && !cd->full_sync)
		return;
	full = cd->full_sync;
	if (full)
		cd->last_sync_ms = now;
	cd->dirty = cd->full_sync = false;
	want = json_object();
	for (struct svc *s = cd->svcs; s != NULL; s = s->next) {
		snprintf(k, sizeof(k), "s:%s", s->id);
		json_object_set_new(want, k, json_true());
		if (!full && !s->dirty)
			continue;
		s->dirty = false;
		sync_send(cd, PROTO_RAFT_CATALOG_REGISTER,
		    sync_register_body(cd, s), k, false);
	}
	if (nodechecks) {
		json_object_set_new(want, "n:", json_true());
		if (full || cd->node_dirty)
			sync_send(cd, PROTO_RAFT_CATALOG_REGISTER,
			    sync_register_body(cd, NULL), "n:", false);
	}
	cd->node_dirty = false;
	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		snprintf(k, sizeof(k), "c:%s", c->id);
		json_object_set_new(want, k, json_true());
		json_object_set_new(cd->synced, k, json_true());
	}
	json_object_foreach_safe(cd->synced, tmp, key, v) {
		json_t *body;

		if (json_object_get(want, key) != NULL || strcmp(key, "n:") ==
		    0)
			continue;
		body = json_pack("{s:s,s:s}", "Node", cd->node, "Datacenter",
		    cd->dc);
		json_object_set_new(body, key[0] == 's' ? "ServiceID" :
		    "CheckID", json_string(key + 2));
		sync_send(cd, PROTO_RAFT_CATALOG_DEREGISTER, body, key, true);
	}
	json_decref(want);
}
