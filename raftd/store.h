/*
 * raftd's state store: LMDB tables and Consul's semantics over them.
 * The table layout and encodings are described atop store.c.
 *
 * Everything here runs on raftd's one thread.  Writes happen only inside
 * the FSM's apply (one store txn per Raft entry); reads take a read txn.
 * Pointers into rows (struct store_kv, struct store_session) point into
 * LMDB's map and are valid until the txn ends.
 */
#ifndef TRIBUNE_RAFTD_STORE_H
#define TRIBUNE_RAFTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

/* The KV row codec, the key limits and the KV read are shared with httpd's
 * local reads: proto/kvstore.h. */
#include "kvstore.h"

enum store_table {
	STORE_T_KV,
	STORE_T_TOMBSTONES,
	STORE_T_LOCKDELAY,
	STORE_T_SESSIONS,
	STORE_T_SESSION_KEYS,
	STORE_T_NODES,
	STORE_T_SERVICES,
	STORE_T_CHECKS,
	STORE_T_SERVICE_NAMES,
	STORE_T_REQUESTS,
	STORE_T_META,
	STORE_NTABLES
};

/* One change made by a write txn, for the raft.changed event. */
struct store_change {
	char *table; /* "kv", "sessions", ... */
	char *key;
	bool  prefix;
};

struct store {
	MDB_env *env;
	MDB_dbi  dbi[STORE_NTABLES];
	uint64_t applied; /* cache of meta "applied" */
};

struct store_txn {
	struct store        *s;
	MDB_txn             *txn;
	bool                 write;
	uint64_t             index; /* the Raft index being applied (writes) */
	struct store_change *changes;
	size_t               nchanges, capchanges;
};

enum store_behavior { STORE_BEHAVIOR_RELEASE = 0, STORE_BEHAVIOR_DELETE = 1 };

/* A session row.  Decoded strings are heap copies: session_row_free(). */
struct store_session {
	char     id[STORE_SESSION_LEN + 1];
	uint64_t create_index, modify_index;
	uint64_t lock_delay_ns;
	int      behavior;
	char    *name, *node, *ttl;
	char   **node_checks;
	size_t   n_node_checks;
	char   **service_checks;
	size_t   n_service_checks;
};

/* store.c */
const char *store_table_name(int t);
int  store_open(struct store *s, const char *dir, size_t mapsize);
void store_close(struct store *s);
int  store_begin(struct store *s, struct store_txn *t, bool write, uint64_t index);
/* Commit records t->index as the last applied index and each changed
 * table's max index.  The change list stays in t until store_txn_free. */
int  store_commit(struct store_txn *t);
void store_abort(struct store_txn *t);
void store_txn_free(struct store_txn *t);
int  store_note_change(struct store_txn *t, int table, const char *key, size_t klen, bool prefix);
uint64_t store_table_index(struct store_txn *t, int table);
uint64_t store_meta_u64(struct store_txn *t, const char *name);
int  store_put_raw(struct store_txn *t, int table, const void *k, size_t kl, const void *v, size_t vl);
int  store_del_raw(struct store_txn *t, int table, const void *k, size_t kl);
/* Snapshot: the whole store as one malloc'd buffer; restore replaces it. */
int  store_snapshot(struct store *s, uint8_t **buf, size_t *len);
int  store_restore(struct store *s, const uint8_t *buf, size_t len);
int  store_snapshot_applied(const uint8_t *buf, size_t len, uint64_t *applied);
/* Store-wide dbi handles of the KV read's tables (proto/kvstore.h). */
void store_kvstore_dbs(const struct store *s, struct kvstore_dbs *db);

/* kvs.c: Consul's KV semantics (agent/consul/state/kvs.go). */
int  kvs_get(struct store_txn *t, const char *key, size_t klen, struct store_kv *row);
int  kvs_set(struct store_txn *t, const char *key, size_t klen, const uint8_t *val,
         size_t vlen, uint64_t flags, const char *session, bool keep_lock);
/* Each returns 1 when done, 0 when refused (cas/lock), <0 on error. */
int  kvs_set_cas(struct store_txn *t, const char *key, size_t klen,
         const uint8_t *val, size_t vlen, uint64_t flags, uint64_t cas);
int  kvs_lock(struct store_txn *t, const char *key, size_t klen,
         const uint8_t *val, size_t vlen, uint64_t flags, const char *session,
         uint64_t now_ms, const char **why);
int  kvs_unlock(struct store_txn *t, const char *key, size_t klen,
         const uint8_t *val, size_t vlen, uint64_t flags, const char *session,
         const char **why);
int  kvs_delete(struct store_txn *t, const char *key, size_t klen);
int  kvs_delete_cas(struct store_txn *t, const char *key, size_t klen, uint64_t cas);
int  kvs_delete_tree(struct store_txn *t, const char *prefix, size_t plen);
/* Iterate rows whose key starts with prefix; cb returns nonzero to stop. */
int  kvs_scan(struct store_txn *t, const char *prefix, size_t plen,
         int (*cb)(void *arg, const struct store_kv *row), void *arg);
/* Consul's index for a prefix list: max of rows and tombstones under it,
 * else the table's index (kvstore_list_index). */
uint64_t kvs_list_index(struct store_txn *t, const char *prefix, size_t plen, uint64_t rows_max);

/* catalog.c: rebuilds service_names from services when their row counts
 * differ (a store or a snapshot from before the index); inside txn. */
int  catalog_reindex(struct store *s, MDB_txn *txn);

/* session.c */
int  session_get(struct store_txn *t, const char *id, struct store_session *out);
void session_row_free(struct store_session *ss);
int  session_put(struct store_txn *t, const struct store_session *ss);
/* Invalidate: release or delete held keys, set lock-delay, drop the row.
 * Returns 1 when destroyed, 0 when there was no such session. */
int  session_destroy(struct store_txn *t, const char *id, uint64_t now_ms);
int  session_scan(struct store_txn *t, int (*cb)(void *arg, const struct store_session *ss), void *arg);
int  session_encode(const struct store_session *ss, uint8_t **buf, size_t *len);
int  session_decode(const uint8_t *buf, size_t len, struct store_session *ss);

#endif
