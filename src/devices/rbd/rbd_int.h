/* rbd_int.h - what the rbd device's files share (not installed).
 *
 * The device is split by what each part does:
 *
 *   rbd_uri.c      the rbd: scheme: keys, parsing POOL/IMAGE[@SNAP],
 *                  the asynchronous open (connect on libuv's pool),
 *                  mblk_get_uri
 *   rbd_conn.c     connecting to a cluster and opening an image, with one
 *                  sentence per way it fails (blocking: pool threads, or
 *                  mblk_rbd_create); mblk_rbd_create itself
 *   rbd_io.c       the data path: librbd's aio calls, completions carried
 *                  to the loop through one uv_async_t; resize, disconnect
 *   rbd_extents.c  the extents op, from rbd_diff_iterate2
 *
 * Threads. Everything here runs on the loop's thread except: librbd's
 * completion callback (rbd_io.c: rbd_aio_cb, on a librbd thread), and the
 * uv_work_t callbacks (connect, resize, extents, disconnect, on libuv's
 * pool). The only state those share with the loop is the completion list
 * and what a request or the open owns while it is on the other thread.
 */
#ifndef MBLK_RBD_INT_H
#define MBLK_RBD_INT_H

#include "rbd_lib.h" /* librados and librbd, through a table */

#include <mblk/backend.h>

/* Where the image is and how to reach it: what a URI says. Strings are
 * owned (NULL when the URI does not give them). */
struct mblk__rbd_params {
	char *pool, *ns, *image, *snap;
	char *conf, *id, *keyring, *mon_host;
	bool cache;       /* librbd's cache (rbd_cache), off by default */
	bool read_only;   /* the read-only key (a snapshot implies it) */
	uint64_t timeout; /* seconds; 0: Ceph's own bounds (none for I/O) */
	uint64_t size;    /* mblk_rbd_create's size (bytes), else unused */
	const char *text; /* the URI as given, for sentences (borrowed) */
};

/* The default of the timeout key, in seconds: a monitor that does not
 * answer, or an OSD that does not, fails the open or the I/O after this. */
#define MBLK__RBD_TIMEOUT_DEFAULT 30

/* A connection: cluster, pool (with namespace), and, once opened, the
 * image and what it is. */
struct mblk__rbd_conn {
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	bool have_cluster, have_ioctx, have_image;
	uint64_t size;     /* bytes */
	uint64_t obj_size; /* bytes per RADOS object */
	uint64_t features; /* RBD_FEATURE_* */
	bool locked;       /* holds the exclusive lock */
};

/* Fills p from u (path and keys); refuses unknown keys. 0 or -EINVAL
 * with the sentence in mblk_last_error(). */
struct mblk_uri;
int mblk__rbd_params_from_uri(struct mblk_uri *u, struct mblk__rbd_params *p);
void mblk__rbd_params_free(struct mblk__rbd_params *p);

/* "rbd:POOL[/NS]/IMAGE[@SNAP]": the name in every sentence. */
int mblk__rbd_name(const struct mblk__rbd_params *p, char *buf, size_t len);

/* Connects to the cluster and opens the pool (blocking, bounded by
 * p->timeout). 0, or -errno with one sentence in msg (len bytes) that
 * says which step failed and why; c is then torn down. */
int mblk__rbd_connect(const struct mblk__rbd_params *p,
		      struct mblk__rbd_conn *c, char *msg, size_t len);

/* After mblk__rbd_connect: opens the image (read-only when rdonly, or a
 * snapshot; otherwise takes its exclusive lock when it has the feature)
 * and reads its geometry. Same failure convention. */
int mblk__rbd_open_image(const struct mblk__rbd_params *p,
			 struct mblk__rbd_conn *c, bool rdonly, char *msg,
			 size_t len);

/* Closes what c holds (image, releasing the lock; pool; cluster).
 * Blocking: call it on a pool thread. */
void mblk__rbd_teardown(struct mblk__rbd_conn *c);

/* The device over an open connection (rbd_io.c): takes c over on
 * success. 0 or -errno with mblk_last_error() set; c untouched then. */
int mblk__rbd_dev_create(uv_loop_t *loop, struct mblk__rbd_params *p,
			 struct mblk__rbd_conn *c, bool rdonly,
			 mblk_dev **devp);

/* The device's state (priv), set up by mblk__rbd_dev_create. */
struct mblk__rbd_req;
struct mblk__rbd_dev {
	struct mblk__rbd_params p;
	struct mblk__rbd_conn c;
	mblk_dev *dev;
	/* Completions from librbd's threads, newest first; lock protects
	 * done_head and the uv_async_send that follows each push (so that
	 * once the lock is taken with nothing in flight, no librbd thread
	 * can still touch the handle: see rbd_disconnect). */
	uv_mutex_t lock;
	struct mblk__rbd_req *done_head;
	uv_async_t async;
	/* Requests handed to librbd and not yet completed (loop thread
	 * only): the async handle is referenced only while there are. */
	uint64_t aio_inflight;
	/* Disconnect: the request, and its work on the pool (rbd_close,
	 * rados_shutdown block). */
	mblk_req *disc_req;
	uv_work_t disc_work;
};

/* Per-request context (ops->req_ctx_size). */
struct mblk__rbd_req {
	struct mblk__rbd_req *next; /* in done_head's list */
	mblk_req *req;
	struct mblk__rbd_dev *d;
	ssize_t ret;    /* librbd's answer (rbd_aio_get_return_value) */
	uv_work_t work; /* resize, extents: the blocking call's work */
};

/* The extents op, and mblk_get_allocated (rbd_extents.c). */
void mblk__rbd_extents(mblk_dev *dev, mblk_req *req);
int mblk__rbd_get_allocated(mblk_dev *dev, uint64_t *bytes);

/* mblk_get_uri (rbd_uri.c). */
int mblk__rbd_get_uri(mblk_dev *dev, char *buf, size_t len);

#endif
