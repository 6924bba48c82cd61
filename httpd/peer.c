/*
 * Calls to daemons other than raftd (gossipd, checkd, the supervisor): the
 * request is suspended, the call goes out with BUS_DIRECT, and the caller's
 * render function turns the reply (or the error) into the answer on the nng
 * thread, which then resumes the connection.  server_call() stays raftd's,
 * with its queue and its blocking-query machinery.
 */
#include <stdlib.h>

#include <microhttpd.h>

#include "httpd.h"
#include "log.h"

struct peer_call {
	struct httpd_req *r;
	peer_render_fn    render;
};

static void
peer_done(struct bus *b, int err, const struct proto_env *reply, void *arg)
{
	struct peer_call *pc = arg;
	struct httpd_req *r = pc->r;

	(void)b;
	if (err != 0)
		server_answer_text(r, 500, "rpc error: the agent process did "
		                           "not answer");
	else
		pc->render(r, reply);
	free(pc);
	server_resume(r);
}

void
peer_call(struct httpd_req *r, const char *peer, int type, const void *msg,
    int timeout_ms, peer_render_fn render)
{
	struct httpd     *h = r->h;
	struct peer_call *pc = malloc(sizeof(*pc));

	if (pc == NULL) {
		server_answer_text(r, 500, "out of memory");
		return;
	}
	pc->r = r;
	pc->render = render;
	r->state = REQ_PENDING;
	if (!r->suspended) {
		r->suspended = true;
		atomic_fetch_add(&h->suspended, 1);
		MHD_suspend_connection(r->conn);
	}
	if (bus_call_async(h->d->bus, peer, type, msg, timeout_ms, BUS_DIRECT,
	        peer_done, pc) != 0) {
		free(pc);
		server_answer_text(r, 500, "rpc error: cannot reach the agent "
		                           "process");
		server_resume(r);
	}
}

/*
 * Several calls at once, one answer: each reply is decoded to JSON on the
 * nng thread that receives it; the last one to arrive renders them all and
 * resumes the connection.  A call that fails leaves NULL in its slot.
 */
struct peer_gather {
	struct httpd_req          *r;
	peer_gather_fn             render;
	atomic_int                 left;
	size_t                     n;
	struct peer_gather_slot {
		struct peer_gather *g;
		peer_decode_fn      decode;
		json_t             *json;
	} slot[];
};

static void
peer_gather_one(struct peer_gather *g)
{
	json_t *got[PEER_GATHER_MAX];

	if (atomic_fetch_sub(&g->left, 1) != 1)
		return;
	for (size_t i = 0; i < g->n; i++)
		got[i] = g->slot[i].json;
	g->render(g->r, got, g->n);
	for (size_t i = 0; i < g->n; i++)
		json_decref(got[i]);
	server_resume(g->r);
	free(g);
}

static void
peer_gather_done(struct bus *b, int err, const struct proto_env *reply,
    void *arg)
{
	struct peer_gather_slot *s = arg;

	(void)b;
	if (err == 0)
		s->json = s->decode(reply);
	peer_gather_one(s->g);
}

void
peer_gather(struct httpd_req *r, const struct peer_target *t, size_t n,
    int timeout_ms, peer_gather_fn render)
{
	struct httpd       *h = r->h;
	struct peer_gather *g;

	if (n == 0 || n > PEER_GATHER_MAX ||
	    (g = calloc(1, sizeof(*g) + n * sizeof(g->slot[0]))) == NULL) {
		server_answer_text(r, 500, "out of memory");
		return;
	}
	g->r = r;
	g->render = render;
	g->n = n;
	/* One extra count, dropped below, so no reply renders before all sent. */
	atomic_init(&g->left, (int)n + 1);
	r->state = REQ_PENDING;
	if (!r->suspended) {
		r->suspended = true;
		atomic_fetch_add(&h->suspended, 1);
		MHD_suspend_connection(r->conn);
	}
	for (size_t i = 0; i < n; i++) {
		g->slot[i].g = g;
		g->slot[i].decode = t[i].decode;
		if (bus_call_async(h->d->bus, t[i].peer, t[i].type, t[i].msg,
		        timeout_ms, BUS_DIRECT, peer_gather_done,
		        &g->slot[i]) != 0)
			peer_gather_one(g);
	}
	peer_gather_one(g);
}
