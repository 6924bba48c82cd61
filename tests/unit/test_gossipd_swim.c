/*
 * gossipd engine: several engines in one process over an in-memory
 * transport with a fake clock and optional packet loss.  Join, failure
 * detection time, no false positives under loss, refutation, graceful
 * leave, user event dedup, encryption.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gossipd/gossipd.h"

#define MAXN 8

struct pkt {
	struct gd_addr from, to;
	uint8_t       *p;
	size_t         n;
};

struct world;

struct node {
	struct world *w;
	int           idx;
	struct gd     g;
	bool          down;
	bool          udp_deaf; /* receives no datagrams; TCP still works */
	int           events;
	char          last_event[GD_NAME_MAX];
};

struct world {
	uint64_t    now;
	struct node n[MAXN];
	int         nn;
	struct pkt *q;
	size_t      nq, capq;
	uint32_t    loss_pct, rng;
};

static uint64_t
w_now(void *ctx)
{
	return ((struct node *)ctx)->w->now;
}

static struct node *
w_find(struct world *w, const struct gd_addr *a)
{
	for (int i = 0; i < w->nn; i++)
		if (w->n[i].g.cfg.advertise.port == a->port)
			return &w->n[i];
	return NULL;
}

static void
w_send(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n)
{
	struct node  *s = ctx;
	struct world *w = s->w;
	struct pkt   *k;

	if (s->down)
		return;
	w->rng = w->rng * 1103515245u + 12345u;
	if (w->loss_pct && (w->rng >> 8) % 100 < w->loss_pct)
		return;
	if (w->nq == w->capq) {
		w->capq = w->capq ? w->capq * 2 : 64;
		w->q = realloc(w->q, w->capq * sizeof(*w->q));
	}
	k = &w->q[w->nq++];
	k->from = s->g.cfg.advertise;
	k->to = *to;
	k->p = malloc(n);
	memcpy(k->p, p, n);
	k->n = n;
}

static int
w_stream(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n,
    uint8_t **reply, size_t *rl)
{
	struct node *s = ctx, *d = w_find(s->w, to);

	if (s->down || d == NULL || d->down)
		return -1;
	swim_recv_stream(&d->g, &s->g.cfg.advertise, p, n, reply, rl);
	return *reply ? 0 : -1;
}

/* the background form: answered at once, through the callback */
static int
w_stream_async(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n,
    void (*done)(void *arg, const uint8_t *reply, size_t len), void *arg)
{
	uint8_t *reply = NULL;
	size_t   rl = 0;

	if (w_stream(ctx, to, p, n, &reply, &rl) != 0)
		done(arg, NULL, 0);
	else
		done(arg, reply, rl);
	free(reply);
	return 0;
}

static void
w_member(void *ctx, const struct gd_member *m)
{
	(void)ctx;
	(void)m;
}

static void
w_event(void *ctx, const struct wire_event *e)
{
	struct node *s = ctx;
	s->events++;
	snprintf(s->last_event, sizeof(s->last_event), "%s", e->name);
}

static void
w_init(struct world *w, int nn, const char *key)
{
	memset(w, 0, sizeof(*w));
	w->now = 1000000;
	w->rng = 42;
	w->nn = nn;
	for (int i = 0; i < nn; i++) {
		struct node     *s = &w->n[i];
		struct gd_config c;
		struct gd_ops    o = { w_now, w_send, w_stream, w_member,
			   w_event, s, s, w_stream_async };
		memset(&c, 0, sizeof(c));
		gd_config_fast(&c);
		snprintf(c.name, sizeof(c.name), "node%d", i);
		c.advertise.len = 4;
		memcpy(c.advertise.ip, "\x7f\0\0\x01", 4);
		c.advertise.port = (uint16_t)(7000 + i);
		memcpy(c.meta, "\xff\x80", 2);
		c.meta_len = 2;
		c.delegate_cur = 4;
		c.seed = (uint32_t)(i + 1) * 7919u;
		if (key && i < nn)
			wire_keyring_add(&c.keyring, key);
		s->w = w;
		s->idx = i;
		assert_int_equal(swim_init(&s->g, &c, &o), 0);
	}
}

static void
w_free(struct world *w)
{
	for (int i = 0; i < w->nn; i++)
		swim_free(&w->n[i].g);
	for (size_t i = 0; i < w->nq; i++)
		free(w->q[i].p);
	free(w->q);
}

/* advance by ms in 5 ms steps, delivering all packets each step */
static void
w_run(struct world *w, uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 5) {
		w->now += 5;
		for (int i = 0; i < w->nn; i++)
			if (!w->n[i].down)
				swim_tick(&w->n[i].g);
		for (int round = 0; round < 8 && w->nq; round++) {
			struct pkt *q = w->q;
			size_t      nq = w->nq;
			w->q = NULL;
			w->nq = w->capq = 0;
			for (size_t i = 0; i < nq; i++) {
				struct node *d = w_find(w, &q[i].to);
				if (d && !d->down && !d->udp_deaf)
					swim_recv_udp(&d->g, &q[i].from, q[i].p,
					    q[i].n);
				free(q[i].p);
			}
			free(q);
		}
	}
}

static int
status_of(struct world *w, int viewer, int who)
{
	struct gd_member *m = swim_find(&w->n[viewer].g, w->n[who].g.cfg.name);
	return m ? m->status : GD_NONE;
}

static void
w_join_all(struct world *w)
{
	for (int i = 1; i < w->nn; i++)
		assert_int_equal(serf_join(&w->n[i].g, &w->n[0].g.cfg.advertise, 1), 1);
	w_run(w, 3000);
	for (int i = 0; i < w->nn; i++)
		for (int j = 0; j < w->nn; j++)
			assert_int_equal(status_of(w, i, j), GD_ALIVE);
}

static void
test_join(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 5, NULL);
	w_join_all(w);
	for (int i = 0; i < 5; i++)
		assert_int_equal(w->n[i].g.nm, 5);
	w_free(w);
	free(w);
}

static void
test_fail_detect(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	uint64_t      t0, detected = 0;

	(void)state;
	w_init(w, 5, NULL);
	w_join_all(w);
	w->n[2].down = true;
	t0 = w->now;
	while (w->now - t0 < 10000) {
		bool all = true;
		w_run(w, 50);
		for (int i = 0; i < 5; i++)
			if (i != 2 && status_of(w, i, 2) != GD_FAILED)
				all = false;
		if (all) {
			detected = w->now - t0;
			break;
		}
	}
	print_message("kill of 1 of 5 seen failed by all in %llu ms\n",
	    (unsigned long long)detected);
	assert_true(detected > 0 && detected <= 2000);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 5; j++)
			if (i != 2 && j != 2)
				assert_int_equal(status_of(w, i, j), GD_ALIVE);
	w_free(w);
	free(w);
}

static void
test_no_false_positive_loss(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 5, NULL);
	w_join_all(w);
	w->loss_pct = 5;
	for (int k = 0; k < 120; k++) {
		w_run(w, 500);
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 5; j++)
				assert_int_equal(status_of(w, i, j), GD_ALIVE);
	}
	print_message("60 s at 5%% loss: node0 probes=%llu failed=%llu suspects=%llu refutes=%llu\n",
	    (unsigned long long)w->n[0].g.st.probes,
	    (unsigned long long)w->n[0].g.st.probe_fail,
	    (unsigned long long)w->n[0].g.st.suspects_raised,
	    (unsigned long long)w->n[0].g.st.refutes);
	assert_true(w->n[0].g.st.probes > 200);
	w_free(w);
	free(w);
}

static void
test_refute(void **state)
{
	struct world       *w = calloc(1, sizeof(*w));
	struct wire_suspect s;
	struct gd_buf       b = { 0 };
	uint32_t            inc0;

	(void)state;
	w_init(w, 3, NULL);
	w_join_all(w);
	inc0 = w->n[1].g.m[0].inc;
	/* node0 hears that node1 is suspect; node1 must refute */
	memset(&s, 0, sizeof(s));
	s.inc = inc0;
	strcpy(s.node, "node1");
	strcpy(s.from, "node2");
	wire_enc_suspect(&b, WIRE_SUSPECT, &s);
	swim_recv_udp(&w->n[0].g, &w->n[2].g.cfg.advertise, b.p, b.len);
	assert_int_equal(swim_find(&w->n[0].g, "node1")->state, WS_SUSPECT);
	w_run(w, 1500);
	assert_true(w->n[1].g.m[0].inc > inc0);
	assert_int_equal(w->n[1].g.st.refutes, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(swim_find(&w->n[i].g, "node1")->state, WS_ALIVE);
		assert_int_equal(status_of(w, i, 1), GD_ALIVE);
	}
	/* a dead claim about oneself is refuted too */
	b.len = 0;
	s.inc = w->n[1].g.m[0].inc;
	wire_enc_suspect(&b, WIRE_DEAD, &s);
	swim_recv_udp(&w->n[1].g, &w->n[2].g.cfg.advertise, b.p, b.len);
	assert_int_equal(w->n[1].g.st.refutes, 2);
	w_run(w, 1500);
	for (int i = 0; i < 3; i++)
		assert_int_equal(status_of(w, i, 1), GD_ALIVE);
	wire_buf_free(&b);
	w_free(w);
	free(w);
}

static void
test_leave(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 4, NULL);
	w_join_all(w);
	serf_leave_begin(&w->n[3].g);
	for (int k = 0; k < 100 && !serf_leave_sent(&w->n[3].g); k++)
		w_run(w, 50);
	assert_true(serf_leave_sent(&w->n[3].g));
	swim_leave(&w->n[3].g);
	w_run(w, 1000);
	w->n[3].down = true;
	w_run(w, 3000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(status_of(w, i, 3), GD_LEFT);
		assert_int_equal(status_of(w, i, (i + 1) % 3), GD_ALIVE);
	}
	w_free(w);
	free(w);
}

static void
test_event_dedup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 5, NULL);
	w_join_all(w);
	assert_int_equal(serf_user_event(&w->n[0].g, "deploy",
			     (const uint8_t *)"v1", 2, false), 0);
	w_run(w, 3000);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(w->n[i].events, 1);
		assert_string_equal(w->n[i].last_event, "deploy");
		assert_int_equal(w->n[i].g.nrecent, 1);
	}
	/* the same event again (same LTime, name, payload) is dropped */
	{
		struct wire_event *e = calloc(1, sizeof(*e));
		struct gd_buf      b = { 0 };
		e->ltime = w->n[0].g.recent[0].ltime;
		strcpy(e->name, "deploy");
		memcpy(e->payload, "v1", 2);
		e->payload_len = 2;
		wire_enc_event(&b, e);
		swim_queue_user(&w->n[4].g, b.p, b.len, 0);
		w_run(w, 2000);
		for (int i = 0; i < 5; i++)
			assert_int_equal(w->n[i].events, 1);
		wire_buf_free(&b);
		free(e);
	}
	/* a second event reaches everyone once */
	serf_user_event(&w->n[3].g, "second", NULL, 0, false);
	w_run(w, 3000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(w->n[i].events, 2);
	w_free(w);
	free(w);
}

static void
test_encrypted(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 3, "8olOmRMU+8t3t0L+tkxyZ5W3J0RkGZ5eD7NjbypW9bo=");
	w_join_all(w);
	w_run(w, 2000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w->n[i].g.st.rx_crypt_fail, 0);
	/* a node with another key cannot join */
	memset(&w->n[2].g.cfg.keyring, 0, sizeof(w->n[2].g.cfg.keyring));
	wire_keyring_add(&w->n[2].g.cfg.keyring, "AAAAAAAAAAAAAAAAAAAAAA==");
	assert_int_equal(swim_join(&w->n[2].g, &w->n[0].g.cfg.advertise), -1);
	w_free(w);
	free(w);
}

static void
test_force_leave_prune(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 3, NULL);
	w_join_all(w);
	w->n[2].down = true;
	w_run(w, 4000);
	assert_int_equal(status_of(w, 0, 2), GD_FAILED);
	assert_int_equal(serf_force_leave(&w->n[0].g, "node2", false), 0);
	assert_int_equal(status_of(w, 0, 2), GD_LEFT);
	w_run(w, 1000);
	assert_int_equal(status_of(w, 1, 2), GD_LEFT);
	w_free(w);
	free(w);
}

static void
test_tcp_fallback(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	uint64_t      rescues = 0;

	(void)state;
	w_init(w, 4, NULL);
	w_join_all(w);
	w->n[2].udp_deaf = true;
	w_run(w, 8000);
	for (int i = 0; i < 4; i++) {
		rescues += w->n[i].g.st.tcp_rescues;
		for (int j = 0; j < 4; j++)
			assert_int_equal(status_of(w, i, j), GD_ALIVE);
	}
	assert_true(rescues > 0);
	w_free(w);
	free(w);
}

static void
test_snapshot_rejoin(void **state)
{
	struct world  *w = calloc(1, sizeof(*w));
	char           path[] = "/tmp/test_gossipd_snapXXXXXX";
	int            fd = mkstemp(path);
	struct gd_addr addrs[8];
	int            n;
	FILE          *f;
	char           buf[1024];
	size_t         len;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	w_init(w, 3, NULL);
	snprintf(w->n[1].g.cfg.snapshot_path, sizeof(w->n[1].g.cfg.snapshot_path),
	    "%s", path);
	w_join_all(w);
	serf_user_event(&w->n[1].g, "e", NULL, 0, false);
	w_run(w, 1000);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = 0;
	fclose(f);
	assert_non_null(strstr(buf, "alive: node0 127.0.0.1:7000\n"));
	assert_non_null(strstr(buf, "alive: node2 127.0.0.1:7002\n"));
	assert_non_null(strstr(buf, "event-clock: 1\n"));
	/* a restarted node1 witnesses the clocks and finds its peers */
	swim_free(&w->n[1].g);
	{
		struct gd_config c = w->n[0].g.cfg;
		struct gd_ops    o = w->n[0].g.ops;
		snprintf(c.name, sizeof(c.name), "node1");
		c.advertise.port = 7001;
		snprintf(c.snapshot_path, sizeof(c.snapshot_path), "%s", path);
		o.ctx = o.up = &w->n[1];
		assert_int_equal(swim_init(&w->n[1].g, &c, &o), 0);
	}
	n = serf_snapshot_load(&w->n[1].g, addrs, 8);
	assert_int_equal(n, 2);
	assert_true(w->n[1].g.event_clock >= 2);
	assert_true(serf_join(&w->n[1].g, addrs, n) > 0);
	w_run(w, 2000);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			assert_int_equal(status_of(w, i, j), GD_ALIVE);
	/* after a graceful leave, the snapshot says so: no rejoin */
	serf_leave_begin(&w->n[1].g);
	swim_leave(&w->n[1].g);
	serf_snapshot_write(&w->n[1].g);
	assert_int_equal(serf_snapshot_load(&w->n[1].g, addrs, 8), 0);
	unlink(path);
	w_free(w);
	free(w);
}

static void
test_event_catchup_pushpull(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 3, NULL);
	w_join_all(w);
	w->n[2].udp_deaf = true; /* misses every gossiped copy */
	serf_user_event(&w->n[0].g, "missed", (const uint8_t *)"x", 1, false);
	w_run(w, 3000);
	assert_int_equal(w->n[1].events, 1);
	assert_int_equal(w->n[2].events, 0);
	w->n[2].udp_deaf = false;
	w_run(w, 12000); /* one push/pull interval of the fast profile */
	assert_int_equal(w->n[2].events, 1);
	assert_string_equal(w->n[2].last_event, "missed");
	assert_int_equal(w->n[1].events, 1);
	w_free(w);
	free(w);
}

static void
join_cb(void *arg, int ok)
{
	*(int *)arg = ok;
}

static void
test_join_async(void **state)
{
	struct world  *w = calloc(1, sizeof(*w));
	struct gd_addr addrs[2];
	int            got = -1;

	(void)state;
	w_init(w, 3, NULL);
	w->n[2].down = true;
	addrs[0] = w->n[2].g.cfg.advertise; /* down */
	addrs[1] = w->n[0].g.cfg.advertise;
	assert_int_equal(serf_join_async(&w->n[1].g, addrs, 2, join_cb, &got), 0);
	assert_int_equal(got, 1);
	got = -1;
	assert_int_equal(serf_join_async(&w->n[1].g, addrs, 1, join_cb, &got), 0);
	assert_int_equal(got, 0);
	w_run(w, 2000);
	assert_int_equal(status_of(w, 0, 1), GD_ALIVE);
	assert_int_equal(status_of(w, 1, 0), GD_ALIVE);
	w_free(w);
	free(w);
}

static void
test_reap(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	w_init(w, 3, NULL);
	for (int i = 0; i < 3; i++)
		w->n[i].g.cfg.reconnect_timeout = 5000;
	w_join_all(w);
	w->n[2].down = true;
	w_run(w, 3000);
	assert_int_equal(status_of(w, 0, 2), GD_FAILED);
	w_run(w, 7000);
	assert_null(swim_find(&w->n[0].g, "node2"));
	assert_int_equal(w->n[0].g.nm, 2);
	w_free(w);
	free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_fail_detect),
		cmocka_unit_test(test_no_false_positive_loss),
		cmocka_unit_test(test_refute),
		cmocka_unit_test(test_leave),
		cmocka_unit_test(test_event_dedup),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_force_leave_prune),
		cmocka_unit_test(test_tcp_fallback),
		cmocka_unit_test(test_snapshot_rejoin),
		cmocka_unit_test(test_reap),
		cmocka_unit_test(test_join_async),
		cmocka_unit_test(test_event_catchup_pushpull),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
