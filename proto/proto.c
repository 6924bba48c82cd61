/*
 * The generic msgpack codec over the message descriptors of proto.h.
 */
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

const char *
proto_strerror(int err)
{
	switch (err) {
#define PROTO_E_CASE(name, val, str) \
	case val:                    \
		return str;
		PROTO_ERRORS(PROTO_E_CASE)
#undef PROTO_E_CASE
	}
	return "unknown error";
}

/* Field tables, one per message, then the descriptor table. */
#define PROTO_F_DESC(kind, field) { PK_##kind, #field, 0 },
#define PROTO_X_FIELDS(E, lower, name, fields)                 \
	static const struct proto_field proto_fields_##lower[] = { \
		fields { PK_U64, NULL, 0 }                     \
	};
PROTO_MSGS(PROTO_X_FIELDS, PROTO_F_DESC)
#undef PROTO_X_FIELDS
#undef PROTO_F_DESC

/*
 * Offsets cannot be taken inside the field list above (the struct's name is
 * not in scope of F), so they are filled from a second table of the same
 * shape, built per message with offsetof.
 */

static struct proto_desc proto_descs[PROTO_NTYPES];
static struct proto_field *proto_fieldtabs[PROTO_NTYPES];

static void proto_init_descs(void) __attribute__((constructor));

static void
proto_init_one(int t, const char *name, size_t size,
    const struct proto_field *tmpl, const size_t *offs)
{
	size_t n = 0;

	while (tmpl[n].name != NULL)
		n++;
	proto_fieldtabs[t] = calloc(n ? n : 1, sizeof(struct proto_field));
	if (proto_fieldtabs[t] == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		proto_fieldtabs[t][i] = tmpl[i];
		proto_fieldtabs[t][i].offset = offs[i];
	}
	proto_descs[t].name = name;
	proto_descs[t].size = size;
	proto_descs[t].nfields = n;
	proto_descs[t].fields = proto_fieldtabs[t];
}

#define PROTO_F_OFFSET(kind, field) offsetof(msg_t, field),
#define PROTO_X_INIT(E, lower, name, fields)                               \
	{                                                                  \
		typedef struct proto_##lower msg_t;                        \
		static const size_t offs[] = { fields 0 };                 \
		proto_init_one(PROTO_##E, name, sizeof(msg_t),             \
		    proto_fields_##lower, offs);                           \
	}

static void
proto_init_descs(void)
{
	PROTO_MSGS(PROTO_X_INIT, PROTO_F_OFFSET)
}
#undef PROTO_X_INIT
#undef PROTO_F_OFFSET

const struct proto_desc *
proto_desc(int t)
{
	if (t <= PROTO_NONE || t >= PROTO_NTYPES)
		return NULL;
	return &proto_descs[t];
}

const char *
proto_name(int t)
{
	static __thread char buf[32];
	const struct proto_desc *d = proto_desc(t);

	if (d != NULL)
		return d->name;
	snprintf(buf, sizeof(buf), "unknown(%d)", t);
	return buf;
}

int
proto_type_byname(const char *name)
{
	for (int t = PROTO_NONE + 1; t < PROTO_NTYPES; t++)
		if (strcmp(proto_descs[t].name, name) == 0)
			return t;
	return PROTO_NONE;
}

void
proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int
proto_buf_write(void *data, const char *p, size_t n)
{
	struct proto_buf *b = data;

	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char  *nd;

		while (cap < b->len + n)
			cap *= 2;
		if ((nd = realloc(b->data, cap)) == NULL)
			return -1;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int
proto_pack_field(msgpack_packer *pk, const struct proto_field *f,
    const void *msg)
{
	const char *p = (const char *)msg + f->offset;
	int         rv = 0;

	switch (f->kind) {
	case PK_U64:
		rv = msgpack_pack_uint64(pk, *(const uint64_t *)p);
		break;
	case PK_I64:
		rv = msgpack_pack_int64(pk, *(const int64_t *)p);
		break;
	case PK_BOOL:
		rv = *(const bool *)p ? msgpack_pack_true(pk)
		                      : msgpack_pack_false(pk);
		break;
	case PK_STR: {
		const char *s = *(char *const *)p;
		if (s == NULL)
			rv = msgpack_pack_nil(pk);
		else {
			size_t n = strlen(s);
			rv = msgpack_pack_str(pk, n);
			if (rv == 0)
				rv = msgpack_pack_str_body(pk, s, n);
		}
		break;
	}
	case PK_BIN: {
		const struct proto_bin *b = (const struct proto_bin *)p;
		rv = msgpack_pack_bin(pk, b->len);
		if (rv == 0 && b->len)
			rv = msgpack_pack_bin_body(pk, b->ptr, b->len);
		break;
	}
	case PK_STRS: {
		const struct proto_strs *s = (const struct proto_strs *)p;
		rv = msgpack_pack_array(pk, s->n);
		for (size_t i = 0; rv == 0 && i < s->n; i++) {
			size_t n = s->v[i] ? strlen(s->v[i]) : 0;
			rv = msgpack_pack_str(pk, n);
			if (rv == 0)
				rv = msgpack_pack_str_body(pk, s->v[i], n);
		}
		break;
	}
	case PK_BINS: {
		const struct proto_bins *s = (const struct proto_bins *)p;
		rv = msgpack_pack_array(pk, s->n);
		for (size_t i = 0; rv == 0 && i < s->n; i++) {
			rv = msgpack_pack_bin(pk, s->v[i].len);
			if (rv == 0 && s->v[i].len)
				rv = msgpack_pack_bin_body(pk, s->v[i].ptr,
				    s->v[i].len);
		}
		break;
	}
	}
	return rv;
}

int
proto_pack(int type, uint64_t id, const void *msg, struct proto_buf *out)
{
	const struct proto_desc *d = proto_desc(type);
	msgpack_packer           pk;

	if (d == NULL)
		return PROTO_ETYPE;
	out->len = 0;
	msgpack_packer_init(&pk, out, proto_buf_write);
	if (msgpack_pack_array(&pk, 4) || msgpack_pack_uint64(&pk, PROTO_VERSION) ||
	    msgpack_pack_uint64(&pk, (uint64_t)type) ||
	    msgpack_pack_uint64(&pk, id) || msgpack_pack_array(&pk, d->nfields))
		return PROTO_ENOMEM;
	for (size_t i = 0; i < d->nfields; i++)
		if (proto_pack_field(&pk, &d->fields[i], msg) != 0)
			return PROTO_ENOMEM;
	return PROTO_OK;
}

/*
 * A minimal strict reader over raw msgpack bytes.  We parse the envelope
 * ourselves rather than through msgpack_unpack so that the body can be
 * located without copying and trailing bytes are detected exactly.
 */
struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static int
rd_need(struct rd *r, size_t n)
{
	return (size_t)(r->end - r->p) >= n ? 0 : PROTO_EMALFORMED;
}

static uint64_t
rd_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reads an unsigned integer; a negative one is PROTO_EFIELD. */
static int
rd_u64(struct rd *r, uint64_t *v)
{
	uint8_t c;
	int     n;

	if (rd_need(r, 1))
		return PROTO_EMALFORMED;
	c = *r->p;
	if (c <= 0x7f) {
		*v = c;
		r->p++;
		return 0;
	}
	switch (c) {
	case 0xcc: n = 1; break;
	case 0xcd: n = 2; break;
	case 0xce: n = 4; break;
	case 0xcf: n = 8; break;
	default: return PROTO_EFIELD;
	}
	if (rd_need(r, 1 + n))
		return PROTO_EMALFORMED;
	*v = rd_be(r->p + 1, n);
	r->p += 1 + n;
	return 0;
}

static int
rd_i64(struct rd *r, int64_t *v)
{
	uint8_t  c;
	int      n;
	uint64_t u;

	if (rd_need(r, 1))
		return PROTO_EMALFORMED;
	c = *r->p;
	if (c >= 0xe0) {
		*v = (int8_t)c;
		r->p++;
		return 0;
	}
	switch (c) {
	case 0xd0: n = 1; break;
	case 0xd1: n = 2; break;
	case 0xd2: n = 4; break;
	case 0xd3: n = 8; break;
	default: {
		int rv = rd_u64(r, &u);
		if (rv)
			return rv;
		if (u > INT64_MAX)
			return PROTO_EFIELD;
		*v = (int64_t)u;
		return 0;
	}
	}
	if (rd_need(r, 1 + n))
		return PROTO_EMALFORMED;
	u = rd_be(r->p + 1, n);
	switch (n) {
	case 1: *v = (int8_t)u; break;
	case 2: *v = (int16_t)u; break;
	case 4: *v = (int32_t)u; break;
	default: *v = (int64_t)u; break;
	}
	r->p += 1 + n;
	return 0;
}

/* Reads an array header. */
static int
rd_array(struct rd *r, size_t *len)
{
	uint8_t c;

	if (rd_need(r, 1))
		return PROTO_EMALFORMED;
	c = *r->p;
	if ((c & 0xf0) == 0x90) {
		*len = c & 0x0f;
		r->p++;
		return 0;
	}
	if (c == 0xdc || c == 0xdd) {
		int n = c == 0xdc ? 2 : 4;
		if (rd_need(r, 1 + n))
			return PROTO_EMALFORMED;
		*len = rd_be(r->p + 1, n);
		r->p += 1 + n;
		return 0;
	}
	return PROTO_EFIELD;
}

/* Reads a str (or, with allow_nil, nil: *s = NULL). */
static int
rd_str(struct rd *r, const uint8_t **s, size_t *len, bool allow_nil,
    bool *isnil)
{
	uint8_t c;
	int     n;

	if (rd_need(r, 1))
		return PROTO_EMALFORMED;
	c = *r->p;
	*isnil = false;
	if (c == 0xc0 && allow_nil) {
		*isnil = true;
		*s = NULL;
		*len = 0;
		r->p++;
		return 0;
	}
	if ((c & 0xe0) == 0xa0) {
		*len = c & 0x1f;
		n = 0;
	} else if (c == 0xd9 || c == 0xda || c == 0xdb) {
		n = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;
		if (rd_need(r, 1 + n))
			return PROTO_EMALFORMED;
		*len = rd_be(r->p + 1, n);
	} else
		return PROTO_EFIELD;
	if (rd_need(r, 1 + n) || (size_t)(r->end - r->p - 1 - n) < *len)
		return PROTO_EMALFORMED;
	*s = r->p + 1 + n;
	r->p += 1 + n + *len;
	return 0;
}

static int
rd_bin(struct rd *r, const uint8_t **s, size_t *len)
{
	uint8_t c;
	int     n;

	if (rd_need(r, 1))
		return PROTO_EMALFORMED;
	c = *r->p;
	if (c == 0xc4 || c == 0xc5 || c == 0xc6)
		n = c == 0xc4 ? 1 : c == 0xc5 ? 2 : 4;
	else
		return PROTO_EFIELD;
	if (rd_need(r, 1 + n))
		return PROTO_EMALFORMED;
	*len = rd_be(r->p + 1, n);
	if ((size_t)(r->end - r->p - 1 - n) < *len)
		return PROTO_EMALFORMED;
	*s = r->p + 1 + n;
	r->p += 1 + n + *len;
	return 0;
}

/* Skips one msgpack object of any kind, bounded in depth. */
static int
rd_skip(struct rd *r, int depth)
{
	uint8_t  c;
	uint64_t n = 0, u;
	int      rv, hb;

	if (depth > 64)
		return PROTO_EMALFORMED;
	if (rd_need(r, 1))
		return PROTO_EMALFORMED;
	c = *r->p;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
		r->p++;
		return 0;
	}
	if ((c & 0xe0) == 0xa0) {
		n = c & 0x1f;
		if (rd_need(r, 1 + n))
			return PROTO_EMALFORMED;
		r->p += 1 + n;
		return 0;
	}
	if ((c & 0xf0) == 0x90 || (c & 0xf0) == 0x80) {
		n = c & 0x0f;
		if ((c & 0xf0) == 0x80)
			n *= 2;
		r->p++;
		goto elems;
	}
	switch (c) {
	case 0xcc: case 0xd0: hb = 1; goto fixed;
	case 0xcd: case 0xd1: hb = 2; goto fixed;
	case 0xce: case 0xd2: case 0xca: hb = 4; goto fixed;
	case 0xcf: case 0xd3: case 0xcb: hb = 8; goto fixed;
	case 0xd4: hb = 2; goto fixed;
	case 0xd5: hb = 3; goto fixed;
	case 0xd6: hb = 5; goto fixed;
	case 0xd7: hb = 9; goto fixed;
	case 0xd8: hb = 17; goto fixed;
	case 0xc4: case 0xd9: hb = 1; goto var;
	case 0xc5: case 0xda: hb = 2; goto var;
	case 0xc6: case 0xdb: hb = 4; goto var;
	case 0xc7: hb = 1; goto ext;
	case 0xc8: hb = 2; goto ext;
	case 0xc9: hb = 4; goto ext;
	case 0xdc: case 0xde: hb = 2; goto cont;
	case 0xdd: case 0xdf: hb = 4; goto cont;
	default: return PROTO_EMALFORMED;
	}
fixed:
	if (rd_need(r, 1 + hb))
		return PROTO_EMALFORMED;
	r->p += 1 + hb;
	return 0;
var:
	if (rd_need(r, 1 + hb))
		return PROTO_EMALFORMED;
	u = rd_be(r->p + 1, hb);
	if ((uint64_t)(r->end - r->p - 1 - hb) < u)
		return PROTO_EMALFORMED;
	r->p += 1 + hb + u;
	return 0;
ext:
	if (rd_need(r, 2 + hb))
		return PROTO_EMALFORMED;
	u = rd_be(r->p + 1, hb);
	if ((uint64_t)(r->end - r->p - 2 - hb) < u)
		return PROTO_EMALFORMED;
	r->p += 2 + hb + u;
	return 0;
cont:
	if (rd_need(r, 1 + hb))
		return PROTO_EMALFORMED;
	n = rd_be(r->p + 1, hb);
	if (c == 0xde || c == 0xdf)
		n *= 2;
	r->p += 1 + hb;
elems:
	/* Each element takes at least one byte: refuse impossible counts early. */
	if (n > (uint64_t)(r->end - r->p))
		return PROTO_EMALFORMED;
	for (uint64_t i = 0; i < n; i++)
		if ((rv = rd_skip(r, depth + 1)) != 0)
			return rv;
	return 0;
}

int
proto_unpack_env(const void *buf, size_t len, struct proto_env *env)
{
	struct rd      r = { buf, (const uint8_t *)buf + len };
	size_t         n;
	uint64_t       t;
	int            rv;
	const uint8_t *body;

	if (buf == NULL)
		return PROTO_EMALFORMED;
	if ((rv = rd_array(&r, &n)) != 0)
		return rv == PROTO_EFIELD ? PROTO_EMALFORMED : rv;
	if (n != 4)
		return PROTO_ECOUNT;
	if ((rv = rd_u64(&r, &env->version)) != 0)
		return rv;
	if (env->version != PROTO_VERSION)
		return PROTO_EVERSION;
	if ((rv = rd_u64(&r, &t)) != 0)
		return rv;
	if (proto_desc(t > INT32_MAX ? 0 : (int)t) == NULL)
		return PROTO_ETYPE;
	env->type = (int)t;
	if ((rv = rd_u64(&r, &env->id)) != 0)
		return rv;
	body = r.p;
	if ((rv = rd_skip(&r, 0)) != 0)
		return rv;
	if (r.p != r.end)
		return PROTO_ETRAILING;
	env->body = body;
	env->body_len = (size_t)(r.p - body);
	return PROTO_OK;
}

static char *
dup_n(const uint8_t *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int
proto_unpack_field(struct rd *r, const struct proto_field *f, void *msg)
{
	char          *p = (char *)msg + f->offset;
	const uint8_t *s;
	size_t         n;
	bool           isnil;
	int            rv;

	switch (f->kind) {
	case PK_U64:
		return rd_u64(r, (uint64_t *)p);
	case PK_I64:
		return rd_i64(r, (int64_t *)p);
	case PK_BOOL:
		if (rd_need(r, 1))
			return PROTO_EMALFORMED;
		if (*r->p != 0xc2 && *r->p != 0xc3)
			return PROTO_EFIELD;
		*(bool *)p = *r->p == 0xc3;
		r->p++;
		return 0;
	case PK_STR:
		if ((rv = rd_str(r, &s, &n, true, &isnil)) != 0)
			return rv;
		if (isnil) {
			*(char **)p = NULL;
			return 0;
		}
		if ((*(char **)p = dup_n(s, n)) == NULL)
			return PROTO_ENOMEM;
		return 0;
	case PK_BIN: {
		struct proto_bin *b = (struct proto_bin *)p;
		if ((rv = rd_bin(r, &s, &n)) != 0)
			return rv;
		/* One spare NUL so text carried as BIN can be used as a C string. */
		if ((b->ptr = (uint8_t *)dup_n(s, n)) == NULL)
			return PROTO_ENOMEM;
		b->len = n;
		return 0;
	}
	case PK_STRS: {
		struct proto_strs *ss = (struct proto_strs *)p;
		size_t             cnt;
		if ((rv = rd_array(r, &cnt)) != 0)
			return rv;
		if (cnt > (size_t)(r->end - r->p))
			return PROTO_EMALFORMED;
		ss->v = calloc(cnt + 1, sizeof(char *));
		ss->n = 0;
		if (ss->v == NULL)
			return PROTO_ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			if ((rv = rd_str(r, &s, &n, false, &isnil)) != 0)
				return rv;
			if ((ss->v[i] = dup_n(s, n)) == NULL)
				return PROTO_ENOMEM;
			ss->n++;
		}
		return 0;
	}
	case PK_BINS: {
		struct proto_bins *bs = (struct proto_bins *)p;
		size_t             cnt;
		if ((rv = rd_array(r, &cnt)) != 0)
			return rv;
		if (cnt > (size_t)(r->end - r->p))
			return PROTO_EMALFORMED;
		bs->v = calloc(cnt + 1, sizeof(struct proto_bin));
		bs->n = 0;
		if (bs->v == NULL)
			return PROTO_ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			if ((rv = rd_bin(r, &s, &n)) != 0)
				return rv;
			if ((bs->v[i].ptr = (uint8_t *)dup_n(s, n)) == NULL)
				return PROTO_ENOMEM;
			bs->v[i].len = n;
			bs->n++;
		}
		return 0;
	}
	}
	return PROTO_EFIELD;
}

int
proto_unpack_body(const struct proto_env *env, void *msg)
{
	const struct proto_desc *d = proto_desc(env->type);
	struct rd                r = { env->body, env->body + env->body_len };
	size_t                   n;
	int                      rv;

	if (d == NULL)
		return PROTO_ETYPE;
	memset(msg, 0, d->size);
	if ((rv = rd_array(&r, &n)) != 0)
		return rv;
	if (n != d->nfields)
		return PROTO_ECOUNT;
	for (size_t i = 0; i < d->nfields; i++)
		if ((rv = proto_unpack_field(&r, &d->fields[i], msg)) != 0)
			goto fail;
	if (r.p != r.end) {
		rv = PROTO_ETRAILING;
		goto fail;
	}
	return PROTO_OK;
fail:
	proto_free(env->type, msg);
	return rv;
}

void
proto_free(int type, void *msg)
{
	const struct proto_desc *d = proto_desc(type);

	if (d == NULL || msg == NULL)
		return;
	for (size_t i = 0; i < d->nfields; i++) {
		char *p = (char *)msg + d->fields[i].offset;
		switch (d->fields[i].kind) {
		case PK_STR:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case PK_BIN:
			free(((struct proto_bin *)p)->ptr);
			((struct proto_bin *)p)->ptr = NULL;
			((struct proto_bin *)p)->len = 0;
			break;
		case PK_STRS:
			proto_strs_free((struct proto_strs *)p);
			break;
		case PK_BINS:
			proto_bins_free((struct proto_bins *)p);
			break;
		default:
			break;
		}
	}
}

int
proto_strs_push(struct proto_strs *s, const char *str)
{
	char **nv = realloc(s->v, (s->n + 2) * sizeof(char *));

	if (nv == NULL)
		return PROTO_ENOMEM;
	s->v = nv;
	if ((s->v[s->n] = strdup(str)) == NULL)
		return PROTO_ENOMEM;
	s->n++;
	s->v[s->n] = NULL;
	return 0;
}

void
proto_strs_free(struct proto_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int
proto_bins_push(struct proto_bins *s, const void *ptr, size_t len)
{
	struct proto_bin *nv = realloc(s->v, (s->n + 1) * sizeof(*nv));

	if (nv == NULL)
		return PROTO_ENOMEM;
	s->v = nv;
	if ((s->v[s->n].ptr = (uint8_t *)dup_n(ptr, len)) == NULL)
		return PROTO_ENOMEM;
	s->v[s->n].len = len;
	s->n++;
	return 0;
}

void
proto_bins_free(struct proto_bins *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].ptr);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Appends printf output to a proto_buf, NUL-terminated. */
static void
sb_printf(struct proto_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct proto_buf *b, const char *fmt, ...)
{
	va_list ap;
	char    tmp[256];
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	proto_buf_write(b, tmp, (size_t)n);
}

static void
sb_quoted(struct proto_buf *b, const char *s, size_t n, size_t max)
{
	proto_buf_write(b, "\"", 1);
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			sb_printf(b, "\\x%02x", c);
		else
			proto_buf_write(b, (const char *)&c, 1);
	}
	if (n > max)
		sb_printf(b, "...(%zu bytes)", n);
	proto_buf_write(b, "\"", 1);
}

char *
proto_body_str(const struct proto_env *env)
{
	const struct proto_desc *d = proto_desc(env->type);
	struct proto_buf         b = { 0 };
	union {
		char    raw[4096];
		uint64_t align;
	} m;

	if (d == NULL || d->size > sizeof(m.raw))
		return NULL;
	if (proto_unpack_body(env, m.raw) != PROTO_OK) {
		sb_printf(&b, "<undecodable body, %zu bytes>", env->body_len);
		proto_buf_write(&b, "", 1);
		return b.data;
	}
	proto_buf_write(&b, "{", 1);
	for (size_t i = 0; i < d->nfields; i++) {
		const struct proto_field *f = &d->fields[i];
		const char               *p = m.raw + f->offset;
		if (i)
			proto_buf_write(&b, " ", 1);
		sb_printf(&b, "%s=", f->name);
		switch (f->kind) {
		case PK_U64:
			sb_printf(&b, "%llu", (unsigned long long)*(const uint64_t *)p);
			break;
		case PK_I64:
			sb_printf(&b, "%lld", (long long)*(const int64_t *)p);
			break;
		case PK_BOOL:
			sb_printf(&b, "%s", *(const bool *)p ? "true" : "false");
			break;
		case PK_STR: {
			const char *s = *(char *const *)p;
			if (s == NULL)
				sb_printf(&b, "nil");
			else
				sb_quoted(&b, s, strlen(s), 200);
			break;
		}
		case PK_BIN: {
			const struct proto_bin *bn = (const struct proto_bin *)p;
			sb_printf(&b, "bin[%zu]", bn->len);
			break;
		}
		case PK_STRS: {
			const struct proto_strs *ss = (const struct proto_strs *)p;
			proto_buf_write(&b, "[", 1);
			for (size_t j = 0; j < ss->n; j++) {
				if (j)
					proto_buf_write(&b, ",", 1);
				sb_quoted(&b, ss->v[j], strlen(ss->v[j]), 60);
			}
			proto_buf_write(&b, "]", 1);
			break;
		}
		case PK_BINS: {
			const struct proto_bins *bs = (const struct proto_bins *)p;
			sb_printf(&b, "bins[%zu]", bs->n);
			break;
		}
		}
	}
	proto_buf_write(&b, "}", 1);
	proto_buf_write(&b, "", 1);
	proto_free(env->type, m.raw);
	return b.data;
}

/* The typed wrappers. */
#define PROTO_X_IMPL(E, lower, name, fields)                                   \
	int proto_pack_##lower(uint64_t id, const struct proto_##lower *m,     \
	    struct proto_buf *out)                                             \
	{                                                                      \
		return proto_pack(PROTO_##E, id, m, out);                      \
	}                                                                      \
	int proto_unpack_##lower(const struct proto_env *env,                  \
	    struct proto_##lower *m)                                           \
	{                                                                      \
		if (env->type != PROTO_##E)                                    \
			return PROTO_EWRONGMSG;                                \
		return proto_unpack_body(env, m);                              \
	}                                                                      \
	void proto_free_##lower(struct proto_##lower *m)                       \
	{                                                                      \
		proto_free(PROTO_##E, m);                                      \
	}
PROTO_MSGS(PROTO_X_IMPL, PROTO_F_NONE)
#undef PROTO_X_IMPL
