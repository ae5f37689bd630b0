/* conformance.c - the contract of <mblk.h>, checked against any device.
 *
 *   conformance [--no-safe] [--expect-caps LIST] [--shim SPEC] URI
 *
 * Opens URI with mblk_open on a loop of its own and runs every check in
 * the table below, in order, printing "ok NAME", "ok NAME # SKIP why" or
 * "FAIL NAME: what was expected, what came". Exit status: 0 when every
 * check passed, 1 when one failed, 77 when the URI cannot be opened
 * because its scheme is not built in (-ENOTSUP from mblk_open).
 *
 * Design notes
 *
 * Every request goes through the asynchronous API (never the _sync
 * helpers) so that each completion can be checked against the contract:
 * the harness raises `in_submit` around every submitting call and each
 * callback records whether it ran inside one, how often it ran, its
 * status and its sentence (struct done, harness.h). wait_all runs the loop
 * until the callback came; a loop with nothing left to run while a
 * callback is still missing is reported as such, and SIGALRM catches a
 * device that hangs with handles still active.
 *
 * A check stops at its first failure and keeps that message (later ones
 * are usually consequences). Checks write their own data before reading
 * it, so they do not depend on each other; only the last ones
 * (disconnect, close) end the device's life. The read-only and
 * close-in-flight checks open the URI a second time: for an anonymous
 * ram: that is a different device, which is all they need.
 *
 * Data is written with pattern.h, so a read that returns the wrong data
 * says whose data it returned.
 *
 * Files: harness.[ch] (state, completions, request and data helpers),
 * check_rw.c (geometry, read/write, refused requests), check_ops.c
 * (flush, discard, zeroes, resize, seeks, read-only), check_async.c (the
 * asynchronous contract, disconnect, close), this file (the table, main).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "mtest.h"
#include "shim.h"

static const struct {
	const char *name;
	void (*fn)(void);
} checks[] = {
	{ "info", check_info },
	{ "expected_caps", check_expected_caps },
	{ "uri_reopens", check_uri },
	{ "rw_one_buffer", check_rw_one },
	{ "rw_data_is_copied", check_rw_copied },
	{ "rw_scatter_gather", check_rw_scatter },
	{ "rw_scatter_gather_large", check_rw_scatter_large },
	{ "rw_zero_buffers", check_rw_zero_buffers },
	{ "rw_first_sector", check_rw_first },
	{ "rw_last_sector", check_rw_last },
	{ "rw_many_pages", check_rw_many_pages },
	{ "rw_fua", check_rw_fua },
	{ "safe_unsafe_rw", check_unsafe_rw },
	{ "err_length_not_multiple", check_err_len },
	{ "err_start_past_end", check_err_start },
	{ "err_end_past_end", check_err_end },
	{ "err_overflow", check_err_overflow },
	{ "err_null_buffer", check_err_null_buffer },
	{ "err_null_iov", check_err_null_iov },
	{ "err_iovcnt", check_err_iovcnt },
	{ "err_range_ops_bounds", check_err_range_ops },
	{ "err_misaligned_buffer", check_err_misaligned },
	{ "empty_request_at_end_is_valid", check_empty_at_end },
	{ "null_callback_or_device", check_null_cb_dev },
	{ "flush", check_flush },
	{ "discard_reads_zeros", check_discard },
	{ "write_zeroes_reads_zeros", check_write_zeroes },
	{ "write_zeroes_no_hole_reads_zeros", check_write_zeroes_no_hole },
	{ "unsupported_ops_enotsup", check_unsupported },
	{ "resize_grow", check_resize_grow },
	{ "resize_shrink_then_grow", check_resize_shrink_grow },
	{ "resize_limits", check_resize_limits },
	{ "seek_at_end", check_seek_end },
	{ "seek_conservative", check_seek_sound },
	{ "seek_finds_discarded_hole", check_seek_hole },
	{ "extents_cover_the_device", check_extents_cover },
	{ "extents_sound", check_extents_sound },
	{ "extents_limits", check_extents_limits },
	{ "cache", check_cache },
	{ "write_zeroes_fast", check_zeroes_fast },
	{ "read_only", check_read_only },
	{ "never_inside_submit", check_never_inside },
	{ "any_order_exactly_once", check_any_order },
	{ "stress_1000_qd64", check_stress },
	{ "close_in_flight", check_close_in_flight },
	{ "close_while_disconnecting", check_close_while_disconnecting },
	{ "close_from_callback", check_close_from_callback },
	{ "disconnect_in_flight", check_disconnect },
	{ "close", check_close },
	{ "never_inside_submit_overall", check_overall_inside },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: conformance [--no-safe] [--expect-caps LIST] "
		"[--shim SPEC] URI\n"
		"  LIST: comma-separated, from flush, discard, "
		"write_zeroes, resize,\n"
		"        seek, fua, zero_is_fast, cache, or none (the exact set "
		"expected)\n"
		"  SPEC: put the test shim under safe (delay, caps=A+B, "
		"align=N; see shim.h)\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-safe") == 0) {
			open_flags |= MBLK_OPEN_NO_SAFE;
		} else if (strcmp(argv[i], "--expect-caps") == 0 &&
			   i + 1 < argc) {
			expect_caps = argv[++i];
		} else if (strcmp(argv[i], "--shim") == 0 && i + 1 < argc) {
			shim_spec = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			usage(stderr);
			return 2;
		} else if (uri == NULL) {
			uri = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (uri == NULL) {
		usage(stderr);
		return 2;
	}
	signal(SIGALRM, alarm_handler);
	uv_loop_init(&loop);
	int r = shim_open(&loop, uri, open_flags, shim_spec, &dev);
	if (r == -ENOTSUP) {
		printf("# SKIP %s: %s\n", uri, mblk_last_error());
		uv_loop_close(&loop);
		return 77;
	}
	if (r < 0) {
		printf("FAIL open: mblk_open_sync(\"%s\") returned %d: %s\n",
		       uri, r, mblk_last_error());
		return 1;
	}
	mtest_check_engine(uri, dev);
	devname = mblk_dev_name(dev);
	refresh_info();
	ss = info.sector_size;
	spp = 4096 / ss ? 4096 / ss : 1;
	balign = info.buf_align > 4096 ? info.buf_align : 4096;
	printf("# %s%s%s%s: %s, %" PRIu64 " sectors of %u bytes\n", uri,
	       open_flags & MBLK_OPEN_NO_SAFE ? " (no safe)" : " (safe)",
	       shim_spec ? " shim " : "", shim_spec ? shim_spec : "", devname,
	       size, ss);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		run_check(checks[i].name, checks[i].fn);
	printf("# %d passed, %d failed, %d skipped\n", npass, nfail, nskip);
	return nfail ? 1 : 0;
}
