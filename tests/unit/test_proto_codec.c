/*
 * proto's codec: every message type round-trips with every field filled,
 * and malformed input of each kind is refused with its own error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

/* Fills every field of a message of type t with values derived from seed. */
static void
fill(int t, void *msg, unsigned seed)
{
	const struct proto_desc *d = proto_desc(t);
	char                     buf[64];

	memset(msg, 0, d->size);
	for (size_t i = 0; i < d->nfields; i++) {
		char *p = (char *)msg + d->fields[i].offset;
		unsigned v = seed * 31 + (unsigned)i;
		switch (d->fields[i].kind) {
		case PK_U64:
			*(uint64_t *)p = (uint64_t)v << (v % 40);
			break;
		case PK_I64:
			*(int64_t *)p = -(int64_t)v * 1000003;
			break;
		case PK_BOOL:
			*(bool *)p = v & 1;
			break;
		case PK_STR:
			snprintf(buf, sizeof(buf), "%s-%u", d->fields[i].name, v);
			*(char **)p = (v % 5 == 0) ? NULL : strdup(buf);
			break;
		case PK_BIN: {
			struct proto_bin *b = (struct proto_bin *)p;
			b->len = v % 7;
			b->ptr = malloc(b->len + 1);
			for (size_t k = 0; k < b->len; k++)
				b->ptr[k] = (uint8_t)(k * 37 + v);
			break;
		}
		case PK_STRS: {
			struct proto_strs *s = (struct proto_strs *)p;
			for (unsigned k = 0; k < v % 4; k++) {
				snprintf(buf, sizeof(buf), "s%u", k);
				proto_strs_push(s, buf);
			}
			break;
		}
		case PK_BINS: {
			struct proto_bins *s = (struct proto_bins *)p;
			for (unsigned k = 0; k < v % 4; k++) {
				snprintf(buf, sizeof(buf), "b%u", k * v);
				proto_bins_push(s, buf, k == 1 ? 0 : strlen(buf));
			}
			break;
		}
		}
	}
}

static void
assert_same(int t, const void *a, const void *b)
{
	const struct proto_desc *d = proto_desc(t);

	for (size_t i = 0; i < d->nfields; i++) {
		const char *pa = (const char *)a + d->fields[i].offset;
		const char *pb = (const char *)b + d->fields[i].offset;
		switch (d->fields[i].kind) {
		case PK_U64:
			assert_int_equal(*(const uint64_t *)pa, *(const uint64_t *)pb);
			break;
		case PK_I64:
			assert_true(*(const int64_t *)pa == *(const int64_t *)pb);
			break;
		case PK_BOOL:
			assert_int_equal(*(const bool *)pa, *(const bool *)pb);
			break;
		case PK_STR:
			if (*(char *const *)pa == NULL)
				assert_null(*(char *const *)pb);
			else
				assert_string_equal(*(char *const *)pa, *(char *const *)pb);
			break;
		case PK_BIN: {
			const struct proto_bin *x = (const void *)pa, *y = (const void *)pb;
			assert_int_equal(x->len, y->len);
			assert_memory_equal(x->ptr, y->ptr, x->len);
			break;
		}
		case PK_STRS: {
			const struct proto_strs *x = (const void *)pa, *y = (const void *)pb;
			assert_int_equal(x->n, y->n);
			for (size_t k = 0; k < x->n; k++)
				assert_string_equal(x->v[k], y->v[k]);
			break;
		}
		case PK_BINS: {
			const struct proto_bins *x = (const void *)pa, *y = (const void *)pb;
			assert_int_equal(x->n, y->n);
			for (size_t k = 0; k < x->n; k++) {
				assert_int_equal(x->v[k].len, y->v[k].len);
				assert_memory_equal(x->v[k].ptr, y->v[k].ptr, x->v[k].len);
			}
			break;
		}
		}
	}
}

static void
test_roundtrip_every_type(void **state)
{
	(void)state;
	assert_true(PROTO_NTYPES > 10);
	for (int t = PROTO_NONE + 1; t < PROTO_NTYPES; t++) {
		const struct proto_desc *d = proto_desc(t);
		for (unsigned seed = 0; seed < 6; seed++) {
			void            *in = calloc(1, d->size), *out = calloc(1, d->size);
			struct proto_buf buf = { 0 };
			struct proto_env env;

			fill(t, in, seed + (unsigned)t);
			assert_int_equal(proto_pack(t, 1000 + seed, in, &buf), PROTO_OK);
			assert_int_equal(proto_unpack_env(buf.data, buf.len, &env), PROTO_OK);
			assert_int_equal(env.type, t);
			assert_int_equal(env.id, 1000 + seed);
			assert_int_equal(env.version, PROTO_VERSION);
			assert_int_equal(proto_unpack_body(&env, out), PROTO_OK);
			assert_same(t, in, out);
			/* The name table and the lookup agree. */
			assert_int_equal(proto_type_byname(proto_name(t)), t);
			char *s = proto_body_str(&env);
			assert_non_null(s);
			free(s);
			proto_free(t, in);
			proto_free(t, out);
			free(in);
			free(out);
			proto_buf_free(&buf);
		}
	}
}

static void
test_typed_wrappers(void **state)
{
	struct proto_ctl_ping  ping = { .nonce = 42 };
	struct proto_ctl_pong  pong;
	struct proto_ctl_ping  back;
	struct proto_buf       buf = { 0 };
	struct proto_env       env;

	(void)state;
	assert_int_equal(proto_pack_ctl_ping(7, &ping, &buf), 0);
	assert_int_equal(proto_unpack_env(buf.data, buf.len, &env), 0);
	/* The wrong typed unpacker refuses instead of misreading. */
	assert_int_equal(proto_unpack_ctl_pong(&env, &pong), PROTO_EWRONGMSG);
	assert_int_equal(proto_unpack_ctl_ping(&env, &back), 0);
	assert_int_equal(back.nonce, 42);
	assert_string_equal(proto_name(env.type), "ctl.ping");
	proto_buf_free(&buf);
}

static void
pack_ping(struct proto_buf *buf)
{
	struct proto_ctl_hello h = { .name = "gossipd", .pid = 99 };

	assert_int_equal(proto_pack_ctl_hello(5, &h, buf), 0);
}

static void
test_rejects_malformed(void **state)
{
	struct proto_buf buf = { 0 };
	struct proto_env env;
	struct proto_ctl_hello h;

	(void)state;
	pack_ping(&buf);
	/* Every truncation is an error, never a crash. */
	for (size_t n = 0; n < buf.len; n++) {
		int rv = proto_unpack_env(buf.data, n, &env);
		if (rv == 0)
			rv = proto_unpack_body(&env, &h);
		assert_int_not_equal(rv, 0);
	}
	/* Trailing bytes. */
	char *more = malloc(buf.len + 1);
	memcpy(more, buf.data, buf.len);
	more[buf.len] = 0;
	assert_int_equal(proto_unpack_env(more, buf.len + 1, &env), PROTO_ETRAILING);
	/* Wrong version. */
	more[1] = PROTO_VERSION + 1;
	assert_int_equal(proto_unpack_env(more, buf.len, &env), PROTO_EVERSION);
	more[1] = PROTO_VERSION;
	/* Unknown type. */
	more[2] = 0x7f;
	assert_int_equal(proto_unpack_env(more, buf.len, &env), PROTO_ETYPE);
	free(more);
	/* Envelope of 3 elements. */
	const unsigned char three[] = { 0x93, 0x01, 0x01, 0x01 };
	assert_int_equal(proto_unpack_env(three, sizeof(three), &env), PROTO_ECOUNT);
	/* Not an array at all. */
	const unsigned char str[] = { 0xa1, 'x' };
	assert_int_equal(proto_unpack_env(str, sizeof(str), &env), PROTO_EMALFORMED);
	/* Body with the wrong field type: name as an int. */
	const unsigned char badfield[] = { 0x94, PROTO_VERSION, PROTO_CTL_HELLO, 0x01,
		0x92, 0x05, 0x06 };
	assert_int_equal(proto_unpack_env(badfield, sizeof(badfield), &env), 0);
	assert_int_equal(proto_unpack_body(&env, &h), PROTO_EFIELD);
	/* Body with one field too few. */
	const unsigned char fewer[] = { 0x94, PROTO_VERSION, PROTO_CTL_HELLO, 0x01,
		0x91, 0xa1, 'a' };
	assert_int_equal(proto_unpack_env(fewer, sizeof(fewer), &env), 0);
	assert_int_equal(proto_unpack_body(&env, &h), PROTO_ECOUNT);
	/* A huge declared array length is refused without allocating it. */
	const unsigned char huge[] = { 0x94, PROTO_VERSION, PROTO_CTL_HELLO, 0x01,
		0xdd, 0xff, 0xff, 0xff, 0xff };
	assert_int_not_equal(proto_unpack_env(huge, sizeof(huge), &env), 0);
	/* Deep nesting is bounded. */
	unsigned char deep[300];
	deep[0] = 0x94; deep[1] = PROTO_VERSION; deep[2] = PROTO_CTL_HELLO; deep[3] = 1;
	for (size_t i = 4; i < sizeof(deep); i++)
		deep[i] = 0x91;
	assert_int_not_equal(proto_unpack_env(deep, sizeof(deep), &env), 0);
	assert_string_equal(proto_strerror(PROTO_ETRAILING),
	    "trailing bytes after message");
	proto_buf_free(&buf);
}

/* A batch's calls are bins: a str among them, or a lying count, is refused. */
static void
test_bins_strict(void **state)
{
	struct proto_raft_kv_batch b = { 0 }, out;
	struct proto_buf           buf = { 0 };
	struct proto_env           env;

	(void)state;
	assert_true(PROTO_RAFT_KV_BATCH < 0x80);
	assert_int_equal(proto_bins_push(&b.calls, "ab", 2), 0);
	assert_int_equal(proto_bins_push(&b.calls, "", 0), 0);
	assert_int_equal(proto_pack_raft_kv_batch(7, &b, &buf), 0);
	assert_int_equal(proto_unpack_env(buf.data, buf.len, &env), 0);
	assert_int_equal(proto_unpack_raft_kv_batch(&env, &out), 0);
	assert_int_equal(out.calls.n, 2);
	assert_memory_equal(out.calls.v[0].ptr, "ab", 2);
	assert_int_equal(out.calls.v[1].len, 0);
	proto_free_raft_kv_batch(&out);
	proto_free_raft_kv_batch(&b);
	proto_buf_free(&buf);

	const unsigned char str[] = { 0x94, PROTO_VERSION, PROTO_RAFT_KV_BATCH, 0x01,
		0x91, 0x92, 0xc4, 0x01, 'a', 0xa1, 'b' };
	assert_int_equal(proto_unpack_env(str, sizeof(str), &env), 0);
	assert_int_equal(proto_unpack_body(&env, &out), PROTO_EFIELD);
	const unsigned char lying[] = { 0x94, PROTO_VERSION, PROTO_RAFT_KV_BATCH, 0x01,
		0x91, 0xdd, 0x00, 0x01, 0x00, 0x00, 0xc4, 0x00 };
	assert_int_not_equal(proto_unpack_env(lying, sizeof(lying), &env), 0);
}

static void
test_names_unique(void **state)
{
	(void)state;
	for (int a = PROTO_NONE + 1; a < PROTO_NTYPES; a++)
		for (int b = a + 1; b < PROTO_NTYPES; b++)
			assert_string_not_equal(proto_name(a), proto_name(b));
	assert_null(proto_desc(PROTO_NONE));
	assert_null(proto_desc(PROTO_NTYPES));
	assert_string_equal(proto_name(9999), "unknown(9999)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_typed_wrappers),
		cmocka_unit_test(test_rejects_malformed),
		cmocka_unit_test(test_bins_strict),
		cmocka_unit_test(test_names_unique),
	};
	return cmocka_run_group_tests_name("proto_codec", tests, NULL, NULL);
}
