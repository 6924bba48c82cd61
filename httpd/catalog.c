/*
 * The catalog and health endpoints: /v1/catalog/... and /v1/health/...,
 * answered by raftd.  Writes carry the body as it came (raftd parses it in
 * any key case, validates it and writes the canonical form into the log)
 * and answer Consul's literal true.  Reads send raft.catalog_read with the
 * path parameter and the filters as one JSON object {"passing", "tag":[..],
 * "node-meta":[..], "filter"}; every read may block (?index=&wait=) and
 * parks on table "catalog", the event raftd publishes whenever nodes,
 * services or checks moved (raftd answers `unchanged` until the tables the
 * read depends on pass the index, so an unrelated change costs one
 * re-ask, never a render).  Default and ?stale reads carry a cache key
 * (catalog_cache_key) so that cache.c can answer them again while the
 * catalog has not moved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "loop.h"
#include "msg_raft.h"

static void
catalog_free_read(void *m)
{
	struct proto_raft_catalog_read *c = m;

	free(c->what);
	free(c->arg);
	free(c->query);
}

static void
catalog_free_write(void *m)
{
	/* register and deregister share the layout: one body string. */
	free(((struct proto_raft_catalog_register *)m)->body);
}

static int
catalog_common(struct httpd_req *r)
{
	struct httpd_err err;
	const char      *dc, *mine = r->h->d->cfg.datacenter;

	memset(&err, 0, sizeof(err));
	if (query_common(&r->q, &err) != 0) {
		server_answer_text(r, err.status, err.text);
		return -1;
	}
	/* No WAN federation yet: another datacenter has no path. */
	dc = query_get(&r->q, "dc", NULL);
	if (dc != NULL && *dc != '\0' && strcmp(dc, mine != NULL && *mine ?
	    mine : "dc1") != 0) {
		server_answer_text(r, 500, "No path to datacenter");
		return -1;
	}
	return 0;
}

/* Go's strconv.ParseBool, with "?passing" alone meaning true. */
static int
catalog_bool(const char *v, bool *out)
{
	static const char *const t[] = { "1", "t", "T", "true", "TRUE", "True", NULL };
	static const char *const f[] = { "0", "f", "F", "false", "FALSE", "False", NULL };

	if (v == NULL || *v == '\0') {
		*out = true;
		return 0;
	}
	for (int i = 0; t[i] != NULL; i++) {
		if (strcmp(v, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(v, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* The filters of a read as raftd's query object; NULL after a 400. */
static char *
catalog_query(struct httpd_req *r)
{
	json_t *q = json_object(), *tags = json_array(), *meta = json_array();
	bool    passing = false;
	char   *s;

	for (size_t i = 0; i < r->q.nparams; i++) {
		const struct httpd_param *p = &r->q.params[i];

		if (strcmp(p->key, "tag") == 0 && p->val != NULL)
			json_array_append_new(tags, json_string(p->val));
		else if (strcmp(p->key, "node-meta") == 0 && p->val != NULL)
			json_array_append_new(meta, json_string(p->val));
		else if (strcmp(p->key, "filter") == 0 && p->val != NULL)
			json_object_set_new(q, "filter", json_string(p->val));
		else if (strcmp(p->key, "passing") == 0 &&
		    catalog_bool(p->val, &passing) != 0) {
			json_decref(q);
			json_decref(tags);
			json_decref(meta);
			server_answer_text(r, 400, "Invalid value for ?passing");
			return NULL;
		}
	}
	json_object_set_new(q, "passing", json_boolean(passing));
	json_object_set_new(q, "tag", tags);
	json_object_set_new(q, "node-meta", meta);
	s = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	if (s == NULL)
		server_answer_text(r, 500, "out of memory");
	return s;
}

/*
 * The answer cache's key: what raftd's answer is a function of, "what NUL
 * arg NUL query" (the filters as catalog_query() normalized them).  No key
 * (no memory): no caching.
 */
static void
catalog_cache_key(struct httpd_req *r, const struct proto_raft_catalog_read *m)
{
	size_t lw, la, lq;

	if (m->what == NULL || m->arg == NULL || m->query == NULL)
		return;
	lw = strlen(m->what);
	la = strlen(m->arg);
	lq = strlen(m->query);
	if ((r->ckey = malloc(lw + la + lq + 2)) == NULL)
		return;
	memcpy(r->ckey, m->what, lw + 1);
	memcpy(r->ckey + lw + 1, m->arg, la + 1);
	memcpy(r->ckey + lw + la + 2, m->query, lq);
	r->ckey_len = lw + la + lq + 2;
}

static void
catalog_read(struct httpd_req *r, const char *what, const char *arg,
    const char *missing)
{
	struct proto_raft_catalog_read *msg;
	char *query;

	if (catalog_common(r) != 0)
		return;
	if (missing != NULL && (arg == NULL || *arg == '\0')) {
		server_answer_text(r, 400, missing);
		return;
	}
	if ((query = catalog_query(r)) == NULL)
		return;
	if ((msg = calloc(1, sizeof(*msg))) == NULL) {
		free(query);
		server_answer_text(r, 500, "out of memory");
		return;
	}
	msg->what = strdup(what);
	msg->arg = strdup(arg != NULL ? arg : "");
	msg->query = query;
	msg->consistency = r->q.consistent ? RAFT_CONS_CONSISTENT :
	    r->q.stale ? RAFT_CONS_STALE : RAFT_CONS_DEFAULT;
	r->call_type = PROTO_RAFT_CATALOG_READ;
	r->call_msg = msg;
	r->call_free = catalog_free_read;
	r->read = true;
	r->call_min_index = &msg->min_index;
	if (msg->consistency != RAFT_CONS_CONSISTENT &&
	    (r->cdeps = cache_deps(what)) != 0)
		catalog_cache_key(r, msg);
	if (r->q.has_index && r->q.index > 0) {
		r->blocking = true;
		r->min_index = r->q.index;
		r->deadline_ms = loop_now_ms() + wait_duration_ms(&r->q);
		snprintf(r->table, sizeof(r->table), "catalog");
		r->wkey = strdup("");
		r->wprefix = false;
	}
	server_call(r);
}

static void
catalog_write(struct httpd_req *r, int type)
{
	struct proto_raft_catalog_register *msg;

	if (catalog_common(r) != 0)
		return;
	if ((msg = calloc(1, sizeof(*msg))) == NULL) {
		server_answer_text(r, 500, "out of memory");
		return;
	}
	msg->body = r->body_len > 0 ? strndup(r->body, r->body_len) : strdup("");
	r->call_type = type;
	r->call_msg = msg;
	r->call_free = catalog_free_write;
	server_call(r);
}

void
catalog_register(struct httpd_req *r, const char *arg)
{
	(void)arg;
	catalog_write(r, PROTO_RAFT_CATALOG_REGISTER);
}

void
catalog_deregister(struct httpd_req *r, const char *arg)
{
	(void)arg;
	catalog_write(r, PROTO_RAFT_CATALOG_DEREGISTER);
}

void
catalog_datacenters(struct httpd_req *r, const char *arg)
{
	(void)arg;
	catalog_read(r, "datacenters", "", NULL);
}

void
catalog_nodes(struct httpd_req *r, const char *arg)
{
	(void)arg;
	catalog_read(r, "nodes", "", NULL);
}

void
catalog_services(struct httpd_req *r, const char *arg)
{
	(void)arg;
	catalog_read(r, "services", "", NULL);
}

void
catalog_service(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "service", arg, "Missing service name");
}

void
catalog_node(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "node", arg, "Missing node name");
}

void
catalog_node_services(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "node_services", arg, "Missing node name");
}

void
catalog_health_node(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "health_node", arg, "Missing node name");
}

void
catalog_health_checks(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "health_checks", arg, "Missing service name");
}

void
catalog_health_service(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "health_service", arg, "Missing service name");
}

void
catalog_health_state(struct httpd_req *r, const char *arg)
{
	catalog_read(r, "health_state", arg, "Missing check state");
}
