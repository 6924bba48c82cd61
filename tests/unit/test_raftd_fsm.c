/*
 * Unit tests for raftd's FSM and its consensus engine: the command codec,
 * apply/skip/rollback, and a real one-node libraft in a temp dir, stopped
 * and restarted (with and without the LMDB store) to prove every
 * acknowledged write survives and replayed entries are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "raftd/raftd.h"

static char dir[64];

static int
mkdir_tmp(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/raftd-fsm-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
rm_tmp(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void
open_store(struct store *s, const char *sub)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_int_equal(store_open(s, path, 64 << 20), 0);
}

static uint8_t *
put_cmd(const char *key, const char *val, size_t *len)
{
	struct fsm_kvop op = { .verb = KV_SET, .key = (char *)(uintptr_t)key,
		.value = (uint8_t *)(uintptr_t)val, .value_len = strlen(val) };
	struct fsm_cmd cmd = { .type = FSM_KVS, .now_ms = 1, .single = true, .ops = &op, .nops = 1 };
	uint8_t *buf;
	assert_int_equal(fsm_encode(&cmd, &buf, len), 0);
	return buf;
}

static void
test_codec_roundtrip(void **state)
{
	struct fsm_kvop ops[2] = {
		{ .verb = KV_LOCK, .key = "a", .value = (uint8_t *)"xy", .value_len = 2, .flags = 9,
		  .session = "11111111-1111-4111-8111-111111111111" },
		{ .verb = KV_DELETE_TREE, .key = "p/" },
	};
	struct fsm_cmd cmd = { .type = FSM_KVS, .now_ms = 77, .ops = ops, .nops = 2 }, out;
	uint8_t *buf;
	size_t len;
	(void)state;

	assert_int_equal(fsm_encode(&cmd, &buf, &len), 0);
	assert_int_equal(fsm_decode(buf, len, &out), 0);
	assert_int_equal(out.nops, 2);
	assert_int_equal(out.now_ms, 77);
	assert_false(out.single);
	assert_int_equal(out.ops[0].verb, KV_LOCK);
	assert_int_equal(out.ops[0].flags, 9);
	assert_memory_equal(out.ops[0].value, "xy", 2);
	assert_string_equal(out.ops[0].session, "11111111-1111-4111-8111-111111111111");
	assert_null(out.ops[1].value);
	assert_null(out.ops[1].session);
	fsm_cmd_free(&out);
	/* Every truncation is refused, never a crash. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(fsm_decode(buf, cut, &out), 0);
	free(buf);
}

static void
test_apply_skip_and_txn(void **state)
{
	struct store s;
	struct fsm f;
	struct store_txn t;
	struct store_kv row;
	struct fsm_cmd cmd;
	uint8_t *buf;
	size_t len;
	char *err;
	(void)state;

	open_store(&s, "state");
	fsm_init(&f, &s, NULL, NULL);
	buf = put_cmd("k", "v1", &len);
	assert_int_equal(fsm_apply(&f, 3, buf, len), 0);
	assert_true(f.result.ok);
	assert_false(f.result.skipped);
	/* The same index again (libraft's replay) is skipped. */
	assert_int_equal(fsm_apply(&f, 3, buf, len), 0);
	assert_true(f.result.skipped);
	free(buf);

	/* A txn with one failing check rolls everything back. */
	assert_int_equal(txn_parse("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"t1\",\"Value\":\"aGk=\"}},"
	    "{\"kv\":{\"verb\":\"check-index\",\"key\":\"k\",\"index\":99}}]", &cmd, &err), 0);
	assert_false(txn_read_only(&cmd));
	assert_int_equal(fsm_encode(&cmd, &buf, &len), 0);
	fsm_cmd_free(&cmd);
	assert_int_equal(fsm_apply(&f, 4, buf, len), 0);
	free(buf);
	assert_int_equal(f.result.status, 409);
	assert_string_equal(f.result.json,
	    "{\"Results\":null,\"Errors\":[{\"OpIndex\":1,\"What\":\"current modify index 3 != 99\"}]}");
	assert_int_equal(s.applied, 4);
	assert_int_equal(store_begin(&s, &t, false, 0), 0);
	assert_int_equal(kvs_get(&t, "t1", 2, &row), MDB_NOTFOUND);
	store_txn_free(&t);

	/* The same txn with the right index commits, with Consul's results. */
	assert_int_equal(txn_parse("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"t1\",\"Value\":\"aGk=\"}},"
	    "{\"KV\":{\"Verb\":\"get\",\"Key\":\"k\"}}]", &cmd, &err), 0);
	assert_int_equal(fsm_encode(&cmd, &buf, &len), 0);
	fsm_cmd_free(&cmd);
	assert_int_equal(fsm_apply(&f, 5, buf, len), 0);
	free(buf);
	assert_int_equal(f.result.status, 200);
	assert_string_equal(f.result.json,
	    "{\"Results\":[{\"KV\":{\"LockIndex\":0,\"Key\":\"t1\",\"Flags\":0,\"Value\":null,"
	    "\"CreateIndex\":5,\"ModifyIndex\":5}},{\"KV\":{\"LockIndex\":0,\"Key\":\"k\",\"Flags\":0,"
	    "\"Value\":\"djE=\",\"CreateIndex\":3,\"ModifyIndex\":3}}],\"Errors\":null}");

	/* Bad bodies are 400s. */
	assert_int_equal(txn_parse("[{\"KV\":{\"Verb\":\"nope\",\"Key\":\"a\"}}]", &cmd, &err), 400);
	free(err);
	assert_int_equal(txn_parse("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":\"!!\"}}]", &cmd, &err), 400);
	free(err);
	assert_int_equal(txn_parse("{", &cmd, &err), 400);
	free(err);

	/* Garbage in the log is a no-op that still advances the index. */
	assert_int_equal(fsm_apply(&f, 6, (const uint8_t *)"\xc1", 1), 0);
	assert_int_equal(s.applied, 6);
	fsm_fini(&f);
	store_close(&s);
}

/*
 * FSM_KV_BATCH: each op answers as the KV endpoint's lone op would, in
 * order, and a refused or failed op changes nothing and stops nothing.
 */
static void
test_apply_batch(void **state)
{
	const char *sid = "22222222-2222-4222-8222-222222222222";
	struct fsm_kvop ops[] = {
		{ .verb = KV_SET, .key = "b/1", .value = (uint8_t *)"one", .value_len = 3 },
		{ .verb = KV_CAS, .key = "b/2", .value = (uint8_t *)"two", .value_len = 3 },  /* cas=0, new: ok */
		{ .verb = KV_CAS, .key = "b/1", .value = (uint8_t *)"no", .value_len = 2 },   /* cas=0, exists: false */
		{ .verb = KV_CAS, .key = "b/1", .value = (uint8_t *)"no", .value_len = 2, .index = 99 },
		{ .verb = KV_LOCK, .key = "b/l", .value = (uint8_t *)"x", .value_len = 1,
		  .session = (char *)(uintptr_t)sid },                                      /* no such session */
		{ .verb = KV_SET, .key = "b/3", .value = (uint8_t *)"three", .value_len = 5 },
		{ .verb = KV_DELETE_CAS, .key = "b/2", .index = 1 },                         /* stale: false */
		{ .verb = KV_DELETE, .key = "b/3" },
	};
	struct fsm_cmd cmd = { .type = FSM_KV_BATCH, .now_ms = 5, .ops = ops, .nops = 8 }, out;
	const bool want_ok[] = { true, true, false, false, false, true, false, true };
	const int want_status[] = { 200, 200, 200, 200, 500, 200, 200, 200 };
	struct store s;
	struct fsm f;
	struct store_txn t;
	struct store_kv row;
	uint8_t *buf;
	size_t len;
	(void)state;

	assert_int_equal(fsm_encode(&cmd, &buf, &len), 0);
	assert_int_equal(fsm_decode(buf, len, &out), 0);
	assert_int_equal(out.type, FSM_KV_BATCH);
	assert_int_equal(out.nops, 8);
	assert_int_equal(out.ops[3].index, 99);
	assert_string_equal(out.ops[4].session, sid);
	fsm_cmd_free(&out);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(fsm_decode(buf, cut, &out), 0);

	open_store(&s, "batch");
	fsm_init(&f, &s, NULL, NULL);
	assert_int_equal(fsm_apply(&f, 10, buf, len), 0);
	free(buf);
	assert_int_equal(f.result.status, 200);
	assert_int_equal(f.result.nops, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(f.result.ops[i].ok, want_ok[i]);
		assert_int_equal(f.result.ops[i].status, want_status[i]);
		assert_int_equal(f.result.ops[i].index, 10);
	}
	assert_string_equal(f.result.ops[4].error, "invalid session \"22222222-2222-4222-8222-222222222222\"");
	assert_int_equal(store_begin(&s, &t, false, 0), 0);
	assert_int_equal(kvs_get(&t, "b/1", 3, &row), 0);
	assert_memory_equal(row.value, "one", 3);
	assert_int_equal(kvs_get(&t, "b/2", 3, &row), 0);
	assert_int_equal(row.modify_index, 10);
	assert_int_equal(kvs_get(&t, "b/l", 3, &row), MDB_NOTFOUND);
	assert_int_equal(kvs_get(&t, "b/3", 3, &row), MDB_NOTFOUND);
	assert_int_equal(store_meta_u64(&t, "applied"), 10);
	store_txn_free(&t);
	fsm_fini(&f);
	store_close(&s);
}

static int
count_session(void *arg, const struct store_session *ss)
{
	(void)ss;
	(*(int *)arg)++;
	return 0;
}

static uint8_t *
encode(struct fsm_cmd *cmd, size_t *len)
{
	uint8_t *buf;
	assert_int_equal(fsm_encode(cmd, &buf, len), 0);
	return buf;
}

/* A fresh session/create (a new random id) for bus request req. */
static void
apply_session_create(struct fsm *f, uint64_t req, uint64_t index)
{
	struct fsm_cmd cmd;
	uint8_t *buf;
	size_t len;
	char *err;

	assert_int_equal(sessreq_parse("", "n1", &cmd, &err), 0);
	cmd.req = req;
	buf = encode(&cmd, &len);
	fsm_cmd_free(&cmd);
	assert_int_equal(fsm_apply(f, index, buf, len), 0);
	free(buf);
}

/*
 * A write proposed twice under one bus request id (nng resends a call to a
 * restarted raftd) is applied once: the second entry changes nothing and
 * answers the first's result, also after the store is reopened; records
 * are pruned FSM_REQ_KEEP (65536) entries later.
 */
static void
test_request_ids(void **state)
{
	struct fsm_kvop op = { .verb = KV_CAS, .key = "once", .value = (uint8_t *)"1", .value_len = 1 };
	struct fsm_cmd cmd, batch = { .type = FSM_KV_BATCH, .req = 78, .ops = &op, .nops = 1 }, out;
	struct fsm_result seen;
	struct store s;
	struct fsm f;
	struct store_txn t;
	struct store_kv row;
	char first[64];
	uint8_t *buf, nested[] = { 0x94, FSM_REQUEST, 0x01, 0x05,
		0x94, FSM_REQUEST, 0x01, 0x05, 0x92, 0x00, 0x01 };
	size_t len;
	int n = 0;
	(void)state;

	/* The wrapper round-trips; nesting it, or id 0, is refused. */
	buf = encode(&batch, &len);
	assert_int_equal(fsm_decode(buf, len, &out), 0);
	assert_int_equal(out.type, FSM_KV_BATCH);
	assert_int_equal(out.req, 78);
	assert_int_equal(out.nops, 1);
	fsm_cmd_free(&out);
	free(buf);
	assert_int_not_equal(fsm_decode(nested, sizeof(nested), &out), 0);
	nested[3] = 0;
	nested[4] = 0x92; nested[5] = 0x00; nested[6] = 0x01;
	assert_int_not_equal(fsm_decode(nested, 7, &out), 0);

	open_store(&s, "reqs");
	fsm_init(&f, &s, NULL, NULL);
	/* A session create, then the same request again with another id. */
	apply_session_create(&f, 77, 5);
	assert_true(f.result.ok);
	assert_false(f.result.dup);
	assert_non_null(f.result.json);
	snprintf(first, sizeof(first), "%s", f.result.json);
	apply_session_create(&f, 77, 6);
	assert_true(f.result.dup);
	assert_string_equal(f.result.json, first);
	assert_int_equal(f.result.index, 5);
	assert_int_equal(f.dups, 1);
	assert_int_equal(store_begin(&s, &t, false, 0), 0);
	session_scan(&t, count_session, &n);
	assert_int_equal(store_meta_u64(&t, "applied"), 6);
	store_txn_free(&t);
	assert_int_equal(n, 1);

	/* A batch's cas=0 on a new key: true; resent, still true (not the
	 * false a second run would give), and the key is untouched. */
	buf = encode(&batch, &len);
	assert_int_equal(fsm_apply(&f, 7, buf, len), 0);
	assert_int_equal(f.result.nops, 1);
	assert_true(f.result.ops[0].ok);
	assert_int_equal(fsm_apply(&f, 8, buf, len), 0);
	free(buf);
	assert_true(f.result.dup);
	assert_int_equal(f.result.nops, 1);
	assert_true(f.result.ops[0].ok);
	assert_int_equal(f.result.ops[0].index, 7);
	assert_int_equal(store_begin(&s, &t, false, 0), 0);
	assert_int_equal(kvs_get(&t, "once", 4, &row), 0);
	assert_int_equal(row.modify_index, 7);
	store_txn_free(&t);
	fsm_fini(&f);
	store_close(&s);

	/* raftd restarts: the store still knows both. */
	open_store(&s, "reqs");
	fsm_init(&f, &s, NULL, NULL);
	assert_int_equal(fsm_request_result(&s, 77, &seen), 0);
	assert_true(seen.dup);
	assert_string_equal(seen.json, first);
	fsm_result_free(&seen);
	assert_int_equal(fsm_request_result(&s, 78, &seen), 0);
	assert_int_equal(seen.nops, 1);
	assert_true(seen.ops[0].ok);
	fsm_result_free(&seen);
	assert_int_equal(fsm_request_result(&s, 79, &seen), MDB_NOTFOUND);

	/* Pruned once they are FSM_REQ_KEEP entries old, at an index that is a
	 * multiple of FSM_REQ_PRUNE (4096); younger ones stay. */
	batch.req = 79;
	op.key = "twice";
	buf = encode(&batch, &len);
	assert_int_equal(fsm_apply(&f, 69000, buf, len), 0);
	free(buf);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = FSM_NOOP;
	buf = encode(&cmd, &len);
	assert_int_equal(fsm_apply(&f, 17 * 4096, buf, len), 0);
	free(buf);
	assert_int_equal(fsm_request_result(&s, 77, &seen), MDB_NOTFOUND);
	assert_int_equal(fsm_request_result(&s, 78, &seen), MDB_NOTFOUND);
	assert_int_equal(fsm_request_result(&s, 79, &seen), 0);
	fsm_result_free(&seen);
	fsm_fini(&f);
	store_close(&s);
}

static void
test_session_request(void **state)
{
	struct fsm_cmd cmd;
	char *err;
	(void)state;

	assert_int_equal(sessreq_parse("", "node1", &cmd, &err), 0);
	assert_string_equal(cmd.sess.node, "node1");
	assert_int_equal(cmd.sess.lock_delay_ns, 15000000000ULL);
	assert_int_equal(cmd.sess.n_node_checks, 1);
	assert_string_equal(cmd.sess.node_checks[0], "serfHealth");
	assert_int_equal(strlen(cmd.sess.id), 36);
	fsm_cmd_free(&cmd);
	assert_int_equal(sessreq_parse("{\"name\":\"x\",\"checks\":[],\"lockdelay\":\"0.001s\","
	    "\"behavior\":\"delete\",\"ttl\":\"15s\"}", "node1", &cmd, &err), 0);
	assert_int_equal(cmd.sess.lock_delay_ns, 1000000);
	assert_int_equal(cmd.sess.behavior, STORE_BEHAVIOR_DELETE);
	assert_int_equal(cmd.sess.n_node_checks, 0);
	assert_string_equal(cmd.sess.ttl, "15s");
	fsm_cmd_free(&cmd);
	assert_int_equal(sessreq_parse("{\"TTL\":\"5s\"}", "n", &cmd, &err), 500);
	assert_string_equal(err, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
	free(err);
	assert_int_equal(sessreq_parse("{\"Behavior\":\"x\"}", "n", &cmd, &err), 500);
	free(err);
	assert_int_equal(sessreq_parse("{bad", "n", &cmd, &err), 400);
	free(err);
}

/* --- a real one-node libraft ---------------------------------------------- */

struct node {
	uv_loop_t          loop;
	struct store       store;
	struct fsm         fsm;
	struct consensus  *cons;
	int                acked, failed, closed;
	uint64_t           last_index;
};

static int port;

static void
node_start(struct node *n, unsigned threshold)
{
	struct consensus_config cfg;
	char raftdir[128], addr[32], err[256];

	memset(n, 0, sizeof(*n));
	assert_int_equal(uv_loop_init(&n->loop), 0);
	open_store(&n->store, "state");
	fsm_init(&n->fsm, &n->store, NULL, NULL);
	snprintf(raftdir, sizeof(raftdir), "%s/raft", dir);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = &n->loop;
	cfg.dir = raftdir;
	cfg.id = 1;
	cfg.address = addr;
	cfg.bootstrap = true;
	cfg.snapshot_threshold = threshold;
	cfg.snapshot_trailing = threshold / 4;
	cfg.fsm = &n->fsm;
	n->cons = consensus_start(&cfg, err, sizeof(err));
	if (n->cons == NULL)
		fail_msg("consensus_start: %s", err);
}

static void
run_until(struct node *n, int (*cond)(struct node *), int max_ms)
{
	uint64_t start = uv_now(&n->loop);
	while (!cond(n) && uv_now(&n->loop) - start < (uint64_t)max_ms) {
		uv_run(&n->loop, UV_RUN_ONCE);
		uv_update_time(&n->loop);
	}
}

static int
is_leader(struct node *n)
{
	return consensus_role(n->cons) == CONSENSUS_LEADER;
}

static int
has_snapshot(struct node *n)
{
	return consensus_snapshot_index(n->cons) > 0;
}

static int
is_closed(struct node *n)
{
	return n->closed;
}

static void
closed_cb(void *arg)
{
	((struct node *)arg)->closed = 1;
}

static void
node_stop(struct node *n)
{
	consensus_close(n->cons, closed_cb, n);
	run_until(n, is_closed, 5000);
	assert_true(n->closed);
	uv_run(&n->loop, UV_RUN_DEFAULT);
	consensus_free(n->cons);
	assert_int_equal(uv_loop_close(&n->loop), 0);
	fsm_fini(&n->fsm);
	store_close(&n->store);
}

struct pending {
	struct node *n;
	int          i;
};

static void
acked(void *arg, int status, const struct fsm_result *res)
{
	struct pending *p = arg;
	if (status != 0 || res == NULL || !res->ok) {
		p->n->failed++;
	} else {
		p->n->acked++;
		/* The result handed back belongs to this very entry. */
		assert_true(res->index > p->n->last_index);
		p->n->last_index = res->index;
	}
	free(p);
}

static int total;
static int
all_acked(struct node *n)
{
	return n->acked + n->failed >= total;
}

static int
count_cb(void *arg, const struct store_kv *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

static int
count_keys(struct store *s)
{
	struct store_txn t;
	int n = 0;
	assert_int_equal(store_begin(s, &t, false, 0), 0);
	assert_int_equal(kvs_scan(&t, "key/", 4, count_cb, &n), 0);
	store_txn_free(&t);
	return n;
}

static void
propose_many(struct node *n, int from, int count)
{
	total = count;
	n->acked = n->failed = 0;
	for (int i = from; i < from + count; i++) {
		char key[32], val[40];
		size_t len;
		struct pending *p = calloc(1, sizeof(*p));
		snprintf(key, sizeof(key), "key/%06d", i);
		/* Odd lengths on purpose: the frame must pad them. */
		snprintf(val, sizeof(val), "value-%d%.*s", i, i % 7, "xxxxxxx");
		uint8_t *buf = put_cmd(key, val, &len);
		p->n = n;
		p->i = i;
		assert_int_equal(consensus_propose(n->cons, buf, len, acked, p), 0);
		free(buf);
	}
	run_until(n, all_acked, 20000);
	assert_int_equal(n->failed, 0);
	assert_int_equal(n->acked, count);
}

static void
test_consensus_durable_restart(void **state)
{
	struct node n;
	char cmd[160];
	(void)state;

	signal(SIGPIPE, SIG_IGN);
	port = 20000 + (int)(getpid() % 20000);

	node_start(&n, 64);
	run_until(&n, is_leader, 5000);
	assert_true(is_leader(&n));
	propose_many(&n, 0, 1000);
	assert_int_equal(count_keys(&n.store), 1000);
	uint64_t applied = n.store.applied;
	run_until(&n, has_snapshot, 3000); /* snapshots are written async */
	assert_true(consensus_snapshot_index(n.cons) > 0);
	node_stop(&n);

	/* Restart with the store kept: libraft restores its snapshot and
	 * replays the log, and the FSM skips all of it. */
	node_start(&n, 64);
	run_until(&n, is_leader, 5000);
	assert_true(is_leader(&n));
	assert_int_equal(count_keys(&n.store), 1000);
	assert_int_equal(n.fsm.applied, 0);
	assert_true(n.fsm.restores_skipped + n.fsm.skipped > 0);
	assert_true(n.store.applied >= applied);
	propose_many(&n, 1000, 500);
	assert_int_equal(count_keys(&n.store), 1500);
	node_stop(&n);

	/* Lose the store entirely: snapshot + log rebuild it. */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/state", dir);
	assert_int_equal(system(cmd), 0);
	node_start(&n, 64);
	run_until(&n, is_leader, 5000);
	assert_true(is_leader(&n));
	assert_int_equal(count_keys(&n.store), 1500);
	assert_true(n.fsm.restores == 1);
	{
		struct store_txn t;
		struct store_kv row;
		assert_int_equal(store_begin(&n.store, &t, false, 0), 0);
		assert_int_equal(kvs_get(&t, "key/001234", 10, &row), 0);
		assert_int_equal(row.value_len, strlen("value-1234") + 1234 % 7);
		store_txn_free(&t);
	}
	node_stop(&n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_roundtrip),
		cmocka_unit_test_setup_teardown(test_apply_skip_and_txn, mkdir_tmp, rm_tmp),
		cmocka_unit_test_setup_teardown(test_apply_batch, mkdir_tmp, rm_tmp),
		cmocka_unit_test_setup_teardown(test_request_ids, mkdir_tmp, rm_tmp),
		cmocka_unit_test(test_session_request),
		cmocka_unit_test_setup_teardown(test_consensus_durable_restart, mkdir_tmp, rm_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
