/* core.h - internals shared by the core's files (not installed).
 *
 * The device structure lives here so that dev.c (lifecycle, pool,
 * submission, completion), api.c (public entry points), sync.c and open.c
 * can share it; backends and decorators see only <mblk/backend.h>.
 */
#ifndef MBLK_CORE_H
#define MBLK_CORE_H

#include <mblk/backend.h>

/* The largest device: 2^63 bytes. */
#define MBLK__MAX_BYTES (1ull << 63)

enum mblk__state {
	MBLK__CONNECTED,
	MBLK__DISCONNECTING, /* waiting for requests in flight, or running */
	MBLK__DISCONNECTED,
};

struct mblk_dev {
	uv_loop_t *loop;
	const struct mblk_dev_ops *ops;
	void *priv;
	char *name;
	struct mblk_info info;
	mblk_dev *children[MBLK_DEV_MAX_CHILDREN];
	int nchildren;
	unsigned flags;

	enum mblk__state state;
	bool disc_running;   /* ops->disconnect has been called */
	uint64_t inflight;   /* submitted, not yet finished (not disconnects) */
	mblk_req *disc_wait; /* disconnect requests waiting for the drain */

	/* The request pool: a free list grown a slab at a time. */
	size_t req_size;
	mblk_req *free;
	void **slabs;
	size_t nslabs, slabs_cap;
	/* Two requests set aside at creation for close and its release
	 * step, so that closing never depends on malloc (alloc_reserved). */
	mblk_req *spare;
	void *spare_mem;

	/* Completions that happened inside a submission, delivered from the
	 * idle handle on the next loop iteration, in order. */
	mblk_req *defer_head, *defer_tail;
	uv_idle_t idle;
	bool idle_active;

	/* Closing. */
	bool closing;
	int children_open;
	mblk_cb close_cb;
	void *close_data;
	struct mblk__close_waiter *close_more; /* later mblk_close calls */
};

/* A second (third, ...) mblk_close while the first is under way: its
 * callback runs after the first's. */
struct mblk__close_waiter {
	mblk_cb cb;
	void *data;
	struct mblk__close_waiter *next;
};

/* How deep this thread is inside submission calls; completions while it
 * is non-zero are deferred to the loop. */
extern _Thread_local int mblk__submit_depth;

/* Starts a request that came from a public entry point (checks unless
 * the device checks itself). */
void mblk__submit_user(mblk_req *req, mblk_cb cb, mblk_seek_cb seek_cb,
		       void *data);

/* Formats into the thread's last-error buffer. */
void mblk__vset_error(const char *fmt, va_list ap);

/* Opening by URI: each scheme's opener (open.c dispatches). An opener
 * reads its keys, calls mblk__uri_finish, and returns 0 or -errno with
 * the last error set. */
struct mblk__uri;
int mblk__open_ram_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
		       mblk_dev **devp);
int mblk__open_fault_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
			 mblk_dev **devp);
int mblk__open_mirror_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
			  mblk_dev **devp);
int mblk__open_file_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
			mblk_dev **devp);
int mblk__open_file_buffered_uri(uv_loop_t *loop, struct mblk__uri *u,
				 unsigned flags, mblk_dev **devp);

#endif
