/* rbd_lib.c - loading librados and librbd on first use (rbd_lib.h).
 *
 * This file includes the Ceph headers but not rbd_lib.h's macros: it
 * names the real functions only as strings, for dlsym. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

/* The table's layout, without the macros that redirect the calls. */
#define MBLK__RBD_FUNCS_ONLY
#include "rbd_lib.h"

struct mblk__rbd_lib mblk__rbd;

/* The libraries by SONAME: Ceph has kept these since 2013. */
static const char *const rbdlib_names[2] = { "librados.so.2", "librbd.so.1" };

static pthread_once_t rbdlib_once = PTHREAD_ONCE_INIT;
static int rbdlib_status;
static char rbdlib_msg[320];

static void rbdlib_load_once(void)
{
	void *h[2];
	for (int i = 0; i < 2; i++) {
		h[i] = dlopen(rbdlib_names[i], RTLD_NOW | RTLD_LOCAL);
		if (h[i] == NULL) {
			snprintf(rbdlib_msg, sizeof(rbdlib_msg),
				 "cannot load %s, which rbd: devices need (on "
				 "Debian: apt-get install librbd1): %s",
				 rbdlib_names[i], dlerror());
			rbdlib_status = -ENOENT;
			return;
		}
	}
	void *p;
#define RBDLIB_SYM(fn)                                                     \
	p = dlsym(strncmp(#fn, "rados_", 6) == 0 ? h[0] : h[1], #fn);      \
	if (p == NULL) {                                                   \
		snprintf(rbdlib_msg, sizeof(rbdlib_msg),                   \
			 "%s has no %s: librbd or librados is older than " \
			 "the one mblk was built with",                    \
			 strncmp(#fn, "rados_", 6) == 0 ? rbdlib_names[0]  \
							: rbdlib_names[1], \
			 #fn);                                             \
		rbdlib_status = -ENOSYS;                                   \
		return;                                                    \
	}                                                                  \
	memcpy(&mblk__rbd.fn, &p, sizeof(p));
	MBLK__RBD_FUNCS(RBDLIB_SYM)
#undef RBDLIB_SYM
}

int mblk__rbd_lib_load(char *msg, size_t len)
{
	pthread_once(&rbdlib_once, rbdlib_load_once);
	if (rbdlib_status < 0)
		snprintf(msg, len, "%s", rbdlib_msg);
	return rbdlib_status;
}
