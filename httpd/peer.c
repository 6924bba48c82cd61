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
