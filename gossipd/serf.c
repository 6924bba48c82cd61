/*
 * serf.c: serf's layer over the memberlist engine.
 *
 * Three Lamport clocks (members, events, queries), each starting at 1;
 * witnessing v sets clock = v + 1 when v >= clock.  Member status is
 * alive / leaving / left / failed: memberlist's join makes a member alive,
 * its dead makes it failed (or left, if a leave intent came first).
 * Intents are gossiped in serf messages with the member clock; per member
 * the newest intent time (status_ltime) wins, so stale ones are dropped and
 * not re-gossiped.  Intents about members memberlist has not told us about
 * yet wait in a small buffer.
 *
 * User events are deduplicated in a 512-slot ring indexed by LTime % 512
 * (a slot holds hashes of the (name, payload) pairs seen at its LTime) and
 * delivered once; the last GD_RECENT are kept for /v1/event/list.
 *
 * Snapshot (<data-dir>/serf/local.snapshot), serf's text format, rewritten
 * whole (write to .compact, rename) when membership changed:
 *     alive: <name> <ip:port>
 *     clock: N / event-clock: N / query-clock: N
 *     leave                      (after a graceful leave)
 * A restarted agent witnesses the clocks and joins the alive members.
 */
#include <arpa/inet.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossipd.h"

#define TAG_LEAVE 1
#define INTENT_KEEP_MS (5 * 60 * 1000)
#define PP_EVENTS      32 /* recent events sent in a push/pull */

static void
witness(uint64_t *clock, uint64_t v)
{
	if (v >= *clock)
		*clock = v + 1;
}

const char *
serf_status_str(int status)
{
	static const char *s[] = { "none", "alive", "leaving", "left",
		"failed" };
	return status >= 0 && status <= GD_FAILED ? s[status] : "unknown";
}

static void
serf_notify(struct gd *g, struct gd_member *m)
{
	g->snap_dirty = true;
	if (g->ops.member)
		g->ops.member(g->ops.up, m);
}

static struct gd_intent *
intent_find(struct gd *g, const char *node, bool create)
{
	struct gd_intent *oldest = &g->intents[0];

	for (size_t i = 0; i < sizeof(g->intents) / sizeof(g->intents[0]); i++) {
		struct gd_intent *it = &g->intents[i];
		if (it->node[0] && strcmp(it->node, node) == 0)
			return it;
		if (it->at < oldest->at)
			oldest = it;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->node, sizeof(oldest->node), "%s", node);
	return oldest;
}

/* Buffer an intent for an unknown member; true if it was newer. */
static bool
intent_buffer(struct gd *g, const char *node, uint64_t ltime, int type)
{
	struct gd_intent *it = intent_find(g, node, true);

	if (it->at && it->ltime >= ltime)
		return false;
	it->ltime = ltime;
	it->type = type;
	it->at = swim_now(g);
	return true;
}

void
serf_on_join(struct gd *g, struct gd_member *m)
{
	struct gd_intent *it;

	if (m->status == GD_NONE) {
		m->status = GD_ALIVE;
		it = intent_find(g, m->name, false);
		if (it && swim_now(g) - it->at < INTENT_KEEP_MS) {
			m->status_ltime = it->ltime;
			if (it->type == WSERF_LEAVE)
				m->status = GD_LEAVING;
		}
		if (it)
			it->node[0] = 0;
	} else {
		m->status = GD_ALIVE;
	}
	m->leave_ms = 0;
	serf_notify(g, m);
}

void
serf_on_leave(struct gd *g, struct gd_member *m)
{
	if (m->status == GD_LEAVING || (m == &g->m[0] && g->serf_leaving))
		m->status = GD_LEFT;
	else if (m->status == GD_ALIVE || m->status == GD_NONE)
		m->status = GD_FAILED;
	else
		return;
	m->leave_ms = swim_now(g);
	serf_notify(g, m);
}

void
serf_on_update(struct gd *g, struct gd_member *m)
{
	serf_notify(g, m);
}

static bool
serf_join_intent(struct gd *g, const struct wire_intent *j)
{
	struct gd_member *m;

	witness(&g->clock, j->ltime);
	if ((m = swim_find(g, j->node)) == NULL)
		return intent_buffer(g, j->node, j->ltime, WSERF_JOIN);
	if (j->ltime <= m->status_ltime)
		return false;
	m->status_ltime = j->ltime;
	if (m->status == GD_LEAVING) {
		m->status = GD_ALIVE;
		serf_notify(g, m);
	}
	return true;
}

static void
serf_broadcast_join(struct gd *g, uint64_t ltime)
{
	struct wire_intent j;
	struct gd_buf      b = { 0 };

	memset(&j, 0, sizeof(j));
	j.ltime = ltime;
	snprintf(j.node, sizeof(j.node), "%s", g->m[0].name);
	serf_join_intent(g, &j);
	wire_enc_intent(&b, WSERF_JOIN, &j);
	if (!b.err)
		swim_queue_user(g, b.p, b.len, 0);
	wire_buf_free(&b);
}

static bool
serf_leave_intent(struct gd *g, const struct wire_intent *l)
{
	struct gd_member *m;

	witness(&g->clock, l->ltime);
	if (strcmp(l->node, g->m[0].name) == 0 && !g->serf_leaving) {
		/* somebody says we are leaving: we are not */
		serf_broadcast_join(g, g->clock);
		return false;
	}
	if ((m = swim_find(g, l->node)) == NULL)
		return intent_buffer(g, l->node, l->ltime, WSERF_LEAVE);
	if (l->ltime <= m->status_ltime)
		return false;
	m->status_ltime = l->ltime;
	switch (m->status) {
	case GD_ALIVE:
		m->status = GD_LEAVING;
		serf_notify(g, m);
		break;
	case GD_FAILED:
		m->status = GD_LEFT;
		m->leave_ms = swim_now(g);
		serf_notify(g, m);
		break;
	}
	if (l->prune && m != &g->m[0] &&
	    (m->status == GD_LEFT || m->status == GD_FAILED)) {
		m->status = GD_NONE;
		serf_notify(g, m);
		swim_remove(g, (size_t)(m - g->m));
	}
	return true;
}

static uint64_t
ev_hash(const char *name, const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *s = name; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Dedup and deliver; true if the event was new. */
static bool
serf_event(struct gd *g, const struct wire_event *e)
{
	uint64_t             h;
	size_t               slot;
	struct gd_event_rec *r;

	witness(&g->event_clock, e->ltime);
	if (e->ltime < g->event_min)
		return false;
	if (g->event_clock > GD_EVENT_SLOTS &&
	    e->ltime < g->event_clock - GD_EVENT_SLOTS)
		return false;
	h = ev_hash(e->name, e->payload, e->payload_len);
	slot = e->ltime % GD_EVENT_SLOTS;
	if (g->evbuf[slot].ltime == e->ltime && g->evbuf[slot].n > 0) {
		for (int i = 0; i < g->evbuf[slot].n; i++)
			if (g->evbuf[slot].h[i] == h)
				return false;
		if (g->evbuf[slot].n < 8)
			g->evbuf[slot].h[g->evbuf[slot].n++] = h;
	} else {
		g->evbuf[slot].ltime = e->ltime;
		g->evbuf[slot].n = 1;
		g->evbuf[slot].h[0] = h;
	}
	r = &g->recent[g->nrecent % GD_RECENT];
	memset(r, 0, sizeof(*r));
	r->ltime = e->ltime;
	snprintf(r->name, sizeof(r->name), "%s", e->name);
	memcpy(r->payload, e->payload, e->payload_len);
	r->payload_len = e->payload_len;
	r->seq = ++g->nrecent;
	{
		/* a UUID-shaped id like Consul's, stable for the event */
		uint64_t a = h ^ e->ltime, b = ev_hash(g->m[0].name, NULL, 0) ^ r->seq;
		snprintf(r->id, sizeof(r->id), "%08x-%04x-%04x-%04x-%012llx",
		    (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
		    (unsigned)a & 0xffff, (unsigned)(b >> 48),
		    (unsigned long long)(b & 0xffffffffffffull));
	}
	if (g->ops.user_event)
		g->ops.user_event(g->ops.up, e);
	return true;
}

/*
 * serf's keyring queries (`serf keys`): install, use, remove, list.  Every
 * member answers; the operator's agent counts the answers.
 */
static void
serf_internal_query(struct gd *g, const struct wire_query *q)
{
	struct gd_keyring *kr = &g->cfg.keyring;
	struct gd_buf      kb = { 0 }, b = { 0 };
	uint8_t            key[32];
	size_t             kl = 0;
	const char        *name = q->name + 6, *msg = "";
	bool               ok = true, list = false;
	int                at = -1;

	if (strcmp(name, "list-keys") == 0) {
		list = true;
	} else if (strcmp(name, "install-key") == 0 ||
	    strcmp(name, "use-key") == 0 || strcmp(name, "remove-key") == 0) {
		if (wire_dec_key_request(q->payload, q->payload_len, key, &kl) != 0 ||
		    (kl != 16 && kl != 24 && kl != 32)) {
			ok = false;
			msg = "Failed to decode key request";
			goto reply;
		}
		for (int i = 0; i < kr->n; i++)
			if (kr->klen[i] == kl && memcmp(kr->key[i], key, kl) == 0)
				at = i;
		if (kr->n == 0) {
			ok = false;
			msg = "No keyring to modify (encryption not enabled)";
		} else if (name[0] == 'i') {
			if (at < 0 && kr->n < GD_KEYS_MAX) {
				memcpy(kr->key[kr->n], key, kl);
				kr->klen[kr->n++] = (uint8_t)kl;
			} else if (at < 0) {
				ok = false;
				msg = "keyring full";
			}
		} else if (name[0] == 'u') {
			if (at < 0) {
				ok = false;
				msg = "Requested key is not in the keyring";
			} else if (at > 0) {
				uint8_t t[32], tl = kr->klen[0];
				memcpy(t, kr->key[0], 32);
				memcpy(kr->key[0], kr->key[at], 32);
				kr->klen[0] = kr->klen[at];
				memcpy(kr->key[at], t, 32);
				kr->klen[at] = tl;
			}
		} else {
			if (at == 0) {
				ok = false;
				msg = "Removing the primary key is not allowed";
			} else if (at > 0) {
				memmove(kr->key[at], kr->key[at + 1],
				    (size_t)(kr->n - at - 1) * 32);
				memmove(&kr->klen[at], &kr->klen[at + 1],
				    (size_t)(kr->n - at - 1));
				kr->n--;
			}
		}
	} else {
		return; /* _serf_ping is answered by the ack; conflict: no opinion */
	}
	if (ok && !list)
		serf_keyring_save(g);
reply:
	wire_enc_key_response(&kb, kr, list, msg, ok);
	if (!kb.err)
		wire_enc_response(&b, q, 0, g->m[0].name, kb.p, kb.len);
	if (!kb.err && !b.err)
		swim_send_user(g, &q->addr, b.p, b.len);
	wire_buf_free(&kb);
	wire_buf_free(&b);
}

static bool
serf_query(struct gd *g, const struct wire_query *q)
{
	size_t slot = q->ltime % (sizeof(g->qbuf) / sizeof(g->qbuf[0]));

	witness(&g->query_clock, q->ltime);
	if (g->qbuf[slot].ltime == q->ltime && g->qbuf[slot].id == q->id)
		return false;
	g->qbuf[slot].ltime = q->ltime;
	g->qbuf[slot].id = q->id;
	if ((q->flags & 1) && q->addr.len) {
		struct gd_buf b = { 0 };
		wire_enc_response(&b, q, 1, g->m[0].name, NULL, 0);
		if (!b.err)
			swim_send_user(g, &q->addr, b.p, b.len);
		wire_buf_free(&b);
	}
	if (strncmp(q->name, "_serf_", 6) == 0 && q->addr.len)
		serf_internal_query(g, q);
	return true;
}

void
serf_on_user(struct gd *g, const uint8_t *p, size_t n)
{
	bool rebroadcast = false;

	if (n < 1)
		return;
	switch (p[0]) {
	case WSERF_LEAVE:
	case WSERF_JOIN: {
		struct wire_intent it;
		if (wire_dec_intent(p + 1, n - 1, &it) != 0)
			goto bad;
		rebroadcast = p[0] == WSERF_JOIN ? serf_join_intent(g, &it) :
		    serf_leave_intent(g, &it);
		break;
	}
	case WSERF_EVENT: {
		struct wire_event *e = malloc(sizeof(*e));
		if (e == NULL)
			return;
		if (wire_dec_event(p + 1, n - 1, e) != 0) {
			free(e);
			goto bad;
		}
		rebroadcast = serf_event(g, e);
		free(e);
		break;
	}
	case WSERF_QUERY: {
		struct wire_query q;
		if (wire_dec_query(p + 1, n - 1, &q) != 0)
			goto bad;
		rebroadcast = serf_query(g, &q) && !(q.flags & 2);
		break;
	}
	default:
		return; /* responses, relays: not for us */
	}
	if (rebroadcast)
		swim_queue_user(g, p, n, 0);
	return;
bad:
	g->st.rx_bad++;
}

int
serf_local_state(struct gd *g, struct gd_buf *b)
{
	struct wire_serf_pp pp;
	int                 rc = WIRE_ENOMEM;

	memset(&pp, 0, sizeof(pp));
	pp.ltime = g->clock;
	pp.event_ltime = g->event_clock;
	pp.query_ltime = g->query_clock;
	pp.status = calloc(g->nm, sizeof(*pp.status));
	pp.left = calloc(g->nm, sizeof(*pp.left));
	if (pp.status == NULL || pp.left == NULL)
		goto out;
	for (size_t i = 0; i < g->nm; i++) {
		const struct gd_member *m = &g->m[i];
		snprintf(pp.status[pp.nstatus].name, GD_NAME_MAX, "%s", m->name);
		pp.status[pp.nstatus++].ltime = m->status_ltime;
		if (m->status == GD_LEFT)
			snprintf(pp.left[pp.nleft++], GD_NAME_MAX, "%s", m->name);
	}
	/*
	 * Recent events ride along, as in serf, so that a member that missed
	 * one (loss, partition) gets it at the next exchange; dedup makes the
	 * repeats harmless.
	 */
	{
		size_t have = g->nrecent < PP_EVENTS ? g->nrecent : PP_EVENTS;
		if (have && (pp.events = calloc(have, sizeof(*pp.events)))) {
			for (size_t i = g->nrecent - have; i < g->nrecent; i++) {
				const struct gd_event_rec *r =
				    &g->recent[i % GD_RECENT];
				struct wire_event *e = &pp.events[pp.nevents];
				if (g->event_clock > GD_EVENT_SLOTS &&
				    r->ltime < g->event_clock - GD_EVENT_SLOTS)
					continue;
				e->ltime = r->ltime;
				snprintf(e->name, sizeof(e->name), "%s", r->name);
				memcpy(e->payload, r->payload, r->payload_len);
				e->payload_len = r->payload_len;
				pp.nevents++;
			}
		}
	}
	rc = wire_enc_serf_pp(b, &pp);
out:
	wire_serf_pp_free(&pp);
	return rc;
}

void
serf_merge_state(struct gd *g, const uint8_t *p, size_t n, bool join)
{
	struct wire_serf_pp pp;

	if (n < 1 || p[0] != WSERF_PUSHPULL ||
	    wire_dec_serf_pp(p + 1, n - 1, &pp) != 0) {
		g->st.rx_bad++;
		return;
	}
	if (pp.ltime > 0)
		witness(&g->clock, pp.ltime - 1);
	if (pp.event_ltime > 0)
		witness(&g->event_clock, pp.event_ltime - 1);
	if (pp.query_ltime > 0)
		witness(&g->query_clock, pp.query_ltime - 1);
	for (size_t i = 0; i < pp.nleft; i++) {
		struct wire_intent l;
		memset(&l, 0, sizeof(l));
		snprintf(l.node, sizeof(l.node), "%s", pp.left[i]);
		for (size_t j = 0; j < pp.nstatus; j++)
			if (strcmp(pp.status[j].name, l.node) == 0)
				l.ltime = pp.status[j].ltime + 1;
		serf_leave_intent(g, &l);
	}
	for (size_t j = 0; j < pp.nstatus; j++) {
		struct wire_intent jn;
		bool               left = false;
		for (size_t i = 0; i < pp.nleft; i++)
			if (strcmp(pp.left[i], pp.status[j].name) == 0)
				left = true;
		if (left)
			continue;
		memset(&jn, 0, sizeof(jn));
		snprintf(jn.node, sizeof(jn.node), "%s", pp.status[j].name);
		jn.ltime = pp.status[j].ltime;
		serf_join_intent(g, &jn);
	}
	/* agent default -replay=false: a joiner skips old events */
	if (join && pp.event_ltime > g->event_min)
		g->event_min = pp.event_ltime;
	for (size_t i = 0; i < pp.nevents; i++)
		serf_event(g, &pp.events[i]);
	wire_serf_pp_free(&pp);
}

int
serf_join(struct gd *g, const struct gd_addr *addrs, int n)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		if (swim_join(g, &addrs[i]) == 0)
			ok++;
	if (ok)
		serf_broadcast_join(g, g->clock);
	return ok;
}

struct serf_join_batch {
	struct gd *g;
	int        pending, ok;
	void     (*cb)(void *arg, int ok);
	void      *arg;
};

static void
serf_join_batch_done(void *arg, bool ok)
{
	struct serf_join_batch *b = arg;

	b->ok += ok;
	if (--b->pending > 0)
		return;
	if (b->ok)
		serf_broadcast_join(b->g, b->g->clock);
	if (b->cb)
		b->cb(b->arg, b->ok);
	free(b);
}

int
serf_join_async(struct gd *g, const struct gd_addr *addrs, int n,
    void (*cb)(void *arg, int ok), void *arg)
{
	struct serf_join_batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return -1;
	b->g = g;
	b->cb = cb;
	b->arg = arg;
	b->pending = n + 1; /* held until every exchange has started */
	for (int i = 0; i < n; i++)
		if (swim_join_cb(g, &addrs[i], serf_join_batch_done, b) != 0)
			serf_join_batch_done(b, false);
	serf_join_batch_done(b, false);
	return 0;
}

int
serf_leave_begin(struct gd *g)
{
	struct wire_intent l;
	struct gd_buf      b = { 0 };
	int                rc;

	memset(&l, 0, sizeof(l));
	l.ltime = g->clock++;
	snprintf(l.node, sizeof(l.node), "%s", g->m[0].name);
	g->serf_leaving = true;
	g->m[0].status = GD_LEAVING;
	g->m[0].status_ltime = l.ltime;
	wire_enc_intent(&b, WSERF_LEAVE, &l);
	rc = b.err ? -1 : swim_queue_user(g, b.p, b.len, TAG_LEAVE);
	wire_buf_free(&b);
	return rc;
}

/* The leave intent has gone out as often as the limit allows. */
bool
serf_leave_sent(struct gd *g)
{
	return !bcast_has_tag(&g->serf_q, TAG_LEAVE);
}

bool
serf_leave_step(struct gd *g)
{
	uint64_t now = swim_now(g);

	switch (g->leave_phase) {
	case 0:
		serf_leave_begin(g);
		g->leave_phase = 1;
		g->leave_deadline = now + 5000;
		return false;
	case 1:
		if (swim_alive_count(g) > 1 && !serf_leave_sent(g) &&
		    now < g->leave_deadline)
			return false;
		swim_leave(g);
		g->leave_phase = 2;
		g->leave_deadline = now + 3000;
		return false;
	case 2:
		if (swim_alive_count(g) > 0 && g->ml_q.n > 0 &&
		    now < g->leave_deadline)
			return false;
		serf_snapshot_write(g);
		g->leave_phase = 3;
		/* serf's LeavePropagateDelay, shorter in the fast profile */
		g->leave_deadline = now +
		    (g->cfg.probe_interval < 1000 ? 500 : 1000);
		return false;
	default:
		return now >= g->leave_deadline;
	}
}

int
serf_force_leave(struct gd *g, const char *node, bool prune)
{
	struct gd_member  *m = swim_find(g, node);
	struct wire_intent l;
	struct gd_buf      b = { 0 };

	if (m == NULL || m == &g->m[0])
		return -1;
	memset(&l, 0, sizeof(l));
	l.ltime = g->clock++;
	snprintf(l.node, sizeof(l.node), "%s", node);
	l.prune = prune;
	wire_enc_intent(&b, WSERF_LEAVE, &l);
	if (!b.err)
		swim_queue_user(g, b.p, b.len, 0);
	wire_buf_free(&b);
	serf_leave_intent(g, &l);
	return 0;
}

int
serf_user_event(struct gd *g, const char *name, const uint8_t *payload,
    size_t n, bool cc)
{
	struct wire_event *e;
	struct gd_buf      b = { 0 };
	int                rc = -1;

	if (n > GD_PAYLOAD_MAX || strlen(name) >= GD_NAME_MAX ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->ltime = g->event_clock++;
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (n)
		memcpy(e->payload, payload, n);
	e->payload_len = n;
	e->cc = cc;
	wire_enc_event(&b, e);
	if (!b.err && b.len <= 9 * 1024) {
		serf_event(g, e);
		rc = swim_queue_user(g, b.p, b.len, 0);
	}
	wire_buf_free(&b);
	free(e);
	return rc;
}

static void
serf_reap(struct gd *g, uint64_t now)
{
	for (size_t i = 1; i < g->nm;) {
		struct gd_member *m = &g->m[i];
		uint64_t          lim = m->status == GD_FAILED ?
				 g->cfg.reconnect_timeout :
				 g->cfg.tombstone_timeout;
		if ((m->status == GD_FAILED || m->status == GD_LEFT) &&
		    m->leave_ms && now - m->leave_ms > lim) {
			m->status = GD_NONE;
			serf_notify(g, m);
			swim_remove(g, i);
			continue;
		}
		i++;
	}
}

static void
serf_reconnect(struct gd *g)
{
	size_t failed = 0, alive = 0, pick;

	for (size_t i = 1; i < g->nm; i++) {
		if (g->m[i].status == GD_FAILED)
			failed++;
		else if (g->m[i].status == GD_ALIVE)
			alive++;
	}
	if (failed == 0)
		return;
	/* serf: probability failed / (members - failed - left) */
	if (alive + 1 > failed && swim_rand(g, (uint32_t)(alive + 1)) >= failed)
		return;
	pick = swim_rand(g, (uint32_t)failed);
	for (size_t i = 1; i < g->nm; i++) {
		if (g->m[i].status != GD_FAILED)
			continue;
		if (pick-- == 0) {
			struct gd_addr a = g->m[i].addr;
			swim_join_async(g, &a);
			return;
		}
	}
}

void
serf_tick(struct gd *g, uint64_t now)
{
	if (now >= g->next_reap) {
		serf_reap(g, now);
		for (size_t i = 0; i < sizeof(g->intents) / sizeof(g->intents[0]); i++)
			if (g->intents[i].node[0] &&
			    now - g->intents[i].at > INTENT_KEEP_MS)
				g->intents[i].node[0] = 0;
		g->next_reap = now + g->cfg.reap_interval;
	}
	if (now >= g->next_reconnect && !g->leaving) {
		g->next_reconnect = now + g->cfg.reconnect_interval;
		serf_reconnect(g);
	}
	if (g->snap_clocks[0] != g->clock || g->snap_clocks[1] != g->event_clock ||
	    g->snap_clocks[2] != g->query_clock)
		g->snap_dirty = true;
	if (g->snap_dirty && g->cfg.snapshot_path[0] && now >= g->next_snap) {
		g->next_snap = now + 500;
		serf_snapshot_write(g);
		g->snap_dirty = false;
	}
}

/* ---- snapshot ------------------------------------------------------------- */

void
serf_snapshot_write(struct gd *g)
{
	char  tmp[600], ip[64];
	FILE *f;

	if (!g->cfg.snapshot_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.compact", g->cfg.snapshot_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	for (size_t i = 1; i < g->nm; i++) {
		const struct gd_member *m = &g->m[i];
		if (m->status != GD_ALIVE && m->status != GD_LEAVING)
			continue;
		if (m->addr.len == 4)
			inet_ntop(AF_INET, m->addr.ip, ip, sizeof(ip));
		else if (m->addr.len == 16)
			inet_ntop(AF_INET6, m->addr.ip, ip, sizeof(ip));
		else
			continue;
		fprintf(f, m->addr.len == 16 ? "alive: %s [%s]:%u\n" :
					      "alive: %s %s:%u\n",
		    m->name, ip, m->addr.port);
	}
	fprintf(f, "clock: %llu\nevent-clock: %llu\nquery-clock: %llu\n",
	    (unsigned long long)(g->clock - 1),
	    (unsigned long long)(g->event_clock - 1),
	    (unsigned long long)(g->query_clock - 1));
	if (g->leaving)
		fprintf(f, "leave\n");
	if (fclose(f) == 0)
		rename(tmp, g->cfg.snapshot_path);
	g->snap_clocks[0] = g->clock;
	g->snap_clocks[1] = g->event_clock;
	g->snap_clocks[2] = g->query_clock;
}

int
serf_snapshot_load(struct gd *g, struct gd_addr *addrs, int max)
{
	char               line[512];
	FILE              *f;
	int                n = 0;
	unsigned long long v;

	if (!g->cfg.snapshot_path[0] ||
	    (f = fopen(g->cfg.snapshot_path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *sp;
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "alive: ", 7) == 0) {
			if ((sp = strrchr(line, ' ')) == NULL || n >= max)
				continue;
			if (net_parse_addr(sp + 1, 0, &addrs[n]) == 0)
				n++;
		} else if (strcmp(line, "leave") == 0) {
			n = 0; /* no rejoin after a graceful leave */
		} else if (sscanf(line, "clock: %llu", &v) == 1) {
			witness(&g->clock, v);
		} else if (sscanf(line, "event-clock: %llu", &v) == 1) {
			witness(&g->event_clock, v);
			g->event_min = v + 1;
		} else if (sscanf(line, "query-clock: %llu", &v) == 1) {
			witness(&g->query_clock, v);
		}
	}
	fclose(f);
	return n;
}

/* ---- keyring file ------------------------------------------------------ */

int
serf_keyring_save(const struct gd *g)
{
	const struct gd_keyring *kr = &g->cfg.keyring;
	char                     tmp[600], k64[64];
	FILE                    *f;

	if (!g->cfg.keyring_path[0])
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", g->cfg.keyring_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fputc('[', f);
	for (int i = 0; i < kr->n; i++) {
		b64_encode(k64, kr->key[i], kr->klen[i]);
		fprintf(f, "%s\"%s\"", i ? "," : "", k64);
	}
	fputs("]\n", f);
	if (fclose(f) != 0)
		return -1;
	chmod(tmp, 0600);
	return rename(tmp, g->cfg.keyring_path);
}

int
serf_keyring_load(const char *path, struct gd_keyring *kr)
{
	char   buf[4096], *p, *q;
	size_t n;
	FILE  *f;
	struct gd_keyring k;

	if (path[0] == 0 || (f = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	memset(&k, 0, sizeof(k));
	/* ["k1","k2"]: base64 has no quotes, so splitting on them is exact */
	for (p = strchr(buf, '"'); p; p = strchr(q + 1, '"')) {
		if ((q = strchr(p + 1, '"')) == NULL)
			return -1;
		*q = 0;
		if (wire_keyring_add(&k, p + 1) != 0)
			return -1;
	}
	if (k.n == 0)
		return -1;
	*kr = k;
	return 0;
}
