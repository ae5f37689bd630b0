/* test-lifecycle-random.c - seeded random request streams racing with
 * disconnect and close.
 *
 * Each seed opens a small ramdisk (through safe on even seeds, raw on
 * odd ones) and submits random bursts of every operation, including
 * disconnects and one or two closes; callbacks submit further bursts at
 * random (as retry loops and pipelines do), including after close has
 * begun. Checked for every request: mblk_* returned 0 and the callback
 * ran exactly once, never inside a submitting call and never after a
 * close callback; every close callback ran; the loop ends and closes
 * (no handle left). Under ASan (scripts/test.sh) any completion on a
 * freed device shows up too. The seed is printed on failure;
 * MBLK_TEST_SEEDS=N sets how many run (default 1500, well under 2 s). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk.h>

#define MAX_TOKENS 4096

struct token {
	bool submitted, done;
};

static struct {
	uint64_t rnd;
	int seed;
	mblk_dev *dev;
	bool in_call; /* inside an mblk_* call */
	int closes, closed, ntok, depth;
	struct token tok[MAX_TOKENS];
	char buf[4096];
	struct iovec iov;
} S;

static uint64_t rnd(void)
{
	S.rnd ^= S.rnd << 13;
	S.rnd ^= S.rnd >> 7;
	S.rnd ^= S.rnd << 17;
	return S.rnd;
}

static void burst(void);

static void check_cb(struct token *t)
{
	if (S.in_call || t->done || S.closed > 0)
		print_error("seed %d: request %d: callback %s\n", S.seed,
			    (int)(t - S.tok),
			    S.in_call ? "inside a submitting call"
			    : t->done ? "twice"
				      : "after the close callback");
	assert_false(S.in_call);
	assert_false(t->done);
	assert_int_equal(S.closed, 0);
	t->done = true;
	/* Sometimes answer with more requests, as a pipeline would. */
	if (S.depth < 20 && rnd() % 3 == 0) {
		S.depth++;
		burst();
		S.depth--;
	}
}

static void req_cb(void *data, int status, const char *error)
{
	(void)status;
	(void)error;
	check_cb(data);
}

static void seek_cb(void *data, int status, uint64_t sector, const char *error)
{
	(void)status;
	(void)sector;
	(void)error;
	check_cb(data);
}

static void close_cb(void *data, int status, const char *error)
{
	(void)data;
	(void)error;
	assert_false(S.in_call);
	assert_int_equal(status, 0);
	S.closed++;
}

/* Submits 0 to 3 random requests; may start a close (at most two). */
static void burst(void)
{
	int n = (int)(rnd() % 4);
	for (int i = 0; i < n && S.ntok < MAX_TOKENS && S.closed == 0; i++) {
		struct token *t = &S.tok[S.ntok++];
		uint64_t s = rnd() % 16, c = rnd() % 8;
		int r = 0;
		S.in_call = true;
		switch (rnd() % 9) {
		case 0: r = mblk_read(S.dev, s, &S.iov, 1, req_cb, t); break;
		case 1:
			r = mblk_write(S.dev, s, &S.iov, 1, rnd() % 2, req_cb,
				       t);
			break;
		case 2: r = mblk_flush(S.dev, req_cb, t); break;
		case 3: r = mblk_discard(S.dev, s, c, req_cb, t); break;
		case 4:
			r = mblk_write_zeroes(S.dev, s, c, rnd() % 2, req_cb,
					      t);
			break;
		case 5: r = mblk_seek_mapped(S.dev, s * 2, seek_cb, t); break;
		case 6:
			r = mblk_resize(S.dev, 16 + rnd() % 2, req_cb, t);
			break;
		case 7: r = mblk_disconnect(S.dev, req_cb, t); break;
		default:
			t->done = true; /* not a request */
			if (S.closes < 2 && rnd() % 4 == 0) {
				S.closes++;
				mblk_close(S.dev, close_cb, NULL);
			}
			break;
		}
		S.in_call = false;
		assert_int_equal(r, 0);
	}
}

static void run_seed(int seed)
{
	uv_loop_t loop;
	memset(&S, 0, sizeof(S));
	S.seed = seed;
	S.rnd = (uint64_t)seed * 2654435761u + 1;
	S.iov.iov_base = S.buf;
	S.iov.iov_len = sizeof(S.buf);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mblk_open_sync(&loop, "ram:?size=8K",
					seed % 2 ? MBLK_OPEN_NO_SAFE : 0,
					&S.dev),
			 0);
	for (int k = 0; k < 5 && S.closed == 0; k++) {
		burst();
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	if (S.closes == 0) {
		S.closes++;
		mblk_close(S.dev, close_cb, NULL);
	}
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	for (int i = 0; i < S.ntok; i++) {
		if (!S.tok[i].done)
			print_error("seed %d: request %d: no callback\n", seed,
				    i);
		assert_true(S.tok[i].done);
	}
	if (S.closed != S.closes)
		print_error("seed %d: %d close callbacks for %d closes\n", seed,
			    S.closed, S.closes);
	assert_int_equal(S.closed, S.closes);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_random_lifecycles(void **state)
{
	(void)state;
	const char *env = getenv("MBLK_TEST_SEEDS");
	int seeds = env ? atoi(env) : 1500;
	for (int seed = 1; seed <= seeds; seed++)
		run_seed(seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_lifecycles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
