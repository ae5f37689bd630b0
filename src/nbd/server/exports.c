/* exports.c - adding and removing exports while the server runs.
 *
 * Design notes
 *
 * srv->exports is an array that handshake.c searches and lists, and a
 * connection in transmission points at its element (c->exp). Adding an
 * export builds a new array one longer and moves every such pointer to
 * the same element of the new one. Removing one takes it out of the
 * array at once (so no new client can choose it) but keeps a copy alive,
 * a "retired" export, for the connections still on it: they point at the
 * copy and are dropped, which lets their requests in flight finish and
 * be answered first (conn.c). Each time a connection is freed
 * (mblk__nbds_exports_conn_gone), a retired export no connection points
 * at any more is finished: the caller's callback runs from a zero timer,
 * never inside mblk_nbd_server_remove_export, and the copy is freed. The
 * timer's callback touches only the retired export, so it may run after
 * the server itself is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>

#include "server.h"

struct nbds_retired {
	struct nbds_export e;
	mblk_cb cb;
	void *data;
	uv_timer_t timer;
	struct nbds_retired *next;
};

static int exports_check(const struct mblk_nbd_server *srv,
			 const struct mblk_nbd_export *e)
{
	const char *name = e->name ? e->name : "";
	if (!e->dev)
		return mblk_set_error(-EINVAL,
				      "nbd server: export '%s' has no device",
				      name);
	if (strlen(name) > NBD_MAX_STRING ||
	    (e->description && strlen(e->description) > NBD_MAX_STRING))
		return mblk_set_error(-EINVAL,
				      "nbd server: the name or description of "
				      "export '%.64s' is longer than %d bytes",
				      name, NBD_MAX_STRING);
	for (size_t i = 0; i < srv->nexports; i++)
		if (strcmp(srv->exports[i].name, name) == 0)
			return *name ? mblk_set_error(-EEXIST,
						      "nbd server: an export "
						      "named '%s' exists "
						      "already",
						      name)
				     : mblk_set_error(-EEXIST,
						      "nbd server: there is a "
						      "default export already");
	struct mblk_info info;
	mblk_get_info(e->dev, &info);
	if (srv->opts.max_payload % info.sector_size)
		return mblk_set_error(-EINVAL,
				      "nbd server: the maximum payload %u is "
				      "not a multiple of the sector size %u "
				      "of %s",
				      srv->opts.max_payload, info.sector_size,
				      mblk_dev_name(e->dev));
	return 0;
}

/* Points every connection on old[i] at fresh[map(i)]; map(i) < 0: leave
 * it (the caller handles it). */
static void exports_rebase(struct mblk_nbd_server *srv, struct nbds_export *old,
			   size_t n, struct nbds_export *fresh, size_t skip)
{
	for (struct nbds_conn *c = srv->conns; c; c = c->next) {
		if (!c->exp || c->exp < old || c->exp >= old + n)
			continue;
		size_t i = (size_t)(c->exp - old);
		if (i == skip)
			continue;
		c->exp = &fresh[i < skip ? i : i - 1];
	}
}

int mblk_nbd_server_add_export(mblk_nbd_server *srv,
			       const struct mblk_nbd_export *e)
{
	if (!srv || !e)
		return mblk_set_error(-EINVAL, "nbd server: no server or "
					       "export given");
	if (srv->closing)
		return mblk_set_error(-ESHUTDOWN, "nbd server: shutting down");
	int r = exports_check(srv, e);
	if (r < 0)
		return r;
	size_t n = srv->nexports;
	struct nbds_export *fresh = calloc(n + 1, sizeof(*fresh));
	char *name = strdup(e->name ? e->name : "");
	char *desc = strdup(e->description ? e->description : "");
	if (!fresh || !name || !desc) {
		free(fresh);
		free(name);
		free(desc);
		return mblk_set_error(-ENOMEM, "nbd server: out of memory");
	}
	memcpy(fresh, srv->exports, n * sizeof(*fresh));
	fresh[n] = (struct nbds_export){
		.name = name,
		.description = desc,
		.dev = e->dev,
		.read_only = e->read_only,
	};
	/* skip = n + 1: no element is left out. */
	exports_rebase(srv, srv->exports, n, fresh, n + 1);
	free(srv->exports);
	srv->exports = fresh;
	srv->nexports = n + 1;
	return 0;
}

static void exports_retired_closed(uv_handle_t *h)
{
	struct nbds_retired *r = h->data;
	free(r->e.name);
	free(r->e.description);
	free(r);
}

static void exports_retired_fire(uv_timer_t *t)
{
	struct nbds_retired *r = t->data;
	if (r->cb)
		r->cb(r->data, 0, NULL);
	uv_close((uv_handle_t *)&r->timer, exports_retired_closed);
}

void mblk__nbds_exports_conn_gone(struct mblk_nbd_server *srv)
{
	struct nbds_retired **pp = &srv->retired;
	while (*pp) {
		struct nbds_retired *r = *pp;
		bool used = false;
		for (struct nbds_conn *c = srv->conns; c && !used; c = c->next)
			used = c->exp == &r->e;
		if (used) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		uv_timer_start(&r->timer, exports_retired_fire, 0, 0);
	}
}

int mblk_nbd_server_remove_export(mblk_nbd_server *srv, const char *name,
				  mblk_cb cb, void *data)
{
	if (!srv)
		return mblk_set_error(-EINVAL, "nbd server: no server given");
	if (!name)
		name = "";
	struct nbds_export *e = mblk__nbds_find_export(srv, name, strlen(name));
	if (!e)
		return *name ? mblk_set_error(-ENOENT,
					      "nbd server: there is no export "
					      "named '%s'",
					      name)
			     : mblk_set_error(-ENOENT,
					      "nbd server: there is no default "
					      "export");
	if (srv->nexports == 1)
		return mblk_set_error(-EBUSY,
				      "nbd server: '%s' is the last export; "
				      "stop the server instead",
				      e->name);
	size_t i = (size_t)(e - srv->exports), n = srv->nexports;
	struct nbds_retired *r = calloc(1, sizeof(*r));
	struct nbds_export *fresh = calloc(n - 1, sizeof(*fresh));
	if (!r || !fresh) {
		free(r);
		free(fresh);
		return mblk_set_error(-ENOMEM, "nbd server: out of memory");
	}
	r->e = *e;
	r->cb = cb;
	r->data = data;
	uv_timer_init(srv->loop, &r->timer);
	r->timer.data = r;

	/* The connections on it move to the copy and are dropped. */
	for (struct nbds_conn *c = srv->conns; c; c = c->next) {
		if (c->exp != e)
			continue;
		c->exp = &r->e;
		mblk__nbds_conn_drop(c, "export '%s' was removed", r->e.name);
	}
	/* The array without it (n - 1 >= 1 elements). */
	memcpy(fresh, srv->exports, i * sizeof(*fresh));
	memcpy(fresh + i, srv->exports + i + 1, (n - i - 1) * sizeof(*fresh));
	exports_rebase(srv, srv->exports, n, fresh, i);
	free(srv->exports);
	srv->exports = fresh;
	srv->nexports = n - 1;
	r->next = srv->retired;
	srv->retired = r;
	mblk__nbds_exports_conn_gone(srv);
	return 0;
}

int mblk_nbd_server_export_connections(const mblk_nbd_server *srv,
				       const char *name)
{
	if (!name)
		name = "";
	const struct nbds_export *e = NULL;
	for (size_t i = 0; i < srv->nexports && !e; i++)
		if (strcmp(srv->exports[i].name, name) == 0)
			e = &srv->exports[i];
	if (!e)
		return -ENOENT;
	int n = 0;
	for (const struct nbds_conn *c = srv->conns; c; c = c->next)
		n += c->exp == e;
	return n;
}
