/*
 * httpd's daemon frame: start MHD, follow raftd's changes for the waiter
 * registry and its leader flag for local reads, expire blocking queries,
 * stop cleanly.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"
#include "msg_raft.h"

/* How often parked queries are checked for their deadline. */
#define HTTPD_EXPIRE_MS 20

static struct httpd httpd_state;

static void
httpd_on_changed(struct bus *b, const struct proto_env *env, void *arg)
{
	struct httpd             *h = arg;
	struct proto_raft_changed ev;

	(void)b;
	if (env->type != PROTO_RAFT_CHANGED ||
	    proto_unpack_raft_changed(env, &ev) != 0)
		return;
	local_leader(&h->local, ev.leader);
	wait_event(&h->wait, env->id, ev.index, ev.table, ev.key, ev.prefix,
	    ev.tick);
	proto_free_raft_changed(&ev);
}

static void
httpd_on_expire(void *arg)
{
	struct httpd *h = arg;

	wait_expire(&h->wait, loop_now_ms());
}

static int
httpd_init(struct daemon *d)
{
	struct httpd *h = &httpd_state;

	memset(h, 0, sizeof(*h));
	h->d = d;
	d->priv = h;
	srandom((unsigned)loop_now_us());
	if (server_start(h) != 0)
		return -1;
	if (bus_subscribe(d->bus, "raftd", "raft.changed", httpd_on_changed,
	        h) != 0)
		log_warnx("cannot subscribe to raftd's changes");
	h->wait_timer = loop_add_timer(d->loop, HTTPD_EXPIRE_MS, 1,
	    httpd_on_expire, h);
	return 0;
}

static int
httpd_dispatch(struct daemon *d, struct bus_req *req,
    const struct proto_env *env)
{
	(void)d;
	(void)req;
	(void)env;
	return -1;
}

static void
httpd_status(struct daemon *d, json_t *out)
{
	struct httpd *h = d->priv;

	json_object_set_new(out, "listeners", json_integer(h->nmhd));
	json_object_set_new(out, "parked", json_integer(
	    (json_int_t)wait_count(&h->wait)));
	json_object_set_new(out, "inflight", json_integer(
	    atomic_load(&h->inflight)));
	json_object_set_new(out, "requests", json_integer(
	    (json_int_t)h->requests));
	json_object_set_new(out, "kv_batches", json_integer(
	    (json_int_t)h->batches));
	json_object_set_new(out, "kv_batched", json_integer(
	    (json_int_t)h->batched));
	json_object_set_new(out, "rechecks", json_integer(
	    (json_int_t)h->wait.rechecks));
	json_object_set_new(out, "local_reads", json_integer(
	    (json_int_t)atomic_load(&h->local.served)));
	json_object_set_new(out, "local_errors", json_integer(
	    (json_int_t)atomic_load(&h->local.errors)));
	json_object_set_new(out, "local_ready", json_boolean(
	    local_usable(&h->local)));
	pthread_mutex_lock(&h->cache.mu);
	json_object_set_new(out, "cache", json_pack("{sIsIsIsIsIsIsIsI}",
	    "entries", (json_int_t)h->cache.n,
	    "bytes", (json_int_t)h->cache.bytes,
	    "hits", (json_int_t)h->cache.hits,
	    "misses", (json_int_t)h->cache.misses,
	    "stale", (json_int_t)h->cache.stale,
	    "fills", (json_int_t)h->cache.fills,
	    "evictions", (json_int_t)h->cache.evictions,
	    "coalesced", (json_int_t)h->cache.coalesced));
	pthread_mutex_unlock(&h->cache.mu);
}

static void
httpd_stop(struct daemon *d)
{
	struct httpd *h = d->priv;

	if (h == NULL)
		return;
	if (h->wait_timer > 0)
		loop_del_timer(d->loop, h->wait_timer);
	server_stop(h);
}

const struct daemon_ops httpd_ops = {
	.name = "httpd",
	.init = httpd_init,
	.dispatch = httpd_dispatch,
	.status = httpd_status,
	.stop = httpd_stop,
};
