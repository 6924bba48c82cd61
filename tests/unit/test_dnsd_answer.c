/*
 * Unit tests of dnsd's answer engine (dnsd/answer.c, dnsd/wire.c).
 *
 * Queries are built and every response is parsed with ldns, an
 * independent DNS implementation: a response ldns cannot parse fails the
 * test.  The golden cases (tests/golden/dns/) compare whole responses byte
 * for byte; TRIBUNE_GOLDEN_UPDATE=1 rewrites them instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <ldns/ldns.h>

#include "dnsd/dnsd.h"

#define GOLDEN_SEED 1
#define GOLDEN_NOW 1700000000u

static struct dnsd D;
static uint8_t     out[65535];
static int         last_len;

static const char *
golden_dir(void)
{
	const char *s = getenv("TRIBUNE_GOLDEN_DIR");

	return s != NULL ? s : "tests/golden/dns";
}

/* dnsd over fixture.json, plus a service "big" of 100 instances. */
static int
setup(void **state)
{
	char         path[512], err[256];
	json_error_t je;
	json_t      *root;

	(void)state;
	dnsd_init(&D);
	snprintf(path, sizeof(path), "%s/fixture.json", golden_dir());
	if ((root = json_load_file(path, 0, &je)) == NULL) {
		fprintf(stderr, "%s: %s (run from the repository root)\n",
		    path, je.text);
		return -1;
	}
	if (dnsconf_from_json(&D.conf, json_object_get(root, "config"), err,
	    sizeof(err)) != 0 || catalog_load_json(D.view, root, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		json_decref(root);
		return -1;
	}
	json_decref(root);
	D.fixed_now = GOLDEN_NOW;
	answer_seed(&D, GOLDEN_SEED);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dnsd_free(&D);
	return 0;
}

static void
add_big(size_t n)
{
	char name[32], addr[32];

	for (size_t i = 0; i < n; i++) {
		struct view_node_row    nr = { .name = name, .address = addr };
		struct view_service_row sr = { .node = name, .name = "big",
			.port = 80 };
		snprintf(name, sizeof(name), "big-node-%03zu", i);
		snprintf(addr, sizeof(addr), "10.1.%zu.%zu", i / 250, i % 250 + 1);
		assert_int_equal(view_node_put(D.view, &nr), 0);
		assert_int_equal(view_service_put(D.view, &sr), 0);
	}
}

static ldns_pkt *
parse(const uint8_t *buf, int n)
{
	ldns_pkt *r = NULL;

	last_len = n;
	if (n <= 0)
		return NULL;
	assert_int_equal(ldns_wire2pkt(&r, buf, (size_t)n), LDNS_STATUS_OK);
	return r;
}

/* Asks name/type; edns = 0 for no EDNS. */
static ldns_pkt *
ask(const char *name, ldns_rr_type t, uint16_t edns, bool tcp)
{
	ldns_pkt *q = NULL;
	uint8_t  *wire = NULL;
	size_t    wl;
	int       n;

	assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, t,
	    LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 4242);
	if (edns)
		ldns_pkt_set_edns_udp_size(q, edns);
	assert_int_equal(ldns_pkt2wire(&wire, q, &wl), LDNS_STATUS_OK);
	n = answer_query(&D, wire, wl, tcp, out, sizeof(out));
	free(wire);
	ldns_pkt_free(q);
	return parse(out, n);
}

static int
raw(const uint8_t *pkt, size_t len)
{
	return last_len = answer_query(&D, pkt, len, false, out, sizeof(out));
}

static size_t
count(const ldns_pkt *p, ldns_pkt_section s, ldns_rr_type t)
{
	ldns_rr_list *l = ldns_pkt_rr_list_by_type(p, t, s);
	size_t        n = l ? ldns_rr_list_rr_count(l) : 0;

	ldns_rr_list_deep_free(l);
	return n;
}

static bool
has_soa(const ldns_pkt *p)
{
	return count(p, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_SOA) == 1;
}

/* --- positive answers ----------------------------------------------------- */

static void
test_service_a(void **state)
{
	ldns_pkt *r = ask("web.service.consul", LDNS_RR_TYPE_A, 1232, false);

	(void)state;
	assert_non_null(r);
	assert_int_equal(ldns_pkt_id(r), 4242);
	assert_true(ldns_pkt_qr(r));
	assert_true(ldns_pkt_aa(r));
	assert_true(ldns_pkt_rd(r));
	assert_false(ldns_pkt_ra(r));
	assert_false(ldns_pkt_tc(r));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	/* 6 instances: one on a critical node; 10.0.0.x x4 + 192.168.1.5. */
	assert_int_equal(ldns_pkt_ancount(r), 5);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)),
	    10);
	/* EDNS echoed with the requester's size. */
	assert_true(ldns_pkt_edns(r));
	assert_int_equal(ldns_pkt_edns_udp_size(r), 1232);
	ldns_pkt_free(r);
}

static void
test_service_srv_additional(void **state)
{
	ldns_pkt *r = ask("web.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
	ldns_rr  *rr;
	bool      saw_addr = false, saw_weight10 = false;

	(void)state;
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SRV), 5);
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 5);
	for (size_t i = 0; i < 5; i++) {
		char *t;
		rr = ldns_rr_list_rr(ldns_pkt_answer(r), i);
		t = ldns_rdf2str(ldns_rr_rdf(rr, 3));
		if (strcmp(t, "c0a80105.addr.dc1.consul.") == 0)
			saw_addr = true;
		else
			assert_non_null(strstr(t, ".node.dc1.consul."));
		if (ldns_rdf2native_int16(ldns_rr_rdf(rr, 1)) == 10)
			saw_weight10 = true;
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)), 1);
		free(t);
	}
	assert_true(saw_addr);     /* service with its own IP: .addr target */
	assert_true(saw_weight10); /* web2's Weights.Passing */
	/* server1's node meta rides along as TXT. */
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_TXT), 2);
	ldns_pkt_free(r);
}

static void
test_tags_and_rfc2782(void **state)
{
	ldns_pkt *r;

	(void)state;
	r = ask("v1.web.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 2);
	ldns_pkt_free(r);
	r = ask("V2.WEB.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 2);
	ldns_pkt_free(r);
	r = ask("_web._v2.service.consul", LDNS_RR_TYPE_SRV, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 2);
	ldns_pkt_free(r);
	r = ask("_web._tcp.service.consul", LDNS_RR_TYPE_SRV, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 5);
	ldns_pkt_free(r);
	r = ask("_web._tcp.consul", LDNS_RR_TYPE_SRV, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 5);
	ldns_pkt_free(r);
	r = ask("nosuch.web.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	assert_true(has_soa(r));
	ldns_pkt_free(r);
}

static void
test_health_filtering(void **state)
{
	ldns_pkt *r;

	(void)state;
	/* db1 warning: included, weight = Weights.Warning (default 1). */
	r = ask("db.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 2);
	ldns_pkt_free(r);
	D.conf.only_passing = true;
	r = ask("db.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
	D.conf.only_passing = false;
	/* Maintenance and critical: gone, and then NXDOMAIN as Consul. */
	r = ask("redis.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(r);
	r = ask("api.service.consul", LDNS_RR_TYPE_SRV, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(r);
	/* A check change shows at once: no cache to go stale. */
	{
		struct view_check_row c = { .node = "node3",
			.check_id = "_service_maintenance:redis",
			.service_id = "redis", .status = "passing" };
		assert_int_equal(view_check_put(D.view, &c), 0);
		r = ask("redis.service.consul", LDNS_RR_TYPE_A, 1232, false);
		assert_int_equal(ldns_pkt_ancount(r), 1);
		ldns_pkt_free(r);
		c.status = "critical";
		assert_int_equal(view_check_put(D.view, &c), 0);
	}
	/* Node lookups are not health-filtered. */
	r = ask("sick.node.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);
}

static void
test_nodes(void **state)
{
	ldns_pkt *r;

	(void)state;
	r = ask("server1.node.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 1);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)),
	    30);
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_TXT), 2);
	ldns_pkt_free(r);
	r = ask("server1.node.dc1.consul", LDNS_RR_TYPE_TXT, 1232, false);
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_TXT), 2);
	ldns_pkt_free(r);
	r = ask("Server1.Node.Consul", LDNS_RR_TYPE_ANY, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 3);
	ldns_pkt_free(r);
	r = ask("v6node.node.consul", LDNS_RR_TYPE_AAAA, 1232, false);
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_AAAA), 1);
	ldns_pkt_free(r);
	/* NODATA: the name exists, not that type. */
	r = ask("node2.node.consul", LDNS_RR_TYPE_AAAA, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(r), 0);
	assert_true(has_soa(r));
	ldns_pkt_free(r);
	r = ask("node2.node.consul", LDNS_RR_TYPE_MX, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 0);
	assert_true(has_soa(r));
	ldns_pkt_free(r);
	r = ask("ghost.node.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	assert_true(has_soa(r));
	ldns_pkt_free(r);
	r = ask("node2.node.dc2.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(r);
}

static void
test_addr_apex_ptr(void **state)
{
	ldns_pkt *r;
	char     *s;

	(void)state;
	r = ask("c0a80105.addr.consul", LDNS_RR_TYPE_A, 1232, false);
	s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
	assert_string_equal(s, "192.168.1.5");
	free(s);
	ldns_pkt_free(r);
	r = ask("consul", LDNS_RR_TYPE_SOA, 1232, false);
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SOA), 1);
	s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(r), 0));
	assert_non_null(strstr(s, "ns.consul. hostmaster.consul. 1700000000 "
	    "3600 600 86400 0"));
	free(s);
	ldns_pkt_free(r);
	r = ask("consul", LDNS_RR_TYPE_NS, 1232, false);
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_NS), 1);
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
	ldns_pkt_free(r);
	r = ask("2.0.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR, 1232, false);
	s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
	assert_string_equal(s, "node2.node.dc1.consul.");
	free(s);
	ldns_pkt_free(r);
	r = ask("9.9.9.10.in-addr.arpa", LDNS_RR_TYPE_PTR, 1232, false);
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(r);
}

static void
test_alt_domain(void **state)
{
	ldns_pkt *r = ask("web.service.TRIBUNE", LDNS_RR_TYPE_SRV, 4096, false);
	char     *s;

	(void)state;
	assert_int_equal(ldns_pkt_ancount(r), 5);
	for (size_t i = 0; i < 5; i++) {
		s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r),
		    i), 3));
		assert_non_null(strstr(s, ".dc1.tribune."));
		free(s);
	}
	ldns_pkt_free(r);
	r = ask("nope.service.tribune", LDNS_RR_TYPE_A, 1232, false);
	s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_authority(r), 0));
	assert_non_null(strstr(s, "tribune."));
	free(s);
	ldns_pkt_free(r);
}

static void
test_other_family_additional(void **state)
{
	ldns_pkt *r = ask("dual.service.consul", LDNS_RR_TYPE_A, 1232, false);

	(void)state;
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A), 1);
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 1);
	ldns_pkt_free(r);
	r = ask("web6.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_pkt_ancount(r), 0);
	assert_true(has_soa(r));
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 1);
	ldns_pkt_free(r);
}

static void
test_hostname_cname(void **state)
{
	ldns_pkt *r = ask("ext.service.consul", LDNS_RR_TYPE_A, 1232, false);
	char     *s;

	(void)state;
	assert_int_equal(ldns_pkt_ancount(r), 1);
	assert_int_equal(count(r, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_CNAME), 1);
	s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
	assert_string_equal(s, "example.org.");
	free(s);
	ldns_pkt_free(r);
	r = ask("ext.service.consul", LDNS_RR_TYPE_SRV, 1232, false);
	s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 3));
	assert_string_equal(s, "example.org.");
	free(s);
	ldns_pkt_free(r);
}

static void
test_outside_domain(void **state)
{
	ldns_pkt *r = ask("example.com", LDNS_RR_TYPE_A, 1232, false);
	uint8_t  *wire;
	size_t    wl;
	ldns_pkt *q = NULL;

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	assert_false(ldns_pkt_aa(r));
	ldns_pkt_free(r);
	/* With recursors it is forwarded, and RA shows on our answers. */
	D.conf.nrecursors = 1;
	ldns_pkt_query_new_frm_str(&q, "example.com", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt2wire(&wire, q, &wl);
	assert_int_equal(answer_query(&D, wire, wl, false, out, sizeof(out)),
	    ANSWER_FORWARD);
	assert_true(answer_servfail(&D, wire, wl, out, sizeof(out)) > 0);
	r = parse(out, last_len = answer_servfail(&D, wire, wl, out,
	    sizeof(out)));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(r);
	free(wire);
	ldns_pkt_free(q);
	r = ask("web.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_true(ldns_pkt_ra(r));
	ldns_pkt_free(r);
	D.conf.nrecursors = 0;
}

static void
test_disable_compression(void **state)
{
	ldns_pkt *r;
	int       compressed;

	(void)state;
	ldns_pkt_free(ask("web.service.consul", LDNS_RR_TYPE_SRV, 4096, false));
	compressed = last_len;
	D.conf.no_compression = true;
	r = ask("web.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
	assert_int_equal(ldns_pkt_ancount(r), 5);
	assert_true(last_len > compressed + 100);
	/* No pointer anywhere: every name is spelled out. */
	for (int i = 12; i + 1 < last_len; i++)
		assert_false((out[i] & 0xC0) == 0xC0 && out[i + 1] == 12);
	ldns_pkt_free(r);
	D.conf.no_compression = false;
}

static void
test_ttls(void **state)
{
	ldns_pkt *r;

	(void)state;
	r = ask("db.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)),
	    20); /* "db*" */
	ldns_pkt_free(r);
	r = ask("consul.service.consul", LDNS_RR_TYPE_A, 1232, false);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)),
	    5); /* "*" */
	ldns_pkt_free(r);
}

/* --- size limits ---------------------------------------------------------- */

static void
test_truncation(void **state)
{
	ldns_pkt *r;

	(void)state;
	add_big(100);
	/* No EDNS: udp_answer_limit (3) answers, and TC says there is more. */
	r = ask("big.service.consul", LDNS_RR_TYPE_A, 0, false);
	assert_int_equal(ldns_pkt_ancount(r), 3);
	assert_true(ldns_pkt_tc(r));
	assert_false(ldns_pkt_edns(r));
	ldns_pkt_free(r);
	/* EDNS 512: as many as fit, TC set, never over 512 bytes. */
	r = ask("big.service.consul", LDNS_RR_TYPE_A, 512, false);
	assert_true(last_len <= 512);
	assert_true(ldns_pkt_ancount(r) > 3);
	assert_true(ldns_pkt_tc(r));
	assert_true(ldns_pkt_edns(r));
	ldns_pkt_free(r);
	r = ask("big.service.consul", LDNS_RR_TYPE_SRV, 1232, false);
	assert_true(last_len <= 1232);
	assert_true(ldns_pkt_tc(r));
	ldns_pkt_free(r);
	/* Everything fits in 4096: no TC. */
	r = ask("big.service.consul", LDNS_RR_TYPE_A, 4096, false);
	assert_int_equal(ldns_pkt_ancount(r), 100);
	assert_false(ldns_pkt_tc(r));
	ldns_pkt_free(r);
	/* TCP: all 100 SRV and their 100 addresses. */
	r = ask("big.service.consul", LDNS_RR_TYPE_SRV, 0, true);
	assert_int_equal(ldns_pkt_ancount(r), 100);
	assert_int_equal(count(r, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 100);
	assert_false(ldns_pkt_tc(r));
	ldns_pkt_free(r);
	/* a_record_limit is policy: it caps, with no TC, on TCP too. */
	D.conf.a_record_limit = 7;
	r = ask("big.service.consul", LDNS_RR_TYPE_A, 0, true);
	assert_int_equal(ldns_pkt_ancount(r), 7);
	assert_false(ldns_pkt_tc(r));
	ldns_pkt_free(r);
	D.conf.a_record_limit = 0;
}

static void
test_tcp_64k(void **state)
{
	ldns_pkt *r;

	(void)state;
	add_big(2000);  /* 2000 SRV + additional cannot fit 64 KiB */
	r = ask("big.service.consul", LDNS_RR_TYPE_SRV, 0, true);
	assert_true(last_len <= 65535);
	assert_true(ldns_pkt_ancount(r) > 500);
	assert_true(ldns_pkt_tc(r));
	ldns_pkt_free(r);
}

static void
test_shuffle_seeded(void **state)
{
	uint8_t a[2048], b[2048];
	int     na, nb, diff = 0;

	(void)state;
	add_big(20);
	answer_seed(&D, 7);
	ldns_pkt_free(ask("big.service.consul", LDNS_RR_TYPE_A, 4096, false));
	na = last_len;
	memcpy(a, out, (size_t)na);
	answer_seed(&D, 7);
	ldns_pkt_free(ask("big.service.consul", LDNS_RR_TYPE_A, 4096, false));
	assert_int_equal(last_len, na);
	assert_memory_equal(out, a, (size_t)na);
	/* Unseeded repeats differ (20! orders: a tie is 1 in 2.4e18). */
	ldns_pkt_free(ask("big.service.consul", LDNS_RR_TYPE_A, 4096, false));
	nb = last_len;
	memcpy(b, out, (size_t)nb);
	assert_int_equal(na, nb);
	diff = memcmp(a, b, (size_t)na);
	assert_int_not_equal(diff, 0);
}

/* --- malformed input ------------------------------------------------------ */

static void
test_malformed(void **state)
{
	static const uint8_t q[] = "\x03web\x07service\x06" "consul\x00\x00\x01\x00\x01";
	uint8_t              pkt[600];
	ldns_pkt            *r;

	(void)state;
	/* Shorter than a header: dropped. */
	assert_int_equal(raw((const uint8_t *)"\x12\x34\x01", 3), ANSWER_DROP);
	assert_int_equal(raw((const uint8_t *)"", 0), ANSWER_DROP);

	memcpy(pkt, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	/* A response: dropped, never answered (no loops). */
	pkt[2] = 0x81;
	memcpy(pkt + 12, q, sizeof(q) - 1);
	assert_int_equal(raw(pkt, 12 + sizeof(q) - 1), ANSWER_DROP);
	pkt[2] = 0x01;

	/* Compression loop: a pointer to itself. */
	memcpy(pkt + 12, "\xc0\x0c\x00\x01\x00\x01", 6);
	r = parse(out, raw(pkt, 18));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	assert_int_equal(ldns_pkt_id(r), 0x1234);
	ldns_pkt_free(r);

	/* A label of 64 bytes. */
	pkt[12] = 64;
	memset(pkt + 13, 'a', 64);
	memcpy(pkt + 77, "\x00\x00\x01\x00\x01", 5);
	r = parse(out, raw(pkt, 82));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	ldns_pkt_free(r);

	/* Truncated inside the question. */
	memcpy(pkt + 12, q, 8);
	r = parse(out, raw(pkt, 20));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	ldns_pkt_free(r);

	/* Counts that run past the end. */
	memcpy(pkt + 12, q, sizeof(q) - 1);
	pkt[11] = 5;
	r = parse(out, raw(pkt, 12 + sizeof(q) - 1));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	ldns_pkt_free(r);
	pkt[11] = 0;
	pkt[7] = 200;
	r = parse(out, raw(pkt, 12 + sizeof(q) - 1));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	ldns_pkt_free(r);
	pkt[7] = 0;

	/* Two questions: FORMERR; none: REFUSED (Consul). */
	pkt[5] = 2;
	r = parse(out, raw(pkt, 12 + sizeof(q) - 1));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
	ldns_pkt_free(r);
	pkt[5] = 0;
	r = parse(out, raw(pkt, 12));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	ldns_pkt_free(r);
	pkt[5] = 1;

	/* Opcode STATUS: NOTIMP. */
	pkt[2] = 0x11;
	r = parse(out, raw(pkt, 12 + sizeof(q) - 1));
	assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOTIMPL);
	ldns_pkt_free(r);
	pkt[2] = 0x01;

	/* EDNS version 1: BADVERS (16) in the OPT's extended rcode. */
	pkt[11] = 1;
	memcpy(pkt + 12 + sizeof(q) - 1,
	    "\x00\x00\x29\x04\xd0\x00\x01\x00\x00\x00\x00", 11);
	assert_true(raw(pkt, 12 + sizeof(q) - 1 + 11) > 0);
	assert_int_equal(out[3] & 0xF, 0);
	assert_int_equal(out[last_len - 11 + 5], 1); /* ext rcode 16 >> 4 */
}

/* --- golden wire files ---------------------------------------------------- */

static int
read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE  *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return (int)n;
}

static void
test_golden(void **state)
{
	char     path[600], name[128], transport[8];
	FILE    *m;
	uint8_t  req[4096], want[65535];
	int      cases = 0, failed = 0;
	bool     update = getenv("TRIBUNE_GOLDEN_UPDATE") != NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/cases.txt", golden_dir());
	m = fopen(path, "r");
	assert_non_null(m);
	while (fscanf(m, "%127s %7s", name, transport) == 2) {
		int n, nw;

		snprintf(path, sizeof(path), "%s/cases/%s.req", golden_dir(),
		    name);
		n = read_file(path, req, sizeof(req));
		assert_true(n >= 0);
		answer_seed(&D, GOLDEN_SEED);
		D.fixed_now = GOLDEN_NOW;
		last_len = answer_query(&D, req, (size_t)n,
		    strcmp(transport, "tcp") == 0, out, sizeof(out));
		if (last_len < 0)
			last_len = 0;
		snprintf(path, sizeof(path), "%s/cases/%s.resp", golden_dir(),
		    name);
		if (update) {
			FILE *f = fopen(path, "wb");
			assert_non_null(f);
			fwrite(out, 1, (size_t)last_len, f);
			fclose(f);
		} else {
			nw = read_file(path, want, sizeof(want));
			if (nw != last_len || memcmp(want, out, (size_t)nw) != 0) {
				fprintf(stderr, "golden %s: differs (%d bytes, "
				    "want %d)\n", name, last_len, nw);
				failed++;
			}
		}
		/* Whatever we answer, ldns must be able to read it. */
		if (last_len > 0) {
			ldns_pkt *r = NULL;
			if (ldns_wire2pkt(&r, out, (size_t)last_len) !=
			    LDNS_STATUS_OK) {
				fprintf(stderr, "golden %s: ldns cannot parse "
				    "the response\n", name);
				failed++;
			}
			ldns_pkt_free(r);
		}
		cases++;
	}
	fclose(m);
	assert_true(cases > 40);
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_srv_additional,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_and_rfc2782, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_health_filtering, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_apex_ptr, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_alt_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_family_additional,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostname_cname, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_outside_domain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ttls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disable_compression, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_64k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shuffle_seeded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
