/*
 * The bus, in one process: calls and replies (sync, async, deferred),
 * publish/subscribe by prefix, request de-duplication, malformed requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus.h"
#include "log.h"

static char rundir[64];

struct server {
	struct bus  *bus;
	struct loop *loop;
	pthread_t    thr;
	int          handled;      /* requests that reached the handler */
	struct bus_req *held;      /* a deferred request */
	int          once;
};

static void
srv_req(struct bus *b, struct bus_req *req, const struct proto_env *env,
    void *arg)
{
	struct server        *s = arg;
	struct proto_ctl_ping p;

	(void)b;
	if (s->once && bus_req_once(req))
		return;
	s->handled++;
	if (proto_unpack_ctl_ping(env, &p) != 0) {
		bus_req_drop(req);
		return;
	}
	if (p.nonce == 999) {   /* defer: answered by the timer below */
		s->held = req;
		return;
	}
	struct proto_ctl_pong pong = { .nonce = p.nonce * 2, .name = "srv" };
	bus_reply(req, PROTO_CTL_PONG, &pong);
}

static void
srv_tick(void *arg)
{
	struct server *s = arg;

	if (s->held != NULL) {
		struct proto_ctl_pong pong = { .nonce = 1998, .name = "late" };
		bus_reply(s->held, PROTO_CTL_PONG, &pong);
		s->held = NULL;
	}
}

static void *
srv_run(void *arg)
{
	struct server *s = arg;

	loop_run(s->loop);
	return NULL;
}

static void
srv_start(struct server *s, int once)
{
	memset(s, 0, sizeof(*s));
	s->once = once;
	s->loop = loop_new();
	s->bus = bus_open(rundir, "srv");
	assert_non_null(s->bus);
	bus_attach(s->bus, s->loop);
	assert_int_equal(bus_serve(s->bus, srv_req, s), 0);
	loop_add_timer(s->loop, 200, 1, srv_tick, s);
	pthread_create(&s->thr, NULL, srv_run, s);
}

static void
srv_stop(struct server *s)
{
	loop_stop(s->loop);
	pthread_join(s->thr, NULL);
	bus_close(s->bus);
	loop_free(s->loop);
}

static void
test_call_and_deferred_reply(void **state)
{
	struct server         s;
	struct bus           *c;
	struct proto_buf      buf = { 0 };
	struct proto_env      env;
	struct proto_ctl_ping p = { .nonce = 21 };
	struct proto_ctl_pong pong;

	(void)state;
	srv_start(&s, 0);
	c = bus_open(rundir, "cli");
	assert_int_equal(bus_call(c, "srv", PROTO_CTL_PING, &p, 2000, &buf, &env), 0);
	assert_int_equal(proto_unpack_ctl_pong(&env, &pong), 0);
	assert_int_equal(pong.nonce, 42);
	proto_free_ctl_pong(&pong);
	/* Deferred: the handler keeps the request and answers from a timer. */
	p.nonce = 999;
	assert_int_equal(bus_call(c, "srv", PROTO_CTL_PING, &p, 2000, &buf, &env), 0);
	assert_int_equal(proto_unpack_ctl_pong(&env, &pong), 0);
	assert_string_equal(pong.name, "late");
	proto_free_ctl_pong(&pong);
	/* Nobody there: a timeout, not a hang. */
	assert_int_not_equal(bus_call(c, "nobody", PROTO_CTL_PING, &p, 200, &buf, &env), 0);
	proto_buf_free(&buf);
	bus_close(c);
	srv_stop(&s);
}

struct async_res {
	int      done;
	int      err;
	uint64_t nonce;
};

static void
async_cb(struct bus *b, int err, const struct proto_env *reply, void *arg)
{
	struct async_res     *r = arg;
	struct proto_ctl_pong pong;

	(void)b;
	r->err = err;
	if (err == 0 && proto_unpack_ctl_pong(reply, &pong) == 0) {
		r->nonce = pong.nonce;
		proto_free_ctl_pong(&pong);
	}
	r->done = 1;
}

static void
test_async_calls(void **state)
{
	struct server    s;
	struct bus      *c;
	struct async_res res[50];

	(void)state;
	srv_start(&s, 0);
	c = bus_open(rundir, "cli");
	memset(res, 0, sizeof(res));
	for (int i = 0; i < 50; i++) {
		struct proto_ctl_ping p = { .nonce = (uint64_t)i };
		assert_int_equal(bus_call_async(c, "srv", PROTO_CTL_PING, &p, 2000, 0,
		    async_cb, &res[i]), 0);
	}
	for (int spins = 0; spins < 400; spins++) {
		int all = 1;
		bus_process(c);   /* callbacks run here, on this thread */
		for (int i = 0; i < 50; i++)
			all &= res[i].done;
		if (all)
			break;
		usleep(5000);
	}
	for (int i = 0; i < 50; i++) {
		assert_int_equal(res[i].done, 1);
		assert_int_equal(res[i].err, 0);
		assert_int_equal(res[i].nonce, (uint64_t)i * 2);
	}
	bus_close(c);
	srv_stop(&s);
}

struct sub_res {
	int n;
	int other;
};

static void
sub_cb(struct bus *b, const struct proto_env *ev, void *arg)
{
	struct sub_res *r = arg;

	(void)b;
	if (ev->type == PROTO_CTL_TAP)
		r->n++;
	else
		r->other++;
}

static void
test_pubsub_prefix(void **state)
{
	struct server  s;
	struct bus    *c;
	struct sub_res r = { 0, 0 };
	struct proto_ctl_tap   t = { .on = true };
	struct proto_ctl_reload rl = { .reason = "x" };

	(void)state;
	srv_start(&s, 0);
	c = bus_open(rundir, "cli");
	assert_int_equal(bus_subscribe(c, "srv", "ctl.tap", sub_cb, &r), 0);
	usleep(200000);   /* the subscriber's pipe must be up: pub/sub is lossy */
	for (int i = 0; i < 5; i++) {
		bus_publish(s.bus, PROTO_CTL_TAP, &t);
		bus_publish(s.bus, PROTO_CTL_RELOAD, &rl);
	}
	for (int spins = 0; spins < 100 && r.n < 5; spins++) {
		bus_process(c);
		usleep(5000);
	}
	assert_int_equal(r.n, 5);
	assert_int_equal(r.other, 0);   /* ctl.reload does not match "ctl.tap" */
	bus_close(c);
	srv_stop(&s);
}

static void
test_request_once(void **state)
{
	struct server s;
	nng_socket    raw;
	char          url[128];
	struct proto_buf buf = { 0 };
	struct proto_ctl_ping p = { .nonce = 5 };
	void         *rep;
	size_t        replen;

	(void)state;
	srv_start(&s, 1);
	/* Send the same id twice, as nng's req does after a peer restart. */
	assert_int_equal(nng_req0_open(&raw), 0);
	snprintf(url, sizeof(url), "ipc://%s/srv.rep", rundir);
	assert_int_equal(nng_dial(raw, url, NULL, 0), 0);
	nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 2000);
	assert_int_equal(proto_pack_ctl_ping(77, &p, &buf), 0);
	for (int i = 0; i < 2; i++) {
		struct proto_env     env;
		struct proto_ctl_pong pong;
		assert_int_equal(nng_send(raw, buf.data, buf.len, 0), 0);
		assert_int_equal(nng_recv(raw, &rep, &replen, NNG_FLAG_ALLOC), 0);
		assert_int_equal(proto_unpack_env(rep, replen, &env), 0);
		assert_int_equal(env.id, 77);
		assert_int_equal(proto_unpack_ctl_pong(&env, &pong), 0);
		assert_int_equal(pong.nonce, 10);
		proto_free_ctl_pong(&pong);
		nng_free(rep, replen);
	}
	/* The handler ran once; the second answer was the cached reply. */
	assert_int_equal(s.handled, 1);
	/* Garbage is dropped without a reply and without a crash. */
	assert_int_equal(nng_send(raw, "\xc1\xc1garbage", 9, 0), 0);
	assert_int_not_equal(nng_recv(raw, &rep, &replen, NNG_FLAG_ALLOC), 0);
	nng_close(raw);
	proto_buf_free(&buf);
	srv_stop(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_and_deferred_reply),
		cmocka_unit_test(test_async_calls),
		cmocka_unit_test(test_pubsub_prefix),
		cmocka_unit_test(test_request_once),
	};
	int rv;

	log_init("test", LOG_ERROR);
	snprintf(rundir, sizeof(rundir), "/tmp/tribune-bus-%d", (int)getpid());
	mkdir(rundir, 0700);
	rv = cmocka_run_group_tests_name("proto_bus", tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rundir);
	if (system(cmd) != 0)
		rv = 1;
	return rv;
}
