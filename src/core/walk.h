/* walk.h - the one extent walker: where a device's data is, in order,
 * rounded to a granule, for `mblk map`, `mblk copy`, `mblk compare`, the
 * mirror's copier and the NBD server's BLOCK_STATUS. Internal (the CLI
 * and the library's own users link the static library).
 *
 * The rule for granularity and edges, the same for every user: the range
 * is cut into granules of G sectors at multiples of G (the first and the
 * last may be partial, at the range's ends); a granule's flags are those
 * every part of it has (MBLK_EXTENT_HOLE / MBLK_EXTENT_ZERO, ANDed), so
 * data is rounded outward and holes and zeros inward; neighbouring
 * granules with the same flags are merged into one extent. With G = 1
 * the extents are the device's own, merged.
 *
 * Cost: one mblk_extents call per WALK_BATCH extents the device reports,
 * plus nothing per granule inside a long extent: walking an empty 8 EiB
 * device is one call.
 */
#ifndef MBLK_CORE_WALK_H
#define MBLK_CORE_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include <mblk.h>

#define MBLK__WALK_BATCH 64

/* Called once for a walk step that had to ask the device: e is the next
 * extent (e->count 0 at the end), or status < 0 with the sentence. */
typedef void (*mblk__walk_cb)(void *data, int status,
			      const struct mblk_extent *e, const char *error);

struct mblk__walk {
	mblk_dev *dev;
	uint64_t end;     /* the range's end (sectors of dev) */
	uint64_t granule; /* G, a power of two */
	uint64_t pos;     /* everything before it is reported or merged */
	/* The device's extents fetched last: ext[i..n) not yet used. */
	struct mblk_extent ext[MBLK__WALK_BATCH];
	int n, i;
	/* The granule being scanned: from gstart, scanned up to gpos. */
	uint64_t gpos;
	uint32_t gflags;
	bool in_granule;
	/* The extent being merged. */
	bool have;
	struct mblk_extent acc;
	/* The ask in flight. */
	bool busy;
	mblk__walk_cb cb;
	void *data;
};

/* Prepares a walk of [start, end) of dev with granule G sectors (a power
 * of two; 1 for the device's own extents). */
void mblk__walk_init(struct mblk__walk *w, mblk_dev *dev, uint64_t start,
		     uint64_t end, uint64_t granule);

/* The next extent. Returns 1 with *out filled when it is known now (the
 * end of the range is out->count == 0); 0 when the device had to be
 * asked: cb is then called once, from the loop, with the extent or an
 * error; or -errno when the ask could not be submitted (the sentence is
 * in mblk_last_error). One step at a time: not again before cb. */
int mblk__walk_next(struct mblk__walk *w, struct mblk_extent *out,
		    mblk__walk_cb cb, void *data);

#endif
