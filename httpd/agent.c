/*
 * The agent's own endpoints (/v1/agent/services, checks, register,
 * maintenance, health, reload): answered by checkd, not raftd.  Each
 * handler names a check.call op; agent_call() suspends the connection,
 * sends the op with the path parameter, the query (as a JSON object) and
 * the body, and renders checkd's check.reply as it is (status, body,
 * content type): Consul's semantics live in checkd/api.c.  Reload goes to
 * the supervisor (ctl.reload), whose ctl.result becomes 200 or 500.
 *
 * Threads as in server.c: the reply callback runs on an nng thread
 * (BUS_DIRECT), fills r's answer and resumes r.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"

static void
agent_suspend(struct httpd_req *r)
{
	struct httpd *h = r->h;

	r->state = REQ_PENDING;
	if (!r->suspended) {
		r->suspended = true;
		atomic_fetch_add(&h->suspended, 1);
		MHD_suspend_connection(r->conn);
	}
	atomic_fetch_add(&h->inflight, 1);
}

static void
agent_on_reply(struct bus *b, int err, const struct proto_env *env, void *arg)
{
	struct httpd_req         *r = arg;
	struct proto_check_reply rep;

	(void)b;
	atomic_fetch_sub(&r->h->inflight, 1);
	if (err != 0 || proto_unpack_check_reply(env, &rep) != 0) {
		server_answer_text(r, 500,
		    "rpc error making call: checkd did not answer");
		server_resume(r);
		return;
	}
	if (rep.ctype != NULL && strncmp(rep.ctype, "application/json", 16) ==
	    0 && rep.body != NULL) {
		size_t len = strlen(rep.body);

		server_answer_json(r, (unsigned)rep.status, rep.body, len);
		rep.body = NULL;           /* the answer owns it */
	} else {
		server_answer_text(r, (unsigned)rep.status, rep.body != NULL ?
		    rep.body : "");
	}
	proto_free_check_reply(&rep);
	server_resume(r);
}

/* Sends op to checkd for r; r answers when checkd does. */
static void
agent_call(struct httpd_req *r, const char *op, const char *arg)
{
	struct proto_check_call m = { 0 };
	json_t                 *q = json_object();
	char                   *qs;
	int                     rv;

	for (size_t i = 0; i < r->q.nparams; i++)
		json_object_set_new(q, r->q.params[i].key,
		    r->q.params[i].val != NULL ?
		    json_string(r->q.params[i].val) : json_null());
	qs = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	m.op = (char *)(uintptr_t)op;
	m.arg = (char *)(uintptr_t)(arg != NULL ? arg : "");
	m.query = qs;
	m.body = r->body_len > 0 ? r->body : NULL;
	if (r->body_too_big) {
		free(qs);
		server_answer_text(r, 413, "Request body too large");
		return;
	}
	agent_suspend(r);
	rv = bus_call_async(r->h->d->bus, "checkd", PROTO_CHECK_CALL, &m,
	    HTTPD_CALL_MS, BUS_DIRECT, agent_on_reply, r);
	free(qs);
	if (rv != 0) {
		atomic_fetch_sub(&r->h->inflight, 1);
		server_answer_text(r, 500,
		    "rpc error making call: cannot reach checkd");
		server_resume(r);
	}
}

void
agent_services(struct httpd_req *r, const char *arg)
{
	(void)arg;
	agent_call(r, "services", "");
}

void
agent_service(struct httpd_req *r, const char *arg)
{
	agent_call(r, "service", arg);
}

void
agent_checks(struct httpd_req *r, const char *arg)
{
	(void)arg;
	agent_call(r, "checks", "");
}

void
agent_service_register(struct httpd_req *r, const char *arg)
{
	(void)arg;
	agent_call(r, "service_register", "");
}

void
agent_service_deregister(struct httpd_req *r, const char *arg)
{
	agent_call(r, "service_deregister", arg);
}

void
agent_service_maintenance(struct httpd_req *r, const char *arg)
{
	agent_call(r, "service_maint", arg);
}

void
agent_maintenance(struct httpd_req *r, const char *arg)
{
	(void)arg;
	agent_call(r, "maint", "");
}

void
agent_check_register(struct httpd_req *r, const char *arg)
{
	(void)arg;
	agent_call(r, "check_register", "");
}

void
agent_check_deregister(struct httpd_req *r, const char *arg)
{
	agent_call(r, "check_deregister", arg);
}

void
agent_check_pass(struct httpd_req *r, const char *arg)
{
	agent_call(r, "check_pass", arg);
}

void
agent_check_warn(struct httpd_req *r, const char *arg)
{
	agent_call(r, "check_warn", arg);
}

void
agent_check_fail(struct httpd_req *r, const char *arg)
{
	agent_call(r, "check_fail", arg);
}

void
agent_check_update(struct httpd_req *r, const char *arg)
{
	agent_call(r, "check_update", arg);
}

void
agent_health_name(struct httpd_req *r, const char *arg)
{
	agent_call(r, "health_name", arg);
}

void
agent_health_id(struct httpd_req *r, const char *arg)
{
	agent_call(r, "health_id", arg);
}

static void
agent_on_reload(struct bus *b, int err, const struct proto_env *env,
    void *arg)
{
	struct httpd_req        *r = arg;
	struct proto_ctl_result res;

	(void)b;
	atomic_fetch_sub(&r->h->inflight, 1);
	if (err != 0 || proto_unpack_ctl_result(env, &res) != 0) {
		server_answer_text(r, 500,
		    "rpc error making call: supervisor did not answer");
	} else {
		if (res.ok)
			server_answer_text(r, 200, "");
		else
			server_answer_text(r, 500, res.error != NULL ?
			    res.error : "reload failed");
		proto_free_ctl_result(&res);
	}
	server_resume(r);
}

/* PUT /v1/agent/reload: the supervisor re-reads files, as on SIGHUP. */
void
agent_reload(struct httpd_req *r, const char *arg)
{
	struct proto_ctl_reload m = { .reason = (char *)(uintptr_t)"http" };

	(void)arg;
	agent_suspend(r);
	if (bus_call_async(r->h->d->bus, "supervisor", PROTO_CTL_RELOAD, &m,
	        HTTPD_CALL_MS, BUS_DIRECT, agent_on_reload, r) != 0) {
		atomic_fetch_sub(&r->h->inflight, 1);
		server_answer_text(r, 500,
		    "rpc error making call: cannot reach the supervisor");
		server_resume(r);
	}
}
