/*
 * dnsd's state and its daemon frame (proto/daemon.h): config from the
 * supervisor, sockets registered in the loop, the view kept current from
 * raftd.
 *
 * Feeding the view.  raftd publishes raft.changed {index, table, key} after
 * every applied batch and repeats its last index every second (tick);
 * pub/sub is lossy.  dnsd marks the view stale when an event names
 * "nodes", "services" or "checks", or when a tick's index is above the
 * newest it has seen (an event was lost, or raftd restarted), and then
 * fetches the whole catalog (fetch.c: one raft.catalog_read "dump", or
 * the reads httpd uses when raftd has no dump) and swaps in the view built
 * from it (catalog_replace).  At most one fetch is in flight; changes
 * during it re-mark the view, so the next fetch follows.  While raftd
 * serves no catalog (status 501) dnsd keeps the view it has.  Row
 * events, when raftd publishes them, go through catalog_node/service/check
 * instead.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "dnsd.h"
#include "log.h"
#include "msg_raft.h"

#define DNSD_TICK_MS 100
#define DNSD_RETRY_MS 1000

void
dnsd_init(struct dnsd *d)
{
	memset(d, 0, sizeof(*d));
	dnsconf_defaults(&d->conf);
	d->view = view_new();
	d->fwd_fd[0] = d->fwd_fd[1] = -1;
	/* Production answers need only be unpredictable enough to spread
	 * load; the tests call answer_seed() to pin the order. */
	answer_seed(d, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
}

void
dnsd_free(struct dnsd *d)
{
	view_free(d->view);
	free(d->cand);
	dnsconf_free(&d->conf);
	d->view = NULL;
	d->cand = NULL;
}

/* --- the daemon ----------------------------------------------------------- */

struct dnsd_daemon {
	struct dnsd    dns;
	struct daemon *d;
	int            timer;
	bool           stale;        /* the catalog changed since the view */
	bool           fetching;
	bool           dump_missing; /* raftd answered 501: said once */
	uint64_t       seen_index;   /* newest index raftd announced */
	struct fetch   fetch;
	uint64_t       retry_at;     /* no fetch before this (ms) */
};

static struct dnsd_daemon dnsd_state;

static void
dnsd_on_fd(int fd, short revents, void *arg)
{
	struct dnsd *d = arg;

	if (revents & (POLLIN | POLLERR | POLLHUP))
		server_readable(d, fd);
	if (revents & POLLOUT)
		server_writable(d, fd);
}

static void
dnsd_watch(struct dnsd *d, int fd, short events)
{
	struct loop *loop = d->watch_arg;

	if (events == 0)
		loop_del_fd(loop, fd);
	else
		loop_add_fd(loop, fd, events, dnsd_on_fd, d);
}

static void
dnsd_on_view(void *arg, struct view *v, int status)
{
	struct dnsd_daemon *s = arg;

	s->fetching = false;
	if (v == NULL) {
		if (status == 501) {
			if (!s->dump_missing)
				log_info("raftd serves no catalog yet; the DNS "
				    "view stays as it is");
			s->dump_missing = true;
		} else {
			/* Not every tick: a struggling raftd gets a second. */
			log_debug("catalog fetch failed (%d); retrying in %d ms",
			    status, DNSD_RETRY_MS);
			s->retry_at = loop_now_ms() + DNSD_RETRY_MS;
			s->stale = true;
		}
		return;
	}
	s->dump_missing = false;
	catalog_replace(&s->dns, v);
	log_debug("view: index %llu, %zu nodes, %zu services, %zu checks",
	    (unsigned long long)v->index, v->nnodes, v->nservices, v->nchecks);
}

static void
dnsd_fetch(struct dnsd_daemon *s)
{
	if (s->fetching || !s->stale || loop_now_ms() < s->retry_at)
		return;
	s->stale = false;
	/* Before the call: done() may run inside it when nothing could be
	 * sent, and clears the flag. */
	s->fetching = true;
	fetch_start(&s->fetch, s->d->bus);
}

static void
dnsd_on_changed(struct bus *b, const struct proto_env *env, void *arg)
{
	struct dnsd_daemon       *s = arg;
	struct proto_raft_changed ev;

	(void)b;
	if (env->type != PROTO_RAFT_CHANGED ||
	    proto_unpack_raft_changed(env, &ev) != 0)
		return;
	if (ev.tick) {
		/* Behind raftd's index with no event seen: one was lost. */
		if (ev.index > s->seen_index && ev.index > s->dns.view->index &&
		    !s->dump_missing)
			s->stale = true;
	} else if (ev.table != NULL && (strcmp(ev.table, "nodes") == 0 ||
	    strcmp(ev.table, "services") == 0 ||
	    strcmp(ev.table, "checks") == 0 ||
	    (ev.prefix && ev.key != NULL && ev.key[0] == '\0'))) {
		s->stale = true;
	}
	if (ev.index > s->seen_index)
		s->seen_index = ev.index;
	proto_free_raft_changed(&ev);
}

static void
dnsd_on_tick(void *arg)
{
	struct dnsd_daemon *s = arg;

	server_tick(&s->dns, loop_now_ms());
	dnsd_fetch(s);
}

static int
dnsd_configure(struct dnsd *d, const struct config *cfg)
{
	char err[256];

	if (dnsconf_from_json(&d->conf, cfg->root, err, sizeof(err)) != 0) {
		log_warnx("config: %s", err);
		return -1;
	}
	return 0;
}

static int
dnsd_daemon_init(struct daemon *dm)
{
	struct dnsd_daemon *s = &dnsd_state;

	memset(s, 0, sizeof(*s));
	dnsd_init(&s->dns);
	s->d = dm;
	dm->priv = s;
	if (dnsd_configure(&s->dns, &dm->cfg) != 0)
		return -1;
	s->dns.watch = dnsd_watch;
	s->dns.watch_arg = dm->loop;
	if (s->dns.conf.port != 0 && server_open(&s->dns) != 0)
		return -1;
	if (s->dns.conf.port == 0)
		log_info("DNS disabled (ports.dns = -1)");
	else
		log_info("DNS on port %u, domain %s.%s%s%s", s->dns.conf.port,
		    s->dns.conf.domain, s->dns.conf.alt_domain ? " (alt " : "",
		    s->dns.conf.alt_domain ? s->dns.conf.alt_domain : "",
		    s->dns.conf.alt_domain ? ".)" : "");
	if (bus_subscribe(dm->bus, "raftd", "raft.changed", dnsd_on_changed,
	    s) != 0)
		log_warnx("cannot subscribe to raftd's changes");
	s->fetch.done = dnsd_on_view;
	s->fetch.arg = s;
	s->stale = true; /* the first view comes from raftd */
	s->timer = loop_add_timer(dm->loop, DNSD_TICK_MS, 1, dnsd_on_tick, s);
	return 0;
}

static bool
dnsd_same_sockets(const struct dnsconf *a, const struct dnsconf *b)
{
	if (a->port != b->port || a->nclient_addr != b->nclient_addr ||
	    a->nrecursors != b->nrecursors)
		return false;
	for (size_t i = 0; i < a->nclient_addr; i++)
		if (strcmp(a->client_addr[i], b->client_addr[i]) != 0)
			return false;
	return true;
}

static void
dnsd_reload(struct daemon *dm, const struct config *old)
{
	struct dnsd_daemon *s = dm->priv;
	struct dnsconf      nc;
	char                err[256];

	(void)old;
	dnsconf_defaults(&nc);
	if (dnsconf_from_json(&nc, dm->cfg.root, err, sizeof(err)) != 0) {
		log_warnx("reload: %s; keeping the old DNS config", err);
		dnsconf_free(&nc);
		return;
	}
	if (dnsd_same_sockets(&nc, &s->dns.conf)) {
		dnsconf_free(&s->dns.conf);
		s->dns.conf = nc;
		return;
	}
	server_close(&s->dns);
	dnsconf_free(&s->dns.conf);
	s->dns.conf = nc;
	if (s->dns.conf.port != 0 && server_open(&s->dns) != 0)
		log_warnx("reload: cannot open the new DNS sockets");
}

static void
dnsd_status(struct daemon *dm, json_t *out)
{
	struct dnsd_daemon *s = dm->priv;

	json_object_set_new(out, "queries",
	    json_integer((json_int_t)s->dns.stats_queries));
	json_object_set_new(out, "forwarded",
	    json_integer((json_int_t)s->dns.stats_forwarded));
	json_object_set_new(out, "view_index",
	    json_integer((json_int_t)s->dns.view->index));
	json_object_set_new(out, "view_nodes",
	    json_integer((json_int_t)s->dns.view->nnodes));
	json_object_set_new(out, "view_services",
	    json_integer((json_int_t)s->dns.view->nservices));
	json_object_set_new(out, "tcp_conns",
	    json_integer((json_int_t)s->dns.ntcp));
}

static int
dnsd_dispatch(struct daemon *dm, struct bus_req *req,
    const struct proto_env *env)
{
	(void)dm;
	(void)req;
	(void)env;
	return -1;
}

static void
dnsd_stop(struct daemon *dm)
{
	struct dnsd_daemon *s = dm->priv;

	if (s == NULL)
		return;
	if (s->timer > 0)
		loop_del_timer(dm->loop, s->timer);
	server_close(&s->dns);
	dnsd_free(&s->dns);
	dm->priv = NULL;
}

const struct daemon_ops dnsd_ops = {
	.name = "dnsd",
	.init = dnsd_daemon_init,
	.dispatch = dnsd_dispatch,
	.reload = dnsd_reload,
	.status = dnsd_status,
	.stop = dnsd_stop,
};
