/* extents.c - the CLI's extent walker over the two seeks; see extents.h.
 *
 * Design notes
 *
 * pos is always a multiple of the granule (or the end). One step:
 *
 *   seek_mapped(pos) = m      hole [pos, m) rounded inward: [pos, m & ~g)
 *     not empty  -> the hole is the extent
 *     empty      -> data starts at pos: seek_unmapped(pos) = u, data
 *                   [pos, u) rounded outward to u' = roundup(u); then
 *                   look ahead with seek_mapped(u'): a hole shorter than
 *                   a granule there is merged into the data, and the
 *                   data goes on with seek_unmapped(u')
 *
 * so two neighbours never have the same flags. A device without holes
 * (no MBLK_CAP_SEEK) answers seek_mapped(pos) = pos and seek_unmapped =
 * the end: one data extent in two seeks. A position both seeks claim (a
 * device contradicting itself) is taken as data, which is always safe to
 * copy or compare.
 */
#include <errno.h>

#include <mblk/backend.h>

#include "extents.h"

static void walk_mapped_cb(void *data, int status, uint64_t sector,
			   const char *error);

static void walk_emit(struct cli_walk *w, uint64_t start, uint64_t end,
		      uint32_t flags)
{
	w->pos = end;
	w->cb(w->data, 0, start, end - start, flags, NULL);
}

static void walk_fail(struct cli_walk *w, int status, const char *error)
{
	w->cb(w->data, status, w->pos, 0, 0,
	      error ? error : mblk_strerror(status));
}

static void walk_unmapped_cb(void *data, int status, uint64_t sector,
			     const char *error)
{
	struct cli_walk *w = data;
	if (status < 0) {
		walk_fail(w, status, error);
		return;
	}
	uint64_t g = w->granule;
	if (sector <= w->pos)
		sector = w->pos + 1;
	uint64_t e = sector >= w->end ? w->end : (sector + g - 1) / g * g;
	if (e > w->end)
		e = w->end;
	w->pos = e;
	if (e >= w->end) {
		w->in_data = false;
		walk_emit(w, w->ext_start, e, 0);
		return;
	}
	int r = mblk_seek_mapped(w->dev, e, walk_mapped_cb, w);
	if (r < 0)
		walk_fail(w, r, NULL);
}

static void walk_mapped_cb(void *data, int status, uint64_t sector,
			   const char *error)
{
	struct cli_walk *w = data;
	if (status < 0) {
		walk_fail(w, status, error);
		return;
	}
	uint64_t he = sector >= w->end ? w->end
				       : sector / w->granule * w->granule;
	if (he > w->pos) {
		if (w->in_data) {
			/* The data ends where a whole hole starts. */
			w->in_data = false;
			w->cb(w->data, 0, w->ext_start, w->pos - w->ext_start,
			      0, NULL);
			return;
		}
		walk_emit(w, w->pos, he, CLI_EXT_HOLE | CLI_EXT_ZERO);
		return;
	}
	if (!w->in_data) {
		w->in_data = true;
		w->ext_start = w->pos;
	}
	int r = mblk_seek_unmapped(w->dev, w->pos, walk_unmapped_cb, w);
	if (r < 0)
		walk_fail(w, r, NULL);
}

void cli_walk_init(struct cli_walk *w, mblk_dev *dev, uint64_t start,
		   uint64_t end, uint64_t granule)
{
	*w = (struct cli_walk){
		.dev = dev,
		.pos = start,
		.end = end,
		.granule = granule ? granule : 1,
	};
}

int cli_walk_next(struct cli_walk *w, cli_walk_cb cb, void *data)
{
	if (w->pos >= w->end)
		return -EINVAL;
	w->cb = cb;
	w->data = data;
	w->in_data = false;
	return mblk_seek_mapped(w->dev, w->pos, walk_mapped_cb, w);
}

struct walk_sync {
	bool done;
	int status;
	uint64_t start, count;
	uint32_t flags;
};

static void walk_sync_cb(void *data, int status, uint64_t start, uint64_t count,
			 uint32_t flags, const char *error)
{
	struct walk_sync *s = data;
	s->done = true;
	s->status = status;
	s->start = start;
	s->count = count;
	s->flags = flags;
	if (status < 0)
		mblk_set_error(status, "%s", error);
}

int cli_walk_next_sync(struct cli_walk *w, uv_loop_t *loop, uint64_t *start,
		       uint64_t *count, uint32_t *flags)
{
	struct walk_sync s = { 0 };
	int r = cli_walk_next(w, walk_sync_cb, &s);
	if (r < 0)
		return r;
	while (!s.done)
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !s.done)
			return mblk_set_error(-EIO,
					      "%s: a seek never completed",
					      mblk_dev_name(w->dev));
	*start = s.start;
	*count = s.count;
	*flags = s.flags;
	return s.status;
}
