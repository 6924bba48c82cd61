/*
 * wire.c: the gossip wire format, byte for byte what HashiCorp memberlist
 * 0.2.2 and serf speak (the versions Debian 12 ships).  Reference:
 * /work/shared/reference/gossip-wire.md; this essay is the part we rely on.
 *
 * Dialect.  Every message body is one msgpack map produced by Go's codec
 * from a struct: keys are the Go field names, written sorted bytewise, and
 * omitempty fields left out.  Strings and []byte are BOTH written in the old
 * "raw" family (fixstr a0-bf, str16 da, str32 db): never str8 (d9) nor bin
 * (c4-c6), because a Go string field refuses bin.  msgpack-c's
 * msgpack_pack_v4raw() is exactly that family.  Non-negative integers take
 * the smallest unsigned form.  Decoding accepts any key order, skips unknown
 * keys, treats missing keys and nil as zero, and any int form that fits.
 *
 * Messages.  A message is [type byte][msgpack body]:
 *
 *   0 ping      {Node, SeqNo, SourceAddr*, SourceNode*, SourcePort*}
 *   1 indirect  {Nack, Node, Port, SeqNo, Source*..., Target}
 *   2 ack       {Payload, SeqNo}          11 nack {SeqNo}
 *   3 suspect   {From, Incarnation, Node} 5 dead: the same; From==Node = left
 *   4 alive     {Addr, Incarnation, Meta, Node, Port, Vsn}
 *   6 pushPull  {Join, Nodes, UserStateLen}, then Nodes maps
 *               {Addr, Incarnation, Meta, Name, Port, State, Vsn} back to
 *               back (not an array), then UserStateLen raw bytes (serf's).
 *   7 compound  07, N u8, N x len u16 (big-endian), the N messages.
 *   8 user      08 + serf message (UDP); on TCP 08 {UserMsgLen} + bytes.
 *   9 compress  09 {Algo: 0, Buf: LZW bytes (Go compress/lzw, LSB, 8 bits)}
 *  10 encrypt   TCP only: 0a, len u32, then like UDP below; AAD = those 5.
 *  12 hasCrc    0c, crc32-IEEE(rest) u32 big-endian, rest.
 *  13 err       {Error}
 *
 * Vsn is 6 raw bytes [pmin pmax pcur dmin dmax dcur]; IPs are 4 or 16 raw
 * bytes.  A UDP datagram is, outermost first: encryption, hasCrc, compress,
 * then one message or a compound (which may nest).  UDP encryption is
 * version(1) | nonce(12) | AES-GCM ciphertext | tag(16), empty AAD; version
 * 0 additionally PKCS7-pads the plaintext.  Keys are 16, 24 or 32 bytes;
 * send with the primary, try all on receive.
 *
 * serf rides in user messages and in push/pull's user state.  Its first
 * byte is serf's type: 0 leave intent {LTime, Node, Prune}, 1 join intent
 * {LTime, Node}, 2 push/pull {EventLTime, Events, LTime, LeftMembers,
 * QueryLTime, StatusLTimes}, 3 user event {CC, LTime, Name, Payload},
 * 4 query, 5 query response.  Member tags live in alive's Meta as ff +
 * map[string]string.
 *
 * Strictness.  Before msgpack-c sees any bytes, wire_mp_scan() walks the
 * structure and proves that every length and element count fits in the
 * input, so a forged "array of 4 billion" cannot make the library allocate
 * for it; truncated input is WIRE_ETRUNC, garbage WIRE_EMALFORMED, and a
 * decoder never reads past its n.  Decoded strings are copied and must fit
 * their fixed buffers and hold no NUL.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gossipd.h"

const char *
wire_strerror(int err)
{
	switch (err) {
#define WIRE_E_STR(n, v, s) \
	case v:             \
		return s;
		WIRE_ERRORS(WIRE_E_STR)
#undef WIRE_E_STR
	}
	return "unknown error";
}

/* ---- buffers ------------------------------------------------------- */

int
wire_buf_put(struct gd_buf *b, const void *p, size_t n)
{
	if (b->err)
		return b->err;
	if (b->len + n > b->cap) {
		size_t   cap = b->cap ? b->cap : 256;
		uint8_t *np;
		while (cap < b->len + n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return b->err = WIRE_ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (n && p)
		memcpy(b->p + b->len, p, n);
	else if (n)
		memset(b->p + b->len, 0, n);
	b->len += n;
	return 0;
}

void
wire_buf_free(struct gd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
pk_write(void *data, const char *buf, size_t len)
{
	return wire_buf_put(data, buf, len) ? -1 : 0;
}

static void
pk_init(msgpack_packer *pk, struct gd_buf *b)
{
	msgpack_packer_init(pk, b, pk_write);
}

static void
pk_raw(msgpack_packer *pk, const void *p, size_t n)
{
	msgpack_pack_v4raw(pk, n);
	if (n)
		msgpack_pack_v4raw_body(pk, p, n);
}

static void
pk_str(msgpack_packer *pk, const char *s)
{
	pk_raw(pk, s, strlen(s));
}

static void
pk_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	pk_str(pk, k);
	pk_str(pk, v);
}

static void
pk_kv_u(msgpack_packer *pk, const char *k, uint64_t v)
{
	pk_str(pk, k);
	msgpack_pack_uint64(pk, v);
}

static void
pk_kv_raw(msgpack_packer *pk, const char *k, const void *p, size_t n)
{
	pk_str(pk, k);
	pk_raw(pk, p, n);
}

static void
pk_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
	pk_str(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

static int
put_type(struct gd_buf *b, uint8_t t)
{
	return wire_buf_put(b, &t, 1);
}

/* ---- scanning and decoding ------------------------------------------ */

static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Length of the one msgpack object at p, without building it.  Counts are
 * checked against the bytes left, so the result is safe to hand msgpack-c.
 */
static int
wire_mp_scan(const uint8_t *p, size_t n, size_t *used)
{
	size_t   off = 0;
	uint64_t pending = 1;

	while (pending) {
		uint8_t  c;
		size_t   hl = 0;
		uint64_t extra = 0, kids = 0;

		if (off >= n)
			return WIRE_ETRUNC;
		c = p[off++];
		pending--;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 ||
		    c == 0xc3)
			;
		else if (c <= 0x8f)
			kids = 2u * (c & 0x0f);
		else if (c <= 0x9f)
			kids = c & 0x0f;
		else if (c <= 0xbf)
			extra = c & 0x1f;
		else {
			switch (c) {
			case 0xc4: case 0xd9: hl = 1; break;
			case 0xc5: case 0xda: hl = 2; break;
			case 0xc6: case 0xdb: hl = 4; break;
			case 0xc7: hl = 1; extra = 1; break;
			case 0xc8: hl = 2; extra = 1; break;
			case 0xc9: hl = 4; extra = 1; break;
			case 0xca: extra = 4; break;
			case 0xcb: extra = 8; break;
			case 0xcc: case 0xd0: extra = 1; break;
			case 0xcd: case 0xd1: extra = 2; break;
			case 0xce: case 0xd2: extra = 4; break;
			case 0xcf: case 0xd3: extra = 8; break;
			case 0xd4: extra = 2; break;
			case 0xd5: extra = 3; break;
			case 0xd6: extra = 5; break;
			case 0xd7: extra = 9; break;
			case 0xd8: extra = 17; break;
			case 0xdc: case 0xdd: case 0xde: case 0xdf:
				hl = (c == 0xdc || c == 0xde) ? 2 : 4;
				if (n - off < hl)
					return WIRE_ETRUNC;
				kids = be(p + off, (int)hl);
				if (c >= 0xde)
					kids *= 2;
				off += hl;
				hl = 0;
				break;
			default:
				return WIRE_EMALFORMED;
			}
			if (hl) {
				if (n - off < hl)
					return WIRE_ETRUNC;
				extra += be(p + off, (int)hl);
				off += hl;
			}
		}
		if (extra > n - off)
			return WIRE_ETRUNC;
		off += extra;
		pending += kids;
		/* every pending object needs at least one byte */
		if (pending > n - off)
			return WIRE_ETRUNC;
	}
	*used = off;
	return 0;
}

/* Decode the object at p+*off into u; advances *off. */
static int
dec_obj(const uint8_t *p, size_t n, size_t *off, msgpack_unpacked *u)
{
	size_t used;
	int    rc;

	if (*off > n)
		return WIRE_ETRUNC;
	if ((rc = wire_mp_scan(p + *off, n - *off, &used)) != 0)
		return rc;
	if (msgpack_unpack_next(u, (const char *)p, *off + used, off) !=
	    MSGPACK_UNPACK_SUCCESS)
		return WIRE_EMALFORMED;
	return 0;
}

enum fkind { FK_U16, FK_U32, FK_U64, FK_BOOL, FK_STR, FK_BYTES, FK_IP, FK_VSN,
	FK_INT };

struct fdesc {
	const char *name;
	int         kind;
	size_t      off;
	size_t      cap;    /* FK_STR, FK_BYTES */
	size_t      lenoff; /* FK_BYTES: where the size_t length goes */
};

static int
obj_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		*v = 0;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return WIRE_EMALFORMED;
	*v = o->via.u64;
	return 0;
}

static int
obj_raw(const msgpack_object *o, const char **p, size_t *n)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		*p = "";
		*n = 0;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN)
		return WIRE_EMALFORMED;
	*p = o->via.str.ptr; /* str and bin share the layout */
	*n = o->via.str.size;
	return 0;
}

static int
obj_cstr(const msgpack_object *o, char *dst, size_t cap)
{
	const char *s;
	size_t      n;

	if (obj_raw(o, &s, &n) || n >= cap || memchr(s, 0, n))
		return WIRE_EMALFORMED;
	memcpy(dst, s, n);
	dst[n] = 0;
	return 0;
}

static bool
key_is(const msgpack_object *k, const char *name)
{
	size_t l = strlen(name);
	return (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
	    k->via.str.size == l && memcmp(k->via.str.ptr, name, l) == 0;
}

static int
dec_field(const msgpack_object *v, const struct fdesc *f, void *out)
{
	uint8_t    *dst = (uint8_t *)out + f->off;
	uint64_t    u;
	const char *s;
	size_t      n;

	switch (f->kind) {
	case FK_U16:
		if (obj_uint(v, UINT16_MAX, &u))
			return WIRE_EMALFORMED;
		*(uint16_t *)(void *)dst = (uint16_t)u;
		return 0;
	case FK_U32:
		if (obj_uint(v, UINT32_MAX, &u))
			return WIRE_EMALFORMED;
		*(uint32_t *)(void *)dst = (uint32_t)u;
		return 0;
	case FK_U64:
		if (obj_uint(v, UINT64_MAX, &u))
			return WIRE_EMALFORMED;
		*(uint64_t *)(void *)dst = u;
		return 0;
	case FK_INT:
		if (obj_uint(v, INT32_MAX, &u))
			return WIRE_EMALFORMED;
		*(int *)(void *)dst = (int)u;
		return 0;
	case FK_BOOL:
		if (v->type == MSGPACK_OBJECT_BOOLEAN)
			*(bool *)(void *)dst = v->via.boolean;
		else if (!obj_uint(v, 1, &u))
			*(bool *)(void *)dst = u != 0;
		else
			return WIRE_EMALFORMED;
		return 0;
	case FK_STR:
		return obj_cstr(v, (char *)dst, f->cap);
	case FK_BYTES:
		if (obj_raw(v, &s, &n) || n > f->cap)
			return WIRE_EMALFORMED;
		memcpy(dst, s, n);
		*(size_t *)(void *)((uint8_t *)out + f->lenoff) = n;
		return 0;
	case FK_IP: {
		struct gd_addr *a = (struct gd_addr *)(void *)dst;
		if (obj_raw(v, &s, &n) || (n != 0 && n != 4 && n != 16))
			return WIRE_EMALFORMED;
		memcpy(a->ip, s, n);
		a->len = (uint8_t)n;
		return 0;
	}
	case FK_VSN:
		if (v->type == MSGPACK_OBJECT_ARRAY) {
			if (v->via.array.size != 6)
				return WIRE_EMALFORMED;
			for (int i = 0; i < 6; i++) {
				if (obj_uint(&v->via.array.ptr[i], 255, &u))
					return WIRE_EMALFORMED;
				dst[i] = (uint8_t)u;
			}
			return 0;
		}
		if (obj_raw(v, &s, &n) || n != 6)
			return WIRE_EMALFORMED;
		memcpy(dst, s, 6);
		return 0;
	}
	return WIRE_EMALFORMED;
}

static int
dec_map(const msgpack_object *o, const struct fdesc *fd, int nfd, void *out)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return WIRE_EMALFORMED;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		for (int j = 0; j < nfd; j++) {
			if (!key_is(&kv->key, fd[j].name))
				continue;
			if (dec_field(&kv->val, &fd[j], out))
				return WIRE_EMALFORMED;
			break;
		}
	}
	return 0;
}

/* Decode exactly one map filling [p, p+n) into out. */
static int
dec_whole(const uint8_t *p, size_t n, const struct fdesc *fd, int nfd,
    void *out)
{
	msgpack_unpacked u;
	size_t           off = 0;
	int              rc;

	msgpack_unpacked_init(&u);
	if ((rc = dec_obj(p, n, &off, &u)) == 0) {
		if (off != n)
			rc = WIRE_EMALFORMED;
		else
			rc = dec_map(&u.data, fd, nfd, out);
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}

#define FD(st, key, kind, field) \
	{ key, kind, offsetof(st, field), sizeof(((st *)0)->field), 0 }
#define FDB(st, key, field, lenfield)                                   \
	{ key, FK_BYTES, offsetof(st, field), sizeof(((st *)0)->field), \
		offsetof(st, lenfield) }
#define NF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- memberlist messages ------------------------------------------- */

static void
pk_src(msgpack_packer *pk, const char *node, const struct gd_addr *a)
{
	pk_kv_raw(pk, "SourceAddr", a->ip, a->len);
	pk_kv_str(pk, "SourceNode", node);
	pk_kv_u(pk, "SourcePort", a->port);
}

int
wire_enc_ping(struct gd_buf *b, const struct wire_ping *m)
{
	msgpack_packer pk;
	bool           src = m->src.len != 0;

	put_type(b, WIRE_PING);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, src ? 5 : 2);
	pk_kv_str(&pk, "Node", m->node);
	pk_kv_u(&pk, "SeqNo", m->seq);
	if (src)
		pk_src(&pk, m->src_node, &m->src);
	return b->err;
}

static const struct fdesc ping_fd[] = {
	FD(struct wire_ping, "Node", FK_STR, node),
	FD(struct wire_ping, "SeqNo", FK_U32, seq),
	FD(struct wire_ping, "SourceAddr", FK_IP, src),
	FD(struct wire_ping, "SourceNode", FK_STR, src_node),
	FD(struct wire_ping, "SourcePort", FK_U16, src.port),
};

int
wire_dec_ping(const uint8_t *p, size_t n, struct wire_ping *m)
{
	memset(m, 0, sizeof(*m));
	return dec_whole(p, n, ping_fd, NF(ping_fd), m);
}

int
wire_enc_indirect(struct gd_buf *b, const struct wire_indirect *m)
{
	msgpack_packer pk;
	bool           src = m->src.len != 0;

	put_type(b, WIRE_INDIRECT);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, src ? 8 : 5);
	pk_kv_bool(&pk, "Nack", m->nack);
	pk_kv_str(&pk, "Node", m->node);
	pk_kv_u(&pk, "Port", m->target.port);
	pk_kv_u(&pk, "SeqNo", m->seq);
	if (src)
		pk_src(&pk, m->src_node, &m->src);
	pk_kv_raw(&pk, "Target", m->target.ip, m->target.len);
	return b->err;
}

static const struct fdesc ind_fd[] = {
	FD(struct wire_indirect, "Nack", FK_BOOL, nack),
	FD(struct wire_indirect, "Node", FK_STR, node),
	FD(struct wire_indirect, "Port", FK_U16, target.port),
	FD(struct wire_indirect, "SeqNo", FK_U32, seq),
	FD(struct wire_indirect, "SourceAddr", FK_IP, src),
	FD(struct wire_indirect, "SourceNode", FK_STR, src_node),
	FD(struct wire_indirect, "SourcePort", FK_U16, src.port),
	FD(struct wire_indirect, "Target", FK_IP, target),
};

int
wire_dec_indirect(const uint8_t *p, size_t n, struct wire_indirect *m)
{
	memset(m, 0, sizeof(*m));
	return dec_whole(p, n, ind_fd, NF(ind_fd), m);
}

int
wire_enc_ack(struct gd_buf *b, const struct wire_ack *m)
{
	msgpack_packer pk;

	put_type(b, WIRE_ACK);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 2);
	pk_str(&pk, "Payload");
	msgpack_pack_nil(&pk);
	pk_kv_u(&pk, "SeqNo", m->seq);
	return b->err;
}

int
wire_dec_ack(const uint8_t *p, size_t n, struct wire_ack *m)
{
	/* the payload (serf's coordinate) is checked for shape, then dropped */
	struct {
		uint32_t seq;
		uint8_t  payload[GD_PAYLOAD_MAX];
		size_t   plen;
	} t;
	static const struct fdesc fd[] = {
		{ "SeqNo", FK_U32, 0, 0, 0 },
		{ "Payload", FK_BYTES, offsetof(__typeof__(t), payload),
		    GD_PAYLOAD_MAX, offsetof(__typeof__(t), plen) },
	};
	int rc;

	memset(&t, 0, sizeof(t));
	if ((rc = dec_whole(p, n, fd, NF(fd), &t)) != 0)
		return rc;
	m->seq = t.seq;
	m->payload_len = t.plen;
	return 0;
}

int
wire_enc_nack(struct gd_buf *b, uint32_t seq)
{
	msgpack_packer pk;

	put_type(b, WIRE_NACK);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 1);
	pk_kv_u(&pk, "SeqNo", seq);
	return b->err;
}

int
wire_dec_nack(const uint8_t *p, size_t n, uint32_t *seq)
{
	static const struct fdesc fd[] = { { "SeqNo", FK_U32, 0, 0, 0 } };

	*seq = 0;
	return dec_whole(p, n, fd, 1, seq);
}

int
wire_enc_suspect(struct gd_buf *b, int type, const struct wire_suspect *m)
{
	msgpack_packer pk;

	put_type(b, (uint8_t)type);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 3);
	pk_kv_str(&pk, "From", m->from);
	pk_kv_u(&pk, "Incarnation", m->inc);
	pk_kv_str(&pk, "Node", m->node);
	return b->err;
}

static const struct fdesc sus_fd[] = {
	FD(struct wire_suspect, "From", FK_STR, from),
	FD(struct wire_suspect, "Incarnation", FK_U32, inc),
	FD(struct wire_suspect, "Node", FK_STR, node),
};

int
wire_dec_suspect(const uint8_t *p, size_t n, struct wire_suspect *m)
{
	memset(m, 0, sizeof(*m));
	return dec_whole(p, n, sus_fd, NF(sus_fd), m);
}

static void
pk_alive(msgpack_packer *pk, const struct wire_alive *m, bool push)
{
	msgpack_pack_map(pk, push ? 7 : 6);
	pk_kv_raw(pk, "Addr", m->addr.ip, m->addr.len);
	pk_kv_u(pk, "Incarnation", m->inc);
	pk_kv_raw(pk, "Meta", m->meta, m->meta_len);
	pk_kv_str(pk, push ? "Name" : "Node", m->node);
	pk_kv_u(pk, "Port", m->addr.port);
	if (push)
		pk_kv_u(pk, "State", (uint64_t)m->state);
	pk_kv_raw(pk, "Vsn", m->vsn, 6);
}

int
wire_enc_alive(struct gd_buf *b, const struct wire_alive *m)
{
	msgpack_packer pk;

	put_type(b, WIRE_ALIVE);
	pk_init(&pk, b);
	pk_alive(&pk, m, false);
	return b->err;
}

static const struct fdesc alive_fd[] = {
	FD(struct wire_alive, "Addr", FK_IP, addr),
	FD(struct wire_alive, "Incarnation", FK_U32, inc),
	FDB(struct wire_alive, "Meta", meta, meta_len),
	FD(struct wire_alive, "Node", FK_STR, node),
	FD(struct wire_alive, "Name", FK_STR, node),
	FD(struct wire_alive, "Port", FK_U16, addr.port),
	FD(struct wire_alive, "State", FK_INT, state),
	FD(struct wire_alive, "Vsn", FK_VSN, vsn),
};

static int
alive_check(const struct wire_alive *m)
{
	/* a name is required; a 1-5 byte Vsn was refused by FK_VSN */
	if (m->node[0] == 0 || m->state < 0 || m->state > WS_LEFT)
		return WIRE_EMALFORMED;
	return 0;
}

int
wire_dec_alive(const uint8_t *p, size_t n, struct wire_alive *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = dec_whole(p, n, alive_fd, NF(alive_fd), m)) != 0)
		return rc;
	return alive_check(m);
}

int
wire_enc_err(struct gd_buf *b, const char *msg)
{
	msgpack_packer pk;

	put_type(b, WIRE_ERR);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 1);
	pk_kv_str(&pk, "Error", msg);
	return b->err;
}

int
wire_enc_user(struct gd_buf *b, const uint8_t *p, size_t n)
{
	put_type(b, WIRE_USER);
	return wire_buf_put(b, p, n);
}

int
wire_enc_pp_hdr(struct gd_buf *b, const struct wire_pp_hdr *h)
{
	msgpack_packer pk;

	put_type(b, WIRE_PUSHPULL);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 3);
	pk_kv_bool(&pk, "Join", h->join);
	pk_kv_u(&pk, "Nodes", h->nodes);
	pk_kv_u(&pk, "UserStateLen", h->user_len);
	return b->err;
}

int
wire_enc_node(struct gd_buf *b, const struct wire_alive *m)
{
	msgpack_packer pk;

	pk_init(&pk, b);
	pk_alive(&pk, m, true);
	return b->err;
}

static const struct fdesc pph_fd[] = {
	FD(struct wire_pp_hdr, "Join", FK_BOOL, join),
	FD(struct wire_pp_hdr, "Nodes", FK_U32, nodes),
	FD(struct wire_pp_hdr, "UserStateLen", FK_U32, user_len),
};

int
wire_dec_pp(const uint8_t *p, size_t n, struct wire_pp_hdr *h,
    struct wire_alive **nodes, const uint8_t **user, size_t *user_len)
{
	msgpack_unpacked   u;
	size_t             off = 0;
	struct wire_alive *v = NULL;
	int                rc;

	memset(h, 0, sizeof(*h));
	*nodes = NULL;
	msgpack_unpacked_init(&u);
	if ((rc = dec_obj(p, n, &off, &u)) != 0)
		goto out;
	if ((rc = dec_map(&u.data, pph_fd, NF(pph_fd), h)) != 0)
		goto out;
	/* each node state takes well over one byte: bounds the allocation */
	if (h->nodes > n - off || h->user_len > n - off) {
		rc = WIRE_ETRUNC;
		goto out;
	}
	if (h->nodes && (v = calloc(h->nodes, sizeof(*v))) == NULL) {
		rc = WIRE_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < h->nodes; i++) {
		if ((rc = dec_obj(p, n, &off, &u)) != 0)
			goto out;
		if ((rc = dec_map(&u.data, alive_fd, NF(alive_fd), &v[i])) != 0)
			goto out;
		if ((rc = alive_check(&v[i])) != 0)
			goto out;
	}
	if (n - off < h->user_len) {
		rc = WIRE_ETRUNC;
		goto out;
	}
	if (n - off > h->user_len) {
		rc = WIRE_EMALFORMED;
		goto out;
	}
	*user = p + off;
	*user_len = h->user_len;
	*nodes = v;
	v = NULL;
out:
	free(v);
	msgpack_unpacked_destroy(&u);
	return rc;
}

/* ---- compound, CRC, compress ---------------------------------------- */

int
wire_enc_compound(struct gd_buf *b, const uint8_t *const *parts,
    const size_t *lens, int n)
{
	uint8_t hdr[2] = { WIRE_COMPOUND, (uint8_t)n };

	if (n > 127)
		return WIRE_ETOOBIG;
	wire_buf_put(b, hdr, 2);
	for (int i = 0; i < n; i++) {
		uint8_t l[2] = { (uint8_t)(lens[i] >> 8), (uint8_t)lens[i] };
		if (lens[i] > UINT16_MAX)
			return WIRE_ETOOBIG;
		wire_buf_put(b, l, 2);
	}
	for (int i = 0; i < n; i++)
		wire_buf_put(b, parts[i], lens[i]);
	return b->err;
}

int
wire_dec_compound(const uint8_t *p, size_t n, const uint8_t **parts,
    size_t *lens, int max)
{
	size_t off, cnt;
	int    got = 0;

	if (n < 1)
		return WIRE_ETRUNC;
	cnt = p[0];
	if (n < 1 + 2 * cnt)
		return WIRE_ETRUNC;
	off = 1 + 2 * cnt;
	for (size_t i = 0; i < cnt && got < max; i++) {
		size_t l = (size_t)be(p + 1 + 2 * i, 2);
		if (l > n - off)
			break; /* memberlist drops the parts past a short one */
		parts[got] = p + off;
		lens[got++] = l;
		off += l;
	}
	return got;
}

static uint32_t crc_tab[256];

uint32_t
wire_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	if (crc_tab[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;
			for (int k = 0; k < 8; k++)
				v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
			crc_tab[i] = v;
		}
	}
	for (size_t i = 0; i < n; i++)
		c = crc_tab[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

int
wire_enc_crc(struct gd_buf *b, const uint8_t *p, size_t n)
{
	uint32_t c = wire_crc32(p, n);
	uint8_t  h[5] = { WIRE_CRC, (uint8_t)(c >> 24), (uint8_t)(c >> 16),
		 (uint8_t)(c >> 8), (uint8_t)c };

	wire_buf_put(b, h, 5);
	return wire_buf_put(b, p, n);
}

/*
 * Go's compress/lzw reader, LSB first, 8-bit literals: codes start 9 bits
 * wide, 256 clears, 257 ends, widths grow to 12; at 4095 the table stops
 * growing until the writer's next clear.
 */
int
wire_lzw_decode(const uint8_t *p, size_t n, struct gd_buf *out, size_t max)
{
	enum { CLEAR = 256, EOFC = 257, MAXW = 12, INVALID = 0xffff };
	uint16_t prefix[4096];
	uint8_t  suffix[4096];
	uint8_t  stack[4096];
	uint32_t bits = 0, hi = EOFC, overflow = 512, last = INVALID;
	int      nbits = 0, width = 9;
	size_t   in = 0;

	memset(prefix, 0, sizeof(prefix));
	memset(suffix, 0, sizeof(suffix));
	for (;;) {
		uint32_t code;
		while (nbits < width) {
			if (in >= n)
				return WIRE_ETRUNC; /* no EOF code */
			bits |= (uint32_t)p[in++] << nbits;
			nbits += 8;
		}
		code = bits & ((1u << width) - 1);
		bits >>= width;
		nbits -= width;
		if (code < CLEAR) {
			uint8_t c = (uint8_t)code;
			if (wire_buf_put(out, &c, 1))
				return WIRE_ENOMEM;
			if (last != INVALID) {
				suffix[hi] = c;
				prefix[hi] = (uint16_t)last;
			}
		} else if (code == CLEAR) {
			width = 9;
			hi = EOFC;
			overflow = 512;
			last = INVALID;
			continue;
		} else if (code == EOFC) {
			return 0;
		} else if (code <= hi) {
			size_t   i = sizeof(stack);
			uint32_t c = code;
			if (code == hi) {
				if (last == INVALID)
					return WIRE_EMALFORMED;
				c = last;
				while (c >= CLEAR)
					c = prefix[c];
				stack[--i] = (uint8_t)c;
				c = last;
			}
			while (c >= CLEAR) {
				if (i == 0)
					return WIRE_EMALFORMED;
				stack[--i] = suffix[c];
				c = prefix[c];
			}
			if (i == 0)
				return WIRE_EMALFORMED;
			stack[--i] = (uint8_t)c;
			if (wire_buf_put(out, stack + i, sizeof(stack) - i))
				return WIRE_ENOMEM;
			if (last != INVALID) {
				suffix[hi] = (uint8_t)c;
				prefix[hi] = (uint16_t)last;
			}
		} else {
			return WIRE_EMALFORMED;
		}
		if (out->len > max)
			return WIRE_ETOOBIG;
		last = code;
		hi++;
		if (hi >= overflow) {
			if (width == MAXW) {
				last = INVALID;
				hi--;
			} else {
				width++;
				overflow = 1u << width;
			}
		}
	}
}

int
wire_dec_compress(const uint8_t *p, size_t n, struct gd_buf *out,
    size_t max)
{
	struct {
		int      algo;
		uint8_t *buf;
	} t = { 0, NULL };
	msgpack_unpacked u;
	size_t           off = 0;
	const char      *s = NULL;
	size_t           sl = 0;
	int              rc;
	bool             have = false;

	msgpack_unpacked_init(&u);
	if ((rc = dec_obj(p, n, &off, &u)) != 0)
		goto out;
	if (off != n || u.data.type != MSGPACK_OBJECT_MAP) {
		rc = WIRE_EMALFORMED;
		goto out;
	}
	for (uint32_t i = 0; i < u.data.via.map.size; i++) {
		const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
		uint64_t                 a;
		if (key_is(&kv->key, "Algo")) {
			if (obj_uint(&kv->val, 255, &a)) {
				rc = WIRE_EMALFORMED;
				goto out;
			}
			t.algo = (int)a;
		} else if (key_is(&kv->key, "Buf")) {
			if (obj_raw(&kv->val, &s, &sl)) {
				rc = WIRE_EMALFORMED;
				goto out;
			}
			have = true;
		}
	}
	if (t.algo != 0 || !have) {
		rc = WIRE_EMALFORMED;
		goto out;
	}
	rc = wire_lzw_decode((const uint8_t *)s, sl, out, max);
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

/* ---- encryption ------------------------------------------------------ */

/*
 * libcrypto is opened when the first key enters the ring, not linked:
 * loading it costs 1.4 MB of RSS (its relocations and symbol tables) in
 * every gossipd, and most clusters run without -encrypt.  The pointers
 * take their types from OpenSSL's own declarations.
 */
#define WIRE_STR_(x) #x
#define WIRE_STR(x)  WIRE_STR_(x)
#define WIRE_LIBCRYPTO "libcrypto.so." WIRE_STR(OPENSSL_SHLIB_VERSION)

static struct {
	int	 state;	/* 0 not tried, 1 open, -1 failed */
	__typeof__(&EVP_CIPHER_CTX_new)	ctx_new;
	__typeof__(&EVP_CIPHER_CTX_free)	ctx_free;
	__typeof__(&EVP_CIPHER_CTX_ctrl)	ctx_ctrl;
	__typeof__(&EVP_CipherInit_ex)		init;
	__typeof__(&EVP_CipherUpdate)		update;
	__typeof__(&EVP_CipherFinal_ex)		final;
	__typeof__(&EVP_aes_128_gcm)		aes[3];
} ossl;

int
wire_crypto_open(void)
{
	static const char *names[] = { "EVP_CIPHER_CTX_new",
		"EVP_CIPHER_CTX_free", "EVP_CIPHER_CTX_ctrl",
		"EVP_CipherInit_ex", "EVP_CipherUpdate", "EVP_CipherFinal_ex",
		"EVP_aes_128_gcm", "EVP_aes_192_gcm", "EVP_aes_256_gcm" };
	void *sym[sizeof(names) / sizeof(names[0])], *h;

	if (ossl.state != 0)
		return ossl.state > 0 ? 0 : WIRE_ENOCRYPTO;
	ossl.state = -1;
	if ((h = dlopen(WIRE_LIBCRYPTO, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return WIRE_ENOCRYPTO;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((sym[i] = dlsym(h, names[i])) == NULL)
			return WIRE_ENOCRYPTO;	/* h stays open: harmless */
	ossl.ctx_new = sym[0];
	ossl.ctx_free = sym[1];
	ossl.ctx_ctrl = sym[2];
	ossl.init = sym[3];
	ossl.update = sym[4];
	ossl.final = sym[5];
	for (int i = 0; i < 3; i++)
		ossl.aes[i] = sym[6 + i];
	ossl.state = 1;
	return 0;
}

void
wire_random(void *p, size_t n)
{
	uint8_t *b = p;
	ssize_t  r;

	while (n > 0) {
		if ((r = getrandom(b, n, 0)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			abort();	/* Linux >= 3.17 cannot fail here */
		b += r;
		n -= (size_t)r;
	}
}

static const EVP_CIPHER *
gcm_cipher(int klen)
{
	return ossl.aes[klen == 16 ? 0 : klen == 24 ? 1 : 2]();
}

/* seal (enc=1) or open: out gets n bytes; tag is 16 bytes in or out */
static int
gcm(int enc, const uint8_t *key, int klen, const uint8_t *nonce,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
    uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c;
	int             l, ok = 0;

	if (wire_crypto_open() != 0)
		return WIRE_ECRYPT;
	if (n > INT32_MAX || (c = ossl.ctx_new()) == NULL)
		return WIRE_ENOMEM;
	if (ossl.init(c, gcm_cipher(klen), NULL, NULL, NULL, enc) != 1 ||
	    ossl.ctx_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
	    ossl.init(c, NULL, NULL, key, nonce, enc) != 1)
		goto out;
	if (aadlen && ossl.update(c, NULL, &l, aad, (int)aadlen) != 1)
		goto out;
	if (n && ossl.update(c, out, &l, in, (int)n) != 1)
		goto out;
	if (!enc && ossl.ctx_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		goto out;
	if (ossl.final(c, out + n, &l) != 1)
		goto out;
	if (enc && ossl.ctx_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto out;
	ok = 1;
out:
	ossl.ctx_free(c);
	return ok ? 0 : WIRE_ECRYPT;
}

/* version 1 | nonce | ciphertext | tag, appended to out */
static int
seal_into(const struct gd_keyring *kr, const uint8_t *aad, size_t aadlen,
    const uint8_t *p, size_t n, struct gd_buf *out)
{
	uint8_t hdr[13];
	size_t  at;
	int     rc;

	if (kr->n < 1)
		return WIRE_ECRYPT;
	hdr[0] = 1;
	wire_random(hdr + 1, 12);
	wire_buf_put(out, hdr, 13);
	at = out->len;
	/* reserve ciphertext + tag */
	if (wire_buf_put(out, NULL, n + 16))
		return WIRE_ENOMEM;
	rc = gcm(1, kr->key[0], kr->klen[0], hdr + 1, aad, aadlen, p, n,
	    out->p + at, out->p + at + n);
	return rc;
}

int
wire_seal(const struct gd_keyring *kr, const uint8_t *p, size_t n,
    struct gd_buf *out)
{
	return seal_into(kr, NULL, 0, p, n, out);
}

/* open version|nonce|ct|tag with AAD, trying every key */
static int
open_any(const struct gd_keyring *kr, const uint8_t *aad, size_t aadlen,
    const uint8_t *p, size_t n, struct gd_buf *out)
{
	uint8_t *pt;
	uint8_t  tag[16];
	size_t   ctlen;
	int      ver;

	if (n < 1)
		return WIRE_ETRUNC;
	ver = p[0];
	if (ver > 1)
		return WIRE_EVERSION;
	if (n < (size_t)(ver == 1 ? 29 : 45))
		return WIRE_ETRUNC;
	ctlen = n - 29;
	if ((pt = malloc(ctlen + 16)) == NULL)
		return WIRE_ENOMEM;
	memcpy(tag, p + n - 16, 16);
	for (int k = 0; k < kr->n; k++) {
		size_t len = ctlen;
		if (gcm(0, kr->key[k], kr->klen[k], p + 1, aad, aadlen, p + 13,
			ctlen, pt, tag) != 0)
			continue;
		if (ver == 0) {
			uint8_t pad = len ? pt[len - 1] : 0;
			if (pad == 0 || pad > 16 || pad > len)
				break;
			len -= pad;
		}
		wire_buf_put(out, pt, len);
		free(pt);
		return out->err;
	}
	free(pt);
	return WIRE_ECRYPT;
}

int
wire_open(const struct gd_keyring *kr, const uint8_t *p, size_t n,
    struct gd_buf *out)
{
	return open_any(kr, NULL, 0, p, n, out);
}

int
wire_stream_seal(const struct gd_keyring *kr, const uint8_t *p, size_t n,
    struct gd_buf *out)
{
	uint8_t hdr[5];
	size_t  l = n + 29;

	hdr[0] = WIRE_ENCRYPT;
	hdr[1] = (uint8_t)(l >> 24);
	hdr[2] = (uint8_t)(l >> 16);
	hdr[3] = (uint8_t)(l >> 8);
	hdr[4] = (uint8_t)l;
	wire_buf_put(out, hdr, 5);
	return seal_into(kr, hdr, 5, p, n, out);
}

int
wire_stream_need(const uint8_t *p, size_t n, size_t *need)
{
	size_t used, off;
	int    rc;

	if (n < 1)
		return WIRE_ETRUNC;
	switch (p[0]) {
	case WIRE_ENCRYPT: {
		uint64_t l;
		if (n < 5)
			return WIRE_ETRUNC;
		l = be(p + 1, 4);
		if (l > GD_STREAM_MAX)
			return WIRE_ETOOBIG;
		*need = 5 + (size_t)l;
		return *need <= n ? 0 : WIRE_ETRUNC;
	}
	case WIRE_PING:
	case WIRE_ACK:
	case WIRE_ERR:
	case WIRE_COMPRESS:
		if ((rc = wire_mp_scan(p + 1, n - 1, &used)) != 0)
			return rc;
		*need = 1 + used;
		return 0;
	case WIRE_PUSHPULL: {
		struct wire_pp_hdr h;
		if ((rc = wire_mp_scan(p + 1, n - 1, &used)) != 0)
			return rc;
		memset(&h, 0, sizeof(h));
		rc = dec_whole(p + 1, used, pph_fd, NF(pph_fd), &h);
		if (rc)
			return rc;
		off = 1 + used;
		for (uint32_t i = 0; i < h.nodes; i++) {
			if ((rc = wire_mp_scan(p + off, n - off, &used)) != 0)
				return rc;
			off += used;
		}
		*need = off + h.user_len;
		return *need <= n ? 0 : WIRE_ETRUNC;
	}
	case WIRE_USER: {
		uint32_t l = 0;
		static const struct fdesc fd[] = {
			{ "UserMsgLen", FK_U32, 0, 0, 0 } };
		if ((rc = wire_mp_scan(p + 1, n - 1, &used)) != 0)
			return rc;
		if ((rc = dec_whole(p + 1, used, fd, 1, &l)) != 0)
			return rc;
		*need = 1 + used + l;
		return *need <= n ? 0 : WIRE_ETRUNC;
	}
	}
	return WIRE_ETYPE;
}

int
wire_dec_user_stream(const uint8_t *p, size_t n, const uint8_t **payload,
    size_t *len)
{
	static const struct fdesc fd[] = { { "UserMsgLen", FK_U32, 0, 0, 0 } };
	uint32_t                  l = 0;
	size_t                    used;
	int                       rc;

	if ((rc = wire_mp_scan(p, n, &used)) != 0)
		return rc;
	if ((rc = dec_whole(p, used, fd, 1, &l)) != 0)
		return rc;
	if (n - used != l)
		return n - used < l ? WIRE_ETRUNC : WIRE_EMALFORMED;
	*payload = p + used;
	*len = l;
	return 0;
}

int
wire_stream_open(const struct gd_keyring *kr, bool require_crypt,
    const uint8_t *p, size_t n, struct gd_buf *out)
{
	struct gd_buf pt = { 0 };
	int           rc;

	if (n < 1)
		return WIRE_ETRUNC;
	if (p[0] == WIRE_ENCRYPT) {
		if (kr->n == 0)
			return WIRE_ECRYPT;
		if (n < 5 || be(p + 1, 4) != n - 5)
			return WIRE_EMALFORMED;
		if ((rc = open_any(kr, p, 5, p + 5, n - 5, &pt)) != 0)
			goto out;
		p = pt.p;
		n = pt.len;
		if (n < 1) {
			rc = WIRE_ETRUNC;
			goto out;
		}
	} else if (require_crypt) {
		return WIRE_ECRYPT;
	}
	if (p[0] == WIRE_COMPRESS)
		rc = wire_dec_compress(p + 1, n - 1, out, GD_STREAM_MAX);
	else
		rc = wire_buf_put(out, p, n);
out:
	wire_buf_free(&pt);
	return rc;
}


int
wire_keyring_add(struct gd_keyring *kr, const char *b64)
{
	uint8_t tmp[48];
	int     n;

	if (kr->n >= GD_KEYS_MAX)
		return WIRE_EMALFORMED;
	n = b64_decode(tmp, sizeof(tmp), b64, strlen(b64));
	if (n != 16 && n != 24 && n != 32)
		return WIRE_EMALFORMED;
	if (wire_crypto_open() != 0)
		return WIRE_ENOCRYPTO;
	memcpy(kr->key[kr->n], tmp, (size_t)n);
	kr->klen[kr->n++] = (uint8_t)n;
	return 0;
}

/* ---- serf ------------------------------------------------------------- */

int
wire_enc_intent(struct gd_buf *b, int type, const struct wire_intent *m)
{
	msgpack_packer pk;

	put_type(b, (uint8_t)type);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, type == WSERF_LEAVE ? 3 : 2);
	pk_kv_u(&pk, "LTime", m->ltime);
	pk_kv_str(&pk, "Node", m->node);
	if (type == WSERF_LEAVE)
		pk_kv_bool(&pk, "Prune", m->prune);
	return b->err;
}

static const struct fdesc intent_fd[] = {
	FD(struct wire_intent, "LTime", FK_U64, ltime),
	FD(struct wire_intent, "Node", FK_STR, node),
	FD(struct wire_intent, "Prune", FK_BOOL, prune),
};

int
wire_dec_intent(const uint8_t *p, size_t n, struct wire_intent *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = dec_whole(p, n, intent_fd, NF(intent_fd), m)) != 0)
		return rc;
	return m->node[0] ? 0 : WIRE_EMALFORMED;
}

int
wire_enc_event(struct gd_buf *b, const struct wire_event *m)
{
	msgpack_packer pk;

	put_type(b, WSERF_EVENT);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 4);
	pk_kv_bool(&pk, "CC", m->cc);
	pk_kv_u(&pk, "LTime", m->ltime);
	pk_kv_str(&pk, "Name", m->name);
	pk_kv_raw(&pk, "Payload", m->payload, m->payload_len);
	return b->err;
}

static const struct fdesc event_fd[] = {
	FD(struct wire_event, "CC", FK_BOOL, cc),
	FD(struct wire_event, "LTime", FK_U64, ltime),
	FD(struct wire_event, "Name", FK_STR, name),
	FDB(struct wire_event, "Payload", payload, payload_len),
};

int
wire_dec_event(const uint8_t *p, size_t n, struct wire_event *m)
{
	memset(m, 0, sizeof(*m));
	return dec_whole(p, n, event_fd, NF(event_fd), m);
}

int
wire_enc_serf_pp(struct gd_buf *b, const struct wire_serf_pp *m)
{
	msgpack_packer pk;

	put_type(b, WSERF_PUSHPULL);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 6);
	pk_kv_u(&pk, "EventLTime", m->event_ltime);
	pk_str(&pk, "Events");
	if (m->nevents == 0) {
		msgpack_pack_nil(&pk);
	} else {
		/* one slot per event; serf accepts any length */
		msgpack_pack_array(&pk, m->nevents);
		for (size_t i = 0; i < m->nevents; i++) {
			const struct wire_event *e = &m->events[i];
			msgpack_pack_map(&pk, 2);
			pk_str(&pk, "Events");
			msgpack_pack_array(&pk, 1);
			msgpack_pack_map(&pk, 2);
			pk_kv_str(&pk, "Name", e->name);
			pk_kv_raw(&pk, "Payload", e->payload, e->payload_len);
			pk_kv_u(&pk, "LTime", e->ltime);
		}
	}
	pk_kv_u(&pk, "LTime", m->ltime);
	pk_str(&pk, "LeftMembers");
	msgpack_pack_array(&pk, m->nleft);
	for (size_t i = 0; i < m->nleft; i++)
		pk_str(&pk, m->left[i]);
	pk_kv_u(&pk, "QueryLTime", m->query_ltime);
	pk_str(&pk, "StatusLTimes");
	msgpack_pack_map(&pk, m->nstatus);
	for (size_t i = 0; i < m->nstatus; i++)
		pk_kv_u(&pk, m->status[i].name, m->status[i].ltime);
	return b->err;
}

void
wire_serf_pp_free(struct wire_serf_pp *m)
{
	free(m->status);
	free(m->left);
	free(m->events);
	memset(m, 0, sizeof(*m));
}

static int
pp_events(const msgpack_object *o, struct wire_serf_pp *m)
{
	size_t total = 0, k = 0;

	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return WIRE_EMALFORMED;
	/* first pass: shape and count */
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *slot = &o->via.array.ptr[i];
		if (slot->type == MSGPACK_OBJECT_NIL)
			continue;
		if (slot->type != MSGPACK_OBJECT_MAP)
			return WIRE_EMALFORMED;
		for (uint32_t j = 0; j < slot->via.map.size; j++) {
			const msgpack_object_kv *kv = &slot->via.map.ptr[j];
			if (!key_is(&kv->key, "Events"))
				continue;
			if (kv->val.type == MSGPACK_OBJECT_ARRAY)
				total += kv->val.via.array.size;
			else if (kv->val.type != MSGPACK_OBJECT_NIL)
				return WIRE_EMALFORMED;
		}
	}
	if (total == 0)
		return 0;
	if ((m->events = calloc(total, sizeof(*m->events))) == NULL)
		return WIRE_ENOMEM;
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *slot = &o->via.array.ptr[i];
		const msgpack_object *evs = NULL;
		uint64_t              lt = 0;
		if (slot->type == MSGPACK_OBJECT_NIL)
			continue;
		for (uint32_t j = 0; j < slot->via.map.size; j++) {
			const msgpack_object_kv *kv = &slot->via.map.ptr[j];
			if (key_is(&kv->key, "Events"))
				evs = &kv->val;
			else if (key_is(&kv->key, "LTime") &&
			    obj_uint(&kv->val, UINT64_MAX, &lt))
				return WIRE_EMALFORMED;
		}
		if (evs == NULL || evs->type != MSGPACK_OBJECT_ARRAY)
			continue;
		for (uint32_t j = 0; j < evs->via.array.size; j++) {
			struct wire_event *e = &m->events[k];
			memset(e, 0, sizeof(*e));
			/* an oversized event is skipped, not fatal */
			if (dec_map(&evs->via.array.ptr[j], event_fd,
				NF(event_fd), e) != 0)
				continue;
			e->ltime = lt;
			k++;
		}
	}
	m->nevents = k;
	return 0;
}

int
wire_dec_serf_pp(const uint8_t *p, size_t n, struct wire_serf_pp *m)
{
	msgpack_unpacked u;
	size_t           off = 0;
	int              rc;

	memset(m, 0, sizeof(*m));
	msgpack_unpacked_init(&u);
	if ((rc = dec_obj(p, n, &off, &u)) != 0)
		goto out;
	rc = WIRE_EMALFORMED;
	if (off != n || u.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	for (uint32_t i = 0; i < u.data.via.map.size; i++) {
		const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
		const msgpack_object    *v = &kv->val;
		if (key_is(&kv->key, "LTime")) {
			if (obj_uint(v, UINT64_MAX, &m->ltime))
				goto out;
		} else if (key_is(&kv->key, "EventLTime")) {
			if (obj_uint(v, UINT64_MAX, &m->event_ltime))
				goto out;
		} else if (key_is(&kv->key, "QueryLTime")) {
			if (obj_uint(v, UINT64_MAX, &m->query_ltime))
				goto out;
		} else if (key_is(&kv->key, "LeftMembers")) {
			if (v->type == MSGPACK_OBJECT_NIL)
				continue;
			if (v->type != MSGPACK_OBJECT_ARRAY || m->left)
				goto out;
			if (v->via.array.size &&
			    (m->left = calloc(v->via.array.size,
				 sizeof(*m->left))) == NULL) {
				rc = WIRE_ENOMEM;
				goto out;
			}
			for (uint32_t j = 0; j < v->via.array.size; j++)
				if (obj_cstr(&v->via.array.ptr[j], m->left[j],
					GD_NAME_MAX))
					goto out;
			m->nleft = v->via.array.size;
		} else if (key_is(&kv->key, "StatusLTimes")) {
			if (v->type == MSGPACK_OBJECT_NIL)
				continue;
			if (v->type != MSGPACK_OBJECT_MAP || m->status)
				goto out;
			if (v->via.map.size &&
			    (m->status = calloc(v->via.map.size,
				 sizeof(*m->status))) == NULL) {
				rc = WIRE_ENOMEM;
				goto out;
			}
			for (uint32_t j = 0; j < v->via.map.size; j++) {
				const msgpack_object_kv *e = &v->via.map.ptr[j];
				if (obj_cstr(&e->key, m->status[j].name,
					GD_NAME_MAX) ||
				    obj_uint(&e->val, UINT64_MAX,
					&m->status[j].ltime))
					goto out;
			}
			m->nstatus = v->via.map.size;
		} else if (key_is(&kv->key, "Events")) {
			if (m->events)
				goto out;
			if ((rc = pp_events(v, m)) != 0)
				goto out;
			rc = WIRE_EMALFORMED;
		}
	}
	rc = 0;
out:
	msgpack_unpacked_destroy(&u);
	if (rc)
		wire_serf_pp_free(m);
	return rc;
}

static const struct fdesc query_fd[] = {
	FD(struct wire_query, "Addr", FK_IP, addr),
	FD(struct wire_query, "Flags", FK_U32, flags),
	FD(struct wire_query, "ID", FK_U32, id),
	FD(struct wire_query, "LTime", FK_U64, ltime),
	FD(struct wire_query, "Name", FK_STR, name),
	FDB(struct wire_query, "Payload", payload, payload_len),
	FD(struct wire_query, "Port", FK_U16, addr.port),
	FD(struct wire_query, "SourceNode", FK_STR, src_node),
};

int
wire_dec_query(const uint8_t *p, size_t n, struct wire_query *m)
{
	memset(m, 0, sizeof(*m));
	return dec_whole(p, n, query_fd, NF(query_fd), m);
}

int
wire_enc_response(struct gd_buf *b, const struct wire_query *q, uint32_t flags,
    const char *from, const uint8_t *payload, size_t n)
{
	msgpack_packer pk;

	put_type(b, WSERF_RESPONSE);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 5);
	pk_kv_u(&pk, "Flags", flags);
	pk_kv_str(&pk, "From", from);
	pk_kv_u(&pk, "ID", q->id);
	pk_kv_u(&pk, "LTime", q->ltime);
	pk_str(&pk, "Payload");
	if (payload)
		pk_raw(&pk, payload, n);
	else
		msgpack_pack_nil(&pk);
	return b->err;
}

int
wire_dec_key_request(const uint8_t *p, size_t n, uint8_t *key, size_t *klen)
{
	struct {
		uint8_t k[32];
		size_t  l;
	} t;
	static const struct fdesc fd[] = { { "Key", FK_BYTES, 0, 32,
		offsetof(__typeof__(t), l) } };
	int rc;

	if (n < 1 || p[0] != 7)
		return WIRE_EMALFORMED;
	memset(&t, 0, sizeof(t));
	if ((rc = dec_whole(p + 1, n - 1, fd, 1, &t)) != 0)
		return rc;
	memcpy(key, t.k, t.l);
	*klen = t.l;
	return 0;
}

int
wire_enc_key_response(struct gd_buf *b, const struct gd_keyring *kr, bool list,
    const char *msg, bool result)
{
	msgpack_packer pk;
	char           k64[64];

	put_type(b, 8);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, 4);
	pk_str(&pk, "Keys");
	if (list && kr->n) {
		msgpack_pack_array(&pk, (size_t)kr->n);
		for (int i = 0; i < kr->n; i++) {
			b64_encode(k64, kr->key[i], kr->klen[i]);
			pk_str(&pk, k64);
		}
	} else {
		msgpack_pack_nil(&pk);
	}
	pk_kv_str(&pk, "Message", msg);
	k64[0] = 0;
	if (list && kr->n)
		b64_encode(k64, kr->key[0], kr->klen[0]);
	pk_kv_str(&pk, "PrimaryKey", k64);
	pk_kv_bool(&pk, "Result", result);
	return b->err;
}

int
wire_enc_tags(struct gd_buf *b, const char *const *kv, int npairs)
{
	msgpack_packer pk;
	uint8_t        magic = 0xff;

	wire_buf_put(b, &magic, 1);
	pk_init(&pk, b);
	msgpack_pack_map(&pk, (size_t)npairs);
	for (int i = 0; i < npairs; i++)
		pk_kv_str(&pk, kv[2 * i], kv[2 * i + 1]);
	return b->err;
}

int
wire_dec_tags(const uint8_t *p, size_t n,
    void (*fn)(void *ctx, const char *k, size_t kl, const char *v, size_t vl),
    void *ctx)
{
	msgpack_unpacked u;
	size_t           off = 0;
	int              rc;

	if (n == 0 || p[0] != 0xff) {
		fn(ctx, "role", 4, (const char *)p, n);
		return 0;
	}
	msgpack_unpacked_init(&u);
	if ((rc = dec_obj(p + 1, n - 1, &off, &u)) != 0)
		goto out;
	rc = WIRE_EMALFORMED;
	if (off != n - 1 || u.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	for (uint32_t i = 0; i < u.data.via.map.size; i++) {
		const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
		const char              *k, *v;
		size_t                   kl, vl;
		if (obj_raw(&kv->key, &k, &kl) || obj_raw(&kv->val, &v, &vl))
			goto out;
		fn(ctx, k, kl, v, vl);
	}
	rc = 0;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
wire_enc_cevent(struct gd_buf *b, const struct wire_cevent *m)
{
	msgpack_packer pk;
	size_t         n = 3;

	n += m->payload_len > 0;
	n += m->nf[0] != 0;
	n += m->sf[0] != 0;
	n += m->tf[0] != 0;
	pk_init(&pk, b);
	msgpack_pack_map(&pk, n);
	pk_kv_str(&pk, "ID", m->id);
	pk_kv_str(&pk, "n", m->name);
	if (m->payload_len)
		pk_kv_raw(&pk, "p", m->payload, m->payload_len);
	if (m->nf[0])
		pk_kv_str(&pk, "nf", m->nf);
	if (m->sf[0])
		pk_kv_str(&pk, "sf", m->sf);
	if (m->tf[0])
		pk_kv_str(&pk, "tf", m->tf);
	pk_kv_u(&pk, "v", (uint64_t)m->version);
	return b->err;
}

static const struct fdesc cevent_fd[] = {
	FD(struct wire_cevent, "ID", FK_STR, id),
	FD(struct wire_cevent, "n", FK_STR, name),
	FDB(struct wire_cevent, "p", payload, payload_len),
	FD(struct wire_cevent, "nf", FK_STR, nf),
	FD(struct wire_cevent, "sf", FK_STR, sf),
	FD(struct wire_cevent, "tf", FK_STR, tf),
	FD(struct wire_cevent, "v", FK_INT, version),
};

int
wire_dec_cevent(const uint8_t *p, size_t n, struct wire_cevent *m)
{
	memset(m, 0, sizeof(*m));
	return dec_whole(p, n, cevent_fd, NF(cevent_fd), m);
}
