/*
 * The agent endpoints' semantics, one function per check.call op: httpd
 * passes the path parameter, the query and the body through, and renders
 * the status/body/content type this file answers, so Consul's behaviour
 * (defaults, error texts, status codes) lives in one place that the unit
 * tests reach without HTTP.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bexpr.h"
#include "checkd.h"
#include "log.h"

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

struct api_ans {
	unsigned    status;
	char       *body;
	const char *ctype;
};

static void
api_text(struct api_ans *a, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
api_text(struct api_ans *a, unsigned status, const char *fmt, ...)
{
	va_list ap;

	free(a->body);
	a->status = status;
	va_start(ap, fmt);
	if (vasprintf(&a->body, fmt, ap) < 0)
		a->body = NULL;
	va_end(ap);
	a->ctype = CT_TEXT;
}

static void
api_json(struct api_ans *a, unsigned status, json_t *v)
{
	free(a->body);
	a->status = status;
	a->body = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	a->ctype = CT_JSON;
	json_decref(v);
}

static void
api_ok(struct api_ans *a)
{
	a->status = 200;
	a->ctype = NULL;
}

static const char *
api_q(const json_t *query, const char *key, bool *present)
{
	json_t *v = json_object_get(query, key);

	*present = v != NULL;
	return json_string_value(v);
}

/* Go's strconv.ParseBool; -1 when not a boolean. */
static int
api_bool(const char *s)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True",
		NULL };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false",
		"False", NULL };

	for (size_t i = 0; t[i] != NULL; i++)
		if (strcmp(s, t[i]) == 0)
			return 1;
	for (size_t i = 0; f[i] != NULL; i++)
		if (strcmp(s, f[i]) == 0)
			return 0;
	return -1;
}

static json_t *
api_body(const char *body, struct api_ans *a)
{
	json_error_t e;
	json_t      *v;

	if (body == NULL || *body == '\0') {
		api_text(a, 400, "Request decode failed: EOF");
		return NULL;
	}
	if ((v = json_loads(body, JSON_DECODE_ANY, &e)) == NULL)
		api_text(a, 400, "Request decode failed: %s", e.text);
	return v;
}

/*
 * ?filter= of /v1/agent/services and /checks: NULL with *f = NULL when
 * absent, -1 after answering 400 for an expression that does not parse.
 */
static int
api_filter(const json_t *query, struct bexpr **f, struct api_ans *a)
{
	bool        present;
	const char *expr = api_q(query, "filter", &present);
	char       *text;

	*f = NULL;
	if (expr == NULL || *expr == '\0')
		return 0;
	if ((*f = bexpr_parse(expr)) != NULL)
		return 0;
	text = bexpr_error(expr);
	api_text(a, 400, "%s", text != NULL ? text : "invalid filter");
	free(text);
	return -1;
}

/* Adds row to o under id when it passes f; takes row. */
static void
api_add(json_t *o, const char *id, json_t *row, const struct bexpr *f)
{
	if (bexpr_eval(f, row))
		json_object_set_new(o, id, row);
	else
		json_decref(row);
}

static void
api_services(struct checkd *cd, const json_t *query, struct api_ans *a)
{
	struct bexpr *f;
	json_t       *o;

	if (api_filter(query, &f, a) != 0)
		return;
	o = json_object();
	for (struct svc *s = cd->svcs; s != NULL; s = s->next)
		api_add(o, s->id, state_agent_service(cd, s), f);
	bexpr_free(f);
	api_json(a, 200, o);
}

static void
api_service(struct checkd *cd, const char *id, struct api_ans *a)
{
	struct svc *s = state_svc(cd, id);
	json_t     *o;
	char       *text, hash[17];
	uint64_t    h = 1469598103934665603ULL;

	if (s == NULL) {
		api_text(a, 404, "unknown service ID: %s", id);
		return;
	}
	o = state_agent_service(cd, s);
	/* ContentHash: FNV-1a of the rendering, for hash-based blocking. */
	if ((text = json_dumps(o, JSON_COMPACT)) != NULL) {
		for (const char *p = text; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		free(text);
	}
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)h);
	json_object_set_new(o, "ContentHash", json_string(hash));
	api_json(a, 200, o);
}

static void
api_checks(struct checkd *cd, const json_t *query, struct api_ans *a)
{
	struct bexpr *f;
	json_t       *o;

	if (api_filter(query, &f, a) != 0)
		return;
	o = json_object();
	for (struct chk *c = cd->chks; c != NULL; c = c->next)
		api_add(o, c->id, state_health_check(cd, c), f);
	bexpr_free(f);
	api_json(a, 200, o);
}

/* Refuses script checks from the API unless enable_script_checks. */
static int
api_script_ok(struct checkd *cd, const json_t *chk, struct api_ans *a)
{
	const char *t = json_string_value(json_object_get(chk, "Type"));

	if (t != NULL && strcmp(t, "script") == 0 && !cd->script_checks) {
		api_text(a, 400, "Invalid check: Scripts are disabled on this "
		    "agent from remote calls; to enable, configure "
		    "'enable_script_checks' to true");
		return -1;
	}
	return 0;
}

static void
api_service_register(struct checkd *cd, const json_t *query,
    const char *body, struct api_ans *a)
{
	json_t     *in, *svc, *checks, *c;
	size_t      i;
	bool        replace;
	char        err[512];
	const char *id;
	struct chk *k, *next;

	if ((in = api_body(body, a)) == NULL)
		return;
	if (defs_service(in, &svc, &checks, err, sizeof(err)) != 0) {
		json_decref(in);
		api_text(a, 400, "%s", err);
		return;
	}
	json_decref(in);
	json_array_foreach(checks, i, c)
		if (api_script_ok(cd, c, a) != 0)
			goto out;
	api_q(query, "replace-existing-checks", &replace);
	id = json_string_value(json_object_get(svc, "ID"));
	if (replace)
		for (k = cd->chks; k != NULL; k = next) {
			bool keep = false;

			next = k->next;
			if (k->service_id == NULL || strcmp(k->service_id, id) ||
			    strncmp(k->id, CHECKD_SERVICE_MAINT,
			        strlen(CHECKD_SERVICE_MAINT)) == 0)
				continue;
			json_array_foreach(checks, i, c)
				if (strcmp(k->id, json_string_value(
				        json_object_get(c, "CheckID"))) == 0)
					keep = true;
			if (!keep)
				state_del_chk(cd, k->id);
		}
	state_add_svc(cd, json_incref(svc), ORIGIN_API);
	json_array_foreach(checks, i, c)
		if (state_add_chk(cd, json_incref(c), ORIGIN_API, err,
		        sizeof(err)) == NULL)
			log_warnx("check %s: %s", json_string_value(
			    json_object_get(c, "CheckID")), err);
	log_info("service %s: registered", id);
	cd->persist_dirty = true;
	local_save(cd);
	api_ok(a);
out:
	json_decref(svc);
	json_decref(checks);
}

static void
api_service_deregister(struct checkd *cd, const char *id, struct api_ans *a)
{
	if (state_svc(cd, id) == NULL) {
		api_text(a, 404, "Unknown service ID \"%s\". Ensure that the "
		    "service ID is passed, not the service name.", id);
		return;
	}
	state_del_svc(cd, id);
	log_info("service %s: deregistered", id);
	local_save(cd);
	api_ok(a);
}

static void
api_check_register(struct checkd *cd, const char *body, struct api_ans *a)
{
	json_t     *in, *c;
	const char *sid;
	char        err[512];

	if ((in = api_body(body, a)) == NULL)
		return;
	if (defs_check(in, &c, err, sizeof(err)) != 0) {
		json_decref(in);
		api_text(a, 400, "%s", err);
		return;
	}
	json_decref(in);
	if (api_script_ok(cd, c, a) != 0) {
		json_decref(c);
		return;
	}
	sid = json_string_value(json_object_get(c, "ServiceID"));
	if (sid != NULL && *sid == '\0') {
		json_object_del(c, "ServiceID");
		sid = NULL;
	}
	if (sid != NULL && state_svc(cd, sid) == NULL) {
		api_text(a, 400, "ServiceID \"%s\" does not exist", sid);
		json_decref(c);
		return;
	}
	if (state_add_chk(cd, c, ORIGIN_API, err, sizeof(err)) == NULL) {
		api_text(a, 400, "Invalid check: %s", err);
		return;
	}
	local_save(cd);
	api_ok(a);
}

static void
api_check_deregister(struct checkd *cd, const char *id, struct api_ans *a)
{
	if (state_chk(cd, id) == NULL) {
		api_text(a, 404, "Unknown check ID \"%s\". Ensure that the "
		    "check ID is passed, not the check name.", id);
		return;
	}
	state_del_chk(cd, id);
	local_save(cd);
	api_ok(a);
}

static void
api_check_ttl(struct checkd *cd, const char *id, const char *status,
    const char *output, struct api_ans *a)
{
	struct chk *c = state_chk(cd, id);
	char       *capped = NULL;
	size_t      len = output != NULL ? strlen(output) : 0;

	if (c == NULL) {
		api_text(a, 404, "Unknown check ID \"%s\". Ensure that the "
		    "check ID is passed, not the check name.", id);
		return;
	}
	if (c->ttl_ms <= 0) {
		api_text(a, 500, "CheckID \"%s\" does not have associated TTL",
		    id);
		return;
	}
	if (len > c->output_max) {
		if (asprintf(&capped, "%.*s ... (captured %zu of %zu bytes)",
		        (int)c->output_max, output, c->output_max, len) < 0)
			capped = NULL;
	}
	sched_ttl_update(cd, c, status, capped != NULL ? capped : output);
	free(capped);
	api_ok(a);
}

static void
api_check_update(struct checkd *cd, const char *id, const char *body,
    struct api_ans *a)
{
	json_t     *in, *u;
	const char *st, *out;
	static const char *const keys[] = { "Status", "Output", NULL };

	if ((in = api_body(body, a)) == NULL)
		return;
	u = defs_canon(in, keys);
	json_decref(in);
	st = json_string_value(json_object_get(u, "Status"));
	out = json_string_value(json_object_get(u, "Output"));
	if (st == NULL || (strcmp(st, "passing") && strcmp(st, "warning") &&
	    strcmp(st, "critical"))) {
		api_text(a, 400, "Invalid check status: '%s'", st != NULL ? st :
		    "");
		json_decref(u);
		return;
	}
	api_check_ttl(cd, id, st, out, a);
	json_decref(u);
}

/* Adds or removes a maintenance check; service NULL for the node. */
static void
api_maint_set(struct checkd *cd, const struct svc *s, bool enable,
    const char *reason)
{
	char    id[600], err[256];
	json_t *def;

	if (s != NULL)
		snprintf(id, sizeof(id), "%s%s", CHECKD_SERVICE_MAINT, s->id);
	else
		snprintf(id, sizeof(id), "%s", CHECKD_NODE_MAINT);
	if (!enable) {
		if (state_chk(cd, id) != NULL) {
			state_del_chk(cd, id);
			log_info("%s: maintenance off", s ? s->id : "node");
		}
		return;
	}
	if (reason == NULL || *reason == '\0')
		reason = s != NULL ? "Maintenance mode is enabled for this "
		    "service, but no reason was provided. This is a default "
		    "message." : "Maintenance mode is enabled for this node, "
		    "but no reason was provided. This is a default message.";
	def = json_pack("{s:s,s:s,s:s,s:s,s:s}", "CheckID", id, "Name",
	    s != NULL ? "Service Maintenance Mode" : "Node Maintenance Mode",
	    "Notes", reason, "Status", "critical", "Type", "maintenance");
	if (s != NULL)
		json_object_set_new(def, "ServiceID", json_string(s->id));
	if (state_add_chk(cd, def, ORIGIN_API, err, sizeof(err)) != NULL) {
		state_set(cd, state_chk(cd, id), "critical", "");
		log_info("%s: maintenance on: %s", s ? s->id : "node", reason);
	}
}

static int
api_enable(const json_t *query, struct api_ans *a, bool *enable)
{
	bool        present;
	const char *v = api_q(query, "enable", &present);
	int         b;

	if (!present || v == NULL) {
		api_text(a, 400, "Missing value for enable");
		return -1;
	}
	if ((b = api_bool(v)) < 0) {
		api_text(a, 400, "Invalid value for enable: \"%s\"", v);
		return -1;
	}
	*enable = b == 1;
	return 0;
}

static void
api_maint(struct checkd *cd, const char *arg, const json_t *query,
    struct api_ans *a, bool service)
{
	bool        enable, present;
	const char *reason = api_q(query, "reason", &present);
	struct svc *s = NULL;

	if (service) {
		if (arg == NULL || *arg == '\0') {
			api_text(a, 400, "Missing service ID");
			return;
		}
		if ((s = state_svc(cd, arg)) == NULL) {
			api_text(a, 404, "Unknown service ID \"%s\"", arg);
			return;
		}
	}
	if (api_enable(query, a, &enable) != 0)
		return;
	api_maint_set(cd, s, enable, reason);
	local_save(cd);
	api_ok(a);
}

/* {AggregatedStatus, Service, Checks} of one service. */
static json_t *
api_health_info(struct checkd *cd, const struct svc *s, const char **agg)
{
	json_t *checks = json_array();
	bool    maint;

	for (struct chk *c = cd->chks; c != NULL; c = c->next)
		if (c->service_id == NULL || strcmp(c->service_id, s->id) == 0)
			json_array_append_new(checks, state_health_check(cd, c));
	*agg = state_aggregate(cd, s->id, true, NULL, &maint);
	if (maint)
		*agg = "maintenance";
	return json_pack("{s:s,s:o,s:o}", "AggregatedStatus", *agg, "Service",
	    state_agent_service(cd, s), "Checks", checks);
}

static unsigned
api_health_code(const char *agg)
{
	if (strcmp(agg, "passing") == 0)
		return 200;
	if (strcmp(agg, "warning") == 0)
		return 429;
	return 503;
}

static int
api_rank(const char *agg)
{
	if (strcmp(agg, "maintenance") == 0)
		return 3;
	if (strcmp(agg, "critical") == 0)
		return 2;
	return strcmp(agg, "warning") == 0;
}

static void
api_health(struct checkd *cd, const char *arg, const json_t *query,
    bool by_name, struct api_ans *a)
{
	bool        present, text;
	const char *fmt = api_q(query, "format", &present);
	const char *agg = "passing", *one;
	json_t     *list, *info;

	text = fmt != NULL && strcmp(fmt, "text") == 0;
	if (!by_name) {
		struct svc *s = state_svc(cd, arg);

		if (s == NULL) {
			if (text)
				api_text(a, 404, "ServiceId %s not found", arg);
			else
				api_json(a, 404, json_pack("{s:s,s:n,s:n}",
				    "AggregatedStatus", "critical", "Service",
				    "Checks"));
			return;
		}
		info = api_health_info(cd, s, &agg);
		if (text) {
			json_decref(info);
			api_text(a, api_health_code(agg), "%s", agg);
		} else
			api_json(a, api_health_code(agg), info);
		return;
	}
	list = json_array();
	for (struct svc *s = cd->svcs; s != NULL; s = s->next) {
		const char *name = json_string_value(json_object_get(s->def,
		    "Name"));

		if (name == NULL || strcmp(name, arg) != 0)
			continue;
		info = api_health_info(cd, s, &one);
		if (api_rank(one) > api_rank(agg))
			agg = one;
		json_array_insert_new(list, 0, info);
	}
	if (json_array_size(list) == 0) {
		if (text) {
			json_decref(list);
			api_text(a, 404, "ServiceName %s Not Found", arg);
		} else
			api_json(a, 404, list);
		return;
	}
	if (text) {
		json_decref(list);
		api_text(a, api_health_code(agg), "%s", agg);
	} else
		api_json(a, api_health_code(agg), list);
}

/* consul info's `agent` section, every value a string. */
static void
api_stats(struct checkd *cd, struct api_ans *a)
{
	size_t monitors = 0, ttls = 0;
	char   n[4][24];

	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		if (c->kind == &kind_script)
			monitors++;
		if (c->ttl_ms > 0)
			ttls++;
	}
	snprintf(n[0], sizeof(n[0]), "%zu", monitors);
	snprintf(n[1], sizeof(n[1]), "%zu", ttls);
	snprintf(n[2], sizeof(n[2]), "%zu", cd->nchks);
	snprintf(n[3], sizeof(n[3]), "%zu", cd->nsvcs);
	api_json(a, 200, json_pack("{s:s,s:s,s:s,s:s}", "check_monitors",
	    n[0], "check_ttls", n[1], "checks", n[2], "services", n[3]));
}

void
api_call(struct checkd *cd, const char *op, const char *arg,
    const json_t *query, const char *body, unsigned *status, char **bodyout,
    const char **ctype)
{
	struct api_ans a = { 200, NULL, NULL };
	bool           present;
	const char    *note = api_q(query, "note", &present);

	if (arg == NULL)
		arg = "";
	if (strcmp(op, "services") == 0)
		api_services(cd, query, &a);
	else if (strcmp(op, "service") == 0)
		api_service(cd, arg, &a);
	else if (strcmp(op, "checks") == 0)
		api_checks(cd, query, &a);
	else if (strcmp(op, "service_register") == 0)
		api_service_register(cd, query, body, &a);
	else if (strcmp(op, "service_deregister") == 0)
		api_service_deregister(cd, arg, &a);
	else if (strcmp(op, "check_register") == 0)
		api_check_register(cd, body, &a);
	else if (strcmp(op, "check_deregister") == 0)
		api_check_deregister(cd, arg, &a);
	else if (strcmp(op, "check_pass") == 0)
		api_check_ttl(cd, arg, "passing", note, &a);
	else if (strcmp(op, "check_warn") == 0)
		api_check_ttl(cd, arg, "warning", note, &a);
	else if (strcmp(op, "check_fail") == 0)
		api_check_ttl(cd, arg, "critical", note, &a);
	else if (strcmp(op, "check_update") == 0)
		api_check_update(cd, arg, body, &a);
	else if (strcmp(op, "maint") == 0)
		api_maint(cd, arg, query, &a, false);
	else if (strcmp(op, "service_maint") == 0)
		api_maint(cd, arg, query, &a, true);
	else if (strcmp(op, "health_id") == 0)
		api_health(cd, arg, query, false, &a);
	else if (strcmp(op, "health_name") == 0)
		api_health(cd, arg, query, true, &a);
	else if (strcmp(op, "stats") == 0)
		api_stats(cd, &a);
	else
		api_text(&a, 404, "unknown operation %s", op);
	*status = a.status;
	*bodyout = a.body;
	*ctype = a.ctype;
}
