/* progress.h - progress reporting for long CLI operations (copy, mirror).
 *
 *   struct progress *p = progress_new(mode, "copy", total_bytes);
 *   ... progress_update(p, done_bytes, data_bytes);  as often as convenient
 *   progress_warn(p, "...");             a warning on a line of its own
 *   progress_finish(p, outcome);         prints the last report, frees p
 *
 * done counts the bytes of the device dealt with (holes included: what
 * the percentage and the ETA follow); data counts the bytes actually
 * moved, and the rate shown is data per second, so skipping holes does
 * not look like speed.
 *
 * Modes: PROGRESS_NONE prints nothing; PROGRESS_BAR draws a bar with
 * rate and ETA on stderr, but only when stderr is a terminal (otherwise
 * it behaves as NONE), and fitted to the terminal's width each time it is
 * drawn; PROGRESS_JSON prints on stdout one line per update
 *   {"done":N,"total":N,"percent":P,"data_bytes":D,
 *    "rate_bytes_per_s":R,"eta_s":E,"elapsed_s":S}
 * Updates are printed at most ~10 times a second whatever the call rate,
 * so progress_update is cheap enough to call on every completion. The
 * final report is always printed: JSON gets a last line with
 * "finished":true, "ok" and "outcome" ("complete", "failed" or
 * "interrupted", with "signal" then). progress_new returns NULL only
 * without memory; every function accepts NULL and then does nothing
 * (progress_warn still prints the warning).
 */
#ifndef MBLK_CLI_PROGRESS_H
#define MBLK_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

enum progress_mode { PROGRESS_NONE, PROGRESS_BAR, PROGRESS_JSON };

/* How it ended: PROGRESS_OK, PROGRESS_FAILED, or a signal number (> 0)
 * for an interruption. */
enum { PROGRESS_OK = 0, PROGRESS_FAILED = -1 };

struct progress;

/* Parses the value of --progress[=WHAT]: NULL or "bar" → BAR, "json" →
 * JSON, "none" → NONE. Returns 0, or -1 for anything else. */
int progress_parse_mode(const char *arg, enum progress_mode *mode);

struct progress *progress_new(enum progress_mode mode, const char *label,
			      uint64_t total_bytes);
void progress_update(struct progress *p, uint64_t done_bytes,
		     uint64_t data_bytes);
/* Prints "mblk LABEL: <sentence>" on stderr on a line of its own (the
 * bar, if drawn, is cleared first and redrawn at the next update). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void progress_warn(struct progress *p, const char *label, const char *fmt,
		   ...);
void progress_finish(struct progress *p, int outcome);

#endif
