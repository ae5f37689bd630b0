/* test-dev-lost.c - mblk_dev_set_disconnected: a device that lost its
 * peer says so, and the core takes it from there.
 *
 * A leaf whose first read "loses the server": it calls
 * mblk_dev_set_disconnected and fails the read. Checked: the leaf and a
 * one-child decorator over it are disconnected with the leaf's sentence
 * (a two-child one is not); later requests fail with -ESHUTDOWN, the
 * device's name, the operation and the sentence, without reaching the
 * leaf's ops; the first reason stays; a device disconnected on request
 * has no reason; closing frees the sentence (ASan, valgrind). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>

static int leaf_reads;

static void leaf_read(mblk_dev *dev, mblk_req *req)
{
	leaf_reads++;
	mblk_dev_set_disconnected(dev, "server %s went away", "S");
	mblk_req_fail(req, -ESHUTDOWN, "server S went away");
}

static const struct mblk_dev_ops leaf_ops = {
	.kind = "leaf",
	.read = leaf_read,
};

/* Pass-through: every op goes to child 0 (the core's default). */
static const struct mblk_dev_ops pass_ops = {
	.kind = "pass",
};

static const struct mblk_info info = {
	.size_sectors = 64,
	.sector_size = 512,
	.read_write = true,
};

static void test_lost(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	mblk_dev *leaf, *other, *pass, *two;
	assert_int_equal(mblk_dev_create(&loop, &leaf_ops, NULL, "leaf0", &info,
					 NULL, 0, 0, &leaf),
			 0);
	assert_int_equal(mblk_dev_create(&loop, &pass_ops, NULL, "pass0", &info,
					 &leaf, 1, 0, &pass),
			 0);
	assert_int_equal(mblk_dev_create(&loop, &leaf_ops, NULL, "leaf1", &info,
					 NULL, 0, 0, &other),
			 0);
	assert_false(mblk_dev_is_disconnected(pass));
	assert_null(mblk_dev_disconnect_reason(pass));

	char buf[512];
	struct iovec v = { buf, sizeof(buf) };
	assert_int_equal(mblk_read_sync(pass, 0, &v, 1), -ESHUTDOWN);
	assert_int_equal(leaf_reads, 1);
	assert_true(mblk_dev_is_disconnected(leaf));
	assert_true(mblk_dev_is_disconnected(pass));
	assert_string_equal(mblk_dev_disconnect_reason(leaf),
			    "server S went away");
	assert_string_equal(mblk_dev_disconnect_reason(pass),
			    "server S went away");

	/* Later requests: refused by the core, with the sentence. */
	assert_int_equal(mblk_read_sync(pass, 8, &v, 1), -ESHUTDOWN);
	assert_int_equal(leaf_reads, 1);
	const char *e = mblk_last_error();
	assert_non_null(strstr(e, "leaf0"));
	assert_non_null(strstr(e, "read of sector 8"));
	assert_non_null(strstr(e, "server S went away"));
	assert_int_equal(mblk_flush_sync(leaf), -ESHUTDOWN);
	assert_non_null(strstr(mblk_last_error(), "server S went away"));

	/* The first reason is the one kept. */
	mblk_dev_set_disconnected(leaf, "something else");
	assert_string_equal(mblk_dev_disconnect_reason(leaf),
			    "server S went away");

	/* Two children: one lost child does not make the parent lost. */
	mblk_dev *kids[2] = { pass, other };
	assert_int_equal(mblk_dev_create(&loop, &pass_ops, NULL, "two0", &info,
					 kids, 2, 0, &two),
			 0);
	assert_false(mblk_dev_is_disconnected(two));
	assert_null(mblk_dev_disconnect_reason(two));

	/* Disconnected on request: disconnected, no reason. */
	assert_int_equal(mblk_disconnect_sync(other), 0);
	assert_true(mblk_dev_is_disconnected(other));
	assert_null(mblk_dev_disconnect_reason(other));

	/* Closing a lost device still runs its disconnect and frees it. */
	mblk_close_sync(two);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
