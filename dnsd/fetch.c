/*
 * Fetching the whole catalog from raftd into a new view.
 *
 * First choice, one call:
 *
 *     raft.catalog_read {what: "dump"} -> {"Index", "Nodes", "Services",
 *                                          "Checks"}
 *
 * When raftd answers 501, 400 or 404 to "dump" (it may never serve it;
 * 400 is its "unknown catalog read"), the same
 * document is put together from the reads httpd already uses:
 *
 *     "nodes"                 -> [Node]            (all nodes)
 *     "health_state" "any"    -> [HealthCheck]     (all checks)
 *     "services"              -> {name: [tags]}, then for each name
 *     "service" <name>        -> [CatalogService]
 *
 * all in flight at once; when the last reply is in, catalog_load_json
 * builds the view.  Any failure abandons the whole fetch (a view from
 * half a catalog would answer NXDOMAIN for the other half).  The reads are
 * stale ones: DNS allows stale by default in Consul.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "dnsd.h"
#include "log.h"
#include "msg_raft.h"

#define FETCH_TIMEOUT_MS 5000

struct fetch_call {
	struct fetch *f;
	const char   *what; /* which part of the document it fills */
};

static void fetch_reply(struct bus *b, int err, const struct proto_env *env,
    void *arg);

static int
fetch_call(struct fetch *f, const char *what, const char *arg)
{
	struct proto_raft_catalog_read m;
	struct fetch_call             *c = malloc(sizeof(*c));

	if (c == NULL)
		return -1;
	c->f = f;
	c->what = what;
	memset(&m, 0, sizeof(m));
	m.what = (char *)(uintptr_t)what;
	m.arg = (char *)(uintptr_t)arg;
	m.query = (char *)(uintptr_t)"{}";
	m.consistency = RAFT_CONS_STALE;
	if (bus_call_async(f->bus, "raftd", PROTO_RAFT_CATALOG_READ, &m,
	    FETCH_TIMEOUT_MS, 0, fetch_reply, c) != 0) {
		free(c);
		return -1;
	}
	f->pending++;
	return 0;
}

static void
fetch_finish(struct fetch *f)
{
	struct view *v = NULL;
	char         err[256];

	if (!f->failed) {
		if ((v = view_new()) == NULL ||
		    catalog_load_json(v, f->doc, err, sizeof(err)) != 0) {
			log_warnx("catalog fetch: %s", v ? err : "no memory");
			view_free(v);
			v = NULL;
			f->status = 500;
		} else if (v->index == 0) {
			v->index = f->index;
		}
	}
	json_decref(f->doc);
	f->doc = NULL;
	f->busy = false;
	if (f->status == 501)
		f->no_dump = false; /* nothing served at all: try dump again */
	f->done(f->arg, v, f->status);
}

static int
fetch_composite(struct fetch *f)
{
	json_decref(f->doc);
	f->doc = json_pack("{s:[],s:[],s:[]}", "Nodes", "Services", "Checks");
	if (f->doc == NULL)
		return -1;
	if (fetch_call(f, "nodes", "") != 0 ||
	    fetch_call(f, "health_state", "any") != 0 ||
	    fetch_call(f, "services", "") != 0)
		return -1;
	return 0;
}

/* Appends the rows of a JSON array reply to doc[key]. */
static int
fetch_append(struct fetch *f, const char *key, json_t *rows)
{
	if (!json_is_array(rows))
		return -1;
	return json_array_extend(json_object_get(f->doc, key), rows);
}

static void
fetch_reply(struct bus *b, int err, const struct proto_env *env, void *arg)
{
	struct fetch_call       *c = arg;
	struct fetch            *f = c->f;
	const char              *what = c->what;
	struct proto_raft_result r;
	json_t                  *j = NULL;

	(void)b;
	free(c);
	f->pending--;
	memset(&r, 0, sizeof(r));
	if (err != 0 || env == NULL || env->type != PROTO_RAFT_RESULT ||
	    proto_unpack_raft_result(env, &r) != 0) {
		f->failed = true;
		f->status = 0;
		goto out;
	}
	if (r.status != 200 || r.json == NULL ||
	    (j = json_loads(r.json, 0, NULL)) == NULL) {
		/* 501: no catalog; 400/404: a catalog without "dump". */
		if (strcmp(what, "dump") == 0 && !f->failed &&
		    (r.status == 501 || r.status == 400 || r.status == 404)) {
			/* No dump: the composite way, same fetch. */
			f->no_dump = true;
			if (fetch_composite(f) != 0)
				f->failed = true;
			goto out;
		}
		f->failed = true;
		f->status = (int)r.status;
		goto out;
	}
	if (r.index > f->index)
		f->index = r.index;
	if (strcmp(what, "dump") == 0) {
		json_decref(f->doc);
		f->doc = json_incref(j);
	} else if (strcmp(what, "nodes") == 0) {
		if (fetch_append(f, "Nodes", j) != 0)
			f->failed = true;
	} else if (strcmp(what, "health_state") == 0) {
		if (fetch_append(f, "Checks", j) != 0)
			f->failed = true;
	} else if (strcmp(what, "service") == 0) {
		if (fetch_append(f, "Services", j) != 0)
			f->failed = true;
	} else if (strcmp(what, "services") == 0) {
		const char *name;
		json_t     *tags;

		if (!json_is_object(j))
			f->failed = true;
		json_object_foreach(j, name, tags)
			if (!f->failed && fetch_call(f, "service", name) != 0)
				f->failed = true;
	}
out:
	json_decref(j);
	proto_free_raft_result(&r);
	if (f->pending == 0)
		fetch_finish(f);
}

int
fetch_start(struct fetch *f, struct bus *b)
{
	if (f->busy)
		return -1;
	f->bus = b;
	f->busy = true;
	f->failed = false;
	f->pending = 0;
	f->index = 0;
	f->status = 200;
	f->doc = NULL;
	if ((f->no_dump ? fetch_composite(f) : fetch_call(f, "dump", "")) !=
	    0) {
		f->failed = true;
		f->status = 0;
	}
	if (f->pending == 0) {
		/* Nothing went out: finish now, from the loop's next turn
		 * would be nicer, but done() copes with being called here. */
		fetch_finish(f);
		return -1;
	}
	return 0;
}
