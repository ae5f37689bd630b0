/* test-uri.c - unit tests of the URI parser (src/core/uri.c): schemes,
 * bare paths, unknown schemes, percent-decoding, duplicate and unknown
 * keys, and the typed getters' errors. Every error must leave a sentence
 * in mblk_last_error that names the URI and what is wrong with it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include "core/uri.h"

static const char *const known[] = { "ram", "file", "nbd+unix", NULL };

/* Asserts that the last error contains needle, printing both if not. */
static void expect_error_has(const char *needle)
{
	const char *e = mblk_last_error();
	if (strstr(e, needle) == NULL)
		print_error("last error \"%s\"\n  does not contain \"%s\"\n", e,
			    needle);
	assert_non_null(strstr(e, needle));
}

/* Parses text expecting failure err and a sentence containing needle. */
static void expect_parse_error(const char *text, int err, const char *needle)
{
	struct mblk_uri u;
	int r = mblk__uri_parse(text, known, &u);
	if (r != err)
		print_error("parse(\"%s\") gave %d, want %d\n",
			    text ? text : "(null)", r, err);
	assert_int_equal(r, err);
	expect_error_has(needle);
	/* A failed parse leaves nothing to free; freeing is still safe. */
	mblk__uri_free(&u);
}

static void test_scheme_and_query(void **state)
{
	struct mblk_uri u;
	(void)state;
	assert_int_equal(mblk__uri_parse("ram:disk0?size=1G&sector-size=4096",
					 known, &u),
			 0);
	assert_string_equal(u.scheme, "ram");
	assert_string_equal(u.path, "disk0");
	assert_int_equal(u.nparams, 2);
	assert_string_equal(mblk_uri_get(&u, "size"), "1G");
	assert_string_equal(mblk_uri_get(&u, "sector-size"), "4096");
	assert_null(mblk_uri_get(&u, "other"));
	assert_int_equal(mblk__uri_finish(&u, "size, sector-size"), 0);
	mblk__uri_free(&u);

	/* Schemes are case-insensitive and come back in lower case; scheme
	 * characters include + - . after the first letter. */
	assert_int_equal(mblk__uri_parse("RAM:x", known, &u), 0);
	assert_string_equal(u.scheme, "ram");
	mblk__uri_free(&u);
	assert_int_equal(mblk__uri_parse("nbd+unix:/s", known, &u), 0);
	assert_string_equal(u.scheme, "nbd+unix");
	assert_string_equal(u.path, "/s");
	mblk__uri_free(&u);

	/* Empty path, empty query, trailing '?'. */
	assert_int_equal(mblk__uri_parse("ram:", known, &u), 0);
	assert_string_equal(u.path, "");
	assert_int_equal(u.nparams, 0);
	mblk__uri_free(&u);
	assert_int_equal(mblk__uri_parse("ram:?size=1M", known, &u), 0);
	assert_string_equal(u.path, "");
	assert_int_equal(u.nparams, 1);
	mblk__uri_free(&u);
	assert_int_equal(mblk__uri_parse("ram:a?", known, &u), 0);
	assert_string_equal(u.path, "a");
	assert_int_equal(u.nparams, 0);
	mblk__uri_free(&u);

	/* Empty pairs between '&' are skipped; an empty value is a value. */
	assert_int_equal(mblk__uri_parse("ram:a?x=1&&y=", known, &u), 0);
	assert_int_equal(u.nparams, 2);
	assert_string_equal(mblk_uri_get(&u, "y"), "");
	mblk__uri_free(&u);
}

static void test_bare_paths(void **state)
{
	struct mblk_uri u;
	(void)state;
	const char *paths[] = { "/var/lib/a.img", "./a:b", "a.img",     "../x",
				"/dev/sda",       "1:2",   "/tmp/q?x=1" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(mblk__uri_parse(paths[i], known, &u), 0);
		assert_string_equal(u.scheme, "file");
		/* A bare path is taken whole: no query, no decoding. */
		assert_string_equal(u.path, paths[i]);
		assert_int_equal(u.nparams, 0);
		mblk__uri_free(&u);
	}
	/* An explicit file: scheme does get a query and decoding. */
	assert_int_equal(mblk__uri_parse("file:/a%20b?direct=1", known, &u), 0);
	assert_string_equal(u.scheme, "file");
	assert_string_equal(u.path, "/a b");
	assert_string_equal(mblk_uri_get(&u, "direct"), "1");
	mblk__uri_free(&u);
}

static void test_unknown_scheme(void **state)
{
	(void)state;
	/* A typo must not become "no such file". */
	expect_parse_error("rma:x", -EINVAL, "unknown scheme 'rma'");
	expect_error_has("rma:x");
	expect_error_has("ram, file, nbd+unix");
	expect_error_has("./rma:x"); /* the way to name such a file */
	expect_parse_error("C:foo", -EINVAL, "unknown scheme 'C'");
}

static void test_empty(void **state)
{
	(void)state;
	expect_parse_error("", -EINVAL, "empty device URI");
	expect_parse_error(NULL, -EINVAL, "empty device URI");
}

static void test_percent(void **state)
{
	struct mblk_uri u;
	(void)state;
	assert_int_equal(mblk__uri_parse("ram:a%20b%2fc?k%3d=v%26w%3D%25",
					 known, &u),
			 0);
	assert_string_equal(u.path, "a b/c");
	assert_string_equal(u.params[0].key, "k=");
	assert_string_equal(u.params[0].value, "v&w=%");
	mblk__uri_free(&u);
	/* Upper and lower case hex digits. */
	assert_int_equal(mblk__uri_parse("ram:%4a%4A", known, &u), 0);
	assert_string_equal(u.path, "JJ");
	mblk__uri_free(&u);

	expect_parse_error("ram:a%zzb", -EINVAL, "bad percent escape");
	expect_error_has("path");
	expect_error_has("'ram:a%zzb'");
	expect_parse_error("ram:a%2", -EINVAL, "bad percent escape");
	expect_parse_error("ram:a%", -EINVAL, "bad percent escape");
	expect_parse_error("ram:a%00b", -EINVAL, "bad percent escape");
	expect_parse_error("ram:a?k=%g1", -EINVAL, "bad percent escape");
	expect_error_has("query");
}

static void test_bad_pairs(void **state)
{
	(void)state;
	expect_parse_error("ram:a?size", -EINVAL, "'size' in URI");
	expect_error_has("not key=value");
	expect_parse_error("ram:a?=1", -EINVAL, "not key=value");
	expect_parse_error("ram:a?size=1&size=2", -EINVAL,
			   "key 'size' appears twice");
	/* Duplicates are found after decoding. */
	expect_parse_error("ram:a?size=1&s%69ze=2", -EINVAL, "appears twice");

	char text[1024] = "ram:a?";
	for (int i = 0; i <= MBLK__URI_MAX_PARAMS; i++) {
		char kv[16];
		snprintf(kv, sizeof(kv), "%sk%d=1", i ? "&" : "", i);
		strcat(text, kv);
	}
	expect_parse_error(text, -EINVAL, "more than 32 keys");
}

static void test_finish_unknown_key(void **state)
{
	struct mblk_uri u;
	(void)state;
	assert_int_equal(mblk__uri_parse("ram:a?size=1M&sectr-size=4096", known,
					 &u),
			 0);
	uint64_t size = 0;
	assert_int_equal(mblk_uri_get_size(&u, "size", &size), 0);
	assert_int_equal(size, 1 << 20);
	assert_int_equal(mblk__uri_finish(&u, "size, sector-size"), -EINVAL);
	expect_error_has("unknown key 'sectr-size'");
	expect_error_has("ram:a?size=1M&sectr-size=4096");
	expect_error_has("the ram device accepts: size, sector-size");
	mblk__uri_free(&u);
}

static void test_getters(void **state)
{
	struct mblk_uri u;
	(void)state;
	assert_int_equal(mblk__uri_parse("ram:a?s=64K&big=99999999999999999999"
					 "&junk=1Q&n=42&neg=-1&nx=4x&b1=yes"
					 "&b0=OFF&bx=maybe&n0=",
					 known, &u),
			 0);
	uint64_t v = 7;
	bool b = false;

	/* Absent keys leave *out alone. */
	assert_int_equal(mblk_uri_get_size(&u, "absent", &v), 0);
	assert_int_equal(mblk_uri_get_uint(&u, "absent", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(mblk_uri_get_bool(&u, "absent", &b), 0);
	assert_false(b);

	assert_int_equal(mblk_uri_get_size(&u, "s", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(mblk_uri_get_size(&u, "big", &v), -EINVAL);
	expect_error_has("big=99999999999999999999");
	expect_error_has("too large");
	assert_int_equal(mblk_uri_get_size(&u, "junk", &v), -EINVAL);
	expect_error_has("junk=1Q");
	expect_error_has("not a size");
	assert_int_equal(v, 65536);

	assert_int_equal(mblk_uri_get_uint(&u, "n", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(mblk_uri_get_uint(&u, "neg", &v), -EINVAL);
	expect_error_has("neg=-1");
	expect_error_has("not a whole number");
	assert_int_equal(mblk_uri_get_uint(&u, "nx", &v), -EINVAL);
	expect_error_has("nx=4x");
	assert_int_equal(mblk_uri_get_uint(&u, "n0", &v), -EINVAL);
	assert_int_equal(mblk_uri_get_uint(&u, "big", &v), -EINVAL);
	assert_int_equal(v, 42);

	assert_int_equal(mblk_uri_get_bool(&u, "b1", &b), 0);
	assert_true(b);
	assert_int_equal(mblk_uri_get_bool(&u, "b0", &b), 0);
	assert_false(b);
	assert_int_equal(mblk_uri_get_bool(&u, "bx", &b), -EINVAL);
	expect_error_has("bx=maybe");
	expect_error_has("expected 0 or 1");

	/* Every key was read (even the bad ones): nothing unknown. */
	assert_int_equal(mblk__uri_finish(&u, "anything"), 0);
	mblk__uri_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scheme_and_query),
		cmocka_unit_test(test_bare_paths),
		cmocka_unit_test(test_unknown_scheme),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_bad_pairs),
		cmocka_unit_test(test_finish_unknown_key),
		cmocka_unit_test(test_getters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
