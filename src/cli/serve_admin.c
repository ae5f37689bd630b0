/* serve_admin.c - the migration, control socket and metrics of `mblk
 * serve` (serve_admin.h): options, opening exports, add and remove.
 *
 * Design notes
 *
 * Every export gets the counting layer (stats.c) between the server and
 * its device, so status and metrics see each request once. The export
 * of a migration is SRC's mirror onto DST (migrate.c) under that layer:
 * the pivot reaches the mirror through it, and the server keeps the one
 * device handle throughout.
 *
 * add-export opens its URI with the asynchronous mblk_open (the loop is
 * running: clients are being served), and remove-export waits for the
 * server to let go of the device (mblk_nbd_server_remove_export) before
 * closing it. Devices of the command line are closed by cmd_serve.c at
 * exit unless removed here first (serve_admin_take).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk/backend.h>

#include "cli.h"
#include "serve_admin.h"

const char serve_admin_help[] =
	"Live migration (docs/migration.md):\n"
	"      --mirror-to DST       export a mirror of the (one) URI onto\n"
	"                            the device DST; a file path DST that does\n"
	"                            not exist is created sparse\n"
	"      --pivot auto|manual   auto (default): once DST is in sync,\n"
	"                            switch the export onto DST and close the\n"
	"                            source; manual: wait for the control\n"
	"                            socket's pivot command\n"
	"      --pivot-timeout S     a pivot that has not drained and\n"
	"                            flushed DST after S seconds fails, and\n"
	"                            the export goes on as before (default\n"
	"                            30)\n"
	"      --mirror-mode MODE    background (default: switch to active\n"
	"                            when writes outrun the copy) or active\n"
	"                            (writes go to DST too where the copy has\n"
	"                            been, from the start)\n"
	"      --rate R              copy at most R bytes per second\n"
	"      --copy-share PERCENT  while clients have requests in flight,\n"
	"                            the copy is at work at most PERCENT of\n"
	"                            the time (1-100; default 50; 100:\n"
	"                            never rest)\n"
	"      --on-error stop|retry on a copy failure: stop the mirror\n"
	"                            (default; the export goes on serving the\n"
	"                            source) or copy the range again\n"
	"      --retries N           failures to retry (default 3)\n"
	"      --dst-cache MODE      buffered (default: DST serves the export\n"
	"                            after the pivot, as SRC did) or direct\n"
	"                            (O_DIRECT), for a file DST without settings\n"
	"      --progress[=bar|json|none]  copy progress (default: a bar on a\n"
	"                            terminal)\n"
	"\n"
	"Operation:\n"
	"      --control PATH        a control socket (mode 0600): JSON lines,\n"
	"                            driven by 'mblk ctl PATH COMMAND'\n"
	"      --metrics [HOST:]PORT Prometheus metrics over HTTP at\n"
	"                            /metrics (HOST default 127.0.0.1)\n";

int serve_admin_option(struct serve_admin *a, int c, const char *arg)
{
	switch (c) {
	case SERVE_OPT_MIRROR_TO: a->mirror_to = arg; return 1;
	case SERVE_OPT_PIVOT:
		if (strcmp(arg, "auto") == 0)
			a->mo.pivot = MIGRATE_PIVOT_AUTO;
		else if (strcmp(arg, "manual") == 0)
			a->mo.pivot = MIGRATE_PIVOT_MANUAL;
		else
			return cli_usage("serve",
					 "--pivot takes auto or manual, not "
					 "'%s'",
					 arg),
			       -1;
		return 1;
	case SERVE_OPT_RATE:
		return cli_parse_size("serve", "--rate", arg,
				      &a->mo.mirror.rate) < 0
			       ? -1
			       : 1;
	case SERVE_OPT_COPY_SHARE: {
		uint64_t n;
		if (cli_parse_uint("serve", "--copy-share", arg, 1, 100, &n) <
		    0)
			return -1;
		a->mo.mirror.copy_share = (unsigned)n;
		return 1;
	}
	case SERVE_OPT_DST_CACHE:
		return cli_parse_dst_cache("serve", arg, &a->mo.dst_direct) ? -1
									    : 1;
	case SERVE_OPT_PROGRESS:
		if (progress_parse_mode(arg, &a->mo.progress) < 0)
			return cli_usage("serve",
					 "--progress takes bar, json or none, "
					 "not '%s'",
					 arg),
			       -1;
		a->progress_given = true;
		return 1;
	case SERVE_OPT_ON_ERROR:
		if (strcmp(arg, "stop") == 0)
			a->mo.mirror.on_error = MBLK_MIRROR_STOP;
		else if (strcmp(arg, "retry") == 0)
			a->mo.mirror.on_error = MBLK_MIRROR_RETRY;
		else
			return cli_usage("serve",
					 "--on-error takes stop or retry, not "
					 "'%s'",
					 arg),
			       -1;
		return 1;
	case SERVE_OPT_RETRIES: {
		uint64_t n;
		if (cli_parse_uint("serve", "--retries", arg, 0, 1000000, &n) <
		    0)
			return -1;
		a->mo.mirror.retries = (unsigned)n;
		a->retries_given = true;
		return 1;
	}
	case SERVE_OPT_MIRROR_MODE:
		return cli_parse_mirror_mode("serve", "--mirror-mode", arg,
					     &a->mo.mirror.active)
			       ? -1
			       : 1;
	case SERVE_OPT_PIVOT_TIMEOUT: {
		uint64_t sec;
		if (cli_parse_uint("serve", "--pivot-timeout", arg, 1, 86400,
				   &sec) < 0)
			return -1;
		a->mo.mirror.pivot_timeout_ms = sec * 1000;
		return 1;
	}
	case SERVE_OPT_CONTROL: a->control_path = arg; return 1;
	case SERVE_OPT_METRICS:
		free(a->metrics_addr);
		a->metrics_addr = strdup(arg);
		return 1;
	default: return 0;
	}
}

bool serve_admin_wanted(const struct serve_admin *a)
{
	return a->mirror_to || a->control_path || a->metrics_addr;
}

int serve_admin_check(struct serve_admin *a, int ndev)
{
	if (a->mirror_to && ndev != 1)
		return cli_usage("serve",
				 "--mirror-to migrates one device, not %d",
				 ndev);
	if (!a->mirror_to && a->mo.pivot == MIGRATE_PIVOT_MANUAL)
		return cli_usage("serve", "--pivot needs --mirror-to");
#ifndef MBLK_CLI_CONTROL
	if (a->control_path)
		return cli_usage("serve",
				 "--control needs jansson, and this mblk was "
				 "built without it (meson -Djansson=enabled)");
#endif
#ifndef MBLK_CLI_METRICS
	if (a->metrics_addr)
		return cli_usage("serve",
				 "--metrics needs libmicrohttpd, and this mblk "
				 "was built without it "
				 "(meson -Dmicrohttpd=enabled)");
#endif
	if (a->mirror_to && a->mo.pivot == MIGRATE_PIVOT_MANUAL &&
	    !a->control_path)
		return cli_usage("serve", "--pivot=manual needs --control PATH "
					  "to receive the pivot command");
	return 0;
}

static struct admin_export *admin_new_export(struct serve_admin *a,
					     const char *name, const char *uri)
{
	if (a->nexports == SERVE_ADMIN_MAX_EXPORTS) {
		mblk_set_error(-ENOSPC, "more than %d exports",
			       SERVE_ADMIN_MAX_EXPORTS);
		return NULL;
	}
	struct admin_export *e = calloc(1, sizeof(*e));
	if (e) {
		e->name = strdup(name ? name : "");
		e->uri = strdup(uri);
	}
	if (!e || !e->name || !e->uri) {
		if (e) {
			free(e->name);
			free(e->uri);
		}
		free(e);
		mblk_set_error(-ENOMEM, "out of memory");
		return NULL;
	}
	return e;
}

static void admin_free_export(struct admin_export *e)
{
	free(e->name);
	free(e->uri);
	free(e);
}

int serve_admin_open(struct serve_admin *a, uv_loop_t *loop, const char *uri,
		     const char *name, unsigned flags, mblk_dev **devp)
{
	a->loop = loop;
	struct admin_export *e = admin_new_export(a, name, uri);
	if (!e)
		return cli_fail("serve", "%s", mblk_last_error()), -1;
	mblk_dev *dev = NULL;
	if (a->mirror_to && !a->mig) {
		struct migrate_opts o = a->mo;
		o.src = uri;
		o.dst = a->mirror_to;
		o.read_only = (flags & MBLK_OPEN_RDONLY) != 0;
		/* The bar by default, where it can be drawn. */
		if (!a->progress_given)
			o.progress = isatty(STDERR_FILENO) ? PROGRESS_BAR
							   : PROGRESS_NONE;
		if (!a->retries_given)
			o.mirror.retries = 3;
		o.on_event = serve_admin_event;
		o.on_event_data = a;
		if (migrate_open(&o, loop, &a->mig, &dev) < 0)
			goto fail;
		e->migration = true;
	} else if (cli_open("serve", loop, uri, flags, &dev) < 0) {
		goto fail;
	}
	if (stats_wrap(dev, &e->dev, &e->st) < 0) {
		cli_fail("serve", "%s", mblk_last_error());
		cli_close(loop, dev);
		goto fail;
	}
	if (e->migration)
		migrate_attach(a->mig, e->dev, e->st);
	e->read_only = (flags & MBLK_OPEN_RDONLY) != 0;
	a->exports[a->nexports++] = e;
	*devp = e->dev;
	return 0;
fail:
	admin_free_export(e);
	return -1;
}

int serve_admin_start(struct serve_admin *a, mblk_nbd_server *srv,
		      void (*stop)(void *data), void *data)
{
	a->srv = srv;
	a->stop = stop;
	a->stop_data = data;
	a->t_start = uv_hrtime();
#ifdef MBLK_CLI_CONTROL
	if (a->control_path && control_start(&a->ctl, a, a->control_path) < 0)
		return cli_fail("serve", "%s", mblk_last_error());
#endif
#ifdef MBLK_CLI_METRICS
	if (a->metrics_addr && metrics_start(&a->met, a, a->metrics_addr) < 0)
		return cli_fail("serve", "%s", mblk_last_error());
#endif
	return CLI_OK;
}

void serve_admin_event(void *data, enum migrate_event ev, const char *msg)
{
	struct serve_admin *a = data;
#ifdef MBLK_CLI_CONTROL
	if (a->ctl)
		control_event(a->ctl, ev, msg);
#else
	(void)a;
	(void)ev;
	(void)msg;
#endif
}

void serve_admin_stop(struct serve_admin *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
#ifdef MBLK_CLI_CONTROL
	control_stop(a->ctl);
	a->ctl = NULL;
#endif
#ifdef MBLK_CLI_METRICS
	metrics_stop(a->met);
	a->met = NULL;
#endif
	migrate_stop(a->mig);
}

struct admin_export *serve_admin_find(struct serve_admin *a, const char *name)
{
	for (int i = 0; i < a->nexports; i++)
		if (a->exports[i] && !a->exports[i]->closed &&
		    strcmp(a->exports[i]->name, name ? name : "") == 0)
			return a->exports[i];
	return NULL;
}

mblk_dev *serve_admin_take(struct serve_admin *a, mblk_dev *dev)
{
	for (int i = 0; i < a->nexports; i++)
		if (a->exports[i] && a->exports[i]->dev == dev &&
		    a->exports[i]->closed)
			return NULL;
	return dev;
}

/* ------------------------------------------------------------------ */
/* add-export and remove-export                                        */

struct admin_op {
	struct serve_admin *a;
	struct admin_export *e;
	char *description;
	mblk_cb cb;
	void *data;
};

static void admin_op_finish(struct admin_op *op, int status, const char *msg)
{
	mblk_cb cb = op->cb;
	void *data = op->data;
	free(op->description);
	free(op);
	if (cb)
		cb(data, status, msg);
}

static void admin_opened(void *data, int status, mblk_dev *dev,
			 const char *error)
{
	struct admin_op *op = data;
	struct serve_admin *a = op->a;
	struct admin_export *e = op->e;
	char msg[600];
	if (status < 0) {
		snprintf(msg, sizeof(msg), "cannot open %s: %s", e->uri, error);
		goto fail;
	}
	if (a->stopping) {
		status = -ESHUTDOWN;
		snprintf(msg, sizeof(msg), "the server is shutting down");
		mblk_close(dev, NULL, NULL);
		goto fail;
	}
	if ((status = stats_wrap(dev, &e->dev, &e->st)) < 0) {
		snprintf(msg, sizeof(msg), "%s", mblk_last_error());
		mblk_close(dev, NULL, NULL);
		goto fail;
	}
	struct mblk_nbd_export x = {
		.name = e->name,
		.description = op->description,
		.dev = e->dev,
		.read_only = e->read_only,
	};
	if ((status = mblk_nbd_server_add_export(a->srv, &x)) < 0) {
		snprintf(msg, sizeof(msg), "%s", mblk_last_error());
		mblk_close(e->dev, NULL, NULL);
		goto fail;
	}
	fprintf(stderr, "mblk serve: added export '%s' (%s)\n", e->name,
		e->uri);
	/* Its slot was reserved when the open started. */
	for (int i = 0; i < a->nexports; i++)
		if (a->exports[i] == NULL)
			a->exports[i] = e;
	admin_op_finish(op, 0, NULL);
	return;
fail:
	for (int i = 0; i < a->nexports; i++)
		if (a->exports[i] == NULL) {
			a->exports[i] = a->exports[--a->nexports];
			break;
		}
	admin_free_export(e);
	admin_op_finish(op, status, msg);
}

int serve_admin_add(struct serve_admin *a, const char *name, const char *uri,
		    const char *description, bool read_only, mblk_cb cb,
		    void *data)
{
	if (serve_admin_find(a, name))
		return mblk_set_error(-EEXIST,
				      "an export named '%s' exists "
				      "already",
				      name ? name : "");
	for (int i = 0; i < a->nexports; i++)
		if (a->exports[i] == NULL)
			return mblk_set_error(-EBUSY,
					      "another add-export is under way");
	struct admin_export *e = admin_new_export(a, name, uri);
	if (!e) /* the sentence is set */
		return a->nexports == SERVE_ADMIN_MAX_EXPORTS ? -ENOSPC
							      : -ENOMEM;
	struct admin_op *op = calloc(1, sizeof(*op));
	if (!op) {
		admin_free_export(e);
		return mblk_set_error(-ENOMEM, "out of memory");
	}
	e->added = true;
	e->read_only = read_only;
	op->a = a;
	op->e = e;
	op->description = description ? strdup(description) : NULL;
	op->cb = cb;
	op->data = data;
	int r = mblk_open(a->loop, uri, read_only ? MBLK_OPEN_RDONLY : 0,
			  admin_opened, op);
	if (r < 0) {
		admin_free_export(e);
		free(op->description);
		free(op);
		return mblk_set_error(r, "cannot open %s: %s", uri,
				      mblk_last_error());
	}
	a->exports[a->nexports++] = NULL; /* reserved: one at a time */
	return 0;
}

static void admin_removed_closed(void *data, int status, const char *error)
{
	struct admin_op *op = data;
	op->e->closed = true;
	op->e->removing = false;
	fprintf(stderr, "mblk serve: removed export '%s' (%s)\n", op->e->name,
		op->e->uri);
	admin_op_finish(op, status, error);
}

static void admin_removed(void *data, int status, const char *error)
{
	struct admin_op *op = data;
	(void)status;
	(void)error;
	mblk_close(op->e->dev, admin_removed_closed, op);
}

int serve_admin_remove(struct serve_admin *a, const char *name, mblk_cb cb,
		       void *data)
{
	struct admin_export *e = serve_admin_find(a, name);
	if (!e)
		return mblk_set_error(-ENOENT, "there is no export named '%s'",
				      name ? name : "");
	if (e->removing)
		return mblk_set_error(-EALREADY, "export '%s' is being removed",
				      e->name);
	if (e->migration)
		return mblk_set_error(-EBUSY,
				      "export '%s' is the migration's; it "
				      "stays until the server stops",
				      e->name);
	struct admin_op *op = calloc(1, sizeof(*op));
	if (!op)
		return mblk_set_error(-ENOMEM, "out of memory");
	op->a = a;
	op->e = e;
	op->cb = cb;
	op->data = data;
	int r = mblk_nbd_server_remove_export(a->srv, e->name, admin_removed,
					      op);
	if (r < 0) {
		free(op);
		return r;
	}
	e->removing = true;
	return 0;
}

void serve_admin_free(struct serve_admin *a)
{
	serve_admin_stop(a);
	if (a->loop)
		uv_run(a->loop, UV_RUN_DEFAULT); /* the handles close */
	for (int i = 0; i < a->nexports; i++) {
		struct admin_export *e = a->exports[i];
		if (!e)
			continue;
		if (e->added && !e->closed && a->loop)
			cli_close(a->loop, e->dev);
		admin_free_export(e);
	}
	a->nexports = 0;
	migrate_free(a->mig);
	a->mig = NULL;
	free(a->metrics_addr);
	a->metrics_addr = NULL;
}
