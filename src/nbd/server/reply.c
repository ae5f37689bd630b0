/* reply.c - encoding the NBD server's replies into a slot: simple
 * replies, structured chunks, and extended chunks when extended headers
 * were negotiated; then handing them to conn.c to send.
 *
 * Design notes
 * - Everything is written into the slot's own scratch space (headers,
 *   the block-status payload, the error message) and sent with one
 *   uv_write whose buffers point there and into the data buffer, so no
 *   reply allocates. libuv copies the buffer array only when a READ has
 *   more than two content chunks.
 * - Which form: simple replies unless structured replies or extended
 *   headers were negotiated; then a READ is always chunked, and every
 *   other reply is chunked with extended headers (the spec forbids simple
 *   replies there) and simple otherwise (allowed, and shorter).
 */
#include <errno.h>
#include <string.h>

#include "../../common/endian.h"
#include "server.h"

static void reply_add(struct nbds_slot *s, const void *p, size_t len)
{
	s->bufs[s->nbufs++] = uv_buf_init((char *)p, (unsigned)len);
}

/* A chunk header in s->hdr[i]; returns its size. */
static size_t reply_chunk(struct nbds_slot *s, unsigned i, uint16_t type,
			  uint16_t flags, uint64_t len)
{
	struct nbds_conn *c = s->conn;
	struct mblk__nbd_reply r = {
		.kind = c->extended ? MBLK__NBD_EXTENDED : MBLK__NBD_STRUCTURED,
		.flags = flags,
		.type = type,
		.cookie = s->rq.cookie,
		.offset = s->rq.offset,
		.length = len,
	};
	return mblk__nbd_reply_encode(s->hdr[i], &r);
}

static size_t reply_simple(struct nbds_slot *s, uint32_t error)
{
	struct mblk__nbd_reply r = {
		.kind = MBLK__NBD_SIMPLE,
		.error = error,
		.cookie = s->rq.cookie,
	};
	return mblk__nbd_reply_encode(s->hdr[0], &r);
}

void mblk__nbds_reply_ok(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	s->nbufs = 0;
	size_t n;
	if (c->extended || (c->structured && s->rq.type == NBD_CMD_READ))
		n = reply_chunk(s, 0, NBD_REPLY_TYPE_NONE, NBD_REPLY_FLAG_DONE,
				0);
	else
		n = reply_simple(s, 0);
	reply_add(s, s->hdr[0], n);
	mblk__nbds_slot_send(s);
}

void mblk__nbds_reply_error(struct nbds_slot *s, int err, const char *msg)
{
	struct nbds_conn *c = s->conn;
	uint32_t code = mblk__nbd_errno_to_wire(err < 0 ? err : -EIO);
	s->nbufs = 0;
	if (!c->structured && !c->extended) {
		reply_add(s, s->hdr[0], reply_simple(s, code));
		mblk__nbds_slot_send(s);
		return;
	}
	size_t ml = msg ? strlen(msg) : 0;
	if (ml > sizeof(s->msg))
		ml = sizeof(s->msg);
	memcpy(s->msg, msg ? msg : "", ml);
	mblk__put_be32(s->payload, code);
	mblk__put_be16(s->payload + 4, (uint16_t)ml);
	size_t n = reply_chunk(s, 0, NBD_REPLY_TYPE_ERROR, NBD_REPLY_FLAG_DONE,
			       6 + ml);
	reply_add(s, s->hdr[0], n);
	reply_add(s, s->payload, 6);
	if (ml)
		reply_add(s, s->msg, ml);
	mblk__nbds_slot_send(s);
}

void mblk__nbds_reply_read(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	s->nbufs = 0;
	if (!c->structured && !c->extended) {
		reply_add(s, s->hdr[0], reply_simple(s, 0));
		reply_add(s, s->buf, s->rq.length);
		mblk__nbds_slot_send(s);
		return;
	}
	if (s->nwalk == 0) {
		s->walk[0] =
			(struct nbds_extent){ s->rq.offset, s->rq.length, 0 };
		s->nwalk = 1;
	}
	for (unsigned i = 0; i < s->nwalk; i++) {
		const struct nbds_extent *e = &s->walk[i];
		uint16_t done = i + 1 == s->nwalk ? NBD_REPLY_FLAG_DONE : 0;
		uint8_t *h = s->hdr[i];
		if (e->flags & NBD_STATE_ZERO) {
			size_t n = reply_chunk(s, i, NBD_REPLY_TYPE_OFFSET_HOLE,
					       done, 12);
			mblk__put_be64(h + n, e->offset);
			mblk__put_be32(h + n + 8, (uint32_t)e->length);
			reply_add(s, h, n + 12);
		} else {
			size_t n = reply_chunk(s, i, NBD_REPLY_TYPE_OFFSET_DATA,
					       done, 8 + e->length);
			mblk__put_be64(h + n, e->offset);
			reply_add(s, h, n + 8);
			reply_add(s, s->buf + (e->offset - s->rq.offset),
				  e->length);
		}
	}
	mblk__nbds_slot_send(s);
}

void mblk__nbds_reply_block_status(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	uint8_t *p = s->payload;
	size_t len;
	s->nbufs = 0;
	mblk__put_be32(p, NBDS_CTX_BASE_ALLOCATION);
	if (c->extended) {
		mblk__put_be32(p + 4, s->nwalk);
		for (unsigned i = 0; i < s->nwalk; i++) {
			mblk__put_be64(p + 8 + 16 * i, s->walk[i].length);
			mblk__put_be64(p + 16 + 16 * i, s->walk[i].flags);
		}
		len = 8 + 16 * (size_t)s->nwalk;
	} else {
		for (unsigned i = 0; i < s->nwalk; i++) {
			mblk__put_be32(p + 4 + 8 * i,
				       (uint32_t)s->walk[i].length);
			mblk__put_be32(p + 8 + 8 * i, s->walk[i].flags);
		}
		len = 4 + 8 * (size_t)s->nwalk;
	}
	uint16_t type = c->extended ? NBD_REPLY_TYPE_BLOCK_STATUS_EXT
				    : NBD_REPLY_TYPE_BLOCK_STATUS;
	size_t n = reply_chunk(s, 0, type, NBD_REPLY_FLAG_DONE, len);
	reply_add(s, s->hdr[0], n);
	reply_add(s, p, len);
	mblk__nbds_slot_send(s);
}
