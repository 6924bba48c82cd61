/*
 * session.c: the sessions table and session invalidation.
 *
 * Row value (integers little endian, strings u32 length + bytes, no NUL):
 *
 *   create_index u64 | modify_index u64 | lock_delay_ns u64 | behavior u8 |
 *   name str | node str | ttl str ("" = none, else the text given, "15s") |
 *   n u32 | node_checks str * n | m u32 | service_checks str * m
 *
 * Invalidation (destroy, TTL expiry, later a critical check) follows
 * Consul's deleteSessionTxn: every key the session holds (session_keys) is
 * released (Session cleared, ModifyIndex bumped, LockIndex kept) or, with
 * Behavior delete, deleted; each such key gets a lock-delay until
 * now + LockDelay, with now taken from the command so replay agrees.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct wbuf {
	uint8_t *p;
	size_t   len, cap;
};

static int
w_put(struct wbuf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		while (nc < b->len + n)
			nc *= 2;
		uint8_t *np = realloc(b->p, nc);
		if (np == NULL)
			return ENOMEM;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static int
w_u64(struct wbuf *b, uint64_t v)
{
	uint8_t x[8];
	kvstore_put64(x, v);
	return w_put(b, x, 8);
}

static int
w_u32(struct wbuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	return w_put(b, x, 4);
}

static int
w_str(struct wbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int rc = w_u32(b, (uint32_t)n);
	return rc ? rc : w_put(b, s ? s : "", n);
}

int
session_encode(const struct store_session *ss, uint8_t **buf, size_t *len)
{
	struct wbuf b = { 0 };
	uint8_t beh = (uint8_t)ss->behavior;
	int rc;

	if ((rc = w_u64(&b, ss->create_index)) || (rc = w_u64(&b, ss->modify_index)) ||
	    (rc = w_u64(&b, ss->lock_delay_ns)) || (rc = w_put(&b, &beh, 1)) ||
	    (rc = w_str(&b, ss->name)) || (rc = w_str(&b, ss->node)) || (rc = w_str(&b, ss->ttl)) ||
	    (rc = w_u32(&b, (uint32_t)ss->n_node_checks)))
		goto fail;
	for (size_t i = 0; i < ss->n_node_checks; i++)
		if ((rc = w_str(&b, ss->node_checks[i])))
			goto fail;
	if ((rc = w_u32(&b, (uint32_t)ss->n_service_checks)))
		goto fail;
	for (size_t i = 0; i < ss->n_service_checks; i++)
		if ((rc = w_str(&b, ss->service_checks[i])))
			goto fail;
	*buf = b.p;
	*len = b.len;
	return 0;
fail:
	free(b.p);
	return rc;
}

struct rbuf {
	const uint8_t *p;
	size_t         len, off;
};

static int
r_u32(struct rbuf *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return EINVAL;
	const uint8_t *p = r->p + r->off;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	r->off += 4;
	return 0;
}

static int
r_u64(struct rbuf *r, uint64_t *v)
{
	if (r->len - r->off < 8)
		return EINVAL;
	*v = kvstore_get64(r->p + r->off);
	r->off += 8;
	return 0;
}

static int
r_str(struct rbuf *r, char **out)
{
	uint32_t n;
	if (r_u32(r, &n) || r->len - r->off < n)
		return EINVAL;
	if ((*out = strndup((const char *)r->p + r->off, n)) == NULL)
		return ENOMEM;
	r->off += n;
	return 0;
}

static int
r_strs(struct rbuf *r, char ***out, size_t *n)
{
	uint32_t cnt;
	if (r_u32(r, &cnt) || cnt > (r->len - r->off) / 4)
		return EINVAL;
	*out = calloc(cnt + 1, sizeof(char *));
	if (*out == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < cnt; i++) {
		int rc = r_str(r, &(*out)[i]);
		if (rc)
			return rc;
		*n = i + 1;
	}
	return 0;
}

void
session_row_free(struct store_session *ss)
{
	free(ss->name);
	free(ss->node);
	free(ss->ttl);
	for (size_t i = 0; i < ss->n_node_checks; i++)
		free(ss->node_checks[i]);
	free(ss->node_checks);
	for (size_t i = 0; i < ss->n_service_checks; i++)
		free(ss->service_checks[i]);
	free(ss->service_checks);
	memset(ss, 0, sizeof(*ss));
}

int
session_decode(const uint8_t *buf, size_t len, struct store_session *ss)
{
	struct rbuf r = { buf, len, 0 };
	int rc;

	memset(ss->id + STORE_SESSION_LEN, 0, 1);
	ss->name = ss->node = ss->ttl = NULL;
	ss->node_checks = ss->service_checks = NULL;
	ss->n_node_checks = ss->n_service_checks = 0;
	if ((rc = r_u64(&r, &ss->create_index)) || (rc = r_u64(&r, &ss->modify_index)) ||
	    (rc = r_u64(&r, &ss->lock_delay_ns)))
		goto fail;
	if (r.len - r.off < 1) {
		rc = EINVAL;
		goto fail;
	}
	ss->behavior = r.p[r.off++];
	if ((rc = r_str(&r, &ss->name)) || (rc = r_str(&r, &ss->node)) || (rc = r_str(&r, &ss->ttl)) ||
	    (rc = r_strs(&r, &ss->node_checks, &ss->n_node_checks)) ||
	    (rc = r_strs(&r, &ss->service_checks, &ss->n_service_checks)))
		goto fail;
	if (r.off != r.len) {
		rc = EINVAL;
		goto fail;
	}
	return 0;
fail:
	session_row_free(ss);
	return rc;
}

int
session_get(struct store_txn *t, const char *id, struct store_session *out)
{
	MDB_val k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (id == NULL || strlen(id) != STORE_SESSION_LEN)
		return MDB_NOTFOUND;
	k.mv_size = STORE_SESSION_LEN;
	k.mv_data = (void *)(uintptr_t)id;
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_T_SESSIONS], &k, &v)) != 0)
		return rc;
	memcpy(out->id, id, STORE_SESSION_LEN);
	return session_decode(v.mv_data, v.mv_size, out);
}

int
session_put(struct store_txn *t, const struct store_session *ss)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = session_encode(ss, &buf, &len)) != 0)
		return rc;
	rc = store_put_raw(t, STORE_T_SESSIONS, ss->id, STORE_SESSION_LEN, buf, len);
	free(buf);
	if (rc == 0)
		rc = store_note_change(t, STORE_T_SESSIONS, ss->id, STORE_SESSION_LEN, false);
	return rc;
}

int
session_destroy(struct store_txn *t, const char *id, uint64_t now_ms)
{
	struct store_session ss;
	MDB_cursor *cur;
	MDB_val k, v;
	char key[512];
	size_t klen;
	int rc;

	rc = session_get(t, id, &ss);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return -rc;
	if ((rc = store_del_raw(t, STORE_T_SESSIONS, id, STORE_SESSION_LEN)) != 0 ||
	    (rc = store_note_change(t, STORE_T_SESSIONS, id, STORE_SESSION_LEN, false)) != 0)
		goto out;

	/* Take held keys one at a time from the front: each step deletes the
	 * session_keys row it found, so no cursor survives a write. */
	for (;;) {
		struct store_kv row;
		k.mv_size = STORE_SESSION_LEN;
		k.mv_data = (void *)(uintptr_t)id;
		if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_T_SESSION_KEYS], &cur)) != 0)
			goto out;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && (k.mv_size <= STORE_SESSION_LEN || memcmp(k.mv_data, id, STORE_SESSION_LEN) != 0))
			rc = MDB_NOTFOUND;
		if (rc == 0) {
			klen = k.mv_size - STORE_SESSION_LEN;
			memcpy(key, (const char *)k.mv_data + STORE_SESSION_LEN, klen);
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0)
			goto out;
		if (kvs_get(t, key, klen, &row) == 0 && row.session != NULL &&
		    memcmp(row.session, id, STORE_SESSION_LEN) == 0) {
			if (ss.behavior == STORE_BEHAVIOR_DELETE) {
				rc = kvs_delete(t, key, klen);
				rc = rc < 0 ? -rc : 0;
			} else {
				/* The row's value points into the map; copy before writing. */
				uint8_t *val = malloc(row.value_len ? row.value_len : 1);
				if (val == NULL) {
					rc = ENOMEM;
					goto out;
				}
				memcpy(val, row.value, row.value_len);
				size_t vlen = row.value_len;
				uint64_t flags = row.flags;
				const char *why;
				rc = kvs_unlock(t, key, klen, val, vlen, flags, id, &why);
				free(val);
				rc = rc < 0 ? -rc : 0;
			}
			if (rc != 0)
				goto out;
			if (ss.lock_delay_ns > 0) {
				uint8_t b[8];
				kvstore_put64(b, now_ms + ss.lock_delay_ns / 1000000);
				if ((rc = store_put_raw(t, STORE_T_LOCKDELAY, key, klen, b, 8)) != 0)
					goto out;
			}
		}
		/* kvs_unlock/kvs_delete drop the session_keys row; be sure. */
		char sk[512];
		memcpy(sk, id, STORE_SESSION_LEN);
		memcpy(sk + STORE_SESSION_LEN, key, klen);
		rc = store_del_raw(t, STORE_T_SESSION_KEYS, sk, STORE_SESSION_LEN + klen);
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto out;
		rc = 0;
	}
out:
	session_row_free(&ss);
	return rc ? -rc : 1;
}

int
session_scan(struct store_txn *t, int (*cb)(void *arg, const struct store_session *ss), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct store_session ss;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_T_SESSIONS], &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != STORE_SESSION_LEN)
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(ss.id, k.mv_data, STORE_SESSION_LEN);
		if ((rc = session_decode(v.mv_data, v.mv_size, &ss)) != 0)
			break;
		int stop = cb(arg, &ss);
		session_row_free(&ss);
		if (stop)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}
