/* endian.h - big-endian (network order) loads and stores of 16, 32 and
 * 64-bit integers at any alignment, for wire formats (NBD).
 *
 * Header-only; tested by tests/unit/test-endian.c. Byte by byte, so
 * they work on any host and any alignment; compilers fold them into one
 * load and a byte swap.
 */
#ifndef MBLK_COMMON_ENDIAN_H
#define MBLK_COMMON_ENDIAN_H

#include <stdint.h>

static inline void mblk__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void mblk__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void mblk__put_be64(uint8_t *p, uint64_t v)
{
	mblk__put_be32(p, (uint32_t)(v >> 32));
	mblk__put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t mblk__get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t mblk__get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t mblk__get_be64(const uint8_t *p)
{
	return (uint64_t)mblk__get_be32(p) << 32 | mblk__get_be32(p + 4);
}

#endif
