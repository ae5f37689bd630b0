/* model.c - a model-based random test: a device against a flat model.
 *
 *   model [--ops N] [--seed S] [--qd Q] [--max-len BYTES] [--no-safe]
 *         [--no-resize] [--verify-every N] [--shim SPEC] [--handles 2] URI
 *
 * Runs N seeded random requests (read, write, discard, write_zeroes,
 * flush, seek_mapped, seek_unmapped, extents, cache, requests that must
 * be refused, and
 * now and then a resize when the device can), with up to Q in flight,
 * against the device and against an in-memory model of what every
 * sector must hold, and checks every answer. Exit 0 when all agree, 1 on
 * the first difference (with the seed, the failing request, the first
 * differing sector, expected and got, and the last requests), 77 when the
 * URI's scheme is not built, 2 on a usage error. With --handles 2 the
 * URI (a named device) is opened twice and each request goes to either
 * handle: both must see one device. Defaults: 2000 ops, seed
 * 1, QD 16: short enough for CI; `--ops 1000000 --seed S` for long runs.
 *
 * Design notes
 *
 * The model is one 64-bit word per sector: 0 when the sector must read
 * as zeros, otherwise the number of the operation that wrote it. Write
 * buffers are filled with pattern.h's self-describing sectors (tag =
 * seed, op, sector), so the expected content of a sector is computed
 * from its word, and a wrong sector read back says whose data it holds
 * (a write that landed elsewhere, a stale page, a lost discard).
 *
 * Concurrency. Requests overlap earlier requests on purpose (a third of
 * the starts are drawn near recent requests, and device edges and page
 * boundaries are favoured), and up to Q are in flight at once. But a
 * request is not submitted while it conflicts with one in flight:
 * conflicting means overlapping ranges where at least one side changes
 * data (write, discard, write_zeroes; a seek counts as a read of
 * [from, end); a resize or a refused write conflicts with everything).
 * The generator draws the next request first and then waits for the
 * conflicts to drain, so the sequence of requests depends on the seed
 * only, never on completion timing: a run is reproducible. Why avoid
 * concurrent conflicting writes instead of tracking sets of acceptable
 * contents: the contract does not order concurrent requests (a file
 * device on io_uring may apply two overlapping writes in either order,
 * or even interleave them sector by sector within one write), so a
 * read racing a write may see any mix. Modelling that soundly needs a
 * set per sector and makes every answer weaker; forbidding it keeps each
 * check exact, and overlap across time, where ordering is defined, is
 * what the model is for. Reads may overlap reads freely.
 *
 * Because no conflicting request is in flight, the model is updated
 * when a request is submitted and every completion is checked against
 * the model as it stands when the callback runs. Seeks are checked
 * conservatively: every sector in [from, seek_mapped) is zero in the
 * model, and seek_unmapped's answer is a zero sector or the end; extents
 * must tile the range asked for and never mark a sector that holds data
 * as ZERO. At the
 * end (and every --verify-every ops) the whole device is read back and
 * compared.
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
#include "mtest.h"
#include "pattern.h"
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Options and state                                                   */

static uint64_t opt_ops = 2000, opt_seed = 1, opt_verify_every;
static int opt_qd = 16;
static uint64_t opt_max_len = 256 * 1024;
static bool opt_no_resize;
static unsigned open_flags;
static const char *uri;
static const char *shim_spec; /* --shim: see shim.h */

static uv_loop_t loop;
static mblk_dev *dev;     /* the first handle */
static mblk_dev *devs[2]; /* --handles: requests go to either */
static int ndevs = 1;
static struct mblk_info info;
static uint32_t ss;
static uint64_t size;      /* current size in sectors */
static uint64_t orig_size; /* size at open */
static uint64_t cap_size;  /* largest size a resize may choose */
static uint64_t spp;       /* sectors per 4 KiB page, at least 1 */
static uint64_t maxlen;    /* longest read/write in sectors */
static uint64_t *model;    /* per sector: 0 = zeros, else writing op */
static int in_submit;

enum kind {
	K_READ,
	K_WRITE,
	K_DISCARD,
	K_ZEROES,
	K_FLUSH,
	K_MAPPED,
	K_UNMAPPED,
	K_BAD_READ,
	K_BAD_WRITE,
	K_RESIZE,
	K_EXTENTS,
	K_CACHE,
	K_NKINDS
};

static const char *const kind_name[] = {
	"read",      "write",       "discard",       "write_zeroes",
	"flush",     "seek_mapped", "seek_unmapped", "bad read",
	"bad write", "resize",      "extents",       "cache",
};

#define MAX_IOV 8

struct req {
	bool busy;
	int calls;
	uint64_t op; /* operation number, from 1 */
	enum kind kind;
	uint64_t sector; /* start; RESIZE: new size; seeks: from */
	uint64_t count;  /* sectors */
	unsigned flags;
	int iovcnt;
	size_t bad_len; /* BAD_*: the odd buffer length, or 0 */
	struct iovec iov[MAX_IOV];
	int expect; /* expected status */
	/* Conflict range [lo, hi) and whether the request changes data. */
	uint64_t lo, hi;
	bool changes;
	unsigned char *buf;
	int log;                   /* index into the log ring */
	struct mblk_extent ext[8]; /* EXTENTS: the answer */
	int ext_max;
};

static struct req *slots;
static int inflight, max_inflight;
static uint64_t stats[K_NKINDS];

/* ------------------------------------------------------------------ */
/* The request log: the last LOG_N requests, printed on a failure.     */

#define LOG_N 64
#define LOG_SHOW 30

static struct logent {
	uint64_t op;
	char text[200];
	char outcome[240];
} logring[LOG_N];
static uint64_t log_count;

static int log_add(const struct req *r)
{
	int i = (int)(log_count++ % LOG_N);
	struct logent *e = &logring[i];
	e->op = r->op;
	int n = snprintf(e->text, sizeof(e->text), "#%" PRIu64 " %s", r->op,
			 kind_name[r->kind]);
	switch (r->kind) {
	case K_READ:
	case K_WRITE:
	case K_BAD_READ:
	case K_BAD_WRITE:
		n += snprintf(e->text + n, sizeof(e->text) - (size_t)n,
			      " sectors %" PRIu64 "+%" PRIu64
			      " in %d buffers [",
			      r->sector, r->count, r->iovcnt);
		for (int k = 0; k < r->iovcnt && n < 180; k++)
			n += snprintf(e->text + n, sizeof(e->text) - (size_t)n,
				      "%s%zu", k ? "," : "",
				      r->iov[k].iov_len / ss);
		n += snprintf(e->text + n, sizeof(e->text) - (size_t)n, "]%s%s",
			      r->flags & MBLK_WRITE_FUA ? " fua" : "",
			      r->bad_len ? " (odd length)" : "");
		break;
	case K_DISCARD:
	case K_ZEROES:
		snprintf(e->text + n, sizeof(e->text) - (size_t)n,
			 " sectors %" PRIu64 "+%" PRIu64 "%s", r->sector,
			 r->count,
			 r->flags & MBLK_ZEROES_NO_HOLE ? " no-hole" : "");
		break;
	case K_MAPPED:
	case K_UNMAPPED:
		snprintf(e->text + n, sizeof(e->text) - (size_t)n,
			 " from %" PRIu64, r->sector);
		break;
	case K_RESIZE:
		snprintf(e->text + n, sizeof(e->text) - (size_t)n,
			 " to %" PRIu64 " sectors", r->sector);
		break;
	default: break;
	}
	snprintf(e->outcome, sizeof(e->outcome), "in flight");
	return i;
}

static void usage_line(FILE *f)
{
	fprintf(f,
		"reproduce: model --ops %" PRIu64 " --seed %" PRIu64
		" --qd %d --max-len %" PRIu64 "%s%s%s%s%s '%s'\n",
		opt_ops, opt_seed, opt_qd, opt_max_len,
		ndevs > 1 ? " --handles 2" : "",
		open_flags & MBLK_OPEN_NO_SAFE ? " --no-safe" : "",
		opt_no_resize ? " --no-resize" : "",
		shim_spec ? " --shim " : "", shim_spec ? shim_spec : "", uri);
}

/* Prints the failure, the log and how to reproduce it; exits 1. */
__attribute__((format(printf, 2, 3), noreturn)) static void
die(const struct req *r, const char *fmt, ...)
{
	va_list ap;
	printf("FAIL model %s seed=%" PRIu64 ": ", uri, opt_seed);
	if (r != NULL)
		printf("op #%" PRIu64 " (%s): ", r->op,
		       logring[r->log].op == r->op ? logring[r->log].text
						   : kind_name[r->kind]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\nthe last requests (submission order, outcome):\n");
	uint64_t first = log_count > LOG_SHOW ? log_count - LOG_SHOW : 0;
	for (uint64_t i = first; i < log_count; i++) {
		const struct logent *e = &logring[i % LOG_N];
		printf("  %s -> %s\n", e->text, e->outcome);
	}
	usage_line(stdout);
	fflush(stdout);
	exit(1);
}

static void alarm_handler(int sig)
{
	(void)sig;
	static const char m[] = "FAIL model: timed out (a callback never "
				"came)\n";
	ssize_t r = write(1, m, sizeof(m) - 1);
	(void)r;
	_exit(1);
}

/* ------------------------------------------------------------------ */
/* Random numbers: xoshiro256** seeded by splitmix64. Drawn only while
 * generating requests, never in callbacks, so a run is reproducible. */

static uint64_t rs[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(void)
{
	uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
	rs[2] ^= rs[0];
	rs[3] ^= rs[1];
	rs[1] ^= rs[2];
	rs[0] ^= rs[3];
	rs[2] ^= t;
	rs[3] = rotl(rs[3], 45);
	return r;
}

/* Uniform in [0, n); n > 0. Modulo bias is irrelevant here. */
static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

static bool chance(unsigned percent)
{
	return below(100) < percent;
}

static uint64_t clamp(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* ------------------------------------------------------------------ */
/* Generation                                                          */

/* Recent requests, for starts that overlap them. */
static struct {
	uint64_t a, b;
} recent[16];
static int nrecent, recent_at;

static void remember(uint64_t a, uint64_t n)
{
	recent[recent_at].a = a;
	recent[recent_at].b = a + n;
	recent_at = (recent_at + 1) % 16;
	if (nrecent < 16)
		nrecent++;
}

static uint64_t gen_len(uint64_t limit)
{
	uint64_t n;
	unsigned c = (unsigned)below(100);
	if (c < 25)
		n = 1;
	else if (c < 55)
		n = 1 + below(2 * spp);
	else if (c < 75)
		n = spp * (1 + below(8));
	else
		n = 1 + below(limit);
	return clamp(n, 1, limit);
}

/* A start for a request of n sectors (n <= size). */
static uint64_t gen_start(uint64_t n)
{
	uint64_t room = size - n; /* last valid start */
	unsigned c = (unsigned)below(100);
	if (c < 35 || (c >= 70 && nrecent == 0))
		return below(room + 1);
	if (c < 55) {
		/* On a page boundary, or one sector either side. */
		uint64_t p = below(size / spp + 1) * spp;
		int d = (int)below(3) - 1;
		uint64_t s = d < 0 && p > 0 ? p - 1 : p + (uint64_t)(d > 0);
		return clamp(s, 0, room);
	}
	if (c < 70) {
		/* At an edge of the device. */
		uint64_t e[] = { 0, 1, room, room > 0 ? room - 1 : 0,
				 room > spp ? room - spp : 0 };
		return clamp(e[below(5)], 0, room);
	}
	/* Near a recent request: its start or end, give or take. */
	int i = (int)below((uint64_t)nrecent);
	uint64_t base = chance(50) ? recent[i].a : recent[i].b;
	uint64_t d = below(2 * spp + 1);
	uint64_t s = chance(50) ? (base > d ? base - d : 0) : base + d;
	if (chance(30) && n > 0 && base >= n)
		s = base - n + 1 + below(n); /* overlap its edge */
	return clamp(s, 0, room);
}

/* Splits count sectors into 1..MAX_IOV buffers over buf, some empty. */
static void gen_iov(struct req *r)
{
	int cnt = chance(50) ? 1 : 1 + (int)below(MAX_IOV);
	uint64_t left = r->count;
	unsigned char *p = r->buf;
	for (int k = 0; k < cnt; k++) {
		uint64_t m = k == cnt - 1 ? left
			     : chance(25) ? 0
					  : below(left + 1);
		r->iov[k].iov_base = p;
		r->iov[k].iov_len = (size_t)(m * ss);
		p += m * ss;
		left -= m;
	}
	r->iovcnt = cnt;
}

static enum kind gen_kind(void)
{
	static const struct {
		enum kind k;
		unsigned w;
	} mix[] = {
		{ K_READ, 32 },    { K_WRITE, 36 },   { K_DISCARD, 7 },
		{ K_ZEROES, 7 },   { K_FLUSH, 4 },    { K_MAPPED, 4 },
		{ K_UNMAPPED, 4 }, { K_BAD_READ, 2 }, { K_BAD_WRITE, 2 },
		{ K_RESIZE, 2 },   { K_EXTENTS, 4 },  { K_CACHE, 2 },
	};
	unsigned total = 0;
	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++)
		total += mix[i].w;
	unsigned x = (unsigned)below(total);
	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
		if (x < mix[i].w)
			return mix[i].k;
		x -= mix[i].w;
	}
	return K_READ;
}

/* Fills r (buffers excepted) with request number op. */
static void gen(struct req *r, uint64_t op)
{
	r->op = op;
	r->kind = gen_kind();
	r->flags = 0;
	r->count = 0;
	r->sector = 0;
	r->iovcnt = 0;
	r->bad_len = 0;
	r->expect = 0;
	r->changes = false;
	r->lo = r->hi = 0;
	if (r->kind == K_RESIZE &&
	    (opt_no_resize || !(info.caps & MBLK_CAP_RESIZE)))
		r->kind = K_WRITE;
	if (size == 0 && r->kind != K_RESIZE)
		r->kind = K_FLUSH;

	switch (r->kind) {
	case K_READ:
	case K_WRITE:
		r->count = chance(3) ? 0
				     : gen_len(maxlen < size ? maxlen : size);
		r->sector = r->count == 0 && chance(30) ? size
							: gen_start(r->count);
		if (r->kind == K_WRITE && chance(10))
			r->flags = MBLK_WRITE_FUA;
		r->lo = r->sector;
		r->hi = r->sector + r->count;
		r->changes = r->kind == K_WRITE;
		remember(r->sector, r->count);
		break;
	case K_DISCARD:
	case K_ZEROES: {
		uint64_t limit = chance(10) ? size : 4 * maxlen;
		r->count = chance(3) ? 0 : gen_len(limit < size ? limit : size);
		r->sector = gen_start(r->count);
		if (r->kind == K_ZEROES && chance(50))
			r->flags = MBLK_ZEROES_NO_HOLE;
		uint32_t cap = r->kind == K_DISCARD ? MBLK_CAP_DISCARD
						    : MBLK_CAP_WRITE_ZEROES;
		r->expect = info.caps & cap ? 0 : -ENOTSUP;
		r->lo = r->sector;
		r->hi = r->sector + r->count;
		r->changes = true;
		remember(r->sector, r->count);
		break;
	}
	case K_FLUSH: break;
	case K_MAPPED:
	case K_UNMAPPED:
		r->sector = chance(5) ? size + below(3) : gen_start(1);
		r->lo = r->sector;
		r->hi = size;
		break;
	case K_EXTENTS:
		/* A range or, one time in four, "to the end" (count 0);
		 * room for 1 to 8 extents. */
		r->sector = gen_start(1);
		r->count = chance(25) ? 0 : gen_len(size - r->sector);
		r->ext_max = 1 + (int)below(8);
		r->lo = r->sector;
		r->hi = r->count ? r->sector + r->count : size;
		break;
	case K_CACHE:
		r->count = gen_len(size);
		r->sector = gen_start(r->count);
		r->lo = r->sector;
		r->hi = r->sector + r->count;
		break;
	case K_BAD_READ:
	case K_BAD_WRITE: {
		/* Past the end, overflowing, or an odd buffer length. */
		r->count = gen_len(maxlen);
		unsigned c = (unsigned)below(3);
		if (c == 0)
			r->sector = size - (r->count > size ? size : r->count) +
				    1 + below(3);
		else if (c == 1)
			r->sector = UINT64_MAX - below(r->count);
		else {
			r->sector = gen_start(r->count < size ? r->count : 1);
			if (ss > 1)
				r->bad_len = r->count * ss - 1 - below(ss - 1);
			else
				r->sector = size + 1;
		}
		r->expect = -EINVAL;
		/* The range it names, clipped to the device: a device that
		 * wrongly wrote part of it is caught by later reads. */
		uint64_t end;
		if (__builtin_add_overflow(r->sector, r->count, &end) ||
		    end > size)
			end = size;
		r->lo = r->sector < size ? r->sector : size;
		r->hi = end;
		r->changes = r->kind == K_BAD_WRITE;
		break;
	}
	case K_RESIZE: {
		/* Between half and one and a half of the original size,
		 * page-aligned or not. */
		uint64_t lo = orig_size / 2 ? orig_size / 2 : 1;
		uint64_t n = lo + below(cap_size - lo + 1);
		if (chance(50))
			n = clamp(n / spp * spp, 1, cap_size);
		r->sector = n;
		r->lo = 0;
		r->hi = UINT64_MAX;
		r->changes = true;
		break;
	}
	default: break;
	}
}

/* ------------------------------------------------------------------ */
/* Checking                                                            */

static void expected_sector(unsigned char *out, uint64_t s)
{
	uint64_t w = s < size ? model[s] : 0;
	if (w == 0)
		memset(out, 0, ss);
	else
		pat_fill(out, ss, opt_seed, w, s);
}

/* Compares the n sectors at buf with the model from sector s. */
static void check_sectors(const struct req *r, const unsigned char *buf,
			  uint64_t s, uint64_t n, const char *what)
{
	unsigned char *exp = malloc(ss);
	for (uint64_t k = 0; k < n; k++) {
		expected_sector(exp, s + k);
		if (memcmp(exp, buf + k * ss, ss) != 0) {
			char e[160], g[160];
			uint32_t b = 0;
			while (exp[b] == buf[k * ss + b])
				b++;
			pat_describe(exp, ss, e, sizeof(e));
			pat_describe(buf + k * ss, ss, g, sizeof(g));
			die(r,
			    "%s: first differing sector %" PRIu64
			    " (byte %u): expected %s, got %s",
			    what, s + k, b, e, g);
		}
	}
	free(exp);
}

static void check_read(struct req *r)
{
	/* The buffers in order hold consecutive sectors. */
	uint64_t s = r->sector;
	for (int k = 0; k < r->iovcnt; k++) {
		uint64_t n = r->iov[k].iov_len / ss;
		check_sectors(r, r->iov[k].iov_base, s, n, "read");
		s += n;
	}
}

static void check_seek(struct req *r, uint64_t ans)
{
	uint64_t from = r->sector;
	if (from >= size) {
		if (ans != size)
			die(r,
			    "from %" PRIu64 " at or past the end: expected "
			    "the size %" PRIu64 ", got %" PRIu64,
			    from, size, ans);
		return;
	}
	if (ans < from || ans > size)
		die(r,
		    "answer %" PRIu64 " is outside [from %" PRIu64
		    ", size %" PRIu64 "]",
		    ans, from, size);
	if (r->kind == K_MAPPED) {
		for (uint64_t k = from; k < ans; k++)
			if (model[k] != 0)
				die(r,
				    "answer %" PRIu64 " skips sector %" PRIu64
				    ", which holds data written by op #%" PRIu64,
				    ans, k, model[k]);
	} else if (ans < size && model[ans] != 0) {
		die(r,
		    "answer %" PRIu64 " holds data written by op #%" PRIu64
		    ", not zeros",
		    ans, model[ans]);
	}
}

/* Extents tile [from, end) from its start, inside the range asked for,
 * and one marked ZERO holds no data of the model. */
static void check_extents(struct req *r, int n)
{
	uint64_t end = r->count ? r->sector + r->count : size;
	if (n < 1 || n > r->ext_max)
		die(r, "%d extents for room for %d", n, r->ext_max);
	uint64_t pos = r->sector;
	for (int i = 0; i < n; i++) {
		const struct mblk_extent *e = &r->ext[i];
		if (e->sector != pos || e->count == 0 || e->count > end - pos)
			die(r,
			    "extent %d is [%" PRIu64 ", +%" PRIu64
			    "), expected a start at %" PRIu64
			    " and an end by %" PRIu64,
			    i, e->sector, e->count, pos, end);
		if (e->flags & MBLK_EXTENT_ZERO)
			for (uint64_t k = e->sector; k < e->sector + e->count;
			     k++)
				if (model[k] != 0)
					die(r,
					    "extent [%" PRIu64 ", +%" PRIu64
					    ") is marked ZERO, but sector "
					    "%" PRIu64 " holds data written "
					    "by op #%" PRIu64,
					    e->sector, e->count, k, model[k]);
		pos += e->count;
	}
}

static void complete(struct req *r, int status, uint64_t sector,
		     const char *error)
{
	struct logent *e = &logring[r->log];
	bool logged = e->op == r->op;
	if (logged) {
		if (status == 0 &&
		    (r->kind == K_MAPPED || r->kind == K_UNMAPPED))
			snprintf(e->outcome, sizeof(e->outcome),
				 "0, answer %" PRIu64, sector);
		else
			snprintf(e->outcome, sizeof(e->outcome), "%d%s%s",
				 status, error ? ": " : "", error ? error : "");
	}
	if (++r->calls != 1)
		die(r, "the callback ran %d times", r->calls);
	if (in_submit > 0)
		die(r, "the callback ran inside the submitting call");
	if (status != r->expect)
		die(r, "expected status %d (%s), got %d (%s): %s", r->expect,
		    r->expect ? mblk_strerror(r->expect) : "success", status,
		    status ? mblk_strerror(status) : "success",
		    error ? error : "(no sentence)");
	if (status < 0 && (error == NULL || error[0] == '\0'))
		die(r, "failed without a sentence");
	if (status == 0 && error != NULL)
		die(r, "succeeded with an error sentence '%s'", error);
	if (status == 0) {
		if (r->kind == K_READ)
			check_read(r);
		else if (r->kind == K_MAPPED || r->kind == K_UNMAPPED)
			check_seek(r, sector);
		else if (r->kind == K_EXTENTS)
			check_extents(r, (int)sector);
	}
	r->busy = false;
	inflight--;
}

static void io_cb(void *data, int status, const char *error)
{
	complete(data, status, 0, error);
}

static void seek_cb(void *data, int status, uint64_t sector, const char *error)
{
	complete(data, status, sector, error);
}

static void extents_cb(void *data, int status, int n, const char *error)
{
	complete(data, status, (uint64_t)n, error);
}

/* ------------------------------------------------------------------ */
/* Submission                                                          */

static bool conflicts(const struct req *r)
{
	for (int i = 0; i < opt_qd; i++) {
		const struct req *f = &slots[i];
		if (!f->busy || !(r->changes || f->changes))
			continue;
		if (r->kind == K_RESIZE || f->kind == K_RESIZE)
			return true;
		if (r->lo < f->hi && f->lo < r->hi)
			return true;
	}
	return false;
}

static void run_once(void)
{
	if (uv_run(&loop, UV_RUN_ONCE) == 0 && inflight > 0)
		die(NULL,
		    "the loop has nothing left to run with %d requests "
		    "in flight",
		    inflight);
}

static void drain(void)
{
	while (inflight > 0)
		run_once();
}

/* Applies a request that will succeed to the model. */
static void apply(const struct req *r)
{
	switch (r->kind) {
	case K_WRITE:
		for (uint64_t k = 0; k < r->count; k++)
			model[r->sector + k] = r->op;
		break;
	case K_DISCARD:
	case K_ZEROES:
		for (uint64_t k = 0; k < r->count; k++)
			model[r->sector + k] = 0;
		break;
	case K_RESIZE:
		/* Shrinking drops the data; growing later reads zeros. */
		for (uint64_t k = r->sector; k < size; k++)
			model[k] = 0;
		break;
	default: break;
	}
}

static void submit(struct req *t)
{
	while (inflight >= opt_qd || conflicts(t))
		run_once();
	struct req *r = NULL;
	for (int i = 0; i < opt_qd && r == NULL; i++)
		if (!slots[i].busy)
			r = &slots[i];
	unsigned char *buf = r->buf;
	*r = *t;
	r->buf = buf;
	r->busy = true;
	r->calls = 0;
	stats[r->kind]++;

	if (r->kind == K_READ || r->kind == K_WRITE || r->kind == K_BAD_READ ||
	    r->kind == K_BAD_WRITE) {
		gen_iov(r);
		if (r->bad_len) {
			/* The odd length goes into the first non-empty
			 * buffer (count >= 1, so there is one). */
			int k = 0;
			while (r->iov[k].iov_len == 0)
				k++;
			r->iov[k].iov_len -= r->count * ss - r->bad_len;
		}
		if (r->kind == K_WRITE || r->kind == K_BAD_WRITE)
			pat_fill_range(buf, ss, r->count, opt_seed, r->op,
				       r->sector);
		else
			memset(buf, 0xa5, r->count * ss);
		if (r->count == 0 && chance(50))
			r->iovcnt = 0;
	}
	r->log = log_add(r);
	if (r->expect == 0)
		apply(r);

	/* With --handles 2, either handle of the shared device. */
	mblk_dev *dv = ndevs > 1 ? devs[below((uint64_t)ndevs)] : dev;
	if (ndevs > 1) {
		struct logent *e = &logring[r->log];
		size_t n = strlen(e->text);
		snprintf(e->text + n, sizeof(e->text) - n, " (handle %d)",
			 dv == devs[0] ? 0 : 1);
	}
	int rc = -EINVAL;
	inflight++;
	if (inflight > max_inflight)
		max_inflight = inflight;
	in_submit++;
	switch (r->kind) {
	case K_READ:
	case K_BAD_READ:
		rc = mblk_read(dv, r->sector, r->iov, r->iovcnt, io_cb, r);
		break;
	case K_WRITE:
	case K_BAD_WRITE:
		rc = mblk_write(dv, r->sector, r->iov, r->iovcnt, r->flags,
				io_cb, r);
		break;
	case K_DISCARD:
		rc = mblk_discard(dv, r->sector, r->count, io_cb, r);
		break;
	case K_ZEROES:
		rc = mblk_write_zeroes(dv, r->sector, r->count, r->flags, io_cb,
				       r);
		break;
	case K_FLUSH: rc = mblk_flush(dv, io_cb, r); break;
	case K_MAPPED: rc = mblk_seek_mapped(dv, r->sector, seek_cb, r); break;
	case K_UNMAPPED:
		rc = mblk_seek_unmapped(dv, r->sector, seek_cb, r);
		break;
	case K_RESIZE: rc = mblk_resize(dv, r->sector, io_cb, r); break;
	case K_EXTENTS:
		rc = mblk_extents(dv, r->sector, r->count, r->ext, r->ext_max,
				  extents_cb, r);
		break;
	case K_CACHE: rc = mblk_cache(dv, r->sector, r->count, io_cb, r); break;
	default: break;
	}
	in_submit--;
	if (rc != 0)
		die(r, "submission returned %d (%s): %s", rc, mblk_strerror(rc),
		    mblk_last_error());
	if (r->kind == K_RESIZE) {
		/* Later requests are drawn against the new size: wait. */
		drain();
		size = r->sector;
		struct mblk_info now;
		mblk_get_info(dev, &now);
		if (now.size_sectors != size)
			die(r,
			    "after the resize the device reports %" PRIu64
			    " sectors",
			    now.size_sectors);
	}
}

/* Reads the whole device back and compares it with the model. */
static void verify_all(uint64_t op)
{
	drain();
	uint64_t chunk = maxlen;
	unsigned char *buf = slots[0].buf;
	struct req r = { .op = op, .kind = K_READ };
	for (uint64_t s = 0; s < size; s += chunk) {
		uint64_t n = size - s < chunk ? size - s : chunk;
		struct iovec iov = { buf, n * ss };
		r.sector = s;
		r.count = n;
		r.iovcnt = 1;
		r.iov[0] = iov;
		r.calls = 0;
		r.busy = true;
		r.expect = 0;
		memset(buf, 0xa5, n * ss);
		r.log = log_add(&r);
		snprintf(logring[r.log].text, sizeof(logring[r.log].text),
			 "(verify) read sectors %" PRIu64 "+%" PRIu64, s, n);
		inflight++;
		in_submit++;
		int rc = mblk_read(dev, s, &r.iov[0], 1, io_cb, &r);
		in_submit--;
		if (rc != 0)
			die(&r, "submission returned %d: %s", rc,
			    mblk_last_error());
		drain();
	}
}

/* ------------------------------------------------------------------ */

static void *xalloc(size_t align, size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, align, len ? len : 1) != 0) {
		fprintf(stderr, "model: out of memory (%zu bytes)\n", len);
		exit(1);
	}
	return p;
}

static int usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: model [--ops N] [--seed S] [--qd Q] [--max-len BYTES]\n"
		"             [--verify-every N] [--no-safe] [--no-resize]\n"
		"             [--shim SPEC] [--handles 2] URI\n"
		"Random requests against URI and an in-memory model; any\n"
		"difference prints the request log and exits 1. --handles 2\n"
		"opens URI twice (a named device) and uses both handles.\n");
	return rc;
}

static bool num_arg(int argc, char **argv, int *i, const char *name,
		    uint64_t *out)
{
	if (strcmp(argv[*i], name) != 0 || *i + 1 >= argc)
		return false;
	char *end;
	*out = strtoull(argv[++*i], &end, 0);
	if (*end != '\0') {
		fprintf(stderr, "model: %s %s: not a number\n", name, argv[*i]);
		exit(2);
	}
	return true;
}

int main(int argc, char **argv)
{
	uint64_t qd = (uint64_t)opt_qd, handles = 1;
	for (int i = 1; i < argc; i++) {
		if (num_arg(argc, argv, &i, "--ops", &opt_ops) ||
		    num_arg(argc, argv, &i, "--seed", &opt_seed) ||
		    num_arg(argc, argv, &i, "--qd", &qd) ||
		    num_arg(argc, argv, &i, "--max-len", &opt_max_len) ||
		    num_arg(argc, argv, &i, "--verify-every",
			    &opt_verify_every) ||
		    num_arg(argc, argv, &i, "--handles", &handles))
			continue;
		if (strcmp(argv[i], "--no-safe") == 0)
			open_flags |= MBLK_OPEN_NO_SAFE;
		else if (strcmp(argv[i], "--no-resize") == 0)
			opt_no_resize = true;
		else if (strcmp(argv[i], "--shim") == 0 && i + 1 < argc)
			shim_spec = argv[++i];
		else if (strcmp(argv[i], "--help") == 0)
			return usage(stdout, 0);
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage(stderr, 2);
		else if (uri == NULL)
			uri = argv[i];
		else
			return usage(stderr, 2);
	}
	if (uri == NULL || qd < 1 || qd > 4096 || handles < 1 || handles > 2)
		return usage(stderr, 2);
	/* A resize through one handle leaves the other's size stale until
	 * it asks again: not a fault, so no resizes with two handles. */
	if (handles == 2)
		opt_no_resize = true;
	opt_qd = (int)qd;
	if (opt_verify_every == 0)
		opt_verify_every = opt_ops > 20000 ? 20000 : opt_ops + 1;

	uv_loop_init(&loop);
	int r = shim_open(&loop, uri, open_flags, shim_spec, &dev);
	if (r == 0 && handles == 2) {
		r = shim_open(&loop, uri, open_flags, shim_spec, &devs[1]);
		if (r < 0)
			mblk_close(dev, NULL, NULL);
		ndevs = 2;
	}
	devs[0] = dev;
	if (r == -ENOTSUP) {
		printf("# SKIP %s: %s\n", uri, mblk_last_error());
		uv_loop_close(&loop);
		return 77;
	}
	if (r < 0) {
		printf("FAIL model: mblk_open_sync(\"%s\") returned %d: %s\n",
		       uri, r, mblk_last_error());
		return 1;
	}
	mtest_check_engine(uri, dev);
	mblk_get_info(dev, &info);
	ss = info.sector_size;
	size = orig_size = info.size_sectors;
	spp = 4096 / ss ? 4096 / ss : 1;
	cap_size = (info.caps & MBLK_CAP_RESIZE) && !opt_no_resize
			   ? orig_size + orig_size / 2 + 1
			   : orig_size;
	if (cap_size > (UINT64_C(1) << 24)) {
		/* A limit of this tool, not a fault of the device. */
		printf("# SKIP model: the device has %" PRIu64 " sectors; the "
		       "model holds 8 bytes per sector and stops at 2^24 "
		       "sectors: use a smaller device\n",
		       orig_size);
		mblk_close(dev, NULL, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 77;
	}
	maxlen = opt_max_len / ss ? opt_max_len / ss : 1;
	if (info.max_io != 0 && maxlen > info.max_io / ss)
		maxlen = info.max_io / ss ? info.max_io / ss : 1;
	model = calloc(cap_size + 1, sizeof(*model));
	slots = calloc((size_t)opt_qd, sizeof(*slots));
	size_t align = info.buf_align > 4096 ? info.buf_align : 4096;
	for (int i = 0; i < opt_qd; i++)
		slots[i].buf = xalloc(align, (size_t)(maxlen * ss));

	/* The model starts with every sector zero: the device is cleared
	 * with write_zeroes or discard when it can be, and then read back
	 * whole, so a device that holds data and cannot be cleared fails
	 * here, at op 0, with the first non-zero sector. */
	signal(SIGALRM, alarm_handler);
	alarm(600);
	rs[0] = pat_mix(opt_seed);
	rs[1] = pat_mix(rs[0]);
	rs[2] = pat_mix(rs[1]);
	rs[3] = pat_mix(rs[2]);
	{
		/* Start from a clean device where possible. */
		struct req t;
		memset(&t, 0, sizeof(t));
		t.kind = (info.caps & MBLK_CAP_WRITE_ZEROES) ? K_ZEROES
							     : K_DISCARD;
		if (info.caps & (MBLK_CAP_WRITE_ZEROES | MBLK_CAP_DISCARD)) {
			t.sector = 0;
			t.count = size;
			t.changes = true;
			t.lo = 0;
			t.hi = size;
			submit(&t);
			drain();
		}
		verify_all(0);
	}
	printf("# model %s%s: %" PRIu64 " sectors of %u bytes, seed %" PRIu64
	       ", %" PRIu64 " ops, QD %d\n",
	       uri, open_flags & MBLK_OPEN_NO_SAFE ? " (no safe)" : "", size,
	       ss, opt_seed, opt_ops, opt_qd);

	for (uint64_t op = 1; op <= opt_ops; op++) {
		struct req t;
		gen(&t, op);
		submit(&t);
		if (op % opt_verify_every == 0)
			verify_all(op);
		if (op % 100000 == 0) {
			printf("# %" PRIu64 " ops\n", op);
			fflush(stdout);
		}
	}
	verify_all(opt_ops);
	alarm(0);

	mblk_close(dev, NULL, NULL);
	mblk_close(devs[1], NULL, NULL);
	while (uv_run(&loop, UV_RUN_DEFAULT) != 0)
		;
	int lr = uv_loop_close(&loop);
	for (int i = 0; i < opt_qd; i++)
		free(slots[i].buf);
	free(slots);
	free(model);
	if (lr != 0) {
		printf("FAIL model: uv_loop_close returned %d after closing the "
		       "device: handles leaked\n",
		       lr);
		return 1;
	}
	printf("ok model %s seed=%" PRIu64 ": %" PRIu64 " ops, max %d in "
	       "flight;",
	       uri, opt_seed, opt_ops, max_inflight);
	for (int k = 0; k < K_NKINDS; k++)
		printf(" %s %" PRIu64 "%s", kind_name[k], stats[k],
		       k + 1 < K_NKINDS ? "," : "\n");
	return 0;
}
