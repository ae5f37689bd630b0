/* mblk/fault.h - the fault-injection decorator: fail or delay chosen
 * requests of a device, to test how a stack above it copes.
 * docs/decorators/fault.md.
 *
 * A fault device wraps an inner device and passes every request through,
 * except those that one of its rules matches: those are delayed, failed
 * with a chosen errno (without reaching the inner device), or both. Rules
 * can be replaced at any time, so a test can let a device work for a
 * while and then make it fail.
 *
 * By URI (mblk_open): fault:?inner=<percent-encoded URI>&fail=write&...
 * (the keys are in docs/decorators/fault.md).
 */
#ifndef MBLK_FAULT_H
#define MBLK_FAULT_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The operations a rule applies to (mblk_fault_rule.ops). Seeks, resizes
 * and disconnects are never faulted. */
#define MBLK_FAULT_READ (1u << 0)
#define MBLK_FAULT_WRITE (1u << 1)
#define MBLK_FAULT_FLUSH (1u << 2)
#define MBLK_FAULT_DISCARD (1u << 3)
#define MBLK_FAULT_WRITE_ZEROES (1u << 4)
#define MBLK_FAULT_ANY 0x1fu

#define MBLK_FAULT_MAX_RULES 8

/* One rule. A request matches when its operation is in ops and it
 * touches a sector in [from, to) (to = 0: up to the end; a flush touches
 * every sector). Each rule numbers the requests it matches 1, 2, 3, ...
 * and fires on match n when n passes every trigger that is set:
 *   every > 0: n is a multiple of every;
 *   after > 0: n > after (the first `after` matches pass);
 *   at > 0:    n == at (it fires once).
 * With no trigger set it fires on every match. Firing delays the request
 * by delay_us (rounded up to the loop's millisecond timer; the longest of
 * the rules that fire), then fails it with -error if error > 0 (the
 * first firing rule with an error wins), without passing it on. A zeroed
 * rule does nothing. */
struct mblk_fault_rule {
	unsigned ops;      /* MBLK_FAULT_* bits */
	uint64_t from, to; /* sector range of the fault device */
	int error;         /* positive errno to fail with; 0: never fail */
	uint64_t every, after, at;
	uint64_t delay_us; /* delay before passing on or failing */
};

/* What a fault device has done since its rules were last set. */
struct mblk_fault_stats {
	uint64_t matched; /* requests at least one rule matched */
	uint64_t failed;  /* requests failed by a rule */
	uint64_t delayed; /* requests delayed */
};

/* Wraps inner in a fault device with nrules rules (0 to
 * MBLK_FAULT_MAX_RULES; rules may be NULL when nrules is 0). The new
 * device owns inner. Returns 0, or -errno with mblk_last_error set (inner
 * is then still the caller's). Call on the loop's thread. */
MBLK_API int mblk_fault_wrap(mblk_dev *inner,
			     const struct mblk_fault_rule *rules, int nrules,
			     mblk_dev **devp);

/* Replaces the rules of a fault device (dev may also be a device stacked
 * on it through child 0, such as the `safe` wrapper mblk_open adds) and
 * resets the counters and statistics. Requests already delayed keep the
 * decision made when they arrived. Returns 0 or -EINVAL. */
MBLK_API int mblk_fault_set_rules(mblk_dev *dev,
				  const struct mblk_fault_rule *rules,
				  int nrules);

/* Copies the statistics into *stats. Returns 0 or -EINVAL (not a fault
 * device). */
MBLK_API int mblk_fault_get_stats(mblk_dev *dev,
				  struct mblk_fault_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_FAULT_H */
