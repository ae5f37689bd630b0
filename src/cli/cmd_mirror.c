/* cmd_mirror.c - `mblk mirror SRC DST`: run a live mirror to completion.
 *
 * Design notes
 *
 * Opens SRC (read-only unless --write-load asks for foreground writes)
 * and DST (created sparse with SRC's size when it is a file path that
 * does not exist, and then known to read as zeros), builds a mirror with
 * mblk_mirror_open, and runs the loop until the mirror reports Complete
 * (in sync and the secondary flushed) or Failed. Progress comes from
 * mblk_mirror_get_progress on a 100 ms timer (and on every percent
 * event), fed to the shared progress reporter (progress.h): a bar with
 * rate and ETA, or JSON lines. Retried copy failures are printed as
 * warnings; a failure that stops the mirror is the exit sentence.
 *
 * --write-load QD keeps QD random writes of --load-bs bytes in flight
 * through the mirror until it is in sync: the foreground load a live
 * mirror exists for, driven from the shell. The summary says how many
 * writes went through and whether the mirror had to switch to active
 * mode. (For a timed load with latency figures, run `mblk bench` on a
 * mirror: URI instead.)
 *
 * SIGINT / SIGTERM close the mirror (copy operations in flight finish),
 * say in one sentence that DST is incomplete and how much was copied,
 * and exit 128 + the signal. A DST this command created is removed
 * whenever the command does not exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk/mirror.h>

#include "cli.h"
#include "progress.h"
#include "../common/size.h"

static const char mirror_help[] =
	"Usage: mblk mirror SRC DST [--progress[=bar|json]] [--rate R]\n"
	"                   [--buffer SIZE] [--chunk SIZE]\n"
	"                   [--on-error stop|retry] [--retries N]\n"
	"                   [--mode background|active]\n"
	"                   [--write-load QD] [--load-bs SIZE]\n"
	"                   [--load-time SECONDS] [--target-is-zero]\n"
	"                   [--dst-cache direct|buffered]\n"
	"\n"
	"Mirrors the device SRC onto DST (same size in bytes) with the live\n"
	"mirror and exits 0 once DST is in sync and flushed. Holes of SRC are\n"
	"not read. If DST is a file path (or file:PATH) that does not exist,\n"
	"it is created, sparse, with the size of SRC. As with `mblk copy`, a\n"
	"file DST without settings is written with O_DIRECT, or buffered\n"
	"with a note where O_DIRECT is refused. A DST created by the command\n"
	"is removed unless the mirror completes. Mirroring a file onto itself\n"
	"and images in qcow2, VMDK, VHD, VHDX or VDI format are refused.\n"
	"\n"
	"Options:\n"
	"  -p, --progress[=bar|json]  a progress bar on a terminal (rate, ETA),\n"
	"                             or JSON lines on stdout\n"
	"      --rate RATE            read at most RATE bytes of data a second\n"
	"                             (K..E suffixes; default: no limit)\n"
	"      --copy-share PERCENT   while the -W load has requests in flight,\n"
	"                             the copy is at work at most PERCENT of\n"
	"                             the time (1-100; default 100:\n"
	"                             never rest)\n"
	"  -b, --buffer SIZE          memory for copying (default 16M)\n"
	"  -c, --chunk SIZE           tracking granularity (default 64K)\n"
	"  -e, --on-error stop|retry  on a copy failure: stop (default) or\n"
	"                             copy the range again\n"
	"      --retries N            failures to retry (default 3)\n"
	"      --mode MODE            background (default: switch to active\n"
	"                             when writes outrun the copy) or active\n"
	"                             (writes go to DST too where the copy has\n"
	"                             been, from the start)\n"
	"  -W, --write-load QD        while copying, keep QD random writes in\n"
	"                             flight through the mirror (SRC is then\n"
	"                             written to!)\n"
	"  -B, --load-bs SIZE         size of those writes (default 4K)\n"
	"  -T, --load-time SECONDS    keep the load going this long after the\n"
	"                             sync, and report the write rates while\n"
	"                             copying and in sync (JSON with\n"
	"                             --progress=json)\n"
	"  -Z, --target-is-zero       DST already reads as zeros: skip holes\n"
	"      --dst-cache MODE       direct (default) or buffered: how a file\n"
	"                             DST without settings is written\n"
	"  -h, --help                 show this help\n"
	"\n"
	"Exit status: 0 in sync, 1 failed, 2 usage error, 128 + the signal\n"
	"when interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP; DST\n"
	"incomplete).\n"
	"\n"
	"Examples:\n"
	"  mblk mirror disk.img copy.img --progress\n"
	"  mblk mirror 'ram:a?size=1G' file:/tmp/a.raw --rate 100M\n"
	"  mblk bench 'mirror:?primary=a.img&secondary=b.img' --rw randwrite\n";

#define LOAD_MAX 256

struct mirror_run {
	uv_loop_t loop;
	mblk_dev *m;
	struct progress *prog;
	uv_timer_t tick;
	bool done, ok;
	uint64_t shown;
	int retried;
	bool active;
	/* The write load. */
	int load_qd, load_inflight;
	uint64_t load_bs, load_writes, load_rng, nsec;
	uint32_t ss;
	struct iovec load_iov[LOAD_MAX];
	char *load_buf;
	int load_failed;
	char load_msg[400];
	bool load_stop;
	double load_time; /* seconds of load after the sync */
	uint64_t t_start, t_sync, t_end;
	uint64_t writes_at_sync;
	char fail_msg[512];
	int fail_status;
	struct cli_signals sigs;
	bool stopped; /* a signal */
};

static void mirror_show(struct mirror_run *r)
{
	struct mblk_mirror_progress p;
	if (mblk_mirror_get_progress(r->m, &p) < 0)
		return;
	/* Re-dirtied ranges make done go down; the bar only moves on. */
	if (p.bytes_done > r->shown)
		r->shown = p.bytes_done;
	progress_update(r->prog, r->shown, p.bytes_read);
}

static void mirror_event_cb(void *data, enum mblk_mirror_event ev, int value,
			    const char *error)
{
	struct mirror_run *r = data;
	switch (ev) {
	case MBLK_MIRROR_PERCENT: mirror_show(r); break;
	case MBLK_MIRROR_COMPLETE:
		r->shown = UINT64_MAX;
		r->done = r->ok = true;
		r->t_sync = uv_hrtime();
		r->writes_at_sync = r->load_writes;
		break;
	case MBLK_MIRROR_ACTIVE: r->active = true; break;
	case MBLK_MIRROR_ERROR:
		r->retried++;
		progress_warn(r->prog, "mirror",
			      "warning: %s; copying it again", error);
		break;
	case MBLK_MIRROR_FAILED:
		r->fail_status = value;
		snprintf(r->fail_msg, sizeof(r->fail_msg), "%s", error);
		r->done = true;
		break;
	case MBLK_MIRROR_SWITCHED:
	case MBLK_MIRROR_CANCELLED: break; /* mblk mirror does neither */
	}
}

static void mirror_stop(void *data)
{
	struct mirror_run *r = data;
	r->stopped = true;
	r->done = true;
	r->load_stop = true;
}

static void mirror_tick(uv_timer_t *t)
{
	mirror_show(t->data);
}

static uint64_t mirror_rng(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void load_submit(struct mirror_run *r, int i);

/* Each slot's callback data is its index into this table. */
struct load_slot {
	struct mirror_run *r;
	int i;
};
static struct load_slot load_slots[LOAD_MAX];

static void load_slot_done(void *data, int status, const char *error)
{
	struct load_slot *s = data;
	struct mirror_run *r = s->r;
	r->load_inflight--;
	if (status < 0) {
		r->load_failed++;
		snprintf(r->load_msg, sizeof(r->load_msg), "%s", error);
	} else {
		r->load_writes++;
	}
	if (!r->load_stop && r->load_failed == 0)
		load_submit(r, s->i);
}

static void load_submit(struct mirror_run *r, int i)
{
	uint64_t per = r->load_bs / r->ss;
	uint64_t blocks = r->nsec / per;
	if (blocks == 0)
		return;
	uint64_t sec = mirror_rng(&r->load_rng) % blocks * per;
	char *buf = r->load_buf + (size_t)i * r->load_bs;
	memcpy(buf, &r->load_writes, sizeof(r->load_writes));
	r->load_iov[i].iov_base = buf;
	r->load_iov[i].iov_len = r->load_bs;
	int rc = mblk_write(r->m, sec, &r->load_iov[i], 1, 0, load_slot_done,
			    &load_slots[i]);
	if (rc == 0)
		r->load_inflight++;
}

int cmd_mirror(int argc, char **argv)
{
	enum {
		OPT_RATE = 256,
		OPT_RETRIES,
		OPT_DST_CACHE,
		OPT_MODE,
		OPT_SHARE
	};
	static const struct option opts[] = {
		{ "progress", optional_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "copy-share", required_argument, NULL, OPT_SHARE },
		{ "buffer", required_argument, NULL, 'b' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "on-error", required_argument, NULL, 'e' },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "write-load", required_argument, NULL, 'W' },
		{ "load-bs", required_argument, NULL, 'B' },
		{ "load-time", required_argument, NULL, 'T' },
		{ "dst-cache", required_argument, NULL, OPT_DST_CACHE },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "target-is-zero", no_argument, NULL, 'Z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum progress_mode pmode = PROGRESS_NONE;
	struct mblk_mirror_opts mo = { 0 };
	uint64_t retries = 3, qd = 0, bs = 4096;
	double load_time = 0;
	bool dst_direct = true, tiz = false, cache_given = false;
	bool retries_given = false, bs_given = false;
	int c;
	while ((c = getopt_long(argc, argv, ":pb:c:e:W:B:T:Zh", opts, NULL)) !=
	       -1) {
		switch (c) {
		case OPT_DST_CACHE:
			if (cli_parse_dst_cache("mirror", optarg, &dst_direct))
				return CLI_USAGE;
			cache_given = true;
			break;
		case 'p':
			if (progress_parse_mode(optarg, &pmode) < 0)
				return cli_usage("mirror",
						 "--progress takes bar, json "
						 "or none, not '%s'",
						 optarg);
			break;
		case OPT_RATE:
			if (cli_parse_size("mirror", "--rate", optarg,
					   &mo.rate) < 0)
				return CLI_USAGE;
			break;
		case OPT_SHARE: {
			uint64_t n;
			if (cli_parse_uint("mirror", "--copy-share", optarg, 1,
					   100, &n) < 0)
				return CLI_USAGE;
			mo.copy_share = (unsigned)n;
			break;
		}
		case 'b':
			if (cli_parse_size("mirror", "--buffer", optarg,
					   &mo.buffer_bytes) < 0)
				return CLI_USAGE;
			if (mo.buffer_bytes < 4096)
				return cli_usage("mirror",
						 "--buffer must be at "
						 "least 4K, not %s",
						 optarg);
			break;
		case 'c':
			if (cli_parse_size("mirror", "--chunk", optarg,
					   &mo.chunk_bytes) < 0)
				return CLI_USAGE;
			if (mo.chunk_bytes == 0 ||
			    (mo.chunk_bytes & (mo.chunk_bytes - 1)))
				return cli_usage("mirror",
						 "--chunk must be a "
						 "power of two, not %s",
						 optarg);
			break;
		case 'e':
			if (strcmp(optarg, "stop") == 0)
				mo.on_error = MBLK_MIRROR_STOP;
			else if (strcmp(optarg, "retry") == 0)
				mo.on_error = MBLK_MIRROR_RETRY;
			else
				return cli_usage("mirror",
						 "--on-error takes "
						 "stop or retry, not "
						 "'%s'",
						 optarg);
			break;
		case OPT_MODE:
			if (cli_parse_mirror_mode("mirror", "--mode", optarg,
						  &mo.active))
				return CLI_USAGE;
			break;
		case OPT_RETRIES:
			if (cli_parse_uint("mirror", "--retries", optarg, 0,
					   1000000, &retries) < 0)
				return CLI_USAGE;
			retries_given = true;
			break;
		case 'Z': tiz = true; break;
		case 'W':
			if (cli_parse_uint("mirror", "--write-load", optarg, 1,
					   LOAD_MAX, &qd) < 0)
				return CLI_USAGE;
			break;
		case 'B':
			if (cli_parse_size("mirror", "--load-bs", optarg, &bs) <
			    0)
				return CLI_USAGE;
			bs_given = true;
			if (bs == 0 || bs > (16u << 20))
				return cli_usage("mirror",
						 "--load-bs must be "
						 "from 1 byte to 16M, "
						 "not %s",
						 optarg);
			break;
		case 'T':
			if (cli_parse_seconds("mirror", "--load-time", optarg,
					      true, &load_time) < 0)
				return CLI_USAGE;
			break;
		case 'h': fputs(mirror_help, stdout); return CLI_OK;
		default: return cli_bad_option("mirror", c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage("mirror",
				 "expected SRC and DST, got %d "
				 "arguments",
				 argc - optind);
	mo.retries = (unsigned)retries;
	const char *src_uri = argv[optind], *dst_uri = argv[optind + 1];
	if (cli_same_device(src_uri, dst_uri))
		return cli_usage("mirror",
				 "'%s' and '%s' are the same device; a mirror "
				 "onto itself is refused",
				 src_uri, dst_uri);
	char probe[4096];
	if (cache_given && (!cli_uri_file_path(dst_uri, probe, sizeof(probe)) ||
			    strchr(dst_uri, '?') != NULL))
		fprintf(stderr,
			"mblk mirror: warning: --dst-cache does nothing here: "
			"'%s' is not a file path without settings\n",
			dst_uri);
	if (load_time > 0 && qd == 0)
		return cli_usage("mirror", "--load-time needs --write-load");
	if (bs_given && qd == 0)
		return cli_usage("mirror", "--load-bs needs --write-load");
	if (retries_given && mo.on_error != MBLK_MIRROR_RETRY)
		return cli_usage("mirror", "--retries needs --on-error retry");

	static struct mirror_run run;
	struct mirror_run *r = &run;
	memset(r, 0, sizeof(*r));
	uv_loop_init(&r->loop);
	int rc = CLI_FAIL;
	mblk_dev *src = NULL, *dst = NULL;
	char path[4096];
	bool created = false, have_sigs = false;

	if (cli_open("mirror", &r->loop, src_uri,
		     (qd ? 0 : MBLK_OPEN_RDONLY) | MBLK_OPEN_NO_SAFE, &src) < 0)
		goto out;
	if (cli_check_raw("mirror", src_uri, src) < 0)
		goto out;
	/* From here on a signal stops the command (mirror_stop), so that a
	 * DST being created or opened is removed as well. */
	cli_signals_start(&r->sigs, &r->loop, mirror_stop, r);
	have_sigs = true;
	struct mblk_info si;
	mblk_get_info(src, &si);
	uint64_t bytes = si.size_sectors * si.sector_size;
	if (cli_uri_file_path(dst_uri, path, sizeof(path))) {
		int k = cli_create_sparse_file("mirror", path, bytes);
		if (k < 0)
			goto out;
		created = k == 1;
	}
	if (cli_open_dst("mirror", &r->loop, dst_uri, MBLK_OPEN_NO_SAFE,
			 dst_direct, &dst) < 0)
		goto out;
	if (created && tiz)
		fprintf(stderr,
			"mblk mirror: warning: --target-is-zero does nothing "
			"here: '%s' is created and reads as zeros anyway\n",
			dst_uri);
	mo.secondary_is_zero = created || tiz;
	if (mblk_mirror_open(src, dst, &mo, mirror_event_cb, r, &r->m) < 0) {
		cli_fail("mirror", "%s", mblk_last_error());
		goto out;
	}
	src = dst = NULL; /* the mirror owns them */

	struct mblk_info mi;
	mblk_get_info(r->m, &mi);
	r->nsec = mi.size_sectors;
	r->ss = mi.sector_size;
	if (qd > 0) {
		if (bs % r->ss != 0) {
			rc = cli_usage("mirror",
				       "--load-bs %" PRIu64
				       " is not a multiple "
				       "of the %u-byte sector",
				       bs, r->ss);
			goto out;
		}
		r->load_qd = (int)qd;
		r->load_time = load_time;
		r->load_bs = bs;
		r->load_rng = 0x9E3779B97F4A7C15ull;
		if (posix_memalign((void **)&r->load_buf, 4096,
				   (size_t)(qd * bs)) != 0) {
			cli_fail("mirror", "no memory for the write load");
			goto out;
		}
		memset(r->load_buf, 0xa5, (size_t)(qd * bs));
		for (int i = 0; i < r->load_qd; i++) {
			load_slots[i].r = r;
			load_slots[i].i = i;
			load_submit(r, i);
		}
	}

	r->t_start = uv_hrtime();
	r->prog = progress_new(pmode, "mirror", bytes);
	uv_timer_init(&r->loop, &r->tick);
	r->tick.data = r;
	uv_timer_start(&r->tick, mirror_tick, 100, 100);
	while (!r->done)
		uv_run(&r->loop, UV_RUN_ONCE);
	uv_timer_stop(&r->tick);
	struct mblk_mirror_progress mp = { 0 };
	mblk_mirror_get_progress(r->m, &mp);
	if (r->ok)
		progress_update(r->prog, bytes, mp.bytes_read);
	progress_finish(r->prog, r->stopped ? r->sigs.signo
				 : r->ok && r->load_failed == 0
					 ? PROGRESS_OK
					 : PROGRESS_FAILED);
	/* The load in sync, for --load-time seconds. */
	while (r->ok && r->load_inflight > 0 && r->load_failed == 0 &&
	       (double)(uv_hrtime() - r->t_sync) / 1e9 < r->load_time)
		uv_run(&r->loop, UV_RUN_ONCE);
	r->t_end = uv_hrtime();
	r->load_stop = true;
	uint64_t writes_end = r->load_writes;
	while (r->load_inflight > 0)
		uv_run(&r->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&r->tick, NULL);
	cli_signals_stop(&r->sigs);

	if (qd > 0 && r->ok && pmode == PROGRESS_JSON) {
		double tc = (double)(r->t_sync - r->t_start) / 1e9;
		double ts = (double)(r->t_end - r->t_sync) / 1e9;
		uint64_t ws = writes_end - r->writes_at_sync;
		printf("{\"load\":{\"qd\":%d,\"bs\":%" PRIu64
		       ",\"copy_seconds\":%.3f,\"copy_writes\":%" PRIu64
		       ",\"copy_iops\":%.0f,\"sync_seconds\":%.3f,"
		       "\"sync_writes\":%" PRIu64 ",\"sync_iops\":%.0f,"
		       "\"active\":%s,\"started_active\":%s}}\n",
		       r->load_qd, r->load_bs, tc, r->writes_at_sync,
		       tc > 0 ? (double)r->writes_at_sync / tc : 0, ts, ws,
		       ts > 0 ? (double)ws / ts : 0,
		       r->active ? "true" : "false",
		       mo.active ? "true" : "false");
	}
	if (r->stopped) {
		char hd[32], ht[32];
		uint64_t done = mp.bytes_done < bytes ? mp.bytes_done : bytes;
		cli_fail("mirror",
			 "interrupted by %s: '%s' is incomplete: %s of %s "
			 "copied (%.0f%%)%s",
			 cli_signal_name(r->sigs.signo), dst_uri,
			 mblk__human_size(done, hd, sizeof(hd)),
			 mblk__human_size(bytes, ht, sizeof(ht)),
			 bytes ? 100.0 * (double)done / (double)bytes : 0.0,
			 created ? ", and it was removed, since this command "
				   "created it"
				 : "");
		rc = CLI_SIGNAL_BASE + r->sigs.signo;
	} else if (!r->ok) {
		cli_fail("mirror", "%s", r->fail_msg);
	} else if (r->load_failed) {
		cli_fail("mirror", "%d writes of the load failed: %s",
			 r->load_failed, r->load_msg);
	} else {
		rc = CLI_OK;
		if (qd > 0)
			fprintf(stderr,
				"mblk mirror: in sync after %" PRIu64
				" foreground writes%s\n",
				r->load_writes,
				mo.active   ? "; in active mode from the start"
				: r->active ? "; switched to active mode to "
					      "converge"
					    : "");
	}
out:
	if (have_sigs)
		cli_signals_stop(&r->sigs);
	cli_close(&r->loop, r->m);
	cli_close(&r->loop, src);
	cli_close(&r->loop, dst);
	free(r->load_buf);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
	/* A destination this command created and could not fill is not
	 * left behind looking like a copy. */
	if (created && rc != CLI_OK)
		unlink(path);
	return rc;
}
