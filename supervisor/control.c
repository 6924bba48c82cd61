/*
 * The supervisor's rep socket: what children and the CLI ask of it.
 *
 *   ctl.hello       a child starts: reply ctl.config
 *   ctl.ready       a child is serving; READY=1 once all five are
 *   ctl.status      ping every child, reply with the table as JSON
 *   ctl.restart     restart one child now
 *   ctl.reload      re-read the configuration (as SIGHUP)
 *   ctl.tap_attach  a tap is (still) attached: keep the tap on
 *   ctl.shutdown    stop the agent (as SIGTERM)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

static const char *const state_names[] = { "stopped", "starting", "running",
	"backoff" };

struct status_call {
	struct supervisor *sup;
	struct bus_req    *req;
	int                pending;
	json_t            *children;
};

struct status_ping {
	struct status_call *sc;
	int                 idx;
};

static json_t *
child_json(struct supervisor *s, struct child *c)
{
	json_t  *o = json_object();
	uint64_t now = loop_now_ms();

	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "pid", json_integer(c->pid));
	json_object_set_new(o, "state", json_string(state_names[c->state]));
	json_object_set_new(o, "uptime_ms",
	    json_integer(c->pid > 0 ? (json_int_t)(now - c->started_ms) : 0));
	json_object_set_new(o, "restarts", json_integer(c->restarts));
	json_object_set_new(o, "last_exit", json_string(c->last_exit));
	/* From reaping the last child to its successor's ctl.ready. */
	if (c->exited_ms > 0 && c->ready_ms > c->exited_ms)
		json_object_set_new(o, "last_restart_ms",
		    json_integer((json_int_t)(c->ready_ms - c->exited_ms)));
	(void)s;
	return o;
}

static void
status_finish(struct status_call *sc)
{
	struct supervisor *s = sc->sup;
	json_t            *out = json_object();
	char              *js;

	json_object_set_new(out, "pid", json_integer(getpid()));
	json_object_set_new(out, "uptime_ms",
	    json_integer((json_int_t)(loop_now_ms() - s->start_ms)));
	json_object_set_new(out, "data_dir", json_string(s->data_dir));
	json_object_set_new(out, "config_generation",
	    json_integer((json_int_t)s->generation));
	json_object_set_new(out, "children", sc->children);
	js = json_dumps(out, JSON_COMPACT);
	struct proto_ctl_result r = { .ok = true, .json = js };
	bus_reply(sc->req, PROTO_CTL_RESULT, &r);
	free(js);
	json_decref(out);
	free(sc);
}

static void
status_pong(struct bus *b, int err, const struct proto_env *reply, void *arg)
{
	struct status_ping   *sp = arg;
	struct status_call   *sc = sp->sc;
	json_t               *o = json_array_get(sc->children, (size_t)sp->idx);
	struct proto_ctl_pong pong;

	(void)b;
	if (err == 0 && reply != NULL &&
	    proto_unpack_ctl_pong(reply, &pong) == 0) {
		json_t *st = pong.status ? json_loads(pong.status, 0, NULL) : NULL;
		json_object_set_new(o, "ping", json_string("ok"));
		json_object_set_new(o, "child_uptime_ms",
		    json_integer((json_int_t)pong.uptime_ms));
		json_object_set_new(o, "config_generation",
		    json_integer((json_int_t)pong.config_generation));
		if (st != NULL)
			json_object_set_new(o, "status", st);
		proto_free_ctl_pong(&pong);
	} else
		json_object_set_new(o, "ping", json_string("no answer"));
	free(sp);
	if (--sc->pending == 0)
		status_finish(sc);
}

static void
control_status(struct supervisor *s, struct bus_req *req)
{
	struct status_call *sc = calloc(1, sizeof(*sc));

	sc->sup = s;
	sc->req = req;
	sc->children = json_array();
	sc->pending = 1;   /* held until every ping is sent */
	for (int i = 0; i < SUP_NCHILDREN; i++) {
		struct child *c = &s->children[i];
		json_array_append_new(sc->children, child_json(s, c));
		if (c->pid <= 0 || c->state != CHILD_RUNNING)
			continue;
		struct status_ping  *sp = calloc(1, sizeof(*sp));
		struct proto_ctl_ping p = { .nonce = loop_now_us() };
		sp->sc = sc;
		sp->idx = i;
		sc->pending++;
		if (bus_call_async(s->bus, c->name, PROTO_CTL_PING, &p, 1000, 0,
		        status_pong, sp) != 0) {
			sc->pending--;
			free(sp);
		}
	}
	if (--sc->pending == 0)
		status_finish(sc);
}

static void
control_hello(struct supervisor *s, struct bus_req *req,
    const struct proto_env *env)
{
	struct proto_ctl_hello h;
	struct child          *c;
	char                  *js;

	if (proto_unpack_ctl_hello(env, &h) != 0) {
		bus_req_drop(req);
		return;
	}
	if ((c = children_find(s, h.name)) != NULL && c->pid == (pid_t)h.pid)
		c->state = CHILD_STARTING;
	else
		log_debug("hello from %s (pid %llu), not a child of ours",
		    h.name ? h.name : "?", (unsigned long long)h.pid);
	js = json_dumps(s->doc, JSON_COMPACT);
	struct proto_ctl_config cfg = { .json = js, .generation = s->generation };
	bus_reply(req, PROTO_CTL_CONFIG, &cfg);
	free(js);
	proto_free_ctl_hello(&h);
}

/* Every child is up (and -join done): tell systemd. */
static void
control_running(struct supervisor *s)
{
	char status[128];

	log_info("agent running: %d processes", SUP_NCHILDREN + 1);
	snprintf(status, sizeof(status),
	    "READY=1\nSTATUS=agent running: node %s, %d children\nMAINPID=%d",
	    s->cfg.node_name, SUP_NCHILDREN, (int)getpid());
	notify_send(status);
}

static void
control_join_done(struct bus *b, int err, const struct proto_env *reply,
    void *arg)
{
	struct supervisor         *s = arg;
	struct proto_gossip_result res;
	json_t                    *j;
	long long                  n = 0;

	(void)b;
	if (s->stopping)
		return;
	if (err == 0 && proto_unpack_gossip_result(reply, &res) == 0) {
		if (res.status == 200 && res.json != NULL &&
		    (j = json_loads(res.json, 0, NULL)) != NULL) {
			n = json_integer_value(json_object_get(j, "joined"));
			json_decref(j);
		}
		if (n <= 0)
			log_error("%s", res.error != NULL ? res.error :
			    "Failed to join: no address answered");
		proto_free_gossip_result(&res);
	} else
		log_error("Failed to join: gossipd did not answer");
	if (n <= 0) {
		/* Consul: an agent that cannot join any -join address does
		 * not start. */
		s->exit_code = 1;
		agent_stop(s);
		return;
	}
	log_info("Join completed. Initial agents synced with: agent_count=%lld",
	    n);
	control_running(s);
}

/*
 * -join (start_join): once per agent start, after every child is up, as
 * Consul's startupJoin.  A restarted gossipd does not join again: it
 * rejoins from its snapshot, like a serf that comes back.
 */
static void
control_start_join(struct supervisor *s)
{
	struct proto_gossip_join j = { .addrs = s->cfg.start_join };

	log_info("Joining cluster...");
	if (bus_call_async(s->bus, "gossipd", PROTO_GOSSIP_JOIN, &j, 15000, 0,
	        control_join_done, s) != 0)
		control_join_done(s->bus, -1, NULL, s);
}

static void
control_ready(struct supervisor *s, struct bus_req *req,
    const struct proto_env *env)
{
	struct proto_ctl_ready r;
	struct child          *c;

	if (proto_unpack_ctl_ready(env, &r) != 0) {
		bus_req_drop(req);
		return;
	}
	c = children_find(s, r.name);
	if (c != NULL && c->pid == (pid_t)r.pid) {
		c->state = CHILD_RUNNING;
		c->ready_ms = loop_now_ms();
		if (s->ready_sent)
			log_info("%s is back (pid %d, restart %u)", c->name,
			    (int)c->pid, c->restarts);
	}
	proto_free_ctl_ready(&r);
	struct proto_ctl_result res = { .ok = true };
	bus_reply(req, PROTO_CTL_RESULT, &res);
	if (!s->ready_sent && children_all_ready(s)) {
		s->ready_sent = 1;
		if (s->cfg.start_join.n > 0)
			control_start_join(s);
		else
			control_running(s);
	}
}

void
control_on_request(struct bus *b, struct bus_req *req,
    const struct proto_env *env, void *arg)
{
	struct supervisor       *s = arg;
	struct proto_ctl_restart rs;
	struct proto_ctl_tap_attach ta;
	struct child            *c;

	(void)b;
	switch (env->type) {
	case PROTO_CTL_HELLO:
		control_hello(s, req, env);
		return;
	case PROTO_CTL_READY:
		control_ready(s, req, env);
		return;
	case PROTO_CTL_STATUS:
		control_status(s, req);
		return;
	case PROTO_CTL_RESTART:
		if (proto_unpack_ctl_restart(env, &rs) != 0) {
			bus_req_drop(req);
			return;
		}
		if (bus_req_once(req)) {
			proto_free_ctl_restart(&rs);
			return;
		}
		if ((c = children_find(s, rs.name)) == NULL) {
			struct proto_ctl_result r = { .ok = false,
				.error = "unknown process; one of gossipd, raftd, dnsd, httpd, checkd" };
			bus_reply(req, PROTO_CTL_RESULT, &r);
		} else {
			struct proto_ctl_result r = { .ok = true };
			log_info("restarting %s on request", c->name);
			/* Reply first: the caller may be talking through this child. */
			bus_reply(req, PROTO_CTL_RESULT, &r);
			children_restart(s, c);
		}
		proto_free_ctl_restart(&rs);
		return;
	case PROTO_CTL_RELOAD: {
		struct proto_ctl_result r = { .ok = true };
		bus_reply(req, PROTO_CTL_RESULT, &r);
		agent_reload(s, "reload requested");
		return;
	}
	case PROTO_CTL_SHUTDOWN: {
		struct proto_ctl_result r = { .ok = true };
		bus_reply(req, PROTO_CTL_RESULT, &r);
		kill(getpid(), SIGTERM);
		return;
	}
	case PROTO_CTL_TAP_ATTACH:
		if (proto_unpack_ctl_tap_attach(env, &ta) == 0) {
			uint64_t lease = ta.lease_ms ? ta.lease_ms : 3000;
			if (lease > 60000)
				lease = 60000;
			s->tap_lease_until = loop_now_ms() + lease;
			tap_set(s, 1);
		}
		struct proto_ctl_result r = { .ok = true };
		bus_reply(req, PROTO_CTL_RESULT, &r);
		return;
	default:
		log_warnx("unexpected message %s", proto_name(env->type));
		bus_req_drop(req);
	}
}

void
control_tick(struct supervisor *s)
{
	if (s->tap_on && loop_now_ms() > s->tap_lease_until)
		tap_set(s, 0);
	else if (s->tap_on)
		tap_set(s, 1);   /* repeated: pub/sub is lossy, children restart */
}
