/* handshake.c - the NBD server's side of fixed newstyle negotiation:
 * the greeting, the client's flags, then one option at a time until
 * NBD_OPT_GO or NBD_OPT_EXPORT_NAME moves to transmission.
 *
 * Design notes
 * - An option is handled only once all of it is in the receive buffer
 *   (which holds max_option bytes); a longer option drops the connection
 *   rather than being buffered. Each handler reads from that buffer
 *   and answers with option replies (copied sends: this is not a hot
 *   path). Every malformed option gets NBD_REP_ERR_INVALID with a sentence
 *   and negotiation goes on; only what the spec says must end the session
 *   (a bad magic, unknown client flags, a failed EXPORT_NAME) ends it.
 * - What transmission will advertise is computed here, from the export's
 *   mblk_info, so that NBD_INFO_EXPORT and EXPORT_NAME's reply agree.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/endian.h"
#include "server.h"

void mblk__nbds_handshake_start(struct nbds_conn *c)
{
	uint8_t g[18];
	mblk__put_be64(g, NBD_MAGIC);
	mblk__put_be64(g + 8, NBD_IHAVEOPT);
	mblk__put_be16(g + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	c->phase = NBDS_CLIENT_FLAGS;
	mblk__nbds_conn_send(c, g, sizeof(g));
}

/* One option reply: the header and len bytes of data. */
static int hs_reply(struct nbds_conn *c, uint32_t opt, uint32_t type,
		    const void *data, size_t len)
{
	uint8_t small[NBD_OPTION_REPLY_HEADER_SIZE + 256];
	uint8_t *b = small;
	size_t total = NBD_OPTION_REPLY_HEADER_SIZE + len;
	if (total > sizeof(small)) {
		b = malloc(total);
		if (!b) {
			mblk__nbds_conn_drop(c, "out of memory for a reply");
			return -ENOMEM;
		}
	}
	mblk__put_be64(b, NBD_REP_MAGIC);
	mblk__put_be32(b + 8, opt);
	mblk__put_be32(b + 12, type);
	mblk__put_be32(b + 16, (uint32_t)len);
	if (len)
		memcpy(b + NBD_OPTION_REPLY_HEADER_SIZE, data, len);
	int r = mblk__nbds_conn_send(c, b, total);
	if (b != small)
		free(b);
	return r;
}

static int hs_ack(struct nbds_conn *c, uint32_t opt)
{
	return hs_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

/* An error reply whose data is a sentence for the user. */
static int hs_error(struct nbds_conn *c, uint32_t opt, uint32_t type,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int hs_error(struct nbds_conn *c, uint32_t opt, uint32_t type,
		    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	return hs_reply(c, opt, type, msg, (size_t)n);
}

/* "'a', 'b' and the default export" for messages. */
static void hs_list_exports(struct mblk_nbd_server *srv, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < srv->nexports && used < len; i++) {
		const char *sep = i == 0                   ? ""
				  : i + 1 == srv->nexports ? " and "
							   : ", ";
		const char *name = srv->exports[i].name;
		int n = *name ? snprintf(buf + used, len - used, "%s'%s'", sep,
					 name)
			      : snprintf(buf + used, len - used,
					 "%sthe default export ('')", sep);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int hs_unknown_export(struct nbds_conn *c, uint32_t opt,
			     const uint8_t *name, size_t len)
{
	char list[600];
	hs_list_exports(c->srv, list, sizeof(list));
	return hs_error(c, opt, NBD_REP_ERR_UNKNOWN,
			"there is no export named '%.*s'; this server exports "
			"%s",
			(int)(len > 256 ? 256 : len), (const char *)name, list);
}

/* The transmission flags and block sizes for export e on this
 * connection, as negotiated so far. */
static void hs_describe(struct nbds_conn *c, struct nbds_export *e)
{
	struct mblk_info inf;
	mblk_get_info(e->dev, &inf);
	c->info = inf;
	bool ro = e->read_only || !inf.read_write;
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_CAN_MULTI_CONN;
	if (ro)
		f |= NBD_FLAG_READ_ONLY;
	if (inf.caps & MBLK_CAP_FLUSH)
		f |= NBD_FLAG_SEND_FLUSH;
	if (!ro && (inf.caps & (MBLK_CAP_FUA | MBLK_CAP_FLUSH)))
		f |= NBD_FLAG_SEND_FUA;
	if (!ro && (inf.caps & MBLK_CAP_DISCARD))
		f |= NBD_FLAG_SEND_TRIM;
	if (!ro && (inf.caps & MBLK_CAP_WRITE_ZEROES))
		f |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
	if (inf.caps & MBLK_CAP_CACHE)
		f |= NBD_FLAG_SEND_CACHE;
	if (c->structured || c->extended)
		f |= NBD_FLAG_SEND_DF;
	/* The payload form of BLOCK_STATUS (transmit.c): only with extended
	 * headers (MUST), and only with base:allocation selected for this
	 * export (SHOULD). */
	if (c->extended && c->meta_set && strcmp(c->meta_export, e->name) == 0)
		f |= NBD_FLAG_BLOCK_STATUS_PAYLOAD;
	c->tflags = f;
	uint32_t maxp = c->srv->opts.max_payload;
	if (inf.max_io && inf.max_io < maxp)
		maxp = inf.max_io / inf.sector_size * inf.sector_size;
	if (maxp < inf.sector_size)
		maxp = inf.sector_size;
	c->max_payload = maxp;
}

static void hs_block_sizes(struct nbds_conn *c, uint32_t *min, uint32_t *pref,
			   uint32_t *max)
{
	*min = c->info.sector_size;
	uint32_t p = c->info.pref_io;
	if (!p || (p & (p - 1)))
		p = 4096;
	if (p < *min)
		p = *min;
	if (p > c->max_payload)
		p = *min;
	*pref = p;
	*max = c->max_payload;
}

static void hs_enter_transmission(struct nbds_conn *c, struct nbds_export *e)
{
	uv_timer_stop(&c->timer);
	c->exp = e;
	c->phase = NBDS_TRANSMISSION;
	if (c->meta_set && strcmp(c->meta_export, e->name) != 0)
		c->meta_set = false;
}

static int hs_export_name(struct nbds_conn *c, const uint8_t *d, uint32_t len)
{
	if (c->extended) {
		mblk__nbds_conn_drop(c, "NBD_OPT_EXPORT_NAME after extended "
					"headers were negotiated");
		return -1;
	}
	struct nbds_export *e =
		mblk__nbds_find_export(c->srv, (const char *)d, len);
	if (!e) {
		char list[600];
		hs_list_exports(c->srv, list, sizeof(list));
		mblk__nbds_conn_drop(c,
				     "NBD_OPT_EXPORT_NAME asked for '%.*s', "
				     "which is not exported (this server "
				     "exports %s)",
				     (int)(len > 256 ? 256 : len),
				     (const char *)d, list);
		return -1;
	}
	hs_describe(c, e);
	uint8_t b[NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_ZEROES] = { 0 };
	mblk__put_be64(b, c->info.size_sectors * c->info.sector_size);
	mblk__put_be16(b + 8, c->tflags);
	size_t n = NBD_EXPORT_NAME_REPLY_SIZE +
		   (c->no_zeroes ? 0 : NBD_EXPORT_NAME_ZEROES);
	if (mblk__nbds_conn_send(c, b, n) < 0)
		return -1;
	hs_enter_transmission(c, e);
	return 1;
}

static int hs_list(struct nbds_conn *c, uint32_t len)
{
	if (len)
		return hs_error(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
				"NBD_OPT_LIST takes no data, but %u bytes "
				"came with it",
				len);
	for (size_t i = 0; i < c->srv->nexports; i++) {
		struct nbds_export *e = &c->srv->exports[i];
		size_t nl = strlen(e->name), dl = strlen(e->description);
		uint8_t *b = malloc(4 + nl + dl);
		if (!b) {
			mblk__nbds_conn_drop(c, "out of memory for a reply");
			return -1;
		}
		mblk__put_be32(b, (uint32_t)nl);
		memcpy(b + 4, e->name, nl);
		memcpy(b + 4 + nl, e->description, dl);
		int r = hs_reply(c, NBD_OPT_LIST, NBD_REP_SERVER, b,
				 4 + nl + dl);
		free(b);
		if (r < 0)
			return -1;
	}
	return hs_ack(c, NBD_OPT_LIST);
}

static int hs_info_item(struct nbds_conn *c, uint32_t opt, uint16_t type,
			const void *data, size_t len)
{
	uint8_t b[2 + NBD_MAX_STRING];
	mblk__put_be16(b, type);
	memcpy(b + 2, data, len);
	return hs_reply(c, opt, NBD_REP_INFO, b, 2 + len);
}

/* NBD_OPT_INFO and NBD_OPT_GO: name length, name, request count,
 * requests (16 bits each). */
static int hs_info(struct nbds_conn *c, uint32_t opt, const uint8_t *d,
		   uint32_t len)
{
	const char *what = mblk__nbd_opt_name(opt);
	if (len < 6)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s needs at least 6 bytes of data, not %u",
				what, len);
	uint32_t nl = mblk__get_be32(d);
	if (nl > len - 6)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s names an export of %u bytes in an option "
				"of %u bytes",
				what, nl, len);
	uint16_t nreq = mblk__get_be16(d + 4 + nl);
	if (6 + nl + 2ull * nreq != len)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s: %u information requests do not fill "
				"the %u bytes left",
				what, nreq, len - 6 - nl);
	const uint8_t *name = d + 4;
	struct nbds_export *e =
		mblk__nbds_find_export(c->srv, (const char *)name, nl);
	if (!e)
		return hs_unknown_export(c, opt, name, nl);
	bool want_name = false, want_desc = false;
	for (uint16_t i = 0; i < nreq; i++) {
		uint16_t t = mblk__get_be16(d + 6 + nl + 2 * i);
		if (t == NBD_INFO_NAME)
			want_name = true;
		else if (t == NBD_INFO_DESCRIPTION)
			want_desc = true;
	}
	hs_describe(c, e);
	uint8_t b[12];
	mblk__put_be64(b, c->info.size_sectors * c->info.sector_size);
	mblk__put_be16(b + 8, c->tflags);
	if (hs_info_item(c, opt, NBD_INFO_EXPORT, b, 10) < 0)
		return -1;
	if (want_name &&
	    hs_info_item(c, opt, NBD_INFO_NAME, e->name, strlen(e->name)) < 0)
		return -1;
	if (want_desc && *e->description &&
	    hs_info_item(c, opt, NBD_INFO_DESCRIPTION, e->description,
			 strlen(e->description)) < 0)
		return -1;
	uint32_t mn, pr, mx;
	hs_block_sizes(c, &mn, &pr, &mx);
	mblk__put_be32(b, mn);
	mblk__put_be32(b + 4, pr);
	mblk__put_be32(b + 8, mx);
	if (hs_info_item(c, opt, NBD_INFO_BLOCK_SIZE, b, 12) < 0)
		return -1;
	if (hs_ack(c, opt) < 0)
		return -1;
	if (opt == NBD_OPT_GO)
		hs_enter_transmission(c, e);
	return 1;
}

/* Does query q (len bytes) select base:allocation? LIST accepts the
 * namespace alone as a wildcard. */
static bool hs_query_matches(const uint8_t *q, uint32_t len, bool list)
{
	static const char ctx[] = NBD_CONTEXT_BASE_ALLOCATION;
	if (len == sizeof(ctx) - 1 && memcmp(q, ctx, len) == 0)
		return true;
	return list && len == 5 && memcmp(q, "base:", 5) == 0;
}

/* NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: name length,
 * name, query count, queries (length, string). */
static int hs_meta(struct nbds_conn *c, uint32_t opt, const uint8_t *d,
		   uint32_t len)
{
	const char *what = mblk__nbd_opt_name(opt);
	bool list = opt == NBD_OPT_LIST_META_CONTEXT;
	if (!list) {
		c->meta_set = false;
		free(c->meta_export);
		c->meta_export = NULL;
	}
	if (!c->structured && !c->extended)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s needs structured replies or extended "
				"headers first",
				what);
	if (len < 8)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s needs at least 8 bytes of data, not %u",
				what, len);
	uint32_t nl = mblk__get_be32(d);
	if (nl > len - 8)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s names an export of %u bytes in an option "
				"of %u bytes",
				what, nl, len);
	const uint8_t *name = d + 4;
	uint32_t nq = mblk__get_be32(d + 4 + nl);
	/* Check the whole option before answering anything. */
	uint32_t pos = 8 + nl;
	bool match = false;
	for (uint32_t i = 0; i < nq; i++) {
		if (len - pos < 4)
			return hs_error(c, opt, NBD_REP_ERR_INVALID,
					"%s: query %u of %u runs past the end "
					"of the option",
					what, i + 1, nq);
		uint32_t ql = mblk__get_be32(d + pos);
		pos += 4;
		if (ql > len - pos)
			return hs_error(c, opt, NBD_REP_ERR_INVALID,
					"%s: query %u of %u is %u bytes long, "
					"past the end of the option",
					what, i + 1, nq, ql);
		if (hs_query_matches(d + pos, ql, list))
			match = true;
		pos += ql;
	}
	if (pos != len)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"%s: %u bytes are left after the last query",
				what, len - pos);
	if (!mblk__nbds_find_export(c->srv, (const char *)name, nl))
		return hs_unknown_export(c, opt, name, nl);
	if (nq == 0 && list)
		match = true;
	if (match) {
		static const char ctx[] = NBD_CONTEXT_BASE_ALLOCATION;
		uint8_t b[4 + sizeof(ctx)];
		mblk__put_be32(b, list ? 0 : NBDS_CTX_BASE_ALLOCATION);
		memcpy(b + 4, ctx, sizeof(ctx) - 1);
		if (hs_reply(c, opt, NBD_REP_META_CONTEXT, b,
			     4 + sizeof(ctx) - 1) < 0)
			return -1;
		if (!list) {
			c->meta_export = malloc(nl + 1);
			if (!c->meta_export) {
				mblk__nbds_conn_drop(c, "out of memory");
				return -1;
			}
			memcpy(c->meta_export, name, nl);
			c->meta_export[nl] = 0;
			c->meta_set = true;
		}
	}
	return hs_ack(c, opt);
}

static int hs_starttls(struct nbds_conn *c, uint32_t len)
{
	uint32_t opt = NBD_OPT_STARTTLS;
	if (c->srv->tls_mode == MBLK_NBD_TLS_OFF)
		return hs_error(c, opt, NBD_REP_ERR_UNSUP,
				"TLS is not enabled on this server");
	if (len)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"NBD_OPT_STARTTLS takes no data, but %u "
				"bytes came with it",
				len);
	if (c->tls)
		return hs_error(c, opt, NBD_REP_ERR_INVALID,
				"TLS is already negotiated");
	if (hs_ack(c, opt) < 0)
		return -1;
	return mblk__nbds_tls_start(c) < 0 ? -1 : 1;
}

static int hs_option(struct nbds_conn *c, uint32_t opt, const uint8_t *d,
		     uint32_t len)
{
	/* TLS required: nothing but STARTTLS and ABORT before it is up. */
	if (c->srv->tls_mode == MBLK_NBD_TLS_REQUIRE && !c->tls_up &&
	    opt != NBD_OPT_STARTTLS && opt != NBD_OPT_ABORT) {
		if (opt == NBD_OPT_EXPORT_NAME) {
			mblk__nbds_conn_drop(c, "NBD_OPT_EXPORT_NAME before "
						"TLS, which this server "
						"requires");
			return -1;
		}
		return hs_error(c, opt, NBD_REP_ERR_TLS_REQD,
				"this server requires TLS: send "
				"NBD_OPT_STARTTLS first");
	}
	switch (opt) {
	case NBD_OPT_EXPORT_NAME: return hs_export_name(c, d, len);
	case NBD_OPT_ABORT:
		hs_ack(c, opt);
		mblk__nbds_conn_drop(c, NULL);
		return -1;
	case NBD_OPT_LIST: return hs_list(c, len);
	case NBD_OPT_INFO:
	case NBD_OPT_GO: return hs_info(c, opt, d, len);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return hs_error(c, opt, NBD_REP_ERR_INVALID,
					"NBD_OPT_STRUCTURED_REPLY takes no "
					"data, but %u bytes came with it",
					len);
		if (c->extended)
			return hs_error(c, opt, NBD_REP_ERR_EXT_HEADER_REQD,
					"extended headers are already "
					"negotiated and take precedence");
		c->structured = true;
		return hs_ack(c, opt);
	case NBD_OPT_EXTENDED_HEADERS:
		if (len)
			return hs_error(c, opt, NBD_REP_ERR_INVALID,
					"NBD_OPT_EXTENDED_HEADERS takes no "
					"data, but %u bytes came with it",
					len);
		c->extended = true;
		return hs_ack(c, opt);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT: return hs_meta(c, opt, d, len);
	case NBD_OPT_STARTTLS: return hs_starttls(c, len);
	}
	return hs_error(c, opt, NBD_REP_ERR_UNSUP,
			"option %u (%s) is not supported by this server", opt,
			mblk__nbd_opt_name(opt));
}

int mblk__nbds_handshake_step(struct nbds_conn *c)
{
	const uint8_t *p = c->rx + c->rx_off;
	size_t avail = c->rx_len - c->rx_off;
	if (c->phase == NBDS_CLIENT_FLAGS) {
		if (avail < 4)
			return 0;
		uint32_t f = mblk__get_be32(p);
		mblk__nbds_conn_consume(c, 4);
		if (f & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE |
				    NBD_FLAG_C_NO_ZEROES)) {
			mblk__nbds_conn_drop(c,
					     "the client set unknown flags "
					     "0x%08x",
					     f);
			return -1;
		}
		if (!(f & NBD_FLAG_C_FIXED_NEWSTYLE)) {
			mblk__nbds_conn_drop(c, "the client does not speak "
						"fixed newstyle negotiation, "
						"the only kind served");
			return -1;
		}
		c->no_zeroes = f & NBD_FLAG_C_NO_ZEROES;
		c->phase = NBDS_OPTIONS;
		return 1;
	}
	if (avail < NBD_OPTION_HEADER_SIZE)
		return 0;
	uint64_t magic = mblk__get_be64(p);
	uint32_t opt = mblk__get_be32(p + 8);
	uint32_t len = mblk__get_be32(p + 12);
	if (magic != NBD_IHAVEOPT) {
		mblk__nbds_conn_drop(c,
				     "an option began with 0x%016llx, not "
				     "the IHAVEOPT magic",
				     (unsigned long long)magic);
		return -1;
	}
	if (len > c->srv->opts.max_option) {
		mblk__nbds_conn_drop(c,
				     "%s (%u) came with %u bytes of data, "
				     "more than the %u allowed",
				     mblk__nbd_opt_name(opt), opt, len,
				     c->srv->opts.max_option);
		return -1;
	}
	if (avail < NBD_OPTION_HEADER_SIZE + (size_t)len)
		return 0;
	/* The handlers read the data in place; it is consumed first so
	 * that a handler that moves to transmission starts clean. The
	 * bytes stay valid: nothing compacts rx until this step returns. */
	mblk__nbds_conn_consume(c, NBD_OPTION_HEADER_SIZE + len);
	int r = hs_option(c, opt, p + NBD_OPTION_HEADER_SIZE, len);
	if (r < 0 || c->phase == NBDS_CLOSING)
		return -1;
	return 1;
}
