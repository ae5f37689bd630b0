/* cmd_copy.c - `mblk copy SRC DST`: copy a device, skipping holes.
 *
 * Design notes
 *
 * One pass over the source, front to back, with up to `nslots` requests
 * in flight. Each slot owns one aligned buffer of `chunk` bytes, so the
 * memory is nslots * chunk <= --buffer, fixed before the copy starts; no
 * allocation happens per request.
 *
 * The cursor `pos` walks the current source extent [pos, ext_end) of
 * kind data or hole. When it reaches the end of the extent, one
 * asynchronous seek (never more than one at a time) finds the next:
 * seek_mapped(pos) > pos means a hole up to there, otherwise
 * seek_unmapped(pos) is where the data ends. Extent edges are rounded to
 * the copy granule G = the larger sector size of the two devices (data
 * outward, holes inward), so every request is whole sectors on both
 * sides; both sizes are equal and powers of two, so the size is a
 * multiple of G.
 *
 *   data: a slot reads [off, off+len) from SRC into its buffer, then
 *         writes the buffer to DST at the same byte offset.
 *   hole: nothing if DST was created by this copy (it is sparse and
 *         reads as zeros); otherwise write_zeroes, or, when DST cannot
 *         (no capability, or -ENOTSUP at run time), ordinary writes from
 *         a shared zero buffer, one chunk at a time.
 *
 * The first error stops new work; requests in flight finish, then the
 * copy exits 1 with that error's sentence. At the end DST is flushed.
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

static const char copy_help[] =
	"Usage: mblk copy SRC DST [--progress[=bar|json]] [--buffer SIZE]\n"
	"                 [--requests N] [--dst-cache direct|buffered]\n"
	"\n"
	"Copies the device SRC onto DST, which must have the same size in\n"
	"bytes. Holes of SRC are not read: a DST created by the copy keeps\n"
	"them as holes; an existing DST gets them as write_zeroes (or written\n"
	"zeros). If DST is a file path (or file:PATH) that does not exist, it\n"
	"is created, sparse, with the size of SRC. DST is flushed at the end.\n"
	"\n"
	"A file DST given as a path, or as file:PATH without settings, is\n"
	"written with O_DIRECT (buffered=0): the copy does not go through the\n"
	"page cache, so it neither evicts what is cached nor waits on\n"
	"writeback at the end. Where O_DIRECT is refused (ramfs, a size that\n"
	"is not a multiple of the filesystem's block), DST is opened buffered\n"
	"and a note says why. A DST URI with settings is opened as given.\n"
	"\n"
	"Options:\n"
	"  -p, --progress[=bar|json]  a progress bar on a terminal (rate, ETA),\n"
	"                             or JSON lines on stdout:\n"
	"                             {\"done\":N,\"total\":N,\"percent\":P,\n"
	"                              \"rate_bytes_per_s\":R,\"eta_s\":E}\n"
	"  -b, --buffer SIZE          memory for data in flight (default 16M)\n"
	"  -r, --requests N           requests in flight at most (default 16)\n"
	"  -t, --dst-cache MODE       direct (default) or buffered: how a file\n"
	"                             DST without settings is written\n"
	"  -h, --help                 show this help\n"
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
	struct iovec iov;
	void *buf;
};

struct copy {
	mblk_dev *src, *dst;
	uint32_t ss_src, ss_dst;
	uint64_t size, granule, chunk;
	bool dst_created;    /* holes can be skipped */
	bool zero_by_writes; /* DST cannot write_zeroes */
	void *arena;         /* the slots' buffers, then zeros */
	void *zeros;         /* chunk bytes of zeros, for zero writes */

	uint64_t pos, ext_end; /* cursor and end of the current extent */
	bool ext_data;
	bool seeking;

	int nslots, busy;
	struct slot *slots;

	uint64_t done_bytes;
	struct progress *prog;
	int error;     /* first error, 0 if none */
	char msg[512]; /* its sentence */
	bool finished;
};

static void copy_pump(struct copy *c);

static void copy_error(struct copy *c, int status, const char *msg)
{
	if (c->error != 0)
		return;
	c->error = status;
	snprintf(c->msg, sizeof(c->msg), "%s",
		 msg ? msg : mblk_strerror(status));
}

static void copy_slot_free(struct slot *s)
{
	struct copy *c = s->c;
	s->state = SLOT_FREE;
	c->busy--;
	copy_pump(c);
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
	c->done_bytes += s->len;
	progress_update(c->prog, c->done_bytes);
	if (s->state == SLOT_ZFILL && s->off + s->len < s->zfill_end &&
	    c->error == 0) {
		/* Next chunk of zeros for the same hole. */
		s->off += s->len;
		s->len = s->zfill_end - s->off;
		if (s->len > c->chunk)
			s->len = c->chunk;
		s->iov.iov_base = c->zeros;
		s->iov.iov_len = s->len;
		int r = mblk_write(c->dst, s->off / c->ss_dst, &s->iov, 1, 0,
				   copy_write_cb, s);
		if (r < 0) {
			copy_error(c, r, NULL);
			copy_slot_free(s);
		}
		return;
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
	if (r < 0) {
		copy_error(c, r, NULL);
		copy_slot_free(s);
	}
}

static void copy_zero_cb(void *data, int status, const char *error)
{
	struct slot *s = data;
	struct copy *c = s->c;
	if (status == -ENOTSUP && c->error == 0) {
		/* DST cannot write zeroes after all: write them instead. */
		c->zero_by_writes = true;
		copy_start_zfill(s, s->off, s->off + s->len);
		return;
	}
	copy_write_cb(data, status, error);
}

static void copy_read_cb(void *data, int status, const char *error)
{
	struct slot *s = data;
	struct copy *c = s->c;
	if (status < 0 || c->error != 0) {
		if (status < 0)
			copy_error(c, status, error);
		copy_slot_free(s);
		return;
	}
	s->state = SLOT_WRITE;
	int r = mblk_write(c->dst, s->off / c->ss_dst, &s->iov, 1, 0,
			   copy_write_cb, s);
	if (r < 0) {
		copy_error(c, r, NULL);
		copy_slot_free(s);
	}
}

/* Rounds the extent [pos, end) found by a seek to the granule and makes
 * it current. */
static void copy_set_extent(struct copy *c, uint64_t end, bool data)
{
	uint64_t g = c->granule;
	if (end > c->size)
		end = c->size;
	if (data) {
		end = (end + g - 1) / g * g;
	} else {
		end = end / g * g;
		if (end <= c->pos) { /* a hole smaller than a granule */
			data = true;
			end = c->pos + g;
		}
	}
	if (end > c->size)
		end = c->size;
	c->ext_end = end;
	c->ext_data = data;
}

static void copy_unmapped_cb(void *data, int status, uint64_t sector,
			     const char *error)
{
	struct copy *c = data;
	c->seeking = false;
	if (status < 0) {
		copy_error(c, status, error);
	} else {
		uint64_t end = sector * c->ss_src;
		if (end <= c->pos) /* both seeks claim pos: it reads as zeros */
			copy_set_extent(c, c->pos + c->ss_src, false);
		else
			copy_set_extent(c, end, true);
	}
	copy_pump(c);
}

static void copy_mapped_cb(void *data, int status, uint64_t sector,
			   const char *error)
{
	struct copy *c = data;
	if (status < 0) {
		c->seeking = false;
		copy_error(c, status, error);
		copy_pump(c);
		return;
	}
	uint64_t next = sector * c->ss_src;
	if (next > c->pos) {
		c->seeking = false;
		copy_set_extent(c, next, false);
		copy_pump(c);
		return;
	}
	int r = mblk_seek_unmapped(c->src, c->pos / c->ss_src, copy_unmapped_cb,
				   c);
	if (r < 0) {
		c->seeking = false;
		copy_error(c, r, NULL);
		copy_pump(c);
	}
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
	while (c->error == 0 && !c->seeking && c->pos < c->size) {
		if (c->pos >= c->ext_end) {
			c->seeking = true;
			int r = mblk_seek_mapped(c->src, c->pos / c->ss_src,
						 copy_mapped_cb, c);
			if (r < 0) {
				c->seeking = false;
				copy_error(c, r, NULL);
			}
			break;
		}
		uint64_t left = c->ext_end - c->pos;
		if (!c->ext_data && c->dst_created) {
			c->pos = c->ext_end;
			c->done_bytes += left;
			progress_update(c->prog, c->done_bytes);
			continue;
		}
		struct slot *s = c->busy < c->nslots ? copy_free_slot(c) : NULL;
		if (s == NULL)
			break;
		c->busy++;
		s->off = c->pos;
		int r;
		if (c->ext_data) {
			s->len = left < c->chunk ? left : c->chunk;
			s->state = SLOT_READ;
			s->iov.iov_base = s->buf;
			s->iov.iov_len = s->len;
			c->pos += s->len;
			r = mblk_read(c->src, s->off / c->ss_src, &s->iov, 1,
				      copy_read_cb, s);
		} else if (c->zero_by_writes) {
			c->pos = c->ext_end;
			copy_start_zfill(s, s->off, c->ext_end);
			continue;
		} else {
			/* Bounded so that progress keeps moving. */
			uint64_t max = 1ull << 30;
			s->len = left < max ? left : max;
			s->state = SLOT_ZERO;
			c->pos += s->len;
			r = mblk_write_zeroes(c->dst, s->off / c->ss_dst,
					      s->len / c->ss_dst, 0,
					      copy_zero_cb, s);
		}
		if (r < 0) {
			copy_error(c, r, NULL);
			s->state = SLOT_FREE;
			c->busy--;
		}
	}
	if (c->busy == 0 && !c->seeking && (c->error != 0 || c->pos >= c->size))
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

int cmd_copy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "progress", optional_argument, NULL, 'p' },
		{ "buffer", required_argument, NULL, 'b' },
		{ "requests", required_argument, NULL, 'r' },
		{ "dst-cache", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum progress_mode pmode = PROGRESS_NONE;
	uint64_t buffer = 16u << 20, requests = 16;
	bool dst_direct = true;
	int c;
	while ((c = getopt_long(argc, argv, ":pb:r:t:h", opts, NULL)) != -1) {
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
		case 'r':
			if (cli_parse_uint("copy", "--requests", optarg, 1,
					   1024, &requests) < 0)
				return CLI_USAGE;
			break;
		case 't':
			if (cli_parse_dst_cache("copy", optarg, &dst_direct))
				return CLI_USAGE;
			break;
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

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct copy cp = { 0 };
	int rc = CLI_FAIL;
	char path[4096];
	bool created = false;
	if (cli_open("copy", &loop, src_uri, MBLK_OPEN_RDONLY, &cp.src) < 0)
		goto out;
	struct mblk_info si, di;
	mblk_get_info(cp.src, &si);
	cp.size = si.size_sectors * si.sector_size;

	if (cli_uri_file_path(dst_uri, path, sizeof(path))) {
		int r = cli_create_sparse_file("copy", path, cp.size);
		if (r < 0)
			goto out;
		created = r == 1;
	}
	if (cli_open_dst("copy", &loop, dst_uri, 0, dst_direct, &cp.dst) < 0) {
		if (created)
			unlink(path);
		goto out;
	}
	mblk_get_info(cp.dst, &di);
	uint64_t dsize = di.size_sectors * di.sector_size;
	if (!di.read_write) {
		cli_fail("copy", "cannot copy onto '%s': it is read-only",
			 mblk_dev_name(cp.dst));
		goto out;
	}
	if (dsize != cp.size) {
		cli_fail("copy",
			 "cannot copy '%s' (%" PRIu64 " bytes) onto '%s' "
			 "(%" PRIu64 " bytes): the sizes differ",
			 mblk_dev_name(cp.src), cp.size, mblk_dev_name(cp.dst),
			 dsize);
		goto out;
	}
	cp.ss_src = si.sector_size;
	cp.ss_dst = di.sector_size;
	cp.granule = si.sector_size > di.sector_size ? si.sector_size
						     : di.sector_size;
	cp.dst_created = created;
	cp.zero_by_writes = !(di.caps & MBLK_CAP_WRITE_ZEROES);

	/* chunk: 1 MiB, at least each device's preferred size, at most
	 * what both accept and what --buffer allows, whole granules. */
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
	chunk = chunk / cp.granule * cp.granule;
	if (chunk == 0)
		chunk = cp.granule;
	cp.chunk = chunk;
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

	cp.prog = progress_new(pmode, "copy", cp.size);
	copy_pump(&cp);
	while (!cp.finished)
		uv_run(&loop, UV_RUN_ONCE);
	if (cp.error == 0 && (di.caps & MBLK_CAP_FLUSH)) {
		int r = mblk_flush_sync(cp.dst);
		if (r < 0)
			copy_error(&cp, r, mblk_last_error());
	}
	progress_finish(cp.prog, cp.error == 0);
	if (cp.error != 0) {
		cli_fail("copy", "%s", cp.msg);
		goto out;
	}
	rc = CLI_OK;
out:
	cli_close(&loop, cp.src);
	cli_close(&loop, cp.dst);
	free(cp.arena);
	free(cp.slots);
	uv_loop_close(&loop);
	return rc;
}
