/*
 * swim.c: the memberlist engine.  SWIM failure detection with Lifeguard's
 * refinements, as memberlist 0.2.2 runs it:
 *
 *  - Every ProbeInterval x (awareness + 1) we probe the next member of a
 *    shuffled list with a UDP ping (plus our suspect message when it is
 *    already suspect, so it can refute).  No ack within ProbeTimeout: ask
 *    IndirectChecks random members to ping it for us (with Nack, so a helper
 *    that got no answer says so).  No ack by the end of the interval: we
 *    suspect it.
 *  - Awareness (Lifeguard's local health) goes down on a good probe and up
 *    on a failed one (by the nacks we missed) and on each refutation, and
 *    stretches the probe interval: a slow node accuses less.
 *  - A suspicion timer starts at max = SuspicionMaxTimeoutMult x min (min =
 *    SuspicionMult x log10(n) x ProbeInterval) and shrinks towards min with
 *    each independent confirmation (suspect messages from other members);
 *    at expiry the member is declared dead.
 *  - Incarnations order alive/suspect/dead claims about a member; a member
 *    accused of being suspect or dead refutes with a higher incarnation.
 *  - State changes are broadcast: piggy-backed on probes and acks, and sent
 *    to GossipNodes random members every GossipInterval, each message until
 *    it has gone out RetransmitMult x ceil(log10(n+1)) times.
 *  - Full state is exchanged over TCP (push/pull) on join and periodically.
 *
 * The serf layer (serf.c) gets memberlist's delegate calls directly:
 * join/leave/update notifications, user messages, push/pull user state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossipd.h"

static void swim_on_alive(struct gd *g, const struct wire_alive *a);
static void swim_on_suspect(struct gd *g, const struct wire_suspect *s);
static void swim_on_dead(struct gd *g, const struct wire_suspect *d);
static void swim_handle(struct gd *g, const struct gd_addr *from,
    const uint8_t *p, size_t n, int depth);

void
gd_config_lan(struct gd_config *c)
{
	c->probe_interval = 1000;
	c->probe_timeout = 500;
	c->gossip_interval = 200;
	c->gossip_nodes = 3;
	c->gossip_to_dead = 30000;
	c->pushpull_interval = 30000;
	c->suspicion_mult = 4;
	c->suspicion_max_mult = 6;
	c->retransmit_mult = 4;
	c->indirect_checks = 3;
	c->awareness_max = 8;
	c->reconnect_timeout = 72ull * 3600 * 1000; /* Consul's LAN value */
	c->tombstone_timeout = 24ull * 3600 * 1000;
	c->reap_interval = 15000;
	c->reconnect_interval = 30000;
	c->delegate_cur = 4;
	c->crypt_verify_incoming = true;
}

/*
 * The dev/test profile: detection of a dead member within 2 s at N=5.  A
 * probe round is 200 ms; with 4 live probers the dead one is probed by
 * someone nearly every round, so the two confirmations that shrink the
 * suspicion timer to its 800 ms minimum arrive within about 3 rounds.
 */
void
gd_config_fast(struct gd_config *c)
{
	gd_config_lan(c);
	c->probe_interval = 200;
	c->probe_timeout = 100;
	c->gossip_interval = 50;
	c->gossip_to_dead = 5000;
	c->pushpull_interval = 10000;
	c->suspicion_mult = 4;
	c->suspicion_max_mult = 4;
	c->reap_interval = 1000;
	c->reconnect_interval = 5000;
}

uint64_t
swim_now(struct gd *g)
{
	return g->ops.now_ms(g->ops.ctx);
}

uint32_t
swim_rand(struct gd *g, uint32_t n)
{
	/* xorshift64*: tests need reproducible runs from a seed */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return n ? (uint32_t)((g->rng * 2685821657736338717ull) >> 33) % n : 0;
}

struct gd_member *
swim_find(struct gd *g, const char *name)
{
	for (size_t i = 0; i < g->nm; i++)
		if (strcmp(g->m[i].name, name) == 0)
			return &g->m[i];
	return NULL;
}

size_t
swim_alive_count(const struct gd *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nm; i++)
		if (g->m[i].state == WS_ALIVE || g->m[i].state == WS_SUSPECT)
			n++;
	return n;
}

static void
susp_clear(struct gd_member *m)
{
	free(m->susp_from);
	m->susp_from = NULL;
	m->susp_n = m->susp_k = 0;
	m->susp_fire = 0;
}

/* Remove row i (never self); returns the new count. */
size_t
swim_remove(struct gd *g, size_t i)
{
	if (i == 0 || i >= g->nm)
		return g->nm;
	susp_clear(&g->m[i]);
	g->m[i] = g->m[--g->nm];
	return g->nm;
}

static struct gd_member *
swim_add(struct gd *g, const char *name)
{
	struct gd_member *m;

	if (g->nm == g->capm) {
		size_t            cap = g->capm ? g->capm * 2 : 16;
		struct gd_member *nm = realloc(g->m, cap * sizeof(*nm));
		if (nm == NULL)
			return NULL;
		g->m = nm;
		g->capm = cap;
	}
	m = &g->m[g->nm++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->state = WS_DEAD;
	return m;
}

static void
self_alive(struct gd *g, struct wire_alive *a)
{
	struct gd_member *s = &g->m[0];

	memset(a, 0, sizeof(*a));
	a->inc = s->inc;
	snprintf(a->node, sizeof(a->node), "%s", s->name);
	a->addr = s->addr;
	memcpy(a->meta, s->meta, s->meta_len);
	a->meta_len = s->meta_len;
	memcpy(a->vsn, s->vsn, 6);
}

int
swim_init(struct gd *g, const struct gd_config *cfg, const struct gd_ops *ops)
{
	struct gd_member *s;
	struct wire_alive a;
	uint64_t          now;

	memset(g, 0, sizeof(*g));
	g->cfg = *cfg;
	g->ops = *ops;
	g->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ull;
	if ((g->recent = calloc(GD_RECENT, sizeof(*g->recent))) == NULL)
		return -1;
	if ((s = swim_add(g, cfg->name)) == NULL)
		return -1;
	s->addr = cfg->advertise;
	s->inc = 1;
	s->state = WS_ALIVE;
	s->status = GD_ALIVE;
	memcpy(s->meta, cfg->meta, cfg->meta_len);
	s->meta_len = cfg->meta_len;
	s->vsn[0] = 1;
	s->vsn[1] = 5;
	s->vsn[2] = 2;
	s->vsn[3] = 2;
	s->vsn[4] = 5;
	s->vsn[5] = cfg->delegate_cur ? cfg->delegate_cur : 4;
	now = swim_now(g);
	s->state_ms = now;
	g->clock = g->event_clock = g->query_clock = 1;
	g->next_probe = now + cfg->probe_interval;
	g->next_gossip = now + cfg->gossip_interval;
	g->next_pp = now + cfg->pushpull_interval / 2 +
	    swim_rand(g, cfg->pushpull_interval / 2 + 1);
	g->next_reap = now + cfg->reap_interval;
	g->next_reconnect = now + cfg->reconnect_interval;
	/* memberlist's setAlive: our own alive goes out like any other */
	self_alive(g, &a);
	{
		struct gd_buf b = { 0 };
		wire_enc_alive(&b, &a);
		if (!b.err)
			bcast_push(&g->ml_q, s->name, b.p, b.len, 0);
		wire_buf_free(&b);
	}
	return 0;
}

void
swim_free(struct gd *g)
{
	for (size_t i = 0; i < g->nm; i++)
		susp_clear(&g->m[i]);
	free(g->m);
	free(g->recent);
	bcast_free(&g->ml_q);
	bcast_free(&g->serf_q);
	memset(g, 0, sizeof(*g));
}

/* ---- sending --------------------------------------------------------- */

/*
 * Send parts (plus piggy-backed broadcasts when piggy) as one datagram:
 * a single message or a compound, CRC'd when crc, sealed when we have keys.
 */
static void
swim_send(struct gd *g, const struct gd_addr *to, const uint8_t *const *parts,
    const size_t *lens, int np, bool piggy, bool crc)
{
	const uint8_t *all[64];
	size_t         alll[64];
	uint8_t       *taken[64];
	size_t         takenl[64];
	int            nt = 0, na = 0;
	size_t         used = 0, budget;
	struct gd_buf  pkt = { 0 }, c = { 0 }, e = { 0 };
	const uint8_t *out;
	size_t         outl;

	for (int i = 0; i < np && na < 64; i++) {
		all[na] = parts[i];
		alll[na++] = lens[i];
		used += lens[i] + 2;
	}
	budget = GD_UDP_MAX - 2 - 5 - (g->cfg.keyring.n ? 29 : 0);
	if (piggy && used < budget) {
		int lim = bcast_limit((int)g->cfg.retransmit_mult, g->nm);
		nt = bcast_take(&g->ml_q, lim, budget - used, 2, taken,
		    takenl, 64 - na);
		for (int i = 0; i < nt; i++)
			used += takenl[i] + 2;
		if (used < budget)
			nt += bcast_take(&g->serf_q, lim, budget - used, 2,
			    taken + nt, takenl + nt, 64 - na - nt);
		for (int i = 0; i < nt; i++) {
			all[na] = taken[i];
			alll[na++] = takenl[i];
		}
	}
	if (na == 0)
		goto out;
	if (na == 1) {
		out = all[0];
		outl = alll[0];
	} else {
		wire_enc_compound(&pkt, all, alll, na);
		out = pkt.p;
		outl = pkt.len;
	}
	if (crc) {
		wire_enc_crc(&c, out, outl);
		out = c.p;
		outl = c.len;
	}
	if (g->cfg.keyring.n) {
		if (wire_seal(&g->cfg.keyring, out, outl, &e) != 0)
			goto out;
		out = e.p;
		outl = e.len;
	}
	if (!pkt.err && !c.err && !e.err) {
		g->ops.send_udp(g->ops.ctx, to, out, outl);
		g->st.tx_packets++;
	}
out:
	for (int i = 0; i < nt; i++)
		free(taken[i]);
	wire_buf_free(&pkt);
	wire_buf_free(&c);
	wire_buf_free(&e);
}

static void
swim_send1(struct gd *g, const struct gd_addr *to, const struct gd_buf *b,
    bool piggy, bool crc)
{
	const uint8_t *p = b->p;
	if (!b->err)
		swim_send(g, to, &p, &b->len, 1, piggy, crc);
}

static bool
wants_crc(const struct gd_member *m)
{
	return m && m->vsn[1] >= 5;
}

static void
swim_broadcast(struct gd *g, const char *key, const struct gd_buf *b)
{
	if (!b->err)
		bcast_push(&g->ml_q, key, b->p, b->len, 0);
}

int
swim_queue_user(struct gd *g, const uint8_t *p, size_t n, int tag)
{
	struct gd_buf b = { 0 };
	int           rc;

	wire_enc_user(&b, p, n);
	rc = b.err ? -1 : bcast_push(&g->serf_q, "", b.p, b.len, tag);
	wire_buf_free(&b);
	return rc;
}

void
swim_send_user(struct gd *g, const struct gd_addr *to, const uint8_t *p,
    size_t n)
{
	struct gd_buf b = { 0 };

	wire_enc_user(&b, p, n);
	swim_send1(g, to, &b, false, false);
	wire_buf_free(&b);
}

/* ---- state changes ----------------------------------------------------- */

static void
swim_refute(struct gd *g, uint32_t accused)
{
	struct gd_member *s = &g->m[0];
	struct wire_alive a;
	struct gd_buf     b = { 0 };

	s->inc = (accused + 1 > s->inc + 1) ? accused + 1 : s->inc + 1;
	if (g->awareness < (int)g->cfg.awareness_max - 1)
		g->awareness++;
	g->st.refutes++;
	self_alive(g, &a);
	wire_enc_alive(&b, &a);
	swim_broadcast(g, s->name, &b);
	wire_buf_free(&b);
}

void
swim_update_meta(struct gd *g, const uint8_t *meta, size_t n)
{
	struct gd_member *s = &g->m[0];
	struct wire_alive a;
	struct gd_buf     b = { 0 };

	if (n > GD_META_MAX)
		return;
	memcpy(s->meta, meta, n);
	s->meta_len = n;
	s->inc++;
	self_alive(g, &a);
	wire_enc_alive(&b, &a);
	swim_broadcast(g, s->name, &b);
	wire_buf_free(&b);
}

static bool
same_addr(const struct gd_addr *a, const struct gd_addr *b)
{
	return a->len == b->len && a->port == b->port &&
	    memcmp(a->ip, b->ip, a->len) == 0;
}

static void
swim_on_alive(struct gd *g, const struct wire_alive *in)
{
	struct gd_member *m;
	struct wire_alive a = *in;
	struct gd_buf     b = { 0 };
	int               old;
	bool              meta_changed, fresh = false;

	if (a.vsn[0] == 0 || a.vsn[1] == 0 || a.vsn[0] > a.vsn[1])
		return;
	if (a.addr.port == 0)
		a.addr.port = g->cfg.advertise.port;
	if (strcmp(a.node, g->m[0].name) == 0) {
		struct gd_member *s = &g->m[0];
		if (g->leaving || a.inc < s->inc)
			return;
		if (a.inc == s->inc && a.meta_len == s->meta_len &&
		    memcmp(a.meta, s->meta, a.meta_len) == 0 &&
		    memcmp(a.vsn, s->vsn, 6) == 0)
			return;
		swim_refute(g, a.inc);
		return;
	}
	if ((m = swim_find(g, a.node)) == NULL) {
		if (a.addr.len == 0 || (m = swim_add(g, a.node)) == NULL)
			return;
		m->addr = a.addr;
		fresh = true;
	} else if (!same_addr(&m->addr, &a.addr)) {
		/* memberlist: only a left member may come back elsewhere */
		if (m->state != WS_LEFT) {
			g->st.conflicts++;
			return;
		}
		m->addr = a.addr;
		fresh = true;
	}
	if (!fresh && a.inc <= m->inc)
		return;
	if (fresh && a.inc == 0)
		return; /* memberlist: new nodes start at known 0 */
	old = fresh ? WS_DEAD : m->state;
	meta_changed = m->meta_len != a.meta_len ||
	    memcmp(m->meta, a.meta, a.meta_len) != 0;
	susp_clear(m);
	m->inc = a.inc;
	memcpy(m->meta, a.meta, a.meta_len);
	m->meta_len = a.meta_len;
	memcpy(m->vsn, a.vsn, 6);
	m->state = WS_ALIVE;
	m->state_ms = swim_now(g);
	a.state = 0;
	wire_enc_alive(&b, &a);
	swim_broadcast(g, a.node, &b);
	wire_buf_free(&b);
	if (old == WS_DEAD || old == WS_LEFT)
		serf_on_join(g, m);
	else if (meta_changed)
		serf_on_update(g, m);
}

/*
 * log2(x) for x >= 1, to about 1e-8: the integer part by halving, then one
 * bit of the fraction per squaring.  These three logarithms are all
 * gossipd would link libm for, and mapping libm costs each gossipd 0.5 MB
 * of RSS.
 */
static double
swim_log2(double x)
{
	double r = 0, bit = 1;

	while (x >= 2) {
		x /= 2;
		r += 1;
	}
	for (int i = 0; i < 30; i++) {
		x *= x;
		bit /= 2;
		if (x >= 2) {
			x /= 2;
			r += bit;
		}
	}
	return r;
}

static void
susp_start(struct gd *g, struct gd_member *m, const char *from)
{
	double   n = (double)g->nm, scale;
	uint64_t min, max, now = swim_now(g);
	int      k = (int)g->cfg.suspicion_mult - 2;

	scale = swim_log2(n < 1 ? 1 : n) * 0.30102999566398120; /* log10 */
	if (scale < 1)
		scale = 1;
	/* memberlist truncates to milli-units; 1e-6 absorbs our rounding */
	scale = (double)(uint64_t)(scale * 1000 + 1e-6) / 1000;
	min = (uint64_t)(g->cfg.suspicion_mult * scale * g->cfg.probe_interval);
	max = g->cfg.suspicion_max_mult * min;
	if ((int)g->nm - 2 < k || k < 0)
		k = 0;
	susp_clear(m);
	m->susp_start = now;
	m->susp_min = min;
	m->susp_max = max;
	m->susp_k = k;
	m->susp_fire = now + (k >= 1 ? max : min);
	if (k > 0)
		m->susp_from = calloc((size_t)k + 1, GD_NAME_MAX);
	if (m->susp_from)
		snprintf(m->susp_from[k], GD_NAME_MAX, "%s", from);
}

/* Lifeguard: an independent accuser shortens the timer. */
static bool
susp_confirm(struct gd_member *m, const char *from)
{
	double frac, t;

	if (m->susp_from == NULL || m->susp_n >= m->susp_k)
		return false;
	for (int i = 0; i < m->susp_n; i++)
		if (strcmp(m->susp_from[i], from) == 0)
			return false;
	if (strcmp(m->susp_from[m->susp_k], from) == 0)
		return false;
	snprintf(m->susp_from[m->susp_n++], GD_NAME_MAX, "%s", from);
	frac = swim_log2((double)m->susp_n + 1) /
	    swim_log2((double)m->susp_k + 1);
	t = (double)m->susp_max - frac * (double)(m->susp_max - m->susp_min);
	if (t < (double)m->susp_min)
		t = (double)m->susp_min;
	m->susp_fire = m->susp_start + (uint64_t)t;
	return true;
}

static void
swim_on_suspect(struct gd *g, const struct wire_suspect *s)
{
	struct gd_member *m = swim_find(g, s->node);
	struct gd_buf     b = { 0 };

	if (m == NULL || s->inc < m->inc)
		return;
	if (m->state == WS_SUSPECT) {
		if (susp_confirm(m, s->from)) {
			wire_enc_suspect(&b, WIRE_SUSPECT, s);
			swim_broadcast(g, s->node, &b);
			wire_buf_free(&b);
		}
		return;
	}
	if (m->state != WS_ALIVE)
		return;
	if (m == &g->m[0]) {
		swim_refute(g, s->inc);
		return;
	}
	m->inc = s->inc;
	m->state = WS_SUSPECT;
	m->state_ms = swim_now(g);
	g->st.suspects_raised++;
	susp_start(g, m, s->from);
	wire_enc_suspect(&b, WIRE_SUSPECT, s);
	swim_broadcast(g, s->node, &b);
	wire_buf_free(&b);
}

static void
swim_on_dead(struct gd *g, const struct wire_suspect *d)
{
	struct gd_member *m = swim_find(g, d->node);
	struct gd_buf     b = { 0 };

	if (m == NULL || d->inc < m->inc)
		return;
	susp_clear(m);
	if (m->state == WS_DEAD || m->state == WS_LEFT)
		return;
	if (m == &g->m[0] && !g->leaving) {
		swim_refute(g, d->inc);
		return;
	}
	wire_enc_suspect(&b, WIRE_DEAD, d);
	swim_broadcast(g, d->node, &b);
	wire_buf_free(&b);
	m->inc = d->inc;
	m->state = strcmp(d->from, d->node) == 0 ? WS_LEFT : WS_DEAD;
	m->state_ms = swim_now(g);
	serf_on_leave(g, m);
}

void
swim_leave(struct gd *g)
{
	struct wire_suspect d;

	g->leaving = true;
	memset(&d, 0, sizeof(d));
	d.inc = g->m[0].inc;
	snprintf(d.node, sizeof(d.node), "%s", g->m[0].name);
	snprintf(d.from, sizeof(d.from), "%s", g->m[0].name);
	swim_on_dead(g, &d);
	g->left = true;
}

/* ---- receiving ---------------------------------------------------------- */

static void
swim_ack(struct gd *g, const struct gd_addr *to, uint32_t seq)
{
	struct wire_ack a = { seq, 0 };
	struct gd_buf   b = { 0 };

	wire_enc_ack(&b, &a);
	swim_send1(g, to, &b, true, false);
	wire_buf_free(&b);
}

static void
swim_ping_to(struct gd *g, const struct gd_member *t, uint32_t seq,
    bool with_suspect)
{
	struct wire_ping p;
	struct gd_buf    b = { 0 }, s = { 0 };

	memset(&p, 0, sizeof(p));
	p.seq = seq;
	snprintf(p.node, sizeof(p.node), "%s", t->name);
	snprintf(p.src_node, sizeof(p.src_node), "%s", g->m[0].name);
	p.src = g->m[0].addr;
	wire_enc_ping(&b, &p);
	if (with_suspect) {
		struct wire_suspect su;
		const uint8_t      *parts[2];
		size_t              lens[2];
		memset(&su, 0, sizeof(su));
		su.inc = t->inc;
		snprintf(su.node, sizeof(su.node), "%s", t->name);
		snprintf(su.from, sizeof(su.from), "%s", g->m[0].name);
		wire_enc_suspect(&s, WIRE_SUSPECT, &su);
		parts[0] = b.p;
		lens[0] = b.len;
		parts[1] = s.p;
		lens[1] = s.len;
		if (!b.err && !s.err)
			swim_send(g, &t->addr, parts, lens, 2, true,
			    wants_crc(t));
	} else {
		swim_send1(g, &t->addr, &b, true, false);
	}
	wire_buf_free(&b);
	wire_buf_free(&s);
}

static void
swim_handle_ping(struct gd *g, const struct gd_addr *from, const uint8_t *p,
    size_t n)
{
	struct wire_ping m;

	if (wire_dec_ping(p, n, &m) != 0) {
		g->st.rx_bad++;
		return;
	}
	/* a ping meant for a former owner of this address */
	if (m.node[0] && strcmp(m.node, g->m[0].name) != 0)
		return;
	swim_ack(g, m.src.len && m.src.port ? &m.src : from, m.seq);
}

static void
swim_handle_indirect(struct gd *g, const struct gd_addr *from,
    const uint8_t *p, size_t n)
{
	struct wire_indirect m;
	struct gd_member     t;
	struct gd_relay     *r = NULL;
	uint64_t             now = swim_now(g);

	if (wire_dec_indirect(p, n, &m) != 0 || m.target.len == 0) {
		g->st.rx_bad++;
		return;
	}
	for (size_t i = 0; i < sizeof(g->relay) / sizeof(g->relay[0]); i++) {
		if (g->relay[i].deadline == 0 || g->relay[i].deadline < now) {
			r = &g->relay[i];
			break;
		}
	}
	if (r == NULL)
		return;
	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", m.node);
	t.addr = m.target;
	if (t.addr.port == 0)
		t.addr.port = g->cfg.advertise.port;
	r->our_seq = ++g->seq;
	r->their_seq = m.seq;
	r->to = m.src.len && m.src.port ? m.src : *from;
	r->nack = m.nack;
	r->deadline = now + g->cfg.probe_timeout;
	swim_ping_to(g, &t, r->our_seq, false);
}

static void
swim_handle_ack(struct gd *g, uint32_t seq)
{
	if (g->probe.active && seq == g->probe.seq) {
		g->probe.acked = true;
		return;
	}
	for (size_t i = 0; i < sizeof(g->relay) / sizeof(g->relay[0]); i++) {
		struct gd_relay *r = &g->relay[i];
		if (r->deadline && r->our_seq == seq) {
			swim_ack(g, &r->to, r->their_seq);
			r->deadline = 0;
			return;
		}
	}
}

static void
swim_handle(struct gd *g, const struct gd_addr *from, const uint8_t *p,
    size_t n, int depth)
{
	const uint8_t *body = p + 1;
	size_t         bl = n - 1;

	if (n < 1 || depth > 4) {
		g->st.rx_bad++;
		return;
	}
	switch (p[0]) {
	case WIRE_COMPOUND: {
		const uint8_t *parts[128];
		size_t         lens[128];
		int            k = wire_dec_compound(body, bl, parts, lens, 128);
		if (k < 0)
			g->st.rx_bad++;
		for (int i = 0; i < k; i++)
			swim_handle(g, from, parts[i], lens[i], depth + 1);
		return;
	}
	case WIRE_COMPRESS: {
		struct gd_buf out = { 0 };
		if (wire_dec_compress(body, bl, &out, 65536) == 0)
			swim_handle(g, from, out.p, out.len, depth + 1);
		else
			g->st.rx_bad++;
		wire_buf_free(&out);
		return;
	}
	case WIRE_PING:
		swim_handle_ping(g, from, body, bl);
		return;
	case WIRE_INDIRECT:
		swim_handle_indirect(g, from, body, bl);
		return;
	case WIRE_ACK: {
		struct wire_ack a;
		if (wire_dec_ack(body, bl, &a) == 0)
			swim_handle_ack(g, a.seq);
		else
			g->st.rx_bad++;
		return;
	}
	case WIRE_NACK: {
		uint32_t seq;
		if (wire_dec_nack(body, bl, &seq) == 0) {
			if (g->probe.active && seq == g->probe.seq)
				g->probe.nack_got++;
		} else {
			g->st.rx_bad++;
		}
		return;
	}
	case WIRE_SUSPECT:
	case WIRE_DEAD: {
		struct wire_suspect s;
		if (wire_dec_suspect(body, bl, &s) != 0 || !s.node[0]) {
			g->st.rx_bad++;
			return;
		}
		if (p[0] == WIRE_SUSPECT)
			swim_on_suspect(g, &s);
		else
			swim_on_dead(g, &s);
		return;
	}
	case WIRE_ALIVE: {
		struct wire_alive a;
		if (wire_dec_alive(body, bl, &a) != 0) {
			g->st.rx_bad++;
			return;
		}
		swim_on_alive(g, &a);
		return;
	}
	case WIRE_USER:
		serf_on_user(g, body, bl);
		return;
	default:
		g->st.rx_bad++;
	}
}

void
swim_recv_udp(struct gd *g, const struct gd_addr *from, const uint8_t *p,
    size_t n)
{
	struct gd_buf pt = { 0 };

	g->st.rx_packets++;
	if (n == 0)
		return;
	if (g->cfg.keyring.n) {
		if (wire_open(&g->cfg.keyring, p, n, &pt) == 0) {
			p = pt.p;
			n = pt.len;
		} else if (g->cfg.crypt_verify_incoming) {
			g->st.rx_crypt_fail++;
			goto out;
		}
	}
	if (n >= 1 && p[0] == WIRE_CRC) {
		if (n < 5 || wire_crc32(p + 5, n - 5) !=
			((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
			    (uint32_t)p[3] << 8 | p[4])) {
			g->st.rx_bad++;
			goto out;
		}
		p += 5;
		n -= 5;
	}
	if (n >= 1)
		swim_handle(g, from, p, n, 0);
out:
	wire_buf_free(&pt);
}

/* ---- push/pull ------------------------------------------------------------ */

static int
swim_local_state(struct gd *g, bool join, struct gd_buf *out)
{
	struct gd_buf      us = { 0 };
	struct wire_pp_hdr h;
	int                rc;

	if ((rc = serf_local_state(g, &us)) != 0)
		goto out;
	h.join = join;
	h.nodes = (uint32_t)g->nm;
	h.user_len = (uint32_t)us.len;
	wire_enc_pp_hdr(out, &h);
	for (size_t i = 0; i < g->nm; i++) {
		const struct gd_member *m = &g->m[i];
		struct wire_alive       a;
		memset(&a, 0, sizeof(a));
		a.inc = m->inc;
		snprintf(a.node, sizeof(a.node), "%s", m->name);
		a.addr = m->addr;
		memcpy(a.meta, m->meta, m->meta_len);
		a.meta_len = m->meta_len;
		memcpy(a.vsn, m->vsn, 6);
		a.state = m->state;
		wire_enc_node(out, &a);
	}
	wire_buf_put(out, us.p, us.len);
	rc = out->err;
out:
	wire_buf_free(&us);
	return rc;
}

static void
swim_merge(struct gd *g, const struct wire_alive *v, uint32_t n,
    const uint8_t *user, size_t ul, bool join)
{
	for (uint32_t i = 0; i < n; i++) {
		struct wire_suspect s;
		memset(&s, 0, sizeof(s));
		s.inc = v[i].inc;
		snprintf(s.node, sizeof(s.node), "%s", v[i].node);
		switch (v[i].state) {
		case WS_ALIVE:
			swim_on_alive(g, &v[i]);
			break;
		case WS_LEFT:
			snprintf(s.from, sizeof(s.from), "%s", v[i].node);
			swim_on_dead(g, &s);
			break;
		default:
			/* a remote death is only a suspicion here */
			snprintf(s.from, sizeof(s.from), "%s", g->m[0].name);
			swim_on_suspect(g, &s);
		}
	}
	if (ul)
		serf_merge_state(g, user, ul, join);
}

/* Frame a stream message: sealed when we have keys. */
static int
swim_stream_frame(struct gd *g, const struct gd_buf *in, struct gd_buf *out)
{
	if (in->err)
		return in->err;
	if (g->cfg.keyring.n)
		return wire_stream_seal(&g->cfg.keyring, in->p, in->len, out);
	return wire_buf_put(out, in->p, in->len);
}

/* Merge a push/pull reply frame; 0 on success. */
static int
swim_pp_reply(struct gd *g, const uint8_t *reply, size_t rl, bool join)
{
	struct gd_buf      rep = { 0 };
	struct wire_pp_hdr h;
	struct wire_alive *nodes = NULL;
	const uint8_t     *user;
	size_t             ul;
	int                rc = -1;

	if (reply == NULL)
		return -1;
	if (wire_stream_open(&g->cfg.keyring,
		g->cfg.keyring.n && g->cfg.crypt_verify_incoming, reply, rl,
		&rep) != 0 ||
	    rep.len < 1 || rep.p[0] != WIRE_PUSHPULL)
		goto out;
	if (wire_dec_pp(rep.p + 1, rep.len - 1, &h, &nodes, &user, &ul) != 0)
		goto out;
	swim_merge(g, nodes, h.nodes, user, ul, join);
	rc = 0;
out:
	if (rc)
		g->st.rx_bad++;
	free(nodes);
	wire_buf_free(&rep);
	return rc;
}

static void
swim_pp_done(void *arg, const uint8_t *reply, size_t rl)
{
	swim_pp_reply(arg, reply, rl, false);
}

static void
swim_pp_done_join(void *arg, const uint8_t *reply, size_t rl)
{
	swim_pp_reply(arg, reply, rl, true);
}

/*
 * A push/pull with `to`.  sync: wait for the reply (joins, whose callers
 * want the answer); otherwise let the transport run it in the background
 * when it can, so that a peer slow to answer does not stall probing.
 */
static int
swim_push_pull(struct gd *g, const struct gd_addr *to, bool join, bool sync)
{
	struct gd_buf st = { 0 }, fr = { 0 };
	uint8_t      *reply = NULL;
	size_t        rl = 0;
	int           rc = -1;

	if (swim_local_state(g, join, &st) || swim_stream_frame(g, &st, &fr))
		goto out;
	if (!sync && g->ops.stream_async) {
		rc = g->ops.stream_async(g->ops.ctx, to, fr.p, fr.len,
		    join ? swim_pp_done_join : swim_pp_done, g);
		goto out;
	}
	if (g->ops.stream(g->ops.ctx, to, fr.p, fr.len, &reply, &rl) != 0)
		goto out;
	rc = swim_pp_reply(g, reply, rl, join);
out:
	free(reply);
	wire_buf_free(&st);
	wire_buf_free(&fr);
	return rc;
}

int
swim_join_async(struct gd *g, const struct gd_addr *a)
{
	return swim_push_pull(g, a, true, false);
}

struct swim_join_req {
	struct gd *g;
	void     (*cb)(void *arg, bool ok);
	void      *arg;
};

static void
swim_join_req_done(void *arg, const uint8_t *reply, size_t rl)
{
	struct swim_join_req *r = arg;
	bool                  ok = swim_pp_reply(r->g, reply, rl, true) == 0;

	r->cb(r->arg, ok);
	free(r);
}

int
swim_join_cb(struct gd *g, const struct gd_addr *a,
    void (*cb)(void *arg, bool ok), void *arg)
{
	struct gd_buf         st = { 0 }, fr = { 0 };
	struct swim_join_req *r;
	int                   rc = -1;

	if (g->ops.stream_async == NULL) {
		cb(arg, swim_join(g, a) == 0);
		return 0;
	}
	if ((r = malloc(sizeof(*r))) == NULL)
		return -1;
	r->g = g;
	r->cb = cb;
	r->arg = arg;
	if (swim_local_state(g, true, &st) == 0 &&
	    swim_stream_frame(g, &st, &fr) == 0)
		rc = g->ops.stream_async(g->ops.ctx, a, fr.p, fr.len,
		    swim_join_req_done, r);
	if (rc != 0)
		free(r);
	wire_buf_free(&st);
	wire_buf_free(&fr);
	return rc;
}

int
swim_join(struct gd *g, const struct gd_addr *a)
{
	return swim_push_pull(g, a, true, true);
}

int
swim_recv_stream(struct gd *g, const struct gd_addr *from, const uint8_t *p,
    size_t n, uint8_t **reply, size_t *reply_len)
{
	struct gd_buf in = { 0 }, out = { 0 }, fr = { 0 };
	int           rc = -1;

	(void)from;
	*reply = NULL;
	*reply_len = 0;
	if (wire_stream_open(&g->cfg.keyring,
		g->cfg.keyring.n && g->cfg.crypt_verify_incoming, p, n,
		&in) != 0 ||
	    in.len < 1) {
		g->st.rx_bad++;
		goto out;
	}
	switch (in.p[0]) {
	case WIRE_PING: {
		struct wire_ping pg;
		struct wire_ack  a = { 0, 0 };
		if (wire_dec_ping(in.p + 1, in.len - 1, &pg) != 0)
			goto bad;
		a.seq = pg.seq;
		wire_enc_ack(&out, &a);
		break;
	}
	case WIRE_PUSHPULL: {
		struct wire_pp_hdr h;
		struct wire_alive *nodes;
		const uint8_t     *user;
		size_t             ul;
		if (wire_dec_pp(in.p + 1, in.len - 1, &h, &nodes, &user,
			&ul) != 0)
			goto bad;
		/* reply with our state as it was, then merge theirs */
		swim_local_state(g, h.join, &out);
		swim_merge(g, nodes, h.nodes, user, ul, h.join);
		free(nodes);
		break;
	}
	case WIRE_USER: {
		const uint8_t *up;
		size_t         ul;
		if (wire_dec_user_stream(in.p + 1, in.len - 1, &up, &ul) != 0)
			goto bad;
		serf_on_user(g, up, ul);
		rc = 0;
		goto out;
	}
	default:
		goto bad;
	}
	if (out.err || swim_stream_frame(g, &out, &fr))
		goto out;
	*reply = fr.p;
	*reply_len = fr.len;
	fr.p = NULL;
	rc = 0;
	goto out;
bad:
	g->st.rx_bad++;
	wire_enc_err(&out, "bad request");
	if (!swim_stream_frame(g, &out, &fr)) {
		*reply = fr.p;
		*reply_len = fr.len;
		fr.p = NULL;
	}
out:
	wire_buf_free(&in);
	wire_buf_free(&out);
	wire_buf_free(&fr);
	return rc;
}

/* ---- timers --------------------------------------------------------------- */

static void
swim_probe_end(struct gd *g)
{
	struct gd_member   *t;
	struct wire_suspect s;
	int                 delta;

	if (!g->probe.active)
		return;
	g->probe.active = false;
	if (g->probe.acked) {
		if (g->awareness > 0)
			g->awareness--;
		return;
	}
	if (g->probe.tcp_acked) {
		/* reachable over TCP only: the network may be misconfigured,
		 * but the member is alive */
		g->st.tcp_rescues++;
		return;
	}
	g->st.probe_fail++;
	if (g->probe.nack_expect > 0)
		delta = g->probe.nack_expect > g->probe.nack_got ?
		    g->probe.nack_expect - g->probe.nack_got : 0;
	else
		delta = 1;
	g->awareness += delta;
	if (g->awareness > (int)g->cfg.awareness_max - 1)
		g->awareness = (int)g->cfg.awareness_max - 1;
	if ((t = swim_find(g, g->probe.target)) == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.inc = t->inc;
	snprintf(s.node, sizeof(s.node), "%s", t->name);
	snprintf(s.from, sizeof(s.from), "%s", g->m[0].name);
	swim_on_suspect(g, &s);
}

static bool
probeable(const struct gd_member *m)
{
	return m->state == WS_ALIVE || m->state == WS_SUSPECT;
}

static void
swim_probe_start(struct gd *g, uint64_t now)
{
	struct gd_member *t = NULL;

	for (size_t tries = 0; tries < g->nm; tries++) {
		if (g->probe_idx >= g->nm) {
			/* wrap: reshuffle everyone but self */
			for (size_t i = g->nm - 1; i > 1; i--) {
				size_t           j = 1 + swim_rand(g, (uint32_t)i);
				struct gd_member tmp = g->m[i];
				g->m[i] = g->m[j];
				g->m[j] = tmp;
			}
			g->probe_idx = 1;
		}
		if (g->probe_idx == 0)
			g->probe_idx = 1;
		if (g->probe_idx < g->nm && probeable(&g->m[g->probe_idx])) {
			t = &g->m[g->probe_idx++];
			break;
		}
		g->probe_idx++;
	}
	if (t == NULL)
		return;
	g->st.probes++;
	g->probe.active = true;
	snprintf(g->probe.target, sizeof(g->probe.target), "%s", t->name);
	g->probe.seq = ++g->seq;
	g->probe.sent = now;
	g->probe.timeout_at = now + g->cfg.probe_timeout;
	g->probe.acked = false;
	g->probe.indirect_sent = false;
	g->probe.tcp_acked = false;
	g->probe.nack_expect = g->probe.nack_got = 0;
	swim_ping_to(g, t, g->probe.seq, t->state == WS_SUSPECT);
}

/* memberlist's TCP fallback probe: answered with an ack on the stream */
static void
swim_tcp_ping_done(void *arg, const uint8_t *reply, size_t rl)
{
	struct gd      *g = arg;
	struct gd_buf   in = { 0 };
	struct wire_ack a;

	if (reply == NULL || !g->probe.active)
		return;
	if (wire_stream_open(&g->cfg.keyring,
		g->cfg.keyring.n && g->cfg.crypt_verify_incoming, reply, rl,
		&in) == 0 &&
	    in.len > 1 && in.p[0] == WIRE_ACK &&
	    wire_dec_ack(in.p + 1, in.len - 1, &a) == 0 && a.seq == g->probe.seq)
		g->probe.tcp_acked = true;
	wire_buf_free(&in);
}

static void
swim_tcp_ping(struct gd *g, const struct gd_member *t)
{
	struct wire_ping p;
	struct gd_buf    b = { 0 }, fr = { 0 };

	memset(&p, 0, sizeof(p));
	p.seq = g->probe.seq;
	snprintf(p.node, sizeof(p.node), "%s", t->name);
	snprintf(p.src_node, sizeof(p.src_node), "%s", g->m[0].name);
	p.src = g->m[0].addr;
	wire_enc_ping(&b, &p);
	if (swim_stream_frame(g, &b, &fr) == 0)
		g->ops.stream_async(g->ops.ctx, &t->addr, fr.p, fr.len,
		    swim_tcp_ping_done, g);
	wire_buf_free(&b);
	wire_buf_free(&fr);
}

static void
swim_probe_indirect(struct gd *g)
{
	struct gd_member *t = swim_find(g, g->probe.target);
	size_t            cand[64];
	size_t            nc = 0;

	g->probe.indirect_sent = true;
	if (t == NULL)
		return;
	for (size_t i = 1; i < g->nm && nc < 64; i++)
		if (g->m[i].state == WS_ALIVE && &g->m[i] != t)
			cand[nc++] = i;
	for (uint32_t k = 0; k < g->cfg.indirect_checks && nc > 0; k++) {
		size_t               j = swim_rand(g, (uint32_t)nc);
		struct gd_member    *h = &g->m[cand[j]];
		struct wire_indirect ind;
		struct gd_buf        b = { 0 };
		cand[j] = cand[--nc];
		memset(&ind, 0, sizeof(ind));
		ind.seq = g->probe.seq;
		snprintf(ind.node, sizeof(ind.node), "%s", t->name);
		ind.target = t->addr;
		ind.nack = h->vsn[1] >= 4;
		snprintf(ind.src_node, sizeof(ind.src_node), "%s",
		    g->m[0].name);
		ind.src = g->m[0].addr;
		if (ind.nack)
			g->probe.nack_expect++;
		wire_enc_indirect(&b, &ind);
		swim_send1(g, &h->addr, &b, true, false);
		wire_buf_free(&b);
	}
	if (t->vsn[1] >= 3 && g->ops.stream_async)
		swim_tcp_ping(g, t);
}

static void
swim_gossip(struct gd *g, uint64_t now)
{
	size_t cand[256];
	size_t nc = 0;

	if (g->ml_q.n == 0 && g->serf_q.n == 0)
		return;
	for (size_t i = 1; i < g->nm && nc < 256; i++) {
		const struct gd_member *m = &g->m[i];
		if (probeable(m) ||
		    (m->state == WS_DEAD && now - m->state_ms < g->cfg.gossip_to_dead))
			cand[nc++] = i;
	}
	for (uint32_t k = 0; k < g->cfg.gossip_nodes && nc > 0; k++) {
		size_t j = swim_rand(g, (uint32_t)nc);
		size_t i = cand[j];
		cand[j] = cand[--nc];
		swim_send(g, &g->m[i].addr, NULL, NULL, 0, true,
		    wants_crc(&g->m[i]));
	}
}

static uint64_t
pp_scale(uint64_t interval, size_t n)
{
	uint64_t bits = 0;	/* ceil(log2(n)) */

	if (n <= 32)
		return interval;
	for (size_t v = n - 1; v; v >>= 1)
		bits++;
	/* memberlist: ceil(log2(n) - log2(32)) + 1 */
	return interval * (bits - 4);
}

int
swim_tick(struct gd *g)
{
	uint64_t now = swim_now(g), next;

	if (g->probe.active && !g->probe.acked && !g->probe.indirect_sent &&
	    now >= g->probe.timeout_at)
		swim_probe_indirect(g);
	if (now >= g->next_probe) {
		swim_probe_end(g);
		if (!g->left)
			swim_probe_start(g, now);
		g->next_probe = now +
		    (uint64_t)g->cfg.probe_interval * (uint64_t)(g->awareness + 1);
	}
	for (size_t i = 0; i < sizeof(g->relay) / sizeof(g->relay[0]); i++) {
		struct gd_relay *r = &g->relay[i];
		if (r->deadline && now >= r->deadline) {
			if (r->nack) {
				struct gd_buf b = { 0 };
				wire_enc_nack(&b, r->their_seq);
				swim_send1(g, &r->to, &b, false, false);
				wire_buf_free(&b);
			}
			r->deadline = 0;
		}
	}
	for (size_t i = 1; i < g->nm; i++) {
		struct gd_member *m = &g->m[i];
		if (m->state == WS_SUSPECT && m->susp_fire && now >= m->susp_fire) {
			struct wire_suspect d;
			memset(&d, 0, sizeof(d));
			d.inc = m->inc;
			snprintf(d.node, sizeof(d.node), "%s", m->name);
			snprintf(d.from, sizeof(d.from), "%s", g->m[0].name);
			swim_on_dead(g, &d);
		}
	}
	if (now >= g->next_gossip) {
		swim_gossip(g, now);
		g->next_gossip = now + g->cfg.gossip_interval;
	}
	if (now >= g->next_pp) {
		size_t cand[256], nc = 0;
		for (size_t i = 1; i < g->nm && nc < 256; i++)
			if (g->m[i].state == WS_ALIVE)
				cand[nc++] = i;
		g->next_pp = now + pp_scale(g->cfg.pushpull_interval, g->nm);
		if (nc && !g->left) {
			struct gd_addr a = g->m[cand[swim_rand(g, (uint32_t)nc)]].addr;
			swim_push_pull(g, &a, false, false);
		}
	}
	serf_tick(g, now);
	now = swim_now(g);
	next = g->next_probe < g->next_gossip ? g->next_probe : g->next_gossip;
	if (g->probe.active && !g->probe.indirect_sent &&
	    g->probe.timeout_at < next)
		next = g->probe.timeout_at;
	if (next <= now)
		return 1;
	return next - now > 100 ? 100 : (int)(next - now);
}
