/* test-mirror-basic.c - the mirror without concurrent load: an idle copy
 * (sizes not a multiple of the chunk, holes kept), sector sizes 512 and
 * 4096 both ways with scaled reads, a zero-size device, refusals, a
 * secondary that fails part way (stop and retry), a primary that fails,
 * writes after sync, the mirror: URI and progress. */
#include "harness.h"

static uv_loop_t loop;

struct pair {
	mblk_dev *p, *s, *m;
	struct events ev;
};

static void open_pair(struct pair *x, mblk_dev *p, mblk_dev *s,
		      const struct mblk_mirror_opts *o)
{
	memset(&x->ev, 0, sizeof(x->ev));
	x->p = p;
	x->s = s;
	int r = mblk_mirror_open(p, s, o, record_event, &x->ev, &x->m);
	CHECK(r == 0, "mirror open: %s", mblk_last_error());
}

static void idle_copy(uint32_t pss, uint32_t sss, uint64_t bytes,
		      bool fresh_secondary, uint64_t seed)
{
	struct pair x;
	mblk_dev *p = ram(&loop, bytes, pss), *s = ram(&loop, bytes, sss);
	fill_pattern(p, &seed, 30);
	if (!fresh_secondary)
		fill_pattern(s, &seed, 100);
	struct mblk_mirror_opts o = { .chunk_bytes = 65536,
				      .buffer_bytes = 1 << 20 };
	open_pair(&x, p, s, &o);
	run_until(&loop, &x.ev.done, 20000, "the copy");
	CHECK(x.ev.complete == 1 && x.ev.failed == 0,
	      "complete %d failed %d %s", x.ev.complete, x.ev.failed, x.ev.msg);
	CHECK(!x.ev.percent_regressed, "percent went down");
	CHECK(same_contents(p, s), "p %u s %u bytes %llu", pss, sss,
	      (unsigned long long)bytes);
	if (fresh_secondary) {
		uint64_t ap, as;
		CHECK_EQ(mblk_get_allocated(p, &ap), 0);
		CHECK_EQ(mblk_get_allocated(s, &as), 0);
		CHECK(ap == as, "holes not kept: primary %llu secondary %llu",
		      (unsigned long long)ap, (unsigned long long)as);
	}
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(x.m, &pr), 0);
	CHECK_EQ(pr.state, MBLK_MIRROR_SYNCED);
	CHECK_EQ(pr.percent, 100);
	CHECK_EQ(pr.bytes_remaining, 0);
	CHECK_EQ(pr.bytes_total, bytes);
	CHECK_EQ(pr.bytes_done, bytes);

	/* Mirror sectors are the larger size; reads and writes scale. */
	struct mblk_info mi;
	mblk_get_info(x.m, &mi);
	uint32_t ss = pss > sss ? pss : sss;
	CHECK_EQ(mi.sector_size, ss);
	CHECK_EQ(mi.size_sectors, bytes / ss);
	char *w = malloc(ss), *r = malloc(ss), *q = malloc(ss);
	memset(w, 0x5a, ss);
	w[0] = 1;
	struct iovec iw = { w, ss }, ir = { r, ss }, iq = { q, ss };
	uint64_t sec = mi.size_sectors / 2;
	CHECK_EQ(mblk_write_sync(x.m, sec, &iw, 1, 0), 0);
	CHECK_EQ(mblk_read_sync(x.m, sec, &ir, 1), 0);
	CHECK(memcmp(w, r, ss) == 0, "read back through the mirror");
	CHECK_EQ(mblk_read_sync(p, sec * (ss / pss), &iq, 1), 0);
	CHECK(memcmp(w, q, ss) == 0, "primary at the scaled place");
	CHECK_EQ(mblk_read_sync(s, sec * (ss / sss), &iq, 1), 0);
	CHECK(memcmp(w, q, ss) == 0, "secondary at the scaled place");
	/* After sync, discard and write_zeroes go to both. */
	CHECK_EQ(mblk_discard_sync(x.m, 0, mi.size_sectors / 3), 0);
	CHECK_EQ(mblk_write_zeroes_sync(x.m, mi.size_sectors / 2,
					mi.size_sectors / 4, 0),
		 0);
	CHECK_EQ(mblk_flush_sync(x.m), 0);
	CHECK(same_contents(p, s), "after writes in sync");
	/* Seeks are scaled too: the discarded start reads as a hole. */
	uint64_t h = 0;
	if (mi.size_sectors >= 8)
		CHECK_EQ(mblk_seek_unmapped_sync(x.m, 0, &h), 0);
	CHECK(h == 0, "seek_unmapped(0) = %llu (p %u s %u)",
	      (unsigned long long)h, pss, sss);
	CHECK_EQ(mblk_seek_mapped_sync(x.m, 0, &h), 0);
	CHECK(mi.size_sectors < 8 || (h <= sec && h >= mi.size_sectors / 3 - 1),
	      "seek_mapped(0) = %llu", (unsigned long long)h);
	free(w);
	free(r);
	free(q);
	close_dev(&loop, x.m);
}

static void refusals(void)
{
	mblk_dev *p = ram(&loop, 1 << 20, 512), *s = ram(&loop, 2 << 20, 512);
	mblk_dev *m;
	CHECK_EQ(mblk_mirror_open(p, s, NULL, NULL, NULL, &m), -EINVAL);
	CHECK(strstr(mblk_last_error(), "same size") != NULL, "%s",
	      mblk_last_error());
	close_dev(&loop, s);
	CHECK(mblk_open_sync(&loop, "ram:?size=1M",
			     MBLK_OPEN_RDONLY | MBLK_OPEN_NO_SAFE, &s) == 0,
	      "%s", mblk_last_error());
	CHECK_EQ(mblk_mirror_open(p, s, NULL, NULL, NULL, &m), -EROFS);
	CHECK(strstr(mblk_last_error(), "read-only") != NULL, "%s",
	      mblk_last_error());
	/* A read-only primary is fine: the mirror is read-only. */
	struct pair x;
	mblk_dev *s2 = ram(&loop, 1 << 20, 512);
	open_pair(&x, s, s2, NULL);
	struct mblk_info in;
	mblk_get_info(x.m, &in);
	CHECK(!in.read_write, "mirror of a read-only primary is writable");
	run_until(&loop, &x.ev.done, 10000, "ro copy");
	CHECK_EQ(x.ev.complete, 1);
	close_dev(&loop, x.m);
	struct mblk_mirror_opts o = { .chunk_bytes = 3000 };
	mblk_dev *s3 = ram(&loop, 1 << 20, 512);
	CHECK_EQ(mblk_mirror_open(p, s3, &o, NULL, NULL, &m), -EINVAL);
	close_dev(&loop, p);
	close_dev(&loop, s3);
}

static void zero_size(void)
{
	struct pair x;
	open_pair(&x, ram(&loop, 0, 512), ram(&loop, 0, 4096), NULL);
	run_until(&loop, &x.ev.done, 5000, "zero-size copy");
	CHECK_EQ(x.ev.complete, 1);
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(x.m, &pr), 0);
	CHECK_EQ(pr.percent, 100);
	CHECK_EQ(pr.bytes_total, 0);
	close_dev(&loop, x.m);
}

/* The secondary fails part way: stop (reported, primary keeps serving)
 * or retry (reported, then in sync). */
static void secondary_fails(bool retry)
{
	struct pair x;
	uint64_t seed = 7;
	mblk_dev *p = ram(&loop, 4 << 20, 512), *sr = ram(&loop, 4 << 20, 512);
	fill_pattern(p, &seed, 100);
	struct mblk_fault_rule rule = { .ops = MBLK_FAULT_WRITE,
					.error = EIO,
					.at = 3 };
	mblk_dev *s;
	CHECK_EQ(mblk_fault_wrap(sr, &rule, 1, &s), 0);
	struct mblk_mirror_opts o = { .buffer_bytes = 256 << 10,
				      .on_error = retry ? MBLK_MIRROR_RETRY
							: MBLK_MIRROR_STOP,
				      .retries = 2 };
	open_pair(&x, p, s, &o);
	run_until(&loop, &x.ev.done, 20000, "the copy");
	if (retry) {
		CHECK(x.ev.errors == 1 && x.ev.complete == 1,
		      "errors %d complete %d", x.ev.errors, x.ev.complete);
		CHECK(strstr(x.ev.msg, "injected EIO") != NULL, "%s", x.ev.msg);
		CHECK(same_contents(p, sr), "after a retried failure");
	} else {
		CHECK(x.ev.failed == 1 && x.ev.complete == 0,
		      "failed %d complete %d", x.ev.failed, x.ev.complete);
		CHECK_EQ(x.ev.last_error, -EIO);
		CHECK(strstr(x.ev.msg, "injected EIO") != NULL, "%s", x.ev.msg);
		struct mblk_mirror_progress pr;
		CHECK_EQ(mblk_mirror_get_progress(x.m, &pr), 0);
		CHECK_EQ(pr.state, MBLK_MIRROR_STOPPED);
		CHECK(pr.error_msg && strstr(pr.error_msg, "injected"), "msg");
		/* The primary keeps serving, and no write hangs. */
		char b[4096];
		memset(b, 0x77, sizeof(b));
		struct iovec iov = { b, sizeof(b) };
		for (uint64_t sec = 0; sec < 8192; sec += 1000)
			CHECK_EQ(mblk_write_sync(x.m, sec, &iov, 1, 0), 0);
		char c[4096];
		struct iovec ic = { c, sizeof(c) };
		CHECK_EQ(mblk_read_sync(x.m, 5000, &ic, 1), 0);
		CHECK(memcmp(b, c, sizeof(b)) == 0, "read back after stop");
		CHECK_EQ(mblk_flush_sync(x.m), 0);
	}
	close_dev(&loop, x.m);
}

/* The primary fails: a foreground write gets the error; a copy read
 * failure stops the mirror with its sentence. */
static void primary_fails(void)
{
	struct pair x;
	uint64_t seed = 9;
	mblk_dev *pr = ram(&loop, 2 << 20, 512);
	fill_pattern(pr, &seed, 100);
	struct mblk_fault_rule rules[2] = {
		{ .ops = MBLK_FAULT_WRITE, .error = EIO, .from = 16, .to = 24 },
		{ .ops = MBLK_FAULT_READ, .error = EIO, .at = 4 },
	};
	mblk_dev *p;
	CHECK_EQ(mblk_fault_wrap(pr, rules, 2, &p), 0);
	struct mblk_mirror_opts o = { .buffer_bytes = 128 << 10 };
	open_pair(&x, p, ram(&loop, 2 << 20, 512), &o);
	char b[4096] = { 1 };
	struct iovec iov = { b, sizeof(b) };
	CHECK_EQ(mblk_write_sync(x.m, 16, &iov, 1, 0), -EIO);
	CHECK(strstr(mblk_last_error(), "injected EIO") != NULL, "%s",
	      mblk_last_error());
	CHECK_EQ(mblk_write_sync(x.m, 100, &iov, 1, 0), 0);
	run_until(&loop, &x.ev.done, 20000, "the copy");
	CHECK(x.ev.failed == 1, "failed %d complete %d", x.ev.failed,
	      x.ev.complete);
	CHECK(strstr(x.ev.msg, "read") != NULL, "%s", x.ev.msg);
	close_dev(&loop, x.m);
}

static void by_uri(void)
{
	mblk_dev *m;
	int r = mblk_open_sync(
		&loop,
		"mirror:?primary=ram:up%3Fsize=1M%26sector-size=4096"
		"&secondary=ram:us?size=1M&chunk=16K&buffer=64K",
		0, &m);
	CHECK(r == 0, "open: %s", mblk_last_error());
	struct events ev = { 0 };
	CHECK_EQ(mblk_mirror_set_callback(m, record_event, &ev), 0);
	char b[4096];
	memset(b, 3, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	CHECK_EQ(mblk_write_sync(m, 7, &iov, 1, 0), 0);
	run_until(&loop, &ev.done, 10000, "uri copy");
	CHECK_EQ(ev.complete, 1);
	char uri[512];
	CHECK(mblk_get_uri(m, uri, sizeof(uri)) > 0, "get_uri");
	/* The inner URIs in brackets, as they are (docs/uri.md). */
	CHECK(strncmp(uri, "mirror:?primary=[ram:up?", 24) == 0, "%s", uri);
	CHECK(strstr(uri, "&secondary=[ram:us?") != NULL, "%s", uri);
	CHECK(strstr(uri, "&chunk=16384&") || strstr(uri, "&chunk=16384"), "%s",
	      uri);
	CHECK(strstr(uri, "sector-size=4096") != NULL, "%s", uri);
	/* The printed URI reopens the same mirror. */
	mblk_dev *again;
	CHECK(mblk_open_sync(&loop, uri, 0, &again) == 0, "reopen %s: %s", uri,
	      mblk_last_error());
	char uri2[512];
	CHECK(mblk_get_uri(again, uri2, sizeof(uri2)) > 0, "get_uri");
	CHECK(strcmp(uri, uri2) == 0, "%s\n  reopened as %s", uri, uri2);
	close_dev(&loop, again);
	mblk_dev *a, *bdev;
	CHECK_EQ(mblk_ram_connect(&loop, "up", &a), 0);
	CHECK_EQ(mblk_ram_connect(&loop, "us", &bdev), 0);
	CHECK(same_contents(a, bdev), "uri mirror");
	close_dev(&loop, a);
	close_dev(&loop, bdev);
	close_dev(&loop, m);
	mblk_ram_destroy("up");
	mblk_ram_destroy("us");
	CHECK_EQ(mblk_open_sync(&loop, "mirror:?primary=ram:", 0, &m), -EINVAL);
}

/* Closing while the copy runs (slow secondary) stops it cleanly. */
static void close_early(void)
{
	struct pair x;
	mblk_dev *sr = ram(&loop, 8 << 20, 512), *s;
	struct mblk_fault_rule d = { .ops = MBLK_FAULT_ANY, .delay_us = 5000 };
	CHECK_EQ(mblk_fault_wrap(sr, &d, 1, &s), 0);
	uint64_t seed = 3;
	mblk_dev *p = ram(&loop, 8 << 20, 512);
	fill_pattern(p, &seed, 50);
	open_pair(&x, p, s, NULL);
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_ONCE);
	close_dev(&loop, x.m);
	CHECK_EQ(x.ev.complete, 0);
	CHECK_EQ(x.ev.failed, 0);
}

/* The rate limit: 4 MiB of data at 4 MiB/s takes most of a second
 * (the bucket starts full with max(one operation, rate / 10)). */
static void rate_limited(void)
{
	struct pair x;
	uint64_t seed = 5;
	mblk_dev *p = ram(&loop, 4 << 20, 512);
	fill_pattern(p, &seed, 100);
	struct mblk_mirror_opts o = { .buffer_bytes = 256 << 10,
				      .rate = 4 << 20 };
	uint64_t t0 = uv_hrtime();
	open_pair(&x, p, ram(&loop, 4 << 20, 512), &o);
	run_until(&loop, &x.ev.done, 20000, "the rate-limited copy");
	double secs = (double)(uv_hrtime() - t0) / 1e9;
	CHECK(x.ev.complete == 1, "%s", x.ev.msg);
	CHECK(secs > 0.6 && secs < 5, "4 MiB at 4 MiB/s took %.3f s", secs);
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(x.m, &pr), 0);
	CHECK(pr.rate < 8.0 * (1 << 20), "rate %.0f", pr.rate);
	CHECK(same_contents(x.p, x.s), "rate-limited copy");
	close_dev(&loop, x.m);
}

/* copy_write_bytes: the copy writes the secondary one page at a time,
 * all the pieces of an extent at once; the copy is exact. With a piece
 * failing, the mirror stops with that piece's sentence (STOP), or copies
 * the operation again and completes (RETRY). */
static void copy_in_pieces(int fail)
{
	struct pair x;
	uint64_t seed = 41;
	const uint64_t bytes = 1 << 20;
	mblk_dev *p = ram(&loop, bytes, 512), *sr = ram(&loop, bytes, 512);
	fill_pattern(p, &seed, 100);
	struct mblk_fault_rule rule = { .ops = MBLK_FAULT_WRITE };
	if (fail) {
		rule.error = EIO;
		rule.at = 100;
	}
	mblk_dev *s;
	CHECK_EQ(mblk_fault_wrap(sr, &rule, 1, &s), 0);
	struct mblk_mirror_opts o = { .buffer_bytes = bytes,
				      .chunk_bytes = 64 << 10,
				      .copy_write_bytes = 4096,
				      .on_error = fail == 2 ? MBLK_MIRROR_RETRY
							    : MBLK_MIRROR_STOP,
				      .retries = 2 };
	open_pair(&x, p, s, &o);
	run_until(&loop, &x.ev.done, 20000, "the copy in pieces");
	struct mblk_fault_stats st;
	CHECK_EQ(mblk_fault_get_stats(s, &st), 0);
	if (fail == 1) {
		CHECK(x.ev.failed == 1 && x.ev.complete == 0,
		      "failed %d complete %d", x.ev.failed, x.ev.complete);
		CHECK_EQ(x.ev.last_error, -EIO);
		CHECK(strstr(x.ev.msg, "injected EIO") != NULL, "%s", x.ev.msg);
		/* Every piece of the failed extent was waited for. */
		CHECK_EQ(st.matched, bytes / 4096);
	} else {
		CHECK(x.ev.complete == 1 && x.ev.failed == 0,
		      "complete %d failed %d %s", x.ev.complete, x.ev.failed,
		      x.ev.msg);
		CHECK(same_contents(p, sr), "copied in pieces (fail %d)", fail);
		/* One write per 4 KiB page (one operation of 1 MiB would
		 * make one write): a retry copies the operation again. */
		CHECK_EQ(st.matched, (fail ? 2 : 1) * bytes / 4096);
	}
	char uri[1024];
	CHECK(mblk_get_uri(x.m, uri, sizeof(uri)) > 0, "get_uri");
	CHECK(strstr(uri, "&copy-write=4096") != NULL, "%s", uri);
	close_dev(&loop, x.m);
}

/* A copy_write_bytes of an operation or more (UINT64_MAX too) is one
 * write per extent, as 0 is. */
static void huge_copy_write(void)
{
	struct pair x;
	uint64_t seed = 43;
	mblk_dev *p = ram(&loop, 256 << 10, 512),
		 *s = ram(&loop, 256 << 10, 512);
	fill_pattern(p, &seed, 100);
	struct mblk_mirror_opts o = { .copy_write_bytes = UINT64_MAX };
	open_pair(&x, p, s, &o);
	run_until(&loop, &x.ev.done, 20000, "the copy");
	CHECK(x.ev.complete == 1, "complete %d %s", x.ev.complete, x.ev.msg);
	CHECK(same_contents(p, s), "copy-write UINT64_MAX");
	close_dev(&loop, x.m);
}

/* Active mode from the start: a write into chunks the copy has not
 * reached goes to the primary only (the copy carries it over later); a
 * write into a copied chunk goes to both. The copier is held to its
 * first operation (one chunk) by a rate of 1 byte/s. */
static void active_skips_dirty(void)
{
	struct pair x;
	uint64_t seed = 31;
	const uint64_t bytes = 1 << 20, chunk = 64 << 10;
	mblk_dev *p = ram(&loop, bytes, 512), *sr = ram(&loop, bytes, 512);
	fill_pattern(p, &seed, 100);
	/* A rule that only counts the secondary's writes. */
	struct mblk_fault_rule count = { .ops = MBLK_FAULT_WRITE };
	mblk_dev *s;
	CHECK_EQ(mblk_fault_wrap(sr, &count, 1, &s), 0);
	struct mblk_mirror_opts o = { .buffer_bytes = chunk,
				      .chunk_bytes = chunk,
				      .rate = 1,
				      .active = true };
	open_pair(&x, p, s, &o);
	struct mblk_mirror_progress pr;
	uint64_t t0 = uv_hrtime();
	do {
		uv_run(&loop, UV_RUN_NOWAIT);
		CHECK_EQ(mblk_mirror_get_progress(x.m, &pr), 0);
		CHECK(uv_hrtime() - t0 < 5000000000ull,
		      "the first copy operation did not finish in 5 s");
	} while (pr.bytes_read < chunk || pr.bytes_remaining > bytes - chunk);
	CHECK(pr.mode == MBLK_MIRROR_ACTIVE_MODE, "mode %d", (int)pr.mode);
	struct mblk_fault_stats st;
	CHECK_EQ(mblk_fault_get_stats(s, &st), 0);
	uint64_t copied = st.matched; /* the first operation's write(s) */
	CHECK(copied >= 1, "the copy wrote nothing to the secondary");

	char b[4096], z[4096], r[4096];
	memset(b, 0x5c, sizeof(b));
	memset(z, 0, sizeof(z));
	struct iovec iov = { b, sizeof(b) };
	/* Chunk 5 is still to be copied: the primary only. */
	uint64_t in5 = 5 * chunk / 512 + 8;
	CHECK_EQ(mblk_write_sync(x.m, in5, &iov, 1, 0), 0);
	CHECK_EQ(mblk_fault_get_stats(s, &st), 0);
	CHECK(st.matched == copied,
	      "a write into a chunk still to be copied reached the "
	      "secondary (%llu writes there, %llu before)",
	      (unsigned long long)st.matched, (unsigned long long)copied);
	struct iovec riov = { r, sizeof(r) };
	CHECK_EQ(mblk_read_sync(sr, in5, &riov, 1), 0);
	CHECK(memcmp(r, z, sizeof(r)) == 0,
	      "the secondary has chunk 5's write");
	/* Chunk 0 is copied: both devices. */
	CHECK_EQ(mblk_write_sync(x.m, 8, &iov, 1, 0), 0);
	CHECK_EQ(mblk_fault_get_stats(s, &st), 0);
	CHECK(st.matched == copied + 1,
	      "a write into a copied chunk: %llu "
	      "secondary writes, expected %llu",
	      (unsigned long long)st.matched, (unsigned long long)copied + 1);
	CHECK_EQ(mblk_read_sync(sr, 8, &riov, 1), 0);
	CHECK(memcmp(r, b, sizeof(r)) == 0,
	      "the secondary lacks chunk 0's write");
	/* Let the copy go: it carries chunk 5's write over. */
	CHECK_EQ(mblk_mirror_set_rate(x.m, 0), 0);
	run_until(&loop, &x.ev.done, 10000, "the active copy");
	CHECK(x.ev.complete == 1 && x.ev.active == 0, "complete %d active %d",
	      x.ev.complete, x.ev.active);
	CHECK(same_contents(x.p, sr), "active copy");
	close_dev(&loop, x.m);
}

static void flag_done(void *data, int status, const char *error)
{
	(void)error;
	CHECK(status == 0, "write: %d", status);
	*(bool *)data = true;
}

/* Active mode from the start, with a write into a hole of the primary
 * sent before the first scan and kept in flight across it (the primary
 * delays writes): the scan clears the map and sees a hole there. The
 * write went to the primary only, so it must mark its chunk when it
 * completes and hold back the sync until then, or the copy misses it. */
static void active_write_across_scan(void)
{
	struct pair x;
	uint64_t seed = 37;
	const uint64_t bytes = 1 << 20;
	mblk_dev *pr = ram(&loop, bytes, 512);
	fill_pattern(pr, &seed, 30);
	/* The last 64 KiB a hole, whatever the pattern did. */
	CHECK_EQ(mblk_discard_sync(pr, (bytes - (64 << 10)) / 512,
				   (64 << 10) / 512),
		 0);
	struct mblk_fault_rule slow = { .ops = MBLK_FAULT_WRITE,
					.delay_us = 200000 };
	mblk_dev *p;
	CHECK_EQ(mblk_fault_wrap(pr, &slow, 1, &p), 0);
	struct mblk_mirror_opts o = { .active = true };
	mblk_dev *s = ram(&loop, bytes, 512);
	char b[4096];
	memset(b, 0x3a, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	bool wrote = false;
	/* Nothing may run the loop between the open and the write. */
	open_pair(&x, p, s, &o);
	CHECK_EQ(mblk_write(x.m, (bytes - 4096) / 512, &iov, 1, 0, flag_done,
			    &wrote),
		 0);
	run_until(&loop, &x.ev.done, 10000, "the copy");
	CHECK(wrote, "the mirror synced before the write in flight was over");
	CHECK(x.ev.complete == 1, "%s", x.ev.msg);
	CHECK(same_contents(pr, x.s), "a write across the first scan");
	close_dev(&loop, x.m);
}

/* secondary_in_sync: nothing copied, writes go to both at once. */
static void in_sync(void)
{
	struct pair x;
	uint64_t s1 = 21, s2 = 21;
	mblk_dev *p = ram(&loop, 1 << 20, 512), *s = ram(&loop, 1 << 20, 512);
	fill_pattern(p, &s1, 50);
	fill_pattern(s, &s2, 50);
	struct mblk_mirror_opts o = { .secondary_in_sync = true };
	open_pair(&x, p, s, &o);
	char b[4096];
	memset(b, 9, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	CHECK_EQ(mblk_write_sync(x.m, 40, &iov, 1, 0), 0);
	run_until(&loop, &x.ev.done, 5000, "in-sync start");
	CHECK_EQ(x.ev.complete, 1);
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(x.m, &pr), 0);
	CHECK_EQ(pr.bytes_read, 0);
	CHECK(same_contents(p, s), "in-sync mirror");
	close_dev(&loop, x.m);
}

/* Failures after the sync: a primary write failure goes to its caller
 * and the range is copied again (a second Complete); a secondary write
 * failure stops the mirror (reported), and writes keep working. */
static void failures_in_sync(void)
{
	struct pair x;
	uint64_t seed = 31;
	mblk_dev *pr = ram(&loop, 1 << 20, 512), *sr = ram(&loop, 1 << 20, 512);
	fill_pattern(pr, &seed, 50);
	mblk_dev *pf, *sf;
	CHECK_EQ(mblk_fault_wrap(pr, NULL, 0, &pf), 0);
	CHECK_EQ(mblk_fault_wrap(sr, NULL, 0, &sf), 0);
	open_pair(&x, pf, sf, NULL);
	run_until(&loop, &x.ev.done, 10000, "first sync");
	CHECK_EQ(x.ev.complete, 1);
	char b[8192];
	memset(b, 0x42, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	struct mblk_fault_rule r = { .ops = MBLK_FAULT_WRITE,
				     .error = EIO,
				     .at = 1 };
	CHECK_EQ(mblk_fault_set_rules(pf, &r, 1), 0);
	x.ev.done = false;
	CHECK_EQ(mblk_write_sync(x.m, 100, &iov, 1, 0), -EIO);
	run_until(&loop, &x.ev.done, 10000, "second sync");
	CHECK(x.ev.complete == 2 && x.ev.failed == 0, "complete %d failed %d",
	      x.ev.complete, x.ev.failed);
	CHECK(same_contents(pr, sr), "after a primary failure in sync");
	CHECK_EQ(mblk_fault_set_rules(sf, &r, 1), 0);
	x.ev.done = false;
	CHECK_EQ(mblk_write_sync(x.m, 300, &iov, 1, 0), 0);
	run_until(&loop, &x.ev.done, 10000, "the stop");
	CHECK(x.ev.failed == 1, "failed %d", x.ev.failed);
	CHECK(strstr(x.ev.msg, "injected EIO") != NULL, "%s", x.ev.msg);
	CHECK_EQ(mblk_write_sync(x.m, 500, &iov, 1, 0), 0);
	CHECK_EQ(mblk_flush_sync(x.m), 0);
	char c[8192];
	struct iovec ic = { c, sizeof(c) };
	CHECK_EQ(mblk_read_sync(pr, 500, &ic, 1), 0);
	CHECK(memcmp(b, c, sizeof(c)) == 0, "write after the stop");
	close_dev(&loop, x.m);
}

/* Time follows the data: a 1 PiB primary with three blocks of data onto
 * a fresh secondary is in sync after copying those three (the first scan
 * of the primary's extents marks only their chunks), where stepping
 * through the 2^29 chunks of its map would take minutes: the bound of
 * run_until fails that, and the bytes read must be the data's. */
static void huge_sparse(void)
{
	uint64_t bytes = 1ull << 50, blk = 4096;
	mblk_dev *p = ram(&loop, bytes, 512), *s = ram(&loop, bytes, 512), *m;
	uint64_t where[3] = { 0, bytes / 2 + 12345 * blk, bytes - blk };
	char buf[4096];
	for (int i = 0; i < 3; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		struct iovec iov = { buf, sizeof(buf) };
		CHECK_EQ(mblk_write_sync(p, where[i] / 512, &iov, 1, 0), 0);
	}
	struct events ev = { 0 };
	CHECK_EQ(mblk_mirror_open(p, s, NULL, record_event, &ev, &m), 0);
	run_until(&loop, &ev.done, 30000, "a 1 PiB sparse mirror");
	CHECK_EQ(ev.complete, 1);
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(m, &pr), 0);
	CHECK(pr.bytes_read <= 3 * (64u << 20),
	      "read %" PRIu64 " bytes for 12 KiB of data", pr.bytes_read);
	for (int i = 0; i < 3; i++) {
		char got[4096];
		struct iovec iov = { got, sizeof(got) };
		CHECK_EQ(mblk_read_sync(s, where[i] / 512, &iov, 1), 0);
		memset(buf, 'a' + i, sizeof(buf));
		CHECK(memcmp(got, buf, sizeof(got)) == 0,
		      "block %d did not reach the secondary", i);
	}
	close_dev(&loop, m);
}

/* copy_share: reads of the primary take 10 ms, so a copy operation takes
 * 10 ms. While a user's read is always in flight, a copy with a share of
 * 20 % rests 40 ms after each: it copies far less in 400 ms than one
 * that never rests. Once the user stops, the copy ends at full speed;
 * and with no user at all it never rests, whatever its share: with 1 %
 * it could not end within the bound otherwise (64 operations of 10 ms
 * would owe 63 s of rest). */
struct fg_reader {
	mblk_dev *m;
	char buf[4096];
	struct iovec iov;
	bool go, out;
	int errors;
};

static void fg_read_done(void *data, int status, const char *error)
{
	struct fg_reader *f = data;
	(void)error;
	f->out = false;
	if (status < 0)
		f->errors++;
	if (f->go && mblk_read(f->m, 0, &f->iov, 1, fg_read_done, f) == 0)
		f->out = true;
}

static uint64_t copied_while_busy(unsigned share, bool busy, bool later)
{
	struct pair x;
	uint64_t seed = 77;
	const uint64_t bytes = 4 << 20;
	mblk_dev *pr = ram(&loop, bytes, 512);
	fill_pattern(pr, &seed, 100);
	struct mblk_fault_rule slow = { .ops = MBLK_FAULT_READ,
					.delay_us = 10000 };
	mblk_dev *p;
	CHECK_EQ(mblk_fault_wrap(pr, &slow, 1, &p), 0);
	struct mblk_mirror_opts o = { .buffer_bytes = 64 << 10,
				      .chunk_bytes = 64 << 10,
				      .copy_share = later ? 0 : share };
	open_pair(&x, p, ram(&loop, bytes, 512), &o);
	struct fg_reader f = { .m = x.m, .iov = { f.buf, sizeof(f.buf) } };
	uint64_t done = 0;
	if (busy) {
		struct mblk_mirror_progress pg = { 0 };
		f.go = true;
		fg_read_done(&f, 0, NULL);
		uint64_t t0 = uv_hrtime();
		if (later) {
			/* mblk_mirror_set_share with an operation out, after
			 * 100 ms flat out; then 400 ms under the new share. */
			while (uv_hrtime() - t0 < 100000000ull)
				uv_run(&loop, UV_RUN_ONCE);
			CHECK_EQ(mblk_mirror_set_share(x.m, share), 0);
			CHECK_EQ(mblk_mirror_get_progress(x.m, &pg), 0);
			t0 = uv_hrtime();
		}
		uint64_t before = pg.bytes_read;
		while (uv_hrtime() - t0 < 400000000ull)
			uv_run(&loop, UV_RUN_ONCE);
		CHECK_EQ(mblk_mirror_get_progress(x.m, &pg), 0);
		done = pg.bytes_read - before;
		f.go = false;
		while (f.out)
			uv_run(&loop, UV_RUN_ONCE);
		CHECK_EQ(f.errors, 0);
	}
	/* Idle now: full speed (64 operations of 10 ms). */
	run_until(&loop, &x.ev.done, 10000, "the copy once idle");
	CHECK(x.ev.complete == 1 && x.ev.failed == 0, "complete %d failed %d",
	      x.ev.complete, x.ev.failed);
	CHECK(same_contents(pr, x.s), "copy with share %u", share);
	char uri[1024];
	CHECK(mblk_get_uri(x.m, uri, sizeof(uri)) > 0, "get_uri");
	char want[32];
	snprintf(want, sizeof(want), "&share=%u", share);
	CHECK(strstr(uri, want) != NULL, "%s lacks %s", uri, want);
	close_dev(&loop, x.m);
	return done;
}

static void copy_share(void)
{
	uint64_t flat = copied_while_busy(100, true, false);
	uint64_t shared = copied_while_busy(20, true, false);
	uint64_t set = copied_while_busy(20, true, true);
	CHECK(shared > 0, "a share of 20 %% copied nothing in 400 ms");
	CHECK(shared * 2 < flat,
	      "a share of 20 %% copied %llu bytes in 400 ms, and flat out "
	      "%llu: it did not rest",
	      (unsigned long long)shared, (unsigned long long)flat);
	/* Set while an operation is out: that operation's time is charged
	 * as any other's (at least 3 operations of the 8 it has time for,
	 * not a rest as long as the machine's uptime). */
	CHECK(set >= 3 * (64 << 10) && set * 2 < flat,
	      "set to 20 %% while copying: %llu bytes in the 400 ms after, "
	      "flat out %llu",
	      (unsigned long long)set, (unsigned long long)flat);
	copied_while_busy(1, false, false);
	/* Out of range: refused with a sentence, by option and by URI. */
	mblk_dev *p = ram(&loop, 1 << 20, 512), *s = ram(&loop, 1 << 20, 512);
	mblk_dev *m;
	struct mblk_mirror_opts o = { .copy_share = 101 };
	CHECK_EQ(mblk_mirror_open(p, s, &o, NULL, NULL, &m), -EINVAL);
	CHECK(strstr(mblk_last_error(), "share") != NULL, "%s",
	      mblk_last_error());
	CHECK_EQ(mblk_mirror_set_share(p, 50), -EINVAL); /* not a mirror */
	CHECK_EQ(mblk_mirror_open(p, s, NULL, NULL, NULL, &m), 0);
	CHECK_EQ(mblk_mirror_set_share(m, 0), -EINVAL);
	CHECK_EQ(mblk_mirror_set_share(m, 101), -EINVAL);
	CHECK(strstr(mblk_last_error(), "1 to 100") != NULL, "%s",
	      mblk_last_error());
	close_dev(&loop, m);
	p = ram(&loop, 1 << 20, 512);
	s = ram(&loop, 1 << 20, 512);
	close_dev(&loop, p);
	close_dev(&loop, s);
	const char *bad[] = { "share=0", "share=101", "share=x" };
	for (int i = 0; i < 3; i++) {
		char uri[256];
		snprintf(uri, sizeof(uri),
			 "mirror:?primary=[ram:?size=1M]&secondary=[ram:?size="
			 "1M]&%s",
			 bad[i]);
		CHECK(mblk_open_sync(&loop, uri, MBLK_OPEN_NO_SAFE, &m) ==
			      -EINVAL,
		      "%s opened", uri);
		CHECK(strstr(mblk_last_error(), "share") != NULL, "%s: %s", uri,
		      mblk_last_error());
	}
}

int main(void)
{
	uv_loop_init(&loop);
	huge_sparse();
	uint32_t sizes[3][2] = { { 512, 512 }, { 512, 4096 }, { 4096, 512 } };
	for (int i = 0; i < 3; i++) {
		/* 3 MiB + 12 KiB: not a multiple of the 64 KiB chunk. */
		idle_copy(sizes[i][0], sizes[i][1], (3u << 20) + 12288, true,
			  (uint64_t)i + 1);
		idle_copy(sizes[i][0], sizes[i][1], (1u << 20) + 4096, false,
			  (uint64_t)i + 11);
	}
	idle_copy(4096, 4096, 4096, false, 5);
	refusals();
	zero_size();
	secondary_fails(false);
	secondary_fails(true);
	primary_fails();
	by_uri();
	close_early();
	rate_limited();
	in_sync();
	active_skips_dirty();
	active_write_across_scan();
	copy_in_pieces(0);
	copy_in_pieces(1);
	copy_in_pieces(2);
	huge_copy_write();
	copy_share();
	failures_in_sync();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("mirror-basic: ok\n");
	return 0;
}
