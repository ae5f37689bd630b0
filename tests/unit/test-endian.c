/* test-endian.c - unit tests of src/common/endian.h: the byte layout of
 * every width, round trips at the extremes, and unaligned addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/endian.h"

static void test_layout(void **state)
{
	uint8_t b[8];
	(void)state;
	mblk__put_be16(b, 0x1234);
	assert_int_equal(b[0], 0x12);
	assert_int_equal(b[1], 0x34);
	mblk__put_be32(b, 0x25609513);
	assert_memory_equal(b, "\x25\x60\x95\x13", 4);
	mblk__put_be64(b, 0x4e42444d41474943ull);
	assert_memory_equal(b, "NBDMAGIC", 8);
	assert_int_equal(mblk__get_be64((const uint8_t *)"IHAVEOPT"),
			 0x49484156454F5054ull);
	assert_int_equal(mblk__get_be32((const uint8_t *)"\x67\x44\x66\x98"),
			 0x67446698);
	assert_int_equal(mblk__get_be16((const uint8_t *)"\xff\x01"), 0xff01);
}

static void test_extremes(void **state)
{
	uint8_t b[8];
	(void)state;
	const uint64_t v64[] = { 0,          1,
				 0xff,       0x8000000000000000ull,
				 UINT64_MAX, 0x0102030405060708ull };
	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
		mblk__put_be64(b, v64[i]);
		assert_int_equal(mblk__get_be64(b), v64[i]);
	}
	const uint32_t v32[] = { 0, 1, 0x80000000u, UINT32_MAX };
	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++) {
		mblk__put_be32(b, v32[i]);
		assert_int_equal(mblk__get_be32(b), v32[i]);
	}
	mblk__put_be16(b, UINT16_MAX);
	assert_int_equal(mblk__get_be16(b), UINT16_MAX);
	mblk__put_be16(b, 0x8000);
	assert_int_equal(mblk__get_be16(b), 0x8000);
}

static void test_unaligned(void **state)
{
	uint8_t b[24];
	(void)state;
	for (int off = 0; off < 8; off++) {
		memset(b, 0xaa, sizeof(b));
		mblk__put_be64(b + off, 0x0102030405060708ull);
		assert_int_equal(b[off], 1);
		assert_int_equal(b[off + 7], 8);
		if (off > 0)
			assert_int_equal(b[off - 1], 0xaa);
		assert_int_equal(b[off + 8], 0xaa);
		assert_int_equal(mblk__get_be64(b + off),
				 0x0102030405060708ull);
		mblk__put_be32(b + off + 9, 0xdeadbeef);
		assert_int_equal(mblk__get_be32(b + off + 9), 0xdeadbeef);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_unaligned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
