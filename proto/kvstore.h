/*
 * kvstore: the KV half of raftd's state store as every process that reads
 * it sees it, and Consul's KV GET served from it.
 *
 * raftd owns the store (one LMDB environment in <data-dir>/state/, tables
 * and encodings atop raftd/store.c) and is its only writer.  httpd opens the
 * same environment read-only and answers default and ?stale KV GETs from it
 * without a call to raftd (httpd/local.c).  What the two must agree on byte
 * for byte lives here, once: the integer and KV row encodings, the names of
 * the tables and meta keys a KV read touches, the JSON of a KV row, and the
 * read itself (single key, raw, recurse, keys with a separator, the index of
 * a miss and of a listing).  raftd's kvs.c writes rows with the encoder and
 * serves its own KV reads (?consistent, and any while httpd falls back) with
 * kvstore_read(), so the two paths cannot drift.
 *
 * KV row (table "kv"), integers 8-byte little endian:
 *
 *   key   = the KV key bytes (no NUL; at most STORE_KEY_MAX)
 *   value = create_index u64 | modify_index u64 | lock_index u64 |
 *           flags u64 | session_len u8 (0 or 36) | session id bytes |
 *           the value bytes (the rest, possibly empty)
 *
 * Nothing here allocates LMDB state or keeps any: functions take the txn
 * and the table handles.  Pointers into rows point into LMDB's map and are
 * valid until the txn ends (or is reset).
 */
#ifndef TRIBUNE_KVSTORE_H
#define TRIBUNE_KVSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "jbuf.h"

/* LMDB keys are at most 511 bytes; a lock adds the 36-byte session id. */
#define STORE_KEY_MAX     (511 - 36)
#define STORE_SESSION_LEN 36
#define STORE_VALUE_MAX   (512 * 1024)

/* Bytes before the session id in a KV row. */
#define KVSTORE_ROW_HDR   33

/* The tables a KV read touches (raftd/store.c has them all). */
#define KVSTORE_T_KV         "kv"
#define KVSTORE_T_TOMBSTONES "tombstones"
#define KVSTORE_T_META       "meta"
/* The catalog's tables: httpd's answer cache (httpd/cache.c) watches their
 * meta "index.<table>" to know when a cached catalog answer is still good. */
#define KVSTORE_T_NODES      "nodes"
#define KVSTORE_T_SERVICES   "services"
#define KVSTORE_T_CHECKS     "checks"
/* meta keys: the last applied Raft index; "index.<table>" per table. */
#define KVSTORE_META_APPLIED "applied"

/* A decoded KV row. */
struct store_kv {
	const char    *key;
	size_t         key_len;
	uint64_t       create_index, modify_index, lock_index, flags;
	const char    *session; /* NULL or STORE_SESSION_LEN bytes, no NUL */
	const uint8_t *value;
	size_t         value_len;
};

/* The handles of the three tables, opened by the caller in its env. */
struct kvstore_dbs {
	MDB_dbi kv, tombstones, meta;
};

/* Little-endian u64, the store's integer encoding. */
void     kvstore_put64(uint8_t *p, uint64_t v);
uint64_t kvstore_get64(const uint8_t *p);

/* KV rows.  decode: 0 or MDB_CORRUPTED. */
int    kvstore_decode(const MDB_val *k, const MDB_val *v, struct store_kv *row);
/* The size of the encoded value of a row with this session and value. */
size_t kvstore_row_size(const char *session, size_t value_len);
/* Writes row's value encoding (kvstore_row_size() bytes) at p; key unused. */
void   kvstore_encode(uint8_t *p, const struct store_kv *row);

/* One row by key: 0, MDB_NOTFOUND (also for keys LMDB cannot hold), or an
 * LMDB error. */
int  kvstore_lookup(MDB_txn *txn, MDB_dbi kv, const char *key, size_t klen,
         struct store_kv *row);
/* Rows whose key starts with prefix, in key order; cb returns nonzero to
 * stop.  0 or an LMDB error. */
int  kvstore_scan(MDB_txn *txn, MDB_dbi kv, const char *prefix, size_t plen,
         int (*cb)(void *arg, const struct store_kv *row), void *arg);

/* meta: a u64 by name; 0, MDB_NOTFOUND or MDB_CORRUPTED. */
int      kvstore_meta_u64(MDB_txn *txn, MDB_dbi meta, const char *name,
             uint64_t *out);
/* meta "index.<table>", the last index that changed it (0 when none). */
uint64_t kvstore_table_index(MDB_txn *txn, MDB_dbi meta, const char *table);
/*
 * Consul's index of a prefix listing: the max of rows_max (the listed rows'
 * modify indexes) and the tombstones under prefix, else (0, or an empty
 * prefix) the kv table's index.  Tombstones make a delete under the prefix
 * move the index, or a blocking query on it would never see the delete.
 */
uint64_t kvstore_list_index(MDB_txn *txn, const struct kvstore_dbs *db,
             const char *prefix, size_t plen, uint64_t rows_max);

/* Consul's KV entry JSON:
 * {"LockIndex":..,"Key":..,"Flags":..,"Value":..,["Session":..,]
 *  "CreateIndex":..,"ModifyIndex":..}; Value null without with_value. */
int  kvstore_json_row(struct jbuf *b, const struct store_kv *row,
         bool with_value);

/* A KV GET, as raft.kv_get carries it (proto/msg_raft.h). */
struct kvstore_get {
	const char *key;        /* "" for the root */
	size_t      klen;
	bool        recurse;    /* all rows under key */
	bool        keys;       /* only their keys (recurse is ignored) */
	const char *separator;  /* keys: roll up at the first one after key */
	bool        raw;        /* single key: the value bytes, no JSON */
	uint64_t    min_index;  /* blocking query: > 0 asks "changed since?" */
};

/*
 * Its answer.  status 200 or 404 (index = the kv table's for a single-key
 * miss, kvstore_list_index() for an empty listing).  unchanged: min_index
 * > 0 and index <= min_index, and then neither json nor value is set.
 * Otherwise json (malloc'd; NULL on a 404, or when memory ran out) or, for
 * raw, value/value_len pointing into the map (valid until the txn ends).
 */
struct kvstore_result {
	unsigned       status;
	uint64_t       index;
	bool           unchanged;
	char          *json;
	const uint8_t *value;
	size_t         value_len;
};

/* Runs q in txn; always fills res (free res->json). */
void kvstore_read(MDB_txn *txn, const struct kvstore_dbs *db,
         const struct kvstore_get *q, struct kvstore_result *res);

/*
 * For readers in other processes: opens the environment in dir read-only
 * (MDB_RDONLY | MDB_NOTLS, so a txn is not tied to a thread) and the three
 * tables, and frees the reader slots of dead processes.  0, or ENOENT /
 * MDB_NOTFOUND while raftd has not created the store yet, or another LMDB
 * error; *env is NULL then.
 */
int  kvstore_open_reader(const char *dir, MDB_env **env,
         struct kvstore_dbs *db);

#endif
