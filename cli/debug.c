/*
 * `tribune debug status|restart|tap` talk to the supervisor's control socket
 * directly (not through httpd, which may be the process being restarted).
 * The run dir is found from -data-dir, $TRIBUNE_DATA_DIR, or the registry
 * file the agent writes for its HTTP address (-http-addr as for every
 * command).  `tribune reload` goes through the HTTP API like Consul's.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "cli.h"
#include "log.h"

/* The registry file the agent wrote for host:port, in one of dirs. */
static FILE *
debug_registry(const char *host, const char *port)
{
	const char *dirs[] = { getenv("TRIBUNE_AGENTS_DIR"), "/run/tribune",
		"/tmp/tribune-agents" };
	char        path[700];
	FILE       *f;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (dirs[i] == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s_%s", dirs[i], host, port);
		if ((f = fopen(path, "r")) != NULL)
			return f;
		snprintf(path, sizeof(path), "%s/0.0.0.0_%s", dirs[i], port);
		if ((f = fopen(path, "r")) != NULL)
			return f;
	}
	return NULL;
}

static int
debug_rundir(const struct cli_http *h, const char *data_dir, char *out,
    size_t outlen)
{
	const char *env = getenv("TRIBUNE_DATA_DIR");
	char        host[256], line[600];
	const char *a = h->addr;
	char       *colon;
	FILE       *f;

	if (data_dir == NULL)
		data_dir = env;
	if (data_dir != NULL) {
		snprintf(out, outlen, "%s/run", data_dir);
		return access(out, R_OK | X_OK);
	}
	if (strncmp(a, "http://", 7) == 0)
		a += 7;
	snprintf(host, sizeof(host), "%s", a);
	if ((colon = strrchr(host, ':')) != NULL)
		*colon = '\0';
	if ((f = debug_registry(host, colon ? colon + 1 : "8500")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	snprintf(out, outlen, "%s", line);
	return 0;
}

static void
debug_usage(void)
{
	fprintf(stderr,
	    "Usage: tribune debug <subcommand> [options]\n\n"
	    "  status               each process: pid, state, uptime, restarts, last exit\n"
	    "  restart NAME         restart one of gossipd, raftd, dnsd, httpd, checkd\n"
	    "  tap [-type PREFIX] [-json]\n"
	    "                       print every message crossing the agent's bus, live\n\n"
	    "Options: -http-addr ADDR (which agent), -data-dir DIR (its data dir)\n");
}

static void
fmt_dur(char *out, size_t outlen, json_int_t ms)
{
	if (ms < 60000)
		snprintf(out, outlen, "%.1fs", (double)ms / 1000);
	else if (ms < 3600000)
		snprintf(out, outlen, "%lldm%llds", (long long)ms / 60000,
		    (long long)(ms % 60000) / 1000);
	else
		snprintf(out, outlen, "%lldh%lldm", (long long)ms / 3600000,
		    (long long)(ms % 3600000) / 60000);
}

static int
debug_call(const char *rundir, int type, const void *msg,
    struct proto_ctl_result *res)
{
	struct bus      *b;
	struct proto_buf buf = { 0 };
	struct proto_env env;
	int              rv;

	if ((b = bus_open(rundir, "cli")) == NULL)
		return -1;
	rv = bus_call(b, "supervisor", type, msg, 5000, &buf, &env);
	if (rv == 0)
		rv = proto_unpack_ctl_result(&env, res);
	proto_buf_free(&buf);
	bus_close(b);
	return rv;
}

static int
debug_status(const char *rundir, int as_json)
{
	struct proto_ctl_status st = { .ping = true };
	struct proto_ctl_result res;
	json_t                 *doc, *kids, *k;
	size_t                  i;
	char                    up[32];

	if (debug_call(rundir, PROTO_CTL_STATUS, &st, &res) != 0) {
		fprintf(stderr, "Error: no answer from the agent's supervisor in %s\n",
		    rundir);
		return 1;
	}
	if (as_json) {
		printf("%s\n", res.json ? res.json : "{}");
		proto_free_ctl_result(&res);
		return 0;
	}
	doc = res.json ? json_loads(res.json, 0, NULL) : NULL;
	proto_free_ctl_result(&res);
	if (doc == NULL) {
		fprintf(stderr, "Error: unreadable status\n");
		return 1;
	}
	fmt_dur(up, sizeof(up), json_integer_value(json_object_get(doc, "uptime_ms")));
	printf("Agent: pid %lld, up %s, data dir %s, config generation %lld\n\n",
	    (long long)json_integer_value(json_object_get(doc, "pid")), up,
	    json_string_value(json_object_get(doc, "data_dir")),
	    (long long)json_integer_value(json_object_get(doc, "config_generation")));
	struct cli_table *t = cli_table_new();
	cli_table_row(t, "Process", "PID", "State", "Uptime", "Restarts", "Ping",
	    "Last exit", NULL);
	kids = json_object_get(doc, "children");
	json_array_foreach(kids, i, k) {
		char pid[24], rs[24];
		const char *le = json_string_value(json_object_get(k, "last_exit"));
		const char *ping = json_string_value(json_object_get(k, "ping"));
		snprintf(pid, sizeof(pid), "%lld",
		    (long long)json_integer_value(json_object_get(k, "pid")));
		snprintf(rs, sizeof(rs), "%lld",
		    (long long)json_integer_value(json_object_get(k, "restarts")));
		fmt_dur(up, sizeof(up),
		    json_integer_value(json_object_get(k, "uptime_ms")));
		cli_table_row(t, json_string_value(json_object_get(k, "name")), pid,
		    json_string_value(json_object_get(k, "state")), up, rs,
		    ping ? ping : "-", le && *le ? le : "-", NULL);
	}
	cli_table_print(t);
	cli_table_free(t);
	json_decref(doc);
	return 0;
}

static int
debug_restart(const char *rundir, const char *name)
{
	struct proto_ctl_restart r = { .name = (char *)(uintptr_t)name };
	struct proto_ctl_result  res;
	int                      rv = 0;

	if (debug_call(rundir, PROTO_CTL_RESTART, &r, &res) != 0) {
		fprintf(stderr, "Error: no answer from the agent's supervisor in %s\n",
		    rundir);
		return 1;
	}
	if (res.ok)
		printf("Restarting %s\n", name);
	else {
		fprintf(stderr, "Error: %s\n", res.error ? res.error : "refused");
		rv = 1;
	}
	proto_free_ctl_result(&res);
	return rv;
}

/* The tap. */
struct tap_state {
	struct loop *loop;
	struct bus  *bus;
	const char  *prefix;
	int          as_json;
	uint64_t     dropped;
};

static void
tap_print(struct bus *b, const void *data, size_t len, void *arg)
{
	struct tap_state        *ts = arg;
	struct proto_env         env, inner;
	struct proto_ctl_tap_rec rec;
	char                     when[64], lat[32] = "";
	char                    *body;
	time_t                   sec;
	struct tm                tm;

	(void)b;
	/* Records come as the processes pushed them: a bare envelope. */
	if (proto_unpack_env(data, len, &env) != 0 ||
	    proto_unpack_ctl_tap_rec(&env, &rec) != 0)
		return;
	if (proto_unpack_env(rec.msg.ptr, rec.msg.len, &inner) != 0) {
		proto_free_ctl_tap_rec(&rec);
		return;
	}
	if (ts->prefix != NULL &&
	    strncmp(proto_name(inner.type), ts->prefix, strlen(ts->prefix)) != 0) {
		proto_free_ctl_tap_rec(&rec);
		return;
	}
	body = proto_body_str(&inner);
	sec = (time_t)(rec.time_us / 1000000);
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (ts->as_json) {
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
		    "time_us", (json_int_t)rec.time_us, "proc", rec.proc, "kind",
		    rec.kind, "peer", rec.peer, "type", proto_name(inner.type),
		    "id", (json_int_t)inner.id, "latency_us",
		    (json_int_t)rec.latency_us, "body", body ? body : "");
		char *s = json_dumps(o, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		const char *arrow = strcmp(rec.kind, "call") == 0 ? "->"
		    : strcmp(rec.kind, "reply") == 0              ? "<-"
		                                                  : "=>";
		if (strcmp(rec.kind, "reply") == 0)
			snprintf(lat, sizeof(lat), " (%.3f ms)",
			    (double)rec.latency_us / 1000);
		printf("%s.%06llu %-10s %s %-10s %-20s id=%llu%s %s\n", when,
		    (unsigned long long)(rec.time_us % 1000000), rec.proc, arrow,
		    strcmp(rec.kind, "pub") == 0 ? "*" : rec.peer,
		    proto_name(inner.type), (unsigned long long)inner.id, lat,
		    body ? body : "");
	}
	if (rec.dropped > ts->dropped) {
		fprintf(stderr, "tap: %s dropped %llu records so far\n", rec.proc,
		    (unsigned long long)rec.dropped);
		ts->dropped = rec.dropped;
	}
	fflush(stdout);
	free(body);
	proto_free_ctl_tap_rec(&rec);
}

static void
tap_lease(void *arg)
{
	struct tap_state           *ts = arg;
	struct proto_ctl_tap_attach a = { .lease_ms = 3000 };
	struct proto_buf            buf = { 0 };
	struct proto_env            env;

	if (bus_call(ts->bus, "supervisor", PROTO_CTL_TAP_ATTACH, &a, 1000, &buf,
	        &env) != 0)
		fprintf(stderr, "tap: the supervisor does not answer\n");
	proto_buf_free(&buf);
}

static void
tap_stop(int sig, void *arg)
{
	struct tap_state *ts = arg;

	(void)sig;
	loop_stop(ts->loop);
}

static int
debug_tap(const char *rundir, const char *prefix, int as_json)
{
	struct tap_state ts = { .prefix = prefix, .as_json = as_json };

	log_init("tap", LOG_WARN);
	if ((ts.loop = loop_new()) == NULL ||
	    (ts.bus = bus_open(rundir, "cli")) == NULL)
		return 1;
	bus_attach(ts.bus, ts.loop);
	if (bus_subscribe_raw(ts.bus, "tap.pub", "", tap_print, &ts) != 0) {
		fprintf(stderr, "Error: cannot attach to %s/tap.pub\n", rundir);
		return 1;
	}
	loop_on_signal(ts.loop, SIGINT, tap_stop, &ts);
	loop_on_signal(ts.loop, SIGTERM, tap_stop, &ts);
	/* Give the subscription a moment to connect before the tap goes on. */
	usleep(50000);
	tap_lease(&ts);
	loop_add_timer(ts.loop, 1000, 1, tap_lease, &ts);
	loop_run(ts.loop);
	bus_close(ts.bus);
	loop_free(ts.loop);
	return 0;
}

int cmd_debug(int argc, char **argv);
int cmd_reload(int argc, char **argv);

int
cmd_debug(int argc, char **argv)
{
	struct cli_http h;
	const char     *data_dir = NULL, *sub = NULL, *arg = NULL, *prefix = NULL;
	char            rundir[600];
	int             as_json = 0;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int r = cli_http_flag(&h, argc, argv, &i);
		if (r < 0)
			return 1;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "-data-dir") == 0 && i + 1 < argc)
			data_dir = argv[++i];
		else if (strncmp(argv[i], "-data-dir=", 10) == 0)
			data_dir = argv[i] + 10;
		else if (strcmp(argv[i], "-type") == 0 && i + 1 < argc)
			prefix = argv[++i];
		else if (strncmp(argv[i], "-type=", 6) == 0)
			prefix = argv[i] + 6;
		else if (strcmp(argv[i], "-json") == 0)
			as_json = 1;
		else if (argv[i][0] == '-') {
			debug_usage();
			return 1;
		} else if (sub == NULL)
			sub = argv[i];
		else if (arg == NULL)
			arg = argv[i];
		else {
			debug_usage();
			return 1;
		}
	}
	if (sub == NULL) {
		debug_usage();
		return 1;
	}
	if (debug_rundir(&h, data_dir, rundir, sizeof(rundir)) != 0) {
		fprintf(stderr, "Error: cannot find the agent at %s (is it running? "
		                "-data-dir names its data dir)\n", h.addr);
		return 1;
	}
	if (strcmp(sub, "status") == 0)
		return debug_status(rundir, as_json);
	if (strcmp(sub, "restart") == 0 && arg != NULL)
		return debug_restart(rundir, arg);
	if (strcmp(sub, "tap") == 0)
		return debug_tap(rundir, prefix ? prefix : arg, as_json);
	debug_usage();
	return 1;
}

int
cmd_reload(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++)
		if (cli_http_flag(&h, argc, argv, &i) <= 0) {
			fprintf(stderr, "Usage: tribune reload [-http-addr ADDR]\n");
			return 1;
		}
	if (cli_request(&h, "PUT", "/v1/agent/reload", NULL, 0, &r) != 0 ||
	    r.status != 200) {
		cli_report_error("reloading", &r);
		cli_resp_free(&r);
		return 1;
	}
	cli_resp_free(&r);
	printf("Configuration reload triggered\n");
	return 0;
}
