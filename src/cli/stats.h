/* stats.h - a counting layer over an exported device, for the control
 * socket's status and the Prometheus metrics of `mblk serve`.
 *
 *   mblk_dev *top;
 *   struct stats *st;
 *   stats_wrap(dev, &top, &st);   top forwards every request to dev
 *   ... export top; read st->op[...] on the loop's thread ...
 *   mblk_close(top, ...)          closes dev too
 *
 * The layer is a decorator (include/mblk/backend.h) with dev as child 0,
 * so mblk_mirror_pivot and mblk_mirror_get_progress reach a mirror
 * through it. It counts, per operation as NBD names them, the requests,
 * their bytes, the failures and a histogram of their latencies (from the
 * moment the server submits to the device until the device answers: the
 * time the network adds is not in it). Counters are plain integers
 * written on the loop's thread only; another thread reads a copy taken
 * on the loop (metrics.c).
 */
#ifndef MBLK_CLI_STATS_H
#define MBLK_CLI_STATS_H

#include <stdint.h>

#include <mblk.h>

enum stats_op {
	STATS_READ,
	STATS_WRITE,
	STATS_FLUSH,
	STATS_TRIM,
	STATS_WRITE_ZEROES,
	STATS_CACHE,
	STATS_BLOCK_STATUS, /* extents and seeks */
	STATS_NOPS,
};

/* Upper bounds of the latency buckets in microseconds; the last bucket
 * counts everything slower (Prometheus's +Inf). */
#define STATS_NBUCKETS 16
extern const uint32_t stats_bucket_us[STATS_NBUCKETS - 1];

struct stats_op_counts {
	uint64_t requests; /* completed, failed ones included */
	uint64_t bytes;    /* read or written (READ/WRITE), or the range
	                      (TRIM, WRITE_ZEROES, CACHE) */
	uint64_t errors;
	uint64_t sum_ns; /* total latency, for the histogram's _sum */
	uint64_t bucket[STATS_NBUCKETS]; /* per bucket, not cumulative */
};

struct stats {
	struct stats_op_counts op[STATS_NOPS];
	uint64_t inflight;
	uint64_t max_ns;    /* the slowest request ever */
	uint64_t window_ns; /* the slowest since stats_window_reset */
};

/* "read", "write", "flush", "trim", "write_zeroes", "cache",
 * "block_status". */
const char *stats_op_name(enum stats_op op);

/* Wraps dev (which the new device then owns). Returns 0, or -errno with
 * the sentence in mblk_last_error(). st lives as long as *topp. */
int stats_wrap(mblk_dev *dev, mblk_dev **topp, struct stats **st);

/* Starts a new window for window_ns (the pivot's pause). */
void stats_window_reset(struct stats *st);

#endif
