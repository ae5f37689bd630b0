/* names.c - the names of operations and capabilities, and the phrase
 * that describes a request in a sentence ("write of sectors 8-15 (8
 * sectors)"). The one table of each: messages, the CLI, the fault
 * decorator's rules and the tests all use these.
 */
#include <stdio.h>

#include "core.h"

const char *mblk_op_name(enum mblk_op op)
{
	switch (op) {
	case MBLK_OP_READ: return "read";
	case MBLK_OP_WRITE: return "write";
	case MBLK_OP_FLUSH: return "flush";
	case MBLK_OP_DISCARD: return "discard";
	case MBLK_OP_WRITE_ZEROES: return "write_zeroes";
	case MBLK_OP_RESIZE: return "resize";
	case MBLK_OP_SEEK_MAPPED: return "seek_mapped";
	case MBLK_OP_SEEK_UNMAPPED: return "seek_unmapped";
	case MBLK_OP_DISCONNECT: return "disconnect";
	case MBLK_OP_EXTENTS: return "extents";
	case MBLK_OP_CACHE: return "cache";
	}
	return "unknown operation";
}

const char *mblk_cap_name(uint32_t bit)
{
	switch (bit) {
	case MBLK_CAP_FLUSH: return "flush";
	case MBLK_CAP_DISCARD: return "discard";
	case MBLK_CAP_WRITE_ZEROES: return "write_zeroes";
	case MBLK_CAP_RESIZE: return "resize";
	case MBLK_CAP_SEEK: return "seek";
	case MBLK_CAP_FUA: return "fua";
	case MBLK_CAP_ZERO_IS_FAST: return "zero_is_fast";
	case MBLK_CAP_CACHE: return "cache";
	}
	return NULL;
}

int mblk_req_describe(const mblk_req *req, char *buf, size_t len)
{
	const char *op = mblk_op_name(req->op);
	const char *pre = "";
	enum mblk_op kind = req->op;
	unsigned long long s = req->sector, n = req->count;
	/* The flush step of an emulated FUA write: the user asked for the
	 * write, so name it and its range. */
	if (MBLK__IREQ(req)->fua_emul && req->op == MBLK_OP_FLUSH) {
		pre = "flush after the FUA ";
		op = mblk_op_name(MBLK_OP_WRITE);
		kind = MBLK_OP_WRITE;
	}
	switch (kind) {
	case MBLK_OP_READ:
	case MBLK_OP_WRITE:
	case MBLK_OP_DISCARD:
	case MBLK_OP_WRITE_ZEROES:
	case MBLK_OP_EXTENTS:
	case MBLK_OP_CACHE:
		if (n == 0)
			return snprintf(buf, len,
					"%s%s of 0 sectors at sector %llu", pre,
					op, s);
		if (n == 1)
			return snprintf(buf, len, "%s%s of sector %llu", pre,
					op, s);
		/* s + n - 1 may wrap for a rejected request; say so plainly. */
		if (s + n - 1 < s)
			return snprintf(buf, len,
					"%s%s of %llu sectors from sector %llu",
					pre, op, n, s);
		return snprintf(buf, len,
				"%s%s of sectors %llu-%llu (%llu sectors)", pre,
				op, s, s + n - 1, n);
	case MBLK_OP_RESIZE:
		return snprintf(buf, len, "resize to %llu sectors", s);
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED:
		return snprintf(buf, len, "%s from sector %llu", op, s);
	case MBLK_OP_FLUSH:
	case MBLK_OP_DISCONNECT: break;
	}
	return snprintf(buf, len, "%s", op);
}
