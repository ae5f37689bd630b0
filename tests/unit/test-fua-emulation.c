/* test-fua-emulation.c - the core's FUA emulation on a leaf that can
 * flush but has no native FUA (MBLK_CAP_FLUSH without MBLK_CAP_FUA): a
 * write with MBLK_WRITE_FUA runs as the write, then a flush, and
 * completes once, after both. Checked: the order of the steps; that
 * neither op sees a flag it does not know (the core's own marker must
 * not leak into req->flags); that a failed write is not flushed; that a
 * failed flush reports the write the user asked for (device, range and
 * cause); that a leaf with native FUA gets the flag and no flush; and
 * that the same holds through safe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include <mblk/safe.h>

struct leaf {
	char log[64]; /* "W" per write, "F" per flush, in order */
	unsigned write_flags, flush_flags;
	int fail_write, fail_flush;
};

static void leaf_write(mblk_dev *dev, mblk_req *req)
{
	struct leaf *l = mblk_dev_priv(dev);
	strcat(l->log, "W");
	l->write_flags = req->flags;
	if (l->fail_write)
		mblk_req_fail(req, -EIO, "the disk refused the write");
	else
		mblk_req_done(req, 0);
}

static void leaf_flush(mblk_dev *dev, mblk_req *req)
{
	struct leaf *l = mblk_dev_priv(dev);
	strcat(l->log, "F");
	l->flush_flags = req->flags;
	if (l->fail_flush)
		mblk_req_fail(req, -EIO, "the disk said no");
	else
		mblk_req_done(req, 0);
}

static const struct mblk_dev_ops leaf_ops = {
	.kind = "leaf",
	.write = leaf_write,
	.flush = leaf_flush,
};

struct result {
	int calls;
	int status;
	char msg[MBLK_MSG_MAX];
};

static void write_cb(void *data, int status, const char *error)
{
	struct result *r = data;
	r->calls++;
	r->status = status;
	if (error)
		strcpy(r->msg, error);
}

/* Writes 2 sectors at 8 with flags to a leaf with caps (through safe if
 * wrapped) and runs the loop to the end. */
static void run_write(struct leaf *l, uint32_t caps, bool wrapped,
		      unsigned flags, struct result *res)
{
	uv_loop_t loop;
	mblk_dev *dev;
	static char buf[1024];
	struct iovec iov = { buf, sizeof(buf) };
	struct mblk_info info = {
		.size_sectors = 64,
		.sector_size = 512,
		.read_write = true,
		.caps = caps,
	};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_dev_create(&loop, &leaf_ops, l, "leaf0", &info,
					 NULL, 0, 0, &dev),
			 0);
	if (wrapped) {
		mblk_dev *safe;
		assert_int_equal(mblk_safe_wrap(dev, &safe), 0);
		dev = safe;
	}
	memset(res, 0, sizeof(*res));
	assert_int_equal(mblk_write(dev, 8, &iov, 1, flags, write_cb, res), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(res->calls, 1);
	mblk_close_sync(dev);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_emulated_fua_steps_and_flags(void **state)
{
	(void)state;
	for (int wrapped = 0; wrapped < 2; wrapped++) {
		struct leaf l = { 0 };
		struct result res;
		l.write_flags = l.flush_flags = 0xdead;
		run_write(&l, MBLK_CAP_FLUSH, wrapped, MBLK_WRITE_FUA, &res);
		assert_int_equal(res.status, 0);
		assert_string_equal(l.log, "WF");
		/* The leaf has no native FUA: it must see no flag at all. */
		if (l.write_flags != 0 || l.flush_flags != 0)
			print_error("write saw flags %#x, flush saw %#x\n",
				    l.write_flags, l.flush_flags);
		assert_int_equal(l.write_flags, 0);
		assert_int_equal(l.flush_flags, 0);
	}
}

static void test_native_fua_gets_flag(void **state)
{
	(void)state;
	struct leaf l = { 0 };
	struct result res;
	run_write(&l, MBLK_CAP_FLUSH | MBLK_CAP_FUA, true, MBLK_WRITE_FUA,
		  &res);
	assert_int_equal(res.status, 0);
	assert_string_equal(l.log, "W");
	assert_int_equal(l.write_flags, MBLK_WRITE_FUA);
}

static void test_failed_write_is_not_flushed(void **state)
{
	(void)state;
	struct leaf l = { .fail_write = 1 };
	struct result res;
	run_write(&l, MBLK_CAP_FLUSH, false, MBLK_WRITE_FUA, &res);
	assert_int_equal(res.status, -EIO);
	assert_string_equal(l.log, "W");
	assert_non_null(strstr(res.msg, "the disk refused the write"));
}

/* The flush that emulates FUA fails: the user asked for a write, so the
 * sentence must name the device, the write and its range, and the
 * cause the leaf gave. */
static void test_failed_flush_names_the_write(void **state)
{
	(void)state;
	struct leaf l = { .fail_flush = 1 };
	struct result res;
	run_write(&l, MBLK_CAP_FLUSH, false, MBLK_WRITE_FUA, &res);
	assert_int_equal(res.status, -EIO);
	assert_string_equal(l.log, "WF");
	const char *need[] = { "leaf0: ", "write of sectors 8-9 (2 sectors)",
			       "FUA", "the disk said no" };
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (strstr(res.msg, need[i]) == NULL)
			print_error("sentence \"%s\"\n  lacks \"%s\"\n",
				    res.msg, need[i]);
		assert_non_null(strstr(res.msg, need[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emulated_fua_steps_and_flags),
		cmocka_unit_test(test_native_fua_gets_flag),
		cmocka_unit_test(test_failed_write_is_not_flushed),
		cmocka_unit_test(test_failed_flush_names_the_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
