/* test-ram-threads.c - handles to one named ramdisk on different loops
 * in different threads (docs/architecture.md, "Threads").
 *
 * Two threads, each with its own uv loop and its own handle (through
 * mblk_open, so through safe), write disjoint sectors of the same
 * ramdisk (thread 0 the even ones, thread 1 the odd ones) while also
 * seeking, discarding their own scratch range, resizing the store by
 * one sector back and forth, asking for the URI and the geometry, and
 * opening and closing extra handles. Afterwards every sector must hold
 * the last pattern its owner wrote. Nothing here can detect a data race
 * by itself: the point is to run it under ThreadSanitizer
 * (meson setup build-tsan -Db_sanitize=thread), which then fails on
 * any unsynchronised access; without TSan it still checks the data. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk.h>
#include <mblk/ram.h>

#define NAME "test-ram-threads"
#define SECTORS 512 /* data sectors 0..255; scratch and resizes above */
#define DATA 256
#define ROUNDS 8

struct worker {
	int id;
	int failed;
	char why[400];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uv_loop_t loop;
	mblk_dev *dev;
	char buf[512];
	struct iovec iov = { buf, sizeof(buf) };

	uv_loop_init(&loop);
	if (mblk_open_sync(&loop, "ram:" NAME, 0, &dev) < 0) {
		w->failed = 1;
		snprintf(w->why, sizeof(w->why), "open: %s", mblk_last_error());
		return NULL;
	}
	for (int round = 0; round < ROUNDS && !w->failed; round++) {
		for (int i = w->id; i < DATA; i += 2) {
			memset(buf, 1 + round * 2 + w->id, sizeof(buf));
			if (mblk_write_sync(dev, (uint64_t)i, &iov, 1, 0) < 0) {
				w->failed = 1;
				snprintf(w->why, sizeof(w->why), "write: %s",
					 mblk_last_error());
				break;
			}
			if (i % 16 != w->id)
				continue;
			uint64_t at;
			struct mblk_info info;
			char uri[128];
			mblk_dev *other;
			(void)mblk_seek_mapped_sync(dev, 0, &at);
			(void)mblk_seek_unmapped_sync(dev, 0, &at);
			(void)mblk_discard_sync(dev, 300 + 8 * w->id, 8);
			(void)mblk_resize_sync(dev, SECTORS + (i & 1));
			mblk_get_info(dev, &info);
			(void)mblk_get_uri(dev, uri, sizeof(uri));
			if (mblk_open_sync(&loop, "ram:" NAME, 0, &other) == 0)
				mblk_close_sync(other);
		}
	}
	mblk_close_sync(dev);
	if (uv_loop_close(&loop) != 0 && !w->failed) {
		w->failed = 1;
		snprintf(w->why, sizeof(w->why), "uv_loop_close: busy");
	}
	return NULL;
}

static void test_two_threads_one_ramdisk(void **state)
{
	(void)state;
	uv_loop_t loop;
	mblk_dev *dev;
	pthread_t t[2];
	struct worker w[2] = { { .id = 0 }, { .id = 1 } };

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_ram_create(&loop, NAME, SECTORS, 512, &dev), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main,
						&w[i]),
				 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (w[i].failed)
			print_error("thread %d: %s\n", i, w[i].why);
		assert_int_equal(w[i].failed, 0);
	}
	/* This handle's cached size is stale after the resizes: refresh. */
	struct mblk_info info;
	mblk_get_info(dev, &info);
	for (int i = 0; i < DATA; i++) {
		unsigned char buf[512];
		struct iovec iov = { buf, sizeof(buf) };
		unsigned char want =
			(unsigned char)(1 + (ROUNDS - 1) * 2 + i % 2);
		assert_int_equal(mblk_read_sync(dev, (uint64_t)i, &iov, 1), 0);
		for (size_t b = 0; b < sizeof(buf); b++) {
			if (buf[b] != want)
				print_error("sector %d byte %zu: %u, want %u\n",
					    i, b, buf[b], want);
			assert_int_equal(buf[b], want);
		}
	}
	mblk_close_sync(dev);
	assert_int_equal(mblk_ram_destroy(NAME), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_threads_one_ramdisk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
