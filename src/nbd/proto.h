/* proto.h - the NBD wire format shared by the server (src/nbd/server/)
 * and the client (src/nbd/client/): the protocol's constants under the
 * spec's own names, the sizes of the fixed headers, the encoders and
 * decoders of requests and reply headers, and the one socket setting both
 * ends share.
 *
 * Not installed. The reference is the NBD protocol document (doc/proto.md
 * of NetworkBlockDevice/nbd, with the extended-headers extension); every
 * constant below is spelt as it is there, so a reader can grep the spec.
 *
 * Design notes
 * - Everything on the wire is big-endian; src/common/endian.h does the
 *   loads and stores, at any alignment, so the codecs work straight on a
 *   receive buffer.
 * - The codecs do no I/O and keep no state: the caller knows which phase
 *   it is in and whether extended headers were negotiated. That is what
 *   lets one pair of fuzz targets exercise them without a socket.
 * - errno <-> NBD error codes are mapped in exactly one function each way
 *   (STYLE.md §11), here, so the server and the client agree.
 */
#ifndef MBLK_NBD_PROTO_H
#define MBLK_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The send buffer both ends ask for on a unix socket. The default
 * (wmem_default, 208 KiB) holds a fifth of a 1 MiB reply or write, so each
 * went out in five rounds of "full, wait for the peer to read, wake":
 * with 2 MiB asked (the kernel doubles it, capped at net.core.wmem_max:
 * 4 MiB on Linux 6.x, 208 KiB before), 1 MiB reads from mblk serve at QD 8
 * ran 1.5-1.8x faster here, and the client's 1 MiB writes 1.5x. The
 * memory is the kernel's, taken only while data waits for the peer. TCP
 * keeps its autotuning, which a fixed SO_SNDBUF would turn off. */
#define MBLK__NBD_UNIX_SNDBUF (2 << 20)

/* Handshake magics. */
#define NBD_MAGIC UINT64_C(0x4e42444d41474943)    /* "NBDMAGIC" */
#define NBD_IHAVEOPT UINT64_C(0x49484156454F5054) /* "IHAVEOPT" */
#define NBD_OLDSTYLE_MAGIC UINT64_C(0x00420281861253)
#define NBD_REP_MAGIC UINT64_C(0x3e889045565a9)

/* Transmission magics. */
#define NBD_REQUEST_MAGIC UINT32_C(0x25609513)
#define NBD_EXTENDED_REQUEST_MAGIC UINT32_C(0x21e41c71)
#define NBD_SIMPLE_REPLY_MAGIC UINT32_C(0x67446698)
#define NBD_STRUCTURED_REPLY_MAGIC UINT32_C(0x668e33ef)
#define NBD_EXTENDED_REPLY_MAGIC UINT32_C(0x6e8a278c)

/* Handshake flags (server, 16 bits). */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)

/* Client flags (32 bits). */
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

/* Transmission flags (16 bits). */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_ROTATIONAL (1u << 4)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)
#define NBD_FLAG_SEND_RESIZE (1u << 9)
#define NBD_FLAG_SEND_CACHE (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO (1u << 11)
#define NBD_FLAG_BLOCK_STATUS_PAYLOAD (1u << 12)

/* Options. */
#define NBD_OPT_EXPORT_NAME 1u
#define NBD_OPT_ABORT 2u
#define NBD_OPT_LIST 3u
#define NBD_OPT_PEEK_EXPORT 4u
#define NBD_OPT_STARTTLS 5u
#define NBD_OPT_INFO 6u
#define NBD_OPT_GO 7u
#define NBD_OPT_STRUCTURED_REPLY 8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT 10u
#define NBD_OPT_EXTENDED_HEADERS 11u

/* Option replies; errors have bit 31 set. */
#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_META_CONTEXT 4u
#define NBD_REP_FLAG_ERROR (1u << 31)
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_PLATFORM (NBD_REP_FLAG_ERROR | 4u)
#define NBD_REP_ERR_TLS_REQD (NBD_REP_FLAG_ERROR | 5u)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6u)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7u)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8u)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9u)
#define NBD_REP_ERR_EXT_HEADER_REQD (NBD_REP_FLAG_ERROR | 10u)

/* NBD_REP_INFO information types. */
#define NBD_INFO_EXPORT 0u
#define NBD_INFO_NAME 1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE 3u

/* Commands. */
#define NBD_CMD_READ 0u
#define NBD_CMD_WRITE 1u
#define NBD_CMD_DISC 2u
#define NBD_CMD_FLUSH 3u
#define NBD_CMD_TRIM 4u
#define NBD_CMD_CACHE 5u
#define NBD_CMD_WRITE_ZEROES 6u
#define NBD_CMD_BLOCK_STATUS 7u
#define NBD_CMD_RESIZE 8u

/* Command flags. */
#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)
#define NBD_CMD_FLAG_PAYLOAD_LEN (1u << 5)

/* Structured / extended reply flags and chunk types; error chunks have
 * bit 15 set. */
#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0u
#define NBD_REPLY_TYPE_OFFSET_DATA 1u
#define NBD_REPLY_TYPE_OFFSET_HOLE 2u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_BLOCK_STATUS_EXT 6u
#define NBD_REPLY_TYPE_ERROR_BIT (1u << 15)
#define NBD_REPLY_TYPE_ERROR (NBD_REPLY_TYPE_ERROR_BIT | 1u)
#define NBD_REPLY_TYPE_ERROR_OFFSET (NBD_REPLY_TYPE_ERROR_BIT | 2u)

/* base:allocation status flags. */
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

/* Error values on the wire (not the host's errno numbers, although they
 * happen to match Linux's). */
#define NBD_EPERM 1u
#define NBD_EIO 5u
#define NBD_ENOMEM 12u
#define NBD_EINVAL 22u
#define NBD_ENOSPC 28u
#define NBD_EOVERFLOW 75u
#define NBD_ENOTSUP 95u
#define NBD_ESHUTDOWN 108u

/* Sizes of the fixed parts, in bytes. */
#define NBD_REQUEST_SIZE 28
#define NBD_EXTENDED_REQUEST_SIZE 32
#define NBD_SIMPLE_REPLY_SIZE 16
#define NBD_STRUCTURED_REPLY_SIZE 20
#define NBD_EXTENDED_REPLY_SIZE 32
#define NBD_OPTION_HEADER_SIZE 16       /* IHAVEOPT, option, length */
#define NBD_OPTION_REPLY_HEADER_SIZE 20 /* magic, option, type, length */
/* NBD_OPT_EXPORT_NAME's reply: size, flags, then 124 zeros unless
 * NO_ZEROES was agreed. */
#define NBD_EXPORT_NAME_REPLY_SIZE 10
#define NBD_EXPORT_NAME_ZEROES 124

/* The default block sizes a client may assume without NBD_INFO_BLOCK_SIZE,
 * and the largest payload the spec lets a server advertise (32 bits). */
#define NBD_DEFAULT_MAX_PAYLOAD (32u * 1024 * 1024)
#define NBD_MAX_STRING 4096 /* names, descriptions, context names */

/* The metadata context this implementation serves. */
#define NBD_CONTEXT_BASE_ALLOCATION "base:allocation"

/* A request header, in both the compact (28-byte, 32-bit length) and the
 * extended (32-byte, 64-bit length) forms. */
struct mblk__nbd_request {
	uint16_t flags, type;
	uint64_t cookie, offset, length;
};

/* Writes r into buf (NBD_REQUEST_SIZE or NBD_EXTENDED_REQUEST_SIZE bytes)
 * and returns the number of bytes written. In the compact form length is
 * truncated to 32 bits: the caller checks it fits. */
size_t mblk__nbd_request_encode(uint8_t *buf, bool extended,
				const struct mblk__nbd_request *r);
/* Reads the header at buf (NBD_REQUEST_SIZE or NBD_EXTENDED_REQUEST_SIZE
 * bytes). Returns 0, or -EPROTO on a bad magic (r is then unspecified). */
int mblk__nbd_request_decode(const uint8_t *buf, bool extended,
			     struct mblk__nbd_request *r);

enum mblk__nbd_reply_kind {
	MBLK__NBD_SIMPLE,     /* magic, error, cookie */
	MBLK__NBD_STRUCTURED, /* magic, flags, type, cookie, length32 */
	MBLK__NBD_EXTENDED,   /* magic, flags, type, cookie, offset, length64 */
};

/* A reply header. A simple reply uses error and cookie; a structured
 * chunk flags, type, cookie and length (of the payload that follows);
 * an extended chunk also offset (the request's). */
struct mblk__nbd_reply {
	enum mblk__nbd_reply_kind kind;
	uint16_t flags, type;
	uint32_t error;
	uint64_t cookie, offset, length;
};

/* The size of a reply header of this kind. */
size_t mblk__nbd_reply_size(enum mblk__nbd_reply_kind kind);
/* Writes r's header into buf (up to NBD_EXTENDED_REPLY_SIZE bytes) and
 * returns its size. */
size_t mblk__nbd_reply_encode(uint8_t *buf, const struct mblk__nbd_reply *r);
/* Reads a reply header of the given kind from buf. Returns 0 or -EPROTO
 * on a bad magic. A client that does not know the kind yet (structured
 * replies without extended headers) reads the magic first and calls
 * mblk__nbd_reply_kind_of. */
int mblk__nbd_reply_decode(const uint8_t *buf, enum mblk__nbd_reply_kind kind,
			   struct mblk__nbd_reply *r);
/* The kind a reply magic announces, or -EPROTO. */
int mblk__nbd_reply_kind_of(uint32_t magic);

/* errno <-> wire: exactly one function each way (STYLE.md §11).
 * mblk__nbd_errno_to_wire takes a negative errno (or 0) and returns an
 * NBD error value; anything without its own code becomes NBD_EIO, except
 * EROFS/EACCES (NBD_EPERM), EDQUOT/EFBIG (NBD_ENOSPC), ERANGE (NBD_EINVAL),
 * EOPNOTSUPP (NBD_ENOTSUP) and ESHUTDOWN/ENODEV (NBD_ESHUTDOWN).
 * mblk__nbd_wire_to_errno returns the negative errno of a wire value
 * (0 for 0); a value the spec does not define becomes -EIO. */
uint32_t mblk__nbd_errno_to_wire(int err);
int mblk__nbd_wire_to_errno(uint32_t code);

/* Names for messages ("NBD_OPT_GO"); a value without a name gets
 * "unknown option" / "unknown command" / "unknown reply". */
const char *mblk__nbd_opt_name(uint32_t opt);
const char *mblk__nbd_cmd_name(uint16_t cmd);
const char *mblk__nbd_rep_name(uint32_t rep);
const char *mblk__nbd_reply_type_name(uint16_t type);
const char *mblk__nbd_info_name(uint16_t info);

#endif
