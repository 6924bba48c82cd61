/* proto/bexpr.c: Consul's filter operators on one service row, negations
 * included, and expressions that must not parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bexpr.h"

static const char row_json[] =
    "{\"Service\":\"web\",\"Port\":80,\"Tags\":[\"v1\",\"primary\"],"
    "\"Meta\":{\"env\":\"prod\"},\"Address\":\"\"}";

static bool
match(const char *expr)
{
	json_t       *row = json_loads(row_json, 0, NULL);
	struct bexpr *f = bexpr_parse(expr);
	bool          m;

	assert_non_null(row);
	assert_non_null(f);
	m = bexpr_eval(f, row);
	bexpr_free(f);
	json_decref(row);
	return m;
}

static void
test_operators(void **state)
{
	(void)state;
	assert_true(match("Service == web"));
	assert_false(match("Service != web"));
	assert_true(match("Port == 80"));
	assert_true(match("v1 in Tags"));
	assert_false(match("v2 in Tags"));
	assert_true(match("v2 not in Tags"));
	assert_false(match("v1 not in Tags"));
	assert_true(match("Address is empty"));
	assert_false(match("Address is not empty"));
	assert_true(match("Tags is not empty"));
	assert_true(match("Meta.env == prod"));
	assert_true(match("Service == web and not (Meta.env == dev)"));
	assert_true(match("Port == 81 or Tags contains primary"));
	assert_false(match("Tags not contains primary"));
}

static void
test_refused(void **state)
{
	static const char *bad[] = { "Service ==", "== web", "v1 in",
		"Address is", "Address is not", "(Service == web", "not" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bexpr *f = bexpr_parse(bad[i]);

		if (f != NULL)
			fail_msg("parsed: %s", bad[i]);
	}
}

/*
 * Regexes glibc would expand without bound are refused, as Go's regexp
 * refuses them (fuzzing found "^we0+++..." taking gigabytes in regcomp).
 */
static void
test_regex_size(void **state)
{
	static const char *bad[] = {
		"Service matches `^we0++++++++++++++++++++++++-`",
		"Service matches `a*{2}`",
		"Service matches `a{1001}`",
		"Service matches `((a{100}){100}){100}`",
		"Service matches `((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+`",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bexpr *f = bexpr_parse(bad[i]);

		if (f != NULL)
			fail_msg("parsed: %s", bad[i]);
	}
	assert_true(match("Service matches `^we+b$`"));
	assert_true(match("Service matches `(w+e)+b{1,3}`"));
	assert_true(match("Service matches `^[+*]*web[{]*$`"));
	assert_false(match("Service matches `w\\+\\+`"));
	assert_true(match("Service matches `^w{1}e{0,2}b{1,}$`"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_regex_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
