/* transmit.c - the NBD server's transmission phase: parse each request
 * header, take a slot for it, receive a WRITE's payload, validate the
 * request against the export and what was negotiated, and submit it to
 * the device with the public asynchronous API. Completions build the
 * replies (reply.c), in whatever order the device finishes.
 *
 * Design notes
 * - Validation happens once the whole request is in (header and
 *   payload), so a refused WRITE still consumes its payload and the
 *   stream stays in sync. Only what makes the stream unparseable drops
 *   the connection: a bad magic, or a payload longer than the maximum
 *   (which cannot be skipped without buffering it).
 * - Errors the server decides (bad flags, out of range) go to the client
 *   with a sentence in the structured error chunk. Errors from the
 *   device are also logged at the server, with the connection and the
 *   request, since the protocol carries only the code to the client.
 * - READ with structured replies: when the device reports holes
 *   (MBLK_CAP_SEEK) and DF is not set, the map of the range is taken
 *   first with the core's extent walker (src/core/walk.h, granule 1:
 *   the device's own extents, merged), then the whole range is read
 *   once, and the
 *   reply has one OFFSET_DATA or OFFSET_HOLE chunk per extent (at most
 *   NBDS_MAX_SEGS; the rest is sent as data, which is always correct).
 *   Extents that read as zeros (MBLK_EXTENT_ZERO) become hole chunks;
 *   a range that is all zeros is not read at all. Reads shorter than
 *   NBDS_HOLE_MIN skip the map: a hole chunk saves little there, and the
 *   extra device call would double the cost of small random reads.
 * - While the server shuts down, every request that arrives is answered
 *   NBD_ESHUTDOWN without reaching the device (server.c drains).
 * - BLOCK_STATUS walks the same way, up to NBDS_MAX_EXTENTS descriptors
 *   (one with REQ_ONE), each clipped to the request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../common/endian.h"
#include "server.h"

static void tx_done(void *data, int status, const char *error);

/* The sentence in the log: which connection, which request. */
static void tx_log_failure(struct nbds_slot *s, int status, const char *error)
{
	struct nbds_conn *c = s->conn;
	mblk__nbds_conn_log(c,
			    "%s of bytes %" PRIu64 "-%" PRIu64
			    " (cookie 0x%" PRIx64 ") on export '%s' failed "
			    "(%s): %s",
			    mblk__nbd_cmd_name(s->rq.type), s->rq.offset,
			    s->rq.offset + s->rq.length -
				    (s->rq.length ? 1 : 0),
			    s->rq.cookie, c->exp->name, mblk_strerror(status),
			    error ? error : "no explanation given");
}

static void tx_fail(struct nbds_slot *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tx_fail(struct nbds_slot *s, int err, const char *fmt, ...)
{
	char msg[NBDS_MAX_MSG + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->state = NBDS_SLOT_DEVICE;
	mblk__nbds_reply_error(s, err, msg);
}

/* ------------------------------------------------------------------ */
/* The map of a range, from the core's extent walker (READ holes,
 * BLOCK_STATUS) */

/* Appends [walk_pos, end) with flags, merged with the last extent when
 * they agree. Returns false (and appends nothing) when the list is full. */
static bool tx_walk_add(struct nbds_slot *s, uint64_t end, uint32_t flags)
{
	uint64_t pos = s->walk_pos;
	if (end > s->walk_end)
		end = s->walk_end;
	if (end <= pos)
		return true;
	struct nbds_extent *last = s->nwalk ? &s->walk[s->nwalk - 1] : NULL;
	if (last && last->flags == flags)
		last->length += end - pos;
	else if (s->nwalk < s->walk_max)
		s->walk[s->nwalk++] =
			(struct nbds_extent){ pos, end - pos, flags };
	else
		return false;
	s->walk_pos = end;
	return true;
}

static void tx_read_submit(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	s->iov = (struct iovec){ s->buf, s->rq.length };
	int r = mblk_read(c->exp->dev, s->rq.offset / c->info.sector_size,
			  &s->iov, 1, tx_done, s);
	if (r < 0)
		tx_fail(s, r, "the read could not be submitted: %s",
			mblk_strerror(r));
}

/* The walk is over (mapped, the list full, or the device failed): a
 * READ reads, a BLOCK_STATUS replies. */
static void tx_walk_finish(struct nbds_slot *s)
{
	if (s->rq.type == NBD_CMD_READ) {
		/* Whatever was not mapped is sent as data: the list keeps
		 * room for it (walk_max is one less than the chunks). */
		s->walk_max++;
		tx_walk_add(s, s->walk_end, 0);
		if (s->nwalk == 1 && !(s->walk[0].flags & NBD_STATE_ZERO))
			s->nwalk = 0; /* one data chunk: the plain path */
		if (s->nwalk == 1) {
			/* All of it reads as zeros: nothing to read. */
			mblk__nbds_reply_read(s);
			return;
		}
		tx_read_submit(s);
		return;
	}
	if (s->nwalk == 0) /* the device failed at once: report data */
		tx_walk_add(s, s->walk_end, 0);
	mblk__nbds_reply_block_status(s);
}

/* Takes the walker's next extent e into the list. False when there is
 * no more to take: the range is mapped (e->count 0) or the list full. */
static bool tx_walk_take(struct nbds_slot *s, const struct mblk_extent *e)
{
	uint32_t f = (e->flags & MBLK_EXTENT_HOLE ? NBD_STATE_HOLE : 0) |
		     (e->flags & MBLK_EXTENT_ZERO ? NBD_STATE_ZERO : 0);
	return e->count &&
	       tx_walk_add(s,
			   (e->sector + e->count) * s->conn->info.sector_size,
			   f);
}

static void tx_walk_got(void *data, int status, const struct mblk_extent *e,
			const char *error);

/* Takes extents until there is no more to take, or until the walker has
 * to ask the device (then tx_walk_got goes on). The walker asks once per
 * MBLK__WALK_BATCH extents of the device, as a single mblk_extents did. */
static void tx_walk_run(struct nbds_slot *s)
{
	struct mblk_extent e;
	int r;
	while ((r = mblk__walk_next(&s->walker, &e, tx_walk_got, s)) == 1 &&
	       tx_walk_take(s, &e))
		;
	if (r != 0)
		tx_walk_finish(s);
}

static void tx_walk_got(void *data, int status, const struct mblk_extent *e,
			const char *error)
{
	struct nbds_slot *s = data;
	(void)error; /* a failed map is reported as data, not as an error */
	if (status == 0 && tx_walk_take(s, e))
		tx_walk_run(s);
	else
		tx_walk_finish(s);
}

/* Maps the request's range into at most max extents. */
static void tx_walk_start(struct nbds_slot *s, unsigned max)
{
	uint64_t ss = s->conn->info.sector_size;
	s->walk_pos = s->rq.offset;
	s->walk_end = s->rq.offset + s->rq.length;
	s->nwalk = 0;
	s->walk_max = max;
	mblk__walk_init(&s->walker, s->conn->exp->dev, s->walk_pos / ss,
			s->walk_end / ss, 1);
	tx_walk_run(s);
}

/* ------------------------------------------------------------------ */
/* Completions */

static void tx_flush_done(void *data, int status, const char *error)
{
	struct nbds_slot *s = data;
	if (status < 0) {
		tx_log_failure(s, status, error);
		mblk__nbds_reply_error(s, status, error);
		return;
	}
	mblk__nbds_reply_ok(s);
}

static void tx_done(void *data, int status, const char *error)
{
	struct nbds_slot *s = data;
	struct nbds_conn *c = s->conn;
	if (status < 0) {
		/* A fast zero refused is an answer, not a failure. */
		if (!(status == -ENOTSUP &&
		      (s->rq.flags & NBD_CMD_FLAG_FAST_ZERO)))
			tx_log_failure(s, status, error);
		mblk__nbds_reply_error(s, status, error);
		return;
	}
	switch (s->rq.type) {
	case NBD_CMD_READ: mblk__nbds_reply_read(s); return;
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		/* FUA on these: the device has no flag for it, so flush. */
		if ((s->rq.flags & NBD_CMD_FLAG_FUA) &&
		    (c->info.caps & MBLK_CAP_FLUSH)) {
			int r = mblk_flush(c->exp->dev, tx_flush_done, s);
			if (r < 0)
				tx_fail(s, r,
					"the flush for FUA could not be "
					"submitted");
			return;
		}
		break;
	}
	mblk__nbds_reply_ok(s);
}

/* ------------------------------------------------------------------ */
/* Validation and submission */

/* The command flags valid for this request on this connection. */
static uint16_t tx_valid_flags(const struct nbds_conn *c, uint16_t type)
{
	uint16_t f = 0;
	if (c->tflags & NBD_FLAG_SEND_FUA)
		f |= NBD_CMD_FLAG_FUA;
	switch (type) {
	case NBD_CMD_READ:
		if (c->tflags & NBD_FLAG_SEND_DF)
			f |= NBD_CMD_FLAG_DF;
		break;
	case NBD_CMD_WRITE:
		if (c->extended)
			f |= NBD_CMD_FLAG_PAYLOAD_LEN;
		break;
	case NBD_CMD_WRITE_ZEROES:
		f |= NBD_CMD_FLAG_NO_HOLE;
		if (c->tflags & NBD_FLAG_SEND_FAST_ZERO)
			f |= NBD_CMD_FLAG_FAST_ZERO;
		break;
	case NBD_CMD_BLOCK_STATUS:
		f |= NBD_CMD_FLAG_REQ_ONE;
		if (c->tflags & NBD_FLAG_BLOCK_STATUS_PAYLOAD)
			f |= NBD_CMD_FLAG_PAYLOAD_LEN;
		break;
	}
	return f;
}

/* Checks the range of a request that has one. Returns 0 or replies. */
static int tx_check_range(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	const struct mblk__nbd_request *rq = &s->rq;
	const char *cmd = mblk__nbd_cmd_name(rq->type);
	uint64_t ss = c->info.sector_size;
	uint64_t size = c->info.size_sectors * ss;
	bool writes = rq->type == NBD_CMD_WRITE ||
		      rq->type == NBD_CMD_WRITE_ZEROES;
	uint64_t end;
	if (__builtin_add_overflow(rq->offset, rq->length, &end) ||
	    end > size) {
		tx_fail(s, writes ? -ENOSPC : -EINVAL,
			"%s of %" PRIu64 " bytes at offset %" PRIu64
			" goes past the end of the export (%" PRIu64 " bytes)",
			cmd, rq->length, rq->offset, size);
		return -1;
	}
	if (rq->offset % ss || rq->length % ss) {
		tx_fail(s, -EINVAL,
			"%s of %" PRIu64 " bytes at offset %" PRIu64
			" is not aligned to the block size of %" PRIu64
			" bytes",
			cmd, rq->length, rq->offset, ss);
		return -1;
	}
	return 0;
}

static void tx_dispatch(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	const struct mblk__nbd_request *rq = &s->rq;
	const char *cmd = mblk__nbd_cmd_name(rq->type);
	mblk_dev *dev = c->exp->dev;
	s->state = NBDS_SLOT_DEVICE;
	if (c->srv->closing) {
		/* Draining (server.c): nothing new reaches the device. */
		tx_fail(s, -ESHUTDOWN,
			"the server is shutting down; %s was not started", cmd);
		return;
	}
	mblk_get_info(dev, &c->info); /* the size may have changed */

	switch (rq->type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_CACHE:
	case NBD_CMD_WRITE_ZEROES:
	case NBD_CMD_BLOCK_STATUS: break;
	default:
		tx_fail(s, -EINVAL, "command %u is not known to this server",
			rq->type);
		return;
	}
	uint16_t bad = rq->flags & ~tx_valid_flags(c, rq->type);
	if (bad) {
		tx_fail(s, -EINVAL,
			"flags 0x%x are not valid for %s on this connection",
			bad, cmd);
		return;
	}
	bool ro = (c->tflags & NBD_FLAG_READ_ONLY) != 0;
	if (ro && (rq->type == NBD_CMD_WRITE || rq->type == NBD_CMD_TRIM ||
		   rq->type == NBD_CMD_WRITE_ZEROES)) {
		tx_fail(s, -EPERM, "%s on the read-only export '%s'", cmd,
			c->exp->name);
		return;
	}
	uint16_t need = rq->type == NBD_CMD_FLUSH  ? NBD_FLAG_SEND_FLUSH
			: rq->type == NBD_CMD_TRIM ? NBD_FLAG_SEND_TRIM
			: rq->type == NBD_CMD_WRITE_ZEROES
				? NBD_FLAG_SEND_WRITE_ZEROES
				: 0;
	if (need && !(c->tflags & need)) {
		tx_fail(s, -EINVAL, "%s is not supported by export '%s'", cmd,
			c->exp->name);
		return;
	}
	if (rq->type == NBD_CMD_FLUSH) {
		int r = mblk_flush(dev, tx_done, s);
		if (r < 0)
			tx_fail(s, r, "the flush could not be submitted");
		return;
	}
	if (rq->type == NBD_CMD_BLOCK_STATUS) {
		if (!c->meta_set) {
			tx_fail(s, -EINVAL,
				"NBD_CMD_BLOCK_STATUS without "
				"base:allocation selected by "
				"NBD_OPT_SET_META_CONTEXT");
			return;
		}
		if (rq->length == 0) {
			tx_fail(s, -EINVAL, "NBD_CMD_BLOCK_STATUS of 0 bytes");
			return;
		}
	}
	if (rq->type == NBD_CMD_READ && rq->length > c->max_payload) {
		tx_fail(s, -EOVERFLOW,
			"NBD_CMD_READ of %" PRIu64 " bytes is more than the "
			"maximum payload of %u bytes",
			rq->length, c->max_payload);
		return;
	}
	if (tx_check_range(s) < 0)
		return;
	if (rq->length == 0 && rq->type != NBD_CMD_BLOCK_STATUS) {
		mblk__nbds_reply_ok(s);
		return;
	}
	uint64_t ss = c->info.sector_size;
	uint64_t sector = rq->offset / ss, count = rq->length / ss;
	s->iov = (struct iovec){ s->buf, rq->length };
	int r = 0;
	switch (rq->type) {
	case NBD_CMD_READ:
		if ((c->structured || c->extended) &&
		    !(rq->flags & NBD_CMD_FLAG_DF) &&
		    rq->length >= NBDS_HOLE_MIN &&
		    (c->info.caps & MBLK_CAP_SEEK)) {
			tx_walk_start(s, NBDS_MAX_SEGS - 1);
			return;
		}
		s->nwalk = 0;
		tx_read_submit(s);
		return;
	case NBD_CMD_WRITE:
		r = mblk_write(dev, sector, &s->iov, 1,
			       (rq->flags & NBD_CMD_FLAG_FUA) ? MBLK_WRITE_FUA
							      : 0,
			       tx_done, s);
		break;
	case NBD_CMD_TRIM:
		r = mblk_discard(dev, sector, count, tx_done, s);
		break;
	case NBD_CMD_WRITE_ZEROES:
		if ((rq->flags & NBD_CMD_FLAG_FAST_ZERO) &&
		    !(c->info.caps & MBLK_CAP_ZERO_IS_FAST)) {
			tx_fail(s, -ENOTSUP,
				"export '%s' cannot zero faster than it "
				"writes",
				c->exp->name);
			return;
		}
		r = mblk_write_zeroes(dev, sector, count,
				      ((rq->flags & NBD_CMD_FLAG_NO_HOLE)
					       ? MBLK_ZEROES_NO_HOLE
					       : 0) |
					      ((rq->flags &
						NBD_CMD_FLAG_FAST_ZERO)
						       ? MBLK_ZEROES_FAST
						       : 0),
				      tx_done, s);
		break;
	case NBD_CMD_CACHE:
		r = mblk_cache(dev, sector, count, tx_done, s);
		break;
	case NBD_CMD_BLOCK_STATUS:
		tx_walk_start(s, (rq->flags & NBD_CMD_FLAG_REQ_ONE)
					 ? 1
					 : NBDS_MAX_EXTENTS);
		return;
	}
	if (r < 0)
		tx_fail(s, r, "%s could not be submitted: %s", cmd,
			mblk_strerror(r));
}

/* The payload form of BLOCK_STATUS (extended headers, advertised with
 * NBD_FLAG_BLOCK_STATUS_PAYLOAD): a 64-bit effect length, then the ids
 * of the contexts to answer for. Only base:allocation exists, so the
 * list must be exactly its id: the spec makes an unknown or repeated id
 * NBD_EINVAL. Returns 0 with rq.length the effect length, or replies. */
static int tx_status_payload(struct nbds_slot *s)
{
	struct mblk__nbd_request *rq = &s->rq;
	uint64_t len = rq->length;
	if (len < 12 || (len - 8) % 4) {
		tx_fail(s, -EINVAL,
			"NBD_CMD_BLOCK_STATUS with a payload of %" PRIu64
			" bytes, not an effect length and one or more "
			"context ids (8 + 4n bytes)",
			len);
		return -1;
	}
	for (uint64_t i = 8; i < len; i += 4) {
		uint32_t id = mblk__get_be32(s->buf + i);
		if (id != NBDS_CTX_BASE_ALLOCATION || i > 8) {
			tx_fail(s, -EINVAL,
				"NBD_CMD_BLOCK_STATUS asks for context id %u, "
				"%s",
				id,
				id == NBDS_CTX_BASE_ALLOCATION
					? "twice"
					: "which was not selected (only "
					  "base:allocation is, as id 1)");
			return -1;
		}
	}
	rq->length = mblk__get_be64(s->buf);
	return 0;
}

void mblk__nbds_transmit_payload_done(struct nbds_slot *s)
{
	if (s->rq.type == NBD_CMD_BLOCK_STATUS &&
	    (s->conn->tflags & NBD_FLAG_BLOCK_STATUS_PAYLOAD)) {
		if (tx_status_payload(s) < 0)
			return;
	} else if (s->rq.type != NBD_CMD_WRITE) {
		tx_fail(s, -EINVAL, "%s does not take a payload",
			mblk__nbd_cmd_name(s->rq.type));
		return;
	}
	tx_dispatch(s);
}

int mblk__nbds_transmit_step(struct nbds_conn *c)
{
	size_t hs = c->extended ? NBD_EXTENDED_REQUEST_SIZE : NBD_REQUEST_SIZE;
	if (c->rx_len - c->rx_off < hs)
		return 0;
	struct mblk__nbd_request rq;
	if (mblk__nbd_request_decode(c->rx + c->rx_off, c->extended, &rq) < 0) {
		mblk__nbds_conn_drop(c,
				     "a request began with 0x%08x, not the "
				     "%srequest magic",
				     mblk__get_be32(c->rx + c->rx_off),
				     c->extended ? "extended " : "");
		return -1;
	}
	if (rq.type == NBD_CMD_DISC) {
		mblk__nbds_conn_consume(c, hs);
		c->disc = true;
		if (c->nactive == 0)
			mblk__nbds_conn_drop(c, NULL);
		return -1;
	}
	bool payload = c->extended ? (rq.flags & NBD_CMD_FLAG_PAYLOAD_LEN) != 0
				   : rq.type == NBD_CMD_WRITE;
	if (payload && rq.length > c->max_payload) {
		mblk__nbds_conn_drop(c,
				     "%s came with a payload of %" PRIu64
				     " bytes, more than the maximum of %u",
				     mblk__nbd_cmd_name(rq.type), rq.length,
				     c->max_payload);
		return -1;
	}
	size_t buf = 0;
	if (payload)
		buf = (size_t)rq.length;
	else if (rq.type == NBD_CMD_READ && rq.length <= c->max_payload)
		buf = (size_t)rq.length;
	struct nbds_slot *s = mblk__nbds_slot_get(c, buf);
	if (!s)
		return c->phase == NBDS_CLOSING ? -1 : 0;
	mblk__nbds_conn_consume(c, hs);
	c->srv->rx_requests++;
	s->rq = rq;
	if (payload && rq.length) {
		s->state = NBDS_SLOT_PAYLOAD;
		c->pay = s;
		return 1;
	}
	if (payload) {
		mblk__nbds_transmit_payload_done(s);
		return 1;
	}
	if (c->extended && rq.type == NBD_CMD_WRITE) {
		tx_fail(s, -EINVAL,
			"NBD_CMD_WRITE without "
			"NBD_CMD_FLAG_PAYLOAD_LEN under extended "
			"headers");
		return 1;
	}
	tx_dispatch(s);
	return 1;
}
