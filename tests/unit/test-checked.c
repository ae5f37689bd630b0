/* test-checked.c - unit tests of src/common/checked.h: overflow-checked
 * arithmetic, powers of two, alignment, min/max and log2, at the edges
 * of the 64-bit range where the bugs live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/checked.h"

static void test_add(void **state)
{
	uint64_t r;
	(void)state;
	assert_false(mblk__add_overflow(1, 2, &r));
	assert_int_equal(r, 3);
	assert_false(mblk__add_overflow(UINT64_MAX - 1, 1, &r));
	assert_int_equal(r, UINT64_MAX);
	assert_true(mblk__add_overflow(UINT64_MAX, 1, &r));
	assert_true(mblk__add_overflow(1ull << 63, 1ull << 63, &r));
	assert_false(mblk__add_overflow(0, 0, &r));
	assert_int_equal(r, 0);
}

static void test_mul(void **state)
{
	uint64_t r;
	(void)state;
	assert_false(mblk__mul_overflow(1ull << 32, (1ull << 32) - 1, &r));
	assert_int_equal(r, (1ull << 32) * ((1ull << 32) - 1));
	assert_true(mblk__mul_overflow(1ull << 32, 1ull << 32, &r));
	assert_false(mblk__mul_overflow(UINT64_MAX, 1, &r));
	assert_int_equal(r, UINT64_MAX);
	assert_true(mblk__mul_overflow(UINT64_MAX, 2, &r));
	assert_false(mblk__mul_overflow(0, UINT64_MAX, &r));
	assert_int_equal(r, 0);
}

static void test_pow2(void **state)
{
	(void)state;
	assert_false(mblk__is_pow2(0));
	assert_true(mblk__is_pow2(1));
	assert_true(mblk__is_pow2(512));
	assert_false(mblk__is_pow2(513));
	assert_false(mblk__is_pow2(768));
	assert_true(mblk__is_pow2(1ull << 63));
	assert_false(mblk__is_pow2(UINT64_MAX));
	for (unsigned i = 0; i < 64; i++) {
		assert_true(mblk__is_pow2(1ull << i));
		assert_int_equal(mblk__log2(1ull << i), i);
	}
}

static void test_align(void **state)
{
	(void)state;
	assert_true(mblk__is_aligned(0, 4096));
	assert_true(mblk__is_aligned(8192, 4096));
	assert_false(mblk__is_aligned(4097, 4096));
	assert_true(mblk__is_aligned(12345, 1));
	assert_int_equal(mblk__align_down(4097, 4096), 4096);
	assert_int_equal(mblk__align_down(4095, 4096), 0);
	assert_int_equal(mblk__align_up(4097, 4096), 8192);
	assert_int_equal(mblk__align_up(4096, 4096), 4096);
	assert_int_equal(mblk__align_up(0, 4096), 0);
	assert_int_equal(mblk__align_down(UINT64_MAX, 1ull << 63), 1ull << 63);
	assert_int_equal(mblk__align_up((1ull << 63) - 1, 1ull << 63),
			 1ull << 63);
}

static void test_minmax(void **state)
{
	(void)state;
	assert_int_equal(mblk__min_u64(3, 5), 3);
	assert_int_equal(mblk__min_u64(5, 3), 3);
	assert_int_equal(mblk__max_u64(3, 5), 5);
	assert_int_equal(mblk__max_u64(UINT64_MAX, 0), UINT64_MAX);
	assert_int_equal(mblk__min_u64(UINT64_MAX, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),    cmocka_unit_test(test_mul),
		cmocka_unit_test(test_pow2),   cmocka_unit_test(test_align),
		cmocka_unit_test(test_minmax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
