/* open.c - mblk_open: from a URI to a device stack.
 *
 * One table maps each scheme to its opener; every device opened here is
 * then wrapped in `safe` unless the caller opts out. Adding a device is
 * one line in schemes[] and its opener.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core.h"
#include "uri.h"

struct scheme {
	const char *name;
	int (*open)(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
		    mblk_dev **devp);
};

static const struct scheme schemes[] = {
	{ "ram", mblk__open_ram_uri },
	{ "fault", mblk__open_fault_uri },
	{ "mirror", mblk__open_mirror_uri },
	{ "file", mblk__open_file_uri },
	{ "buffered",
	  mblk__open_file_buffered_uri }, /* upstream's legacy prefix */
};

#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

int mblk_open(uv_loop_t *loop, const char *uri, unsigned flags, mblk_dev **devp)
{
	const char *names[NSCHEMES + 1];
	size_t n = 0;
	for (size_t i = 0; i < NSCHEMES; i++)
		names[n++] = schemes[i].name;
	names[n] = NULL;

	if (loop == NULL || devp == NULL)
		return mblk_set_error(-EINVAL, "mblk_open: loop and devp must "
					       "not be NULL");
	struct mblk__uri u;
	int r = mblk__uri_parse(uri, names, &u);
	if (r < 0)
		return r;
	const struct scheme *s = NULL;
	for (size_t i = 0; i < NSCHEMES; i++)
		if (strcmp(schemes[i].name, u.scheme) == 0)
			s = &schemes[i];
	if (s == NULL) {
		r = mblk_set_error(-ENOTSUP,
				   "'%s': the %s device is not built into this "
				   "mblk",
				   uri, u.scheme);
		mblk__uri_free(&u);
		return r;
	}
	mblk_dev *dev;
	r = s->open(loop, &u, flags, &dev);
	mblk__uri_free(&u);
	if (r < 0)
		return r;
	/* Read-only for every scheme, whether or not its opener looks at
	 * the flag: the core then refuses write-like requests (-EROFS). */
	if (flags & MBLK_OPEN_RDONLY)
		mblk_dev_info(dev)->read_write = false;
	if (!(flags & MBLK_OPEN_NO_SAFE)) {
		mblk_dev *safe;
		r = mblk_safe_wrap(dev, &safe);
		if (r < 0) {
			mblk_close(dev, NULL, NULL);
			return r;
		}
		dev = safe;
	}
	*devp = dev;
	return 0;
}
