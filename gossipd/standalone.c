/*
 * standalone.c: tribune-gossipd's entry.  Under the supervisor (-run-dir)
 * it hands over to agent.c; otherwise it runs alone, for interop tests and
 * debugging: Consul's gossip flags, its own poll loop, and a small control
 * socket (-ctl PATH):
 *
 *     members | events | stats | join ADDR | leave | force-leave NODE [prune]
 *     event NAME [PAYLOAD]
 *
 * one command per connection, answered in text lines.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gossipd.h"
#include "log.h"

#define MAX_JOIN 16

struct standalone {
	struct gd      g;
	struct net    *net;
	int            ctl;
	char           ctl_path[256];
	bool           server, bootstrap;
	int            expect;
	char           dc[64], node_id[40], data_dir[400];
	struct gd_addr join[MAX_JOIN], retry[MAX_JOIN];
	int            njoin, nretry;
	uint64_t       retry_interval, next_retry;
	int            retry_max, retries;
	bool           retry_done;
	bool           leave_on_term;
	bool           verbose;
};

static volatile sig_atomic_t got_term, got_int;

static void
on_signal(int sig)
{
	if (sig == SIGTERM)
		got_term = 1;
	else
		got_int = 1;
}

static void
standalone_member(void *ctx, const struct gd_member *m)
{
	struct standalone *d = ctx;
	char            a[80];

	if (d->verbose)
		fprintf(stderr, "gossipd: member %s %s %s inc=%u\n", m->name,
		    net_addr_str(&m->addr, a, sizeof(a)),
		    serf_status_str(m->status), m->inc);
}

static void
standalone_event(void *ctx, const struct wire_event *e)
{
	struct standalone *d = ctx;

	if (d->verbose)
		fprintf(stderr, "gossipd: event %s ltime=%llu payload=%.*s\n",
		    e->name, (unsigned long long)e->ltime,
		    (int)e->payload_len, (const char *)e->payload);
}

void
gossipd_uuid(char *out, size_t len)
{
	unsigned char r[16];

	wire_random(r, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, len,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
	    r[11], r[12], r[13], r[14], r[15]);
}

static void
standalone_node_id(struct standalone *d)
{
	char  path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node-id", d->data_dir);
	if (d->data_dir[0] && (f = fopen(path, "r")) != NULL) {
		if (fgets(d->node_id, sizeof(d->node_id), f))
			d->node_id[strcspn(d->node_id, "\r\n")] = 0;
		fclose(f);
		if (strlen(d->node_id) == 36)
			return;
	}
	gossipd_uuid(d->node_id, sizeof(d->node_id));
	if (d->data_dir[0] && (f = fopen(path, "w")) != NULL) {
		fprintf(f, "%s\n", d->node_id);
		fclose(f);
	}
}

static uint64_t
standalone_duration(const char *s)
{
	char  *e;
	double v = strtod(s, &e);

	if (strcmp(e, "ms") == 0)
		return (uint64_t)v;
	if (strcmp(e, "m") == 0)
		return (uint64_t)(v * 60000);
	if (strcmp(e, "h") == 0)
		return (uint64_t)(v * 3600000);
	return (uint64_t)(v * 1000); /* "s" or bare seconds */
}

static void
standalone_usage(void)
{
	fprintf(stderr,
	    "usage: tribune-gossipd -node NAME -bind IP [-advertise IP] "
	    "[-serf-lan-port N]\n"
	    "  [-join ADDR]... [-retry-join ADDR]... [-retry-interval D] "
	    "[-retry-max N]\n"
	    "  [-encrypt KEY]... [-datacenter DC] [-data-dir DIR] [-dev] "
	    "[-server]\n"
	    "  [-bootstrap-expect N] [-bootstrap] [-ctl PATH] "
	    "[-protocol 4|5] [-v]\n"
	    "  [-test-drop-pct N]  drop N%% of received datagrams (tests)\n");
}

static int
standalone_ctl_open(struct standalone *d)
{
	struct sockaddr_un sa;
	int                fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(d->ctl_path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, d->ctl_path);
	unlink(d->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 16) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void
standalone_tag(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct gd_buf *b = ctx;
	char           t[1200];
	int            n = snprintf(t, sizeof(t), "%s%.*s=%.*s",
	               b->len ? "," : "", (int)kl, k, (int)vl, v);
	wire_buf_put(b, t, (size_t)n);
}

static void
standalone_members(struct standalone *d, FILE *f)
{
	for (size_t i = 0; i < d->g.nm; i++) {
		const struct gd_member *m = &d->g.m[i];
		struct gd_buf           t = { 0 };
		char                    a[80];
		wire_dec_tags(m->meta, m->meta_len, standalone_tag, &t);
		wire_buf_put(&t, "", 1);
		fprintf(f, "%s %s %s %u %u %s\n", m->name,
		    net_addr_str(&m->addr, a, sizeof(a)),
		    serf_status_str(m->status), m->inc, m->vsn[5],
		    t.p ? (char *)t.p : "");
		wire_buf_free(&t);
	}
}

static void
standalone_ctl_serve(struct standalone *d)
{
	char  line[2048], *cmd, *arg, *save = NULL;
	int   fd = accept4(d->ctl, NULL, NULL, SOCK_CLOEXEC);
	FILE *f;

	if (fd < 0)
		return;
	{
		struct timeval tv = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if ((f = fdopen(fd, "r+")) == NULL) {
		close(fd);
		return;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		goto out;
	line[strcspn(line, "\r\n")] = 0;
	cmd = strtok_r(line, " ", &save);
	arg = strtok_r(NULL, " ", &save);
	if (cmd == NULL)
		goto out;
	if (strcmp(cmd, "members") == 0) {
		standalone_members(d, f);
	} else if (strcmp(cmd, "event") == 0 && arg) {
		const char *pl = save ? save : "";
		fprintf(f, serf_user_event(&d->g, arg, (const uint8_t *)pl,
			       strlen(pl), false) == 0 ? "ok\n" : "error\n");
	} else if (strcmp(cmd, "events") == 0) {
		size_t n = d->g.nrecent < GD_RECENT ? d->g.nrecent : GD_RECENT;
		for (size_t i = d->g.nrecent - n; i < d->g.nrecent; i++) {
			const struct gd_event_rec *r = &d->g.recent[i % GD_RECENT];
			fprintf(f, "%s %s %llu %.*s\n", r->id, r->name,
			    (unsigned long long)r->ltime, (int)r->payload_len,
			    (const char *)r->payload);
		}
	} else if (strcmp(cmd, "join") == 0 && arg) {
		struct gd_addr a;
		if (net_resolve(arg, d->g.cfg.advertise.port, &a) != 0)
			fprintf(f, "error: bad address\n");
		else
			fprintf(f, "%d\n", serf_join(&d->g, &a, 1));
	} else if (strcmp(cmd, "leave") == 0) {
		got_int = 1;
		fprintf(f, "ok\n");
	} else if (strcmp(cmd, "force-leave") == 0 && arg) {
		bool prune = save && strcmp(save, "prune") == 0;
		fprintf(f, serf_force_leave(&d->g, arg, prune) == 0 ? "ok\n" :
									 "error\n");
	} else if (strcmp(cmd, "stats") == 0) {
		fprintf(f,
		    "rx=%llu bad=%llu cryptfail=%llu tx=%llu probes=%llu "
		    "probe_fail=%llu refutes=%llu awareness=%d\n",
		    (unsigned long long)d->g.st.rx_packets,
		    (unsigned long long)d->g.st.rx_bad,
		    (unsigned long long)d->g.st.rx_crypt_fail,
		    (unsigned long long)d->g.st.tx_packets,
		    (unsigned long long)d->g.st.probes,
		    (unsigned long long)d->g.st.probe_fail,
		    (unsigned long long)d->g.st.refutes, d->g.awareness);
	} else {
		fprintf(f, "error: unknown command\n");
	}
out:
	fclose(f);
}

int
gossipd_main(int argc, char **argv)
{
	static struct standalone d;
	struct gd_config      cfg;
	struct gd_ops         ops;
	struct gd_addr        bind, adv;
	struct gd_buf         tags = { 0 };
	const char           *bind_s = "0.0.0.0", *adv_s = NULL;
	char                  err[256];
	int                   port = 8301, rc = 1;
	bool                  dev = false, have_adv = false;
	struct gd_addr        snap[64];
	int                   nsnap;
	uint32_t              drop_pct = 0;
	uint8_t               proto_cur = 4;

	/* under the supervisor: the bus daemon */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-run-dir") == 0)
			return agent_main(argc, argv);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(d.dc, sizeof(d.dc), "dc1");
	d.ctl = -1;
	d.retry_interval = 30000;
	d.leave_on_term = true;
	gethostname(cfg.name, sizeof(cfg.name) - 1);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (a[0] == '-' && a[1] == '-')
			a++;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (strcmp(a, "-dev") == 0)
			dev = true;
		else if (strcmp(a, "-server") == 0)
			d.server = true;
		else if (strcmp(a, "-bootstrap") == 0)
			d.bootstrap = true;
		else if (strcmp(a, "-v") == 0)
			d.verbose = true;
		else if (OPT("-node"))
			snprintf(cfg.name, sizeof(cfg.name), "%s", v);
		else if (OPT("-bind"))
			bind_s = v;
		else if (OPT("-advertise"))
			adv_s = v;
		else if (OPT("-serf-lan-port"))
			port = atoi(v);
		else if (OPT("-datacenter"))
			snprintf(d.dc, sizeof(d.dc), "%s", v);
		else if (OPT("-data-dir"))
			snprintf(d.data_dir, sizeof(d.data_dir), "%s", v);
		else if (OPT("-ctl"))
			snprintf(d.ctl_path, sizeof(d.ctl_path), "%s", v);
		else if (OPT("-bootstrap-expect"))
			d.expect = atoi(v);
		else if (OPT("-test-drop-pct"))
			drop_pct = (uint32_t)atoi(v);
		else if (OPT("-protocol"))
			proto_cur = (uint8_t)atoi(v);
		else if (OPT("-retry-interval"))
			d.retry_interval = standalone_duration(v);
		else if (OPT("-retry-max"))
			d.retry_max = atoi(v);
		else if (OPT("-encrypt")) {
			int kerr = wire_keyring_add(&cfg.keyring, v);

			if (kerr != 0) {
				fprintf(stderr, "gossipd: -encrypt: %s\n",
				    kerr == WIRE_ENOCRYPTO ? wire_strerror(kerr) :
				    "bad key");
				return 1;
			}
		} else if (OPT("-join") || OPT("-retry-join")) {
			bool            retry = strcmp(a, "-retry-join") == 0;
			struct gd_addr *t = retry ? d.retry : d.join;
			int            *n = retry ? &d.nretry : &d.njoin;
			/* the port is filled in below when absent */
			if (*n >= MAX_JOIN || net_resolve(v, 0, &t[*n]) != 0) {
				fprintf(stderr, "gossipd: bad address %s\n", v);
				return 1;
			}
			(*n)++;
		} else {
			standalone_usage();
			return 1;
		}
#undef OPT
	}
	if (dev)
		gd_config_fast(&cfg);
	else
		gd_config_lan(&cfg);
	if (net_parse_addr(bind_s, (uint16_t)port, &bind) != 0) {
		fprintf(stderr, "gossipd: bad -bind %s\n", bind_s);
		return 1;
	}
	bind.port = (uint16_t)port;
	adv = bind;
	if (adv_s) {
		have_adv = net_parse_addr(adv_s, (uint16_t)port, &adv) == 0;
		adv.port = (uint16_t)port;
	}
	if (!have_adv && (bind.len == 0 ||
	    !memcmp(bind.ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", bind.len))) {
		fprintf(stderr, "gossipd: -bind 0.0.0.0 needs -advertise\n");
		return 1;
	}
	for (int i = 0; i < d.njoin; i++)
		if (d.join[i].port == 0)
			d.join[i].port = (uint16_t)port;
	for (int i = 0; i < d.nretry; i++)
		if (d.retry[i].port == 0)
			d.retry[i].port = (uint16_t)port;
	cfg.advertise = adv;
	cfg.crypt_verify_incoming = true;
	/* serf protocol: 2..5; 4 as Consul, 5 as `serf agent` */
	cfg.delegate_cur = proto_cur >= 2 && proto_cur <= 5 ? proto_cur : 4;
	if (d.data_dir[0]) {
		char p[512];
		snprintf(p, sizeof(p), "%s/serf", d.data_dir);
		mkdir(d.data_dir, 0755);
		mkdir(p, 0755);
		snprintf(cfg.snapshot_path, sizeof(cfg.snapshot_path),
		    "%s/serf/local.snapshot", d.data_dir);
		snprintf(cfg.keyring_path, sizeof(cfg.keyring_path),
		    "%s/serf/local.keyring", d.data_dir);
		if (serf_keyring_load(cfg.keyring_path, &cfg.keyring) < 0) {
			fprintf(stderr, "gossipd: %s: unreadable keyring\n",
			    cfg.keyring_path);
			return 1;
		}
	}
	standalone_node_id(&d);
	if (agent_tags(&tags, d.server, d.dc, d.node_id, d.expect,
		d.bootstrap) != 0 || tags.len > GD_META_MAX) {
		fprintf(stderr, "gossipd: tags too large\n");
		goto out;
	}
	memcpy(cfg.meta, tags.p, tags.len);
	cfg.meta_len = tags.len;
	wire_random(&cfg.seed, sizeof(cfg.seed));

	if ((d.net = net_open(&bind, err, sizeof(err))) == NULL) {
		fprintf(stderr, "gossipd: bind %s:%d: %s\n", bind_s, port, err);
		goto out;
	}
	net_set_drop(d.net, drop_pct, cfg.seed);
	net_ops(d.net, &ops);
	ops.member = standalone_member;
	ops.user_event = standalone_event;
	ops.up = &d;
	if (swim_init(&d.g, &cfg, &ops) != 0)
		goto out;
	net_attach(d.net, &d.g);
	if (d.ctl_path[0] && (d.ctl = standalone_ctl_open(&d)) < 0) {
		fprintf(stderr, "gossipd: ctl %s: %s\n", d.ctl_path,
		    strerror(errno));
		goto out;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	nsnap = serf_snapshot_load(&d.g, snap, 64);
	if (d.njoin && serf_join(&d.g, d.join, d.njoin) == 0)
		fprintf(stderr, "gossipd: -join failed\n");
	for (int i = 0; i < nsnap; i++)
		if (serf_join(&d.g, &snap[i], 1) > 0)
			break;
	d.next_retry = swim_now(&d.g);

	for (;;) {
		short rev[1] = { 0 };
		int   wait = swim_tick(&d.g);
		if (d.nretry && !d.retry_done && swim_now(&d.g) >= d.next_retry) {
			if (serf_join(&d.g, d.retry, d.nretry) > 0 ||
			    (d.retry_max && ++d.retries >= d.retry_max))
				d.retry_done = true;
			d.next_retry = swim_now(&d.g) + d.retry_interval;
		}
		if (got_term || got_int) {
			if (got_term && !d.leave_on_term)
				break;
			if (serf_leave_step(&d.g))
				break;
			wait = 10;
		}
		net_poll(d.net, wait, &d.ctl, d.ctl >= 0 ? 1 : 0, rev);
		if (d.ctl >= 0 && (rev[0] & POLLIN))
			standalone_ctl_serve(&d);
	}
	rc = 0;
out:
	if (d.ctl >= 0) {
		close(d.ctl);
		unlink(d.ctl_path);
	}
	if (d.g.m)
		swim_free(&d.g);
	net_close(d.net);
	wire_buf_free(&tags);
	return rc;
}
