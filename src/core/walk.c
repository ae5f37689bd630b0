/* walk.c - the extent walker; see walk.h for the rule.
 *
 * Design notes
 *
 * The walk keeps a batch of the device's extents and a position pos: a
 * granule boundary (or the range's start). One step:
 *   - the device extent e holding pos covers the whole granule at pos:
 *     every granule up to the last boundary inside e has e's flags, so
 *     pos jumps there at once (or to the end of the range);
 *   - otherwise the granule is scanned extent by extent (ANDing flags),
 *     possibly across a fetch, and pos moves to its end.
 * Each piece is merged into the pending extent; a piece of other flags
 * ends it, and the pending extent is the answer. When the batch runs out
 * the device is asked for more from where it ends; the step resumes in
 * the extents callback.
 */
#include <errno.h>

#include <mblk/backend.h>
#include "walk.h"
#include "../common/checked.h"

void mblk__walk_init(struct mblk__walk *w, mblk_dev *dev, uint64_t start,
		     uint64_t end, uint64_t granule)
{
	w->dev = dev;
	w->end = end;
	w->granule = granule ? granule : 1;
	w->pos = start;
	w->n = w->i = 0;
	w->in_granule = false;
	w->have = false;
	w->busy = false;
}

/* The end of the granule that holds pos. */
static uint64_t walk_gend(const struct mblk__walk *w, uint64_t pos)
{
	uint64_t g = w->granule;
	uint64_t b = (pos | (g - 1)) + 1; /* next boundary above pos */
	return b < pos || b > w->end ? w->end : b;
}

/* Makes ext[i] the extent holding pos; false when the batch holds none
 * (a fetch from pos is needed). */
static bool walk_at(struct mblk__walk *w, uint64_t pos)
{
	while (w->i < w->n && w->ext[w->i].sector + w->ext[w->i].count <= pos)
		w->i++;
	return w->i < w->n && w->ext[w->i].sector <= pos;
}

static void walk_fetched(void *data, int status, int n, const char *error);

/* Merges [start, end) of flags into the pending extent. Returns true when
 * the pending extent is complete (other flags came): it is then in *out
 * and the new piece pending. */
static bool walk_merge(struct mblk__walk *w, uint64_t start, uint64_t end,
		       uint32_t flags, struct mblk_extent *out)
{
	if (w->have && w->acc.flags == flags &&
	    w->acc.sector + w->acc.count == start) {
		w->acc.count += end - start;
		return false;
	}
	bool done = w->have;
	if (done)
		*out = w->acc;
	w->have = true;
	w->acc.sector = start;
	w->acc.count = end - start;
	w->acc.flags = flags;
	return done;
}

/* Runs steps until an extent is complete (1), a fetch is started (0), or
 * a fetch could not be started (-errno). */
static int walk_run(struct mblk__walk *w, struct mblk_extent *out)
{
	for (;;) {
		if (w->pos >= w->end) {
			if (w->have) {
				*out = w->acc;
				w->have = false;
			} else {
				out->sector = w->end;
				out->count = 0;
				out->flags = 0;
			}
			return 1;
		}
		uint64_t gend = walk_gend(w, w->pos);
		uint64_t scan = w->in_granule ? w->gpos : w->pos;
		if (!walk_at(w, scan)) {
			w->n = w->i = 0;
			int r = mblk_extents(w->dev, scan, w->end - scan,
					     w->ext, MBLK__WALK_BATCH,
					     walk_fetched, w);
			if (r < 0)
				return r;
			w->busy = true;
			return 0;
		}
		const struct mblk_extent *e = &w->ext[w->i];
		uint64_t eend = e->sector + e->count;
		uint64_t from = w->pos, to;
		uint32_t flags;
		if (!w->in_granule && eend >= gend) {
			/* Whole granules inside e, up to its last boundary. */
			to = eend >= w->end ? w->end : eend & ~(w->granule - 1);
			if (to < gend)
				to = gend;
			flags = e->flags;
		} else {
			/* A granule across extents: AND them all. */
			if (!w->in_granule) {
				w->in_granule = true;
				w->gflags = e->flags;
			} else {
				w->gflags &= e->flags;
			}
			w->gpos = eend < gend ? eend : gend;
			if (w->gpos < gend)
				continue;
			w->in_granule = false;
			to = gend;
			flags = w->gflags;
		}
		w->pos = to;
		if (walk_merge(w, from, to, flags, out))
			return 1;
	}
}

static void walk_fetched(void *data, int status, int n, const char *error)
{
	struct mblk__walk *w = data;
	w->busy = false;
	struct mblk_extent e;
	if (status < 0) {
		w->cb(w->data, status, NULL, error);
		return;
	}
	w->n = n;
	w->i = 0;
	int r = walk_run(w, &e);
	if (r == 1)
		w->cb(w->data, 0, &e, NULL);
	else if (r < 0)
		w->cb(w->data, r, NULL, mblk_last_error());
}

int mblk__walk_next(struct mblk__walk *w, struct mblk_extent *out,
		    mblk__walk_cb cb, void *data)
{
	if (w->busy)
		return mblk_set_error(-EBUSY, "walk: a step is under way");
	w->cb = cb;
	w->data = data;
	return walk_run(w, out);
}
