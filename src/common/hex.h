/* hex.h - percent-encoding: the value of a hexadecimal digit (decoding),
 * and a path encoded for a URI.
 *
 * Header-only; tested through the URI tests (tests/unit/test-uri.c) and
 * the file device's URI round trips (tests/file/test-file-open.c).
 */
#ifndef MBLK_COMMON_HEX_H
#define MBLK_COMMON_HEX_H

#include <stdlib.h>
#include <string.h>

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

/* Percent-encodes a path for a URI: everything but unreserved characters
 * and '/'. Returns a malloc'd string or NULL. */
static inline char *mblk__pct_encode_path(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *w = out;
	if (out == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
			*w++ = (char)*p;
		} else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w = '\0';
	return out;
}

#endif
