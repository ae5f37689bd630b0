/* migrate.c - serve while mirroring, then pivot (migrate.h).
 *
 * Design notes
 *
 * The mirror (include/mblk/mirror.h) does the hard part: it copies SRC
 * onto DST under live writes, converges by itself, and pivots onto DST
 * without the device handle changing. This file puts it in front of the
 * NBD server and decides when to pivot:
 *
 *   SRC ─┐
 *        ├─ mirror ─ stats ─ NBD export ─ clients (connected throughout)
 *   DST ─┘
 *
 *   copying ──COMPLETE──► in-sync ──pivot──► pivoting ──► pivoted
 *      │                     │ (auto: at once)   │ flush failed:
 *      │ FAILED / cancel     │                   └──► in-sync again
 *      ▼                     ▼
 *   failed / cancelled: the export goes on serving SRC
 *
 * Auto mode starts the pivot from a zero timer, not inside the mirror's
 * callback (which may only read progress or close). A pivot whose flush
 * of DST fails leaves the mirror in sync; auto mode tries again after a
 * second, three times, and then waits for a pivot command.
 *
 * The pause a pivot causes: requests arriving during it wait in the
 * mirror until DST is flushed; the slowest request of the export from
 * the pivot's start until 250 ms after its end is reported as pause_ms.
 *
 * Progress on the terminal is the bar (or JSON lines) of `mblk mirror`
 * (progress.c), fed from a 100 ms timer until the mirror is in sync.
 *
 * A copy that stopped (a failing DST, a cancel) can be started again
 * with migrate_retry (the control socket's retry), once DST is repaired:
 * the mirror copies everything again (mblk_mirror_resume), and in sync it
 * pivots as --pivot says.
 *
 * Shutting down (quit, SIGTERM) while still copying cancels the copy
 * (migrate_stop): the command runs its loop until idle before closing
 * the devices, and a copier left running would keep it busy to the end
 * of the copy, or for the rest of a rate limit's delay.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk/backend.h>

#include "../common/size.h"
#include "../core/uri.h"
#include "cli.h"
#include "migrate.h"
#include "stats.h"

#define MIGRATE_AUTO_RETRIES 3
#define MIGRATE_RETRY_MS 1000
#define MIGRATE_PAUSE_WINDOW_MS 250

struct migrate {
	uv_loop_t *loop;
	struct migrate_opts o;
	char *src, *dst;
	mblk_dev *mirror; /* the mirror itself */
	mblk_dev *top;    /* what pivots and progress go through */
	struct stats *st;
	struct progress *prog;
	uint64_t shown, total;
	uv_timer_t tick; /* progress */
	uv_timer_t kick; /* auto pivot, and the pause window */
	bool in_sync_seen, pivoting, pivoted, stopped, reported;
	int auto_tries;
	uint64_t rate;
	unsigned share; /* the copy's share, percent */
	uint64_t copy_errors;
	char *error;
	uint64_t pivot_t0;
	double pivot_ms, pause_ms;
	migrate_cb pivot_cb;
	void *pivot_data;
	unsigned handles;
};

static const char *const migrate_names[] = {
	[MIGRATE_EV_PROGRESS] = "progress",
	[MIGRATE_EV_ACTIVE] = "active",
	[MIGRATE_EV_IN_SYNC] = "in-sync",
	[MIGRATE_EV_ERROR] = "copy-error",
	[MIGRATE_EV_FAILED] = "failed",
	[MIGRATE_EV_CANCELLED] = "cancelled",
	[MIGRATE_EV_PIVOTED] = "pivoted",
	[MIGRATE_EV_PIVOT_FAILED] = "pivot-failed",
};

const char *migrate_event_name(enum migrate_event ev)
{
	return migrate_names[ev];
}

static void migrate_emit(struct migrate *m, enum migrate_event ev,
			 const char *msg)
{
	if (m->o.on_event && !m->stopped)
		m->o.on_event(m->o.on_event_data, ev, msg);
}

static void migrate_set_error(struct migrate *m, const char *msg)
{
	free(m->error);
	m->error = msg ? strdup(msg) : NULL;
}

static void migrate_show(struct migrate *m)
{
	struct mblk_mirror_progress p;
	if (m->prog == NULL || mblk_mirror_get_progress(m->top, &p) < 0)
		return;
	/* Re-dirtied ranges make done go down; the bar only moves on. */
	if (p.bytes_done > m->shown)
		m->shown = p.bytes_done;
	progress_update(m->prog, m->shown, p.bytes_read);
}

static void migrate_finish_bar(struct migrate *m, bool ok)
{
	if (m->prog == NULL)
		return;
	struct mblk_mirror_progress p;
	if (ok && mblk_mirror_get_progress(m->top, &p) == 0)
		progress_update(m->prog, m->total, p.bytes_read);
	progress_finish(m->prog, ok ? PROGRESS_OK : PROGRESS_FAILED);
	m->prog = NULL;
	uv_timer_stop(&m->tick);
}

static void migrate_tick(uv_timer_t *t)
{
	migrate_show(t->data);
}

static void migrate_report_pivot(struct migrate *m)
{
	if (m->reported)
		return;
	m->reported = true;
	m->pause_ms = m->st ? (double)m->st->window_ns / 1e6 : -1;
	char pause[64] = "no client request around it";
	if (m->pause_ms > 0)
		snprintf(pause, sizeof(pause),
			 "slowest request around it: %.1f ms", m->pause_ms);
	fprintf(stderr,
		"mblk serve: pivoted onto %s in %.1f ms (%s); %s is "
		"closed\n",
		m->dst, m->pivot_ms, pause, m->src);
	migrate_emit(m, MIGRATE_EV_PIVOTED, NULL);
}

static void migrate_pause_done(uv_timer_t *t)
{
	migrate_report_pivot(t->data);
}

static void migrate_auto(uv_timer_t *t);

static void migrate_pivot_done(void *data, int status, mblk_dev *primary,
			       const char *error)
{
	struct migrate *m = data;
	(void)primary; /* closed by the mirror: no KEEP_PRIMARY */
	m->pivoting = false;
	migrate_cb cb = m->pivot_cb;
	void *cbdata = m->pivot_data;
	m->pivot_cb = NULL;
	if (status == 0) {
		m->pivoted = true;
		m->pivot_ms = (double)(uv_hrtime() - m->pivot_t0) / 1e6;
		if (!m->stopped) {
			uv_timer_stop(&m->kick);
			uv_timer_start(&m->kick, migrate_pause_done,
				       MIGRATE_PAUSE_WINDOW_MS, 0);
		}
	} else {
		fprintf(stderr, "mblk serve: the pivot onto %s failed: %s\n",
			m->dst, error);
		migrate_set_error(m, error);
		migrate_emit(m, MIGRATE_EV_PIVOT_FAILED, error);
		if (m->o.pivot == MIGRATE_PIVOT_AUTO && !m->stopped &&
		    ++m->auto_tries < MIGRATE_AUTO_RETRIES) {
			uv_timer_stop(&m->kick);
			uv_timer_start(&m->kick, migrate_auto, MIGRATE_RETRY_MS,
				       0);
		}
	}
	if (cb)
		cb(cbdata, status, error);
}

int migrate_pivot(struct migrate *m, migrate_cb cb, void *data)
{
	if (m->pivoted)
		return mblk_set_error(-EALREADY,
				      "the export already serves %s: the "
				      "pivot is done",
				      m->dst);
	if (m->pivoting)
		return mblk_set_error(-EALREADY, "a pivot onto %s is under way",
				      m->dst);
	m->pivot_t0 = uv_hrtime();
	if (m->st)
		stats_window_reset(m->st);
	int r = mblk_mirror_pivot(m->top, 0, migrate_pivot_done, m);
	if (r < 0)
		return r; /* the mirror's sentence */
	m->pivoting = true;
	m->pivot_cb = cb;
	m->pivot_data = data;
	return 0;
}

static void migrate_auto(uv_timer_t *t)
{
	struct migrate *m = t->data;
	if (m->pivoted || m->pivoting || m->stopped)
		return;
	if (migrate_pivot(m, NULL, NULL) < 0)
		fprintf(stderr, "mblk serve: cannot pivot onto %s: %s\n",
			m->dst, mblk_last_error());
}

static void migrate_event_cb(void *data, enum mblk_mirror_event ev, int value,
			     const char *error)
{
	struct migrate *m = data;
	(void)value;
	switch (ev) {
	case MBLK_MIRROR_PERCENT:
		migrate_show(m);
		migrate_emit(m, MIGRATE_EV_PROGRESS, NULL);
		break;
	case MBLK_MIRROR_COMPLETE:
		migrate_finish_bar(m, true);
		if (!m->in_sync_seen)
			fprintf(stderr, "mblk serve: %s is in sync with %s%s\n",
				m->dst, m->src,
				m->o.pivot == MIGRATE_PIVOT_AUTO
					? "; pivoting"
					: "; waiting for the pivot command");
		m->in_sync_seen = true;
		migrate_emit(m, MIGRATE_EV_IN_SYNC, NULL);
		if (m->o.pivot == MIGRATE_PIVOT_AUTO && !m->stopped) {
			m->auto_tries = 0;
			uv_timer_stop(&m->kick);
			uv_timer_start(&m->kick, migrate_auto, 0, 0);
		}
		break;
	case MBLK_MIRROR_ACTIVE:
		migrate_emit(m, MIGRATE_EV_ACTIVE, NULL);
		break;
	case MBLK_MIRROR_ERROR:
		m->copy_errors++;
		migrate_set_error(m, error);
		/* On a line of its own, the bar redrawn after it. */
		progress_warn(m->prog, "serve", "warning: %s; copying it again",
			      error);
		migrate_emit(m, MIGRATE_EV_ERROR, error);
		break;
	case MBLK_MIRROR_FAILED:
		m->copy_errors++;
		migrate_set_error(m, error);
		migrate_finish_bar(m, false);
		fprintf(stderr,
			"mblk serve: the mirror onto %s failed: %s; the export "
			"goes on serving %s\n",
			m->dst, error, m->src);
		migrate_emit(m, MIGRATE_EV_FAILED, error);
		break;
	case MBLK_MIRROR_CANCELLED:
		migrate_finish_bar(m, false);
		if (m->stopped)
			break; /* the shutdown's own cancel (migrate_stop) */
		fprintf(stderr,
			"mblk serve: the mirror onto %s is cancelled; the "
			"export goes on serving %s\n",
			m->dst, m->src);
		migrate_emit(m, MIGRATE_EV_CANCELLED, NULL);
		break;
	case MBLK_MIRROR_SWITCHED: break; /* reported by migrate_pivot_done */
	}
}

int migrate_cancel(struct migrate *m)
{
	if (m->pivoting)
		return mblk_set_error(-EBUSY,
				      "a pivot onto %s is under way: too late "
				      "to cancel",
				      m->dst);
	int r = mblk_mirror_cancel(m->top);
	if (r == -EALREADY)
		return mblk_set_error(r,
				      m->pivoted ? "the pivot onto %s is done: "
						   "nothing to cancel"
						 : "the mirror onto %s has "
						   "stopped already",
				      m->dst);
	if (r < 0)
		return mblk_set_error(r, "cannot cancel the mirror onto %s: %s",
				      m->dst, mblk_strerror(r));
	return 0;
}

int migrate_retry(struct migrate *m)
{
	if (m->pivoted || m->pivoting)
		return mblk_set_error(-EALREADY,
				      "the pivot onto %s is %s: nothing to "
				      "retry",
				      m->dst,
				      m->pivoted ? "done" : "under way");
	int r = mblk_mirror_resume(m->top);
	if (r == -EALREADY)
		return mblk_set_error(r,
				      "the mirror onto %s has not stopped: "
				      "nothing to retry",
				      m->dst);
	if (r < 0)
		return mblk_set_error(r, "cannot retry the mirror onto %s: %s",
				      m->dst, mblk_strerror(r));
	fprintf(stderr, "mblk serve: copying onto %s again, from the start\n",
		m->dst);
	m->in_sync_seen = false;
	m->auto_tries = 0;
	if (m->prog == NULL && !m->stopped) {
		m->shown = 0;
		m->prog = progress_new(m->o.progress, "serve", m->total);
		uv_timer_start(&m->tick, migrate_tick, 100, 100);
	}
	return 0;
}

int migrate_set_share(struct migrate *m, unsigned share)
{
	int r = mblk_mirror_set_share(m->top, share);
	if (r < 0)
		return r; /* the sentence names the mirror and the share */
	m->share = share;
	return 0;
}

int migrate_set_rate(struct migrate *m, uint64_t rate)
{
	int r = mblk_mirror_set_rate(m->top, rate);
	if (r < 0)
		return mblk_set_error(r,
				      "cannot set the rate of the mirror "
				      "onto %s",
				      m->dst);
	m->rate = rate;
	return 0;
}

void migrate_status(struct migrate *m, struct migrate_status *st)
{
	memset(st, 0, sizeof(*st));
	st->src = m->src;
	st->dst = m->dst;
	st->pivot = m->o.pivot == MIGRATE_PIVOT_AUTO ? "auto" : "manual";
	st->rate_limit = m->rate;
	st->copy_share = m->share;
	st->copy_errors = m->copy_errors;
	st->error = m->error;
	st->pivot_ms = m->pivoted ? m->pivot_ms : -1;
	st->pause_ms = m->pivoted ? m->pause_ms : -1;
	mblk_mirror_get_progress(m->top, &st->p);
	st->mode = st->p.mode == MBLK_MIRROR_ACTIVE_MODE ? "active"
							 : "background";
	if (m->pivoting)
		st->state = "pivoting";
	else
		switch (st->p.state) {
		case MBLK_MIRROR_COPYING: st->state = "copying"; break;
		case MBLK_MIRROR_SYNCED: st->state = "in-sync"; break;
		case MBLK_MIRROR_PIVOTED: st->state = "pivoted"; break;
		case MBLK_MIRROR_STOPPED:
			st->state = st->p.error == -ECANCELED ? "cancelled"
							      : "failed";
			break;
		}
	if (st->p.state == MBLK_MIRROR_STOPPED && st->p.error_msg)
		st->error = st->p.error_msg;
}

void migrate_attach(struct migrate *m, mblk_dev *top, struct stats *st)
{
	m->top = top;
	m->st = st;
}

/* DST becomes the clients' disk at the pivot. Written through the page
 * cache in the copy's 1 MiB pieces, its cache would be large folios, and
 * a 4 KiB write into a large folio costs Linux 4-5 times what it costs
 * into a page written alone (7-11 us against 1.8-2.4 us on ext4 here),
 * for the dual writes while copying and for every client write after the
 * pivot until the cache turns over. So the copy writes a buffered file
 * one page at a time (docs/migration.md, docs/BENCHMARKS.md). */
static bool dst_is_buffered_file(mblk_dev *dst)
{
	static const char *const known[] = { "file", NULL };
	char text[4096];
	struct mblk_uri u;
	int n = mblk_get_uri(dst, text, sizeof(text));
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    strncmp(text, "file:", 5) != 0 ||
	    mblk__uri_parse(text, known, &u) < 0)
		return false;
	bool buffered = false;
	bool yes = mblk_uri_get_bool(&u, "buffered", &buffered) == 0 &&
		   buffered;
	mblk__uri_free(&u);
	return yes;
}

/* The copy's share of a busy export's time when --copy-share is not
 * given: a live migration serves its clients first. Measured with
 * bench/migrate_bench.sh (docs/BENCHMARKS.md, eighth session): at 100 the
 * client kept 0.34-0.45x of its plain rate while the copy ran (4-5 s); at
 * 50 it kept 0.65-0.68x and the migration still converged and pivoted by
 * itself, in 25-36 s. */
#define MIGRATE_SHARE_DEFAULT 50

int migrate_open(const struct migrate_opts *o, uv_loop_t *loop,
		 struct migrate **mp, mblk_dev **devp)
{
	struct migrate *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return cli_fail("serve", "out of memory");
	m->loop = loop;
	m->o = *o;
	m->src = strdup(o->src);
	m->dst = strdup(o->dst);
	m->rate = o->mirror.rate;
	m->share = o->mirror.copy_share ? o->mirror.copy_share
					: MIGRATE_SHARE_DEFAULT;
	m->pivot_ms = m->pause_ms = -1;
	mblk_dev *src = NULL, *dst = NULL;
	char path[4096];
	struct mblk_mirror_opts mo = o->mirror;
	mo.copy_share = m->share;

	if (!m->src || !m->dst) {
		cli_fail("serve", "out of memory");
		goto fail;
	}
	if (cli_open("serve", loop, o->src,
		     (o->read_only ? MBLK_OPEN_RDONLY : 0) | MBLK_OPEN_NO_SAFE,
		     &src) < 0)
		goto fail;
	struct mblk_info si;
	mblk_get_info(src, &si);
	m->total = si.size_sectors * si.sector_size;
	if (cli_uri_file_path(o->dst, path, sizeof(path))) {
		int k = cli_create_sparse_file("serve", path, m->total);
		if (k < 0)
			goto fail;
		mo.secondary_is_zero = mo.secondary_is_zero || k == 1;
	}
	if (cli_open_dst("serve", loop, o->dst, MBLK_OPEN_NO_SAFE,
			 o->dst_direct, &dst) < 0)
		goto fail;
	if (!mo.copy_write_bytes && dst_is_buffered_file(dst))
		mo.copy_write_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
	if (mblk_mirror_open(src, dst, &mo, migrate_event_cb, m, &m->mirror) <
	    0) {
		cli_fail("serve", "cannot mirror %s onto %s: %s", o->src,
			 o->dst, mblk_last_error());
		goto fail;
	}
	m->top = m->mirror;
	m->prog = progress_new(o->progress, "serve", m->total);
	uv_timer_init(loop, &m->tick);
	uv_timer_init(loop, &m->kick);
	m->tick.data = m->kick.data = m;
	m->handles = 2;
	uv_timer_start(&m->tick, migrate_tick, 100, 100);
	*mp = m;
	*devp = m->mirror;
	return 0;
fail:
	cli_close(loop, src);
	cli_close(loop, dst);
	free(m->src);
	free(m->dst);
	free(m);
	return -1;
}

static void migrate_handle_closed(uv_handle_t *h)
{
	struct migrate *m = h->data;
	m->handles--;
}

void migrate_stop(struct migrate *m)
{
	if (m == NULL || m->stopped)
		return;
	migrate_finish_bar(m, m->pivoted || m->in_sync_seen);
	if (m->pivoted)
		migrate_report_pivot(m); /* before its window is over */
	m->stopped = true;
	/* Still copying: nothing will finish the copy once the server is
	 * gone, and the loop must not run it to the end (or wait out the
	 * rate limit) before the command can exit. */
	struct mblk_mirror_progress p;
	if (!m->pivoting && !m->pivoted &&
	    mblk_mirror_get_progress(m->top, &p) == 0 &&
	    p.state == MBLK_MIRROR_COPYING && mblk_mirror_cancel(m->top) == 0) {
		char hd[32], ht[32];
		fprintf(stderr,
			"mblk serve: stopping before %s is in sync: the copy "
			"is abandoned with %s of %s copied, and %s holds a mix "
			"of old and new data\n",
			m->dst, mblk__human_size(p.bytes_done, hd, sizeof(hd)),
			mblk__human_size(p.bytes_total, ht, sizeof(ht)),
			m->dst);
	}
	uv_close((uv_handle_t *)&m->tick, migrate_handle_closed);
	uv_close((uv_handle_t *)&m->kick, migrate_handle_closed);
}

void migrate_free(struct migrate *m)
{
	if (m == NULL)
		return;
	free(m->src);
	free(m->dst);
	free(m->error);
	free(m);
}
