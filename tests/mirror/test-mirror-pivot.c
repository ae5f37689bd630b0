/* test-mirror-pivot.c - mblk_mirror_pivot, mblk_mirror_cancel and
 * mblk_mirror_set_rate.
 *
 * The main case: a writer keeps QD writes in flight on the mirror, each
 * block tagged with (block, generation); once the mirror is in sync the
 * pivot is asked for in the middle of the stream, and writing goes on
 * after it. Every write must succeed, and at the end every block must
 * read back the last generation written to it, both through the mirror
 * device (now the secondary) and from the secondary itself (a second
 * handle on the named ramdisk). The primary handed back must hold every
 * write acknowledged before the pivot. Seeded; several sector-size pairs.
 *
 * Also: a pivot before sync is refused with a sentence and changes
 * nothing; a pivot whose flush of the secondary fails leaves the mirror
 * serving as before; after a pivot the URI is the secondary's and a
 * second pivot is refused; cancel stops the copy and leaves the secondary
 * alone; resume after a failure and after a cancel copies everything
 * again, writes made while stopped included.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BLK 4096u
#define NBLK 256u /* 1 MiB */
#define QD 16

static uv_loop_t loop;

/* A recording decorator put over the secondary: it counts writes in
 * flight and notes a flush submitted while any is, which would break the
 * pivot's promise (a write acknowledged before the pivot is reported is
 * covered by its flush). */
struct rec {
	int writes_inflight;
	int flushes, flushes_racing;
	bool last_racing; /* the latest flush met writes in flight */
	bool watch; /* count racing flushes only once the pivot is asked */
};

static void rec_done(mblk_req *c)
{
	mblk_req *parent = c->done_data;
	struct rec *r = mblk_dev_priv(parent->dev);
	if (parent->op != MBLK_OP_FLUSH)
		r->writes_inflight--;
	mblk_req_done_from(parent, c);
	mblk_req_free(c);
}

static void rec_op(mblk_dev *dev, mblk_req *req)
{
	struct rec *r = mblk_dev_priv(dev);
	mblk_req *c = mblk_req_alloc(mblk_dev_child(dev, 0));
	CHECK(c != NULL, "no memory");
	mblk_req_copy(c, req);
	if (req->op == MBLK_OP_FLUSH) {
		r->flushes++;
		/* The sync flush and the pivot's pre-flush may meet dual
		 * writes in flight (they are not acknowledged yet, so they
		 * owe them nothing); the pivot's last flush must not. */
		r->last_racing = r->writes_inflight > 0;
		if (r->watch && r->last_racing)
			r->flushes_racing++;
	} else {
		r->writes_inflight++;
	}
	mblk_req_submit(c, rec_done, req);
}

static const struct mblk_dev_ops rec_ops = {
	.kind = "rec",
	.write = rec_op,
	.flush = rec_op,
	.discard = rec_op,
	.write_zeroes = rec_op,
};

static mblk_dev *rec_wrap(mblk_dev *inner, struct rec *r)
{
	struct mblk_info in;
	mblk_get_info(inner, &in);
	in.caps |= MBLK_CAP_FLUSH;
	mblk_dev *d;
	CHECK_EQ(mblk_dev_create(&loop, &rec_ops, r, "rec", &in, &inner, 1, 0,
				 &d),
		 0);
	return d;
}

struct writer {
	mblk_dev *dev;
	uint64_t seed;
	uint32_t gen[NBLK]; /* last generation acknowledged per block */
	uint32_t next_gen;
	int inflight, failures;
	uint64_t acked, target;
	char last_err[512];
	struct slot {
		struct writer *w;
		uint32_t blk, gen;
		char buf[BLK];
		struct iovec iov;
		bool busy;
	} slots[QD];
	/* Blocks with a write in flight are not written again until it
	 * finishes: the last generation acknowledged is then the block's. */
	bool busy_blk[NBLK];
};

static void fill_block(char *buf, uint32_t blk, uint32_t gen)
{
	for (unsigned i = 0; i < BLK; i += 8) {
		uint32_t v[2] = { blk, gen };
		memcpy(buf + i, v, 8);
	}
}

static void writer_pump(struct writer *w);

static void write_done(void *data, int status, const char *error)
{
	struct slot *s = data;
	struct writer *w = s->w;
	s->busy = false;
	w->busy_blk[s->blk] = false;
	w->inflight--;
	if (status < 0) {
		w->failures++;
		snprintf(w->last_err, sizeof(w->last_err), "%s", error);
	} else {
		w->gen[s->blk] = s->gen;
		w->acked++;
	}
	writer_pump(w);
}

static void writer_pump(struct writer *w)
{
	for (int i = 0; i < QD && w->acked + (uint64_t)w->inflight < w->target;
	     i++) {
		struct slot *s = &w->slots[i];
		if (s->busy)
			continue;
		uint32_t b = (uint32_t)rng_below(&w->seed, NBLK);
		if (w->busy_blk[b])
			continue;
		s->w = w;
		s->blk = b;
		s->gen = ++w->next_gen;
		fill_block(s->buf, b, s->gen);
		s->iov.iov_base = s->buf;
		s->iov.iov_len = BLK;
		struct mblk_info in;
		mblk_get_info(w->dev, &in);
		unsigned flags = rng_below(&w->seed, 8) == 0 ? MBLK_WRITE_FUA
							     : 0;
		int r = mblk_write(w->dev, (uint64_t)b * BLK / in.sector_size,
				   &s->iov, 1, flags, write_done, s);
		CHECK(r == 0, "submit: %s", mblk_last_error());
		s->busy = true;
		w->busy_blk[b] = true;
		w->inflight++;
	}
}

/* Every block of d holds generation gen[b] of block b (0: zeros). */
static void check_generations(mblk_dev *d, const uint32_t *gen,
			      const char *what)
{
	struct mblk_info in;
	mblk_get_info(d, &in);
	char *buf = malloc(BLK), *want = malloc(BLK);
	for (uint32_t b = 0; b < NBLK; b++) {
		struct iovec iov = { buf, BLK };
		CHECK(mblk_read_sync(d, (uint64_t)b * BLK / in.sector_size,
				     &iov, 1) == 0,
		      "%s: read: %s", what, mblk_last_error());
		if (gen[b] == 0)
			memset(want, 0, BLK);
		else
			fill_block(want, b, gen[b]);
		if (memcmp(buf, want, BLK) != 0) {
			uint32_t got[2];
			memcpy(got, buf, 8);
			CHECK(false,
			      "%s: block %u holds block %u generation %u, "
			      "expected generation %u",
			      what, b, got[0], got[1], gen[b]);
		}
	}
	free(buf);
	free(want);
}

struct pivot_result {
	bool done;
	int status;
	mblk_dev *primary;
	char err[512];
	uint64_t acked_at_pivot;
	uint32_t gen_at_pivot[NBLK];
	struct writer *w;
};

static void pivot_cb(void *data, int status, mblk_dev *primary,
		     const char *error)
{
	struct pivot_result *p = data;
	p->done = true;
	p->status = status;
	p->primary = primary;
	snprintf(p->err, sizeof(p->err), "%s", error ? error : "");
	if (p->w != NULL) {
		p->acked_at_pivot = p->w->acked;
		memcpy(p->gen_at_pivot, p->w->gen, sizeof(p->gen_at_pivot));
	}
}

/* The pivot under load, primary sector size pss, secondary sss. */
static void pivot_under_load(uint64_t seed, uint32_t pss, uint32_t sss)
{
	char pn[64], sn[64];
	snprintf(pn, sizeof(pn), "pivot-p-%" PRIu64, seed);
	snprintf(sn, sizeof(sn), "pivot-s-%" PRIu64, seed);
	mblk_dev *p, *sr, *sf, *s, *m, *s2;
	CHECK_EQ(mblk_ram_create(&loop, pn, NBLK * BLK / pss, pss, &p), 0);
	CHECK_EQ(mblk_ram_create(&loop, sn, NBLK * BLK / sss, sss, &sr), 0);
	/* The secondary's writes take a millisecond, one in three: writes
	 * are in flight on it when the pivot starts. */
	struct mblk_fault_rule slow = { .ops = MBLK_FAULT_WRITE,
					.every = 3,
					.delay_us = 1000 };
	CHECK_EQ(mblk_fault_wrap(sr, &slow, 1, &sf), 0);
	struct rec rec = { 0 };
	s = rec_wrap(sf, &rec);
	uint64_t fs = seed;
	fill_pattern(p, &fs, 30);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .chunk_bytes = 16384 };
	CHECK_EQ(mblk_mirror_open(p, s, &o, record_event, &ev, &m), 0);

	/* Before sync (the first loop iteration has not run): refused. */
	struct pivot_result early = { 0 };
	int r = mblk_mirror_pivot(m, 0, pivot_cb, &early);
	CHECK(r == -EBUSY && strstr(mblk_last_error(), "in sync"),
	      "early pivot: %d %s", r, mblk_last_error());

	struct writer *w = calloc(1, sizeof(*w));
	w->dev = m;
	w->seed = seed * 7919 + 1;
	w->target = 3000;
	/* Every block gets a known generation through the mirror while it
	 * copies the fill underneath. */
	uint32_t mss = pss > sss ? pss : sss;
	for (uint32_t b = 0; b < NBLK; b++) {
		char blk[BLK];
		fill_block(blk, b, ++w->next_gen);
		struct iovec iov = { blk, BLK };
		CHECK_EQ(mblk_write_sync(m, (uint64_t)b * BLK / mss, &iov, 1,
					 0),
			 0);
		w->gen[b] = w->next_gen;
	}
	run_until(&loop, &ev.done, 20000, "sync");
	CHECK_EQ(ev.complete, 1);

	writer_pump(w);
	/* Pivot after a few hundred writes, in the middle of the stream. */
	while (w->acked < 400)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(w->inflight > 0, "no write in flight when the pivot starts");
	struct pivot_result pr = { .w = w };
	rec.watch = true;
	int flushes_before = rec.flushes;
	CHECK_EQ(mblk_mirror_pivot(m, MBLK_MIRROR_PIVOT_KEEP_PRIMARY, pivot_cb,
				   &pr),
		 0);
	CHECK(!pr.done, "the pivot's callback ran inside the call");
	/* A second pivot while one is under way. */
	struct pivot_result again = { 0 };
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &again), -EALREADY);
	run_until(&loop, &pr.done, 20000, "pivot");
	CHECK(pr.status == 0, "pivot: %d %s", pr.status, pr.err);
	/* The pre-flush (writes still flowing: it may race them), then the
	 * flush inside the pause, which must not. */
	CHECK(rec.flushes >= flushes_before + 2,
	      "the pivot flushed the secondary %d times, not twice",
	      rec.flushes - flushes_before);
	CHECK(!rec.last_racing,
	      "the pivot's last flush of the secondary was issued with writes "
	      "in flight on it: the pivot did not wait for them");
	CHECK(rec.flushes_racing <= 1,
	      "%d flushes of the secondary met writes in flight; only the "
	      "pre-flush may",
	      rec.flushes_racing);
	CHECK(pr.primary == p, "the primary handed back is not the primary");
	/* New writes waited for the pivot rather than keeping it from ever
	 * draining: it finished while the writer was still writing. */
	CHECK(pr.acked_at_pivot < w->target - QD,
	      "the pivot finished only after %" PRIu64 " of %" PRIu64
	      " writes: new requests were not held back",
	      pr.acked_at_pivot, w->target);
	CHECK_EQ(ev.switched, 1);
	/* Writing goes on, to the secondary now. */
	uint64_t deadline = uv_hrtime() + 20000000000ull;
	while (w->acked + (uint64_t)w->failures < w->target ||
	       w->inflight > 0) {
		CHECK(uv_hrtime() < deadline,
		      "writes stopped completing after the pivot (%" PRIu64
		      " of %" PRIu64 " acknowledged)",
		      w->acked, w->target);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	CHECK(w->failures == 0, "%d writes failed; the last: %s", w->failures,
	      w->last_err);

	struct mblk_mirror_progress prog;
	CHECK_EQ(mblk_mirror_get_progress(m, &prog), 0);
	CHECK_EQ(prog.state, MBLK_MIRROR_PIVOTED);
	char uri[512], suri[512];
	CHECK(mblk_get_uri(m, uri, sizeof(uri)) > 0, "uri");
	CHECK(mblk_get_uri(sr, suri, sizeof(suri)) > 0, "uri");
	CHECK(strstr(uri, "ram:pivot-s-") != NULL,
	      "after the pivot the URI is %s, not the secondary's (%s)", uri,
	      suri);
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &again), -EALREADY);
	CHECK_EQ(mblk_mirror_cancel(m), -EALREADY);

	/* Every write is on the secondary: through the mirror and from a
	 * handle of its own. The primary holds what was acknowledged by the
	 * time the pivot was reported. */
	check_generations(m, w->gen, "the mirror after the pivot");
	CHECK_EQ(mblk_ram_connect(&loop, sn, &s2), 0);
	check_generations(s2, w->gen, "the secondary");
	check_generations(p, pr.gen_at_pivot, "the primary handed back");
	close_dev(&loop, s2);
	close_dev(&loop, p);
	close_dev(&loop, m);
	mblk_ram_destroy(pn);
	mblk_ram_destroy(sn);
	free(w);
}

/* The secondary's flush fails: the pivot fails, the mirror serves on. */
static void pivot_flush_fails(void)
{
	mblk_dev *p = ram(&loop, NBLK * BLK, 512), *m;
	mblk_dev *sr = ram(&loop, NBLK * BLK, 512), *s;
	struct mblk_fault_rule rule = { .ops = MBLK_FAULT_FLUSH, .error = EIO };
	CHECK_EQ(mblk_fault_wrap(sr, NULL, 0, &s), 0);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .secondary_is_zero = true };
	CHECK_EQ(mblk_mirror_open(p, s, &o, record_event, &ev, &m), 0);
	run_until(&loop, &ev.done, 20000, "sync");
	CHECK_EQ(mblk_fault_set_rules(s, &rule, 1), 0);
	struct pivot_result pr = { 0 };
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr), 0);
	run_until(&loop, &pr.done, 20000, "pivot");
	CHECK(pr.status == -EIO && strstr(pr.err, "cannot pivot"),
	      "pivot with a failing flush: %d %s", pr.status, pr.err);
	struct mblk_mirror_progress prog;
	CHECK_EQ(mblk_mirror_get_progress(m, &prog), 0);
	CHECK_EQ(prog.state, MBLK_MIRROR_SYNCED);
	CHECK_EQ(ev.switched, 0);
	/* Still a mirror: a write reaches both. */
	char b[512];
	memset(b, 9, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	CHECK_EQ(mblk_write_sync(m, 5, &iov, 1, 0), 0);
	CHECK(same_contents(p, sr), "the devices differ after a failed pivot");
	close_dev(&loop, m);
}

/* Cancel: writes go to the primary only; the secondary keeps its state. */
static void cancel(void)
{
	mblk_dev *p = ram(&loop, NBLK * BLK, 512), *s, *m;
	mblk_dev *sr = ram(&loop, NBLK * BLK, 512);
	struct mblk_fault_rule slow = { .ops = MBLK_FAULT_WRITE |
					       MBLK_FAULT_WRITE_ZEROES |
					       MBLK_FAULT_DISCARD,
					.delay_us = 100000 };
	CHECK_EQ(mblk_fault_wrap(sr, &slow, 1, &s), 0);
	uint64_t seed = 5;
	fill_pattern(p, &seed, 50);
	struct events ev = { 0 };
	CHECK_EQ(mblk_mirror_open(p, s, NULL, record_event, &ev, &m), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_EQ(mblk_mirror_cancel(m), 0);
	CHECK_EQ(ev.cancelled, 1);
	struct mblk_mirror_progress prog;
	CHECK_EQ(mblk_mirror_get_progress(m, &prog), 0);
	CHECK_EQ(prog.state, MBLK_MIRROR_STOPPED);
	CHECK_EQ(prog.error, -ECANCELED);
	CHECK_EQ(mblk_mirror_cancel(m), -EALREADY);
	struct pivot_result pr = { 0 };
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr), -EBUSY);
	/* Let the copies in flight end, then a write: primary only. */
	for (int i = 0; i < 30; i++)
		uv_run(&loop, UV_RUN_ONCE);
	char zero[512] = { 0 }, b[512], got[512];
	memset(b, 0x5a, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	CHECK_EQ(mblk_write_sync(m, 7, &iov, 1, 0), 0);
	struct iovec giov = { got, sizeof(got) };
	CHECK_EQ(mblk_read_sync(p, 7, &giov, 1), 0);
	CHECK(memcmp(got, b, 512) == 0, "the primary lacks the write");
	CHECK_EQ(mblk_read_sync(sr, 7, &giov, 1), 0);
	CHECK(memcmp(got, b, 512) != 0 || memcmp(b, zero, 512) == 0,
	      "a write after cancel reached the secondary");
	/* set_rate on a mirror: accepted; on anything else: refused. */
	CHECK_EQ(mblk_mirror_set_rate(m, 1 << 20), 0);
	CHECK_EQ(mblk_mirror_set_rate(p, 1 << 20), -EINVAL);
	close_dev(&loop, m);
}

static void write_block(mblk_dev *d, uint64_t sector, int byte)
{
	char b[BLK];
	memset(b, byte, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	CHECK(mblk_write_sync(d, sector, &iov, 1, 0) == 0, "write: %s",
	      mblk_last_error());
}

/* Resume: a destination that failed (ENOSPC) and was repaired is copied
 * again in full, writes made while stopped included; so is one after a
 * cancel; then the pivot works. */
static void resume(void)
{
	mblk_dev *p = ram(&loop, NBLK * BLK, 512), *m;
	mblk_dev *sr = ram(&loop, NBLK * BLK, 512), *s;
	uint64_t seed = 11;
	fill_pattern(p, &seed, 60);
	struct mblk_fault_rule full = { .ops = MBLK_FAULT_WRITE,
					.error = ENOSPC,
					.after = 3 };
	CHECK_EQ(mblk_fault_wrap(sr, &full, 1, &s), 0);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .chunk_bytes = 16384 };
	CHECK_EQ(mblk_mirror_open(p, s, &o, record_event, &ev, &m), 0);
	int r = mblk_mirror_resume(m);
	CHECK(r == -EALREADY && strstr(mblk_last_error(), "not stopped"),
	      "resume while copying: %d %s", r, mblk_last_error());
	run_until(&loop, &ev.done, 20000, "the destination's failure");
	CHECK(ev.failed == 1 && ev.last_error == -ENOSPC, "failed %d: %s",
	      ev.failed, ev.msg);
	/* Written while stopped: on the primary only, and not tracked. */
	write_block(m, 40, 0x77);
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_EQ(mblk_fault_set_rules(s, NULL, 0), 0);
	ev.done = false;
	CHECK_EQ(mblk_mirror_resume(m), 0);
	struct mblk_mirror_progress prog;
	CHECK_EQ(mblk_mirror_get_progress(m, &prog), 0);
	CHECK_EQ(prog.state, MBLK_MIRROR_COPYING);
	CHECK_EQ(prog.error, 0);
	CHECK(prog.error_msg == NULL, "error_msg %s", prog.error_msg);
	run_until(&loop, &ev.done, 20000, "the resumed copy");
	CHECK(ev.complete == 1 && ev.failed == 1, "complete %d failed %d: %s",
	      ev.complete, ev.failed, ev.msg);
	CHECK(same_contents(p, sr), "the devices differ after resume");
	CHECK_EQ(mblk_mirror_resume(m), -EALREADY);
	/* Cancel, write, resume: in sync again. */
	CHECK_EQ(mblk_mirror_cancel(m), 0);
	write_block(m, 80, 0x31);
	ev.done = false;
	CHECK_EQ(mblk_mirror_resume(m), 0);
	run_until(&loop, &ev.done, 20000, "the copy resumed after cancel");
	CHECK_EQ(ev.complete, 2);
	CHECK(same_contents(p, sr), "the devices differ after cancel+resume");
	struct pivot_result pr = { 0 };
	CHECK_EQ(mblk_mirror_pivot(m, 0, pivot_cb, &pr), 0);
	run_until(&loop, &pr.done, 20000, "the pivot after resume");
	CHECK(pr.status == 0, "pivot: %d %s", pr.status, pr.err);
	CHECK_EQ(mblk_mirror_resume(m), -EALREADY);
	CHECK_EQ(mblk_mirror_resume(sr), -EINVAL);
	close_dev(&loop, m);
}

int main(int argc, char **argv)
{
	int seeds = argc > 1 ? atoi(argv[1]) : 4;
	CHECK_EQ(uv_loop_init(&loop), 0);
	const uint32_t pairs[][2] = { { 512, 512 },
				      { 512, 4096 },
				      { 4096, 512 } };
	for (int i = 0; i < seeds; i++)
		pivot_under_load((uint64_t)i + 1, pairs[i % 3][0],
				 pairs[i % 3][1]);
	pivot_flush_fails();
	cancel();
	resume();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("mirror-pivot: ok (%d seeds)\n", seeds);
	return 0;
}
