/* check_rw.c - the conformance checks of geometry, read-after-write and every
 * request the core and safe must refuse (see README.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "shim.h"

/* ------------------------------------------------------------------ */
/* info                                                                */

void check_info(void)
{
	refresh_info();
	const uint32_t known = MBLK_CAP_FLUSH | MBLK_CAP_DISCARD |
			       MBLK_CAP_WRITE_ZEROES | MBLK_CAP_RESIZE |
			       MBLK_CAP_SEEK | MBLK_CAP_FUA |
			       MBLK_CAP_ZERO_IS_FAST | MBLK_CAP_CACHE;
	EXPECT(info.sector_size != 0 &&
		       (info.sector_size & (info.sector_size - 1)) == 0,
	       "sector_size %u is not a power of two", info.sector_size);
	EXPECT(info.size_sectors <= (UINT64_C(1) << 63) / info.sector_size,
	       "%" PRIu64 " sectors of %u bytes is more than 2^63 bytes",
	       info.size_sectors, info.sector_size);
	EXPECT(info.buf_align != 0 &&
		       (info.buf_align & (info.buf_align - 1)) == 0,
	       "buf_align %u is not a power of two", info.buf_align);
	EXPECT(info.min_io == info.sector_size,
	       "min_io is %u, expected the sector size %u", info.min_io,
	       info.sector_size);
	EXPECT(info.pref_io >= info.min_io && info.pref_io % info.min_io == 0,
	       "pref_io %u is not a positive multiple of min_io %u",
	       info.pref_io, info.min_io);
	EXPECT(info.max_io == 0 || (info.max_io >= info.pref_io &&
				    info.max_io % info.sector_size == 0),
	       "max_io %u is neither 0 (no limit) nor a multiple of the "
	       "sector size %u at least pref_io %u",
	       info.max_io, info.sector_size, info.pref_io);
	EXPECT((info.caps & ~known) == 0, "caps 0x%x has unknown bits 0x%x",
	       info.caps, info.caps & ~known);
	EXPECT(!(info.caps & MBLK_CAP_ZERO_IS_FAST) ||
		       (info.caps & MBLK_CAP_WRITE_ZEROES),
	       "caps 0x%x has ZERO_IS_FAST without WRITE_ZEROES", info.caps);
	EXPECT(info.read_write, "a device opened read-write reports "
				"read_write = false");
	EXPECT(devname != NULL && devname[0] != '\0', "mblk_dev_name is empty");
	EXPECT(mblk_dev_loop(dev) == &loop,
	       "mblk_dev_loop returned another loop than the one given");
	struct mblk_info again;
	mblk_get_info(dev, &again);
	EXPECT(memcmp(&again, &info, sizeof(info)) == 0,
	       "two mblk_get_info calls in a row disagree");
}

const char *expect_caps;

static void caps_text(uint32_t caps, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int b = 0; b < 32; b++)
		if ((caps & (1u << b)) && mblk_cap_name(1u << b) != NULL)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
					      n ? "," : "",
					      mblk_cap_name(1u << b));
	if (n == 0)
		snprintf(buf, len, "(none)");
}

void check_expected_caps(void)
{
	if (expect_caps == NULL) {
		skip("no --expect-caps given");
		return;
	}
	uint32_t want = 0;
	char *list = strdup(expect_caps), *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		uint32_t bit = shim_cap_bit(t);
		if (bit == 0 && strcmp(t, "none") == 0)
			continue;
		if (bit == 0) {
			fail("--expect-caps: unknown capability '%s'", t);
			free(list);
			return;
		}
		want |= bit;
	}
	free(list);
	char w[160], g[160];
	caps_text(want, w, sizeof(w));
	caps_text(info.caps, g, sizeof(g));
	EXPECT(want == info.caps, "expected capabilities %s, the device has %s",
	       w, g);
}

/* mblk_get_uri: snprintf-like, and the URI reopens a device of the same
 * geometry. */
void check_uri(void)
{
	char small[4], buf[1024];
	int n = mblk_get_uri(dev, buf, sizeof(buf));
	if (n == -ENOTSUP) {
		skip("the device has no URI: %s", mblk_last_error());
		return;
	}
	EXPECT(n > 0, "mblk_get_uri returned %d: %s", n, mblk_last_error());
	EXPECT((size_t)n < sizeof(buf), "the URI is %d bytes long", n);
	EXPECT(strlen(buf) == (size_t)n,
	       "mblk_get_uri returned %d but wrote %zu bytes: '%s'", n,
	       strlen(buf), buf);
	memset(small, 'x', sizeof(small));
	int m = mblk_get_uri(dev, small, sizeof(small));
	EXPECT(m == n,
	       "with a 4-byte buffer mblk_get_uri returned %d, "
	       "expected the full length %d",
	       m, n);
	EXPECT(memchr(small, '\0', sizeof(small)) != NULL,
	       "with a 4-byte buffer the URI is not NUL-terminated");
	mblk_dev *again = NULL;
	if (shim_open(&loop, buf, open_flags, shim_spec, &again) < 0) {
		skip("cannot open the URI '%s' a second time: %s", buf,
		     mblk_last_error());
		return;
	}
	struct mblk_info ai;
	mblk_get_info(again, &ai);
	struct done d;
	memset(&d, 0, sizeof(d));
	mblk_close(again, io_cb, &d);
	if (!wait_all(&d, 1, "closing the reopened device"))
		return;
	EXPECT(ai.size_sectors == info.size_sectors &&
		       ai.sector_size == info.sector_size,
	       "'%s' reopens as %" PRIu64 " sectors of %u bytes, expected "
	       "%" PRIu64 " of %u",
	       buf, ai.size_sectors, ai.sector_size, info.size_sectors,
	       info.sector_size);
}

/* ------------------------------------------------------------------ */
/* Read after write                                                    */

void check_rw_one(void)
{
	uint64_t n = 3 * spp + 2;
	if (n > size)
		n = size;
	if (!need(1))
		return;
	uint64_t s = mid(n);
	if (put(s, n, 101))
		check_data("read back one buffer", s, n, 101);
}

void check_rw_copied(void)
{
	/* The device must copy the data: changing the buffer after the
	 * write completed must not change what is read (upstream ramdisk
	 * kept references to the caller's buffers). */
	if (!need(2))
		return;
	uint64_t s = mid(2);
	unsigned char *buf = xalloc(2 * ss);
	pat_fill_range(buf, ss, 2, TAG, 102, s);
	struct iovec iov = { buf, 2 * ss };
	struct done d;
	int r = do_write(dev, s, &iov, 1, 0, &d);
	memset(buf, 0x5a, 2 * ss);
	free(buf);
	STOP_IF_FAILED();
	EXPECT(r == 0, "write: expected 0, got %d: %s", r, d.err);
	check_data("buffer reused after the write", s, 2, 102);
}

void check_rw_scatter(void)
{
	/* Write with one split, read with another, both with zero-length
	 * buffers inside the list. */
	static const unsigned wsplit[] = { 1, 0, 3, 0, 0, 2, 5, 0, 1 };
	static const unsigned rsplit[] = { 0, 2, 4, 0, 1, 5, 0, 0 };
	const int nw = sizeof(wsplit) / sizeof(wsplit[0]);
	const int nr = sizeof(rsplit) / sizeof(rsplit[0]);
	uint64_t n = 12;
	if (!need(n))
		return;
	uint64_t s = mid(n);
	unsigned char *src = xalloc(n * ss), *dst = xalloc(n * ss);
	pat_fill_range(src, ss, n, TAG, 103, s);
	struct iovec wv[16], rv[16];
	size_t off = 0;
	for (int i = 0; i < nw; i++) {
		/* Zero-length buffers point at distinct junk addresses. */
		wv[i].iov_base = src + off;
		wv[i].iov_len = (size_t)wsplit[i] * ss;
		off += wv[i].iov_len;
	}
	off = 0;
	for (int i = 0; i < nr; i++) {
		rv[i].iov_base = dst + off;
		rv[i].iov_len = (size_t)rsplit[i] * ss;
		off += rv[i].iov_len;
	}
	struct done d;
	int r = do_write(dev, s, wv, nw, 0, &d);
	if (r == 0)
		r = do_read(dev, s, rv, nr, &d);
	if (r == 0)
		compare("write split 1,0,3,0,0,2,5,0,1 then read split "
			"0,2,4,0,1,5,0,0",
			dst, s, n, 103);
	else if (r != HARNESS)
		fail("scatter-gather request: expected 0, got %d: %s", r,
		     d.err);
	if (!cur_failed)
		check_data("the same read as one buffer", s, n, 103);
	free(src);
	free(dst);
}

void check_rw_scatter_large(void)
{
	/* A large read into many buffers of mixed sizes: one sector, page
	 * runs, zero-length ones, one big one, more than 64 in all. A
	 * network device reads a large payload straight into the caller's
	 * buffers, many per system call; this checks every byte lands in
	 * its own buffer, in order, across those calls. */
	uint64_t n = (512u * 1024u) / ss;
	if (n < 200)
		n = 200;
	if (info.max_io != 0 && n > info.max_io / ss)
		n = info.max_io / ss;
	if (!need(n + 1))
		return;
	uint64_t s = mid(n);
	unsigned char *src = xalloc(n * ss), *dst = xalloc(n * ss);
	pat_fill_range(src, ss, n, TAG, 109, s);
	struct iovec rv[160];
	int nr = 0;
	uint64_t left = n;
	for (int i = 0; left > 0 && nr < 159; i++) {
		/* 1, 0, spp, 3, 0, 2 * spp, ... sectors, then one buffer
		 * of a fifth of the request, then the pattern again. */
		static const unsigned pat[] = { 1, 0, 8, 3, 0, 16, 1, 5 };
		uint64_t k = i == 20 ? n / 5 : pat[i % 8];
		if (k > left)
			k = left;
		rv[nr].iov_base = dst + (n - left) * ss;
		rv[nr++].iov_len = (size_t)(k * ss);
		left -= k;
	}
	if (left > 0) {
		rv[nr].iov_base = dst + (n - left) * ss;
		rv[nr++].iov_len = (size_t)(left * ss);
	}
	struct iovec wv = { src, n * ss };
	struct done d;
	int r = do_write(dev, s, &wv, 1, 0, &d);
	if (r == 0)
		r = do_read(dev, s, rv, nr, &d);
	if (r == 0)
		compare("one large write read back into many buffers", dst, s,
			n, 109);
	else if (r != HARNESS)
		fail("large scatter-gather request of %" PRIu64 " sectors in "
		     "%d buffers: expected 0, got %d: %s",
		     n, nr, r, d.err);
	free(src);
	free(dst);
}

void check_rw_zero_buffers(void)
{
	struct iovec empty[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
	uint64_t at[3] = { 0, size / 2, size };
	struct done d;
	for (int i = 0; i < 3; i++) {
		int r = do_read(dev, at[i], NULL, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0,
		       "read of no buffers (iov NULL, iovcnt 0) at "
		       "sector %" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
		r = do_write(dev, at[i], empty, 0, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0,
		       "write of no buffers (iovcnt 0) at sector "
		       "%" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
		r = do_read(dev, at[i], empty, 3, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0,
		       "read of three zero-length buffers at sector "
		       "%" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
		r = do_write(dev, at[i], empty, 3, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0,
		       "write of three zero-length buffers at sector "
		       "%" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
	}
}

void check_rw_first(void)
{
	if (!need(1))
		return;
	if (size >= 2 && !put(1, 1, 105))
		return;
	if (!put(0, 1, 104) || !check_data("first sector", 0, 1, 104))
		return;
	if (size >= 2)
		check_data("sector 1 after writing sector 0", 1, 1, 105);
}

void check_rw_last(void)
{
	if (!need(1))
		return;
	uint64_t last = size - 1;
	if (size >= 2 && !put(last - 1, 1, 107))
		return;
	if (!put(last, 1, 106) || !check_data("last sector", last, 1, 106))
		return;
	if (size >= 2)
		check_data("the sector before the last after writing the last",
			   last - 1, 1, 107);
}

void check_rw_many_pages(void)
{
	/* 64 pages and a bit, from a sector that is not page aligned. */
	if (!need(2))
		return;
	uint64_t n = 64 * spp + 3;
	if (n > size - 1)
		n = size - 1;
	if (info.max_io != 0 && n > info.max_io / ss)
		n = info.max_io / ss;
	uint64_t s = 1;
	unsigned char *buf = xalloc(n * ss);
	pat_fill_range(buf, ss, n, TAG, 108, s);
	struct iovec iov = { buf, n * ss };
	struct done d;
	int r = do_write(dev, s, &iov, 1, 0, &d);
	free(buf);
	STOP_IF_FAILED();
	EXPECT(r == 0, "write of %" PRIu64 " sectors: expected 0, got %d: %s",
	       n, r, d.err);
	check_data("write spanning many pages", s, n, 108);
}

void check_rw_fua(void)
{
	if (!need(2))
		return;
	uint64_t s = mid(2);
	unsigned char *buf = xalloc(2 * ss);
	pat_fill_range(buf, ss, 2, TAG, 109, s);
	struct iovec iov = { buf, 2 * ss };
	struct done d;
	int r = do_write(dev, s, &iov, 1, MBLK_WRITE_FUA, &d);
	free(buf);
	STOP_IF_FAILED();
	EXPECT(r == 0, "write with MBLK_WRITE_FUA: expected 0, got %d: %s", r,
	       d.err);
	check_data("FUA write", s, 2, 109);
}

/* mblk_safe_unsafe_read / _write: through safe they reach the inner
 * device; on a device without safe they are refused at once. */
void check_unsafe_rw(void)
{
	if (!need(2))
		return;
	uint64_t s = mid(2);
	unsigned char *src = xalloc(2 * ss), *dst = xalloc(2 * ss);
	pat_fill_range(src, ss, 2, TAG, 126, s);
	struct iovec wv = { src, 2 * ss }, rv = { dst, 2 * ss };
	struct done d[2];
	memset(d, 0, sizeof(d));
	in_submit++;
	int r = mblk_safe_unsafe_write(dev, s, &wv, 1, 0, io_cb, &d[0]);
	in_submit--;
	if (open_flags & MBLK_OPEN_NO_SAFE) {
		for (int i = 0; i < 5; i++)
			uv_run(&loop, UV_RUN_NOWAIT);
		if (r != -EINVAL || d[0].calls != 0)
			fail("mblk_safe_unsafe_write on a device without safe: "
			     "expected -EINVAL at once and no callback, got %d "
			     "and %d callbacks",
			     r, d[0].calls);
		goto out;
	}
	if (r != 0) {
		fail("mblk_safe_unsafe_write returned %d: %s", r,
		     mblk_last_error());
		goto out;
	}
	if (!wait_all(&d[0], 1, "unsafe write") ||
	    !done_ok(&d[0], "unsafe write"))
		goto out;
	if (d[0].status != 0) {
		fail("unsafe write: expected 0, got %d: %s", d[0].status,
		     d[0].err);
		goto out;
	}
	in_submit++;
	r = mblk_safe_unsafe_read(dev, s, &rv, 1, io_cb, &d[1]);
	in_submit--;
	if (r != 0) {
		fail("mblk_safe_unsafe_read returned %d: %s", r,
		     mblk_last_error());
		goto out;
	}
	if (!wait_all(&d[1], 1, "unsafe read") ||
	    !done_ok(&d[1], "unsafe read"))
		goto out;
	if (d[1].status != 0)
		fail("unsafe read: expected 0, got %d: %s", d[1].status,
		     d[1].err);
	else
		compare("unsafe write read back with unsafe read", dst, s, 2,
			126);
out:
	free(src);
	free(dst);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* Reads and writes the given request and expects -EINVAL with the
 * numbers in the sentence. A rejected write must not change the
 * sector at `guard` (pattern 110, written first) when guard < size. */
static void expect_rw_einval(const char *what, uint64_t s,
			     const struct iovec *iov, int n,
			     const uint64_t *nums, int nnums, uint64_t guard)
{
	char w[200];
	struct done d;
	if (guard < size && !put(guard, 1, 110))
		return;
	snprintf(w, sizeof(w), "read, %s", what);
	int r = do_read(dev, s, iov, n, &d);
	if (!expect_error(w, r, &d, -EINVAL, nums, nnums))
		return;
	snprintf(w, sizeof(w), "write, %s", what);
	r = do_write(dev, s, iov, n, 0, &d);
	if (!expect_error(w, r, &d, -EINVAL, nums, nnums))
		return;
	if (guard < size)
		check_data("the sector a rejected write would have touched",
			   guard, 1, 110);
}

void check_err_len(void)
{
	if (ss == 1) {
		skip("the sector size is 1 byte: every length is a multiple");
		return;
	}
	if (!need(2))
		return;
	unsigned char *buf = xalloc(2 * ss);
	pat_fill_range(buf, ss, 2, TAG, 111, 0);
	size_t len = ss + ss / 2;
	struct iovec iov[2] = { { buf, ss }, { buf + ss, len - ss } };
	uint64_t nums[] = { len - ss, ss };
	expect_rw_einval("second buffer half a sector", 0, iov, 2, nums, 2, 1);
	free(buf);
}

void check_err_start(void)
{
	unsigned char *buf = xalloc(ss);
	struct iovec iov = { buf, ss };
	uint64_t nums[] = { size + 1, size };
	expect_rw_einval("one sector just past the end", size + 1, &iov, 1,
			 nums, 2, size);
	uint64_t nums2[] = { size };
	if (!cur_failed)
		expect_rw_einval("one sector at the end", size, &iov, 1, nums2,
				 1, size);
	free(buf);
}

void check_err_end(void)
{
	if (!need(1))
		return;
	unsigned char *buf = xalloc(3 * ss);
	struct iovec iov = { buf, 3 * ss };
	uint64_t s = size > 1 ? size - 1 : 0;
	uint64_t nums[] = { s, size };
	expect_rw_einval("three sectors from the last", s, &iov, 1, nums, 2, s);
	free(buf);
}

void check_err_overflow(void)
{
	unsigned char *buf = xalloc(4 * ss);
	struct iovec iov = { buf, 4 * ss };
	uint64_t s = UINT64_MAX - 1;
	uint64_t nums[] = { s };
	expect_rw_einval("four sectors at UINT64_MAX - 1", s, &iov, 1, nums, 1,
			 UINT64_MAX);
	free(buf);
	STOP_IF_FAILED();
	/* The same for the range operations, where they exist. */
	struct done d;
	if (info.caps & MBLK_CAP_DISCARD) {
		int r = do_op(dev, S_DISCARD, s, 4, 0, &d);
		if (!expect_error("discard of 4 sectors at UINT64_MAX - 1", r,
				  &d, -EINVAL, nums, 1))
			return;
	}
	if (info.caps & MBLK_CAP_WRITE_ZEROES) {
		int r = do_op(dev, S_ZEROES, 1, UINT64_MAX, 0, &d);
		uint64_t n2[] = { UINT64_MAX };
		if (!expect_error("write_zeroes of UINT64_MAX sectors at 1", r,
				  &d, -EINVAL, n2, 1))
			return;
	}
}

void check_err_null_buffer(void)
{
	if (!need(1))
		return;
	struct iovec iov[2] = { { NULL, 0 }, { NULL, ss } };
	uint64_t nums[] = { ss };
	expect_rw_einval("buffer 1 NULL with length one sector", 0, iov, 2,
			 nums, 1, 0);
	STOP_IF_FAILED();
	struct done d;
	int r = do_read(dev, 0, iov, 2, &d);
	if (r != HARNESS && strstr(d.err, "NULL") == NULL)
		FAIL("the sentence '%s' does not say the buffer is NULL",
		     d.err);
}

void check_err_null_iov(void)
{
	uint64_t nums[] = { 2 };
	expect_rw_einval("iov NULL with iovcnt 2", 0, NULL, 2, nums, 1,
			 UINT64_MAX);
}

void check_err_iovcnt(void)
{
	struct iovec *many = calloc(IOV_MAX + 1, sizeof(*many));
	uint64_t n1[] = { (uint64_t)IOV_MAX + 1, IOV_MAX };
	expect_rw_einval("iovcnt IOV_MAX + 1 zero-length buffers", 0, many,
			 IOV_MAX + 1, n1, 2, UINT64_MAX);
	free(many);
	STOP_IF_FAILED();
	struct iovec one = { NULL, 0 };
	struct done d;
	int r = do_read(dev, 0, &one, -1, &d);
	if (!expect_error("read with iovcnt -1", r, &d, -EINVAL, NULL, 0))
		return;
	EXPECT(strstr(d.err, "-1") != NULL,
	       "the sentence '%s' does not give the count -1", d.err);
	r = do_write(dev, 0, &one, INT_MIN, 0, &d);
	expect_error("write with iovcnt INT_MIN", r, &d, -EINVAL, NULL, 0);
	/* IOV_MAX itself is allowed. */
	many = calloc(IOV_MAX, sizeof(*many));
	r = do_read(dev, 0, many, IOV_MAX, &d);
	free(many);
	STOP_IF_FAILED();
	EXPECT(r == 0,
	       "read of IOV_MAX (%d) zero-length buffers: expected 0, "
	       "got %d: %s",
	       IOV_MAX, r, d.err);
}

void check_err_range_ops(void)
{
	struct done d;
	bool any = false;
	for (int i = 0; i < 2; i++) {
		enum sop op = i ? S_ZEROES : S_DISCARD;
		uint32_t cap = i ? MBLK_CAP_WRITE_ZEROES : MBLK_CAP_DISCARD;
		if (!(info.caps & cap))
			continue;
		any = true;
		char w[128];
		snprintf(w, sizeof(w),
			 "%s of 1 sector at %" PRIu64 " (the size)",
			 sop_name(op), size);
		uint64_t n1[] = { size };
		if (!expect_error(w, do_op(dev, op, size, 1, 0, &d), &d,
				  -EINVAL, n1, 1))
			return;
		if (size >= 1) {
			snprintf(w, sizeof(w), "%s of 2 sectors at %" PRIu64,
				 sop_name(op), size - 1);
			uint64_t n2[] = { size - 1, size };
			if (!expect_error(w, do_op(dev, op, size - 1, 2, 0, &d),
					  &d, -EINVAL, n2, 2))
				return;
		}
	}
	if (!any)
		skip("the device has neither discard nor write_zeroes");
}

void check_err_misaligned(void)
{
	if (open_flags & MBLK_OPEN_NO_SAFE) {
		skip("alignment is checked by safe; run without --no-safe");
		return;
	}
	if (info.buf_align <= 1) {
		skip("buf_align is 1: every address is aligned");
		return;
	}
	if (!need(1))
		return;
	unsigned char *buf = xalloc(2 * ss + info.buf_align);
	struct iovec iov = { buf + info.buf_align / 2, ss };
	uint64_t nums[] = { info.buf_align };
	expect_rw_einval("buffer address off by buf_align / 2", 0, &iov, 1,
			 nums, 1, 0);
	free(buf);
}

void check_empty_at_end(void)
{
	/* Upstream's safe refused any request at sector == size, even an
	 * empty one; the end of the device is a valid place for nothing. */
	struct iovec empty[2] = { { NULL, 0 }, { NULL, 0 } };
	struct done d;
	int r = do_read(dev, size, empty, 2, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0,
	       "read of 2 empty buffers at sector %" PRIu64
	       " (= size): expected 0, got %d: %s",
	       size, r, d.err);
	r = do_write(dev, size, NULL, 0, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0,
	       "write of 0 buffers at sector %" PRIu64
	       " (= size): expected 0, got %d: %s",
	       size, r, d.err);
	for (int i = 0; i < 2; i++) {
		enum sop op = i ? S_ZEROES : S_DISCARD;
		uint32_t cap = i ? MBLK_CAP_WRITE_ZEROES : MBLK_CAP_DISCARD;
		if (!(info.caps & cap))
			continue;
		r = do_op(dev, op, size, 0, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0,
		       "%s of 0 sectors at sector %" PRIu64
		       " (= size): expected 0, got %d: %s",
		       sop_name(op), size, r, d.err);
	}
	/* One past the end is past the end, even for nothing. */
	uint64_t nums[] = { size + 1, size };
	r = do_read(dev, size + 1, NULL, 0, &d);
	expect_error("read of 0 buffers at size + 1", r, &d, -EINVAL, nums, 2);
}

void check_null_cb_dev(void)
{
	struct done d;
	memset(&d, 0, sizeof(d));
	struct iovec iov = { NULL, 0 };
	struct {
		const char *what;
		int r;
	} c[] = {
		{ "mblk_read(dev, cb NULL)",
		  mblk_read(dev, 0, &iov, 1, NULL, &d) },
		{ "mblk_write(dev, cb NULL)",
		  mblk_write(dev, 0, &iov, 1, 0, NULL, &d) },
		{ "mblk_flush(dev, cb NULL)", mblk_flush(dev, NULL, &d) },
		{ "mblk_discard(dev, cb NULL)",
		  mblk_discard(dev, 0, 1, NULL, &d) },
		{ "mblk_write_zeroes(dev, cb NULL)",
		  mblk_write_zeroes(dev, 0, 1, 0, NULL, &d) },
		{ "mblk_resize(dev, cb NULL)",
		  mblk_resize(dev, size, NULL, &d) },
		{ "mblk_seek_mapped(dev, cb NULL)",
		  mblk_seek_mapped(dev, 0, NULL, &d) },
		{ "mblk_seek_unmapped(dev, cb NULL)",
		  mblk_seek_unmapped(dev, 0, NULL, &d) },
		{ "mblk_disconnect(dev, cb NULL)",
		  mblk_disconnect(dev, NULL, &d) },
		{ "mblk_read(NULL)", mblk_read(NULL, 0, &iov, 1, io_cb, &d) },
		{ "mblk_write(NULL)",
		  mblk_write(NULL, 0, &iov, 1, 0, io_cb, &d) },
		{ "mblk_flush(NULL)", mblk_flush(NULL, io_cb, &d) },
		{ "mblk_discard(NULL)", mblk_discard(NULL, 0, 1, io_cb, &d) },
		{ "mblk_write_zeroes(NULL)",
		  mblk_write_zeroes(NULL, 0, 1, 0, io_cb, &d) },
		{ "mblk_resize(NULL)", mblk_resize(NULL, 1, io_cb, &d) },
		{ "mblk_seek_mapped(NULL)",
		  mblk_seek_mapped(NULL, 0, seek_cb, &d) },
		{ "mblk_seek_unmapped(NULL)",
		  mblk_seek_unmapped(NULL, 0, seek_cb, &d) },
		{ "mblk_disconnect(NULL)", mblk_disconnect(NULL, io_cb, &d) },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		EXPECT(c[i].r == -EINVAL,
		       "%s returned %d (%s), expected -EINVAL at once",
		       c[i].what, c[i].r,
		       c[i].r ? mblk_strerror(c[i].r) : "submitted");
	EXPECT(mblk_last_error()[0] != '\0',
	       "mblk_last_error() is empty after a refused submission");
	mblk_close(NULL, io_cb, &d);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	EXPECT(d.calls == 0,
	       "a callback ran %d times after submissions that "
	       "were refused (or mblk_close(NULL))",
	       d.calls);
	/* The device still works: the NULL-callback disconnect must not
	 * have disconnected it. */
	unsigned char *buf = xalloc(ss);
	struct iovec one = { buf, ss };
	int r = size ? do_read(dev, 0, &one, 1, &d) : 0;
	free(buf);
	STOP_IF_FAILED();
	EXPECT(r == 0,
	       "read after the refused submissions: expected 0, got "
	       "%d: %s",
	       r, d.err);
}
