/* pivot.c - the mirror's way out: pivot onto the secondary, or cancel.
 *
 * Design notes
 *
 * A pivot switches a mirror that is in sync onto its secondary without
 * the device handle changing, so an NBD export or a program holding it
 * sees a pause, never a gap:
 *
 *   SYNCED --pivot--> pre-flush: the secondary is flushed while requests
 *     |               still flow (what the copy left in its cache is
 *     |               written now, outside the pause); it failing, or
 *     |               the mirror leaving SYNCED meanwhile, fails the
 *     |               pivot with nothing parked;
 *     v
 *   pivoting: new foreground requests are parked (kept
 *     |               in flight, in arrival order, in their contexts);
 *     |               the mirror's timer polls, every millisecond, until
 *     |               everything else has finished: neither child has a
 *     |               request in flight and the copier nothing out;
 *     |               then the secondary is flushed again (what was
 *     |               written since the pre-flush), and the primary too
 *     |               only if it is handed back (a primary being closed
 *     |               is flushed by its close, after the pause);
 *     |  secondary's flush failed: back to SYNCED, the parked requests
 *     |               run as before, the callback gets the error;
 *     |  timed out:   the same with -ETIMEDOUT, when the pre-flush, or
 *     |               then the pause (draining and flushing), takes
 *     |               longer than pivot_timeout_ms (default 30 s): each
 *     |               has that bound;
 *     v
 *   PIVOTED: the secondary is the mirror's only child; every request,
 *            parked ones first, goes to it (scaled to its sectors); the
 *            primary is closed or handed back; MBLK_MIRROR_SWITCHED.
 *
 * Why it is exact: in SYNCED every write is dual and the devices are equal
 * (lock.c); once nothing is in flight and the secondary is flushed,
 * every write acknowledged so far is on the secondary and durable there.
 * Requests parked during the pivot are submitted afterwards, in the order
 * they arrived, to the secondary only: no write is lost or reordered
 * against a later one. A flush of the primary failing does not fail the
 * pivot (the primary is being let go); it is only worth knowing for a
 * primary handed back, which the docs say.
 *
 * The bound: a destination that stops answering (a dead NBD server, a
 * hung flush) must not hold the pivot, or the clients' requests parked
 * in it, for ever. The mirror's timer is armed for the pivot's deadline
 * while the pre-flush and the final flushes are out, and polls while
 * draining; at the deadline the pivot fails with a sentence, the parked
 * requests (if any) run as before (in sync, dual writes), and the
 * flushes still out are stale: dropped when they come back. The stale
 * pre-flush is told from a new pivot's by its request (m->preflush_req:
 * a request still out is never reallocated); stale final flushes are
 * counted (pivot_stale), and cannot be mistaken for a new pivot's
 * because a pivot drains both devices before its final flushes. So a
 * later pivot cannot succeed while the destination still owes a flush.
 * A dual write hung on the destination is bounded the same way, in the
 * draining phase; the client's write itself waits for the destination
 * as every dual write does.
 *
 * Seeks after a pivot onto a secondary with smaller sectors than the
 * mirror's are answered conservatively (everything data): correct, and
 * the only case where the secondary's answer would need rescaling.
 *
 * Cancel is simpler: the state becomes STOPPED (-ECANCELED), so writes go
 * to the primary only from then on and the copier ends at its next step.
 *
 * Resume undoes a stop (a failure or a cancel): writes made since went to
 * the primary alone and were not tracked, so the whole map is dirty
 * again and the mirror is COPYING as at the start (without the first
 * scan: the zero map, still true since the secondary has not been
 * written, keeps the holes free). Copy operations that were still ending
 * when it is called go on; they cleared bits that are now set again, so
 * what they copy is copied once more, in order (lock.c's argument holds
 * with D full). The mode stays: a mirror that went active stays active.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mirror_int.h"

/* ------------------------------------------------------------------ */
/* Requests during and after a pivot                                   */

static void pivot_park(struct mirror *m, mblk_req *req)
{
	struct fg *f = mblk_req_ctx(req);
	f->parked_next = NULL;
	if (m->parked_tail != NULL) {
		struct fg *t = mblk_req_ctx(m->parked_tail);
		t->parked_next = req;
	} else {
		m->parked_head = req;
	}
	m->parked_tail = req;
	m->nparked++;
}

/* Serves req from the secondary alone, scaled to its sectors. */
static void pivot_serve(struct mirror *m, mblk_req *req)
{
	mblk_req *c = NULL;
	switch (req->op) {
	case MBLK_OP_READ:
		c = mblk__mirror_child(m->s, MBLK_OP_READ, req->sector,
				       m->sshift);
		if (c != NULL) {
			c->iov = req->iov;
			c->iovcnt = req->iovcnt;
		}
		break;
	case MBLK_OP_WRITE:
	case MBLK_OP_DISCARD:
	case MBLK_OP_WRITE_ZEROES:
		c = mblk__mirror_fg_child(m, req, true);
		break;
	case MBLK_OP_FLUSH:
		c = mblk__mirror_child(m->s, MBLK_OP_FLUSH, 0, 0);
		break;
	case MBLK_OP_CACHE:
		c = mblk__mirror_child(m->s, MBLK_OP_CACHE, req->sector,
				       m->sshift);
		if (c != NULL)
			c->count = req->count << m->sshift;
		break;
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED:
		if (m->sshift == 0) {
			mblk_req_forward(req, m->s);
			return;
		}
		req->result = req->op == MBLK_OP_SEEK_MAPPED ? req->sector
							     : m->size;
		mblk_req_done(req, 0);
		return;
	default: mblk_req_forward(req, m->s); return;
	}
	if (c == NULL) {
		mblk_req_fail(req, -ENOMEM, "no memory for a request");
		return;
	}
	mblk_req_submit(c, mblk__mirror_pass_done, req);
}

bool mblk__mirror_pivot_admit(struct mirror *m, mblk_req *req)
{
	if (m->pivoting) {
		pivot_park(m, req);
		return true;
	}
	if (m->pivoted) {
		pivot_serve(m, req);
		return true;
	}
	return false;
}

/* The parked requests run, in arrival order, as the mirror now is. */
static void pivot_unpark(struct mirror *m)
{
	mblk_req *req = m->parked_head;
	m->parked_head = m->parked_tail = NULL;
	m->nparked = 0;
	while (req != NULL) {
		struct fg *f = mblk_req_ctx(req);
		mblk_req *next = f->parked_next;
		mblk__mirror_dispatch(m->dev, req);
		req = next;
	}
}

/* ------------------------------------------------------------------ */
/* The pivot                                                           */

static void pivot_finish(struct mirror *m)
{
	mblk_mirror_pivot_cb cb = m->pivot_cb;
	void *data = m->pivot_data;
	m->pivoting = false;
	/* The timer was the pivot's (its poll or its deadline). */
	uv_timer_stop(&m->timer);
	m->timer_armed = false;
	if (m->pivot_status < 0) {
		/* The mirror is as it was: in sync, writes dual. */
		pivot_unpark(m);
		mblk__mirror_kick(m);
		cb(data, m->pivot_status, NULL, m->pivot_msg);
		return;
	}
	mblk_dev *primary = m->p;
	mblk_dev *kids[1] = { m->s };
	mblk_dev_set_children(m->dev, kids, 1);
	m->p = NULL;
	m->pivoted = true;
	m->end_ns = uv_hrtime();
	mblk__mirror_event(m, MBLK_MIRROR_SWITCHED, 0, NULL);
	pivot_unpark(m);
	if (m->pivot_flags & MBLK_MIRROR_PIVOT_KEEP_PRIMARY) {
		cb(data, 0, primary, NULL);
		return;
	}
	mblk_close(primary, NULL, NULL);
	cb(data, 0, NULL, NULL);
}

static void pivot_flush_done(mblk_req *c)
{
	struct mirror *m = c->done_data;
	if (m->pivot_stale > 0) {
		/* A flush of a pivot that timed out, back at last. No other
		 * pivot's final flush can be out with it: a pivot drains both
		 * devices before it flushes. */
		m->pivot_stale--;
		mblk_req_free(c);
		mblk__mirror_bg_put(m);
		return;
	}
	if (c->dev == m->s && c->status < 0) {
		m->pivot_status = c->status;
		snprintf(m->pivot_msg, sizeof(m->pivot_msg),
			 "cannot pivot onto %s: %s", mblk_dev_name(m->s),
			 c->msg);
	}
	mblk_req_free(c);
	if (--m->pivot_pending == 0)
		pivot_finish(m);
	mblk__mirror_bg_put(m);
}

/* The pivot ran out of time: it fails, and the mirror is as it was. The
 * flushes still out are stale, dropped when they return. */
static void pivot_time_out(struct mirror *m)
{
	const char *what = m->preflushing || m->pivot_pending > 0
				   ? "its flush did not complete"
				   : "the requests in flight on it did not "
				     "finish";
	m->pivot_status = -ETIMEDOUT;
	snprintf(m->pivot_msg, sizeof(m->pivot_msg),
		 "cannot pivot onto %s: %s within the pivot timeout of %llu "
		 "ms; %s goes on serving from %s and mirroring onto %s",
		 mblk_dev_name(m->s), what,
		 (unsigned long long)m->pivot_timeout_ms, mblk_dev_name(m->dev),
		 mblk_dev_name(m->p), mblk_dev_name(m->s));
	if (m->preflushing) {
		/* Nothing is parked yet: only the callback to call. */
		m->preflushing = false;
		m->preflush_req = NULL;
		uv_timer_stop(&m->timer);
		m->timer_armed = false;
		m->pivot_cb(m->pivot_data, m->pivot_status, NULL, m->pivot_msg);
		return;
	}
	m->pivot_stale += m->pivot_pending;
	m->pivot_pending = 0;
	pivot_finish(m);
}

/* Arms the mirror's timer for the next poll: in ms, never past the
 * pivot's deadline. */
static void pivot_arm(struct mirror *m, uint64_t ms)
{
	uint64_t now = uv_hrtime();
	uint64_t left =
		m->pivot_deadline_ns > now
			? (m->pivot_deadline_ns - now + 999999) / 1000000
			: 0;
	if (ms > left)
		ms = left;
	m->timer_armed = true;
	uv_timer_start(&m->timer, mblk__mirror_timer_cb, ms, 0);
}

void mblk__mirror_pivot_poll(struct mirror *m)
{
	bool late = uv_hrtime() >= m->pivot_deadline_ns;
	if (m->preflushing || m->pivot_pending > 0) {
		/* Flushing: the timer is only the deadline. */
		if (late)
			pivot_time_out(m);
		else
			pivot_arm(m, UINT64_MAX);
		return;
	}
	/* Drained: the mirror owns its children, so when neither has a
	 * request in flight and the copier has nothing out, every request
	 * admitted before the pivot is over with the devices (requests the
	 * range lock holds back always wait for one that is in flight).
	 * The mirror's own count would not do: it also holds requests the
	 * core derives (extents from seeks) whose seeks are parked. */
	if (mblk_dev_inflight(m->p) > 0 || mblk_dev_inflight(m->s) > 0 ||
	    m->bg_inflight > 0) {
		if (late)
			pivot_time_out(m);
		else
			pivot_arm(m, 1);
		return;
	}
	mblk_dev *both[2] = { m->s, m->p };
	int n = (m->pivot_flags & MBLK_MIRROR_PIVOT_KEEP_PRIMARY) ? 2 : 1;
	mblk_req *c[2] = { mblk_req_alloc(both[0]),
			   n == 2 ? mblk_req_alloc(both[1]) : NULL };
	if (c[0] == NULL || (n == 2 && c[1] == NULL)) {
		for (int i = 0; i < 2; i++)
			if (c[i] != NULL)
				mblk_req_free(c[i]);
		m->pivot_status = -ENOMEM;
		snprintf(m->pivot_msg, sizeof(m->pivot_msg),
			 "cannot pivot onto %s: no memory for a request",
			 mblk_dev_name(m->s));
		pivot_finish(m);
		return;
	}
	m->pivot_pending = n;
	for (int i = 0; i < n; i++) {
		c[i]->op = MBLK_OP_FLUSH;
		m->bg_inflight++;
		mblk_req_submit(c[i], pivot_flush_done, m);
	}
	if (m->pivoting && m->pivot_pending > 0)
		pivot_arm(m, UINT64_MAX);
}

/* The pre-flush is over: pause and drain, or fail with nothing parked. */
static void pivot_preflush_done(mblk_req *c)
{
	struct mirror *m = c->done_data;
	const char *sn = mblk_dev_name(m->s);
	if (c != m->preflush_req) {
		/* The pre-flush of a pivot that timed out. */
		mblk_req_free(c);
		mblk__mirror_bg_put(m);
		return;
	}
	m->preflush_req = NULL;
	m->preflushing = false;
	uv_timer_stop(&m->timer); /* the deadline; the poll rearms it */
	m->timer_armed = false;
	if (c->status < 0)
		snprintf(m->pivot_msg, sizeof(m->pivot_msg),
			 "cannot pivot onto %s: %s", sn, c->msg);
	else if (m->stopping || m->state != MBLK_MIRROR_SYNCED)
		snprintf(m->pivot_msg, sizeof(m->pivot_msg),
			 "cannot pivot onto %s: the mirror %s while its "
			 "cache was being flushed%s%s",
			 sn, m->stopping ? "was closed" : "left sync",
			 m->errmsg[0] ? ": " : "", m->errmsg);
	int status = c->status < 0                                   ? c->status
		     : m->stopping || m->state != MBLK_MIRROR_SYNCED ? -EBUSY
								     : 0;
	mblk_req_free(c);
	if (status < 0) {
		mblk_mirror_pivot_cb cb = m->pivot_cb;
		cb(m->pivot_data, status, NULL, m->pivot_msg);
	} else {
		/* The pause gets the whole bound of its own: the pre-flush,
		 * which held nobody, does not eat into it. */
		m->pivot_deadline_ns =
			uv_hrtime() + m->pivot_timeout_ms * 1000000;
		m->pivoting = true;
		m->timer_armed = true;
		uv_timer_start(&m->timer, mblk__mirror_timer_cb, 0, 0);
	}
	mblk__mirror_bg_put(m);
}

int mblk_mirror_pivot(mblk_dev *dev, unsigned flags, mblk_mirror_pivot_cb cb,
		      void *data)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL || cb == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_pivot: %s",
				      m == NULL ? "not a mirror"
						: "the callback is NULL");
	const char *sn = mblk_dev_name(m->s);
	if (m->pivoted || m->pivoting || m->preflushing)
		return mblk_set_error(-EALREADY,
				      "%s: the mirror has pivoted onto %s "
				      "already%s",
				      mblk_dev_name(m->dev), sn,
				      m->pivoted ? "" : " (under way)");
	if (m->stopping || m->state != MBLK_MIRROR_SYNCED || m->flushing) {
		uint64_t left = mblk__mirror_remaining_bytes(m);
		if (m->state == MBLK_MIRROR_STOPPED)
			return mblk_set_error(-EBUSY,
					      "%s: cannot pivot onto %s: the "
					      "copy has stopped (%s)",
					      mblk_dev_name(m->dev), sn,
					      m->errmsg[0] ? m->errmsg
							   : "cancelled");
		return mblk_set_error(-EBUSY,
				      "%s: cannot pivot onto %s before it is "
				      "in sync: %llu bytes are still to be "
				      "copied%s",
				      mblk_dev_name(m->dev), sn,
				      (unsigned long long)left,
				      m->flushing ? " (flushing)" : "");
	}
	mblk_req *c = mblk_req_alloc(m->s);
	if (c == NULL)
		return mblk_set_error(-ENOMEM,
				      "%s: cannot pivot onto %s: no memory "
				      "for a request",
				      mblk_dev_name(m->dev), sn);
	m->preflushing = true;
	m->pivot_flags = flags;
	m->pivot_cb = cb;
	m->pivot_data = data;
	m->pivot_status = 0;
	m->pivot_msg[0] = '\0';
	m->pivot_start_ns = uv_hrtime();
	m->pivot_deadline_ns =
		m->pivot_start_ns + m->pivot_timeout_ms * 1000000;
	/* Completes from the loop: the callback never runs in here. */
	c->op = MBLK_OP_FLUSH;
	m->bg_inflight++;
	m->preflush_req = c;
	mblk_req_submit(c, pivot_preflush_done, m);
	if (m->preflushing)
		pivot_arm(m, UINT64_MAX);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Cancel, resume and rate                                             */

int mblk_mirror_cancel(mblk_dev *dev)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_cancel: not a "
					       "mirror");
	if (m->pivoted || m->pivoting || m->state == MBLK_MIRROR_STOPPED)
		return mblk_set_error(-EALREADY,
				      "%s: the mirror has %s already",
				      mblk_dev_name(m->dev),
				      m->state == MBLK_MIRROR_STOPPED
					      ? "stopped"
					      : "pivoted");
	m->state = MBLK_MIRROR_STOPPED;
	m->error = -ECANCELED;
	snprintf(m->errmsg, sizeof(m->errmsg),
		 "the mirror onto %s was cancelled; the secondary holds a mix "
		 "of old and new data",
		 mblk_dev_name(m->s));
	m->end_ns = uv_hrtime();
	/* Nothing waits for the rate limit any more: a program that runs
	 * its loop until idle is not held for the rest of the debt. */
	if (m->started && !m->preflushing) {
		uv_timer_stop(&m->timer);
		m->timer_armed = false;
	}
	mblk__mirror_event(m, MBLK_MIRROR_CANCELLED, -ECANCELED, NULL);
	return 0;
}

int mblk_mirror_resume(mblk_dev *dev)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_resume: not a "
					       "mirror");
	if (m->pivoted || m->pivoting || m->state != MBLK_MIRROR_STOPPED ||
	    m->stopping)
		return mblk_set_error(-EALREADY,
				      "%s: nothing to resume: the mirror onto "
				      "%s %s",
				      mblk_dev_name(m->dev),
				      mblk_dev_name(m->s),
				      m->pivoted || m->pivoting
					      ? "has pivoted"
					      : "has not stopped");
	/* Writes since the stop went to the primary alone, untracked:
	 * every chunk is copied again. The zero map is still true (nothing
	 * has written the secondary since), so its holes stay free. */
	mblk__mirror_mark_dirty(m, 0, m->nchunks);
	m->state = MBLK_MIRROR_COPYING;
	m->error = 0;
	m->errmsg[0] = '\0';
	m->retries_left = m->opts.retries;
	m->last_percent = 0;
	m->passes = 0;
	m->prev_dirty = 0;
	m->launched_in_pass = 0;
	m->cursor = 0;
	m->win_cleaned = m->win_redirtied = 0;
	m->win_start_ns = uv_hrtime();
	m->end_ns = 0;
	mblk__mirror_kick(m);
	return 0;
}

/* After a new rate or share: a timer armed for the old one's wait may be
 * minutes away; the new setting decides when the copier goes on. The
 * timer is the pivot's while one is under way. */
static void mirror_rekick(struct mirror *m)
{
	if (!m->pivoting && !m->preflushing && m->started) {
		uv_timer_stop(&m->timer);
		m->timer_armed = false;
		mblk__mirror_kick(m);
	}
}

int mblk_mirror_set_share(mblk_dev *dev, unsigned share)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_set_share: not a "
					       "mirror");
	if (share < 1 || share > 100)
		return mblk_set_error(-EINVAL,
				      "%s: the copy's share is %u %%; give 1 "
				      "to 100 (100: never rest)",
				      mblk_dev_name(dev), share);
	m->share = share;
	m->opts.copy_share = share;
	m->rest_ns = 0; /* owed under the old share */
	mirror_rekick(m);
	return 0;
}

int mblk_mirror_set_rate(mblk_dev *dev, uint64_t rate)
{
	struct mirror *m = mblk__mirror_find(dev);
	if (m == NULL)
		return mblk_set_error(-EINVAL, "mblk_mirror_set_rate: not a "
					       "mirror");
	m->rate = rate;
	m->opts.rate = rate;
	m->tokens_cap = 0; /* no credit, as at the start (copy.c's notes) */
	if (m->tokens > m->tokens_cap)
		m->tokens = m->tokens_cap;
	m->refill_ns = 0;
	mirror_rekick(m);
	return 0;
}
