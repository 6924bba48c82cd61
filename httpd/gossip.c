/*
 * The gossip endpoints: /v1/agent/members, join, leave, force-leave, and
 * /v1/event/fire and /v1/event/list.  Each is one call to gossipd, answered
 * by gossip.result {status, error, index, json}.  /v1/event/list blocks as
 * Consul's does (its index is per agent): an unchanged answer is asked again
 * every 100 ms until the index moves or the wait ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "bexpr.h"
#include "httpd.h"
#include "log.h"

#define GOSSIP_TIMEOUT_MS  5000
#define GOSSIP_LEAVE_MS    15000
#define EVENT_POLL_MS      100

static void
gossip_render(struct httpd_req *r, const struct proto_env *reply)
{
	struct proto_gossip_result res;

	if (proto_unpack_gossip_result(reply, &res) != 0) {
		server_answer_text(r, 500, "rpc error: malformed reply");
		return;
	}
	if (res.status >= 400)
		server_answer_text(r, (unsigned)res.status,
		    res.error ? res.error : "");
	else if (res.json != NULL)
		server_answer_json(r, (unsigned)res.status, strdup(res.json),
		    strlen(res.json));
	else
		server_answer_text(r, (unsigned)res.status, "");
	if (r->read && res.index > 0) {
		r->ans.index_only = true;
		r->ans.index = res.index;
	}
	proto_free_gossip_result(&res);
}

/*
 * /v1/agent/members?filter=: gossipd answers every member; the filter runs
 * here over that array (already parsed once by gossip_members, so it
 * parses).  Only a filtered answer is re-rendered.
 */
static void
gossip_render_members(struct httpd_req *r, const struct proto_env *reply)
{
	struct bexpr *f = bexpr_parse(query_get(&r->q, "filter", NULL));
	json_t       *all, *out;
	char         *body;

	gossip_render(r, reply);
	if (f == NULL || r->ans.status != 200 || r->ans.body == NULL)
		goto done;
	if ((all = json_loadb(r->ans.body, r->ans.len, 0, NULL)) == NULL)
		goto done;
	out = json_array();
	for (size_t i = 0; i < json_array_size(all); i++)
		if (bexpr_eval(f, json_array_get(all, i)))
			json_array_append(out, json_array_get(all, i));
	body = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (body != NULL)
		server_answer_json(r, 200, body, strlen(body));
	json_decref(out);
	json_decref(all);
done:
	bexpr_free(f);
}

static void
gossip_members(struct httpd_req *r, const char *arg)
{
	bool                        wan = false;
	const char                 *seg = query_get(&r->q, "segment", NULL);
	const char                 *expr = query_get(&r->q, "filter", NULL);
	struct proto_gossip_members m;
	struct bexpr               *f;

	(void)arg;
	if (expr != NULL && *expr != '\0') {
		if ((f = bexpr_parse(expr)) == NULL) {
			char *text = bexpr_error(expr);
			server_answer_text(r, 400, text != NULL ? text : "invalid filter");
			free(text);
			return;
		}
		bexpr_free(f);
	}
	query_get(&r->q, "wan", &wan);
	m.wan = wan;
	m.segment = (char *)(uintptr_t)seg;
	peer_call(r, "gossipd", PROTO_GOSSIP_MEMBERS, &m, GOSSIP_TIMEOUT_MS,
	    expr != NULL && *expr != '\0' ? gossip_render_members : gossip_render);
}

/* Consul answers a join with 200 and an empty body. */
static void
gossip_joined(struct httpd_req *r, const struct proto_env *reply)
{
	gossip_render(r, reply);
	if (r->ans.status == 200)
		server_answer_text(r, 200, "");
}

static void
gossip_join(struct httpd_req *r, const char *arg)
{
	struct proto_gossip_join j = { 0 };
	bool                     wan = false;

	if (*arg == '\0') {
		server_answer_text(r, 400, "Missing address to join");
		return;
	}
	query_get(&r->q, "wan", &wan);
	proto_strs_push(&j.addrs, arg);
	j.wan = wan;
	peer_call(r, "gossipd", PROTO_GOSSIP_JOIN, &j, GOSSIP_TIMEOUT_MS * 2,
	    gossip_joined);
	proto_strs_free(&j.addrs);
}

static void
gossip_left(struct httpd_req *r, const struct proto_env *reply)
{
	gossip_render(r, reply);
	/* Consul's agent shuts down after a graceful leave. */
	if (r->ans.status == 200) {
		struct proto_ctl_shutdown sd = { .reason = "left the cluster" };
		bus_call_async(r->h->d->bus, "supervisor", PROTO_CTL_SHUTDOWN, &sd,
		    1000, 0, NULL, NULL);
	}
}

static void
gossip_leave(struct httpd_req *r, const char *arg)
{
	struct proto_gossip_leave l = { .reason = "leave requested" };

	(void)arg;
	peer_call(r, "gossipd", PROTO_GOSSIP_LEAVE, &l, GOSSIP_LEAVE_MS,
	    gossip_left);
}

static void
gossip_force_leave(struct httpd_req *r, const char *arg)
{
	struct proto_gossip_force_leave f;
	bool                            prune = false;

	if (*arg == '\0') {
		server_answer_text(r, 400, "Missing node name");
		return;
	}
	query_get(&r->q, "prune", &prune);
	f.node = (char *)(uintptr_t)arg;
	f.prune = prune;
	peer_call(r, "gossipd", PROTO_GOSSIP_FORCE_LEAVE, &f, GOSSIP_TIMEOUT_MS,
	    gossip_render);
}

static void
gossip_event_fire(struct httpd_req *r, const char *arg)
{
	struct proto_gossip_event_fire e;

	if (*arg == '\0') {
		server_answer_text(r, 400, "Missing name");
		return;
	}
	if (arg[0] == '_') {
		server_answer_text(r, 400, "Event names starting with '_' are reserved");
		return;
	}
	e.name = (char *)(uintptr_t)arg;
	e.payload.ptr = (uint8_t *)r->body;
	e.payload.len = r->body_len;
	e.node_filter = (char *)(uintptr_t)query_get(&r->q, "node", NULL);
	e.service_filter = (char *)(uintptr_t)query_get(&r->q, "service", NULL);
	e.tag_filter = (char *)(uintptr_t)query_get(&r->q, "tag", NULL);
	peer_call(r, "gossipd", PROTO_GOSSIP_EVENT_FIRE, &e, GOSSIP_TIMEOUT_MS,
	    gossip_render);
}

/* A blocking /v1/event/list: kept until the index moves past ?index. */
struct event_wait {
	struct httpd_req *r;
	uint64_t          deadline_ms;
	int               timer;
};

static void event_list_issue(struct httpd_req *r);

static void
event_list_again(void *arg)
{
	struct httpd_req *r = arg;

	event_list_issue(r);
}

static void
event_list_post(void *arg)
{
	struct httpd_req *r = arg;

	loop_add_timer(r->h->d->loop, EVENT_POLL_MS, 0, event_list_again, r);
}

static void
event_list_done(struct bus *b, int err, const struct proto_env *reply,
    void *arg)
{
	struct httpd_req          *r = arg;
	struct proto_gossip_result res;

	(void)b;
	if (err == 0 && r->q.has_index && loop_now_ms() < r->deadline_ms &&
	    !atomic_load(&r->h->stopping) &&
	    proto_unpack_gossip_result(reply, &res) == 0) {
		bool unchanged = res.status == 200 && res.index <= r->q.index;
		proto_free_gossip_result(&res);
		if (unchanged) {
			/* Timers belong to the loop thread. */
			loop_post(r->h->d->loop, event_list_post, r);
			return;
		}
	}
	if (err != 0)
		server_answer_text(r, 500, "rpc error: gossipd did not answer");
	else
		gossip_render(r, reply);
	server_resume(r);
}

static void
event_list_issue(struct httpd_req *r)
{
	struct proto_gossip_event_list l;

	l.name = (char *)(uintptr_t)query_get(&r->q, "name", NULL);
	if (bus_call_async(r->h->d->bus, "gossipd", PROTO_GOSSIP_EVENT_LIST, &l,
	        GOSSIP_TIMEOUT_MS, BUS_DIRECT, event_list_done, r) != 0) {
		server_answer_text(r, 500, "rpc error: cannot reach gossipd");
		server_resume(r);
	}
}

static void
gossip_event_list(struct httpd_req *r, const char *arg)
{
	(void)arg;
	r->read = true;
	r->deadline_ms = loop_now_ms() + wait_duration_ms(&r->q);
	r->state = REQ_PENDING;
	if (!r->suspended) {
		r->suspended = true;
		atomic_fetch_add(&r->h->suspended, 1);
		MHD_suspend_connection(r->conn);
	}
	event_list_issue(r);
}

void
gossip_route(struct httpd_req *r, const char *what, const char *arg)
{
	if (strcmp(what, "members") == 0) {
		r->read = false;
		gossip_members(r, arg);
	} else if (strcmp(what, "join") == 0)
		gossip_join(r, arg);
	else if (strcmp(what, "leave") == 0)
		gossip_leave(r, arg);
	else if (strcmp(what, "force-leave") == 0)
		gossip_force_leave(r, arg);
	else if (strcmp(what, "fire") == 0)
		gossip_event_fire(r, arg);
	else if (strcmp(what, "list") == 0)
		gossip_event_list(r, arg);
	else
		server_answer_text(r, 404, "404 page not found");
}

void routes_agent_members(struct httpd_req *r, const char *arg) { gossip_route(r, "members", arg); }
void routes_agent_join(struct httpd_req *r, const char *arg) { gossip_route(r, "join", arg); }
void routes_agent_leave(struct httpd_req *r, const char *arg) { gossip_route(r, "leave", arg); }
void routes_agent_force_leave(struct httpd_req *r, const char *arg) { gossip_route(r, "force-leave", arg); }
void routes_event_fire(struct httpd_req *r, const char *arg) { gossip_route(r, "fire", arg); }
void routes_event_list(struct httpd_req *r, const char *arg) { gossip_route(r, "list", arg); }
