/* test-disconnect-oom.c - disconnect when the request pool cannot grow.
 *
 * The release step of a disconnect needs a request from the device's
 * pool. When there is none and malloc fails, the core skips the step
 * and completes the waiting disconnects; it must still do so from the
 * loop, never inside the mblk_disconnect call that started it. Close
 * needs a request too, and must wait for requests in flight even when
 * the pool cannot grow. malloc
 * is wrapped (-Wl,--wrap=malloc, set in meson.build) so that the test
 * can make it fail at the right moment. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include "core/core.h"

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static bool fail_malloc;

void *__wrap_malloc(size_t n)
{
	return fail_malloc ? NULL : __real_malloc(n);
}

static const struct mblk_dev_ops leaf_ops = {
	.kind = "leaf",
};

static bool in_submit;
static int ncb;

static void disc_cb(void *data, int status, const char *error)
{
	(void)data;
	(void)error;
	assert_false(in_submit); /* never inside the submitting call */
	assert_int_equal(status, 0);
	ncb++;
}

static void test_disconnect_without_memory(void **state)
{
	(void)state;
	uv_loop_t loop;
	mblk_dev *dev;
	mblk_req *held[15];
	struct mblk_info info = {
		.size_sectors = 64,
		.sector_size = 512,
		.read_write = true,
	};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_dev_create(&loop, &leaf_ops, NULL, "leaf0", &info,
					 NULL, 0, 0, &dev),
			 0);
	/* The pool grows 16 requests at a time: take 15, so that the
	 * disconnect request is the last one and the release step finds
	 * the pool empty. */
	for (int i = 0; i < 15; i++)
		assert_non_null(held[i] = mblk_req_alloc(dev));
	/* The requests the core sets aside for close and the release step
	 * would serve it: hide them, to reach the no-memory path. */
	struct mblk__ireq *spare = dev->spare;
	dev->spare = NULL;
	fail_malloc = true;
	in_submit = true;
	int r = mblk_disconnect(dev, disc_cb, NULL);
	in_submit = false;
	fail_malloc = false;
	assert_int_equal(r, 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(ncb, 1);
	assert_true(mblk_dev_is_disconnected(dev));
	for (int i = 0; i < 15; i++)
		mblk_req_free(held[i]);
	dev->spare = spare;
	mblk_close_sync(dev);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A leaf that keeps its reads until the test completes them. */
static mblk_req *held_read;
static void hold_read(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	held_read = req;
}

static const struct mblk_dev_ops holder_ops = {
	.kind = "holder",
	.read = hold_read,
};

static int read_status = 1, closed;

static void read_cb(void *data, int status, const char *error)
{
	(void)data;
	(void)error;
	assert_int_equal(closed, 0); /* the device must still exist */
	read_status = status;
}

static void close_cb(void *data, int status, const char *error)
{
	(void)data;
	(void)status;
	(void)error;
	closed++;
}

/* mblk_close with a read in flight when the pool is empty and malloc
 * fails: the close must still wait for the read (tearing the device
 * down at once would free it under the read). */
static void test_close_without_memory_waits(void **state)
{
	(void)state;
	uv_loop_t loop;
	mblk_dev *dev;
	mblk_req *held[15];
	static char buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	struct mblk_info info = {
		.size_sectors = 64,
		.sector_size = 512,
		.read_write = true,
	};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_dev_create(&loop, &holder_ops, NULL, "holder0",
					 &info, NULL, 0, 0, &dev),
			 0);
	for (int i = 0; i < 15; i++)
		assert_non_null(held[i] = mblk_req_alloc(dev));
	assert_int_equal(mblk_read(dev, 0, &iov, 1, read_cb, NULL), 0);
	assert_non_null(held_read);
	fail_malloc = true;
	mblk_close(dev, close_cb, NULL);
	for (int i = 0; i < 4; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	fail_malloc = false;
	assert_int_equal(closed, 0); /* still waiting for the read */
	for (int i = 0; i < 15; i++)
		mblk_req_free(held[i]);
	mblk_req_done(held_read, 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(read_status, 0);
	assert_int_equal(closed, 1);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disconnect_without_memory),
		cmocka_unit_test(test_close_without_memory_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
