/* lock.c - the mirror's range lock, and why the copy it orders is exact.
 *
 * Design notes
 *
 * The range lock. An entry runs only when no EARLIER entry in L
 * conflicts with it, where
 *   copy  vs copy          conflict if their chunks overlap;
 *   copy  vs dual write    conflict if their chunks overlap;
 *   copy  vs primary-only  never conflict;
 *   write vs write         conflict if their sectors overlap, unless both
 *                          are primary-only.
 * Waiting is FIFO by arrival, so there is no deadlock (every wait is on
 * an earlier entry) and no starvation (a copy waiting for a busy chunk
 * holds back later writes to it). Every entry leaves L when its I/O is
 * over, success or failure, in every state: there is no residual lock
 * (upstream's hang, §5.33).
 *
 * The argument. Claim: whenever D is empty, no copy operation is in L
 * and no primary-only write is in flight, the secondary equals the
 * primary. Take any chunk c and its last change on the primary before
 * that moment, made by some write W.
 *  (1) W primary-only: W set D[c] when it completed. D[c] is clear now,
 *      so a copy operation C on c cleared it later. C read c after it
 *      cleared D[c], so after W's data was on the primary; a primary-only
 *      write finishing after C's read would set D[c] again, and a dual
 *      write cannot run concurrently with C (they conflict). C finished
 *      (no copy in L), and no later copy of c ran concurrently with it
 *      (copy vs copy conflict), so C's data is the last copy write to c.
 *      Any dual write after C went to both devices in lock order.
 *  (2) W dual: W wrote both devices. Dual writes that overlap W are
 *      serialized with it by L, so both devices saw the same sequence of
 *      overlapping dual writes. A copy of c cannot overlap W in time; a
 *      copy after W reads W's data. Parts of c W did not cover are the
 *      business of earlier writes, by the same argument, or of the copy
 *      that D still demands: W clears D only for chunks it covers
 *      entirely, when both halves succeeded.
 *  (3) W dual, but its chunks were all dirty when it ran, so it wrote
 *      the primary only (mirror.c, skip_sec). Nothing clears those bits
 *      while W runs: a copy of them that came earlier is out of L (it
 *      would have blocked W, and a running copy has cleared its bits), a
 *      later one waits for W, and a dual write that covers one of W's
 *      chunks entirely overlaps W's sectors, so it ran wholly before or
 *      after W. The one clear that can come while W runs is the first
 *      scan's clear of the whole map (copy.c), and W sets its chunks
 *      again when it completes, as a primary-only write does (and it is
 *      counted in flight like one, so the mirror cannot sync under it).
 *      So D[c] clear now means a copy of c ran after W was over, and
 *      read W's data; from there as in (1).
 *  Reading the primary while a primary-only write to the same chunk is in
 *  flight can give torn data, but that write sets D when it completes, so
 *  the chunk is copied again, and the copies of one chunk are ordered.
 *  This is why the mirror can enter SYNCED exactly when D is empty, no
 *  copy is in L and no primary-only write is in flight: from then on all
 *  writes are dual and keep the devices equal.
 *
 */
#include "mirror_int.h"

static bool ent_overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1;
}

static bool ent_conflict(const struct ent *a, const struct ent *b)
{
	if (a->kind == ENT_COPY || b->kind == ENT_COPY) {
		if (a->kind == ENT_WRITE_PRIMARY ||
		    b->kind == ENT_WRITE_PRIMARY)
			return false;
		return ent_overlap(a->cstart, a->cend, b->cstart, b->cend);
	}
	if (a->kind == ENT_WRITE_PRIMARY && b->kind == ENT_WRITE_PRIMARY)
		return false;
	return ent_overlap(a->start, a->end, b->start, b->end);
}

static bool ent_blocked(const struct mirror *m, const struct ent *e)
{
	for (const struct ent *x = m->lhead; x != e; x = x->next)
		if (ent_conflict(x, e))
			return true;
	return false;
}

/* Adds e at the tail and runs it at once if nothing earlier conflicts.
 * e->run must not complete e synchronously (it submits I/O). */
void mblk__mirror_lock_add(struct mirror *m, struct ent *e)
{
	e->next = NULL;
	e->prev = m->ltail;
	if (m->ltail != NULL)
		m->ltail->next = e;
	else
		m->lhead = e;
	m->ltail = e;
	e->running = false;
	if (ent_blocked(m, e)) {
		m->nwaiting++;
		return;
	}
	e->running = true;
	e->run(m, e);
}

/* Removes e and runs every waiting entry nothing earlier blocks now.
 * Reentrant: an entry that runs may finish at once and remove itself
 * (or the scan's callbacks may remove others); the list changed, so the
 * scan starts again from the head. */
void mblk__mirror_lock_remove(struct mirror *m, struct ent *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		m->lhead = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		m->ltail = e->prev;
	m->lock_changed = true;
	if (m->lock_scanning)
		return;
	m->lock_scanning = true;
	while (m->lock_changed && m->nwaiting > 0) {
		m->lock_changed = false;
		for (struct ent *x = m->lhead; x != NULL; x = x->next) {
			if (x->running || ent_blocked(m, x))
				continue;
			x->running = true;
			m->nwaiting--;
			x->run(m, x);
			if (m->lock_changed)
				break;
		}
	}
	m->lock_scanning = false;
}
