/* test-walk.c - the extent walker (src/core/walk.c): the one rule for
 * granularity and edges that map, copy, the mirror and the NBD server
 * share. A scripted leaf device answers extents from a fixed layout, at
 * most two per call whatever the room, so that walks cross fetches. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include "core/walk.h"

struct piece {
	uint64_t start, end;
	uint32_t flags;
};

static const struct piece *layout;
static int nlayout;
static int calls;     /* extents calls the device answered */
static int fail_call; /* fail this call (1-based); 0: never */

#define HOLEZ (MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO)

static void script_extents(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	calls++;
	if (fail_call && calls == fail_call) {
		mblk_req_fail(req, -EIO, "scripted failure");
		return;
	}
	uint64_t pos = req->sector, end = req->sector + req->count;
	int n = 0;
	for (int i = 0; i < nlayout && n < 2 && n < req->ext_max; i++) {
		const struct piece *p = &layout[i];
		if (p->end <= pos || pos >= end)
			continue;
		uint64_t e = p->end < end ? p->end : end;
		req->ext[n].sector = pos;
		req->ext[n].count = e - pos;
		req->ext[n].flags = p->flags;
		n++;
		pos = e;
	}
	req->ext_n = n;
	mblk_req_done(req, 0);
}

static const struct mblk_dev_ops script_ops = {
	.kind = "script",
	.extents = script_extents,
};

static uv_loop_t loop;

static mblk_dev *make_dev(const struct piece *l, int n, uint64_t size)
{
	layout = l;
	nlayout = n;
	calls = 0;
	fail_call = 0;
	struct mblk_info info = { .size_sectors = size,
				  .sector_size = 512,
				  .read_write = true,
				  .caps = MBLK_CAP_SEEK };
	mblk_dev *dev;
	assert_int_equal(mblk_dev_create(&loop, &script_ops, NULL, "script0",
					 &info, NULL, 0, 0, &dev),
			 0);
	return dev;
}

struct step {
	bool done;
	int status;
	struct mblk_extent e;
};

static void step_cb(void *data, int status, const struct mblk_extent *e,
		    const char *error)
{
	struct step *s = data;
	(void)error;
	s->done = true;
	s->status = status;
	if (e != NULL)
		s->e = *e;
}

/* The next extent, running the loop if the device must be asked. */
static int next(struct mblk__walk *w, struct mblk_extent *out)
{
	struct step s = { 0 };
	int r = mblk__walk_next(w, out, step_cb, &s);
	if (r != 0)
		return r < 0 ? r : 0;
	while (!s.done)
		assert_int_not_equal(uv_run(&loop, UV_RUN_ONCE), -1);
	*out = s.e;
	return s.status;
}

/* Walks [start, end) with granule g and compares with want[0..n). */
static void expect_walk(mblk_dev *dev, uint64_t start, uint64_t end, uint64_t g,
			const struct piece *want, int n)
{
	struct mblk__walk w;
	mblk__walk_init(&w, dev, start, end, g);
	for (int i = 0;; i++) {
		struct mblk_extent e;
		assert_int_equal(next(&w, &e), 0);
		if (e.count == 0) {
			if (i != n)
				print_error("walk ended after %d extents, "
					    "expected %d\n",
					    i, n);
			assert_int_equal(i, n);
			return;
		}
		assert_true(i < n);
		if (e.sector != want[i].start ||
		    e.sector + e.count != want[i].end ||
		    e.flags != want[i].flags)
			print_error("extent %d: [%llu, %llu) flags %u, expected "
				    "[%llu, %llu) flags %u\n",
				    i, (unsigned long long)e.sector,
				    (unsigned long long)(e.sector + e.count),
				    e.flags, (unsigned long long)want[i].start,
				    (unsigned long long)want[i].end,
				    want[i].flags);
		assert_int_equal(e.sector, want[i].start);
		assert_int_equal(e.sector + e.count, want[i].end);
		assert_int_equal(e.flags, want[i].flags);
	}
}

static void test_merges_neighbours(void **state)
{
	(void)state;
	static const struct piece l[] = {
		{ 0, 10, 0 },      { 10, 20, 0 }, { 20, 30, HOLEZ },
		{ 30, 31, HOLEZ }, { 31, 40, 0 }, { 40, 48, MBLK_EXTENT_ZERO },
		{ 48, 64, HOLEZ },
	};
	static const struct piece want[] = {
		{ 0, 20, 0 },      { 20, 31, HOLEZ },
		{ 31, 40, 0 },     { 40, 48, MBLK_EXTENT_ZERO },
		{ 48, 64, HOLEZ },
	};
	mblk_dev *dev = make_dev(l, 7, 64);
	expect_walk(dev, 0, 64, 1, want, 5);
	mblk_close_sync(dev);
}

static void test_granule_rounds_data_out(void **state)
{
	(void)state;
	/* Granules of 8: [0,8) and [8,16) hold data, so are data; a granule
	 * half ZERO and half HOLE|ZERO is ZERO. */
	static const struct piece l[] = {
		{ 0, 3, 0 },
		{ 3, 13, HOLEZ },
		{ 13, 16, 0 },
		{ 16, 40, HOLEZ },
		{ 40, 44, MBLK_EXTENT_ZERO },
		{ 44, 53, HOLEZ },
	};
	static const struct piece want[] = {
		{ 0, 16, 0 },
		{ 16, 40, HOLEZ },
		{ 40, 48, MBLK_EXTENT_ZERO },
		{ 48, 53, HOLEZ },
	};
	mblk_dev *dev = make_dev(l, 6, 53);
	expect_walk(dev, 0, 53, 8, want, 4);
	/* A range that starts and ends inside granules: the partial ends
	 * are granules of their own ([5, 8) is all hole). */
	static const struct piece want2[] = {
		{ 5, 8, HOLEZ },
		{ 8, 16, 0 },
		{ 16, 40, HOLEZ },
		{ 40, 42, MBLK_EXTENT_ZERO },
	};
	expect_walk(dev, 5, 42, 8, want2, 4);
	mblk_close_sync(dev);
}

static void test_huge_empty_is_one_call(void **state)
{
	(void)state;
	/* 2^63 bytes of hole: one extent, one call, whatever the granule. */
	uint64_t size = (UINT64_C(1) << 63) / 512;
	static struct piece l[1];
	l[0].start = 0;
	l[0].end = size;
	l[0].flags = HOLEZ;
	mblk_dev *dev = make_dev(l, 1, size);
	struct piece want = { 0, size, HOLEZ };
	expect_walk(dev, 0, size, 128, &want, 1);
	assert_int_equal(calls, 1);
	mblk_close_sync(dev);
}

static void test_error_reaches_caller(void **state)
{
	(void)state;
	static const struct piece l[] = {
		{ 0, 1, 0 },
		{ 1, 2, HOLEZ },
		{ 2, 3, 0 },
		{ 3, 4, HOLEZ },
	};
	mblk_dev *dev = make_dev(l, 4, 4);
	fail_call = 2;
	struct mblk__walk w;
	mblk__walk_init(&w, dev, 0, 4, 1);
	struct mblk_extent e;
	assert_int_equal(next(&w, &e), 0); /* [0,1) data, from call 1 */
	assert_int_equal(next(&w, &e), -EIO);
	mblk_close_sync(dev);
}

/* A device with seeks only: the walker gets extents derived by the core. */
static void test_on_ram_with_data(void **state)
{
	(void)state;
	mblk_dev *dev;
	assert_int_equal(mblk_open_sync(&loop, "ram:?size=1M", 0, &dev), 0);
	char buf[4096];
	memset(buf, 7, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	assert_int_equal(mblk_write_sync(dev, 24, &iov, 1, 0), 0);
	static const struct piece want[] = {
		{ 0, 24, HOLEZ },
		{ 24, 32, 0 },
		{ 32, 2048, HOLEZ },
	};
	expect_walk(dev, 0, 2048, 1, want, 3);
	mblk_close_sync(dev);
}

static int setup(void **state)
{
	(void)state;
	return uv_loop_init(&loop);
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merges_neighbours),
		cmocka_unit_test(test_granule_rounds_data_out),
		cmocka_unit_test(test_huge_empty_is_one_call),
		cmocka_unit_test(test_error_reaches_caller),
		cmocka_unit_test(test_on_ram_with_data),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
