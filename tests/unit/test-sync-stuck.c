/* test-sync-stuck.c - a _sync helper on a device that never completes.
 *
 * A device with a request in flight must keep something referenced on
 * its loop (backend.h). One that does not (a bug) used to make the
 * _sync helpers spin at 100 % CPU forever. They now return -EIO with a
 * sentence naming the device and the operation; and if the device does
 * complete the request later, its callback finds live memory (run under
 * ASan and valgrind in CI). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <mblk.h>
#include <mblk/backend.h>

static mblk_req *stuck; /* the request the buggy device sits on */

static void stuck_read(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	stuck = req; /* no handle, no timer, no thread: nothing will wake */
}

static const struct mblk_dev_ops stuck_ops = {
	.kind = "stuck",
	.read = stuck_read,
};

static void test_sync_read_on_a_stuck_device(void **state)
{
	(void)state;
	uv_loop_t loop;
	mblk_dev *dev;
	struct mblk_info info = {
		.size_sectors = 8,
		.sector_size = 512,
		.read_write = true,
	};
	char buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_dev_create(&loop, &stuck_ops, NULL, "stuck0",
					 &info, NULL, 0, 0, &dev),
			 0);

	assert_int_equal(mblk_read_sync(dev, 2, &iov, 1), -EIO);
	assert_non_null(stuck);
	const char *e = mblk_last_error();
	assert_non_null(strstr(e, "stuck0: read: the request is still in "
				  "flight"));
	assert_non_null(strstr(e, "a bug in the device"));

	/* The device wakes up after all: the abandoned waiter is freed by
	 * the callback, which must not touch the returned helper's stack. */
	mblk_req_done(stuck, 0);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* The helpers still work on what the device does complete (a
	 * flush without the capability succeeds at once). */
	assert_int_equal(mblk_flush_sync(dev), 0);
	mblk_close_sync(dev);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_read_on_a_stuck_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
