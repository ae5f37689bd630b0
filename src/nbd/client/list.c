/* list.c - mblk_nbd_list: the exports an NBD server offers.
 *
 * One connection in list mode (handshake.c: NBD_OPT_LIST, then
 * NBD_OPT_INFO for each name, then NBD_OPT_ABORT) on a private loop, so
 * the call is synchronous and touches no loop of the caller's. The
 * handshake's timer bounds the whole exchange.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/nbd.h>
#include "../../core/uri.h"
#include "client.h"

extern const struct mblk_scheme mblk__scheme_nbd;

struct mblk__nbdc_listing {
	struct mblk_nbd_listed *v;
	int n, cap;
	bool done;
	int status;
	char msg[300];
};

void mblk__nbdc_list_add(struct mblk__nbdc_conn *k, const char *name,
			 size_t name_len, const char *desc, size_t desc_len)
{
	struct mblk__nbdc_listing *l = k->owner;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 8;
		struct mblk_nbd_listed *nv =
			realloc(l->v, sizeof(*nv) * (size_t)cap);
		if (nv == NULL) {
			mblk__nbdc_conn_fail(k, -ENOMEM,
					     "no memory for the export list");
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	struct mblk_nbd_listed *e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	e->name = strndup(name, name_len);
	e->description = strndup(desc, desc_len);
	if (e->name == NULL || e->description == NULL) {
		free(e->name);
		free(e->description);
		mblk__nbdc_conn_fail(k, -ENOMEM,
				     "no memory for the export list");
		return;
	}
	l->n++;
}

const char *mblk__nbdc_list_name(struct mblk__nbdc_conn *k, int i)
{
	struct mblk__nbdc_listing *l = k->owner;
	return i < l->n ? l->v[i].name : NULL;
}

void mblk__nbdc_list_info(struct mblk__nbdc_conn *k, int i, int status)
{
	struct mblk__nbdc_listing *l = k->owner;
	if (i >= l->n || status < 0 || !k->ex.have_export_info)
		return;
	struct mblk_nbd_listed *e = &l->v[i];
	e->have_info = true;
	e->size = k->ex.size;
	e->flags = k->ex.tflags;
	e->min_block = k->ex.min_block;
	e->pref_block = k->ex.pref_block;
	e->max_payload = k->ex.max_payload;
	if (e->description[0] == '\0' && k->ex.description) {
		char *d = strdup(k->ex.description);
		if (d) {
			free(e->description);
			e->description = d;
		}
	}
}

static void list_on_ready(struct mblk__nbdc_conn *k, int status,
			  const char *msg)
{
	struct mblk__nbdc_listing *l = k->owner;
	l->done = true;
	l->status = status;
	if (status < 0)
		snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

void mblk_nbd_list_free(struct mblk_nbd_listed *exports, int n)
{
	if (exports == NULL)
		return;
	for (int i = 0; i < n; i++) {
		free(exports[i].name);
		free(exports[i].description);
	}
	free(exports);
}

static int list_run(const struct mblk__nbdc_cfg *cfg, const char *uri,
		    struct mblk_nbd_listed **exports)
{
	uv_loop_t loop;
	int r = uv_loop_init(&loop);
	if (r < 0)
		return mblk_set_error(r, "'%s': %s", uri, uv_strerror(r));
	struct mblk__nbdc_listing l = { 0 };
	struct mblk__nbdc_conn *k = malloc(sizeof(*k));
	if (k == NULL || mblk__nbdc_conn_init(k, &loop, cfg, &l) < 0) {
		if (k)
			mblk__nbdc_conn_free(k);
		free(k);
		uv_loop_close(&loop);
		return mblk_set_error(-ENOMEM, "'%s': no memory", uri);
	}
	k->list_mode = true;
	k->sector_size = 512;
	mblk__nbdc_conn_start(k, list_on_ready);
	while (!l.done)
		if (uv_run(&loop, UV_RUN_ONCE) == 0 && !l.done) {
			l.status = -EIO;
			snprintf(l.msg, sizeof(l.msg),
				 "the listing stopped with nothing left to "
				 "wait for (a bug)");
			break;
		}
	mblk__nbdc_conn_close(k, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	mblk__nbdc_conn_free(k);
	free(k);
	if (l.status < 0) {
		mblk_nbd_list_free(l.v, l.n);
		return mblk_set_error(l.status, "'%s': %s", uri, l.msg);
	}
	*exports = l.v;
	return l.n;
}

int mblk_nbd_list(const char *uri, struct mblk_nbd_listed **exports)
{
	static const char *const known[] = { "nbd", "nbds", "nbd+unix",
					     "nbds+unix", NULL };
	if (uri == NULL || exports == NULL)
		return mblk_set_error(-EINVAL, "mblk_nbd_list: uri and "
					       "exports must not be NULL");
	*exports = NULL;
	struct mblk_uri u;
	int r = mblk__uri_parse(uri, known, &u);
	if (r < 0)
		return r;
	u.keys = mblk__scheme_nbd.keys;
	struct mblk__nbdc_cfg cfg;
	r = mblk__nbdc_cfg_parse(&u, &cfg);
	if (r == 0)
		r = mblk_uri_finish(&u);
	mblk__uri_free(&u);
	if (r == 0 && cfg.tls)
		r = mblk_set_error(-ENOTSUP,
				   "'%s': this mblk was built without TLS "
				   "(GnuTLS)",
				   uri);
	if (r == 0)
		r = list_run(&cfg, uri, exports);
	mblk__nbdc_cfg_free(&cfg);
	return r;
}
