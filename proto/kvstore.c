/*
 * kvstore.c: the KV row codec and Consul's KV GET over raftd's store
 * (kvstore.h).  Linked by raftd, which writes the store, and by httpd,
 * which reads it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore.h"

void
kvstore_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t
kvstore_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* --- rows ---------------------------------------------------------------- */

int
kvstore_decode(const MDB_val *k, const MDB_val *v, struct store_kv *row)
{
	const uint8_t *p = v->mv_data;
	size_t         sl;

	if (v->mv_size < KVSTORE_ROW_HDR)
		return MDB_CORRUPTED;
	sl = p[32];
	if ((sl != 0 && sl != STORE_SESSION_LEN) ||
	    v->mv_size < KVSTORE_ROW_HDR + sl)
		return MDB_CORRUPTED;
	row->key = k->mv_data;
	row->key_len = k->mv_size;
	row->create_index = kvstore_get64(p);
	row->modify_index = kvstore_get64(p + 8);
	row->lock_index = kvstore_get64(p + 16);
	row->flags = kvstore_get64(p + 24);
	row->session = sl ? (const char *)p + KVSTORE_ROW_HDR : NULL;
	row->value = p + KVSTORE_ROW_HDR + sl;
	row->value_len = v->mv_size - KVSTORE_ROW_HDR - sl;
	return 0;
}

size_t
kvstore_row_size(const char *session, size_t value_len)
{
	return KVSTORE_ROW_HDR + (session != NULL ? STORE_SESSION_LEN : 0) +
	    value_len;
}

void
kvstore_encode(uint8_t *p, const struct store_kv *row)
{
	size_t sl = row->session != NULL ? STORE_SESSION_LEN : 0;

	kvstore_put64(p, row->create_index);
	kvstore_put64(p + 8, row->modify_index);
	kvstore_put64(p + 16, row->lock_index);
	kvstore_put64(p + 24, row->flags);
	p[32] = (uint8_t)sl;
	if (sl)
		memcpy(p + KVSTORE_ROW_HDR, row->session, sl);
	if (row->value_len)
		memcpy(p + KVSTORE_ROW_HDR + sl, row->value, row->value_len);
}

int
kvstore_lookup(MDB_txn *txn, MDB_dbi kv, const char *key, size_t klen,
    struct store_kv *row)
{
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int     rc;

	if (klen == 0 || klen > 511)
		return MDB_NOTFOUND;
	if ((rc = mdb_get(txn, kv, &k, &v)) != 0)
		return rc;
	return kvstore_decode(&k, &v, row);
}

int
kvstore_scan(MDB_txn *txn, MDB_dbi kv, const char *prefix, size_t plen,
    int (*cb)(void *arg, const struct store_kv *row), void *arg)
{
	MDB_cursor     *cur;
	MDB_val         k = { plen, (void *)(uintptr_t)prefix }, v;
	struct store_kv row;
	int             rc;

	if (plen > 511)
		return 0;
	if ((rc = mdb_cursor_open(txn, kv, &cur)) != 0)
		return rc;
	rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((rc = kvstore_decode(&k, &v, &row)) != 0)
			break;
		if (cb(arg, &row) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* --- indexes ------------------------------------------------------------- */

int
kvstore_meta_u64(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	int     rc = mdb_get(txn, meta, &k, &v);

	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	*out = kvstore_get64(v.mv_data);
	return 0;
}

uint64_t
kvstore_table_index(MDB_txn *txn, MDB_dbi meta, const char *table)
{
	char     name[64];
	uint64_t v = 0;

	snprintf(name, sizeof(name), "index.%s", table);
	if (kvstore_meta_u64(txn, meta, name, &v) != 0)
		return 0;
	return v;
}

uint64_t
kvstore_list_index(MDB_txn *txn, const struct kvstore_dbs *db,
    const char *prefix, size_t plen, uint64_t rows_max)
{
	MDB_cursor *cur;
	MDB_val     k = { plen, (void *)(uintptr_t)prefix }, v;
	uint64_t    idx = rows_max;
	int         rc;

	if (plen == 0 || plen > 511)
		return kvstore_table_index(txn, db->meta, KVSTORE_T_KV);
	if (mdb_cursor_open(txn, db->tombstones, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size < plen ||
			    memcmp(k.mv_data, prefix, plen) != 0)
				break;
			if (v.mv_size == 8 && kvstore_get64(v.mv_data) > idx)
				idx = kvstore_get64(v.mv_data);
		}
		mdb_cursor_close(cur);
	}
	if (idx == 0)
		idx = kvstore_table_index(txn, db->meta, KVSTORE_T_KV);
	return idx;
}

/* --- JSON ---------------------------------------------------------------- */

int
kvstore_json_row(struct jbuf *b, const struct store_kv *row, bool with_value)
{
	jb_lit(b, "{\"LockIndex\":");
	jb_u64(b, row->lock_index);
	jb_lit(b, ",\"Key\":");
	jb_strn(b, row->key, row->key_len);
	jb_lit(b, ",\"Flags\":");
	jb_u64(b, row->flags);
	jb_lit(b, ",\"Value\":");
	if (with_value && row->value_len > 0)
		jb_b64(b, row->value, row->value_len);
	else
		jb_lit(b, "null");
	if (row->session != NULL) {
		jb_lit(b, ",\"Session\":");
		jb_strn(b, row->session, STORE_SESSION_LEN);
	}
	jb_lit(b, ",\"CreateIndex\":");
	jb_u64(b, row->create_index);
	jb_lit(b, ",\"ModifyIndex\":");
	jb_u64(b, row->modify_index);
	return jb_lit(b, "}");
}

/* --- KV GET -------------------------------------------------------------- */

struct kvlist {
	struct jbuf b;
	size_t      n;
	uint64_t    max;
	const char *sep;
	size_t      plen;
	const char *last;     /* last listed key (into the map), keys mode */
	size_t      lastlen;
};

static int
kvlist_row(void *arg, const struct store_kv *row)
{
	struct kvlist *l = arg;

	jb_lit(&l->b, l->n++ ? "," : "");
	kvstore_json_row(&l->b, row, true);
	if (row->modify_index > l->max)
		l->max = row->modify_index;
	return 0;
}

/* ?keys: each key once; with a separator, rolled up to the first separator
 * after the prefix (Consul lists "a/" once for a/x and a/y). */
static int
kvlist_key(void *arg, const struct store_kv *row)
{
	struct kvlist *l = arg;
	size_t         klen = row->key_len;

	if (row->modify_index > l->max)
		l->max = row->modify_index;
	if (l->sep != NULL && *l->sep != '\0') {
		size_t      sl = strlen(l->sep);
		const char *rest = row->key + l->plen;
		size_t      rl = row->key_len - l->plen;
		const char *hit = memmem(rest, rl, l->sep, sl);

		if (hit != NULL)
			klen = (size_t)(hit - row->key) + sl;
	}
	if (l->last != NULL && l->lastlen == klen &&
	    memcmp(l->last, row->key, klen) == 0)
		return 0;
	/* Rows are in the map until the txn ends: no copy needed. */
	l->last = row->key;
	l->lastlen = klen;
	jb_lit(&l->b, l->n++ ? "," : "");
	jb_strn(&l->b, row->key, klen);
	return 0;
}

void
kvstore_read(MDB_txn *txn, const struct kvstore_dbs *db,
    const struct kvstore_get *q, struct kvstore_result *res)
{
	const char *key = q->key != NULL ? q->key : "";

	memset(res, 0, sizeof(*res));
	res->status = 200;
	if (!q->recurse && !q->keys) {
		struct store_kv row;

		if (kvstore_lookup(txn, db->kv, key, q->klen, &row) == 0) {
			res->index = row.modify_index;
			if (q->min_index > 0 && res->index <= q->min_index) {
				res->unchanged = true;
			} else if (q->raw) {
				res->value = row.value;
				res->value_len = row.value_len;
			} else {
				struct jbuf b = { 0 };

				jb_lit(&b, "[");
				kvstore_json_row(&b, &row, true);
				jb_lit(&b, "]");
				res->json = jb_take(&b);
			}
		} else {
			res->status = 404;
			res->index = kvstore_table_index(txn, db->meta,
			    KVSTORE_T_KV);
			res->unchanged = q->min_index > 0 &&
			    res->index <= q->min_index;
		}
		return;
	}

	struct kvlist l = { .plen = q->klen, .sep = q->separator };

	jb_lit(&l.b, "[");
	/* A scan that stops on a damaged row lists what came before it. */
	(void)kvstore_scan(txn, db->kv, key, q->klen,
	    q->keys ? kvlist_key : kvlist_row, &l);
	jb_lit(&l.b, "]");
	res->index = kvstore_list_index(txn, db, key, q->klen, l.max);
	if (l.n == 0)
		res->status = 404;
	if (q->min_index > 0 && res->index <= q->min_index)
		res->unchanged = true;
	else if (l.n > 0)
		res->json = jb_take(&l.b);
	jb_free(&l.b);
}

/* --- readers in other processes ------------------------------------------ */

int
kvstore_open_reader(const char *dir, MDB_env **envp, struct kvstore_dbs *db)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	int      rc;

	*envp = NULL;
	if ((rc = mdb_env_create(&env)) != 0)
		return rc;
	/* raftd's tables and then some; the map size comes from the file. */
	if ((rc = mdb_env_set_maxdbs(env, 16)) != 0)
		goto fail;
	if ((rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0)
		goto fail;
	{
		/* A reader killed mid-read (an httpd before us) keeps its slot,
		 * and its snapshot pins pages raftd could reuse: free them. */
		int dead;

		mdb_reader_check(env, &dead);
	}
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, KVSTORE_T_KV, 0, &db->kv)) != 0 ||
	    (rc = mdb_dbi_open(txn, KVSTORE_T_TOMBSTONES, 0,
	        &db->tombstones)) != 0 ||
	    (rc = mdb_dbi_open(txn, KVSTORE_T_META, 0, &db->meta)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	/* Committing keeps the handles for the env's later txns. */
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	*envp = env;
	return 0;
fail:
	mdb_env_close(env);
	return rc;
}
