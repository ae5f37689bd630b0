/* migrate.h - the live migration behind `mblk serve SRC --mirror-to DST`:
 * a mirror of SRC onto DST that the server exports, pivoted onto DST
 * when it is in sync (at once with --pivot=auto, on the control socket's
 * command with manual). docs/migration.md.
 *
 *   migrate_open(&mo, loop, &m, &dev)   opens SRC and DST and the mirror
 *   ... export dev (clients see one device throughout) ...
 *   migrate_pivot(m, cb, data) / migrate_cancel(m) / migrate_retry(m)
 *   migrate_set_rate, migrate_set_share
 *   migrate_status(m, &st)              for status and metrics
 *   migrate_stop(m)                     stops its timers (shutdown)
 *   migrate_free(m)                     after dev is closed
 *
 * Everything runs on the loop's thread.
 */
#ifndef MBLK_CLI_MIGRATE_H
#define MBLK_CLI_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include <mblk/mirror.h>

#include "progress.h"

enum migrate_pivot_mode { MIGRATE_PIVOT_AUTO, MIGRATE_PIVOT_MANUAL };

/* What a migration reports (to the control socket's controller). */
enum migrate_event {
	MIGRATE_EV_PROGRESS,     /* a new whole percent */
	MIGRATE_EV_ACTIVE,       /* the mirror went to active mode */
	MIGRATE_EV_IN_SYNC,      /* DST equals SRC and is flushed */
	MIGRATE_EV_ERROR,        /* a copy failure that will be retried */
	MIGRATE_EV_FAILED,       /* the copy stopped; the export serves SRC */
	MIGRATE_EV_CANCELLED,    /* cancelled; the export serves SRC */
	MIGRATE_EV_PIVOTED,      /* the export serves DST; SRC is closed */
	MIGRATE_EV_PIVOT_FAILED, /* the pivot failed; as before it */
};

struct migrate_opts {
	const char *src, *dst; /* URIs */
	enum migrate_pivot_mode pivot;
	struct mblk_mirror_opts mirror;
	bool dst_direct; /* a file DST is written with O_DIRECT */
	bool read_only;  /* open SRC read-only (no client writes) */
	enum progress_mode progress;
	/* Events, with a sentence for ERROR, FAILED and PIVOT_FAILED. */
	void (*on_event)(void *data, enum migrate_event ev, const char *msg);
	void *on_event_data;
};

struct migrate;

struct migrate_status {
	const char *src, *dst;
	const char *state; /* "copying", "in-sync", "pivoting", "pivoted",
	                      "failed", "cancelled" */
	const char *mode;  /* "background" or "active" */
	const char *pivot; /* "auto" or "manual" */
	struct mblk_mirror_progress p; /* zero once pivoted but for total */
	uint64_t rate_limit;           /* bytes/s, 0: none */
	unsigned copy_share;           /* percent, 100: never rests */
	uint64_t copy_errors;          /* failures seen (retried or not) */
	const char *error;             /* the last failure, or NULL */
	double pivot_ms;               /* how long the pivot took, or -1 */
	double pause_ms; /* the slowest request around the pivot, or -1 */
};

const char *migrate_event_name(enum migrate_event ev);

/* Opens o->src and o->dst (a file path DST that does not exist is
 * created sparse, with SRC's size) and the mirror, and starts copying.
 * *devp is the device to export: stacked devices may be put on it as
 * long as the mirror stays reachable through child 0; migrate_attach
 * says which. Returns 0, or -1 after printing the sentence. */
int migrate_open(const struct migrate_opts *o, uv_loop_t *loop,
		 struct migrate **mp, mblk_dev **devp);

/* The device exported on top of the mirror, and its slowest-request
 * window for measuring the pivot's pause (NULL: not measured). */
struct stats;
void migrate_attach(struct migrate *m, mblk_dev *top, struct stats *st);

/* Pivot completion: status 0 or -errno with its sentence. */
typedef void (*migrate_cb)(void *data, int status, const char *error);

/* Starts the pivot. Returns 0 (cb, which may be NULL, called once from
 * the loop), or -errno with the sentence in mblk_last_error(): -EBUSY
 * not yet in sync or the copy stopped, -EALREADY pivoting or pivoted. */
int migrate_pivot(struct migrate *m, migrate_cb cb, void *data);
/* 0, or -errno with the sentence in mblk_last_error(). */
int migrate_cancel(struct migrate *m);
/* After a failure or a cancel: copy everything again. */
int migrate_retry(struct migrate *m);
int migrate_set_rate(struct migrate *m, uint64_t rate);
int migrate_set_share(struct migrate *m, unsigned share);

void migrate_status(struct migrate *m, struct migrate_status *st);

/* Stops the timers and the progress display; nothing more is reported. */
void migrate_stop(struct migrate *m);
/* Frees m once its handles are closed (after migrate_stop and a loop
 * run) and the exported device is closed. */
void migrate_free(struct migrate *m);

#endif
