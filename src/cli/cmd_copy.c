/* cmd_copy.c - `mblk copy SRC DST`: copy a device, skipping holes.
 *
 * Design notes
 *
 * One pass over the source, front to back, with up to `nslots` slots in
 * flight. Each slot owns one aligned buffer of `chunk` bytes, so the
 * memory is nslots * chunk <= --buffer, fixed before the copy starts; no
 * allocation happens per request.
 *
 * Extents come from the core's walker (src/core/walk.h), rounded to the
 * copy granule G = the larger sector size of the two devices (data
 * outward, holes inward), so every request is whole sectors on both
 * sides. Time follows the data: a hole costs one walker step whatever
 * its size.
 *
 *   data: a slot reads [off, off+len) from SRC into its buffer; with
 *         --detect-zeroes (the default) the buffer is then cut into runs
 *         of zero and non-zero blocks of max(G, 4K) bytes, and the slot
 *         writes the data runs and treats the zero runs as holes, one
 *         request at a time, in order.
 *   hole: nothing when DST reads as zeros (created by the copy, reported
 *         by DST's own extents as one hole, or --target-is-zero);
 *         otherwise write_zeroes: in one request with MBLK_ZEROES_FAST
 *         when DST has MBLK_CAP_ZERO_IS_FAST (so an 8 EiB hole is one
 *         request; a refusal, -ENOTSUP, turns the fast path off), else
 *         1 GiB at a time so that progress moves; when DST cannot zero
 *         at all (no capability, or -ENOTSUP), ordinary writes from a
 *         shared zero buffer.
 *
 * --rate: a token bucket of bytes read, charged when a read is launched
 * and refilled at the rate, never above zero: the data read by time t is
 * at most rate * t + one chunk, from the first byte (the chunk is cut to
 * a tenth of a second of the rate, so that one chunk is not a burst).
 *
 * The end. The first error, or SIGINT / SIGTERM, stops new work; requests
 * in flight finish. A DST this command created is removed unless the copy
 * completed (one rule, whatever the cause: an error, a signal, a flush
 * that failed); an existing DST is never removed. An interrupted copy
 * says so in one sentence with the bytes done and exits 128 + the signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "../common/iobuf.h"
#include "../common/size.h"

static const char copy_help[] =
	"Usage: mblk copy SRC DST [--progress[=bar|json]] [--buffer SIZE]\n"
	"                 [--requests N] [--rate RATE] [--flush end|none]\n"
	"                 [--detect-zeroes on|off] [--target-is-zero]\n"
	"                 [--dst-cache direct|buffered] [--quiet]\n"
	"\n"
	"Copies the device SRC onto DST, which must be at least as large; the\n"
	"bytes of a larger DST past the end of SRC are left as they are (a note\n"
	"says so). Holes of SRC are not read. Blocks of zeros read from SRC are\n"
	"treated as holes (--detect-zeroes on). A hole is skipped where DST\n"
	"reads as zeros (a DST created by the copy, one that reports no data,\n"
	"or --target-is-zero) and written as write_zeroes (or zeros) elsewhere.\n"
	"If DST is a file path (or file:PATH) that does not exist, it is\n"
	"created, sparse, with the size of SRC; if the copy does not complete\n"
	"(an error, a signal) that new file is removed. An existing DST\n"
	"is never removed. Copying a file onto itself is refused. Images in\n"
	"qcow2, VMDK, VHD, VHDX or VDI format are refused: mblk copies raw.\n"
	"\n"
	"A file DST given as a path, or as file:PATH without settings, is\n"
	"written with O_DIRECT (buffered=0), unless --dst-cache buffered; where\n"
	"O_DIRECT is refused, DST is opened buffered and a note says why.\n"
	"\n"
	"At the end a line on stderr gives the bytes of data copied, the holes\n"
	"and zeros skipped, the time and the rate of data.\n"
	"\n"
	"Options:\n"
	"  -p, --progress[=bar|json]  a progress bar on a terminal (rate of data,\n"
	"                             ETA), or JSON lines on stdout:\n"
	"                             {\"done\":N,\"total\":N,\"percent\":P,\n"
	"                              \"data_bytes\":D,\"rate_bytes_per_s\":R,\n"
	"                              \"eta_s\":E}, the last one with\n"
	"                             \"finished\":true,\"ok\":B,\"outcome\":O\n"
	"  -b, --buffer SIZE          memory for data in flight (default 16M)\n"
	"  -q, --requests N           requests in flight at most (default 16)\n"
	"  -r, --rate RATE            read at most RATE bytes of data a second\n"
	"                             (K..E suffixes; default: no limit)\n"
	"  -f, --flush end|none       flush DST at the end (default) or not\n"
	"  -z, --detect-zeroes on|off blocks of zeros become holes (default on)\n"
	"  -Z, --target-is-zero       DST already reads as zeros: skip holes\n"
	"                             (nbdcopy's --destination-is-zero too)\n"
	"  -t, --dst-cache MODE       direct (default) or buffered: how a file\n"
	"                             DST without settings is written\n"
	"      --quiet                no summary line\n"
	"  -h, --help                 show this help\n"
	"\n"
	"Exit status: 0 copied, 1 failed, 2 usage error, 128 + the signal when\n"
	"interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP; DST incomplete).\n"
	"\n"
	"Examples:\n"
	"  mblk copy disk.img copy.img --progress\n"
	"  mblk copy 'ram:a?size=1G' file:/tmp/a.raw --progress=json\n";

enum slot_state { SLOT_FREE, SLOT_READ, SLOT_WRITE, SLOT_ZERO, SLOT_ZFILL };

struct copy;

struct slot {
	struct copy *c;
	enum slot_state state;
	uint64_t off, len;  /* current request, bytes */
	uint64_t zfill_end; /* SLOT_ZFILL: end of the range to fill */
	/* After a read: the buffer's range [boff, bend) still to write. */
	uint64_t boff, bend, bpos;
	bool fast; /* SLOT_ZERO: sent with MBLK_ZEROES_FAST */
	struct iovec iov;
	char *buf;
};

struct copy {
	mblk_dev *src, *dst;
	uint32_t ss_src, ss_dst;
	uint64_t size, granule, chunk, zblock;
	bool dst_zero;       /* DST reads as zeros: holes can be skipped */
	bool zero_fast;      /* DST zeroes any range in one request */
	bool zero_by_writes; /* DST cannot write_zeroes */
	bool detect_zeroes;
	void *arena; /* the slots' buffers, then zeros */
	void *zeros; /* chunk bytes of zeros, for zero writes */

	struct mblk__walk walk;
	uint64_t pos, ext_end; /* cursor and end of the current extent */
	bool ext_data;
	bool walking;

	/* --rate */
	uint64_t rate;
	double tokens;
	uint64_t refill_ns;
	uv_timer_t timer;
	bool timer_armed;

	int nslots, busy;
	struct slot *slots;

	uint64_t done_bytes;  /* of the device dealt with */
	uint64_t data_bytes;  /* read from SRC */
	uint64_t hole_bytes;  /* holes of SRC, not read */
	uint64_t zero_bytes;  /* zeros found in what was read */
	uint64_t wrote_bytes; /* data written to DST */
	struct progress *prog;
	int error;     /* first error, 0 if none */
	char msg[512]; /* its sentence */
	bool stopped;  /* a signal: no new work */
	bool finished;
};

static void copy_pump(struct copy *c);
static void copy_slot_step(struct slot *s);
static void copy_start_zero(struct slot *s, uint64_t off, uint64_t len);

static bool copy_halted(const struct copy *c)
{
	return c->error != 0 || c->stopped;
}

static void copy_error(struct copy *c, int status, const char *msg)
{
	if (c->error != 0)
		return;
	c->error = status;
	snprintf(c->msg, sizeof(c->msg), "%s",
		 msg ? msg : mblk_strerror(status));
}

static void copy_progress(struct copy *c)
{
	progress_update(c->prog, c->done_bytes, c->data_bytes);
}

static void copy_slot_free(struct slot *s)
{
	struct copy *c = s->c;
	s->state = SLOT_FREE;
	c->busy--;
	copy_pump(c);
}

/* Submission failed (r < 0): the slot is done. */
static void copy_submit_failed(struct slot *s, int r)
{
	copy_error(s->c, r, NULL);
	copy_slot_free(s);
}

static void copy_write_cb(void *data, int status, const char *error)
{
	struct slot *s = data;
	struct copy *c = s->c;
	if (status < 0) {
		copy_error(c, status, error);
		copy_slot_free(s);
		return;
	}
	if (s->state == SLOT_ZFILL && s->off + s->len < s->zfill_end &&
	    !copy_halted(c)) {
		/* Next chunk of zeros for the same range. */
		s->off += s->len;
		s->len = s->zfill_end - s->off;
		if (s->len > c->chunk)
			s->len = c->chunk;
		s->iov.iov_base = c->zeros;
		s->iov.iov_len = s->len;
		int r = mblk_write(c->dst, s->off / c->ss_dst, &s->iov, 1, 0,
				   copy_write_cb, s);
		if (r < 0)
			copy_submit_failed(s, r);
		return;
	}
	if (s->state == SLOT_WRITE)
		c->wrote_bytes += s->len;
	if (s->bpos < s->bend && !copy_halted(c)) {
		copy_slot_step(s); /* the rest of the buffer read */
		return;
	}
	if (s->bend > s->boff) {
		c->done_bytes += s->bend - s->boff;
		s->boff = s->bend = s->bpos = 0;
		copy_progress(c);
	}
	copy_slot_free(s);
}

static void copy_start_zfill(struct slot *s, uint64_t off, uint64_t end)
{
	struct copy *c = s->c;
	s->state = SLOT_ZFILL;
	s->zfill_end = end;
	s->off = off;
	s->len = end - off < c->chunk ? end - off : c->chunk;
	s->iov.iov_base = c->zeros;
	s->iov.iov_len = s->len;
	int r = mblk_write(c->dst, off / c->ss_dst, &s->iov, 1, 0,
			   copy_write_cb, s);
	if (r < 0)
		copy_submit_failed(s, r);
}

static void copy_zero_cb(void *data, int status, const char *error)
{
	struct slot *s = data;
	struct copy *c = s->c;
	if (status == -ENOTSUP && s->fast && !copy_halted(c)) {
		/* Not fast after all (MBLK_ZEROES_FAST refused): zero this
		 * range the ordinary way, and later ones 1 GiB at a time. */
		c->zero_fast = false;
		copy_start_zero(s, s->off, s->len);
		return;
	}
	if (status == -ENOTSUP && !copy_halted(c)) {
		/* DST cannot write zeroes after all: write them instead. */
		c->zero_by_writes = true;
		copy_start_zfill(s, s->off, s->off + s->len);
		return;
	}
	copy_write_cb(data, status, error);
}

/* Zeros [off, off+len) of DST, which does not read as zeros. */
static void copy_start_zero(struct slot *s, uint64_t off, uint64_t len)
{
	struct copy *c = s->c;
	if (c->zero_by_writes) {
		copy_start_zfill(s, off, off + len);
		return;
	}
	s->state = SLOT_ZERO;
	s->off = off;
	s->len = len;
	s->fast = c->zero_fast;
	int r = mblk_write_zeroes(c->dst, off / c->ss_dst, len / c->ss_dst,
				  s->fast ? MBLK_ZEROES_FAST : 0, copy_zero_cb,
				  s);
	if (r < 0)
		copy_submit_failed(s, r);
}

static bool copy_is_zero(const char *p, uint64_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, (size_t)n - 1) == 0);
}

/* Writes the next run of the buffer read: a run of data blocks as one
 * write, a run of zero blocks as a hole. */
static void copy_slot_step(struct slot *s)
{
	struct copy *c = s->c;
	while (s->bpos < s->bend) {
		uint64_t start = s->bpos, z = c->zblock;
		bool zero = false;
		if (c->detect_zeroes) {
			zero = copy_is_zero(s->buf + (start - s->boff),
					    z < s->bend - start
						    ? z
						    : s->bend - start);
			uint64_t e = start;
			while (e < s->bend) {
				uint64_t n = z < s->bend - e ? z : s->bend - e;
				if (copy_is_zero(s->buf + (e - s->boff), n) !=
				    zero)
					break;
				e += n;
			}
			s->bpos = e;
		} else {
			s->bpos = s->bend;
		}
		uint64_t len = s->bpos - start;
		if (zero) {
			c->zero_bytes += len;
			if (c->dst_zero)
				continue;
			copy_start_zero(s, start, len);
			return;
		}
		s->state = SLOT_WRITE;
		s->off = start;
		s->len = len;
		s->iov.iov_base = s->buf + (start - s->boff);
		s->iov.iov_len = len;
		int r = mblk_write(c->dst, start / c->ss_dst, &s->iov, 1, 0,
				   copy_write_cb, s);
		if (r < 0)
			copy_submit_failed(s, r);
		return;
	}
	/* All zeros onto a zero DST: nothing to write. */
	c->done_bytes += s->bend - s->boff;
	s->boff = s->bend = s->bpos = 0;
	copy_progress(c);
	copy_slot_free(s);
}

static void copy_read_cb(void *data, int status, const char *error)
{
	struct slot *s = data;
	struct copy *c = s->c;
	if (status < 0 || copy_halted(c)) {
		if (status < 0)
			copy_error(c, status, error);
		copy_slot_free(s);
		return;
	}
	c->data_bytes += s->len;
	s->boff = s->bpos = s->off;
	s->bend = s->off + s->len;
	copy_slot_step(s);
}

/* Makes e the current extent (count 0: the walk is over). */
static void copy_set_extent(struct copy *c, const struct mblk_extent *e)
{
	if (e->count == 0) {
		c->ext_end = c->size;
		c->ext_data = true;
		return;
	}
	c->ext_end = (e->sector + e->count) * c->ss_src;
	c->ext_data = !(e->flags & MBLK_EXTENT_ZERO);
}

static void copy_walk_cb(void *data, int status, const struct mblk_extent *e,
			 const char *error)
{
	struct copy *c = data;
	c->walking = false;
	if (status < 0)
		copy_error(c, status, error);
	else
		copy_set_extent(c, e);
	copy_pump(c);
}

static void copy_timer_cb(uv_timer_t *t)
{
	struct copy *c = t->data;
	c->timer_armed = false;
	copy_pump(c);
}

/* --rate: true when a read may be launched now, else arms the timer. */
static bool copy_may_read(struct copy *c)
{
	if (c->rate == 0)
		return true;
	uint64_t now = uv_hrtime();
	c->tokens += (double)c->rate * (double)(now - c->refill_ns) / 1e9;
	c->refill_ns = now;
	if (c->tokens > 0)
		c->tokens = 0; /* no credit: never a burst */
	if (c->tokens >= 0)
		return true;
	if (!c->timer_armed) {
		uint64_t ms =
			(uint64_t)(-c->tokens * 1000.0 / (double)c->rate) + 1;
		c->timer_armed = true;
		uv_timer_start(&c->timer, copy_timer_cb, ms, 0);
	}
	return false;
}

static struct slot *copy_free_slot(struct copy *c)
{
	for (int i = 0; i < c->nslots; i++)
		if (c->slots[i].state == SLOT_FREE)
			return &c->slots[i];
	return NULL;
}

/* Starts as much work as the free slots allow; notices the end. */
static void copy_pump(struct copy *c)
{
	while (!copy_halted(c) && !c->walking && c->pos < c->size) {
		if (c->pos >= c->ext_end) {
			struct mblk_extent e;
			int r = mblk__walk_next(&c->walk, &e, copy_walk_cb, c);
			if (r == 1) {
				copy_set_extent(c, &e);
				continue;
			}
			if (r == 0)
				c->walking = true;
			else
				copy_error(c, r, mblk_last_error());
			break;
		}
		uint64_t left = c->ext_end - c->pos;
		if (!c->ext_data && c->dst_zero) {
			c->pos = c->ext_end;
			c->done_bytes += left;
			c->hole_bytes += left;
			copy_progress(c);
			continue;
		}
		if (c->ext_data && !copy_may_read(c))
			break;
		struct slot *s = c->busy < c->nslots ? copy_free_slot(c) : NULL;
		if (s == NULL)
			break;
		c->busy++;
		if (c->ext_data) {
			s->off = c->pos;
			s->len = left < c->chunk ? left : c->chunk;
			s->state = SLOT_READ;
			s->iov.iov_base = s->buf;
			s->iov.iov_len = s->len;
			c->pos += s->len;
			c->tokens -= (double)s->len;
			int r = mblk_read(c->src, s->off / c->ss_src, &s->iov,
					  1, copy_read_cb, s);
			if (r < 0) {
				copy_error(c, r, NULL);
				s->state = SLOT_FREE;
				c->busy--;
			}
			continue;
		}
		/* A hole onto a DST that does not read as zeros. Bounded so
		 * that progress keeps moving, unless DST zeroes at once. */
		uint64_t max = c->zero_fast ? left : 1ull << 30;
		uint64_t len = left < max ? left : max;
		c->hole_bytes += len;
		s->boff = s->bpos = c->pos;
		s->bend = c->pos + len;
		c->pos += len;
		s->bpos = s->bend; /* nothing to write after the zeroing */
		copy_start_zero(s, s->boff, len);
	}
	if (c->busy == 0 && !c->walking &&
	    (copy_halted(c) || c->pos >= c->size))
		c->finished = true;
}

static uint32_t copy_max_nonzero(uint32_t a, uint32_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

static void copy_stop(void *data)
{
	struct copy *c = data;
	c->stopped = true;
	if (c->timer_armed) {
		uv_timer_stop(&c->timer);
		c->timer_armed = false;
	}
	copy_pump(c);
}

/* Whether [0, bytes) of dev reads as zeros by its extents. */
static bool copy_dst_reads_zero(uv_loop_t *loop, mblk_dev *dev, uint32_t ss,
				uint64_t bytes)
{
	struct mblk__walk w;
	struct mblk_extent e;
	mblk__walk_init(&w, dev, 0, bytes / ss, 1);
	return bytes > 0 && cli_walk_sync(&w, loop, &e) == 0 &&
	       (e.flags & MBLK_EXTENT_ZERO) && e.count * ss >= bytes;
}

static int copy_parse_onoff(const char *opt, const char *arg, bool *out)
{
	if (strcmp(arg, "on") == 0)
		*out = true;
	else if (strcmp(arg, "off") == 0)
		*out = false;
	else
		return cli_usage("copy", "%s takes on or off, not '%s'", opt,
				 arg);
	return 0;
}

int cmd_copy(int argc, char **argv)
{
	enum { OPT_QUIET = 256 };
	static const struct option opts[] = {
		{ "progress", optional_argument, NULL, 'p' },
		{ "buffer", required_argument, NULL, 'b' },
		{ "requests", required_argument, NULL, 'q' },
		{ "rate", required_argument, NULL, 'r' },
		{ "flush", required_argument, NULL, 'f' },
		{ "detect-zeroes", required_argument, NULL, 'z' },
		{ "target-is-zero", no_argument, NULL, 'Z' },
		{ "destination-is-zero", no_argument, NULL, 'Z' },
		{ "dst-cache", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum progress_mode pmode = PROGRESS_NONE;
	uint64_t buffer = 16u << 20, requests = 16, rate = 0;
	bool dst_direct = true, flush = true, detect = true, tiz = false;
	bool quiet = false, cache_given = false;
	int c;
	while ((c = getopt_long(argc, argv, ":pb:q:r:f:z:Zt:h", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'p':
			if (progress_parse_mode(optarg, &pmode) < 0)
				return cli_usage("copy",
						 "--progress takes bar, "
						 "json or none, not "
						 "'%s'",
						 optarg);
			break;
		case 'b':
			if (cli_parse_size("copy", "--buffer", optarg,
					   &buffer) < 0)
				return CLI_USAGE;
			if (buffer < 4096 || buffer > (1ull << 40))
				return cli_usage("copy",
						 "--buffer must be from "
						 "4K to 1T, not %s",
						 optarg);
			break;
		case 'q':
			if (cli_parse_uint("copy", "--requests", optarg, 1,
					   1024, &requests) < 0)
				return CLI_USAGE;
			break;
		case 'r':
			if (cli_parse_size("copy", "--rate", optarg, &rate) < 0)
				return CLI_USAGE;
			if (rate == 0)
				return cli_usage("copy",
						 "--rate must be above 0; "
						 "leave it out for no limit");
			break;
		case 'f':
			if (strcmp(optarg, "end") == 0)
				flush = true;
			else if (strcmp(optarg, "none") == 0)
				flush = false;
			else
				return cli_usage("copy",
						 "--flush takes end or none, "
						 "not '%s'",
						 optarg);
			break;
		case 'z':
			if (copy_parse_onoff("--detect-zeroes", optarg,
					     &detect))
				return CLI_USAGE;
			break;
		case 'Z': tiz = true; break;
		case 't':
			if (cli_parse_dst_cache("copy", optarg, &dst_direct))
				return CLI_USAGE;
			cache_given = true;
			break;
		case OPT_QUIET: quiet = true; break;
		case 'h': fputs(copy_help, stdout); return CLI_OK;
		default: return cli_bad_option("copy", c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage("copy",
				 "expected SRC and DST, got %d "
				 "arguments",
				 argc - optind);
	const char *src_uri = argv[optind], *dst_uri = argv[optind + 1];
	char path[4096];
	bool dst_is_file = cli_uri_file_path(dst_uri, path, sizeof(path));
	if (cli_same_device(src_uri, dst_uri))
		return cli_usage("copy",
				 "'%s' and '%s' are the same device; a copy "
				 "onto itself is refused",
				 src_uri, dst_uri);
	if (cache_given && (!dst_is_file || strchr(dst_uri, '?') != NULL))
		fprintf(stderr,
			"mblk copy: warning: --dst-cache does nothing here: "
			"'%s' is not a file path without settings\n",
			dst_uri);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct copy cp = { 0 };
	struct cli_signals sigs;
	bool have_sigs = false, have_timer = false;
	int rc = CLI_FAIL;
	bool created = false;
	if (cli_open("copy", &loop, src_uri, MBLK_OPEN_RDONLY, &cp.src) < 0)
		goto out;
	if (cli_check_raw("copy", src_uri, cp.src) < 0)
		goto out;
	struct mblk_info si, di;
	mblk_get_info(cp.src, &si);
	cp.size = si.size_sectors * si.sector_size;
	/* From here on a signal stops the command through copy_stop, so
	 * that a DST being created or opened is removed as well. */
	cli_signals_start(&sigs, &loop, copy_stop, &cp);
	have_sigs = true;

	if (dst_is_file) {
		int r = cli_create_sparse_file("copy", path, cp.size);
		if (r < 0)
			goto out;
		created = r == 1;
	}
	if (created && tiz)
		fprintf(stderr,
			"mblk copy: warning: --target-is-zero does nothing "
			"here: '%s' is created by the copy and reads as "
			"zeros anyway\n",
			dst_uri);
	if (cli_open_dst("copy", &loop, dst_uri, 0, dst_direct, &cp.dst) < 0)
		goto out;
	if (!created && cli_check_raw("copy", dst_uri, cp.dst) < 0)
		goto out;
	mblk_get_info(cp.dst, &di);
	uint64_t dsize = di.size_sectors * di.sector_size;
	if (!di.read_write) {
		cli_fail("copy", "cannot copy onto '%s': it is read-only",
			 mblk_dev_name(cp.dst));
		goto out;
	}
	char h1[32], h2[32];
	if (dsize < cp.size) {
		cli_fail("copy",
			 "cannot copy '%s' (%" PRIu64 " bytes, %s) onto '%s' "
			 "(%" PRIu64 " bytes, %s): the destination is smaller",
			 mblk_dev_name(cp.src), cp.size,
			 mblk__human_size(cp.size, h1, sizeof(h1)),
			 mblk_dev_name(cp.dst), dsize,
			 mblk__human_size(dsize, h2, sizeof(h2)));
		goto out;
	}
	cp.ss_src = si.sector_size;
	cp.ss_dst = di.sector_size;
	cp.granule = si.sector_size > di.sector_size ? si.sector_size
						     : di.sector_size;
	if (cp.size % cp.granule != 0) {
		cli_fail("copy",
			 "cannot copy '%s' (%" PRIu64 " bytes) onto '%s': the "
			 "size is not a multiple of its %" PRIu32
			 "-byte sectors",
			 mblk_dev_name(cp.src), cp.size, mblk_dev_name(cp.dst),
			 di.sector_size);
		goto out;
	}
	if (dsize > cp.size)
		fprintf(stderr,
			"mblk copy: note: '%s' is larger than '%s' (%s against "
			"%s): its last %" PRIu64
			" bytes are left as they are\n",
			mblk_dev_name(cp.dst), mblk_dev_name(cp.src),
			mblk__human_size(dsize, h1, sizeof(h1)),
			mblk__human_size(cp.size, h2, sizeof(h2)),
			dsize - cp.size);
	cp.dst_zero =
		created || tiz ||
		copy_dst_reads_zero(&loop, cp.dst, di.sector_size, cp.size);
	cp.zero_by_writes = !(di.caps & MBLK_CAP_WRITE_ZEROES);
	cp.zero_fast = (di.caps & MBLK_CAP_ZERO_IS_FAST) != 0;
	cp.detect_zeroes = detect;
	cp.rate = rate;

	/* chunk: 1 MiB, at least each device's preferred size, at most
	 * what both accept, what --buffer allows and a tenth of a second of
	 * --rate, whole granules. */
	uint64_t chunk = 1u << 20;
	if (chunk < si.pref_io)
		chunk = si.pref_io;
	if (chunk < di.pref_io)
		chunk = di.pref_io;
	uint32_t maxio = copy_max_nonzero(si.max_io, di.max_io);
	if (maxio && chunk > maxio)
		chunk = maxio;
	if (chunk > buffer)
		chunk = buffer;
	if (rate && chunk > rate / 10)
		chunk = rate / 10;
	chunk = chunk / cp.granule * cp.granule;
	if (chunk == 0)
		chunk = cp.granule;
	cp.chunk = chunk;
	cp.zblock = cp.granule > 4096 ? cp.granule : 4096;
	cp.nslots =
		(int)(buffer / chunk < requests ? buffer / chunk : requests);
	if (cp.nslots < 1)
		cp.nslots = 1;

	size_t align = si.buf_align > di.buf_align ? si.buf_align
						   : di.buf_align;
	if (align < 4096)
		align = 4096; /* page-aligned helps every engine */
	/* One arena (huge pages when big, see iobuf.h): a buffer per slot,
	 * then the buffer of zeros. */
	size_t stride;
	cp.slots = calloc((size_t)cp.nslots, sizeof(*cp.slots));
	cp.arena = mblk__iobuf_alloc_array((size_t)cp.nslots + 1, (size_t)chunk,
					   align, &stride);
	if (cp.slots == NULL || cp.arena == NULL) {
		cli_fail("copy",
			 "no memory for %d buffers of %" PRIu64 " bytes",
			 cp.nslots, chunk);
		goto out;
	}
	cp.zeros = (char *)cp.arena + (size_t)cp.nslots * stride;
	memset(cp.zeros, 0, (size_t)chunk);
	for (int i = 0; i < cp.nslots; i++) {
		cp.slots[i].c = &cp;
		cp.slots[i].buf = (char *)cp.arena + (size_t)i * stride;
	}
	mblk__walk_init(&cp.walk, cp.src, 0, cp.size / cp.ss_src,
			cp.granule / cp.ss_src);
	uv_timer_init(&loop, &cp.timer);
	have_timer = true;
	cp.timer.data = &cp;
	cp.refill_ns = uv_hrtime();

	uint64_t t0 = uv_hrtime();
	cp.prog = progress_new(pmode, "copy", cp.size);
	copy_pump(&cp);
	while (!cp.finished)
		uv_run(&loop, UV_RUN_ONCE);
	if (cp.error == 0 && !cp.stopped && flush &&
	    (di.caps & MBLK_CAP_FLUSH)) {
		int r = mblk_flush_sync(cp.dst);
		if (r < 0)
			copy_error(&cp, r, mblk_last_error());
	}
	double secs = (double)(uv_hrtime() - t0) / 1e9;
	int sig = sigs.signo;
	progress_finish(cp.prog, cp.error     ? PROGRESS_FAILED
				 : cp.stopped ? sig
					      : PROGRESS_OK);
	char hd[32], ht[32];
	if (cp.error != 0) {
		cli_fail("copy", "%s%s", cp.msg,
			 created ? "; the new destination was removed" : "");
		goto out;
	}
	if (cp.stopped) {
		cli_fail("copy",
			 "interrupted by %s: '%s' is incomplete: %s of %s "
			 "done (%.0f%%)%s",
			 cli_signal_name(sig), dst_uri,
			 mblk__human_size(cp.done_bytes, hd, sizeof(hd)),
			 mblk__human_size(cp.size, ht, sizeof(ht)),
			 cp.size ? 100.0 * (double)cp.done_bytes /
					   (double)cp.size
				 : 0.0,
			 created ? ", and it was removed, since this copy "
				   "created it"
				 : "");
		rc = CLI_SIGNAL_BASE + sig;
		goto out;
	}
	if (!quiet) {
		char hh[32], hz[32], hr[32];
		uint64_t rt = secs > 0
				      ? (uint64_t)((double)cp.data_bytes / secs)
				      : cp.data_bytes;
		fprintf(stderr,
			"mblk copy: %s copied in %.2f s: %s of data written, "
			"%s of holes %s, %s of zeros detected (%s/s of "
			"data)\n",
			mblk__human_size(cp.size, ht, sizeof(ht)), secs,
			mblk__human_size(cp.wrote_bytes, hd, sizeof(hd)),
			mblk__human_size(cp.hole_bytes, hh, sizeof(hh)),
			cp.dst_zero ? "skipped" : "zeroed",
			mblk__human_size(cp.zero_bytes, hz, sizeof(hz)),
			mblk__human_size(rt, hr, sizeof(hr)));
	}
	rc = CLI_OK;
out:
	if (have_sigs)
		cli_signals_stop(&sigs);
	if (have_timer)
		uv_close((uv_handle_t *)&cp.timer, NULL);
	cli_close(&loop, cp.src);
	cli_close(&loop, cp.dst);
	uv_run(&loop, UV_RUN_DEFAULT);
	free(cp.arena);
	free(cp.slots);
	uv_loop_close(&loop);
	/* The one rule: a DST this command created and that did not
	 * become a complete copy is not left behind looking like one. */
	if (created && rc != CLI_OK)
		unlink(path);
	return rc;
}
