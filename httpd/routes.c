/*
 * The route table: one row per path (prefix), the methods it takes, its
 * handler.  Unknown paths are Go's 404, wrong methods Consul's 405 with an
 * Allow header, OPTIONS answers 200 with Allow.  Handlers either answer at
 * once (400s) or build a raftd call and hand it to server_call().
 */
#include <sys/utsname.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "loop.h"
#include "msg_raft.h"

static void routes_kv(struct httpd_req *, const char *);
static void routes_session_create(struct httpd_req *, const char *);
static void routes_session_destroy(struct httpd_req *, const char *);
static void routes_session_renew(struct httpd_req *, const char *);
static void routes_session_info(struct httpd_req *, const char *);
static void routes_session_node(struct httpd_req *, const char *);
static void routes_session_list(struct httpd_req *, const char *);
static void routes_txn(struct httpd_req *, const char *);
static void routes_status_leader(struct httpd_req *, const char *);
static void routes_status_peers(struct httpd_req *, const char *);
static void routes_operator_raft_config(struct httpd_req *, const char *);
static void routes_agent_self(struct httpd_req *, const char *);

#define M_G   HTTPD_M_GET
#define M_P   HTTPD_M_PUT
#define M_D   HTTPD_M_DELETE

const struct httpd_route routes[] = {
	{ "/v1/kv/", 0, M_G | M_P | M_D, "GET,PUT,DELETE", routes_kv },
	{ "/v1/session/create", 1, M_P, "PUT", routes_session_create },
	{ "/v1/session/destroy/", 0, M_P, "PUT", routes_session_destroy },
	{ "/v1/session/renew/", 0, M_P, "PUT", routes_session_renew },
	{ "/v1/session/info/", 0, M_G, "GET", routes_session_info },
	{ "/v1/session/node/", 0, M_G, "GET", routes_session_node },
	{ "/v1/session/list", 1, M_G, "GET", routes_session_list },
	{ "/v1/txn", 1, M_P, "PUT", routes_txn },
	{ "/v1/status/leader", 1, M_G, "GET", routes_status_leader },
	{ "/v1/status/peers", 1, M_G, "GET", routes_status_peers },
	{ "/v1/operator/raft/configuration", 1, M_G, "GET", routes_operator_raft_config },
	{ "/v1/agent/self", 1, M_G, "GET", routes_agent_self },
	{ "/v1/catalog/register", 1, M_P, "PUT", catalog_register },
	{ "/v1/catalog/deregister", 1, M_P, "PUT", catalog_deregister },
	{ "/v1/catalog/datacenters", 1, M_G, "GET", catalog_datacenters },
	{ "/v1/catalog/nodes", 1, M_G, "GET", catalog_nodes },
	{ "/v1/catalog/services", 1, M_G, "GET", catalog_services },
	{ "/v1/catalog/service/", 0, M_G, "GET", catalog_service },
	{ "/v1/catalog/node/", 0, M_G, "GET", catalog_node },
	{ "/v1/catalog/node-services/", 0, M_G, "GET", catalog_node_services },
	{ "/v1/health/node/", 0, M_G, "GET", catalog_health_node },
	{ "/v1/health/checks/", 0, M_G, "GET", catalog_health_checks },
	{ "/v1/health/service/", 0, M_G, "GET", catalog_health_service },
	{ "/v1/health/state/", 0, M_G, "GET", catalog_health_state },
	{ "/v1/agent/services", 1, M_G, "GET", agent_services },
	{ "/v1/agent/service/register", 1, M_P, "PUT", agent_service_register },
	{ "/v1/agent/service/deregister/", 0, M_P, "PUT", agent_service_deregister },
	{ "/v1/agent/service/maintenance/", 0, M_P, "PUT", agent_service_maintenance },
	{ "/v1/agent/service/", 0, M_G, "GET", agent_service },
	{ "/v1/agent/checks", 1, M_G, "GET", agent_checks },
	{ "/v1/agent/check/register", 1, M_P, "PUT", agent_check_register },
	{ "/v1/agent/check/deregister/", 0, M_P, "PUT", agent_check_deregister },
	{ "/v1/agent/check/pass/", 0, M_P, "PUT", agent_check_pass },
	{ "/v1/agent/check/warn/", 0, M_P, "PUT", agent_check_warn },
	{ "/v1/agent/check/fail/", 0, M_P, "PUT", agent_check_fail },
	{ "/v1/agent/check/update/", 0, M_P, "PUT", agent_check_update },
	{ "/v1/agent/maintenance", 1, M_P, "PUT", agent_maintenance },
	{ "/v1/agent/health/service/name/", 0, M_G, "GET", agent_health_name },
	{ "/v1/agent/health/service/id/", 0, M_G, "GET", agent_health_id },
	{ "/v1/agent/reload", 1, M_P, "PUT", agent_reload },
	{ "/v1/agent/members", 1, M_G, "GET", routes_agent_members },
	{ "/v1/agent/join/", 0, M_P, "PUT", routes_agent_join },
	{ "/v1/agent/leave", 1, M_P, "PUT", routes_agent_leave },
	{ "/v1/agent/force-leave/", 0, M_P, "PUT", routes_agent_force_leave },
	{ "/v1/event/fire/", 0, M_P, "PUT", routes_event_fire },
	{ "/v1/event/list", 1, M_G, "GET", routes_event_list },
	{ NULL, 0, 0, NULL, NULL }
};

const struct httpd_route *
routes_find(const char *path, const char **arg)
{
	for (const struct httpd_route *rt = routes; rt->prefix != NULL; rt++) {
		size_t n = strlen(rt->prefix);

		if (rt->exact ? strcmp(path, rt->prefix) == 0 :
		    strncmp(path, rt->prefix, n) == 0) {
			*arg = path + n;
			return rt;
		}
	}
	/* "/v1/kv" without the slash is the root of the KV store. */
	if (strcmp(path, "/v1/kv") == 0) {
		*arg = "";
		return &routes[0];
	}
	return NULL;
}

const char *
routes_method_name(int m)
{
	switch (m) {
	case HTTPD_M_GET: return "GET";
	case HTTPD_M_PUT: return "PUT";
	case HTTPD_M_DELETE: return "DELETE";
	case HTTPD_M_POST: return "POST";
	case HTTPD_M_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

void
routes_dispatch(struct httpd_req *r)
{
	const struct httpd_route *rt;
	const char               *arg = "";
	const char               *m;

	if ((rt = routes_find(r->url, &arg)) == NULL) {
		if (!ui_dispatch(r))
			server_answer_text(r, 404, "404 page not found\n");
		return;
	}
	m = r->methodname;
	if (r->method == HTTPD_M_OTHER && strcmp(m, "OPTIONS") == 0) {
		server_answer_text(r, 200, "");
		r->ans.allow = rt->allow;
		return;
	}
	if ((r->method & rt->methods) == 0) {
		char text[64];

		snprintf(text, sizeof(text), "method %s not allowed", m);
		server_answer_text(r, 405, text);
		r->ans.allow = rt->allow;
		return;
	}
	rt->fn(r, arg);
}

/* --- helpers ------------------------------------------------------------ */

static int
routes_common(struct httpd_req *r, struct httpd_err *err)
{
	memset(err, 0, sizeof(*err));
	if (query_common(&r->q, err) != 0) {
		server_answer_text(r, err->status, err->text);
		return -1;
	}
	return 0;
}

static uint64_t
routes_consistency(const struct httpd_query *q)
{
	if (q->consistent)
		return RAFT_CONS_CONSISTENT;
	if (q->stale)
		return RAFT_CONS_STALE;
	return RAFT_CONS_DEFAULT;
}

/* Makes r a blocking query on table/key when ?index= asks for one. */
static void
routes_block(struct httpd_req *r, const char *table, const char *key,
    bool prefix, uint64_t *min_index)
{
	r->read = true;
	r->call_min_index = min_index;
	if (!r->q.has_index || r->q.index == 0)
		return;
	r->blocking = true;
	r->min_index = r->q.index;
	r->deadline_ms = loop_now_ms() + wait_duration_ms(&r->q);
	snprintf(r->table, sizeof(r->table), "%s", table);
	r->wkey = strdup(key != NULL ? key : "");
	r->wprefix = prefix;
}

#define ROUTES_CALL(r, TYPE, lower)                                         \
	struct proto_##lower *msg = calloc(1, sizeof(*msg));                \
	if (msg == NULL) {                                                  \
		server_answer_text(r, 500, "out of memory");                \
		return;                                                     \
	}                                                                   \
	r->call_type = PROTO_##TYPE;                                        \
	r->call_msg = msg;                                                  \
	r->call_free = routes_free_##lower

/* The messages own copies of their strings; body bins point into r. */
static void
routes_free_raft_kv_get(void *m)
{
	struct proto_raft_kv_get *g = m;

	free(g->key);
	free(g->separator);
}

static void
routes_free_raft_kv_put(void *m)
{
	struct proto_raft_kv_put *p = m;

	free(p->key);
	free(p->acquire);
	free(p->release);
}

static void
routes_free_raft_kv_delete(void *m)
{
	free(((struct proto_raft_kv_delete *)m)->key);
}

static void
routes_free_raft_session_create(void *m)
{
	struct proto_raft_session_create *c = m;

	free(c->body);
	free(c->node);
}

static void
routes_free_raft_session_destroy(void *m)
{
	free(((struct proto_raft_session_destroy *)m)->id);
}

static void
routes_free_raft_session_renew(void *m)
{
	free(((struct proto_raft_session_renew *)m)->id);
}

static void
routes_free_raft_session_info(void *m)
{
	free(((struct proto_raft_session_info *)m)->id);
}

static void
routes_free_raft_session_node(void *m)
{
	free(((struct proto_raft_session_node *)m)->node);
}

static void
routes_free_raft_session_list(void *m)
{
	(void)m;
}

static void
routes_free_raft_txn(void *m)
{
	free(((struct proto_raft_txn *)m)->body);
}

static void
routes_free_raft_status_leader(void *m)
{
	(void)m;
}

static void
routes_free_raft_status_peers(void *m)
{
	(void)m;
}

static void
routes_free_raft_operator_config(void *m)
{
	(void)m;
}

/* --- KV ------------------------------------------------------------------ */

static void
routes_kv(struct httpd_req *r, const char *key)
{
	struct httpd_err err;
	int put = r->method == HTTPD_M_PUT, del = r->method == HTTPD_M_DELETE;

	if (routes_common(r, &err) != 0)
		return;
	if (query_kv(&r->q, put, del, &err) != 0) {
		server_answer_text(r, err.status, err.text);
		return;
	}
	if (r->method == HTTPD_M_GET) {
		if (!r->q.recurse && !r->q.keys && *key == '\0') {
			server_answer_text(r, 400, "Missing key name");
			return;
		}
		ROUTES_CALL(r, RAFT_KV_GET, raft_kv_get);
		msg->key = strdup(key);
		msg->keys = r->q.keys;
		msg->recurse = r->q.recurse && !r->q.keys;
		msg->separator = r->q.keys && r->q.separator != NULL ?
		    strdup(r->q.separator) : NULL;
		msg->raw = r->q.raw && !r->q.recurse && !r->q.keys;
		msg->consistency = routes_consistency(&r->q);
		routes_block(r, "kv", key, r->q.recurse || r->q.keys,
		    &msg->min_index);
		/* Default and stale: from raftd's store while it leads. */
		r->local = msg->consistency != RAFT_CONS_CONSISTENT;
		server_call(r);
		return;
	}
	if (put) {
		if (*key == '\0') {
			server_answer_text(r, 400, "Missing key name");
			return;
		}
		uint64_t size = r->has_content_length ? r->content_length :
		    r->body_len;
		if (size > HTTPD_KV_MAX_VALUE || r->body_len > HTTPD_KV_MAX_VALUE) {
			char text[300];

			if (size < r->body_len)
				size = r->body_len;
			snprintf(text, sizeof(text),
			    "Request body(%llu bytes) too large, max size: %d "
			    "bytes. See https://developer.hashicorp.com/docs/"
			    "agent/config/config-files#kv_max_value_size.",
			    (unsigned long long)size, HTTPD_KV_MAX_VALUE);
			server_answer_text(r, 413, text);
			return;
		}
		ROUTES_CALL(r, RAFT_KV_PUT, raft_kv_put);
		msg->key = strdup(key);
		msg->value.ptr = (uint8_t *)r->body;
		msg->value.len = r->body_len;
		msg->flags = r->q.flags;
		msg->has_cas = r->q.has_cas;
		msg->cas = r->q.cas;
		msg->acquire = r->q.has_acquire ? strdup(r->q.acquire) : NULL;
		msg->release = r->q.has_release ? strdup(r->q.release) : NULL;
		server_call(r);
		return;
	}
	if (!r->q.recurse && *key == '\0') {
		server_answer_text(r, 400, "Missing key name");
		return;
	}
	ROUTES_CALL(r, RAFT_KV_DELETE, raft_kv_delete);
	msg->key = strdup(key);
	msg->recurse = r->q.recurse;
	msg->has_cas = r->q.has_cas;
	msg->cas = r->q.cas;
	server_call(r);
}

/* --- sessions -------------------------------------------------------------- */

static void
routes_session_create(struct httpd_req *r, const char *arg)
{
	struct httpd_err err;
	json_t          *doc = NULL;
	char            *body;

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	if (r->body_len > 0) {
		doc = json_decode_body(r->body, r->body_len, json_session_names,
		    &err);
		if (doc == NULL) {
			server_answer_text(r, err.status, err.text);
			return;
		}
		if (!json_is_object(doc) && !json_is_null(doc)) {
			json_decref(doc);
			server_answer_text(r, 400, "Request decode failed: "
			    "json: cannot unmarshal non-object into Go value "
			    "of type structs.Session");
			return;
		}
	}
	body = doc != NULL && json_is_object(doc) ?
	    json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("{}");
	json_decref(doc);
	ROUTES_CALL(r, RAFT_SESSION_CREATE, raft_session_create);
	msg->body = body;
	msg->node = strdup(r->h->d->cfg.node_name != NULL ?
	    r->h->d->cfg.node_name : "");
	server_call(r);
}

static int
routes_need(struct httpd_req *r, const char *arg, const char *what)
{
	struct httpd_err err;

	if (routes_common(r, &err) != 0)
		return -1;
	if (*arg == '\0') {
		server_answer_text(r, 400, what);
		return -1;
	}
	return 0;
}

static void
routes_session_destroy(struct httpd_req *r, const char *id)
{
	if (routes_need(r, id, "Missing session") != 0)
		return;
	ROUTES_CALL(r, RAFT_SESSION_DESTROY, raft_session_destroy);
	msg->id = strdup(id);
	server_call(r);
}

static void
routes_session_renew(struct httpd_req *r, const char *id)
{
	if (routes_need(r, id, "Missing session") != 0)
		return;
	ROUTES_CALL(r, RAFT_SESSION_RENEW, raft_session_renew);
	msg->id = strdup(id);
	server_call(r);
}

static void
routes_session_info(struct httpd_req *r, const char *id)
{
	if (routes_need(r, id, "Missing session") != 0)
		return;
	ROUTES_CALL(r, RAFT_SESSION_INFO, raft_session_info);
	msg->id = strdup(id);
	msg->consistency = routes_consistency(&r->q);
	routes_block(r, "sessions", id, false, &msg->min_index);
	server_call(r);
}

static void
routes_session_node(struct httpd_req *r, const char *node)
{
	if (routes_need(r, node, "Missing node name") != 0)
		return;
	ROUTES_CALL(r, RAFT_SESSION_NODE, raft_session_node);
	msg->node = strdup(node);
	msg->consistency = routes_consistency(&r->q);
	routes_block(r, "sessions", node, false, &msg->min_index);
	server_call(r);
}

static void
routes_session_list(struct httpd_req *r, const char *arg)
{
	struct httpd_err err;

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	ROUTES_CALL(r, RAFT_SESSION_LIST, raft_session_list);
	msg->consistency = routes_consistency(&r->q);
	routes_block(r, "sessions", "", false, &msg->min_index);
	server_call(r);
}

/* --- txn ----------------------------------------------------------------- */

static int
routes_txn_readonly(const json_t *ops)
{
	static const char *const reads[] = { "get", "get-tree", "get-or-empty",
		"check-index", "check-session", "check-not-exists", NULL };
	size_t  i;
	json_t *op;

	json_array_foreach(ops, i, op) {
		json_t     *kv = json_object_get(op, "KV");
		const char *verb;
		int         ok = 0;

		if (kv == NULL)
			return 0;
		verb = json_string_value(json_object_get(kv, "Verb"));
		for (int k = 0; verb != NULL && reads[k] != NULL; k++)
			if (strcmp(verb, reads[k]) == 0)
				ok = 1;
		if (!ok)
			return 0;
	}
	return 1;
}

static void
routes_txn(struct httpd_req *r, const char *arg)
{
	struct httpd_err err;
	json_t          *doc;
	char             text[600];

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	if (r->body_len > HTTPD_KV_MAX_VALUE) {
		snprintf(text, sizeof(text),
		    "Request body(%zu bytes) too large, max size: %d bytes. See "
		    "https://developer.hashicorp.com/docs/agent/config/"
		    "config-files#txn_max_req_len.", r->body_len,
		    HTTPD_KV_MAX_VALUE);
		server_answer_text(r, 413, text);
		return;
	}
	doc = json_decode_body(r->body, r->body_len, json_txn_names, &err);
	if (doc == NULL) {
		snprintf(text, sizeof(text), "Failed to parse body: %s",
		    err.text + strlen("Request decode failed: "));
		server_answer_text(r, 400, text);
		return;
	}
	if (!json_is_array(doc)) {
		json_decref(doc);
		server_answer_text(r, 400, "Failed to parse body: json: cannot "
		    "unmarshal non-array into Go value of type api.TxnOps");
		return;
	}
	if (json_array_size(doc) > HTTPD_TXN_MAX_OPS) {
		snprintf(text, sizeof(text),
		    "Transaction contains too many operations (%zu > %d)",
		    json_array_size(doc), HTTPD_TXN_MAX_OPS);
		json_decref(doc);
		server_answer_text(r, 413, text);
		return;
	}
	r->read = routes_txn_readonly(doc);
	ROUTES_CALL(r, RAFT_TXN, raft_txn);
	msg->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	msg->consistency = routes_consistency(&r->q);
	json_decref(doc);
	server_call(r);
}

/* --- status -------------------------------------------------------------- */

static void
routes_status_leader(struct httpd_req *r, const char *arg)
{
	struct httpd_err err;

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	ROUTES_CALL(r, RAFT_STATUS_LEADER, raft_status_leader);
	msg->consistency = routes_consistency(&r->q);
	server_call(r);
}

static void
routes_status_peers(struct httpd_req *r, const char *arg)
{
	struct httpd_err err;

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	ROUTES_CALL(r, RAFT_STATUS_PEERS, raft_status_peers);
	msg->consistency = routes_consistency(&r->q);
	server_call(r);
}

/* GET /v1/operator/raft/configuration: raftd's servers, as Consul lists them. */
static void
routes_operator_raft_config(struct httpd_req *r, const char *arg)
{
	struct httpd_err err;

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	ROUTES_CALL(r, RAFT_OPERATOR_CONFIG, raft_operator_config);
	msg->consistency = routes_consistency(&r->q);
	server_call(r);
}

/* --- agent/self ------------------------------------------------------------- */

static const char *
routes_goarch(void)
{
	static struct utsname u;

	if (uname(&u) != 0)
		return "unknown";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	return u.machine;
}

static json_t *
routes_strmap(const char *const *kv)
{
	json_t *o = json_object();

	for (; kv[0] != NULL; kv += 2)
		json_object_set_new(o, kv[0], json_string(kv[1]));
	return o;
}

/* The body of /v1/agent/self; raft = raftd's stats (may be NULL). */
static json_t *
routes_self_json(const struct config *cfg, json_t *raft)
{
	char        cpus[16], port[16], serf[16];
	const char *state = json_string_value(json_object_get(raft, "state"));
	const char *leader_addr = json_string_value(json_object_get(raft,
	    "leader_addr"));
	const char *node = cfg->node_name != NULL ? cfg->node_name : "";
	const char *dc = cfg->datacenter != NULL ? cfg->datacenter : "dc1";
	const char *addr = cfg->advertise_addr != NULL &&
	    *cfg->advertise_addr != '\0' ? cfg->advertise_addr :
	    cfg->bind_addr != NULL ? cfg->bind_addr : "127.0.0.1";
	json_t *self = json_object(), *c, *m, *tags, *stats;

	snprintf(cpus, sizeof(cpus), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(port, sizeof(port), "%lld", (long long)cfg->port_server);
	snprintf(serf, sizeof(serf), "%lld", (long long)cfg->port_serf_lan);

	c = json_object();
	json_object_set_new(c, "Datacenter", json_string(dc));
	json_object_set_new(c, "PrimaryDatacenter", json_string(dc));
	json_object_set_new(c, "NodeName", json_string(node));
	json_object_set_new(c, "NodeID", json_string(cfg->node_id != NULL ?
	    cfg->node_id : ""));
	json_object_set_new(c, "Revision", json_string(""));
	json_object_set_new(c, "Server", json_boolean(cfg->server));
	json_object_set_new(c, "Version",
	    json_string(TRIBUNE_CONSUL_VERSION));
	json_object_set_new(c, "BuildDate", json_string("1970-01-01T00:00:01Z"));
	json_object_set_new(self, "Config", c);

	c = json_object();
	json_object_set_new(c, "Datacenter", json_string(dc));
	json_object_set_new(c, "NodeName", json_string(node));
	json_object_set_new(c, "DataDir", json_string(cfg->data_dir != NULL ?
	    cfg->data_dir : ""));
	json_object_set_new(c, "ServerMode", json_boolean(cfg->server));
	json_object_set_new(self, "DebugConfig", c);
	json_object_set_new(self, "Coord", json_null());

	m = json_object();
	tags = json_object();
	json_object_set_new(m, "Name", json_string(node));
	json_object_set_new(m, "Addr", json_string(addr));
	json_object_set_new(m, "Port", json_integer(cfg->port_serf_lan));
	{
		const char *const t[] = { "acls", "0", "build",
			TRIBUNE_CONSUL_VERSION ":" TRIBUNE_REVISION, "dc", dc, "id", cfg->node_id != NULL ?
			cfg->node_id : "", "port", port, "role",
			cfg->server ? "consul" : "node", "segment", "",
			"vsn", "2", "vsn_max", "3", "vsn_min", "2", NULL };
		json_decref(tags);
		tags = routes_strmap(t);
	}
	json_object_set_new(m, "Tags", tags);
	json_object_set_new(m, "Status", json_integer(1));
	json_object_set_new(m, "ProtocolMin", json_integer(1));
	json_object_set_new(m, "ProtocolMax", json_integer(5));
	json_object_set_new(m, "ProtocolCur", json_integer(2));
	json_object_set_new(m, "DelegateMin", json_integer(2));
	json_object_set_new(m, "DelegateMax", json_integer(5));
	json_object_set_new(m, "DelegateCur", json_integer(4));
	json_object_set_new(self, "Member", m);

	stats = json_object();
	{
		const char *const agent[] = { "check_monitors", "0",
			"check_ttls", "0", "checks", "0", "services", "0", NULL };
		const char *const build[] = { "prerelease", "", "revision", "",
			"version", TRIBUNE_CONSUL_VERSION, "version_metadata",
			"tribune-" TRIBUNE_VERSION, NULL };
		const char *const runtime[] = { "arch", routes_goarch(),
			"cpu_count", cpus, "goroutines", "0", "max_procs", cpus,
			"os", "linux", "version", "C", NULL };
		const char *const consul_server[] = { "acl", "disabled",
			"bootstrap", cfg->bootstrap ? "true" : "false",
			"known_datacenters", "1", "leader",
			state != NULL && strcmp(state, "Leader") == 0 ? "true" :
			"false", "leader_addr", leader_addr != NULL ?
			leader_addr : "", "server", "true", NULL };
		const char *const consul_client[] = { "acl", "disabled",
			"known_servers", "0", "server", "false", NULL };

		json_object_set_new(stats, "agent", routes_strmap(agent));
		json_object_set_new(stats, "build", routes_strmap(build));
		json_object_set_new(stats, "consul", routes_strmap(cfg->server ?
		    consul_server : consul_client));
		if (cfg->server)
			json_object_set_new(stats, "raft", raft != NULL &&
			    json_is_object(raft) ? json_incref(raft) :
			    json_object());
		json_object_set_new(stats, "runtime", routes_strmap(runtime));
	}
	json_object_set_new(self, "Stats", stats);
	json_object_set_new(self, "Meta", json_object());
	return self;
}

static json_t *
routes_decode_raft(const struct proto_env *reply)
{
	struct proto_raft_result res;
	json_t                  *j = NULL;

	if (proto_unpack_raft_result(reply, &res) != 0)
		return NULL;
	if (res.status < 400 && res.json != NULL)
		j = json_loads(res.json, JSON_DECODE_ANY, NULL);
	proto_free_raft_result(&res);
	return j;
}

static json_t *
routes_decode_check(const struct proto_env *reply)
{
	struct proto_check_reply res;
	json_t                  *j = NULL;

	if (proto_unpack_check_reply(reply, &res) != 0)
		return NULL;
	if (res.status == 200 && res.body != NULL)
		j = json_loads(res.body, 0, NULL);
	proto_free_check_reply(&res);
	return j;
}

static json_t *
routes_decode_gossip(const struct proto_env *reply)
{
	struct proto_gossip_result res;
	json_t                    *j = NULL;

	if (proto_unpack_gossip_result(reply, &res) != 0)
		return NULL;
	if (res.status < 400 && res.json != NULL)
		j = json_loads(res.json, 0, NULL);
	proto_free_gossip_result(&res);
	return j;
}

/* got: raftd's stats, checkd's agent counts, gossipd's serf_lan stats,
 * the leader's address. */
static void
routes_render_self(struct httpd_req *r, json_t *const *got, size_t n)
{
	const struct config *cfg = &r->h->d->cfg;
	json_t *self, *stats;
	char   *body;
	size_t  len = 0;

	(void)n;
	self = routes_self_json(cfg, got[0]);
	stats = json_object_get(self, "Stats");
	if (json_is_object(got[1]))
		json_object_set(stats, "agent", got[1]);
	if (json_is_object(got[2]))
		json_object_set(stats, "serf_lan", got[2]);
	if (cfg->server && json_is_string(got[3]))
		json_object_set(json_object_get(stats, "consul"), "leader_addr",
		    got[3]);
	body = json_dump_any(self, 0, &len);
	json_decref(self);
	if (body == NULL) {
		server_answer_text(r, 500, "out of memory");
		return;
	}
	server_answer_json(r, 200, body, len);
}

static void
routes_agent_self(struct httpd_req *r, const char *arg)
{
	struct httpd_err          err;
	struct proto_raft_stats   rs = { .consistency = RAFT_CONS_STALE };
	struct proto_check_call   cc = { .op = (char *)"stats", .arg = (char *)"" };
	struct proto_gossip_stats gs = { 0 };
	struct proto_raft_status_leader rl = { .consistency = RAFT_CONS_STALE };
	const struct peer_target  t[] = {
		{ "raftd", PROTO_RAFT_STATS, &rs, routes_decode_raft },
		{ "checkd", PROTO_CHECK_CALL, &cc, routes_decode_check },
		{ "gossipd", PROTO_GOSSIP_STATS, &gs, routes_decode_gossip },
		{ "raftd", PROTO_RAFT_STATUS_LEADER, &rl, routes_decode_raft },
	};

	(void)arg;
	if (routes_common(r, &err) != 0)
		return;
	peer_gather(r, t, sizeof(t) / sizeof(t[0]), 5000, routes_render_self);
}
