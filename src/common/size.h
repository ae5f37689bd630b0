/* size.h - parsing sizes such as "512", "4K", "1.5G", "2TiB".
 *
 * Header-only; tested by tests/unit/test-size.c. Suffixes are binary
 * (K = 1024) and case-insensitive, optionally followed by "iB" or "B";
 * "k"/"KB"/"KiB" all mean 1024. A fraction is allowed with a suffix and
 * must come out a whole number of bytes ("1.5K" = 1536, "1.3" fails).
 * Whitespace, signs, empty strings and overflow past 2^64-1 are refused.
 */
#ifndef MBLK_COMMON_SIZE_H
#define MBLK_COMMON_SIZE_H

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Returns 0 and sets *out, or -EINVAL (malformed) / -ERANGE (too big). */
static inline int mblk__parse_size(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, frac_div = 1;
	const char *p = s;
	bool digits = false;

	if (s == NULL)
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
			return -ERANGE;
		digits = true;
		p++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (frac_div >= 1000000000000ull)
				return -EINVAL; /* more precision than sense */
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_div *= 10;
			digits = true;
			p++;
		}
	}
	if (!digits)
		return -EINVAL;

	unsigned shift = 0;
	switch (tolower((unsigned char)*p)) {
	case '\0': break;
	case 'b':
		shift = 0;
		p++;
		break;
	case 'k':
		shift = 10;
		p++;
		break;
	case 'm':
		shift = 20;
		p++;
		break;
	case 'g':
		shift = 30;
		p++;
		break;
	case 't':
		shift = 40;
		p++;
		break;
	case 'p':
		shift = 50;
		p++;
		break;
	case 'e':
		shift = 60;
		p++;
		break;
	default: return -EINVAL;
	}
	if (shift != 0) {
		if (tolower((unsigned char)p[0]) == 'i' &&
		    tolower((unsigned char)p[1]) == 'b')
			p += 2;
		else if (tolower((unsigned char)p[0]) == 'b')
			p++;
	}
	if (*p != '\0')
		return -EINVAL;

	uint64_t mult = 1ull << shift, r;
	if (__builtin_mul_overflow(whole, mult, &r))
		return -ERANGE;
	if (frac != 0) {
		/* frac / frac_div * mult must be whole. mult is at most
		 * 2^60 and frac_div at most 10^12, so use 128 bits. */
		unsigned __int128 f = (unsigned __int128)frac * mult;
		if (f % frac_div != 0)
			return -EINVAL;
		if (__builtin_add_overflow(r, (uint64_t)(f / frac_div), &r))
			return -ERANGE;
	}
	*out = r;
	return 0;
}

/* Formats bytes as a short human size ("1.5 GiB", "512 B") into buf. */
static inline const char *mblk__human_size(uint64_t bytes, char *buf,
					   size_t len)
{
	static const char *const units[] = { "B",   "KiB", "MiB", "GiB",
					     "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.*f %s",
			 v < 10    ? 2
			 : v < 100 ? 1
				   : 0,
			 v, units[u]);
	return buf;
}

#endif
