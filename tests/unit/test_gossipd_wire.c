/*
 * gossipd wire codec: round trips of every message, byte-exact encodings
 * taken from captures between two Debian serf agents, and rejection of
 * truncated or malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossipd/gossipd.h"

static void
test_ping_bytes(void **state)
{
	/* a real ping a -> b from memberlist 0.2.2 (59 bytes) */
	static const uint8_t want[] = { 0x00, 0x85, 0xa4, 'N', 'o', 'd', 'e',
		0xa1, 'b', 0xa5, 'S', 'e', 'q', 'N', 'o', 0x01, 0xaa, 'S', 'o',
		'u', 'r', 'c', 'e', 'A', 'd', 'd', 'r', 0xa4, 0x7f, 0, 0, 1,
		0xaa, 'S', 'o', 'u', 'r', 'c', 'e', 'N', 'o', 'd', 'e', 0xa1,
		'a', 0xaa, 'S', 'o', 'u', 'r', 'c', 'e', 'P', 'o', 'r', 't',
		0xcd, 0x1f, 0x0a };
	struct wire_ping p, q;
	struct gd_buf    b = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	p.seq = 1;
	strcpy(p.node, "b");
	strcpy(p.src_node, "a");
	p.src.len = 4;
	memcpy(p.src.ip, "\x7f\0\0\x01", 4);
	p.src.port = 7946;
	assert_int_equal(wire_enc_ping(&b, &p), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	assert_int_equal(wire_dec_ping(b.p + 1, b.len - 1, &q), 0);
	assert_int_equal(q.seq, 1);
	assert_string_equal(q.node, "b");
	assert_string_equal(q.src_node, "a");
	assert_int_equal(q.src.port, 7946);
	assert_int_equal(q.src.len, 4);
	/* every truncation is refused */
	for (size_t i = 1; i < b.len - 1; i++)
		assert_int_not_equal(wire_dec_ping(b.p + 1, i, &q), 0);
	wire_buf_free(&b);
}

static void
test_join_intent_bytes(void **state)
{
	static const uint8_t want[] = { 0x01, 0x82, 0xa5, 'L', 'T', 'i', 'm',
		'e', 0x01, 0xa4, 'N', 'o', 'd', 'e', 0xa1, 'b' };
	struct wire_intent j, k;
	struct gd_buf      b = { 0 };

	(void)state;
	memset(&j, 0, sizeof(j));
	j.ltime = 1;
	strcpy(j.node, "b");
	assert_int_equal(wire_enc_intent(&b, WSERF_JOIN, &j), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	assert_int_equal(wire_dec_intent(b.p + 1, b.len - 1, &k), 0);
	assert_int_equal(k.ltime, 1);
	assert_string_equal(k.node, "b");
	b.len = 0;
	j.prune = true;
	j.ltime = 1ull << 40;
	assert_int_equal(wire_enc_intent(&b, WSERF_LEAVE, &j), 0);
	assert_int_equal(wire_dec_intent(b.p + 1, b.len - 1, &k), 0);
	assert_true(k.prune);
	assert_int_equal(k.ltime, 1ull << 40);
	wire_buf_free(&b);
}

static void
test_indirect_ack_nack(void **state)
{
	struct wire_indirect i, j;
	struct wire_ack      a = { 77, 0 }, a2;
	struct gd_buf        b = { 0 };
	uint32_t             seq;

	(void)state;
	memset(&i, 0, sizeof(i));
	i.seq = 0xfffffff0u;
	strcpy(i.node, "target");
	i.target.len = 4;
	memcpy(i.target.ip, "\x0a\0\0\x05", 4);
	i.target.port = 8301;
	i.nack = true;
	strcpy(i.src_node, "me");
	i.src.len = 4;
	memcpy(i.src.ip, "\x0a\0\0\x01", 4);
	i.src.port = 8301;
	assert_int_equal(wire_enc_indirect(&b, &i), 0);
	assert_int_equal(b.p[0], WIRE_INDIRECT);
	assert_int_equal(wire_dec_indirect(b.p + 1, b.len - 1, &j), 0);
	assert_int_equal(j.seq, i.seq);
	assert_true(j.nack);
	assert_string_equal(j.node, "target");
	assert_memory_equal(j.target.ip, i.target.ip, 4);
	assert_int_equal(j.target.port, 8301);
	assert_string_equal(j.src_node, "me");
	b.len = 0;
	assert_int_equal(wire_enc_ack(&b, &a), 0);
	assert_int_equal(wire_dec_ack(b.p + 1, b.len - 1, &a2), 0);
	assert_int_equal(a2.seq, 77);
	b.len = 0;
	assert_int_equal(wire_enc_nack(&b, 99), 0);
	assert_int_equal(b.p[0], WIRE_NACK);
	assert_int_equal(wire_dec_nack(b.p + 1, b.len - 1, &seq), 0);
	assert_int_equal(seq, 99);
	wire_buf_free(&b);
}

static void
test_suspect_dead_alive(void **state)
{
	struct wire_suspect s, t;
	struct wire_alive   a, c;
	struct gd_buf       b = { 0 };

	(void)state;
	memset(&s, 0, sizeof(s));
	s.inc = 300;
	strcpy(s.node, "n1");
	strcpy(s.from, "n2");
	assert_int_equal(wire_enc_suspect(&b, WIRE_DEAD, &s), 0);
	assert_int_equal(b.p[0], WIRE_DEAD);
	assert_int_equal(wire_dec_suspect(b.p + 1, b.len - 1, &t), 0);
	assert_int_equal(t.inc, 300);
	assert_string_equal(t.from, "n2");
	b.len = 0;
	memset(&a, 0, sizeof(a));
	a.inc = 5;
	strcpy(a.node, "n1");
	a.addr.len = 4;
	memcpy(a.addr.ip, "\x7f\0\0\x02", 4);
	a.addr.port = 7946;
	memcpy(a.meta, "\xff\x80", 2);
	a.meta_len = 2;
	memcpy(a.vsn, "\x01\x05\x02\x02\x05\x04", 6);
	assert_int_equal(wire_enc_alive(&b, &a), 0);
	/* Vsn must be a 6-byte raw string, not an array */
	assert_non_null(memmem(b.p, b.len, "\xa3Vsn\xa6\x01\x05\x02\x02\x05\x04", 11));
	assert_int_equal(wire_dec_alive(b.p + 1, b.len - 1, &c), 0);
	assert_int_equal(c.inc, 5);
	assert_string_equal(c.node, "n1");
	assert_int_equal(c.meta_len, 2);
	assert_memory_equal(c.vsn, a.vsn, 6);
	assert_int_equal(c.addr.port, 7946);
	wire_buf_free(&b);
}

static void
test_pushpull(void **state)
{
	struct wire_pp_hdr h = { true, 2, 3 }, h2;
	struct wire_alive  a, *nodes;
	struct gd_buf      b = { 0 };
	const uint8_t     *user;
	size_t             ul, need;

	(void)state;
	memset(&a, 0, sizeof(a));
	strcpy(a.node, "x");
	a.inc = 1;
	a.addr.len = 4;
	a.addr.port = 1;
	memcpy(a.vsn, "\x01\x05\x02\x02\x05\x04", 6);
	wire_enc_pp_hdr(&b, &h);
	wire_enc_node(&b, &a);
	strcpy(a.node, "y");
	a.state = WS_LEFT;
	wire_enc_node(&b, &a);
	wire_buf_put(&b, "abc", 3);
	assert_int_equal(b.err, 0);
	assert_int_equal(wire_stream_need(b.p, b.len, &need), 0);
	assert_int_equal(need, b.len);
	assert_int_equal(wire_stream_need(b.p, b.len - 1, &need), WIRE_ETRUNC);
	assert_int_equal(
	    wire_dec_pp(b.p + 1, b.len - 1, &h2, &nodes, &user, &ul), 0);
	assert_true(h2.join);
	assert_int_equal(h2.nodes, 2);
	assert_string_equal(nodes[1].node, "y");
	assert_int_equal(nodes[1].state, WS_LEFT);
	assert_int_equal(ul, 3);
	assert_memory_equal(user, "abc", 3);
	free(nodes);
	for (size_t i = 1; i < b.len - 1; i++) {
		assert_int_not_equal(
		    wire_dec_pp(b.p + 1, i, &h2, &nodes, &user, &ul), 0);
		assert_null(nodes);
	}
	wire_buf_free(&b);
}

static void
test_compound_crc(void **state)
{
	const uint8_t *parts[3] = { (const uint8_t *)"\x01\x02",
		(const uint8_t *)"", (const uint8_t *)"xyz" };
	size_t         lens[3] = { 2, 0, 3 }, ol[8];
	const uint8_t *op[8];
	struct gd_buf  b = { 0 }, c = { 0 };

	(void)state;
	assert_int_equal(wire_enc_compound(&b, parts, lens, 3), 0);
	assert_int_equal(b.p[0], WIRE_COMPOUND);
	assert_int_equal(wire_dec_compound(b.p + 1, b.len - 1, op, ol, 8), 3);
	assert_int_equal(ol[2], 3);
	assert_memory_equal(op[2], "xyz", 3);
	/* a short last part is dropped, not read past the end */
	assert_int_equal(wire_dec_compound(b.p + 1, b.len - 2, op, ol, 8), 2);
	assert_true(wire_dec_compound(b.p + 1, 3, op, ol, 8) < 0);
	assert_int_equal(wire_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
	wire_enc_crc(&c, b.p, b.len);
	assert_int_equal(c.p[0], WIRE_CRC);
	wire_buf_free(&b);
	wire_buf_free(&c);
}

/*
 * A test-only LZW writer with Go's compress/lzw semantics (LSB, 8-bit
 * literals, clear first, widen when hi reaches 512/1024/2048, clear at
 * 4095), to feed the reader.
 */
struct lzww {
	struct gd_buf *out;
	uint32_t       bits;
	int            nbits, width;
	uint32_t       hi, overflow;
	int32_t        table[4096][256];
};

static void
lzw_put(struct lzww *w, uint32_t code)
{
	w->bits |= code << w->nbits;
	w->nbits += w->width;
	while (w->nbits >= 8) {
		uint8_t c = (uint8_t)w->bits;
		wire_buf_put(w->out, &c, 1);
		w->bits >>= 8;
		w->nbits -= 8;
	}
}

static bool
lzw_inchi(struct lzww *w)
{
	w->hi++;
	if (w->hi == w->overflow) {
		w->width++;
		w->overflow <<= 1;
	}
	if (w->hi == 4095) {
		lzw_put(w, 256);
		w->width = 9;
		w->hi = 257;
		w->overflow = 512;
		memset(w->table, 0xff, sizeof(w->table));
		return false;
	}
	return true;
}

static void
lzw_encode(const uint8_t *p, size_t n, struct gd_buf *out)
{
	struct lzww *w = calloc(1, sizeof(*w));
	uint32_t     code;

	w->out = out;
	w->width = 9;
	w->hi = 257;
	w->overflow = 512;
	memset(w->table, 0xff, sizeof(w->table));
	lzw_put(w, 256);
	code = p[0];
	for (size_t i = 1; i < n; i++) {
		if (w->table[code][p[i]] >= 0) {
			code = (uint32_t)w->table[code][p[i]];
			continue;
		}
		lzw_put(w, code);
		{
			uint32_t prev = code;
			code = p[i];
			if (lzw_inchi(w))
				w->table[prev][p[i]] = (int32_t)w->hi;
		}
	}
	lzw_put(w, code);
	lzw_inchi(w);
	lzw_put(w, 257);
	if (w->nbits > 0) {
		uint8_t c = (uint8_t)w->bits;
		wire_buf_put(out, &c, 1);
	}
	free(w);
}

static void
test_lzw(void **state)
{
	size_t sizes[] = { 1, 2, 100, 5000, 70000 };

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t        n = sizes[s];
		uint8_t      *in = malloc(n);
		struct gd_buf z = { 0 }, out = { 0 };
		uint32_t      r = 12345;
		for (size_t i = 0; i < n; i++) {
			r = r * 1103515245u + 12345u;
			/* half repetitive text, half noise */
			in[i] = (i / 64) % 2 ? (uint8_t)(r >> 16) :
					       (uint8_t)("abcabd"[i % 6]);
		}
		lzw_encode(in, n, &z);
		assert_int_equal(wire_lzw_decode(z.p, z.len, &out, 1 << 20), 0);
		assert_int_equal(out.len, n);
		assert_memory_equal(out.p, in, n);
		/* inflating past the cap stops with an error */
		if (n > 100) {
			out.len = 0;
			assert_int_equal(wire_lzw_decode(z.p, z.len, &out, 64),
			    WIRE_ETOOBIG);
		}
		/* truncated: an error, never a crash */
		out.len = 0;
		assert_int_not_equal(wire_lzw_decode(z.p, z.len / 2, &out, 1 << 20), 0);
		wire_buf_free(&z);
		wire_buf_free(&out);
		free(in);
	}
}

static void
test_crypto(void **state)
{
	struct gd_keyring kr, other, both;
	struct gd_buf     s = { 0 }, o = { 0 }, t = { 0 };
	const char       *msg = "\x00hello gossip";

	(void)state;
	memset(&kr, 0, sizeof(kr));
	memset(&other, 0, sizeof(other));
	memset(&both, 0, sizeof(both));
	assert_int_equal(wire_keyring_add(&kr, "8olOmRMU+8t3t0L+tkxyZ5W3J0RkGZ5eD7NjbypW9bo="), 0);
	assert_int_equal(kr.klen[0], 32);
	assert_int_equal(wire_keyring_add(&other, "AAAAAAAAAAAAAAAAAAAAAA=="), 0);
	assert_int_equal(other.klen[0], 16);
	assert_int_not_equal(wire_keyring_add(&other, "not base64!"), 0);
	assert_int_not_equal(wire_keyring_add(&other, "AAAA"), 0);
	both = other;
	assert_int_equal(wire_keyring_add(&both, "8olOmRMU+8t3t0L+tkxyZ5W3J0RkGZ5eD7NjbypW9bo="), 0);

	assert_int_equal(wire_seal(&kr, (const uint8_t *)msg, 13, &s), 0);
	assert_int_equal(s.len, 13 + 29);
	assert_int_equal(s.p[0], 1);
	assert_int_equal(wire_open(&kr, s.p, s.len, &o), 0);
	assert_memory_equal(o.p, msg, 13);
	/* the second key of a ring opens it too */
	o.len = 0;
	assert_int_equal(wire_open(&both, s.p, s.len, &o), 0);
	o.len = 0;
	assert_int_equal(wire_open(&other, s.p, s.len, &o), WIRE_ECRYPT);
	s.p[20] ^= 1;
	assert_int_equal(wire_open(&kr, s.p, s.len, &o), WIRE_ECRYPT);
	assert_int_not_equal(wire_open(&kr, s.p, 28, &o), 0);
	s.p[0] = 2;
	assert_int_equal(wire_open(&kr, s.p, s.len, &o), WIRE_EVERSION);

	/* stream: header is AAD; need/open agree */
	s.len = 0;
	o.len = 0;
	{
		size_t need;
		assert_int_equal(wire_stream_seal(&kr, (const uint8_t *)msg, 13, &s), 0);
		assert_int_equal(s.p[0], WIRE_ENCRYPT);
		assert_int_equal(wire_stream_need(s.p, s.len, &need), 0);
		assert_int_equal(need, s.len);
		assert_int_equal(wire_stream_need(s.p, 4, &need), WIRE_ETRUNC);
		assert_int_equal(wire_stream_open(&kr, true, s.p, s.len, &t), 0);
		assert_memory_equal(t.p, msg, 13);
		s.p[4] ^= 1; /* length in the AAD */
		t.len = 0;
		assert_int_not_equal(wire_stream_open(&kr, true, s.p, s.len, &t), 0);
		/* plaintext refused when encryption is required */
		assert_int_equal(wire_stream_open(&kr, true, (const uint8_t *)msg, 13, &t), WIRE_ECRYPT);
	}
	wire_buf_free(&s);
	wire_buf_free(&o);
	wire_buf_free(&t);
}

static void
test_event_serf_pp(void **state)
{
	struct wire_event   *e = calloc(1, sizeof(*e)), *f = calloc(1, sizeof(*f));
	struct wire_serf_pp  pp, q;
	struct wire_status   st[2] = { { "a", 5 }, { "b", 7 } };
	char                 left[1][GD_NAME_MAX] = { "b" };
	struct gd_buf        b = { 0 };

	(void)state;
	e->ltime = 9;
	strcpy(e->name, "deploy");
	memcpy(e->payload, "v1", 2);
	e->payload_len = 2;
	e->cc = true;
	assert_int_equal(wire_enc_event(&b, e), 0);
	assert_int_equal(b.p[0], WSERF_EVENT);
	assert_int_equal(wire_dec_event(b.p + 1, b.len - 1, f), 0);
	assert_int_equal(f->ltime, 9);
	assert_true(f->cc);
	assert_string_equal(f->name, "deploy");
	assert_memory_equal(f->payload, "v1", 2);

	memset(&pp, 0, sizeof(pp));
	pp.ltime = 10;
	pp.event_ltime = 11;
	pp.query_ltime = 12;
	pp.status = st;
	pp.nstatus = 2;
	pp.left = left;
	pp.nleft = 1;
	pp.events = e;
	pp.nevents = 1;
	b.len = 0;
	assert_int_equal(wire_enc_serf_pp(&b, &pp), 0);
	assert_int_equal(wire_dec_serf_pp(b.p + 1, b.len - 1, &q), 0);
	assert_int_equal(q.ltime, 10);
	assert_int_equal(q.event_ltime, 11);
	assert_int_equal(q.query_ltime, 12);
	assert_int_equal(q.nstatus, 2);
	assert_string_equal(q.status[1].name, "b");
	assert_int_equal(q.status[1].ltime, 7);
	assert_int_equal(q.nleft, 1);
	assert_string_equal(q.left[0], "b");
	assert_int_equal(q.nevents, 1);
	assert_string_equal(q.events[0].name, "deploy");
	assert_int_equal(q.events[0].ltime, 9);
	wire_serf_pp_free(&q);
	for (size_t i = 1; i < b.len - 1; i++) {
		assert_int_not_equal(wire_dec_serf_pp(b.p + 1, i, &q), 0);
		assert_null(q.status);
	}
	free(e);
	free(f);
	wire_buf_free(&b);
}

struct tagcoll {
	int  n;
	char s[256];
};

static void
tag_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct tagcoll *t = ctx;
	size_t          l = strlen(t->s);
	snprintf(t->s + l, sizeof(t->s) - l, "%.*s=%.*s;", (int)kl, k, (int)vl, v);
	t->n++;
}

static void
test_tags(void **state)
{
	const char    *kv[] = { "role", "web", "dc", "dc1" };
	struct gd_buf  b = { 0 };
	struct tagcoll t;

	(void)state;
	assert_int_equal(wire_enc_tags(&b, kv, 0), 0);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "\xff\x80", 2);
	b.len = 0;
	assert_int_equal(wire_enc_tags(&b, kv, 2), 0);
	assert_memory_equal(b.p, "\xff\x82\xa4role\xa3web\xa2" "dc\xa3" "dc1", b.len);
	memset(&t, 0, sizeof(t));
	assert_int_equal(wire_dec_tags(b.p, b.len, tag_cb, &t), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.s, "role=web;dc=dc1;");
	memset(&t, 0, sizeof(t));
	assert_int_equal(wire_dec_tags((const uint8_t *)"lb", 2, tag_cb, &t), 0);
	assert_string_equal(t.s, "role=lb;");
	assert_int_not_equal(wire_dec_tags(b.p, b.len - 1, tag_cb, &t), 0);
	wire_buf_free(&b);
}

static void
test_garbage(void **state)
{
	/* hostile lengths and types: errors, no allocation of 4G elements */
	static const uint8_t cases[][8] = {
		{ 0xdd, 0xff, 0xff, 0xff, 0xff },       /* array32 of 4G */
		{ 0xdf, 0xff, 0xff, 0xff, 0xff },       /* map32 of 4G */
		{ 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' },  /* str32 4G */
		{ 0xc1 },                               /* never used */
		{ 0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xff }, /* negative seq */
		{ 0x93, 1, 2, 3 },                      /* not a map */
	};
	struct wire_ping     p;
	struct wire_alive    a;
	struct wire_serf_pp  pp;
	struct wire_pp_hdr   h;
	struct wire_alive   *nodes;
	const uint8_t       *u;
	size_t               ul;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_not_equal(wire_dec_ping(cases[i], 8, &p), 0);
		assert_int_not_equal(wire_dec_alive(cases[i], 8, &a), 0);
		/* case 4 is a valid map elsewhere (unknown key, skipped) */
		if (i == 4)
			continue;
		assert_int_not_equal(wire_dec_serf_pp(cases[i], 8, &pp), 0);
		assert_int_not_equal(wire_dec_pp(cases[i], 8, &h, &nodes, &u, &ul), 0);
	}
	/* pushPull claiming more nodes than bytes */
	{
		struct wire_pp_hdr big = { false, 1000000, 0 };
		struct gd_buf      b = { 0 };
		wire_enc_pp_hdr(&b, &big);
		assert_int_not_equal(wire_dec_pp(b.p + 1, b.len - 1, &h, &nodes, &u, &ul), 0);
		wire_buf_free(&b);
	}
	/* a 3-byte Vsn would crash Go; we refuse it */
	{
		static const uint8_t bad[] = { 0x82, 0xa4, 'N', 'o', 'd', 'e', 0xa1,
			'x', 0xa3, 'V', 's', 'n', 0xa3, 1, 2, 3 };
		assert_int_not_equal(wire_dec_alive(bad, sizeof(bad), &a), 0);
	}
	/* a name with a NUL inside is refused */
	{
		static const uint8_t bad[] = { 0x81, 0xa4, 'N', 'o', 'd', 'e', 0xa2, 'x', 0 };
		assert_int_not_equal(wire_dec_ping(bad, sizeof(bad), &p), 0);
	}
	/* unknown keys are skipped, str8 and bin accepted for names */
	{
		static const uint8_t ok[] = { 0x82, 0xa3, 'Z', 'z', 'z', 0x05, 0xa4, 'N',
			'o', 'd', 'e', 0xd9, 1, 'q' };
		assert_int_equal(wire_dec_ping(ok, sizeof(ok), &p), 0);
		assert_string_equal(p.node, "q");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_bytes),
		cmocka_unit_test(test_join_intent_bytes),
		cmocka_unit_test(test_indirect_ack_nack),
		cmocka_unit_test(test_suspect_dead_alive),
		cmocka_unit_test(test_pushpull),
		cmocka_unit_test(test_compound_crc),
		cmocka_unit_test(test_lzw),
		cmocka_unit_test(test_crypto),
		cmocka_unit_test(test_event_serf_pp),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
