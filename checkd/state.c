/*
 * The agent's services and checks in memory, and their renderings as
 * Consul's AgentService and HealthCheck objects.  Lists are singly linked
 * and searched linearly: an agent holds hundreds, not millions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"

struct svc *
state_svc(struct checkd *cd, const char *id)
{
	for (struct svc *s = cd->svcs; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

struct chk *
state_chk(struct checkd *cd, const char *id)
{
	for (struct chk *c = cd->chks; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

struct svc *
state_add_svc(struct checkd *cd, json_t *def, enum checkd_origin origin)
{
	const char *id = json_string_value(json_object_get(def, "ID"));
	struct svc *s = state_svc(cd, id);

	json_object_del(def, "Checks");
	if (s != NULL) {
		if (!json_equal(s->def, def)) {
			s->dirty = true;
			cd->dirty = true;
		}
		json_decref(s->def);
		s->def = def;
		s->origin = origin;
		return s;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->id = strdup(id)) ==
	    NULL) {
		free(s);
		json_decref(def);
		return NULL;
	}
	s->def = def;
	s->origin = origin;
	s->next = cd->svcs;
	cd->svcs = s;
	cd->nsvcs++;
	s->dirty = true;
	cd->dirty = true;
	return s;
}

static const char *
state_jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* The run-time fields of a check from its definition. */
static int
state_fill(struct checkd *cd, struct chk *c, char *err, size_t errlen)
{
	const json_t *d = c->def;
	int64_t       max;

	c->kind = sched_kind(state_jstr(d, "Type"));
	c->interval_ms = defs_duration_ms(json_object_get(d, "Interval"));
	c->timeout_ms = defs_duration_ms(json_object_get(d, "Timeout"));
	c->ttl_ms = defs_duration_ms(json_object_get(d, "TTL"));
	c->dereg_ms = defs_duration_ms(json_object_get(d,
	    "DeregisterCriticalServiceAfter"));
	if (c->timeout_ms <= 0)
		c->timeout_ms = strcmp(state_jstr(d, "Type"), "script") == 0 ?
		    30000 : 10000;
	if (c->dereg_ms > 0 && c->dereg_ms < 60000)
		c->dereg_ms = 60000;            /* Consul's minimum */
	c->success_before_passing = json_integer_value(json_object_get(d,
	    "SuccessBeforePassing"));
	c->failures_before_warning = json_integer_value(json_object_get(d,
	    "FailuresBeforeWarning"));
	c->failures_before_critical = json_integer_value(json_object_get(d,
	    "FailuresBeforeCritical"));
	max = json_integer_value(json_object_get(d, "OutputMaxSize"));
	c->output_max = max > 0 ? (size_t)max : cd->output_max;
	if (c->kind == &kind_script && !cd->script_checks &&
	    !(c->origin == ORIGIN_FILE && cd->local_script_checks)) {
		snprintf(err, errlen, "Scripts are disabled on this agent; to "
		    "enable, configure 'enable_script_checks' or "
		    "'enable_local_script_checks' to true");
		return -1;
	}
	return 0;
}

/* Status and output survive a re-registration of the same check (of the
 * same kind: a ttl check turned http starts over). */
struct chk *
state_add_chk(struct checkd *cd, json_t *def, enum checkd_origin origin,
    char *err, size_t errlen)
{
	const char *id = state_jstr(def, "CheckID");
	struct chk *c = state_chk(cd, id), *n;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		json_decref(def);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->def = def;
	n->origin = origin;
	n->id = strdup(id);
	n->name = strdup(state_jstr(def, "Name"));
	n->notes = strdup(state_jstr(def, "Notes"));
	n->service_id = json_object_get(def, "ServiceID") != NULL ?
	    strdup(state_jstr(def, "ServiceID")) : NULL;
	snprintf(n->status, sizeof(n->status), "%s", state_jstr(def,
	    "Status"));
	n->output = strdup("");
	if (state_fill(cd, n, err, errlen) != 0) {
		json_decref(n->def);
		free(n->id);
		free(n->name);
		free(n->notes);
		free(n->service_id);
		free(n->output);
		free(n);
		return NULL;
	}
	if (c != NULL) {
		bool same = json_equal(c->def, def);

		/* Consul restores status and output from its snapshot of the
		 * checks when a service or check is registered again. */
		if (same || c->kind == n->kind) {
			snprintf(n->status, sizeof(n->status), "%s", c->status);
			free(n->output);
			n->output = strdup(c->output);
			n->nsuccess = c->nsuccess;
			n->nfail = c->nfail;
			n->ttl_deadline_ms = c->ttl_deadline_ms;
			n->critical_since_ms = c->critical_since_ms;
			n->next_ms = c->next_ms;
		}
		state_del_chk(cd, id);
	}
	state_dirty(cd, n->service_id);
	if (n->kind == NULL)
		snprintf(n->status, sizeof(n->status), "critical");
	if (n->kind == NULL && *n->output == '\0') {
		char buf[128];

		free(n->output);
		snprintf(buf, sizeof(buf), "tribune does not run %s checks",
		    state_jstr(def, "Type"));
		n->output = strdup(buf);
	}
	if (n->ttl_deadline_ms == 0 && n->ttl_ms > 0)
		n->ttl_deadline_ms = loop_now_ms() + (uint64_t)n->ttl_ms;
	if (strcmp(n->status, "critical") == 0 && n->critical_since_ms == 0)
		n->critical_since_ms = loop_now_ms();
	if (n->next_ms == 0) {
		/* Spread first runs over the interval, as Consul staggers. */
		uint64_t iv = n->interval_ms > 0 ? (uint64_t)n->interval_ms : 1;

		n->next_ms = loop_now_ms() + (uint64_t)random() % iv;
	}
	n->next = cd->chks;
	cd->chks = n;
	cd->nchks++;
	cd->seq++;
	sync_changed(cd, n, n->status);
	return n;
}

static void
state_free_chk(struct checkd *cd, struct chk *c)
{
	sched_cancel(cd, c);
	json_decref(c->def);
	free(c->id);
	free(c->name);
	free(c->notes);
	free(c->service_id);
	free(c->output);
	free(c);
}

void
state_del_chk(struct checkd *cd, const char *id)
{
	for (struct chk **p = &cd->chks; *p != NULL; p = &(*p)->next) {
		struct chk *c = *p;

		if (strcmp(c->id, id) != 0)
			continue;
		*p = c->next;
		cd->nchks--;
		state_dirty(cd, c->service_id);
		cd->seq++;
		sync_changed(cd, c, "");
		state_free_chk(cd, c);
		return;
	}
}

/* Removes the service and every check that belongs to it. */
void
state_del_svc(struct checkd *cd, const char *id)
{
	struct chk *c, *next;

	for (c = cd->chks; c != NULL; c = next) {
		next = c->next;
		if (c->service_id != NULL && strcmp(c->service_id, id) == 0)
			state_del_chk(cd, c->id);
	}
	for (struct svc **p = &cd->svcs; *p != NULL; p = &(*p)->next) {
		struct svc *s = *p;

		if (strcmp(s->id, id) != 0)
			continue;
		*p = s->next;
		cd->nsvcs--;
		cd->dirty = true;
		json_decref(s->def);
		free(s->id);
		free(s);
		return;
	}
}

char *
state_cap(const char *s, size_t len, size_t max, bool tail)
{
	char  *out;
	size_t n;
	int    pre;

	if (len <= max)
		return strndup(s, len);
	if (!tail)
		return strndup(s, max);
	/* Consul's circular buffer keeps the end and says what it dropped. */
	pre = snprintf(NULL, 0, "Captured %zu of %zu bytes\n...\n", max, len);
	n = (size_t)pre + max + 1;
	if ((out = malloc(n)) == NULL)
		return NULL;
	snprintf(out, n, "Captured %zu of %zu bytes\n...\n", max, len);
	memcpy(out + pre, s + len - max, max);
	out[pre + max] = '\0';
	return out;
}

void
state_dirty(struct checkd *cd, const char *service_id)
{
	struct svc *s;

	cd->dirty = true;
	if (service_id == NULL)
		cd->node_dirty = true;
	else if ((s = state_svc(cd, service_id)) != NULL)
		s->dirty = true;
}

/*
 * A status change is synced at once; an output-only change waits for the
 * next full pass (Consul's check_update_interval does the same for the
 * catalog's sake: outputs that carry a timestamp would otherwise rewrite
 * a row every interval).
 */
void
state_set(struct checkd *cd, struct chk *c, const char *status,
    const char *output)
{
	bool changed = false;

	if (output != NULL && strcmp(output, c->output) != 0) {
		char *o = strdup(output);

		if (o != NULL) {
			free(c->output);
			c->output = o;
			changed = true;
		}
	}
	if (status != NULL && strcmp(status, c->status) != 0) {
		log_info("check %s: %s -> %s", c->id, c->status, status);
		snprintf(c->status, sizeof(c->status), "%s", status);
		c->critical_since_ms = strcmp(status, "critical") == 0 ?
		    loop_now_ms() : 0;
		cd->seq++;
		state_dirty(cd, c->service_id);
		sync_changed(cd, c, c->status);
	}
	if (changed && c->ttl_ms > 0)
		cd->persist_dirty = true;
}

json_t *
state_agent_service(struct checkd *cd, const struct svc *s)
{
	const json_t *d = s->def;
	json_t       *o = json_object(), *v;

	/* Consul's AgentService field order; Kind (omitempty) comes first. */
	if ((v = json_object_get(d, "Kind")) != NULL && *json_string_value(v))
		json_object_set(o, "Kind", v);
	json_object_set(o, "ID", json_object_get(d, "ID"));
	json_object_set(o, "Service", json_object_get(d, "Name"));
	json_object_set(o, "Tags", json_object_get(d, "Tags"));
	json_object_set(o, "Meta", json_object_get(d, "Meta"));
	json_object_set(o, "Port", json_object_get(d, "Port"));
	json_object_set(o, "Address", json_object_get(d, "Address"));
	if ((v = json_object_get(d, "SocketPath")) != NULL)
		json_object_set(o, "SocketPath", v);
	if ((v = json_object_get(d, "TaggedAddresses")) != NULL)
		json_object_set(o, "TaggedAddresses", v);
	json_object_set(o, "Weights", json_object_get(d, "Weights"));
	json_object_set(o, "EnableTagOverride", json_object_get(d,
	    "EnableTagOverride"));
	json_object_set_new(o, "Datacenter", json_string(cd->dc));
	return o;
}

json_t *
state_health_check(struct checkd *cd, const struct chk *c)
{
	json_t     *o = json_object();
	struct svc *s = c->service_id != NULL ? state_svc(cd, c->service_id) :
	    NULL;
	const char *type = state_jstr(c->def, "Type");
	char        dur[32];

	json_object_set_new(o, "Node", json_string(cd->node));
	json_object_set_new(o, "CheckID", json_string(c->id));
	json_object_set_new(o, "Name", json_string(c->name));
	json_object_set_new(o, "Status", json_string(c->status));
	json_object_set_new(o, "Notes", json_string(c->notes));
	json_object_set_new(o, "Output", json_string(c->output));
	json_object_set_new(o, "ServiceID", json_string(c->service_id != NULL ?
	    c->service_id : ""));
	json_object_set_new(o, "ServiceName", json_string(s != NULL ?
	    state_jstr(s->def, "Name") : ""));
	json_object_set(o, "ServiceTags", s != NULL ?
	    json_object_get(s->def, "Tags") : json_array());
	if (s == NULL)
		json_decref(json_object_get(o, "ServiceTags"));
	json_object_set_new(o, "Type", json_string(strcmp(type, "maintenance")
	    == 0 ? "maintenance" : type));
	/* Consul prints the parsed durations: "1m" comes back "1m0s". */
	if (c->interval_ms > 0)
		defs_go_duration(c->interval_ms, dur, sizeof(dur));
	else
		dur[0] = '\0';
	json_object_set_new(o, "Interval", json_string(dur));
	if (json_object_get(c->def, "Timeout") != NULL &&
	    defs_duration_ms(json_object_get(c->def, "Timeout")) > 0)
		defs_go_duration(c->timeout_ms, dur, sizeof(dur));
	else
		dur[0] = '\0';
	json_object_set_new(o, "Timeout", json_string(dur));
	json_object_set_new(o, "ExposedPort", json_integer(0));
	json_object_set_new(o, "Definition", json_object());
	json_object_set_new(o, "CreateIndex", json_integer(0));
	json_object_set_new(o, "ModifyIndex", json_integer(0));
	return o;
}

static int
state_rank(const char *status)
{
	if (strcmp(status, "critical") == 0)
		return 2;
	if (strcmp(status, "warning") == 0)
		return 1;
	return 0;
}

const char *
state_aggregate(struct checkd *cd, const char *service_id, bool node,
    const char *skip, bool *maint)
{
	int worst = 0;

	*maint = false;
	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		if (c->service_id == NULL ? !node :
		    strcmp(c->service_id, service_id) != 0)
			continue;
		if (skip != NULL && strcmp(c->id, skip) == 0)
			continue;
		if (strcmp(c->id, CHECKD_NODE_MAINT) == 0 ||
		    strncmp(c->id, CHECKD_SERVICE_MAINT,
		        strlen(CHECKD_SERVICE_MAINT)) == 0) {
			*maint = true;
			continue;
		}
		if (state_rank(c->status) > worst)
			worst = state_rank(c->status);
	}
	return worst == 2 ? "critical" : worst == 1 ? "warning" : "passing";
}

void
state_free(struct checkd *cd)
{
	while (cd->chks != NULL) {
		struct chk *c = cd->chks;

		cd->chks = c->next;
		state_free_chk(cd, c);
	}
	while (cd->svcs != NULL) {
		struct svc *s = cd->svcs;

		cd->svcs = s->next;
		json_decref(s->def);
		free(s->id);
		free(s);
	}
	cd->nchks = cd->nsvcs = 0;
}

/*
 * The config's definitions replace every FILE one: a file service that is
 * gone goes with its checks; API registrations are left alone, unless the
 * file now defines the same id (the file wins, as in Consul).
 */
void
state_load_config(struct checkd *cd, const json_t *root)
{
	json_t     *svcs = json_array(), *chks = json_array(), *x, *ids;
	size_t      i, j;
	char        err[512];
	struct svc *s, *snext;
	struct chk *c, *cnext;

	defs_from_config(root, svcs, chks);
	ids = json_object();
	json_array_foreach(svcs, i, x) {
		json_t *inl = json_incref(json_object_get(x, "Checks")), *y;

		json_object_set_new(ids, state_jstr(x, "ID"), json_true());
		state_add_svc(cd, json_deep_copy(x), ORIGIN_FILE);
		json_array_foreach(inl, j, y) {
			json_object_set_new(ids, state_jstr(y, "CheckID"),
			    json_true());
			if (state_add_chk(cd, json_deep_copy(y), ORIGIN_FILE,
			        err, sizeof(err)) == NULL)
				log_warnx("check %s: %s", state_jstr(y,
				    "CheckID"), err);
		}
		json_decref(inl);
	}
	json_array_foreach(chks, i, x) {
		json_object_set_new(ids, state_jstr(x, "CheckID"), json_true());
		if (state_add_chk(cd, json_deep_copy(x), ORIGIN_FILE, err,
		        sizeof(err)) == NULL)
			log_warnx("check %s: %s", state_jstr(x, "CheckID"),
			    err);
	}
	for (s = cd->svcs; s != NULL; s = snext) {
		snext = s->next;
		if (s->origin == ORIGIN_FILE &&
		    json_object_get(ids, s->id) == NULL) {
			log_info("service %s: removed from the config", s->id);
			state_del_svc(cd, s->id);
		}
	}
	for (c = cd->chks; c != NULL; c = cnext) {
		cnext = c->next;
		if (c->origin == ORIGIN_FILE &&
		    json_object_get(ids, c->id) == NULL) {
			log_info("check %s: removed from the config", c->id);
			state_del_chk(cd, c->id);
		}
	}
	json_decref(ids);
	json_decref(svcs);
	json_decref(chks);
}
