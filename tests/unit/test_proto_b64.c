/* proto/b64.c: RFC 4648's vectors, and what a strict decoder refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"

static const char *vec[][2] = { { "", "" }, { "f", "Zg==" },
	{ "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };

static void
test_vectors(void **state)
{
	char    enc[16];
	uint8_t dec[16];

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t l = strlen(vec[i][0]);

		assert_int_equal(b64_encode(enc, (const uint8_t *)vec[i][0], l),
		    strlen(vec[i][1]));
		assert_int_equal(B64_ENC_LEN(l), strlen(vec[i][1]));
		assert_string_equal(enc, vec[i][1]);
		assert_int_equal(b64_decode(dec, sizeof(dec), vec[i][1],
		    strlen(vec[i][1])), (int)l);
		assert_memory_equal(dec, vec[i][0], l);
	}
}

static void
test_refused(void **state)
{
	static const char *bad[] = { "Zm9", "Zm9v!A==", "Z===", "=m9v",
		"Zg=a", "Zm9v Zg==", "Zm9\n", "Zg==Zg==" };
	uint8_t dec[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode(dec, sizeof(dec), bad[i],
		    strlen(bad[i])), B64_EBAD);
	assert_int_equal(b64_decode(dec, 2, "Zm9v", 4), B64_EBIG);
	assert_int_equal(b64_decode(dec, 3, "Zm9v", 4), 3);
}

static void
test_alloc_and_round_trip(void **state)
{
	uint8_t  all[256], *out;
	char     enc[B64_ENC_LEN(256) + 1];
	size_t   n;

	(void)state;
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	for (size_t len = 0; len <= sizeof(all); len += 37) {
		b64_encode(enc, all, len);
		assert_int_equal(b64_decode_alloc(enc, &out, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(out, all, len);
		assert_int_equal(out[n], 0);
		free(out);
	}
	assert_int_equal(b64_decode_alloc("not base64", &out, &n), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_alloc_and_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
