/*
 * httpd's body decoding: keys in any case and snake_case become Consul's
 * PascalCase, user maps are left alone, bad JSON is a 400 with Consul's
 * prefix, ?pretty re-indents like Go's MarshalIndent.
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

static char *
canon(const char *in, const char *const *names)
{
	struct httpd_err err = { 0 };
	json_t          *doc;
	char            *out;

	doc = json_decode_body(in, strlen(in), names, &err);
	assert_non_null(doc);
	out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	json_decref(doc);
	return out;
}

static void
test_session_keys(void **state)
{
	char *s;

	(void)state;
	/* What python-consul and Patroni send. */
	s = canon("{\"name\":\"n\",\"checks\":[],\"lockdelay\":\"0.001s\","
	    "\"behavior\":\"delete\",\"ttl\":\"15s\"}", json_session_names);
	assert_string_equal(s, "{\"Name\":\"n\",\"Checks\":[],"
	    "\"LockDelay\":\"0.001s\",\"Behavior\":\"delete\",\"TTL\":\"15s\"}");
	free(s);
	s = canon("{\"lock_delay\":\"1s\",\"node_checks\":[\"a\"],"
	    "\"SERVICE_CHECKS\":[{\"id\":\"x\",\"namespace\":\"\"}],"
	    "\"Other\":1}", json_session_names);
	assert_string_equal(s, "{\"LockDelay\":\"1s\",\"NodeChecks\":[\"a\"],"
	    "\"ServiceChecks\":[{\"ID\":\"x\",\"Namespace\":\"\"}],"
	    "\"Other\":1}");
	free(s);
}

static void
test_txn_keys(void **state)
{
	char *s;

	(void)state;
	s = canon("[{\"kv\":{\"verb\":\"set\",\"key\":\"k\",\"value\":\"dg==\","
	    "\"flags\":3}},{\"Node\":{\"Verb\":\"set\",\"Node\":{\"node\":\"n\","
	    "\"meta\":{\"id\":\"keep\",\"Name\":\"keep\"}}}}]", json_txn_names);
	assert_string_equal(s, "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"k\","
	    "\"Value\":\"dg==\",\"Flags\":3}},{\"Node\":{\"Verb\":\"set\","
	    "\"Node\":{\"Node\":\"n\",\"Meta\":{\"id\":\"keep\","
	    "\"Name\":\"keep\"}}}}]");
	free(s);
}

static void
test_bad_json(void **state)
{
	struct httpd_err err = { 0 };

	(void)state;
	assert_null(json_decode_body("{\"Name\":", 8, json_session_names, &err));
	assert_int_equal(err.status, 400);
	assert_true(strncmp(err.text, "Request decode failed: ", 23) == 0);
	assert_null(json_decode_body("", 0, NULL, &err));
}

static void
test_pretty(void **state)
{
	size_t len;
	char  *s;

	(void)state;
	s = json_pretty("[{\"A\":1,\"B\":[]}]", 16, &len);
	assert_string_equal(s, "[\n    {\n        \"A\": 1,\n        \"B\": []\n"
	    "    }\n]\n");
	assert_int_equal(len, strlen(s));
	free(s);
	s = json_pretty("true", 4, &len);
	assert_string_equal(s, "true\n");
	free(s);
	/* Beyond jansson's integers: sent as is, not lost. */
	s = json_pretty("[18446744073709551615]", 22, &len);
	assert_string_equal(s, "[18446744073709551615]\n");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_keys),
		cmocka_unit_test(test_txn_keys),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_pretty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
