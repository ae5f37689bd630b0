/* progress.h - progress reporting for long CLI operations (copy, mirror).
 *
 *   struct progress *p = progress_new(mode, "copy", total_bytes);
 *   ... progress_update(p, done_bytes);   as often as convenient
 *   progress_finish(p, ok);               prints the last report, frees p
 *
 * Modes: PROGRESS_NONE prints nothing; PROGRESS_BAR draws a bar with
 * rate and ETA on stderr, but only when stderr is a terminal (otherwise
 * it behaves as NONE); PROGRESS_JSON prints on stdout one line per update
 *   {"done":N,"total":N,"percent":P,"rate_bytes_per_s":R,"eta_s":E}
 * Updates are printed at most ~10 times a second whatever the call rate,
 * so progress_update is cheap enough to call on every completion. The
 * final report is always printed (JSON gets a last line with
 * "finished":true and "ok"). progress_new returns NULL only without
 * memory; every function accepts NULL and then does nothing.
 */
#ifndef MBLK_CLI_PROGRESS_H
#define MBLK_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

enum progress_mode { PROGRESS_NONE, PROGRESS_BAR, PROGRESS_JSON };

struct progress;

/* Parses the value of --progress[=WHAT]: NULL or "bar" → BAR, "json" →
 * JSON, "none" → NONE. Returns 0, or -1 for anything else. */
int progress_parse_mode(const char *arg, enum progress_mode *mode);

struct progress *progress_new(enum progress_mode mode, const char *label,
			      uint64_t total_bytes);
void progress_update(struct progress *p, uint64_t done_bytes);
void progress_finish(struct progress *p, bool ok);

#endif
