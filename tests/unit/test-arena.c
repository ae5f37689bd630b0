/* test-arena.c - unit tests of the ramdisk's block allocator
 * (src/devices/ram/arena.c), in particular of how it gives freed memory
 * back with madvise(MADV_DONTNEED).
 *
 * madvise works on whole pages of the system and rounds the length up,
 * so on a kernel with 16 or 64 KiB pages (arm64, ppc64) releasing one
 * 4 KiB block would zero its live neighbours. This machine has 4 KiB
 * pages, so the test plays such a kernel: sysconf(_SC_PAGESIZE) and
 * madvise are wrapped (-Wl,--wrap, set in meson.build) and the wrapped
 * madvise does what Linux does for MADV_DONTNEED on a private anonymous
 * mapping (EINVAL for a misaligned start, else zero the range with the
 * length rounded up to the page). Checked: freeing and flushing blocks
 * never changes the bytes of blocks still in use, at 4 KiB and 16 KiB
 * pages; a freed block is reused and its data, once written, survives
 * the flushes that follow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/ram/arena.h"

static long fake_page = 4096;

long __real_sysconf(int name);
long __wrap_sysconf(int name);
int __real_madvise(void *addr, size_t len, int advice);
int __wrap_madvise(void *addr, size_t len, int advice);

long __wrap_sysconf(int name)
{
	return name == _SC_PAGESIZE ? fake_page : __real_sysconf(name);
}

int __wrap_madvise(void *addr, size_t len, int advice)
{
	if (advice != MADV_DONTNEED)
		return __real_madvise(addr, len, advice);
	uintptr_t pg = (uintptr_t)fake_page;
	if ((uintptr_t)addr % pg != 0) {
		errno = EINVAL;
		return -1;
	}
	memset(addr, 0, (len + pg - 1) / pg * pg);
	return 0;
}

#define BLOCK 4096
#define NBLOCKS 64

static void fill(void *p, int tag)
{
	memset(p, tag, BLOCK);
}

static void expect_filled(void *p, int tag, int i)
{
	const unsigned char *b = p;
	for (size_t k = 0; k < BLOCK; k++)
		if (b[k] != (unsigned char)tag) {
			print_error(
				"block %d byte %zu: %u, want %u (page %ld)\n",
				i, k, b[k], (unsigned char)tag, fake_page);
			fail();
		}
}

/* Frees every other block, then runs of neighbours, flushing between,
 * and checks that the blocks still in use keep their bytes. */
static void check_frees_keep_live_data(long page)
{
	struct arena a;
	void *blk[NBLOCKS];
	bool live[NBLOCKS];

	fake_page = page;
	mblk__arena_init(&a, BLOCK, 1, 0);
	for (int i = 0; i < NBLOCKS; i++) {
		assert_non_null(blk[i] = mblk__arena_alloc(&a));
		fill(blk[i], 1 + i);
		live[i] = true;
	}
	/* Single blocks, each its own run. */
	for (int i = 0; i < NBLOCKS; i += 2) {
		assert_int_equal(mblk__arena_free(&a, blk[i]), 0);
		live[i] = false;
		mblk__arena_flush(&a);
	}
	for (int i = 0; i < NBLOCKS; i++)
		if (live[i])
			expect_filled(blk[i], 1 + i, i);
	/* Reuse them: new data must survive the flushes that follow. */
	for (int i = 0; i < NBLOCKS; i += 2) {
		void *p = mblk__arena_alloc(&a);
		assert_non_null(p);
		int j = (int)(((char *)p - (char *)blk[0]) / BLOCK);
		assert_true(j >= 0 && j < NBLOCKS && !live[j]);
		fill(p, 100 + j);
		live[j] = true;
	}
	/* A run of three neighbours (1, 2, 3), released at once. */
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(mblk__arena_free(&a, blk[i]), 0);
		live[i] = false;
	}
	mblk__arena_flush(&a);
	for (int i = 0; i < NBLOCKS; i++)
		if (live[i])
			expect_filled(blk[i], i % 2 == 0 ? 100 + i : 1 + i, i);
	mblk__arena_destroy(&a);
}

static void test_frees_keep_live_data_4k_pages(void **state)
{
	(void)state;
	check_frees_keep_live_data(4096);
}

static void test_frees_keep_live_data_16k_pages(void **state)
{
	(void)state;
	check_frees_keep_live_data(16384);
}

static void test_frees_keep_live_data_64k_pages(void **state)
{
	(void)state;
	check_frees_keep_live_data(65536);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frees_keep_live_data_4k_pages),
		cmocka_unit_test(test_frees_keep_live_data_16k_pages),
		cmocka_unit_test(test_frees_keep_live_data_64k_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
