/*
 * dnsd's catalog fetch (dnsd/fetch.c) against a fake raftd on a real bus:
 * the one-call "dump", the composite of catalog reads when raftd answers
 * 501 to "dump", and a raftd that serves no catalog at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "bus.h"
#include "dnsd/dnsd.h"
#include "loop.h"
#include "msg_raft.h"

static char rundir[64];

enum fake_mode { FAKE_DUMP, FAKE_NO_DUMP, FAKE_DUMP_400, FAKE_NOTHING };

struct fake {
	struct bus    *bus;
	struct loop   *loop;
	pthread_t      thr;
	enum fake_mode mode;
	json_t        *doc;   /* {"Nodes", "Services", "Checks"} */
	int            calls;
};

static const char *DOC =
    "{\"Nodes\":[{\"Node\":\"n1\",\"Address\":\"10.0.0.1\"},"
    "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\"}],"
    "\"Services\":[{\"Node\":\"n1\",\"ServiceID\":\"web1\","
    "\"ServiceName\":\"web\",\"ServiceTags\":[\"v1\"],\"ServicePort\":80},"
    "{\"Node\":\"n2\",\"ServiceID\":\"web2\",\"ServiceName\":\"web\","
    "\"ServicePort\":80},{\"Node\":\"n2\",\"ServiceID\":\"db\","
    "\"ServiceName\":\"db\",\"ServicePort\":5432}],"
    "\"Checks\":[{\"Node\":\"n2\",\"CheckID\":\"service:db\","
    "\"ServiceID\":\"db\",\"Status\":\"critical\"}]}";

static void
fake_reply(struct bus_req *req, int status, json_t *j)
{
	struct proto_raft_result r;

	memset(&r, 0, sizeof(r));
	r.status = (uint64_t)status;
	r.ok = status == 200;
	r.index = 42;
	r.json = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	bus_reply(req, PROTO_RAFT_RESULT, &r);
	free(r.json);
	json_decref(j);
}

static void
fake_req(struct bus *b, struct bus_req *req, const struct proto_env *env,
    void *arg)
{
	struct fake                   *f = arg;
	struct proto_raft_catalog_read m;
	json_t                        *out = NULL;
	size_t                         i;
	json_t                        *row;

	(void)b;
	if (env->type != PROTO_RAFT_CATALOG_READ ||
	    proto_unpack_raft_catalog_read(env, &m) != 0) {
		bus_req_drop(req);
		return;
	}
	f->calls++;
	if (f->mode == FAKE_NOTHING ||
	    (f->mode == FAKE_NO_DUMP && strcmp(m.what, "dump") == 0)) {
		fake_reply(req, 501, NULL);
	} else if (f->mode == FAKE_DUMP_400 && strcmp(m.what, "dump") == 0) {
		fake_reply(req, 400, NULL); /* raftd: "unknown catalog read" */
	} else if (strcmp(m.what, "dump") == 0) {
		fake_reply(req, 200, json_incref(f->doc));
	} else if (strcmp(m.what, "nodes") == 0) {
		fake_reply(req, 200, json_incref(json_object_get(f->doc,
		    "Nodes")));
	} else if (strcmp(m.what, "health_state") == 0) {
		fake_reply(req, 200, json_incref(json_object_get(f->doc,
		    "Checks")));
	} else if (strcmp(m.what, "services") == 0) {
		out = json_object();
		json_array_foreach(json_object_get(f->doc, "Services"), i, row)
			json_object_set_new(out, json_string_value(
			    json_object_get(row, "ServiceName")), json_array());
		fake_reply(req, 200, out);
	} else if (strcmp(m.what, "service") == 0) {
		out = json_array();
		json_array_foreach(json_object_get(f->doc, "Services"), i, row)
			if (strcmp(json_string_value(json_object_get(row,
			    "ServiceName")), m.arg) == 0)
				json_array_append(out, row);
		fake_reply(req, 200, out);
	} else {
		fake_reply(req, 404, NULL);
	}
	proto_free_raft_catalog_read(&m);
}

static void *
fake_run(void *arg)
{
	loop_run(((struct fake *)arg)->loop);
	return NULL;
}

static void
fake_start(struct fake *f, enum fake_mode mode)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->doc = json_loads(DOC, 0, NULL);
	f->loop = loop_new();
	f->bus = bus_open(rundir, "raftd");
	assert_non_null(f->bus);
	bus_attach(f->bus, f->loop);
	assert_int_equal(bus_serve(f->bus, fake_req, f), 0);
	pthread_create(&f->thr, NULL, fake_run, f);
}

static void
fake_stop(struct fake *f)
{
	loop_stop(f->loop);
	pthread_join(f->thr, NULL);
	bus_close(f->bus);
	loop_free(f->loop);
	json_decref(f->doc);
}

struct result {
	int          done;
	struct view *v;
	int          status;
};

static void
on_done(void *arg, struct view *v, int status)
{
	struct result *r = arg;

	r->done++;
	r->v = v;
	r->status = status;
}

static void
run_fetch(enum fake_mode mode, struct result *res, int *calls)
{
	struct fake  f;
	struct fetch ft;
	struct bus  *c;

	fake_start(&f, mode);
	c = bus_open(rundir, "dnsd");
	assert_non_null(c);
	memset(&ft, 0, sizeof(ft));
	memset(res, 0, sizeof(*res));
	ft.done = on_done;
	ft.arg = res;
	assert_int_equal(fetch_start(&ft, c), 0);
	assert_int_equal(fetch_start(&ft, c), -1); /* one at a time */
	for (int spins = 0; spins < 600 && !res->done; spins++) {
		bus_process(c);
		usleep(5000);
	}
	assert_int_equal(res->done, 1);
	assert_false(ft.busy);
	*calls = f.calls;
	bus_close(c);
	fake_stop(&f);
}

static void
check_view(struct view *v)
{
	assert_non_null(v);
	assert_int_equal(v->nnodes, 2);
	assert_int_equal(v->nservices, 3);
	assert_int_equal(view_group_get(v, "web", 3)->n, 2);
	assert_int_equal(view_service_get(v, "n2", "db")->status, VIEW_CRITICAL);
	assert_int_equal(v->index, 42);
}

static void
test_dump(void **state)
{
	struct result r;
	int           calls;

	(void)state;
	run_fetch(FAKE_DUMP, &r, &calls);
	assert_int_equal(r.status, 200);
	check_view(r.v);
	assert_int_equal(calls, 1);
	view_free(r.v);
}

static void
test_composite_when_no_dump(void **state)
{
	struct result r;
	int           calls;

	(void)state;
	run_fetch(FAKE_NO_DUMP, &r, &calls);
	check_view(r.v);
	/* dump, nodes, health_state, services, service web, service db */
	assert_int_equal(calls, 6);
	view_free(r.v);
}

static void
test_composite_when_dump_unknown(void **state)
{
	struct result r;
	int           calls;

	(void)state;
	run_fetch(FAKE_DUMP_400, &r, &calls);
	check_view(r.v);
	assert_int_equal(calls, 6);
	view_free(r.v);
}

static void
test_no_catalog(void **state)
{
	struct result r;
	int           calls;

	(void)state;
	run_fetch(FAKE_NOTHING, &r, &calls);
	assert_null(r.v);
	assert_int_equal(r.status, 501);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(rundir, sizeof(rundir), "/tmp/tribune-dnsfetch-%d",
	    (int)getpid());
	mkdir(rundir, 0700);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rundir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_composite_when_no_dump),
		cmocka_unit_test(test_composite_when_dump_unknown),
		cmocka_unit_test(test_no_catalog),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
