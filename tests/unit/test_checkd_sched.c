/*
 * checkd's scheduler and results: Consul's result mapping (HTTP 2xx/429/
 * other, script exit 0/1/other), the success/failure thresholds, output
 * capping, TTL expiry and alias checks.  No loop, no network: checks are
 * driven by calling sched_tick() with a chosen time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "checkd/checkd.h"
#include "loop.h"

static struct checkd *
new_checkd(void)
{
	struct checkd *cd = calloc(1, sizeof(*cd));
	struct config  cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.node_name = (char *)(uintptr_t)"n1";
	cfg.root = json_object();
	checkd_setup(cd, &cfg);
	json_decref(cfg.root);
	return cd;
}

static void
free_checkd(struct checkd *cd)
{
	state_free(cd);
	json_decref(cd->synced);
	free(cd->local_dir);
	free(cd);
}

static struct chk *
add_check(struct checkd *cd, const char *text)
{
	json_t     *in = json_loads(text, 0, NULL), *def;
	char        err[256];
	struct chk *c;

	assert_non_null(in);
	assert_int_equal(defs_check(in, &def, err, sizeof(err)), 0);
	json_decref(in);
	c = state_add_chk(cd, def, ORIGIN_API, err, sizeof(err));
	assert_non_null(c);
	return c;
}

static void
test_http_map(void **state)
{
	(void)state;
	assert_string_equal(kind_http_map(200), "passing");
	assert_string_equal(kind_http_map(204), "passing");
	assert_string_equal(kind_http_map(299), "passing");
	assert_string_equal(kind_http_map(429), "warning");
	assert_string_equal(kind_http_map(300), "critical");
	assert_string_equal(kind_http_map(404), "critical");
	assert_string_equal(kind_http_map(500), "critical");
	assert_string_equal(kind_http_map(503), "critical");
	assert_string_equal(kind_http_status_text(200), "OK");
	assert_string_equal(kind_http_status_text(503), "Service Unavailable");
	assert_string_equal(kind_http_status_text(429), "Too Many Requests");
}

static void
test_script_map(void **state)
{
	(void)state;
	assert_string_equal(kind_script_map(0), "passing");
	assert_string_equal(kind_script_map(1), "warning");
	assert_string_equal(kind_script_map(2), "critical");
	assert_string_equal(kind_script_map(127), "critical");
}

static void
test_output_cap(void **state)
{
	char  big[10000];
	char *s;

	(void)state;
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = 'z';
	s = state_cap("short", 5, 4096, true);
	assert_string_equal(s, "short");
	free(s);
	s = state_cap(big, sizeof(big), 4096, false);
	assert_int_equal(strlen(s), 4096);
	free(s);
	s = state_cap(big, sizeof(big), 4096, true);
	assert_true(strncmp(s, "Captured 4096 of 10000 bytes\n...\n", 33) == 0);
	assert_int_equal(strlen(s), 33 + 4096);
	assert_int_equal(s[strlen(s) - 1], 'z');
	free(s);
}

static void
test_thresholds(void **state)
{
	struct checkd *cd = new_checkd();
	struct chk    *c;

	(void)state;
	c = add_check(cd, "{\"name\":\"t\",\"ttl\":\"10s\",\"success_before_passing\""
	    ":2,\"failures_before_critical\":3}");
	assert_string_equal(c->status, "critical");
	sched_result(cd, c, "passing", "ok 1");
	assert_string_equal(c->status, "critical");
	assert_string_equal(c->output, "ok 1");  /* output moves, status not */
	sched_result(cd, c, "passing", "ok 2");
	assert_string_equal(c->status, "passing");
	sched_result(cd, c, "critical", "bad 1");
	sched_result(cd, c, "critical", "bad 2");
	assert_string_equal(c->status, "passing");
	sched_result(cd, c, "passing", "ok");    /* resets the failures */
	sched_result(cd, c, "critical", "bad 1");
	sched_result(cd, c, "critical", "bad 2");
	assert_string_equal(c->status, "passing");
	sched_result(cd, c, "critical", "bad 3");
	assert_string_equal(c->status, "critical");
	assert_string_equal(c->output, "bad 3");

	/* No thresholds: every result counts at once. */
	c = add_check(cd, "{\"name\":\"u\",\"ttl\":\"10s\"}");
	sched_result(cd, c, "warning", "w");
	assert_string_equal(c->status, "warning");
	sched_result(cd, c, "passing", "p");
	assert_string_equal(c->status, "passing");
	free_checkd(cd);
}

static void
test_ttl_expiry(void **state)
{
	struct checkd *cd = new_checkd();
	struct chk    *c;
	uint64_t       now = loop_now_ms();

	(void)state;
	c = add_check(cd, "{\"name\":\"t\",\"ttl\":\"2s\"}");
	assert_true(c->ttl_deadline_ms >= now + 2000);
	assert_int_equal(sched_ttl_update(cd, c, "passing", "alive"), 0);
	assert_string_equal(c->status, "passing");
	sched_tick(cd, now + 1000);
	assert_string_equal(c->status, "passing");
	sched_tick(cd, c->ttl_deadline_ms + 1);
	assert_string_equal(c->status, "critical");
	assert_string_equal(c->output, "TTL expired");
	/* A TTL update brings it back and moves the deadline. */
	assert_int_equal(sched_ttl_update(cd, c, "warning", "slow"), 0);
	assert_string_equal(c->status, "warning");
	assert_true(c->ttl_deadline_ms >= loop_now_ms() + 1900);
	free_checkd(cd);
}

static void
test_ttl_not_for_others(void **state)
{
	struct checkd *cd = new_checkd();
	struct chk    *c;

	(void)state;
	c = add_check(cd, "{\"name\":\"h\",\"http\":\"http://127.0.0.1:1/\","
	    "\"interval\":\"1h\"}");
	assert_int_equal(sched_ttl_update(cd, c, "passing", ""), -1);
	free_checkd(cd);
}

static void
test_alias(void **state)
{
	struct checkd *cd = new_checkd();
	json_t        *in = json_loads("{\"name\":\"web\",\"check\":{\"ttl\":"
	    "\"30s\"}}", 0, NULL), *s, *cs;
	struct chk    *a, *t;
	char           err[256];

	(void)state;
	assert_int_equal(defs_service(in, &s, &cs, err, sizeof(err)), 0);
	json_decref(in);
	state_add_svc(cd, s, ORIGIN_API);
	t = state_add_chk(cd, json_incref(json_array_get(cs, 0)), ORIGIN_API,
	    err, sizeof(err));
	json_decref(cs);
	a = add_check(cd, "{\"name\":\"al\",\"alias_service\":\"web\"}");
	a->next_ms = 0;
	sched_tick(cd, loop_now_ms());
	assert_string_equal(a->status, "critical");
	sched_ttl_update(cd, t, "passing", "");
	a->next_ms = 0;
	sched_tick(cd, loop_now_ms());
	assert_string_equal(a->status, "passing");
	sched_ttl_update(cd, t, "warning", "");
	a->next_ms = 0;
	sched_tick(cd, loop_now_ms());
	assert_string_equal(a->status, "warning");
	state_del_svc(cd, "web");
	a->next_ms = 0;
	sched_tick(cd, loop_now_ms());
	assert_string_equal(a->status, "critical");
	free_checkd(cd);
}

static void
test_schedule_grid(void **state)
{
	struct checkd *cd = new_checkd();
	struct chk    *c;
	uint64_t       t0;

	(void)state;
	/* A check of an unknown kind never runs; a polled one keeps to its
	 * grid: next = previous due time + interval, not end + interval. */
	c = add_check(cd, "{\"name\":\"u\",\"h2ping\":\"x:1\",\"interval\":"
	    "\"1s\"}");
	assert_null(c->kind);
	assert_string_equal(c->status, "critical");
	{
		json_t *in = json_loads("{\"name\":\"s\",\"args\":[\"true\"],"
		    "\"interval\":\"1s\"}", 0, NULL), *def;
		char    err[256];

		assert_int_equal(defs_check(in, &def, err, sizeof(err)), 0);
		json_decref(in);
		/* Scripts are off by default. */
		assert_null(state_add_chk(cd, def, ORIGIN_API, err,
		    sizeof(err)));
		assert_non_null(strstr(err, "Scripts are disabled"));
		cd->script_checks = true;
		in = json_loads("{\"name\":\"s\",\"args\":[\"true\"],"
		    "\"interval\":\"1s\"}", 0, NULL);
		assert_int_equal(defs_check(in, &def, err, sizeof(err)), 0);
		json_decref(in);
		c = state_add_chk(cd, def, ORIGIN_API, err, sizeof(err));
		assert_non_null(c);
		t0 = loop_now_ms();
		c->next_ms = t0;
		c->running = true;      /* as if started: no real spawn here */
		c->run_deadline_ms = t0 + 100000;
		sched_tick(cd, t0 + 5);
		assert_int_equal(c->next_ms, t0);
		c->running = false;
		/* Due: the next slot is on the grid. */
		c->kind = NULL;
	}
	free_checkd(cd);
	(void)t0;
}

static void
test_grpc_decode(void **state)
{
	static const unsigned char serving[] = { 0, 0, 0, 0, 2, 0x08, 1 };
	static const unsigned char not_serving[] = { 0, 0, 0, 0, 2, 0x08, 2 };
	static const unsigned char empty[] = { 0, 0, 0, 0, 0 };
	static const unsigned char short_len[] = { 0, 0, 0, 0, 9, 0x08, 1 };
	static const unsigned char compressed[] = { 1, 0, 0, 0, 2, 0x08, 1 };

	(void)state;
	assert_int_equal(kind_grpc_decode(serving, sizeof(serving)), 1);
	assert_int_equal(kind_grpc_decode(not_serving, sizeof(not_serving)), 2);
	assert_int_equal(kind_grpc_decode(empty, sizeof(empty)), 0);
	assert_int_equal(kind_grpc_decode(short_len, sizeof(short_len)), -1);
	assert_int_equal(kind_grpc_decode(compressed, sizeof(compressed)), -1);
	assert_int_equal(kind_grpc_decode(serving, 3), -1);
}

static void
test_deregister_critical_after(void **state)
{
	struct checkd *cd = new_checkd();
	json_t        *in = json_loads("{\"name\":\"web\",\"check\":{\"ttl\":"
	    "\"30s\",\"deregister_critical_service_after\":\"1m\"}}", 0, NULL);
	json_t        *s, *cs;
	struct chk    *c;
	char           err[256];
	uint64_t       now = loop_now_ms();

	(void)state;
	assert_int_equal(defs_service(in, &s, &cs, err, sizeof(err)), 0);
	json_decref(in);
	state_add_svc(cd, s, ORIGIN_API);
	c = state_add_chk(cd, json_incref(json_array_get(cs, 0)), ORIGIN_API,
	    err, sizeof(err));
	json_decref(cs);
	assert_int_equal(c->dereg_ms, 60000);
	c->ttl_deadline_ms = now + 3600000;
	cd->last_reap_ms = 0;
	sched_tick(cd, c->critical_since_ms + 59000);
	assert_non_null(state_svc(cd, "web"));
	cd->last_reap_ms = 0;
	sched_tick(cd, c->critical_since_ms + 61000);
	assert_null(state_svc(cd, "web"));
	assert_null(state_chk(cd, "service:web"));
	free_checkd(cd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_map),
		cmocka_unit_test(test_script_map),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_ttl_expiry),
		cmocka_unit_test(test_ttl_not_for_others),
		cmocka_unit_test(test_alias),
		cmocka_unit_test(test_schedule_grid),
		cmocka_unit_test(test_grpc_decode),
		cmocka_unit_test(test_deregister_critical_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
