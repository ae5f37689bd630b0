/* mirror_uri.c - opening a mirror by URI.
 *
 *   mirror:?primary=<URI>&secondary=<URI>[&buffer=SIZE][&chunk=SIZE]
 *          [&rate=SIZE][&on-error=stop|retry][&retries=N]
 *          [&secondary-zero=1][&in-sync=1]
 *
 * The two devices are whole URIs given as values, so their own queries
 * cannot be confused with ours; their '&' and '%' must be percent-encoded
 * (%26, %25). rate is bytes per second (64M = 64 MiB/s). Both devices are
 * opened without `safe` (the mirror is wrapped as a whole). Opened with
 * MBLK_OPEN_RDONLY, a mirror is only looked at (mblk info, map, compare):
 * the primary alone is opened and served, and the secondary is neither
 * opened nor copied to, since looking must not write.
 * docs/decorators/mirror.md.
 */
#include <errno.h>
#include <string.h>

#include <mblk/backend.h>
#include <mblk/mirror.h>
#include "../../core/core.h"
#include "../../core/uri.h"

int mblk__open_mirror_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
			  mblk_dev **devp)
{
	struct mblk_mirror_opts o = { 0 };
	uint64_t retries = 0;
	int r;

	const char *pu = mblk__uri_get(u, "primary");
	const char *su = mblk__uri_get(u, "secondary");
	const char *oe = mblk__uri_get(u, "on-error");
	if ((r = mblk__uri_get_size(u, "buffer", &o.buffer_bytes)) < 0 ||
	    (r = mblk__uri_get_size(u, "chunk", &o.chunk_bytes)) < 0 ||
	    (r = mblk__uri_get_size(u, "rate", &o.rate)) < 0 ||
	    (r = mblk__uri_get_uint(u, "retries", &retries)) < 0 ||
	    (r = mblk__uri_get_bool(u, "secondary-zero",
				    &o.secondary_is_zero)) < 0 ||
	    (r = mblk__uri_get_bool(u, "in-sync", &o.secondary_in_sync)) < 0 ||
	    (r = mblk__uri_finish(u, "primary, secondary, buffer, chunk, "
				     "rate, on-error, retries, "
				     "secondary-zero, in-sync")) < 0)
		return r;
	if (u->path[0] != '\0' || pu == NULL || su == NULL || !*pu || !*su)
		return mblk_set_error(-EINVAL,
				      "URI '%s': write a mirror as "
				      "mirror:?primary=<URI>&secondary=<URI> "
				      "(with '&' inside them written %%26)",
				      u->text);
	if (oe == NULL || strcmp(oe, "stop") == 0)
		o.on_error = MBLK_MIRROR_STOP;
	else if (strcmp(oe, "retry") == 0)
		o.on_error = MBLK_MIRROR_RETRY;
	else
		return mblk_set_error(-EINVAL,
				      "on-error=%s in URI '%s': use stop or "
				      "retry",
				      oe, u->text);
	if (retries > 1000000000u)
		retries = 1000000000u;
	o.retries = (unsigned)retries;
	if (o.on_error == MBLK_MIRROR_RETRY && retries == 0)
		o.retries = 3;

	mblk_dev *p, *s;
	r = mblk_open(loop, pu, flags | MBLK_OPEN_NO_SAFE, &p);
	if (r < 0 || (flags & MBLK_OPEN_RDONLY)) {
		*devp = p;
		return r;
	}
	r = mblk_open(loop, su, (flags & ~MBLK_OPEN_RDONLY) | MBLK_OPEN_NO_SAFE,
		      &s);
	if (r < 0) {
		mblk_close(p, NULL, NULL);
		return r;
	}
	r = mblk_mirror_open(p, s, &o, NULL, NULL, devp);
	if (r < 0) {
		mblk_close(p, NULL, NULL);
		mblk_close(s, NULL, NULL);
	}
	return r;
}
