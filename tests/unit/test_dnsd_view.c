/* Unit tests of dnsd's catalog view (dnsd/view.c, dnsd/catalog.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "dnsd/dnsd.h"

static void
put_node(struct view *v, const char *name, const char *addr)
{
	struct view_node_row r = { .name = name, .address = addr,
		.datacenter = "dc1" };
	assert_int_equal(view_node_put(v, &r), 0);
}

static void
put_svc(struct view *v, const char *node, const char *id, const char *name,
    uint16_t port)
{
	const char *tags[] = { "v1", "Primary" };
	struct view_service_row r = { .node = node, .id = id, .name = name,
		.tags = tags, .ntags = 2, .port = port };
	assert_int_equal(view_service_put(v, &r), 0);
}

static void
put_check(struct view *v, const char *node, const char *id, const char *sid,
    const char *status)
{
	struct view_check_row r = { .node = node, .check_id = id,
		.service_id = sid, .status = status };
	assert_int_equal(view_check_put(v, &r), 0);
}

static void
test_lookup_case_insensitive(void **state)
{
	struct view             *v = view_new();
	const struct view_group *g;
	struct view_node        *n;

	(void)state;
	put_node(v, "Node-One", "10.0.0.1");
	put_svc(v, "node-one", "web1", "Web", 80);
	n = view_node_get(v, "NODE-ONE", 8);
	assert_non_null(n);
	assert_string_equal(n->name, "Node-One");
	assert_string_equal(n->lname, "node-one");
	assert_int_equal(n->addr.family, 4);
	g = view_group_get(v, "wEb", 3);
	assert_non_null(g);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->inst[0]->name, "Web");
	assert_int_equal(g->inst[0]->w_passing, 1); /* Consul's default */
	assert_null(view_group_get(v, "we", 2));
	assert_null(view_node_get(v, "node-on", 7));
	view_free(v);
}

/*
 * A query name off the wire may hold NUL bytes after a stored name's last
 * byte; the compare must stop at the stored name's end (found by fuzzing).
 */
static void
test_lookup_name_with_nul_bytes(void **state)
{
	struct view *v = view_new();
	char         name[64];

	(void)state;
	put_node(v, "n0", "10.0.0.1");
	put_svc(v, "n0", "web1", "web", 80);
	memset(name, 0, sizeof(name));
	memcpy(name, "n0", 2);
	for (size_t len = 3; len <= sizeof(name); len++) {
		assert_null(view_node_get(v, name, len));
		assert_null(view_group_get(v, name, len));
	}
	assert_non_null(view_node_get(v, name, 2));
	view_free(v);
}

static void
test_health_precomputed(void **state)
{
	struct view         *v = view_new();
	struct view_service *s1, *s2;

	(void)state;
	put_node(v, "n1", "10.0.0.1");
	put_svc(v, "n1", "a", "web", 80);
	put_svc(v, "n1", "b", "web", 81);
	s1 = view_service_get(v, "n1", "a");
	s2 = view_service_get(v, "n1", "b");
	assert_int_equal(s1->status, VIEW_PASSING);

	put_check(v, "n1", "service:a", "a", "warning");
	assert_int_equal(s1->status, VIEW_WARNING);
	assert_int_equal(s2->status, VIEW_PASSING);

	/* A node check applies to every service on the node. */
	put_check(v, "n1", "serfHealth", NULL, "critical");
	assert_int_equal(s1->status, VIEW_CRITICAL);
	assert_int_equal(s2->status, VIEW_CRITICAL);

	put_check(v, "n1", "serfHealth", NULL, "passing");
	assert_int_equal(s1->status, VIEW_WARNING);
	assert_int_equal(s2->status, VIEW_PASSING);

	/* Maintenance is a critical check. */
	put_check(v, "n1", "_service_maintenance:b", "b", "maintenance");
	assert_int_equal(s2->status, VIEW_CRITICAL);
	assert_int_equal(view_check_del(v, "n1", "_service_maintenance:b"), 0);
	assert_int_equal(s2->status, VIEW_PASSING);

	/* A check registered before its service still counts. */
	put_check(v, "n1", "service:c", "c", "critical");
	put_svc(v, "n1", "c", "db", 5432);
	assert_int_equal(view_service_get(v, "n1", "c")->status, VIEW_CRITICAL);
	assert_int_equal(v->nchecks, 3);
	view_free(v);
}

static void
test_upsert_and_delete(void **state)
{
	struct view             *v = view_new();
	const struct view_group *g;
	uint64_t                 gen;

	(void)state;
	put_node(v, "n1", "10.0.0.1");
	put_node(v, "n2", "10.0.0.2");
	put_svc(v, "n1", "web1", "web", 80);
	put_svc(v, "n2", "web2", "web", 80);
	put_svc(v, "n2", "db", "db", 5432);
	assert_int_equal(v->nservices, 3);

	/* Re-registering replaces, and may move the service to a new name. */
	put_svc(v, "n1", "web1", "web", 8080);
	assert_int_equal(v->nservices, 3);
	assert_int_equal(view_service_get(v, "n1", "web1")->port, 8080);
	put_svc(v, "n1", "web1", "api", 8080);
	g = view_group_get(v, "web", 3);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->inst[0]->id, "web2");
	assert_int_equal(view_group_get(v, "api", 3)->n, 1);

	/* Node update keeps its services; address changes. */
	put_node(v, "N2", "10.0.0.22");
	assert_int_equal(view_group_get(v, "db", 2)->n, 1);
	assert_string_equal(view_node_get(v, "n2", 2)->address, "10.0.0.22");

	gen = v->generation;
	assert_int_equal(view_service_del(v, "n2", "web2"), 0);
	assert_true(v->generation > gen);
	assert_null(view_group_get(v, "web", 3)); /* empty group is gone */
	assert_int_equal(view_service_del(v, "n2", "nope"), 0);

	put_check(v, "n2", "serfHealth", "", "passing");
	assert_int_equal(view_node_del(v, "n2"), 0);
	assert_null(view_node_get(v, "n2", 2));
	assert_null(view_group_get(v, "db", 2));
	assert_int_equal(v->nnodes, 1);
	assert_int_equal(v->nservices, 1);
	assert_int_equal(v->nchecks, 0);
	assert_int_equal(view_node_del(v, "n2"), 0);
	view_free(v);
}

static void
test_bad_rows(void **state)
{
	struct view             *v = view_new();
	struct view_node_row     nr = { .name = "" };
	struct view_service_row  sr = { .node = "ghost", .name = "web" };
	struct view_check_row    cr = { .node = "ghost", .check_id = "c" };

	(void)state;
	assert_int_equal(view_node_put(v, &nr), -1);
	assert_int_equal(view_service_put(v, &sr), -1);
	assert_int_equal(view_check_put(v, &cr), -1);
	put_node(v, "n1", "not-an-ip");
	assert_int_equal(view_node_get(v, "n1", 2)->addr.family, 0);
	sr.node = "n1";
	sr.name = NULL;
	assert_int_equal(view_service_put(v, &sr), -1);
	assert_int_equal(v->nservices, 0);
	view_free(v);
}

static void
test_many_nodes_rehash(void **state)
{
	struct view     *v = view_new();
	char             name[32], addr[32], svc[32];
	struct view_addr a;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "node%d", i);
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		snprintf(svc, sizeof(svc), "svc%d", i % 700);
		put_node(v, name, addr);
		put_svc(v, name, "x", svc, 1);
	}
	assert_true(v->node_buckets >= 4096);
	assert_int_equal(v->nnodes, 5000);
	for (int i = 0; i < 5000; i += 97) {
		snprintf(name, sizeof(name), "NODE%d", i);
		assert_non_null(view_node_get(v, name, strlen(name)));
	}
	/* 5000 = 7 * 700 + 100: svc3 has 8 instances, svc300 has 7. */
	assert_int_equal(view_group_get(v, "svc3", 4)->n, 8);
	assert_int_equal(view_group_get(v, "svc300", 6)->n, 7);
	view_addr_parse("10.0.19.136", &a); /* 19 * 256 + 136 = 5000 */
	assert_null(view_node_byaddr(v, &a));
	view_addr_parse("10.0.19.135", &a);
	assert_string_equal(view_node_byaddr(v, &a)->name, "node4999");
	view_free(v);
}

static void
test_json_loader(void **state)
{
	const char *doc =
	    "{\"Nodes\":[{\"Node\":\"n1\",\"Address\":\"10.0.0.1\","
	    "\"Meta\":{\"k\":\"v\"}}],"
	    "\"services\":[{\"node\":\"n1\",\"ServiceID\":\"w1\","
	    "\"ServiceName\":\"web\",\"ServiceTags\":[\"a\"],"
	    "\"ServicePort\":80,\"ServiceWeights\":{\"Passing\":5}},"
	    "{\"Node\":\"n1\",\"Service\":\"db\",\"Port\":5432}],"
	    "\"Checks\":[{\"Node\":\"n1\",\"CheckID\":\"c\","
	    "\"ServiceID\":\"w1\",\"Status\":\"warning\"}],\"Index\":42}";
	json_t              *root = json_loads(doc, 0, NULL);
	struct view         *v = view_new();
	struct view_service *s;
	char                 err[128];

	(void)state;
	assert_int_equal(catalog_load_json(v, root, err, sizeof(err)), 0);
	assert_int_equal(v->index, 42);
	s = view_service_get(v, "n1", "w1");
	assert_non_null(s);
	assert_int_equal(s->port, 80);
	assert_int_equal(s->w_passing, 5);
	assert_int_equal(s->status, VIEW_WARNING);
	assert_string_equal(s->tags[0], "a");
	assert_non_null(view_service_get(v, "n1", "db")); /* ID = name */
	assert_string_equal(view_node_get(v, "n1", 2)->meta[0].val, "v");
	json_decref(root);

	root = json_loads("{\"Services\":[{\"Node\":\"zz\",\"Service\":\"x\"}]}",
	    0, NULL);
	assert_int_equal(catalog_load_json(v, root, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Services[0]"));
	json_decref(root);
	view_free(v);
}

static void
test_catalog_seam(void **state)
{
	struct dnsd          d;
	struct view_node_row nr = { .name = "n1", .address = "10.0.0.1" };
	struct view         *nv;

	(void)state;
	dnsd_init(&d);
	assert_int_equal(catalog_node(&d, CATALOG_PUT, &nr, 10), 0);
	assert_int_equal(d.view->index, 10);
	/* An event older than the view is a replay: ignored. */
	nr.address = "10.9.9.9";
	assert_int_equal(catalog_node(&d, CATALOG_PUT, &nr, 5), 0);
	assert_string_equal(view_node_get(d.view, "n1", 2)->address, "10.0.0.1");
	assert_int_equal(catalog_node(&d, CATALOG_DEL, &nr, 11), 0);
	assert_null(view_node_get(d.view, "n1", 2));
	nv = view_new();
	put_node(nv, "fresh", "10.1.1.1");
	catalog_replace(&d, nv);
	assert_non_null(view_node_get(d.view, "fresh", 5));
	dnsd_free(&d);
}

static void
test_dnsconf(void **state)
{
	struct dnsconf c;
	char           err[128];
	json_t        *root = json_loads(
	    "{\"domain\":\"Example.\",\"alt_domain\":\"alt.test.\","
	    "\"client_addr\":\"127.0.0.1 ::1\",\"ports\":{\"dns\":53},"
	    "\"recursors\":[\"8.8.8.8\",\"[::1]:5353\",\"1.1.1.1:54\"],"
	    "\"dns_config\":{\"node_ttl\":\"1m30s\",\"only_passing\":true,"
	    "\"service_ttl\":{\"*\":\"5s\",\"db*\":\"20s\",\"dba*\":\"30s\","
	    "\"web\":\"10s\"},\"udp_answer_limit\":5,\"a_record_limit\":2,"
	    "\"recursor_timeout\":\"250ms\"}}", 0, NULL);

	(void)state;
	dnsconf_defaults(&c);
	assert_int_equal(dnsconf_from_json(&c, root, err, sizeof(err)), 0);
	assert_string_equal(c.domain, "example");
	assert_string_equal(c.alt_domain, "alt.test");
	assert_int_equal(c.nclient_addr, 2);
	assert_int_equal(c.port, 53);
	assert_int_equal(c.nrecursors, 3);
	assert_int_equal(c.node_ttl, 90);
	assert_true(c.only_passing);
	assert_int_equal(c.udp_answer_limit, 5);
	assert_int_equal(c.a_record_limit, 2);
	assert_int_equal(c.recursor_timeout_ms, 250);
	assert_int_equal(dnsconf_service_ttl(&c, "web", 3), 10);
	assert_int_equal(dnsconf_service_ttl(&c, "webx", 4), 5);
	assert_int_equal(dnsconf_service_ttl(&c, "db", 2), 20);
	assert_int_equal(dnsconf_service_ttl(&c, "dbase", 5), 30);
	assert_int_equal(dnsconf_service_ttl(&c, "api", 3), 5);
	json_decref(root);

	root = json_loads("{\"dns_config\":{\"node_ttl\":\"ten\"}}", 0, NULL);
	assert_int_equal(dnsconf_from_json(&c, root, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node_ttl"));
	json_decref(root);
	root = json_loads("{\"dns_config\":{\"recursor_strategy\":"
	    "\"random\"}}", 0, NULL);
	assert_int_equal(dnsconf_from_json(&c, root, err, sizeof(err)), 0);
	assert_true(c.recursor_random);
	json_decref(root);
	root = json_loads("{\"dns_config\":{\"recursor_strategy\":"
	    "\"fastest\"}}", 0, NULL);
	assert_int_equal(dnsconf_from_json(&c, root, err, sizeof(err)), -1);
	json_decref(root);
	root = json_loads("{\"recursors\":[\"nonsense\"]}", 0, NULL);
	assert_int_equal(dnsconf_from_json(&c, root, err, sizeof(err)), -1);
	json_decref(root);
	dnsconf_free(&c);

	assert_int_equal(dnsconf_duration_s("0"), 0);
	assert_int_equal(dnsconf_duration_s("1h"), 3600);
	assert_int_equal(dnsconf_duration_s("1.5m"), 90);
	assert_int_equal(dnsconf_duration_s("10x"), -1);
	assert_int_equal(dnsconf_duration_s(""), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_case_insensitive),
		cmocka_unit_test(test_lookup_name_with_nul_bytes),
		cmocka_unit_test(test_health_precomputed),
		cmocka_unit_test(test_upsert_and_delete),
		cmocka_unit_test(test_bad_rows),
		cmocka_unit_test(test_many_nodes_rehash),
		cmocka_unit_test(test_json_loader),
		cmocka_unit_test(test_catalog_seam),
		cmocka_unit_test(test_dnsconf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
