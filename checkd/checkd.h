/*
 * checkd: the agent's own services and checks.
 *
 * Definitions come from the config files (origin FILE) and from the HTTP
 * API (origin API, persisted in <data-dir>/local/state.json).  A reload
 * replaces every FILE definition by the new config's and leaves API ones
 * alone.  Maintenance is an API check with a reserved id.
 *
 * One loop, nothing blocks: every check kind (http, tcp, script, ...) sits
 * behind struct chk_kind (relayd's hce.c shape).  start() begins one run
 * and returns at once; the run ends with sched_result(), from a loop fd
 * callback (tcp, script, curl's sockets) or from the scheduler's timer,
 * which also enforces timeouts through cancel().  A 10 ms timer walks the
 * checks for due runs: 1,000 checks cost a scan of 1,000 structs, far less
 * than one run.
 *
 * Anti-entropy (sync.c): every change marks the state dirty; the sync step
 * pushes each service with its checks (and the node's own checks) to raftd
 * as a catalog register, deregisters what went away, and repeats the whole
 * push every CHECKD_AE_MS even without changes.
 *
 * Ownership: struct checkd owns the svc and chk lists; a chk owns its def
 * (json) and its kind's private state (kpriv), freed by kind->cancel().
 */
#ifndef TRIBUNE_CHECKD_H
#define TRIBUNE_CHECKD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"

#define CHECKD_TICK_MS        10          /* scheduler resolution */
#define CHECKD_AE_MS          60000       /* ae_interval */
#define CHECKD_OUTPUT_MAX     4096        /* check_output_max_size */
#define CHECKD_REAP_MS        30000       /* deregister_critical reaper */

#define CHECKD_NODE_MAINT     "_node_maintenance"
#define CHECKD_SERVICE_MAINT  "_service_maintenance:"

enum checkd_origin { ORIGIN_FILE = 1, ORIGIN_API = 2 };

struct checkd;
struct chk;
struct script_run;

/* A check kind: starts a run, cancels one in flight. */
struct chk_kind {
	const char *type;                       /* HealthCheck.Type */
	bool        polled;                     /* runs every Interval */
	int  (*start)(struct checkd *, struct chk *);
	/* Stops a run in flight and frees kpriv; no sched_result() after. */
	void (*cancel)(struct checkd *, struct chk *);
	/* Output for a run that hit its timeout (critical); NULL: a timeout
	 * passes (udp: no answer is an answer). */
	const char *timeout_text;
};

struct chk {
	char    *id, *name, *service_id, *notes;
	char     status[16];                    /* passing|warning|critical */
	char    *output;
	json_t  *def;                           /* canonical definition */
	const struct chk_kind *kind;
	void    *kpriv;
	enum checkd_origin origin;
	int64_t  interval_ms, timeout_ms, ttl_ms, dereg_ms;
	int64_t  success_before_passing, failures_before_warning;
	int64_t  failures_before_critical;
	int64_t  nsuccess, nfail;
	size_t   output_max;
	uint64_t next_ms;                       /* next run (monotonic) */
	uint64_t run_deadline_ms;               /* run in flight times out */
	uint64_t ttl_deadline_ms;               /* ttl check expires */
	uint64_t critical_since_ms;             /* 0: not critical */
	bool     running;
	bool     kpriv_curl;                    /* kpriv is a curl run */
	struct chk *next;
};

struct svc {
	char    *id;
	json_t  *def;                           /* AgentService, canonical */
	enum checkd_origin origin;
	bool     dirty;                         /* catalog row out of date */
	struct svc *next;
};

struct checkd {
	struct daemon *d;                       /* NULL in unit tests */
	struct loop   *loop;
	struct svc    *svcs;
	struct chk    *chks;
	size_t         nsvcs, nchks;
	char          *local_dir;               /* <data-dir>/local or NULL */
	char           node[256], node_id[64], dc[64], addr[64];
	size_t         output_max;
	bool           script_checks, local_script_checks;
	uint64_t       seq;                     /* changes, for events */
	bool           dirty;                   /* some row out of date */
	bool           node_dirty;              /* the node's checks */
	bool           full_sync;               /* push everything next */
	bool           persist_dirty;           /* state.json out of date */
	uint64_t       last_sync_ms, last_reap_ms;
	int            timer;
	void          *curlm;                   /* CURLM * (kind_http.c) */
	int64_t        curl_due_ms;             /* curl's timer, -1: none */
	struct script_run *scripts;             /* runs in flight (kind_script.c) */
	/* Anti-entropy bookkeeping (sync.c). */
	json_t        *synced;                  /* {"s:<id>":1,"c:<id>":1} */
	int            sync_inflight;
	bool           primed;                  /* synced read from catalog */
	int            prime_pending, prime_tries;
	uint64_t       sync_ok, sync_errors;
	uint64_t       runs, late_runs;         /* scheduler counters */
	uint64_t       max_lag_ms;              /* slot to start, worst */
	uint64_t       last_tick_ms, max_tick_gap_ms;  /* loop stalls */
};

/* checkd.c: the daemon frame. */
extern const struct daemon_ops checkd_ops;
void checkd_count_definitions(const json_t *root, size_t *nservices,
         size_t *nchecks);
/* Sets up cd from a config (also for tests, with d == NULL). */
void checkd_setup(struct checkd *cd, const struct config *cfg);

/* defs.c: definitions in any key case -> canonical JSON. */
/*
 * Canonicalizes a service definition (config file or API body).  *svc gets
 * the AgentService object (ID, Service, Tags, Meta, Port, Address,
 * TaggedAddresses, Weights, EnableTagOverride, Kind), *checks an array of
 * canonical check definitions (ids defaulted to service:<id>[:N]).
 * Returns 0, or -1 with Consul's 400 text in err.
 */
int     defs_service(const json_t *in, json_t **svc, json_t **checks,
            char *err, size_t errlen);
/*
 * Canonicalizes one check definition (CheckID, Name, Status, Type, ...).
 * Returns 0, or -1 with Consul's 400 text in err.
 */
int     defs_check(const json_t *in, json_t **out, char *err, size_t errlen);
/* A copy of obj with keys matched against names (any case, snake_case). */
json_t *defs_canon(const json_t *obj, const char *const *names);
/* Go duration text -> ms; -1 when malformed, 0 when absent. */
int64_t defs_duration_ms(const json_t *v);
/* Go's Duration.String() of a millisecond count ("1m30s"). */
void    defs_go_duration(int64_t ms, char *out, size_t outlen);
/* Every service/check definition of a config root, canonical. */
int     defs_from_config(const json_t *root, json_t *svcs, json_t *chks);

/* state.c: the in-memory tables and their JSON renderings. */
struct svc *state_svc(struct checkd *, const char *id);
struct chk *state_chk(struct checkd *, const char *id);
/* Adds or replaces; takes def.  Returns the service. */
struct svc *state_add_svc(struct checkd *, json_t *def,
                enum checkd_origin origin);
/* Adds or replaces a check (keeping status when the definition is the
 * same kind); takes def.  NULL with err on a bad definition. */
struct chk *state_add_chk(struct checkd *, json_t *def,
                enum checkd_origin origin, char *err, size_t errlen);
void        state_del_svc(struct checkd *, const char *id);
/* Marks the catalog row of service_id (NULL: the node's checks) stale. */
void        state_dirty(struct checkd *, const char *service_id);
void        state_del_chk(struct checkd *, const char *id);
/* Sets status/output (NULL: keep), notes the change. */
void        state_set(struct checkd *, struct chk *, const char *status,
                const char *output);
json_t     *state_agent_service(struct checkd *, const struct svc *);
json_t     *state_health_check(struct checkd *, const struct chk *);
/* Worst status of a service's checks (and node checks when node),
 * leaving out check skip (an alias does not mirror itself). */
const char *state_aggregate(struct checkd *, const char *service_id,
                bool node, const char *skip, bool *maint);
/* Caps s to max bytes, keeping the head (http) or tail (script). */
char       *state_cap(const char *s, size_t len, size_t max, bool tail);
void        state_free(struct checkd *);
/* Applies the config's FILE definitions: adds, updates, removes. */
void        state_load_config(struct checkd *, const json_t *root);

/* sched.c: when checks run, what their results do. */
void sched_tick(struct checkd *, uint64_t now_ms);
/* The result of one run (kinds call this). */
void sched_result(struct checkd *, struct chk *, const char *status,
         const char *output);
/* Status after a result under the success/failure thresholds. */
const char *sched_threshold(struct chk *, const char *status);
/* TTL update from the API: pass/warn/fail/update. */
int  sched_ttl_update(struct checkd *, struct chk *, const char *status,
         const char *output);
/* Stops c's run in flight, if any. */
void sched_cancel(struct checkd *, struct chk *);
/* The kind for a canonical check Type. */
const struct chk_kind *sched_kind(const char *type);

/* kind_http.c (http, grpc, named tcp), kind_tcp.c, kind_udp.c,
 * kind_script.c: the polled kinds. */
extern const struct chk_kind kind_http, kind_tcp, kind_script, kind_grpc;
extern const struct chk_kind kind_udp;
int  kind_http_init(struct checkd *);
/* Stand-ins for curl's timer and SIGCHLD, on the scheduler's tick. */
void kind_http_tick(struct checkd *, uint64_t now_ms);
void kind_script_tick(struct checkd *);
void kind_http_fini(struct checkd *);
/* Go's http.StatusText code line: "200 OK". */
const char *kind_http_status_text(long code);
/* HTTP status -> passing/warning/critical. */
const char *kind_http_map(long code);
/* A tcp check to a host name, as a curl connect-only transfer. */
int  kind_http_connect(struct checkd *, struct chk *, const char *host,
         const char *port);
void kind_http_cancel(struct checkd *, struct chk *);
/* Serving status in a framed grpc.health.v1 response, -1 if unreadable. */
int  kind_grpc_decode(const unsigned char *b, size_t len);
/* Script exit status -> passing/warning/critical. */
const char *kind_script_map(int exit_code);

/* local.c: persistence of API registrations and check state. */
int  local_save(struct checkd *);
int  local_load(struct checkd *);
/* The document local_save writes (for tests). */
json_t *local_doc(struct checkd *);
int  local_apply(struct checkd *, const json_t *doc, uint64_t wall_ms);

/* api.c: the check.call operations. */
/* Runs op; *status, *body (malloc'd or NULL), *ctype (static or NULL). */
void api_call(struct checkd *, const char *op, const char *arg,
         const json_t *query, const char *body, unsigned *status,
         char **bodyout, const char **ctype);

/* sync.c: anti-entropy into the catalog and events on the bus. */
void sync_tick(struct checkd *, uint64_t now_ms);
void sync_changed(struct checkd *, const struct chk *, const char *status);
json_t *sync_register_body(struct checkd *, const struct svc *);

#endif
