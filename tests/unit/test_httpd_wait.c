/*
 * The waiter registry, with a fake re-issue: which events wake whom, the
 * park-after-event race, lost events (tick beyond, id gap), deadlines, and
 * 1,000 parked queries released by one change.
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

static int reissued;

static void
fake_reissue(struct httpd_req *r, void *arg)
{
	(void)arg;
	r->state = REQ_DONE;
	reissued++;
}

static struct httpd_req *
mk(const char *table, const char *key, bool prefix)
{
	struct httpd_req *r = calloc(1, sizeof(*r));

	snprintf(r->table, sizeof(r->table), "%s", table);
	r->wkey = strdup(key);
	r->wprefix = prefix;
	r->blocking = true;
	r->deadline_ms = UINT64_MAX;
	return r;
}

static void
rm(struct httpd_req *r)
{
	free(r->wkey);
	free(r);
}

static void
test_match(void **state)
{
	struct httpd_req *k = mk("kv", "a/b", false), *p = mk("kv", "a/", true);
	struct httpd_req *s = mk("sessions", "", false);

	(void)state;
	assert_true(wait_match(k, "kv", "a/b", false));
	assert_false(wait_match(k, "kv", "a/bc", false));
	assert_false(wait_match(k, "sessions", "a/b", false));
	assert_true(wait_match(k, "kv", "a/", true));     /* delete-tree a/ */
	assert_true(wait_match(k, "kv", "", true));       /* restore */
	assert_false(wait_match(k, "kv", "a/c", true));
	assert_true(wait_match(p, "kv", "a/x/y", false));
	assert_false(wait_match(p, "kv", "b", false));
	assert_true(wait_match(p, "kv", "a", true));
	assert_true(wait_match(p, "kv", "a/x/", true));
	assert_true(wait_match(s, "sessions", "whatever", false));
	assert_false(wait_match(s, "", "", false));
	rm(k);
	rm(p);
	rm(s);
}

static void
test_thousand(void **state)
{
	struct wait_registry w;
	struct httpd_req    *r[1000], *other = mk("kv", "other", false);

	(void)state;
	wait_init(&w, fake_reissue, NULL);
	reissued = 0;
	for (int i = 0; i < 1000; i++) {
		r[i] = mk("kv", "hot", false);
		r[i]->seen_seq = wait_seq(&w);
		assert_int_equal(wait_park(&w, r[i]), 0);
	}
	other->seen_seq = wait_seq(&w);
	assert_int_equal(wait_park(&w, other), 0);
	assert_int_equal(wait_count(&w), 1001);
	wait_event(&w, 1, 10, "kv", "cold", false, false);
	assert_int_equal(reissued, 0);
	wait_event(&w, 2, 11, "kv", "hot", false, false);
	assert_int_equal(reissued, 1000);
	assert_int_equal(wait_count(&w), 1);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(r[i]->state, REQ_DONE);
		rm(r[i]);
	}
	/* A tick at the index we already saw loses nothing. */
	wait_event(&w, 3, 11, "", "", false, true);
	assert_int_equal(reissued, 1000);
	wait_take_all(&w);
	rm(other);
	wait_destroy(&w);
}

static void
test_race(void **state)
{
	struct wait_registry w;
	struct httpd_req    *r = mk("kv", "k", false);

	(void)state;
	wait_init(&w, fake_reissue, NULL);
	r->seen_seq = wait_seq(&w);
	/* The change lands after raftd answered "unchanged", before park. */
	wait_event(&w, 1, 5, "kv", "k", false, false);
	assert_int_equal(wait_park(&w, r), 1);
	assert_int_equal(wait_count(&w), 0);
	/* An unrelated event in between does not matter. */
	r->seen_seq = wait_seq(&w);
	wait_event(&w, 2, 6, "kv", "j", false, false);
	assert_int_equal(wait_park(&w, r), 0);
	wait_take_all(&w);
	rm(r);
	wait_destroy(&w);
}

static void
test_lost(void **state)
{
	struct wait_registry w;
	struct httpd_req    *a = mk("kv", "a", false), *b = mk("sessions", "", 0);

	(void)state;
	wait_init(&w, fake_reissue, NULL);
	reissued = 0;
	wait_event(&w, 1, 5, "kv", "x", false, false);
	a->seen_seq = b->seen_seq = wait_seq(&w);
	assert_int_equal(wait_park(&w, a), 0);
	assert_int_equal(wait_park(&w, b), 0);
	/* The tick says index 7: the event(s) for 6..7 were lost. */
	wait_event(&w, 2, 7, "", "", false, true);
	assert_int_equal(reissued, 2);
	assert_int_equal(w.rechecks, 1);

	/* A gap in raftd's event ids is a loss too. */
	a->seen_seq = b->seen_seq = wait_seq(&w);
	assert_int_equal(wait_park(&w, a), 0);
	assert_int_equal(wait_park(&w, b), 0);
	wait_event(&w, 5, 8, "kv", "zzz", false, false);
	assert_int_equal(reissued, 4);
	rm(a);
	rm(b);
	wait_destroy(&w);
}

static void
test_expire(void **state)
{
	struct wait_registry w;
	struct httpd_req    *a = mk("kv", "a", false), *b = mk("kv", "b", false);
	struct httpd_query   q = { 0 };

	(void)state;
	wait_init(&w, fake_reissue, NULL);
	reissued = 0;
	a->deadline_ms = 100;
	a->min_index = 9;
	b->deadline_ms = 200;
	assert_int_equal(wait_park(&w, a), 0);
	assert_int_equal(wait_park(&w, b), 0);
	wait_expire(&w, 150);
	assert_int_equal(reissued, 1);
	assert_int_equal(a->min_index, 0);   /* the final read */
	assert_int_equal(wait_count(&w), 1);
	wait_expire(&w, 250);
	assert_int_equal(reissued, 2);
	rm(a);
	rm(b);
	wait_destroy(&w);

	for (int i = 0; i < 200; i++) {
		uint64_t d;

		q.has_wait = true;
		q.wait_ms = 1600;
		d = wait_duration_ms(&q);
		assert_true(d >= 1600 && d < 1700);
		q.wait_ms = 3600 * 1000;
		d = wait_duration_ms(&q);
		assert_true(d >= 600000 && d < 600000 + 37500);
		q.has_wait = false;
		d = wait_duration_ms(&q);
		assert_true(d >= 300000 && d < 300000 + 18750);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_thousand),
		cmocka_unit_test(test_race),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_expire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
