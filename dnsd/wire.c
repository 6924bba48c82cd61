/*
 * DNS wire format, by hand (RFC 1035 §4, RFC 6891 for OPT).
 *
 * Why not ldns for this: ldns builds a packet from many small heap objects
 * and dnsd's answers are a handful of fixed-shape records; writing them
 * straight into the socket buffer costs no allocation, and it lets the
 * writer stop at a size limit and roll back a record that did not fit,
 * which truncation needs.  ldns stays the referee: the unit tests parse
 * every response with ldns_wire2pkt.
 *
 * Reading a query.  Layout:
 *
 *     header   12 bytes: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
 *     question QNAME, QTYPE, QCLASS
 *     answer / authority: skipped record by record (bounds-checked)
 *     additional: an OPT record is EDNS0; others skipped
 *
 * A name is labels of 1..63 bytes ending in a zero byte, or in a 2-byte
 * pointer (top bits 11) to an earlier name.  The parser refuses: labels
 * with top bits 01 or 10, names over 255 bytes, pointers that do not point
 * strictly backwards (which rules out loops) and more than 32 pointer hops.
 * Any count that runs past the end of the packet is FORMERR.
 *
 * Writing a response.  wire_buf has a limit (512, the EDNS size, 64 KiB);
 * a write past it sets overflow and writes nothing, and the caller rolls
 * back to a mark taken before the record.  Names are compressed against
 * every name written before (offsets in comp[]), case-insensitively, so a
 * target "web1.node.dc1.consul" after a question "WEB.service.Consul"
 * points at the question's "Consul".
 */
#include <string.h>

#include "dnsd.h"

static uint16_t
wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Reads the name at *off into raw/low (dotless label storage, each label's
 * bytes copied) and nm/lnm.  Advances *off past the name as it sits in the
 * record (the first pointer ends it).  0 or -1 (malformed).
 */
static int
wire_read_name(const uint8_t *pkt, size_t len, size_t *off,
    struct wire_name *nm, struct wire_name *lnm, char *raw, char *low)
{
	size_t pos = *off, end = 0, total = 1, store = 0;
	int    hops = 0;
	bool   jumped = false;

	if (nm != NULL) {
		wire_name_init(nm);
		wire_name_init(lnm);
	}
	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -1;
		c = pkt[pos];
		if ((c & 0xC0) == 0xC0) {
			size_t target;
			if (pos + 1 >= len || ++hops > 32)
				return -1;
			target = (size_t)((c & 0x3F) << 8 | pkt[pos + 1]);
			if (target >= pos)
				return -1;
			if (!jumped) {
				end = pos + 2;
				jumped = true;
			}
			pos = target;
			continue;
		}
		if (c & 0xC0)
			return -1;
		if (c == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if (pos + 1 + c > len)
			return -1;
		total += (size_t)c + 1;
		if (total > 255)
			return -1;
		if (nm != NULL) {
			if (nm->n >= WIRE_MAX_LABELS)
				return -1;
			memcpy(raw + store, pkt + pos + 1, c);
			for (size_t i = 0; i < c; i++) {
				char ch = raw[store + i];
				low[store + i] = (ch >= 'A' && ch <= 'Z') ?
				    (char)(ch + 32) : ch;
			}
			nm->lab[nm->n] = raw + store;
			nm->len[nm->n++] = c;
			lnm->lab[lnm->n] = low + store;
			lnm->len[lnm->n++] = c;
			store += c;
		}
		pos += 1 + (size_t)c;
	}
	*off = end;
	return 0;
}

/* Reads the OPT record's options; only ECS is kept.  0 or -1. */
static int
wire_opt_options(const uint8_t *p, size_t len, struct wire_query *q)
{
	while (len > 0) {
		uint16_t code, olen;

		if (len < 4)
			return -1;
		code = wire_get16(p);
		olen = wire_get16(p + 2);
		if ((size_t)olen + 4 > len)
			return -1;
		if (code == 8) { /* ECS */
			uint16_t fam;
			uint8_t  src, scope;
			size_t   alen;

			if (olen < 4 || q->has_ecs)
				return -1;
			fam = wire_get16(p + 4);
			src = p[6];
			scope = p[7];
			alen = ((size_t)src + 7) / 8;
			if ((fam != 1 && fam != 2) || scope != 0 ||
			    src > (fam == 1 ? 32 : 128) || olen != 4 + alen)
				return -1;
			q->has_ecs = true;
			q->ecs_family = fam;
			q->ecs_source = src;
			q->ecs_addrlen = (uint8_t)alen;
			memcpy(q->ecs_addr, p + 8, alen);
		}
		p += 4 + olen;
		len -= 4 + (size_t)olen;
	}
	return 0;
}

/* Skips one resource record; returns its type or -1. */
static int
wire_skip_rr(const uint8_t *pkt, size_t len, size_t *off, uint16_t *class,
    uint32_t *ttl, uint16_t *rdlen)
{
	size_t   pos = *off;
	uint16_t type, rl;

	if (wire_read_name(pkt, len, &pos, NULL, NULL, NULL, NULL) != 0)
		return -1;
	if (pos + 10 > len)
		return -1;
	type = wire_get16(pkt + pos);
	*class = wire_get16(pkt + pos + 2);
	*ttl = (uint32_t)wire_get16(pkt + pos + 4) << 16 |
	    wire_get16(pkt + pos + 6);
	rl = wire_get16(pkt + pos + 8);
	pos += 10;
	if (pos + rl > len)
		return -1;
	*rdlen = rl;
	*off = pos + rl;
	return type;
}

int
wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q)
{
	size_t   off = 12;
	uint16_t qd, an, ns, ar;
	bool     root_opt;

	memset(q, 0, sizeof(*q));
	if (len < 12)
		return -1;
	q->id = wire_get16(pkt);
	q->flags = wire_get16(pkt + 2);
	if (q->flags & 0x8000)
		return -1; /* a response: answering it could start a loop */
	qd = wire_get16(pkt + 4);
	an = wire_get16(pkt + 6);
	ns = wire_get16(pkt + 8);
	ar = wire_get16(pkt + 10);
	if (((q->flags >> 11) & 0xF) != 0)
		return DNS_R_NOTIMP;
	if (qd == 0)
		return DNS_R_REFUSED; /* Consul: no question, REFUSED */
	if (qd > 1)
		return DNS_R_FORMERR;
	if (wire_read_name(pkt, len, &off, &q->qname, &q->lname, q->raw,
	    q->low) != 0 || off + 4 > len)
		return DNS_R_FORMERR;
	q->qtype = wire_get16(pkt + off);
	q->qclass = wire_get16(pkt + off + 2);
	off += 4;
	q->has_q = true;

	for (uint32_t i = 0; i < (uint32_t)an + ns + ar; i++) {
		uint16_t class, rdlen;
		uint32_t ttl;
		size_t   start = off;
		int      type;

		if ((type = wire_skip_rr(pkt, len, &off, &class, &ttl,
		    &rdlen)) < 0)
			return DNS_R_FORMERR;
		if (type != DNS_T_OPT)
			continue;
		/* OPT: only in the additional section, once, owned by root. */
		root_opt = pkt[start] == 0;
		if (i < (uint32_t)an + ns || q->edns || !root_opt)
			return DNS_R_FORMERR;
		q->edns = true;
		q->udp_size = class;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & 0x8000) != 0;
		if (wire_opt_options(pkt + off - rdlen, rdlen, q) != 0)
			return DNS_R_FORMERR;
	}
	if (q->edns && q->edns_version != 0)
		return DNS_R_BADVERS;
	if (q->qclass != DNS_C_IN && q->qclass != DNS_C_ANY)
		return DNS_R_REFUSED;
	return DNS_R_NOERROR;
}

/* --- names --------------------------------------------------------------- */

void
wire_name_init(struct wire_name *nm)
{
	nm->n = 0;
}

size_t
wire_name_wirelen(const struct wire_name *nm)
{
	size_t l = 1;

	for (size_t i = 0; i < nm->n; i++)
		l += 1 + nm->len[i];
	return l;
}

int
wire_name_push(struct wire_name *nm, const char *lab, size_t len)
{
	if (len == 0 || len > 63 || nm->n >= WIRE_MAX_LABELS ||
	    wire_name_wirelen(nm) + 1 + len > 255)
		return -1;
	nm->lab[nm->n] = lab;
	nm->len[nm->n++] = (uint8_t)len;
	return 0;
}

int
wire_name_push_str(struct wire_name *nm, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t      l = dot ? (size_t)(dot - s) : strlen(s);

		if (wire_name_push(nm, s, l) != 0)
			return -1;
		s += l;
		if (*s == '.')
			s++;
	}
	return 0;
}

int
wire_name_append(struct wire_name *nm, const struct wire_name *tail)
{
	for (size_t i = 0; i < tail->n; i++)
		if (wire_name_push(nm, tail->lab[i], tail->len[i]) != 0)
			return -1;
	return 0;
}

/* --- writer -------------------------------------------------------------- */

void
wire_init(struct wire_buf *w, uint8_t *buf, size_t limit)
{
	w->p = buf;
	w->len = 0;
	w->limit = limit;
	w->overflow = false;
	w->ncomp = 0;
	w->nocomp = false;
}

struct wire_mark
wire_mark(const struct wire_buf *w)
{
	struct wire_mark m = { w->len, w->ncomp };
	return m;
}

void
wire_reset(struct wire_buf *w, struct wire_mark m)
{
	w->len = m.len;
	w->ncomp = m.ncomp;
	w->overflow = false;
}

static bool
wire_room(struct wire_buf *w, size_t n)
{
	if (w->overflow || w->len + n > w->limit) {
		w->overflow = true;
		return false;
	}
	return true;
}

void
wire_u8(struct wire_buf *w, uint8_t v)
{
	if (wire_room(w, 1))
		w->p[w->len++] = v;
}

void
wire_u16(struct wire_buf *w, uint16_t v)
{
	if (wire_room(w, 2)) {
		w->p[w->len++] = (uint8_t)(v >> 8);
		w->p[w->len++] = (uint8_t)v;
	}
}

void
wire_u32(struct wire_buf *w, uint32_t v)
{
	wire_u16(w, (uint16_t)(v >> 16));
	wire_u16(w, (uint16_t)v);
}

void
wire_bytes(struct wire_buf *w, const void *p, size_t n)
{
	if (wire_room(w, n)) {
		memcpy(w->p + w->len, p, n);
		w->len += n;
	}
}

void
wire_put16(struct wire_buf *w, size_t off, uint16_t v)
{
	w->p[off] = (uint8_t)(v >> 8);
	w->p[off + 1] = (uint8_t)v;
}

static int
wire_lc(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Does the name written at off equal labels lab[i..n) of nm? */
static bool
wire_name_at(const struct wire_buf *w, size_t off, const struct wire_name *nm,
    size_t i)
{
	for (;;) {
		uint8_t c = w->p[off];

		if ((c & 0xC0) == 0xC0) {
			off = (size_t)((c & 0x3F) << 8 | w->p[off + 1]);
			continue;
		}
		if (c == 0)
			return i == nm->n;
		if (i == nm->n || c != nm->len[i])
			return false;
		for (size_t k = 0; k < c; k++)
			if (wire_lc(w->p[off + 1 + k]) !=
			    wire_lc((unsigned char)nm->lab[i][k]))
				return false;
		off += 1 + c;
		i++;
	}
}

void
wire_name(struct wire_buf *w, const struct wire_name *nm, bool compress)
{
	size_t   i, k;
	size_t   ptr = 0;
	size_t   first = w->len;
	size_t   starts[WIRE_MAX_LABELS];

	if (w->nocomp)
		compress = false;
	/* The longest suffix already in the message wins. */
	for (i = 0; i < nm->n && compress; i++) {
		for (k = 0; k < w->ncomp; k++)
			if (wire_name_at(w, w->comp[k], nm, i))
				break;
		if (k < w->ncomp) {
			ptr = w->comp[k];
			break;
		}
	}
	if (!compress)
		i = nm->n;
	for (size_t j = 0; j < i; j++) {
		starts[j] = w->len;
		wire_u8(w, nm->len[j]);
		wire_bytes(w, nm->lab[j], nm->len[j]);
	}
	if (i < nm->n)
		wire_u16(w, (uint16_t)(0xC000 | ptr));
	else
		wire_u8(w, 0);
	if (w->overflow)
		return;
	(void)first;
	for (size_t j = 0; j < i && w->ncomp < WIRE_COMP_MAX; j++)
		if (starts[j] < 0x3FFF)
			w->comp[w->ncomp++] = (uint16_t)starts[j];
}

size_t
wire_rr_begin(struct wire_buf *w, const struct wire_name *owner,
    uint16_t type, uint32_t ttl)
{
	size_t at;

	wire_name(w, owner, true);
	wire_u16(w, type);
	wire_u16(w, DNS_C_IN);
	wire_u32(w, ttl);
	at = w->len;
	wire_u16(w, 0);
	return at;
}

void
wire_rr_end(struct wire_buf *w, size_t rdlen_off)
{
	if (!w->overflow)
		wire_put16(w, rdlen_off, (uint16_t)(w->len - rdlen_off - 2));
}
