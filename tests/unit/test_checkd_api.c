/*
 * checkd's agent operations (what httpd's /v1/agent/... routes return) and
 * the persistence of API registrations and TTL state: register, list,
 * deregister, TTL updates, maintenance, agent health codes, Consul's error
 * texts, and a save/load round trip through a real local/ directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "checkd/checkd.h"
#include "loop.h"

struct ans {
	unsigned    status;
	char       *body;
	const char *ctype;
};

static struct checkd *
new_checkd(const char *dir)
{
	struct checkd *cd = calloc(1, sizeof(*cd));
	struct config  cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.node_name = (char *)(uintptr_t)"n1";
	cfg.data_dir = (char *)(uintptr_t)dir;
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

static void
call(struct checkd *cd, const char *op, const char *arg, const char *query,
    const char *body, struct ans *a)
{
	json_t *q = json_loads(query != NULL ? query : "{}", 0, NULL);

	free(a->body);
	api_call(cd, op, arg, q, body, &a->status, &a->body, &a->ctype);
	json_decref(q);
}

static json_t *
body_json(const struct ans *a)
{
	json_t *v = json_loads(a->body, JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	return v;
}

static void
test_register_and_list(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };
	json_t        *v, *s, *c;

	(void)state;
	call(cd, "service_register", "", NULL, "{\"name\":\"web\",\"port\":80,"
	    "\"tags\":[\"v1\"],\"check\":{\"ttl\":\"30s\"}}", &a);
	assert_int_equal(a.status, 200);
	assert_null(a.body);
	call(cd, "services", "", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.ctype, "application/json");
	v = body_json(&a);
	s = json_object_get(v, "web");
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "Service")),
	    "web");
	assert_int_equal(json_integer_value(json_object_get(s, "Port")), 80);
	assert_string_equal(json_string_value(json_object_get(s,
	    "Datacenter")), "dc1");
	json_decref(v);
	call(cd, "checks", "", NULL, NULL, &a);
	v = body_json(&a);
	c = json_object_get(v, "service:web");
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "Node")), "n1");
	assert_string_equal(json_string_value(json_object_get(c, "Status")),
	    "critical");
	assert_string_equal(json_string_value(json_object_get(c,
	    "ServiceName")), "web");
	assert_string_equal(json_string_value(json_array_get(json_object_get(c,
	    "ServiceTags"), 0)), "v1");
	assert_string_equal(json_string_value(json_object_get(c, "Type")),
	    "ttl");
	json_decref(v);
	call(cd, "service", "web", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "\"ContentHash\""));
	call(cd, "service", "nope", NULL, NULL, &a);
	assert_int_equal(a.status, 404);
	call(cd, "stats", "", NULL, NULL, &a);
	assert_string_equal(a.body, "{\"check_monitors\":\"0\",\"check_ttls\":"
	    "\"1\",\"checks\":\"1\",\"services\":\"1\"}");
	free(a.body);
	free_checkd(cd);
}

static void
test_errors(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };

	(void)state;
	call(cd, "service_register", "", NULL, "{\"port\":1}", &a);
	assert_int_equal(a.status, 400);
	assert_string_equal(a.body, "Missing service name");
	call(cd, "service_register", "", NULL, "{bad", &a);
	assert_int_equal(a.status, 400);
	assert_true(strncmp(a.body, "Request decode failed: ", 23) == 0);
	call(cd, "service_register", "", NULL, "", &a);
	assert_string_equal(a.body, "Request decode failed: EOF");
	call(cd, "service_deregister", "x", NULL, NULL, &a);
	assert_int_equal(a.status, 404);
	assert_string_equal(a.body, "Unknown service ID \"x\". Ensure that the "
	    "service ID is passed, not the service name.");
	call(cd, "check_deregister", "x", NULL, NULL, &a);
	assert_int_equal(a.status, 404);
	call(cd, "check_pass", "x", NULL, NULL, &a);
	assert_int_equal(a.status, 404);
	call(cd, "check_register", "", NULL, "{\"name\":\"c\",\"ttl\":\"1s\","
	    "\"service_id\":\"ghost\"}", &a);
	assert_int_equal(a.status, 400);
	assert_string_equal(a.body, "ServiceID \"ghost\" does not exist");
	call(cd, "check_register", "", NULL, "{\"name\":\"c\",\"args\":[\"true\"],"
	    "\"interval\":\"1s\"}", &a);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(a.body, "enable_script_checks"));
	call(cd, "check_register", "", NULL, "{\"name\":\"h\",\"http\":"
	    "\"http://127.0.0.1:1/\",\"interval\":\"1h\"}", &a);
	assert_int_equal(a.status, 200);
	call(cd, "check_pass", "h", NULL, NULL, &a);
	assert_int_equal(a.status, 500);
	assert_string_equal(a.body, "CheckID \"h\" does not have associated TTL");
	call(cd, "maint", "", "{}", NULL, &a);
	assert_int_equal(a.status, 400);
	assert_string_equal(a.body, "Missing value for enable");
	call(cd, "maint", "", "{\"enable\":\"maybe\"}", NULL, &a);
	assert_string_equal(a.body, "Invalid value for enable: \"maybe\"");
	call(cd, "service_maint", "nope", "{\"enable\":\"true\"}", NULL, &a);
	assert_int_equal(a.status, 404);
	free(a.body);
	free_checkd(cd);
}

static void
test_ttl_and_update(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };
	struct chk    *c;
	char           big[6000];

	(void)state;
	call(cd, "check_register", "", NULL, "{\"Name\":\"mem\",\"TTL\":\"15s\","
	    "\"Notes\":\"n\"}", &a);
	assert_int_equal(a.status, 200);
	c = state_chk(cd, "mem");
	assert_non_null(c);
	call(cd, "check_pass", "mem", "{\"note\":\"all good\"}", NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(c->status, "passing");
	assert_string_equal(c->output, "all good");
	call(cd, "check_warn", "mem", "{}", NULL, &a);
	assert_string_equal(c->status, "warning");
	call(cd, "check_fail", "mem", "{}", NULL, &a);
	assert_string_equal(c->status, "critical");
	call(cd, "check_update", "mem", NULL, "{\"status\":\"passing\","
	    "\"output\":\"fine\"}", &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(c->status, "passing");
	assert_string_equal(c->output, "fine");
	call(cd, "check_update", "mem", NULL, "{\"Status\":\"meh\"}", &a);
	assert_int_equal(a.status, 400);
	assert_string_equal(a.body, "Invalid check status: 'meh'");
	/* Output over the cap is cut, with Consul's note. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char body[6200];

		snprintf(body, sizeof(body), "{\"Status\":\"passing\",\"Output\":"
		    "\"%s\"}", big);
		call(cd, "check_update", "mem", NULL, body, &a);
	}
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(c->output, " ... (captured 4096 of 5999 bytes)"));
	free(a.body);
	free_checkd(cd);
}

static void
test_maintenance_and_health(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };
	json_t        *v;

	(void)state;
	call(cd, "service_register", "", NULL, "{\"name\":\"web\",\"id\":\"w1\","
	    "\"check\":{\"ttl\":\"30s\",\"status\":\"passing\"}}", &a);
	call(cd, "service_register", "", NULL, "{\"name\":\"web\",\"id\":\"w2\","
	    "\"check\":{\"ttl\":\"30s\",\"status\":\"warning\"}}", &a);
	call(cd, "health_id", "w1", "{}", NULL, &a);
	assert_int_equal(a.status, 200);
	v = body_json(&a);
	assert_string_equal(json_string_value(json_object_get(v,
	    "AggregatedStatus")), "passing");
	json_decref(v);
	call(cd, "health_id", "w2", "{\"format\":\"text\"}", NULL, &a);
	assert_int_equal(a.status, 429);
	assert_string_equal(a.body, "warning");
	call(cd, "health_name", "web", "{\"format\":\"text\"}", NULL, &a);
	assert_int_equal(a.status, 429);
	call(cd, "health_name", "web", "{}", NULL, &a);
	v = body_json(&a);
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
	call(cd, "health_name", "nope", "{}", NULL, &a);
	assert_int_equal(a.status, 404);
	assert_string_equal(a.body, "[]");
	call(cd, "health_id", "nope", "{\"format\":\"text\"}", NULL, &a);
	assert_int_equal(a.status, 404);
	assert_string_equal(a.body, "ServiceId nope not found");

	call(cd, "service_maint", "w1", "{\"enable\":\"true\",\"reason\":\"fix\"}",
	    NULL, &a);
	assert_int_equal(a.status, 200);
	assert_non_null(state_chk(cd, "_service_maintenance:w1"));
	assert_string_equal(state_chk(cd, "_service_maintenance:w1")->notes,
	    "fix");
	assert_string_equal(state_chk(cd, "_service_maintenance:w1")->status,
	    "critical");
	call(cd, "health_id", "w1", "{\"format\":\"text\"}", NULL, &a);
	assert_int_equal(a.status, 503);
	assert_string_equal(a.body, "maintenance");
	call(cd, "service_maint", "w1", "{\"enable\":\"false\"}", NULL, &a);
	assert_null(state_chk(cd, "_service_maintenance:w1"));

	call(cd, "maint", "", "{\"enable\":\"true\"}", NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(state_chk(cd, "_node_maintenance")->name,
	    "Node Maintenance Mode");
	assert_string_equal(state_chk(cd, "_node_maintenance")->notes,
	    "Maintenance mode is enabled for this node, but no reason was "
	    "provided. This is a default message.");
	/* Node maintenance puts every service in maintenance. */
	call(cd, "health_id", "w1", "{\"format\":\"text\"}", NULL, &a);
	assert_int_equal(a.status, 503);
	call(cd, "maint", "", "{\"enable\":\"false\"}", NULL, &a);
	assert_null(state_chk(cd, "_node_maintenance"));
	/* Deregistering a service takes its checks along. */
	call(cd, "service_deregister", "w1", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_null(state_chk(cd, "service:w1"));
	free(a.body);
	free_checkd(cd);
}

static void
test_replace_existing_checks(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };

	(void)state;
	call(cd, "service_register", "", NULL, "{\"name\":\"a\",\"checks\":["
	    "{\"ttl\":\"5s\"},{\"ttl\":\"6s\"}]}", &a);
	assert_non_null(state_chk(cd, "service:a:2"));
	call(cd, "service_register", "", NULL, "{\"name\":\"a\",\"check\":"
	    "{\"ttl\":\"5s\"}}", &a);
	/* Without the flag, checks not in the new definition stay. */
	assert_non_null(state_chk(cd, "service:a:2"));
	call(cd, "service_register", "", "{\"replace-existing-checks\":null}",
	    "{\"name\":\"a\",\"check\":{\"ttl\":\"5s\"}}", &a);
	assert_null(state_chk(cd, "service:a:2"));
	assert_null(state_chk(cd, "service:a:1"));
	assert_non_null(state_chk(cd, "service:a"));
	/* Registering again (Fabio does, every few seconds) keeps the
	 * status and output, even with a changed definition. */
	call(cd, "check_pass", "service:a", "{\"note\":\"up\"}", NULL, &a);
	call(cd, "service_register", "", NULL, "{\"name\":\"a\",\"port\":2,"
	    "\"check\":{\"ttl\":\"7s\",\"notes\":\"changed\"}}", &a);
	assert_string_equal(state_chk(cd, "service:a")->status, "passing");
	assert_string_equal(state_chk(cd, "service:a")->output, "up");
	assert_string_equal(state_chk(cd, "service:a")->notes, "changed");
	free(a.body);
	free_checkd(cd);
}

static void
test_persistence_round_trip(void **state)
{
	char           dir[] = "/tmp/test_checkd_XXXXXX";
	struct checkd *cd, *cd2;
	struct ans     a = { 0 };
	struct chk    *c;
	json_t        *doc;
	char           cmd[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	cd = new_checkd(dir);
	call(cd, "service_register", "", NULL, "{\"name\":\"web\",\"meta\":"
	    "{\"k\":\"v\"},\"check\":{\"ttl\":\"60s\"}}", &a);
	call(cd, "check_register", "", NULL, "{\"name\":\"short\",\"ttl\":"
	    "\"1s\"}", &a);
	call(cd, "check_pass", "service:web", "{\"note\":\"up\"}", NULL, &a);
	call(cd, "check_pass", "short", "{}", NULL, &a);
	call(cd, "maint", "", "{\"enable\":\"true\",\"reason\":\"r\"}", NULL,
	    &a);
	assert_int_equal(local_save(cd), 0);
	free_checkd(cd);

	cd2 = new_checkd(dir);
	assert_int_equal(local_load(cd2), 0);
	assert_non_null(state_svc(cd2, "web"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    state_svc(cd2, "web")->def, "Meta"), "k")), "v");
	c = state_chk(cd2, "service:web");
	assert_non_null(c);
	assert_string_equal(c->status, "passing");     /* within its TTL */
	assert_string_equal(c->output, "up");
	assert_non_null(state_chk(cd2, "_node_maintenance"));
	assert_string_equal(state_chk(cd2, "_node_maintenance")->notes, "r");

	/* A TTL that ended while we were down comes back critical. */
	doc = local_doc(cd2);
	free_checkd(cd2);
	cd2 = new_checkd(NULL);
	local_apply(cd2, doc, wall_now_us() / 1000 + 5000);
	json_decref(doc);
	c = state_chk(cd2, "short");
	assert_non_null(c);
	sched_tick(cd2, loop_now_ms() + 1);
	assert_string_equal(c->status, "critical");
	assert_string_equal(state_chk(cd2, "service:web")->status, "passing");
	free_checkd(cd2);
	free(a.body);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_reload_keeps_api(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };
	json_t        *root;

	(void)state;
	root = json_loads("{\"services\":[{\"name\":\"f1\"},{\"name\":\"f2\","
	    "\"check\":{\"ttl\":\"5s\"}}]}", 0, NULL);
	state_load_config(cd, root);
	json_decref(root);
	call(cd, "service_register", "", NULL, "{\"name\":\"api\"}", &a);
	assert_non_null(state_svc(cd, "f2"));
	assert_non_null(state_chk(cd, "service:f2"));
	root = json_loads("{\"service\":{\"name\":\"f1\",\"port\":9},"
	    "\"check\":{\"name\":\"n\",\"ttl\":\"5s\"}}", 0, NULL);
	state_load_config(cd, root);
	json_decref(root);
	assert_null(state_svc(cd, "f2"));
	assert_null(state_chk(cd, "service:f2"));
	assert_int_equal(json_integer_value(json_object_get(state_svc(cd,
	    "f1")->def, "Port")), 9);
	assert_non_null(state_chk(cd, "n"));
	assert_non_null(state_svc(cd, "api"));
	free(a.body);
	free_checkd(cd);
}

static void
test_catalog_register_body(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };
	json_t        *b, *svc, *chk;

	(void)state;
	snprintf(cd->node_id, sizeof(cd->node_id), "0b1c");
	snprintf(cd->addr, sizeof(cd->addr), "10.0.0.9");
	call(cd, "service_register", "", NULL, "{\"name\":\"web\",\"port\":80,"
	    "\"check\":{\"ttl\":\"30s\"}}", &a);
	call(cd, "check_register", "", NULL, "{\"name\":\"mem\",\"ttl\":"
	    "\"30s\"}", &a);
	b = sync_register_body(cd, state_svc(cd, "web"));
	assert_string_equal(json_string_value(json_object_get(b, "ID")), "0b1c");
	assert_string_equal(json_string_value(json_object_get(b, "Node")), "n1");
	assert_string_equal(json_string_value(json_object_get(b, "Address")),
	    "10.0.0.9");
	assert_string_equal(json_string_value(json_object_get(b, "Datacenter")),
	    "dc1");
	svc = json_object_get(b, "Service");
	assert_string_equal(json_string_value(json_object_get(svc, "Service")),
	    "web");
	assert_null(json_object_get(svc, "Datacenter"));
	assert_int_equal(json_array_size(json_object_get(b, "Checks")), 1);
	chk = json_array_get(json_object_get(b, "Checks"), 0);
	assert_string_equal(json_string_value(json_object_get(chk, "CheckID")),
	    "service:web");
	assert_null(json_object_get(chk, "CreateIndex"));
	json_decref(b);
	/* The node's own checks go without a Service. */
	b = sync_register_body(cd, NULL);
	assert_null(json_object_get(b, "Service"));
	assert_int_equal(json_array_size(json_object_get(b, "Checks")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(b, "Checks"), 0), "CheckID")), "mem");
	json_decref(b);
	free(a.body);
	free_checkd(cd);
}

static void
test_filter(void **state)
{
	struct checkd *cd = new_checkd(NULL);
	struct ans     a = { 0 };
	json_t        *v;

	(void)state;
	call(cd, "service_register", "", NULL, "{\"name\":\"web\",\"port\":80,"
	    "\"tags\":[\"v1\"],\"meta\":{\"env\":\"prod\"},"
	    "\"check\":{\"ttl\":\"30s\"}}", &a);
	call(cd, "service_register", "", NULL, "{\"name\":\"db\",\"port\":5432}", &a);
	call(cd, "services", "", "{\"filter\":\"Port == 5432\"}", NULL, &a);
	assert_int_equal(a.status, 200);
	v = body_json(&a);
	assert_int_equal(json_object_size(v), 1);
	assert_non_null(json_object_get(v, "db"));
	json_decref(v);
	call(cd, "services", "", "{\"filter\":\"v1 in Tags and Meta.env == prod\"}", NULL, &a);
	v = body_json(&a);
	assert_int_equal(json_object_size(v), 1);
	assert_non_null(json_object_get(v, "web"));
	json_decref(v);
	call(cd, "checks", "", "{\"filter\":\"ServiceName == db\"}", NULL, &a);
	assert_string_equal(a.body, "{}");
	call(cd, "checks", "", "{\"filter\":\"Status == critical\"}", NULL, &a);
	v = body_json(&a);
	assert_non_null(json_object_get(v, "service:web"));
	json_decref(v);
	call(cd, "checks", "", "{\"filter\":\"Status ==\"}", NULL, &a);
	assert_int_equal(a.status, 400);
	assert_string_equal(a.body, "Failed to create boolean expression evaluator: "
	    "invalid filter Status ==");
	free(a.body);
	free_checkd(cd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_list),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ttl_and_update),
		cmocka_unit_test(test_maintenance_and_health),
		cmocka_unit_test(test_replace_existing_checks),
		cmocka_unit_test(test_persistence_round_trip),
		cmocka_unit_test(test_reload_keeps_api),
		cmocka_unit_test(test_catalog_register_body),
		cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
