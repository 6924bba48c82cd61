/* Unit tests for raftd's store: KV semantics, sessions, snapshots, reopen. */
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
	strcpy(tmpl, "/tmp/raftd-store-XXXXXX");
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

/* Runs f inside a write txn at index idx and commits. */
#define AT(s, idx, body)                                                    \
	do {                                                                \
		struct store_txn t_;                                        \
		assert_int_equal(store_begin((s), &t_, true, (idx)), 0);    \
		struct store_txn *t = &t_;                                  \
		body;                                                       \
		assert_int_equal(store_commit(t), 0);                       \
		store_txn_free(t);                                          \
	} while (0)

static const char *S1 = "11111111-1111-4111-8111-111111111111";
static const char *S2 = "22222222-2222-4222-8222-222222222222";

static void
mksession(struct store *s, uint64_t idx, const char *id, int behavior, uint64_t delay_ns)
{
	struct store_session ss;
	memset(&ss, 0, sizeof(ss));
	strcpy(ss.id, id);
	ss.create_index = ss.modify_index = idx;
	ss.behavior = behavior;
	ss.lock_delay_ns = delay_ns;
	ss.name = "n";
	ss.node = "node1";
	ss.ttl = "";
	AT(s, idx, assert_int_equal(session_put(t, &ss), 0));
}

static void
test_set_get_cas(void **state)
{
	struct store *s = *state;
	struct store_txn rt;
	struct store_kv row;

	AT(s, 5, assert_int_equal(kvs_set(t, "a/b", 3, (const uint8_t *)"v1", 2, 7, NULL, true), 0));
	AT(s, 6, assert_int_equal(kvs_set(t, "a/b", 3, (const uint8_t *)"v22", 3, 8, NULL, true), 0));
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "a/b", 3, &row), 0);
	assert_int_equal(row.create_index, 5);
	assert_int_equal(row.modify_index, 6);
	assert_int_equal(row.flags, 8);
	assert_int_equal(row.value_len, 3);
	assert_memory_equal(row.value, "v22", 3);
	assert_null(row.session);
	assert_int_equal(store_table_index(&rt, STORE_T_KV), 6);
	store_txn_free(&rt);
	assert_int_equal(s->applied, 6);

	/* cas=0 is create-only; a stale index is refused. */
	AT(s, 7, assert_int_equal(kvs_set_cas(t, "a/b", 3, NULL, 0, 0, 0), 0));
	AT(s, 8, assert_int_equal(kvs_set_cas(t, "a/c", 3, NULL, 0, 0, 0), 1));
	AT(s, 9, assert_int_equal(kvs_set_cas(t, "a/b", 3, NULL, 0, 0, 5), 0));
	AT(s, 10, assert_int_equal(kvs_set_cas(t, "a/b", 3, NULL, 0, 0, 6), 1));
	AT(s, 11, assert_int_equal(kvs_delete_cas(t, "a/b", 3, 6), 0));
	AT(s, 12, assert_int_equal(kvs_delete_cas(t, "a/b", 3, 10), 1));
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "a/b", 3, &row), MDB_NOTFOUND);
	/* The tombstone keeps the prefix index moving past the delete. */
	assert_int_equal(kvs_list_index(&rt, "a/", 2, 8), 12);
	store_txn_free(&rt);
}

static int
count_cb(void *arg, const struct store_kv *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

static void
test_delete_tree_prefix(void **state)
{
	struct store *s = *state;
	struct store_txn rt;
	int n = 0;

	AT(s, 1, {
		kvs_set(t, "foo", 3, NULL, 0, 0, NULL, true);
		kvs_set(t, "food", 4, NULL, 0, 0, NULL, true);
		kvs_set(t, "foo/x", 5, NULL, 0, 0, NULL, true);
		kvs_set(t, "fop", 3, NULL, 0, 0, NULL, true);
	});
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_scan(&rt, "foo", 3, count_cb, &n), 0);
	store_txn_free(&rt);
	assert_int_equal(n, 3); /* plain string prefix: food too */
	AT(s, 2, assert_int_equal(kvs_delete_tree(t, "foo", 3), 1));
	n = 0;
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_scan(&rt, "", 0, count_cb, &n), 0);
	store_txn_free(&rt);
	assert_int_equal(n, 1);
}

static void
test_lock_release_delay(void **state)
{
	struct store *s = *state;
	struct store_txn rt;
	struct store_kv row;
	const char *why;

	mksession(s, 1, S1, STORE_BEHAVIOR_RELEASE, 15000000000ULL);
	mksession(s, 2, S2, STORE_BEHAVIOR_RELEASE, 0);
	AT(s, 3, assert_int_equal(kvs_lock(t, "l", 1, (const uint8_t *)"x", 1, 0, S1, 1000, &why), 1));
	AT(s, 4, assert_int_equal(kvs_lock(t, "l", 1, (const uint8_t *)"y", 1, 0, S1, 1000, &why), 1));
	AT(s, 5, assert_int_equal(kvs_lock(t, "l", 1, NULL, 0, 0, S2, 1000, &why), 0));
	/* A plain set keeps the lock. */
	AT(s, 6, assert_int_equal(kvs_set(t, "l", 1, (const uint8_t *)"z", 1, 0, NULL, true), 0));
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "l", 1, &row), 0);
	assert_int_equal(row.lock_index, 1);
	assert_non_null(row.session);
	assert_memory_equal(row.session, S1, 36);
	store_txn_free(&rt);
	/* Unknown session. */
	AT(s, 7, {
		assert_int_equal(kvs_lock(t, "m", 1, NULL, 0, 0, "33333333-3333-4333-8333-333333333333",
		    1000, &why), -EINVAL);
		assert_string_equal(why, "invalid session");
	});
	/* Release by a non-holder is refused; by the holder works. */
	AT(s, 8, assert_int_equal(kvs_unlock(t, "l", 1, NULL, 0, 0, S2, &why), 0));
	AT(s, 9, assert_int_equal(kvs_unlock(t, "l", 1, (const uint8_t *)"r", 1, 0, S1, &why), 1));
	AT(s, 10, assert_int_equal(kvs_lock(t, "l", 1, NULL, 0, 0, S2, 2000, &why), 1));
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "l", 1, &row), 0);
	assert_int_equal(row.lock_index, 2);
	store_txn_free(&rt);
	/* Destroying S2 releases l; S2 has no delay.  Take it with S1, destroy
	 * S1 (15 s delay): S2' cannot take it before the delay ends. */
	AT(s, 11, assert_int_equal(session_destroy(t, S2, 3000), 1));
	AT(s, 12, assert_int_equal(kvs_lock(t, "l", 1, NULL, 0, 0, S1, 3000, &why), 1));
	AT(s, 13, assert_int_equal(session_destroy(t, S1, 4000), 1));
	mksession(s, 14, S2, STORE_BEHAVIOR_RELEASE, 0);
	AT(s, 15, assert_int_equal(kvs_lock(t, "l", 1, NULL, 0, 0, S2, 4000 + 14999, &why), 0));
	AT(s, 16, assert_int_equal(kvs_lock(t, "l", 1, NULL, 0, 0, S2, 4000 + 15001, &why), 1));
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "l", 1, &row), 0);
	assert_int_equal(row.lock_index, 4);
	assert_int_equal(row.modify_index, 16);
	store_txn_free(&rt);
}

static void
test_behavior_delete(void **state)
{
	struct store *s = *state;
	struct store_txn rt;
	struct store_kv row;
	const char *why;

	mksession(s, 1, S1, STORE_BEHAVIOR_DELETE, 0);
	AT(s, 2, assert_int_equal(kvs_lock(t, "e1", 2, NULL, 0, 0, S1, 0, &why), 1));
	AT(s, 3, assert_int_equal(kvs_lock(t, "e2", 2, NULL, 0, 0, S1, 0, &why), 1));
	AT(s, 4, assert_int_equal(session_destroy(t, S1, 0), 1));
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "e1", 2, &row), MDB_NOTFOUND);
	assert_int_equal(kvs_get(&rt, "e2", 2, &row), MDB_NOTFOUND);
	store_txn_free(&rt);
}

static void
test_snapshot_restore(void **state)
{
	struct store *s = *state;
	struct store s2;
	struct store_txn rt;
	struct store_kv row;
	uint8_t *buf;
	size_t len;
	uint64_t applied;
	char dir2[64] = "/tmp/raftd-store2-XXXXXX", cmd[128];

	mksession(s, 1, S1, STORE_BEHAVIOR_RELEASE, 0);
	for (int i = 0; i < 100; i++) {
		char k[16];
		int n = snprintf(k, sizeof(k), "k%03d", i);
		AT(s, 2 + (uint64_t)i, kvs_set(t, k, (size_t)n, (const uint8_t *)k, (size_t)n, (uint64_t)i, NULL, true));
	}
	assert_int_equal(store_snapshot(s, &buf, &len), 0);
	assert_int_equal(store_snapshot_applied(buf, len, &applied), 0);
	assert_int_equal(applied, 101);

	assert_non_null(mkdtemp(dir2));
	assert_int_equal(store_open(&s2, dir2, 64 << 20), 0);
	AT(&s2, 1, kvs_set(t, "junk", 4, NULL, 0, 0, NULL, true));
	assert_int_equal(store_restore(&s2, buf, len), 0);
	assert_int_equal(s2.applied, 101);
	assert_int_equal(store_begin(&s2, &rt, false, 0), 0);
	assert_int_equal(kvs_get(&rt, "junk", 4, &row), MDB_NOTFOUND);
	assert_int_equal(kvs_get(&rt, "k042", 4, &row), 0);
	assert_int_equal(row.flags, 42);
	assert_int_equal(row.modify_index, 44);
	store_txn_free(&rt);
	/* Truncated or corrupt snapshots are refused and change nothing. */
	assert_int_not_equal(store_restore(&s2, buf, len - 1), 0);
	buf[0] ^= 1;
	assert_int_not_equal(store_restore(&s2, buf, len), 0);
	assert_int_equal(s2.applied, 101);
	free(buf);
	store_close(&s2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir2);
	assert_int_equal(system(cmd), 0);
}

static void
test_reopen_durable(void **state)
{
	struct store *s = *state;
	struct store_txn rt;
	int n = 0;

	for (uint64_t i = 1; i <= 1000; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "d/%04u", (unsigned)i);
		AT(s, i, kvs_set(t, k, (size_t)kl, NULL, 0, 0, NULL, true));
	}
	store_close(s);
	assert_int_equal(store_open(s, tmpl, 64 << 20), 0);
	assert_int_equal(s->applied, 1000);
	assert_int_equal(store_begin(s, &rt, false, 0), 0);
	assert_int_equal(kvs_scan(&rt, "d/", 2, count_cb, &n), 0);
	store_txn_free(&rt);
	assert_int_equal(n, 1000);
}

static void
test_session_codec(void **state)
{
	struct store_session ss, out;
	char *nc[] = { "serfHealth", "c2" }, *sc[] = { "svc1" };
	uint8_t *buf;
	size_t len;
	(void)state;

	memset(&ss, 0, sizeof(ss));
	ss.create_index = 3; ss.modify_index = 4; ss.lock_delay_ns = 99;
	ss.behavior = STORE_BEHAVIOR_DELETE; ss.name = "nm"; ss.node = "nd"; ss.ttl = "30s";
	ss.node_checks = nc; ss.n_node_checks = 2; ss.service_checks = sc; ss.n_service_checks = 1;
	assert_int_equal(session_encode(&ss, &buf, &len), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(session_decode(buf, len, &out), 0);
	assert_string_equal(out.ttl, "30s");
	assert_int_equal(out.n_node_checks, 2);
	assert_string_equal(out.node_checks[1], "c2");
	assert_string_equal(out.service_checks[0], "svc1");
	session_row_free(&out);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(session_decode(buf, cut, &out), 0);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_tree_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_release_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_behavior_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_durable, setup, teardown),
		cmocka_unit_test(test_session_codec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
