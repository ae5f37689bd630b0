/* mirror_uri.c - opening a mirror by URI.
 *
 *   mirror:?primary=[URI]&secondary=[URI][&buffer=SIZE][&chunk=SIZE]
 *          [&rate=SIZE][&share=PERCENT][&on-error=stop|retry][&retries=N]
 *          [&pivot-timeout-ms=N]
 *          [&secondary-zero=1][&in-sync=1][&active=1]
 *
 * The two devices are whole URIs given as values, best in brackets, which
 * take them as they are (docs/uri.md); percent-encoded values work too.
 * rate is bytes per second (64M = 64 MiB/s). Both devices are opened at
 * once, without `safe` (the mirror is wrapped as a whole); when one fails
 * the other is closed. Opened with MBLK_OPEN_RDONLY, a mirror is only
 * looked at (mblk info, map, compare): the primary alone is opened and
 * served, and the secondary is neither opened nor copied to, since
 * looking must not write. docs/decorators/mirror.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>
#include <mblk/mirror.h>

/* Both children opening; the options wait here. */
struct mirror_open {
	struct mblk_open_req *req;
	struct mblk_mirror_opts o;
	mblk_dev *p, *s;
	int pending;
	bool look_only; /* MBLK_OPEN_RDONLY: the primary alone */
	int status;     /* the first failure */
	char msg[MBLK_MSG_MAX * 2];
};

static void mirror_child_opened(struct mirror_open *mo, mblk_dev **slot,
				int status, mblk_dev *dev, const char *error)
{
	if (status < 0 && mo->status == 0) {
		mo->status = status;
		snprintf(mo->msg, sizeof(mo->msg), "%s", error);
	}
	*slot = dev;
	if (--mo->pending > 0)
		return;
	struct mblk_open_req *req = mo->req;
	mblk_dev *m;
	int r = mo->status;
	if (r == 0 && mo->look_only) {
		mblk_open_done(req, mo->p);
		free(mo);
		return;
	}
	if (r == 0) {
		r = mblk_mirror_open(mo->p, mo->s, &mo->o, NULL, NULL, &m);
		if (r < 0)
			snprintf(mo->msg, sizeof(mo->msg), "%s",
				 mblk_last_error());
	}
	if (r < 0) {
		mblk_close(mo->p, NULL, NULL);
		mblk_close(mo->s, NULL, NULL);
		mblk_open_fail(req, r, "%s", mo->msg);
	} else {
		mblk_open_done(req, m);
	}
	free(mo);
}

static void mirror_primary_opened(void *data, int status, mblk_dev *dev,
				  const char *error)
{
	struct mirror_open *mo = data;
	mirror_child_opened(mo, &mo->p, status, dev, error);
}

static void mirror_secondary_opened(void *data, int status, mblk_dev *dev,
				    const char *error)
{
	struct mirror_open *mo = data;
	mirror_child_opened(mo, &mo->s, status, dev, error);
}

static int mirror_open_start(struct mblk_open_req *req, struct mblk_uri *u)
{
	struct mblk_mirror_opts o = { 0 };
	uint64_t retries = 0, share = 0;
	bool scan = true;
	const char *text = mblk_uri_text(u);
	int r;

	const char *pu = mblk_uri_get(u, "primary");
	const char *su = mblk_uri_get(u, "secondary");
	const char *oe = mblk_uri_get(u, "on-error");
	if ((r = mblk_uri_get_size(u, "buffer", &o.buffer_bytes)) < 0 ||
	    (r = mblk_uri_get_size(u, "chunk", &o.chunk_bytes)) < 0 ||
	    (r = mblk_uri_get_size(u, "rate", &o.rate)) < 0 ||
	    (r = mblk_uri_get_size(u, "copy-write", &o.copy_write_bytes)) < 0 ||
	    (r = mblk_uri_get_uint(u, "retries", &retries)) < 0 ||
	    (r = mblk_uri_get_uint(u, "share", &share)) < 0 ||
	    (r = mblk_uri_get_bool(u, "secondary-zero", &o.secondary_is_zero)) <
		    0 ||
	    (r = mblk_uri_get_bool(u, "in-sync", &o.secondary_in_sync)) < 0 ||
	    (r = mblk_uri_get_bool(u, "scan", &scan)) < 0 ||
	    (r = mblk_uri_get_bool(u, "active", &o.active)) < 0 ||
	    (r = mblk_uri_get_uint(u, "pivot-timeout-ms",
				   &o.pivot_timeout_ms)) < 0 ||
	    (r = mblk_uri_finish(u)) < 0)
		return r;
	if (mblk_uri_path(u)[0] != '\0' || pu == NULL || su == NULL || !*pu ||
	    !*su)
		return mblk_set_error(-EINVAL,
				      "URI '%s': write a mirror as "
				      "mirror:?primary=[URI]&secondary=[URI] "
				      "(the URIs in brackets, as they are)",
				      text);
	if (oe == NULL || strcmp(oe, "stop") == 0)
		o.on_error = MBLK_MIRROR_STOP;
	else if (strcmp(oe, "retry") == 0)
		o.on_error = MBLK_MIRROR_RETRY;
	else
		return mblk_set_error(-EINVAL,
				      "on-error=%s in URI '%s': use stop or "
				      "retry",
				      oe, text);
	o.no_scan = !scan;
	if (share > 100 || (share == 0 && mblk_uri_get(u, "share") != NULL))
		return mblk_set_error(-EINVAL,
				      "share=%llu in URI '%s': give the copy's "
				      "share of a busy device's time, 1 to "
				      "100 (percent)",
				      (unsigned long long)share, text);
	o.copy_share = (unsigned)share;
	if (retries > 1000000000u)
		retries = 1000000000u;
	o.retries = (unsigned)retries;
	if (o.on_error == MBLK_MIRROR_RETRY && retries == 0)
		o.retries = 3;

	struct mirror_open *mo = calloc(1, sizeof(*mo));
	if (mo == NULL)
		return mblk_set_error(-ENOMEM, "mirror: no memory");
	mo->req = req;
	mo->o = o;
	mo->pending = 2;
	uv_loop_t *loop = mblk_open_req_loop(req);
	unsigned flags = mblk_open_req_flags(req);
	mo->look_only = (flags & MBLK_OPEN_RDONLY) != 0;
	if (mo->look_only)
		mo->pending = 1;
	r = mblk_open(loop, pu, flags | MBLK_OPEN_NO_SAFE,
		      mirror_primary_opened, mo);
	if (r < 0) {
		free(mo);
		return r;
	}
	if (mo->look_only)
		return 0;
	r = mblk_open(loop, su, (flags & ~MBLK_OPEN_RDONLY) | MBLK_OPEN_NO_SAFE,
		      mirror_secondary_opened, mo);
	if (r < 0) /* the primary's callback finishes the request */
		mirror_child_opened(mo, &mo->s, r, NULL, mblk_last_error());
	return 0;
}

static void mirror_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	int r = mirror_open_start(req, u);
	if (r < 0)
		mblk_open_fail_last(req, r);
}

static const struct mblk_uri_key mirror_keys[] = {
	{ "primary", "URI", "the device served and copied (required)" },
	{ "secondary", "URI", "the device copied onto (required)" },
	{ "buffer", "size", "memory for copying (default 16M)" },
	{ "chunk", "size",
	  "tracking granularity, a power of two (default 64K)" },
	{ "rate", "size", "copy at most this many bytes per second" },
	{ "copy-write", "size",
	  "the largest write the copy makes on the secondary (default: "
	  "whole extents)" },
	{ "share", "percent",
	  "while the device is in use, the copy's share of the time (1-100, "
	  "default 100: never rest)" },
	{ "on-error", "stop|retry", "when copying fails (default stop)" },
	{ "retries", "number", "with on-error=retry: failures allowed (3)" },
	{ "secondary-zero", "bool",
	  "the secondary reads as zeros: holes need no writing" },
	{ "in-sync", "bool",
	  "trust that the secondary equals the primary already" },
	{ "scan", "bool",
	  "0: skip the first walk of the primary's extents (default 1)" },
	{ "active", "bool",
	  "1: start in active mode, writes to both devices (default 0)" },
	{ "pivot-timeout-ms", "number",
	  "the longest a pivot may take, in ms (default 30000)" },
	{ NULL, NULL, NULL },
};

const struct mblk_scheme mblk__scheme_mirror = {
	.name = "mirror",
	.syntax = "mirror:?primary=[URI]&secondary=[URI][&key=value...]",
	.summary = "serve the primary while copying it onto the secondary",
	.keys = mirror_keys,
	.open = mirror_open_uri,
};
