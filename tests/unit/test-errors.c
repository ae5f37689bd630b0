/* test-errors.c - unit tests of the error texts: mblk_strerror, the
 * thread-local mblk_last_error, and the sentences of mblk_check_rw and
 * mblk_check_range, which must name the device, the operation and the
 * numbers given and allowed ("Invalid argument" alone is a defect). The
 * last test checks that the same sentences reach a user's callback
 * through a real device stack (safe over ram). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include <mblk/ram.h>

/* Asserts that s contains each of the NULL-terminated needles. */
static void expect_has(const char *s, ...)
{
	va_list ap;
	va_start(ap, s);
	for (const char *n = va_arg(ap, const char *); n;
	     n = va_arg(ap, const char *)) {
		if (strstr(s, n) == NULL)
			print_error("sentence \"%s\"\n  lacks \"%s\"\n", s, n);
		assert_non_null(strstr(s, n));
	}
	va_end(ap);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(mblk_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(mblk_strerror(EINVAL), "Invalid argument");
	assert_string_equal(mblk_strerror(-EROFS), "Read-only file system");
	assert_string_equal(mblk_strerror(-ENODEV), "No such device");
	assert_string_equal(mblk_strerror(-ENOTSUP), "Operation not supported");
	/* An unknown number still gives a text, never NULL. */
	const char *u = mblk_strerror(-99999);
	assert_non_null(u);
	expect_has(u, "99999", NULL);
}

static void *other_thread(void *arg)
{
	char *seen = arg;
	/* A new thread starts with no error, whatever main has. */
	strcpy(seen, mblk_last_error());
	assert_int_equal(mblk_set_error(-EIO, "thread %d", 2), -EIO);
	strcat(seen, "|");
	strcat(seen, mblk_last_error());
	return NULL;
}

static void test_last_error_thread_local(void **state)
{
	(void)state;
	assert_int_equal(mblk_set_error(-ENOENT, "main says %s", "hello"),
			 -ENOENT);
	assert_string_equal(mblk_last_error(), "main says hello");

	char seen[256] = "unset";
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, other_thread, seen), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(seen, "|thread 2");
	/* The other thread's error did not touch ours. */
	assert_string_equal(mblk_last_error(), "main says hello");

	/* Long sentences are truncated, not overflowed. */
	char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mblk_set_error(-EINVAL, "%s", big);
	assert_true(strlen(mblk_last_error()) > 500);
	assert_true(strlen(mblk_last_error()) < sizeof(big) - 1);
}

static const struct mblk_info info_1000 = {
	.size_sectors = 1000,
	.sector_size = 512,
	.read_write = true,
	.buf_align = 4096,
};

/* Runs mblk_check_rw on disk7 and returns its sentence (static buffer). */
static const char *check_rw(enum mblk_op op, uint64_t sector,
			    const struct iovec *iov, int iovcnt, bool align,
			    int want)
{
	static char msg[MBLK_MSG_MAX];
	uint64_t total = 0;
	msg[0] = '\0';
	int r = mblk_check_rw("disk7", &info_1000, op, sector, iov, iovcnt,
			      align, &total, msg, sizeof(msg));
	if (r != want)
		print_error("check_rw gave %d (%s), want %d\n", r, msg, want);
	assert_int_equal(r, want);
	return msg;
}

static void test_check_rw_sentences(void **state)
{
	static char aligned[8192] __attribute__((aligned(4096)));
	struct iovec one = { aligned, 4096 };
	(void)state;

	/* Valid: in range, the end exactly at the end, empty at the end. */
	check_rw(MBLK_OP_READ, 0, &one, 1, true, 0);
	check_rw(MBLK_OP_READ, 992, &one, 1, true, 0);
	check_rw(MBLK_OP_READ, 1000, NULL, 0, true, 0);

	const char *m = check_rw(MBLK_OP_READ, 996, &one, 1, true, -EINVAL);
	expect_has(m, "disk7", "read", "996-1003", "8 sectors",
		   "4 sectors past the end", "1000-sector", NULL);

	m = check_rw(MBLK_OP_WRITE, 1001, &one, 1, true, -EINVAL);
	expect_has(m, "disk7", "write", "1001", "past the end", "0 to 999",
		   NULL);

	m = check_rw(MBLK_OP_WRITE, UINT64_MAX - 2, &one, 1, false, -EINVAL);
	expect_has(m, "disk7", "write", "18446744073709551613", "overflows",
		   NULL);

	struct iovec odd = { aligned, 1000 };
	m = check_rw(MBLK_OP_READ, 5, &odd, 1, false, -EINVAL);
	expect_has(m, "disk7", "read", "sector 5", "buffer 0", "1000 bytes",
		   "512-byte sectors", NULL);

	struct iovec null_buf[2] = { { aligned, 512 }, { NULL, 512 } };
	m = check_rw(MBLK_OP_WRITE, 5, null_buf, 2, false, -EINVAL);
	expect_has(m, "disk7", "write", "buffer 1 is NULL", "512", NULL);

	m = check_rw(MBLK_OP_READ, 3, NULL, 2, false, -EINVAL);
	expect_has(m, "disk7", "read", "NULL", "2 buffers", NULL);

	m = check_rw(MBLK_OP_READ, 3, &one, -1, false, -EINVAL);
	expect_has(m, "disk7", "read", "-1 buffers", "from 0 to", NULL);

	/* Alignment, only when asked for. */
	struct iovec mis = { aligned + 512, 4096 };
	check_rw(MBLK_OP_READ, 0, &mis, 1, false, 0);
	m = check_rw(MBLK_OP_READ, 0, &mis, 1, true, -EINVAL);
	expect_has(m, "disk7", "read", "buffer 0", "not aligned", "4096", NULL);
	struct iovec short_len = { aligned, 512 };
	m = check_rw(MBLK_OP_WRITE, 0, &short_len, 1, true, -EINVAL);
	expect_has(m, "disk7", "write", "512 bytes", "multiple of the 4096",
		   NULL);
}

static void test_check_range_sentences(void **state)
{
	char msg[MBLK_MSG_MAX];
	(void)state;
	assert_int_equal(mblk_check_range("disk7", &info_1000, MBLK_OP_DISCARD,
					  0, 1000, msg, sizeof(msg)),
			 0);
	assert_int_equal(mblk_check_range("disk7", &info_1000, MBLK_OP_DISCARD,
					  900, 200, msg, sizeof(msg)),
			 -EINVAL);
	expect_has(msg, "disk7", "discard", "900-1099", "200 sectors",
		   "100 sectors past the end", NULL);
	assert_int_equal(mblk_check_range("disk7", &info_1000,
					  MBLK_OP_WRITE_ZEROES, 5000, 1, msg,
					  sizeof(msg)),
			 -EINVAL);
	expect_has(msg, "disk7", "write_zeroes", "5000", "past the end",
		   "1000-sector", NULL);
	assert_int_equal(mblk_check_range("disk7", &info_1000,
					  MBLK_OP_WRITE_ZEROES, 2, UINT64_MAX,
					  msg, sizeof(msg)),
			 -EINVAL);
	expect_has(msg, "disk7", "write_zeroes", "overflows", NULL);

	/* A 0-sector device has no sector 0: the sentence must not claim
	 * that sectors run from 0 to 0. */
	struct mblk_info empty = info_1000;
	empty.size_sectors = 0;
	assert_int_equal(mblk_check_range("disk7", &empty, MBLK_OP_DISCARD, 0,
					  1, msg, sizeof(msg)),
			 -EINVAL);
	expect_has(msg, "disk7", "discard", "sector 0", "no sectors", NULL);
	if (strstr(msg, "0 to 0") != NULL)
		print_error("sentence \"%s\" claims a sector 0\n", msg);
	assert_null(strstr(msg, "0 to 0"));
}

/* The same sentences reach a user through a device stack. */
struct outcome {
	int status;
	char error[MBLK_MSG_MAX];
	bool called;
};

static void record_cb(void *data, int status, const char *error)
{
	struct outcome *o = data;
	o->called = true;
	o->status = status;
	snprintf(o->error, sizeof(o->error), "%s", error ? error : "");
}

static void test_sentence_reaches_callback(void **state)
{
	uv_loop_t loop;
	mblk_dev *dev;
	char buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct outcome o = { 0 };
	(void)state;

	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_open_sync(&loop, "ram:errtest?size=64K", 0, &dev),
			 0);
	assert_int_equal(mblk_read(dev, 126, &iov, 1, record_cb, &o), 0);
	assert_false(o.called); /* never inside submit */
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_true(o.called);
	assert_int_equal(o.status, -EINVAL);
	expect_has(o.error, "ram:errtest", "read", "126", "past the end",
		   "128-sector", NULL);

	memset(&o, 0, sizeof(o));
	assert_int_equal(mblk_discard(dev, 100, 100, record_cb, &o), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(o.status, -EINVAL);
	expect_has(o.error, "ram:errtest", "discard", "100", NULL);

	/* A control-path failure leaves its sentence in last_error. */
	assert_int_equal(mblk_open_sync(&loop, "ram:errtest?size=1M", 0,
					&(mblk_dev *){ NULL }),
			 -EEXIST);
	expect_has(mblk_last_error(), "ram:errtest", "already exists",
		   "65536 bytes", NULL);

	/* A read-only handle (MBLK_OPEN_RDONLY) refuses writes with a
	 * sentence, while another handle to the same ramdisk may write. */
	mblk_dev *ro;
	assert_int_equal(mblk_open_sync(&loop, "ram:errtest", MBLK_OPEN_RDONLY,
					&ro),
			 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(mblk_write(ro, 0, &iov, 1, 0, record_cb, &o), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(o.status, -EROFS);
	expect_has(o.error, "ram:errtest", "write of sectors 0-7 (8 sectors)",
		   "read-only", NULL);
	memset(&o, 0, sizeof(o));
	assert_int_equal(mblk_discard(ro, 0, 8, record_cb, &o), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(o.status, -EROFS);
	expect_has(o.error, "ram:errtest", "discard", "read-only", NULL);
	memset(&o, 0, sizeof(o));
	assert_int_equal(mblk_write(dev, 0, &iov, 1, 0, record_cb, &o), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(o.status, 0);
	mblk_close(ro, NULL, NULL);

	mblk_close(dev, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(mblk_ram_destroy("errtest"), 0);
	assert_int_equal(mblk_ram_destroy("errtest"), -ENOENT);
	expect_has(mblk_last_error(), "ram:errtest", "does not exist", NULL);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* mblk_dev_create refuses a geometry past 2^63 bytes: the core promises
 * every op that a request's byte offsets fit, which holds only if the
 * device itself fits. */
static const struct mblk_dev_ops bare_ops = { .kind = "bare" };

static void test_create_refuses_huge_geometry(void **state)
{
	(void)state;
	uv_loop_t loop;
	mblk_dev *dev = NULL;
	struct mblk_info info = {
		.size_sectors = (1ull << 51) + 1, /* 4096-byte sectors */
		.sector_size = 4096,
		.read_write = true,
	};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_dev_create(&loop, &bare_ops, NULL, "huge0", &info,
					 NULL, 0, 0, &dev),
			 -EFBIG);
	expect_has(mblk_last_error(), "huge0", "2251799813685249 sectors",
		   "4096", "2^63", NULL);
	info.size_sectors = UINT64_MAX; /* the product overflows 64 bits */
	assert_int_equal(mblk_dev_create(&loop, &bare_ops, NULL, "huge0", &info,
					 NULL, 0, 0, &dev),
			 -EFBIG);
	info.size_sectors = 1ull << 51; /* exactly 2^63 bytes: fine */
	assert_int_equal(mblk_dev_create(&loop, &bare_ops, NULL, "huge0", &info,
					 NULL, 0, 0, &dev),
			 0);
	mblk_close_sync(dev);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_last_error_thread_local),
		cmocka_unit_test(test_check_rw_sentences),
		cmocka_unit_test(test_check_range_sentences),
		cmocka_unit_test(test_sentence_reaches_callback),
		cmocka_unit_test(test_create_refuses_huge_geometry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
