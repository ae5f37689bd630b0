/* open.h - opening devices by URI: what open.c and the scheme table
 * (registry.c, the generated schemes.c) share. Not installed.
 *
 * This folder is the one place that knows every scheme and wraps opened
 * devices in `safe`; the core names no device.
 */
#ifndef MBLK_OPEN_H
#define MBLK_OPEN_H

#include <mblk/backend.h>

/* A scheme the build left out, and why ("librbd was not found ..."). */
struct mblk__missing_scheme {
	const char *name;
	const char *why;
};

/* Generated (schemes.c): NULL-terminated. */
extern const struct mblk_scheme *const mblk__builtin_schemes[];
extern const struct mblk__missing_scheme mblk__missing_schemes[];

/* The scheme called name (case-insensitive), or NULL. */
const struct mblk_scheme *mblk__scheme_find(const char *name);
/* Why the scheme called name is not built in, or NULL if it is unknown. */
const char *mblk__scheme_missing(const char *name);

#endif
