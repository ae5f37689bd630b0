/* check_ops.c - the conformance checks of flush, discard, write_zeroes,
 * resize, the seeks and read-only devices (see README.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "shim.h"

/* ------------------------------------------------------------------ */
/* flush, discard, write_zeroes                                        */

void check_flush(void)
{
	struct done d;
	if (need(1) && !put(0, 1, 112))
		return;
	int r = do_op(dev, S_FLUSH, 0, 0, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0, "flush: expected 0, got %d: %s", r, d.err);
	if (size >= 1)
		check_data("data after a flush", 0, 1, 112);
}

/* Writes a pattern over a run of pages, zeroes sub-ranges with op (and
 * flags) that start and end inside pages, and checks that exactly the
 * zeroed sectors read as zeros. */
static void zero_ranges(enum sop op, unsigned flags, uint32_t cap)
{
	if (!(info.caps & cap)) {
		skip("the device does not have the capability (see "
		     "unsupported_ops)");
		return;
	}
	uint64_t n = 6 * spp + 3;
	if (!need(n < 4 ? 4 : n))
		return;
	uint64_t s = mid(n);
	/* Ranges relative to s: inside one page, across pages with
	 * unaligned ends, whole pages, the first and the last sector,
	 * and an empty one. */
	struct {
		uint64_t off, len;
	} rg[] = {
		{ 1, spp > 2 ? spp - 2 : 1 },
		{ spp > 1 ? spp - 1 : 1, spp + 2 },
		{ 3 * spp, 2 * spp },
		{ 0, 1 },
		{ n - 1, 1 },
		{ 2, 0 },
	};
	const int nrg = sizeof(rg) / sizeof(rg[0]);
	bool *zero = calloc(n, sizeof(*zero));
	if (!put(s, n, 113))
		goto out;
	struct done d;
	for (int i = 0; i < nrg; i++) {
		if (rg[i].off + rg[i].len > n)
			continue;
		int r = do_op(dev, op, s + rg[i].off, rg[i].len, flags, &d);
		if (cur_failed)
			goto out;
		if (r != 0) {
			fail("%s of %" PRIu64 " sectors at %" PRIu64
			     ": expected 0, got %d: %s",
			     sop_name(op), rg[i].len, s + rg[i].off, r, d.err);
			goto out;
		}
		for (uint64_t k = 0; k < rg[i].len; k++)
			zero[rg[i].off + k] = true;
	}
	/* Check sector by sector runs of equal expectation. */
	for (uint64_t k = 0; k < n;) {
		uint64_t e = k;
		while (e < n && zero[e] == zero[k])
			e++;
		char w[128];
		snprintf(w, sizeof(w),
			 "after %s%s of parts of sectors "
			 "%" PRIu64 "-%" PRIu64,
			 sop_name(op),
			 flags & MBLK_ZEROES_NO_HOLE ? " (NO_HOLE)" : "", s,
			 s + n - 1);
		if (zero[k] ? !check_data(w, s + k, e - k, 0)
			    : !check_data(w, s + k, e - k, 113))
			goto out;
		k = e;
	}
out:
	free(zero);
}

void check_discard(void)
{
	zero_ranges(S_DISCARD, 0, MBLK_CAP_DISCARD);
}

void check_write_zeroes(void)
{
	zero_ranges(S_ZEROES, 0, MBLK_CAP_WRITE_ZEROES);
}

void check_write_zeroes_no_hole(void)
{
	zero_ranges(S_ZEROES, MBLK_ZEROES_NO_HOLE, MBLK_CAP_WRITE_ZEROES);
}

void check_unsupported(void)
{
	struct done d;
	bool any = false;
	struct {
		enum sop op;
		uint32_t cap;
		uint64_t a, b;
	} c[] = {
		{ S_DISCARD, MBLK_CAP_DISCARD, 0, 1 },
		{ S_ZEROES, MBLK_CAP_WRITE_ZEROES, 0, 1 },
		{ S_RESIZE, MBLK_CAP_RESIZE, size, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (info.caps & c[i].cap)
			continue;
		any = true;
		int r = do_op(dev, c[i].op, c[i].a, c[i].b, 0, &d);
		char w[96];
		snprintf(w, sizeof(w), "%s without the capability",
			 sop_name(c[i].op));
		if (!expect_error(w, r, &d, -ENOTSUP, NULL, 0))
			return;
	}
	if (!any)
		skip("the device has discard, write_zeroes and resize");
}

/* ------------------------------------------------------------------ */
/* resize                                                              */

static bool resize_to(uint64_t n)
{
	struct done d;
	int r = do_op(dev, S_RESIZE, n, 0, 0, &d);
	if (r == HARNESS)
		return false;
	if (r != 0)
		return fail("resize to %" PRIu64 " sectors: expected 0, got "
			    "%d: %s",
			    n, r, d.err);
	refresh_info();
	if (size != n)
		return fail("after resize to %" PRIu64 " sectors, info says "
			    "%" PRIu64,
			    n, size);
	return true;
}

void check_resize_grow(void)
{
	if (!(info.caps & MBLK_CAP_RESIZE)) {
		skip("no MBLK_CAP_RESIZE");
		return;
	}
	if (!need(2))
		return;
	uint64_t old = size, g = 2 * spp + 3;
	if (old + g > (UINT64_C(1) << 63) / ss) {
		skip("the device is too close to 2^63 bytes to grow by %" PRIu64
		     " sectors (resize_limits checks the limit)",
		     g);
		return;
	}
	if (!put(old - 2, 2, 114) || !resize_to(old + g))
		goto restore;
	if (!check_data("the new sectors after growing", old, g, 0))
		goto restore;
	check_data("the old last sectors after growing", old - 2, 2, 114);
restore:
	if (size != old)
		resize_to(old);
}

void check_resize_shrink_grow(void)
{
	if (!(info.caps & MBLK_CAP_RESIZE)) {
		skip("no MBLK_CAP_RESIZE");
		return;
	}
	/* Data over the last 2 pages and a bit; cut in the middle of a
	 * page, so that the partial page at the new end must be cleared. */
	uint64_t old = size, k = 2 * spp + 3, cut = spp > 2 ? spp / 2 + 1 : 1;
	if (!need(k + 1))
		return;
	uint64_t ns = old - k + cut;
	struct done d;
	if (!put(old - k, k, 115) || !resize_to(ns))
		goto restore;
	unsigned char *buf = xalloc(ss);
	struct iovec iov = { buf, ss };
	uint64_t nums[] = { ns };
	int r = do_read(dev, ns, &iov, 1, &d);
	free(buf);
	if (!expect_error("read of the first sector past the new end", r, &d,
			  -EINVAL, nums, 1))
		goto restore;
	if (!check_data("data kept below the new end", old - k, cut, 115))
		goto restore;
	if (!resize_to(old))
		goto restore;
	if (!check_data("sectors dropped by the shrink, after growing back", ns,
			old - ns, 0))
		goto restore;
	check_data("data below the cut, after growing back", old - k, cut, 115);
restore:
	if (size != old)
		resize_to(old);
}

void check_resize_limits(void)
{
	if (!(info.caps & MBLK_CAP_RESIZE)) {
		skip("no MBLK_CAP_RESIZE");
		return;
	}
	struct done d;
	uint64_t old = size;
	int r = do_op(dev, S_RESIZE, UINT64_MAX, 0, 0, &d);
	if (r == HARNESS)
		return;
	EXPECT(r < 0, "resize to UINT64_MAX sectors succeeded");
	EXPECT(strstr(d.err, devname) != NULL,
	       "resize to UINT64_MAX: the sentence '%s' does not name the "
	       "device '%s'",
	       d.err, devname);
	refresh_info();
	EXPECT(size == old,
	       "a failed resize changed the size from %" PRIu64 " to %" PRIu64,
	       old, size);
	/* To the same size, to 0 and back. */
	if (!resize_to(old) || !resize_to(0))
		goto restore;
	r = do_read(dev, 0, NULL, 0, &d);
	if (r != HARNESS && r != 0)
		fail("empty read of a 0-sector device: expected 0, got %d: %s",
		     r, d.err);
	if (!cur_failed && resize_to(old) && old > 0)
		check_data("sector 0 after resize to 0 and back", 0, 1, 0);
restore:
	if (size != old)
		resize_to(old);
}

/* ------------------------------------------------------------------ */
/* Seeks                                                               */

static int do_seek(enum sop op, uint64_t from, uint64_t *ans)
{
	struct done d;
	int r = do_op(dev, op, from, 0, 0, &d);
	if (r == 0)
		*ans = d.sector;
	else if (r != HARNESS)
		fail("%s from %" PRIu64 ": expected 0, got %d: %s",
		     sop_name(op), from, r, d.err);
	return r;
}

void check_seek_end(void)
{
	uint64_t from[] = { size, size + 1, size + 1000, UINT64_MAX / 2,
			    UINT64_MAX };
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		for (int m = 0; m < 2; m++) {
			enum sop op = m ? S_UNMAPPED : S_MAPPED;
			uint64_t a = 0;
			if (do_seek(op, from[i], &a) != 0)
				return;
			EXPECT(a == size,
			       "%s from %" PRIu64 " (at or past the "
			       "end of a %" PRIu64 "-sector device): "
			       "expected %" PRIu64 ", got %" PRIu64,
			       sop_name(op), from[i], size, size, a);
		}
}

/* The answers for `from` must be conservative-correct: everything in
 * [from, seek_mapped) reads as zeros (checked up to `limit` sectors);
 * seek_unmapped answers a sector that reads as zeros, or the size. */
static bool seek_sound(uint64_t from, uint64_t limit)
{
	uint64_t m, u;
	char w[160];
	if (do_seek(S_MAPPED, from, &m) != 0 ||
	    do_seek(S_UNMAPPED, from, &u) != 0)
		return false;
	if (m < from || m > size)
		return fail("seek_mapped from %" PRIu64 " answered %" PRIu64
			    ", outside [from, size = %" PRIu64 "]",
			    from, m, size);
	if (u < from || u > size)
		return fail("seek_unmapped from %" PRIu64 " answered %" PRIu64
			    ", outside [from, size = %" PRIu64 "]",
			    from, u, size);
	uint64_t n = m - from < limit ? m - from : limit;
	snprintf(w, sizeof(w),
		 "seek_mapped from %" PRIu64 " answered %" PRIu64
		 ", but the sectors it skips must read as zeros",
		 from, m);
	if (n > 0 && !check_data(w, from, n, 0))
		return false;
	snprintf(w, sizeof(w),
		 "seek_unmapped from %" PRIu64 " answered %" PRIu64
		 ", which must read as zeros",
		 from, u);
	if (u < size && !check_data(w, u, 1, 0))
		return false;
	return true;
}

void check_seek_sound(void)
{
	/* A layout over 8 pages: data, hole, data across a page boundary,
	 * hole to the end of the region. Holes are made by discard (or
	 * write_zeroes) when the device can, so the region starts clean. */
	uint64_t n = 8 * spp + 4;
	if (!need(n))
		return;
	uint64_t s = mid(n);
	struct done d;
	int r = 0;
	if (info.caps & MBLK_CAP_DISCARD)
		r = do_op(dev, S_DISCARD, s, n, 0, &d);
	else if (info.caps & MBLK_CAP_WRITE_ZEROES)
		r = do_op(dev, S_ZEROES, s, n, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0, "clearing the region: expected 0, got %d: %s", r, d.err);
	if (!put(s + 1, spp, 116) || !put(s + 3 * spp - 1, 2, 117) ||
	    !put(s + 5 * spp, spp, 118))
		return;
	uint64_t from[] = { s,
			    s + 1,
			    s + spp,
			    s + spp + 1,
			    s + 2 * spp,
			    s + 3 * spp - 2,
			    s + 3 * spp - 1,
			    s + 3 * spp,
			    s + 3 * spp + 1,
			    s + 4 * spp,
			    s + 5 * spp - 1,
			    s + 6 * spp,
			    s + n - 1,
			    0,
			    size ? size - 1 : 0 };
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		if (!seek_sound(from[i], 8 * chunk_sectors()))
			return;
	/* Sectors known to hold data bound seek_mapped from below. */
	uint64_t m;
	if (do_seek(S_MAPPED, s + spp + 1, &m) != 0)
		return;
	EXPECT(m <= s + 3 * spp - 1,
	       "seek_mapped from %" PRIu64 " answered %" PRIu64 ", skipping "
	       "the data written at %" PRIu64,
	       s + spp + 1, m, s + 3 * spp - 1);
}

void check_seek_hole(void)
{
	/* A device with MBLK_CAP_SEEK and discard reports a discarded,
	 * aligned run as a hole: seeks must be useful, not only safe. */
	if ((info.caps & (MBLK_CAP_SEEK | MBLK_CAP_DISCARD)) !=
	    (MBLK_CAP_SEEK | MBLK_CAP_DISCARD)) {
		skip("needs MBLK_CAP_SEEK and MBLK_CAP_DISCARD");
		return;
	}
	/* A 1 MiB run aligned to 1 MiB, or smaller on a small device,
	 * but at least 16 KiB (four file system blocks). */
	uint64_t run = (UINT64_C(1) << 20) / ss;
	uint64_t minrun = 16384 / ss ? 16384 / ss : 1;
	while (run > minrun && 3 * run > size)
		run /= 2;
	if (!need(3 * run))
		return;
	uint64_t s = run;
	struct done d;
	if (!put(s - 1, 1, 119) || !put(2 * run, 1, 120))
		return;
	int r = do_op(dev, S_DISCARD, s, run, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0, "discard: expected 0, got %d: %s", r, d.err);
	uint64_t m, u;
	if (do_seek(S_MAPPED, s, &m) != 0 ||
	    do_seek(S_UNMAPPED, s - 1, &u) != 0)
		return;
	EXPECT(m > s,
	       "seek_mapped from %" PRIu64 ", the start of a discarded "
	       "%" PRIu64 "-sector run, answered %" PRIu64
	       ": the hole was not found",
	       s, run, m);
	EXPECT(m <= 2 * run,
	       "seek_mapped from %" PRIu64 " answered %" PRIu64
	       ", past the data at %" PRIu64,
	       s, m, 2 * run);
	EXPECT(u <= 2 * run,
	       "seek_unmapped from %" PRIu64 " answered %" PRIu64
	       ", past the discarded run %" PRIu64 "-%" PRIu64,
	       s - 1, u, s, 2 * run - 1);
}

/* ------------------------------------------------------------------ */
/* Read-only                                                           */

void check_read_only(void)
{
	mblk_dev *ro = NULL;
	int r = shim_open(&loop, uri, open_flags | MBLK_OPEN_RDONLY, shim_spec,
			  &ro);
	if (r < 0) {
		skip("cannot open the URI a second time, read-only: %s",
		     mblk_last_error());
		return;
	}
	struct mblk_info ri;
	mblk_get_info(ro, &ri);
	if (ri.read_write) {
		skip("the device ignores MBLK_OPEN_RDONLY (read_write stays "
		     "true)");
		goto out;
	}
	if (ri.size_sectors == 0) {
		skip("the read-only device has no sectors");
		goto out;
	}
	const char *rname = mblk_dev_name(ro);
	unsigned char *buf = xalloc(ss);
	struct iovec iov = { buf, ss };
	struct done d;
	r = do_read(ro, 0, &iov, 1, &d);
	if (r != HARNESS && r != 0)
		fail("read from the read-only device: expected 0, got %d: %s",
		     r, d.err);
	r = cur_failed ? HARNESS : do_write(ro, 0, &iov, 1, 0, &d);
	free(buf);
	if (r == HARNESS)
		goto out;
	if (r != -EROFS || strstr(d.err, rname) == NULL ||
	    strstr(d.err, "read-only") == NULL) {
		fail("write to a read-only device: expected -EROFS and a "
		     "sentence naming '%s' and saying read-only; got %d: %s",
		     rname, r, d.err);
		goto out;
	}
	struct {
		enum sop op;
		uint32_t cap;
		uint64_t a, b;
	} c[] = {
		{ S_DISCARD, MBLK_CAP_DISCARD, 0, 1 },
		{ S_ZEROES, MBLK_CAP_WRITE_ZEROES, 0, 1 },
		{ S_RESIZE, MBLK_CAP_RESIZE, ri.size_sectors, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (!(ri.caps & c[i].cap))
			continue;
		r = do_op(ro, c[i].op, c[i].a, c[i].b, 0, &d);
		if (r == HARNESS)
			goto out;
		if (r != -EROFS) {
			fail("%s on a read-only device: expected -EROFS, got "
			     "%d: %s",
			     sop_name(c[i].op), r, d.err);
			goto out;
		}
	}
	r = do_op(ro, S_FLUSH, 0, 0, 0, &d);
	if (r != HARNESS && r != 0)
		fail("flush of a read-only device: expected 0, got %d: %s", r,
		     d.err);
out:
	memset(&d, 0, sizeof(d));
	mblk_close(ro, io_cb, &d);
	wait_all(&d, 1, "closing the read-only device");
}
