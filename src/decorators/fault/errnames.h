/* errnames.h - errno names ("EIO") to numbers and back, for the fault
 * decorator's URI keys and sentences. Header-only. */
#ifndef MBLK_FAULT_ERRNAMES_H
#define MBLK_FAULT_ERRNAMES_H

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include <mblk/backend.h>
#include <mblk/fault.h>

/* The operation of each MBLK_FAULT_* bit, in bit order: its name is the
 * core's (mblk_op_name), the one table of operation names. */
static const enum mblk_op mblk__fault_bit_op[] = {
	MBLK_OP_READ,    MBLK_OP_WRITE,        MBLK_OP_FLUSH,
	MBLK_OP_DISCARD, MBLK_OP_WRITE_ZEROES,
};
#define MBLK__FAULT_NBITS 5

static const struct {
	const char *name;
	int value;
} mblk__errnames[] = {
	{ "EIO", EIO },
	{ "ENOSPC", ENOSPC },
	{ "EROFS", EROFS },
	{ "EINVAL", EINVAL },
	{ "ENODEV", ENODEV },
	{ "ENOTSUP", ENOTSUP },
	{ "ENOMEM", ENOMEM },
	{ "EAGAIN", EAGAIN },
	{ "ETIMEDOUT", ETIMEDOUT },
	{ "EPIPE", EPIPE },
	{ "EBUSY", EBUSY },
	{ "EDQUOT", EDQUOT },
	{ "EFBIG", EFBIG },
	{ "ESHUTDOWN", ESHUTDOWN },
	{ "ECONNRESET", ECONNRESET },
	{ "EPERM", EPERM },
	{ "EACCES", EACCES },
	{ "EBADF", EBADF },
	{ "EINTR", EINTR },
};

/* "EIO" (any case) or a decimal number to a positive errno; -1 if
 * neither. */
static inline int mblk__errno_parse(const char *s)
{
	for (size_t i = 0;
	     i < sizeof(mblk__errnames) / sizeof(mblk__errnames[0]); i++)
		if (strcasecmp(s, mblk__errnames[i].name) == 0)
			return mblk__errnames[i].value;
	char *end;
	long v = strtol(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '\0' && v > 0 && v < 4096)
		return (int)v;
	return -1;
}

/* The name of a positive errno, or "errno" when not in the table. */
static inline const char *mblk__errno_name(int e)
{
	for (size_t i = 0;
	     i < sizeof(mblk__errnames) / sizeof(mblk__errnames[0]); i++)
		if (mblk__errnames[i].value == e)
			return mblk__errnames[i].name;
	return "errno";
}

#endif
