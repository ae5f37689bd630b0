/* conformance.c - the contract of <mblk.h>, checked against any device.
 *
 *   conformance [--no-safe] [--expect-caps LIST] URI
 *
 * Opens URI with mblk_open on a loop of its own and runs every check
 * below in order, printing "ok NAME", "ok NAME # SKIP why" or
 * "FAIL NAME: what was expected, what came". Exit status: 0 when every
 * check passed, 1 when one failed, 77 when the URI cannot be opened
 * because its scheme is not built in (-ENOTSUP from mblk_open).
 *
 * Design notes
 *
 * Every request goes through the asynchronous API (never the _sync
 * helpers) so that each completion can be checked against the contract:
 * the harness raises `in_submit` around every submitting call and each
 * callback records whether it ran inside one, how often it ran, its
 * status and its sentence (struct done). wait_done then runs the loop
 * until the callback came; a loop with nothing left to run while a
 * callback is still missing is reported as such, and SIGALRM catches a
 * device that hangs with handles still active.
 *
 * A check stops at its first failure and keeps that message (later ones
 * are usually consequences). Checks write their own data before reading
 * it, so they do not depend on each other; only the last ones
 * (disconnect, close) end the device's life. The read-only and
 * close-in-flight checks open the URI a second time: for an anonymous
 * ram: that is a different device, which is all they need.
 *
 * Data is written with pattern.h, so a read that returns the wrong data
 * says whose data it returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk.h>
#include "pattern.h"
#include "shim.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* A check's data tag: the pattern's tag field. */
#define TAG 0xc0fu

/* ------------------------------------------------------------------ */
/* Harness state                                                       */

static uv_loop_t loop;
static mblk_dev *dev;
static struct mblk_info info;
static const char *uri;
static const char *devname;
static unsigned open_flags;
static const char *shim_spec; /* --shim: see shim.h */
static uint32_t ss;    /* sector size */
static uint64_t size;  /* sectors, as of the last refresh */
static uint64_t spp;   /* sectors per 4 KiB page, at least 1 */
static size_t balign;  /* buffer alignment the harness uses */

static int in_submit;              /* > 0 while a submitting call runs */
static unsigned long inside_count; /* callbacks that ran inside one */
static long seq_counter;           /* completion order */

static const char *cur_check = "(start)";
static bool cur_failed, cur_skipped;
static char cur_msg[4096];
static int npass, nfail, nskip;

/* Records the first failure of the current check. Returns false so that
 * checks can write `return fail(...)` in helpers returning bool. */
__attribute__((format(printf, 1, 2))) static bool fail(const char *fmt, ...)
{
	if (cur_failed)
		return false;
	cur_failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cur_msg, sizeof(cur_msg), fmt, ap);
	va_end(ap);
	return false;
}

__attribute__((format(printf, 1, 2))) static void skip(const char *fmt, ...)
{
	cur_skipped = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cur_msg, sizeof(cur_msg), fmt, ap);
	va_end(ap);
}

#define FAIL(...)                                                         \
	do {                                                              \
		fail(__VA_ARGS__);                                        \
		return;                                                   \
	} while (0)
#define EXPECT(cond, ...)                                                 \
	do {                                                              \
		if (!(cond))                                              \
			FAIL(__VA_ARGS__);                                \
	} while (0)
/* Stops the check when a helper has already recorded a failure. */
#define STOP_IF_FAILED()                                                  \
	do {                                                              \
		if (cur_failed)                                           \
			return;                                           \
	} while (0)

static void alarm_handler(int sig)
{
	(void)sig;
	static const char a[] = "FAIL ";
	static const char b[] = ": timed out (a callback never came)\n";
	ssize_t r = write(1, a, sizeof(a) - 1);
	r = write(1, cur_check, strlen(cur_check));
	r = write(1, b, sizeof(b) - 1);
	(void)r;
	_exit(1);
}

static void run_check(const char *name, void (*fn)(void))
{
	cur_check = name;
	cur_failed = cur_skipped = false;
	cur_msg[0] = '\0';
	alarm(20);
	fn();
	alarm(0);
	if (cur_failed) {
		printf("FAIL %s: %s\n", name, cur_msg);
		nfail++;
	} else if (cur_skipped) {
		printf("ok %s # SKIP %s\n", name, cur_msg);
		nskip++;
	} else {
		printf("ok %s\n", name);
		npass++;
	}
	fflush(stdout);
}

static void refresh_info(void)
{
	mblk_get_info(dev, &info);
	size = info.size_sectors;
}

/* ------------------------------------------------------------------ */
/* Completions                                                         */

/* What one callback did. */
struct done {
	int calls;
	int status;
	uint64_t sector;   /* seeks */
	bool inside;       /* ran inside a submitting call */
	bool err_null;
	long seq;          /* completion order, from 1 */
	char err[512];
};

static void done_record(struct done *d, int status, const char *error)
{
	d->calls++;
	d->status = status;
	if (in_submit > 0) {
		d->inside = true;
		inside_count++;
	}
	d->err_null = error == NULL;
	snprintf(d->err, sizeof(d->err), "%s", error ? error : "");
	d->seq = ++seq_counter;
}

static void io_cb(void *data, int status, const char *error)
{
	done_record(data, status, error);
}

static void seek_cb(void *data, int status, uint64_t sector, const char *error)
{
	struct done *d = data;
	d->sector = sector;
	done_record(d, status, error);
}

/* Runs the loop until every one of n records has a callback. */
static bool wait_all(struct done *d, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		while (d[i].calls == 0)
			if (uv_run(&loop, UV_RUN_ONCE) == 0 && d[i].calls == 0)
				return fail("%s: the loop has nothing left to "
					    "run but request %zu of %zu never "
					    "completed",
					    what, i, n);
	return true;
}

/* The checks every completion must pass: exactly once, never inside a
 * submission, a sentence exactly when it failed. */
static bool done_ok(const struct done *d, const char *what)
{
	if (d->calls != 1)
		return fail("%s: callback ran %d times, expected exactly once",
			    what, d->calls);
	if (d->inside)
		return fail("%s: callback ran inside the submitting call",
			    what);
	if (d->status == 0 && !d->err_null)
		return fail("%s: succeeded but the error sentence is '%s', "
			    "expected NULL",
			    what, d->err);
	if (d->status < 0 && d->err[0] == '\0')
		return fail("%s: failed with %d (%s) but without a sentence",
			    what, d->status, mblk_strerror(d->status));
	if (d->status > 0)
		return fail("%s: status %d is positive; expected 0 or -errno",
			    what, d->status);
	return true;
}

/* Submission wrappers: raise in_submit around the call. */
static int s_read(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
		  struct done *d)
{
	in_submit++;
	int r = mblk_read(dv, s, iov, n, io_cb, d);
	in_submit--;
	return r;
}

static int s_write(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
		   unsigned flags, struct done *d)
{
	in_submit++;
	int r = mblk_write(dv, s, iov, n, flags, io_cb, d);
	in_submit--;
	return r;
}

enum sop { S_FLUSH, S_DISCARD, S_ZEROES, S_RESIZE, S_MAPPED, S_UNMAPPED,
	   S_DISCONNECT };

static const char *sop_name(enum sop op)
{
	static const char *const n[] = { "flush", "discard", "write_zeroes",
					 "resize", "seek_mapped",
					 "seek_unmapped", "disconnect" };
	return n[op];
}

static int s_op(mblk_dev *dv, enum sop op, uint64_t a, uint64_t b,
		unsigned flags, struct done *d)
{
	int r = -EINVAL;
	in_submit++;
	switch (op) {
	case S_FLUSH: r = mblk_flush(dv, io_cb, d); break;
	case S_DISCARD: r = mblk_discard(dv, a, b, io_cb, d); break;
	case S_ZEROES: r = mblk_write_zeroes(dv, a, b, flags, io_cb, d); break;
	case S_RESIZE: r = mblk_resize(dv, a, io_cb, d); break;
	case S_MAPPED: r = mblk_seek_mapped(dv, a, seek_cb, d); break;
	case S_UNMAPPED: r = mblk_seek_unmapped(dv, a, seek_cb, d); break;
	case S_DISCONNECT: r = mblk_disconnect(dv, io_cb, d); break;
	}
	in_submit--;
	return r;
}

/* Harness failures (submission refused, callback missing) return this
 * after recording the failure, so callers comparing statuses stop. */
#define HARNESS INT_MIN

static int finish_one(int submitted, struct done *d, const char *what)
{
	if (submitted != 0) {
		fail("%s: submission returned %d (%s): %s; expected 0", what,
		     submitted, mblk_strerror(submitted), mblk_last_error());
		return HARNESS;
	}
	if (!wait_all(d, 1, what) || !done_ok(d, what))
		return HARNESS;
	return d->status;
}

static int do_read(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
		   struct done *d)
{
	char what[128];
	snprintf(what, sizeof(what), "read at sector %" PRIu64 " (%d buffers)",
		 s, n);
	memset(d, 0, sizeof(*d));
	return finish_one(s_read(dv, s, iov, n, d), d, what);
}

static int do_write(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
		    unsigned flags, struct done *d)
{
	char what[128];
	snprintf(what, sizeof(what), "write at sector %" PRIu64 " (%d buffers)",
		 s, n);
	memset(d, 0, sizeof(*d));
	return finish_one(s_write(dv, s, iov, n, flags, d), d, what);
}

static int do_op(mblk_dev *dv, enum sop op, uint64_t a, uint64_t b,
		 unsigned flags, struct done *d)
{
	char what[128];
	snprintf(what, sizeof(what), "%s(%" PRIu64 ", %" PRIu64 ")",
		 sop_name(op), a, b);
	memset(d, 0, sizeof(*d));
	return finish_one(s_op(dv, op, a, b, flags, d), d, what);
}

/* ------------------------------------------------------------------ */
/* Buffers and data                                                    */

static void *xalloc(size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, balign, len ? len : 1) != 0) {
		fprintf(stderr, "conformance: out of memory (%zu bytes)\n",
			len);
		exit(1);
	}
	memset(p, 0xee, len);
	return p;
}

/* Compares got with what the sectors [s, s+n) should hold: a pattern
 * with `op` (op 0: zeros). Records a failure naming the first bad
 * sector with what was expected and what came. */
static bool compare(const char *what, const unsigned char *got, uint64_t s,
		    uint64_t n, uint64_t op)
{
	unsigned char *exp = xalloc(ss);
	bool ok = true;
	for (uint64_t k = 0; k < n && ok; k++) {
		if (op == 0)
			memset(exp, 0, ss);
		else
			pat_fill(exp, ss, TAG, op, s + k);
		if (memcmp(exp, got + k * ss, ss) != 0) {
			char e[160], g[160];
			uint32_t b = 0;
			while (exp[b] == got[k * ss + b])
				b++;
			pat_describe(exp, ss, e, sizeof(e));
			pat_describe(got + k * ss, ss, g, sizeof(g));
			ok = fail("%s: sector %" PRIu64 " differs from byte %u: "
				  "expected %s, got %s",
				  what, s + k, b, e, g);
		}
	}
	free(exp);
	return ok;
}

/* Largest single request the helpers below make. */
#define CHUNK_BYTES (1u << 20)

static uint64_t chunk_sectors(void)
{
	uint64_t c = CHUNK_BYTES / ss;
	if (c == 0)
		c = 1;
	if (info.max_io != 0 && (uint64_t)info.max_io / ss < c)
		c = info.max_io / ss ? info.max_io / ss : 1;
	return c;
}

/* Writes the pattern (TAG, op) over [s, s+n), in chunks. */
static bool put(uint64_t s, uint64_t n, uint64_t op)
{
	uint64_t c = chunk_sectors();
	unsigned char *buf = xalloc(c * ss);
	bool ok = true;
	for (uint64_t k = 0; k < n && ok; k += c) {
		uint64_t m = n - k < c ? n - k : c;
		pat_fill_range(buf, ss, m, TAG, op, s + k);
		struct iovec iov = { buf, m * ss };
		struct done d;
		int r = do_write(dev, s + k, &iov, 1, 0, &d);
		if (r != 0 && r != HARNESS)
			fail("write of sectors %" PRIu64 "+%" PRIu64 ": "
			     "expected 0, got %d: %s",
			     s + k, m, r, d.err);
		ok = r == 0;
	}
	free(buf);
	return ok;
}

/* Reads [s, s+n) and checks it holds pattern op (0: zeros). */
static bool check_data(const char *what, uint64_t s, uint64_t n, uint64_t op)
{
	uint64_t c = chunk_sectors();
	unsigned char *buf = xalloc(c * ss);
	bool ok = true;
	for (uint64_t k = 0; k < n && ok; k += c) {
		uint64_t m = n - k < c ? n - k : c;
		memset(buf, 0xee, m * ss);
		struct iovec iov = { buf, m * ss };
		struct done d;
		int r = do_read(dev, s + k, &iov, 1, &d);
		if (r != 0) {
			if (r != HARNESS)
				fail("%s: read of sectors %" PRIu64 "+%" PRIu64
				     ": expected 0, got %d: %s",
				     what, s + k, m, r, d.err);
			ok = false;
		} else {
			ok = compare(what, buf, s + k, m, op);
		}
	}
	free(buf);
	return ok;
}

/* Skips the check unless the device has at least n sectors. */
static bool need(uint64_t n)
{
	if (size >= n)
		return true;
	skip("the device has %" PRIu64 " sectors; this check needs %" PRIu64,
	     size, n);
	return false;
}

/* Does sentence s contain the decimal form of x? */
static bool has_num(const char *s, uint64_t x)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRIu64, x);
	return strstr(s, b) != NULL;
}

/* An error completion: status want, a sentence with the device name and
 * each of the nnums numbers. */
static bool expect_error(const char *what, int got, const struct done *d,
			 int want, const uint64_t *nums, int nnums)
{
	if (got == HARNESS)
		return false;
	if (got != want)
		return fail("%s: expected %d (%s), got %d (%s)%s%s", what, want,
			    mblk_strerror(want), got,
			    got ? mblk_strerror(got) : "success",
			    got ? ": " : "", got ? d->err : "");
	if (strstr(d->err, devname) == NULL)
		return fail("%s: the sentence '%s' does not name the device "
			    "'%s'",
			    what, d->err, devname);
	for (int i = 0; i < nnums; i++)
		if (!has_num(d->err, nums[i]))
			return fail("%s: the sentence '%s' does not give the "
				    "number %" PRIu64,
				    what, d->err, nums[i]);
	return true;
}

/* ------------------------------------------------------------------ */
/* info                                                                */

static void check_info(void)
{
	refresh_info();
	const uint32_t known = MBLK_CAP_FLUSH | MBLK_CAP_DISCARD |
			       MBLK_CAP_WRITE_ZEROES | MBLK_CAP_RESIZE |
			       MBLK_CAP_SEEK | MBLK_CAP_FUA |
			       MBLK_CAP_ZERO_IS_FAST;
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
	EXPECT(info.max_io == 0 ||
		       (info.max_io >= info.pref_io &&
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
	EXPECT(devname != NULL && devname[0] != '\0',
	       "mblk_dev_name is empty");
	EXPECT(mblk_dev_loop(dev) == &loop,
	       "mblk_dev_loop returned another loop than the one given");
	struct mblk_info again;
	mblk_get_info(dev, &again);
	EXPECT(memcmp(&again, &info, sizeof(info)) == 0,
	       "two mblk_get_info calls in a row disagree");
}

static const char *expect_caps;

static const struct {
	const char *name;
	uint32_t bit;
} cap_names[] = {
	{ "flush", MBLK_CAP_FLUSH },
	{ "discard", MBLK_CAP_DISCARD },
	{ "write_zeroes", MBLK_CAP_WRITE_ZEROES },
	{ "resize", MBLK_CAP_RESIZE },
	{ "seek", MBLK_CAP_SEEK },
	{ "fua", MBLK_CAP_FUA },
	{ "zero_is_fast", MBLK_CAP_ZERO_IS_FAST },
};

static void caps_text(uint32_t caps, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (caps & cap_names[i].bit)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
					      n ? "," : "", cap_names[i].name);
	if (n == 0)
		snprintf(buf, len, "(none)");
}

static void check_expected_caps(void)
{
	if (expect_caps == NULL) {
		skip("no --expect-caps given");
		return;
	}
	uint32_t want = 0;
	char *list = strdup(expect_caps), *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		size_t i = 0, n = sizeof(cap_names) / sizeof(cap_names[0]);
		while (i < n && strcmp(cap_names[i].name, t) != 0)
			i++;
		if (i == n && strcmp(t, "none") == 0)
			continue;
		if (i == n) {
			fail("--expect-caps: unknown capability '%s'", t);
			free(list);
			return;
		}
		want |= cap_names[i].bit;
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
static void check_uri(void)
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
	EXPECT(m == n, "with a 4-byte buffer mblk_get_uri returned %d, "
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

/* A sector in the middle of the device, rounded to a page and moved one
 * sector on, so that requests straddle pages. */
static uint64_t mid(uint64_t need_sectors)
{
	if (size <= need_sectors)
		return 0;
	uint64_t s = (size - need_sectors) / 2 / spp * spp + 1;
	return s + need_sectors <= size ? s : 0;
}

static void check_rw_one(void)
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

static void check_rw_copied(void)
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

static void check_rw_scatter(void)
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

static void check_rw_zero_buffers(void)
{
	struct iovec empty[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
	uint64_t at[3] = { 0, size / 2, size };
	struct done d;
	for (int i = 0; i < 3; i++) {
		int r = do_read(dev, at[i], NULL, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0, "read of no buffers (iov NULL, iovcnt 0) at "
			       "sector %" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
		r = do_write(dev, at[i], empty, 0, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0, "write of no buffers (iovcnt 0) at sector "
			       "%" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
		r = do_read(dev, at[i], empty, 3, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0, "read of three zero-length buffers at sector "
			       "%" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
		r = do_write(dev, at[i], empty, 3, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0, "write of three zero-length buffers at sector "
			       "%" PRIu64 ": expected 0, got %d: %s",
		       at[i], r, d.err);
	}
}

static void check_rw_first(void)
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

static void check_rw_last(void)
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

static void check_rw_many_pages(void)
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

static void check_rw_fua(void)
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

static void check_err_len(void)
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

static void check_err_start(void)
{
	unsigned char *buf = xalloc(ss);
	struct iovec iov = { buf, ss };
	uint64_t nums[] = { size + 1, size };
	expect_rw_einval("one sector just past the end", size + 1, &iov, 1,
			 nums, 2, size);
	uint64_t nums2[] = { size };
	if (!cur_failed)
		expect_rw_einval("one sector at the end", size, &iov, 1,
				 nums2, 1, size);
	free(buf);
}

static void check_err_end(void)
{
	if (!need(1))
		return;
	unsigned char *buf = xalloc(3 * ss);
	struct iovec iov = { buf, 3 * ss };
	uint64_t s = size > 1 ? size - 1 : 0;
	uint64_t nums[] = { s, size };
	expect_rw_einval("three sectors from the last", s, &iov, 1, nums, 2,
			 s);
	free(buf);
}

static void check_err_overflow(void)
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

static void check_err_null_buffer(void)
{
	if (!need(1))
		return;
	struct iovec iov[2] = { { NULL, 0 }, { NULL, ss } };
	expect_rw_einval("buffer 1 NULL with length one sector", 0, iov, 2,
			 NULL, 0, 0);
	STOP_IF_FAILED();
	struct done d;
	int r = do_read(dev, 0, iov, 2, &d);
	if (r != HARNESS && strstr(d.err, "NULL") == NULL)
		FAIL("the sentence '%s' does not say the buffer is NULL",
		     d.err);
}

static void check_err_null_iov(void)
{
	uint64_t nums[] = { 2 };
	expect_rw_einval("iov NULL with iovcnt 2", 0, NULL, 2, nums, 1,
			 UINT64_MAX);
}

static void check_err_iovcnt(void)
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
	EXPECT(r == 0, "read of IOV_MAX (%d) zero-length buffers: expected 0, "
		       "got %d: %s",
	       IOV_MAX, r, d.err);
}

static void check_err_range_ops(void)
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
		snprintf(w, sizeof(w), "%s of 1 sector at %" PRIu64
			 " (the size)", sop_name(op), size);
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

static void check_err_misaligned(void)
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

static void check_empty_at_end(void)
{
	/* Upstream's safe refused any request at sector == size, even an
	 * empty one; the end of the device is a valid place for nothing. */
	struct iovec empty[2] = { { NULL, 0 }, { NULL, 0 } };
	struct done d;
	int r = do_read(dev, size, empty, 2, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0, "read of 2 empty buffers at sector %" PRIu64
		       " (= size): expected 0, got %d: %s",
	       size, r, d.err);
	r = do_write(dev, size, NULL, 0, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0, "write of 0 buffers at sector %" PRIu64
		       " (= size): expected 0, got %d: %s",
	       size, r, d.err);
	for (int i = 0; i < 2; i++) {
		enum sop op = i ? S_ZEROES : S_DISCARD;
		uint32_t cap = i ? MBLK_CAP_WRITE_ZEROES : MBLK_CAP_DISCARD;
		if (!(info.caps & cap))
			continue;
		r = do_op(dev, op, size, 0, 0, &d);
		STOP_IF_FAILED();
		EXPECT(r == 0, "%s of 0 sectors at sector %" PRIu64
			       " (= size): expected 0, got %d: %s",
		       sop_name(op), size, r, d.err);
	}
	/* One past the end is past the end, even for nothing. */
	uint64_t nums[] = { size + 1, size };
	r = do_read(dev, size + 1, NULL, 0, &d);
	expect_error("read of 0 buffers at size + 1", r, &d, -EINVAL, nums, 2);
}

static void check_null_cb_dev(void)
{
	struct done d;
	memset(&d, 0, sizeof(d));
	struct iovec iov = { NULL, 0 };
	struct {
		const char *what;
		int r;
	} c[] = {
		{ "mblk_read(dev, cb NULL)", mblk_read(dev, 0, &iov, 1, NULL, &d) },
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
	EXPECT(d.calls == 0, "a callback ran %d times after submissions that "
			     "were refused (or mblk_close(NULL))",
	       d.calls);
	/* The device still works: the NULL-callback disconnect must not
	 * have disconnected it. */
	unsigned char *buf = xalloc(ss);
	struct iovec one = { buf, ss };
	int r = size ? do_read(dev, 0, &one, 1, &d) : 0;
	free(buf);
	STOP_IF_FAILED();
	EXPECT(r == 0, "read after the refused submissions: expected 0, got "
		       "%d: %s",
	       r, d.err);
}

/* ------------------------------------------------------------------ */
/* flush, discard, write_zeroes                                        */

static void check_flush(void)
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
		snprintf(w, sizeof(w), "after %s%s of parts of sectors "
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

static void check_discard(void)
{
	zero_ranges(S_DISCARD, 0, MBLK_CAP_DISCARD);
}

static void check_write_zeroes(void)
{
	zero_ranges(S_ZEROES, 0, MBLK_CAP_WRITE_ZEROES);
}

static void check_write_zeroes_no_hole(void)
{
	zero_ranges(S_ZEROES, MBLK_ZEROES_NO_HOLE, MBLK_CAP_WRITE_ZEROES);
}

static void check_unsupported(void)
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

static void check_resize_grow(void)
{
	if (!(info.caps & MBLK_CAP_RESIZE)) {
		skip("no MBLK_CAP_RESIZE");
		return;
	}
	if (!need(2))
		return;
	uint64_t old = size, g = 2 * spp + 3;
	if (!put(old - 2, 2, 114) || !resize_to(old + g))
		goto restore;
	if (!check_data("the new sectors after growing", old, g, 0))
		goto restore;
	check_data("the old last sectors after growing", old - 2, 2, 114);
restore:
	if (size != old)
		resize_to(old);
}

static void check_resize_shrink_grow(void)
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
	if (!check_data("sectors dropped by the shrink, after growing back",
			ns, old - ns, 0))
		goto restore;
	check_data("data below the cut, after growing back", old - k, cut,
		   115);
restore:
	if (size != old)
		resize_to(old);
}

static void check_resize_limits(void)
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
	EXPECT(size == old, "a failed resize changed the size from %" PRIu64
			    " to %" PRIu64,
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

static void check_seek_end(void)
{
	uint64_t from[] = { size, size + 1, size + 1000, UINT64_MAX / 2,
			    UINT64_MAX };
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		for (int m = 0; m < 2; m++) {
			enum sop op = m ? S_UNMAPPED : S_MAPPED;
			uint64_t a = 0;
			if (do_seek(op, from[i], &a) != 0)
				return;
			EXPECT(a == size, "%s from %" PRIu64 " (at or past the "
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
	snprintf(w, sizeof(w), "seek_mapped from %" PRIu64 " answered %" PRIu64
		 ", but the sectors it skips must read as zeros",
		 from, m);
	if (n > 0 && !check_data(w, from, n, 0))
		return false;
	snprintf(w, sizeof(w), "seek_unmapped from %" PRIu64 " answered %" PRIu64
		 ", which must read as zeros",
		 from, u);
	if (u < size && !check_data(w, u, 1, 0))
		return false;
	return true;
}

static void check_seek_sound(void)
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
	EXPECT(r == 0, "clearing the region: expected 0, got %d: %s", r,
	       d.err);
	if (!put(s + 1, spp, 116) || !put(s + 3 * spp - 1, 2, 117) ||
	    !put(s + 5 * spp, spp, 118))
		return;
	uint64_t from[] = { s, s + 1, s + spp, s + spp + 1, s + 2 * spp,
			    s + 3 * spp - 2, s + 3 * spp - 1, s + 3 * spp,
			    s + 3 * spp + 1, s + 4 * spp, s + 5 * spp - 1,
			    s + 6 * spp, s + n - 1, 0, size ? size - 1 : 0 };
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

static void check_seek_hole(void)
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
	if (do_seek(S_MAPPED, s, &m) != 0 || do_seek(S_UNMAPPED, s - 1, &u) != 0)
		return;
	EXPECT(m > s, "seek_mapped from %" PRIu64 ", the start of a discarded "
		      "%" PRIu64 "-sector run, answered %" PRIu64
		      ": the hole was not found",
	       s, run, m);
	EXPECT(m <= 2 * run, "seek_mapped from %" PRIu64 " answered %" PRIu64
			     ", past the data at %" PRIu64,
	       s, m, 2 * run);
	EXPECT(u <= 2 * run, "seek_unmapped from %" PRIu64 " answered %" PRIu64
			     ", past the discarded run %" PRIu64 "-%" PRIu64,
	       s - 1, u, s, 2 * run - 1);
}

/* ------------------------------------------------------------------ */
/* Read-only                                                           */

static void check_read_only(void)
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

/* ------------------------------------------------------------------ */
/* The asynchronous contract                                           */

static void check_never_inside(void)
{
	/* One request of every kind, valid and rejected, each checked by
	 * done_ok (it fails the check if a callback ran inside submit). */
	if (!need(1))
		return;
	unsigned char *buf = xalloc(ss);
	pat_fill(buf, ss, TAG, 121, 0);
	struct iovec iov = { buf, ss }, bad = { buf, ss + 1 };
	struct done d;
	do_write(dev, 0, &iov, 1, 0, &d);
	do_write(dev, 0, &iov, 1, MBLK_WRITE_FUA, &d);
	do_read(dev, 0, &iov, 1, &d);
	do_read(dev, 0, NULL, 0, &d);
	do_read(dev, size, &iov, 1, &d);        /* rejected: past the end */
	do_write(dev, 0, &bad, 1, 0, &d);       /* rejected: length */
	do_read(dev, 0, NULL, 1, &d);           /* rejected: NULL iov */
	do_op(dev, S_FLUSH, 0, 0, 0, &d);
	do_op(dev, S_DISCARD, 0, 1, 0, &d);     /* done or -ENOTSUP */
	do_op(dev, S_DISCARD, size, 1, 0, &d);
	do_op(dev, S_ZEROES, 0, 1, 0, &d);
	do_op(dev, S_ZEROES, 0, 1, MBLK_ZEROES_NO_HOLE, &d);
	do_op(dev, S_RESIZE, size, 0, 0, &d);   /* same size, or -ENOTSUP */
	do_op(dev, S_RESIZE, UINT64_MAX, 0, 0, &d);
	do_op(dev, S_MAPPED, 0, 0, 0, &d);
	do_op(dev, S_UNMAPPED, 0, 0, 0, &d);
	do_op(dev, S_MAPPED, size, 0, 0, &d);
	do_op(dev, S_UNMAPPED, UINT64_MAX, 0, 0, &d);
	free(buf);
	/* Disconnect and the -ENODEV path are checked on their own device
	 * in disconnect_in_flight. */
}

/* Many concurrent requests: each completes exactly once, whatever the
 * order. Writes to distinct sectors, then reads of them, all in flight
 * at once; then the data. */
static void check_any_order(void)
{
	enum { N = 128 };
	uint64_t n = size < N ? size : N;
	if (!need(2))
		return;
	uint64_t s = mid(n);
	unsigned char *src = xalloc(n * ss), *dst = xalloc(n * ss);
	struct iovec *wv = calloc(n, sizeof(*wv)), *rv = calloc(n, sizeof(*rv));
	struct done *d = calloc(2 * n + 2, sizeof(*d));
	pat_fill_range(src, ss, n, TAG, 122, s);
	for (uint64_t i = 0; i < n; i++) {
		wv[i] = (struct iovec){ src + i * ss, ss };
		rv[i] = (struct iovec){ dst + i * ss, ss };
	}
	/* Writes in a scrambled order, a flush, a seek, then the reads
	 * (after the writes completed, to compare the data). */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = (i * 37) % n;
		int r = s_write(dev, s + j, &wv[j], 1, 0, &d[j]);
		if (r != 0) {
			fail("write %" PRIu64 ": submission returned %d", j, r);
			goto out;
		}
	}
	if (s_op(dev, S_FLUSH, 0, 0, 0, &d[2 * n]) != 0 ||
	    s_op(dev, S_MAPPED, s, 0, 0, &d[2 * n + 1]) != 0) {
		fail("flush or seek: submission refused");
		goto out;
	}
	if (!wait_all(d, n, "concurrent writes"))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = (i * 53) % n;
		if (s_read(dev, s + j, &rv[j], 1, &d[n + j]) != 0) {
			fail("read %" PRIu64 ": submission refused", j);
			goto out;
		}
	}
	if (!wait_all(d, 2 * n + 2, "concurrent requests"))
		goto out;
	/* A few more loop turns: a second callback would show now. */
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	for (uint64_t i = 0; i < 2 * n + 2; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %" PRIu64 " of %" PRIu64, i,
			 2 * n + 2);
		if (!done_ok(&d[i], w))
			goto out;
		if (d[i].status != 0) {
			fail("%s: expected 0, got %d: %s", w, d[i].status,
			     d[i].err);
			goto out;
		}
	}
	compare("concurrent writes read back concurrently", dst, s, n, 122);
out:
	free(src);
	free(dst);
	free(wv);
	free(rv);
	free(d);
}

/* 1000 requests, 64 in flight, each completion submitting the next. */
enum { STRESS_N = 1000, STRESS_QD = 64 };

static struct stress {
	struct done d[STRESS_N];
	struct iovec iov[STRESS_N];
	unsigned char *buf;
	bool written[256];
	uint64_t base, slots;
	int next, inflight, max_inflight, submit_errors;
} *st;

static void stress_submit(void);

static void stress_io_cb(void *data, int status, const char *error)
{
	done_record(data, status, error);
	st->inflight--;
	stress_submit();
}

static void stress_seek_cb(void *data, int status, uint64_t sector,
			   const char *error)
{
	((struct done *)data)->sector = sector;
	stress_io_cb(data, status, error);
}

static void stress_submit(void)
{
	while (st->inflight < STRESS_QD && st->next < STRESS_N) {
		int i = st->next++;
		uint64_t slot = (uint64_t)i % st->slots;
		uint64_t s = st->base + slot;
		struct done *d = &st->d[i];
		int r;
		st->iov[i] = (struct iovec){ st->buf + slot * ss, ss };
		in_submit++;
		switch (i % 8) {
		case 0: case 1: case 2:
			r = mblk_write(dev, s, &st->iov[i], 1, 0, stress_io_cb,
				       d);
			st->written[slot] = true;
			break;
		case 3: case 4: case 5:
			/* Reads go to a buffer of their own. */
			st->iov[i].iov_base = st->buf + (st->slots + slot) * ss;
			r = mblk_read(dev, s, &st->iov[i], 1, stress_io_cb, d);
			break;
		case 6:
			r = mblk_flush(dev, stress_io_cb, d);
			break;
		default:
			r = i % 16 == 7
				    ? mblk_seek_mapped(dev, s, stress_seek_cb, d)
				    : mblk_seek_unmapped(dev, s,
							 stress_seek_cb, d);
			break;
		}
		in_submit--;
		if (r != 0) {
			st->submit_errors++;
			continue;
		}
		st->inflight++;
		if (st->inflight > st->max_inflight)
			st->max_inflight = st->inflight;
	}
}

static void check_stress(void)
{
	if (!need(1))
		return;
	st = calloc(1, sizeof(*st));
	st->slots = size < 256 ? size : 256;
	st->base = mid(st->slots);
	st->buf = xalloc(2 * st->slots * ss);
	pat_fill_range(st->buf, ss, st->slots, TAG, 123, st->base);
	stress_submit();
	while (st->next < STRESS_N || st->inflight > 0)
		if (uv_run(&loop, UV_RUN_ONCE) == 0 &&
		    (st->next < STRESS_N || st->inflight > 0)) {
			fail("the loop has nothing left to run with %d "
			     "requests in flight and %d not yet submitted",
			     st->inflight, STRESS_N - st->next);
			goto out;
		}
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	if (st->submit_errors > 0) {
		fail("%d of %d submissions were refused", st->submit_errors,
		     STRESS_N);
		goto out;
	}
	for (int i = 0; i < STRESS_N; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %d of %d (kind %d)", i,
			 STRESS_N, i % 8);
		if (!done_ok(&st->d[i], w))
			goto out;
		if (st->d[i].status != 0) {
			fail("%s: expected 0, got %d: %s", w, st->d[i].status,
			     st->d[i].err);
			goto out;
		}
	}
	if (st->max_inflight != STRESS_QD)
		fail("at most %d requests were in flight, expected %d",
		     st->max_inflight, STRESS_QD);
	for (uint64_t k = 0; k < st->slots && !cur_failed; k++)
		if (st->written[k])
			check_data("a slot written in the stress run",
				   st->base + k, 1, 123);
out:
	free(st->buf);
	free(st);
	st = NULL;
}

/* ------------------------------------------------------------------ */
/* Close with requests in flight (second handle), disconnect, close    */

static void check_close_in_flight(void)
{
	mblk_dev *d2 = NULL;
	if (shim_open(&loop, uri, open_flags, shim_spec, &d2) < 0) {
		skip("cannot open the URI a second time: %s",
		     mblk_last_error());
		return;
	}
	struct mblk_info i2;
	mblk_get_info(d2, &i2);
	enum { N = 16 };
	uint64_t n = i2.size_sectors < N ? i2.size_sectors : N;
	unsigned char *buf = xalloc(N * ss);
	struct iovec iov[N];
	struct done d[N + 1];
	memset(d, 0, sizeof(d));
	pat_fill_range(buf, ss, n, TAG, 124, 0);
	for (uint64_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ buf + i * ss, ss };
		int r = i % 2 ? s_read(d2, i, &iov[i], 1, &d[i])
			      : s_write(d2, i, &iov[i], 1, 0, &d[i]);
		if (r != 0)
			fail("request %" PRIu64 ": submission returned %d", i,
			     r);
	}
	mblk_close(d2, io_cb, &d[N]);
	/* The close callback comes last of all. */
	while (d[N].calls == 0)
		if (uv_run(&loop, UV_RUN_ONCE) == 0 && d[N].calls == 0) {
			fail("the loop has nothing left to run but the close "
			     "callback never came");
			free(buf);
			return;
		}
	free(buf);
	for (uint64_t i = 0; i < n; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %" PRIu64 " in flight at close",
			 i);
		if (!done_ok(&d[i], w))
			return;
		EXPECT(d[i].status == 0, "%s: expected 0, got %d: %s", w,
		       d[i].status, d[i].err);
		EXPECT(d[i].seq < d[N].seq,
		       "%s completed after the close callback", w);
	}
	EXPECT(d[N].status == 0 && d[N].calls == 1,
	       "close callback: status %d, %d calls", d[N].status, d[N].calls);
}

static void check_disconnect(void)
{
	enum { N = 32 };
	uint64_t n = size < N ? size : N;
	unsigned char *buf = xalloc(N * ss);
	struct iovec iov[N];
	struct done d[N + 3];
	memset(d, 0, sizeof(d));
	pat_fill_range(buf, ss, n, TAG, 125, 0);
	for (uint64_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ buf + i * ss, ss };
		int r = i % 2 ? s_read(dev, i, &iov[i], 1, &d[i])
			      : s_write(dev, i, &iov[i], 1, 0, &d[i]);
		if (r != 0)
			fail("request %" PRIu64 ": submission returned %d", i,
			     r);
	}
	STOP_IF_FAILED();
	/* Two disconnects at once: both wait for the requests. */
	if (s_op(dev, S_DISCONNECT, 0, 0, 0, &d[N]) != 0 ||
	    s_op(dev, S_DISCONNECT, 0, 0, 0, &d[N + 1]) != 0)
		FAIL("disconnect: submission refused: %s", mblk_last_error());
	if (!wait_all(d, n, "requests in flight at disconnect") ||
	    !wait_all(&d[N], 2, "disconnect"))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %" PRIu64
			 " in flight at disconnect", i);
		if (!done_ok(&d[i], w))
			goto out;
		if (d[i].status != 0) {
			fail("%s: expected 0, got %d: %s", w, d[i].status,
			     d[i].err);
			goto out;
		}
		if (d[i].seq > d[N].seq || d[i].seq > d[N + 1].seq) {
			fail("%s completed after the disconnect callback", w);
			goto out;
		}
	}
	for (int k = 0; k < 2; k++)
		if (!done_ok(&d[N + k], "disconnect"))
			goto out;
		else if (d[N + k].status != 0) {
			fail("disconnect %d: expected 0, got %d: %s", k + 1,
			     d[N + k].status, d[N + k].err);
			goto out;
		}
	/* Later requests fail with -ENODEV "... disconnected". */
	struct done e;
	struct {
		const char *what;
		int r;
	} later[4];
	later[0].what = "read after disconnect";
	later[0].r = do_read(dev, 0, iov, 1, &e);
	if (later[0].r != HARNESS && !(later[0].r == -ENODEV &&
				       strstr(e.err, "disconnected") &&
				       strstr(e.err, devname))) {
		fail("read after disconnect: expected -ENODEV and a sentence "
		     "naming '%s' and saying disconnected; got %d: %s",
		     devname, later[0].r, e.err);
		goto out;
	}
	later[1].what = "write after disconnect";
	later[1].r = do_write(dev, 0, iov, 1, 0, &e);
	later[2].what = "flush after disconnect";
	later[2].r = cur_failed ? HARNESS : do_op(dev, S_FLUSH, 0, 0, 0, &e);
	later[3].what = "seek_mapped after disconnect";
	later[3].r = cur_failed ? HARNESS : do_op(dev, S_MAPPED, 0, 0, 0, &e);
	STOP_IF_FAILED();
	for (int k = 1; k < 4; k++)
		if (later[k].r != -ENODEV) {
			fail("%s: expected -ENODEV, got %d", later[k].what,
			     later[k].r);
			goto out;
		}
	/* A third disconnect completes at once with 0. */
	int r = do_op(dev, S_DISCONNECT, 0, 0, 0, &d[N + 2]);
	if (r != HARNESS && r != 0)
		fail("a second disconnect after the first finished: expected "
		     "0, got %d: %s",
		     r, d[N + 2].err);
	struct mblk_info after;
	mblk_get_info(dev, &after);
	if (!cur_failed && after.size_sectors != size)
		fail("info after disconnect reports %" PRIu64 " sectors, "
		     "expected the last known %" PRIu64,
		     after.size_sectors, size);
out:
	free(buf);
}

static int uv_handles;

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_handles++;
}

static void check_close(void)
{
	struct done d;
	memset(&d, 0, sizeof(d));
	mblk_close(dev, io_cb, &d);
	/* Closing twice is harmless (and does nothing). */
	dev = NULL;
	while (uv_run(&loop, UV_RUN_DEFAULT) != 0)
		;
	EXPECT(d.calls == 1, "close callback ran %d times, expected once",
	       d.calls);
	EXPECT(d.status == 0, "close callback status %d", d.status);
	int r = uv_loop_close(&loop);
	if (r != 0) {
		uv_handles = 0;
		uv_walk(&loop, count_handle, NULL);
		FAIL("uv_loop_close returned %d (%s): %d handles left open "
		     "after closing the device",
		     r, uv_strerror(r), uv_handles);
	}
}

static void check_overall_inside(void)
{
	EXPECT(inside_count == 0,
	       "%lu callbacks over the whole run ran inside the submitting "
	       "call",
	       inside_count);
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(void);
} checks[] = {
	{ "info", check_info },
	{ "expected_caps", check_expected_caps },
	{ "uri_reopens", check_uri },
	{ "rw_one_buffer", check_rw_one },
	{ "rw_data_is_copied", check_rw_copied },
	{ "rw_scatter_gather", check_rw_scatter },
	{ "rw_zero_buffers", check_rw_zero_buffers },
	{ "rw_first_sector", check_rw_first },
	{ "rw_last_sector", check_rw_last },
	{ "rw_many_pages", check_rw_many_pages },
	{ "rw_fua", check_rw_fua },
	{ "err_length_not_multiple", check_err_len },
	{ "err_start_past_end", check_err_start },
	{ "err_end_past_end", check_err_end },
	{ "err_overflow", check_err_overflow },
	{ "err_null_buffer", check_err_null_buffer },
	{ "err_null_iov", check_err_null_iov },
	{ "err_iovcnt", check_err_iovcnt },
	{ "err_range_ops_bounds", check_err_range_ops },
	{ "err_misaligned_buffer", check_err_misaligned },
	{ "empty_request_at_end_is_valid", check_empty_at_end },
	{ "null_callback_or_device", check_null_cb_dev },
	{ "flush", check_flush },
	{ "discard_reads_zeros", check_discard },
	{ "write_zeroes_reads_zeros", check_write_zeroes },
	{ "write_zeroes_no_hole_reads_zeros", check_write_zeroes_no_hole },
	{ "unsupported_ops_enotsup", check_unsupported },
	{ "resize_grow", check_resize_grow },
	{ "resize_shrink_then_grow", check_resize_shrink_grow },
	{ "resize_limits", check_resize_limits },
	{ "seek_at_end", check_seek_end },
	{ "seek_conservative", check_seek_sound },
	{ "seek_finds_discarded_hole", check_seek_hole },
	{ "read_only", check_read_only },
	{ "never_inside_submit", check_never_inside },
	{ "any_order_exactly_once", check_any_order },
	{ "stress_1000_qd64", check_stress },
	{ "close_in_flight", check_close_in_flight },
	{ "disconnect_in_flight", check_disconnect },
	{ "close", check_close },
	{ "never_inside_submit_overall", check_overall_inside },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: conformance [--no-safe] [--expect-caps LIST] "
		   "[--shim SPEC] URI\n"
		   "  LIST: comma-separated, from flush, discard, "
		   "write_zeroes, resize,\n"
		   "        seek, fua, zero_is_fast, or none (the exact set "
		   "expected)\n"
		   "  SPEC: put the test shim under safe (delay, caps=A+B, "
		   "align=N; see shim.h)\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-safe") == 0) {
			open_flags |= MBLK_OPEN_NO_SAFE;
		} else if (strcmp(argv[i], "--expect-caps") == 0 &&
			   i + 1 < argc) {
			expect_caps = argv[++i];
		} else if (strcmp(argv[i], "--shim") == 0 && i + 1 < argc) {
			shim_spec = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			usage(stderr);
			return 2;
		} else if (uri == NULL) {
			uri = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (uri == NULL) {
		usage(stderr);
		return 2;
	}
	signal(SIGALRM, alarm_handler);
	uv_loop_init(&loop);
	int r = shim_open(&loop, uri, open_flags, shim_spec, &dev);
	if (r == -ENOTSUP) {
		printf("# SKIP %s: %s\n", uri, mblk_last_error());
		uv_loop_close(&loop);
		return 77;
	}
	if (r < 0) {
		printf("FAIL open: mblk_open(\"%s\") returned %d: %s\n", uri, r,
		       mblk_last_error());
		return 1;
	}
	devname = mblk_dev_name(dev);
	refresh_info();
	ss = info.sector_size;
	spp = 4096 / ss ? 4096 / ss : 1;
	balign = info.buf_align > 4096 ? info.buf_align : 4096;
	printf("# %s%s%s%s: %s, %" PRIu64 " sectors of %u bytes\n", uri,
	       open_flags & MBLK_OPEN_NO_SAFE ? " (no safe)" : " (safe)",
	       shim_spec ? " shim " : "", shim_spec ? shim_spec : "", devname,
	       size, ss);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		run_check(checks[i].name, checks[i].fn);
	printf("# %d passed, %d failed, %d skipped\n", npass, nfail, nskip);
	return nfail ? 1 : 0;
}
