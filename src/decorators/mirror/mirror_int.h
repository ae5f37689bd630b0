/* mirror_int.h - the mirror's state, shared by mirror.c (the device:
 * creation, foreground requests, the range lock, progress) and copy.c
 * (the background copier). Not installed. The design notes, with the
 * correctness argument, are at the top of mirror.c.
 */
#ifndef MBLK_MIRROR_INT_H
#define MBLK_MIRROR_INT_H

#include <mblk/backend.h>
#include <mblk/mirror.h>

#include "bitmap.h"
#include "../../core/walk.h"

/* The most chunks one copy operation covers (its zero mask is a word). */
#define MIRROR_MAX_OP_CHUNKS 64
#define MIRROR_MAX_OPS 64
/* The shortest progress window (copy.c): a burst of writes shorter than
 * this never makes the mirror active by itself. */
#define MIRROR_WINDOW_NS 1000000000ull

struct mirror;

/* An entry of the range lock (mirror.c): a copy operation or a
 * foreground write-like request, in arrival order. */
enum ent_kind {
	ENT_COPY,          /* a copy operation: chunks [cstart, cend) */
	ENT_WRITE_PRIMARY, /* a write to the primary only (marks dirty) */
	ENT_WRITE_DUAL,    /* a write to both devices */
};

struct ent {
	struct ent *prev, *next;
	enum ent_kind kind;
	bool running;
	uint64_t start, end;   /* mirror sectors [start, end) */
	uint64_t cstart, cend; /* chunks touched [cstart, cend) */
	void (*run)(struct mirror *m, struct ent *e);
};

/* One copy operation slot (copy.c). */
struct copy_op {
	struct ent ent;
	struct mirror *m;
	bool busy;
	char *buf; /* op_bytes in m->arena; NULL until the arena exists */
	struct iovec iov;
	uint64_t pos;           /* next mirror sector to handle */
	uint64_t xend;          /* end of the extent being handled */
	uint64_t zmask;         /* chunk i of the op read as zeros on the
	                   secondary when the op started */
	struct mblk__walk walk; /* the primary's extents over the op */
	struct iovec *piov;     /* the write of an extent: one per piece */
	mblk_req **preq;        /* and its request, between alloc and submit */
	int pieces;             /* pieces of the extent still in flight */
	int pstatus;            /* the first piece's failure, or 0 */
	char pmsg[MBLK_MSG_MAX];
	uint64_t t0_ns; /* when it was launched (the copy's share) */
};

/* Per-request context of a foreground request (mirror.c). */
struct fg {
	struct ent ent;
	mblk_req *req;
	struct mirror *m;
	int pending; /* child requests outstanding */
	int pstatus, sstatus;
	bool skip_sec;         /* a dual write whose chunks were all dirty
	                          when it ran: the primary only (mirror.c) */
	uint64_t pos;          /* unmapped seek with scaling: next candidate */
	mblk_req *parked_next; /* waiting for a pivot (pivot.c) */
};

struct mirror {
	mblk_dev *dev, *p, *s;
	uint64_t size;      /* mirror sectors */
	unsigned sec_shift; /* log2 of the mirror sector size */
	unsigned pshift;    /* log2(mirror sector / primary sector) */
	unsigned sshift;    /* log2(mirror sector / secondary sector) */
	uint64_t cs;        /* chunk size in mirror sectors */
	unsigned cs_shift;
	uint64_t nchunks;
	bool s_can_zero; /* the secondary has write_zeroes or discard */

	/* The dirty map: chunk i must be (re)copied. ndirty counts it. */
	struct mblk__bitmap dirty;
	uint64_t ndirty;
	/* The zero map (only when the secondary is known to start as
	 * zeros): chunk i of the secondary has not been written since. */
	struct mblk__bitmap zero;
	bool zero_known;

	/* The range lock: entries in arrival order. */
	struct ent *lhead, *ltail;
	unsigned nwaiting;
	bool lock_scanning, lock_changed;

	/* The copier. */
	struct copy_op ops[MIRROR_MAX_OPS];
	int nops, ops_busy;
	uint64_t op_chunks; /* chunks per copy operation */
	size_t op_bytes;    /* buffer bytes per operation */
	size_t buf_align;
	char *arena; /* every op's buffer (iobuf.h), allocated on first use */
	uint64_t piece;      /* mirror sectors per copy write; 0: no limit */
	struct iovec *piovs; /* every op's piece iovecs, with the arena */
	mblk_req **preqs;    /* and requests */
	size_t npiece_max;   /* pieces per operation at most (1: no limit) */
	uint64_t cursor;     /* next chunk the pass looks at */
	uint64_t launched_in_pass;
	uint64_t prev_dirty; /* ndirty at the end of the previous pass */
	unsigned passes;
	/* The progress window (copy.c's notes): chunks the copier cleaned
	 * and chunks primary-only writes dirtied again, since the window
	 * began; judged every win_chunks cleaned. */
	uint64_t win_chunks, win_cleaned, win_redirtied;
	uint64_t win_start_ns;
	uint64_t copy_sectors; /* sectors of running copy operations */
	uint64_t bg_inflight;  /* child requests of the copier in flight */
	uint64_t po_inflight;  /* primary-only writes in flight */
	bool started, flushing, stopping;
	enum mblk_mirror_state state;
	enum mblk_mirror_mode mode;
	mblk_req *disc_req; /* the disconnect waiting for the copier */

	/* Rate limit: a token bucket in bytes, refilled from uv_hrtime. */
	uint64_t rate;
	double tokens, tokens_cap;
	uint64_t refill_ns;
	/* The copy's share of time while the device is busy (copy.c's
	 * notes): rest owed, in ns, paid from rest_mark_ns (when the last
	 * operation ended, or the rest was last looked at) on while no
	 * operation is out. */
	unsigned share;
	uint64_t rest_ns, rest_mark_ns;
	uv_timer_t timer; /* start, and waits for tokens or rest */
	bool timer_armed;

	struct mblk_mirror_opts opts; /* as given, for get_uri */

	/* Errors. */
	enum mblk_mirror_on_error on_error;
	unsigned retries_left;
	int error;
	char errmsg[MBLK_MSG_MAX]; /* the failure that stopped the copy */
	char smsg[MBLK_MSG_MAX];   /* the last secondary write failure */

	/* The first scan of the primary (copy.c, copy_start). */
	bool scanning;
	struct mblk__walk scan;

	/* The pivot (pivot.c): while pivoting, new foreground requests wait
	 * in the parked list; once pivoted, the secondary serves them all. */
	bool preflushing;       /* the secondary's flush before the pause */
	mblk_req *preflush_req; /* that flush (an older one is stale) */
	bool pivoting, pivoted;
	unsigned pivot_flags;
	mblk_mirror_pivot_cb pivot_cb;
	void *pivot_data;
	mblk_req *parked_head, *parked_tail;
	uint64_t nparked;
	int pivot_pending, pivot_status;
	char pivot_msg[MBLK_MSG_MAX + 160];
	uint64_t pivot_start_ns;
	uint64_t pivot_timeout_ms; /* the bound on a pivot (0 given: 30 s) */
	uint64_t pivot_deadline_ns;
	int pivot_stale; /* flushes of a pivot that timed out, in flight */

	/* Progress. */
	mblk_mirror_cb cb;
	void *cb_data;
	int last_percent;
	uint64_t bytes_read, bytes_zeroed;
	uint64_t start_ns, end_ns;
};

/* mirror.c */
void mblk__mirror_lock_add(struct mirror *m, struct ent *e);
void mblk__mirror_lock_remove(struct mirror *m, struct ent *e);
void mblk__mirror_event(struct mirror *m, enum mblk_mirror_event ev, int value,
			const char *error);
void mblk__mirror_failure(struct mirror *m, int status, const char *msg);
uint64_t mblk__mirror_remaining_bytes(const struct mirror *m);
void mblk__mirror_report_percent(struct mirror *m);
void mblk__mirror_bg_put(struct mirror *m);
/* Marks [cstart, cend) dirty; returns how many chunks were clean. */
uint64_t mblk__mirror_mark_dirty(struct mirror *m, uint64_t cstart,
				 uint64_t cend);
void mblk__mirror_lose_zero(struct mirror *m, uint64_t start, uint64_t end);

struct mirror *mblk__mirror_find(mblk_dev *dev);
/* Completes the parent (done_data) with the child's outcome. */
void mblk__mirror_pass_done(mblk_req *c);
/* The request for one device: the same operation, scaled; on the
 * secondary discard and write_zeroes stand in for each other. */
mblk_req *mblk__mirror_fg_child(struct mirror *m, mblk_req *req, bool sec);
/* Runs a foreground request through the op for its kind (unparking). */
void mblk__mirror_dispatch(mblk_dev *dev, mblk_req *req);

/* pivot.c */
/* At the top of every foreground op: true when the pivot took the
 * request (parked while pivoting, served by the secondary after). */
bool mblk__mirror_pivot_admit(struct mirror *m, mblk_req *req);
/* From the mirror's timer while pivoting: drained yet? */
void mblk__mirror_pivot_poll(struct mirror *m);

/* copy.c */
void mblk__mirror_kick(struct mirror *m);
void mblk__mirror_switch_active(struct mirror *m);
void mblk__mirror_timer_cb(uv_timer_t *t);
/* A request on child d for op at mirror sector `sector` (scaled by the
 * child's shift), or NULL without memory. */
mblk_req *mblk__mirror_child(mblk_dev *d, enum mblk_op op, uint64_t sector,
			     unsigned shift);

static inline uint64_t mirror_chunk_of(const struct mirror *m, uint64_t sec)
{
	return sec >> m->cs_shift;
}

/* The first chunk at or after sector sec (sec rounded up). */
static inline uint64_t mirror_chunk_up(const struct mirror *m, uint64_t sec)
{
	return (sec + m->cs - 1) >> m->cs_shift;
}

#endif
