/* test-pool.c - unit tests of the request pool, through the backend API.
 *
 * A tiny test device ("holder") keeps every read it is given instead of
 * completing it, so the test controls how many requests are in flight.
 * Checked: more requests than a slab (16) are handed out, all distinct;
 * each request's context is aligned for any type and does not overlap
 * another's; completed requests go back to the pool and are reused; in
 * steady state the pool does not grow; mblk_req_alloc clears the fields
 * a device reads. The pool's slab count is read from the private
 * struct mblk_dev (src/core/core.h) because growth is what is tested.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include "core/core.h"

#define CTX_SIZE 40 /* deliberately not a multiple of 16 */
#define MAX_HELD 256

struct holder {
	mblk_req *held[MAX_HELD];
	int nheld;
};

static void holder_read(mblk_dev *dev, mblk_req *req)
{
	struct holder *h = mblk_dev_priv(dev);
	assert_true(h->nheld < MAX_HELD);
	h->held[h->nheld++] = req;
}

static const struct mblk_dev_ops holder_ops = {
	.kind = "holder",
	.req_ctx_size = CTX_SIZE,
	.read = holder_read,
};

struct fixture {
	uv_loop_t loop;
	struct holder h;
	mblk_dev *dev;
	int completed;
	char buf[512];
	struct iovec iov;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	struct mblk_info info = {
		.size_sectors = 1024,
		.sector_size = 512,
		.read_write = true,
	};
	assert_int_equal(mblk_dev_create(&f->loop, &holder_ops, &f->h,
					 "holder0", &info, NULL, 0, 0, &f->dev),
			 0);
	f->iov.iov_base = f->buf;
	f->iov.iov_len = sizeof(f->buf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mblk_close(f->dev, NULL, NULL);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void count_cb(void *data, int status, const char *error)
{
	struct fixture *f = data;
	if (status != 0)
		print_error("unexpected failure: %s\n", error);
	assert_int_equal(status, 0);
	f->completed++;
}

/* Submits n reads; they stay held by the device. */
static void submit_reads(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(mblk_read(f->dev, (uint64_t)i, &f->iov, 1,
					   count_cb, f),
				 0);
	assert_int_equal(f->h.nheld, n);
	assert_int_equal(mblk_dev_inflight(f->dev), (uint64_t)n);
}

/* Completes every held request (outside any submission) and runs the
 * loop so that their callbacks are delivered. */
static void complete_all(struct fixture *f)
{
	int n = f->h.nheld, before = f->completed;
	for (int i = 0; i < n; i++)
		mblk_req_done(f->h.held[i], 0);
	f->h.nheld = 0;
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->completed - before, n);
	assert_int_equal(mblk_dev_inflight(f->dev), 0);
}

static bool in_set(mblk_req *const *set, int n, const mblk_req *r)
{
	for (int i = 0; i < n; i++)
		if (set[i] == r)
			return true;
	return false;
}

static void test_more_than_a_slab(void **state)
{
	struct fixture *f = *state;
	enum { N = 40 }; /* 2.5 slabs of 16 */
	submit_reads(f, N);
	assert_int_equal(f->dev->nslabs, 3);
	for (int i = 0; i < N; i++) {
		mblk_req *r = f->h.held[i];
		assert_ptr_equal(r->dev, f->dev);
		assert_int_equal(r->op, MBLK_OP_READ);
		assert_int_equal(r->sector, (uint64_t)i);
		assert_int_equal(r->count, 1);
		assert_false(in_set(f->h.held, i, r)); /* distinct */
	}
	complete_all(f);
}

static void test_ctx_alignment_and_disjoint(void **state)
{
	struct fixture *f = *state;
	enum { N = 33 };
	submit_reads(f, N);
	/* Fill every context with its own pattern, then check none was
	 * overwritten by a neighbour: contexts must not overlap each
	 * other or the next request's header. */
	for (int i = 0; i < N; i++) {
		unsigned char *ctx = mblk_req_ctx(f->h.held[i]);
		assert_int_equal((uintptr_t)ctx % alignof(max_align_t), 0);
		memset(ctx, 0xa0 + i, CTX_SIZE);
	}
	for (int i = 0; i < N; i++) {
		const unsigned char *ctx = mblk_req_ctx(f->h.held[i]);
		for (int j = 0; j < CTX_SIZE; j++)
			assert_int_equal(ctx[j], (unsigned char)(0xa0 + i));
		assert_ptr_equal(f->h.held[i]->dev, f->dev);
		assert_int_equal(f->h.held[i]->sector, (uint64_t)i);
	}
	complete_all(f);
}

static void test_reuse_no_growth(void **state)
{
	struct fixture *f = *state;
	enum { N = 48 }; /* exactly 3 slabs */
	mblk_req *first[N];

	submit_reads(f, N);
	memcpy(first, f->h.held, sizeof(first));
	size_t slabs = f->dev->nslabs;
	assert_int_equal(slabs, 3);
	complete_all(f);

	/* Steady state: the same requests come back and the pool does not
	 * grow, however many rounds run. */
	for (int round = 0; round < 200; round++) {
		submit_reads(f, N);
		for (int i = 0; i < N; i++)
			assert_true(in_set(first, N, f->h.held[i]));
		complete_all(f);
		assert_int_equal(f->dev->nslabs, slabs);
	}
	/* A smaller load reuses too. */
	submit_reads(f, 5);
	complete_all(f);
	assert_int_equal(f->dev->nslabs, slabs);
	/* A bigger one grows by whole slabs only. */
	submit_reads(f, N + 1);
	assert_int_equal(f->dev->nslabs, slabs + 1);
	complete_all(f);
}

static void test_alloc_clears(void **state)
{
	struct fixture *f = *state;
	mblk_req *r = mblk_req_alloc(f->dev);
	assert_non_null(r);
	/* Dirty it, free it, get it back: the meaning fields are reset. */
	r->op = MBLK_OP_DISCARD;
	r->flags = 7;
	r->sector = 99;
	r->count = 5;
	r->iov = &f->iov;
	r->iovcnt = 1;
	r->status = -EIO;
	r->result = 123;
	r->done_data = f;
	strcpy(r->msg, "stale");
	mblk_req_free(r);
	mblk_req *r2 = mblk_req_alloc(f->dev);
	assert_ptr_equal(r2, r); /* LIFO free list: the hot one first */
	assert_ptr_equal(r2->dev, f->dev);
	assert_int_equal(r2->op, MBLK_OP_READ);
	assert_int_equal(r2->flags, 0);
	assert_int_equal(r2->sector, 0);
	assert_int_equal(r2->count, 0);
	assert_null(r2->iov);
	assert_int_equal(r2->iovcnt, 0);
	assert_int_equal(r2->status, 0);
	assert_int_equal(r2->result, 0);
	assert_null(r2->done_data);
	assert_string_equal(r2->msg, "");
	mblk_req_free(r2);
}

/* Child requests from mblk_req_alloc go through the same pool. */
static void child_done(mblk_req *req)
{
	int *n = req->done_data;
	assert_int_equal(req->status, 0);
	(*n)++;
	mblk_req_free(req);
}

static void test_submit_child(void **state)
{
	struct fixture *f = *state;
	int done = 0;
	for (int i = 0; i < 20; i++) {
		mblk_req *r = mblk_req_alloc(f->dev);
		assert_non_null(r);
		r->op = MBLK_OP_READ;
		r->sector = (uint64_t)i;
		r->count = 1;
		r->iov = &f->iov;
		r->iovcnt = 1;
		mblk_req_submit(r, child_done, &done);
	}
	assert_int_equal(f->h.nheld, 20);
	assert_int_equal(done, 0); /* never inside submit */
	for (int i = 0; i < 20; i++)
		mblk_req_done(f->h.held[i], 0);
	f->h.nheld = 0;
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(done, 20);
	assert_int_equal(f->dev->nslabs, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_more_than_a_slab, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ctx_alignment_and_disjoint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_no_growth, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_alloc_clears, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_submit_child, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
