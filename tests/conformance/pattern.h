/* pattern.h - self-describing sector contents for the conformance tests.
 *
 * Every sector a test writes is filled by pat_fill from three numbers: a
 * tag (the model's seed, or a conformance check's own constant), an
 * operation number and the sector it is meant for. The first 32 bytes
 * spell them out:
 *
 *   bytes  0-7   PAT_MAGIC
 *   bytes  8-15  tag
 *   bytes 16-23  op
 *   bytes 24-31  sector
 *   bytes 32-    a hash of (tag, op, sector, word index), never all zero
 *
 * so that when a read returns the wrong data, pat_describe can say whose
 * data it is ("written by op 812 for sector 96": a write that landed at
 * the wrong place, or a stale read) rather than printing noise. Sectors
 * shorter than 32 bytes keep the prefix that fits.
 */
#ifndef MBLK_TEST_PATTERN_H
#define MBLK_TEST_PATTERN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PAT_MAGIC 0x5441506b6c626d21ull /* "!mblkPAT" little-endian */

/* splitmix64's finaliser: a cheap, well-mixed 64-bit hash. */
static inline uint64_t pat_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t pat_word(uint64_t tag, uint64_t op, uint64_t sector,
				uint64_t i)
{
	uint64_t w = pat_mix(tag ^ pat_mix(op ^ pat_mix(sector ^ pat_mix(i))));
	return w != 0 ? w : 1;
}

/* Fills one sector of ss bytes at buf. */
static inline void pat_fill(void *buf, uint32_t ss, uint64_t tag, uint64_t op,
			    uint64_t sector)
{
	unsigned char *p = buf;
	for (uint32_t off = 0; off < ss; off += 8) {
		uint64_t i = off / 8, w;
		switch (i) {
		case 0: w = PAT_MAGIC; break;
		case 1: w = tag; break;
		case 2: w = op; break;
		case 3: w = sector; break;
		default: w = pat_word(tag, op, sector, i); break;
		}
		uint32_t n = ss - off < 8 ? ss - off : 8;
		memcpy(p + off, &w, n);
	}
}

/* Fills count consecutive sectors starting at `sector`. */
static inline void pat_fill_range(void *buf, uint32_t ss, uint64_t count,
				  uint64_t tag, uint64_t op, uint64_t sector)
{
	for (uint64_t k = 0; k < count; k++)
		pat_fill((char *)buf + k * ss, ss, tag, op, sector + k);
}

static inline int pat_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Writes into out a short description of the sector at buf: "zeros",
 * "pattern tag=T op=K sector=S", the same with "(damaged from byte N)",
 * or the first bytes in hex. */
static inline void pat_describe(const void *buf, uint32_t ss, char *out,
				size_t len)
{
	const unsigned char *p = buf;
	uint64_t w[4] = { 0, 0, 0, 0 };
	if (pat_is_zero(buf, ss)) {
		snprintf(out, len, "zeros");
		return;
	}
	memcpy(w, p, ss < 32 ? ss : 32);
	if (ss >= 32 && w[0] == PAT_MAGIC) {
		unsigned char ref[64];
		uint32_t bad = ss;
		for (uint32_t off = 32; off < ss && bad == ss; off += 64) {
			uint32_t n = ss - off < 64 ? ss - off : 64;
			for (uint32_t j = 0; j < n; j += 8) {
				uint64_t x = pat_word(w[1], w[2], w[3],
						      (off + j) / 8);
				memcpy(ref + j, &x, 8);
			}
			for (uint32_t j = 0; j < n; j++)
				if (p[off + j] != ref[j]) {
					bad = off + j;
					break;
				}
		}
		if (bad == ss)
			snprintf(out, len, "pattern tag=%llu op=%llu sector=%llu",
				 (unsigned long long)w[1],
				 (unsigned long long)w[2],
				 (unsigned long long)w[3]);
		else
			snprintf(out, len,
				 "pattern tag=%llu op=%llu sector=%llu, "
				 "damaged from byte %u",
				 (unsigned long long)w[1],
				 (unsigned long long)w[2],
				 (unsigned long long)w[3], bad);
		return;
	}
	int n = snprintf(out, len, "unrecognised bytes");
	for (uint32_t i = 0; i < 16 && i < ss && n > 0 && (size_t)n < len; i++)
		n += snprintf(out + n, len - (size_t)n, " %02x", p[i]);
}

#endif
