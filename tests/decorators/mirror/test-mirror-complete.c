/* test-mirror-complete.c - the Complete event, checked at the moment it
 * fires: the secondary equals the primary and has been flushed.
 *
 * A race that lets Complete out early shows only when something is still
 * on its way to the secondary at that moment, so the test arranges it:
 * the secondary is a stack of fault devices over ram,
 *
 *   mirror -> arrive (counts flushes arriving)
 *          -> slow   (writes/zeroes/discards in the LAST chunk: 400 ms;
 *                     flushes: 50 ms)
 *          -> land   (counts flushes that got through the delay)
 *          -> ram
 *
 * so the copy of the last chunk lands long after everything else, and
 * the final flush takes a while. When Complete fires the test records
 * the progress and the flush counters, and then (before the loop can run
 * any delayed request: every remaining delay is hundreds of ms) compares
 * the primary with the secondary's ram directly, under the fault layers.
 *
 * A mirror that reported Complete before its last copy write landed, or
 * before the secondary's flush finished, or that never flushed, fails
 * here on every run, not one run in four. Both sector-size orders, and a
 * secondary full of junk (holes must be zeroed) or known zero.
 */
#include "harness.h"
#include "mtest.h"

static uv_loop_t loop;

struct run {
	mblk_dev *p, *s_ram, *arrive, *land, *m;
	struct events ev;
	bool complete_seen;
	uint64_t flushes_arrived, flushes_landed;
	struct mblk_mirror_progress at;
};

static uint64_t matched(mblk_dev *fault_dev)
{
	struct mblk_fault_stats st;
	CHECK_EQ(mblk_fault_get_stats(fault_dev, &st), 0);
	return st.matched;
}

static void on_event(void *data, enum mblk_mirror_event ev, int value,
		     const char *error)
{
	struct run *r = data;
	record_event(&r->ev, ev, value, error);
	if (ev != MBLK_MIRROR_COMPLETE)
		return;
	r->complete_seen = true;
	r->flushes_arrived = matched(r->arrive);
	r->flushes_landed = matched(r->land);
	CHECK_EQ(mblk_mirror_get_progress(r->m, &r->at), 0);
}

static mblk_dev *fault(mblk_dev *inner, const struct mblk_fault_rule *rules,
		       int n)
{
	mblk_dev *d;
	CHECK(mblk_fault_wrap(inner, rules, n, &d) == 0, "fault wrap: %s",
	      mblk_last_error());
	return d;
}

static void one(uint32_t pss, uint32_t sss, bool junk)
{
	const uint64_t bytes = 4u << 20, chunk = 65536;
	uint64_t seed = 4242 + pss + sss + junk;
	struct run r;
	memset(&r, 0, sizeof(r));
	r.p = ram(&loop, bytes, pss);
	fill_pattern(r.p, &seed, 50);
	/* The last chunk all data, so its copy is one delayed write. */
	static char blk[65536];
	memset(blk, 0x6b, sizeof(blk));
	struct iovec iov = { blk, sizeof(blk) };
	CHECK_EQ(mblk_write_sync(r.p, (bytes - chunk) / pss, &iov, 1, 0), 0);
	r.s_ram = ram(&loop, bytes, sss);
	if (junk)
		fill_pattern(r.s_ram, &seed, 100);

	struct mblk_fault_rule count = { .ops = MBLK_FAULT_FLUSH };
	struct mblk_fault_rule slow[2] = {
		{ .ops = MBLK_FAULT_WRITE | MBLK_FAULT_WRITE_ZEROES |
			 MBLK_FAULT_DISCARD,
		  .from = (bytes - chunk) / sss,
		  .delay_us = 400000 },
		{ .ops = MBLK_FAULT_FLUSH, .delay_us = 50000 },
	};
	r.land = fault(r.s_ram, &count, 1);
	mblk_dev *slowdev = fault(r.land, slow, 2);
	r.arrive = fault(slowdev, &count, 1);

	/* Four operations of 1 MiB in flight: the others end, and kick the
	 * copier, while the one holding the last chunk is still delayed. */
	struct mblk_mirror_opts o = { .chunk_bytes = chunk,
				      .buffer_bytes = 4u << 20,
				      .secondary_is_zero = !junk };
	CHECK(mblk_mirror_open(r.p, r.arrive, &o, on_event, &r, &r.m) == 0,
	      "mirror open: %s", mblk_last_error());
	run_until(&loop, &r.complete_seen, 20000, "Complete");

	char what[120];
	snprintf(what, sizeof(what),
		 "primary %u-byte sectors, secondary %u, %s", pss, sss,
		 junk ? "junk secondary" : "zero secondary");
	CHECK(r.ev.failed == 0, "%s: FAILED: %s", what, r.ev.msg);
	CHECK(r.at.state == MBLK_MIRROR_SYNCED && r.at.percent == 100 &&
		      r.at.bytes_remaining == 0,
	      "%s: at Complete the progress says state %d, %d%%, %llu bytes "
	      "remaining",
	      what, (int)r.at.state, r.at.percent,
	      (unsigned long long)r.at.bytes_remaining);
	CHECK(r.flushes_arrived >= 1 && r.flushes_landed >= 1,
	      "%s: at Complete %llu flushes had reached the secondary and "
	      "%llu had got through: Complete promises a flushed secondary",
	      what, (unsigned long long)r.flushes_arrived,
	      (unsigned long long)r.flushes_landed);
	/* Now, before any delayed request could land. */
	CHECK(same_contents(r.p, r.s_ram),
	      "%s: at Complete the secondary differs from the primary", what);
	CHECK_EQ(r.ev.complete, 1);
	close_dev(&loop, r.m);
	printf("ok %s\n", what);
}

int main(void)
{
	mtest_watchdog(10, "the Complete test");
	uv_loop_init(&loop);
	one(512, 512, true);
	one(512, 4096, true);
	one(4096, 512, false);
	one(512, 512, false);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	return 0;
}
