/* test-mirror-bounds.c - the mirror's time bounds: it converges under a
 * rate limit while a client outruns the copy, it stops promptly whatever
 * the rate timer says, and a pivot whose destination hangs gives up.
 *
 *   converge  a 4 MiB mirror copied at 1 MiB/s while a writer re-dirties
 *             every chunk many times a second: the copy alone takes 4 s;
 *             the mirror must switch to active mode by itself early and be
 *             in sync within 8 s (about 5 s here; judging only at the end
 *             of whole passes, as the mirror did before, took 11 s).
 *             Then the two devices are equal.
 *   stop      at 4 KiB/s the first copy operation leaves the rate in debt
 *             for minutes: set_rate to a fast rate must let the copy go
 *             on at once (in sync within 2 s), and cancel and close must
 *             each take well under a second.
 *   pivot     the destination's flushes hang (a fault device delays them
 *             5 s); with pivot-timeout=300 ms the pivot fails with
 *             -ETIMEDOUT and a sentence within a second, writes parked
 *             during it complete, the mirror is still in sync and still
 *             mirroring; a pivot while the stale flush is out times out
 *             draining; one whose last flush (inside the pause) hangs
 *             times out too; one after the stale flushes are back
 *             succeeds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BLK 4096u
#define QD 8

static uv_loop_t loop;

/* Wakes the loop every 10 ms so that run_until's deadline is checked
 * even when the only other timer is minutes away; unreferenced, so it
 * never keeps the loop alive by itself. */
static uv_timer_t wake;

static void wake_cb(uv_timer_t *t)
{
	(void)t;
}

static double now_s(void)
{
	return (double)uv_hrtime() / 1e9;
}

/* A writer of random 4 KiB blocks paced by a 1 ms timer: up to 4 new
 * writes a tick, QD at most in flight. */
struct writer {
	mblk_dev *dev;
	uint64_t seed, nblk;
	uv_timer_t timer;
	int inflight, failures;
	uint64_t acked;
	bool stop;
	char last_err[512];
	struct wslot {
		struct writer *w;
		char buf[BLK];
		struct iovec iov;
		bool busy;
	} slots[QD];
};

static void writer_done(void *data, int status, const char *error)
{
	struct wslot *s = data;
	struct writer *w = s->w;
	s->busy = false;
	w->inflight--;
	if (status < 0) {
		w->failures++;
		snprintf(w->last_err, sizeof(w->last_err), "%s", error);
	} else {
		w->acked++;
	}
}

static void writer_tick(uv_timer_t *t)
{
	struct writer *w = t->data;
	int started = 0;
	for (int i = 0; i < QD && started < 4 && !w->stop; i++) {
		struct wslot *s = &w->slots[i];
		if (s->busy)
			continue;
		uint64_t b = rng_below(&w->seed, w->nblk);
		for (unsigned k = 0; k < BLK; k += 8) {
			uint64_t v = rng_next(&w->seed);
			memcpy(s->buf + k, &v, 8);
		}
		s->w = w;
		s->iov.iov_base = s->buf;
		s->iov.iov_len = BLK;
		CHECK(mblk_write(w->dev, b * (BLK / 512), &s->iov, 1, 0,
				 writer_done, s) == 0,
		      "submit: %s", mblk_last_error());
		s->busy = true;
		w->inflight++;
		started++;
	}
}

static void writer_start(struct writer *w, mblk_dev *dev, uint64_t bytes,
			 uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->dev = dev;
	w->seed = seed;
	w->nblk = bytes / BLK;
	uv_timer_init(&loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, writer_tick, 1, 1);
}

/* Stops writing and waits for the writes in flight. */
static void writer_stop(struct writer *w)
{
	w->stop = true;
	uv_timer_stop(&w->timer);
	uint64_t deadline = uv_hrtime() + 10000000000ull;
	while (w->inflight > 0) {
		CHECK(uv_hrtime() < deadline, "writes stopped completing");
		uv_run(&loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&w->timer, NULL);
	CHECK(w->failures == 0, "%d writes failed; the last: %s", w->failures,
	      w->last_err);
}

/* ------------------------------------------------------------------ */

static void converge_under_rate(uint64_t seed)
{
	const uint64_t bytes = 4u << 20, rate = 1u << 20;
	mblk_dev *p = ram(&loop, bytes, 512), *s = ram(&loop, bytes, 512), *m;
	uint64_t fs = seed;
	fill_pattern(p, &fs, 100);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .rate = rate };
	CHECK_EQ(mblk_mirror_open(p, s, &o, record_event, &ev, &m), 0);
	struct writer w;
	writer_start(&w, m, bytes, seed * 31 + 7);
	double t0 = now_s();
	run_until(&loop, &ev.done, 8000,
		  "the rate-limited mirror to converge under a writer");
	double took = now_s() - t0;
	CHECK(ev.complete == 1 && ev.failed == 0, "complete %d, failed %d: %s",
	      ev.complete, ev.failed, ev.msg);
	CHECK(ev.active == 1, "in sync without switching to active mode");
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(m, &pr), 0);
	CHECK_EQ(pr.state, MBLK_MIRROR_SYNCED);
	printf("converge: in sync after %.2f s, %u passes, %" PRIu64
	       " client writes\n",
	       took, pr.passes, w.acked);
	CHECK(w.acked > 1000, "the writer wrote only %" PRIu64 " blocks",
	      w.acked);
	/* Writing on in sync, then the devices must be equal. */
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_ONCE);
	writer_stop(&w);
	CHECK(same_contents(p, s), "the devices differ after the sync");
	close_dev(&loop, m);
}

static void stop_promptly(uint64_t seed, int how)
{
	const uint64_t bytes = 4u << 20;
	mblk_dev *p = ram(&loop, bytes, 512), *s = ram(&loop, bytes, 512), *m;
	uint64_t fs = seed;
	fill_pattern(p, &fs, 100);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .rate = 4096 };
	CHECK_EQ(mblk_mirror_open(p, s, &o, record_event, &ev, &m), 0);
	/* The first operation runs; the bucket is then in debt for 256 s. */
	uint64_t until = uv_hrtime() + 100000000ull;
	while (uv_hrtime() < until)
		uv_run(&loop, UV_RUN_NOWAIT);
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(m, &pr), 0);
	CHECK(pr.bytes_read > 0 && pr.bytes_read < bytes,
	      "read %" PRIu64 " bytes in 100 ms at 4 KiB/s", pr.bytes_read);
	double t0 = now_s();
	if (how == 0) {
		/* A faster rate applies at once, debt or not. */
		CHECK_EQ(mblk_mirror_set_rate(m, 64u << 20), 0);
		run_until(&loop, &ev.done, 2000,
			  "the copy to go on after set_rate raised the rate");
		CHECK_EQ(ev.complete, 1);
		CHECK(same_contents(p, s), "the devices differ");
		printf("stop: set_rate: in sync %.3f s later\n", now_s() - t0);
		close_dev(&loop, m);
		return;
	}
	if (how == 1) {
		CHECK_EQ(mblk_mirror_cancel(m), 0);
		CHECK_EQ(ev.cancelled, 1);
	}
	/* Close: run the loop until the mirror is gone; nothing else holds
	 * the loop, so a rate timer left armed would keep it running. */
	mblk_close(m, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	double took = now_s() - t0;
	printf("stop: %s took %.3f s\n",
	       how == 1 ? "cancel then close" : "close", took);
	CHECK(took < 0.5, "%s during a rate-limited copy took %.3f s",
	      how == 1 ? "cancel and close" : "close", took);
}

struct pivot_result {
	bool done;
	int status;
	char err[512];
	double at;
};

static void pivot_cb(void *data, int status, mblk_dev *primary,
		     const char *error)
{
	struct pivot_result *r = data;
	(void)primary;
	r->done = true;
	r->status = status;
	r->at = now_s();
	snprintf(r->err, sizeof(r->err), "%s", error ? error : "");
}

struct one_write {
	bool done;
	int status;
	double at;
};

static void one_write_done(void *data, int status, const char *error)
{
	struct one_write *x = data;
	(void)error;
	x->done = true;
	x->status = status;
	x->at = now_s();
}

static void pivot_hangs(void)
{
	const uint64_t bytes = 1u << 20;
	mblk_dev *p = ram(&loop, bytes, 512), *sr = ram(&loop, bytes, 512);
	mblk_dev *s, *m;
	CHECK_EQ(mblk_fault_wrap(sr, NULL, 0, &s), 0);
	uint64_t fs = 3;
	fill_pattern(p, &fs, 50);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .pivot_timeout_ms = 300 };
	CHECK_EQ(mblk_mirror_open(p, s, &o, record_event, &ev, &m), 0);
	run_until(&loop, &ev.done, 10000, "sync");
	CHECK_EQ(ev.complete, 1);
	/* The destination's flushes now take 5 s. */
	struct mblk_fault_rule hang = { .ops = MBLK_FAULT_FLUSH,
					.delay_us = 5000000 };
	CHECK_EQ(mblk_fault_set_rules(s, &hang, 1), 0);
	struct pivot_result pr = { 0 };
	double t0 = now_s();
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr), 0);
	/* A write arriving during the pivot is parked, then served. */
	char buf[BLK];
	memset(buf, 0x6b, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	struct one_write wr = { 0 };
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_EQ(mblk_write(m, 64, &iov, 1, 0, one_write_done, &wr), 0);
	run_until(&loop, &pr.done, 2000, "the pivot to give up");
	double took = pr.at - t0;
	printf("pivot: gave up after %.3f s: %s\n", took, pr.err);
	CHECK(pr.status == -ETIMEDOUT, "pivot status %d (%s)", pr.status,
	      pr.err);
	CHECK(took >= 0.29 && took < 1.0, "the pivot gave up after %.3f s",
	      took);
	CHECK(strstr(pr.err, "cannot pivot onto") && strstr(pr.err, "300 ms"),
	      "the sentence: %s", pr.err);
	run_until(&loop, &wr.done, 1000, "the write parked by the pivot");
	CHECK_EQ(wr.status, 0);
	struct mblk_mirror_progress prog;
	CHECK_EQ(mblk_mirror_get_progress(m, &prog), 0);
	CHECK_EQ(prog.state, MBLK_MIRROR_SYNCED);
	CHECK_EQ(ev.switched, 0);
	/* Still mirroring: a write reaches both devices. */
	memset(buf, 0x2c, sizeof(buf));
	CHECK_EQ(mblk_write_sync(m, 128, &iov, 1, 0), 0);
	CHECK(same_contents(p, sr), "the devices differ after the timeout");
	/* Flushes work again; a second pivot waits for the stale flush of
	 * the first (it is still in flight on the destination) and
	 * succeeds. */
	CHECK_EQ(mblk_fault_set_rules(s, NULL, 0), 0);
	struct pivot_result pr2 = { 0 };
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr2), 0);
	run_until(&loop, &pr2.done, 2000, "the second pivot");
	/* The stale flush takes 5 s from the first pivot: the second, with
	 * 300 ms, times out while it is in flight. */
	CHECK(pr2.status == -ETIMEDOUT, "second pivot: %d %s", pr2.status,
	      pr2.err);
	uint64_t until = uv_hrtime() + 5000000000ull;
	while (uv_hrtime() < until)
		uv_run(&loop, UV_RUN_ONCE);
	/* Now the pre-flush passes and the final flush, inside the pause,
	 * hangs: the same bound, with requests parked. */
	struct mblk_fault_rule late = { .ops = MBLK_FAULT_FLUSH,
					.after = 1,
					.delay_us = 5000000 };
	CHECK_EQ(mblk_fault_set_rules(s, &late, 1), 0);
	struct pivot_result pr2b = { 0 };
	t0 = now_s();
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr2b), 0);
	run_until(&loop, &pr2b.done, 2000, "the pivot with a hung last flush");
	CHECK(pr2b.status == -ETIMEDOUT && strstr(pr2b.err, "flush did not"),
	      "pivot with a hung last flush: %d %s", pr2b.status, pr2b.err);
	CHECK(pr2b.at - t0 < 1.0, "gave up after %.3f s", pr2b.at - t0);
	CHECK_EQ(mblk_fault_set_rules(s, NULL, 0), 0);
	CHECK_EQ(mblk_write_sync(m, 256, &iov, 1, 0), 0);
	CHECK(same_contents(p, sr), "the devices differ after the timeout");
	until = uv_hrtime() + 5000000000ull;
	while (uv_hrtime() < until)
		uv_run(&loop, UV_RUN_ONCE);
	struct pivot_result pr3 = { 0 };
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr3), 0);
	run_until(&loop, &pr3.done, 2000, "the third pivot");
	CHECK(pr3.status == 0, "third pivot: %d %s", pr3.status, pr3.err);
	CHECK_EQ(ev.switched, 1);
	close_dev(&loop, m);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "all";
	uint64_t seed = 1;
	const char *env = getenv("MBLK_TEST_SEED");
	if (env)
		seed = strtoull(env, NULL, 0);
	printf("seed %" PRIu64 "\n", seed);
	CHECK_EQ(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &wake);
	uv_timer_start(&wake, wake_cb, 10, 10);
	uv_unref((uv_handle_t *)&wake);
	bool all = strcmp(only, "all") == 0;
	if (all || strcmp(only, "converge") == 0)
		converge_under_rate(seed);
	if (all || strcmp(only, "stop") == 0) {
		stop_promptly(seed, 2);
		stop_promptly(seed, 1);
		stop_promptly(seed, 0);
	}
	if (all || strcmp(only, "pivot") == 0)
		pivot_hangs();
	uv_close((uv_handle_t *)&wake, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("mirror-bounds: ok\n");
	return 0;
}
