/*
 * raftd: the servers' replicated state.  Consensus (consensus.h, libraft
 * behind it) orders commands; the FSM (fsm.c) applies them to the LMDB
 * store (store.h); server.c answers raftd's bus messages (proto/msg_raft.h)
 * and publishes raft.changed.
 *
 * Prototypes by file; the prefix of a function is its file.
 */
#ifndef TRIBUNE_RAFTD_H
#define TRIBUNE_RAFTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bexpr.h"
#include "consensus.h"
#include "jbuf.h"
#include "proto.h"
#include "store.h"

/* json.c: Consul's Session JSON; the writer is proto/jbuf.h, a KV row's
 * JSON kvstore_json_row() (proto/kvstore.h). */
int   jb_session(struct jbuf *b, const struct store_session *ss);

/* fsm.c: the commands in the Raft log and their application. */
enum fsm_cmd_type {
	FSM_NOOP = 0,
	FSM_KVS = 1,             /* KV endpoint (one op) or txn (many, atomic) */
	FSM_SESSION_CREATE = 2,
	FSM_SESSION_DESTROY = 3, /* destroy, and TTL expiry decided by the leader */
	FSM_CATALOG_REGISTER = 4,   /* body = canonical register JSON (catalog.c) */
	FSM_CATALOG_DEREGISTER = 5, /* body = canonical deregister JSON */
	FSM_KV_BATCH = 6,        /* KV endpoint writes batched by httpd: each op alone */
	FSM_REQUEST = 7,         /* wrapper: the bus request id of the command inside */
};

enum fsm_kv_verb {
	KV_SET, KV_CAS, KV_LOCK, KV_UNLOCK, KV_GET, KV_GET_OR_EMPTY, KV_GET_TREE,
	KV_CHECK_INDEX, KV_CHECK_SESSION, KV_CHECK_NOT_EXISTS, KV_DELETE,
	KV_DELETE_TREE, KV_DELETE_CAS, KV_NVERBS
};

struct fsm_kvop {
	int      verb;
	char    *key;
	uint8_t *value;
	size_t   value_len;
	uint64_t flags, index;
	char    *session;
};

struct fsm_cmd {
	int              type;
	uint64_t         now_ms;  /* the leader's wall clock when proposed */
	uint64_t         req;     /* the bus request id, 0: none (FSM_REQUEST) */
	bool             single;  /* KV endpoint: refusal is `false`, not 409 */
	struct fsm_kvop *ops;
	size_t           nops;
	struct store_session sess; /* FSM_SESSION_CREATE; sess.id for DESTROY */
	char            *body;    /* FSM_CATALOG_*: canonical JSON */
};

struct fsm_result {
	uint64_t index;
	bool     skipped;  /* replayed entry the store already held */
	bool     ok;       /* single op: Consul's true/false */
	int      status;   /* HTTP-like: 200, 409 (txn rolled back), 500 */
	char    *error;    /* for 500: "invalid session \"..\"" */
	char    *json;     /* txn: {"Results":..,"Errors":..} */
	struct fsm_result *ops; /* FSM_KV_BATCH: one result per op, in order */
	size_t   nops;
	bool     dup;      /* its request id was applied before: this is that result */
};

/* Called after every applied entry with its committed txn (changes). */
typedef void (*fsm_changes_cb)(void *arg, uint64_t index, const struct store_txn *t);

struct fsm {
	struct store     *store;
	struct fsm_result result; /* of the last apply; overwritten by the next */
	fsm_changes_cb    on_changes;
	void             *arg;
	uint64_t          applied, skipped, restores, restores_skipped, dups;
};

void fsm_init(struct fsm *f, struct store *s, fsm_changes_cb cb, void *arg);
void fsm_fini(struct fsm *f);
int  fsm_encode(const struct fsm_cmd *cmd, uint8_t **buf, size_t *len);
int  fsm_decode(const uint8_t *buf, size_t len, struct fsm_cmd *cmd);
void fsm_cmd_free(struct fsm_cmd *cmd);
/* Applies the command at Raft index `index`; skips it if the store has it. */
int  fsm_apply(struct fsm *f, uint64_t index, const uint8_t *buf, size_t len);
/*
 * The result of the entry that applied bus request `req`, if the store
 * still remembers it (0, *res filled: release with fsm_result_free), else
 * MDB_NOTFOUND or an LMDB error.
 */
int  fsm_request_result(struct store *s, uint64_t req, struct fsm_result *res);
void fsm_result_free(struct fsm_result *res);
int  fsm_snapshot(struct fsm *f, uint8_t **buf, size_t *len);
int  fsm_restore(struct fsm *f, const uint8_t *buf, size_t len);
const char *fsm_verb_name(int verb);
int  fsm_verb_parse(const char *s);

/* txn.c: Consul's /v1/txn body into a command; read-only txns locally. */
/* Parses body; on error returns 400 text in *err (malloc'd). */
int  txn_parse(const char *body, struct fsm_cmd *cmd, char **err);
bool txn_read_only(const struct fsm_cmd *cmd);
/* Runs cmd's ops inside t (used by apply and by read-only txns). */
int  txn_run(struct store_txn *t, const struct fsm_cmd *cmd, struct fsm_result *res);

/* session.c (parsing half lives in server.c): the HTTP body of
 * session/create into a command; 400/500 text in *err. */
int  sessreq_parse(const char *body, const char *default_node, struct fsm_cmd *cmd, char **err);
void sessreq_uuid(char out[STORE_SESSION_LEN + 1]);

/* catalog.c: nodes, services, checks; Consul's catalog and health reads. */
/*
 * The HTTP body of PUT /v1/catalog/register (deregister) into the canonical
 * JSON the log carries (*canon, malloc'd).  Returns 0, or the HTTP status
 * with Consul's text in *err (malloc'd).  dc fills a missing Datacenter.
 */
int  catalog_parse_register(const char *body, const char *dc, char **canon, char **err);
int  catalog_parse_deregister(const char *body, const char *dc, char **canon, char **err);
/* Applies an FSM_CATALOG_* command inside t; refusals set res->status 500. */
int  catalog_apply(struct store_txn *t, const struct fsm_cmd *cmd, struct fsm_result *res);
/* Would applying this canonical register change nothing? (leader duties) */
bool catalog_register_current(struct store_txn *t, const char *canon);
/* The Address of a registered node into out; -1 when there is no node. */
int  catalog_node_address(struct store_txn *t, const char *node, char *out, size_t len);
/*
 * One read (what = "datacenters", "nodes", "services", "service", "node",
 * "node_services", "health_node", "health_checks", "health_service",
 * "health_state", "dump" = {"Index","Nodes","Services":[CatalogService],
 * "Checks"} for dnsd), query = {"passing","tag":[..],"node-meta":[..],"filter"}.
 * Returns the HTTP status; *json (200) or *err (else), malloc'd; *index is
 * X-Consul-Index (the max index of the tables read, >= 1).
 */
int  catalog_read(struct store_txn *t, const char *what, const char *arg,
         const char *query, const char *dc, char **json, uint64_t *index, char **err);

struct raftd;
/* catalog_leader.c: gossip membership into the catalog, on the leader. */
char *catalog_leader_body(const char *name, const char *addr, const char *status,
          const char *tags, const char *dc, bool exists_same);
void  catalog_leader_member(struct raftd *r, const char *name, const char *addr,
          const char *status, const char *tags);

/* server.c: the daemon (bus dispatcher, libuv loop, session TTLs). */
struct daemon;
struct bus_req;

struct server_ttl {
	char     id[STORE_SESSION_LEN + 1];
	uint64_t ttl_ms;
	uint64_t deadline_ms; /* monotonic; expiry proposed once passed */
	bool     proposed;
};

struct raftd {
	struct daemon     *d;
	uv_loop_t         *loop;
	uv_poll_t          polls[16];
	int                npolls;
	uv_timer_t         tick;
	uv_signal_t        sigterm, sigint;
	struct store       store;
	struct fsm         fsm;
	struct consensus  *cons;
	bool               server;      /* a client agent has no store */
	bool               was_leader;
	char               node[128];
	char               node_id[64];
	char               dc[64];
	char               advertise[64]; /* this server's address, no port */
	int                server_port;
	bool               self_pending;  /* own registration proposed, unanswered */
	char               raft_addr[64];
	char               data_dir[512];
	struct server_ttl *ttls;
	size_t             nttls, capttls;
	uint64_t           published_index;
	bool               published_leader; /* raft.changed's leader, last sent */
};

int  server_main(int argc, char **argv);
/* The daemon_ops dispatcher: raftd's messages; 0 taken, -1 unknown. */
int  server_dispatch(struct daemon *d, struct bus_req *req, const struct proto_env *env);
void server_ttl_set(struct raftd *r, const char *id, const char *ttl);
void server_ttl_drop(struct raftd *r, const char *id);

#endif
