/* rbd_uri.c - the rbd: scheme: its keys, the asynchronous open, the URI
 * that reopens a device, and mblk_rbd_create.
 *
 *   rbd:POOL/IMAGE[@SNAP][?key=value&...]
 *   rbd:POOL/NAMESPACE/IMAGE[@SNAP][?...]      (qemu's spelling)
 *
 * Design notes. Connecting to a cluster blocks for a monitor handshake
 * and more (seconds on a busy cluster, the timeout key's bound on a dead
 * one), so the opener copies what the URI says into a struct rbduri_open
 * and does the connect and the image open on libuv's pool
 * (uv_queue_work); the loop then makes the device (rbd_io.c) and
 * finishes the open request. A failure's sentence is built on the pool
 * thread into the struct (the thread-local last error is the loop's) and
 * given to mblk_open_fail on the loop. If the device cannot be made
 * after the image was opened, the connection is torn down on the pool
 * too before the open fails: nothing blocks the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/rbd.h>

#include "../../core/uri.h"
#include "rbd_int.h"

static const struct mblk_uri_key rbduri_keys[] = {
	{ "namespace", "name",
	  "the RADOS namespace in the pool (default: none)" },
	{ "conf", "path",
	  "ceph.conf to read (default: CEPH_CONF, else librados's search)" },
	{ "id", "name", "client name without 'client.' (default admin)" },
	{ "keyring", "path",
	  "keyring holding the client's key (default: from ceph.conf)" },
	{ "mon-host", "addrs",
	  "monitor addresses, overriding ceph.conf's mon host" },
	{ "cache", "bool",
	  "librbd's cache (rbd_cache), set either way (default off)" },
	{ "read-only", "bool",
	  "open read-only, without the exclusive lock (default off)" },
	{ "timeout", "seconds",
	  "bound on connecting and on each I/O; 0: Ceph's (default 30)" },
	{ NULL, NULL, NULL },
};

void mblk__rbd_params_free(struct mblk__rbd_params *p)
{
	free(p->pool);
	free(p->ns);
	free(p->image);
	free(p->snap);
	free(p->conf);
	free(p->id);
	free(p->keyring);
	free(p->mon_host);
	memset(p, 0, sizeof(*p));
}

int mblk__rbd_name(const struct mblk__rbd_params *p, char *buf, size_t len)
{
	return snprintf(buf, len, "rbd:%s/%s%s%s%s%s", p->pool,
			p->ns != NULL ? p->ns : "", p->ns != NULL ? "/" : "",
			p->image, p->snap != NULL ? "@" : "",
			p->snap != NULL ? p->snap : "");
}

/* A copy of s, or of NULL; false when out of memory. */
static bool rbduri_dup(char **to, const char *s)
{
	*to = s != NULL ? strdup(s) : NULL;
	return s == NULL || *to != NULL;
}

/* POOL/IMAGE[@SNAP] or POOL/NS/IMAGE[@SNAP] into p. */
static int rbduri_parse_path(const char *text, const char *path,
			     struct mblk__rbd_params *p)
{
	char *copy = strdup(path);
	if (copy == NULL)
		return mblk_set_error(-ENOMEM, "no memory to parse '%s'", text);
	char *slash1 = strchr(copy, '/');
	char *slash2 = slash1 != NULL ? strchr(slash1 + 1, '/') : NULL;
	char *last = slash2 != NULL ? slash2 : slash1;
	char *at = last != NULL ? strchr(last + 1, '@') : NULL;
	bool ok = slash1 != NULL &&
		  (slash2 == NULL || !strchr(slash2 + 1, '/'));
	if (ok) {
		*slash1 = '\0';
		if (slash2 != NULL)
			*slash2 = '\0';
		if (at != NULL)
			*at = '\0';
		const char *image = last + 1;
		ok = copy[0] != '\0' && image[0] != '\0' &&
		     (slash2 == NULL || slash1[1] != '\0') &&
		     (at == NULL || at[1] != '\0');
		if (ok && (!rbduri_dup(&p->pool, copy) ||
			   !rbduri_dup(&p->ns, slash2 ? slash1 + 1 : NULL) ||
			   !rbduri_dup(&p->image, image) ||
			   !rbduri_dup(&p->snap, at ? at + 1 : NULL))) {
			free(copy);
			return mblk_set_error(-ENOMEM,
					      "no memory to parse '%s'", text);
		}
	}
	free(copy);
	if (!ok)
		return mblk_set_error(-EINVAL,
				      "'%s': an rbd: URI names an image as "
				      "POOL/IMAGE, POOL/IMAGE@SNAPSHOT or "
				      "POOL/NAMESPACE/IMAGE, not '%s'",
				      text, path);
	return 0;
}

int mblk__rbd_params_from_uri(struct mblk_uri *u, struct mblk__rbd_params *p)
{
	const char *text = mblk_uri_text(u);
	memset(p, 0, sizeof(*p));
	p->text = text;
	p->timeout = MBLK__RBD_TIMEOUT_DEFAULT;
	int r = rbduri_parse_path(text, mblk_uri_path(u), p);
	if (r < 0)
		goto fail;
	const char *ns = mblk_uri_get(u, "namespace");
	if (ns != NULL && p->ns != NULL && strcmp(ns, p->ns) != 0) {
		r = mblk_set_error(-EINVAL,
				   "'%s' names namespace '%s' in its path and "
				   "'%s' with the namespace key: give one",
				   text, p->ns, ns);
		goto fail;
	}
	const char *id = mblk_uri_get(u, "id");
	if (id != NULL && strncmp(id, "client.", 7) == 0)
		id += 7;
	if (id != NULL && id[0] == '\0') {
		r = mblk_set_error(-EINVAL, "id= in URI '%s' is empty", text);
		goto fail;
	}
	if ((p->ns == NULL && ns != NULL && ns[0] != '\0' &&
	     !rbduri_dup(&p->ns, ns)) ||
	    !rbduri_dup(&p->conf, mblk_uri_get(u, "conf")) ||
	    !rbduri_dup(&p->id, id) ||
	    !rbduri_dup(&p->keyring, mblk_uri_get(u, "keyring")) ||
	    !rbduri_dup(&p->mon_host, mblk_uri_get(u, "mon-host"))) {
		r = mblk_set_error(-ENOMEM, "no memory to parse '%s'", text);
		goto fail;
	}
	if ((r = mblk_uri_get_bool(u, "cache", &p->cache)) < 0 ||
	    (r = mblk_uri_get_bool(u, "read-only", &p->read_only)) < 0 ||
	    (r = mblk_uri_get_uint(u, "timeout", &p->timeout)) < 0)
		goto fail;
	if (p->timeout > 86400) {
		r = mblk_set_error(-EINVAL,
				   "timeout=%" PRIu64 " in URI '%s': at most "
				   "86400 seconds (0: Ceph's own bounds)",
				   p->timeout, text);
		goto fail;
	}
	if ((r = mblk_uri_finish(u)) < 0)
		goto fail;
	return 0;
fail:
	mblk__rbd_params_free(p);
	return r;
}

/* Appends "&key=value" (value percent-encoded) at *pos in buf; counts
 * what does not fit, like snprintf. */
static void rbduri_put(char *buf, size_t len, size_t *pos, const char *sep,
		       const char *key, const char *value)
{
	char *enc = mblk_uri_encode(value, "/");
	int n = snprintf(*pos < len ? buf + *pos : NULL,
			 *pos < len ? len - *pos : 0, "%s%s%s%s", sep,
			 key != NULL ? key : "", key != NULL ? "=" : "",
			 enc != NULL ? enc : "");
	free(enc);
	if (n > 0)
		*pos += (size_t)n;
}

int mblk__rbd_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	const struct mblk__rbd_dev *d = mblk_dev_priv(dev);
	const struct mblk__rbd_params *p = &d->p;
	char timeout[32];
	size_t pos = 0;
	if (len > 0)
		buf[0] = '\0';
	rbduri_put(buf, len, &pos, "rbd:", NULL, p->pool);
	rbduri_put(buf, len, &pos, "/", NULL, p->image);
	if (p->snap != NULL)
		rbduri_put(buf, len, &pos, "@", NULL, p->snap);
	rbduri_put(buf, len, &pos, "?", "id", p->id ? p->id : "admin");
	if (p->ns != NULL)
		rbduri_put(buf, len, &pos, "&", "namespace", p->ns);
	if (p->conf != NULL)
		rbduri_put(buf, len, &pos, "&", "conf", p->conf);
	if (p->keyring != NULL)
		rbduri_put(buf, len, &pos, "&", "keyring", p->keyring);
	if (p->mon_host != NULL)
		rbduri_put(buf, len, &pos, "&", "mon-host", p->mon_host);
	/* Booleans as 0 and 1, as the file device prints them. */
	rbduri_put(buf, len, &pos, "&", "cache", p->cache ? "1" : "0");
	rbduri_put(buf, len, &pos, "&", "read-only",
		   mblk_dev_info(dev)->read_write ? "0" : "1");
	snprintf(timeout, sizeof(timeout), "%" PRIu64, p->timeout);
	rbduri_put(buf, len, &pos, "&", "timeout", timeout);
	return (int)pos;
}

/* ---- the asynchronous open ---------------------------------------- */

struct rbduri_open {
	uv_work_t work;
	struct mblk_open_req *req;
	struct mblk__rbd_params p;
	struct mblk__rbd_conn c;
	bool rdonly;
	int status;
	char msg[MBLK_MSG_MAX];
};

static void rbduri_open_free(struct rbduri_open *o)
{
	mblk__rbd_params_free(&o->p);
	free(o);
}

/* On the pool: connect, open the image, take the lock. */
static void rbduri_open_work(uv_work_t *w)
{
	struct rbduri_open *o = w->data;
	o->status = mblk__rbd_connect(&o->p, &o->c, o->msg, sizeof(o->msg));
	if (o->status < 0)
		return;
	o->status = mblk__rbd_open_image(&o->p, &o->c, o->rdonly, o->msg,
					 sizeof(o->msg));
	if (o->status < 0)
		mblk__rbd_teardown(&o->c);
}

static void rbduri_teardown_work(uv_work_t *w)
{
	struct rbduri_open *o = w->data;
	mblk__rbd_teardown(&o->c);
}

static void rbduri_open_failed(uv_work_t *w, int status)
{
	(void)status;
	struct rbduri_open *o = w->data;
	mblk_open_fail(o->req, o->status, "%s", o->msg);
	rbduri_open_free(o);
}

static void rbduri_open_after(uv_work_t *w, int status)
{
	struct rbduri_open *o = w->data;
	uv_loop_t *loop = mblk_open_req_loop(o->req);
	if (status < 0 && o->status == 0) { /* cancelled: never ran */
		char name[256];
		mblk__rbd_name(&o->p, name, sizeof(name));
		o->status = status;
		snprintf(o->msg, sizeof(o->msg), "%s: the open was cancelled",
			 name);
	}
	if (o->status < 0) {
		rbduri_open_failed(w, 0);
		return;
	}
	mblk_dev *dev;
	int r = mblk__rbd_dev_create(loop, &o->p, &o->c, o->rdonly, &dev);
	if (r == 0) {
		mblk_open_done(o->req, dev);
		rbduri_open_free(o);
		return;
	}
	o->status = r;
	snprintf(o->msg, sizeof(o->msg), "%s", mblk_last_error());
	if (uv_queue_work(loop, &o->work, rbduri_teardown_work,
			  rbduri_open_failed) < 0) {
		mblk__rbd_teardown(&o->c); /* only with a broken loop */
		rbduri_open_failed(w, 0);
	}
}

static void rbduri_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	struct rbduri_open *o = calloc(1, sizeof(*o));
	if (o == NULL) {
		mblk_open_fail(req, -ENOMEM, "'%s': no memory to open it",
			       mblk_uri_text(u));
		return;
	}
	int r = mblk__rbd_params_from_uri(u, &o->p);
	if (r < 0) {
		free(o);
		mblk_open_fail_last(req, r);
		return;
	}
	o->req = req;
	o->rdonly = (mblk_open_req_flags(req) & MBLK_OPEN_RDONLY) != 0;
	o->work.data = o;
	r = uv_queue_work(mblk_open_req_loop(req), &o->work, rbduri_open_work,
			  rbduri_open_after);
	if (r < 0) {
		mblk_open_fail(req, r, "'%s': cannot queue the connect: %s",
			       mblk_uri_text(u), uv_strerror(r));
		rbduri_open_free(o);
	}
}

const struct mblk_scheme mblk__scheme_rbd = {
	.name = "rbd",
	.syntax = "rbd:POOL/IMAGE[@SNAP][?key=value...]",
	.summary = "a Ceph RBD image, through librbd",
	.keys = rbduri_keys,
	.open = rbduri_open_uri,
};

/* ---- mblk_rbd_create ---------------------------------------------- */

int mblk_rbd_create(const char *uri, uint64_t size)
{
	static const char *const known[] = { "rbd", NULL };
	struct mblk_uri u;
	int r = mblk__uri_parse(uri, known, &u);
	if (r < 0)
		return r;
	if (strcmp(u.scheme, "rbd") != 0) {
		mblk__uri_free(&u);
		return mblk_set_error(-EINVAL,
				      "'%s' is not an rbd: URI (rbd:POOL/IMAGE)",
				      uri);
	}
	u.keys = rbduri_keys;
	struct mblk__rbd_params p;
	r = mblk__rbd_params_from_uri(&u, &p);
	if (r < 0) {
		mblk__uri_free(&u);
		return r;
	}
	char name[256], msg[MBLK_MSG_MAX];
	mblk__rbd_name(&p, name, sizeof(name));
	if (p.snap != NULL) {
		r = mblk_set_error(-EINVAL,
				   "%s: a snapshot is made from an image "
				   "('rbd snap create'), not created",
				   name);
		goto out;
	}
	struct mblk__rbd_conn c;
	r = mblk__rbd_connect(&p, &c, msg, sizeof(msg));
	if (r < 0) {
		mblk_set_error(r, "%s", msg);
		goto out;
	}
	rbd_image_options_t opts;
	rbd_image_options_create(&opts);
	r = rbd_create4(c.ioctx, p.image, size, opts);
	rbd_image_options_destroy(opts);
	if (r == -EEXIST)
		mblk_set_error(r,
			       "%s: image '%s' already exists in pool '%s': "
			       "mblk create does not replace an image",
			       name, p.image, p.pool);
	else if (r < 0)
		mblk_set_error(r, "%s: cannot create the image: %s", name,
			       strerror(-r));
	mblk__rbd_teardown(&c);
out:
	mblk__rbd_params_free(&p);
	mblk__uri_free(&u);
	return r;
}
