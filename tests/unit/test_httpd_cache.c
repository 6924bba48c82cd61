/*
 * The answer cache's store: hits only while the entry's tables stand
 * still (and only those tables count), a stale entry is dropped, a slower
 * fill does not replace a newer answer, the bounds (entries, bytes, one
 * answer's size) with the least recently used out first.
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

#define NSC (CACHE_DEP(CACHE_T_NODES) | CACHE_DEP(CACHE_T_SERVICES) | \
             CACHE_DEP(CACHE_T_CHECKS))

static void
put(struct httpd_cache *c, const char *key, unsigned deps,
    uint64_t n, uint64_t s, uint64_t k, uint64_t index, const char *body)
{
	uint64_t tag[CACHE_NTABLES] = { n, s, k };

	cache_put(c, key, strlen(key), deps, tag, index, body, strlen(body));
}

/* The body for key at the tables' indexes (n, s, k), or NULL on a miss. */
static char *
get(struct httpd_cache *c, const char *key, uint64_t n, uint64_t s,
    uint64_t k, uint64_t *index)
{
	uint64_t    now[CACHE_NTABLES] = { n, s, k }, ix;
	const char *body;
	size_t      len;
	char       *out;

	if (cache_get(c, key, strlen(key), now, &body, &len, &ix) != 0)
		return NULL;
	assert_int_equal(strlen(body), len);
	out = strdup(body);
	cache_unlock(c);
	if (index != NULL)
		*index = ix;
	return out;
}

static void
expect(struct httpd_cache *c, const char *key, uint64_t n, uint64_t s,
    uint64_t k, const char *want)
{
	char *got = get(c, key, n, s, k, NULL);

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_deps(void **state)
{
	(void)state;
	assert_int_equal(cache_deps("nodes"), CACHE_DEP(CACHE_T_NODES));
	assert_int_equal(cache_deps("health_service"), NSC);
	/* A check's ServiceName is the service row's; node-meta reads nodes. */
	assert_int_equal(cache_deps("health_state"), NSC);
	assert_int_equal(cache_deps("service"),
	    CACHE_DEP(CACHE_T_NODES) | CACHE_DEP(CACHE_T_SERVICES));
	assert_int_equal(cache_deps("dump"), 0);
	assert_int_equal(cache_deps(""), 0);
}

static void
test_valid_while_its_tables_stand_still(void **state)
{
	struct httpd_cache c;
	uint64_t           index = 0;
	char              *b;

	(void)state;
	cache_init(&c, 16, 1 << 20);
	put(&c, "nodes", CACHE_DEP(CACHE_T_NODES), 5, 7, 9, 5, "[1]");
	expect(&c, "node", 5, 7, 9, NULL);
	expect(&c, "nodesx", 5, 7, 9, NULL);
	b = get(&c, "nodes", 5, 7, 9, &index);
	assert_string_equal(b, "[1]");
	assert_int_equal(index, 5);
	free(b);
	/* Tables it does not read may move. */
	expect(&c, "nodes", 5, 8, 10, "[1]");
	assert_int_equal(c.hits, 2);
	/* Its own moves: stale, and dropped at once. */
	expect(&c, "nodes", 6, 8, 10, NULL);
	assert_int_equal(c.stale, 1);
	assert_int_equal(c.n, 0);
	expect(&c, "nodes", 5, 7, 9, NULL);
	assert_int_equal(c.misses, 3);
	cache_fini(&c);
}

static void
test_slower_fill_keeps_newer(void **state)
{
	struct httpd_cache c;

	(void)state;
	cache_init(&c, 16, 1 << 20);
	put(&c, "k", NSC, 1, 2, 9, 9, "new");
	put(&c, "k", NSC, 1, 2, 3, 3, "old");   /* read before the write */
	expect(&c, "k", 1, 2, 9, "new");
	put(&c, "k", NSC, 1, 2, 10, 10, "newer");
	expect(&c, "k", 1, 2, 10, "newer");
	assert_int_equal(c.n, 1);
	cache_fini(&c);
}

static void
test_bounds(void **state)
{
	struct httpd_cache c;
	char               key[16], big[300];

	(void)state;
	cache_init(&c, 3, 1 << 20);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(&c, key, NSC, 1, 1, 1, 1, key);
	}
	expect(&c, "k0", 1, 1, 1, "k0");        /* k1 is now the oldest */
	put(&c, "k3", NSC, 1, 1, 1, 1, "k3");
	assert_int_equal(c.n, 3);
	assert_int_equal(c.evictions, 1);
	expect(&c, "k1", 1, 1, 1, NULL);
	expect(&c, "k0", 1, 1, 1, "k0");
	expect(&c, "k2", 1, 1, 1, "k2");
	expect(&c, "k3", 1, 1, 1, "k3");
	cache_fini(&c);

	/* Bytes: entries of ~420 bytes (with their bookkeeping) in 1,200. */
	cache_init(&c, 100, 1200);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(&c, "a", NSC, 1, 1, 1, 1, big);
	put(&c, "b", NSC, 1, 1, 1, 1, big);
	put(&c, "c", NSC, 1, 1, 1, 1, big);
	assert_true(c.bytes <= 1200);
	assert_int_equal(c.n, 2);
	expect(&c, "c", 1, 1, 1, big);
	expect(&c, "b", 1, 1, 1, big);
	expect(&c, "a", 1, 1, 1, NULL);
	cache_fini(&c);

	/* One answer bigger than a quarter of the bytes is not kept. */
	cache_init(&c, 100, 1000);
	put(&c, "a", NSC, 1, 1, 1, 1, big);
	assert_int_equal(c.n, 0);
	cache_fini(&c);
}

static void
test_many_keys(void **state)
{
	struct httpd_cache c;
	char               key[32];

	(void)state;
	cache_init(&c, 10000, 64 << 20);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "health_service/web%d", i);
		put(&c, key, NSC, 1, 2, (uint64_t)i, (uint64_t)i, key);
	}
	assert_int_equal(c.n, 5000);
	for (int i = 0; i < 5000; i += 7) {
		snprintf(key, sizeof(key), "health_service/web%d", i);
		expect(&c, key, 1, 2, (uint64_t)i, key);
	}
	cache_fini(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deps),
		cmocka_unit_test(test_valid_while_its_tables_stand_still),
		cmocka_unit_test(test_slower_fill_keeps_newer),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
