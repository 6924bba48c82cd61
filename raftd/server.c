/*
 * server.c: tribune-raftd, the daemon.  libuv is the loop (libraft's I/O
 * lives on it); the bus's fds are polled with uv_poll and drained with
 * bus_process(), which calls server_dispatch() for every request.
 *
 * Writes are answered after their entry is committed and applied.  Reads
 * are served from LMDB: default = on the leader, consistent = on the leader
 * after a barrier, stale = anywhere.  Blocking queries are httpd's: it
 * parks the HTTP connection and re-asks with min_index when raft.changed
 * says the table/key moved (msg_raft.h).
 *
 * Session TTLs are timers on the leader only, as in Consul: a new leader
 * arms every TTL session afresh, and when one expires (2 x TTL, Consul's
 * multiplier) the leader proposes its destruction, so followers never
 * decide on their own clock.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "bus.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "raftd.h"
#include "version.h"

static struct raftd raftd;

/* --- replies --------------------------------------------------------------- */

struct reply {
	uint64_t        status;
	bool            ok;
	const char     *error;
	uint64_t        index;
	const char     *json;
	struct proto_bin value;
	bool            unchanged;
	uint64_t        consistency;
};

/* The raft.result of rp; m points into rp (nothing to free). */
static void
server_result_msg(struct raftd *r, const struct reply *rp, struct proto_raft_result *m)
{
	const char *addr = "";

	memset(m, 0, sizeof(*m));
	m->status = rp->status;
	m->ok = rp->ok;
	m->error = (char *)(uintptr_t)rp->error;
	m->index = rp->index ? rp->index : 1;
	m->json = (char *)(uintptr_t)rp->json;
	m->value = rp->value;
	m->unchanged = rp->unchanged;
	/* A rolled-back txn's body is JSON; it rides in both fields so a
	 * reader of `error` for every status >= 400 still sends it. */
	if (rp->status == 409 && m->error == NULL)
		m->error = m->json;
	if (r->cons != NULL) {
		m->known_leader = consensus_leader(r->cons, &addr) != 0;
		m->last_contact_ms = consensus_last_contact_ms(r->cons);
	}
	m->consistency = rp->consistency == RAFT_CONS_STALE ? "stale"
	    : rp->consistency == RAFT_CONS_CONSISTENT ? "consistent" : "leader";
}

static void
server_reply(struct raftd *r, struct bus_req *req, const struct reply *rp)
{
	struct proto_raft_result m;

	server_result_msg(r, rp, &m);
	bus_reply(req, PROTO_RAFT_RESULT, &m);
}

static void
server_error(struct raftd *r, struct bus_req *req, uint64_t status, const char *text)
{
	struct reply rp = { .status = status, .error = text };
	server_reply(r, req, &rp);
}

/* Why this server cannot serve a leader-only request, or NULL. */
static const char *
server_not_leader(struct raftd *r)
{
	const char *addr;
	if (!r->server || r->cons == NULL)
		return "No known Consul servers";
	if (consensus_role(r->cons) == CONSENSUS_LEADER)
		return NULL;
	if (consensus_leader(r->cons, &addr) == 0)
		return "No cluster leader";
	/* Followers will forward to the leader; not yet. */
	return "rpc error: request forwarding to the leader is not implemented yet";
}

/* --- reads ----------------------------------------------------------------- */

/* A read waiting for its barrier holds its request and decoded message. */
struct readctx {
	struct raftd  *r;
	struct bus_req *req;
	int            type;
	union {
		struct proto_raft_kv_get       kv_get;
		struct proto_raft_session_info  session_info;
		struct proto_raft_session_node  session_node;
		struct proto_raft_session_list  session_list;
		struct proto_raft_txn           txn;
		struct proto_raft_catalog_read  catalog_read;
	} m;
};

/* The KV read itself is proto/kvstore.c's, shared with httpd's local reads
 * (httpd/local.c), so both answer byte for byte alike. */
static void
read_kv(struct raftd *r, struct bus_req *req, const struct proto_raft_kv_get *m)
{
	struct store_txn t;
	struct kvstore_dbs db;
	struct kvstore_result kr;
	struct kvstore_get q = {
		.key = m->key ? m->key : "", .recurse = m->recurse, .keys = m->keys,
		.separator = m->separator, .raw = m->raw, .min_index = m->min_index,
	};
	struct reply rp = { .consistency = m->consistency };
	int rc;

	if ((rc = store_begin(&r->store, &t, false, 0)) != 0) {
		server_error(r, req, 500, mdb_strerror(rc));
		return;
	}
	q.klen = strlen(q.key);
	store_kvstore_dbs(&r->store, &db);
	kvstore_read(t.txn, &db, &q, &kr);
	rp.status = kr.status;
	rp.index = kr.index;
	rp.unchanged = kr.unchanged;
	rp.json = kr.json;
	if (m->raw && !kr.unchanged && kr.status == 200) {
		rp.value.ptr = (uint8_t *)(uintptr_t)kr.value;
		rp.value.len = kr.value_len;
	}
	server_reply(r, req, &rp);
	free(kr.json);
	store_txn_free(&t);
}

struct sesslist {
	struct jbuf b;
	size_t      n;
	const char *node;
};

static int
sesslist_row(void *arg, const struct store_session *ss)
{
	struct sesslist *l = arg;
	if (l->node != NULL && (ss->node == NULL || strcmp(ss->node, l->node) != 0))
		return 0;
	jb_lit(&l->b, l->n++ ? "," : "");
	jb_session(&l->b, ss);
	return 0;
}

static void
read_sessions(struct raftd *r, struct bus_req *req, const char *id, const char *node,
    uint64_t consistency, uint64_t min_index)
{
	struct store_txn t;
	struct reply rp = { .status = 200, .consistency = consistency };
	struct sesslist l = { .node = node };
	char *json = NULL;
	int rc;

	if ((rc = store_begin(&r->store, &t, false, 0)) != 0) {
		server_error(r, req, 500, mdb_strerror(rc));
		return;
	}
	rp.index = store_table_index(&t, STORE_T_SESSIONS);
	jb_lit(&l.b, "[");
	if (id != NULL) {
		struct store_session ss;
		if (session_get(&t, id, &ss) == 0) {
			sesslist_row(&l, &ss);
			session_row_free(&ss);
		}
	} else {
		session_scan(&t, sesslist_row, &l);
	}
	jb_lit(&l.b, "]");
	if (min_index > 0 && rp.index <= min_index)
		rp.unchanged = true;
	else
		rp.json = json = jb_take(&l.b);
	server_reply(r, req, &rp);
	free(json);
	jb_free(&l.b);
	store_txn_free(&t);
}

static void
read_txn(struct raftd *r, struct bus_req *req, const struct proto_raft_txn *m)
{
	struct store_txn t;
	struct fsm_cmd cmd;
	struct fsm_result res;
	struct reply rp = { .consistency = m->consistency };
	char *err = NULL;
	int rc;

	if ((rc = txn_parse(m->body, &cmd, &err)) != 0) {
		server_error(r, req, (uint64_t)rc, err ? err : "bad request");
		free(err);
		return;
	}
	memset(&res, 0, sizeof(res));
	if ((rc = store_begin(&r->store, &t, false, 0)) == 0) {
		rc = txn_run(&t, &cmd, &res);
		rp.index = r->store.applied;
		store_txn_free(&t);
	}
	if (rc != 0) {
		server_error(r, req, 500, mdb_strerror(rc));
	} else {
		rp.status = (uint64_t)res.status;
		rp.ok = res.ok;
		rp.json = res.json;
		server_reply(r, req, &rp);
	}
	free(res.json);
	free(res.error);
	fsm_cmd_free(&cmd);
}

static void
read_catalog(struct raftd *r, struct bus_req *req, const struct proto_raft_catalog_read *m)
{
	struct store_txn t;
	struct reply rp = { .consistency = m->consistency };
	char *json = NULL, *err = NULL;
	int rc;

	if ((rc = store_begin(&r->store, &t, false, 0)) != 0) {
		server_error(r, req, 500, mdb_strerror(rc));
		return;
	}
	rp.status = (uint64_t)catalog_read(&t, m->what, m->arg, m->query, r->dc, &json,
	    &rp.index, &err);
	store_txn_free(&t);
	if (rp.status == 200 && m->min_index > 0 && rp.index <= m->min_index)
		rp.unchanged = true;
	else if (rp.status == 200)
		rp.json = json;
	else
		rp.error = err;
	server_reply(r, req, &rp);
	free(json);
	free(err);
}

static void
readctx_run(struct readctx *c)
{
	switch (c->type) {
	case PROTO_RAFT_KV_GET:
		read_kv(c->r, c->req, &c->m.kv_get);
		proto_free_raft_kv_get(&c->m.kv_get);
		break;
	case PROTO_RAFT_SESSION_INFO:
		read_sessions(c->r, c->req, c->m.session_info.id ? c->m.session_info.id : "", NULL,
		    c->m.session_info.consistency, c->m.session_info.min_index);
		proto_free_raft_session_info(&c->m.session_info);
		break;
	case PROTO_RAFT_SESSION_NODE:
		read_sessions(c->r, c->req, NULL, c->m.session_node.node ? c->m.session_node.node : "",
		    c->m.session_node.consistency, c->m.session_node.min_index);
		proto_free_raft_session_node(&c->m.session_node);
		break;
	case PROTO_RAFT_SESSION_LIST:
		read_sessions(c->r, c->req, NULL, NULL, c->m.session_list.consistency,
		    c->m.session_list.min_index);
		break;
	case PROTO_RAFT_TXN:
		read_txn(c->r, c->req, &c->m.txn);
		proto_free_raft_txn(&c->m.txn);
		break;
	case PROTO_RAFT_CATALOG_READ:
		read_catalog(c->r, c->req, &c->m.catalog_read);
		proto_free_raft_catalog_read(&c->m.catalog_read);
		break;
	}
	free(c);
}

static void
readctx_barrier_done(void *arg, int status)
{
	struct readctx *c = arg;

	if (status != 0) {
		server_error(c->r, c->req, 500, consensus_is_not_leader(status) ? "No cluster leader"
		    : consensus_strerror(status));
		proto_free(c->type, &c->m);
		free(c);
		return;
	}
	readctx_run(c);
}

/* Runs (or schedules) a read at the requested consistency. */
static void
server_read(struct raftd *r, struct readctx *c, uint64_t consistency)
{
	const char *why;
	int rc;

	if (consistency != RAFT_CONS_STALE && (why = server_not_leader(r)) != NULL) {
		server_error(r, c->req, 500, why);
		proto_free(c->type, &c->m);
		free(c);
		return;
	}
	if (!r->server) {
		server_error(r, c->req, 500, "No known Consul servers");
		proto_free(c->type, &c->m);
		free(c);
		return;
	}
	if (consistency == RAFT_CONS_CONSISTENT) {
		if ((rc = consensus_barrier(r->cons, readctx_barrier_done, c)) != 0)
			readctx_barrier_done(c, rc);
		return;
	}
	readctx_run(c);
}

/* --- writes ---------------------------------------------------------------- */

struct writectx {
	struct raftd   *r;
	struct bus_req *req;
	int             type;
	char            session_id[STORE_SESSION_LEN + 1];
	char           *ttl;
};

static void
write_done(void *arg, int status, const struct fsm_result *res)
{
	struct writectx *w = arg;
	struct raftd *r = w->r;
	struct reply rp = { .status = 200 };
	char json[64];

	if (status != 0 || res == NULL) {
		server_error(r, w->req, 500, consensus_is_not_leader(status) ? "No cluster leader"
		    : consensus_strerror(status));
		goto out;
	}
	rp.index = res->index;
	rp.ok = res->ok;
	rp.status = (uint64_t)res->status;
	rp.error = res->error;
	rp.json = res->json;
	switch (w->type) {
	case PROTO_RAFT_KV_PUT:
	case PROTO_RAFT_KV_DELETE:
	case PROTO_RAFT_SESSION_DESTROY:
	case PROTO_RAFT_CATALOG_REGISTER:
	case PROTO_RAFT_CATALOG_DEREGISTER:
		if (rp.status == 200)
			rp.json = rp.ok ? "true" : "false";
		if (w->type == PROTO_RAFT_SESSION_DESTROY)
			server_ttl_drop(r, w->session_id);
		break;
	case PROTO_RAFT_SESSION_CREATE:
		/* The applied entry names the id (a resent create: the first's). */
		if (rp.status == 200 && rp.json == NULL) {
			snprintf(json, sizeof(json), "{\"ID\":\"%s\"}", w->session_id);
			rp.json = json;
		}
		if (rp.status == 200 && !res->dup)
			server_ttl_set(r, w->session_id, w->ttl);
		break;
	default:
		break;
	}
	server_reply(r, w->req, &rp);
out:
	free(w->ttl);
	free(w);
}

/*
 * A write whose bus request id the store recorded as applied: nng resent
 * the call after raftd restarted, and the first one was applied but never
 * answered.  Answers it through cb with the recorded result (true), no
 * second proposal; false when the id is new.  fsm.c, "Request ids".
 */
static bool
server_seen(struct raftd *r, uint64_t id, consensus_apply_cb cb, void *arg)
{
	struct fsm_result res;

	if (fsm_request_result(&r->store, id, &res) != 0)
		return false;
	log_info("request %" PRIu64 " was applied at index %" PRIu64 " before; answering that",
	    id, res.index);
	cb(arg, 0, &res);
	fsm_result_free(&res);
	return true;
}

static void
server_propose(struct raftd *r, struct bus_req *req, int type, struct fsm_cmd *cmd)
{
	struct writectx *w;
	uint8_t *buf = NULL;
	size_t len;
	const char *why;
	int rc;

	if ((why = server_not_leader(r)) != NULL) {
		server_error(r, req, 500, why);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		server_error(r, req, 500, "out of memory");
		return;
	}
	w->r = r;
	w->req = req;
	w->type = type;
	memcpy(w->session_id, cmd->sess.id, sizeof(w->session_id));
	if (cmd->sess.ttl != NULL)
		w->ttl = strdup(cmd->sess.ttl);
	cmd->req = bus_req_id(req);
	if (server_seen(r, cmd->req, write_done, w))
		return;
	cmd->now_ms = wall_now_us() / 1000;
	if (fsm_encode(cmd, &buf, &len) != 0) {
		server_error(r, req, 500, "out of memory");
		free(w->ttl);
		free(w);
		return;
	}
	rc = consensus_propose(r->cons, buf, len, write_done, w);
	free(buf);
	if (rc != 0)
		write_done(w, rc, NULL);
}

/* Why a KV key cannot be written, or NULL. */
static const char *
kv_key_why(const char *key, bool allow_empty)
{
	if (!allow_empty && (key == NULL || *key == '\0'))
		return "Missing key name";
	if (key != NULL && strlen(key) > STORE_KEY_MAX)
		return "Key too long";
	return NULL;
}

/*
 * A KV endpoint write (raft.kv_put / raft.kv_delete) into its op, which
 * points into m.  0, or -1 with the refusal in *rp (its text in text[]).
 */
static int
kv_put_op(const struct proto_raft_kv_put *m, struct fsm_kvop *op, struct reply *rp,
    char *text, size_t textlen)
{
	const char *why = kv_key_why(m->key, false);

	memset(op, 0, sizeof(*op));
	if (why != NULL) {
		rp->status = 400;
		rp->error = why;
		return -1;
	}
	if (m->value.len > STORE_VALUE_MAX) {
		snprintf(text, textlen, "Request body(%zu bytes) too large, max size: %d bytes",
		    m->value.len, STORE_VALUE_MAX);
		rp->status = 413;
		rp->error = text;
		return -1;
	}
	op->key = m->key;
	op->value = m->value.ptr ? m->value.ptr : (uint8_t *)(uintptr_t)"";
	op->value_len = m->value.len;
	op->flags = m->flags;
	if (m->acquire != NULL) {
		op->verb = KV_LOCK;
		op->session = m->acquire;
	} else if (m->release != NULL) {
		op->verb = KV_UNLOCK;
		op->session = m->release;
	} else if (m->has_cas) {
		op->verb = KV_CAS;
		op->index = m->cas;
	} else {
		op->verb = KV_SET;
	}
	return 0;
}

static int
kv_delete_op(const struct proto_raft_kv_delete *m, struct fsm_kvop *op, struct reply *rp)
{
	const char *why = kv_key_why(m->key, m->recurse);

	memset(op, 0, sizeof(*op));
	if (why != NULL) {
		rp->status = 400;
		rp->error = why;
		return -1;
	}
	op->key = m->key ? m->key : "";
	if (m->recurse)
		op->verb = KV_DELETE_TREE;
	else if (m->has_cas) {
		op->verb = KV_DELETE_CAS;
		op->index = m->cas;
	} else
		op->verb = KV_DELETE;
	return 0;
}

/* One KV endpoint op as its own FSM_KVS entry. */
static void
handle_kv_write(struct raftd *r, struct bus_req *req, int type, void *m)
{
	struct fsm_kvop op;
	struct fsm_cmd cmd;
	struct reply rp = { 0 };
	char text[128];
	int rc;

	rc = type == PROTO_RAFT_KV_PUT ? kv_put_op(m, &op, &rp, text, sizeof(text))
	    : kv_delete_op(m, &op, &rp);
	if (rc != 0) {
		server_reply(r, req, &rp);
		return;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = FSM_KVS;
	cmd.single = true;
	cmd.ops = &op;
	cmd.nops = 1;
	server_propose(r, req, type, &cmd);
}

/*
 * raft.kv_batch: httpd's KV writes of one round, as ONE entry
 * (FSM_KV_BATCH), so that N writes cost one bus call, one Raft entry, one
 * LMDB txn and one reply.  One entry rather than N entries in one
 * raft_apply: libraft calls the proposer back once, after the last entry's
 * apply, while the FSM keeps only the last entry's result; and one entry is
 * one apply txn.  The price is that the writes of a batch share one Raft
 * index (as a /v1/txn's do); nobody can tell, since no reader sees the
 * store between them.  Calls refused before proposing (bad key, too
 * large, not a KV write) are answered in place, the others from their op's
 * result; the order of the calls is the order of the ops.
 */
struct batchctx {
	struct raftd   *r;
	struct bus_req *req;
	size_t          n;
	struct {
		long     op;      /* its op in the entry, or -1: refused here */
		uint64_t status;
		char    *error;
	} *calls;
};

static void
batch_free(struct batchctx *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->calls[i].error);
	free(b->calls);
	free(b);
}

static void
batch_done(void *arg, int status, const struct fsm_result *res)
{
	struct batchctx *b = arg;
	struct raftd *r = b->r;
	struct proto_raft_kv_batch_result out = { 0 };
	struct proto_raft_result m;
	struct proto_buf buf = { 0 };
	const char *fail = NULL;

	if (status != 0 || res == NULL)
		fail = consensus_is_not_leader(status) ? "No cluster leader" : consensus_strerror(status);
	for (size_t i = 0; i < b->n; i++) {
		struct reply rp = { .status = b->calls[i].status, .error = b->calls[i].error };
		long op = b->calls[i].op;

		if (op >= 0 && fail != NULL) {
			rp.status = 500;
			rp.error = fail;
		} else if (op >= 0 && (size_t)op >= res->nops) {
			rp.status = 500;
			rp.error = "no result for this write";
		} else if (op >= 0) {
			const struct fsm_result *o = &res->ops[op];
			rp.index = o->index;
			rp.ok = o->ok;
			rp.status = (uint64_t)o->status;
			rp.error = o->error;
			rp.json = o->status == 200 ? (o->ok ? "true" : "false") : o->json;
		}
		server_result_msg(r, &rp, &m);
		if (proto_pack_raft_result(i + 1, &m, &buf) != 0 ||
		    proto_bins_push(&out.results, buf.data, buf.len) != 0)
			break;
	}
	proto_buf_free(&buf);
	if (out.results.n == b->n)
		bus_reply(b->req, PROTO_RAFT_KV_BATCH_RESULT, &out);
	else {
		log_warnx("cannot pack a batch reply of %zu results", b->n);
		bus_req_drop(b->req);
	}
	proto_free_raft_kv_batch_result(&out);
	batch_free(b);
}

static void
handle_kv_batch(struct raftd *r, struct bus_req *req, const struct proto_raft_kv_batch *m)
{
	union kvmsg {
		struct proto_raft_kv_put    put;
		struct proto_raft_kv_delete del;
	} *msgs = NULL;
	int *types = NULL;
	struct batchctx *b;
	struct fsm_cmd cmd;
	const char *why = server_not_leader(r);
	uint8_t *buf = NULL;
	size_t n = m->calls.n, len;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->calls = calloc(n + 1, sizeof(*b->calls))) == NULL ||
	    (msgs = calloc(n + 1, sizeof(*msgs))) == NULL ||
	    (types = calloc(n + 1, sizeof(*types))) == NULL ||
	    (cmd.ops = calloc(n + 1, sizeof(*cmd.ops))) == NULL) {
		if (b != NULL)
			free(b->calls);
		free(b);
		free(msgs);
		free(types);
		free(cmd.ops);
		server_error(r, req, 500, "out of memory");
		return;
	}
	b->r = r;
	b->req = req;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		struct proto_env env;
		struct reply rp = { .status = 400 };
		char text[128];

		b->calls[i].op = -1;
		if (why != NULL) {
			rp.status = 500;
			rp.error = why;
		} else if ((rc = proto_unpack_env(m->calls.v[i].ptr, m->calls.v[i].len, &env)) != 0) {
			rp.error = proto_strerror(rc);
		} else if (env.type != PROTO_RAFT_KV_PUT && env.type != PROTO_RAFT_KV_DELETE) {
			rp.error = proto_strerror(PROTO_EWRONGMSG);
		} else if ((rc = proto_unpack_body(&env, &msgs[i])) != 0) {
			rp.error = proto_strerror(rc);
		} else {
			types[i] = env.type;
			rc = env.type == PROTO_RAFT_KV_PUT ?
			    kv_put_op(&msgs[i].put, &cmd.ops[cmd.nops], &rp, text, sizeof(text)) :
			    kv_delete_op(&msgs[i].del, &cmd.ops[cmd.nops], &rp);
			if (rc == 0) {
				b->calls[i].op = (long)cmd.nops++;
				continue;
			}
		}
		b->calls[i].status = rp.status;
		b->calls[i].error = strdup(rp.error != NULL ? rp.error : "");
	}
	if (cmd.nops == 0) {
		batch_done(b, 0, NULL);
		goto out;
	}
	cmd.type = FSM_KV_BATCH;
	cmd.req = bus_req_id(req);
	if (server_seen(r, cmd.req, batch_done, b))
		goto out;
	cmd.now_ms = wall_now_us() / 1000;
	if (fsm_encode(&cmd, &buf, &len) != 0) {
		for (size_t i = 0; i < n; i++)
			if (b->calls[i].op >= 0) {
				b->calls[i].op = -1;
				b->calls[i].status = 500;
				b->calls[i].error = strdup("out of memory");
			}
		batch_done(b, 0, NULL);
		goto out;
	}
	rc = consensus_propose(r->cons, buf, len, batch_done, b);
	free(buf);
	if (rc != 0)
		batch_done(b, rc, NULL);
out:
	for (size_t i = 0; i < n; i++)
		if (types[i] != PROTO_NONE)
			proto_free(types[i], &msgs[i]);
	free(msgs);
	free(types);
	free(cmd.ops);
}

static void
handle_txn(struct raftd *r, struct bus_req *req, struct proto_raft_txn *m)
{
	struct fsm_cmd cmd;
	char *err = NULL;
	int rc;

	if ((rc = txn_parse(m->body, &cmd, &err)) != 0) {
		server_error(r, req, (uint64_t)rc, err ? err : "bad request");
		free(err);
		return;
	}
	if (txn_read_only(&cmd)) {
		struct readctx *c = calloc(1, sizeof(*c));
		fsm_cmd_free(&cmd);
		if (c == NULL) {
			server_error(r, req, 500, "out of memory");
			return;
		}
		c->r = r;
		c->req = req;
		c->type = PROTO_RAFT_TXN;
		c->m.txn = *m;
		memset(m, 0, sizeof(*m)); /* moved into c */
		server_read(r, c, c->m.txn.consistency);
		return;
	}
	server_propose(r, req, PROTO_RAFT_TXN, &cmd);
	fsm_cmd_free(&cmd);
}

static void
handle_session_create(struct raftd *r, struct bus_req *req, struct proto_raft_session_create *m)
{
	struct fsm_cmd cmd;
	char *err = NULL;
	int rc;

	rc = sessreq_parse(m->body, m->node && *m->node ? m->node : r->node, &cmd, &err);
	if (rc != 0) {
		server_error(r, req, (uint64_t)rc, err ? err : "bad request");
		free(err);
		return;
	}
	server_propose(r, req, PROTO_RAFT_SESSION_CREATE, &cmd);
	fsm_cmd_free(&cmd);
}

static void
handle_session_destroy(struct raftd *r, struct bus_req *req, const char *id)
{
	struct fsm_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	if (id == NULL || strlen(id) != STORE_SESSION_LEN) {
		/* Consul answers true for an unknown id; a malformed one too. */
		struct reply rp = { .status = 200, .ok = true, .json = "true",
			.index = r->store.applied };
		server_reply(r, req, &rp);
		return;
	}
	cmd.type = FSM_SESSION_DESTROY;
	strcpy(cmd.sess.id, id);
	server_propose(r, req, PROTO_RAFT_SESSION_DESTROY, &cmd);
}

static void
handle_session_renew(struct raftd *r, struct bus_req *req, const char *id)
{
	struct store_txn t;
	struct store_session ss;
	struct reply rp = { .status = 200 };
	struct jbuf b = { 0 };
	char text[128];
	const char *why;
	char *json;

	if ((why = server_not_leader(r)) != NULL) {
		server_error(r, req, 500, why);
		return;
	}
	if (store_begin(&r->store, &t, false, 0) != 0) {
		server_error(r, req, 500, "store unavailable");
		return;
	}
	if (session_get(&t, id ? id : "", &ss) != 0) {
		store_txn_free(&t);
		snprintf(text, sizeof(text), "Session id '%s' not found", id ? id : "");
		server_error(r, req, 404, text);
		return;
	}
	rp.index = store_table_index(&t, STORE_T_SESSIONS);
	server_ttl_set(r, ss.id, ss.ttl);
	jb_lit(&b, "[");
	jb_session(&b, &ss);
	jb_lit(&b, "]");
	rp.json = json = jb_take(&b);
	server_reply(r, req, &rp);
	free(json);
	session_row_free(&ss);
	store_txn_free(&t);
}

/* --- status ---------------------------------------------------------------- */

static void
handle_status(struct raftd *r, struct bus_req *req, int type)
{
	struct consensus_server srv[32];
	struct reply rp = { .status = 200, .index = r->store.applied };
	struct jbuf b = { 0 };
	const char *addr = "";
	char *json;
	size_t n = 0;

	if (r->cons != NULL) {
		consensus_leader(r->cons, &addr);
		n = consensus_servers(r->cons, srv, 32);
		if (n > 32)
			n = 32;
	}
	switch (type) {
	case PROTO_RAFT_STATUS_LEADER:
		jb_str(&b, addr);
		break;
	case PROTO_RAFT_STATUS_PEERS:
		jb_lit(&b, "[");
		for (size_t i = 0, k = 0; i < n; i++) {
			if (!srv[i].voter)
				continue;
			jb_lit(&b, k++ ? "," : "");
			jb_str(&b, srv[i].address);
		}
		jb_lit(&b, "]");
		break;
	case PROTO_RAFT_OPERATOR_CONFIG:
		jb_lit(&b, "{\"Servers\":[");
		for (size_t i = 0; i < n; i++) {
			char id[24];
			snprintf(id, sizeof(id), "%" PRIu64, srv[i].id);
			jb_lit(&b, i ? ",{\"ID\":" : "{\"ID\":");
			jb_str(&b, id);
			jb_lit(&b, ",\"Node\":");
			jb_str(&b, strcmp(srv[i].address, r->raft_addr) == 0 ? r->node : srv[i].address);
			jb_lit(&b, ",\"Address\":");
			jb_str(&b, srv[i].address);
			jb_lit(&b, ",\"Leader\":");
			jb_lit(&b, strcmp(srv[i].address, addr) == 0 ? "true" : "false");
			jb_lit(&b, ",\"Voter\":");
			jb_lit(&b, srv[i].voter ? "true" : "false");
			jb_lit(&b, ",\"ProtocolVersion\":\"3\",\"LastIndex\":");
			jb_u64(&b, r->cons ? consensus_last_index(r->cons) : 0);
			jb_lit(&b, "}");
		}
		jb_lit(&b, "],\"Index\":");
		jb_u64(&b, r->store.applied);
		jb_lit(&b, "}");
		break;
	case PROTO_RAFT_STATS: {
		/* consul info's raft section; every value a string. */
		char v[64];
		uint64_t voters = 0;
		for (size_t i = 0; i < n; i++)
			voters += srv[i].voter;
#define STAT(k, fmt, val) do { snprintf(v, sizeof(v), fmt, val); \
		jb_lit(&b, b.len > 1 ? ",\"" k "\":" : "\"" k "\":"); jb_str(&b, v); } while (0)
		jb_lit(&b, "{");
		STAT("applied_index", "%" PRIu64, r->cons ? consensus_last_applied(r->cons) : 0);
		STAT("commit_index", "%" PRIu64, r->cons ? consensus_commit_index(r->cons) : 0);
		STAT("fsm_pending", "%d", 0);
		STAT("last_contact", "%s", r->cons && consensus_role(r->cons) == CONSENSUS_LEADER ? "0" : "never");
		STAT("last_log_index", "%" PRIu64, r->cons ? consensus_last_index(r->cons) : 0);
		STAT("last_log_term", "%" PRIu64, r->cons ? consensus_term(r->cons) : 0);
		STAT("last_snapshot_index", "%" PRIu64, r->cons ? consensus_snapshot_index(r->cons) : 0);
		STAT("last_snapshot_term", "%" PRIu64, r->cons ? consensus_term(r->cons) : 0);
		{
			/* hashicorp/raft prints its []Server with %+v. */
			char conf[32 * 128] = "[";
			for (size_t i = 0; i < n; i++)
				snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf),
				    "%s{Suffrage:%s ID:%" PRIu64 " Address:%s}", i ? " " : "",
				    srv[i].voter ? "Voter" : "Nonvoter", srv[i].id, srv[i].address);
			snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf), "]");
			jb_lit(&b, ",\"latest_configuration\":");
			jb_str(&b, conf);
		}
		STAT("latest_configuration_index", "%" PRIu64,
		    r->cons ? consensus_configuration_index(r->cons) : 0);
		STAT("num_peers", "%" PRIu64, voters > 0 ? voters - 1 : 0);
		STAT("protocol_version", "%d", 3);
		STAT("protocol_version_max", "%d", 3);
		STAT("protocol_version_min", "%d", 0);
		STAT("snapshot_version_max", "%d", 1);
		STAT("snapshot_version_min", "%d", 0);
		STAT("state", "%s", r->cons ? consensus_role_name(r->cons) : "Shutdown");
		STAT("term", "%" PRIu64, r->cons ? consensus_term(r->cons) : 0);
		STAT("store_applied_index", "%" PRIu64, r->store.applied);
		STAT("fsm_skipped_replays", "%" PRIu64, r->fsm.skipped);
		jb_lit(&b, "}");
#undef STAT
		break;
	}
	}
	rp.json = json = jb_take(&b);
	server_reply(r, req, &rp);
	free(json);
}

static void
change_done(void *arg, int status)
{
	struct bus_req *req = arg;
	struct reply rp = { .status = status ? 500 : 200, .ok = status == 0,
		.error = status ? consensus_strerror(status) : NULL, .json = status ? NULL : "true" };
	server_reply(&raftd, req, &rp);
}

static void
handle_membership(struct raftd *r, struct bus_req *req, int type, const char *id,
    const char *address, bool voter)
{
	uint64_t nid = id ? strtoull(id, NULL, 10) : 0;
	const char *why;
	int rc;

	if ((why = server_not_leader(r)) != NULL) {
		server_error(r, req, 500, why);
		return;
	}
	if (type == PROTO_RAFT_SERVER_REMOVE && nid == 0 && address != NULL) {
		struct consensus_server srv[32];
		size_t n = consensus_servers(r->cons, srv, 32);
		for (size_t i = 0; i < n && i < 32; i++)
			if (strcmp(srv[i].address, address) == 0)
				nid = srv[i].id;
	}
	switch (type) {
	case PROTO_RAFT_SERVER_ADD:
		(void)voter; /* joins as spare; autopilot promotes (consensus_promote) */
		rc = consensus_add(r->cons, nid, address ? address : "", change_done, req);
		break;
	case PROTO_RAFT_SERVER_REMOVE:
		rc = consensus_remove(r->cons, nid, change_done, req);
		break;
	default:
		rc = consensus_transfer(r->cons, nid, change_done, req);
		break;
	}
	if (rc != 0)
		change_done(req, rc);
}

/* --- dispatcher ------------------------------------------------------------ */

/* PUT /v1/catalog/(de)register: validated here, applied from the log. */
static void
handle_catalog_write(struct raftd *r, struct bus_req *req, int type, const char *body)
{
	struct fsm_cmd cmd;
	char *err = NULL;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = type == PROTO_RAFT_CATALOG_REGISTER ? FSM_CATALOG_REGISTER : FSM_CATALOG_DEREGISTER;
	rc = cmd.type == FSM_CATALOG_REGISTER ? catalog_parse_register(body, r->dc, &cmd.body, &err)
	    : catalog_parse_deregister(body, r->dc, &cmd.body, &err);
	if (rc != 0) {
		server_error(r, req, (uint64_t)rc, err ? err : "bad request");
		free(err);
		return;
	}
	server_propose(r, req, type, &cmd);
	fsm_cmd_free(&cmd);
}

static bool
is_write(int type)
{
	switch (type) {
	case PROTO_RAFT_KV_PUT:
	case PROTO_RAFT_KV_DELETE:
	case PROTO_RAFT_KV_BATCH:
	case PROTO_RAFT_SESSION_CREATE:
	case PROTO_RAFT_SESSION_DESTROY:
	case PROTO_RAFT_TXN:
	case PROTO_RAFT_SERVER_ADD:
	case PROTO_RAFT_SERVER_REMOVE:
	case PROTO_RAFT_TRANSFER:
	case PROTO_RAFT_CATALOG_REGISTER:
	case PROTO_RAFT_CATALOG_DEREGISTER:
		return true;
	}
	return false;
}

int
server_dispatch(struct daemon *d, struct bus_req *req, const struct proto_env *env)
{
	struct raftd *r = &raftd;
	union {
		struct proto_raft_kv_put         kv_put;
		struct proto_raft_kv_delete      kv_delete;
		struct proto_raft_kv_batch       kv_batch;
		struct proto_raft_session_create session_create;
		struct proto_raft_session_destroy session_destroy;
		struct proto_raft_session_renew  session_renew;
		struct proto_raft_txn            txn;
		struct proto_raft_server_add     server_add;
		struct proto_raft_server_remove  server_remove;
		struct proto_raft_transfer       transfer;
		struct proto_raft_catalog_register   catalog_register;
		struct proto_raft_catalog_deregister catalog_deregister;
	} m;
	struct readctx *c;
	int rc;

	(void)d;
	if (env->type <= PROTO_NONE || env->type >= PROTO_NTYPES ||
	    strncmp(proto_name(env->type), "raft.", 5) != 0 ||
	    env->type == PROTO_RAFT_RESULT || env->type == PROTO_RAFT_KV_BATCH_RESULT ||
	    env->type == PROTO_RAFT_CHANGED)
		return -1;
	/* A resent write must not run twice (nng req resends). */
	if (is_write(env->type) && bus_req_once(req) == 1)
		return 0;

	switch (env->type) {
	case PROTO_RAFT_KV_GET:
	case PROTO_RAFT_SESSION_INFO:
	case PROTO_RAFT_SESSION_NODE:
	case PROTO_RAFT_SESSION_LIST:
	case PROTO_RAFT_CATALOG_READ: {
		uint64_t cons = 0;
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			server_error(r, req, 500, "out of memory");
			return 0;
		}
		c->r = r;
		c->req = req;
		c->type = env->type;
		if ((rc = proto_unpack_body(env, &c->m)) != 0) {
			free(c);
			server_error(r, req, 400, proto_strerror(rc));
			return 0;
		}
		switch (env->type) {
		case PROTO_RAFT_KV_GET: cons = c->m.kv_get.consistency; break;
		case PROTO_RAFT_SESSION_INFO: cons = c->m.session_info.consistency; break;
		case PROTO_RAFT_SESSION_NODE: cons = c->m.session_node.consistency; break;
		case PROTO_RAFT_SESSION_LIST: cons = c->m.session_list.consistency; break;
		case PROTO_RAFT_CATALOG_READ: cons = c->m.catalog_read.consistency; break;
		}
		server_read(r, c, cons);
		return 0;
	}
	case PROTO_RAFT_STATUS_LEADER:
	case PROTO_RAFT_STATUS_PEERS:
	case PROTO_RAFT_OPERATOR_CONFIG:
	case PROTO_RAFT_STATS:
		handle_status(r, req, env->type);
		return 0;
	default:
		break;
	}

	if ((rc = proto_unpack_body(env, &m)) != 0) {
		server_error(r, req, 400, proto_strerror(rc));
		return 0;
	}
	switch (env->type) {
	case PROTO_RAFT_KV_PUT:
	case PROTO_RAFT_KV_DELETE:
		handle_kv_write(r, req, env->type, &m);
		break;
	case PROTO_RAFT_KV_BATCH:
		handle_kv_batch(r, req, &m.kv_batch);
		break;
	case PROTO_RAFT_SESSION_CREATE:
		handle_session_create(r, req, &m.session_create);
		break;
	case PROTO_RAFT_SESSION_DESTROY:
		handle_session_destroy(r, req, m.session_destroy.id);
		break;
	case PROTO_RAFT_SESSION_RENEW:
		handle_session_renew(r, req, m.session_renew.id);
		break;
	case PROTO_RAFT_TXN:
		handle_txn(r, req, &m.txn);
		break;
	case PROTO_RAFT_SERVER_ADD:
		handle_membership(r, req, env->type, m.server_add.id, m.server_add.address, m.server_add.voter);
		break;
	case PROTO_RAFT_SERVER_REMOVE:
		handle_membership(r, req, env->type, m.server_remove.id, m.server_remove.address, false);
		break;
	case PROTO_RAFT_TRANSFER:
		handle_membership(r, req, env->type, m.transfer.id, NULL, false);
		break;
	case PROTO_RAFT_CATALOG_REGISTER:
		handle_catalog_write(r, req, env->type, m.catalog_register.body);
		break;
	case PROTO_RAFT_CATALOG_DEREGISTER:
		handle_catalog_write(r, req, env->type, m.catalog_deregister.body);
		break;
	default:
		proto_free(env->type, &m);
		return -1;
	}
	proto_free(env->type, &m);
	return 0;
}

/* --- events and session TTLs -------------------------------------------------- */

/*
 * raft.changed for the kv table is coalesced per loop turn.  Every event
 * crosses to every subscriber (httpd, dnsd: nng filters on the SUB side)
 * and costs a few thread wake-ups in each, which was a third of a PUT's
 * CPU at 64 clients.  libraft applies a whole committed batch in one turn.
 * A turn with at most KV_EXACT kv changes publishes them one by one, as
 * they were; beyond that the turn's changes become one event: the last
 * index, key = their longest common prefix, prefix = true.  That wakes every
 * waiter under or above the prefix (httpd/wait.c), a superset of the ones
 * concerned, and raftd's store still decides whether each answer changed;
 * the spurious re-reads happen only in write bursts (Consul, past its watch
 * limit, also falls back to waking on any change of the table).  When the
 * common prefix would be empty (dnsd reads "" + prefix as "anything
 * changed") what is held goes out and holding starts anew.  Held events
 * are flushed before any other event, so indexes go out in order, and at
 * the end of the turn (uv_check).
 */
#define KV_EXACT 4

static struct {
	uv_check_t check;
	size_t     n;                /* changes held this turn */
	char      *key[KV_EXACT];    /* n <= KV_EXACT: each change */
	bool       kprefix[KV_EXACT];
	uint64_t   kindex[KV_EXACT];
	char      *common;           /* n > KV_EXACT: their common prefix */
	uint64_t   index;            /* the last index held */
} kvpend;

static void server_publish_now(struct raftd *r, uint64_t index, const char *table,
    const char *key, bool prefix, bool tick);
static void server_publish(struct raftd *r, uint64_t index, const char *table,
    const char *key, bool prefix, bool tick);

static size_t
common_len(const char *a, const char *b)
{
	size_t n = 0;

	while (a[n] != '\0' && a[n] == b[n])
		n++;
	return n;
}

static void
server_flush_kv(struct raftd *r)
{
	size_t n = kvpend.n;

	kvpend.n = 0;
	if (n > KV_EXACT) {
		char *c = kvpend.common;

		kvpend.common = NULL;
		server_publish_now(r, kvpend.index, "kv", c, true, false);
		free(c);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		server_publish_now(r, kvpend.kindex[i], "kv", kvpend.key[i], kvpend.kprefix[i],
		    false);
		free(kvpend.key[i]);
		kvpend.key[i] = NULL;
	}
}

static void
server_check_cb(uv_check_t *h)
{
	struct raftd *r = h->data;

	server_flush_kv(r);
	/* httpd serves default reads itself only while raftd leads: tell it
	 * in the turn the role changed, not at the next tick (msg_raft.h). */
	if (r->server && (server_not_leader(r) == NULL) != r->published_leader)
		server_publish(r, r->store.applied, "", "", false, true);
}

static void
server_hold_kv(struct raftd *r, uint64_t index, const char *key, bool prefix)
{
	size_t len;

	if (kvpend.n == KV_EXACT) {
		/* One change too many for exact events: fold into a prefix. */
		len = common_len(kvpend.key[0], key);
		for (size_t i = 1; i < KV_EXACT; i++) {
			size_t c = common_len(kvpend.key[0], kvpend.key[i]);
			if (c < len)
				len = c;
		}
		if (len == 0)
			server_flush_kv(r);
		else {
			kvpend.common = kvpend.key[0];
			kvpend.common[len] = '\0';
			kvpend.key[0] = NULL;
			for (size_t i = 1; i < KV_EXACT; i++) {
				free(kvpend.key[i]);
				kvpend.key[i] = NULL;
			}
			kvpend.n++;
			kvpend.index = index;
			return;
		}
	} else if (kvpend.n > KV_EXACT) {
		if ((len = common_len(kvpend.common, key)) == 0)
			server_flush_kv(r);
		else {
			kvpend.common[len] = '\0';
			kvpend.n++;
			kvpend.index = index;
			return;
		}
	}
	if ((kvpend.key[kvpend.n] = strdup(key)) == NULL) {
		server_flush_kv(r);
		server_publish_now(r, index, "kv", key, prefix, false);
		return;
	}
	kvpend.kprefix[kvpend.n] = prefix;
	kvpend.kindex[kvpend.n] = index;
	kvpend.n++;
	kvpend.index = index;
}

static void
server_publish(struct raftd *r, uint64_t index, const char *table, const char *key,
    bool prefix, bool tick)
{
	if (!tick && strcmp(table, "kv") == 0 && uv_is_active((uv_handle_t *)&kvpend.check)) {
		server_hold_kv(r, index, key != NULL ? key : "", prefix);
		return;
	}
	server_flush_kv(r);
	server_publish_now(r, index, table, key, prefix, tick);
}

static void
server_publish_now(struct raftd *r, uint64_t index, const char *table, const char *key,
    bool prefix, bool tick)
{
	struct proto_raft_changed ev;

	if (r->d == NULL || r->d->bus == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.index = index;
	ev.table = (char *)(uintptr_t)table;
	ev.key = (char *)(uintptr_t)key;
	ev.prefix = prefix;
	ev.tick = tick;
	ev.leader = server_not_leader(r) == NULL;
	r->published_leader = ev.leader;
	bus_publish(r->d->bus, PROTO_RAFT_CHANGED, &ev);
	if (!tick)
		r->published_index = index;
}

static void
server_on_changes(void *arg, uint64_t index, const struct store_txn *t)
{
	struct raftd *r = arg;
	bool catalog = false;

	if (t->nchanges == 0)
		server_publish(r, index, "", "", false, false);
	for (size_t i = 0; i < t->nchanges; i++) {
		const char *tb = t->changes[i].table;
		server_publish(r, index, tb, t->changes[i].key, t->changes[i].prefix, false);
		catalog |= strcmp(tb, "nodes") == 0 || strcmp(tb, "services") == 0 ||
		    strcmp(tb, "checks") == 0;
	}
	/* Catalog reads span the three tables: one event that any of them
	 * moved lets a waiter park on "catalog" alone (msg_raft.h). */
	if (catalog)
		server_publish(r, index, "catalog", "", false, false);
}

static uint64_t
ttl_ms_of(const char *ttl)
{
	int64_t ns;
	if (ttl == NULL || *ttl == '\0' || config_parse_duration(ttl, &ns) != 0 || ns <= 0)
		return 0;
	return (uint64_t)(ns / 1000000);
}

void
server_ttl_set(struct raftd *r, const char *id, const char *ttl)
{
	uint64_t ms = ttl_ms_of(ttl);
	struct server_ttl *e = NULL;

	if (ms == 0)
		return;
	for (size_t i = 0; i < r->nttls; i++)
		if (strcmp(r->ttls[i].id, id) == 0)
			e = &r->ttls[i];
	if (e == NULL) {
		if (r->nttls == r->capttls) {
			size_t nc = r->capttls ? r->capttls * 2 : 16;
			struct server_ttl *n = realloc(r->ttls, nc * sizeof(*n));
			if (n == NULL)
				return;
			r->ttls = n;
			r->capttls = nc;
		}
		e = &r->ttls[r->nttls++];
		snprintf(e->id, sizeof(e->id), "%s", id);
	}
	e->ttl_ms = ms;
	e->deadline_ms = uv_now(r->loop) + 2 * ms; /* Consul's SessionTTLMultiplier */
	e->proposed = false;
}

void
server_ttl_drop(struct raftd *r, const char *id)
{
	for (size_t i = 0; i < r->nttls; i++) {
		if (strcmp(r->ttls[i].id, id) == 0) {
			r->ttls[i] = r->ttls[--r->nttls];
			return;
		}
	}
}

static int
ttl_arm_cb(void *arg, const struct store_session *ss)
{
	server_ttl_set(arg, ss->id, ss->ttl);
	return 0;
}

static void
expire_done(void *arg, int status, const struct fsm_result *res)
{
	char *id = arg;
	(void)res;
	if (status == 0) {
		log_info("session expired: id=%s", id);
		server_ttl_drop(&raftd, id);
	}
	free(id);
}

static void
server_ttl_tick(struct raftd *r)
{
	bool leader = r->cons != NULL && consensus_role(r->cons) == CONSENSUS_LEADER;
	uint64_t now = uv_now(r->loop);

	if (leader && !r->was_leader) {
		/* New leader: every TTL session gets a full TTL from now. */
		struct store_txn t;
		r->nttls = 0;
		if (store_begin(&r->store, &t, false, 0) == 0) {
			session_scan(&t, ttl_arm_cb, r);
			store_txn_free(&t);
		}
		log_info("leader: armed %zu session TTLs", r->nttls);
	}
	r->was_leader = leader;
	if (!leader) {
		r->nttls = 0;
		return;
	}
	for (size_t i = 0; i < r->nttls; i++) {
		struct server_ttl *e = &r->ttls[i];
		struct fsm_cmd cmd;
		uint8_t *buf;
		size_t len;
		if (e->proposed || now < e->deadline_ms)
			continue;
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = FSM_SESSION_DESTROY;
		cmd.now_ms = wall_now_us() / 1000;
		strcpy(cmd.sess.id, e->id);
		if (fsm_encode(&cmd, &buf, &len) != 0)
			continue;
		char *id = strdup(e->id);
		if (id != NULL && consensus_propose(r->cons, buf, len, expire_done, id) == 0)
			e->proposed = true;
		else
			free(id);
		free(buf);
	}
}

/* --- leader duties: the catalog's own entries ------------------------------ */

static void
self_done(void *arg, int status, const struct fsm_result *res)
{
	struct raftd *r = arg;
	r->self_pending = false;
	if (status != 0 || res == NULL || res->status != 200)
		log_warnx("registering this server in the catalog failed: %s",
		    res != NULL && res->error ? res->error : consensus_strerror(status));
}

/*
 * The leader keeps this server's node, its serfHealth check and the
 * `consul` service in the catalog (Consul's leader reconcile): re-proposed
 * whenever the store differs, so a deregistered server comes back.  Other
 * members come from gossipd's gossip.member events (catalog_leader.c).
 */
static void
server_self_register(struct raftd *r)
{
	char addr[64], *canon = NULL, *err = NULL, body[2048];
	struct store_txn t;
	struct fsm_cmd cmd;
	bool skip = false, current = false;
	uint8_t *buf;
	size_t len;

	if (r->self_pending || r->node[0] == '\0')
		return;
	if (store_begin(&r->store, &t, false, 0) != 0)
		return;
	skip = catalog_node_address(&t, r->node, addr, sizeof(addr)) == 0 &&
	    strcmp(addr, r->advertise) == 0;
	snprintf(body, sizeof(body),
	    "{\"Node\":\"%s\",\"ID\":\"%s\",\"Address\":\"%s\",\"Datacenter\":\"%s\","
	    "\"TaggedAddresses\":{\"lan\":\"%s\",\"lan_ipv4\":\"%s\",\"wan\":\"%s\",\"wan_ipv4\":\"%s\"},"
	    "\"NodeMeta\":{\"consul-network-segment\":\"\"},\"SkipNodeUpdate\":%s,"
	    "\"Service\":{\"ID\":\"consul\",\"Service\":\"consul\",\"Tags\":[],\"Port\":%d,"
	    "\"Meta\":{\"non_voter\":\"false\",\"raft_version\":\"3\",\"read_replica\":\"false\","
	    "\"serf_protocol_current\":\"2\",\"serf_protocol_max\":\"5\",\"serf_protocol_min\":\"2\","
	    "\"version\":\"" TRIBUNE_CONSUL_VERSION "\"}},"
	    "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\","
	    "\"Status\":\"passing\",\"Output\":\"Agent alive and reachable\"}]}",
	    r->node, r->node_id, r->advertise, r->dc, r->advertise, r->advertise, r->advertise,
	    r->advertise, skip ? "true" : "false", r->server_port);
	if (catalog_parse_register(body, r->dc, &canon, &err) == 0)
		current = catalog_register_current(&t, canon);
	store_txn_free(&t);
	if (canon == NULL || current) {
		if (err != NULL)
			log_warnx("own registration: %s", err);
		goto out;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = FSM_CATALOG_REGISTER;
	cmd.now_ms = wall_now_us() / 1000;
	cmd.body = canon;
	if (fsm_encode(&cmd, &buf, &len) == 0) {
		if (consensus_propose(r->cons, buf, len, self_done, r) == 0) {
			r->self_pending = true;
			log_info("leader: registering %s (serfHealth, consul service) in the catalog", r->node);
		}
		free(buf);
	}
out:
	free(canon);
	free(err);
}

/* gossipd's member events: the leader reconciles them (catalog_leader.c). */
static void
server_on_member(struct bus *b, const struct proto_env *env, void *arg)
{
	struct raftd *r = arg;
	struct proto_gossip_member m;

	(void)b;
	if (env->type != PROTO_GOSSIP_MEMBER || r->cons == NULL ||
	    consensus_role(r->cons) != CONSENSUS_LEADER ||
	    proto_unpack_gossip_member(env, &m) != 0)
		return;
	if (!m.self)
		catalog_leader_member(r, m.name, m.addr, m.status, m.tags);
	proto_free_gossip_member(&m);
}

/* --- loop and lifecycle ---------------------------------------------------- */

static void
server_poll_cb(uv_poll_t *h, int status, int events)
{
	struct raftd *r = h->data;
	(void)status;
	(void)events;
	bus_process(r->d->bus);
	if (r->d->stopping)
		uv_stop(r->loop);
}

static void
server_tick_cb(uv_timer_t *h)
{
	struct raftd *r = h->data;

	if (r->d->stopping) {
		uv_stop(r->loop);
		return;
	}
	if (r->server) {
		server_ttl_tick(r);
		if (r->cons != NULL && consensus_role(r->cons) == CONSENSUS_LEADER)
			server_self_register(r);
		server_publish(r, r->store.applied, "", "", false, true);
	}
	/* Catch anything the fds did not signal (cheap, non-blocking). */
	bus_process(r->d->bus);
}

static void
server_signal_cb(uv_signal_t *h, int sig)
{
	struct raftd *r = h->data;
	log_info("caught signal %s", sig == SIGTERM ? "terminated" : "interrupt");
	daemon_stop(r->d);
	uv_stop(r->loop);
}

static uint64_t
server_raft_id(const struct config *cfg)
{
	const char *s = cfg->node_id && *cfg->node_id ? cfg->node_id
	    : cfg->node_name ? cfg->node_name : "tribune";
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

static int
server_init(struct daemon *d)
{
	struct raftd *r = &raftd;
	const struct config *cfg = &d->cfg;
	struct consensus_config cc;
	char path[600], err[256];
	const char *host;
	int rc;

	r->d = d;
	snprintf(r->node, sizeof(r->node), "%s", cfg->node_name ? cfg->node_name : "");
	r->server = cfg->server || cfg->dev;
	if (!r->server) {
		log_info("client agent: no local state; requests answer 'No known Consul servers'");
		return 0;
	}
	if (cfg->data_dir != NULL && *cfg->data_dir != '\0') {
		snprintf(r->data_dir, sizeof(r->data_dir), "%s", cfg->data_dir);
	} else {
		/* -dev without -data-dir: Consul keeps state in memory; we keep it
		 * in a throw-away directory. */
		snprintf(r->data_dir, sizeof(r->data_dir), "/tmp/tribune-dev-XXXXXX");
		if (mkdtemp(r->data_dir) == NULL) {
			log_warn("mkdtemp");
			return -1;
		}
	}
	mkdir(r->data_dir, 0700);
	snprintf(path, sizeof(path), "%s/state", r->data_dir);
	if ((rc = store_open(&r->store, path, 0)) != 0) {
		log_warnx("cannot open the state store in %s: %s", path, mdb_strerror(rc));
		return -1;
	}
	fsm_init(&r->fsm, &r->store, server_on_changes, r);

	host = cfg->advertise_addr && *cfg->advertise_addr ? cfg->advertise_addr
	    : cfg->bind_addr && *cfg->bind_addr && strcmp(cfg->bind_addr, "0.0.0.0") != 0 ? cfg->bind_addr
	    : "127.0.0.1";
	snprintf(r->raft_addr, sizeof(r->raft_addr), "%s:%d", host,
	    (int)(cfg->port_server > 0 ? cfg->port_server : 8300));
	snprintf(r->advertise, sizeof(r->advertise), "%s", host);
	snprintf(r->dc, sizeof(r->dc), "%s", cfg->datacenter && *cfg->datacenter ? cfg->datacenter : "dc1");
	snprintf(r->node_id, sizeof(r->node_id), "%s", cfg->node_id ? cfg->node_id : "");
	r->server_port = (int)(cfg->port_server > 0 ? cfg->port_server : 8300);
	snprintf(path, sizeof(path), "%s/raft", r->data_dir);
	memset(&cc, 0, sizeof(cc));
	cc.loop = r->loop;
	cc.dir = path;
	cc.id = server_raft_id(cfg);
	cc.address = r->raft_addr;
	cc.bootstrap = cfg->dev || cfg->bootstrap || cfg->bootstrap_expect == 1;
	if (cfg->dev) {
		cc.election_ms = 200; /* Consul's dev mode runs fast raft timings */
		cc.heartbeat_ms = 50;
	}
	{
		json_t *v = config_path(cfg->root, "raft_snapshot_threshold");
		if (json_is_integer(v) && json_integer_value(v) > 0)
			cc.snapshot_threshold = (unsigned)json_integer_value(v);
		v = config_path(cfg->root, "raft_trailing_logs");
		if (json_is_integer(v) && json_integer_value(v) > 0)
			cc.snapshot_trailing = (unsigned)json_integer_value(v);
	}
	cc.fsm = &r->fsm;
	if (!cc.bootstrap && cfg->bootstrap_expect > 1)
		log_info("bootstrap_expect=%lld: waiting for servers from gossip is not implemented yet",
		    (long long)cfg->bootstrap_expect);
	r->cons = consensus_start(&cc, err, sizeof(err));
	if (r->cons == NULL) {
		log_warnx("cannot start raft in %s: %s", path, err);
		return -1;
	}
	if (bus_subscribe(d->bus, "gossipd", "gossip.member", server_on_member, r) != 0)
		log_warnx("cannot subscribe to gossipd's members: the catalog has this server only");
	log_info("raft started: id=%" PRIu64 " address=%s data=%s applied=%" PRIu64,
	    cc.id, r->raft_addr, r->data_dir, r->store.applied);
	return 0;
}

static void
server_status(struct daemon *d, json_t *out)
{
	struct raftd *r = &raftd;
	(void)d;
	if (r->cons == NULL)
		return;
	json_object_set_new(out, "raft_state", json_string(consensus_role_name(r->cons)));
	json_object_set_new(out, "applied_index", json_integer((json_int_t)r->store.applied));
	json_object_set_new(out, "last_log_index", json_integer((json_int_t)consensus_last_index(r->cons)));
}

static const struct daemon_ops server_ops = {
	.name = "raftd",
	.init = server_init,
	.dispatch = server_dispatch,
	.status = server_status,
};

static void
server_closed(void *arg)
{
	*(int *)arg = 1;
}

static void
walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
server_main(int argc, char **argv)
{
	struct raftd *r = &raftd;
	struct daemon d;
	uv_loop_t loop;
	int fds[16], n, closed = 0;

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) != 0)
		return 1;
	r->loop = &loop;
	if (daemon_setup(&d, &server_ops, NULL, argc, argv) != 0)
		return 1;
	r->d = &d;

	n = bus_pollfds(d.bus, fds, 16);
	for (int i = 0; i < n; i++) {
		uv_poll_init(&loop, &r->polls[i], fds[i]);
		r->polls[i].data = r;
		uv_poll_start(&r->polls[i], UV_READABLE, server_poll_cb);
	}
	r->npolls = n;
	uv_check_init(&loop, &kvpend.check);
	kvpend.check.data = r;
	uv_check_start(&kvpend.check, server_check_cb);
	uv_timer_init(&loop, &r->tick);
	r->tick.data = r;
	uv_timer_start(&r->tick, server_tick_cb, 1000, 1000);
	uv_signal_init(&loop, &r->sigterm);
	r->sigterm.data = r;
	uv_signal_start(&r->sigterm, server_signal_cb, SIGTERM);
	uv_signal_init(&loop, &r->sigint);
	r->sigint.data = r;
	uv_signal_start(&r->sigint, server_signal_cb, SIGINT);
	daemon_ready(&d);
	/* Requests that arrived while we were getting ready. */
	bus_process(d.bus);

	if (!d.stopping)
		uv_run(&loop, UV_RUN_DEFAULT);

	for (int i = 0; i < r->npolls; i++)
		uv_poll_stop(&r->polls[i]);
	server_flush_kv(r);
	uv_check_stop(&kvpend.check);
	if (r->cons != NULL) {
		consensus_close(r->cons, server_closed, &closed);
		while (!closed && uv_run(&loop, UV_RUN_ONCE))
			;
	}
	uv_walk(&loop, walk_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (r->cons != NULL)
		consensus_free(r->cons);
	if (r->server) {
		fsm_fini(&r->fsm);
		store_close(&r->store);
	}
	uv_loop_close(&loop);
	bus_close(d.bus);
	config_free(&d.cfg);
	free(r->ttls);
	log_info("stopped");
	return 0;
}
