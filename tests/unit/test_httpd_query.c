/*
 * httpd's query decoding: Consul's parse() order and texts, the KV
 * parameters, Go's url.Values.Encode() for "Conflicting flags".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "httpd/httpd.h"

static void
parse(struct httpd_query *q, const char *qs)
{
	memset(q, 0, sizeof(*q));
	assert_int_equal(query_parse_string(q, qs), 0);
}

static void
test_parse_and_get(void **state)
{
	struct httpd_query q;
	bool               present;

	(void)state;
	parse(&q, "recurse&separator=%2F&a+b=c+d&&=x&empty=");
	assert_string_equal(query_get(&q, "recurse", &present), "");
	assert_true(present);
	assert_string_equal(query_get(&q, "separator", NULL), "/");
	assert_string_equal(query_get(&q, "a b", NULL), "c d");
	assert_string_equal(query_get(&q, "empty", NULL), "");
	assert_null(query_get(&q, "nope", &present));
	assert_false(present);
	query_free(&q);
}

static void
test_common(void **state)
{
	struct httpd_query q;
	struct httpd_err   err = { 0 };

	(void)state;
	parse(&q, "stale&consistent");
	assert_int_equal(query_common(&q, &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.text,
	    "Cannot specify ?stale with ?consistent, conflicting semantics.");
	query_free(&q);

	parse(&q, "index=10&wait=xyz");
	assert_int_equal(query_common(&q, &err), -1);
	assert_string_equal(err.text, "Invalid wait time");
	query_free(&q);

	parse(&q, "index=-1");
	assert_int_equal(query_common(&q, &err), -1);
	assert_string_equal(err.text, "Invalid index");
	query_free(&q);

	parse(&q, "index=42&wait=1m30s&pretty&unknown=1");
	assert_int_equal(query_common(&q, &err), 0);
	assert_true(q.has_index);
	assert_int_equal(q.index, 42);
	assert_int_equal(q.wait_ms, 90000);
	assert_true(q.pretty);
	query_free(&q);

	/* An empty wait or index is no wait or index, as in Go. */
	parse(&q, "index=&wait=");
	assert_int_equal(query_common(&q, &err), 0);
	assert_false(q.has_index);
	assert_false(q.has_wait);
	query_free(&q);
}

static void
test_kv(void **state)
{
	struct httpd_query q;
	struct httpd_err   err = { 0 };

	(void)state;
	parse(&q, "cas=abc");
	assert_int_equal(query_kv(&q, 1, 0, &err), -1);
	assert_int_equal(err.status, 500);
	assert_string_equal(err.text,
	    "strconv.ParseUint: parsing \"abc\": invalid syntax");
	query_free(&q);

	parse(&q, "flags=99999999999999999999");
	assert_int_equal(query_kv(&q, 1, 0, &err), -1);
	assert_string_equal(err.text, "strconv.ParseUint: parsing "
	    "\"99999999999999999999\": value out of range");
	query_free(&q);

	parse(&q, "release=s2&cas=1&acquire=s%201");
	assert_int_equal(query_kv(&q, 1, 0, &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.text,
	    "Conflicting flags: acquire=s+1&cas=1&release=s2\n");
	query_free(&q);

	parse(&q, "recurse&cas=3");
	assert_int_equal(query_kv(&q, 0, 1, &err), -1);
	assert_string_equal(err.text, "Conflicting flags: cas=3&recurse=\n");
	query_free(&q);

	parse(&q, "flags=18446744073709551615&cas=0&acquire=abc");
	assert_int_equal(query_kv(&q, 1, 0, &err), -1); /* cas + acquire */
	query_free(&q);

	parse(&q, "flags=18446744073709551615&cas=0");
	assert_int_equal(query_kv(&q, 1, 0, &err), 0);
	assert_true(q.has_flags);
	assert_true(q.flags == UINT64_MAX);
	assert_true(q.has_cas);
	assert_int_equal(q.cas, 0);
	query_free(&q);

	/* Consul's historic misspelling; the right one wins. */
	parse(&q, "keys&seperator=-&separator=/");
	assert_int_equal(query_kv(&q, 0, 0, &err), 0);
	assert_true(q.keys);
	assert_string_equal(q.separator, "/");
	query_free(&q);
	parse(&q, "keys&seperator=-");
	assert_int_equal(query_kv(&q, 0, 0, &err), 0);
	assert_string_equal(q.separator, "-");
	query_free(&q);

	/* GET ignores the write parameters. */
	parse(&q, "cas=zzz&flags=zz&raw");
	assert_int_equal(query_kv(&q, 0, 0, &err), 0);
	assert_true(q.raw);
	query_free(&q);
}

static void
test_uint(void **state)
{
	char     e[128];
	uint64_t v;

	(void)state;
	assert_int_equal(query_parse_uint("0", &v, e, sizeof(e)), 0);
	assert_int_equal(v, 0);
	assert_int_equal(query_parse_uint("", &v, e, sizeof(e)), -1);
	assert_string_equal(e, "strconv.ParseUint: parsing \"\": invalid syntax");
	assert_int_equal(query_parse_uint("+1", &v, e, sizeof(e)), -1);
	assert_int_equal(query_parse_uint("1_000", &v, e, sizeof(e)), -1);
	assert_int_equal(query_parse_uint("18446744073709551616", &v, e,
	    sizeof(e)), -1);
}

static void
test_routes(void **state)
{
	const char *arg;

	(void)state;
	assert_non_null(routes_find("/v1/kv/a/b", &arg));
	assert_string_equal(arg, "a/b");
	assert_non_null(routes_find("/v1/kv", &arg));
	assert_string_equal(arg, "");
	assert_non_null(routes_find("/v1/session/info/x", &arg));
	assert_string_equal(arg, "x");
	assert_null(routes_find("/v1/session/listx", &arg));
	assert_null(routes_find("/v1/nope", &arg));
	assert_non_null(routes_find("/v1/status/leader", &arg));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_get),
		cmocka_unit_test(test_common),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
