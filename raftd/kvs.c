/*
 * kvs.c: Consul's KV semantics over the kv, tombstones, lockdelay and
 * session_keys tables (encodings atop store.c; the KV row codec and the
 * KV read are proto/kvstore.c's, shared with httpd).  Mirrors
 * agent/consul/state/kvs.go: a plain set keeps an existing lock, lock and
 * unlock move Session/LockIndex, deletes leave a tombstone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* Rows are encoded and decoded by proto/kvstore.c, shared with httpd. */
int
kvs_get(struct store_txn *t, const char *key, size_t klen, struct store_kv *row)
{
	return kvstore_lookup(t->txn, t->s->dbi[STORE_T_KV], key, klen, row);
}

static int
kvs_session_key(struct store_txn *t, const char *session, const char *key, size_t klen, bool add)
{
	char buf[512];

	if (session == NULL)
		return 0;
	if (klen > STORE_KEY_MAX)
		return EINVAL;
	memcpy(buf, session, STORE_SESSION_LEN);
	memcpy(buf + STORE_SESSION_LEN, key, klen);
	if (add)
		return store_put_raw(t, STORE_T_SESSION_KEYS, buf, STORE_SESSION_LEN + klen, "", 0);
	int rc = store_del_raw(t, STORE_T_SESSION_KEYS, buf, STORE_SESSION_LEN + klen);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Write a row; keeps session_keys in step with the row's session. */
static int
kvs_write(struct store_txn *t, const char *key, size_t klen, uint64_t create,
    uint64_t lock_index, uint64_t flags, const char *session, const char *old_session,
    const uint8_t *val, size_t vlen)
{
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	struct store_kv row = {
		.create_index = create, .modify_index = t->index,
		.lock_index = lock_index, .flags = flags, .session = session,
		.value = val, .value_len = vlen,
	};
	int rc;

	if (klen == 0 || klen > STORE_KEY_MAX)
		return EINVAL;
	if (vlen > STORE_VALUE_MAX)
		return E2BIG;
	v.mv_size = kvstore_row_size(session, vlen);
	if ((rc = mdb_put(t->txn, t->s->dbi[STORE_T_KV], &k, &v, MDB_RESERVE)) != 0)
		return rc;
	kvstore_encode(v.mv_data, &row);
	if (old_session != NULL && (session == NULL || memcmp(old_session, session, STORE_SESSION_LEN) != 0)) {
		if ((rc = kvs_session_key(t, old_session, key, klen, false)) != 0)
			return rc;
	}
	if (session != NULL && (old_session == NULL || memcmp(old_session, session, STORE_SESSION_LEN) != 0)) {
		if ((rc = kvs_session_key(t, session, key, klen, true)) != 0)
			return rc;
	}
	return store_note_change(t, STORE_T_KV, key, klen, false);
}

int
kvs_set(struct store_txn *t, const char *key, size_t klen, const uint8_t *val,
    size_t vlen, uint64_t flags, const char *session, bool keep_lock)
{
	struct store_kv old;
	char oldsess[STORE_SESSION_LEN];
	const char *os = NULL;
	uint64_t create = t->index, lock_index = 0;
	int rc;

	rc = kvs_get(t, key, klen, &old);
	if (rc == 0) {
		create = old.create_index;
		lock_index = old.lock_index;
		if (old.session) {
			memcpy(oldsess, old.session, STORE_SESSION_LEN);
			os = oldsess;
		}
		if (keep_lock)
			session = os;
	} else if (rc != MDB_NOTFOUND) {
		return rc;
	} else if (keep_lock) {
		session = NULL;
	}
	return kvs_write(t, key, klen, create, lock_index, flags, session, os, val, vlen);
}

int
kvs_set_cas(struct store_txn *t, const char *key, size_t klen,
    const uint8_t *val, size_t vlen, uint64_t flags, uint64_t cas)
{
	struct store_kv old;
	int rc = kvs_get(t, key, klen, &old);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return -rc;
	if (cas == 0 && rc == 0)
		return 0;
	if (cas != 0 && (rc != 0 || old.modify_index != cas))
		return 0;
	rc = kvs_set(t, key, klen, val, vlen, flags, NULL, true);
	return rc ? -rc : 1;
}

static bool
kvs_session_exists(struct store_txn *t, const char *session)
{
	MDB_val k = { STORE_SESSION_LEN, (void *)(uintptr_t)session }, v;
	return mdb_get(t->txn, t->s->dbi[STORE_T_SESSIONS], &k, &v) == 0;
}

int
kvs_lock(struct store_txn *t, const char *key, size_t klen,
    const uint8_t *val, size_t vlen, uint64_t flags, const char *session,
    uint64_t now_ms, const char **why)
{
	struct store_kv old;
	char oldsess[STORE_SESSION_LEN];
	const char *os = NULL;
	uint64_t create = t->index, lock_index = 1;
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int rc;

	*why = NULL;
	if (session == NULL || strlen(session) != STORE_SESSION_LEN) {
		*why = session == NULL || *session == '\0' ? "missing session" : "invalid session";
		return -EINVAL;
	}
	if (!kvs_session_exists(t, session)) {
		*why = "invalid session";
		return -EINVAL;
	}
	if (klen == 0 || klen > STORE_KEY_MAX)
		return -EINVAL;
	/* Lock-delay: decided with the leader's clock carried in the command. */
	if (mdb_get(t->txn, t->s->dbi[STORE_T_LOCKDELAY], &k, &v) == 0 && v.mv_size == 8 &&
	    kvstore_get64(v.mv_data) > now_ms)
		return 0;
	rc = kvs_get(t, key, klen, &old);
	if (rc == 0) {
		create = old.create_index;
		if (old.session) {
			memcpy(oldsess, old.session, STORE_SESSION_LEN);
			os = oldsess;
		}
		if (os != NULL && memcmp(os, session, STORE_SESSION_LEN) == 0)
			lock_index = old.lock_index;
		else if (os != NULL)
			return 0;
		else
			lock_index = old.lock_index + 1;
	} else if (rc != MDB_NOTFOUND) {
		return -rc;
	}
	rc = kvs_write(t, key, klen, create, lock_index, flags, session, os, val, vlen);
	return rc ? -rc : 1;
}

int
kvs_unlock(struct store_txn *t, const char *key, size_t klen,
    const uint8_t *val, size_t vlen, uint64_t flags, const char *session,
    const char **why)
{
	struct store_kv old;
	char oldsess[STORE_SESSION_LEN];
	int rc;

	*why = NULL;
	if (session == NULL || *session == '\0') {
		*why = "missing session";
		return -EINVAL;
	}
	rc = kvs_get(t, key, klen, &old);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return -rc;
	if (old.session == NULL || strlen(session) != STORE_SESSION_LEN ||
	    memcmp(old.session, session, STORE_SESSION_LEN) != 0)
		return 0;
	memcpy(oldsess, old.session, STORE_SESSION_LEN);
	rc = kvs_write(t, key, klen, old.create_index, old.lock_index, flags, NULL, oldsess, val, vlen);
	return rc ? -rc : 1;
}

static int
kvs_tombstone(struct store_txn *t, const char *key, size_t klen)
{
	uint8_t b[8];
	kvstore_put64(b, t->index);
	return store_put_raw(t, STORE_T_TOMBSTONES, key, klen, b, 8);
}

/* Delete an existing row (cursor-free path). */
static int
kvs_remove(struct store_txn *t, const struct store_kv *row)
{
	char key[512], sess[STORE_SESSION_LEN];
	size_t klen = row->key_len;
	bool locked = row->session != NULL;
	int rc;

	memcpy(key, row->key, klen);
	if (locked)
		memcpy(sess, row->session, STORE_SESSION_LEN);
	if ((rc = store_del_raw(t, STORE_T_KV, key, klen)) != 0)
		return rc;
	if (locked && (rc = kvs_session_key(t, sess, key, klen, false)) != 0)
		return rc;
	return 0;
}

int
kvs_delete(struct store_txn *t, const char *key, size_t klen)
{
	struct store_kv old;
	int rc = kvs_get(t, key, klen, &old);

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return -rc;
	if ((rc = kvs_remove(t, &old)) || (rc = kvs_tombstone(t, key, klen)) ||
	    (rc = store_note_change(t, STORE_T_KV, key, klen, false)))
		return -rc;
	return 1;
}

int
kvs_delete_cas(struct store_txn *t, const char *key, size_t klen, uint64_t cas)
{
	struct store_kv old;
	int rc = kvs_get(t, key, klen, &old);

	if (rc == MDB_NOTFOUND)
		return 1; /* Consul: nothing to delete counts as done */
	if (rc != 0)
		return -rc;
	if (old.modify_index != cas)
		return 0;
	return kvs_delete(t, key, klen);
}

int
kvs_delete_tree(struct store_txn *t, const char *prefix, size_t plen)
{
	MDB_cursor *cur;
	MDB_val k = { plen, (void *)(uintptr_t)prefix }, v;
	struct store_kv row;
	size_t n = 0;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_T_KV], &cur)) != 0)
		return -rc;
	rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((rc = kvstore_decode(&k, &v, &row)) != 0)
			break;
		if (row.session != NULL &&
		    (rc = kvs_session_key(t, row.session, row.key, row.key_len, false)) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		n++;
		/* After a delete LMDB's MDB_NEXT yields the row that followed. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return -rc;
	if (n > 0) {
		if (plen && (rc = kvs_tombstone(t, prefix, plen)) != 0)
			return -rc;
		if ((rc = store_note_change(t, STORE_T_KV, prefix, plen, true)) != 0)
			return -rc;
	}
	return 1;
}

int
kvs_scan(struct store_txn *t, const char *prefix, size_t plen,
    int (*cb)(void *arg, const struct store_kv *row), void *arg)
{
	return kvstore_scan(t->txn, t->s->dbi[STORE_T_KV], prefix, plen, cb, arg);
}

uint64_t
kvs_list_index(struct store_txn *t, const char *prefix, size_t plen, uint64_t rows_max)
{
	struct kvstore_dbs db;

	store_kvstore_dbs(t->s, &db);
	return kvstore_list_index(t->txn, &db, prefix, plen, rows_max);
}
