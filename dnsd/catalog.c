/*
 * The seam between raftd's catalog and dnsd's view.
 *
 * raftd publishes raft.changed {table, key, index} (proto/msg_raft.h); the
 * rows themselves come back from a raft.catalog_read call as Consul's JSON
 * objects.  So everything that feeds the view goes through two doors:
 *
 *   catalog_node/service/check   one row changed (put or delete)
 *   catalog_replace              a whole new view (start, restart of
 *                                raftd, or a lost event: rebuild and swap)
 *
 * and catalog_load_json turns Consul-shaped JSON into a view, for the
 * standalone fixture today and for catalog snapshots from raftd later.
 * view->index keeps the newest Raft index applied, so a change older than
 * the view (a replayed event) is ignored.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnsd.h"

static int
catalog_fresh(struct dnsd *d, uint64_t index)
{
	if (index != 0 && index < d->view->index)
		return 0;
	if (index > d->view->index)
		d->view->index = index;
	return 1;
}

int
catalog_node(struct dnsd *d, enum catalog_op op, const struct view_node_row *r,
    uint64_t index)
{
	if (!catalog_fresh(d, index))
		return 0;
	return op == CATALOG_PUT ? view_node_put(d->view, r) :
	    view_node_del(d->view, r->name);
}

int
catalog_service(struct dnsd *d, enum catalog_op op,
    const struct view_service_row *r, uint64_t index)
{
	if (!catalog_fresh(d, index))
		return 0;
	return op == CATALOG_PUT ? view_service_put(d->view, r) :
	    view_service_del(d->view, r->node,
		(r->id != NULL && *r->id) ? r->id : r->name);
}

int
catalog_check(struct dnsd *d, enum catalog_op op,
    const struct view_check_row *r, uint64_t index)
{
	if (!catalog_fresh(d, index))
		return 0;
	return op == CATALOG_PUT ? view_check_put(d->view, r) :
	    view_check_del(d->view, r->node, r->check_id);
}

void
catalog_replace(struct dnsd *d, struct view *v)
{
	view_free(d->view);
	d->view = v;
}

/* --- JSON ---------------------------------------------------------------- */

/* Consul matches JSON keys case-insensitively; so do we. */
static const json_t *
catalog_get(const json_t *obj, const char *key)
{
	const char *k;
	json_t     *v;

	if (!json_is_object(obj))
		return NULL;
	if ((v = json_object_get(obj, key)) != NULL)
		return v;
	json_object_foreach((json_t *)(uintptr_t)obj, k, v)
		if (strcasecmp(k, key) == 0)
			return v;
	return NULL;
}

static const char *
catalog_str(const json_t *obj, const char *key)
{
	const json_t *v = catalog_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *
catalog_str2(const json_t *obj, const char *a, const char *b)
{
	const char *s = catalog_str(obj, a);

	return s != NULL ? s : catalog_str(obj, b);
}

/* A JSON object of strings as key/value pairs (borrowed strings). */
static struct view_kv *
catalog_kvs(const json_t *obj, size_t *n)
{
	struct view_kv *kv;
	const char     *k;
	json_t         *v;
	size_t          i = 0;

	*n = 0;
	if (!json_is_object(obj) || json_object_size(obj) == 0)
		return NULL;
	if ((kv = calloc(json_object_size(obj), sizeof(*kv))) == NULL)
		return NULL;
	json_object_foreach((json_t *)(uintptr_t)obj, k, v) {
		if (!json_is_string(v))
			continue;
		kv[i].key = (char *)(uintptr_t)k;
		kv[i].val = (char *)(uintptr_t)json_string_value(v);
		i++;
	}
	*n = i;
	return kv;
}

static int
catalog_json_node(struct view *v, const json_t *o)
{
	struct view_node_row r;
	struct view_kv      *meta, *tagged;
	int                  rc;

	memset(&r, 0, sizeof(r));
	r.name = catalog_str(o, "Node");
	r.address = catalog_str(o, "Address");
	r.datacenter = catalog_str(o, "Datacenter");
	meta = catalog_kvs(catalog_get(o, "Meta"), &r.nmeta);
	if (meta == NULL)
		meta = catalog_kvs(catalog_get(o, "NodeMeta"), &r.nmeta);
	tagged = catalog_kvs(catalog_get(o, "TaggedAddresses"), &r.ntagged);
	r.meta = meta;
	r.tagged = tagged;
	rc = view_node_put(v, &r);
	free(meta);
	free(tagged);
	return rc;
}

static uint32_t
catalog_uint(const json_t *o, const char *key)
{
	const json_t *j = catalog_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return 0;
	return (uint32_t)json_integer_value(j);
}

static int
catalog_json_service(struct view *v, const json_t *o)
{
	struct view_service_row r;
	const json_t           *tags, *w, *t;
	const char            **tv = NULL;
	size_t                  i;
	uint32_t                port;
	int                     rc;

	memset(&r, 0, sizeof(r));
	r.node = catalog_str(o, "Node");
	r.id = catalog_str2(o, "ServiceID", "ID");
	r.name = catalog_str2(o, "ServiceName", "Service");
	if (r.name == NULL)
		r.name = catalog_str(o, "Name");
	r.address = catalog_str2(o, "ServiceAddress", "Address");
	port = catalog_get(o, "ServicePort") ? catalog_uint(o, "ServicePort") :
	    catalog_uint(o, "Port");
	if (port > 65535)
		return -1;
	r.port = (uint16_t)port;
	w = catalog_get(o, "ServiceWeights");
	if (w == NULL)
		w = catalog_get(o, "Weights");
	r.w_passing = catalog_uint(w, "Passing");
	r.w_warning = catalog_uint(w, "Warning");
	tags = catalog_get(o, "ServiceTags");
	if (tags == NULL)
		tags = catalog_get(o, "Tags");
	if (json_is_array(tags) && json_array_size(tags) > 0) {
		if ((tv = calloc(json_array_size(tags), sizeof(*tv))) == NULL)
			return -1;
		json_array_foreach(tags, i, t)
			if (json_is_string(t))
				tv[r.ntags++] = json_string_value(t);
	}
	r.tags = tv;
	rc = view_service_put(v, &r);
	free(tv);
	return rc;
}

static int
catalog_json_check(struct view *v, const json_t *o)
{
	struct view_check_row r;

	memset(&r, 0, sizeof(r));
	r.node = catalog_str(o, "Node");
	r.check_id = catalog_str2(o, "CheckID", "ID");
	r.service_id = catalog_str(o, "ServiceID");
	r.status = catalog_str(o, "Status");
	return view_check_put(v, &r);
}

int
catalog_load_json(struct view *v, const struct json_t *root, char *err,
    size_t errlen)
{
	static const struct {
		const char *key;
		int (*load)(struct view *, const json_t *);
	} tables[] = {
		{ "Nodes", catalog_json_node },
		{ "Services", catalog_json_service },
		{ "Checks", catalog_json_check },
	};

	if (!json_is_object(root)) {
		snprintf(err, errlen, "catalog: not a JSON object");
		return -1;
	}
	/* Nodes first: services and checks need their node. */
	for (size_t t = 0; t < 3; t++) {
		const json_t *arr = catalog_get(root, tables[t].key);
		size_t        i;
		json_t       *o;

		if (arr == NULL)
			continue;
		if (!json_is_array(arr)) {
			snprintf(err, errlen, "catalog: %s: not an array",
			    tables[t].key);
			return -1;
		}
		json_array_foreach(arr, i, o)
			if (tables[t].load(v, o) != 0) {
				snprintf(err, errlen, "catalog: %s[%zu]: bad "
				    "row (missing name, or unknown node)",
				    tables[t].key, i);
				return -1;
			}
	}
	if (catalog_get(root, "Index") != NULL)
		v->index = (uint64_t)json_integer_value(catalog_get(root,
		    "Index"));
	return 0;
}
