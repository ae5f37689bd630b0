/* handshake.c - NBD option haggling, as a state machine driven by reads.
 *
 * Design notes
 *
 * The sequence (fixed newstyle; each arrow is one option and its
 * replies, each reply read by the "want" steps of conn.c):
 *
 *   greeting  NBDMAGIC IHAVEOPT flags  -> client flags
 *   EXTENDED_HEADERS     ACK: extended headers (implies structured)
 *     | refused
 *   STRUCTURED_REPLY     ACK: structured replies
 *   SET_META_CONTEXT     base:allocation, only with one of the two above
 *   GO [BLOCK_SIZE]      INFO replies, then ACK: transmission
 *     | NBD_REP_ERR_UNSUP (an old server)
 *   EXPORT_NAME          size and flags, no reply header
 *
 * A server that refuses an optional feature gives a device without it,
 * never a failure; only refusing the export itself (GO's errors other
 * than UNSUP) fails. A server without fixed newstyle only gets
 * EXPORT_NAME. In list mode (mblk_nbd_list) the sequence is LIST, then
 * INFO for each export, then ABORT.
 *
 * Sending: options go out one at a time (the next one is chosen by the
 * previous replies), each in a message of its own (hs_send); the
 * write's callback only checks for an error, because the replies that
 * matter arrive on the read side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/endian.h"
#include "client.h"

static void hs_expect(struct mblk__nbdc_conn *k, uint32_t opt);
static void hs_send_go(struct mblk__nbdc_conn *k);
static void hs_send_export_name(struct mblk__nbdc_conn *k);
static void hs_list_next(struct mblk__nbdc_conn *k);

const char *mblk__nbdc_rep_err_text(uint32_t rep)
{
	switch (rep) {
	case NBD_REP_ERR_UNSUP: return "the option is not supported";
	case NBD_REP_ERR_POLICY: return "refused by the server's policy";
	case NBD_REP_ERR_INVALID: return "the request was invalid";
	case NBD_REP_ERR_PLATFORM:
		return "not supported on the server's platform";
	case NBD_REP_ERR_TLS_REQD:
		return "the server requires TLS (use nbds:// or nbds+unix://)";
	case NBD_REP_ERR_UNKNOWN: return "no such export";
	case NBD_REP_ERR_SHUTDOWN: return "the server is shutting down";
	case NBD_REP_ERR_BLOCK_SIZE_REQD:
		return "the server requires block size negotiation";
	case NBD_REP_ERR_TOO_BIG: return "the request or reply is too big";
	default: return "an error";
	}
}

static int hs_rep_err_errno(uint32_t rep)
{
	switch (rep) {
	case NBD_REP_ERR_UNKNOWN: return -ENOENT;
	case NBD_REP_ERR_POLICY:
	case NBD_REP_ERR_TLS_REQD: return -EACCES;
	case NBD_REP_ERR_SHUTDOWN: return -ESHUTDOWN;
	case NBD_REP_ERR_UNSUP:
	case NBD_REP_ERR_PLATFORM: return -ENOTSUP;
	default: return -EPROTO;
	}
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

/* One message being written: the handshake is the control path, so
 * each message is its own allocation, freed when libuv is done with it
 * (the replies that matter may arrive before the write's callback). */
struct hs_msg {
	uv_write_t w;
	struct mblk__nbdc_conn *k;
	uint8_t data[];
};

static void hs_on_written(uv_write_t *w, int status)
{
	struct hs_msg *m = w->data;
	struct mblk__nbdc_conn *k = m->k;
	free(m);
	if (status < 0 && status != UV_ECANCELED)
		mblk__nbdc_conn_fail(k, -ECONNRESET, "writing to %s: %s",
				     k->cfg->server, uv_strerror(status));
}

/* Writes a then b (either may be empty) as one message. */
static int hs_send(struct mblk__nbdc_conn *k, const void *a, size_t alen,
		   const void *b, size_t blen)
{
	if (k->phase == MBLK__NBDC_DEAD)
		return -ESHUTDOWN;
	struct hs_msg *m = malloc(sizeof(*m) + alen + blen);
	if (m == NULL) {
		mblk__nbdc_conn_fail(k, -ENOMEM, "%s: no memory for a message",
				     k->cfg->server);
		return -ENOMEM;
	}
	m->k = k;
	m->w.data = m;
	memcpy(m->data, a, alen);
	if (blen)
		memcpy(m->data + alen, b, blen);
	uv_buf_t buf = uv_buf_init((char *)m->data, (unsigned)(alen + blen));
	int r = uv_write(&m->w, &k->sock.stream, &buf, 1, hs_on_written);
	if (r < 0) {
		free(m);
		mblk__nbdc_conn_fail(k, -ECONNRESET, "writing to %s: %s",
				     k->cfg->server, uv_strerror(r));
		return r;
	}
	return 0;
}

int mblk__nbdc_send_option(struct mblk__nbdc_conn *k, uint32_t opt,
			   const void *data, uint32_t len)
{
	uint8_t h[NBD_OPTION_HEADER_SIZE];
	mblk__put_be64(h, NBD_IHAVEOPT);
	mblk__put_be32(h + 8, opt);
	mblk__put_be32(h + 12, len);
	return hs_send(k, h, sizeof(h), data, len);
}

/* Sends an option whose data is an export name and info requests (GO,
 * INFO) or an export name and queries (SET_META_CONTEXT). */
static int hs_send_name_opt(struct mblk__nbdc_conn *k, uint32_t opt,
			    const char *name, const uint16_t *infos, int ninfo,
			    const char *query)
{
	size_t nl = strlen(name);
	uint8_t buf[4 + 4096 + 64];
	if (nl > 4096) {
		mblk__nbdc_conn_fail(k, -ENAMETOOLONG,
				     "export name of %zu bytes is longer than "
				     "NBD's 4096",
				     nl);
		return -ENAMETOOLONG;
	}
	size_t n = 0;
	mblk__put_be32(buf, (uint32_t)nl);
	memcpy(buf + 4, name, nl);
	n = 4 + nl;
	if (query) {
		size_t ql = strlen(query);
		mblk__put_be32(buf + n, 1);
		mblk__put_be32(buf + n + 4, (uint32_t)ql);
		memcpy(buf + n + 8, query, ql);
		n += 8 + ql;
	} else {
		mblk__put_be16(buf + n, (uint16_t)ninfo);
		n += 2;
		for (int i = 0; i < ninfo; i++) {
			mblk__put_be16(buf + n, infos[i]);
			n += 2;
		}
	}
	return mblk__nbdc_send_option(k, opt, buf, (uint32_t)n);
}

/* ------------------------------------------------------------------ */
/* The end                                                             */

static void hs_done(struct mblk__nbdc_conn *k)
{
	if (k->timer_inited)
		uv_timer_stop(&k->timer);
	k->phase = MBLK__NBDC_TRANSMISSION;
	k->on_ready(k, 0, NULL);
}

static void hs_refused(struct mblk__nbdc_conn *k, const uint8_t *p, size_t len)
{
	int n = len > 200 ? 200 : (int)len;
	mblk__nbdc_conn_fail(k, hs_rep_err_errno(k->rep_type),
			     "%s refused export '%s' (%s): %s%s%.*s%s",
			     k->cfg->server, k->cfg->export_name,
			     mblk__nbd_opt_name(k->opt),
			     mblk__nbdc_rep_err_text(k->rep_type),
			     n ? " (\"" : "", n, p ? (const char *)p : "",
			     n ? "\")" : "");
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static void hs_parse_info(struct mblk__nbdc_conn *k, const uint8_t *p,
			  size_t len)
{
	if (len < 2)
		return;
	uint16_t type = mblk__get_be16(p);
	if (type == NBD_INFO_EXPORT && len >= 12) {
		k->ex.size = mblk__get_be64(p + 2);
		k->ex.tflags = mblk__get_be16(p + 10);
		k->ex.have_export_info = true;
	} else if (type == NBD_INFO_BLOCK_SIZE && len >= 14) {
		k->ex.min_block = mblk__get_be32(p + 2);
		k->ex.pref_block = mblk__get_be32(p + 6);
		k->ex.max_payload = mblk__get_be32(p + 10);
	} else if (type == NBD_INFO_DESCRIPTION) {
		free(k->ex.description);
		k->ex.description = strndup((const char *)p + 2, len - 2);
	}
}

static void hs_on_reply(struct mblk__nbdc_conn *k, const uint8_t *p, size_t len)
{
	uint32_t t = k->rep_type;
	bool err = (t & NBD_REP_FLAG_ERROR) != 0;

	switch (k->opt) {
	case NBD_OPT_EXTENDED_HEADERS:
		if (t == NBD_REP_ACK) {
			k->ex.extended = k->ex.structured = true;
		} else if (err) {
			mblk__nbdc_send_option(k, NBD_OPT_STRUCTURED_REPLY,
					       NULL, 0);
			hs_expect(k, NBD_OPT_STRUCTURED_REPLY);
			return;
		} else {
			break;
		}
		goto meta;
	case NBD_OPT_STRUCTURED_REPLY:
		if (t == NBD_REP_ACK)
			k->ex.structured = true;
		else if (!err)
			break;
		if (!k->ex.structured) {
			hs_send_go(k);
			return;
		}
meta:
		hs_send_name_opt(k, NBD_OPT_SET_META_CONTEXT,
				 k->cfg->export_name, NULL, 0,
				 "base:allocation");
		hs_expect(k, NBD_OPT_SET_META_CONTEXT);
		return;
	case NBD_OPT_SET_META_CONTEXT:
		if (t == NBD_REP_META_CONTEXT && len >= 4) {
			const char *want = "base:allocation";
			if (len - 4 == strlen(want) &&
			    memcmp(p + 4, want, len - 4) == 0) {
				k->ex.have_meta = true;
				k->ex.meta_id = mblk__get_be32(p);
			}
			hs_expect(k, NBD_OPT_SET_META_CONTEXT);
			return;
		}
		if (t != NBD_REP_ACK && !err)
			break;
		if (err)
			k->ex.have_meta = false;
		hs_send_go(k);
		return;
	case NBD_OPT_GO:
	case NBD_OPT_INFO:
		if (t == NBD_REP_INFO) {
			hs_parse_info(k, p, len);
			hs_expect(k, k->opt);
			return;
		}
		if (k->list_mode) {
			mblk__nbdc_list_info(k, k->hs_list_i,
					     t == NBD_REP_ACK ? 0 : -1);
			k->hs_list_i++;
			hs_list_next(k);
			return;
		}
		if (t == NBD_REP_ACK) {
			if (!k->ex.have_export_info) {
				mblk__nbdc_conn_fail(
					k, -EPROTO,
					"%s acknowledged NBD_OPT_GO for "
					"export '%s' without sending its size "
					"(NBD_INFO_EXPORT)",
					k->cfg->server, k->cfg->export_name);
				return;
			}
			hs_done(k);
			return;
		}
		if (t == NBD_REP_ERR_UNSUP) {
			hs_send_export_name(k);
			return;
		}
		if (err) {
			hs_refused(k, p, len);
			return;
		}
		break;
	case NBD_OPT_LIST:
		if (t == NBD_REP_SERVER && len >= 4) {
			uint32_t nl = mblk__get_be32(p);
			if (nl > len - 4) {
				mblk__nbdc_conn_fail(
					k, -EPROTO,
					"%s sent an NBD_REP_SERVER whose name "
					"(%u bytes) overruns the reply (%zu)",
					k->cfg->server, nl, len);
				return;
			}
			mblk__nbdc_list_add(k, (const char *)p + 4, nl,
					    (const char *)p + 4 + nl,
					    len - 4 - nl);
			hs_expect(k, NBD_OPT_LIST);
			return;
		}
		if (t == NBD_REP_ACK) {
			k->hs_list_i = 0;
			hs_list_next(k);
			return;
		}
		if (err) {
			int n = len > 200 ? 200 : (int)len;
			mblk__nbdc_conn_fail(k, hs_rep_err_errno(t),
					     "%s refused to list its exports: "
					     "%s%s%.*s%s",
					     k->cfg->server,
					     mblk__nbdc_rep_err_text(t),
					     n ? " (\"" : "", n,
					     p ? (const char *)p : "",
					     n ? "\")" : "");
			return;
		}
		break;
	default: break;
	}
	mblk__nbdc_conn_fail(k, -EPROTO,
			     "%s sent an unexpected reply 0x%x (%s) to %s",
			     k->cfg->server, t, mblk__nbd_rep_name(t),
			     mblk__nbd_opt_name(k->opt));
}

static void hs_on_rep_payload(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	hs_on_reply(k, p, k->want_n);
}

static void hs_on_rep_header(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint64_t magic = mblk__get_be64(p);
	uint32_t opt = mblk__get_be32(p + 8);
	if (magic != NBD_REP_MAGIC) {
		mblk__nbdc_conn_fail(k, -EPROTO,
				     "%s sent a bad option reply magic "
				     "0x%016llx (expected 0x%016llx)",
				     k->cfg->server, (unsigned long long)magic,
				     (unsigned long long)NBD_REP_MAGIC);
		return;
	}
	if (opt != k->opt) {
		mblk__nbdc_conn_fail(k, -EPROTO,
				     "%s answered %s while %s was asked",
				     k->cfg->server, mblk__nbd_opt_name(opt),
				     mblk__nbd_opt_name(k->opt));
		return;
	}
	k->rep_type = mblk__get_be32(p + 12);
	uint32_t len = mblk__get_be32(p + 16);
	if (len > MBLK__NBDC_MAX_OPT_REPLY) {
		mblk__nbdc_conn_fail(k, -EPROTO,
				     "%s sent a %u-byte reply to %s (more "
				     "than %u)",
				     k->cfg->server, len,
				     mblk__nbd_opt_name(k->opt),
				     MBLK__NBDC_MAX_OPT_REPLY);
		return;
	}
	if (len == 0)
		hs_on_reply(k, NULL, 0);
	else
		mblk__nbdc_want(k, len, hs_on_rep_payload);
}

static void hs_expect(struct mblk__nbdc_conn *k, uint32_t opt)
{
	if (k->phase == MBLK__NBDC_DEAD)
		return;
	k->opt = opt;
	mblk__nbdc_want(k, NBD_OPTION_REPLY_HEADER_SIZE, hs_on_rep_header);
}

/* ------------------------------------------------------------------ */
/* GO, EXPORT_NAME, LIST                                               */

static void hs_send_go(struct mblk__nbdc_conn *k)
{
	static const uint16_t infos[] = { NBD_INFO_BLOCK_SIZE };
	if (hs_send_name_opt(k, NBD_OPT_GO, k->cfg->export_name, infos, 1,
			     NULL) == 0)
		hs_expect(k, NBD_OPT_GO);
}

static void hs_on_export_info(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	k->ex.size = mblk__get_be64(p);
	k->ex.tflags = mblk__get_be16(p + 8);
	k->ex.have_export_info = true;
	k->ex.used_export_name = true;
	hs_done(k);
}

static void hs_send_export_name(struct mblk__nbdc_conn *k)
{
	const char *name = k->cfg->export_name;
	if (mblk__nbdc_send_option(k, NBD_OPT_EXPORT_NAME, name,
				   (uint32_t)strlen(name)) < 0)
		return;
	k->opt = NBD_OPT_EXPORT_NAME;
	mblk__nbdc_want(k, 10 + (k->ex.no_zeroes ? 0 : 124), hs_on_export_info);
}

static void hs_list_next(struct mblk__nbdc_conn *k)
{
	const char *name = mblk__nbdc_list_name(k, k->hs_list_i);
	if (name == NULL) {
		mblk__nbdc_send_option(k, NBD_OPT_ABORT, NULL, 0);
		hs_done(k);
		return;
	}
	static const uint16_t infos[] = { NBD_INFO_BLOCK_SIZE,
					  NBD_INFO_DESCRIPTION };
	memset(&k->ex, 0, offsetof(struct mblk__nbdc_export, description));
	free(k->ex.description);
	k->ex.description = NULL;
	if (hs_send_name_opt(k, NBD_OPT_INFO, name, infos, 2, NULL) == 0)
		hs_expect(k, NBD_OPT_INFO);
}

/* ------------------------------------------------------------------ */
/* The greeting                                                        */

static void hs_on_greeting(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint64_t m1 = mblk__get_be64(p), m2 = mblk__get_be64(p + 8);
	if (m1 != NBD_MAGIC) {
		mblk__nbdc_conn_fail(k, -EPROTO,
				     "%s is not an NBD server: it greeted "
				     "with 0x%016llx, not NBDMAGIC",
				     k->cfg->server, (unsigned long long)m1);
		return;
	}
	if (m2 != NBD_IHAVEOPT) {
		mblk__nbdc_conn_fail(k, -EPROTO,
				     "%s speaks oldstyle NBD (magic "
				     "0x%016llx), which mblk does not support: "
				     "use newstyle",
				     k->cfg->server, (unsigned long long)m2);
		return;
	}
	uint16_t hflags = mblk__get_be16(p + 16);
	k->ex.fixed_newstyle = (hflags & NBD_FLAG_FIXED_NEWSTYLE) != 0;
	k->ex.no_zeroes = (hflags & NBD_FLAG_NO_ZEROES) != 0;
	uint32_t cflags = 0;
	if (k->ex.fixed_newstyle)
		cflags |= NBD_FLAG_C_FIXED_NEWSTYLE;
	if (k->ex.no_zeroes)
		cflags |= NBD_FLAG_C_NO_ZEROES;

	uint8_t b[4];
	mblk__put_be32(b, cflags);
	if (hs_send(k, b, 4, NULL, 0) < 0)
		return;
	if (!k->ex.fixed_newstyle) {
		if (k->list_mode || k->cfg->tls) {
			mblk__nbdc_conn_fail(
				k, -ENOTSUP,
				"%s does not speak fixed newstyle NBD, so it "
				"cannot %s",
				k->cfg->server,
				k->list_mode ? "list its exports" : "do TLS");
			return;
		}
		hs_send_export_name(k);
		return;
	}
	if (k->list_mode) {
		mblk__nbdc_send_option(k, NBD_OPT_LIST, NULL, 0);
		hs_expect(k, NBD_OPT_LIST);
		return;
	}
	mblk__nbdc_send_option(k, NBD_OPT_EXTENDED_HEADERS, NULL, 0);
	hs_expect(k, NBD_OPT_EXTENDED_HEADERS);
}

void mblk__nbdc_handshake_start(struct mblk__nbdc_conn *k)
{
	k->opt = 0;
	mblk__nbdc_want(k, 18, hs_on_greeting);
}
