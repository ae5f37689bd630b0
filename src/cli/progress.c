/* progress.c - a progress bar or JSON progress lines; see progress.h.
 *
 * The rate is the average since the start (steady and good enough for
 * an ETA on copies, which run at a roughly constant speed); time comes
 * from uv_hrtime, a monotonic clock. The bar is rebuilt for the
 * terminal's width at every draw (TIOCGWINSZ, so a resize is followed):
 * the fields are dropped from the least useful (ETA, then the rate, then
 * the sizes) until the line fits in cols - 1 characters, so the terminal
 * never wraps it.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#include "progress.h"
#include "../common/size.h"

#define PROGRESS_INTERVAL_NS 100000000ull /* 10 reports a second */

struct progress {
	enum progress_mode mode;
	char label[32];
	uint64_t total, done, data;
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
	if (mode == PROGRESS_BAR && !isatty(STDERR_FILENO)) {
		fprintf(stderr,
			"mblk %s: note: --progress draws no bar: stderr is not "
			"a terminal (--progress=json prints lines on stdout)\n",
			label ? label : "");
		mode = PROGRESS_NONE;
	}
	p->mode = mode;
	snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
	p->total = total_bytes;
	p->start_ns = p->last_ns = uv_hrtime();
	return p;
}

static int progress_cols(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	int n = c ? atoi(c) : 0;
	return n > 0 ? n : 80;
}

/* The bar line for a terminal of cols columns, in out; its length. */
static int progress_format_bar(char *out, size_t len, int cols,
			       const char *label, double pct, uint64_t done,
			       uint64_t total, double rate, double eta)
{
	char a[24], b[24], r[24], tail[96];
	mblk__human_size(done, a, sizeof(a));
	mblk__human_size(total, b, sizeof(b));
	mblk__human_size((uint64_t)rate, r, sizeof(r));
	int max = cols - 1; /* the last column would wrap on some terminals */
	for (int drop = 0; drop < 4; drop++) {
		int n = snprintf(tail, sizeof(tail), " %5.1f%%", pct);
		if (drop < 3)
			n += snprintf(tail + n, sizeof(tail) - (size_t)n,
				      "  %s/%s", a, b);
		if (drop < 2)
			n += snprintf(tail + n, sizeof(tail) - (size_t)n,
				      "  %s/s", r);
		if (drop < 1 && eta >= 0)
			snprintf(tail + n, sizeof(tail) - (size_t)n,
				 "  ETA %d:%02d", (int)eta / 60, (int)eta % 60);
		int fixed = (int)strlen(label) + 3 + (int)strlen(tail);
		int width = max - fixed;
		if (width < 10 && drop < 3)
			continue;
		if (width > 40)
			width = 40;
		if (width < 1) {
			/* A tiny terminal: the percentage alone. */
			return snprintf(out, len, "%.*s", max > 0 ? max : 0,
					tail + 1);
		}
		char bar[41];
		int fill = (int)(pct / 100.0 * width);
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[width] = '\0';
		return snprintf(out, len, "%s [%s]%s", label, bar, tail);
	}
	return snprintf(out, len, "%s", "");
}

static void progress_print(struct progress *p, uint64_t now, bool final,
			   int outcome)
{
	double secs = (double)(now - p->start_ns) / 1e9;
	double rate = secs > 0 ? (double)p->data / secs : 0;
	double pos_rate = secs > 0 ? (double)p->done / secs : 0;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total
			      : 100.0;
	double eta = pos_rate > 0 ? (double)(p->total - p->done) / pos_rate
				  : -1;

	if (p->mode == PROGRESS_JSON) {
		printf("{\"done\":%llu,\"total\":%llu,\"percent\":%.1f,"
		       "\"data_bytes\":%llu,\"rate_bytes_per_s\":%.0f,"
		       "\"eta_s\":",
		       (unsigned long long)p->done,
		       (unsigned long long)p->total, pct,
		       (unsigned long long)p->data, rate);
		if (eta >= 0 && !final)
			printf("%.1f", eta);
		else
			printf("null");
		if (final) {
			const char *what = outcome == PROGRESS_OK ? "complete"
					   : outcome > 0 ? "interrupted"
							 : "failed";
			printf(",\"finished\":true,\"ok\":%s,\"outcome\":\"%s\"",
			       outcome == PROGRESS_OK ? "true" : "false", what);
			if (outcome > 0)
				printf(",\"signal\":\"SIG%s\"",
				       outcome == SIGINT    ? "INT"
				       : outcome == SIGTERM ? "TERM"
							    : "HUP");
		}
		printf(",\"elapsed_s\":%.3f}\n", secs);
		fflush(stdout);
		return;
	}
	char line[512];
	progress_format_bar(line, sizeof(line), progress_cols(), p->label, pct,
			    p->done, p->total, rate, final ? -1 : eta);
	fprintf(stderr, "\r%s\033[K", line);
	if (final) {
		fputc('\n', stderr);
		p->drawn = false;
	} else {
		p->drawn = true;
	}
}

void progress_update(struct progress *p, uint64_t done_bytes,
		     uint64_t data_bytes)
{
	if (p == NULL)
		return;
	p->done = done_bytes;
	p->data = data_bytes;
	if (p->mode == PROGRESS_NONE)
		return;
	uint64_t now = uv_hrtime();
	if (now - p->last_ns < PROGRESS_INTERVAL_NS)
		return;
	p->last_ns = now;
	progress_print(p, now, false, PROGRESS_OK);
}

void progress_warn(struct progress *p, const char *label, const char *fmt, ...)
{
	if (p != NULL && p->drawn) {
		fputs("\r\033[K", stderr);
		p->drawn = false;
		p->last_ns = 0; /* redraw at the next update */
	}
	va_list ap;
	fprintf(stderr, "mblk %s: ", label);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void progress_finish(struct progress *p, int outcome)
{
	if (p == NULL)
		return;
	if (p->mode != PROGRESS_NONE)
		progress_print(p, uv_hrtime(), true, outcome);
	free(p);
}
