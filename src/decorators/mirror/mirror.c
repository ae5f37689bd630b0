/* mirror.c - the live mirror device: creation, foreground requests and
 * progress. The range lock is in lock.c, the background copier in copy.c,
 * the pivot onto the secondary in pivot.c.
 *
 * Design notes
 *
 * Units. The mirror's sector is the larger of the two devices' sectors
 * (both are powers of two, so each divides it); a mirror sector x is
 * primary sector x << pshift and secondary sector x << sshift, for every
 * operation, reads included (upstream forgot to scale reads, §5.29).
 * Copy state is kept per chunk of cs mirror sectors (default 64 KiB); the
 * last chunk may be partial, and every range is clipped to the device.
 *
 * State.
 *   dirty map D   one bit per chunk: the chunk must be (re)copied.
 *                 Starts all set.
 *   range lock L  a list, in arrival order, of the copy operations and
 *                 foreground write-like requests (write, discard,
 *                 write_zeroes) in flight or waiting.
 *   state         COPYING -> SYNCED, or STOPPED after a copy failure.
 *   mode          BACKGROUND -> ACTIVE (never back).
 *
 * Foreground requests. Reads, seeks and flushes are served by the primary
 * (flush also flushes the secondary unless STOPPED). A write-like request
 * W is, when it arrives,
 *   primary-only  in COPYING/BACKGROUND (and in STOPPED): W goes to the
 *                 primary, and when it completes (whatever its status)
 *                 the chunks it touched are set in D;
 *   dual          in COPYING/ACTIVE and SYNCED: W goes to both devices;
 *                 when both succeed, chunks W covers entirely are cleared
 *                 in D; if either fails, the chunks it touched are set in
 *                 D (and a secondary failure is a copy failure).
 * The caller gets the primary's status and sentence: an acknowledged
 * write is always on the primary.
 *
 * Copy operations. The copier takes up to op_chunks consecutive dirty
 * chunks, registers them in L, and when L lets it run: clears their D
 * bits, then for each extent of the primary (seek_unmapped/seek_mapped)
 * reads data and writes it to the secondary, or turns a hole into
 * write_zeroes/discard on the secondary (or nothing when the secondary is
 * known to be zero there). A failed operation sets its chunks in D again.
 *
 * The range lock and the argument that the copy is exact are in lock.c.
 *
 * Convergence (copy.c). In BACKGROUND a client writing flat out can
 * re-dirty chunks as fast as they are copied. The copier sweeps the map
 * in passes; at the end of each pass that launched work it compares the
 * dirty count with the previous pass end. If pass >= 2 and the count did
 * not shrink by at least a quarter, or after 8 passes, or when D is empty
 * but primary-only writes keep arriving, it switches to ACTIVE: writes
 * become dual, so D only shrinks and the copy finishes in one more pass.
 * Between pass ends a progress window does the same judgement on the
 * chunks copied and dirtied again, at least every second (copy.c), so a
 * rate-limited or huge copy does not spend two slow passes finding out.
 *
 * Errors. A primary failure of a foreground request goes to its caller.
 * A copy failure (primary read, secondary write/zero/flush, or the
 * secondary half of a dual write) is reported through the callback with
 * its sentence; with on_error = RETRY the range is marked dirty and
 * copied again (up to `retries` failures in all), otherwise the mirror
 * is STOPPED: copying ends, writes go to the primary only, and the
 * secondary holds a mix of old and new data (it is not a usable copy).
 *
 * Lifetime. The core disconnects the mirror only when no foreground
 * request is in flight; the copier's child requests are counted in
 * bg_inflight and the disconnect waits for them (stopping makes every
 * copy operation end at its next step), then disconnects both children.
 * destroy closes the one timer, whose close callback frees the state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_int.h"
#include "../../common/checked.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

mblk_req *mblk__mirror_child(mblk_dev *d, enum mblk_op op, uint64_t sector,
			     unsigned shift)
{
	mblk_req *c = mblk_req_alloc(d);
	if (c != NULL) {
		c->op = op;
		c->sector = sector << shift;
	}
	return c;
}

uint64_t mblk__mirror_mark_dirty(struct mirror *m, uint64_t cstart,
				 uint64_t cend)
{
	uint64_t n = mblk__bitmap_assign(&m->dirty, cstart, cend, true);
	m->ndirty += n;
	return n;
}

/* The secondary is about to hold data in [start, end): no longer zero. */
void mblk__mirror_lose_zero(struct mirror *m, uint64_t start, uint64_t end)
{
	if (m->zero_known && end > start)
		mblk__bitmap_assign(&m->zero, mirror_chunk_of(m, start),
				    mirror_chunk_up(m, end), false);
}

void mblk__mirror_event(struct mirror *m, enum mblk_mirror_event ev, int value,
			const char *error)
{
	if (m->cb != NULL && !m->stopping)
		m->cb(m->cb_data, ev, value, error);
}

uint64_t mblk__mirror_remaining_bytes(const struct mirror *m)
{
	uint64_t cb = m->cs << m->sec_shift;
	uint64_t r = m->ndirty * cb;
	if (m->nchunks > 0 && mblk__bitmap_get(&m->dirty, m->nchunks - 1)) {
		uint64_t last = (m->size - ((m->nchunks - 1) << m->cs_shift))
				<< m->sec_shift;
		r -= cb - last;
	}
	r += m->copy_sectors << m->sec_shift;
	/* During the first scan (copy.c) what it has not reached yet may
	 * all be data: count it, so that progress never claims "nothing
	 * left" before the scan has looked. */
	if (m->scanning) {
		uint64_t seen = m->scan.pos >> m->pshift;
		if (seen < m->size)
			r += (m->size - seen) << m->sec_shift;
	}
	return r;
}

void mblk__mirror_report_percent(struct mirror *m)
{
	uint64_t total = m->size << m->sec_shift;
	if (total == 0 || m->state != MBLK_MIRROR_COPYING)
		return;
	uint64_t rem = mblk__mirror_remaining_bytes(m);
	uint64_t done = total - (rem < total ? rem : total);
	int pct = (int)((unsigned __int128)done * 100 / total);
	if (pct > 99)
		pct = 99; /* 100 is Complete, reported once in sync */
	if (pct > m->last_percent) {
		m->last_percent = pct;
		mblk__mirror_event(m, MBLK_MIRROR_PERCENT, pct, NULL);
	}
}

/* A copy failure: retry (the caller has already marked the range dirty)
 * or stop. Never dropped: always reported. */
void mblk__mirror_failure(struct mirror *m, int status, const char *msg)
{
	if (m->state == MBLK_MIRROR_STOPPED || m->stopping)
		return;
	if (m->on_error == MBLK_MIRROR_RETRY && m->retries_left > 0) {
		m->retries_left--;
		if (m->state == MBLK_MIRROR_SYNCED)
			m->state = MBLK_MIRROR_COPYING;
		mblk__mirror_event(m, MBLK_MIRROR_ERROR, status, msg);
		return;
	}
	m->state = MBLK_MIRROR_STOPPED;
	m->error = status;
	snprintf(m->errmsg, sizeof(m->errmsg), "%s", msg);
	m->end_ns = uv_hrtime();
	mblk__mirror_event(m, MBLK_MIRROR_FAILED, status, m->errmsg);
}

static void mirror_disc_child_done(mblk_req *c)
{
	mblk_req *req = c->done_data;
	mblk_req_free(c);
	if (--req->result == 0)
		mblk_req_done(req, 0);
}

/* The copier is idle and the mirror is stopping: disconnect both
 * children, then complete the disconnect. */
static void mirror_disconnect_children(struct mirror *m)
{
	mblk_req *req = m->disc_req;
	m->disc_req = NULL;
	req->result = 2;
	mblk_dev *kids[2] = { m->p, m->s };
	for (int i = 0; i < 2; i++) {
		/* After a pivot the primary is gone. */
		mblk_req *c = kids[i] ? mblk_req_alloc(kids[i]) : NULL;
		if (c == NULL) {
			if (--req->result == 0)
				mblk_req_done(req, 0);
			continue;
		}
		c->op = MBLK_OP_DISCONNECT;
		mblk_req_submit(c, mirror_disc_child_done, req);
	}
}

/* One copier child request finished; call last in a handler. */
void mblk__mirror_bg_put(struct mirror *m)
{
	if (--m->bg_inflight == 0 && m->stopping && m->disc_req != NULL)
		mirror_disconnect_children(m);
}

/* ------------------------------------------------------------------ */
/* Foreground: reads, seeks, flush                                     */

void mblk__mirror_pass_done(mblk_req *c)
{
	mblk_req *req = c->done_data;
	mblk_req_done_from(req, c);
	mblk_req_free(c);
}

static void mirror_read(mblk_dev *dev, mblk_req *req)
{
	struct mirror *m = mblk_dev_priv(dev);
	if (mblk__mirror_pivot_admit(m, req))
		return;
	mblk_req *c =
		mblk__mirror_child(m->p, MBLK_OP_READ, req->sector, m->pshift);
	if (c == NULL) {
		mblk_req_fail(req, -ENOMEM, "no memory for a request");
		return;
	}
	c->iov = req->iov;
	c->iovcnt = req->iovcnt;
	mblk_req_submit(c, mblk__mirror_pass_done, req);
}

static void mirror_seek_step(struct fg *f);

static void mirror_seek_done(mblk_req *c)
{
	struct fg *f = c->done_data;
	struct mirror *m = f->m;
	mblk_req *req = f->req;
	enum mblk_op op = c->op;
	uint64_t ans = c->result;
	if (c->status < 0) {
		mblk_req_done_from(req, c);
		mblk_req_free(c);
		return;
	}
	mblk_req_free(c);
	uint64_t k = 1ull << m->pshift;
	if (req->op == MBLK_OP_SEEK_MAPPED) {
		/* Floor: the mirror sector holding the first data. */
		req->result = mblk__min_u64(ans >> m->pshift, m->size);
		mblk_req_done(req, 0);
		return;
	}
	if (op == MBLK_OP_SEEK_UNMAPPED) {
		/* A zero primary sector; the mirror sector holding it is
		 * zero only if all its k primary sectors are: check. */
		uint64_t cand = (ans + k - 1) >> m->pshift;
		if (cand >= m->size) {
			req->result = m->size;
			mblk_req_done(req, 0);
			return;
		}
		f->pos = cand;
		c = mblk__mirror_child(m->p, MBLK_OP_SEEK_MAPPED, cand,
				       m->pshift);
		if (c == NULL) {
			mblk_req_fail(req, -ENOMEM, "no memory for a request");
			return;
		}
		mblk_req_submit(c, mirror_seek_done, f);
		return;
	}
	/* The check: data at or after ans; none inside sector f->pos? */
	if (ans >= ((f->pos + 1) << m->pshift)) {
		req->result = f->pos;
		mblk_req_done(req, 0);
		return;
	}
	f->pos++;
	mirror_seek_step(f);
}

static void mirror_seek_step(struct fg *f)
{
	struct mirror *m = f->m;
	if (f->pos >= m->size) {
		f->req->result = m->size;
		mblk_req_done(f->req, 0);
		return;
	}
	mblk_req *c = mblk__mirror_child(m->p, MBLK_OP_SEEK_UNMAPPED, f->pos,
					 m->pshift);
	if (c == NULL) {
		mblk_req_fail(f->req, -ENOMEM, "no memory for a request");
		return;
	}
	mblk_req_submit(c, mirror_seek_done, f);
}

static void mirror_seek(mblk_dev *dev, mblk_req *req)
{
	struct mirror *m = mblk_dev_priv(dev);
	if (mblk__mirror_pivot_admit(m, req))
		return;
	struct fg *f = mblk_req_ctx(req);
	f->m = m;
	f->req = req;
	if (m->pshift == 0) {
		mblk_req_forward(req, m->p);
		return;
	}
	if (req->op == MBLK_OP_SEEK_MAPPED) {
		mblk_req *c = mblk__mirror_child(m->p, req->op, req->sector,
						 m->pshift);
		if (c == NULL) {
			mblk_req_fail(req, -ENOMEM, "no memory for a request");
			return;
		}
		mblk_req_submit(c, mirror_seek_done, f);
		return;
	}
	f->pos = req->sector;
	mirror_seek_step(f);
}

static void mirror_flush_done(mblk_req *c)
{
	struct fg *f = c->done_data;
	struct mirror *m = f->m;
	bool primary = c->dev == m->p;
	if (primary) {
		f->pstatus = c->status;
		if (c->status < 0)
			memcpy(f->req->msg, c->msg, sizeof(c->msg));
	} else if (c->status < 0 && m->state != MBLK_MIRROR_STOPPED) {
		/* Which writes the secondary lost is unknown: all dirty. */
		if (m->on_error == MBLK_MIRROR_RETRY && m->retries_left > 0) {
			mblk__mirror_mark_dirty(m, 0, m->nchunks);
			if (m->state == MBLK_MIRROR_SYNCED)
				m->mode = MBLK_MIRROR_ACTIVE_MODE;
		}
		mblk__mirror_failure(m, c->status, c->msg);
	}
	mblk_req_free(c);
	if (--f->pending > 0)
		return;
	mblk__mirror_kick(m);
	mblk_req_done(f->req, f->pstatus);
}

static void mirror_flush(mblk_dev *dev, mblk_req *req)
{
	struct mirror *m = mblk_dev_priv(dev);
	if (mblk__mirror_pivot_admit(m, req))
		return;
	struct fg *f = mblk_req_ctx(req);
	f->m = m;
	f->req = req;
	f->pstatus = 0;
	bool both = m->state != MBLK_MIRROR_STOPPED;
	f->pending = both ? 2 : 1;
	mblk_req *pc = mblk__mirror_child(m->p, MBLK_OP_FLUSH, 0, 0);
	mblk_req *sc = both ? mblk__mirror_child(m->s, MBLK_OP_FLUSH, 0, 0)
			    : NULL;
	if (pc == NULL || (both && sc == NULL)) {
		if (pc)
			mblk_req_free(pc);
		if (sc)
			mblk_req_free(sc);
		mblk_req_fail(req, -ENOMEM, "no memory for a request");
		return;
	}
	mblk_req_submit(pc, mirror_flush_done, f);
	if (sc)
		mblk_req_submit(sc, mirror_flush_done, f);
}

/* ------------------------------------------------------------------ */
/* Foreground: write, discard, write_zeroes                            */

/* The request went to the primary alone, a primary-only write or a dual
 * one that skipped the secondary: counted in po_inflight while it runs,
 * and it marks its chunks dirty when done. */
static bool fg_primary_only(const struct fg *f)
{
	return f->ent.kind == ENT_WRITE_PRIMARY || f->skip_sec;
}

static void mirror_fg_finish(struct mirror *m, struct fg *f)
{
	struct ent *e = &f->ent;
	mblk_req *req = f->req;
	if (fg_primary_only(f)) {
		m->po_inflight--;
		/* Dirty again: counted against the copier's progress
		 * (copy.c's notes, the progress window). */
		if (m->state == MBLK_MIRROR_COPYING)
			m->win_redirtied +=
				mblk__mirror_mark_dirty(m, e->cstart, e->cend);
	} else if (m->state != MBLK_MIRROR_STOPPED) {
		if (f->pstatus == 0 && f->sstatus == 0) {
			if (m->state == MBLK_MIRROR_COPYING) {
				/* Clear chunks covered entirely. */
				uint64_t a = mirror_chunk_up(m, e->start);
				uint64_t b =
					e->end == m->size
						? m->nchunks
						: mirror_chunk_of(m, e->end);
				if (b > a)
					m->ndirty -=
						mblk__bitmap_assign(&m->dirty,
								    a, b,
								    false);
			}
		} else {
			mblk__mirror_mark_dirty(m, e->cstart, e->cend);
			if (m->state == MBLK_MIRROR_SYNCED)
				m->state = MBLK_MIRROR_COPYING;
		}
	}
	mblk__mirror_lock_remove(m, e);
	if (e->kind == ENT_WRITE_DUAL && f->sstatus < 0)
		mblk__mirror_failure(m, f->sstatus, m->smsg);
	mblk__mirror_kick(m);
	mblk__mirror_report_percent(m);
	mblk_req_done(req, f->pstatus);
}

static void mirror_fg_done(mblk_req *c)
{
	struct fg *f = c->done_data;
	struct mirror *m = f->m;
	if (c->dev == m->p) {
		f->pstatus = c->status;
		if (c->status < 0)
			memcpy(f->req->msg, c->msg, sizeof(c->msg));
	} else {
		f->sstatus = c->status;
		if (c->status < 0)
			snprintf(m->smsg, sizeof(m->smsg), "%s", c->msg);
	}
	mblk_req_free(c);
	if (--f->pending == 0)
		mirror_fg_finish(m, f);
}

/* The request for one device: the same operation, scaled. On the
 * secondary a discard or write_zeroes uses whichever of the two it has
 * (both make the range read as zeros). */
mblk_req *mblk__mirror_fg_child(struct mirror *m, mblk_req *req, bool sec)
{
	mblk_dev *d = sec ? m->s : m->p;
	unsigned shift = sec ? m->sshift : m->pshift;
	enum mblk_op op = req->op;
	if (sec && op != MBLK_OP_WRITE) {
		uint32_t caps = mblk_dev_info(d)->caps;
		if (op == MBLK_OP_DISCARD && !(caps & MBLK_CAP_DISCARD))
			op = MBLK_OP_WRITE_ZEROES;
		else if (op == MBLK_OP_WRITE_ZEROES &&
			 !(caps & MBLK_CAP_WRITE_ZEROES))
			op = MBLK_OP_DISCARD;
	}
	mblk_req *c = mblk__mirror_child(d, op, req->sector, shift);
	if (c == NULL)
		return NULL;
	c->flags = op == req->op ? req->flags : 0;
	c->count = req->count << shift;
	c->iov = req->iov;
	c->iovcnt = req->iovcnt;
	return c;
}

static void mirror_fg_run(struct mirror *m, struct ent *e)
{
	struct fg *f = (struct fg *)e;
	bool dual = e->kind == ENT_WRITE_DUAL;
	/* A dual write into chunks that are all still to be copied need
	 * not reach the secondary: the copy will carry its data over, and
	 * the lock keeps those chunks dirty until it is done (lock.c, case
	 * 3). In active mode that is every write ahead of the copier, so
	 * the client pays for dual writes only where the copy has been.
	 * Like a primary-only write it is counted in flight (no sync
	 * until it is over) and marks its chunks when done: a no-op but
	 * after the first scan's clear (copy.c), which it may straddle. */
	f->skip_sec = dual && m->state == MBLK_MIRROR_COPYING &&
		      e->cend > e->cstart &&
		      mblk__bitmap_all(&m->dirty, e->cstart, e->cend);
	if (f->skip_sec)
		dual = false;
	mblk_req *pc = mblk__mirror_fg_child(m, f->req, false);
	mblk_req *sc = dual ? mblk__mirror_fg_child(m, f->req, true) : NULL;
	if (fg_primary_only(f))
		m->po_inflight++;
	if (pc == NULL || (dual && sc == NULL)) {
		/* Fail it as if the primary had: the lock entry and the
		 * accounting unwind through the normal path. */
		if (pc)
			mblk_req_free(pc);
		if (sc)
			mblk_req_free(sc);
		f->pending = 0;
		f->pstatus = -ENOMEM;
		snprintf(f->req->msg, sizeof(f->req->msg),
			 "%s: no memory for a request", mblk_dev_name(m->dev));
		mirror_fg_finish(m, f);
		return;
	}
	f->pending = dual ? 2 : 1;
	if (dual && f->req->op == MBLK_OP_WRITE)
		mblk__mirror_lose_zero(m, e->start, e->end);
	mblk_req_submit(pc, mirror_fg_done, f);
	if (sc)
		mblk_req_submit(sc, mirror_fg_done, f);
}

static void mirror_write_like(mblk_dev *dev, mblk_req *req)
{
	struct mirror *m = mblk_dev_priv(dev);
	if (mblk__mirror_pivot_admit(m, req))
		return;
	struct fg *f = mblk_req_ctx(req);
	struct ent *e = &f->ent;
	f->m = m;
	f->req = req;
	f->pstatus = f->sstatus = 0;
	e->start = req->sector;
	e->end = req->sector + req->count;
	e->cstart = mirror_chunk_of(m, e->start);
	e->cend = req->count ? mirror_chunk_up(m, e->end) : e->cstart;
	bool dual = !m->stopping && (m->state == MBLK_MIRROR_SYNCED ||
				     (m->state == MBLK_MIRROR_COPYING &&
				      m->mode == MBLK_MIRROR_ACTIVE_MODE));
	e->kind = dual ? ENT_WRITE_DUAL : ENT_WRITE_PRIMARY;
	e->run = mirror_fg_run;
	mblk__mirror_lock_add(m, e);
}

/* Prefetch on the device that serves reads, scaled to its sectors. */
static void mirror_cache(mblk_dev *dev, mblk_req *req)
{
	struct mirror *m = mblk_dev_priv(dev);
	if (mblk__mirror_pivot_admit(m, req))
		return;
	mblk_req *c =
		mblk__mirror_child(m->p, MBLK_OP_CACHE, req->sector, m->pshift);
	if (c == NULL) {
		mblk_req_fail(req, -ENOMEM, "no memory for a request");
		return;
	}
	c->count = req->count << m->pshift;
	mblk_req_submit(c, mblk__mirror_pass_done, req);
}

void mblk__mirror_dispatch(mblk_dev *dev, mblk_req *req)
{
	switch (req->op) {
	case MBLK_OP_READ: mirror_read(dev, req); break;
	case MBLK_OP_FLUSH: mirror_flush(dev, req); break;
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED: mirror_seek(dev, req); break;
	case MBLK_OP_CACHE: mirror_cache(dev, req); break;
	default: mirror_write_like(dev, req); break;
	}
}

/* ------------------------------------------------------------------ */
/* Device                                                              */

static void mirror_disconnect(mblk_dev *dev, mblk_req *req)
{
	struct mirror *m = mblk_dev_priv(dev);
	m->stopping = true;
	uv_timer_stop(&m->timer);
	m->timer_armed = false;
	m->disc_req = req;
	if (m->bg_inflight == 0)
		mirror_disconnect_children(m);
}

static void mirror_free(uv_handle_t *h)
{
	struct mirror *m = h->data;
	free(m->arena);
	free(m->piovs);
	free(m->preqs);
	mblk__bitmap_free(&m->dirty);
	if (m->zero_known)
		mblk__bitmap_free(&m->zero);
	free(m);
}

static void mirror_destroy(mblk_dev *dev)
{
	struct mirror *m = mblk_dev_priv(dev);
	uv_close((uv_handle_t *)&m->timer, mirror_free);
}

static int mirror_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	struct mirror *m = mblk_dev_priv(dev);
	char pu[1024], su[1024], pe[3072], se[3072];
	/* After a pivot the mirror is the secondary, and reopens as it. */
	if (m->pivoted)
		return mblk_get_uri(m->s, buf, len);
	if (mblk_get_uri(m->p, pu, sizeof(pu)) < 0 ||
	    mblk_get_uri(m->s, su, sizeof(su)) < 0)
		return -ENOTSUP;
	if (mblk_uri_nest(pe, sizeof(pe), pu) < 0 ||
	    mblk_uri_nest(se, sizeof(se), su) < 0)
		return -ENOMEM;
	/* The options that shape the copy; not secondary-zero or in-sync,
	 * which describe the secondary when the mirror was made. */
	char q[256] = "";
	size_t n = 0;
	const struct mblk_mirror_opts *o = &m->opts;
	if (o->buffer_bytes)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&buffer=%llu",
				      (unsigned long long)o->buffer_bytes);
	if (o->chunk_bytes)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&chunk=%llu",
				      (unsigned long long)o->chunk_bytes);
	if (o->rate)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&rate=%llu",
				      (unsigned long long)o->rate);
	if (o->copy_write_bytes)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&copy-write=%llu",
				      (unsigned long long)o->copy_write_bytes);
	if (o->copy_share)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&share=%u",
				      o->copy_share);
	if (o->on_error == MBLK_MIRROR_RETRY)
		n += (size_t)snprintf(q + n, sizeof(q) - n,
				      "&on-error=retry&retries=%u", o->retries);
	if (o->no_scan)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&scan=0");
	if (o->active)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&active=1");
	if (o->pivot_timeout_ms)
		n += (size_t)snprintf(q + n, sizeof(q) - n,
				      "&pivot-timeout-ms=%llu",
				      (unsigned long long)o->pivot_timeout_ms);
	(void)n;
	return snprintf(buf, len, "mirror:?primary=%s&secondary=%s%s", pe, se,
			q);
}

static const struct mblk_dev_ops mirror_ops = {
	.kind = "mirror",
	.req_ctx_size = sizeof(struct fg),
	.read = mirror_read,
	.write = mirror_write_like,
	.flush = mirror_flush,
	.discard = mirror_write_like,
	.write_zeroes = mirror_write_like,
	.seek = mirror_seek,
	.cache = mirror_cache,
	.disconnect = mirror_disconnect,
	.get_uri = mirror_get_uri,
	.destroy = mirror_destroy,
};

struct mirror *mblk__mirror_find(mblk_dev *dev)
{
	for (; dev != NULL; dev = mblk_dev_child(dev, 0))
		if (mblk_dev_ops(dev) == &mirror_ops)
			return mblk_dev_priv(dev);
	return NULL;
}

int mblk_mirror_get_progress(mblk_dev *dev, struct mblk_mirror_progress *p)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL || p == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_get_progress: not "
					       "a mirror");
	memset(p, 0, sizeof(*p));
	p->bytes_total = m->size << m->sec_shift;
	p->bytes_remaining = m->state == MBLK_MIRROR_SYNCED
				     ? 0
				     : mblk__mirror_remaining_bytes(m);
	if (p->bytes_remaining > p->bytes_total)
		p->bytes_remaining = p->bytes_total;
	p->bytes_done = p->bytes_total - p->bytes_remaining;
	p->bytes_read = m->bytes_read;
	p->bytes_zeroed = m->bytes_zeroed;
	if (m->started) {
		uint64_t end = m->end_ns ? m->end_ns : uv_hrtime();
		p->elapsed = (double)(end - m->start_ns) / 1e9;
		if (p->elapsed > 0)
			p->rate = (double)(m->bytes_read + m->bytes_zeroed) /
				  p->elapsed;
	}
	p->percent = m->state == MBLK_MIRROR_SYNCED ? 100 : m->last_percent;
	p->passes = m->passes;
	p->state = m->pivoted ? MBLK_MIRROR_PIVOTED : m->state;
	if (m->state == MBLK_MIRROR_SYNCED && m->flushing) {
		/* Not in sync until the secondary is flushed. */
		p->state = MBLK_MIRROR_COPYING;
		p->percent = 99;
	}
	p->mode = m->mode;
	if (m->state == MBLK_MIRROR_STOPPED) {
		p->error = m->error;
		p->error_msg = m->errmsg;
	}
	return 0;
}

int mblk_mirror_set_callback(mblk_dev *dev, mblk_mirror_cb cb, void *data)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_set_callback: not "
					       "a mirror");
	m->cb = cb;
	m->cb_data = data;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Creation                                                            */

static uint64_t mirror_pow2_floor(uint64_t x)
{
	return x ? 1ull << (63 - __builtin_clzll(x)) : 0;
}

int mblk_mirror_open(mblk_dev *primary, mblk_dev *secondary,
		     const struct mblk_mirror_opts *opts, mblk_mirror_cb cb,
		     void *data, mblk_dev **devp)
{
	static const struct mblk_mirror_opts defaults = { 0 };
	struct mblk_info pi, si;

	if (primary == NULL || secondary == NULL || devp == NULL ||
	    primary == secondary)
		return mblk_set_error(-EINVAL,
				      "mblk_mirror_open: primary, secondary and "
				      "devp must be given, and the primary "
				      "cannot be its own secondary");
	if (opts == NULL)
		opts = &defaults;
	const char *pn = mblk_dev_name(primary), *sn = mblk_dev_name(secondary);
	if (mblk_dev_loop(primary) != mblk_dev_loop(secondary))
		return mblk_set_error(-EINVAL,
				      "cannot mirror %s onto %s: they run on "
				      "different loops",
				      pn, sn);
	mblk_get_info(primary, &pi);
	mblk_get_info(secondary, &si);
	uint32_t ss = pi.sector_size > si.sector_size ? pi.sector_size
						      : si.sector_size;
	if (ss % pi.sector_size != 0 || ss % si.sector_size != 0)
		return mblk_set_error(-EINVAL,
				      "cannot mirror %s onto %s: incompatible "
				      "sector sizes: either the primary's (%u) "
				      "or the secondary's (%u) must be a whole "
				      "multiple of the other",
				      pn, sn, pi.sector_size, si.sector_size);
	uint64_t pbytes = pi.size_sectors * pi.sector_size;
	uint64_t sbytes = si.size_sectors * si.sector_size;
	if (pbytes != sbytes)
		return mblk_set_error(-EINVAL,
				      "cannot mirror %s onto %s: incompatible "
				      "sizes: the primary has %llu bytes and "
				      "the secondary %llu; they must be the "
				      "same size",
				      pn, sn, (unsigned long long)pbytes,
				      (unsigned long long)sbytes);
	if (!si.read_write)
		return mblk_set_error(-EROFS,
				      "cannot mirror %s onto %s: the secondary "
				      "is read-only",
				      pn, sn);
	if (opts->chunk_bytes != 0 && !mblk__is_pow2(opts->chunk_bytes))
		return mblk_set_error(-EINVAL,
				      "mirror: chunk size %llu is not a power "
				      "of two",
				      (unsigned long long)opts->chunk_bytes);
	if (opts->on_error != MBLK_MIRROR_STOP &&
	    opts->on_error != MBLK_MIRROR_RETRY)
		return mblk_set_error(-EINVAL, "mirror: unknown on_error %d",
				      (int)opts->on_error);
	if (opts->copy_share > 100)
		return mblk_set_error(-EINVAL,
				      "cannot mirror %s onto %s: the copy's "
				      "share is %u %%; give 1 to 100 (100: "
				      "never rest)",
				      pn, sn, opts->copy_share);

	struct mirror *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return mblk_set_error(-ENOMEM, "mirror: no memory");
	m->p = primary;
	m->s = secondary;
	m->sec_shift = mblk__log2(ss);
	m->pshift = mblk__log2(ss / pi.sector_size);
	m->sshift = mblk__log2(ss / si.sector_size);
	m->size = pbytes / ss;
	m->s_can_zero = si.caps & (MBLK_CAP_WRITE_ZEROES | MBLK_CAP_DISCARD);

	/* Geometry of the copy. */
	uint64_t maxio = 0;
	if (pi.max_io)
		maxio = pi.max_io;
	if (si.max_io && (maxio == 0 || si.max_io < maxio))
		maxio = si.max_io;
	uint64_t chunk = opts->chunk_bytes ? opts->chunk_bytes : 65536;
	if (maxio && chunk > maxio)
		chunk = mirror_pow2_floor(maxio);
	if (chunk < ss)
		chunk = ss;
	/* Keep the map within 2^29 bits (64 MiB) for any size. */
	while (pbytes / chunk > (1ull << 29))
		chunk <<= 1;
	m->cs = chunk / ss;
	m->cs_shift = mblk__log2(m->cs);
	m->nchunks = (m->size + m->cs - 1) / m->cs;
	uint64_t buffer = opts->buffer_bytes ? opts->buffer_bytes : 16u << 20;
	uint64_t op_bytes = mblk__min_u64(1u << 20, buffer);
	if (maxio && op_bytes > maxio)
		op_bytes = maxio;
	m->op_chunks = op_bytes / chunk;
	if (m->op_chunks == 0)
		m->op_chunks = 1;
	if (m->op_chunks > MIRROR_MAX_OP_CHUNKS)
		m->op_chunks = MIRROR_MAX_OP_CHUNKS;
	uint64_t per_op = m->op_chunks * chunk;
	m->nops = (int)mblk__min_u64(mblk__max_u64(buffer / per_op, 1),
				     MIRROR_MAX_OPS);
	/* A small device needs no more than its size per operation. */
	m->op_bytes = (size_t)mblk__min_u64(per_op, mblk__max_u64(pbytes, ss));
	m->buf_align =
		mblk__max_u64(4096, mblk__max_u64(pi.buf_align, si.buf_align));
	for (int i = 0; i < m->nops; i++)
		m->ops[i].m = m;
	/* A piece of an operation or more: an operation is one piece
	 * anyway (and the rounding below cannot overflow). */
	m->npiece_max = 1;
	if (opts->copy_write_bytes && opts->copy_write_bytes < m->op_bytes) {
		uint64_t ms = 1ull << m->sec_shift;
		m->piece = (opts->copy_write_bytes + ms - 1) >> m->sec_shift;
		uint64_t pb = m->piece << m->sec_shift;
		m->npiece_max = (size_t)((m->op_bytes + pb - 1) / pb);
		if (m->npiece_max == 1)
			m->piece = 0;
	}

	/* Progress is judged every eighth of the map (at most 1024 chunks,
	 * at least one operation): see copy.c's notes. */
	m->win_chunks = mblk__max_u64(m->op_chunks,
				      mblk__min_u64(m->nchunks / 8, 1024));
	m->opts = *opts;
	m->pivot_timeout_ms = opts->pivot_timeout_ms ? opts->pivot_timeout_ms
						     : 30000;
	m->rate = opts->rate;
	m->share = opts->copy_share ? opts->copy_share : 100;
	m->tokens_cap = 0; /* no credit: the rate holds from the first byte */
	m->tokens = 0;
	m->on_error = opts->on_error;
	m->retries_left = opts->retries;
	m->cb = cb;
	m->cb_data = data;
	m->state = MBLK_MIRROR_COPYING;
	/* Already in sync: writes go to both from the first one on; the
	 * first kick finds nothing dirty, flushes and reports Complete. */
	m->mode = opts->secondary_in_sync || opts->active
			  ? MBLK_MIRROR_ACTIVE_MODE
			  : MBLK_MIRROR_BACKGROUND;

	if (mblk__bitmap_init(&m->dirty, m->nchunks, !opts->secondary_in_sync) <
	    0) {
		unsigned long long n = m->nchunks;
		free(m);
		return mblk_set_error(-ENOMEM,
				      "mirror: no memory for a map of %llu "
				      "chunks",
				      n);
	}
	m->ndirty = opts->secondary_in_sync ? 0 : m->nchunks;
	if (opts->secondary_is_zero) {
		if (mblk__bitmap_init(&m->zero, m->nchunks, true) < 0) {
			mblk__bitmap_free(&m->dirty);
			free(m);
			return mblk_set_error(-ENOMEM, "mirror: no memory");
		}
		m->zero_known = true;
	}

	struct mblk_info info = {
		.size_sectors = m->size,
		.sector_size = ss,
		.read_write = pi.read_write,
		.buf_align =
			(uint32_t)mblk__max_u64(pi.buf_align, si.buf_align),
		.min_io = ss,
		.pref_io = (uint32_t)mblk__max_u64(pi.pref_io, ss),
		.max_io = (uint32_t)maxio,
		.caps = pi.caps & (MBLK_CAP_FLUSH | MBLK_CAP_SEEK |
				   MBLK_CAP_FUA | MBLK_CAP_ZERO_IS_FAST),
	};
	if (si.caps & MBLK_CAP_FLUSH)
		info.caps |= MBLK_CAP_FLUSH;
	if (m->s_can_zero)
		info.caps |= pi.caps &
			     (MBLK_CAP_DISCARD | MBLK_CAP_WRITE_ZEROES);
	char name[300];
	snprintf(name, sizeof(name), "mirror:%s", pn);
	mblk_dev *kids[2] = { primary, secondary };
	int r = mblk_dev_create(mblk_dev_loop(primary), &mirror_ops, m, name,
				&info, kids, 2, 0, devp);
	if (r < 0) {
		mblk__bitmap_free(&m->dirty);
		if (m->zero_known)
			mblk__bitmap_free(&m->zero);
		free(m);
		return r;
	}
	m->dev = *devp;
	uv_timer_init(mblk_dev_loop(primary), &m->timer);
	m->timer.data = m;
	/* Start from the loop: the callback must never run in here. */
	m->timer_armed = true;
	uv_timer_start(&m->timer, mblk__mirror_timer_cb, 0, 0);
	return 0;
}
