/* The option table: flags, durations, key matching, merging, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static void
test_durations(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(config_parse_duration("10s", &ns), 0);
	assert_true(ns == 10000000000LL);
	assert_int_equal(config_parse_duration("1.5h", &ns), 0);
	assert_true(ns == 5400000000000LL);
	assert_int_equal(config_parse_duration("1m30s", &ns), 0);
	assert_true(ns == 90000000000LL);
	assert_int_equal(config_parse_duration("250ms", &ns), 0);
	assert_true(ns == 250000000LL);
	assert_int_equal(config_parse_duration("0.001s", &ns), 0);
	assert_true(ns == 1000000LL);
	assert_int_equal(config_parse_duration("0", &ns), 0);
	assert_true(ns == 0);
	assert_int_equal(config_parse_duration("-5s", &ns), 0);
	assert_true(ns == -5000000000LL);
	assert_int_equal(config_parse_duration("10", &ns), -1);
	assert_int_equal(config_parse_duration("s", &ns), -1);
	assert_int_equal(config_parse_duration("", &ns), -1);
	assert_int_equal(config_parse_duration("5x", &ns), -1);
	assert_int_equal(config_parse_duration("99999999999h", &ns), -1);
}

static void
test_key_lookup_any_case(void **state)
{
	json_t *o = json_pack("{s:i, s:i, s:i}", "LockDelay", 1, "enable_tag_override", 2,
	    "ttl", 3);

	(void)state;
	assert_int_equal(json_integer_value(config_jget(o, "lockdelay")), 1);
	assert_int_equal(json_integer_value(config_jget(o, "lock_delay")), 1);
	assert_int_equal(json_integer_value(config_jget(o, "EnableTagOverride")), 2);
	assert_int_equal(json_integer_value(config_jget(o, "TTL")), 3);
	assert_null(config_jget(o, "Behavior"));
	json_decref(o);
}

static void
test_flags_into_document(void **state)
{
	json_t *doc = json_object();
	char    err[256];
	const struct config_option *o;

	(void)state;
	assert_non_null(o = config_find_flag("-data-dir"));
	assert_string_equal(o->key, "data_dir");
	assert_non_null(config_find_flag("--data-dir=/x"));
	assert_null(config_find_flag("-no-such"));
	assert_int_equal(config_set_flag(doc, config_find_flag("-dns-port"), "53",
	    err, sizeof(err)), 0);
	assert_int_equal(json_integer_value(config_path(doc, "ports.dns")), 53);
	assert_int_equal(config_set_flag(doc, config_find_flag("-retry-join"), "a",
	    err, sizeof(err)), 0);
	assert_int_equal(config_set_flag(doc, config_find_flag("-retry-join"), "b",
	    err, sizeof(err)), 0);
	assert_int_equal(json_array_size(config_path(doc, "retry_join")), 2);
	assert_int_equal(config_set_flag(doc, config_find_flag("-node-meta"), "rack:r1",
	    err, sizeof(err)), 0);
	assert_string_equal(json_string_value(config_path(doc, "node_meta.rack")), "r1");
	assert_int_equal(config_set_flag(doc, config_find_flag("-node-meta"), "norack",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key:value"));
	assert_int_equal(config_set_flag(doc, config_find_flag("-http-port"), "x",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid number \"x\" for -http-port"));
	assert_int_equal(config_set_flag(doc, config_find_flag("-retry-interval"), "5q",
	    err, sizeof(err)), -1);
	config_fill_defaults(doc);
	assert_string_equal(json_string_value(config_path(doc, "datacenter")), "dc1");
	assert_int_equal(json_integer_value(config_path(doc, "ports.http")), 8500);
	assert_int_equal(json_integer_value(config_path(doc, "ports.dns")), 53);

	struct config c;
	assert_int_equal(config_from_json(doc, &c, err, sizeof(err)), 0);
	assert_int_equal(c.port_dns, 53);
	assert_int_equal(c.retry_join.n, 2);
	assert_string_equal(c.domain, "consul.");
	assert_true(c.leave_on_terminate);   /* a client by default */
	assert_false(c.server);
	config_free(&c);
	json_decref(doc);
}

/* Flags that cannot be set say why, and leave the document whole. */
static void
test_flags_refused(void **state)
{
	json_t *doc = json_object();
	char    err[256];

	(void)state;
	err[0] = '\0';
	assert_int_equal(config_set_flag(doc, config_find_flag("-config-file"), "/x",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "-config-file is not a setting"));
	assert_int_equal(config_set_flag(doc, config_find_flag("-node"), "n\xdd\xcf",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid UTF-8 in the value of -node"));
	assert_int_equal(config_set_flag(doc, config_find_flag("-retry-join"), "\xff",
	    err, sizeof(err)), -1);
	assert_null(config_path(doc, "retry_join"));
	assert_int_equal(config_set_flag(doc, config_find_flag("-node-meta"), "k:\xff",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid UTF-8"));
	/* "ports": 5 leaves nowhere to put ports.dns. */
	json_object_set_new(doc, "ports", json_integer(5));
	err[0] = '\0';
	assert_int_equal(config_set_flag(doc, config_find_flag("-dns-port"), "53",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot set ports.dns"));
	assert_int_equal(json_integer_value(json_object_get(doc, "ports")), 5);
	json_decref(doc);
}

static void
test_validate_and_merge(void **state)
{
	char    err[256];
	json_t *doc = json_pack("{s:s, s:[{s:s}]}", "datacenter", "east", "services",
	    "name", "a");
	json_t *more = json_pack("{s:[{s:s}], s:{s:i}}", "services", "name", "b",
	    "ports", "dns", 8601);

	(void)state;
	assert_int_equal(config_validate(doc, "f.json", err, sizeof(err)), 0);
	config_merge(doc, more);
	assert_int_equal(json_array_size(config_path(doc, "services")), 2);
	assert_int_equal(json_integer_value(config_path(doc, "ports.dns")), 8601);
	json_object_set_new(doc, "server", json_string("yes"));
	assert_int_equal(config_validate(doc, "f.json", err, sizeof(err)), -1);
	assert_string_equal(err, "f.json: server: must be a boolean");
	json_object_set_new(doc, "server", json_true());
	json_object_set_new(doc, "bogus", json_true());
	assert_int_equal(config_validate(doc, "f.json", err, sizeof(err)), -1);
	assert_string_equal(err, "f.json: invalid config key bogus");
	json_decref(doc);
	json_decref(more);
}

static void
test_load_dir_in_order(void **state)
{
	char  dir[] = "/tmp/tribune-cfgXXXXXX";
	char  path[256], err[256];
	FILE *f;
	json_t *doc = json_object();

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.json", dir);
	f = fopen(path, "w");
	fputs("{\"datacenter\": \"second\"}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/a.json", dir);
	f = fopen(path, "w");
	fputs("{\"datacenter\": \"first\", \"node_name\": \"n\"}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ignored.txt", dir);
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_int_equal(config_load_path(doc, dir, err, sizeof(err)), 0);
	/* Files in name order: b.json wins. */
	assert_string_equal(json_string_value(config_path(doc, "datacenter")), "second");
	assert_string_equal(json_string_value(config_path(doc, "node_name")), "n");
	snprintf(path, sizeof(path), "%s/c.json", dir);
	f = fopen(path, "w");
	fputs("{\"datacenter\": ", f);
	fclose(f);
	assert_int_equal(config_load_path(doc, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "c.json: line 1"));
	assert_int_equal(config_load_path(doc, "/nonexistent/x.json", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	json_decref(doc);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_key_lookup_any_case),
		cmocka_unit_test(test_flags_into_document),
		cmocka_unit_test(test_flags_refused),
		cmocka_unit_test(test_validate_and_merge),
		cmocka_unit_test(test_load_dir_in_order),
	};
	return cmocka_run_group_tests_name("proto_config", tests, NULL, NULL);
}
