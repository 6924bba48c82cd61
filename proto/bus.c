#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"

#define BUS_MAXPEERS 16
#define BUS_MAXSUBS  16
#define BUS_DEDUP    512
#define BUS_TAP_LEASE_US (3 * 1000 * 1000)

struct bus_peer {
	char       name[32];
	nng_socket req;
};

struct bus_sub {
	nng_socket   s;
	int          fd;
	bus_event_cb cb;
	void (*rawcb)(struct bus *, const void *, size_t, void *);
	void        *arg;
};

struct bus_dedup {
	uint64_t        id;
	int             done;
	char           *reply;
	size_t          reply_len;
	struct bus_req *waiting;   /* duplicates that arrived before the reply */
};

struct bus_req {
	struct bus     *bus;
	nng_msg        *msg;       /* the request; its header routes the reply */
	uint64_t        id;
	int             dedup_slot;
	struct bus_req *next;
};

struct bus_call {
	struct bus     *bus;
	nng_ctx         ctx;
	nng_aio        *aio;
	int             recving;
	int             flags;
	int             err;
	uint64_t        t0_us;
	int             timeout_ms;
	bus_reply_cb    cb;
	void           *arg;
	nng_msg        *reply;
	char            peer[32];
	struct bus_call *next;
};

struct bus {
	char            rundir[256];
	char            self[32];
	pthread_mutex_t mu;
	bus_req_cb      req_cb;
	void           *req_arg;
	nng_socket      rep, pub, tap_push;
	int             rep_fd;
	int             serving, tap_open;
	struct bus_peer peers[BUS_MAXPEERS];
	int             npeers;
	struct bus_sub  subs[BUS_MAXSUBS];
	int             nsubs;
	int             notify[2];
	struct bus_call *done, **done_tail;
	atomic_uint_fast64_t next_id;
	atomic_int      tap_forced;
	atomic_uint_fast64_t tap_until;
	atomic_uint_fast64_t tap_dropped;
	struct bus_dedup dedup[BUS_DEDUP];
	struct bus_stats stats;
	struct loop    *loop;
};

static void bus_tap_open(struct bus *);
static void bus_tap_emit(struct bus *, const char *kind, const char *peer,
    uint64_t latency_us, const void *msg, size_t len);

static void
bus_path(const struct bus *b, const char *name, const char *suffix, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "ipc://%s/%s.%s", b->rundir, name, suffix);
}

/* Dialled as soon as a tap is announced, so the first records find a pipe. */
static void
bus_tap_open(struct bus *b)
{
	char url[320];

	pthread_mutex_lock(&b->mu);
	if (!b->tap_open && nng_push0_open(&b->tap_push) == 0) {
		nng_socket_set_int(b->tap_push, NNG_OPT_SENDBUF, 1024);
		nng_socket_set_ms(b->tap_push, NNG_OPT_RECONNMINT, 50);
		snprintf(url, sizeof(url), "ipc://%s/tap.pull", b->rundir);
		nng_dial(b->tap_push, url, NULL, NNG_FLAG_NONBLOCK);
		b->tap_open = 1;
	}
	pthread_mutex_unlock(&b->mu);
}

static void
bus_tap_event(struct bus *b, const struct proto_env *ev, void *arg)
{
	struct proto_ctl_tap t;

	(void)arg;
	if (proto_unpack_ctl_tap(ev, &t) != 0)
		return;
	if (t.on)
		bus_tap_open(b);
	atomic_store(&b->tap_until, t.on ? loop_now_us() + BUS_TAP_LEASE_US : 0);
}

struct bus *
bus_open(const char *rundir, const char *self)
{
	struct bus *b = calloc(1, sizeof(*b));
	uint64_t    seed = 0;

	if (b == NULL)
		return NULL;
	snprintf(b->rundir, sizeof(b->rundir), "%s", rundir);
	snprintf(b->self, sizeof(b->self), "%s", self);
	pthread_mutex_init(&b->mu, NULL);
	b->rep_fd = -1;
	b->done_tail = &b->done;
	for (int i = 0; i < BUS_DEDUP; i++)
		b->dedup[i].id = 0;
	/* Ids unique across restarts, so a resent request is never mistaken. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)getpid() << 32;
	atomic_store(&b->next_id, (seed >> 1) | 1);
	if (pipe2(b->notify, O_NONBLOCK | O_CLOEXEC) == -1) {
		free(b);
		return NULL;
	}
	if (strcmp(self, "supervisor") != 0 && strcmp(self, "cli") != 0)
		bus_subscribe(b, "supervisor", "ctl.tap", bus_tap_event, NULL);
	return b;
}

const char *
bus_self(const struct bus *b)
{
	return b->self;
}

const char *
bus_rundir(const struct bus *b)
{
	return b->rundir;
}

void
bus_close(struct bus *b)
{
	if (b == NULL)
		return;
	if (b->serving) {
		nng_close(b->rep);
		nng_close(b->pub);
	}
	for (int i = 0; i < b->npeers; i++)
		nng_close(b->peers[i].req);
	for (int i = 0; i < b->nsubs; i++)
		nng_close(b->subs[i].s);
	if (b->tap_open)
		nng_close(b->tap_push);
	/* Reap the calls that completed after the last bus_process. */
	bus_process(b);
	for (int i = 0; i < BUS_DEDUP; i++)
		free(b->dedup[i].reply);
	close(b->notify[0]);
	close(b->notify[1]);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

int
bus_serve(struct bus *b, bus_req_cb cb, void *arg)
{
	char url[320];
	int  rv;

	b->req_cb = cb;
	b->req_arg = arg;
	if ((rv = nng_rep0_open_raw(&b->rep)) != 0)
		return rv;
	bus_path(b, b->self, "rep", url, sizeof(url));
	if ((rv = nng_listen(b->rep, url, NULL, 0)) != 0) {
		log_warnx("bus: listen %s: %s", url, nng_strerror(rv));
		nng_close(b->rep);
		return rv;
	}
	if ((rv = nng_pub0_open(&b->pub)) != 0) {
		nng_close(b->rep);
		return rv;
	}
	bus_path(b, b->self, "pub", url, sizeof(url));
	if ((rv = nng_listen(b->pub, url, NULL, 0)) != 0) {
		log_warnx("bus: listen %s: %s", url, nng_strerror(rv));
		nng_close(b->rep);
		nng_close(b->pub);
		return rv;
	}
	nng_socket_set_int(b->rep, NNG_OPT_RECVBUF, 1024);
	nng_socket_get_int(b->rep, NNG_OPT_RECVFD, &b->rep_fd);
	b->serving = 1;
	if (b->loop != NULL)
		bus_attach(b, b->loop);
	return 0;
}

static void
bus_fd_cb(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	bus_process(arg);
}

int
bus_attach(struct bus *b, struct loop *l)
{
	int fds[BUS_MAXSUBS + 2], n;

	b->loop = l;
	n = bus_pollfds(b, fds, BUS_MAXSUBS + 2);
	for (int i = 0; i < n; i++)
		loop_add_fd(l, fds[i], POLLIN, bus_fd_cb, b);
	return 0;
}

int
bus_pollfds(struct bus *b, int *fds, int max)
{
	int n = 0;

	if (n < max)
		fds[n++] = b->notify[0];
	if (b->serving && n < max)
		fds[n++] = b->rep_fd;
	for (int i = 0; i < b->nsubs && n < max; i++)
		fds[n++] = b->subs[i].fd;
	return n;
}

static struct bus_dedup *
bus_dedup_slot(struct bus *b, uint64_t id)
{
	return &b->dedup[id % BUS_DEDUP];
}

/* Replies go out through an aio each: the pipe may still be writing the
 * previous reply, and a non-blocking send would then drop this one. */
static void
bus_send_done(void *arg)
{
	nng_aio **slot = arg;
	nng_aio  *aio = *slot;
	int       rv = nng_aio_result(aio);

	if (rv != 0) {
		log_warnx("bus: reply not sent: %s", nng_strerror(rv));
		nng_msg_free(nng_aio_get_msg(aio));
	}
	free(slot);
	nng_aio_reap(aio);
}

static int
bus_send_raw(struct bus *b, nng_msg *req, const char *data, size_t len)
{
	nng_msg  *m;
	nng_aio **slot;
	int       rv;

	if ((rv = nng_msg_alloc(&m, 0)) != 0)
		return rv;
	if ((rv = nng_msg_header_append(m, nng_msg_header(req),
	         nng_msg_header_len(req))) != 0 ||
	    (rv = nng_msg_append(m, data, len)) != 0)
		goto fail_msg;
	/* Most replies find the pipe idle: a non-blocking send hands the
	 * message over at once (no aio, no taskq callback, no reap).  When the
	 * pipe is still writing it answers NNG_EAGAIN and keeps m: queue it. */
	if (nng_sendmsg(b->rep, m, NNG_FLAG_NONBLOCK) == 0)
		return 0;
	if ((slot = malloc(sizeof(*slot))) == NULL) {
		rv = NNG_ENOMEM;
		goto fail_msg;
	}
	if ((rv = nng_aio_alloc(slot, bus_send_done, slot)) != 0) {
		free(slot);
		goto fail_msg;
	}
	nng_aio_set_timeout(*slot, 5000);
	nng_aio_set_msg(*slot, m);
	nng_send_aio(b->rep, *slot);
	return 0;
fail_msg:
	nng_msg_free(m);
	return rv;
}

static void
bus_req_free(struct bus_req *r)
{
	nng_msg_free(r->msg);
	free(r);
}

int
bus_reply(struct bus_req *r, int type, const void *msg)
{
	struct bus      *b = r->bus;
	struct proto_buf buf = { 0 };
	int              rv;

	if ((rv = proto_pack(type, r->id, msg, &buf)) != 0) {
		log_warnx("bus: cannot pack reply %s: %s", proto_name(type),
		    proto_strerror(rv));
		bus_req_free(r);
		return rv;
	}
	rv = bus_send_raw(b, r->msg, buf.data, buf.len);
	if (r->dedup_slot >= 0) {
		struct bus_dedup *d = &b->dedup[r->dedup_slot];
		if (d->id == r->id) {
			struct bus_req *w;
			while ((w = d->waiting) != NULL) {
				d->waiting = w->next;
				bus_send_raw(b, w->msg, buf.data, buf.len);
				bus_req_free(w);
			}
			free(d->reply);
			d->reply = buf.data;
			d->reply_len = buf.len;
			d->done = 1;
			buf.data = NULL;
		}
	}
	proto_buf_free(&buf);
	bus_req_free(r);
	return rv;
}

void
bus_req_drop(struct bus_req *r)
{
	bus_req_free(r);
}

uint64_t
bus_req_id(const struct bus_req *r)
{
	return r->id;
}

int
bus_req_once(struct bus_req *r)
{
	struct bus       *b = r->bus;
	struct bus_dedup *d = bus_dedup_slot(b, r->id);

	if (d->id == r->id) {
		b->stats.dup_requests++;
		if (d->done) {
			bus_send_raw(b, r->msg, d->reply, d->reply_len);
			bus_req_free(r);
		} else {
			r->next = d->waiting;
			d->waiting = r;
		}
		return 1;
	}
	/* Evict whatever the slot held; its waiters get no reply (they resend). */
	while (d->waiting != NULL) {
		struct bus_req *w = d->waiting;
		d->waiting = w->next;
		bus_req_free(w);
	}
	free(d->reply);
	d->reply = NULL;
	d->reply_len = 0;
	d->done = 0;
	d->id = r->id;
	r->dedup_slot = (int)(d - b->dedup);
	return 0;
}

static void
bus_handle_request(struct bus *b, nng_msg *m)
{
	struct proto_env env;
	struct bus_req  *r;
	int              rv;

	b->stats.requests++;
	rv = proto_unpack_env(nng_msg_body(m), nng_msg_len(m), &env);
	if (rv != 0) {
		/* No id to answer to: the caller times out.  Logged, not fatal. */
		log_warnx("bus: dropped malformed request (%zu bytes): %s",
		    nng_msg_len(m), proto_strerror(rv));
		nng_msg_free(m);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		nng_msg_free(m);
		return;
	}
	r->bus = b;
	r->msg = m;
	r->id = env.id;
	r->dedup_slot = -1;
	if (b->req_cb == NULL) {
		bus_req_free(r);
		return;
	}
	b->req_cb(b, r, &env, b->req_arg);
}

static void
bus_deliver(struct bus_call *c)
{
	struct proto_env env;
	int              err = c->err;

	memset(&env, 0, sizeof(env));
	if (err == 0 && c->reply != NULL)
		err = proto_unpack_env(nng_msg_body(c->reply),
		    nng_msg_len(c->reply), &env);
	if (err != 0)
		c->bus->stats.call_errors++;
	c->cb(c->bus, err, err == 0 ? &env : NULL, c->arg);
	if (c->reply != NULL)
		nng_msg_free(c->reply);
	nng_ctx_close(c->ctx);
	nng_aio_reap(c->aio);
	free(c);
}

void
bus_process(struct bus *b)
{
	char             drain[256];
	nng_msg         *m;
	struct bus_call *calls, *c;

	while (read(b->notify[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&b->mu);
	calls = b->done;
	b->done = NULL;
	b->done_tail = &b->done;
	pthread_mutex_unlock(&b->mu);
	while ((c = calls) != NULL) {
		calls = c->next;
		bus_deliver(c);
	}
	while (b->serving && nng_recvmsg(b->rep, &m, NNG_FLAG_NONBLOCK) == 0)
		bus_handle_request(b, m);
	for (int i = 0; i < b->nsubs; i++) {
		struct bus_sub *s = &b->subs[i];
		while (nng_recvmsg(s->s, &m, NNG_FLAG_NONBLOCK) == 0) {
			const char      *body = nng_msg_body(m);
			size_t           len = nng_msg_len(m);
			const char      *nul = memchr(body, '\0', len);
			struct proto_env env;

			b->stats.events++;
			if (s->rawcb != NULL)
				s->rawcb(b, body, len, s->arg);
			else if (nul != NULL &&
			    proto_unpack_env(nul + 1, len - (size_t)(nul + 1 - body),
			        &env) == 0)
				s->cb(b, &env, s->arg);
			else
				log_debug("bus: dropped malformed event");
			nng_msg_free(m);
		}
	}
}

int
bus_publish(struct bus *b, int type, const void *msg)
{
	struct proto_buf buf = { 0 };
	const char      *name = proto_name(type);
	size_t           nl = strlen(name) + 1;
	nng_msg         *m;
	int              rv;

	if (!b->serving)
		return NNG_ECLOSED;
	if ((rv = proto_pack(type, atomic_fetch_add(&b->next_id, 1), msg,
	         &buf)) != 0)
		return rv;
	if ((rv = nng_msg_alloc(&m, 0)) == 0) {
		if (nng_msg_append(m, name, nl) != 0 ||
		    nng_msg_append(m, buf.data, buf.len) != 0 ||
		    (rv = nng_sendmsg(b->pub, m, NNG_FLAG_NONBLOCK)) != 0)
			nng_msg_free(m);
	}
	b->stats.published++;
	if (type != PROTO_CTL_TAP_REC && type != PROTO_CTL_TAP)
		bus_tap_emit(b, "pub", name, 0, buf.data, buf.len);
	proto_buf_free(&buf);
	return rv;
}

static int
bus_sub_open(struct bus *b, const char *url, const char *prefix,
    struct bus_sub **out)
{
	struct bus_sub *s;
	int             rv;

	if (b->nsubs == BUS_MAXSUBS)
		return NNG_ENOMEM;
	s = &b->subs[b->nsubs];
	memset(s, 0, sizeof(*s));
	if ((rv = nng_sub0_open(&s->s)) != 0)
		return rv;
	nng_socket_set(s->s, NNG_OPT_SUB_SUBSCRIBE, prefix, strlen(prefix));
	nng_socket_set_int(s->s, NNG_OPT_RECVBUF, 8192);
	nng_socket_set_ms(s->s, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(s->s, NNG_OPT_RECONNMAXT, 250);
	if ((rv = nng_dial(s->s, url, NULL, NNG_FLAG_NONBLOCK)) != 0 ||
	    (rv = nng_socket_get_int(s->s, NNG_OPT_RECVFD, &s->fd)) != 0) {
		nng_close(s->s);
		return rv;
	}
	b->nsubs++;
	if (b->loop != NULL)
		loop_add_fd(b->loop, s->fd, POLLIN, bus_fd_cb, b);
	*out = s;
	return 0;
}

int
bus_subscribe(struct bus *b, const char *peer, const char *prefix,
    bus_event_cb cb, void *arg)
{
	char            url[320];
	struct bus_sub *s;
	int             rv;

	bus_path(b, peer, "pub", url, sizeof(url));
	if ((rv = bus_sub_open(b, url, prefix, &s)) != 0)
		return rv;
	s->cb = cb;
	s->arg = arg;
	return 0;
}

int
bus_subscribe_raw(struct bus *b, const char *sockname, const char *prefix,
    void (*cb)(struct bus *, const void *, size_t, void *), void *arg)
{
	char            url[320];
	struct bus_sub *s;
	int             rv;

	snprintf(url, sizeof(url), "ipc://%s/%s", b->rundir, sockname);
	if ((rv = bus_sub_open(b, url, prefix, &s)) != 0)
		return rv;
	s->rawcb = cb;
	s->arg = arg;
	return 0;
}

static int
bus_peer_req(struct bus *b, const char *peer, nng_socket *out)
{
	char url[320];
	int  rv;

	pthread_mutex_lock(&b->mu);
	for (int i = 0; i < b->npeers; i++)
		if (strcmp(b->peers[i].name, peer) == 0) {
			*out = b->peers[i].req;
			pthread_mutex_unlock(&b->mu);
			return 0;
		}
	if (b->npeers == BUS_MAXPEERS) {
		pthread_mutex_unlock(&b->mu);
		return NNG_ENOMEM;
	}
	struct bus_peer *p = &b->peers[b->npeers];
	if ((rv = nng_req0_open(&p->req)) != 0) {
		pthread_mutex_unlock(&b->mu);
		return rv;
	}
	/* A restarted peer is re-dialled quickly; pending requests are resent. */
	nng_socket_set_ms(p->req, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(p->req, NNG_OPT_RECONNMAXT, 250);
	bus_path(b, peer, "rep", url, sizeof(url));
	if ((rv = nng_dial(p->req, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		nng_close(p->req);
		pthread_mutex_unlock(&b->mu);
		return rv;
	}
	snprintf(p->name, sizeof(p->name), "%s", peer);
	b->npeers++;
	*out = p->req;
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static void
bus_call_cb(void *arg)
{
	struct bus_call *c = arg;
	struct bus      *b = c->bus;
	int              rv = nng_aio_result(c->aio);

	if (rv == 0 && !c->recving) {
		int64_t left = c->timeout_ms -
		    (int64_t)((loop_now_us() - c->t0_us) / 1000);
		c->recving = 1;
		nng_aio_set_timeout(c->aio, left > 1 ? (nng_duration)left : 1);
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv != 0 && !c->recving) {
		/* The message was not sent: it is still ours. */
		nng_msg_free(nng_aio_get_msg(c->aio));
	}
	c->err = rv;
	if (rv == 0) {
		c->reply = nng_aio_get_msg(c->aio);
		bus_tap_emit(b, "reply", c->peer, loop_now_us() - c->t0_us,
		    nng_msg_body(c->reply), nng_msg_len(c->reply));
	}
	if (c->flags & BUS_DIRECT) {
		bus_deliver(c);
		return;
	}
	pthread_mutex_lock(&b->mu);
	c->next = NULL;
	*b->done_tail = c;
	b->done_tail = &c->next;
	pthread_mutex_unlock(&b->mu);
	(void)!write(b->notify[1], "", 1);
}

int
bus_call_async(struct bus *b, const char *peer, int type, const void *msg,
    int timeout_ms, int flags, bus_reply_cb cb, void *arg)
{
	struct bus_call *c;
	struct proto_buf buf = { 0 };
	nng_socket       s;
	nng_msg         *m;
	int              rv;

	if ((rv = bus_peer_req(b, peer, &s)) != 0)
		return rv;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NNG_ENOMEM;
	c->bus = b;
	c->cb = cb;
	c->arg = arg;
	c->flags = flags;
	c->timeout_ms = timeout_ms;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if ((rv = proto_pack(type, atomic_fetch_add(&b->next_id, 1), msg,
	         &buf)) != 0)
		goto fail_call;
	if ((rv = nng_ctx_open(&c->ctx, s)) != 0)
		goto fail_buf;
	if ((rv = nng_aio_alloc(&c->aio, bus_call_cb, c)) != 0)
		goto fail_ctx;
	if ((rv = nng_msg_alloc(&m, 0)) != 0)
		goto fail_aio;
	if ((rv = nng_msg_append(m, buf.data, buf.len)) != 0) {
		nng_msg_free(m);
		goto fail_aio;
	}
	b->stats.calls++;
	bus_tap_emit(b, "call", peer, 0, buf.data, buf.len);
	proto_buf_free(&buf);
	c->t0_us = loop_now_us();
	nng_aio_set_msg(c->aio, m);
	nng_aio_set_timeout(c->aio, timeout_ms);
	nng_ctx_send(c->ctx, c->aio);
	return 0;

fail_aio:
	nng_aio_free(c->aio);
fail_ctx:
	nng_ctx_close(c->ctx);
fail_buf:
	proto_buf_free(&buf);
fail_call:
	free(c);
	return rv;
}

int
bus_call(struct bus *b, const char *peer, int type, const void *msg,
    int timeout_ms, struct proto_buf *out, struct proto_env *env)
{
	struct proto_buf buf = { 0 };
	nng_socket       s;
	nng_ctx          ctx;
	nng_aio         *aio;
	nng_msg         *m;
	uint64_t         t0;
	int64_t          left;
	int              rv;

	if ((rv = bus_peer_req(b, peer, &s)) != 0)
		return rv;
	if ((rv = proto_pack(type, atomic_fetch_add(&b->next_id, 1), msg,
	         &buf)) != 0)
		return rv;
	if ((rv = nng_ctx_open(&ctx, s)) != 0)
		goto out_buf;
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		goto out_ctx;
	if ((rv = nng_msg_alloc(&m, 0)) != 0)
		goto out_aio;
	if ((rv = nng_msg_append(m, buf.data, buf.len)) != 0) {
		nng_msg_free(m);
		goto out_aio;
	}
	b->stats.calls++;
	bus_tap_emit(b, "call", peer, 0, buf.data, buf.len);
	t0 = loop_now_us();
	nng_aio_set_msg(aio, m);
	nng_aio_set_timeout(aio, timeout_ms);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		goto out_aio;
	}
	left = timeout_ms - (int64_t)((loop_now_us() - t0) / 1000);
	nng_aio_set_timeout(aio, left > 1 ? (nng_duration)left : 1);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto out_aio;
	m = nng_aio_get_msg(aio);
	bus_tap_emit(b, "reply", peer, loop_now_us() - t0, nng_msg_body(m),
	    nng_msg_len(m));
	out->len = 0;
	free(out->data);
	out->data = malloc(nng_msg_len(m) ? nng_msg_len(m) : 1);
	if (out->data == NULL) {
		nng_msg_free(m);
		rv = NNG_ENOMEM;
		goto out_aio;
	}
	memcpy(out->data, nng_msg_body(m), nng_msg_len(m));
	out->len = out->cap = nng_msg_len(m);
	nng_msg_free(m);
	rv = proto_unpack_env(out->data, out->len, env);
out_aio:
	nng_aio_free(aio);
out_ctx:
	nng_ctx_close(ctx);
out_buf:
	proto_buf_free(&buf);
	if (rv != 0)
		b->stats.call_errors++;
	return rv;
}

void
bus_get_stats(struct bus *b, struct bus_stats *st)
{
	*st = b->stats;
	st->tap_dropped = atomic_load(&b->tap_dropped);
}

int
bus_tap_active(struct bus *b)
{
	uint64_t until;

	if (atomic_load(&b->tap_forced))
		return 1;
	until = atomic_load(&b->tap_until);
	return until != 0 && loop_now_us() < until;
}

void
bus_tap_set(struct bus *b, int on)
{
	if (on)
		bus_tap_open(b);
	atomic_store(&b->tap_forced, on);
}

static void
bus_tap_emit(struct bus *b, const char *kind, const char *peer,
    uint64_t latency_us, const void *msg, size_t len)
{
	struct proto_ctl_tap_rec rec;
	struct proto_buf         buf = { 0 };
	nng_msg                 *m;

	if (atomic_load(&b->tap_until) == 0 && !atomic_load(&b->tap_forced))
		return;
	if (!bus_tap_active(b))
		return;
	bus_tap_open(b);
	if (!b->tap_open)
		return;
	rec.time_us = wall_now_us();
	rec.proc = b->self;
	rec.kind = (char *)(uintptr_t)kind;
	rec.peer = (char *)(uintptr_t)peer;
	rec.latency_us = latency_us;
	rec.dropped = atomic_load(&b->tap_dropped);
	rec.msg.ptr = (uint8_t *)(uintptr_t)msg;
	rec.msg.len = len;
	if (proto_pack_ctl_tap_rec(0, &rec, &buf) != 0)
		return;
	if (nng_msg_alloc(&m, 0) == 0) {
		if (nng_msg_append(m, buf.data, buf.len) == 0 &&
		    nng_sendmsg(b->tap_push, m, NNG_FLAG_NONBLOCK) == 0)
			b->stats.tap_sent++;
		else {
			nng_msg_free(m);
			atomic_fetch_add(&b->tap_dropped, 1);
		}
	}
	proto_buf_free(&buf);
}
