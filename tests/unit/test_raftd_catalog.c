/* Unit tests for raftd's catalog: register/deregister, indexes, reads, filters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "raftd/raftd.h"

static char tmpl[64];

static int
setup(void **state)
{
	static struct store s;
	strcpy(tmpl, "/tmp/raftd-cat-XXXXXX");
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(store_open(&s, tmpl, 64 << 20), 0);
	*state = &s;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	store_close(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	return system(cmd);
}

/*
 * Parses body as the leader does and applies it at index idx, as one Raft
 * entry would.  Returns the result status; *nchanges the rows it changed.
 */
static int
apply(struct store *s, uint64_t idx, int type, const char *body, size_t *nchanges)
{
	struct fsm_cmd cmd;
	struct fsm_result res;
	struct store_txn t;
	char *err = NULL;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	memset(&res, 0, sizeof(res));
	cmd.type = type;
	cmd.now_ms = 1000;
	rc = type == FSM_CATALOG_REGISTER ? catalog_parse_register(body, "dc1", &cmd.body, &err)
	    : catalog_parse_deregister(body, "dc1", &cmd.body, &err);
	if (rc != 0) {
		free(err);
		return rc;
	}
	res.status = 200;
	assert_int_equal(store_begin(s, &t, true, idx), 0);
	assert_int_equal(catalog_apply(&t, &cmd, &res), 0);
	if (res.status == 200) {
		if (nchanges != NULL)
			*nchanges = t.nchanges;
		assert_int_equal(store_commit(&t), 0);
	}
	store_txn_free(&t);
	fsm_cmd_free(&cmd);
	free(res.error);
	return res.status;
}

static int
reg(struct store *s, uint64_t idx, const char *body)
{
	return apply(s, idx, FSM_CATALOG_REGISTER, body, NULL);
}

static int
dereg(struct store *s, uint64_t idx, const char *body)
{
	return apply(s, idx, FSM_CATALOG_DEREGISTER, body, NULL);
}

/* One read; returns the JSON (malloc'd) and the index. */
static char *
rd(struct store *s, const char *what, const char *arg, const char *query, uint64_t *index)
{
	struct store_txn t;
	char *json = NULL, *err = NULL;
	uint64_t idx;
	int st;

	assert_int_equal(store_begin(s, &t, false, 0), 0);
	st = catalog_read(&t, what, arg, query, "dc1", &json, &idx, &err);
	store_txn_free(&t);
	if (st != 200) {
		print_error("read %s: %d %s\n", what, st, err ? err : "");
		free(err);
		return NULL;
	}
	if (index != NULL)
		*index = idx;
	return json;
}

#define ASSERT_READ(s, what, arg, q, want)                                  \
	do {                                                                \
		char *got_ = rd((s), (what), (arg), (q), NULL);             \
		assert_non_null(got_);                                      \
		assert_string_equal(got_, (want));                          \
		free(got_);                                                 \
	} while (0)

static const char *WEB1 =
    "{\"Node\":\"n1\",\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\",\"Address\":\"10.0.0.1\","
    "\"TaggedAddresses\":{\"wan\":\"1.2.3.4\",\"lan\":\"10.0.0.1\"},\"NodeMeta\":{\"env\":\"prod\"},"
    "\"Service\":{\"Service\":\"web\",\"Tags\":[\"v1\",\"primary\"],\"Port\":80,"
    "\"Meta\":{\"team\":\"a\"}},"
    "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\",\"Status\":\"passing\"},"
    "{\"Name\":\"web alive\",\"ServiceID\":\"web\",\"Status\":\"passing\",\"Type\":\"http\","
    "\"Interval\":\"10s\"}]}";

static void
test_register_shapes(void **state)
{
	struct store *s = *state;
	uint64_t idx;
	char *j;

	assert_int_equal(reg(s, 10, WEB1), 200);
	j = rd(s, "nodes", "", NULL, &idx);
	assert_string_equal(j,
	    "[{\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\",\"Node\":\"n1\",\"Address\":\"10.0.0.1\","
	    "\"Datacenter\":\"dc1\",\"TaggedAddresses\":{\"lan\":\"10.0.0.1\",\"wan\":\"1.2.3.4\"},"
	    "\"Meta\":{\"env\":\"prod\"},\"CreateIndex\":10,\"ModifyIndex\":10}]");
	assert_int_equal(idx, 10);
	free(j);
	ASSERT_READ(s, "service", "web", NULL,
	    "[{\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\",\"Node\":\"n1\",\"Address\":\"10.0.0.1\","
	    "\"Datacenter\":\"dc1\",\"TaggedAddresses\":{\"lan\":\"10.0.0.1\",\"wan\":\"1.2.3.4\"},"
	    "\"NodeMeta\":{\"env\":\"prod\"},\"ServiceKind\":\"\",\"ServiceID\":\"web\","
	    "\"ServiceName\":\"web\",\"ServiceTags\":[\"v1\",\"primary\"],\"ServiceAddress\":\"\","
	    "\"ServiceWeights\":{\"Passing\":1,\"Warning\":1},\"ServiceMeta\":{\"team\":\"a\"},"
	    "\"ServicePort\":80,\"ServiceEnableTagOverride\":false,"
	    "\"ServiceProxy\":{\"Mode\":\"\",\"MeshGateway\":{},\"Expose\":{}},\"ServiceConnect\":{},"
	    "\"CreateIndex\":10,\"ModifyIndex\":10}]");
	ASSERT_READ(s, "services", "", NULL, "{\"web\":[\"v1\",\"primary\"]}");
	ASSERT_READ(s, "health_checks", "web", NULL,
	    "[{\"Node\":\"n1\",\"CheckID\":\"web alive\",\"Name\":\"web alive\",\"Status\":\"passing\","
	    "\"Notes\":\"\",\"Output\":\"\",\"ServiceID\":\"web\",\"ServiceName\":\"web\","
	    "\"ServiceTags\":[\"v1\",\"primary\"],\"Type\":\"http\",\"Interval\":\"10s\",\"Timeout\":\"\","
	    "\"ExposedPort\":0,\"Definition\":{},\"CreateIndex\":10,\"ModifyIndex\":10}]");
	j = rd(s, "health_service", "web", NULL, NULL);
	assert_non_null(strstr(j, "[{\"Node\":{\"ID\":\"40e4a748"));
	assert_non_null(strstr(j, "\"Service\":{\"ID\":\"web\",\"Service\":\"web\",\"Tags\":[\"v1\",\"primary\"],"
	    "\"Address\":\"\",\"Meta\":{\"team\":\"a\"},\"Port\":80,\"Weights\":{\"Passing\":1,\"Warning\":1},"
	    "\"EnableTagOverride\":false,\"Proxy\":{\"Mode\":\"\",\"MeshGateway\":{},\"Expose\":{}},"
	    "\"Connect\":{},\"PeerName\":\"\",\"CreateIndex\":10,\"ModifyIndex\":10},\"Checks\":["));
	/* node-level serfHealth first (check ID order), then the service's */
	assert_non_null(strstr(j, "\"Checks\":[{\"Node\":\"n1\",\"CheckID\":\"serfHealth\""));
	assert_non_null(strstr(j, "\"CheckID\":\"web alive\""));
	free(j);
	j = rd(s, "node", "n1", NULL, NULL);
	assert_non_null(strstr(j, "\"Services\":{\"web\":{\"ID\":\"web\""));
	free(j);
	j = rd(s, "node_services", "n1", NULL, NULL);
	assert_non_null(strstr(j, "\"Services\":[{\"ID\":\"web\""));
	free(j);
	ASSERT_READ(s, "node", "nope", NULL, "null");
	ASSERT_READ(s, "node_services", "nope", NULL, "{\"Node\":null,\"Services\":[]}");
	ASSERT_READ(s, "datacenters", "", NULL, "[\"dc1\"]");
	ASSERT_READ(s, "service", "nope", NULL, "[]");
	/* dnsd's one-read view of everything. */
	j = rd(s, "dump", "", NULL, &idx);
	assert_int_equal(idx, 10);
	assert_non_null(strstr(j, "{\"Index\":10,\"Nodes\":[{\"ID\":\"40e4a748"));
	assert_non_null(strstr(j, "\"Services\":[{\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\",\"Node\":\"n1\""));
	assert_non_null(strstr(j, "\"Checks\":[{\"Node\":\"n1\",\"CheckID\":\"serfHealth\""));
	free(j);
}

static void
test_index_unchanged(void **state)
{
	struct store *s = *state;
	size_t nch = 99;
	uint64_t idx;
	char *j;

	assert_int_equal(apply(s, 10, FSM_CATALOG_REGISTER, WEB1, &nch), 200);
	assert_true(nch > 0);
	/* Anti-entropy: the same body again changes nothing, no index moves. */
	assert_int_equal(apply(s, 11, FSM_CATALOG_REGISTER, WEB1, &nch), 200);
	assert_int_equal(nch, 0);
	j = rd(s, "health_service", "web", NULL, &idx);
	assert_int_equal(idx, 10);
	assert_null(strstr(j, "\"ModifyIndex\":11"));
	free(j);
	/* Key order and case of the body do not matter either. */
	assert_int_equal(apply(s, 12, FSM_CATALOG_REGISTER,
	    "{\"node\":\"n1\",\"address\":\"10.0.0.1\",\"id\":\"40e4a748-2192-161a-0510-9bf59fe950b5\","
	    "\"node_meta\":{\"env\":\"prod\"},\"tagged_addresses\":{\"lan\":\"10.0.0.1\",\"wan\":\"1.2.3.4\"}}",
	    &nch), 200);
	assert_int_equal(nch, 0);
	/* A changed tag: the service row moves, its CreateIndex stays. */
	assert_int_equal(apply(s, 13, FSM_CATALOG_REGISTER,
	    "{\"Node\":\"n1\",\"SkipNodeUpdate\":true,\"Service\":{\"Service\":\"web\",\"Tags\":[\"v2\"],"
	    "\"Port\":80,\"Meta\":{\"team\":\"a\"}}}", &nch), 200);
	assert_int_equal(nch, 1);
	j = rd(s, "service", "web", NULL, &idx);
	assert_int_equal(idx, 13);
	assert_non_null(strstr(j, "\"ServiceTags\":[\"v2\"]"));
	assert_non_null(strstr(j, "\"CreateIndex\":10,\"ModifyIndex\":13"));
	free(j);
	/* The node row did not move (SkipNodeUpdate). */
	j = rd(s, "nodes", "", NULL, &idx);
	assert_int_equal(idx, 10);
	free(j);
	/* The check reads the service's new tags. */
	j = rd(s, "health_checks", "web", NULL, NULL);
	assert_non_null(strstr(j, "\"ServiceTags\":[\"v2\"]"));
	free(j);
}

static void
test_deregister(void **state)
{
	struct store *s = *state;
	uint64_t idx;
	char *j;

	assert_int_equal(reg(s, 10, WEB1), 200);
	assert_int_equal(reg(s, 11,
	    "{\"Node\":\"n1\",\"Address\":\"10.0.0.1\",\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\","
	    "\"TaggedAddresses\":{\"wan\":\"1.2.3.4\",\"lan\":\"10.0.0.1\"},\"NodeMeta\":{\"env\":\"prod\"},"
	    "\"Service\":{\"ID\":\"db1\",\"Service\":\"db\",\"Port\":5432},"
	    "\"Check\":{\"CheckID\":\"db-check\",\"Name\":\"db\",\"ServiceID\":\"db1\"}}"), 200);
	assert_int_equal(reg(s, 12, "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\","
	    "\"Service\":{\"Service\":\"web\",\"Port\":81}}"), 200);
	/* Status defaults to critical. */
	ASSERT_READ(s, "health_state", "critical", "{\"filter\":\"CheckID == db-check\"}",
	    "[{\"Node\":\"n1\",\"CheckID\":\"db-check\",\"Name\":\"db\",\"Status\":\"critical\","
	    "\"Notes\":\"\",\"Output\":\"\",\"ServiceID\":\"db1\",\"ServiceName\":\"db\","
	    "\"ServiceTags\":[],\"Type\":\"\",\"Interval\":\"\",\"Timeout\":\"\",\"ExposedPort\":0,"
	    "\"Definition\":{},\"CreateIndex\":11,\"ModifyIndex\":11}]");
	/* Service: the service and its checks go, the node's checks stay. */
	assert_int_equal(dereg(s, 13, "{\"Node\":\"n1\",\"ServiceID\":\"db1\"}"), 200);
	ASSERT_READ(s, "service", "db", NULL, "[]");
	ASSERT_READ(s, "health_checks", "db", NULL, "[]");
	j = rd(s, "health_node", "n1", NULL, &idx);
	assert_non_null(strstr(j, "serfHealth"));
	assert_non_null(strstr(j, "web alive"));
	assert_int_equal(idx, 13);
	free(j);
	/* Check alone. */
	assert_int_equal(dereg(s, 14, "{\"Node\":\"n1\",\"CheckID\":\"web alive\"}"), 200);
	j = rd(s, "health_node", "n1", NULL, NULL);
	assert_null(strstr(j, "web alive"));
	free(j);
	/* Unknown things: still true, nothing moves. */
	assert_int_equal(dereg(s, 15, "{\"Node\":\"n9\"}"), 200);
	/* Node: the node, its services and checks. */
	assert_int_equal(dereg(s, 16, "{\"Node\":\"n1\"}"), 200);
	ASSERT_READ(s, "health_node", "n1", NULL, "[]");
	j = rd(s, "service", "web", NULL, &idx);
	assert_null(strstr(j, "\"n1\""));
	assert_non_null(strstr(j, "\"n2\""));
	assert_int_equal(idx, 16);
	free(j);
	ASSERT_READ(s, "node", "n1", NULL, "null");
}

static void
test_validation(void **state)
{
	struct store *s = *state;
	char *canon = NULL, *err = NULL;

	assert_int_equal(catalog_parse_register("{\"Address\":\"1.2.3.4\"}", "dc1", &canon, &err), 500);
	assert_string_equal(err, "Must provide node");
	free(err);
	assert_int_equal(catalog_parse_register("{\"Node\":\"a\"}", "dc1", &canon, &err), 500);
	assert_string_equal(err, "Must provide address if SkipNodeUpdate is not set");
	free(err);
	assert_int_equal(catalog_parse_register("{\"Node\":\"a\",\"Address\":\"x\",\"Service\":{\"ID\":\"s\"}}",
	    "dc1", &canon, &err), 500);
	assert_string_equal(err, "Must provide service name with ID");
	free(err);
	assert_int_equal(catalog_parse_register("[1]", "dc1", &canon, &err), 400);
	free(err);
	assert_int_equal(catalog_parse_register("{\"Node\":5}", "dc1", &canon, &err), 400);
	free(err);
	assert_int_equal(catalog_parse_register("{\"Node\":\"a\",\"Address\":\"x\",\"NodeMeta\":{\"k\":1}}",
	    "dc1", &canon, &err), 400);
	free(err);
	assert_int_equal(catalog_parse_register("{nope", "dc1", &canon, &err), 400);
	free(err);
	assert_int_equal(catalog_parse_deregister("{}", "dc1", &canon, &err), 500);
	free(err);
	assert_null(canon);
	/* Refused at apply: a check on a service the node does not have. */
	assert_int_equal(reg(s, 10, "{\"Node\":\"a\",\"Address\":\"x\","
	    "\"Check\":{\"Name\":\"c\",\"ServiceID\":\"nope\"}}"), 500);
	ASSERT_READ(s, "nodes", "", NULL, "[]");
	/* SkipNodeUpdate on an unknown node. */
	assert_int_equal(reg(s, 11, "{\"Node\":\"a\",\"SkipNodeUpdate\":true,"
	    "\"Service\":{\"Service\":\"w\"}}"), 500);
	/* The canonical form fills the defaults. */
	assert_int_equal(catalog_parse_register("{\"node\":\"a\",\"address\":\"x\",\"service\":{\"service\":\"w\"},"
	    "\"check\":{\"name\":\"c\"}}", "dc7", &canon, &err), 0);
	assert_non_null(strstr(canon, "\"Datacenter\":\"dc7\""));
	assert_non_null(strstr(canon, "\"ID\":\"w\",\"Service\":\"w\""));
	assert_non_null(strstr(canon, "\"CheckID\":\"c\""));
	assert_non_null(strstr(canon, "\"Status\":\"critical\""));
	free(canon);
}

static void
test_health_filters(void **state)
{
	struct store *s = *state;
	char *j;

	assert_int_equal(reg(s, 10, WEB1), 200);
	assert_int_equal(reg(s, 11, "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\",\"NodeMeta\":{\"env\":\"dev\"},"
	    "\"Service\":{\"Service\":\"web\",\"Tags\":[\"v2\"],\"Port\":81},"
	    "\"Checks\":[{\"Name\":\"w2\",\"ServiceID\":\"web\",\"Status\":\"warning\"}]}"), 200);
	j = rd(s, "health_service", "web", "{\"passing\":true}", NULL);
	assert_non_null(strstr(j, "\"n1\""));
	assert_null(strstr(j, "\"n2\""));
	free(j);
	j = rd(s, "health_service", "web", "{\"tag\":[\"V1\",\"primary\"]}", NULL);
	assert_non_null(strstr(j, "\"n1\""));
	assert_null(strstr(j, "\"n2\""));
	free(j);
	ASSERT_READ(s, "health_service", "web", "{\"tag\":[\"v1\",\"v2\"]}", "[]");
	j = rd(s, "health_service", "web", "{\"node-meta\":[\"env:dev\"]}", NULL);
	assert_null(strstr(j, "\"n1\""));
	assert_non_null(strstr(j, "\"n2\""));
	free(j);
	j = rd(s, "health_state", "warning", NULL, NULL);
	assert_non_null(strstr(j, "\"w2\""));
	assert_null(strstr(j, "passing"));
	free(j);
	j = rd(s, "health_state", "any", NULL, NULL);
	assert_non_null(strstr(j, "\"w2\""));
	assert_non_null(strstr(j, "serfHealth"));
	free(j);
	assert_null(rd(s, "health_state", "bogus", NULL, NULL));
	j = rd(s, "nodes", "", "{\"node-meta\":[\"env:prod\"]}", NULL);
	assert_non_null(strstr(j, "\"n1\""));
	assert_null(strstr(j, "\"n2\""));
	free(j);
	ASSERT_READ(s, "services", "", NULL, "{\"web\":[\"v1\",\"primary\",\"v2\"]}");
	ASSERT_READ(s, "services", "", "{\"node-meta\":[\"env:dev\"]}", "{\"web\":[\"v2\"]}");
}

static void
test_filter_expr(void **state)
{
	struct store *s = *state;
	char *j;
	static const struct { const char *expr; int n1, n2; } cases[] = {
		{ "Node == n1", 1, 0 },
		{ "Node == \"n2\"", 0, 1 },
		{ "Node != n1", 0, 1 },
		{ "Meta.env == prod", 1, 0 },
		{ "Meta[\"env\"] == \"dev\"", 0, 1 },
		{ "Meta.env == prod or Meta.env == dev", 1, 1 },
		{ "Meta.env == prod and Node == n2", 0, 0 },
		{ "not Node == n1", 0, 1 },
		{ "not (Node == n1 or Node == n2)", 0, 0 },
		{ "Meta contains env", 1, 1 },
		{ "TaggedAddresses is empty", 0, 1 },
		{ "TaggedAddresses is not empty", 1, 0 },
		{ "Address matches `^10\\.0\\.0\\.2$`", 0, 1 },
		{ "Node not matches \"1$\"", 0, 1 },
		{ "Meta.missing == x", 0, 0 },
		{ "Meta.missing != x", 1, 1 },
	};

	assert_int_equal(reg(s, 10, WEB1), 200);
	assert_int_equal(reg(s, 11, "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\",\"NodeMeta\":{\"env\":\"dev\"}}"), 200);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *q = json_pack("{s:s}", "filter", cases[i].expr);
		char *qs = json_dumps(q, JSON_COMPACT);
		j = rd(s, "nodes", "", qs, NULL);
		if (j == NULL || (strstr(j, "\"n1\"") != NULL) != cases[i].n1 ||
		    (strstr(j, "\"n2\"") != NULL) != cases[i].n2)
			fail_msg("filter %s: %s", cases[i].expr, j ? j : "(error)");
		free(j);
		free(qs);
		json_decref(q);
	}
	/* Service tags and in. */
	j = rd(s, "service", "web", "{\"filter\":\"v1 in ServiceTags and ServicePort == 80\"}", NULL);
	assert_non_null(strstr(j, "\"n1\""));
	free(j);
	j = rd(s, "health_service", "web", "{\"filter\":\"Service.Tags contains primary and Node.Meta.env == prod\"}", NULL);
	assert_non_null(strstr(j, "\"n1\""));
	free(j);
	ASSERT_READ(s, "health_service", "web", "{\"filter\":\"Service.Tags contains nope\"}", "[]");
	/* A bad filter answers 400 (and frees what the query held). */
	assert_null(rd(s, "nodes", "", "{\"filter\":\"Node ==\",\"tag\":[\"x\"],\"node-meta\":[\"a:b\"]}", NULL));
	/* Syntax errors are refused, never crash. */
	static const char *bad[] = { "Node ==", "== x", "(Node == a", "Node = a", "Node == \"a",
		"and", "Node matches \"(\"", "Meta[ == x", "" };
	for (size_t i = 0; bad[i][0] != '\0'; i++) {
		struct bexpr *f = bexpr_parse(bad[i]);
		if (f != NULL)
			fail_msg("filter %s parsed", bad[i]);
	}
}

static void
test_sessions_invalidated(void **state)
{
	struct store *s = *state;
	struct store_session ss, out;
	static char *checks[] = { "serfHealth" };

	assert_int_equal(reg(s, 10, WEB1), 200);
	memset(&ss, 0, sizeof(ss));
	strcpy(ss.id, "11111111-1111-4111-8111-111111111111");
	ss.create_index = ss.modify_index = 11;
	ss.name = "";
	ss.node = "n1";
	ss.ttl = "";
	ss.node_checks = checks;
	ss.n_node_checks = 1;
	{
		struct store_txn t;
		assert_int_equal(store_begin(s, &t, true, 11), 0);
		assert_int_equal(session_put(&t, &ss), 0);
		assert_int_equal(store_commit(&t), 0);
		store_txn_free(&t);
	}
	/* Output change, still passing: the session lives. */
	assert_int_equal(reg(s, 12, "{\"Node\":\"n1\",\"SkipNodeUpdate\":true,\"Check\":{\"CheckID\":\"serfHealth\","
	    "\"Name\":\"Serf Health Status\",\"Status\":\"passing\",\"Output\":\"ok\"}}"), 200);
	{
		struct store_txn t;
		assert_int_equal(store_begin(s, &t, false, 0), 0);
		assert_int_equal(session_get(&t, ss.id, &out), 0);
		session_row_free(&out);
		store_txn_free(&t);
	}
	/* Critical: invalidated in the same entry. */
	assert_int_equal(reg(s, 13, "{\"Node\":\"n1\",\"SkipNodeUpdate\":true,\"Check\":{\"CheckID\":\"serfHealth\","
	    "\"Name\":\"Serf Health Status\",\"Status\":\"critical\"}}"), 200);
	{
		struct store_txn t;
		assert_int_equal(store_begin(s, &t, false, 0), 0);
		assert_int_not_equal(session_get(&t, ss.id, &out), 0);
		store_txn_free(&t);
	}
}

static void
test_fsm_roundtrip_and_current(void **state)
{
	struct store *s = *state;
	struct fsm_cmd cmd, back;
	struct store_txn t;
	uint8_t *buf;
	size_t len;
	char *err = NULL;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = FSM_CATALOG_REGISTER;
	cmd.now_ms = 42;
	assert_int_equal(catalog_parse_register(WEB1, "dc1", &cmd.body, &err), 0);
	assert_int_equal(fsm_encode(&cmd, &buf, &len), 0);
	assert_int_equal(fsm_decode(buf, len, &back), 0);
	assert_int_equal(back.type, FSM_CATALOG_REGISTER);
	assert_int_equal(back.now_ms, 42);
	assert_string_equal(back.body, cmd.body);
	/* Truncations never decode. */
	for (size_t i = 0; i < len; i++) {
		struct fsm_cmd x;
		assert_int_not_equal(fsm_decode(buf, i, &x), 0);
	}
	free(buf);
	fsm_cmd_free(&back);

	assert_int_equal(store_begin(s, &t, false, 0), 0);
	assert_false(catalog_register_current(&t, cmd.body));
	store_txn_free(&t);
	assert_int_equal(reg(s, 5, WEB1), 200);
	assert_int_equal(store_begin(s, &t, false, 0), 0);
	assert_true(catalog_register_current(&t, cmd.body));
	store_txn_free(&t);
	fsm_cmd_free(&cmd);
}

static void
test_member_bodies(void **state)
{
	struct store *s = *state;
	const char *tags = "{\"role\":\"consul\",\"dc\":\"dc1\",\"id\":\"abc\",\"port\":\"8305\"}";
	char *b;

	/* Another datacenter's member is not ours. */
	assert_null(catalog_leader_body("m", "10.0.0.9", "alive", "{\"dc\":\"dc2\"}", "dc1", false));
	/* An alive server: node, consul service on its port, serfHealth passing. */
	b = catalog_leader_body("m", "10.0.0.9", "alive", tags, "dc1", false);
	assert_int_equal(reg(s, 10, b), 200);
	free(b);
	ASSERT_READ(s, "health_checks", "consul", NULL, "[]");
	b = rd(s, "service", "consul", NULL, NULL);
	assert_non_null(strstr(b, "\"ID\":\"abc\",\"Node\":\"m\",\"Address\":\"10.0.0.9\""));
	assert_non_null(strstr(b, "\"ServicePort\":8305"));
	free(b);
	/* Failed: serfHealth critical, the node row untouched. */
	b = catalog_leader_body("m", "10.0.0.9", "failed", tags, "dc1", true);
	assert_int_equal(reg(s, 11, b), 200);
	free(b);
	b = rd(s, "health_state", "critical", NULL, NULL);
	assert_non_null(strstr(b, "\"Output\":\"Agent not live or unreachable\""));
	free(b);
	b = rd(s, "nodes", "", NULL, NULL);
	assert_non_null(strstr(b, "\"CreateIndex\":10,\"ModifyIndex\":10"));
	free(b);
}

/* Does the read's answer contain needle (has) or not (!has)? */
#define READ_HAS(s, what, arg, needle, has)                                 \
	do {                                                                \
		char *got_ = rd((s), (what), (arg), NULL, NULL);            \
		assert_non_null(got_);                                      \
		if ((strstr(got_, (needle)) != NULL) != (has))              \
			fail_msg("%s %s: %s", (what), (arg), got_);         \
		free(got_);                                                 \
	} while (0)

/* Empties service_names, as in a store or snapshot from before it. */
static void
drop_names(struct store *s)
{
	MDB_txn *txn;

	assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_drop(txn, s->dbi[STORE_T_SERVICE_NAMES], 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
test_service_names_index(void **state)
{
	struct store *s = *state;
	uint8_t *snap;
	size_t len;
	static const char *B =
	    "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\","
	    "\"Service\":{\"ID\":\"web-b\",\"Service\":\"web\",\"Port\":81},"
	    "\"Check\":{\"CheckID\":\"b-up\",\"ServiceID\":\"web-b\",\"Status\":\"passing\"}}";
	static const char *B_AS_API =
	    "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\","
	    "\"Service\":{\"ID\":\"web-b\",\"Service\":\"api\",\"Port\":81}}";

	assert_int_equal(reg(s, 10, WEB1), 200);
	assert_int_equal(reg(s, 11, B), 200);
	assert_int_equal(reg(s, 12, "{\"Node\":\"n1\",\"SkipNodeUpdate\":true,"
	    "\"Service\":{\"Service\":\"db\"}}"), 200);
	READ_HAS(s, "service", "web", "\"Node\":\"n1\"", true);
	READ_HAS(s, "service", "web", "\"ServiceID\":\"web-b\"", true);
	READ_HAS(s, "service", "web", "\"ServiceName\":\"db\"", false);
	READ_HAS(s, "health_checks", "web", "\"CheckID\":\"b-up\"", true);
	ASSERT_READ(s, "service", "we", NULL, "[]");

	/* The instance renamed: its entry moves with it. */
	assert_int_equal(reg(s, 13, B_AS_API), 200);
	READ_HAS(s, "service", "web", "web-b", false);
	READ_HAS(s, "health_checks", "web", "b-up", false);
	READ_HAS(s, "health_service", "api", "\"ID\":\"web-b\"", true);

	/* A snapshot without the index restores with it rebuilt. */
	drop_names(s);
	assert_int_equal(store_snapshot(s, &snap, &len), 0);
	assert_int_equal(reg(s, 14, B), 200);
	assert_int_equal(store_restore(s, snap, len), 0);
	free(snap);
	READ_HAS(s, "service", "api", "\"ServiceID\":\"web-b\"", true);
	READ_HAS(s, "service", "web", "\"Node\":\"n1\"", true);
	READ_HAS(s, "service", "web", "web-b", false);

	/* So does a store opened without it. */
	drop_names(s);
	store_close(s);
	assert_int_equal(store_open(s, tmpl, 64 << 20), 0);
	READ_HAS(s, "service", "db", "\"ServiceName\":\"db\"", true);

	/* Deregistering the node takes its entries. */
	assert_int_equal(dereg(s, 15, "{\"Node\":\"n1\"}"), 200);
	ASSERT_READ(s, "service", "web", NULL, "[]");
	ASSERT_READ(s, "service", "db", NULL, "[]");
	assert_int_equal(dereg(s, 16, "{\"Node\":\"n2\",\"ServiceID\":\"web-b\"}"), 200);
	ASSERT_READ(s, "health_service", "api", NULL, "[]");
}

/* Consul finds a service or a node by name whatever the case of either
 * spelling. */
static void
test_service_name_case(void **state)
{
	struct store *s = *state;
	MDB_txn *txn;
	MDB_val k = { 3, "Web" }, v = { 8, "n2\0web-b" };

	assert_int_equal(reg(s, 10, WEB1), 200);
	assert_int_equal(reg(s, 11, "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\","
	    "\"Service\":{\"ID\":\"web-b\",\"Service\":\"Web\",\"Port\":81},"
	    "\"Check\":{\"CheckID\":\"b-up\",\"ServiceID\":\"web-b\",\"Status\":\"passing\"}}"), 200);
	READ_HAS(s, "service", "WEB", "\"ServiceID\":\"web-b\"", true);
	READ_HAS(s, "service", "WEB", "\"Node\":\"n1\"", true);
	READ_HAS(s, "service", "web", "\"ServiceName\":\"Web\"", true);
	READ_HAS(s, "health_service", "wEb", "\"ID\":\"web-b\"", true);
	READ_HAS(s, "health_checks", "WEB", "\"CheckID\":\"b-up\"", true);
	ASSERT_READ(s, "service", "WE", NULL, "[]");
	/* So are nodes, though their rows keep the registered spelling. */
	READ_HAS(s, "node", "N1", "\"Node\":\"n1\"", true);
	READ_HAS(s, "node_services", "N1", "\"ID\":\"web\"", true);
	READ_HAS(s, "health_node", "N2", "\"CheckID\":\"b-up\"", true);
	ASSERT_READ(s, "node", "N", NULL, "null");

	/* A store whose index kept the case (written before keys were
	 * lowercased) is rebuilt when opened. */
	drop_names(s);
	assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, s->dbi[STORE_T_SERVICE_NAMES], &k, &v, 0), 0);
	k.mv_data = "web";
	k.mv_size = 3;
	v.mv_data = "n1\0web";
	v.mv_size = 6;
	assert_int_equal(mdb_put(txn, s->dbi[STORE_T_SERVICE_NAMES], &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	store_close(s);
	assert_int_equal(store_open(s, tmpl, 64 << 20), 0);
	READ_HAS(s, "service", "web", "\"ServiceID\":\"web-b\"", true);
	READ_HAS(s, "service", "web", "\"Node\":\"n1\"", true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_expr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_invalidated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsm_roundtrip_and_current, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_names_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_name_case, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
