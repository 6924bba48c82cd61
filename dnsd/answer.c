/*
 * The answer engine: query bytes + the view -> response bytes.
 *
 * Names under the domain (or alt_domain; answers use the one queried) are
 * read from the right:
 *
 *   <node>.node[.<dc>[.dc]]                A/AAAA, TXT (node meta), ANY
 *   [<tag>.]<service>.service[.<dc>[.dc]]  A/AAAA/ANY, SRV
 *   _<service>._<tag|tcp>[.service][.<dc>] SRV style (RFC 2782)
 *   <hex>.addr[.<dc>]                      A (8 hex) / AAAA (32 hex)
 *   (apex)                                 SOA, NS
 *   <ip>.in-addr.arpa / ip6.arpa           PTR for a known node address
 *
 * Service instances with a critical node or service check are left out
 * (a warning too under only_passing); the rest are shuffled with dnsd's
 * seedable RNG, so tests can pin the order.
 *
 * Size: a UDP answer fits 512 bytes, or the requester's EDNS size; without
 * EDNS it also holds at most min(udp_answer_limit, 8) answers, as Consul
 * does.  Unlike Consul's default, whenever an answer record is left out
 * for either reason TC is set, so resolvers retry over TCP (64 KiB).  The
 * OPT record's 11 bytes are reserved first; additional records are
 * dropped silently when they do not fit (RFC 2181 §9).  a_record_limit is
 * policy, not truncation: it caps A/AAAA answers on UDP and TCP alike and
 * sets no TC.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dnsd.h"

#define ANSWER_MAX_UDP 65467   /* Consul's cap on an EDNS UDP size */
#define ANSWER_UDP_HARD_LIMIT 8

struct answer {
	struct dnsd       *d;
	struct wire_query *q;
	struct wire_buf    w;
	bool               tcp;
	struct wire_name   dom;    /* the domain as configured, matched */
	size_t             nsub;   /* labels left of the domain */
	uint16_t           an, ns, ar;
	bool               tc, aa;
	int                rcode;
	uint32_t           udp_max_answers; /* 0 = no count limit */
};

static const char hexdig[] = "0123456789abcdef";

void
answer_seed(struct dnsd *d, uint64_t seed)
{
	d->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

/* xorshift64*: fast, and reproducible from a seed for golden tests. */
uint64_t
answer_rand(struct dnsd *d)
{
	uint64_t x = d->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	d->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static bool
answer_lab_is(const struct wire_name *l, size_t i, const char *s)
{
	size_t n = strlen(s);

	return l->len[i] == n && memcmp(l->lab[i], s, n) == 0;
}

/* Do the last dom->n labels of l equal dom (both lowercase)? */
static bool
answer_suffix(const struct wire_name *l, const struct wire_name *dom)
{
	if (dom->n == 0 || l->n < dom->n)
		return false;
	for (size_t i = 0; i < dom->n; i++) {
		size_t j = l->n - dom->n + i;
		if (l->len[j] != dom->len[i] ||
		    memcmp(l->lab[j], dom->lab[i], dom->len[i]) != 0)
			return false;
	}
	return true;
}

/* Joins labels [from, to) with dots into buf (256 bytes). */
static size_t
answer_join(const struct wire_name *l, size_t from, size_t to, char *buf)
{
	size_t n = 0;

	for (size_t i = from; i < to; i++) {
		if (i > from)
			buf[n++] = '.';
		memcpy(buf + n, l->lab[i], l->len[i]);
		n += l->len[i];
	}
	buf[n] = '\0';
	return n;
}

/* --- records ------------------------------------------------------------- */

/* Writes one record with rollback; true when it fit.  Counts it. */
static bool
answer_commit(struct answer *a, struct wire_mark m, uint16_t *count)
{
	if (a->w.overflow) {
		wire_reset(&a->w, m);
		return false;
	}
	(*count)++;
	return true;
}

static bool
answer_rr_addr(struct answer *a, const struct wire_name *owner,
    const struct view_addr *ad, uint32_t ttl, uint16_t *count)
{
	struct wire_mark m = wire_mark(&a->w);
	size_t           at;

	at = wire_rr_begin(&a->w, owner, ad->family == 4 ? DNS_T_A :
	    DNS_T_AAAA, ttl);
	wire_bytes(&a->w, ad->ip, ad->family == 4 ? 4 : 16);
	wire_rr_end(&a->w, at);
	return answer_commit(a, m, count);
}

static bool
answer_rr_name(struct answer *a, const struct wire_name *owner, uint16_t type,
    const struct wire_name *target, uint32_t ttl, uint16_t *count)
{
	struct wire_mark m = wire_mark(&a->w);
	size_t           at;

	at = wire_rr_begin(&a->w, owner, type, ttl);
	wire_name(&a->w, target, true);
	wire_rr_end(&a->w, at);
	return answer_commit(a, m, count);
}

static void
answer_soa_name(struct answer *a, struct wire_name *nm, const char *first)
{
	wire_name_init(nm);
	wire_name_push(nm, first, strlen(first));
	wire_name_append(nm, &a->dom);
}

static bool
answer_rr_soa(struct answer *a, uint16_t *count)
{
	const struct dnsconf *c = &a->d->conf;
	struct wire_mark      m = wire_mark(&a->w);
	struct wire_name      mname, rname;
	size_t                at;
	uint32_t              serial = a->d->fixed_now ? a->d->fixed_now :
	    (uint32_t)time(NULL);

	answer_soa_name(a, &mname, "ns");
	answer_soa_name(a, &rname, "hostmaster");
	at = wire_rr_begin(&a->w, &a->dom, DNS_T_SOA, c->soa_minttl);
	wire_name(&a->w, &mname, true);
	wire_name(&a->w, &rname, true);
	wire_u32(&a->w, serial);
	wire_u32(&a->w, c->soa_refresh);
	wire_u32(&a->w, c->soa_retry);
	wire_u32(&a->w, c->soa_expire);
	wire_u32(&a->w, c->soa_minttl);
	wire_rr_end(&a->w, at);
	return answer_commit(a, m, count);
}

/* Node meta as TXT, RFC 1464 "key=value"; "rfc1035-" keys carry only the
 * value (Consul's rule).  Returns how many were written. */
static int
answer_rr_meta(struct answer *a, const struct wire_name *owner,
    const struct view_node *n, uint32_t ttl, uint16_t *count)
{
	int written = 0;

	for (size_t i = 0; i < n->nmeta; i++) {
		const char      *k = n->meta[i].key, *v = n->meta[i].val;
		char             txt[256];
		int              l;
		struct wire_mark m = wire_mark(&a->w);
		size_t           at;

		if (strncmp(k, "rfc1035-", 8) == 0)
			l = snprintf(txt, sizeof(txt), "%s", v);
		else
			l = snprintf(txt, sizeof(txt), "%s=%s", k, v);
		if (l < 0 || l > 255)
			continue;
		at = wire_rr_begin(&a->w, owner, DNS_T_TXT, ttl);
		wire_u8(&a->w, (uint8_t)l);
		wire_bytes(&a->w, txt, (size_t)l);
		wire_rr_end(&a->w, at);
		if (answer_commit(a, m, count))
			written++;
	}
	return written;
}

static void
answer_negative(struct answer *a, int rcode)
{
	a->rcode = rcode;
	answer_rr_soa(a, &a->ns);
}

/* --- names we make ------------------------------------------------------- */

static const char *
answer_dc(const struct answer *a, const struct view_node *n)
{
	return (n != NULL && n->dc[0] != '\0') ? n->dc : a->d->conf.datacenter;
}

/* <node>.node.<dc>.<domain>; -1 when the node's name is no DNS name. */
static int
answer_node_name(const struct answer *a, const struct view_node *n,
    struct wire_name *nm)
{
	wire_name_init(nm);
	if (wire_name_push_str(nm, n->name) != 0 ||
	    wire_name_push(nm, "node", 4) != 0 ||
	    wire_name_push_str(nm, answer_dc(a, n)) != 0 ||
	    wire_name_append(nm, &a->dom) != 0)
		return -1;
	return 0;
}

/* <hex>.addr.<dc>.<domain>; hex lives in buf (33 bytes). */
static int
answer_addr_name(const struct answer *a, const struct view_addr *ad,
    const struct view_node *n, char *buf, struct wire_name *nm)
{
	size_t l = ad->family == 4 ? 4 : 16;

	for (size_t i = 0; i < l; i++) {
		buf[2 * i] = hexdig[ad->ip[i] >> 4];
		buf[2 * i + 1] = hexdig[ad->ip[i] & 15];
	}
	wire_name_init(nm);
	if (wire_name_push(nm, buf, 2 * l) != 0 ||
	    wire_name_push(nm, "addr", 4) != 0 ||
	    wire_name_push_str(nm, answer_dc(a, n)) != 0 ||
	    wire_name_append(nm, &a->dom) != 0)
		return -1;
	return 0;
}

/* --- services ------------------------------------------------------------ */

static bool
answer_has_tag(const struct view_service *s, const char *tag, size_t len)
{
	for (size_t i = 0; i < s->ntags; i++)
		if (strlen(s->tags[i]) == len &&
		    strncasecmp(s->tags[i], tag, len) == 0)
			return true;
	return false;
}

/* Healthy instances of a service, shuffled, into d->cand.  -1 = none. */
static ssize_t
answer_candidates(struct answer *a, const char *svc, size_t svclen,
    const char *tag, size_t taglen)
{
	struct dnsd             *d = a->d;
	const struct view_group *g = view_group_get(d->view, svc, svclen);
	size_t                   n = 0;
	enum view_status         worst = d->conf.only_passing ? VIEW_PASSING :
	    VIEW_WARNING;

	if (g == NULL || g->n == 0)
		return -1;
	if (g->n > d->ncand_cap) {
		struct view_service **nc = realloc(d->cand, g->n * sizeof(*nc));
		if (nc == NULL)
			return -1;
		d->cand = nc;
		d->ncand_cap = g->n;
	}
	for (size_t i = 0; i < g->n; i++) {
		struct view_service *s = g->inst[i];
		if (s->status > worst)
			continue;
		if (tag != NULL && !answer_has_tag(s, tag, taglen))
			continue;
		d->cand[n++] = s;
	}
	for (size_t i = n; i > 1; i--) {
		size_t               j = answer_rand(d) % i;
		struct view_service *t = d->cand[i - 1];
		d->cand[i - 1] = d->cand[j];
		d->cand[j] = t;
	}
	return n == 0 ? -1 : (ssize_t)n;
}

static const struct view_addr *
answer_inst_addr(const struct view_service *s)
{
	if (s->address[0] != '\0')
		return &s->addr; /* family 0 when it is a hostname */
	return &s->node->addr;
}

static bool
answer_family_wanted(uint16_t qtype, const struct view_addr *ad)
{
	if (ad->family == 4)
		return qtype == DNS_T_A || qtype == DNS_T_ANY;
	if (ad->family == 6)
		return qtype == DNS_T_AAAA || qtype == DNS_T_ANY;
	return false;
}

/* Adds an answer unless the count limit says no; sets TC on a drop. */
static bool
answer_room_for_answer(struct answer *a)
{
	if (a->udp_max_answers != 0 && a->an >= a->udp_max_answers) {
		a->tc = true;
		return false;
	}
	return true;
}

/*
 * A service registered by hostname (Address "db.example.org") has no A
 * record of ours: answer a CNAME to it, as Consul does.  Only when no
 * instance has an IP, since a CNAME may not share its owner with other
 * records (RFC 1034 §3.6.2); one CNAME, the first after the shuffle.
 */
static bool
answer_cname_fallback(struct answer *a, size_t n, uint32_t ttl)
{
	struct wire_name target;

	for (size_t i = 0; i < n; i++) {
		const struct view_service *s = a->d->cand[i];
		const char *host = s->address[0] != '\0' ? s->address :
		    s->node->address;

		if (answer_inst_addr(s)->family != 0 || host[0] == '\0')
			continue;
		wire_name_init(&target);
		if (wire_name_push_str(&target, host) != 0)
			continue;
		if (!answer_rr_name(a, &a->q->qname, DNS_T_CNAME, &target, ttl,
		    &a->an))
			a->tc = true;
		return true;
	}
	return false;
}

/*
 * An A query also gets the instances' IPv6 addresses in Additional, and an
 * AAAA query the IPv4 ones (Consul's rule), so a dual-stack client learns
 * both in one round trip.  As many as answers may be (the UDP count limit,
 * a_record_limit); whatever does not fit is left out without TC.
 */
static void
answer_other_family(struct answer *a, size_t n, uint32_t ttl)
{
	struct dnsd *d = a->d;
	uint8_t      fam = a->q->qtype == DNS_T_A ? 6 : 4;
	size_t       cap = SIZE_MAX, added = 0;
	const struct view_addr *seen[ANSWER_UDP_HARD_LIMIT * 4];

	if (a->udp_max_answers != 0)
		cap = a->udp_max_answers;
	if (d->conf.a_record_limit != 0 && d->conf.a_record_limit < cap)
		cap = d->conf.a_record_limit;
	if (cap > sizeof(seen) / sizeof(seen[0]))
		cap = sizeof(seen) / sizeof(seen[0]);
	for (size_t i = 0; i < n && added < cap; i++) {
		const struct view_addr *ad = answer_inst_addr(d->cand[i]);
		bool                    dup = false;

		if (ad->family != fam)
			continue;
		for (size_t k = 0; k < added && !dup; k++)
			dup = memcmp(seen[k]->ip, ad->ip, 16) == 0;
		if (dup)
			continue;
		if (!answer_rr_addr(a, &a->q->qname, ad, ttl, &a->ar))
			break;
		seen[added++] = ad;
	}
}

static void
answer_service_addrs(struct answer *a, size_t n, uint32_t ttl)
{
	struct dnsd *d = a->d;
	uint32_t     cap = d->conf.a_record_limit;
	size_t       kept = 0;

	for (size_t i = 0; i < n; i++) {
		const struct view_addr *ad = answer_inst_addr(d->cand[i]);
		bool                    dup = false;

		if (!answer_family_wanted(a->q->qtype, ad))
			continue;
		/* Two instances on one address make one record. */
		for (size_t k = 0; k < kept && !dup; k++) {
			const struct view_addr *o = answer_inst_addr(d->cand[k]);
			dup = o->family == ad->family &&
			    memcmp(o->ip, ad->ip, ad->family == 4 ? 4 : 16) == 0;
		}
		if (dup)
			continue;
		if (cap != 0 && a->an >= cap)
			break;
		if (!answer_room_for_answer(a))
			break;
		if (!answer_rr_addr(a, &a->q->qname, ad, ttl, &a->an)) {
			a->tc = true;
			break;
		}
		/* Keep the written ones at the front for the dup check. */
		struct view_service *t = d->cand[kept];
		d->cand[kept++] = d->cand[i];
		d->cand[i] = t;
	}
	if (a->an == 0 && !a->tc && !answer_cname_fallback(a, n, ttl))
		answer_negative(a, DNS_R_NOERROR);
	if (a->q->qtype == DNS_T_A || a->q->qtype == DNS_T_AAAA)
		answer_other_family(a, n, ttl);
}

/* The SRV target of an instance and, when it is ours, its address. */
static int
answer_srv_target(const struct answer *a, const struct view_service *s,
    char *hexbuf, struct wire_name *nm, const struct view_addr **ad)
{
	*ad = NULL;
	if (s->address[0] != '\0' && s->addr.family != 0) {
		*ad = &s->addr;
		return answer_addr_name(a, &s->addr, s->node, hexbuf, nm);
	}
	if (s->address[0] != '\0') { /* a hostname: it is the target */
		wire_name_init(nm);
		return wire_name_push_str(nm, s->address);
	}
	if (s->node->addr.family != 0)
		*ad = &s->node->addr;
	return answer_node_name(a, s->node, nm);
}

static void
answer_service_srv(struct answer *a, size_t n, uint32_t ttl)
{
	struct dnsd     *d = a->d;
	size_t           kept = 0;
	char             hexbuf[33];
	struct wire_name target;
	const struct view_addr *ad;

	for (size_t i = 0; i < n; i++) {
		struct view_service *s = d->cand[i];
		struct wire_mark     m;
		size_t               at;

		if (answer_srv_target(a, s, hexbuf, &target, &ad) != 0)
			continue;
		if (!answer_room_for_answer(a))
			break;
		m = wire_mark(&a->w);
		at = wire_rr_begin(&a->w, &a->q->qname, DNS_T_SRV, ttl);
		wire_u16(&a->w, 1);
		wire_u16(&a->w, (uint16_t)(s->status == VIEW_WARNING ?
		    s->w_warning : s->w_passing));
		wire_u16(&a->w, s->port);
		wire_name(&a->w, &target, false);
		wire_rr_end(&a->w, at);
		if (!answer_commit(a, m, &a->an)) {
			a->tc = true;
			break;
		}
		d->cand[i] = d->cand[kept];
		d->cand[kept++] = s;
	}
	if (a->an == 0) {
		if (!a->tc)
			answer_negative(a, DNS_R_NOERROR);
		return;
	}
	/* Additional: the address of each target once, then node meta. */
	for (size_t i = 0; i < kept; i++) {
		struct view_service *s = d->cand[i];
		bool                 dup = false;

		if (answer_srv_target(a, s, hexbuf, &target, &ad) != 0 ||
		    ad == NULL)
			continue;
		for (size_t k = 0; k < i && !dup; k++) {
			const struct view_service *o = d->cand[k];
			if (ad == &s->addr)
				dup = o->address[0] != '\0' &&
				    memcmp(&o->addr, &s->addr,
					sizeof(s->addr)) == 0;
			else
				dup = o->address[0] == '\0' &&
				    o->node == s->node;
		}
		if (dup)
			continue;
		answer_rr_addr(a, &target, ad, ttl, &a->ar);
		if (ad == &s->node->addr && d->conf.node_meta_txt)
			answer_rr_meta(a, &target, s->node, ttl, &a->ar);
	}
}

static void
answer_service(struct answer *a, const char *svc, size_t svclen,
    const char *tag, size_t taglen)
{
	ssize_t  n = answer_candidates(a, svc, svclen, tag, taglen);
	uint32_t ttl;

	if (n < 0) {
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	ttl = dnsconf_service_ttl(&a->d->conf, svc, svclen);
	switch (a->q->qtype) {
	case DNS_T_A:
	case DNS_T_AAAA:
	case DNS_T_ANY:
		answer_service_addrs(a, (size_t)n, ttl);
		break;
	case DNS_T_SRV:
		answer_service_srv(a, (size_t)n, ttl);
		break;
	default:
		answer_negative(a, DNS_R_NOERROR);
	}
}

/* --- nodes, addr, apex, PTR ---------------------------------------------- */

static void
answer_node(struct answer *a, const char *name, size_t len)
{
	struct view_node *n = view_node_get(a->d->view, name, len);
	uint16_t          qt = a->q->qtype;
	uint32_t          ttl = a->d->conf.node_ttl;

	if (n == NULL) {
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	if (answer_family_wanted(qt, &n->addr)) {
		if (!answer_rr_addr(a, &a->q->qname, &n->addr, ttl, &a->an))
			a->tc = true;
	} else if (n->addr.family == 0 && n->address[0] != '\0' &&
	    (qt == DNS_T_A || qt == DNS_T_AAAA || qt == DNS_T_ANY ||
	    qt == DNS_T_CNAME)) {
		/* A node registered by hostname: CNAME, alone (RFC 1034). */
		struct wire_name target;

		wire_name_init(&target);
		if (wire_name_push_str(&target, n->address) == 0 &&
		    !answer_rr_name(a, &a->q->qname, DNS_T_CNAME, &target, ttl,
		    &a->an))
			a->tc = true;
		if (a->an > 0)
			return;
	}
	if (qt == DNS_T_TXT || qt == DNS_T_ANY) {
		size_t want = n->nmeta;
		if ((size_t)answer_rr_meta(a, &a->q->qname, n, ttl, &a->an) <
		    want)
			a->tc = true;
	} else if (a->an > 0 && a->d->conf.node_meta_txt) {
		answer_rr_meta(a, &a->q->qname, n, ttl, &a->ar);
	}
	if (a->an == 0 && !a->tc)
		answer_negative(a, DNS_R_NOERROR);
}

static int
answer_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void
answer_addr(struct answer *a, const char *hex, size_t len)
{
	struct view_addr ad;

	memset(&ad, 0, sizeof(ad));
	if (len != 8 && len != 32) {
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	for (size_t i = 0; i < len; i += 2) {
		int hi = answer_hexval(hex[i]), lo = answer_hexval(hex[i + 1]);
		if (hi < 0 || lo < 0) {
			answer_negative(a, DNS_R_NXDOMAIN);
			return;
		}
		ad.ip[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	ad.family = len == 8 ? 4 : 6;
	if (answer_family_wanted(a->q->qtype, &ad))
		answer_rr_addr(a, &a->q->qname, &ad, a->d->conf.node_ttl,
		    &a->an);
	else
		answer_negative(a, DNS_R_NOERROR);
}

/* NS: the servers (the "consul" service), at most 3, with glue; a
 * cluster without one names this agent's node, else ns.<domain>. */
static void
answer_ns(struct answer *a, uint16_t *count)
{
	struct dnsd     *d = a->d;
	ssize_t          n = answer_candidates(a, "consul", 6, NULL, 0);
	struct wire_name nm;
	struct view_node *nodes[3];
	size_t           nn = 0;

	for (ssize_t i = 0; i < n && nn < 3; i++) {
		bool dup = false;
		for (size_t k = 0; k < nn; k++)
			dup |= nodes[k] == d->cand[i]->node;
		if (!dup)
			nodes[nn++] = d->cand[i]->node;
	}
	if (nn == 0 && d->conf.node_name != NULL &&
	    (nodes[0] = view_node_get(d->view, d->conf.node_name,
	    strlen(d->conf.node_name))) != NULL)
		nn = 1;
	if (nn == 0) {
		answer_soa_name(a, &nm, "ns");
		answer_rr_name(a, &a->dom, DNS_T_NS, &nm, 0, count);
		return;
	}
	for (size_t i = 0; i < nn; i++)
		if (answer_node_name(a, nodes[i], &nm) == 0)
			answer_rr_name(a, &a->dom, DNS_T_NS, &nm,
			    d->conf.node_ttl, count);
	for (size_t i = 0; i < nn; i++)
		if (nodes[i]->addr.family != 0 &&
		    answer_node_name(a, nodes[i], &nm) == 0)
			answer_rr_addr(a, &nm, &nodes[i]->addr,
			    d->conf.node_ttl, &a->ar);
}

static void
answer_apex(struct answer *a)
{
	switch (a->q->qtype) {
	case DNS_T_SOA:
		answer_rr_soa(a, &a->an);
		break;
	case DNS_T_NS:
		answer_ns(a, &a->an);
		break;
	case DNS_T_ANY:
		answer_rr_soa(a, &a->an);
		answer_ns(a, &a->an);
		break;
	default:
		answer_negative(a, DNS_R_NOERROR);
	}
}

/* Reads an in-addr.arpa / ip6.arpa name; -1 when it is not one. */
static int
answer_ptr_addr(const struct wire_name *l, struct view_addr *ad)
{
	memset(ad, 0, sizeof(*ad));
	if (l->n == 6 && answer_lab_is(l, 4, "in-addr") &&
	    answer_lab_is(l, 5, "arpa")) {
		for (size_t i = 0; i < 4; i++) {
			unsigned v = 0;
			if (l->len[i] == 0 || l->len[i] > 3)
				return -1;
			for (size_t k = 0; k < l->len[i]; k++) {
				char c = l->lab[i][k];
				if (c < '0' || c > '9')
					return -1;
				v = v * 10 + (unsigned)(c - '0');
			}
			if (v > 255)
				return -1;
			ad->ip[3 - i] = (uint8_t)v;
		}
		ad->family = 4;
		return 0;
	}
	if (l->n == 34 && answer_lab_is(l, 32, "ip6") &&
	    answer_lab_is(l, 33, "arpa")) {
		for (size_t i = 0; i < 32; i++) {
			int v = l->len[i] == 1 ? answer_hexval(l->lab[i][0]) : -1;
			if (v < 0)
				return -1;
			ad->ip[(31 - i) / 2] |= (uint8_t)((31 - i) % 2 ?
			    v : v << 4);
		}
		ad->family = 6;
		return 0;
	}
	return -1;
}

/* 1 when answered, 0 when not a reverse name, 2 when a reverse name we
 * do not know and recursors could. */
static int
answer_ptr(struct answer *a)
{
	struct view_addr  ad;
	struct view_node *n;
	struct wire_name  nm;

	if (answer_ptr_addr(&a->q->lname, &ad) != 0)
		return 0;
	n = view_node_byaddr(a->d->view, &ad);
	if (n == NULL && a->d->conf.nrecursors > 0)
		return 2;
	/* PTR always answers in the primary domain (Consul's rule). */
	wire_name_init(&a->dom);
	wire_name_push_str(&a->dom, a->d->conf.domain);
	a->aa = true;
	if (n == NULL || answer_node_name(a, n, &nm) != 0) {
		answer_negative(a, DNS_R_NXDOMAIN);
		return 1;
	}
	if (a->q->qtype == DNS_T_PTR || a->q->qtype == DNS_T_ANY)
		answer_rr_name(a, &a->q->qname, DNS_T_PTR, &nm,
		    a->d->conf.node_ttl, &a->an);
	else
		answer_negative(a, DNS_R_NOERROR);
	return 1;
}

static bool
answer_is_kind(const struct wire_name *l, size_t i)
{
	static const char *kinds[] = { "node", "service", "addr", "query",
		"connect", "ingress", "virtual" };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (answer_lab_is(l, i, kinds[k]))
			return true;
	return false;
}

/* Names under the domain: finds the kind label and the datacenter. */
static void
answer_domain(struct answer *a)
{
	const struct wire_name *l = &a->q->lname;
	size_t                  ns = a->nsub, k;
	const char             *dc = NULL;
	size_t                  dclen = 0;
	char                    buf[256];
	size_t                  blen;

	if (ns == 0) {
		answer_apex(a);
		return;
	}
	if (answer_is_kind(l, ns - 1)) {
		k = ns - 1;
	} else if (ns >= 2 && answer_is_kind(l, ns - 2)) {
		k = ns - 2;
		dc = l->lab[ns - 1];
		dclen = l->len[ns - 1];
	} else if (ns >= 3 && answer_lab_is(l, ns - 1, "dc") &&
	    answer_is_kind(l, ns - 3)) {
		k = ns - 3;
		dc = l->lab[ns - 2];
		dclen = l->len[ns - 2];
	} else if (ns == 2 && l->lab[0][0] == '_' && l->lab[1][0] == '_') {
		/* _web._tcp.consul: RFC 2782 without "service". */
		k = 2;
		goto rfc2782;
	} else {
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	if (dc != NULL && (strlen(a->d->conf.datacenter) != dclen ||
	    memcmp(dc, a->d->conf.datacenter, dclen) != 0)) {
		/* No WAN federation yet: other datacenters do not exist. */
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	if (k == 0) {
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	if (answer_lab_is(l, k, "node")) {
		blen = answer_join(l, 0, k, buf);
		answer_node(a, buf, blen);
	} else if (answer_lab_is(l, k, "service")) {
		if (k == 2 && l->lab[0][0] == '_' && l->lab[1][0] == '_')
			goto rfc2782;
		if (k == 1) {
			answer_service(a, l->lab[0], l->len[0], NULL, 0);
		} else {
			blen = answer_join(l, 0, k - 1, buf);
			answer_service(a, l->lab[k - 1], l->len[k - 1], buf,
			    blen);
		}
	} else if (answer_lab_is(l, k, "addr") && k == 1) {
		answer_addr(a, l->lab[0], l->len[0]);
	} else {
		/* .query, .connect, .ingress, .virtual: not served yet. */
		answer_negative(a, DNS_R_NXDOMAIN);
	}
	return;
rfc2782:
	if (l->len[0] < 2 || l->len[1] < 2) {
		answer_negative(a, DNS_R_NXDOMAIN);
		return;
	}
	if (l->len[1] == 4 && memcmp(l->lab[1], "_tcp", 4) == 0)
		answer_service(a, l->lab[0] + 1, l->len[0] - 1u, NULL, 0);
	else
		answer_service(a, l->lab[0] + 1, l->len[0] - 1u,
		    l->lab[1] + 1, l->len[1] - 1u);
}

/* --- the entry points ---------------------------------------------------- */

static size_t
answer_opt_len(const struct wire_query *q)
{
	if (!q->edns)
		return 0;
	return 11 + (q->has_ecs ? 8u + q->ecs_addrlen : 0);
}

static void
answer_begin(struct answer *a, struct dnsd *d, struct wire_query *q,
    bool tcp, uint8_t *out, size_t outcap)
{
	size_t limit;

	memset(a, 0, sizeof(*a));
	a->d = d;
	a->q = q;
	a->tcp = tcp;
	if (tcp) {
		limit = 65535;
	} else if (q->edns) {
		limit = q->udp_size < 512 ? 512 : q->udp_size;
		if (limit > ANSWER_MAX_UDP)
			limit = ANSWER_MAX_UDP;
	} else {
		limit = 512;
		a->udp_max_answers = d->conf.udp_answer_limit;
		if (a->udp_max_answers == 0 ||
		    a->udp_max_answers > ANSWER_UDP_HARD_LIMIT)
			a->udp_max_answers = ANSWER_UDP_HARD_LIMIT;
	}
	if (limit > outcap)
		limit = outcap;
	/* The OPT record must always fit: keep its bytes aside. */
	wire_init(&a->w, out, limit - answer_opt_len(q));
	a->w.nocomp = d->conf.no_compression;
	wire_bytes(&a->w, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
	if (q->has_q) {
		wire_name(&a->w, &q->qname, true);
		wire_u16(&a->w, q->qtype);
		wire_u16(&a->w, q->qclass);
	}
}

static int
answer_finish(struct answer *a)
{
	struct wire_query *q = a->q;
	uint16_t           flags;

	if (a->w.overflow) /* cannot happen: the question fits 512 */
		return ANSWER_DROP;
	a->w.limit += answer_opt_len(q);
	if (q->edns) {
		wire_u8(&a->w, 0);
		wire_u16(&a->w, DNS_T_OPT);
		wire_u16(&a->w, q->udp_size < 512 ? 512 : q->udp_size);
		wire_u32(&a->w, (uint32_t)(a->rcode >> 4) << 24);
		if (q->has_ecs) {
			/* Scope 0: the answer is the same for every subnet. */
			wire_u16(&a->w, (uint16_t)(8 + q->ecs_addrlen));
			wire_u16(&a->w, 8);
			wire_u16(&a->w, (uint16_t)(4 + q->ecs_addrlen));
			wire_u16(&a->w, q->ecs_family);
			wire_u8(&a->w, q->ecs_source);
			wire_u8(&a->w, 0);
			wire_bytes(&a->w, q->ecs_addr, q->ecs_addrlen);
		} else {
			wire_u16(&a->w, 0);
		}
		a->ar++;
	}
	flags = (uint16_t)(0x8000 | (q->flags & 0x7900)); /* opcode, RD */
	if (a->aa)
		flags |= 0x0400;
	if (a->tc)
		flags |= 0x0200;
	if (a->d->conf.nrecursors > 0)
		flags |= 0x0080;
	flags |= (uint16_t)(a->rcode & 0xF);
	wire_put16(&a->w, 0, q->id);
	wire_put16(&a->w, 2, flags);
	wire_put16(&a->w, 4, q->has_q ? 1 : 0);
	wire_put16(&a->w, 6, a->an);
	wire_put16(&a->w, 8, a->ns);
	wire_put16(&a->w, 10, a->ar);
	return (int)a->w.len;
}

int
answer_query(struct dnsd *d, const uint8_t *pkt, size_t len, bool tcp,
    uint8_t *out, size_t outcap)
{
	struct wire_query q;
	struct answer     a;
	struct wire_name  dom, alt;
	int               rc;

	if (outcap < 512)
		return ANSWER_DROP;
	if ((rc = wire_parse_query(pkt, len, &q)) < 0)
		return ANSWER_DROP;
	if (rc == DNS_R_FORMERR)
		q.edns = false; /* we may not have read the OPT right */
	answer_begin(&a, d, &q, tcp, out, outcap);
	if (rc != DNS_R_NOERROR) {
		a.rcode = rc;
		return answer_finish(&a);
	}

	wire_name_init(&dom);
	wire_name_push_str(&dom, d->conf.domain);
	wire_name_init(&alt);
	if (d->conf.alt_domain != NULL)
		wire_name_push_str(&alt, d->conf.alt_domain);
	/* The longer domain first, in case one is inside the other. */
	if (alt.n > dom.n && answer_suffix(&q.lname, &alt))
		a.dom = alt;
	else if (answer_suffix(&q.lname, &dom))
		a.dom = dom;
	else if (answer_suffix(&q.lname, &alt))
		a.dom = alt;
	if (a.dom.n > 0) {
		a.aa = true;
		a.nsub = q.lname.n - a.dom.n;
		answer_domain(&a);
		return answer_finish(&a);
	}
	switch (answer_ptr(&a)) {
	case 1:
		return answer_finish(&a);
	case 2:
		return ANSWER_FORWARD;
	}
	if (d->conf.nrecursors > 0)
		return ANSWER_FORWARD;
	a.rcode = DNS_R_REFUSED;
	return answer_finish(&a);
}

int
answer_servfail(struct dnsd *d, const uint8_t *pkt, size_t len, uint8_t *out,
    size_t outcap)
{
	struct wire_query q;
	struct answer     a;

	if (outcap < 512 || wire_parse_query(pkt, len, &q) < 0)
		return ANSWER_DROP;
	q.edns = false;
	answer_begin(&a, d, &q, true, out, outcap);
	a.rcode = DNS_R_SERVFAIL;
	return answer_finish(&a);
}
