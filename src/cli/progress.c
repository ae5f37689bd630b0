/* progress.c - a progress bar or JSON progress lines; see progress.h.
 *
 * The rate is the average since the start (steady and good enough for
 * an ETA on copies, which run at a roughly constant speed); time comes
 * from uv_hrtime, a monotonic clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "progress.h"
#include "../common/size.h"

#define PROGRESS_INTERVAL_NS 100000000ull /* 10 reports a second */

struct progress {
	enum progress_mode mode;
	char label[32];
	uint64_t total, done;
	uint64_t start_ns, last_ns;
	bool drawn; /* the bar is on screen and needs a newline at the end */
};

int progress_parse_mode(const char *arg, enum progress_mode *mode)
{
	if (arg == NULL || strcmp(arg, "bar") == 0)
		*mode = PROGRESS_BAR;
	else if (strcmp(arg, "json") == 0)
		*mode = PROGRESS_JSON;
	else if (strcmp(arg, "none") == 0)
		*mode = PROGRESS_NONE;
	else
		return -1;
	return 0;
}

struct progress *progress_new(enum progress_mode mode, const char *label,
			      uint64_t total_bytes)
{
	struct progress *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	if (mode == PROGRESS_BAR && !isatty(STDERR_FILENO))
		mode = PROGRESS_NONE;
	p->mode = mode;
	snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
	p->total = total_bytes;
	p->start_ns = p->last_ns = uv_hrtime();
	return p;
}

static void progress_print(struct progress *p, uint64_t now, bool final,
			   bool ok)
{
	double secs = (double)(now - p->start_ns) / 1e9;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total
			      : 100.0;
	double eta = rate > 0 ? (double)(p->total - p->done) / rate : -1;

	if (p->mode == PROGRESS_JSON) {
		printf("{\"done\":%llu,\"total\":%llu,\"percent\":%.1f,"
		       "\"rate_bytes_per_s\":%.0f,\"eta_s\":",
		       (unsigned long long)p->done,
		       (unsigned long long)p->total, pct, rate);
		if (eta >= 0)
			printf("%.1f", eta);
		else
			printf("null");
		if (final)
			printf(",\"finished\":true,\"ok\":%s,\"elapsed_s\":%.3f",
			       ok ? "true" : "false", secs);
		printf("}\n");
		fflush(stdout);
		return;
	}
	/* The bar: "copy [#####.....]  42.0%  1.2 GiB/3.0 GiB  512 MiB/s
	 * ETA 0:04" rewritten in place with \r. */
	enum { WIDTH = 30 };
	char bar[WIDTH + 1], a[24], b[24], r[24];
	int fill = (int)(pct / 100.0 * WIDTH);
	for (int i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = '\0';
	fprintf(stderr, "\r%s [%s] %5.1f%%  %s/%s  %s/s", p->label, bar, pct,
		mblk__human_size(p->done, a, sizeof(a)),
		mblk__human_size(p->total, b, sizeof(b)),
		mblk__human_size((uint64_t)rate, r, sizeof(r)));
	if (final)
		fprintf(stderr, "  in %.1f s%s\033[K\n", secs,
			ok ? "" : "  FAILED");
	else if (eta >= 0)
		fprintf(stderr, "  ETA %d:%02d\033[K", (int)eta / 60,
			(int)eta % 60);
	else
		fprintf(stderr, "\033[K");
	p->drawn = !final;
}

void progress_update(struct progress *p, uint64_t done_bytes)
{
	if (p == NULL)
		return;
	p->done = done_bytes;
	if (p->mode == PROGRESS_NONE)
		return;
	uint64_t now = uv_hrtime();
	if (now - p->last_ns < PROGRESS_INTERVAL_NS)
		return;
	p->last_ns = now;
	progress_print(p, now, false, true);
}

void progress_finish(struct progress *p, bool ok)
{
	if (p == NULL)
		return;
	if (p->mode != PROGRESS_NONE)
		progress_print(p, uv_hrtime(), true, ok);
	free(p);
}
