/* hex.h - the value of one hexadecimal digit, for percent-decoding.
 *
 * Header-only; tested through the URI tests (tests/unit/test-uri.c).
 */
#ifndef MBLK_COMMON_HEX_H
#define MBLK_COMMON_HEX_H

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. */
static inline int mblk__hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
