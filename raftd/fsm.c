/*
 * fsm.c: the commands raftd writes into the Raft log, and their application
 * to the store.
 *
 * A command is one msgpack array (the entry framing around it, with its
 * 8-byte padding, belongs to consensus.c):
 *
 *   [FSM_NOOP, now_ms]
 *   [FSM_KVS, now_ms, single, [op, ...]]
 *        op = [verb, key, value (bin or nil), flags, index, session (str or nil)]
 *        single = true: the KV endpoint (one op; a refused cas/lock is the
 *        answer `false`); false: /v1/txn (all ops or none, 409 with Errors)
 *   [FSM_KV_BATCH, now_ms, [op, ...]]
 *        KV endpoint writes that httpd sent together (raft.kv_batch): each
 *        op runs as a `single` FSM_KVS would, in order, with its own result
 *        (fsm_result.ops); one op's refusal or error leaves the others be.
 *        A refused or failed op writes nothing (kvs.c checks before it
 *        writes), so the entry needs no per-op rollback; only a failure of
 *        the store itself fails the whole entry, as for any command.
 *   [FSM_SESSION_CREATE, now_ms, id, name, node, lock_delay_ns, behavior,
 *        ttl, [node_check, ...], [service_check, ...]]
 *   [FSM_SESSION_DESTROY, now_ms, id]
 *   [FSM_CATALOG_REGISTER, now_ms, json]  [FSM_CATALOG_DEREGISTER, now_ms, json]
 *        json = the canonical request catalog.c made of the HTTP body
 *   [FSM_REQUEST, now_ms, req, command]
 *        any command above (not another FSM_REQUEST) proposed for the bus
 *        call whose request id is req (> 0); see "Request ids" below
 *
 * Everything that depends on time or chance is decided by the leader and
 * written into the command: now_ms (lock-delay), the session id, which
 * sessions expired.  Apply is then a pure function of (store, command), so
 * every server and every replay reaches the same state.
 *
 * Apply runs one LMDB write txn per entry and records the entry's index as
 * "applied" in it.  libraft replays its log (and restores its snapshot) at
 * every start although LMDB kept the state: entries at or below "applied"
 * are skipped, and so is a snapshot that is not newer than the store.
 *
 * Request ids.  nng's req socket resends a pending call when raftd comes
 * back after a restart, with the same id; raftd's in-memory memory of ids
 * (bus_req_once) died with it, so a write that was applied but not yet
 * answered would be applied twice (a second session, a cas that now fails).
 * So every write proposed for a bus call carries the call's id
 * (FSM_REQUEST), and apply records the id with the entry's result in the
 * `requests` table, in the entry's own LMDB txn: the record exists exactly
 * when the write does.  An entry whose id is already recorded changes
 * nothing and answers the recorded result (fsm_result.dup), on every
 * server alike; and server.c looks the id up before proposing, so a resent
 * call is answered without a Raft round.  Records are
 *
 *   key u64 id | value u64 index | [status, ok, error, json, [[status,
 *   ok, error, json], ...]] (msgpack; error/json str or nil; the list
 *   holds an FSM_KV_BATCH's per-op results)
 *
 * and are forgotten FSM_REQ_KEEP entries later: every FSM_REQ_PRUNE-th
 * index, apply drops the records older than that (a function of the index
 * alone, so every server drops the same).  A call is resent within
 * seconds of a restart or not at all (httpd gives up after 7 s).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "raftd.h"

#define FSM_REQ_KEEP  65536
#define FSM_REQ_PRUNE 4096

static const char *fsm_verbs[KV_NVERBS] = {
	[KV_SET] = "set", [KV_CAS] = "cas", [KV_LOCK] = "lock", [KV_UNLOCK] = "unlock",
	[KV_GET] = "get", [KV_GET_OR_EMPTY] = "get-or-empty", [KV_GET_TREE] = "get-tree",
	[KV_CHECK_INDEX] = "check-index", [KV_CHECK_SESSION] = "check-session",
	[KV_CHECK_NOT_EXISTS] = "check-not-exists", [KV_DELETE] = "delete",
	[KV_DELETE_TREE] = "delete-tree", [KV_DELETE_CAS] = "delete-cas",
};

const char *
fsm_verb_name(int verb)
{
	return verb >= 0 && verb < KV_NVERBS ? fsm_verbs[verb] : "?";
}

int
fsm_verb_parse(const char *s)
{
	for (int i = 0; i < KV_NVERBS; i++)
		if (strcmp(s, fsm_verbs[i]) == 0)
			return i;
	return -1;
}

void
fsm_init(struct fsm *f, struct store *s, fsm_changes_cb cb, void *arg)
{
	memset(f, 0, sizeof(*f));
	f->store = s;
	f->on_changes = cb;
	f->arg = arg;
}

static void
fsm_result_reset(struct fsm_result *r)
{
	for (size_t i = 0; i < r->nops; i++)
		fsm_result_reset(&r->ops[i]);
	free(r->ops);
	free(r->error);
	free(r->json);
	memset(r, 0, sizeof(*r));
}

void
fsm_fini(struct fsm *f)
{
	fsm_result_reset(&f->result);
}

void
fsm_result_free(struct fsm_result *res)
{
	fsm_result_reset(res);
}

/* --- codec ----------------------------------------------------------------- */

static void
pk_str(msgpack_packer *pk, const char *s)
{
	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pk_strs(msgpack_packer *pk, char **v, size_t n)
{
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		pk_str(pk, v[i]);
}

static void
pk_ops(msgpack_packer *pk, const struct fsm_cmd *cmd)
{
	msgpack_pack_array(pk, cmd->nops);
	for (size_t i = 0; i < cmd->nops; i++) {
		const struct fsm_kvop *op = &cmd->ops[i];
		msgpack_pack_array(pk, 6);
		msgpack_pack_int(pk, op->verb);
		pk_str(pk, op->key ? op->key : "");
		if (op->value == NULL) {
			msgpack_pack_nil(pk);
		} else {
			msgpack_pack_bin(pk, op->value_len);
			msgpack_pack_bin_body(pk, op->value, op->value_len);
		}
		msgpack_pack_uint64(pk, op->flags);
		msgpack_pack_uint64(pk, op->index);
		pk_str(pk, op->session);
	}
}

int
fsm_encode(const struct fsm_cmd *cmd, uint8_t **buf, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (cmd->req != 0) {
		msgpack_pack_array(&pk, 4);
		msgpack_pack_int(&pk, FSM_REQUEST);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		msgpack_pack_uint64(&pk, cmd->req);
	}
	switch (cmd->type) {
	case FSM_NOOP:
		msgpack_pack_array(&pk, 2);
		msgpack_pack_int(&pk, cmd->type);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		break;
	case FSM_KVS:
		msgpack_pack_array(&pk, 4);
		msgpack_pack_int(&pk, cmd->type);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		if (cmd->single)
			msgpack_pack_true(&pk);
		else
			msgpack_pack_false(&pk);
		pk_ops(&pk, cmd);
		break;
	case FSM_KV_BATCH:
		msgpack_pack_array(&pk, 3);
		msgpack_pack_int(&pk, cmd->type);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		pk_ops(&pk, cmd);
		break;
	case FSM_SESSION_CREATE:
		msgpack_pack_array(&pk, 10);
		msgpack_pack_int(&pk, cmd->type);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		pk_str(&pk, cmd->sess.id);
		pk_str(&pk, cmd->sess.name ? cmd->sess.name : "");
		pk_str(&pk, cmd->sess.node ? cmd->sess.node : "");
		msgpack_pack_uint64(&pk, cmd->sess.lock_delay_ns);
		msgpack_pack_int(&pk, cmd->sess.behavior);
		pk_str(&pk, cmd->sess.ttl ? cmd->sess.ttl : "");
		pk_strs(&pk, cmd->sess.node_checks, cmd->sess.n_node_checks);
		pk_strs(&pk, cmd->sess.service_checks, cmd->sess.n_service_checks);
		break;
	case FSM_SESSION_DESTROY:
		msgpack_pack_array(&pk, 3);
		msgpack_pack_int(&pk, cmd->type);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		pk_str(&pk, cmd->sess.id);
		break;
	case FSM_CATALOG_REGISTER:
	case FSM_CATALOG_DEREGISTER:
		msgpack_pack_array(&pk, 3);
		msgpack_pack_int(&pk, cmd->type);
		msgpack_pack_uint64(&pk, cmd->now_ms);
		pk_str(&pk, cmd->body ? cmd->body : "{}");
		break;
	default:
		msgpack_sbuffer_destroy(&sb);
		return EINVAL;
	}
	*buf = (uint8_t *)sb.data;
	*len = sb.size;
	return 0;
}

static int
up_u64(const msgpack_object *o, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return EINVAL;
	*v = o->via.u64;
	return 0;
}

static int
up_int(const msgpack_object *o, int *v)
{
	uint64_t u;
	if (up_u64(o, &u) || u > 1000)
		return EINVAL;
	*v = (int)u;
	return 0;
}

/* str or nil (nil_ok) into a malloc'd string. */
static int
up_str(const msgpack_object *o, char **out, bool nil_ok)
{
	if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
		*out = NULL;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_STR)
		return EINVAL;
	if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return EINVAL;
	*out = strndup(o->via.str.ptr, o->via.str.size);
	return *out ? 0 : ENOMEM;
}

static int
up_strs(const msgpack_object *o, char ***out, size_t *n)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return EINVAL;
	*out = calloc(o->via.array.size + 1, sizeof(char *));
	if (*out == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		int rc = up_str(&o->via.array.ptr[i], &(*out)[i], false);
		if (rc)
			return rc;
		*n = i + 1;
	}
	return 0;
}

void
fsm_cmd_free(struct fsm_cmd *cmd)
{
	for (size_t i = 0; i < cmd->nops; i++) {
		free(cmd->ops[i].key);
		free(cmd->ops[i].value);
		free(cmd->ops[i].session);
	}
	free(cmd->ops);
	free(cmd->body);
	session_row_free(&cmd->sess);
	memset(cmd, 0, sizeof(*cmd));
}

/* The [op, ...] array of FSM_KVS and FSM_KV_BATCH. */
static int
up_ops(const msgpack_object *ops, struct fsm_cmd *cmd)
{
	int rc;

	if (ops->type != MSGPACK_OBJECT_ARRAY)
		return EINVAL;
	cmd->ops = calloc(ops->via.array.size + 1, sizeof(*cmd->ops));
	if (cmd->ops == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < ops->via.array.size; i++) {
		const msgpack_object *o = &ops->via.array.ptr[i];
		struct fsm_kvop *op = &cmd->ops[i];
		cmd->nops = i + 1;
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6)
			return EINVAL;
		const msgpack_object *f = o->via.array.ptr;
		if ((rc = up_int(&f[0], &op->verb)) || op->verb >= KV_NVERBS ||
		    (rc = up_str(&f[1], &op->key, false)))
			return rc ? rc : EINVAL;
		if (f[2].type == MSGPACK_OBJECT_BIN) {
			op->value_len = f[2].via.bin.size;
			op->value = malloc(op->value_len ? op->value_len : 1);
			if (op->value == NULL)
				return ENOMEM;
			memcpy(op->value, f[2].via.bin.ptr, op->value_len);
		} else if (f[2].type != MSGPACK_OBJECT_NIL) {
			return EINVAL;
		}
		if ((rc = up_u64(&f[3], &op->flags)) || (rc = up_u64(&f[4], &op->index)) ||
		    (rc = up_str(&f[5], &op->session, true)))
			return rc;
	}
	return 0;
}

static int
fsm_decode_obj(const msgpack_object *root, struct fsm_cmd *cmd)
{
	const msgpack_object *a;
	uint32_t n;
	char *id = NULL;
	int rc;

	if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
		return EINVAL;
	a = root->via.array.ptr;
	n = root->via.array.size;
	if ((rc = up_int(&a[0], &cmd->type)) || (rc = up_u64(&a[1], &cmd->now_ms)))
		return rc;
	switch (cmd->type) {
	case FSM_REQUEST: {
		uint64_t req;
		if (n != 4 || (rc = up_u64(&a[2], &req)) || req == 0 ||
		    a[3].type != MSGPACK_OBJECT_ARRAY || a[3].via.array.size < 1 ||
		    a[3].via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    a[3].via.array.ptr[0].via.u64 == FSM_REQUEST)
			return rc ? rc : EINVAL;
		if ((rc = fsm_decode_obj(&a[3], cmd)) != 0)
			return rc;
		cmd->req = req;
		return 0;
	}
	case FSM_NOOP:
		return n == 2 ? 0 : EINVAL;
	case FSM_KVS:
		if (n != 4 || a[2].type != MSGPACK_OBJECT_BOOLEAN)
			return EINVAL;
		cmd->single = a[2].via.boolean;
		return up_ops(&a[3], cmd);
	case FSM_KV_BATCH:
		if (n != 3)
			return EINVAL;
		return up_ops(&a[2], cmd);
	case FSM_SESSION_CREATE:
		if (n != 10)
			return EINVAL;
		if ((rc = up_str(&a[2], &id, false)))
			return rc;
		if (strlen(id) != STORE_SESSION_LEN) {
			free(id);
			return EINVAL;
		}
		memcpy(cmd->sess.id, id, STORE_SESSION_LEN + 1);
		free(id);
		if ((rc = up_str(&a[3], &cmd->sess.name, false)) ||
		    (rc = up_str(&a[4], &cmd->sess.node, false)) ||
		    (rc = up_u64(&a[5], &cmd->sess.lock_delay_ns)) ||
		    (rc = up_int(&a[6], &cmd->sess.behavior)) ||
		    (rc = up_str(&a[7], &cmd->sess.ttl, false)) ||
		    (rc = up_strs(&a[8], &cmd->sess.node_checks, &cmd->sess.n_node_checks)) ||
		    (rc = up_strs(&a[9], &cmd->sess.service_checks, &cmd->sess.n_service_checks)))
			return rc;
		return 0;
	case FSM_SESSION_DESTROY:
		if (n != 3)
			return EINVAL;
		if ((rc = up_str(&a[2], &id, false)))
			return rc;
		if (strlen(id) > STORE_SESSION_LEN) {
			free(id);
			return EINVAL;
		}
		strcpy(cmd->sess.id, id);
		free(id);
		return 0;
	case FSM_CATALOG_REGISTER:
	case FSM_CATALOG_DEREGISTER:
		if (n != 3)
			return EINVAL;
		return up_str(&a[2], &cmd->body, false);
	default:
		return EINVAL;
	}
}

/*
 * msgpack-c allocates a container's declared size before reading it, so a
 * 5-byte array header can ask for gigabytes.  Walk the bytes first: every
 * declared element needs at least one byte of what is left.
 */
static int
fsm_mp_check(const uint8_t *p, size_t len)
{
	size_t off = 0, pending = 1;

	while (pending > 0) {
		size_t skip = 0, items = 0, lenbytes = 0;
		uint8_t b;

		if (off >= len)
			return EINVAL;
		b = p[off++];
		pending--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			continue;
		if (b >= 0x80 && b <= 0x8f)
			items = 2 * (size_t)(b & 0x0f);
		else if (b >= 0x90 && b <= 0x9f)
			items = b & 0x0f;
		else if (b >= 0xa0 && b <= 0xbf)
			skip = b & 0x1f;
		else {
			switch (b) {
			case 0xc4: case 0xd9: lenbytes = 1; break;
			case 0xc5: case 0xda: lenbytes = 2; break;
			case 0xc6: case 0xdb: lenbytes = 4; break;
			case 0xc7: lenbytes = 1; skip = 1; break;
			case 0xc8: lenbytes = 2; skip = 1; break;
			case 0xc9: lenbytes = 4; skip = 1; break;
			case 0xca: case 0xce: case 0xd2: skip = 4; break;
			case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xde: lenbytes = 2; break;
			case 0xdd: case 0xdf: lenbytes = 4; break;
			default: return EINVAL; /* 0xc1 */
			}
		}
		if (lenbytes > 0) {
			size_t n = 0;
			if (len - off < lenbytes)
				return EINVAL;
			for (size_t i = 0; i < lenbytes; i++)
				n = n << 8 | p[off + i];
			off += lenbytes;
			if (b == 0xdc || b == 0xdd)
				items = n;
			else if (b == 0xde || b == 0xdf)
				items = 2 * n;
			else
				skip += n;
		}
		if (items > len - off || skip > len - off)
			return EINVAL;
		off += skip;
		pending += items;
	}
	return off == len ? 0 : EINVAL;
}

int
fsm_decode(const uint8_t *buf, size_t len, struct fsm_cmd *cmd)
{
	msgpack_unpacked up;
	size_t off = 0;
	int rc;

	memset(cmd, 0, sizeof(*cmd));
	if (fsm_mp_check(buf, len) != 0)
		return EINVAL;
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
		rc = EINVAL;
	else
		rc = fsm_decode_obj(&up.data, cmd);
	msgpack_unpacked_destroy(&up);
	if (rc != 0)
		fsm_cmd_free(cmd);
	return rc;
}

/* --- request ids ------------------------------------------------------------ */

static void
pk_result(msgpack_packer *pk, const struct fsm_result *r)
{
	msgpack_pack_uint64(pk, (uint64_t)r->status);
	if (r->ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	pk_str(pk, r->error);
	pk_str(pk, r->json);
}

static int
up_result(const msgpack_object *o, struct fsm_result *r, uint64_t index)
{
	const msgpack_object *f = o->via.array.ptr;
	int status, rc;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4 ||
	    f[1].type != MSGPACK_OBJECT_BOOLEAN)
		return EINVAL;
	if ((rc = up_int(&f[0], &status)) || (rc = up_str(&f[2], &r->error, true)) ||
	    (rc = up_str(&f[3], &r->json, true)))
		return rc;
	r->status = status;
	r->ok = f[1].via.boolean;
	r->index = index;
	return 0;
}

/* A record: u64 index | [status, ok, error, json, [[status, ok, error, json], ...]]. */
static int
fsm_req_decode(const uint8_t *buf, size_t len, struct fsm_result *res)
{
	msgpack_unpacked up;
	const msgpack_object *a;
	size_t off = 0;
	uint64_t index;
	int rc = EINVAL;

	memset(res, 0, sizeof(*res));
	if (len < 8 || fsm_mp_check(buf + 8, len - 8) != 0)
		return EINVAL;
	index = kvstore_get64(buf);
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, (const char *)buf + 8, len - 8, &off) != MSGPACK_UNPACK_SUCCESS ||
	    up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size != 5)
		goto out;
	a = up.data.via.array.ptr;
	if (a[4].type != MSGPACK_OBJECT_ARRAY)
		goto out;
	{
		/* The first four fields are a result of their own. */
		msgpack_object head = { .type = MSGPACK_OBJECT_ARRAY,
			.via.array = { .size = 4, .ptr = (msgpack_object *)(uintptr_t)a } };
		if ((rc = up_result(&head, res, index)) != 0)
			goto out;
	}
	if (a[4].via.array.size > 0) {
		res->ops = calloc(a[4].via.array.size, sizeof(*res->ops));
		if (res->ops == NULL) {
			rc = ENOMEM;
			goto out;
		}
		res->nops = a[4].via.array.size;
		for (size_t i = 0; i < res->nops; i++)
			if ((rc = up_result(&a[4].via.array.ptr[i], &res->ops[i], index)) != 0)
				goto out;
	}
	res->dup = true;
	rc = 0;
out:
	msgpack_unpacked_destroy(&up);
	if (rc != 0)
		fsm_result_reset(res);
	return rc;
}

/* The recorded result of request req into *res (0), or MDB_NOTFOUND. */
static int
fsm_req_get(struct store_txn *t, uint64_t req, struct fsm_result *res)
{
	uint8_t key[8];
	MDB_val k = { sizeof(key), key }, v;
	int rc;

	kvstore_put64(key, req);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_T_REQUESTS], &k, &v)) != 0)
		return rc;
	return fsm_req_decode(v.mv_data, v.mv_size, res);
}

static int
fsm_req_put(struct store_txn *t, uint64_t req, const struct fsm_result *res)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t key[8], index[8];
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kvstore_put64(index, t->index);
	msgpack_sbuffer_write(&sb, (const char *)index, sizeof(index));
	msgpack_pack_array(&pk, 5);
	pk_result(&pk, res);
	msgpack_pack_array(&pk, res->nops);
	for (size_t i = 0; i < res->nops; i++) {
		msgpack_pack_array(&pk, 4);
		pk_result(&pk, &res->ops[i]);
	}
	kvstore_put64(key, req);
	rc = sb.data == NULL ? ENOMEM :
	    store_put_raw(t, STORE_T_REQUESTS, key, sizeof(key), sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Drops the records of entries more than FSM_REQ_KEEP before t's. */
static int
fsm_req_prune(struct store_txn *t)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (t->index <= FSM_REQ_KEEP)
		return 0;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_T_REQUESTS], &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((v.mv_size < 8 || kvstore_get64(v.mv_data) + FSM_REQ_KEEP < t->index) &&
		    (rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int
fsm_request_result(struct store *s, uint64_t req, struct fsm_result *res)
{
	struct store_txn t;
	int rc;

	memset(res, 0, sizeof(*res));
	if (req == 0)
		return MDB_NOTFOUND;
	if ((rc = store_begin(s, &t, false, 0)) != 0)
		return rc;
	rc = fsm_req_get(&t, req, res);
	store_txn_free(&t);
	return rc;
}

/* --- apply ----------------------------------------------------------------- */

/* FSM_KV_BATCH: each op as the KV endpoint's lone op, each its own result. */
static int
fsm_apply_batch(struct store_txn *t, const struct fsm_cmd *cmd, struct fsm_result *res)
{
	int rc;

	if (cmd->nops == 0)
		return 0;
	if ((res->ops = calloc(cmd->nops, sizeof(*res->ops))) == NULL)
		return ENOMEM;
	res->nops = cmd->nops;
	for (size_t i = 0; i < cmd->nops; i++) {
		struct fsm_cmd one = { .type = FSM_KVS, .now_ms = cmd->now_ms, .single = true,
			.ops = &cmd->ops[i], .nops = 1 };

		res->ops[i].index = t->index;
		if ((rc = txn_run(t, &one, &res->ops[i])) != 0)
			return rc;
	}
	return 0;
}

static int
fsm_apply_cmd(struct store_txn *t, const struct fsm_cmd *cmd, struct fsm_result *res)
{
	struct store_session old;
	int rc;

	switch (cmd->type) {
	case FSM_NOOP:
		return 0;
	case FSM_KVS:
		return txn_run(t, cmd, res);
	case FSM_KV_BATCH:
		return fsm_apply_batch(t, cmd, res);
	case FSM_SESSION_CREATE:
		if (session_get(t, cmd->sess.id, &old) == 0) {
			session_row_free(&old);
			res->status = 500;
			res->error = strdup("session ID already exists");
			return 0;
		}
		{
			struct store_session ss = cmd->sess;
			ss.create_index = ss.modify_index = t->index;
			if ((rc = session_put(t, &ss)) != 0)
				return rc;
		}
		/* The answer names the id, so a resent create gets the same one. */
		if (asprintf(&res->json, "{\"ID\":\"%s\"}", cmd->sess.id) < 0) {
			res->json = NULL;
			return ENOMEM;
		}
		res->ok = true;
		return 0;
	case FSM_SESSION_DESTROY:
		rc = session_destroy(t, cmd->sess.id, cmd->now_ms);
		if (rc < 0)
			return -rc;
		res->ok = true;
		return 0;
	case FSM_CATALOG_REGISTER:
	case FSM_CATALOG_DEREGISTER:
		return catalog_apply(t, cmd, res);
	}
	return EINVAL;
}

int
fsm_apply(struct fsm *f, uint64_t index, const uint8_t *buf, size_t len)
{
	struct fsm_result *res = &f->result;
	struct store_txn t;
	struct fsm_cmd cmd;
	int rc;

	fsm_result_reset(res);
	res->index = index;
	res->status = 200;
	if (index <= f->store->applied) {
		res->skipped = true;
		f->skipped++;
		return 0;
	}
	rc = fsm_decode(buf, len, &cmd);
	if (rc != 0) {
		/* Never fail the log on a command we cannot read: every server
		 * skips it alike and the index still advances. */
		res->status = 500;
		res->error = strdup("undecodable command");
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = FSM_NOOP;
	}
	if ((rc = store_begin(f->store, &t, true, index)) != 0)
		goto out;
	if (cmd.req != 0 && (rc = fsm_req_get(&t, cmd.req, res)) != MDB_NOTFOUND) {
		if (rc != 0) {
			store_txn_free(&t);
			goto out;
		}
		/* Applied before (a call resent after a restart): change nothing,
		 * answer what it answered then. */
		f->dups++;
		goto commit;
	}
	rc = fsm_apply_cmd(&t, &cmd, res);
	if (rc == 0 && res->status != 200) {
		/* Rolled back (txn errors): keep nothing but the index. */
		store_txn_free(&t);
		if ((rc = store_begin(f->store, &t, true, index)) != 0)
			goto out;
	} else if (rc != 0) {
		store_txn_free(&t);
		goto out;
	}
	if ((cmd.req != 0 && (rc = fsm_req_put(&t, cmd.req, res)) != 0) ||
	    (index % FSM_REQ_PRUNE == 0 && (rc = fsm_req_prune(&t)) != 0)) {
		store_txn_free(&t);
		goto out;
	}
commit:
	if ((rc = store_commit(&t)) != 0) {
		store_txn_free(&t);
		goto out;
	}
	f->applied++;
	if (f->on_changes != NULL)
		f->on_changes(f->arg, index, &t);
	store_txn_free(&t);
out:
	fsm_cmd_free(&cmd);
	return rc;
}

int
fsm_snapshot(struct fsm *f, uint8_t **buf, size_t *len)
{
	return store_snapshot(f->store, buf, len);
}

int
fsm_restore(struct fsm *f, const uint8_t *buf, size_t len)
{
	uint64_t applied;
	int rc;

	if ((rc = store_snapshot_applied(buf, len, &applied)) != 0)
		return rc;
	if (applied <= f->store->applied && f->store->applied > 0) {
		f->restores_skipped++;
		return 0;
	}
	if ((rc = store_restore(f->store, buf, len)) != 0)
		return rc;
	f->restores++;
	if (f->on_changes != NULL) {
		/* Everything may have changed: one prefix event per table. */
		struct store_txn t;
		memset(&t, 0, sizeof(t));
		t.s = f->store;
		store_note_change(&t, STORE_T_KV, "", 0, true);
		store_note_change(&t, STORE_T_SESSIONS, "", 0, true);
		store_note_change(&t, STORE_T_NODES, "", 0, true);
		store_note_change(&t, STORE_T_SERVICES, "", 0, true);
		store_note_change(&t, STORE_T_CHECKS, "", 0, true);
		f->on_changes(f->arg, applied, &t);
		store_txn_free(&t);
	}
	return 0;
}
