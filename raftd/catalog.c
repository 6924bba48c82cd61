/*
 * catalog.c: Consul's catalog (nodes, services, checks) in the state store,
 * the register/deregister commands, and the catalog and health reads.
 *
 * Rows.  Three LMDB tables, every value laid out the same way (and a
 * fourth, service_names, that indexes services by name; see below):
 *
 *   u64 create_index | u64 modify_index | the row's content as JSON text
 *
 *   nodes     key = node name
 *             content {"ID","Node","Address","Datacenter","TaggedAddresses",
 *                      "Meta"}
 *   services  key = node name NUL service ID
 *             content {"Kind","ID","Service","Tags","Address",
 *                      "TaggedAddresses","Meta","Port","Weights",
 *                      "EnableTagOverride"}
 *   checks    key = node name NUL check ID
 *             content {"Node","CheckID","Name","Status","Notes","Output",
 *                      "ServiceID","Type","Interval","Timeout","Definition"}
 *
 * The content is canonical: fields in the order above, every map's keys
 * sorted (Go marshals maps sorted), absent maps null.  So "the same row" is
 * "the same bytes", and a rewrite with identical content keeps its
 * ModifyIndex and notes no change: anti-entropy re-registers every agent's
 * services every minute and Consul does not bump the index for that, so no
 * blocking query wakes for nothing.  A check's ServiceName and ServiceTags
 * are not stored; reads take them from the service row, so they cannot go
 * stale when the service's tags change.
 *
 * Commands.  The leader parses Consul's PUT /v1/catalog/(de)register body
 * (any key case), validates it, fills defaults (Datacenter, service ID =
 * name, check ID = name, Check folded into Checks) and writes the canonical
 * JSON of the request into the log (fsm.c: [type, now_ms, json]).  Apply
 * parses that canonical text again, so a follower never sees a body the
 * leader did not accept, and replay needs nothing but the log.
 *
 * Lookups by service name (catalog/service/:s, health/service/:s,
 * health/checks/:s) go through service_names (MDB_DUPSORT: lowercased name
 * -> node NUL service ID), written and deleted in the txn that writes or
 * deletes the services row, so they read only that service's rows, in the
 * services table's key order, and answer exactly what a scan of services
 * would.  As in Consul, a name matches without regard to case.
 *
 * Changes.  Each written or deleted row notes (table, key) with key = node
 * name for nodes and checks, service name for services; the table's
 * "index.<t>" moves only then.  Reads answer X-Consul-Index = the max
 * index of the tables they read, so min_index (blocking) sees exactly the
 * changes that could alter the answer's tables.
 *
 * Sessions (Consul §5): a check that is deregistered or turns critical,
 * and a deregistered node, invalidate the sessions bound to them, in the
 * same entry.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "config.h"
#include "raftd.h"

#define CAT_KEY_MAX 511

/* --- small JSON helpers ---------------------------------------------------- */

static const char *
cat_s(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s != NULL ? s : "";
}

/* A copy of a map with its keys sorted (Go marshals maps sorted). */
static json_t *
cat_sorted(const json_t *m)
{
	const char **ks, *k;
	json_t *v, *out = json_object();
	size_t n = 0;

	if (!json_is_object(m) || json_object_size(m) == 0)
		return out;
	if ((ks = calloc(json_object_size(m), sizeof(*ks))) == NULL)
		return out;
	json_object_foreach((json_t *)(uintptr_t)m, k, v) {
		size_t j = n++;
		while (j > 0 && strcmp(ks[j - 1], k) > 0) {
			ks[j] = ks[j - 1];
			j--;
		}
		ks[j] = k;
	}
	for (size_t i = 0; i < n; i++)
		json_object_set(out, ks[i], json_object_get(m, ks[i]));
	free(ks);
	return out;
}

/* Writes any JSON value with Go's escaping, objects in insertion order. */
static void
cat_emit(struct jbuf *b, const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i, n = 0;
	char tmp[64];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		jb_lit(b, "{");
		json_object_foreach((json_t *)(uintptr_t)v, k, x) {
			jb_lit(b, n++ ? "," : "");
			jb_str(b, k);
			jb_lit(b, ":");
			cat_emit(b, x);
		}
		jb_lit(b, "}");
		break;
	case JSON_ARRAY:
		jb_lit(b, "[");
		for (i = 0; i < json_array_size(v); i++) {
			jb_lit(b, i ? "," : "");
			cat_emit(b, json_array_get(v, i));
		}
		jb_lit(b, "]");
		break;
	case JSON_STRING:
		jb_strn(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		jb_lit(b, tmp);
		break;
	case JSON_REAL:
		snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
		jb_lit(b, tmp);
		break;
	case JSON_TRUE:
		jb_lit(b, "true");
		break;
	case JSON_FALSE:
		jb_lit(b, "false");
		break;
	default:
		jb_lit(b, "null");
		break;
	}
}

/* --- parsing the HTTP bodies ----------------------------------------------- */

struct cat_err {
	int  status;
	char text[256];
};

static int
cat_fail(struct cat_err *e, int status, const char *fmt, const char *arg)
{
	e->status = status;
	snprintf(e->text, sizeof(e->text), fmt, arg ? arg : "");
	return -1;
}

/* A string field (absent/null = ""); -1 on another type. */
static int
cat_str(const json_t *o, const char *name, const char **out, struct cat_err *e)
{
	json_t *v = config_jget(o, name);
	*out = "";
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
		    "non-string into Go struct field %s of type string", name);
	*out = json_string_value(v);
	return 0;
}

/* A map[string]string; null when absent. */
static int
cat_strmap(const json_t *o, const char *name, json_t **out, struct cat_err *e)
{
	json_t *v = config_jget(o, name), *x;
	const char *k;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		*out = json_null();
		return 0;
	}
	if (!json_is_object(v))
		return cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
		    "non-object into Go struct field %s of type map[string]string", name);
	json_object_foreach(v, k, x) {
		if (!json_is_string(x))
			return cat_fail(e, 400, "Request decode failed: json: cannot "
			    "unmarshal non-string into Go struct field %s of type string", name);
	}
	*out = cat_sorted(v);
	return 0;
}

static int
cat_int(const json_t *o, const char *name, json_int_t def, json_int_t *out, struct cat_err *e)
{
	json_t *v = config_jget(o, name);
	*out = def;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
		    "non-number into Go struct field %s of type int", name);
	*out = json_integer_value(v);
	return 0;
}

static int
cat_bool(const json_t *o, const char *name, bool *out, struct cat_err *e)
{
	json_t *v = config_jget(o, name);
	*out = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
		    "non-bool into Go struct field %s of type bool", name);
	*out = json_is_true(v);
	return 0;
}

static json_t *
cat_parse_service(const json_t *sv, struct cat_err *e)
{
	const char *kind, *id, *name, *addr;
	json_t *tags, *meta, *ta, *w, *out, *ta2, *x, *jt;
	json_int_t port, wp = 1, ww = 1;
	bool eto;
	const char *k;

	if (!json_is_object(sv)) {
		cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
		    "non-object into Go struct field %s of type structs.NodeService", "Service");
		return NULL;
	}
	if (cat_str(sv, "Kind", &kind, e) || cat_str(sv, "ID", &id, e) ||
	    cat_str(sv, "Service", &name, e) || cat_str(sv, "Address", &addr, e) ||
	    cat_int(sv, "Port", 0, &port, e) || cat_bool(sv, "EnableTagOverride", &eto, e))
		return NULL;
	if (*name == '\0' && (jt = config_jget(sv, "Name")) != NULL && json_is_string(jt))
		name = json_string_value(jt); /* agent-style bodies say Name */
	if (*id == '\0')
		id = name;
	if (*id != '\0' && *name == '\0') {
		cat_fail(e, 500, "Must provide service name with ID", NULL);
		return NULL;
	}
	if (*id == '\0') {
		cat_fail(e, 500, "Must provide service name", NULL);
		return NULL;
	}
	if (strlen(id) > 200) {
		cat_fail(e, 400, "Service ID too long", NULL);
		return NULL;
	}
	tags = json_array();
	jt = config_jget(sv, "Tags");
	if (jt != NULL && !json_is_null(jt)) {
		if (!json_is_array(jt)) {
			json_decref(tags);
			cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
			    "non-array into Go struct field %s of type []string", "Tags");
			return NULL;
		}
		for (size_t i = 0; i < json_array_size(jt); i++) {
			if (!json_is_string(json_array_get(jt, i))) {
				json_decref(tags);
				cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
				    "non-string into Go struct field %s of type string", "Tags");
				return NULL;
			}
			json_array_append(tags, json_array_get(jt, i));
		}
	}
	if (cat_strmap(sv, "Meta", &meta, e)) {
		json_decref(tags);
		return NULL;
	}
	ta = config_jget(sv, "TaggedAddresses");
	ta2 = json_null();
	if (json_is_object(ta) && json_object_size(ta) > 0) {
		json_t *tmp = json_object();
		json_object_foreach(ta, k, x) {
			const char *a;
			json_int_t p;
			if (!json_is_object(x) || cat_str(x, "Address", &a, e) ||
			    cat_int(x, "Port", 0, &p, e)) {
				json_decref(tmp);
				json_decref(tags);
				json_decref(meta);
				if (e->status == 0)
					cat_fail(e, 400, "Request decode failed: bad %s", "TaggedAddresses");
				return NULL;
			}
			json_object_set_new(tmp, k, json_pack("{s:s,s:I}", "Address", a, "Port", p));
		}
		json_decref(ta2);
		ta2 = cat_sorted(tmp);
		json_decref(tmp);
	}
	w = config_jget(sv, "Weights");
	if (json_is_object(w)) {
		if (cat_int(w, "Passing", 1, &wp, e) || cat_int(w, "Warning", 1, &ww, e)) {
			json_decref(tags);
			json_decref(meta);
			json_decref(ta2);
			return NULL;
		}
	}
	out = json_object();
	json_object_set_new(out, "Kind", json_string(kind));
	json_object_set_new(out, "ID", json_string(id));
	json_object_set_new(out, "Service", json_string(name));
	json_object_set_new(out, "Tags", tags);
	json_object_set_new(out, "Address", json_string(addr));
	json_object_set_new(out, "TaggedAddresses", ta2);
	json_object_set_new(out, "Meta", meta);
	json_object_set_new(out, "Port", json_integer(port));
	json_object_set_new(out, "Weights", json_pack("{s:I,s:I}", "Passing", wp, "Warning", ww));
	json_object_set_new(out, "EnableTagOverride", json_boolean(eto));
	return out;
}

static json_t *
cat_parse_check(const json_t *cv, const char *node, struct cat_err *e)
{
	const char *cnode, *id, *name, *status, *notes, *output, *sid, *type, *iv, *to;
	json_t *def, *out;

	if (!json_is_object(cv)) {
		cat_fail(e, 400, "Request decode failed: json: cannot unmarshal "
		    "non-object into Go value of type %s", "structs.HealthCheck");
		return NULL;
	}
	if (cat_str(cv, "Node", &cnode, e) || cat_str(cv, "CheckID", &id, e) ||
	    cat_str(cv, "Name", &name, e) || cat_str(cv, "Status", &status, e) ||
	    cat_str(cv, "Notes", &notes, e) || cat_str(cv, "Output", &output, e) ||
	    cat_str(cv, "ServiceID", &sid, e) || cat_str(cv, "Type", &type, e) ||
	    cat_str(cv, "Interval", &iv, e) || cat_str(cv, "Timeout", &to, e))
		return NULL;
	if (*cnode == '\0')
		cnode = node;
	if (strcmp(cnode, node) != 0) {
		cat_fail(e, 500, "A check's Node must match the registration's Node", NULL);
		return NULL;
	}
	if (*id == '\0')
		id = name;
	if (*id == '\0') {
		cat_fail(e, 500, "Must provide a CheckID or Name", NULL);
		return NULL;
	}
	if (strlen(id) > 200) {
		cat_fail(e, 400, "Check ID too long", NULL);
		return NULL;
	}
	if (*status == '\0')
		status = "critical";
	if (strcmp(status, "passing") != 0 && strcmp(status, "warning") != 0 &&
	    strcmp(status, "critical") != 0 && strcmp(status, "maintenance") != 0)
		return cat_fail(e, 500, "Invalid check status: \"%s\"", status), NULL;
	def = config_jget(cv, "Definition");
	out = json_object();
	json_object_set_new(out, "Node", json_string(cnode));
	json_object_set_new(out, "CheckID", json_string(id));
	json_object_set_new(out, "Name", json_string(name));
	json_object_set_new(out, "Status", json_string(status));
	json_object_set_new(out, "Notes", json_string(notes));
	json_object_set_new(out, "Output", json_string(output));
	json_object_set_new(out, "ServiceID", json_string(sid));
	json_object_set_new(out, "Type", json_string(type));
	json_object_set_new(out, "Interval", json_string(iv));
	json_object_set_new(out, "Timeout", json_string(to));
	json_object_set_new(out, "Definition", json_is_object(def) ? json_deep_copy(def) : json_object());
	return out;
}

static json_t *
cat_load(const char *body, struct cat_err *e)
{
	json_error_t je;
	json_t *doc;

	doc = json_loads(body != NULL ? body : "", JSON_DECODE_ANY, &je);
	if (doc == NULL) {
		cat_fail(e, 400, "Request decode failed: %s", je.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		cat_fail(e, 400, "Request decode failed: json: cannot unmarshal non-object "
		    "into Go value of type %s", "structs.RegisterRequest");
		return NULL;
	}
	return doc;
}

static char *
cat_dump(json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

static int
cat_result(struct cat_err *e, char **err)
{
	if (err != NULL)
		*err = strdup(e->text);
	return e->status ? e->status : 400;
}

int
catalog_parse_register(const char *body, const char *dc, char **canon, char **err)
{
	struct cat_err e = { 0, "" };
	const char *node, *id, *addr, *rdc;
	json_t *doc, *out = NULL, *ta = NULL, *meta = NULL, *checks, *x;
	bool skip;
	int rc = 0;

	*canon = NULL;
	if (err != NULL)
		*err = NULL;
	if ((doc = cat_load(body, &e)) == NULL)
		return cat_result(&e, err);
	if (cat_str(doc, "Node", &node, &e) || cat_str(doc, "ID", &id, &e) ||
	    cat_str(doc, "Address", &addr, &e) || cat_str(doc, "Datacenter", &rdc, &e) ||
	    cat_bool(doc, "SkipNodeUpdate", &skip, &e) ||
	    cat_strmap(doc, "TaggedAddresses", &ta, &e) || cat_strmap(doc, "NodeMeta", &meta, &e))
		goto fail;
	if (*node == '\0') {
		cat_fail(&e, 500, "Must provide node", NULL);
		goto fail;
	}
	if (strlen(node) + 1 + 200 > CAT_KEY_MAX) {
		cat_fail(&e, 400, "Node name too long", NULL);
		goto fail;
	}
	if (*addr == '\0' && !skip) {
		cat_fail(&e, 500, "Must provide address if SkipNodeUpdate is not set", NULL);
		goto fail;
	}
	if (*rdc == '\0')
		rdc = dc != NULL && *dc ? dc : "dc1";
	out = json_object();
	json_object_set_new(out, "Node", json_string(node));
	json_object_set_new(out, "ID", json_string(id));
	json_object_set_new(out, "Address", json_string(addr));
	json_object_set_new(out, "Datacenter", json_string(rdc));
	json_object_set_new(out, "TaggedAddresses", ta);
	json_object_set_new(out, "NodeMeta", meta);
	ta = meta = NULL;
	json_object_set_new(out, "SkipNodeUpdate", json_boolean(skip));
	x = config_jget(doc, "Service");
	if (x != NULL && !json_is_null(x)) {
		json_t *sv = cat_parse_service(x, &e);
		if (sv == NULL)
			goto fail;
		json_object_set_new(out, "Service", sv);
	} else {
		json_object_set_new(out, "Service", json_null());
	}
	checks = json_array();
	json_object_set_new(out, "Checks", checks);
	x = config_jget(doc, "Check");
	if (x != NULL && !json_is_null(x)) {
		json_t *c = cat_parse_check(x, node, &e);
		if (c == NULL)
			goto fail;
		json_array_append_new(checks, c);
	}
	x = config_jget(doc, "Checks");
	if (x != NULL && !json_is_null(x)) {
		if (!json_is_array(x)) {
			cat_fail(&e, 400, "Request decode failed: json: cannot unmarshal "
			    "non-array into Go struct field %s", "Checks");
			goto fail;
		}
		for (size_t i = 0; i < json_array_size(x); i++) {
			json_t *c = cat_parse_check(json_array_get(x, i), node, &e);
			if (c == NULL)
				goto fail;
			json_array_append_new(checks, c);
		}
	}
	if ((*canon = cat_dump(out)) == NULL)
		cat_fail(&e, 500, "out of memory", NULL);
	else
		goto done;
fail:
	rc = cat_result(&e, err);
done:
	json_decref(ta);
	json_decref(meta);
	json_decref(out);
	json_decref(doc);
	return rc;
}

int
catalog_parse_deregister(const char *body, const char *dc, char **canon, char **err)
{
	struct cat_err e = { 0, "" };
	const char *node, *sid, *cid, *rdc;
	json_t *doc, *out;
	int rc = 0;

	*canon = NULL;
	if (err != NULL)
		*err = NULL;
	if ((doc = cat_load(body, &e)) == NULL)
		return cat_result(&e, err);
	if (cat_str(doc, "Node", &node, &e) || cat_str(doc, "ServiceID", &sid, &e) ||
	    cat_str(doc, "CheckID", &cid, &e) || cat_str(doc, "Datacenter", &rdc, &e)) {
		json_decref(doc);
		return cat_result(&e, err);
	}
	if (*node == '\0') {
		cat_fail(&e, 500, "Must provide node", NULL);
		json_decref(doc);
		return cat_result(&e, err);
	}
	if (*rdc == '\0')
		rdc = dc != NULL && *dc ? dc : "dc1";
	out = json_pack("{s:s,s:s,s:s,s:s}", "Node", node, "Datacenter", rdc,
	    "ServiceID", sid, "CheckID", cid);
	if (out == NULL || (*canon = cat_dump(out)) == NULL) {
		cat_fail(&e, 500, "out of memory", NULL);
		rc = cat_result(&e, err);
	}
	json_decref(out);
	json_decref(doc);
	return rc;
}

/* --- rows ------------------------------------------------------------------ */

struct cat_row {
	uint64_t create_index, modify_index;
	json_t  *c;      /* the content */
	char    *node;   /* from the key */
};

static void
cat_row_free(struct cat_row *r)
{
	json_decref(r->c);
	free(r->node);
	memset(r, 0, sizeof(*r));
}

static size_t
cat_key(char *k, const char *node, const char *id)
{
	size_t n = strlen(node), m = id != NULL ? strlen(id) : 0;
	if (n + (id ? 1 + m : 0) > CAT_KEY_MAX)
		return 0;
	memcpy(k, node, n);
	if (id == NULL)
		return n;
	k[n] = '\0';
	memcpy(k + n + 1, id, m);
	return n + 1 + m;
}

static int
cat_decode(const MDB_val *k, const MDB_val *v, struct cat_row *r)
{
	json_error_t je;
	const char *nul;

	memset(r, 0, sizeof(*r));
	if (v->mv_size < 16)
		return MDB_CORRUPTED;
	r->create_index = kvstore_get64(v->mv_data);
	r->modify_index = kvstore_get64((const uint8_t *)v->mv_data + 8);
	r->c = json_loadb((const char *)v->mv_data + 16, v->mv_size - 16, 0, &je);
	if (r->c == NULL)
		return MDB_CORRUPTED;
	nul = memchr(k->mv_data, '\0', k->mv_size);
	r->node = strndup(k->mv_data, nul ? (size_t)(nul - (const char *)k->mv_data) : k->mv_size);
	return r->node ? 0 : ENOMEM;
}

static int
cat_get(struct store_txn *t, int table, const char *node, const char *id, struct cat_row *r)
{
	char key[CAT_KEY_MAX + 1];
	size_t kl = cat_key(key, node, id);
	MDB_val mk = { kl, key }, mv;
	int rc;

	memset(r, 0, sizeof(*r));
	if (kl == 0)
		return MDB_NOTFOUND;
	if ((rc = mdb_get(t->txn, t->s->dbi[table], &mk, &mv)) != 0)
		return rc;
	return cat_decode(&mk, &mv, r);
}

/*
 * Writes a row unless the store holds the same content; notes the change
 * under `ckey`.  Returns 1 when written, 0 when unchanged, <0 on error.
 */
static int
cat_put(struct store_txn *t, int table, const char *node, const char *id,
    json_t *content, const char *ckey)
{
	char key[CAT_KEY_MAX + 1];
	size_t kl = cat_key(key, node, id), cl;
	MDB_val mk = { kl, key }, mv;
	uint64_t create = t->index;
	char *text;
	uint8_t *buf;
	int rc;

	if (kl == 0)
		return -EINVAL;
	if ((text = cat_dump(content)) == NULL)
		return -ENOMEM;
	cl = strlen(text);
	if (mdb_get(t->txn, t->s->dbi[table], &mk, &mv) == 0 && mv.mv_size >= 16) {
		if (mv.mv_size - 16 == cl && memcmp((const uint8_t *)mv.mv_data + 16, text, cl) == 0) {
			free(text);
			return 0;
		}
		create = kvstore_get64(mv.mv_data);
	}
	if ((buf = malloc(16 + cl)) == NULL) {
		free(text);
		return -ENOMEM;
	}
	kvstore_put64(buf, create);
	kvstore_put64(buf + 8, t->index);
	memcpy(buf + 16, text, cl);
	free(text);
	rc = store_put_raw(t, table, key, kl, buf, 16 + cl);
	free(buf);
	if (rc != 0)
		return -rc;
	if ((rc = store_note_change(t, table, ckey, strlen(ckey), false)) != 0)
		return -rc;
	return 1;
}

static int
cat_del(struct store_txn *t, int table, const char *node, const char *id, const char *ckey)
{
	char key[CAT_KEY_MAX + 1];
	size_t kl = cat_key(key, node, id);
	int rc;

	if (kl == 0)
		return 0;
	rc = store_del_raw(t, table, key, kl);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return -rc;
	if ((rc = store_note_change(t, table, ckey, strlen(ckey), false)) != 0)
		return -rc;
	return 1;
}

/* Calls cb for each row of table, all or those of one node (prefix). */
static int
cat_scan(struct store_txn *t, int table, const char *node,
    int (*cb)(void *arg, struct cat_row *r), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char pfx[CAT_KEY_MAX + 1];
	size_t pl = 0;
	struct cat_row row;
	int rc, stop = 0;

	if (node != NULL) {
		pl = strlen(node) + 1;
		if (pl > CAT_KEY_MAX)
			return 0;
		memcpy(pfx, node, pl); /* node NUL */
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[table], &cur)) != 0)
		return rc;
	k.mv_size = pl;
	k.mv_data = pfx;
	rc = pl ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; rc == 0 && !stop; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (pl && (k.mv_size < pl || memcmp(k.mv_data, pfx, pl) != 0))
			break;
		if (cat_decode(&k, &v, &row) != 0)
			continue;
		stop = cb(arg, &row);
		cat_row_free(&row);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/*
 * The stored spelling of node name `name`: name itself when a row has it,
 * else the first node (in key order) whose name matches it without regard
 * to case, copied into buf (CAT_KEY_MAX + 1 bytes), as Consul's node
 * lookups ignore case (catalog/node/NODE1 finds node1).  Rows stay keyed
 * by the registered spelling; a miss costs one scan of the nodes' keys.
 */
static const char *
cat_node_spelling(struct store_txn *t, const char *name, char *buf)
{
	size_t n = strlen(name);
	MDB_val k = { n, (void *)(uintptr_t)name }, v;
	MDB_cursor *cur;
	const char *found = name;
	int rc;

	if (n == 0 || n > CAT_KEY_MAX ||
	    mdb_get(t->txn, t->s->dbi[STORE_T_NODES], &k, &v) == 0 ||
	    mdb_cursor_open(t->txn, t->s->dbi[STORE_T_NODES], &cur) != 0)
		return found;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size == n && strncasecmp(k.mv_data, name, n) == 0 &&
		    memchr(k.mv_data, '\0', n) == NULL) {
			memcpy(buf, k.mv_data, n);
			buf[n] = '\0';
			found = buf;
			break;
		}
	mdb_cursor_close(cur);
	return found;
}

/* --- service_names: the index of services rows by service name ----------- */

/*
 * The index key of a service name: its first CAT_KEY_MAX bytes, lowercased
 * into buf (CAT_KEY_MAX bytes), since Consul looks services up by name
 * without regard to case (catalog/service/Web finds "web").
 */
static MDB_val
cat_name_key(const char *name, char *buf)
{
	size_t n = strlen(name);
	MDB_val k;

	if (n > CAT_KEY_MAX)
		n = CAT_KEY_MAX;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	k.mv_size = n;
	k.mv_data = buf;
	return k;
}

/* Does an index key hold an uppercase byte (a key written before keys were
 * lowercased)? */
static bool
cat_name_key_upper(const MDB_val *k)
{
	for (size_t i = 0; i < k->mv_size; i++)
		if (isupper(((const unsigned char *)k->mv_data)[i]))
			return true;
	return false;
}

/* Adds (or removes) the index entry name -> rowkey (node NUL id). */
static int
cat_name_put(MDB_txn *txn, MDB_dbi dbi, const char *name, const MDB_val *rowkey, bool add)
{
	char kb[CAT_KEY_MAX];
	MDB_val k = cat_name_key(name, kb), v = *rowkey;
	int rc;

	if (k.mv_size == 0 || v.mv_size == 0)
		return 0;
	rc = add ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, &v);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
cat_name_index(struct store_txn *t, const char *name, const char *node, const char *id, bool add)
{
	char key[CAT_KEY_MAX + 1];
	MDB_val rk = { cat_key(key, node, id), key };

	return cat_name_put(t->txn, t->s->dbi[STORE_T_SERVICE_NAMES], name, &rk, add);
}

/*
 * Calls cb for each services row whose index key is name's (rows of a
 * longer name that shares the first CAT_KEY_MAX bytes too: callers compare
 * the name), in services' key order.  With checks, calls cb instead for
 * the checks rows of each node that runs such a service.
 */
static int
cat_scan_name(struct store_txn *t, const char *name, bool checks,
    int (*cb)(void *arg, struct cat_row *r), void *arg)
{
	MDB_cursor *cur;
	char kb[CAT_KEY_MAX];
	MDB_val k = cat_name_key(name, kb), v, sv;
	struct cat_row row;
	char node[CAT_KEY_MAX + 1] = "", *nul;
	int rc, stop = 0;

	if (k.mv_size == 0)
		return 0;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_T_SERVICE_NAMES], &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0 && !stop;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (checks) {
			/* Values sort by node first: one scan per node. */
			if ((nul = memchr(v.mv_data, '\0', v.mv_size)) == NULL ||
			    strcmp(node, v.mv_data) == 0)
				continue;
			memcpy(node, v.mv_data, (size_t)(nul - (char *)v.mv_data) + 1);
			stop = cat_scan(t, STORE_T_CHECKS, node, cb, arg);
			continue;
		}
		if (mdb_get(t->txn, t->s->dbi[STORE_T_SERVICES], &v, &sv) != 0 ||
		    cat_decode(&v, &sv, &row) != 0)
			continue;
		stop = cb(arg, &row);
		cat_row_free(&row);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Was the index written with a name's case kept (an older store)? */
static bool
cat_names_upper(MDB_txn *txn, MDB_dbi idx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	bool upper = false;
	int rc;

	if (mdb_cursor_open(txn, idx, &cur) != 0)
		return true;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !upper;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP))
		upper = cat_name_key_upper(&k);
	mdb_cursor_close(cur);
	return upper;
}

int
catalog_reindex(struct store *s, MDB_txn *txn)
{
	MDB_dbi idx = s->dbi[STORE_T_SERVICE_NAMES];
	MDB_stat rows, names;
	MDB_cursor *cur;
	MDB_val k, v;
	struct cat_row row;
	char key[CAT_KEY_MAX + 1];
	int rc;

	if ((rc = mdb_stat(txn, s->dbi[STORE_T_SERVICES], &rows)) != 0 ||
	    (rc = mdb_stat(txn, idx, &names)) != 0)
		return rc;
	if (rows.ms_entries == names.ms_entries && !cat_names_upper(txn, idx))
		return 0;
	if ((rc = mdb_drop(txn, idx, 0)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->dbi[STORE_T_SERVICES], &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		MDB_val rk = { k.mv_size, key };
		if (k.mv_size > CAT_KEY_MAX || cat_decode(&k, &v, &row) != 0)
			continue;
		memcpy(key, k.mv_data, k.mv_size);
		rc = cat_name_put(txn, idx, cat_s(row.c, "Service"), &rk, true);
		cat_row_free(&row);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* --- apply ----------------------------------------------------------------- */

/* Sessions to invalidate: bound to `node` (check == NULL) or to its check. */
struct cat_sess {
	const char *node, *check;
	char      (*ids)[STORE_SESSION_LEN + 1];
	size_t      n, cap;
};

static int
cat_sess_cb(void *arg, const struct store_session *ss)
{
	struct cat_sess *c = arg;
	bool hit = false;

	if (ss->node == NULL || strcmp(ss->node, c->node) != 0)
		return 0;
	if (c->check == NULL)
		hit = true;
	for (size_t i = 0; !hit && i < ss->n_node_checks; i++)
		hit = strcmp(ss->node_checks[i], c->check) == 0;
	for (size_t i = 0; !hit && i < ss->n_service_checks; i++)
		hit = strcmp(ss->service_checks[i], c->check) == 0;
	if (!hit)
		return 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 8;
		void *p = realloc(c->ids, nc * sizeof(*c->ids));
		if (p == NULL)
			return 1;
		c->ids = p;
		c->cap = nc;
	}
	memcpy(c->ids[c->n++], ss->id, STORE_SESSION_LEN + 1);
	return 0;
}

static int
cat_invalidate(struct store_txn *t, const char *node, const char *check, uint64_t now_ms)
{
	struct cat_sess c = { .node = node, .check = check };
	int rc;

	if ((rc = session_scan(t, cat_sess_cb, &c)) != 0)
		goto out;
	for (size_t i = 0; i < c.n; i++) {
		if ((rc = session_destroy(t, c.ids[i], now_ms)) < 0) {
			rc = -rc;
			goto out;
		}
		rc = 0;
	}
out:
	free(c.ids);
	return rc;
}

struct cat_ids {
	char  **v;
	size_t  n;
	const char *sid; /* only checks of this service (NULL: all) */
};

static int
cat_ids_cb(void *arg, struct cat_row *r)
{
	struct cat_ids *l = arg;
	const char *id = json_string_value(json_object_get(r->c, "CheckID"));
	char **nv;

	if (id == NULL)
		id = json_string_value(json_object_get(r->c, "ID"));
	if (id == NULL)
		return 0;
	if (l->sid != NULL && strcmp(cat_s(r->c, "ServiceID"), l->sid) != 0)
		return 0;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		return 1;
	l->v = nv;
	/* Services keep their name with the id: "id\0name". */
	{
		const char *nm = cat_s(r->c, "Service");
		size_t a = strlen(id), b = strlen(nm);
		char *s = malloc(a + b + 2);
		if (s == NULL)
			return 1;
		memcpy(s, id, a + 1);
		memcpy(s + a + 1, nm, b + 1);
		l->v[l->n++] = s;
	}
	return 0;
}

static void
cat_ids_free(struct cat_ids *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int
cat_del_check(struct store_txn *t, const char *node, const char *cid, uint64_t now_ms)
{
	int rc = cat_del(t, STORE_T_CHECKS, node, cid, node);
	if (rc > 0)
		return cat_invalidate(t, node, cid, now_ms);
	return rc < 0 ? -rc : 0;
}

/* Deletes a services row and its service_names entry; as cat_del. */
static int
cat_del_svc(struct store_txn *t, const char *node, const char *id, const char *name)
{
	int rc = cat_del(t, STORE_T_SERVICES, node, id, name), irc;

	if (rc > 0 && (irc = cat_name_index(t, name, node, id, false)) != 0)
		return -irc;
	return rc;
}

/* Writes a services row and its service_names entry, moving the entry
 * when the instance changed its name; 0 or an errno. */
static int
cat_put_svc(struct store_txn *t, const char *node, json_t *sv)
{
	const char *id = cat_s(sv, "ID"), *name = cat_s(sv, "Service");
	struct cat_row old;
	int rc = 0;

	if (cat_get(t, STORE_T_SERVICES, node, id, &old) == 0) {
		const char *was = cat_s(old.c, "Service");
		if (strcmp(was, name) != 0 &&
		    (rc = cat_name_index(t, was, node, id, false)) == 0)
			rc = store_note_change(t, STORE_T_SERVICES, was, strlen(was), false);
		cat_row_free(&old);
		if (rc != 0)
			return rc;
	}
	if ((rc = cat_put(t, STORE_T_SERVICES, node, id, sv, name)) < 0)
		return -rc;
	return rc > 0 ? cat_name_index(t, name, node, id, true) : 0;
}

static int
cat_del_service(struct store_txn *t, const char *node, const char *sid, uint64_t now_ms)
{
	struct cat_ids l = { .sid = sid };
	struct cat_row sv;
	int rc;

	if (cat_get(t, STORE_T_SERVICES, node, sid, &sv) != 0)
		return 0;
	rc = cat_del_svc(t, node, sid, cat_s(sv.c, "Service"));
	cat_row_free(&sv);
	if (rc < 0)
		return -rc;
	if ((rc = cat_scan(t, STORE_T_CHECKS, node, cat_ids_cb, &l)) == 0)
		for (size_t i = 0; i < l.n && rc == 0; i++)
			rc = cat_del_check(t, node, l.v[i], now_ms);
	cat_ids_free(&l);
	return rc;
}

static int
cat_del_node(struct store_txn *t, const char *node, uint64_t now_ms)
{
	struct cat_ids l = { 0 };
	int rc;

	if ((rc = cat_scan(t, STORE_T_SERVICES, node, cat_ids_cb, &l)) == 0)
		for (size_t i = 0; i < l.n && rc >= 0; i++) {
			const char *name = l.v[i] + strlen(l.v[i]) + 1;
			rc = cat_del_svc(t, node, l.v[i], name);
		}
	cat_ids_free(&l);
	if (rc < 0)
		return -rc;
	memset(&l, 0, sizeof(l));
	if ((rc = cat_scan(t, STORE_T_CHECKS, node, cat_ids_cb, &l)) == 0)
		for (size_t i = 0; i < l.n && rc >= 0; i++)
			rc = cat_del(t, STORE_T_CHECKS, node, l.v[i], node);
	cat_ids_free(&l);
	if (rc < 0)
		return -rc;
	if ((rc = cat_del(t, STORE_T_NODES, node, NULL, node)) < 0)
		return -rc;
	return cat_invalidate(t, node, NULL, now_ms);
}

static int
cat_refuse(struct fsm_result *res, const char *text)
{
	res->status = 500;
	res->error = strdup(text);
	return 0;
}

static int
cat_apply_register(struct store_txn *t, json_t *doc, uint64_t now_ms, struct fsm_result *res)
{
	const char *node = cat_s(doc, "Node");
	json_t *sv = json_object_get(doc, "Service");
	json_t *checks = json_object_get(doc, "Checks");
	struct cat_row nrow;
	int rc;

	if (*node == '\0')
		return cat_refuse(res, "Must provide node");
	if (!json_is_true(json_object_get(doc, "SkipNodeUpdate"))) {
		json_t *n = json_object();
		json_object_set(n, "ID", json_object_get(doc, "ID"));
		json_object_set_new(n, "Node", json_string(node));
		json_object_set(n, "Address", json_object_get(doc, "Address"));
		json_object_set(n, "Datacenter", json_object_get(doc, "Datacenter"));
		json_object_set(n, "TaggedAddresses", json_object_get(doc, "TaggedAddresses"));
		json_object_set(n, "Meta", json_object_get(doc, "NodeMeta"));
		rc = cat_put(t, STORE_T_NODES, node, NULL, n, node);
		json_decref(n);
		if (rc < 0)
			return -rc;
	}
	if (cat_get(t, STORE_T_NODES, node, NULL, &nrow) != 0)
		return cat_refuse(res, "Missing node registration");
	cat_row_free(&nrow);
	if (json_is_object(sv)) {
		if ((rc = cat_put_svc(t, node, sv)) != 0)
			return rc;
	}
	for (size_t i = 0; i < json_array_size(checks); i++) {
		json_t *c = json_array_get(checks, i);
		const char *sid = cat_s(c, "ServiceID"), *cid = cat_s(c, "CheckID");
		struct cat_row old;
		bool was_critical = false;

		if (*sid != '\0') {
			struct cat_row s;
			if (cat_get(t, STORE_T_SERVICES, node, sid, &s) != 0)
				return cat_refuse(res, "Missing service registration");
			cat_row_free(&s);
		}
		if (cat_get(t, STORE_T_CHECKS, node, cid, &old) == 0) {
			was_critical = strcmp(cat_s(old.c, "Status"), "critical") == 0;
			cat_row_free(&old);
		}
		if ((rc = cat_put(t, STORE_T_CHECKS, node, cid, c, node)) < 0)
			return -rc;
		if (rc > 0 && !was_critical && strcmp(cat_s(c, "Status"), "critical") == 0 &&
		    (rc = cat_invalidate(t, node, cid, now_ms)) != 0)
			return rc;
	}
	res->ok = true;
	return 0;
}

int
catalog_apply(struct store_txn *t, const struct fsm_cmd *cmd, struct fsm_result *res)
{
	struct cat_err e = { 0, "" };
	json_t *doc;
	int rc = 0;

	if ((doc = cat_load(cmd->body, &e)) == NULL)
		return cat_refuse(res, e.text);
	if (cmd->type == FSM_CATALOG_REGISTER) {
		rc = cat_apply_register(t, doc, cmd->now_ms, res);
	} else {
		const char *node = cat_s(doc, "Node"), *sid = cat_s(doc, "ServiceID");
		const char *cid = cat_s(doc, "CheckID");
		if (*node == '\0')
			rc = cat_refuse(res, "Must provide node");
		else if (*sid != '\0')
			rc = cat_del_service(t, node, sid, cmd->now_ms);
		else if (*cid != '\0')
			rc = cat_del_check(t, node, cid, cmd->now_ms);
		else
			rc = cat_del_node(t, node, cmd->now_ms);
		if (rc == 0 && res->status == 200)
			res->ok = true;
	}
	json_decref(doc);
	if (rc == EINVAL) {
		/* A key LMDB cannot hold: refused alike on every server, never
		 * an apply error that would stop the log. */
		res->ok = false;
		return cat_refuse(res, "invalid catalog key");
	}
	return rc;
}

bool
catalog_register_current(struct store_txn *t, const char *canon)
{
	struct cat_err e = { 0, "" };
	json_t *doc, *x;
	struct cat_row r;
	bool same = false;
	char *a = NULL, *b = NULL;
	const char *node;

	if ((doc = cat_load(canon, &e)) == NULL)
		return false;
	node = cat_s(doc, "Node");
	if (json_is_true(json_object_get(doc, "SkipNodeUpdate"))) {
		x = NULL;
		if (cat_get(t, STORE_T_NODES, node, NULL, &r) != 0)
			goto out;
		cat_row_free(&r);
		same = true;
		goto rest;
	}
	/* The node row as register would write it. */
	x = json_object();
	json_object_set(x, "ID", json_object_get(doc, "ID"));
	json_object_set_new(x, "Node", json_string(node));
	json_object_set(x, "Address", json_object_get(doc, "Address"));
	json_object_set(x, "Datacenter", json_object_get(doc, "Datacenter"));
	json_object_set(x, "TaggedAddresses", json_object_get(doc, "TaggedAddresses"));
	json_object_set(x, "Meta", json_object_get(doc, "NodeMeta"));
	if (cat_get(t, STORE_T_NODES, node, NULL, &r) != 0)
		goto out;
	a = cat_dump(x);
	b = cat_dump(r.c);
	cat_row_free(&r);
	same = a && b && strcmp(a, b) == 0;
	free(a);
	free(b);
	if (!same)
		goto out;
rest:
	if (json_is_object(json_object_get(doc, "Service"))) {
		json_t *sv = json_object_get(doc, "Service");
		if (cat_get(t, STORE_T_SERVICES, node, cat_s(sv, "ID"), &r) != 0) {
			same = false;
			goto out;
		}
		a = cat_dump(sv);
		b = cat_dump(r.c);
		cat_row_free(&r);
		same = a && b && strcmp(a, b) == 0;
		free(a);
		free(b);
	}
	for (size_t i = 0; same && i < json_array_size(json_object_get(doc, "Checks")); i++) {
		json_t *c = json_array_get(json_object_get(doc, "Checks"), i);
		if (cat_get(t, STORE_T_CHECKS, node, cat_s(c, "CheckID"), &r) != 0) {
			same = false;
			break;
		}
		a = cat_dump(c);
		b = cat_dump(r.c);
		cat_row_free(&r);
		same = a && b && strcmp(a, b) == 0;
		free(a);
		free(b);
	}
out:
	json_decref(x);
	json_decref(doc);
	return same;
}

int
catalog_node_address(struct store_txn *t, const char *node, char *out, size_t len)
{
	struct cat_row r;
	if (cat_get(t, STORE_T_NODES, node, NULL, &r) != 0)
		return -1;
	snprintf(out, len, "%s", cat_s(r.c, "Address"));
	cat_row_free(&r);
	return 0;
}

/* --- rendering ------------------------------------------------------------- */

static json_t *
cat_node_json(const struct cat_row *n)
{
	json_t *o = json_object();
	json_object_set(o, "ID", json_object_get(n->c, "ID"));
	json_object_set(o, "Node", json_object_get(n->c, "Node"));
	json_object_set(o, "Address", json_object_get(n->c, "Address"));
	json_object_set(o, "Datacenter", json_object_get(n->c, "Datacenter"));
	json_object_set(o, "TaggedAddresses", json_object_get(n->c, "TaggedAddresses"));
	json_object_set(o, "Meta", json_object_get(n->c, "Meta"));
	json_object_set_new(o, "CreateIndex", json_integer((json_int_t)n->create_index));
	json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)n->modify_index));
	return o;
}

static json_t *
cat_proxy(void)
{
	return json_pack("{s:s,s:{},s:{}}", "Mode", "", "MeshGateway", "Expose");
}

/* AgentService, as /health/service and /catalog/node show it. */
static json_t *
cat_agent_service_json(const struct cat_row *s)
{
	json_t *o = json_object(), *ta = json_object_get(s->c, "TaggedAddresses");
	if (*cat_s(s->c, "Kind") != '\0')
		json_object_set(o, "Kind", json_object_get(s->c, "Kind"));
	json_object_set(o, "ID", json_object_get(s->c, "ID"));
	json_object_set(o, "Service", json_object_get(s->c, "Service"));
	json_object_set(o, "Tags", json_object_get(s->c, "Tags"));
	json_object_set(o, "Address", json_object_get(s->c, "Address"));
	if (json_is_object(ta) && json_object_size(ta) > 0)
		json_object_set(o, "TaggedAddresses", ta);
	json_object_set(o, "Meta", json_object_get(s->c, "Meta"));
	json_object_set(o, "Port", json_object_get(s->c, "Port"));
	json_object_set(o, "Weights", json_object_get(s->c, "Weights"));
	json_object_set(o, "EnableTagOverride", json_object_get(s->c, "EnableTagOverride"));
	json_object_set_new(o, "Proxy", cat_proxy());
	json_object_set_new(o, "Connect", json_object());
	json_object_set_new(o, "PeerName", json_string(""));
	json_object_set_new(o, "CreateIndex", json_integer((json_int_t)s->create_index));
	json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)s->modify_index));
	return o;
}

/* CatalogService: node fields then Service* fields. */
static json_t *
cat_catalog_service_json(const struct cat_row *n, const struct cat_row *s)
{
	json_t *o = json_object(), *ta = json_object_get(s->c, "TaggedAddresses");
	json_object_set(o, "ID", json_object_get(n->c, "ID"));
	json_object_set(o, "Node", json_object_get(n->c, "Node"));
	json_object_set(o, "Address", json_object_get(n->c, "Address"));
	json_object_set(o, "Datacenter", json_object_get(n->c, "Datacenter"));
	json_object_set(o, "TaggedAddresses", json_object_get(n->c, "TaggedAddresses"));
	json_object_set(o, "NodeMeta", json_object_get(n->c, "Meta"));
	json_object_set(o, "ServiceKind", json_object_get(s->c, "Kind"));
	json_object_set(o, "ServiceID", json_object_get(s->c, "ID"));
	json_object_set(o, "ServiceName", json_object_get(s->c, "Service"));
	json_object_set(o, "ServiceTags", json_object_get(s->c, "Tags"));
	json_object_set(o, "ServiceAddress", json_object_get(s->c, "Address"));
	if (json_is_object(ta) && json_object_size(ta) > 0)
		json_object_set(o, "ServiceTaggedAddresses", ta);
	json_object_set(o, "ServiceWeights", json_object_get(s->c, "Weights"));
	json_object_set(o, "ServiceMeta", json_object_get(s->c, "Meta"));
	json_object_set(o, "ServicePort", json_object_get(s->c, "Port"));
	json_object_set(o, "ServiceEnableTagOverride", json_object_get(s->c, "EnableTagOverride"));
	json_object_set_new(o, "ServiceProxy", cat_proxy());
	json_object_set_new(o, "ServiceConnect", json_object());
	json_object_set_new(o, "CreateIndex", json_integer((json_int_t)s->create_index));
	json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)s->modify_index));
	return o;
}

/*
 * HealthCheck; ServiceName/ServiceTags from the service row when there is
 * one: `svc` when the caller holds it (a row of c's node), else read.
 */
static json_t *
cat_check_json(struct store_txn *t, const struct cat_row *c, const struct cat_row *svc)
{
	json_t *o = json_object();
	const char *sid = cat_s(c->c, "ServiceID");
	struct cat_row s = { 0 };
	bool held = svc != NULL && *sid != '\0' && strcmp(cat_s(svc->c, "ID"), sid) == 0;
	bool have = held || (*sid != '\0' && cat_get(t, STORE_T_SERVICES, c->node, sid, &s) == 0);

	if (held)
		s = *svc;

	json_object_set(o, "Node", json_object_get(c->c, "Node"));
	json_object_set(o, "CheckID", json_object_get(c->c, "CheckID"));
	json_object_set(o, "Name", json_object_get(c->c, "Name"));
	json_object_set(o, "Status", json_object_get(c->c, "Status"));
	json_object_set(o, "Notes", json_object_get(c->c, "Notes"));
	json_object_set(o, "Output", json_object_get(c->c, "Output"));
	json_object_set(o, "ServiceID", json_object_get(c->c, "ServiceID"));
	json_object_set_new(o, "ServiceName", json_string(have ? cat_s(s.c, "Service") : ""));
	json_object_set_new(o, "ServiceTags", have ? json_deep_copy(json_object_get(s.c, "Tags")) : json_array());
	json_object_set(o, "Type", json_object_get(c->c, "Type"));
	json_object_set(o, "Interval", json_object_get(c->c, "Interval"));
	json_object_set(o, "Timeout", json_object_get(c->c, "Timeout"));
	json_object_set_new(o, "ExposedPort", json_integer(0));
	json_object_set(o, "Definition", json_object_get(c->c, "Definition"));
	json_object_set_new(o, "CreateIndex", json_integer((json_int_t)c->create_index));
	json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)c->modify_index));
	if (have && !held)
		cat_row_free(&s);
	return o;
}

/* --- reads ----------------------------------------------------------------- */

struct cat_q {
	bool               passing;
	json_t            *tags;     /* array of strings */
	json_t            *node_meta; /* array of "k:v" */
	struct bexpr      *filter;
	const char        *state;
};

struct cat_read {
	struct store_txn *t;
	struct cat_q     *q;
	const char       *arg;
	json_t           *out;   /* array or object being filled */
	bool              dump;  /* every service row as a CatalogService */
	int               err;
};

static bool
cat_node_meta_ok(const struct cat_q *q, const json_t *meta)
{
	for (size_t i = 0; i < json_array_size(q->node_meta); i++) {
		const char *kv = json_string_value(json_array_get(q->node_meta, i));
		const char *colon = kv ? strchr(kv, ':') : NULL;
		char k[256];
		const char *v;
		if (kv == NULL)
			continue;
		if (colon == NULL) {
			snprintf(k, sizeof(k), "%s", kv);
			v = "";
		} else {
			snprintf(k, sizeof(k), "%.*s", (int)(colon - kv), kv);
			v = colon + 1;
		}
		if (strcmp(cat_s(meta, k), v) != 0 || json_object_get(meta, k) == NULL)
			return false;
	}
	return true;
}

static bool
cat_tags_ok(const struct cat_q *q, const json_t *tags)
{
	for (size_t i = 0; i < json_array_size(q->tags); i++) {
		const char *want = json_string_value(json_array_get(q->tags, i));
		bool found = false;
		for (size_t j = 0; want && !found && j < json_array_size(tags); j++) {
			const char *t = json_string_value(json_array_get(tags, j));
			found = t != NULL && strcasecmp(t, want) == 0;
		}
		if (want && !found)
			return false;
	}
	return true;
}

static int
cat_rd_nodes(void *arg, struct cat_row *n)
{
	struct cat_read *c = arg;
	json_t *o;

	if (!cat_node_meta_ok(c->q, json_object_get(n->c, "Meta")))
		return 0;
	o = cat_node_json(n);
	if (bexpr_eval(c->q->filter, o))
		json_array_append(c->out, o);
	json_decref(o);
	return 0;
}

/* Services of every node: the row's node is looked up once per row. */
static int
cat_rd_service_rows(void *arg, struct cat_row *s)
{
	struct cat_read *c = arg;
	struct cat_row n;
	json_t *o;

	if (c->arg != NULL && strcasecmp(cat_s(s->c, "Service"), c->arg) != 0)
		return 0;
	if (cat_get(c->t, STORE_T_NODES, s->node, NULL, &n) != 0)
		return 0;
	if (!cat_node_meta_ok(c->q, json_object_get(n.c, "Meta")) ||
	    !cat_tags_ok(c->q, json_object_get(s->c, "Tags"))) {
		cat_row_free(&n);
		return 0;
	}
	o = cat_catalog_service_json(&n, s);
	if (bexpr_eval(c->q->filter, o)) {
		if (c->arg != NULL || c->dump) {
			json_array_append(c->out, o);
		} else {
			/* /catalog/services: name -> union of tags, first seen order. */
			const char *name = cat_s(s->c, "Service");
			json_t *tags = json_object_get(c->out, name), *st = json_object_get(s->c, "Tags");
			if (tags == NULL) {
				tags = json_array();
				json_object_set_new(c->out, name, tags);
			}
			for (size_t i = 0; i < json_array_size(st); i++) {
				const char *tg = json_string_value(json_array_get(st, i));
				bool dup = false;
				for (size_t j = 0; !dup && j < json_array_size(tags); j++)
					dup = strcmp(json_string_value(json_array_get(tags, j)), tg) == 0;
				if (!dup)
					json_array_append(tags, json_array_get(st, i));
			}
		}
	}
	json_decref(o);
	cat_row_free(&n);
	return 0;
}

static int
cat_rd_agent_services(void *arg, struct cat_row *s)
{
	struct cat_read *c = arg;
	json_t *o = cat_agent_service_json(s);

	if (bexpr_eval(c->q->filter, o)) {
		if (json_is_array(c->out))
			json_array_append(c->out, o);
		else
			json_object_set(c->out, cat_s(s->c, "ID"), o);
	}
	json_decref(o);
	return 0;
}

static int
cat_rd_checks(void *arg, struct cat_row *ck)
{
	struct cat_read *c = arg;
	json_t *o = cat_check_json(c->t, ck, NULL);

	if (c->q->state != NULL && strcmp(c->q->state, "any") != 0 &&
	    strcmp(cat_s(o, "Status"), c->q->state) != 0)
		goto out;
	if (c->arg != NULL && strcasecmp(cat_s(o, "ServiceName"), c->arg) != 0)
		goto out;
	if (c->q->node_meta != NULL && json_array_size(c->q->node_meta) > 0) {
		struct cat_row n;
		bool ok = false;
		if (cat_get(c->t, STORE_T_NODES, ck->node, NULL, &n) == 0) {
			ok = cat_node_meta_ok(c->q, json_object_get(n.c, "Meta"));
			cat_row_free(&n);
		}
		if (!ok)
			goto out;
	}
	if (bexpr_eval(c->q->filter, o))
		json_array_append(c->out, o);
out:
	json_decref(o);
	return 0;
}

/* Checks of a service entry: the node's own and the service's. */
struct cat_entry_checks {
	struct store_txn     *t;
	const struct cat_row *svc;
	json_t               *out;
};

static int
cat_rd_entry_check(void *arg, struct cat_row *ck)
{
	struct cat_entry_checks *e = arg;
	const char *sid = cat_s(ck->c, "ServiceID");

	if (*sid == '\0' || strcmp(sid, cat_s(e->svc->c, "ID")) == 0)
		json_array_append_new(e->out, cat_check_json(e->t, ck, e->svc));
	return 0;
}

static int
cat_rd_health_service(void *arg, struct cat_row *s)
{
	struct cat_read *c = arg;
	struct cat_row n;
	struct cat_entry_checks ec = { c->t, s, NULL };
	json_t *o;

	if (strcasecmp(cat_s(s->c, "Service"), c->arg) != 0)
		return 0;
	if (!cat_tags_ok(c->q, json_object_get(s->c, "Tags")))
		return 0;
	if (cat_get(c->t, STORE_T_NODES, s->node, NULL, &n) != 0)
		return 0;
	if (!cat_node_meta_ok(c->q, json_object_get(n.c, "Meta"))) {
		cat_row_free(&n);
		return 0;
	}
	ec.out = json_array();
	cat_scan(c->t, STORE_T_CHECKS, s->node, cat_rd_entry_check, &ec);
	if (c->q->passing) {
		for (size_t i = 0; i < json_array_size(ec.out); i++) {
			if (strcmp(cat_s(json_array_get(ec.out, i), "Status"), "passing") != 0) {
				json_decref(ec.out);
				cat_row_free(&n);
				return 0;
			}
		}
	}
	o = json_object();
	json_object_set_new(o, "Node", cat_node_json(&n));
	json_object_set_new(o, "Service", cat_agent_service_json(s));
	json_object_set_new(o, "Checks", ec.out);
	if (bexpr_eval(c->q->filter, o))
		json_array_append(c->out, o);
	json_decref(o);
	cat_row_free(&n);
	return 0;
}

static uint64_t
cat_index(struct store_txn *t, int a, int b, int c)
{
	uint64_t i = 0, x;
	int tabs[3] = { a, b, c };
	for (int k = 0; k < 3; k++) {
		if (tabs[k] < 0)
			continue;
		x = store_table_index(t, tabs[k]);
		if (x > i)
			i = x;
	}
	return i ? i : 1;
}

static int
cat_query(const char *query, struct cat_q *q, char **err)
{
	json_t *doc = NULL, *x;
	json_error_t je;

	memset(q, 0, sizeof(*q));
	if (query != NULL && *query != '\0') {
		doc = json_loads(query, 0, &je);
		if (!json_is_object(doc)) {
			json_decref(doc);
			*err = strdup("bad query");
			return 400;
		}
	}
	if (doc == NULL)
		return 0;
	q->passing = json_is_true(json_object_get(doc, "passing"));
	if ((x = json_object_get(doc, "tag")) != NULL)
		q->tags = json_is_array(x) ? json_incref(x) : json_pack("[O]", x);
	if ((x = json_object_get(doc, "node-meta")) != NULL)
		q->node_meta = json_is_array(x) ? json_incref(x) : json_pack("[O]", x);
	x = json_object_get(doc, "filter");
	if (json_is_string(x) && json_string_length(x) > 0) {
		q->filter = bexpr_parse(json_string_value(x));
		if (q->filter == NULL) {
			*err = bexpr_error(json_string_value(x));
			json_decref(doc);
			return 400;
		}
	}
	json_decref(doc);
	return 0;
}

static void
cat_query_free(struct cat_q *q)
{
	json_decref(q->tags);
	json_decref(q->node_meta);
	bexpr_free(q->filter);
}

static int
cat_rd_dcs(void *arg, struct cat_row *n)
{
	json_t *dcs = arg;
	const char *dc = cat_s(n->c, "Datacenter");
	for (size_t i = 0; i < json_array_size(dcs); i++)
		if (strcmp(json_string_value(json_array_get(dcs, i)), dc) == 0)
			return 0;
	if (*dc)
		json_array_append_new(dcs, json_string(dc));
	return 0;
}

static int
cat_strcmp_json(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

int
catalog_read(struct store_txn *t, const char *what, const char *arg, const char *query,
    const char *dc, char **json, uint64_t *index, char **err)
{
	struct cat_q q;
	struct cat_read c = { .t = t, .arg = arg };
	struct jbuf b = { 0 };
	json_t *out = NULL;
	char spelling[CAT_KEY_MAX + 1];
	int status;

	*json = NULL;
	*err = NULL;
	*index = 1;
	if ((status = cat_query(query, &q, err)) != 0) {
		cat_query_free(&q);
		return status;
	}
	c.q = &q;
	status = 200;
	if (what == NULL)
		what = "";
	if (strcmp(what, "datacenters") == 0) {
		json_t *v[64];
		size_t n;
		out = json_array();
		json_array_append_new(out, json_string(dc != NULL && *dc ? dc : "dc1"));
		cat_scan(t, STORE_T_NODES, NULL, cat_rd_dcs, out);
		n = json_array_size(out) < 64 ? json_array_size(out) : 64;
		for (size_t i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(out, i));
		qsort(v, n, sizeof(v[0]), cat_strcmp_json);
		json_array_clear(out);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(out, v[i]);
		*index = cat_index(t, STORE_T_NODES, -1, -1);
	} else if (strcmp(what, "nodes") == 0) {
		c.out = out = json_array();
		cat_scan(t, STORE_T_NODES, NULL, cat_rd_nodes, &c);
		*index = cat_index(t, STORE_T_NODES, -1, -1);
	} else if (strcmp(what, "services") == 0) {
		c.arg = NULL;
		c.out = out = json_object();
		cat_scan(t, STORE_T_SERVICES, NULL, cat_rd_service_rows, &c);
		*index = cat_index(t, STORE_T_SERVICES, STORE_T_NODES, -1);
	} else if (strcmp(what, "service") == 0) {
		c.arg = arg != NULL ? arg : "";
		c.out = out = json_array();
		cat_scan_name(t, c.arg, false, cat_rd_service_rows, &c);
		*index = cat_index(t, STORE_T_SERVICES, STORE_T_NODES, -1);
	} else if (strcmp(what, "node") == 0 || strcmp(what, "node_services") == 0) {
		struct cat_row n;
		bool list = strcmp(what, "node_services") == 0;
		*index = cat_index(t, STORE_T_NODES, STORE_T_SERVICES, -1);
		if (cat_get(t, STORE_T_NODES, cat_node_spelling(t, arg != NULL ? arg : "", spelling),
		        NULL, &n) != 0) {
			out = list ? json_pack("{s:n,s:[]}", "Node", "Services") : json_null();
		} else {
			json_t *svcs = list ? json_array() : json_object();
			out = json_object();
			json_object_set_new(out, "Node", cat_node_json(&n));
			c.out = svcs;
			cat_scan(t, STORE_T_SERVICES, n.node, cat_rd_agent_services, &c);
			json_object_set_new(out, "Services", svcs);
			cat_row_free(&n);
		}
	} else if (strcmp(what, "health_node") == 0) {
		c.arg = NULL;
		c.out = out = json_array();
		cat_scan(t, STORE_T_CHECKS, cat_node_spelling(t, arg != NULL ? arg : "", spelling),
		    cat_rd_checks, &c);
		*index = cat_index(t, STORE_T_CHECKS, -1, -1);
	} else if (strcmp(what, "health_checks") == 0) {
		c.arg = arg != NULL ? arg : "";
		c.out = out = json_array();
		cat_scan_name(t, c.arg, true, cat_rd_checks, &c);
		*index = cat_index(t, STORE_T_CHECKS, STORE_T_SERVICES, -1);
	} else if (strcmp(what, "health_state") == 0) {
		const char *st = arg != NULL ? arg : "";
		if (strcmp(st, "any") != 0 && strcmp(st, "passing") != 0 &&
		    strcmp(st, "warning") != 0 && strcmp(st, "critical") != 0) {
			*err = strdup("Invalid check state");
			status = 400;
			goto out;
		}
		q.state = st;
		c.arg = NULL;
		c.out = out = json_array();
		cat_scan(t, STORE_T_CHECKS, NULL, cat_rd_checks, &c);
		*index = cat_index(t, STORE_T_CHECKS, -1, -1);
	} else if (strcmp(what, "health_service") == 0) {
		c.arg = arg != NULL ? arg : "";
		c.out = out = json_array();
		cat_scan_name(t, c.arg, false, cat_rd_health_service, &c);
		*index = cat_index(t, STORE_T_NODES, STORE_T_SERVICES, STORE_T_CHECKS);
	} else if (strcmp(what, "dump") == 0) {
		/* dnsd's whole view in one read txn: {Index, Nodes, Services, Checks}. */
		json_t *part;
		out = json_object();
		*index = cat_index(t, STORE_T_NODES, STORE_T_SERVICES, STORE_T_CHECKS);
		json_object_set_new(out, "Index", json_integer((json_int_t)*index));
		c.out = part = json_array();
		cat_scan(t, STORE_T_NODES, NULL, cat_rd_nodes, &c);
		json_object_set_new(out, "Nodes", part);
		c.out = part = json_array();
		c.arg = NULL;
		c.dump = true;
		cat_scan(t, STORE_T_SERVICES, NULL, cat_rd_service_rows, &c);
		json_object_set_new(out, "Services", part);
		c.out = part = json_array();
		cat_scan(t, STORE_T_CHECKS, NULL, cat_rd_checks, &c);
		json_object_set_new(out, "Checks", part);
	} else {
		*err = strdup("unknown catalog read");
		status = 400;
		goto out;
	}
	cat_emit(&b, out);
	if ((*json = jb_take(&b)) == NULL) {
		*err = strdup("out of memory");
		status = 500;
	}
out:
	jb_free(&b);
	json_decref(out);
	cat_query_free(&q);
	return status;
}
