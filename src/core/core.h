/* core.h - internals shared by the core's files (not installed).
 *
 * The device structure and the core's part of every request live here so
 * that the core's files can share them; backends and decorators see only
 * <mblk/backend.h>.
 *
 *   pool.c      the per-device request pool
 *   submit.c    checks, dispatch, the default ops, user requests
 *   complete.c  completion, the deferred queue, FUA emulation
 *   derive.c    extents derived from seeks, and seeks from extents
 *   dev.c       creation, accessors, disconnect and close
 *   names.c     the names of operations and capabilities, descriptions
 *   api.c       the public entry points of <mblk.h>
 *   sync.c      the _sync helpers
 *   check.c     request validation shared with `safe`
 *   error.c     errno texts and the thread's last-error sentence
 *   uri.c       the URI grammar and its accessors
 *
 * Nothing here names a device: opening by URI, the scheme table and the
 * safe wrapper live in src/open/.
 */
#ifndef MBLK_CORE_H
#define MBLK_CORE_H

#include <stdalign.h>
#include <stddef.h>

#include <mblk/backend.h>

#include "../common/checked.h"

enum mblk__state {
	MBLK__CONNECTED,
	MBLK__DISCONNECTING, /* waiting for requests in flight, or running */
	MBLK__DISCONNECTED,
};

/* The core's part of a request, just before the public struct mblk_req
 * in memory, which is followed by the device's context:
 *
 *   | struct mblk__ireq: core fields ... | struct mblk_req | context |
 *                                        ^ what devices see
 */
struct mblk__ireq {
	mblk_done_fn done; /* the parent's done function, or deliver_user */
	void *cb;          /* user callback (mblk_cb, mblk_seek_cb, ...) */
	void *cb_data;
	struct mblk__ireq *link; /* pool free list / deferred queue */
	mblk_done_fn defer_fn;   /* see mblk_req_defer */
	bool fua_emul; /* a write whose FUA the core emulates with a flush */
	/* Derived operations (derive.c): where the walk stands, and the
	 * extents buffer of the caller while a seek is derived from them. */
	uint64_t dpos;
	struct mblk_extent dext[8];
	alignas(16) struct mblk_req pub;
};

#define MBLK__IREQ(req)                  \
	((struct mblk__ireq *)(void *)(( \
		char *)(req)-offsetof(struct mblk__ireq, pub)))

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
	/* Set by the device itself (mblk_dev_set_disconnected): it can no
	 * longer serve requests, and why; NULL while it can. */
	char *lost_msg;
	bool disc_running; /* ops->disconnect has been called */
	uint64_t inflight; /* submitted, not yet finished (not disconnects) */
	struct mblk__ireq *disc_wait; /* disconnects waiting for the drain */

	/* The request pool: a free list grown a slab at a time. */
	size_t req_size; /* the whole element: core part, header, context */
	struct mblk__ireq *free;
	void **slabs;
	size_t nslabs, slabs_cap;
	/* Two requests set aside at creation for close and its release
	 * step, so that closing never depends on malloc (alloc_reserved). */
	struct mblk__ireq *spare;
	void *spare_mem;

	/* Completions that happened inside a submission, delivered from the
	 * idle handle on the next loop iteration, in order. */
	struct mblk__ireq *defer_head, *defer_tail;
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

/* pool.c */
/* The pool element's size for a device whose ops ask for ctx bytes. */
size_t mblk__req_size(size_t ctx);
/* A request for close or the release step of a disconnect: from the pool
 * or from the two set aside at creation. */
mblk_req *mblk__req_alloc_reserved(mblk_dev *dev);
void mblk__pool_free_all(mblk_dev *dev);

/* submit.c */
/* Starts a request that came from a public entry point (checks unless
 * the device checks itself). */
void mblk__submit_user(mblk_req *req, void *cb, void *data);
/* Submits req; how: MBLK__SUBMIT_CHECK runs the entry checks,
 * MBLK__SUBMIT_INTERNAL lets a request that belongs to one in flight
 * through while a disconnect waits for the drain (derive.c). */
#define MBLK__SUBMIT_CHECK 1u
#define MBLK__SUBMIT_INTERNAL 2u
void mblk__submit(mblk_req *req, unsigned how);

/* complete.c */
/* Runs a request taken from the deferred queue. */
void mblk__run_deferred(struct mblk__ireq *ir);
/* The request has stopped being in flight: bookkeeping, then its done
 * function, then a waiting disconnect may start. */
void mblk__finish(mblk_req *req);

/* derive.c */
void mblk__extents_from_seeks(mblk_dev *dev, mblk_req *req);
void mblk__seek_from_extents(mblk_dev *dev, mblk_req *req);

/* dev.c */
/* Called when a device has nothing in flight and may be disconnecting. */
void mblk__try_disconnect(mblk_dev *dev);
/* A disconnect request joins the waiters; the first one starts it. */
void mblk__disconnect_req(mblk_req *req);

/* error.c */
/* Formats into the thread's last-error buffer. */
void mblk__vset_error(const char *fmt, va_list ap);

#endif
