/*
 * raftd's messages: the replicated state store (KV, sessions, txn, catalog)
 * and its consensus status.  See proto.h for the list format.
 *
 * Calls (any daemon -> raftd's rep socket).  Every call is answered by ONE
 * raft.result, sent after the write is committed and applied (writes) or
 * after the read is served at the requested consistency (reads).
 *
 *   raft.kv_get          key [recurse|keys+separator] [raw]        (read)
 *   raft.kv_put          key value flags [cas] [acquire|release]   (write)
 *   raft.kv_delete       key [recurse] [cas]                       (write)
 *   raft.kv_batch        calls: N complete envelopes of raft.kv_put /
 *                        raft.kv_delete (id = 1..N), in arrival order;
 *                        answered by ONE raft.kv_batch_result whose
 *                        results are N raft.result envelopes, the i-th
 *                        with id i, each exactly what the lone call would
 *                        have answered.  raftd writes the valid ones as
 *                        one Raft entry; each keeps its own outcome (a
 *                        refused cas or lock is `false` for that op only).
 *                        httpd batches the KV writes that arrive while an
 *                        earlier batch is in flight (httpd/batch.c).
 *   raft.session_create  the HTTP body (JSON, any key case); raftd parses
 *                        it, fills defaults (Node = node, Checks =
 *                        ["serfHealth"], LockDelay 15s, Behavior release)
 *                        and generates the ID.  json = {"ID":"<uuid>"}.
 *   raft.session_destroy id                         json = true
 *   raft.session_renew   id                         json = [Session], 404
 *   raft.session_info    id                         json = [Session] or []
 *   raft.session_node    node                       json = [Session]
 *   raft.session_list                               json = [Session]
 *   raft.txn             the HTTP body (JSON array of ops); 200 with
 *                        {"Results":[...],"Errors":null} or 409 with
 *                        {"Results":null,"Errors":[{"OpIndex":n,"What":".."}]}
 *   raft.status_leader   json = "ip:port" (or "" with no leader)
 *   raft.status_peers    json = ["ip:port",...]
 *   raft.operator_config json = {"Servers":[...],"Index":n}
 *   raft.stats           json = {"applied_index":"12",...}: consul info's
 *                        `raft` section, every value a string
 *   raft.server_add / raft.server_remove / raft.transfer: membership and
 *                        leadership (autopilot, `operator raft`).
 *   raft.catalog_register / raft.catalog_deregister: the HTTP body (JSON,
 *                        any key case) of PUT /v1/catalog/(de)register;
 *                        json = true (raftd/catalog.c).
 *   raft.catalog_read    what = "datacenters" | "nodes" | "services"
 *                        | "service" | "node" | "node_services"
 *                        | "health_node" | "health_checks"
 *                        | "health_service" | "health_state", arg = the path
 *                        parameter, query = {"passing":bool,"tag":[..],
 *                        "node-meta":["k:v",..],"filter":".."}.
 *
 * Reads carry `consistency` (RAFT_CONS_*) and `min_index`:
 *   default     served by the leader from its local store;
 *   consistent  the leader first confirms it is still leader (barrier);
 *   stale       any server's local copy, last_contact_ms says how old.
 * Not leader and not stale: status 500 "No cluster leader" (for now; later
 * followers forward).  min_index is the blocking-query index: raftd never
 * blocks, but when min_index > 0 and the result's index is <= min_index it
 * answers status 200, unchanged = true, no json/value, so httpd keeps the
 * query parked without rendering anything.
 *
 * raft.result, the one reply:
 *   status          the HTTP status Consul gives: 200, 400 (bad request,
 *                   error says why), 404 (no such key/session; index set),
 *                   409 (txn rolled back), 413 (value too large), 500
 *                   (error text is the body: "No cluster leader",
 *                   "invalid session \"..\"", "Invalid Session TTL ..."),
 *                   501 (not implemented yet)
 *   ok              the literal true/false body of KV put/delete and
 *                   session destroy (cas or lock failure = false, 200)
 *   error           NULL, or the plain-text body for status >= 400 (for
 *                   409 the same JSON text as json)
 *   index           X-Consul-Index (>= 1); for writes the Raft index of the
 *                   entry that applied it
 *   known_leader    X-Consul-KnownLeader
 *   last_contact_ms X-Consul-LastContact
 *   consistency     X-Consul-Effective-Consistency: "leader" | "consistent"
 *                   | "stale"
 *   unchanged       see min_index above
 *   json            the response body, already in Consul's field names and
 *                   order, minified (httpd re-indents for ?pretty)
 *   value           raw bytes of a single key for kv_get with raw = true
 *                   (json is then NULL)
 *
 * Event (published by raftd, topic "raft.changed"):
 *   raft.changed {index, table, key, prefix, tick, leader}
 *     After every applied batch, one event per changed (table, key), index =
 *     the Raft index that changed it.  table is "kv", "sessions", "nodes",
 *     "services" or "checks" (key = node name; for services the service
 *     name), then one event with table "catalog", key "" per entry that
 *     changed any of those three.  prefix = true: everything under key changed
 *     (delete-tree, restore from snapshot with key "").  A batch that changed
 *     no row publishes one event with table "" so the index still advances.
 *     tick = true: the same event repeated every second with index = the
 *     last applied index and table = key = "".  pub/sub is lossy: a
 *     subscriber that gets a tick whose index is above the last index it saw
 *     in a non-tick event has lost events and must re-check every parked
 *     query.
 *     leader = raftd is the Raft leader right now (it would serve a default
 *     read itself), in every event.  A change of role is published at once,
 *     as a tick, in the loop turn that saw it; the ticks repeat it.  httpd
 *     serves default and stale KV GETs from the store itself while the last
 *     events said leader and are fresh (httpd/local.c).
 */
#ifndef TRIBUNE_MSG_RAFT_H
#define TRIBUNE_MSG_RAFT_H

/* Read consistency modes (the `consistency` field). */
#define RAFT_CONS_DEFAULT    0
#define RAFT_CONS_CONSISTENT 1
#define RAFT_CONS_STALE      2

#define PROTO_MSGS_RAFT(X, F)                                                  \
	X(RAFT_RESULT, raft_result, "raft.result",                             \
	    F(U64, status) F(BOOL, ok) F(STR, error) F(U64, index)             \
	    F(BOOL, known_leader) F(U64, last_contact_ms)                      \
	    F(STR, consistency) F(BOOL, unchanged) F(STR, json)                \
	    F(BIN, value))                                                     \
	X(RAFT_KV_GET, raft_kv_get, "raft.kv_get",                             \
	    F(STR, key) F(BOOL, recurse) F(BOOL, keys) F(STR, separator)       \
	    F(BOOL, raw) F(U64, consistency) F(U64, min_index))                \
	X(RAFT_KV_PUT, raft_kv_put, "raft.kv_put",                             \
	    F(STR, key) F(BIN, value) F(U64, flags) F(BOOL, has_cas)           \
	    F(U64, cas) F(STR, acquire) F(STR, release))                       \
	X(RAFT_KV_DELETE, raft_kv_delete, "raft.kv_delete",                    \
	    F(STR, key) F(BOOL, recurse) F(BOOL, has_cas) F(U64, cas))         \
	X(RAFT_KV_BATCH, raft_kv_batch, "raft.kv_batch", F(BINS, calls))       \
	X(RAFT_KV_BATCH_RESULT, raft_kv_batch_result,                          \
	    "raft.kv_batch_result", F(BINS, results))                          \
	X(RAFT_SESSION_CREATE, raft_session_create, "raft.session_create",     \
	    F(STR, body) F(STR, node))                                         \
	X(RAFT_SESSION_DESTROY, raft_session_destroy, "raft.session_destroy",  \
	    F(STR, id))                                                        \
	X(RAFT_SESSION_RENEW, raft_session_renew, "raft.session_renew",        \
	    F(STR, id))                                                        \
	X(RAFT_SESSION_INFO, raft_session_info, "raft.session_info",           \
	    F(STR, id) F(U64, consistency) F(U64, min_index))                  \
	X(RAFT_SESSION_NODE, raft_session_node, "raft.session_node",           \
	    F(STR, node) F(U64, consistency) F(U64, min_index))                \
	X(RAFT_SESSION_LIST, raft_session_list, "raft.session_list",           \
	    F(U64, consistency) F(U64, min_index))                             \
	X(RAFT_TXN, raft_txn, "raft.txn",                                      \
	    F(STR, body) F(U64, consistency))                                  \
	X(RAFT_STATUS_LEADER, raft_status_leader, "raft.status_leader",        \
	    F(U64, consistency))                                               \
	X(RAFT_STATUS_PEERS, raft_status_peers, "raft.status_peers",           \
	    F(U64, consistency))                                               \
	X(RAFT_OPERATOR_CONFIG, raft_operator_config, "raft.operator_config",  \
	    F(U64, consistency))                                               \
	X(RAFT_STATS, raft_stats, "raft.stats",                                \
	    F(U64, consistency))                                               \
	X(RAFT_SERVER_ADD, raft_server_add, "raft.server_add",                 \
	    F(STR, id) F(STR, address) F(BOOL, voter))                         \
	X(RAFT_SERVER_REMOVE, raft_server_remove, "raft.server_remove",        \
	    F(STR, id) F(STR, address))                                        \
	X(RAFT_TRANSFER, raft_transfer, "raft.transfer",                       \
	    F(STR, id))                                                        \
	X(RAFT_CATALOG_REGISTER, raft_catalog_register,                        \
	    "raft.catalog_register", F(STR, body))                             \
	X(RAFT_CATALOG_DEREGISTER, raft_catalog_deregister,                    \
	    "raft.catalog_deregister", F(STR, body))                           \
	X(RAFT_CATALOG_READ, raft_catalog_read, "raft.catalog_read",           \
	    F(STR, what) F(STR, arg) F(STR, query) F(U64, consistency)         \
	    F(U64, min_index))                                                 \
	X(RAFT_CHANGED, raft_changed, "raft.changed",                          \
	    F(U64, index) F(STR, table) F(STR, key) F(BOOL, prefix)            \
	    F(BOOL, tick) F(BOOL, leader))

#endif
