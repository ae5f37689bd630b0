/* test-close-races.c - unit tests of close and disconnect racing with
 * requests: close from inside a completion callback, requests submitted
 * to a device whose close has begun (from its own callbacks and from
 * another device's), close called twice, and close of a decorator while
 * its child still holds deferred completions. Every test runs the loop
 * to the end and then requires uv_loop_close to succeed (no handle left
 * behind) and every callback to have run exactly once; run under ASan
 * (scripts/test.sh) a completion delivered after the device is freed, or
 * an idle handle left in the loop's queue, is a use-after-free. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk.h>
#include <mblk/ram.h>

struct fixture {
	uv_loop_t loop;
	char buf[512];
	struct iovec iov;
	mblk_dev *a, *b;
	int reads_done;  /* read callbacks run */
	int resubmit;    /* reads still to submit from a callback */
	int closes_done; /* close callbacks run */
};

static struct fixture *F;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->iov.iov_base = f->buf;
	f->iov.iov_len = sizeof(f->buf);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void closed_cb(void *data, int status, const char *error)
{
	struct fixture *f = data;
	assert_int_equal(status, 0);
	assert_null(error);
	f->closes_done++;
}

/* A read callback that submits another read to device a while
 * f->resubmit says so, as a retry loop would. */
static void read_cb(void *data, int status, const char *error)
{
	struct fixture *f = data;
	(void)status;
	(void)error;
	f->reads_done++;
	if (f->resubmit > 0) {
		f->resubmit--;
		assert_int_equal(mblk_read(f->a, 0, &f->iov, 1, read_cb, f), 0);
	}
}

/* Device b's callback submits to device a, whose close has reached the
 * point where a's idle handle is being closed (same loop iteration). The
 * new request's -ENODEV must still be delivered and must not restart
 * the closing idle handle (which would stay in the loop's idle queue
 * after a is freed). */
static void test_submit_from_other_device_while_freeing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mblk_ram_create(&f->loop, NULL, 8, 512, &f->a), 0);
	assert_int_equal(mblk_ram_create(&f->loop, NULL, 8, 512, &f->b), 0);
	f->resubmit = 1;
	/* b's idle handle starts first, so a's runs first in the next
	 * iteration (libuv runs idle handles newest first): a closes its
	 * idle handle, then b's callback submits to a. */
	assert_int_equal(mblk_read(f->b, 0, &f->iov, 1, read_cb, f), 0);
	mblk_close(f->a, closed_cb, f);
	/* Keep the loop going for more iterations after a is freed. */
	for (int i = 0; i < 4; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->closes_done, 1);
	assert_int_equal(f->reads_done, 2);
	mblk_close(f->b, closed_cb, f);
}

/* Requests submitted after close began fail with -ENODEV; a callback
 * that answers each failure with a new request (a retry loop) keeps
 * submitting while the device is being freed. Every one of them must
 * get its callback: free_dev delivers them all before freeing. */
static void test_resubmit_from_callback_while_freeing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mblk_ram_create(&f->loop, NULL, 8, 512, &f->a), 0);
	mblk_close(f->a, closed_cb, f);
	f->resubmit = 4;
	assert_int_equal(mblk_read(f->a, 0, &f->iov, 1, read_cb, f), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->reads_done, 5);
	assert_int_equal(f->closes_done, 1);
}

/* mblk_close called again while the first close is under way: both
 * callbacks run, once each, after the device is gone. mblk_close_sync
 * as the second call must therefore return (it waits for its callback). */
static void test_close_twice(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mblk_open_sync(&f->loop, "ram:?size=4096", 0, &f->a),
			 0);
	mblk_close(f->a, closed_cb, f);
	mblk_close(f->a, closed_cb, f);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->closes_done, 2);

	assert_int_equal(mblk_open_sync(&f->loop, "ram:?size=4096", 0, &f->a),
			 0);
	mblk_close(f->a, NULL, NULL);
	mblk_close_sync(f->a); /* hung before: its callback never ran */
}

/* Closes device a from inside a read callback. */
static void close_in_cb(void *data, int status, const char *error)
{
	struct fixture *f = data;
	assert_int_equal(status, 0);
	assert_null(error);
	f->reads_done++;
	if (f->reads_done == 1)
		mblk_close(f->a, closed_cb, f);
}

/* Close from inside a completion callback, on a ramdisk and on safe
 * over a ramdisk (the callback then runs from the child's deferred
 * list) with a second read still in flight: that read completes with
 * its data, then the device and its child go, and no handle remains. */
static void test_close_from_callback(void **state)
{
	struct fixture *f = *state;
	for (int wrapped = 0; wrapped < 2; wrapped++) {
		f->reads_done = f->closes_done = 0;
		assert_int_equal(mblk_open_sync(&f->loop, "ram:?size=4096",
						wrapped ? 0 : MBLK_OPEN_NO_SAFE,
						&f->a),
				 0);
		assert_int_equal(mblk_read(f->a, 0, &f->iov, 1, close_in_cb, f),
				 0);
		assert_int_equal(mblk_read(f->a, 1, &f->iov, 1, close_in_cb, f),
				 0);
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
		assert_int_equal(f->reads_done, 2);
		assert_int_equal(f->closes_done, 1);
	}
}

/* Disconnect, then close, both while a request is in flight, and a
 * request submitted in between: the in-flight one succeeds, the late
 * one fails with -ENODEV, the disconnect completes after the first
 * and before the close. */
static int order[8], norder;
static void note_cb(void *data, int status, const char *error)
{
	(void)error;
	order[norder++] =
		(int)(intptr_t)data * 100 + (status < 0 ? -status : 0);
}

static void test_disconnect_then_close_with_requests(void **state)
{
	struct fixture *f = *state;
	norder = 0;
	assert_int_equal(mblk_open_sync(&f->loop, "ram:?size=4096", 0, &f->a),
			 0);
	assert_int_equal(mblk_read(f->a, 0, &f->iov, 1, note_cb, (void *)1), 0);
	assert_int_equal(mblk_disconnect(f->a, note_cb, (void *)2), 0);
	assert_int_equal(mblk_read(f->a, 0, &f->iov, 1, note_cb, (void *)3), 0);
	mblk_close(f->a, note_cb, (void *)4);
	assert_int_equal(norder, 0); /* nothing inside the calls */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(norder, 4);
	/* The order between requests is not promised, except that the
	 * disconnect waits for the read in flight and close comes last. */
	int pos[5] = { -1, -1, -1, -1, -1 };
	for (int k = 0; k < norder; k++)
		pos[order[k] / 100] = k;
	assert_int_equal(order[pos[1]], 100);          /* in flight: ok */
	assert_int_equal(order[pos[3]], 300 + ENODEV); /* late read */
	assert_int_equal(order[pos[2]], 200);          /* disconnect */
	assert_true(pos[2] > pos[1]);
	assert_int_equal(pos[4], 3); /* close, last */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_submit_from_other_device_while_freeing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_resubmit_from_callback_while_freeing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_close_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_from_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_disconnect_then_close_with_requests, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
