/* histogram.h - a fixed-size log-linear latency histogram (header-only).
 *
 * Values (nanoseconds) below 16 have a bucket each; above, every power of
 * two is split into 16 equal buckets, so a reported value is within
 * 1/32 (about 3%) of the truth. 61 * 16 buckets cover all of uint64_t, so
 * recording never allocates and never overflows a range. Percentiles
 * report the middle of the bucket that holds them; max is exact.
 */
#ifndef MBLK_CLI_HISTOGRAM_H
#define MBLK_CLI_HISTOGRAM_H

#include <stdint.h>
#include <string.h>

#define HIST_SUB_BITS 4
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)

struct histogram {
	uint64_t count, max, sum;
	uint64_t bucket[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The middle of bucket i. */
static inline uint64_t hist_value(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned e = i / HIST_SUB + HIST_SUB_BITS - 1;
	uint64_t width = 1ull << (e - HIST_SUB_BITS);
	uint64_t low = (uint64_t)(HIST_SUB + i % HIST_SUB)
		       << (e - HIST_SUB_BITS);
	return low + width / 2;
}

static inline void hist_record(struct histogram *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The value below which a fraction q (0..1) of the recordings fall. */
static inline uint64_t hist_quantile(const struct histogram *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > want) {
			uint64_t v = hist_value(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

#endif
