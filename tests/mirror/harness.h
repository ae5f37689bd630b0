/* harness.h - small helpers shared by the mirror and fault tests: checks
 * that print both sides, a seeded generator, ram devices, running the
 * loop until a condition with a watchdog, and comparing two devices. */
#ifndef MBLK_TEST_MIRROR_HARNESS_H
#define MBLK_TEST_MIRROR_HARNESS_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>
#include <mblk/backend.h>
#include <mblk/ram.h>
#include <mblk/fault.h>
#include <mblk/mirror.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                      \
	CHECK((long long)(a) == (long long)(b), "%s = %lld, %s = %lld", #a, \
	      (long long)(a), #b, (long long)(b))

static inline uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

static inline mblk_dev *ram(uv_loop_t *loop, uint64_t bytes, uint32_t ss)
{
	mblk_dev *d;
	int r = mblk_ram_create(loop, NULL, bytes / ss, ss, &d);
	CHECK(r == 0, "ram create: %s", mblk_last_error());
	return d;
}

/* Runs the loop until *flag or the timeout (then fails: a hang). */
static inline void run_until(uv_loop_t *loop, const bool *flag,
			     unsigned timeout_ms, const char *what)
{
	uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000;
	while (!*flag) {
		uv_run(loop, UV_RUN_NOWAIT);
		if (*flag)
			break;
		CHECK(uv_hrtime() < deadline, "timed out waiting for %s", what);
		uv_run(loop, UV_RUN_ONCE);
	}
}

/* Closes dev and runs the loop until it is gone. */
static inline void close_dev(uv_loop_t *loop, mblk_dev *dev)
{
	mblk_close(dev, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	(void)loop;
}

/* Fills [0, bytes) with a pattern from seed, leaving holes: each 4 KiB
 * block is data with probability pct %. */
static inline void fill_pattern(mblk_dev *d, uint64_t *seed, unsigned pct)
{
	struct mblk_info in;
	mblk_get_info(d, &in);
	uint64_t bytes = in.size_sectors * in.sector_size;
	uint32_t blk = in.sector_size > 4096 ? in.sector_size : 4096;
	char *buf = malloc(blk);
	for (uint64_t off = 0; off + blk <= bytes; off += blk) {
		if (rng_below(seed, 100) >= pct)
			continue;
		for (uint32_t i = 0; i < blk; i += 8) {
			uint64_t v = rng_next(seed);
			memcpy(buf + i, &v, 8);
		}
		struct iovec iov = { buf, blk };
		int r = mblk_write_sync(d, off / in.sector_size, &iov, 1, 0);
		CHECK(r == 0, "fill: %s", mblk_last_error());
	}
	free(buf);
}

/* Compares the whole contents of a and b (equal byte sizes); prints the
 * first difference. Returns true when equal. */
static inline bool same_contents(mblk_dev *a, mblk_dev *b)
{
	struct mblk_info ia, ib;
	mblk_get_info(a, &ia);
	mblk_get_info(b, &ib);
	uint64_t bytes = ia.size_sectors * ia.sector_size;
	if (bytes != ib.size_sectors * ib.sector_size) {
		fprintf(stderr, "sizes differ: %" PRIu64 " vs %" PRIu64 "\n",
			bytes, (uint64_t)(ib.size_sectors * ib.sector_size));
		return false;
	}
	const size_t step = 65536;
	char *x = malloc(step), *y = malloc(step);
	bool ok = true;
	for (uint64_t off = 0; off < bytes && ok; off += step) {
		size_t n = bytes - off < step ? bytes - off : step;
		struct iovec ix = { x, n }, iy = { y, n };
		CHECK(mblk_read_sync(a, off / ia.sector_size, &ix, 1) == 0,
		      "read a: %s", mblk_last_error());
		CHECK(mblk_read_sync(b, off / ib.sector_size, &iy, 1) == 0,
		      "read b: %s", mblk_last_error());
		if (memcmp(x, y, n) != 0) {
			size_t i = 0;
			while (x[i] == y[i])
				i++;
			fprintf(stderr,
				"%s and %s differ at byte %" PRIu64
				": %02x vs %02x\n",
				mblk_dev_name(a), mblk_dev_name(b), off + i,
				(unsigned char)x[i], (unsigned char)y[i]);
			ok = false;
		}
	}
	free(x);
	free(y);
	return ok;
}

/* Progress events recorded by a test. */
struct events {
	int switched, cancelled; /* pivots and cancels reported */
	int percents, last_percent, complete, active, errors, failed;
	int last_error;
	char msg[400];
	bool done; /* complete or failed */
	bool percent_regressed;
};

static inline void record_event(void *data, enum mblk_mirror_event ev,
				int value, const char *error)
{
	struct events *e = data;
	switch (ev) {
	case MBLK_MIRROR_PERCENT:
		if (value <= e->last_percent)
			e->percent_regressed = true;
		e->last_percent = value;
		e->percents++;
		break;
	case MBLK_MIRROR_COMPLETE:
		e->complete++;
		e->done = true;
		break;
	case MBLK_MIRROR_ACTIVE: e->active++; break;
	case MBLK_MIRROR_ERROR:
		e->errors++;
		e->last_error = value;
		snprintf(e->msg, sizeof(e->msg), "%s",
			 error ? error : "(null)");
		break;
	case MBLK_MIRROR_FAILED:
		e->failed++;
		e->last_error = value;
		snprintf(e->msg, sizeof(e->msg), "%s",
			 error ? error : "(null)");
		e->done = true;
		break;
	case MBLK_MIRROR_SWITCHED: e->switched++; break;
	case MBLK_MIRROR_CANCELLED: e->cancelled++; break;
	}
}

#endif
