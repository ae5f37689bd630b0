/* shim.h - a test decorator that makes a well-behaved device awkward.
 *
 * The ram device completes every request at once, in order, with every
 * capability and no alignment needs, so on ram alone several parts of
 * the contract are never exercised: completions that arrive late and out
 * of order, disconnect waiting for them, -ENOTSUP for a missing
 * capability, seeks without MBLK_CAP_SEEK, and safe's buffer alignment
 * check. The shim sits between safe and the device and adds them:
 *
 *   delay      complete every request from a timer on a later loop
 *              iteration, in a shuffled order
 *   caps=LIST  keep only these capabilities ("none", or names joined
 *              by '+': flush+seek); requests for the others fail with
 *              -ENOTSUP, and without seek the seeks answer "all data"
 *   align=N    report buf_align N (a power of two), so that safe
 *              refuses buffers not aligned to it
 *
 * SPEC joins them with ',': "delay,caps=none,align=512".
 */
#ifndef MBLK_TEST_SHIM_H
#define MBLK_TEST_SHIM_H

#include <stdint.h>

#include <mblk.h>

/* Wraps inner (which the new device owns) as SPEC says. Returns 0 or
 * -EINVAL with a message on stderr. */
int shim_wrap(mblk_dev *inner, const char *spec, mblk_dev **devp);

/* Opens uri the way the tests do: with a shim spec, the device is
 * opened without safe, wrapped in the shim, then in safe unless flags
 * has MBLK_OPEN_NO_SAFE. Without one (spec NULL), plain mblk_open. */
int shim_open(uv_loop_t *loop, const char *uri, unsigned flags,
	      const char *spec, mblk_dev **devp);

/* The capabilities by the names mblk info prints ("flush", "discard",
 * "write_zeroes", ...), ending with { NULL, 0 }: the shim's caps= and the
 * conformance suite's --expect-caps both read them. */
/* The bit of the capability called name, or 0 if there is none. */
uint32_t shim_cap_bit(const char *name);

#endif
