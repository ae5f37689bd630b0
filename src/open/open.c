/* open.c - mblk_open: from a URI to a device stack, asynchronously.
 *
 * Design notes
 *
 * mblk_open parses the URI (src/core/uri.c) with the names of every
 * scheme known to this mblk (built in or registered, and those the build
 * left out, which then get a sentence saying so), makes an open request
 * and hands it to the scheme's opener. The opener finishes the request
 * exactly once with mblk_open_done or mblk_open_fail, at once (ram, file)
 * or later from the loop (a network handshake, a cluster connect).
 *
 * On success the device gets MBLK_OPEN_RDONLY (for every scheme, whether
 * or not its opener looked at the flag: the core then refuses write-like
 * requests) and is wrapped in `safe` unless MBLK_OPEN_NO_SAFE. Then the
 * caller's callback runs, never inside mblk_open: a request finished
 * while its opener is still running defers the callback with the
 * request's zero-timeout timer. The timer is closed after the callback,
 * and its close callback frees the request, so a request always lives
 * until the loop has let go of its handle.
 *
 * Errors found before any opener runs (a bad URI, an unknown scheme)
 * arrive through the callback like every other: mblk_open fails at once
 * only when no callback can be delivered.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/safe.h>
#include "open.h"
#include "../core/uri.h"

struct mblk_open_req {
	uv_loop_t *loop;
	unsigned flags;
	char *text; /* the URI as given (the parsed one points into it) */
	struct mblk_uri uri;
	bool parsed;
	mblk_open_cb cb;
	void *data;
	bool in_opener; /* the opener's call is still running */
	bool finished;
	int status;
	mblk_dev *dev;
	char msg[1024];
	uv_timer_t timer; /* defers the callback out of the opener's call */
};

uv_loop_t *mblk_open_req_loop(const struct mblk_open_req *req)
{
	return req->loop;
}

unsigned mblk_open_req_flags(const struct mblk_open_req *req)
{
	return req->flags;
}

static void open_free(uv_handle_t *h)
{
	struct mblk_open_req *req = h->data;
	if (req->parsed)
		mblk__uri_free(&req->uri);
	free(req->text);
	free(req);
}

static void open_deliver(struct mblk_open_req *req)
{
	/* The URI is done with: the device has read what it needs. */
	req->cb(req->data, req->status, req->dev,
		req->status < 0 ? req->msg : NULL);
	uv_close((uv_handle_t *)&req->timer, open_free);
}

static void open_timer_cb(uv_timer_t *t)
{
	open_deliver(t->data);
}

static void open_finish(struct mblk_open_req *req)
{
	req->finished = true;
	if (req->in_opener)
		uv_timer_start(&req->timer, open_timer_cb, 0, 0);
	else
		open_deliver(req);
}

void mblk_open_fail_last(struct mblk_open_req *req, int status)
{
	const char *e = mblk_last_error();
	mblk_open_fail(req, status, "%s", e[0] ? e : mblk_strerror(status));
}

void mblk_open_fail(struct mblk_open_req *req, int status, const char *fmt, ...)
{
	if (req->finished)
		return; /* an opener bug; the first answer stands */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(req->msg, sizeof(req->msg), fmt, ap);
	va_end(ap);
	req->status = status < 0 ? status : -EIO;
	req->dev = NULL;
	open_finish(req);
}

void mblk_open_done(struct mblk_open_req *req, mblk_dev *dev)
{
	if (req->finished)
		return;
	if (req->flags & MBLK_OPEN_RDONLY)
		mblk_dev_info(dev)->read_write = false;
	if (!(req->flags & MBLK_OPEN_NO_SAFE)) {
		mblk_dev *safe;
		int r = mblk_safe_wrap(dev, &safe);
		if (r < 0) {
			mblk_close(dev, NULL, NULL);
			mblk_open_fail_last(req, r);
			return;
		}
		dev = safe;
	}
	req->status = 0;
	req->dev = dev;
	open_finish(req);
}

/* The names of every scheme this mblk knows, for the parser: built in,
 * registered and left out by the build. */
static const char **scheme_names(void)
{
	int n = 0;
	while (mblk_scheme_at(n) != NULL)
		n++;
	int m = 0;
	while (mblk__missing_schemes[m].name != NULL)
		m++;
	const char **names = calloc((size_t)(n + m + 1), sizeof(*names));
	if (names == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
		names[i] = mblk_scheme_at(i)->name;
	for (int i = 0; i < m; i++)
		names[n + i] = mblk__missing_schemes[i].name;
	return names;
}

int mblk_open(uv_loop_t *loop, const char *uri, unsigned flags, mblk_open_cb cb,
	      void *data)
{
	if (loop == NULL || cb == NULL)
		return mblk_set_error(-EINVAL, "mblk_open: the loop and the "
					       "callback must not be NULL");
	struct mblk_open_req *req = calloc(1, sizeof(*req));
	if (req == NULL)
		return mblk_set_error(-ENOMEM, "mblk_open: no memory");
	req->loop = loop;
	req->flags = flags;
	req->cb = cb;
	req->data = data;
	req->text = uri ? strdup(uri) : NULL;
	if (uri != NULL && req->text == NULL) {
		free(req);
		return mblk_set_error(-ENOMEM, "mblk_open: no memory");
	}
	uv_timer_init(loop, &req->timer);
	req->timer.data = req;

	const char **names = scheme_names();
	if (names == NULL) {
		mblk_open_fail(req, -ENOMEM, "mblk_open: no memory");
		return 0;
	}
	req->in_opener = true;
	int r = mblk__uri_parse(req->text, names, &req->uri);
	free(names);
	if (r < 0) {
		mblk_open_fail_last(req, r);
		req->in_opener = false;
		return 0;
	}
	req->parsed = true;
	const struct mblk_scheme *s = mblk__scheme_find(req->uri.scheme);
	if (s == NULL) {
		const char *why = mblk__scheme_missing(req->uri.scheme);
		mblk_open_fail(req, -ENOTSUP,
			       "'%s': the %s device is not built into this "
			       "mblk%s%s",
			       req->text, req->uri.scheme, why ? ": " : "",
			       why ? why : "");
	} else {
		req->uri.keys = s->keys;
		s->open(req, &req->uri);
	}
	req->in_opener = false;
	return 0;
}

/* ------------------------------------------------------------------ */
/* mblk_open_sync                                                      */

/* On the heap: given up on (see below), it may still be called. */
struct open_waiter {
	bool done, abandoned;
	int status;
	mblk_dev *dev;
};

static void open_sync_cb(void *data, int status, mblk_dev *dev,
			 const char *error)
{
	struct open_waiter *w = data;
	if (w->abandoned) {
		if (dev != NULL)
			mblk_close(dev, NULL, NULL);
		free(w);
		return;
	}
	w->done = true;
	w->status = status;
	w->dev = dev;
	if (status < 0)
		mblk_set_error(status, "%s", error);
}

int mblk_open_sync(uv_loop_t *loop, const char *uri, unsigned flags,
		   mblk_dev **devp)
{
	if (devp == NULL)
		return mblk_set_error(-EINVAL, "mblk_open_sync: devp must not "
					       "be NULL");
	struct open_waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return mblk_set_error(-ENOMEM, "mblk_open_sync: no memory");
	int r = mblk_open(loop, uri, flags, open_sync_cb, w);
	if (r < 0) {
		free(w);
		return r;
	}
	while (!w->done)
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !w->done) {
			w->abandoned = true;
			return mblk_set_error(-EIO,
					      "'%s': the open is still under "
					      "way but left nothing on the loop "
					      "that could finish it (a bug in "
					      "the device)",
					      uri);
		}
	r = w->status;
	if (r == 0)
		*devp = w->dev;
	free(w);
	return r;
}
