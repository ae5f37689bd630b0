/* checked.h - overflow-checked integer arithmetic and alignment helpers.
 *
 * Header-only; tested by tests/unit/test-checked.c. Every helper returns
 * true when the result overflowed (and then *r is unspecified), so a call
 * reads as "if (add_overflow(a, b, &r)) fail".
 */
#ifndef MBLK_COMMON_CHECKED_H
#define MBLK_COMMON_CHECKED_H

/* The largest device: 2^63 bytes, so that every byte offset fits an
 * off_t and a sum of two stays in 64 bits. */
#define MBLK__MAX_BYTES (1ull << 63)

#include <stdbool.h>
#include <stdint.h>

static inline bool mblk__add_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_add_overflow(a, b, r);
}

static inline bool mblk__mul_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_mul_overflow(a, b, r);
}

static inline bool mblk__is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Alignment helpers: a must be a power of two. */
static inline bool mblk__is_aligned(uint64_t x, uint64_t a)
{
	return (x & (a - 1)) == 0;
}

static inline uint64_t mblk__align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

/* Rounds up; the caller guarantees x + a - 1 does not overflow. */
static inline uint64_t mblk__align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static inline uint64_t mblk__min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t mblk__max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* log2 of a power of two. */
static inline unsigned mblk__log2(uint64_t x)
{
	return (unsigned)__builtin_ctzll(x);
}

#endif
