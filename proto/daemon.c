#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static void
daemon_usage(const char *name)
{
	fprintf(stderr, "usage: tribune-%s -run-dir DIR\n"
	    "  (started by `tribune agent`, not by hand)\n", name);
	exit(2);
}

int
daemon_reply_result(struct bus_req *req, bool ok, const char *error,
    const char *json)
{
	struct proto_ctl_result r = { .ok = ok,
		.error = (char *)(uintptr_t)error,
		.json = (char *)(uintptr_t)json };

	return bus_reply(req, PROTO_CTL_RESULT, &r);
}

static int
daemon_apply_config(struct daemon *d, const char *json, uint64_t gen)
{
	struct config cfg, old;
	char          err[256];
	int           level;

	if (config_from_string(json, &cfg, err, sizeof(err)) != 0) {
		log_warnx("config refused: %s", err);
		return -1;
	}
	old = d->cfg;
	d->cfg = cfg;
	d->generation = gen;
	if (cfg.log_level != NULL &&
	    (level = log_level_parse(cfg.log_level)) >= 0)
		log_setlevel(level);
	if (old.root != NULL) {
		log_info("reloading configuration: generation=%llu",
		    (unsigned long long)gen);
		if (d->ops->reload != NULL)
			d->ops->reload(d, &old);
		config_free(&old);
	}
	return 0;
}

static void
daemon_on_ctl_event(struct bus *b, const struct proto_env *ev, void *arg)
{
	struct daemon         *d = arg;
	struct proto_ctl_config c;

	(void)b;
	if (ev->type != PROTO_CTL_CONFIG || proto_unpack_ctl_config(ev, &c) != 0)
		return;
	/* Published configs repeat; only a newer generation is a reload. */
	if (c.generation > d->generation && c.json != NULL)
		daemon_apply_config(d, c.json, c.generation);
	proto_free_ctl_config(&c);
}

static void
daemon_pong(struct daemon *d, struct bus_req *req, const struct proto_env *env)
{
	struct proto_ctl_ping ping;
	struct proto_ctl_pong pong;
	struct bus_stats      st;
	json_t               *status = json_object();
	char                 *s;

	if (proto_unpack_ctl_ping(env, &ping) != 0) {
		bus_req_drop(req);
		json_decref(status);
		return;
	}
	bus_get_stats(d->bus, &st);
	json_object_set_new(status, "bus_calls", json_integer((json_int_t)st.calls));
	json_object_set_new(status, "bus_requests",
	    json_integer((json_int_t)st.requests));
	json_object_set_new(status, "bus_published",
	    json_integer((json_int_t)st.published));
	if (d->ops->status != NULL)
		d->ops->status(d, status);
	s = json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS);
	pong.nonce = ping.nonce;
	pong.name = d->name;
	pong.pid = (uint64_t)getpid();
	pong.uptime_ms = loop_now_ms() - d->start_ms;
	pong.config_generation = d->generation;
	pong.status = s;
	bus_reply(req, PROTO_CTL_PONG, &pong);
	free(s);
	json_decref(status);
}

static void
daemon_on_request(struct bus *b, struct bus_req *req,
    const struct proto_env *env, void *arg)
{
	struct daemon            *d = arg;
	struct proto_ctl_shutdown sd;

	(void)b;
	switch (env->type) {
	case PROTO_CTL_PING:
		daemon_pong(d, req, env);
		return;
	case PROTO_CTL_SHUTDOWN:
		if (proto_unpack_ctl_shutdown(env, &sd) == 0) {
			log_info("shutting down: %s", sd.reason ? sd.reason : "requested");
			proto_free_ctl_shutdown(&sd);
		}
		daemon_reply_result(req, true, NULL, NULL);
		daemon_stop(d);
		return;
	default:
		break;
	}
	if (d->ops->dispatch != NULL && d->ops->dispatch(d, req, env) == 0)
		return;
	log_warnx("unexpected message %s (id %llu)", proto_name(env->type),
	    (unsigned long long)env->id);
	bus_req_drop(req);
}

static void
daemon_on_signal(int sig, void *arg)
{
	log_info("caught signal %s", sig == SIGTERM ? "terminated" : "interrupt");
	daemon_stop(arg);
}

static void
daemon_on_tick(void *arg)
{
	struct daemon *d = arg;

	if (d->ops->tick != NULL && !d->stopping)
		d->ops->tick(d);
}

void
daemon_stop(struct daemon *d)
{
	d->stopping = 1;
	if (d->loop != NULL)
		loop_stop(d->loop);
}

int
daemon_setup(struct daemon *d, const struct daemon_ops *ops,
    struct loop *loop, int argc, char **argv)
{
	struct proto_ctl_hello  hello;
	struct proto_ctl_config cfg;
	struct proto_buf        buf = { 0 };
	struct proto_env        env;
	const char             *rundir = NULL;
	int                     level = LOG_INFO, rv;

	/*
	 * One malloc arena for every thread.  glibc gives each thread that
	 * allocates its own (nng's dozen threads do), each a mapping with
	 * touched pages of its own; our daemons do their work on one thread,
	 * so the arenas buy no concurrency.  Before bus_open() starts nng.
	 */
	mallopt(M_ARENA_MAX, 1);
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->loop = loop;
	snprintf(d->name, sizeof(d->name), "%s", ops->name);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-run-dir") == 0 && i + 1 < argc)
			rundir = argv[++i];
		else if (strcmp(argv[i], "-log-level") == 0 && i + 1 < argc)
			level = log_level_parse(argv[++i]);
		else
			daemon_usage(ops->name);
	}
	if (rundir == NULL)
		daemon_usage(ops->name);
	snprintf(d->rundir, sizeof(d->rundir), "%s", rundir);
	char tag[48];
	snprintf(tag, sizeof(tag), "agent.%s", ops->name);
	log_init(tag, level < 0 ? LOG_INFO : level);
	signal(SIGPIPE, SIG_IGN);
	d->start_ms = loop_now_ms();
	if ((d->bus = bus_open(rundir, d->name)) == NULL)
		fatalx("cannot open the bus in %s", rundir);

	hello.name = d->name;
	hello.pid = (uint64_t)getpid();
	/* The supervisor may still be binding: keep asking for a while. */
	for (int tries = 0;; tries++) {
		rv = bus_call(d->bus, "supervisor", PROTO_CTL_HELLO, &hello, 1000,
		    &buf, &env);
		if (rv == 0)
			break;
		if (tries == 30)
			fatalx("no answer from the supervisor in %s", rundir);
	}
	if ((rv = proto_unpack_ctl_config(&env, &cfg)) != 0)
		fatalx("bad ctl.config from the supervisor: %s",
		    proto_strerror(rv));
	proto_buf_free(&buf);
	if (cfg.json == NULL ||
	    daemon_apply_config(d, cfg.json, cfg.generation) != 0)
		fatalx("unusable config from the supervisor");
	proto_free_ctl_config(&cfg);

	if (ops->init != NULL && ops->init(d) != 0)
		return -1;
	if ((rv = bus_serve(d->bus, daemon_on_request, d)) != 0) {
		log_warnx("cannot bind the bus: %d", rv);
		return -1;
	}
	bus_subscribe(d->bus, "supervisor", "ctl.config", daemon_on_ctl_event, d);
	return 0;
}

void
daemon_ready(struct daemon *d)
{
	struct proto_ctl_ready r = { .name = d->name, .pid = (uint64_t)getpid() };
	struct proto_buf       buf = { 0 };
	struct proto_env       env;

	if (bus_call(d->bus, "supervisor", PROTO_CTL_READY, &r, 5000, &buf,
	        &env) != 0)
		log_warnx("the supervisor did not take ctl.ready");
	proto_buf_free(&buf);
	/* Start-up (config parsing, first bus calls) leaves free heap pages
	 * resident; give them back once. */
	malloc_trim(0);
}

int
daemon_main(const struct daemon_ops *ops, int argc, char **argv)
{
	struct daemon d;

	struct loop  *loop;

	if ((loop = loop_new()) == NULL)
		return 1;
	if (daemon_setup(&d, ops, loop, argc, argv) != 0) {
		/* ops->init refused (a port taken...): the exit is clean */
		bus_close(d.bus);
		config_free(&d.cfg);
		loop_free(loop);
		return 1;
	}
	bus_attach(d.bus, d.loop);
	loop_on_signal(d.loop, SIGTERM, daemon_on_signal, &d);
	loop_on_signal(d.loop, SIGINT, daemon_on_signal, &d);
	loop_add_timer(d.loop, 1000, 1, daemon_on_tick, &d);
	daemon_ready(&d);
	log_debug("running: pid=%d", (int)getpid());
	if (!d.stopping)
		loop_run(d.loop);
	if (ops->stop != NULL)
		ops->stop(&d);
	bus_close(d.bus);
	config_free(&d.cfg);
	loop_free(d.loop);
	return 0;
}
