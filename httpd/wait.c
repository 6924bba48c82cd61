/*
 * The waiter registry: blocking queries (?index=N&wait=D) parked until
 * raftd says their table/key changed past N, or D ends.
 *
 * A parked request is a suspended MHD connection.  raftd answers a read with
 * min_index = N either with the data (it changed: the request is answered at
 * once) or with `unchanged`; only then does the request come here.  raftd's
 * raft.changed events (received on httpd's loop thread) name the table and
 * key of every change; each parked request they concern is taken out and its
 * read re-issued with the same N (to raftd, or read from raftd's store by
 * local.c for a KV GET on the leader, or answered by cache.c from an
 * answer current by that store's indexes), so what decides "changed" is
 * always raftd's store, never the event.
 *
 * Two races, two answers:
 *  - An event can arrive between raftd serving the read and the request
 *    being parked.  Every event gets a sequence number and goes into a ring;
 *    a request remembers the sequence when its read was issued, and parking
 *    first looks at the ring's newer events: a match (or a ring that has
 *    wrapped past it) re-issues instead of parking.
 *  - pub/sub drops messages.  raftd repeats its last index on a tick and
 *    numbers its events (the envelope id); a tick beyond the last index we
 *    saw, or a gap in the ids, means some were lost: every parked request is
 *    re-issued (they cost one read each).
 *
 * Deadlines: wait (default 5 min, capped at 10 min) plus up to wait/16 of
 * jitter, as Consul does, so that many clients do not wake together.  On
 * expiry the read is re-issued with min_index 0, which answers the current
 * state with its index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "loop.h"

void
wait_init(struct wait_registry *w, void (*reissue)(struct httpd_req *, void *),
    void *arg)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	w->reissue = reissue;
	w->reissue_arg = arg;
}

void
wait_destroy(struct wait_registry *w)
{
	for (size_t i = 0; i < WAIT_RING; i++)
		free(w->ring[i].key);
	pthread_mutex_destroy(&w->mu);
	memset(w, 0, sizeof(*w));
}

uint64_t
wait_seq(struct wait_registry *w)
{
	uint64_t s;

	pthread_mutex_lock(&w->mu);
	s = w->seq;
	pthread_mutex_unlock(&w->mu);
	return s;
}

uint64_t
wait_duration_ms(const struct httpd_query *q)
{
	uint64_t wait = HTTPD_WAIT_DEFAULT_MS;

	if (q->has_wait && q->wait_ms > 0)
		wait = (uint64_t)q->wait_ms;
	if (wait > HTTPD_WAIT_MAX_MS)
		wait = HTTPD_WAIT_MAX_MS;
	if (wait >= 16)
		wait += (uint64_t)random() % (wait / 16);
	return wait;
}

/* Does key lie under prefix p, or p under key (a prefix change)? */
static int
wait_prefix(const char *p, const char *key)
{
	return strncmp(key, p, strlen(p)) == 0;
}

int
wait_match(const struct httpd_req *r, const char *table, const char *key,
    bool prefix)
{
	const char *wk = r->wkey != NULL ? r->wkey : "";

	if (table == NULL || *table == '\0' || strcmp(r->table, table) != 0)
		return 0;
	if (key == NULL)
		key = "";
	/* Session lists and everything not keyed: any change of the table. */
	if (strcmp(table, "kv") != 0)
		return 1;
	if (prefix && r->wprefix)
		return wait_prefix(key, wk) || wait_prefix(wk, key);
	if (prefix)
		return wait_prefix(key, wk);
	if (r->wprefix)
		return wait_prefix(wk, key);
	return strcmp(wk, key) == 0;
}

static void
wait_unlink(struct wait_registry *w, struct httpd_req *r)
{
	if (r->wprev != NULL)
		r->wprev->wnext = r->wnext;
	else
		w->head = r->wnext;
	if (r->wnext != NULL)
		r->wnext->wprev = r->wprev;
	r->wnext = r->wprev = NULL;
	w->nparked--;
}

int
wait_park(struct wait_registry *w, struct httpd_req *r)
{
	pthread_mutex_lock(&w->mu);
	if (w->seq - r->seen_seq >= WAIT_RING) {
		pthread_mutex_unlock(&w->mu);
		return 1;
	}
	for (uint64_t s = r->seen_seq + 1; s <= w->seq; s++) {
		const struct wait_event *e = &w->ring[s % WAIT_RING];

		if (wait_match(r, e->table, e->key, e->prefix)) {
			pthread_mutex_unlock(&w->mu);
			return 1;
		}
	}
	r->state = REQ_PARKED;
	r->wprev = NULL;
	r->wnext = w->head;
	if (w->head != NULL)
		w->head->wprev = r;
	w->head = r;
	w->nparked++;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/*
 * Takes the requests for which keep() says yes out of the list (under the
 * lock) and re-issues them after it is released: re-issuing may answer at
 * once on another thread, which may park again.
 */
static void
wait_reissue_list(struct wait_registry *w, struct httpd_req *list)
{
	while (list != NULL) {
		struct httpd_req *next = list->wnext;

		list->wnext = list->wprev = NULL;
		list->state = REQ_PENDING;
		w->reissue(list, w->reissue_arg);
		list = next;
	}
}

void
wait_event(struct wait_registry *w, uint64_t env_id, uint64_t index,
    const char *table, const char *key, bool prefix, bool tick)
{
	struct httpd_req *take = NULL, *r, *next;
	int               all = 0;

	pthread_mutex_lock(&w->mu);
	if (w->last_env_id != 0 && env_id != 0 && env_id != w->last_env_id + 1)
		all = 1;
	if (env_id != 0)
		w->last_env_id = env_id;
	if (tick) {
		if (index > w->last_index) {
			all = 1;
			w->last_index = index;
		}
	} else {
		struct wait_event *e;

		if (index > w->last_index)
			w->last_index = index;
		w->seq++;
		e = &w->ring[w->seq % WAIT_RING];
		free(e->key);
		e->seq = w->seq;
		snprintf(e->table, sizeof(e->table), "%s",
		    table != NULL ? table : "");
		e->key = strdup(key != NULL ? key : "");
		e->prefix = prefix;
	}
	if (all) {
		w->rechecks++;
		/* A lost event may concern anyone parked now or about to be. */
		w->seq += WAIT_RING;
	}
	for (r = w->head; r != NULL; r = next) {
		next = r->wnext;
		if (all || (!tick && wait_match(r, table, key, prefix))) {
			wait_unlink(w, r);
			r->wnext = take;
			take = r;
		}
	}
	pthread_mutex_unlock(&w->mu);
	wait_reissue_list(w, take);
}

void
wait_expire(struct wait_registry *w, uint64_t now_ms)
{
	struct httpd_req *take = NULL, *r, *next;

	pthread_mutex_lock(&w->mu);
	for (r = w->head; r != NULL; r = next) {
		next = r->wnext;
		if (r->deadline_ms <= now_ms) {
			wait_unlink(w, r);
			r->min_index = 0;   /* the final read answers as is */
			r->wnext = take;
			take = r;
		}
	}
	pthread_mutex_unlock(&w->mu);
	wait_reissue_list(w, take);
}

struct httpd_req *
wait_take_all(struct wait_registry *w)
{
	struct httpd_req *list;

	pthread_mutex_lock(&w->mu);
	list = w->head;
	w->head = NULL;
	w->nparked = 0;
	pthread_mutex_unlock(&w->mu);
	return list;
}

size_t
wait_count(struct wait_registry *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->nparked;
	pthread_mutex_unlock(&w->mu);
	return n;
}
