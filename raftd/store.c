/*
 * store.c: raftd's state store, one LMDB environment in <data-dir>/state/.
 *
 * The Raft log (libraft, <data-dir>/raft/) is the durable record; this store
 * is the state machine it feeds, so the env runs with MDB_NOSYNC: a crash of
 * the machine can lose the last transactions here but never the log, and the
 * log is replayed over the store at the next start.  LMDB keeps ACI without
 * the sync as long as MDB_WRITEMAP is off.
 *
 * Every Raft entry is applied in ONE LMDB write txn, which also writes
 * meta "applied" = the entry's index.  That makes "applied" exact: libraft
 * restores its last snapshot and replays its whole log at every start, and
 * the FSM skips every entry whose index is <= applied (and skips a snapshot
 * restore whose applied index is <= ours).
 *
 * Tables (named DBs), keys and values.  Integers are 8-byte little endian.
 *
 *   kv            key   = the KV key bytes (no NUL; at most STORE_KEY_MAX)
 *                 value = create_index u64 | modify_index u64 |
 *                         lock_index u64 | flags u64 |
 *                         session_len u8 (0 or 36) | session id bytes |
 *                         the value bytes (the rest, possibly empty)
 *                 The codec, and Consul's KV GET over kv, tombstones and
 *                 meta, are in proto/kvstore.c: httpd opens this env
 *                 read-only and serves default/stale KV GETs itself.
 *   tombstones    key   = a deleted KV key; value = u64 index of the delete.
 *                 Consul's graveyard: a prefix listing's index must grow
 *                 when a key under it is deleted, or a blocking query on
 *                 the prefix would never see the delete.  Not reaped yet.
 *   lockdelay     key   = a KV key; value = u64 unix ms until which acquire
 *                 is refused.  Written when a session holding the key is
 *                 invalidated; the time comes from the leader's command, so
 *                 replay decides the same way.
 *   sessions      key   = the 36-char session UUID
 *                 value = see session.c (create, modify, lock_delay_ns,
 *                         behavior, name, node, ttl, node and service checks)
 *   session_keys  key   = session id (36 bytes) | KV key; value empty.
 *                 Which keys a session holds, for release/delete on
 *                 invalidation without a table scan.
 *   nodes         key = node name
 *   services      key = node NUL service id
 *   checks        key = node NUL check id
 *                 value = create_index u64 | modify_index u64 | the row's
 *                 canonical JSON; see catalog.c
 *   service_names MDB_DUPSORT; key = a service name, lowercased (its first
 *                 511 bytes),
 *                 one value per instance = node NUL service id, the key of
 *                 its services row.  Written in the txn that writes or
 *                 deletes the row, so catalog/service/:s and
 *                 health/service/:s read only that service's rows.  Derived
 *                 data: store_open and store_restore rebuild it when its
 *                 count differs from services' (a store or snapshot older
 *                 than the table) or a key holds an uppercase byte (written
 *                 before keys were lowercased).
 *   requests      key   = u64 bus request id of a write (nng resends a
 *                 call after raftd restarts: the same id, twice)
 *                 value = the result of its entry (fsm.c, "Request ids")
 *   meta          "applied"     u64, last applied Raft index
 *                 "index.<t>"   u64, last index that changed table <t>
 *                               (the X-Consul-Index of a miss)
 *
 * Snapshot format (store_snapshot / store_restore), one buffer:
 *
 *   "TRIBSNAP" | u32 version (1) | u32 ntables |
 *   per table: u32 name_len | name | u64 nrows |
 *              per row: u32 klen | key | u32 vlen | value
 *
 * Tables are matched by name, so a table added later restores as empty from
 * an old snapshot.  meta travels with the rest, so a restored store knows
 * the index it holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

static const char *store_names[STORE_NTABLES] = {
	[STORE_T_KV] = KVSTORE_T_KV,
	[STORE_T_TOMBSTONES] = KVSTORE_T_TOMBSTONES,
	[STORE_T_LOCKDELAY] = "lockdelay",
	[STORE_T_SESSIONS] = "sessions",
	[STORE_T_SESSION_KEYS] = "session_keys",
	[STORE_T_NODES] = KVSTORE_T_NODES,
	[STORE_T_SERVICES] = KVSTORE_T_SERVICES,
	[STORE_T_CHECKS] = KVSTORE_T_CHECKS,
	[STORE_T_SERVICE_NAMES] = "service_names",
	[STORE_T_REQUESTS] = "requests",
	[STORE_T_META] = KVSTORE_T_META,
};

/* mdb_dbi_open flags beyond MDB_CREATE. */
static const unsigned store_flags[STORE_NTABLES] = {
	[STORE_T_SERVICE_NAMES] = MDB_DUPSORT,
};

#define SNAP_MAGIC "TRIBSNAP"
#define SNAP_VERSION 1

const char *
store_table_name(int t)
{
	if (t < 0 || t >= STORE_NTABLES)
		return "";
	return store_names[t];
}

void
store_kvstore_dbs(const struct store *s, struct kvstore_dbs *db)
{
	db->kv = s->dbi[STORE_T_KV];
	db->tombstones = s->dbi[STORE_T_TOMBSTONES];
	db->meta = s->dbi[STORE_T_META];
}

static int
store_set_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val)
{
	uint8_t b[8];
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v = { 8, b };
	kvstore_put64(b, val);
	return mdb_put(txn, dbi, &k, &v, 0);
}

int
store_open(struct store *s, const char *dir, size_t mapsize)
{
	MDB_txn *txn = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return errno;
	if ((rc = mdb_env_create(&s->env)) != 0)
		return rc;
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_NTABLES + 4)) != 0)
		goto fail_env;
	if ((rc = mdb_env_set_mapsize(s->env, mapsize ? mapsize : (size_t)4 << 30)) != 0)
		goto fail_env;
	if ((rc = mdb_env_open(s->env, dir, MDB_NOSYNC | MDB_NOTLS, 0600)) != 0)
		goto fail_env;
	{
		int dead;
		mdb_reader_check(s->env, &dead);
	}
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail_env;
	for (int i = 0; i < STORE_NTABLES; i++) {
		if ((rc = mdb_dbi_open(txn, store_names[i], MDB_CREATE | store_flags[i],
		    &s->dbi[i])) != 0)
			goto fail_txn;
	}
	if ((rc = catalog_reindex(s, txn)) != 0)
		goto fail_txn;
	rc = kvstore_meta_u64(txn, s->dbi[STORE_T_META], KVSTORE_META_APPLIED, &s->applied);
	if (rc == MDB_NOTFOUND)
		s->applied = 0;
	else if (rc != 0)
		goto fail_txn;
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail_env;
	return 0;

fail_txn:
	mdb_txn_abort(txn);
fail_env:
	mdb_env_close(s->env);
	s->env = NULL;
	return rc;
}

void
store_close(struct store *s)
{
	if (s->env != NULL) {
		/* NOSYNC: flush what the OS has, so a clean stop loses nothing. */
		mdb_env_sync(s->env, 1);
		mdb_env_close(s->env);
	}
	s->env = NULL;
}

int
store_begin(struct store *s, struct store_txn *t, bool write, uint64_t index)
{
	memset(t, 0, sizeof(*t));
	t->s = s;
	t->write = write;
	t->index = index;
	return mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
}

int
store_note_change(struct store_txn *t, int table, const char *key, size_t klen, bool prefix)
{
	struct store_change *c;

	for (size_t i = 0; i < t->nchanges; i++) {
		c = &t->changes[i];
		if (c->prefix == prefix && strcmp(c->table, store_names[table]) == 0 &&
		    strlen(c->key) == klen && memcmp(c->key, key, klen) == 0)
			return 0;
	}
	if (t->nchanges == t->capchanges) {
		size_t ncap = t->capchanges ? t->capchanges * 2 : 8;
		c = realloc(t->changes, ncap * sizeof(*c));
		if (c == NULL)
			return ENOMEM;
		t->changes = c;
		t->capchanges = ncap;
	}
	c = &t->changes[t->nchanges];
	c->table = strdup(store_names[table]);
	c->key = strndup(key, klen);
	c->prefix = prefix;
	if (c->table == NULL || c->key == NULL) {
		free(c->table);
		free(c->key);
		return ENOMEM;
	}
	t->nchanges++;
	return 0;
}

int
store_commit(struct store_txn *t)
{
	char name[64];
	int rc;

	if (t->write && t->index > 0) {
		for (size_t i = 0; i < t->nchanges; i++) {
			snprintf(name, sizeof(name), "index.%s", t->changes[i].table);
			if ((rc = store_set_u64(t->txn, t->s->dbi[STORE_T_META], name, t->index)) != 0)
				goto fail;
		}
		if ((rc = store_set_u64(t->txn, t->s->dbi[STORE_T_META], KVSTORE_META_APPLIED, t->index)) != 0)
			goto fail;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	if (rc == 0 && t->write && t->index > 0)
		t->s->applied = t->index;
	return rc;
fail:
	store_abort(t);
	return rc;
}

void
store_abort(struct store_txn *t)
{
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
}

void
store_txn_free(struct store_txn *t)
{
	store_abort(t);
	for (size_t i = 0; i < t->nchanges; i++) {
		free(t->changes[i].table);
		free(t->changes[i].key);
	}
	free(t->changes);
	t->changes = NULL;
	t->nchanges = t->capchanges = 0;
}

uint64_t
store_meta_u64(struct store_txn *t, const char *name)
{
	uint64_t v = 0;
	if (kvstore_meta_u64(t->txn, t->s->dbi[STORE_T_META], name, &v) != 0)
		return 0;
	return v;
}

uint64_t
store_table_index(struct store_txn *t, int table)
{
	return kvstore_table_index(t->txn, t->s->dbi[STORE_T_META], store_table_name(table));
}

int
store_put_raw(struct store_txn *t, int table, const void *k, size_t kl, const void *v, size_t vl)
{
	MDB_val mk = { kl, (void *)(uintptr_t)k }, mv = { vl, (void *)(uintptr_t)v };
	if (kl == 0 || kl > 511)
		return EINVAL;
	return mdb_put(t->txn, t->s->dbi[table], &mk, &mv, 0);
}

int
store_del_raw(struct store_txn *t, int table, const void *k, size_t kl)
{
	MDB_val mk = { kl, (void *)(uintptr_t)k };
	int rc;
	if (kl == 0 || kl > 511)
		return MDB_NOTFOUND;
	rc = mdb_del(t->txn, t->s->dbi[table], &mk, NULL);
	return rc;
}

/* --- snapshot ------------------------------------------------------------ */

struct snapbuf {
	uint8_t *p;
	size_t   len, cap;
};

static int
snap_put(struct snapbuf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + n)
			ncap *= 2;
		uint8_t *np = realloc(b->p, ncap);
		if (np == NULL)
			return ENOMEM;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static int
snap_put32(struct snapbuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	return snap_put(b, x, 4);
}

static int
snap_put64(struct snapbuf *b, uint64_t v)
{
	uint8_t x[8];
	kvstore_put64(x, v);
	return snap_put(b, x, 8);
}

int
store_snapshot(struct store *s, uint8_t **out, size_t *outlen)
{
	struct snapbuf b = { 0 };
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	if ((rc = snap_put(&b, SNAP_MAGIC, 8)) || (rc = snap_put32(&b, SNAP_VERSION)) ||
	    (rc = snap_put32(&b, STORE_NTABLES)))
		goto fail;
	for (int i = 0; i < STORE_NTABLES; i++) {
		MDB_stat st;
		if ((rc = mdb_stat(txn, s->dbi[i], &st)) != 0)
			goto fail;
		size_t nl = strlen(store_names[i]);
		if ((rc = snap_put32(&b, (uint32_t)nl)) || (rc = snap_put(&b, store_names[i], nl)) ||
		    (rc = snap_put64(&b, st.ms_entries)))
			goto fail;
		if ((rc = mdb_cursor_open(txn, s->dbi[i], &cur)) != 0)
			goto fail;
		uint64_t n = 0;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if ((rc = snap_put32(&b, (uint32_t)k.mv_size)) ||
			    (rc = snap_put(&b, k.mv_data, k.mv_size)) ||
			    (rc = snap_put32(&b, (uint32_t)v.mv_size)) ||
			    (rc = snap_put(&b, v.mv_data, v.mv_size)))
				goto fail;
			n++;
		}
		if (rc != MDB_NOTFOUND)
			goto fail;
		mdb_cursor_close(cur);
		cur = NULL;
		if (n != st.ms_entries) {
			rc = MDB_CORRUPTED;
			goto fail;
		}
	}
	mdb_txn_abort(txn);
	*out = b.p;
	*outlen = b.len;
	return 0;
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(b.p);
	return rc;
}

struct snapread {
	const uint8_t *p;
	size_t         len, off;
};

static int
snap_get(struct snapread *r, size_t n, const uint8_t **out)
{
	if (r->len - r->off < n)
		return MDB_CORRUPTED;
	*out = r->p + r->off;
	r->off += n;
	return 0;
}

static int
snap_get32(struct snapread *r, uint32_t *v)
{
	const uint8_t *p;
	if (snap_get(r, 4, &p) != 0)
		return MDB_CORRUPTED;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

static int
snap_get64(struct snapread *r, uint64_t *v)
{
	const uint8_t *p;
	if (snap_get(r, 8, &p) != 0)
		return MDB_CORRUPTED;
	*v = kvstore_get64(p);
	return 0;
}

/*
 * Walk a snapshot; with txn != NULL load it into the (emptied) tables.
 * Also reports meta "applied", so a check can run before anything changes.
 */
static int
snap_walk(struct store *s, MDB_txn *txn, const uint8_t *buf, size_t len, uint64_t *applied)
{
	struct snapread r = { buf, len, 0 };
	const uint8_t *p, *kp, *vp;
	uint32_t ver, ntab, nl, kl, vl;
	uint64_t nrows;
	int rc;

	*applied = 0;
	if (snap_get(&r, 8, &p) != 0 || memcmp(p, SNAP_MAGIC, 8) != 0)
		return MDB_CORRUPTED;
	if (snap_get32(&r, &ver) || ver != SNAP_VERSION || snap_get32(&r, &ntab))
		return MDB_CORRUPTED;
	for (uint32_t i = 0; i < ntab; i++) {
		int table = -1;
		if (snap_get32(&r, &nl) || snap_get(&r, nl, &p) || snap_get64(&r, &nrows))
			return MDB_CORRUPTED;
		for (int j = 0; j < STORE_NTABLES; j++)
			if (strlen(store_names[j]) == nl && memcmp(store_names[j], p, nl) == 0)
				table = j;
		for (uint64_t n = 0; n < nrows; n++) {
			if (snap_get32(&r, &kl) || snap_get(&r, kl, &kp) || snap_get32(&r, &vl) ||
			    snap_get(&r, vl, &vp))
				return MDB_CORRUPTED;
			if (kl == 0 || kl > 511)
				return MDB_CORRUPTED;
			if (table == STORE_T_META && kl == 7 && memcmp(kp, "applied", 7) == 0 && vl == 8)
				*applied = kvstore_get64(vp);
			if (txn != NULL && table >= 0) {
				MDB_val mk = { kl, (void *)(uintptr_t)kp }, mv = { vl, (void *)(uintptr_t)vp };
				if ((rc = mdb_put(txn, s->dbi[table], &mk, &mv, 0)) != 0)
					return rc;
			}
		}
	}
	if (r.off != r.len)
		return MDB_CORRUPTED;
	return 0;
}

int
store_snapshot_applied(const uint8_t *buf, size_t len, uint64_t *applied)
{
	return snap_walk(NULL, NULL, buf, len, applied);
}

int
store_restore(struct store *s, const uint8_t *buf, size_t len)
{
	MDB_txn *txn = NULL;
	uint64_t applied;
	int rc;

	/* Validate the whole buffer before touching the tables. */
	if ((rc = snap_walk(s, NULL, buf, len, &applied)) != 0)
		return rc;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return rc;
	for (int i = 0; i < STORE_NTABLES; i++)
		if ((rc = mdb_drop(txn, s->dbi[i], 0)) != 0)
			goto fail;
	if ((rc = snap_walk(s, txn, buf, len, &applied)) != 0)
		goto fail;
	if ((rc = catalog_reindex(s, txn)) != 0)
		goto fail;
	if ((rc = mdb_txn_commit(txn)) != 0)
		return rc;
	s->applied = applied;
	return 0;
fail:
	mdb_txn_abort(txn);
	return rc;
}
