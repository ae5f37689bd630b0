/* bitmap.h - a flat bitmap with range set/clear, population count and
 * next-set-bit search, for the mirror's chunk maps. Header-only; tested
 * by tests/mirror/test-bitmap.c.
 *
 * Ranges are [a, b) in bits. set and clear return how many bits changed,
 * so the caller can keep an exact count of set bits without rescanning.
 */
#ifndef MBLK_MIRROR_BITMAP_H
#define MBLK_MIRROR_BITMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct mblk__bitmap {
	uint64_t *w;
	uint64_t nbits;
};

static inline int mblk__bitmap_init(struct mblk__bitmap *b, uint64_t nbits,
				    bool value)
{
	uint64_t nw = (nbits + 63) / 64;
	b->nbits = nbits;
	b->w = calloc(nw ? nw : 1, sizeof(uint64_t));
	if (b->w == NULL)
		return -1;
	if (value) {
		for (uint64_t i = 0; i < nw; i++)
			b->w[i] = ~0ull;
		if (nbits % 64)
			b->w[nw - 1] = (1ull << (nbits % 64)) - 1;
	}
	return 0;
}

static inline void mblk__bitmap_free(struct mblk__bitmap *b)
{
	free(b->w);
	b->w = NULL;
}

static inline bool mblk__bitmap_get(const struct mblk__bitmap *b, uint64_t i)
{
	return (b->w[i / 64] >> (i % 64)) & 1;
}

/* The mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64. */
static inline uint64_t mblk__bitmap_mask(unsigned lo, unsigned hi)
{
	uint64_t m = hi == 64 ? ~0ull : (1ull << hi) - 1;
	return m & ~((1ull << lo) - 1);
}

/* Sets (value true) or clears [a, b); returns the number of bits that
 * changed. */
static inline uint64_t mblk__bitmap_assign(struct mblk__bitmap *b, uint64_t a,
					   uint64_t e, bool value)
{
	uint64_t changed = 0;
	if (e > b->nbits)
		e = b->nbits;
	while (a < e) {
		uint64_t wi = a / 64;
		unsigned lo = (unsigned)(a % 64);
		unsigned hi = (e - wi * 64) >= 64 ? 64
						  : (unsigned)(e - wi * 64);
		uint64_t m = mblk__bitmap_mask(lo, hi);
		uint64_t old = b->w[wi];
		uint64_t nw = value ? old | m : old & ~m;
		changed += (uint64_t)__builtin_popcountll(old ^ nw);
		b->w[wi] = nw;
		a = wi * 64 + hi;
	}
	return changed;
}

/* Whether every bit of [a, e) is set. */
static inline bool mblk__bitmap_all(const struct mblk__bitmap *b, uint64_t a,
				    uint64_t e)
{
	for (; a < e; a++)
		if (!mblk__bitmap_get(b, a))
			return false;
	return true;
}

/* The first set bit at or after i, or nbits. */
static inline uint64_t mblk__bitmap_next(const struct mblk__bitmap *b,
					 uint64_t i)
{
	while (i < b->nbits) {
		uint64_t word = b->w[i / 64] >> (i % 64);
		if (word != 0) {
			i += (uint64_t)__builtin_ctzll(word);
			return i < b->nbits ? i : b->nbits;
		}
		i = (i / 64 + 1) * 64;
	}
	return b->nbits;
}

#endif
