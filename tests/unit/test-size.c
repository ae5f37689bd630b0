/* test-size.c - unit tests of mblk__parse_size and mblk__human_size
 * (src/common/size.h): plain numbers, every suffix spelling, fractions
 * that must come out whole, overflow at 2^64 and junk of every kind. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/size.h"

/* Parses s, expecting value; on mismatch cmocka prints both numbers. */
static void expect_size(const char *s, uint64_t value)
{
	uint64_t v = 0xdeadbeef;
	int r = mblk__parse_size(s, &v);
	if (r != 0)
		print_error("parse_size(\"%s\") failed with %d\n", s, r);
	assert_int_equal(r, 0);
	assert_int_equal(v, value);
}

/* Parses s, expecting error err and *out left alone. */
static void expect_error(const char *s, int err)
{
	uint64_t v = 42;
	int r = mblk__parse_size(s, &v);
	if (r != err)
		print_error("parse_size(\"%s\") gave %d, want %d\n",
			    s ? s : "(null)", r, err);
	assert_int_equal(r, err);
	assert_int_equal(v, 42);
}

static void test_plain(void **state)
{
	(void)state;
	expect_size("0", 0);
	expect_size("512", 512);
	expect_size("007", 7);
	expect_size("18446744073709551615", UINT64_MAX);
	expect_size("123b", 123);
	expect_size("123B", 123);
}

static void test_suffixes(void **state)
{
	(void)state;
	const char *k[] = { "4k", "4K", "4KB", "4kb", "4KiB", "4kib", "4Kib" };
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		expect_size(k[i], 4096);
	expect_size("1M", 1ull << 20);
	expect_size("1MiB", 1ull << 20);
	expect_size("1G", 1ull << 30);
	expect_size("2T", 2ull << 40);
	expect_size("1P", 1ull << 50);
	expect_size("1E", 1ull << 60);
	expect_size("15E", 15ull << 60);
	expect_size("16383P", 16383ull << 50);
}

static void test_fractions(void **state)
{
	(void)state;
	expect_size("1.5K", 1536);
	expect_size("1.5G", 3ull << 29);
	expect_size("0.5K", 512);
	expect_size("2.25M", 9ull << 18);
	expect_size(".5K", 512);
	expect_size("1.K", 1024);
	expect_size("1.0", 1);
	expect_size("15.5E", 31ull << 59);
}

static void test_fraction_not_whole(void **state)
{
	(void)state;
	expect_error("1.3", -EINVAL);  /* 1.3 bytes */
	expect_error("0.1K", -EINVAL); /* 102.4 bytes */
	expect_error("1.0000001K", -EINVAL);
	expect_error("0.000000000001E", -EINVAL); /* 2^60 / 10^12 */
	/* more than 12 fractional digits is refused as nonsense */
	expect_error("1.0000000000000K", -EINVAL);
}

static void test_overflow(void **state)
{
	(void)state;
	expect_error("18446744073709551616", -ERANGE);
	expect_error("99999999999999999999999", -ERANGE);
	expect_error("16E", -ERANGE);
	expect_error("16384P", -ERANGE);
	expect_error("17179869184G", -ERANGE);
	expect_error("15.9999999999E", -EINVAL); /* not whole */
}

static void test_junk(void **state)
{
	(void)state;
	const char *junk[] = { "",    " 1",    "1 ",   "+1",   "-1",
			       "1KK", "1Kx",   "1X",   "K",    ".",
			       ".K",  "1..2",  "1,5K", "0x10", "1e3",
			       "1iB", "1KiBx", "1 K",  "\t1" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		expect_error(junk[i], -EINVAL);
	expect_error(NULL, -EINVAL);
}

static void test_human(void **state)
{
	char buf[32];
	(void)state;
	assert_string_equal(mblk__human_size(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(mblk__human_size(512, buf, sizeof(buf)), "512 B");
	assert_string_equal(mblk__human_size(1536, buf, sizeof(buf)),
			    "1.50 KiB");
	assert_string_equal(mblk__human_size(1ull << 30, buf, sizeof(buf)),
			    "1.00 GiB");
	assert_string_equal(mblk__human_size(100ull << 20, buf, sizeof(buf)),
			    "100 MiB");
	assert_string_equal(mblk__human_size(UINT64_MAX, buf, sizeof(buf)),
			    "16.0 EiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_fraction_not_whole),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_human),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
