/*
 * `tribune agent`: flags and config files into one document, the data
 * directory, the banner, and the supervisor's own loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

#define STOP_GRACE_MS 4000

static struct supervisor sup;

static int
agent_is_bool(const struct config_option *o)
{
	return o->type == CT_BOOL;
}

/* The first non-loopback IPv4 address, as Consul advertises by default. */
static void
agent_default_advertise(char *out, size_t outlen)
{
	struct ifaddrs *ifs, *i;

	snprintf(out, outlen, "127.0.0.1");
	if (getifaddrs(&ifs) == -1)
		return;
	for (i = ifs; i != NULL; i = i->ifa_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)i->ifa_addr;
		if (sin == NULL || sin->sin_family != AF_INET)
			continue;
		if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
			continue;
		inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outlen);
		break;
	}
	freeifaddrs(ifs);
}

/*
 * Flags and files into one document: dev defaults, then each config file
 * or directory in the order given, then the flags, then the table's
 * defaults for what is still missing.
 */
int
agent_resolve_config(int argc, char **argv, json_t **docp, char *err,
    size_t errlen)
{
	json_t *doc = json_object(), *flags = json_object();
	json_t *v;
	char    host[256];
	int     dev = 0;

	for (int i = 0; i < argc; i++) {
		const struct config_option *o;
		const char *arg = argv[i], *eq, *val;

		if (arg[0] != '-') {
			snprintf(err, errlen, "unexpected argument: %s", arg);
			goto fail;
		}
		if ((o = config_find_flag(arg)) == NULL) {
			snprintf(err, errlen, "flag provided but not defined: %.*s",
			    (int)strcspn(arg, "="), arg);
			goto fail;
		}
		eq = strchr(arg, '=');
		if (eq != NULL)
			val = eq + 1;
		else if (agent_is_bool(o))
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			snprintf(err, errlen, "flag needs an argument: %s", arg);
			goto fail;
		}
		if (o->type == CT_FILES) {
			if (config_load_path(doc, val, err, errlen) != 0)
				goto fail;
			continue;
		}
		if (strcmp(o->flag, "-dev") == 0)
			dev = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
		if (config_set_flag(flags, o, val, err, errlen) != 0)
			goto fail;
	}
	if (dev) {
		/* -dev: a one-server cluster on loopback that forgets at exit. */
		json_t *d = json_pack("{s:b, s:b, s:b, s:s, s:s}", "server", 1,
		    "bootstrap", 1, "ui", 1, "log_level", "debug", "bind_addr",
		    "127.0.0.1");
		config_merge(d, doc);
		json_decref(doc);
		doc = d;
	}
	config_merge(doc, flags);
	config_fill_defaults(doc);
	if (config_path(doc, "node_name") == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "tribune");
		host[sizeof(host) - 1] = '\0';
		json_object_set_new(doc, "node_name", json_string(host));
	}
	if (config_path(doc, "advertise_addr") == NULL) {
		const char *bind = json_string_value(config_path(doc, "bind_addr"));
		if (bind != NULL && strcmp(bind, "0.0.0.0") != 0)
			snprintf(host, sizeof(host), "%s", bind);
		else
			agent_default_advertise(host, sizeof(host));
		json_object_set_new(doc, "advertise_addr", json_string(host));
	}
	v = config_path(doc, "bootstrap_expect");
	if (json_integer_value(v) > 0 && json_is_true(config_path(doc, "bootstrap"))
	    && !dev) {
		snprintf(err, errlen, "'-bootstrap-expect' and '-bootstrap' are mutually exclusive");
		goto fail;
	}
	if ((json_integer_value(v) > 0 || json_is_true(config_path(doc, "bootstrap"))) &&
	    !json_is_true(config_path(doc, "server"))) {
		snprintf(err, errlen, "'-bootstrap-expect' and '-bootstrap' need '-server'");
		goto fail;
	}
	if (!dev && config_path(doc, "data_dir") == NULL) {
		snprintf(err, errlen, "data_dir cannot be empty");
		goto fail;
	}
	if (config_validate(doc, "command line", err, errlen) != 0)
		goto fail;
	json_decref(flags);
	*docp = doc;
	return 0;
fail:
	json_decref(flags);
	json_decref(doc);
	return -1;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char   tmp[512];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static void
agent_uuid(char *out, size_t outlen)
{
	uint8_t b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		fatal("getrandom");
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, outlen,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

/* <data-dir>/node-id: the node's UUID, made once and kept. */
static void
agent_node_id(struct supervisor *s)
{
	char  path[1200], id[64] = "";
	FILE *f;

	if (config_path(s->doc, "node_id") != NULL)
		return;
	snprintf(path, sizeof(path), "%s/node-id", s->data_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(id, sizeof(id), f) == NULL)
			id[0] = '\0';
		fclose(f);
		id[strcspn(id, "\r\n")] = '\0';
	}
	if (strlen(id) != 36) {
		agent_uuid(id, sizeof(id));
		if ((f = fopen(path, "w")) == NULL)
			fatal("%s", path);
		fprintf(f, "%s\n", id);
		fclose(f);
	}
	json_object_set_new(s->doc, "node_id", json_string(id));
}

static void
agent_data_dir(struct supervisor *s)
{
	const char *dd = json_string_value(config_path(s->doc, "data_dir"));
	static const char *const subs[] = { "raft", "state", "local", "serf" };
	char        path[1200];
	int         fd;

	if (dd == NULL) {
		char tmpl[] = "/tmp/tribune-dev-XXXXXX";
		if (mkdtemp(tmpl) == NULL)
			fatal("mkdtemp");
		snprintf(s->data_dir, sizeof(s->data_dir), "%s", tmpl);
		s->dev_tmp = 1;
		json_object_set_new(s->doc, "data_dir", json_string(s->data_dir));
	} else {
		char real[PATH_MAX];
		if (mkdir_p(dd, 0700) == -1 || realpath(dd, real) == NULL)
			fatal("data_dir %s", dd);
		if (strlen(real) >= sizeof(s->data_dir))
			fatalx("data_dir %s: path too long", dd);
		memcpy(s->data_dir, real, strlen(real) + 1);
		json_object_set_new(s->doc, "data_dir", json_string(s->data_dir));
	}
	snprintf(s->run_dir, sizeof(s->run_dir), "%s/run", s->data_dir);
	if (mkdir_p(s->run_dir, 0700) == -1 || chmod(s->run_dir, 0700) == -1)
		fatal("%s", s->run_dir);
	/* ipc:// paths are unix socket paths: sun_path is 108 bytes. */
	if (strlen(s->run_dir) + sizeof("/supervisor.rep") >
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		fatalx("data_dir %s is too long for unix sockets (%zu bytes "
		       "at most)", s->data_dir,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 20);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->data_dir, subs[i]);
		if (mkdir_p(path, 0700) == -1)
			fatal("%s", path);
	}
	/* One agent per data dir. */
	snprintf(path, sizeof(path), "%s/agent.pid", s->run_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1)
		fatalx("data_dir %s is in use by another agent", s->data_dir);
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	/* fd stays open, holding the lock, until we exit. */
	agent_node_id(s);
}

/* The CLI finds an agent's run dir from its HTTP address through this file. */
static void
agent_registry(struct supervisor *s)
{
	const char *dir = getenv("TRIBUNE_AGENTS_DIR");
	char        client[128];
	FILE       *f;

	if (dir == NULL) {
		dir = "/tmp/tribune-agents";
		mkdir(dir, 01777);
		chmod(dir, 01777);
	}
	snprintf(client, sizeof(client), "%s",
	    s->cfg.client_addr ? s->cfg.client_addr : "127.0.0.1");
	client[strcspn(client, " ")] = '\0';
	snprintf(s->registry, sizeof(s->registry), "%s/%s_%lld", dir, client,
	    (long long)s->cfg.port_http);
	if ((f = fopen(s->registry, "w")) == NULL) {
		log_warn("%s", s->registry);
		s->registry[0] = '\0';
		return;
	}
	fprintf(f, "%s\n", s->run_dir);
	fclose(f);
}

static void
agent_banner(struct supervisor *s)
{
	struct config *c = &s->cfg;

	printf("==> Starting tribune agent...\n");
	printf("               Version: '%s'\n", TRIBUNE_VERSION);
	printf("               Node ID: '%s'\n", c->node_id);
	printf("             Node name: '%s'\n", c->node_name);
	printf("            Datacenter: '%s' (Segment: '<all>')\n", c->datacenter);
	printf("                Server: %s (Bootstrap: %s)\n",
	    c->server ? "true" : "false",
	    c->bootstrap || c->bootstrap_expect == 1 ? "true" : "false");
	printf("           Client Addr: [%s] (HTTP: %lld, HTTPS: -1, gRPC: -1, "
	       "DNS: %lld)\n", c->client_addr, (long long)c->port_http,
	    (long long)c->port_dns);
	printf("          Cluster Addr: %s (LAN: %lld, WAN: %lld)\n",
	    c->advertise_addr, (long long)c->port_serf_lan,
	    (long long)c->port_serf_wan);
	printf("     Gossip Encryption: %s\n", c->encrypt ? "true" : "false");
	printf("           ACL Enabled: false\n");
	printf("              Data Dir: '%s'%s\n", s->data_dir,
	    s->dev_tmp ? " (dev: removed at exit)" : "");
	printf("\n==> Log data will now stream in as it occurs:\n\n");
	fflush(stdout);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
agent_set_config(struct supervisor *s, json_t *doc)
{
	char err[256];

	json_decref(s->doc);
	s->doc = doc;
	config_free(&s->cfg);
	if (config_from_json(doc, &s->cfg, err, sizeof(err)) != 0)
		fatalx("%s", err);
	s->generation++;
}

void
agent_reload(struct supervisor *s, const char *why)
{
	json_t *doc;
	char    err[512];
	int     level;

	log_info("reloading configuration: %s", why);
	notify_send("RELOADING=1");
	if (agent_resolve_config(s->argc, s->argv, &doc, err, sizeof(err)) != 0) {
		log_error("reload failed, keeping the running configuration: %s", err);
		notify_send("READY=1");
		return;
	}
	/* What the running agent cannot change under itself stays. */
	json_object_set_new(doc, "data_dir", json_string(s->data_dir));
	json_object_set(doc, "node_id", config_path(s->doc, "node_id"));
	agent_set_config(s, doc);
	if (s->cfg.log_level && (level = log_level_parse(s->cfg.log_level)) >= 0)
		log_setlevel(level);
	struct proto_ctl_config c = { .json = json_dumps(s->doc, JSON_COMPACT),
		.generation = s->generation };
	bus_publish(s->bus, PROTO_CTL_CONFIG, &c);
	free(c.json);
	notify_send("READY=1");
}

static void
agent_on_signal(int sig, void *arg)
{
	struct supervisor *s = arg;

	switch (sig) {
	case SIGHUP:
		agent_reload(s, "SIGHUP");
		break;
	case SIGCHLD:
		children_reap(s);
		if (s->stopping && children_alive(s) == 0)
			loop_stop(s->loop);
		break;
	case SIGTERM:
	case SIGINT:
		if (s->stopping) {
			/* As Consul: a second signal ends the graceful stop. */
			log_warnx("caught second signal %s: killing children",
			    strsignal(sig));
			children_stop_all(s, SIGKILL);
			break;
		}
		log_info("caught signal %s: stopping", strsignal(sig));
		agent_stop(s);
		break;
	}
}

void
agent_stop(struct supervisor *s)
{
	notify_send("STOPPING=1");
	s->stopping = 1;
	s->stop_deadline = loop_now_ms() + STOP_GRACE_MS;
	children_stop_all(s, SIGTERM);
	if (children_alive(s) == 0)
		loop_stop(s->loop);
}

static void
agent_tick(void *arg)
{
	struct supervisor *s = arg;
	static uint64_t    last_watchdog;

	if (s->stopping) {
		if (children_alive(s) == 0)
			loop_stop(s->loop);
		else if (loop_now_ms() > s->stop_deadline) {
			log_warnx("children still running after %d ms: killing",
			    STOP_GRACE_MS);
			children_stop_all(s, SIGKILL);
			s->stop_deadline = loop_now_ms() + 1000;
		}
		return;
	}
	control_tick(s);
	/* Repeated: a child that missed a reload gets it within a tick. */
	if (s->generation > 1) {
		struct proto_ctl_config c = { .json = json_dumps(s->doc,
			                          JSON_COMPACT),
			.generation = s->generation };
		bus_publish(s->bus, PROTO_CTL_CONFIG, &c);
		free(c.json);
	}
	if (s->watchdog_ms && loop_now_ms() - last_watchdog >= s->watchdog_ms / 2) {
		last_watchdog = loop_now_ms();
		notify_send("WATCHDOG=1");
	}
}

int
agent_main(int argc, char **argv)
{
	struct supervisor *s = &sup;
	json_t            *doc;
	char               err[1024];
	int                level, rv;

	memset(s, 0, sizeof(*s));
	log_init("agent", LOG_INFO);
	s->argc = argc;
	s->argv = argv;
	if (agent_resolve_config(argc, argv, &doc, err, sizeof(err)) != 0) {
		fprintf(stderr, "==> %s\n", err);
		return 1;
	}
	s->doc = doc;
	signal(SIGPIPE, SIG_IGN);
	agent_data_dir(s);
	/* s->doc keeps one reference, s->cfg.root the other. */
	agent_set_config(s, json_incref(s->doc));
	if (s->cfg.log_level && (level = log_level_parse(s->cfg.log_level)) >= 0)
		log_setlevel(level);
	else if (s->cfg.log_level) {
		fprintf(stderr, "==> Invalid log level: %s\n", s->cfg.log_level);
		return 1;
	}
	children_init(s);
	agent_banner(s);
	s->start_ms = loop_now_ms();
	if ((s->loop = loop_new()) == NULL)
		fatalx("out of memory");
	loop_on_signal(s->loop, SIGCHLD, agent_on_signal, s);
	loop_on_signal(s->loop, SIGTERM, agent_on_signal, s);
	loop_on_signal(s->loop, SIGINT, agent_on_signal, s);
	loop_on_signal(s->loop, SIGHUP, agent_on_signal, s);
	if ((s->bus = bus_open(s->run_dir, "supervisor")) == NULL)
		fatalx("cannot open the bus in %s", s->run_dir);
	bus_attach(s->bus, s->loop);
	if ((rv = bus_serve(s->bus, control_on_request, s)) != 0)
		fatalx("cannot bind the control socket in %s (%d)", s->run_dir, rv);
	if (tap_open(s) != 0)
		fatalx("cannot bind the tap sockets in %s", s->run_dir);
	notify_init(s);
	agent_registry(s);
	notify_send("STATUS=starting children");
	if (children_start_all(s) != 0)
		fatalx("cannot start the children");
	loop_add_timer(s->loop, 1000, 1, agent_tick, s);
	loop_run(s->loop);

	log_info("agent stopped");
	tap_close();
	bus_close(s->bus);
	if (s->registry[0])
		unlink(s->registry);
	if (s->dev_tmp)
		nftw(s->data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	config_free(&s->cfg);
	json_decref(s->doc);
	loop_free(s->loop);
	return s->exit_code;
}

int
cmd_validate(int argc, char **argv)
{
	char err[1024];
	int  n = 0;

	for (int i = 1; i < argc; i++) {
		json_t *doc = json_object();
		if (argv[i][0] == '-')
			continue;
		n++;
		if (config_load_path(doc, argv[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "Config validation failed: %s\n", err);
			json_decref(doc);
			return 1;
		}
		json_decref(doc);
	}
	if (n == 0) {
		fprintf(stderr, "Must specify at least one config file or directory\n");
		return 1;
	}
	printf("Configuration is valid!\n");
	return 0;
}

int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("tribune v%s\nRevision %s\nBuild Date unknown\n"
	       "Protocol 2 spoken by default, understands 2 to 3 (agent will "
	       "automatically use protocol >2 when speaking to compatible "
	       "agents)\n", TRIBUNE_VERSION, TRIBUNE_REVISION);
	return 0;
}
