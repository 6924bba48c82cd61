/*
 * KV writes (PUT and DELETE on /v1/kv/) reach raftd in batches: one
 * raft.kv_batch call carries the raft.kv_put / raft.kv_delete envelopes of
 * many requests and one raft.kv_batch_result answers them all
 * (proto/msg_raft.h).  A write crossing the bus alone costs about ten
 * thread wake-ups (MHD, nng's taskq and poller, raftd's loop, and back);
 * a batch pays them once.
 *
 * When to send.  A write that finds fewer than HTTPD_BATCH_INFLIGHT
 * batches in flight leaves at once with whatever waited before it, so a
 * lone write never waits for a timer or for other writes.  Otherwise it
 * joins the queue, and the reply that frees a slot sends the queue (up to
 * HTTPD_BATCH_MAX_OPS writes and HTTPD_BATCH_MAX_BYTES of values) before
 * resuming its own connections.  Under load the batch is whatever arrived
 * during one round trip to raftd, which includes its durable write:
 * group commit that sizes itself, without knowing MHD's loop turns (its
 * internal thread offers no hook at the end of one).
 *
 * Order and semantics.  The queue keeps arrival order and raftd applies a
 * batch's writes in that order, each with its own result: a refused cas or
 * lock answers `false` to that request only.
 *
 * Threads.  batch_add() runs on MHD's thread; replies arrive on an nng
 * thread (BUS_DIRECT), which resumes the connections.  The queue and the
 * in-flight count are under h->bmu; a request belongs to the queue, then to
 * its batch, until server_result() resumes it.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"
#include "msg_raft.h"

struct batch {
	struct httpd      *h;
	size_t             n;
	struct httpd_req  *reqs[HTTPD_BATCH_MAX_OPS];
};

static void batch_send(struct httpd *h, struct batch *b);

void
batch_init(struct httpd *h)
{
	pthread_mutex_init(&h->bmu, NULL);
}

static size_t
batch_value_len(const struct httpd_req *r)
{
	if (r->call_type == PROTO_RAFT_KV_PUT)
		return ((const struct proto_raft_kv_put *)r->call_msg)->value.len;
	return 0;
}

/*
 * Takes the next batch off the queue and counts it in flight, or returns
 * NULL (nothing queued, or no free slot).  Called with h->bmu held.
 */
static struct batch *
batch_take(struct httpd *h)
{
	struct batch *b;
	size_t        bytes = 0;

	if (h->bhead == NULL || h->binflight >= HTTPD_BATCH_INFLIGHT)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->h = h;
	while (h->bhead != NULL && b->n < HTTPD_BATCH_MAX_OPS) {
		struct httpd_req *r = h->bhead;
		size_t            len = batch_value_len(r);

		if (b->n > 0 && bytes + len > HTTPD_BATCH_MAX_BYTES)
			break;
		bytes += len;
		h->bhead = r->wnext;
		r->wnext = NULL;
		b->reqs[b->n++] = r;
	}
	if (h->bhead == NULL)
		h->btail = NULL;
	h->binflight++;
	h->batches++;
	h->batched += b->n;
	return b;
}

/* A batch ended: its slot goes to the queue, if anything waits. */
static void
batch_next(struct httpd *h)
{
	struct batch *b;

	pthread_mutex_lock(&h->bmu);
	h->binflight--;
	b = batch_take(h);
	pthread_mutex_unlock(&h->bmu);
	if (b != NULL)
		batch_send(h, b);
}

/* Every request of b gets the same error; b is freed. */
static void
batch_fail(struct batch *b, const char *text)
{
	for (size_t i = 0; i < b->n; i++) {
		server_answer_text(b->reqs[i], 500, text);
		server_resume(b->reqs[i]);
	}
	free(b);
}

static void
batch_on_reply(struct bus *bus, int err, const struct proto_env *env,
    void *arg)
{
	struct batch                      *b = arg;
	struct proto_raft_kv_batch_result  res;
	int                                rv;

	(void)bus;
	/* Send what queued meanwhile before resuming these connections:
	 * raftd starts on it while MHD writes the answers. */
	batch_next(b->h);
	if (err != 0) {
		batch_fail(b, "rpc error making call: raftd did not answer");
		return;
	}
	if ((rv = proto_unpack_raft_kv_batch_result(env, &res)) != 0 ||
	    res.results.n != b->n) {
		log_warnx("bad raft.kv_batch_result: %s (%zu results for %zu)",
		    proto_strerror(rv), rv == 0 ? res.results.n : 0, b->n);
		if (rv == 0)
			proto_free_raft_kv_batch_result(&res);
		batch_fail(b, "rpc error: bad reply from raftd");
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct proto_env sub;

		rv = proto_unpack_env(res.results.v[i].ptr, res.results.v[i].len,
		    &sub);
		if (rv == 0 && sub.id != i + 1)
			rv = PROTO_EWRONGMSG;
		server_result(b->reqs[i], rv, rv == 0 ? &sub : NULL);
	}
	proto_free_raft_kv_batch_result(&res);
	free(b);
}

static void
batch_send(struct httpd *h, struct batch *b)
{
	struct proto_raft_kv_batch msg = { 0 };
	struct proto_buf           buf = { 0 };
	int                        rv = 0;

	for (size_t i = 0; i < b->n && rv == 0; i++) {
		struct httpd_req *r = b->reqs[i];

		if ((rv = proto_pack(r->call_type, i + 1, r->call_msg, &buf)) == 0)
			rv = proto_bins_push(&msg.calls, buf.data, buf.len);
	}
	proto_buf_free(&buf);
	if (rv == 0)
		rv = bus_call_async(h->d->bus, "raftd", PROTO_RAFT_KV_BATCH, &msg,
		    HTTPD_CALL_MS, BUS_DIRECT, batch_on_reply, b);
	proto_free_raft_kv_batch(&msg);
	if (rv != 0) {
		batch_fail(b, "rpc error making call: cannot reach raftd");
		batch_next(h);
	}
}

void
batch_add(struct httpd_req *r)
{
	struct httpd *h = r->h;
	struct batch *b;

	r->state = REQ_PENDING;
	r->wnext = NULL;
	pthread_mutex_lock(&h->bmu);
	if (h->btail != NULL)
		h->btail->wnext = r;
	else
		h->bhead = r;
	h->btail = r;
	b = batch_take(h);
	pthread_mutex_unlock(&h->bmu);
	if (b != NULL)
		batch_send(h, b);
}

bool
batch_idle(struct httpd *h)
{
	bool idle;

	pthread_mutex_lock(&h->bmu);
	idle = h->bhead == NULL && h->binflight == 0;
	pthread_mutex_unlock(&h->bmu);
	return idle;
}
