/*
 * checkd's definition decoder: Consul's defaults (ID = name, Weights 1/1,
 * service:<id>[:N] check ids, Status critical), keys in any case and
 * snake_case, and the 400 texts for bad definitions.
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

static json_t *
parse(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	return v;
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
test_service_defaults(void **state)
{
	json_t *in = parse("{\"name\":\"web\"}"), *s, *c;
	char    err[256];

	(void)state;
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), 0);
	assert_string_equal(jstr(s, "ID"), "web");
	assert_string_equal(jstr(s, "Name"), "web");
	assert_string_equal(jstr(s, "Address"), "");
	assert_int_equal(json_array_size(json_object_get(s, "Tags")), 0);
	assert_int_equal(json_object_size(json_object_get(s, "Meta")), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "Port")), 0);
	assert_true(json_is_false(json_object_get(s, "EnableTagOverride")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "Weights"), "Passing")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "Weights"), "Warning")), 1);
	assert_int_equal(json_array_size(c), 0);
	json_decref(in);
	json_decref(s);
	json_decref(c);
}

static void
test_service_keys_any_case(void **state)
{
	json_t *in = parse("{\"NAME\":\"db\",\"id\":\"db1\",\"enable_tag_override\""
	    ":true,\"tagged_addresses\":{\"lan\":{\"address\":\"10.0.0.1\","
	    "\"port\":5}},\"weights\":{\"passing\":3},\"meta\":{\"Env\":\"x\"},"
	    "\"Port\":5432,\"tags\":[\"a\"]}"), *s, *c;
	char    err[256];

	(void)state;
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), 0);
	assert_string_equal(jstr(s, "ID"), "db1");
	assert_true(json_is_true(json_object_get(s, "EnableTagOverride")));
	assert_string_equal(jstr(json_object_get(json_object_get(s,
	    "TaggedAddresses"), "lan"), "Address"), "10.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "Weights"), "Passing")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s,
	    "Weights"), "Warning")), 1);
	/* User maps keep their keys. */
	assert_string_equal(jstr(json_object_get(s, "Meta"), "Env"), "x");
	json_decref(in);
	json_decref(s);
	json_decref(c);
}

static void
test_service_check_ids(void **state)
{
	json_t *in, *s, *c;
	char    err[256];

	(void)state;
	in = parse("{\"name\":\"web\",\"check\":{\"ttl\":\"10s\"}}");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(jstr(json_array_get(c, 0), "CheckID"),
	    "service:web");
	assert_string_equal(jstr(json_array_get(c, 0), "Name"),
	    "Service 'web' check");
	assert_string_equal(jstr(json_array_get(c, 0), "ServiceID"), "web");
	assert_string_equal(jstr(json_array_get(c, 0), "Status"), "critical");
	json_decref(in);
	json_decref(s);
	json_decref(c);

	in = parse("{\"name\":\"web\",\"id\":\"w1\",\"checks\":[{\"ttl\":\"10s\"},"
	    "{\"http\":\"http://x/\",\"interval\":\"5s\",\"name\":\"h\"},"
	    "{\"id\":\"mine\",\"tcp\":\"x:1\",\"interval\":\"1s\"}]}");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(c), 3);
	assert_string_equal(jstr(json_array_get(c, 0), "CheckID"),
	    "service:w1:1");
	assert_string_equal(jstr(json_array_get(c, 1), "CheckID"),
	    "service:w1:2");
	assert_string_equal(jstr(json_array_get(c, 1), "Name"), "h");
	assert_string_equal(jstr(json_array_get(c, 1), "Method"), "GET");
	assert_string_equal(jstr(json_array_get(c, 2), "CheckID"), "mine");
	assert_string_equal(jstr(json_array_get(c, 2), "Type"), "tcp");
	json_decref(in);
	json_decref(s);
	json_decref(c);
}

static void
test_service_errors(void **state)
{
	json_t *in, *s, *c;
	char    err[256];

	(void)state;
	in = parse("{\"port\":1}");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "Missing service name");
	json_decref(in);
	in = parse("{\"name\":\"a\",\"weights\":{\"passing\":0}}");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "Passing must be greater than 0");
	json_decref(in);
	in = parse("{\"name\":\"a\",\"tags\":\"x\"}");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Request decode failed"));
	json_decref(in);
	in = parse("{\"name\":\"a\",\"check\":{\"http\":\"http://x\"}}");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "Invalid check: Interval must be > 0 for "
	    "Script, HTTP, H2PING, TCP or UDP checks");
	json_decref(in);
	in = parse("[1]");
	assert_int_equal(defs_service(in, &s, &c, err, sizeof(err)), -1);
	json_decref(in);
}

static void
test_check_fields(void **state)
{
	json_t *in, *c;
	char    err[256];

	(void)state;
	in = parse("{\"Name\":\"api\",\"HTTP\":\"https://x/h\",\"interval\":"
	    "\"10s\",\"timeout\":\"1s\",\"tls_skip_verify\":true,\"header\":"
	    "{\"X-A\":\"one\",\"X-B\":[\"1\",\"2\"]},\"method\":\"POST\","
	    "\"body\":\"{}\",\"success_before_passing\":2,"
	    "\"FailuresBeforeCritical\":3,\"deregister_critical_service_after\""
	    ":\"90m\",\"status\":\"passing\",\"notes\":\"n\"}");
	assert_int_equal(defs_check(in, &c, err, sizeof(err)), 0);
	assert_string_equal(jstr(c, "CheckID"), "api");
	assert_string_equal(jstr(c, "Type"), "http");
	assert_string_equal(jstr(c, "Status"), "passing");
	assert_string_equal(jstr(c, "Method"), "POST");
	assert_true(json_is_true(json_object_get(c, "TLSSkipVerify")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(c,
	    "Header"), "X-A")), 1);
	assert_int_equal(json_array_size(json_object_get(json_object_get(c,
	    "Header"), "X-B")), 2);
	assert_int_equal(json_integer_value(json_object_get(c,
	    "SuccessBeforePassing")), 2);
	assert_int_equal(json_integer_value(json_object_get(c,
	    "FailuresBeforeCritical")), 3);
	assert_string_equal(jstr(c, "DeregisterCriticalServiceAfter"), "90m");
	assert_int_equal(defs_duration_ms(json_object_get(c,
	    "DeregisterCriticalServiceAfter")), 90 * 60 * 1000);
	json_decref(in);
	json_decref(c);

	in = parse("{\"name\":\"s\",\"args\":[\"/bin/true\"],\"interval\":\"1s\","
	    "\"id\":\"sid\"}");
	assert_int_equal(defs_check(in, &c, err, sizeof(err)), 0);
	assert_string_equal(jstr(c, "CheckID"), "sid");
	assert_string_equal(jstr(c, "Type"), "script");
	json_decref(in);
	json_decref(c);

	in = parse("{\"name\":\"s\",\"ScriptArgs\":[\"x\"],\"interval\":\"1s\"}");
	assert_int_equal(defs_check(in, &c, err, sizeof(err)), 0);
	assert_non_null(json_object_get(c, "Args"));
	json_decref(in);
	json_decref(c);

	in = parse("{\"name\":\"a\",\"alias_service\":\"web\"}");
	assert_int_equal(defs_check(in, &c, err, sizeof(err)), 0);
	assert_string_equal(jstr(c, "Type"), "alias");
	json_decref(in);
	json_decref(c);
}

static void
test_check_errors(void **state)
{
	static const struct { const char *in, *err; } t[] = {
		{ "{\"ttl\":\"1s\"}", "Missing check name" },
		{ "{\"name\":\"x\"}", "Must provide TTL or Script/"
		  "DockerContainerID/HTTP/TCP/UDP/GRPC/H2PING/AliasService/"
		  "OSService and Interval" },
		{ "{\"name\":\"x\",\"ttl\":\"1s\",\"status\":\"bad\"}",
		  "Invalid check status: \"bad\"" },
		{ "{\"name\":\"x\",\"tcp\":\"a:1\"}", "Interval must be > 0 for "
		  "Script, HTTP, H2PING, TCP or UDP checks" },
		{ "{\"name\":\"x\",\"ttl\":\"soon\"}",
		  "Request decode failed: time: invalid duration \"soon\"" },
		{ "{\"name\":\"x\",\"ttl\":\"0s\"}",
		  "TTL must be > 0 for TTL checks" },
		{ "{\"name\":5,\"ttl\":\"1s\"}", NULL },
		{ NULL, NULL }
	};
	char    err[256];
	json_t *in, *c;

	(void)state;
	for (size_t i = 0; t[i].in != NULL; i++) {
		in = parse(t[i].in);
		assert_int_equal(defs_check(in, &c, err, sizeof(err)), -1);
		assert_null(c);
		if (t[i].err != NULL)
			assert_string_equal(err, t[i].err);
		json_decref(in);
	}
}

static void
test_from_config(void **state)
{
	json_t *root = parse("{\"service\":{\"name\":\"a\"},\"services\":[{"
	    "\"name\":\"b\",\"checks\":[{\"ttl\":\"1s\"}]},{\"name\":\"c\"}],"
	    "\"check\":{\"name\":\"n1\",\"ttl\":\"5s\"},\"Checks\":[{\"name\":"
	    "\"n2\",\"ttl\":\"5s\"}]}");
	json_t *svcs = json_array(), *chks = json_array();

	(void)state;
	assert_int_equal(defs_from_config(root, svcs, chks), 0);
	assert_int_equal(json_array_size(svcs), 3);
	assert_int_equal(json_array_size(chks), 2);
	assert_string_equal(jstr(json_array_get(json_object_get(
	    json_array_get(svcs, 1), "Checks"), 0), "CheckID"), "service:b");
	json_decref(root);
	json_decref(svcs);
	json_decref(chks);
}

static void
test_go_duration(void **state)
{
	static const struct { int64_t ms; const char *s; } t[] = {
		{ 0, "0s" }, { 250, "250ms" }, { 1000, "1s" }, { 1500, "1.5s" },
		{ 10000, "10s" }, { 60000, "1m0s" }, { 90000, "1m30s" },
		{ 3600000, "1h0m0s" }, { 5400000, "1h30m0s" }, { 1250, "1.25s" },
		{ -1, NULL }
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; t[i].s != NULL; i++) {
		defs_go_duration(t[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, t[i].s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_defaults),
		cmocka_unit_test(test_service_keys_any_case),
		cmocka_unit_test(test_service_check_ids),
		cmocka_unit_test(test_service_errors),
		cmocka_unit_test(test_check_fields),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_from_config),
		cmocka_unit_test(test_go_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
