/*
 * checkd's daemon frame: config in, definitions loaded (files, then the
 * API registrations kept in local/), the 10 ms scheduler timer, check.call
 * requests from httpd, anti-entropy and persistence on the 1 s tick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"




static struct checkd checkd;

/* Counts "service"/"services" and "check"/"checks" (also inline in services). */
void
checkd_count_definitions(const json_t *root, size_t *nservices, size_t *nchecks)
{
	json_t *v;
	size_t  i;
	json_t *svc;

	*nservices = *nchecks = 0;
	if ((v = config_jget(root, "service")) != NULL && json_is_object(v))
		(*nservices)++;
	if ((v = config_jget(root, "services")) != NULL && json_is_array(v)) {
		*nservices += json_array_size(v);
		json_array_foreach(v, i, svc) {
			json_t *c = config_jget(svc, "checks");
			*nchecks += json_is_array(c) ? json_array_size(c) : 0;
			*nchecks += config_jget(svc, "check") != NULL;
		}
	}
	if ((v = config_jget(root, "check")) != NULL && json_is_object(v))
		(*nchecks)++;
	if ((v = config_jget(root, "checks")) != NULL && json_is_array(v))
		*nchecks += json_array_size(v);
}

void
checkd_setup(struct checkd *cd, const struct config *cfg)
{
	json_t     *v;
	const char *addr;

	snprintf(cd->node, sizeof(cd->node), "%s", cfg->node_name != NULL ?
	    cfg->node_name : "");
	snprintf(cd->node_id, sizeof(cd->node_id), "%s", cfg->node_id != NULL ?
	    cfg->node_id : "");
	snprintf(cd->dc, sizeof(cd->dc), "%s", cfg->datacenter != NULL ?
	    cfg->datacenter : "dc1");
	addr = cfg->advertise_addr != NULL && *cfg->advertise_addr != '\0' ?
	    cfg->advertise_addr : cfg->bind_addr;
	if (addr == NULL || *addr == '\0' || strcmp(addr, "0.0.0.0") == 0)
		addr = "127.0.0.1";
	snprintf(cd->addr, sizeof(cd->addr), "%s", addr);
	cd->output_max = CHECKD_OUTPUT_MAX;
	if ((v = config_jget(cfg->root, "check_output_max_size")) != NULL &&
	    json_is_integer(v) && json_integer_value(v) > 0)
		cd->output_max = (size_t)json_integer_value(v);
	cd->script_checks = cfg->enable_script_checks;
	cd->local_script_checks = cfg->enable_local_script_checks;
	if (cd->local_dir == NULL && cfg->data_dir != NULL &&
	    *cfg->data_dir != '\0' &&
	    asprintf(&cd->local_dir, "%s/local", cfg->data_dir) < 0)
		cd->local_dir = NULL;
	if (cd->synced == NULL)
		cd->synced = json_object();
}

static void
checkd_on_timer(void *arg)
{
	struct checkd *cd = arg;
	uint64_t       now = loop_now_ms();

	/* A gap far above CHECKD_TICK_MS means something blocked the loop. */
	if (cd->last_tick_ms != 0 && now - cd->last_tick_ms > cd->max_tick_gap_ms)
		cd->max_tick_gap_ms = now - cd->last_tick_ms;
	cd->last_tick_ms = now;
	kind_http_tick(cd, now);
	kind_script_tick(cd);
	sched_tick(cd, now);
}

static int
checkd_init(struct daemon *d)
{
	struct checkd *cd = &checkd;

	cd->d = d;
	cd->loop = d->loop;
	d->priv = cd;
	srandom((unsigned)loop_now_us());
	checkd_setup(cd, &d->cfg);
	if (kind_http_init(cd) != 0)
		log_warnx("libcurl: cannot start; http checks will fail");
	state_load_config(cd, d->cfg.root);
	if (local_load(cd) != 0)
		log_warnx("local state unreadable; starting without it");
	cd->timer = loop_add_timer(d->loop, CHECKD_TICK_MS, 1, checkd_on_timer,
	    cd);
	cd->dirty = cd->full_sync = true;
	log_info("started: %zu services and %zu checks", cd->nsvcs, cd->nchks);
	return 0;
}

static int
checkd_dispatch(struct daemon *d, struct bus_req *req,
    const struct proto_env *env)
{
	struct checkd          *cd = d->priv;
	struct proto_check_call call;
	struct proto_check_reply rep = { 0 };
	json_t                 *query = NULL;
	unsigned                status;
	const char             *ctype;

	if (env->type != PROTO_CHECK_CALL)
		return -1;
	if (proto_unpack_check_call(env, &call) != 0) {
		rep.status = 400;
		rep.body = (char *)(uintptr_t)"bad check.call";
		bus_reply(req, PROTO_CHECK_REPLY, &rep);
		return 0;
	}
	if (bus_req_once(req)) {
		proto_free_check_call(&call);
		return 0;
	}
	if (call.query != NULL)
		query = json_loads(call.query, 0, NULL);
	api_call(cd, call.op != NULL ? call.op : "", call.arg, query, call.body,
	    &status, &rep.body, &ctype);
	rep.status = status;
	rep.ctype = (char *)(uintptr_t)ctype;
	bus_reply(req, PROTO_CHECK_REPLY, &rep);
	free(rep.body);
	json_decref(query);
	proto_free_check_call(&call);
	return 0;
}

static void
checkd_reload(struct daemon *d, const struct config *old)
{
	struct checkd *cd = d->priv;

	(void)old;
	checkd_setup(cd, &d->cfg);
	state_load_config(cd, d->cfg.root);
	cd->dirty = cd->full_sync = true;
	log_info("reloaded: %zu services and %zu checks", cd->nsvcs,
	    cd->nchks);
}

static void
checkd_tick(struct daemon *d)
{
	struct checkd *cd = d->priv;

	if (cd->persist_dirty)
		local_save(cd);
	sync_tick(cd, loop_now_ms());
}

static void
checkd_status(struct daemon *d, json_t *out)
{
	struct checkd *cd = d->priv;

	json_object_set_new(out, "services", json_integer((json_int_t)cd->nsvcs));
	json_object_set_new(out, "checks", json_integer((json_int_t)cd->nchks));
	json_object_set_new(out, "runs", json_integer((json_int_t)cd->runs));
	json_object_set_new(out, "late_runs", json_integer(
	    (json_int_t)cd->late_runs));
	json_object_set_new(out, "max_lag_ms", json_integer(
	    (json_int_t)cd->max_lag_ms));
	json_object_set_new(out, "max_tick_gap_ms", json_integer(
	    (json_int_t)cd->max_tick_gap_ms));
	json_object_set_new(out, "sync_ok", json_integer(
	    (json_int_t)cd->sync_ok));
	json_object_set_new(out, "sync_errors", json_integer(
	    (json_int_t)cd->sync_errors));
}

static void
checkd_stop(struct daemon *d)
{
	struct checkd *cd = d->priv;

	if (cd == NULL)
		return;
	if (cd->timer > 0)
		loop_del_timer(d->loop, cd->timer);
	local_save(cd);
	cd->d = NULL;        /* no events while tearing down */
	state_free(cd);
	kind_http_fini(cd);
}

const struct daemon_ops checkd_ops = {
	.name = "checkd",
	.init = checkd_init,
	.dispatch = checkd_dispatch,
	.reload = checkd_reload,
	.status = checkd_status,
	.tick = checkd_tick,
	.stop = checkd_stop,
};
