/*
 * httpd: Consul's HTTP API over libmicrohttpd, answering from raftd.
 *
 * Threads.  MHD runs its own internal epoll thread (server.c); the access
 * handler never blocks: it suspends the connection and calls raftd with
 * bus_call_async(BUS_DIRECT), whose callback runs on an nng thread, stores
 * the answer in the request and resumes the connection; MHD then calls the
 * handler again, which queues the response.  KV GETs (default and ?stale)
 * on the leader skip all that: they read raftd's LMDB store directly and
 * are answered in the same call of the handler (local.c), and so are
 * catalog and health reads whose answer cache.c holds, current by the
 * catalog tables' indexes in that store.  The daemon's own loop thread
 * (daemon.h) receives raft.changed events and runs the waiter registry's
 * timer (wait.c).  The registry is the only state shared by the three
 * threads and has its own mutex; a request belongs to exactly one thread at
 * a time (MHD's while running, the nng callback's while a call is in flight,
 * the registry's while parked), and suspend/resume hand it over.
 *
 * Lifetime.  A struct httpd_req is MHD's *req_cls: allocated at the first
 * call of the access handler, freed by the request-completed callback.  A
 * suspended connection is never completed by MHD (it does not even notice a
 * client that hangs up), so a request cannot vanish under a callback; at
 * stop every parked one is answered and resumed before MHD_stop_daemon().
 */
#ifndef TRIBUNE_HTTPD_H
#define TRIBUNE_HTTPD_H

#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "daemon.h"
#include "kvstore.h"
#include "proto.h"
#include "version.h"


#define HTTPD_MAX_LISTEN     8
#define HTTPD_CONN_LIMIT     16384
#define HTTPD_KV_MAX_VALUE   (512 * 1024)          /* kv_max_value_size */
#define HTTPD_MAX_BODY       (4 * 1024 * 1024)     /* anything else */
#define HTTPD_TXN_MAX_OPS    128
#define HTTPD_CALL_MS        7000                  /* rpc_hold_timeout */
/*
 * Calls to raftd in flight at once; the rest queue in httpd.  A burst (a
 * thousand parked queries woken by one change) sent all at once overflowed
 * the bus and timed out.
 */
#define HTTPD_MAX_INFLIGHT   64
/*
 * KV writes travel in batches (batch.c): at most this many raft.kv_batch
 * calls in flight; a write that finds fewer leaves at once (a lone write
 * never waits), the others gather until a reply frees a slot.  A batch
 * takes at most MAX_OPS writes and MAX_BYTES of values (one value alone
 * may be HTTPD_KV_MAX_VALUE), so that one bus message and one Raft entry
 * stay about the size of a lone write's largest.
 */
#ifndef HTTPD_BATCH_INFLIGHT
#define HTTPD_BATCH_INFLIGHT  1
#endif
#define HTTPD_BATCH_MAX_OPS   256
#define HTTPD_BATCH_MAX_BYTES (768 * 1024)
#define HTTPD_WAIT_DEFAULT_MS (300 * 1000)         /* default_query_time */
#define HTTPD_WAIT_MAX_MS     (600 * 1000)         /* max_query_time */
/* The answer cache (cache.c): bounds, and the catalog tables it watches. */
#define HTTPD_CACHE_ENTRIES  1024
#define HTTPD_CACHE_BYTES    (32 * 1024 * 1024)
#define HTTPD_CACHE_BUCKETS  2048
enum { CACHE_T_NODES, CACHE_T_SERVICES, CACHE_T_CHECKS, CACHE_NTABLES };
#define CACHE_DEP(t)         (1u << (t))

struct MHD_Daemon;
struct MHD_Connection;
struct httpd_req;

/* httpd.c: the daemon frame's ops (main.c runs them). */
extern const struct daemon_ops httpd_ops;

/* query.c: the common query parameters, decoded once per request. */
struct httpd_param {
	char *key;
	char *val;        /* NULL for "?recurse" (no '=') */
};

struct httpd_query {
	struct httpd_param *params;
	size_t              nparams;
	bool     recurse, keys, raw, pretty, stale, consistent;
	bool     has_index, has_wait, has_cas, has_flags;
	bool     has_acquire, has_release, has_separator;
	uint64_t index, cas, flags;
	int64_t  wait_ms;
	char    *separator, *acquire, *release;
};

/*
 * What a request turned into when it could not go on: the HTTP status and
 * Consul's plain-text body.
 */
struct httpd_err {
	unsigned status;
	char     text[512];
};

/* Adds one decoded key/value (value NULL when the key had no '='). */
int  query_add(struct httpd_query *q, const char *key, const char *val);
/* Parses a raw query string "a=1&b" (URL-decoding); 0 or -1 (no memory). */
int  query_parse_string(struct httpd_query *q, const char *qs);
/* First value of key, or NULL; *present says whether it was there at all. */
const char *query_get(const struct httpd_query *q, const char *key,
    bool *present);
/*
 * Decodes the parameters every endpoint shares, as Consul's parse() does:
 * consistency, then wait and index.  0, or -1 with err filled (400).
 */
int  query_common(struct httpd_query *q, struct httpd_err *err);
/* The KV ones (flags, cas, acquire, release, separator); 0 or -1 + err. */
int  query_kv(struct httpd_query *q, int method_put, int method_delete,
         struct httpd_err *err);
/* Go's url.Values.Encode(): keys sorted, values escaped (malloc'd). */
char *query_encode(const struct httpd_query *q);
void query_free(struct httpd_query *q);
/* Go's strconv.ParseUint(s, 10, 64); 0 or -1 with Go's error text in err. */
int  query_parse_uint(const char *s, uint64_t *out, char *err, size_t errlen);
/* URL-decodes s in place ('+' is a space in queries); returns s. */
char *query_unescape(char *s, int plus_is_space);

/* json.c: request and response bodies. */
/*
 * Parses a request body as Consul's decodeBody does.  On success returns the
 * document with keys renamed to the PascalCase names in `names` where they
 * match case-insensitively or as snake_case (Go's encoding/json is
 * case-insensitive; python-consul sends lowercase).  NULL with err filled
 * (400 "Request decode failed: ...") otherwise.
 */
json_t *json_decode_body(const char *body, size_t len,
    const char *const *names, struct httpd_err *err);
/* Renames keys of v (recursively) as above. */
void    json_canon(json_t *v, const char *const *names);
/* Re-indents JSON text for ?pretty (4 spaces, trailing newline); malloc'd. */
char   *json_pretty(const char *text, size_t len, size_t *outlen);
/* Dumps any JSON value (JSON_ENCODE_ANY), minified or pretty; malloc'd. */
char   *json_dump_any(const json_t *v, int pretty, size_t *outlen);
extern const char *const json_session_names[];
extern const char *const json_txn_names[];

/* server.c: MHD, requests, responses. */
enum httpd_state {
	REQ_NEW = 0,     /* collecting the body */
	REQ_PENDING,     /* suspended, a call to raftd in flight */
	REQ_PARKED,      /* suspended, in the waiter registry */
	REQ_DONE         /* the answer is in req; queue it */
};

/* The answer of a request, filled by a handler or a raft.result. */
struct httpd_answer {
	unsigned    status;
	char       *body;          /* malloc'd */
	size_t      len;
	const char *ctype;         /* static */
	bool        meta;          /* a read: X-Consul-* query meta headers */
	bool        index_only;    /* only X-Consul-Index (a write with one) */
	uint64_t    index;
	bool        known_leader;
	uint64_t    last_contact_ms;
	char        consistency[16];
	const char *allow;         /* Allow: header of a 405 */
	const char *location;      /* Location: header of a redirect (static) */
	bool        persistent;    /* body is static: not freed */
	bool        nosniff;       /* raw KV: no content sniffing */
};

typedef void (*httpd_render_fn)(struct httpd_req *r,
    const struct proto_raft_result *res);

struct httpd_req {
	struct httpd          *h;
	struct MHD_Connection *conn;
	enum httpd_state       state;
	int                    method;      /* HTTPD_M_* */
	char                   methodname[16];
	char                  *url;         /* decoded path */
	struct httpd_query     q;
	char                  *body;
	size_t                 body_len, body_cap;
	uint64_t               content_length;
	bool                   has_content_length, body_too_big;
	struct httpd_answer    ans;

	/* The call to raftd, kept so that a blocking read can be re-issued. */
	bool                   read;        /* answers carry query meta */
	bool                   local;       /* a KV GET local.c may serve */
	/* A catalog read cache.c may serve: its key, tables and their
	 * indexes read before the call to raftd (ctagged). */
	char                  *ckey;
	size_t                 ckey_len;
	unsigned               cdeps;
	bool                   ctagged;
	bool                   calone;      /* do not wait for a flight */
	uint64_t               ctag[CACHE_NTABLES];
	struct cache_flight   *cflight;     /* the one r's call leads */
	bool                   suspended;   /* by server_call() */
	bool                   handed_off;  /* suspended by server.c in the
	                                       handler: MHD's thread lets go */
	int                    call_type;
	void                  *call_msg;    /* struct proto_<call_type> */
	uint64_t              *call_min_index; /* its min_index, if any */
	void                 (*call_free)(void *);
	httpd_render_fn        render;

	/* Blocking query (wait.c). */
	bool                   blocking;
	uint64_t               min_index;
	uint64_t               deadline_ms;
	uint64_t               seen_seq;    /* registry event sequence at issue */
	char                   table[16];
	char                  *wkey;
	bool                   wprefix;     /* wkey is a prefix */
	struct httpd_req      *wnext, *wprev;
};

enum { HTTPD_M_GET = 1, HTTPD_M_PUT = 2, HTTPD_M_DELETE = 4,
       HTTPD_M_POST = 8, HTTPD_M_HEAD = 16, HTTPD_M_OTHER = 32 };

/* One recent raft.changed, for the park-after-event race (wait.c). */
struct wait_event {
	uint64_t seq;
	char     table[16];
	char    *key;
	bool     prefix;
};

#define WAIT_RING 1024

/* The waiter registry: parked blocking queries. */
struct wait_registry {
	pthread_mutex_t   mu;
	struct httpd_req *head;          /* parked requests, doubly linked */
	size_t            nparked;
	uint64_t          seq;           /* events seen (sequence) */
	struct wait_event ring[WAIT_RING];
	uint64_t          last_index;    /* last index of a non-tick event */
	uint64_t          last_env_id;   /* raftd's event sequence number */
	uint64_t          rechecks;      /* full re-checks after lost events */
	/* How to re-issue a request; server.c's in the daemon, fakes in tests. */
	void            (*reissue)(struct httpd_req *, void *arg);
	void             *reissue_arg;
};

/* local.c: KV GETs served from raftd's store (read-only LMDB). */
struct httpd_local {
	pthread_mutex_t        mu;          /* the one read txn */
	MDB_env               *env;
	MDB_txn               *txn;         /* reset between reads */
	struct kvstore_dbs     db;
	atomic_bool            ready;       /* env, txn and db are usable */
	_Atomic uint64_t       leader_until_ms; /* raftd leads until then */
	uint64_t               next_open_ms;    /* loop thread only */
	char                   dir[600];    /* <data-dir>/state, "" for none */
	_Atomic uint64_t       served, errors;
};

void local_init(struct httpd_local *l, const char *data_dir);
void local_fini(struct httpd_local *l);
/* Loop thread, on every raft.changed: raftd's leader flag (opens the store
 * while raftd leads and it is not open yet). */
void local_leader(struct httpd_local *l, bool leader);
/* Whether reads can be served here now. */
bool local_usable(struct httpd_local *l);
/*
 * Serves m as raftd's read_kv would and fills res as raftd's reply would
 * be decoded.  0 with the read txn held: res (json, value) is valid until
 * local_kv_done(), which must follow soon.  -1: not here (?consistent, not
 * the leader, no store): call raftd.
 */
int  local_kv_get(struct httpd_local *l, const struct proto_raft_kv_get *m,
         struct proto_raft_result *res);
void local_kv_done(struct httpd_local *l, struct proto_raft_result *res);
/*
 * meta "index.<table>" of each of tables[0..n) into out[], read in one
 * short read txn.  0, or -1 when local reads are not usable now.
 */
int  local_table_indexes(struct httpd_local *l, const char *const *tables,
         size_t n, uint64_t *out);

/*
 * cache.c: catalog and health answers kept while the tables they were read
 * from stand still (CACHE_* limits and tables at the top).
 */
struct cache_entry;
struct cache_flight;

struct httpd_cache {
	pthread_mutex_t     mu;
	struct cache_entry *bucket[HTTPD_CACHE_BUCKETS];
	struct cache_entry *mru, *lru;  /* recency list, most recent first */
	struct cache_flight *flights;   /* calls others wait for */
	size_t              n, bytes, max_n, max_bytes;
	uint64_t            hits, misses, stale, fills, evictions, coalesced;
};

void cache_init(struct httpd_cache *c, size_t max_n, size_t max_bytes);
void cache_fini(struct httpd_cache *c);
/* The tables (CACHE_DEP mask) raft.catalog_read `what` reads; 0: uncached. */
unsigned cache_deps(const char *what);
/*
 * The entry for key if its tables' indexes (deps of the entry) equal now[]:
 * 0 with the cache locked, *body pointing at the entry's body (NUL
 * terminated) until cache_unlock().  -1 otherwise (unlocked); an entry whose
 * tables moved is dropped.
 */
int  cache_get(struct httpd_cache *c, const char *key, size_t klen,
         const uint64_t *now, const char **body, size_t *len,
         uint64_t *index);
void cache_unlock(struct httpd_cache *c);
/* Stores a copy of body under key, read when the tables were at tag[]. */
void cache_put(struct httpd_cache *c, const char *key, size_t klen,
         unsigned deps, const uint64_t *tag, uint64_t index,
         const char *body, size_t len);
/*
 * r's catalog read from the cache (server.c).  CACHE_HIT: res filled as
 * raftd's reply would be, the cache locked until cache_read_done().
 * CACHE_ASK: ask raftd (r remembers the tables' indexes, and may lead a
 * flight: call cache_land() when its call ends, whatever the outcome).
 * CACHE_WAIT: a call for the same current answer is in flight: suspend r,
 * then cache_wait().
 */
enum { CACHE_ASK = -1, CACHE_HIT = 0, CACHE_WAIT = 1 };
int  cache_read(struct httpd_req *r, struct proto_raft_result *res);
void cache_read_done(struct httpd_req *r, struct proto_raft_result *res);
/* Hands suspended r to the flight cache_read() saw: 0, or -1 when it has
 * landed meanwhile (read again). */
int  cache_wait(struct httpd_req *r);
/*
 * r's call to raftd ended (res NULL: it failed): keeps a cacheable answer
 * and ends r's flight.  Returns its waiters (linked by wnext), each to be
 * issued again.
 */
struct httpd_req *cache_land(struct httpd_req *r,
         const struct proto_raft_result *res);

struct httpd {
	struct daemon        *d;
	struct MHD_Daemon    *mhd[HTTPD_MAX_LISTEN];
	int                   nmhd;
	struct wait_registry  wait;
	struct httpd_local    local;
	struct httpd_cache    cache;
	atomic_int            inflight;      /* calls to raftd not yet answered */
	pthread_mutex_t       qmu;           /* the queue of calls not yet sent */
	struct httpd_req     *qhead, *qtail; /* linked by wnext */
	uint64_t              queued;
	atomic_int            suspended;     /* connections suspended */
	atomic_bool           stopping;
	int                   wait_timer;
	uint64_t              requests;
	/* KV writes waiting for a batch (batch.c), linked by wnext. */
	pthread_mutex_t       bmu;
	struct httpd_req     *bhead, *btail;
	int                   binflight;     /* batches sent, not answered */
	uint64_t              batches, batched; /* sent: calls, writes */
};

int  server_start(struct httpd *h);
void server_stop(struct httpd *h);
/*
 * Suspends r and sends its call (r->call_type/r->call_msg) to raftd; the
 * answer goes through r->render and resumes r.  From any thread that owns r.
 */
void server_call(struct httpd_req *r);
/* Fills r's answer with a plain-text error / a body it takes over. */
void server_answer_text(struct httpd_req *r, unsigned status, const char *text);
void server_answer_json(struct httpd_req *r, unsigned status, char *body,
         size_t len);
/* Resumes a suspended r whose answer is ready (any thread). */
void server_resume(struct httpd_req *r);
/* The default render: Consul's body from a raft.result. */
void server_render_result(struct httpd_req *r,
         const struct proto_raft_result *res);
/*
 * r's call ended: err (bus_reply_cb's) or env, a raft.result.  Renders it
 * and resumes r (or parks/re-issues a blocking read).  Any thread.
 */
void server_result(struct httpd_req *r, int err, const struct proto_env *env);

/* batch.c: KV writes to raftd in raft.kv_batch calls. */
void batch_init(struct httpd *h);
/* Queues r (suspended, a raft.kv_put/kv_delete call) and sends a batch if
 * a slot is free.  From any thread that owns r. */
void batch_add(struct httpd_req *r);
/* Nothing queued and nothing in flight (for the stop). */
bool batch_idle(struct httpd *h);

/* routes.c: the route table and the handlers. */
typedef void (*httpd_handler_fn)(struct httpd_req *r, const char *arg);

struct httpd_route {
	const char      *prefix;     /* "/v1/kv/" */
	int              exact;      /* the path must equal prefix */
	int              methods;    /* HTTPD_M_* allowed */
	const char      *allow;      /* Allow: header for 405 */
	httpd_handler_fn fn;
};

extern const struct httpd_route routes[];
/* The route for path, or NULL; *arg is what follows the prefix. */
const struct httpd_route *routes_find(const char *path, const char **arg);
/* Runs r: 404/405/the handler.  r->state is REQ_DONE or REQ_PENDING after. */
void routes_dispatch(struct httpd_req *r);

/* ui.c: the web UI at /ui/ (and / when it is on); false: not a UI path. */
bool ui_dispatch(struct httpd_req *r);
/* The page itself, generated from ui/index.html by the Makefile. */
extern const unsigned char ui_index_html[];
extern const size_t        ui_index_html_len;
const char *routes_method_name(int m);

/* peer.c: calls to gossipd, checkd, the supervisor. */
/* Turns a peer's reply into r's answer (runs on an nng thread). */
typedef void (*peer_render_fn)(struct httpd_req *r, const struct proto_env *reply);
/* Suspends r, calls peer, renders the reply, resumes r. */
void peer_call(struct httpd_req *r, const char *peer, int type, const void *msg,
         int timeout_ms, peer_render_fn render);
/* peer_gather: several calls, one answer.  decode turns one reply into JSON
 * (NULL if unusable); render gets them in call order, NULL where a call
 * failed, and answers r.  The JSON is released after render. */
#define PEER_GATHER_MAX 8
typedef json_t *(*peer_decode_fn)(const struct proto_env *reply);
typedef void (*peer_gather_fn)(struct httpd_req *r, json_t *const *got, size_t n);
struct peer_target {
	const char     *peer;
	int             type;
	const void     *msg;
	peer_decode_fn  decode;
};
void peer_gather(struct httpd_req *r, const struct peer_target *t, size_t n,
         int timeout_ms, peer_gather_fn render);

/* gossip.c: members, join, leave, force-leave, events. */
void gossip_route(struct httpd_req *r, const char *what, const char *arg);
void routes_agent_members(struct httpd_req *r, const char *arg);
void routes_agent_join(struct httpd_req *r, const char *arg);
void routes_agent_leave(struct httpd_req *r, const char *arg);
void routes_agent_force_leave(struct httpd_req *r, const char *arg);
void routes_event_fire(struct httpd_req *r, const char *arg);
void routes_event_list(struct httpd_req *r, const char *arg);

/* agent.c: the agent's own endpoints, answered by checkd. */
void agent_services(struct httpd_req *r, const char *arg);
void agent_service(struct httpd_req *r, const char *arg);
void agent_checks(struct httpd_req *r, const char *arg);
void agent_service_register(struct httpd_req *r, const char *arg);
void agent_service_deregister(struct httpd_req *r, const char *arg);
void agent_service_maintenance(struct httpd_req *r, const char *arg);
void agent_maintenance(struct httpd_req *r, const char *arg);
void agent_check_register(struct httpd_req *r, const char *arg);
void agent_check_deregister(struct httpd_req *r, const char *arg);
void agent_check_pass(struct httpd_req *r, const char *arg);
void agent_check_warn(struct httpd_req *r, const char *arg);
void agent_check_fail(struct httpd_req *r, const char *arg);
void agent_check_update(struct httpd_req *r, const char *arg);
void agent_health_name(struct httpd_req *r, const char *arg);
void agent_health_id(struct httpd_req *r, const char *arg);
void agent_reload(struct httpd_req *r, const char *arg);

/* catalog.c: /v1/catalog/... and /v1/health/..., answered by raftd. */
void catalog_register(struct httpd_req *r, const char *arg);
void catalog_deregister(struct httpd_req *r, const char *arg);
void catalog_datacenters(struct httpd_req *r, const char *arg);
void catalog_nodes(struct httpd_req *r, const char *arg);
void catalog_services(struct httpd_req *r, const char *arg);
void catalog_service(struct httpd_req *r, const char *arg);
void catalog_node(struct httpd_req *r, const char *arg);
void catalog_node_services(struct httpd_req *r, const char *arg);
void catalog_health_node(struct httpd_req *r, const char *arg);
void catalog_health_checks(struct httpd_req *r, const char *arg);
void catalog_health_service(struct httpd_req *r, const char *arg);
void catalog_health_state(struct httpd_req *r, const char *arg);

/* wait.c: the waiter registry. */
void wait_init(struct wait_registry *w,
         void (*reissue)(struct httpd_req *, void *), void *arg);
void wait_destroy(struct wait_registry *w);
/* The current event sequence: store in r->seen_seq before issuing a read. */
uint64_t wait_seq(struct wait_registry *w);
/*
 * Parks r (unchanged answer) unless an event that matches it arrived since
 * r->seen_seq, in which case it returns 1 and the caller re-issues it.
 */
int  wait_park(struct wait_registry *w, struct httpd_req *r);
/* Does an event (table, key, prefix) concern r? */
int  wait_match(const struct httpd_req *r, const char *table, const char *key,
         bool prefix);
/*
 * A raft.changed event: re-issues every parked request it concerns (all of
 * them on a tick that shows lost events, or on a gap in env_id).
 */
void wait_event(struct wait_registry *w, uint64_t env_id, uint64_t index,
         const char *table, const char *key, bool prefix, bool tick);
/* Re-issues parked requests whose deadline passed (for the final read). */
void wait_expire(struct wait_registry *w, uint64_t now_ms);
/* Takes every parked request out, for shutdown; returns the list. */
struct httpd_req *wait_take_all(struct wait_registry *w);
size_t wait_count(struct wait_registry *w);
/* wait plus up to wait/16 of jitter, capped (Consul's blocking rules). */
uint64_t wait_duration_ms(const struct httpd_query *q);

#endif
