/*
 * The scheduler: one 10 ms timer walks the checks, starts the due ones,
 * times out runs in flight, expires TTLs, mirrors aliases and reaps
 * services whose check stayed critical past DeregisterCriticalServiceAfter.
 * A run's result goes through Consul's thresholds (SuccessBeforePassing,
 * FailuresBeforeWarning, FailuresBeforeCritical) before it changes status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"

const struct chk_kind *
sched_kind(const char *type)
{
	static const struct chk_kind ttl = { "ttl", false, NULL, NULL, NULL };
	static const struct chk_kind alias = { "alias", false, NULL, NULL,
		NULL };
	static const struct chk_kind maint = { "maintenance", false, NULL,
		NULL, NULL };

	if (strcmp(type, "http") == 0)
		return &kind_http;
	if (strcmp(type, "tcp") == 0)
		return &kind_tcp;
	if (strcmp(type, "grpc") == 0)
		return &kind_grpc;
	if (strcmp(type, "udp") == 0)
		return &kind_udp;
	if (strcmp(type, "script") == 0)
		return &kind_script;
	if (strcmp(type, "ttl") == 0)
		return &ttl;
	if (strcmp(type, "alias") == 0)
		return &alias;
	if (strcmp(type, "maintenance") == 0)
		return &maint;
	return NULL;
}

/*
 * Consul's StatusHandler: a passing (or warning) result counts towards
 * SuccessBeforePassing, a failing one towards the failure thresholds; until
 * a threshold is reached the status stays and only the output changes.
 */
const char *
sched_threshold(struct chk *c, const char *status)
{
	if (strcmp(status, "passing") == 0) {
		c->nsuccess++;
		c->nfail = 0;
		if (c->nsuccess >= c->success_before_passing)
			return status;
		return NULL;
	}
	c->nfail++;
	c->nsuccess = 0;
	if (strcmp(status, "warning") == 0) {
		if (c->nfail >= c->failures_before_warning)
			return status;
		return NULL;
	}
	if (c->nfail >= c->failures_before_critical)
		return status;
	/* Not yet critical, but past the warning threshold? */
	if (c->failures_before_warning > 0 &&
	    c->nfail >= c->failures_before_warning)
		return "warning";
	return NULL;
}

void
sched_result(struct checkd *cd, struct chk *c, const char *status,
    const char *output)
{
	const char *st;

	c->running = false;
	c->kpriv = NULL;
	c->kpriv_curl = false;
	st = sched_threshold(c, status);
	state_set(cd, c, st, output);
}

void
sched_cancel(struct checkd *cd, struct chk *c)
{
	if (c->running && c->kind != NULL && c->kind->cancel != NULL)
		c->kind->cancel(cd, c);
	c->running = false;
	c->kpriv = NULL;
}

int
sched_ttl_update(struct checkd *cd, struct chk *c, const char *status,
    const char *output)
{
	if (c->ttl_ms <= 0)
		return -1;
	c->ttl_deadline_ms = loop_now_ms() + (uint64_t)c->ttl_ms;
	state_set(cd, c, status, output != NULL ? output : "");
	cd->persist_dirty = true;
	return 0;
}

static void
sched_alias(struct checkd *cd, struct chk *c)
{
	const char *target = json_string_value(json_object_get(c->def,
	    "AliasService"));
	const char *st;
	bool        maint;
	char        out[300];

	if (target == NULL) {
		/* alias_node alone: this node's checks. */
		st = state_aggregate(cd, "", true, c->id, &maint);
		state_set(cd, c, maint ? "critical" : st, "");
		return;
	}
	if (state_svc(cd, target) == NULL) {
		snprintf(out, sizeof(out), "Service %s could not be found on "
		    "node %s", target, cd->node);
		state_set(cd, c, "critical", out);
		return;
	}
	st = state_aggregate(cd, target, true, c->id, &maint);
	if (maint)
		st = "critical";
	state_set(cd, c, st, strcmp(st, "passing") == 0 ?
	    "All checks passing." : strcmp(st, "warning") == 0 ?
	    "At least one check is warning." : "At least one check is critical.");
}

/* Services whose check stays critical too long are deregistered. */
static void
sched_reap(struct checkd *cd, uint64_t now)
{
	struct chk *c;

again:
	for (c = cd->chks; c != NULL; c = c->next) {
		if (c->dereg_ms <= 0 || c->service_id == NULL ||
		    c->critical_since_ms == 0 ||
		    now - c->critical_since_ms < (uint64_t)c->dereg_ms)
			continue;
		log_info("service %s: check %s critical for too long, "
		    "deregistering", c->service_id, c->id);
		{
			char *sid = strdup(c->service_id);

			state_del_svc(cd, sid);
			free(sid);
		}
		cd->persist_dirty = true;
		goto again;
	}
}

void
sched_tick(struct checkd *cd, uint64_t now)
{
	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		if (c->kind == NULL)
			continue;
		if (c->ttl_ms > 0) {
			if (now >= c->ttl_deadline_ms &&
			    strcmp(c->status, "critical") != 0) {
				char out[128];

				snprintf(out, sizeof(out), "TTL expired");
				state_set(cd, c, "critical", out);
			}
			continue;
		}
		if (c->kind->start == NULL) {
			if (strcmp(c->kind->type, "alias") == 0 &&
			    now >= c->next_ms) {
				sched_alias(cd, c);
				c->next_ms = now + 100;
			}
			continue;
		}
		if (c->running) {
			if (now >= c->run_deadline_ms) {
				char out[128];

				const char *st = "critical";

				if (c->kind == &kind_script)
					snprintf(out, sizeof(out), "Timed out "
					    "(%llds) running check",
					    (long long)c->timeout_ms / 1000);
				else if (c->kind->timeout_text == NULL) {
					snprintf(out, sizeof(out), "%s connect "
					    "%s: Success", "UDP",
					    json_string_value(json_object_get(
					    c->def, "UDP")));
					st = "passing";
				} else
					snprintf(out, sizeof(out), "%s",
					    c->kind->timeout_text);
				sched_cancel(cd, c);
				sched_result(cd, c, st, out);
			}
			continue;
		}
		if (now < c->next_ms)
			continue;
		cd->runs++;
		if (now - c->next_ms > cd->max_lag_ms)
			cd->max_lag_ms = now - c->next_ms;
		if (now - c->next_ms > 100)
			cd->late_runs++;
		/* The next run keeps to the grid, not to when this one ends. */
		c->next_ms += (uint64_t)c->interval_ms;
		if (c->next_ms <= now)
			c->next_ms = now + (uint64_t)c->interval_ms;
		c->run_deadline_ms = now + (uint64_t)c->timeout_ms + 50;
		c->running = true;
		if (c->kind->start(cd, c) != 0 && c->running) {
			c->running = false;
			sched_result(cd, c, "critical",
			    c->output != NULL && *c->output ? c->output :
			    "check could not start");
		}
	}
	if (now - cd->last_reap_ms >= 1000) {
		cd->last_reap_ms = now;
		sched_reap(cd, now);
	}
}
