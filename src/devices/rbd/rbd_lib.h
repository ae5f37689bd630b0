/* rbd_lib.h - librados and librbd, loaded when the first rbd: device
 * opens (not installed).
 *
 * libmblk does not link against Ceph's libraries: they and what they
 * pull in (libceph-common, libstdc++, ...) cost every process that loads
 * libmblk ~14 MiB of resident memory and ~20k relocations at start-up,
 * `mblk info ram:` included (24 MiB RSS linked, see docs/devices/rbd.md).
 * Instead mblk__rbd_lib_load dlopens them by their SONAMEs on the first
 * connect and fills a table of the functions the device calls; the
 * macros below send every call through it, so the device's code reads
 * as plain librados/librbd calls. The headers (librbd-dev) are still
 * needed to build. qemu loads its rbd block driver the same way, as a
 * module.
 */
#ifndef MBLK_RBD_LIB_H
#define MBLK_RBD_LIB_H

#include <stddef.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

/* Every function the device calls: X(name). */
#define MBLK__RBD_FUNCS(X)             \
	X(rados_create)                \
	X(rados_conf_read_file)        \
	X(rados_conf_set)              \
	X(rados_conf_get)              \
	X(rados_connect)               \
	X(rados_shutdown)              \
	X(rados_ioctx_create)          \
	X(rados_ioctx_destroy)         \
	X(rados_ioctx_set_namespace)   \
	X(rbd_namespace_exists)        \
	X(rbd_open)                    \
	X(rbd_open_read_only)          \
	X(rbd_close)                   \
	X(rbd_stat)                    \
	X(rbd_get_size)                \
	X(rbd_get_features)            \
	X(rbd_get_flags)               \
	X(rbd_resize)                  \
	X(rbd_create4)                 \
	X(rbd_image_options_create)    \
	X(rbd_image_options_destroy)   \
	X(rbd_lock_acquire)            \
	X(rbd_lock_get_owners)         \
	X(rbd_lock_get_owners_cleanup) \
	X(rbd_list_lockers)            \
	X(rbd_diff_iterate2)           \
	X(rbd_aio_create_completion)   \
	X(rbd_aio_release)             \
	X(rbd_aio_get_return_value)    \
	X(rbd_aio_readv)               \
	X(rbd_aio_writev)              \
	X(rbd_aio_write_zeroes)        \
	X(rbd_aio_discard)             \
	X(rbd_aio_flush)

struct mblk__rbd_lib {
#define MBLK__RBD_MEMBER(fn) __typeof__(fn) *fn;
	MBLK__RBD_FUNCS(MBLK__RBD_MEMBER)
#undef MBLK__RBD_MEMBER
};

extern struct mblk__rbd_lib mblk__rbd;

/* Loads the libraries once (thread-safe). 0, or -ENOENT/-ENOSYS with a
 * sentence in msg (len bytes): which library or symbol is missing. */
int mblk__rbd_lib_load(char *msg, size_t len);

/* From here on, every call goes through the table. */
#ifndef MBLK__RBD_FUNCS_ONLY
#define rados_create (mblk__rbd.rados_create)
#define rados_conf_read_file (mblk__rbd.rados_conf_read_file)
#define rados_conf_set (mblk__rbd.rados_conf_set)
#define rados_conf_get (mblk__rbd.rados_conf_get)
#define rados_connect (mblk__rbd.rados_connect)
#define rados_shutdown (mblk__rbd.rados_shutdown)
#define rados_ioctx_create (mblk__rbd.rados_ioctx_create)
#define rados_ioctx_destroy (mblk__rbd.rados_ioctx_destroy)
#define rados_ioctx_set_namespace (mblk__rbd.rados_ioctx_set_namespace)
#define rbd_namespace_exists (mblk__rbd.rbd_namespace_exists)
#define rbd_open (mblk__rbd.rbd_open)
#define rbd_open_read_only (mblk__rbd.rbd_open_read_only)
#define rbd_close (mblk__rbd.rbd_close)
#define rbd_stat (mblk__rbd.rbd_stat)
#define rbd_get_size (mblk__rbd.rbd_get_size)
#define rbd_get_features (mblk__rbd.rbd_get_features)
#define rbd_get_flags (mblk__rbd.rbd_get_flags)
#define rbd_resize (mblk__rbd.rbd_resize)
#define rbd_create4 (mblk__rbd.rbd_create4)
#define rbd_image_options_create (mblk__rbd.rbd_image_options_create)
#define rbd_image_options_destroy (mblk__rbd.rbd_image_options_destroy)
#define rbd_lock_acquire (mblk__rbd.rbd_lock_acquire)
#define rbd_lock_get_owners (mblk__rbd.rbd_lock_get_owners)
#define rbd_lock_get_owners_cleanup (mblk__rbd.rbd_lock_get_owners_cleanup)
#define rbd_list_lockers (mblk__rbd.rbd_list_lockers)
#define rbd_diff_iterate2 (mblk__rbd.rbd_diff_iterate2)
#define rbd_aio_create_completion (mblk__rbd.rbd_aio_create_completion)
#define rbd_aio_release (mblk__rbd.rbd_aio_release)
#define rbd_aio_get_return_value (mblk__rbd.rbd_aio_get_return_value)
#define rbd_aio_readv (mblk__rbd.rbd_aio_readv)
#define rbd_aio_writev (mblk__rbd.rbd_aio_writev)
#define rbd_aio_write_zeroes (mblk__rbd.rbd_aio_write_zeroes)
#define rbd_aio_discard (mblk__rbd.rbd_aio_discard)
#define rbd_aio_flush (mblk__rbd.rbd_aio_flush)
#endif

#endif
