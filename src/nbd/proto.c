/* proto.c - the NBD wire codecs: request and reply headers, errno <->
 * wire error values, and the names of options, commands and replies for
 * messages. See proto.h for the contracts. */
#include "proto.h"

#include <errno.h>

#include "../common/endian.h"

size_t mblk__nbd_request_encode(uint8_t *buf, bool extended,
				const struct mblk__nbd_request *r)
{
	mblk__put_be32(buf, extended ? NBD_EXTENDED_REQUEST_MAGIC
				     : NBD_REQUEST_MAGIC);
	mblk__put_be16(buf + 4, r->flags);
	mblk__put_be16(buf + 6, r->type);
	mblk__put_be64(buf + 8, r->cookie);
	mblk__put_be64(buf + 16, r->offset);
	if (extended) {
		mblk__put_be64(buf + 24, r->length);
		return NBD_EXTENDED_REQUEST_SIZE;
	}
	mblk__put_be32(buf + 24, (uint32_t)r->length);
	return NBD_REQUEST_SIZE;
}

int mblk__nbd_request_decode(const uint8_t *buf, bool extended,
			     struct mblk__nbd_request *r)
{
	uint32_t magic = mblk__get_be32(buf);
	if (magic !=
	    (extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC))
		return -EPROTO;
	r->flags = mblk__get_be16(buf + 4);
	r->type = mblk__get_be16(buf + 6);
	r->cookie = mblk__get_be64(buf + 8);
	r->offset = mblk__get_be64(buf + 16);
	r->length = extended ? mblk__get_be64(buf + 24)
			     : mblk__get_be32(buf + 24);
	return 0;
}

size_t mblk__nbd_reply_size(enum mblk__nbd_reply_kind kind)
{
	switch (kind) {
	case MBLK__NBD_SIMPLE: return NBD_SIMPLE_REPLY_SIZE;
	case MBLK__NBD_STRUCTURED: return NBD_STRUCTURED_REPLY_SIZE;
	case MBLK__NBD_EXTENDED: break;
	}
	return NBD_EXTENDED_REPLY_SIZE;
}

size_t mblk__nbd_reply_encode(uint8_t *buf, const struct mblk__nbd_reply *r)
{
	switch (r->kind) {
	case MBLK__NBD_SIMPLE:
		mblk__put_be32(buf, NBD_SIMPLE_REPLY_MAGIC);
		mblk__put_be32(buf + 4, r->error);
		mblk__put_be64(buf + 8, r->cookie);
		return NBD_SIMPLE_REPLY_SIZE;
	case MBLK__NBD_STRUCTURED:
		mblk__put_be32(buf, NBD_STRUCTURED_REPLY_MAGIC);
		mblk__put_be16(buf + 4, r->flags);
		mblk__put_be16(buf + 6, r->type);
		mblk__put_be64(buf + 8, r->cookie);
		mblk__put_be32(buf + 16, (uint32_t)r->length);
		return NBD_STRUCTURED_REPLY_SIZE;
	case MBLK__NBD_EXTENDED: break;
	}
	mblk__put_be32(buf, NBD_EXTENDED_REPLY_MAGIC);
	mblk__put_be16(buf + 4, r->flags);
	mblk__put_be16(buf + 6, r->type);
	mblk__put_be64(buf + 8, r->cookie);
	mblk__put_be64(buf + 16, r->offset);
	mblk__put_be64(buf + 24, r->length);
	return NBD_EXTENDED_REPLY_SIZE;
}

int mblk__nbd_reply_kind_of(uint32_t magic)
{
	switch (magic) {
	case NBD_SIMPLE_REPLY_MAGIC: return MBLK__NBD_SIMPLE;
	case NBD_STRUCTURED_REPLY_MAGIC: return MBLK__NBD_STRUCTURED;
	case NBD_EXTENDED_REPLY_MAGIC: return MBLK__NBD_EXTENDED;
	}
	return -EPROTO;
}

int mblk__nbd_reply_decode(const uint8_t *buf, enum mblk__nbd_reply_kind kind,
			   struct mblk__nbd_reply *r)
{
	if (mblk__nbd_reply_kind_of(mblk__get_be32(buf)) != (int)kind)
		return -EPROTO;
	r->kind = kind;
	r->flags = 0;
	r->type = 0;
	r->error = 0;
	r->offset = 0;
	r->length = 0;
	switch (kind) {
	case MBLK__NBD_SIMPLE:
		r->error = mblk__get_be32(buf + 4);
		r->cookie = mblk__get_be64(buf + 8);
		return 0;
	case MBLK__NBD_STRUCTURED:
		r->flags = mblk__get_be16(buf + 4);
		r->type = mblk__get_be16(buf + 6);
		r->cookie = mblk__get_be64(buf + 8);
		r->length = mblk__get_be32(buf + 16);
		return 0;
	case MBLK__NBD_EXTENDED: break;
	}
	r->flags = mblk__get_be16(buf + 4);
	r->type = mblk__get_be16(buf + 6);
	r->cookie = mblk__get_be64(buf + 8);
	r->offset = mblk__get_be64(buf + 16);
	r->length = mblk__get_be64(buf + 24);
	return 0;
}

uint32_t mblk__nbd_errno_to_wire(int err)
{
	switch (-err) {
	case 0: return 0;
	case EPERM:
	case EROFS:
	case EACCES: return NBD_EPERM;
	case ENOMEM: return NBD_ENOMEM;
	case EINVAL:
	case ERANGE: return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG: return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
	case EOPNOTSUPP:
#endif
		return NBD_ENOTSUP;
	case ESHUTDOWN:
	case ENODEV: return NBD_ESHUTDOWN;
	}
	return NBD_EIO;
}

int mblk__nbd_wire_to_errno(uint32_t code)
{
	switch (code) {
	case 0: return 0;
	case NBD_EPERM: return -EPERM;
	case NBD_EIO: return -EIO;
	case NBD_ENOMEM: return -ENOMEM;
	case NBD_EINVAL: return -EINVAL;
	case NBD_ENOSPC: return -ENOSPC;
	case NBD_EOVERFLOW: return -EOVERFLOW;
	case NBD_ENOTSUP: return -ENOTSUP;
	case NBD_ESHUTDOWN: return -ESHUTDOWN;
	}
	return -EIO;
}

const char *mblk__nbd_opt_name(uint32_t opt)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME: return "NBD_OPT_EXPORT_NAME";
	case NBD_OPT_ABORT: return "NBD_OPT_ABORT";
	case NBD_OPT_LIST: return "NBD_OPT_LIST";
	case NBD_OPT_PEEK_EXPORT: return "NBD_OPT_PEEK_EXPORT";
	case NBD_OPT_STARTTLS: return "NBD_OPT_STARTTLS";
	case NBD_OPT_INFO: return "NBD_OPT_INFO";
	case NBD_OPT_GO: return "NBD_OPT_GO";
	case NBD_OPT_STRUCTURED_REPLY: return "NBD_OPT_STRUCTURED_REPLY";
	case NBD_OPT_LIST_META_CONTEXT: return "NBD_OPT_LIST_META_CONTEXT";
	case NBD_OPT_SET_META_CONTEXT: return "NBD_OPT_SET_META_CONTEXT";
	case NBD_OPT_EXTENDED_HEADERS: return "NBD_OPT_EXTENDED_HEADERS";
	}
	return "unknown option";
}

const char *mblk__nbd_cmd_name(uint16_t cmd)
{
	switch (cmd) {
	case NBD_CMD_READ: return "NBD_CMD_READ";
	case NBD_CMD_WRITE: return "NBD_CMD_WRITE";
	case NBD_CMD_DISC: return "NBD_CMD_DISC";
	case NBD_CMD_FLUSH: return "NBD_CMD_FLUSH";
	case NBD_CMD_TRIM: return "NBD_CMD_TRIM";
	case NBD_CMD_CACHE: return "NBD_CMD_CACHE";
	case NBD_CMD_WRITE_ZEROES: return "NBD_CMD_WRITE_ZEROES";
	case NBD_CMD_BLOCK_STATUS: return "NBD_CMD_BLOCK_STATUS";
	case NBD_CMD_RESIZE: return "NBD_CMD_RESIZE";
	}
	return "unknown command";
}

const char *mblk__nbd_rep_name(uint32_t rep)
{
	switch (rep) {
	case NBD_REP_ACK: return "NBD_REP_ACK";
	case NBD_REP_SERVER: return "NBD_REP_SERVER";
	case NBD_REP_INFO: return "NBD_REP_INFO";
	case NBD_REP_META_CONTEXT: return "NBD_REP_META_CONTEXT";
	case NBD_REP_ERR_UNSUP: return "NBD_REP_ERR_UNSUP";
	case NBD_REP_ERR_POLICY: return "NBD_REP_ERR_POLICY";
	case NBD_REP_ERR_INVALID: return "NBD_REP_ERR_INVALID";
	case NBD_REP_ERR_PLATFORM: return "NBD_REP_ERR_PLATFORM";
	case NBD_REP_ERR_TLS_REQD: return "NBD_REP_ERR_TLS_REQD";
	case NBD_REP_ERR_UNKNOWN: return "NBD_REP_ERR_UNKNOWN";
	case NBD_REP_ERR_SHUTDOWN: return "NBD_REP_ERR_SHUTDOWN";
	case NBD_REP_ERR_BLOCK_SIZE_REQD: return "NBD_REP_ERR_BLOCK_SIZE_REQD";
	case NBD_REP_ERR_TOO_BIG: return "NBD_REP_ERR_TOO_BIG";
	case NBD_REP_ERR_EXT_HEADER_REQD: return "NBD_REP_ERR_EXT_HEADER_REQD";
	}
	return "unknown reply";
}

const char *mblk__nbd_reply_type_name(uint16_t type)
{
	switch (type) {
	case NBD_REPLY_TYPE_NONE: return "NBD_REPLY_TYPE_NONE";
	case NBD_REPLY_TYPE_OFFSET_DATA: return "NBD_REPLY_TYPE_OFFSET_DATA";
	case NBD_REPLY_TYPE_OFFSET_HOLE: return "NBD_REPLY_TYPE_OFFSET_HOLE";
	case NBD_REPLY_TYPE_BLOCK_STATUS: return "NBD_REPLY_TYPE_BLOCK_STATUS";
	case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
		return "NBD_REPLY_TYPE_BLOCK_STATUS_EXT";
	case NBD_REPLY_TYPE_ERROR: return "NBD_REPLY_TYPE_ERROR";
	case NBD_REPLY_TYPE_ERROR_OFFSET: return "NBD_REPLY_TYPE_ERROR_OFFSET";
	}
	return "unknown reply type";
}

const char *mblk__nbd_info_name(uint16_t info)
{
	switch (info) {
	case NBD_INFO_EXPORT: return "NBD_INFO_EXPORT";
	case NBD_INFO_NAME: return "NBD_INFO_NAME";
	case NBD_INFO_DESCRIPTION: return "NBD_INFO_DESCRIPTION";
	case NBD_INFO_BLOCK_SIZE: return "NBD_INFO_BLOCK_SIZE";
	}
	return "unknown information type";
}
