/*
 * proto/kvstore.c: the KV row codec raftd writes and httpd reads, the JSON
 * of a row, Consul's KV GET over a store built here, and opening a store
 * read-only from "another process" (a second env on the same directory).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "kvstore.h"

static const char *S1 = "11111111-1111-4111-8111-111111111111";

static void
test_u64(void **state)
{
	uint8_t b[8];

	(void)state;
	kvstore_put64(b, 0x0102030405060708ULL);
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(kvstore_get64(b) == 0x0102030405060708ULL);
	kvstore_put64(b, UINT64_MAX);
	assert_true(kvstore_get64(b) == UINT64_MAX);
}

/* The on-disk layout is a contract between two processes: pin it. */
static void
test_row_layout(void **state)
{
	struct store_kv row = {
		.create_index = 1, .modify_index = 2, .lock_index = 3,
		.flags = 0x1122, .session = S1,
		.value = (const uint8_t *)"val", .value_len = 3,
	};
	uint8_t  buf[128], want[128];
	size_t   n = kvstore_row_size(S1, 3);

	(void)state;
	assert_int_equal(n, 33 + 36 + 3);
	memset(want, 0, sizeof(want));
	want[0] = 1;
	want[8] = 2;
	want[16] = 3;
	want[24] = 0x22;
	want[25] = 0x11;
	want[32] = 36;
	memcpy(want + 33, S1, 36);
	memcpy(want + 69, "val", 3);
	memset(buf, 0xee, sizeof(buf));
	kvstore_encode(buf, &row);
	assert_memory_equal(buf, want, n);
	assert_int_equal(buf[n], 0xee);     /* nothing past the row */

	assert_int_equal(kvstore_row_size(NULL, 0), 33);
}

static void
test_row_roundtrip(void **state)
{
	const char *sessions[] = { NULL, S1 };

	(void)state;
	for (int s = 0; s < 2; s++) {
		for (size_t vl = 0; vl < 5; vl++) {
			struct store_kv in = {
				.create_index = 7 + vl, .modify_index = 1ULL << 40,
				.lock_index = vl, .flags = UINT64_MAX - vl,
				.session = sessions[s],
				.value = (const uint8_t *)"abcd", .value_len = vl,
			}, out;
			uint8_t buf[128];
			MDB_val k = { 3, (void *)(uintptr_t)"a/b" };
			MDB_val v = { kvstore_row_size(in.session, vl), buf };

			kvstore_encode(buf, &in);
			assert_int_equal(kvstore_decode(&k, &v, &out), 0);
			assert_int_equal(out.key_len, 3);
			assert_memory_equal(out.key, "a/b", 3);
			assert_true(out.create_index == in.create_index);
			assert_true(out.modify_index == in.modify_index);
			assert_true(out.lock_index == in.lock_index);
			assert_true(out.flags == in.flags);
			if (in.session == NULL)
				assert_null(out.session);
			else
				assert_memory_equal(out.session, S1, 36);
			assert_int_equal(out.value_len, vl);
			assert_memory_equal(out.value, "abcd", vl);
		}
	}
}

static void
test_row_corrupt(void **state)
{
	uint8_t         buf[128];
	struct store_kv row;
	MDB_val         k = { 1, (void *)(uintptr_t)"k" }, v = { 0, buf };

	(void)state;
	memset(buf, 0, sizeof(buf));
	for (size_t n = 0; n < 33; n++) {
		v.mv_size = n;
		assert_int_equal(kvstore_decode(&k, &v, &row), MDB_CORRUPTED);
	}
	v.mv_size = 33;
	assert_int_equal(kvstore_decode(&k, &v, &row), 0);
	buf[32] = 5;                     /* a session length other than 36 */
	v.mv_size = 64;
	assert_int_equal(kvstore_decode(&k, &v, &row), MDB_CORRUPTED);
	buf[32] = 36;                    /* 36 promised, fewer there */
	v.mv_size = 33 + 35;
	assert_int_equal(kvstore_decode(&k, &v, &row), MDB_CORRUPTED);
	v.mv_size = 33 + 36;
	assert_int_equal(kvstore_decode(&k, &v, &row), 0);
	assert_int_equal(row.value_len, 0);
}

static void
test_json_row(void **state)
{
	struct store_kv row = {
		.key = "a\"<&>\n", .key_len = 6, .create_index = 4,
		.modify_index = 5, .lock_index = 1, .flags = 42,
		.session = S1, .value = (const uint8_t *)"\x00\xff\x10x",
		.value_len = 4,
	};
	struct jbuf b = { 0 };
	char       *s;

	(void)state;
	kvstore_json_row(&b, &row, true);
	s = jb_take(&b);
	assert_string_equal(s, "{\"LockIndex\":1,\"Key\":\"a\\\"\\u003c\\u0026"
	    "\\u003e\\n\",\"Flags\":42,\"Value\":\"AP8QeA==\",\"Session\":\""
	    "11111111-1111-4111-8111-111111111111\",\"CreateIndex\":4,"
	    "\"ModifyIndex\":5}");
	free(s);
	row.session = NULL;
	kvstore_json_row(&b, &row, false);
	s = jb_take(&b);
	assert_string_equal(s, "{\"LockIndex\":1,\"Key\":\"a\\\"\\u003c\\u0026"
	    "\\u003e\\n\",\"Flags\":42,\"Value\":null,\"CreateIndex\":4,"
	    "\"ModifyIndex\":5}");
	free(s);
	row.value_len = 0;               /* an empty value is null too */
	kvstore_json_row(&b, &row, true);
	s = jb_take(&b);
	assert_non_null(strstr(s, "\"Value\":null"));
	free(s);
}

/* --- a store, written the way raftd writes it ------------------------------ */

struct fixture {
	char               dir[64];
	MDB_env           *env;
	struct kvstore_dbs db;
};

static void
put_row(MDB_txn *txn, MDB_dbi kv, const char *key, uint64_t idx,
    const char *val)
{
	struct store_kv row = {
		.create_index = idx, .modify_index = idx,
		.value = (const uint8_t *)val, .value_len = strlen(val),
	};
	MDB_val k = { strlen(key), (void *)(uintptr_t)key };
	MDB_val v = { kvstore_row_size(NULL, row.value_len), NULL };

	assert_int_equal(mdb_put(txn, kv, &k, &v, MDB_RESERVE), 0);
	kvstore_encode(v.mv_data, &row);
}

static void
put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t n)
{
	uint8_t b[8];
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v = { 8, b };

	kvstore_put64(b, n);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	MDB_txn        *txn;

	strcpy(f->dir, "/tmp/kvstore-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(mdb_env_create(&f->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(f->env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(f->env, 16 << 20), 0);
	assert_int_equal(mdb_env_open(f->env, f->dir, MDB_NOSYNC | MDB_NOTLS,
	    0600), 0);
	assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, KVSTORE_T_KV, MDB_CREATE,
	    &f->db.kv), 0);
	assert_int_equal(mdb_dbi_open(txn, KVSTORE_T_TOMBSTONES, MDB_CREATE,
	    &f->db.tombstones), 0);
	assert_int_equal(mdb_dbi_open(txn, KVSTORE_T_META, MDB_CREATE,
	    &f->db.meta), 0);
	put_row(txn, f->db.kv, "a/b", 5, "x");
	put_row(txn, f->db.kv, "a/c/d", 6, "");
	put_row(txn, f->db.kv, "a/c/e", 7, "y");
	put_row(txn, f->db.kv, "b", 3, "z");
	put_u64(txn, f->db.tombstones, "a/gone", 9);
	put_u64(txn, f->db.tombstones, "q/gone", 11);
	put_u64(txn, f->db.meta, "index.kv", 11);
	put_u64(txn, f->db.meta, KVSTORE_META_APPLIED, 12);
	assert_int_equal(mdb_txn_commit(txn), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char            cmd[128];

	mdb_env_close(f->env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	free(f);
	return system(cmd);
}

/* Runs a GET against f's store (read txn) and checks status/index/body. */
static void
get(struct fixture *f, const char *key, bool recurse, bool keys,
    const char *sep, bool raw, uint64_t min_index, unsigned status,
    uint64_t index, bool unchanged, const char *body)
{
	struct kvstore_get    q = { .key = key, .klen = strlen(key),
		.recurse = recurse, .keys = keys, .separator = sep, .raw = raw,
		.min_index = min_index };
	struct kvstore_result res;
	MDB_txn              *txn;

	assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
	kvstore_read(txn, &f->db, &q, &res);
	assert_int_equal(res.status, status);
	assert_true(res.index == index);
	assert_int_equal(res.unchanged, unchanged);
	if (raw && body != NULL) {
		assert_null(res.json);
		assert_int_equal(res.value_len, strlen(body));
		assert_memory_equal(res.value, body, res.value_len);
	} else if (body != NULL) {
		assert_non_null(res.json);
		assert_string_equal(res.json, body);
	} else {
		assert_null(res.json);
	}
	free(res.json);
	mdb_txn_abort(txn);
}

static void
test_read(void **state)
{
	struct fixture *f = *state;

	/* Single keys, raw, misses (the kv table's index). */
	get(f, "a/b", false, false, NULL, false, 0, 200, 5, false,
	    "[{\"LockIndex\":0,\"Key\":\"a/b\",\"Flags\":0,\"Value\":\"eA==\","
	    "\"CreateIndex\":5,\"ModifyIndex\":5}]");
	get(f, "a/b", false, false, NULL, true, 0, 200, 5, false, "x");
	get(f, "a/c/d", false, false, NULL, true, 0, 200, 6, false, "");
	get(f, "a/x", false, false, NULL, false, 0, 404, 11, false, NULL);
	get(f, "a/x", false, false, NULL, true, 0, 404, 11, false, NULL);
	get(f, "", false, false, NULL, false, 0, 404, 11, false, NULL);
	/* Blocking: unchanged up to the row's index, then the row. */
	get(f, "a/b", false, false, NULL, true, 5, 200, 5, true, NULL);
	get(f, "a/b", false, false, NULL, true, 4, 200, 5, false, "x");
	get(f, "a/x", false, false, NULL, false, 11, 404, 11, true, NULL);

	/* Listings: max of rows and tombstones under the prefix. */
	get(f, "a/c", true, false, NULL, false, 0, 200, 7, false,
	    "[{\"LockIndex\":0,\"Key\":\"a/c/d\",\"Flags\":0,\"Value\":null,"
	    "\"CreateIndex\":6,\"ModifyIndex\":6},{\"LockIndex\":0,\"Key\":"
	    "\"a/c/e\",\"Flags\":0,\"Value\":\"eQ==\",\"CreateIndex\":7,"
	    "\"ModifyIndex\":7}]");
	get(f, "a/", false, true, NULL, false, 0, 200, 9, false,
	    "[\"a/b\",\"a/c/d\",\"a/c/e\"]");
	get(f, "a/", false, true, "/", false, 0, 200, 9, false,
	    "[\"a/b\",\"a/c/\"]");
	get(f, "", false, true, "/", false, 0, 200, 11, false,
	    "[\"a/\",\"b\"]");
	get(f, "", false, true, "c", false, 0, 200, 11, false,
	    "[\"a/b\",\"a/c\",\"b\"]");
	/* keys wins over recurse, as Consul's handler does. */
	get(f, "b", true, true, NULL, false, 0, 200, 3, false, "[\"b\"]");
	/* Empty listings: 404, a tombstone's index, else the table's. */
	get(f, "q/", true, false, NULL, false, 0, 404, 11, false, NULL);
	get(f, "a/gone", true, false, NULL, false, 0, 404, 9, false, NULL);
	get(f, "zz", false, true, NULL, false, 0, 404, 11, false, NULL);
	get(f, "a/", true, false, NULL, false, 9, 200, 9, true, NULL);
}

static void
test_indexes(void **state)
{
	struct fixture *f = *state;
	MDB_txn        *txn;
	uint64_t        v = 0;

	assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(kvstore_meta_u64(txn, f->db.meta, "applied", &v), 0);
	assert_true(v == 12);
	assert_int_equal(kvstore_meta_u64(txn, f->db.meta, "nope", &v),
	    MDB_NOTFOUND);
	assert_true(kvstore_table_index(txn, f->db.meta, "kv") == 11);
	assert_true(kvstore_table_index(txn, f->db.meta, "sessions") == 0);
	assert_true(kvstore_list_index(txn, &f->db, "a/", 2, 7) == 9);
	assert_true(kvstore_list_index(txn, &f->db, "a/", 2, 10) == 10);
	assert_true(kvstore_list_index(txn, &f->db, "", 0, 7) == 11);
	assert_true(kvstore_list_index(txn, &f->db, "x", 1, 0) == 11);
	mdb_txn_abort(txn);
}

/*
 * httpd's side, in another process as httpd is (LMDB wants one env per file
 * per process): a read-only env on the same directory sees the writer's
 * commits once they are made, through one read txn reset and renewed.
 */
static int
reader_child(const char *dir, int in, int out)
{
	struct kvstore_dbs db;
	struct store_kv    row;
	MDB_env           *env;
	MDB_txn           *txn;
	char               c;

	if (kvstore_open_reader("/nonexistent/kvstore", &env, &db) != ENOENT ||
	    env != NULL)
		return 1;
	if (kvstore_open_reader(dir, &env, &db) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return 2;
	if (kvstore_lookup(txn, db.kv, "a/b", 3, &row) != 0 ||
	    kvstore_lookup(txn, db.kv, "new", 3, &row) != MDB_NOTFOUND)
		return 3;
	mdb_txn_reset(txn);
	if (write(out, "r", 1) != 1 || read(in, &c, 1) != 1)
		return 4;
	if (mdb_txn_renew(txn) != 0 ||
	    kvstore_lookup(txn, db.kv, "new", 3, &row) != 0 ||
	    row.modify_index != 13 || row.value_len != 5 ||
	    memcmp(row.value, "fresh", 5) != 0)
		return 5;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return 0;
}

static void
test_reader(void **state)
{
	struct fixture *f = *state;
	MDB_txn        *wtxn;
	int             down[2], up[2], st;
	pid_t           pid;
	char            c;

	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(reader_child(f->dir, down[0], up[1]));
	assert_int_equal(read(up[0], &c, 1), 1);
	assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &wtxn), 0);
	put_row(wtxn, f->db.kv, "new", 13, "fresh");
	assert_int_equal(mdb_txn_commit(wtxn), 0);
	assert_int_equal(write(down[1], "w", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(down[0]);
	close(down[1]);
	close(up[0]);
	close(up[1]);
}

static int
count_line(const char *msg, void *ctx)
{
	/* mdb_reader_list: a header line, then one line per reader, or a
	 * line that says there is none. */
	if (strstr(msg, "pid") == NULL && strstr(msg, "no active") == NULL)
		(*(int *)ctx)++;
	return 0;
}

static int
readers(MDB_env *env)
{
	int n = 0;

	mdb_reader_list(env, count_line, &n);
	return n;
}

/* A reader that died holding a snapshot pins pages raftd could reuse: the
 * next reader to open (httpd restarted) frees its slot. */
static void
test_reader_dead_slot(void **state)
{
	struct fixture    *f = *state;
	struct kvstore_dbs db;
	MDB_env           *env;
	MDB_txn           *txn;
	pid_t              pid;
	int                st;

	assert_int_equal(readers(f->env), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(kvstore_open_reader(f->dir, &env, &db) != 0 ||
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(readers(f->env), 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(kvstore_open_reader(f->dir, &env, &db) != 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(readers(f->env), 0);
}

/* An environment without raftd's tables (raftd has not created them yet). */
static void
test_reader_no_tables(void **state)
{
	char               dir[64];
	char               cmd[128];
	MDB_env           *w, *env;
	struct kvstore_dbs db;

	(void)state;
	strcpy(dir, "/tmp/kvstore-empty-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(kvstore_open_reader(dir, &env, &db), ENOENT);
	assert_int_equal(mdb_env_create(&w), 0);
	assert_int_equal(mdb_env_open(w, dir, 0, 0600), 0);
	mdb_env_close(w);
	assert_int_equal(kvstore_open_reader(dir, &env, &db), MDB_NOTFOUND);
	assert_null(env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_row_layout),
		cmocka_unit_test(test_row_roundtrip),
		cmocka_unit_test(test_row_corrupt),
		cmocka_unit_test(test_json_row),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indexes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_dead_slot, setup,
		    teardown),
		cmocka_unit_test(test_reader_no_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
