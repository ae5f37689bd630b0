/* error.c - errno texts and the thread-local last-error sentence.
 *
 * Control-path calls (open, the ram registry, the sync helpers) leave
 * their sentence here, as libnbd's nbd_get_error does; completions carry
 * their own with the status.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

static _Thread_local char last_error[1024];

const char *mblk_strerror(int err)
{
	static _Thread_local char buf[128];
	if (err < 0)
		err = -err;
	/* strerror_r (GNU) may return a static string or fill buf. */
	return strerror_r(err, buf, sizeof(buf));
}

const char *mblk_last_error(void)
{
	return last_error;
}

void mblk__vset_error(const char *fmt, va_list ap)
{
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
}

int mblk_set_error(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mblk__vset_error(fmt, ap);
	va_end(ap);
	return err;
}

const char *mblk_version(void)
{
	return MBLK_VERSION_STRING;
}
