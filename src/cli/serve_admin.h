/* serve_admin.h - what `mblk serve` adds for operators: the migration
 * (--mirror-to), the control socket (--control) and the metrics
 * (--metrics). cmd_serve.c calls these few functions; the rest lives in
 * migrate.c, control.c, metrics.c and stats.c. docs/migration.md.
 *
 * The admin knows every export (those of the command line and those
 * added through the control socket) with its counting layer (stats.h),
 * and owns the devices it opened for add-export. Everything runs on the
 * loop's thread but the metrics' HTTP thread, which only reads a copy
 * (metrics.c).
 */
#ifndef MBLK_CLI_SERVE_ADMIN_H
#define MBLK_CLI_SERVE_ADMIN_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <mblk/nbd.h>

#include "migrate.h"
#include "stats.h"

#define SERVE_ADMIN_MAX_EXPORTS 64

/* Long options cmd_serve.c adds to its table. */
enum {
	SERVE_OPT_MIRROR_TO = 0x100,
	SERVE_OPT_PIVOT,
	SERVE_OPT_RATE,
	SERVE_OPT_DST_CACHE,
	SERVE_OPT_PROGRESS,
	SERVE_OPT_CONTROL,
	SERVE_OPT_METRICS,
	SERVE_OPT_ON_ERROR,
	SERVE_OPT_RETRIES,
	SERVE_OPT_PIVOT_TIMEOUT,
	SERVE_OPT_MIRROR_MODE,
	SERVE_OPT_COPY_SHARE,
};
/* clang-format off */
#define SERVE_ADMIN_LONGOPTS \
	{ "mirror-to", required_argument, NULL, SERVE_OPT_MIRROR_TO }, \
	{ "pivot", required_argument, NULL, SERVE_OPT_PIVOT }, \
	{ "rate", required_argument, NULL, SERVE_OPT_RATE }, \
	{ "dst-cache", required_argument, NULL, SERVE_OPT_DST_CACHE }, \
	{ "progress", optional_argument, NULL, SERVE_OPT_PROGRESS }, \
	{ "control", required_argument, NULL, SERVE_OPT_CONTROL }, \
	{ "metrics", required_argument, NULL, SERVE_OPT_METRICS }, \
	{ "on-error", required_argument, NULL, SERVE_OPT_ON_ERROR }, \
	{ "retries", required_argument, NULL, SERVE_OPT_RETRIES }, \
	{ "pivot-timeout", required_argument, NULL, SERVE_OPT_PIVOT_TIMEOUT }, \
	{ "mirror-mode", required_argument, NULL, SERVE_OPT_MIRROR_MODE }, \
	{ "copy-share", required_argument, NULL, SERVE_OPT_COPY_SHARE }
/* clang-format on */

struct admin_export {
	char *name;    /* "" the default export */
	char *uri;     /* as given, for status */
	mblk_dev *dev; /* what is exported: the counting layer */
	struct stats *st;
	bool read_only;
	bool added;     /* by add-export: the admin closes it */
	bool removing;  /* remove-export under way */
	bool closed;    /* removed and closed: cmd_serve must not close it */
	bool migration; /* the export of the mirror */
};

struct control;
struct metrics;

struct serve_admin {
	/* Options. */
	const char *mirror_to;
	struct migrate_opts mo;
	bool progress_given;
	bool retries_given;
	const char *control_path;
	char *metrics_addr;

	/* Running. */
	uv_loop_t *loop;
	mblk_nbd_server *srv;
	struct migrate *mig;
	struct admin_export *exports[SERVE_ADMIN_MAX_EXPORTS];
	int nexports;
	struct control *ctl;
	struct metrics *met;
	uint64_t t_start;
	bool stopping;
	void (*stop)(void *data); /* starts the server's shutdown (quit) */
	void *stop_data;
};

/* Help text for these options, for serve's --help. */
extern const char serve_admin_help[];

/* Handles one of the options above: 1 taken, 0 not one of them, -1 a
 * usage error (printed). */
int serve_admin_option(struct serve_admin *a, int c, const char *arg);

/* Checks the options against the device count: 0 or CLI_USAGE (printed). */
int serve_admin_check(struct serve_admin *a, int ndev);

/* Whether serve needs the admin at all (any of the options given). */
bool serve_admin_wanted(const struct serve_admin *a);

/* Opens the device of export name (NULL: the default) from uri (the
 * mirror of uri onto --mirror-to for the first one when given) and puts
 * the counting layer on it. 0, or -1 after printing the sentence. */
int serve_admin_open(struct serve_admin *a, uv_loop_t *loop, const char *uri,
		     const char *name, unsigned flags, mblk_dev **devp);

/* Starts the control socket and the metrics on the running server.
 * stop(data) is what quit calls. CLI_OK or CLI_FAIL (printed). */
int serve_admin_start(struct serve_admin *a, mblk_nbd_server *srv,
		      void (*stop)(void *data), void *data);

/* The server is about to close: stops the control socket, the metrics
 * and the migration's timers. */
void serve_admin_stop(struct serve_admin *a);

/* dev, unless the admin has closed it already (remove-export): NULL. */
mblk_dev *serve_admin_take(struct serve_admin *a, mblk_dev *dev);

/* After the server is gone: closes the devices added by add-export and
 * frees everything. */
void serve_admin_free(struct serve_admin *a);

/* ------------------------------------------------------------------ */
/* For control.c and metrics.c.                                        */

struct admin_export *serve_admin_find(struct serve_admin *a, const char *name);

/* add-export: opens uri asynchronously, adds the export, then cb(data,
 * 0 or -errno, sentence). Returns 0 if started, or -errno (sentence in
 * mblk_last_error()), in which case cb is never called. */
int serve_admin_add(struct serve_admin *a, const char *name, const char *uri,
		    const char *description, bool read_only, mblk_cb cb,
		    void *data);
/* remove-export: drops its clients, closes its device, then cb. Returns
 * as serve_admin_add. */
int serve_admin_remove(struct serve_admin *a, const char *name, mblk_cb cb,
		       void *data);

/* Migration events, passed on to the controller. */
void serve_admin_event(void *data, enum migrate_event ev, const char *msg);

/* control.c (built with jansson). */
int control_start(struct control **cp, struct serve_admin *a, const char *path);
void control_event(struct control *c, enum migrate_event ev, const char *msg);
void control_stop(struct control *c);

/* metrics.c (built with libmicrohttpd). */
int metrics_start(struct metrics **mp, struct serve_admin *a, const char *addr);
void metrics_stop(struct metrics *m);

#endif
