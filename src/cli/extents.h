/* extents.h - the extent walker the CLI's map, copy, compare and bench
 * use: one extent per call, asynchronous, rounded to a granule.
 *
 *   struct cli_walk w;
 *   cli_walk_init(&w, dev, start, end, granule);   sectors of dev
 *   cli_walk_next(&w, cb, data);  cb(data, status, start, count, flags, error)
 *
 * The rule (the same as the core's walker, src/core/walk.h, which this
 * stands in for until it is on main): extents come in order, without
 * gaps, from start to end; data is rounded outward to the granule, holes
 * inward, so a hole shorter than a granule is data; neighbours with the
 * same flags are merged. flags is 0 for data, CLI_EXT_HOLE | CLI_EXT_ZERO
 * for a hole (holes read as zeros). A device without MBLK_CAP_SEEK is one
 * data extent. cli_walk_next returns 0 if started (cb is then called
 * exactly once, from the loop) or -errno (cb never called); the walk is
 * over when the last extent ends at `end`. One call at a time.
 */
#ifndef MBLK_CLI_EXTENTS_H
#define MBLK_CLI_EXTENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <mblk.h>

#define CLI_EXT_HOLE 1u /* not allocated */
#define CLI_EXT_ZERO 2u /* reads as zeros */

typedef void (*cli_walk_cb)(void *data, int status, uint64_t start,
			    uint64_t count, uint32_t flags, const char *error);

struct cli_walk {
	mblk_dev *dev;
	uint64_t pos, end, granule; /* sectors */
	/* The data extent being built: [ext_start, pos) when in_data. */
	uint64_t ext_start;
	bool in_data;
	cli_walk_cb cb;
	void *data;
};

void cli_walk_init(struct cli_walk *w, mblk_dev *dev, uint64_t start,
		   uint64_t end, uint64_t granule);
int cli_walk_next(struct cli_walk *w, cli_walk_cb cb, void *data);

/* Runs the walk to the next extent on loop; for code outside callbacks.
 * Returns 0 with the extent, or -errno with the sentence in
 * mblk_last_error(). */
int cli_walk_next_sync(struct cli_walk *w, uv_loop_t *loop, uint64_t *start,
		       uint64_t *count, uint32_t *flags);

#endif
