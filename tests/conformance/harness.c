/* harness.c - the conformance checks' shared machinery: see harness.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

uv_loop_t loop;
mblk_dev *dev;
struct mblk_info info;
const char *uri;
const char *devname;
unsigned open_flags;
const char *shim_spec; /* --shim: see shim.h */
uint32_t ss;           /* sector size */
uint64_t size;         /* sectors, as of the last refresh */
uint64_t spp;          /* sectors per 4 KiB page, at least 1 */
size_t balign;         /* buffer alignment the harness uses */

int in_submit;              /* > 0 while a submitting call runs */
unsigned long inside_count; /* callbacks that ran inside one */
static long seq_counter;    /* completion order */

static const char *cur_check = "(start)";
bool cur_failed;
static bool cur_skipped;
static char cur_msg[4096];
int npass, nfail, nskip;

/* Records the first failure of the current check. Returns false so that
 * checks can write `return fail(...)` in helpers returning bool. */
bool fail(const char *fmt, ...)
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

void skip(const char *fmt, ...)
{
	cur_skipped = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cur_msg, sizeof(cur_msg), fmt, ap);
	va_end(ap);
}

void alarm_handler(int sig)
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

void run_check(const char *name, void (*fn)(void))
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

void refresh_info(void)
{
	mblk_get_info(dev, &info);
	size = info.size_sectors;
}

/* ------------------------------------------------------------------ */
/* Completions                                                         */

void done_record(struct done *d, int status, const char *error)
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

void io_cb(void *data, int status, const char *error)
{
	done_record(data, status, error);
}

void seek_cb(void *data, int status, uint64_t sector, const char *error)
{
	struct done *d = data;
	d->sector = sector;
	done_record(d, status, error);
}

struct mblk_extent h_ext[H_EXT_MAX];
int h_ext_max = H_EXT_MAX;

void extents_cb(void *data, int status, int n, const char *error)
{
	struct done *d = data;
	d->sector = (uint64_t)n;
	done_record(d, status, error);
}

/* Runs the loop until every one of n records has a callback. */
bool wait_all(struct done *d, size_t n, const char *what)
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
bool done_ok(const struct done *d, const char *what)
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
int s_read(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	   struct done *d)
{
	in_submit++;
	int r = mblk_read(dv, s, iov, n, io_cb, d);
	in_submit--;
	return r;
}

int s_write(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	    unsigned flags, struct done *d)
{
	in_submit++;
	int r = mblk_write(dv, s, iov, n, flags, io_cb, d);
	in_submit--;
	return r;
}

const char *sop_name(enum sop op)
{
	static const char *const n[] = { "flush",        "discard",
					 "write_zeroes", "resize",
					 "seek_mapped",  "seek_unmapped",
					 "disconnect",   "extents",
					 "cache" };
	return n[op];
}

int s_op(mblk_dev *dv, enum sop op, uint64_t a, uint64_t b, unsigned flags,
	 struct done *d)
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
	case S_EXTENTS:
		r = mblk_extents(dv, a, b, h_ext, h_ext_max, extents_cb, d);
		break;
	case S_CACHE: r = mblk_cache(dv, a, b, io_cb, d); break;
	}
	in_submit--;
	return r;
}

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

int do_read(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	    struct done *d)
{
	char what[128];
	snprintf(what, sizeof(what), "read at sector %" PRIu64 " (%d buffers)",
		 s, n);
	memset(d, 0, sizeof(*d));
	return finish_one(s_read(dv, s, iov, n, d), d, what);
}

int do_write(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	     unsigned flags, struct done *d)
{
	char what[128];
	snprintf(what, sizeof(what), "write at sector %" PRIu64 " (%d buffers)",
		 s, n);
	memset(d, 0, sizeof(*d));
	return finish_one(s_write(dv, s, iov, n, flags, d), d, what);
}

int do_op(mblk_dev *dv, enum sop op, uint64_t a, uint64_t b, unsigned flags,
	  struct done *d)
{
	char what[128];
	snprintf(what, sizeof(what), "%s(%" PRIu64 ", %" PRIu64 ")",
		 sop_name(op), a, b);
	memset(d, 0, sizeof(*d));
	return finish_one(s_op(dv, op, a, b, flags, d), d, what);
}

/* ------------------------------------------------------------------ */
/* Buffers and data                                                    */

void *xalloc(size_t len)
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
bool compare(const char *what, const unsigned char *got, uint64_t s, uint64_t n,
	     uint64_t op)
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
			ok = fail("%s: sector %" PRIu64
				  " differs from byte %u: "
				  "expected %s, got %s",
				  what, s + k, b, e, g);
		}
	}
	free(exp);
	return ok;
}

uint64_t chunk_sectors(void)
{
	uint64_t c = CHUNK_BYTES / ss;
	if (c == 0)
		c = 1;
	if (info.max_io != 0 && (uint64_t)info.max_io / ss < c)
		c = info.max_io / ss ? info.max_io / ss : 1;
	return c;
}

/* Writes the pattern (TAG, op) over [s, s+n), in chunks. */
bool put(uint64_t s, uint64_t n, uint64_t op)
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
bool check_data(const char *what, uint64_t s, uint64_t n, uint64_t op)
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
bool need(uint64_t n)
{
	if (size >= n)
		return true;
	skip("the device has %" PRIu64 " sectors; this check needs %" PRIu64,
	     size, n);
	return false;
}

/* Does sentence s contain the decimal form of x? */
bool has_num(const char *s, uint64_t x)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRIu64, x);
	return strstr(s, b) != NULL;
}

/* An error completion: status want, a sentence with the device name and
 * each of the nnums numbers. */
bool expect_error(const char *what, int got, const struct done *d, int want,
		  const uint64_t *nums, int nnums)
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

/* A sector in the middle of the device, rounded to a page and moved one
 * sector on, so that requests straddle pages. */
uint64_t mid(uint64_t need_sectors)
{
	if (size <= need_sectors)
		return 0;
	uint64_t s = (size - need_sectors) / 2 / spp * spp + 1;
	return s + need_sectors <= size ? s : 0;
}
