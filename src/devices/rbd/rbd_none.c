/* rbd_none.c - mblk_rbd_create in an mblk built without librbd: the
 * entry point exists whatever the build, so programs (the mblk command)
 * link the same way and are told at run time. */
#include <errno.h>

#include <mblk/rbd.h>
#include <mblk/backend.h>

int mblk_rbd_create(const char *uri, uint64_t size)
{
	(void)size;
	return mblk_set_error(-ENOTSUP,
			      "'%s': this mblk was built without librbd (the "
			      "rbd device needs librbd-dev at build time)",
			      uri);
}
