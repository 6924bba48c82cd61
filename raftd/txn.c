/*
 * txn.c: KV operations as Consul runs them (agent/consul/state/txn.go):
 * every op of a command runs in the one LMDB txn of its Raft entry; all
 * errors are collected, and any error rolls the whole txn back (409 with
 * Errors[{OpIndex,What}]).  The KV endpoint's single op uses the same code
 * with Consul's endpoint semantics: a refused cas/lock is `false`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include <jansson.h>

#include "b64.h"
#include "config.h"
#include "raftd.h"

struct txn_ctx {
	struct jbuf results, errors;
	size_t      nresults, nerrors;
	char       *first; /* the first error's text */
};

static void
txn_error(struct txn_ctx *c, size_t opi, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
txn_error(struct txn_ctx *c, size_t opi, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->first == NULL)
		c->first = strdup(msg);
	jb_lit(&c->errors, c->nerrors++ ? ",{\"OpIndex\":" : "{\"OpIndex\":");
	jb_u64(&c->errors, opi);
	jb_lit(&c->errors, ",\"What\":");
	jb_str(&c->errors, msg);
	jb_lit(&c->errors, "}");
}

static void
txn_result(struct txn_ctx *c, const struct store_kv *row, bool with_value)
{
	jb_lit(&c->results, c->nresults++ ? ",{\"KV\":" : "{\"KV\":");
	kvstore_json_row(&c->results, row, with_value);
	jb_lit(&c->results, "}");
}

static int
txn_result_cb(void *arg, const struct store_kv *row)
{
	txn_result(arg, row, true);
	return 0;
}

/* Go's %q for the keys in error texts. */
static const char *
q(char *buf, size_t n, const char *s)
{
	struct jbuf b = { 0 };
	jb_str(&b, s);
	snprintf(buf, n, "%s", b.p ? b.p : "\"\"");
	jb_free(&b);
	return buf;
}

int
txn_run(struct store_txn *t, const struct fsm_cmd *cmd, struct fsm_result *res)
{
	struct txn_ctx c;
	struct store_kv row;
	char qk[600], qs[80];
	int rc = 0;

	memset(&c, 0, sizeof(c));
	res->status = 200;
	for (size_t i = 0; i < cmd->nops; i++) {
		const struct fsm_kvop *op = &cmd->ops[i];
		const char *key = op->key ? op->key : "";
		size_t klen = strlen(key);
		const char *why = NULL;
		int r = 1;
		bool show = false;

		switch (op->verb) {
		case KV_SET:
			r = kvs_set(t, key, klen, op->value, op->value_len, op->flags, NULL, true);
			r = r ? -r : 1;
			show = true;
			break;
		case KV_CAS:
			r = kvs_set_cas(t, key, klen, op->value, op->value_len, op->flags, op->index);
			if (r == 0 && !cmd->single)
				txn_error(&c, i, "failed to set key %s, index is stale", q(qk, sizeof(qk), key));
			show = true;
			break;
		case KV_LOCK:
			r = kvs_lock(t, key, klen, op->value, op->value_len, op->flags, op->session,
			    cmd->now_ms, &why);
			if (r == 0 && !cmd->single)
				txn_error(&c, i, "failed to lock key %s, lock is already held",
				    q(qk, sizeof(qk), key));
			show = true;
			break;
		case KV_UNLOCK:
			r = kvs_unlock(t, key, klen, op->value, op->value_len, op->flags, op->session, &why);
			if (r == 0 && !cmd->single)
				txn_error(&c, i,
				    "failed to unlock key %s, lock isn't held, or is held by another session",
				    q(qk, sizeof(qk), key));
			show = true;
			break;
		case KV_GET:
		case KV_GET_OR_EMPTY:
			rc = kvs_get(t, key, klen, &row);
			if (rc == 0)
				txn_result(&c, &row, op->verb == KV_GET);
			else if (rc == MDB_NOTFOUND && op->verb == KV_GET)
				txn_error(&c, i, "key %s doesn't exist", q(qk, sizeof(qk), key));
			else if (rc == MDB_NOTFOUND) {
				memset(&row, 0, sizeof(row));
				row.key = key;
				row.key_len = klen;
				txn_result(&c, &row, false);
			} else
				r = -rc;
			rc = 0;
			break;
		case KV_GET_TREE:
			if ((rc = kvs_scan(t, key, klen, txn_result_cb, &c)) != 0)
				r = -rc;
			rc = 0;
			break;
		case KV_CHECK_INDEX:
		case KV_CHECK_SESSION:
			rc = kvs_get(t, key, klen, &row);
			if (rc == MDB_NOTFOUND) {
				txn_error(&c, i, "key %s doesn't exist", q(qk, sizeof(qk), key));
			} else if (rc != 0) {
				r = -rc;
			} else if (op->verb == KV_CHECK_INDEX && row.modify_index != op->index) {
				txn_error(&c, i, "current modify index %" PRIu64 " != %" PRIu64,
				    row.modify_index, op->index);
			} else if (op->verb == KV_CHECK_SESSION &&
			    !((row.session == NULL && (op->session == NULL || *op->session == '\0')) ||
			      (row.session != NULL && op->session != NULL &&
			       strlen(op->session) == STORE_SESSION_LEN &&
			       memcmp(row.session, op->session, STORE_SESSION_LEN) == 0))) {
				char cur[STORE_SESSION_LEN + 1] = "";
				if (row.session)
					memcpy(cur, row.session, STORE_SESSION_LEN);
				txn_error(&c, i, "failed session check for key %s, current session %s != %s",
				    q(qk, sizeof(qk), key), q(qs, sizeof(qs), cur),
				    q(qs + 40, sizeof(qs) - 40, op->session ? op->session : ""));
			} else {
				txn_result(&c, &row, false);
			}
			rc = 0;
			break;
		case KV_CHECK_NOT_EXISTS:
			rc = kvs_get(t, key, klen, &row);
			if (rc == 0)
				txn_error(&c, i, "key %s exists", q(qk, sizeof(qk), key));
			else if (rc != MDB_NOTFOUND)
				r = -rc;
			rc = 0;
			break;
		case KV_DELETE:
			r = kvs_delete(t, key, klen);
			break;
		case KV_DELETE_TREE:
			r = kvs_delete_tree(t, key, klen);
			break;
		case KV_DELETE_CAS:
			r = kvs_delete_cas(t, key, klen, op->index);
			if (r == 0 && !cmd->single)
				txn_error(&c, i, "failed to delete key %s, index is stale",
				    q(qk, sizeof(qk), key));
			break;
		default:
			txn_error(&c, i, "unknown KV verb %d", op->verb);
			break;
		}
		if (r < 0) {
			if (why != NULL && strcmp(why, "invalid session") == 0)
				txn_error(&c, i, "invalid session %s",
				    q(qk, sizeof(qk), op->session ? op->session : ""));
			else if (why != NULL)
				txn_error(&c, i, "%s", why);
			else if (-r == E2BIG)
				txn_error(&c, i, "value too large");
			else if (-r == EINVAL)
				txn_error(&c, i, "invalid key %s", q(qk, sizeof(qk), key));
			else {
				rc = -r; /* the store itself failed */
				goto out;
			}
		} else if (cmd->single) {
			res->ok = r == 1;
		} else if (show && r == 1 && kvs_get(t, key, klen, &row) == 0) {
			txn_result(&c, &row, false);
		}
	}

	if (cmd->single) {
		if (c.nerrors > 0) {
			/* One op that failed outright: the HTTP body is the text. */
			res->error = c.first;
			c.first = NULL;
			res->status = 500;
			res->ok = false;
		}
		goto out;
	}
	{
		struct jbuf out = { 0 };
		if (c.nerrors > 0) {
			res->status = 409;
			jb_lit(&out, "{\"Results\":null,\"Errors\":[");
			jb_raw(&out, c.errors.p ? c.errors.p : "", c.errors.len);
			jb_lit(&out, "]}");
		} else {
			jb_lit(&out, "{\"Results\":[");
			jb_raw(&out, c.results.p ? c.results.p : "", c.results.len);
			jb_lit(&out, "],\"Errors\":null}");
		}
		res->json = jb_take(&out);
		res->ok = c.nerrors == 0;
	}
out:
	jb_free(&c.results);
	jb_free(&c.errors);
	free(c.first);
	return rc;
}

bool
txn_read_only(const struct fsm_cmd *cmd)
{
	for (size_t i = 0; i < cmd->nops; i++) {
		switch (cmd->ops[i].verb) {
		case KV_GET:
		case KV_GET_OR_EMPTY:
		case KV_GET_TREE:
		case KV_CHECK_INDEX:
		case KV_CHECK_SESSION:
		case KV_CHECK_NOT_EXISTS:
			break;
		default:
			return false;
		}
	}
	return true;
}

#define TXN_MAX_OPS 128

int
txn_parse(const char *body, struct fsm_cmd *cmd, char **err)
{
	json_error_t je;
	json_t *root;
	size_t n;

	memset(cmd, 0, sizeof(*cmd));
	cmd->type = FSM_KVS;
	*err = NULL;
	root = json_loads(body ? body : "", JSON_DECODE_ANY, &je);
	if (root == NULL || !json_is_array(root)) {
		if (asprintf(err, "Failed to parse body: %s", root ? "expected a JSON array" : je.text) < 0)
			*err = NULL;
		json_decref(root);
		return 400;
	}
	n = json_array_size(root);
	if (n > TXN_MAX_OPS) {
		if (asprintf(err, "Transaction contains too many operations (%zu > %d)", n, TXN_MAX_OPS) < 0)
			*err = NULL;
		json_decref(root);
		return 413;
	}
	cmd->ops = calloc(n + 1, sizeof(*cmd->ops));
	if (cmd->ops == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(root, i), *kv, *v;
		struct fsm_kvop *op = &cmd->ops[i];
		const char *verb;
		cmd->nops = i + 1;
		kv = json_is_object(o) ? config_jget(o, "KV") : NULL;
		if (kv == NULL || !json_is_object(kv)) {
			if (asprintf(err, "Failed to parse body: operation %zu is not a KV operation", i) < 0)
				*err = NULL;
			goto bad;
		}
		v = config_jget(kv, "Verb");
		verb = json_string_value(v);
		if (verb == NULL || (op->verb = fsm_verb_parse(verb)) < 0) {
			if (asprintf(err, "Failed to parse body: unknown KV verb \"%s\"", verb ? verb : "") < 0)
				*err = NULL;
			goto bad;
		}
		v = config_jget(kv, "Key");
		op->key = strdup(json_string_value(v) ? json_string_value(v) : "");
		if (op->key == NULL)
			goto nomem;
		if (strlen(op->key) > STORE_KEY_MAX) {
			if (asprintf(err, "Failed to parse body: key too long") < 0)
				*err = NULL;
			goto bad;
		}
		v = config_jget(kv, "Value");
		if (json_is_string(v)) {
			if (b64_decode_alloc(json_string_value(v), &op->value, &op->value_len) != 0) {
				if (asprintf(err, "Failed to parse body: illegal base64 data in Value of operation %zu", i) < 0)
					*err = NULL;
				goto bad;
			}
			if (op->value_len > STORE_VALUE_MAX) {
				if (asprintf(err, "Value for key \"%s\" is too large (%zu > %d bytes)",
				    op->key, op->value_len, STORE_VALUE_MAX) < 0)
					*err = NULL;
				json_decref(root);
				return 413;
			}
		}
		v = config_jget(kv, "Flags");
		if (json_is_integer(v))
			op->flags = (uint64_t)json_integer_value(v);
		v = config_jget(kv, "Index");
		if (json_is_integer(v))
			op->index = (uint64_t)json_integer_value(v);
		v = config_jget(kv, "Session");
		if (json_is_string(v) && *json_string_value(v) != '\0' &&
		    (op->session = strdup(json_string_value(v))) == NULL)
			goto nomem;
	}
	json_decref(root);
	return 0;
nomem:
	*err = strdup("out of memory");
	json_decref(root);
	fsm_cmd_free(cmd);
	return 500;
bad:
	json_decref(root);
	fsm_cmd_free(cmd);
	return 400;
}
