/* cmd_compare.c - `mblk compare A B`: are two devices the same bytes?
 *
 * Design notes
 *
 * Sparse-aware, as qemu-img compare: both devices are walked together
 * (src/core/walk.h, granule G = the larger sector size), and a range where both
 * are holes is equal without reading. Elsewhere the range is read in
 * pieces of up to 1 MiB, from both sides or, where one side is a hole,
 * from the other only, which must then read as zeros. The first
 * difference is located to the byte; stdout names its 512-byte sector
 * in qemu-img's words, so scripts can take either tool.
 *
 * Devices of different sizes: the common part is compared and the rest
 * of the larger must read as zeros (qemu-img compare without -s), unless
 * --strict, where a size difference is a difference.
 *
 * Exit status as qemu-img and cmp: 0 identical, 1 different, 2 error
 * (a usage error included).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>

#include "cli.h"
#include "../common/iobuf.h"

static const char compare_help[] =
	"Usage: mblk compare A B [--strict]\n"
	"\n"
	"Compares the bytes of the devices A and B, skipping what is a hole in\n"
	"both. Prints 'Images are identical.' or, as qemu-img compare does,\n"
	"'Content mismatch at offset N!' with N the start of the first\n"
	"differing 512-byte sector (stderr gives the byte).\n"
	"When the sizes differ, the part past the smaller must read as zeros\n"
	"(a note says the sizes differ); with --strict the sizes must match.\n"
	"Both devices are opened read-only. Images in qcow2, VMDK, VHD, VHDX\n"
	"or VDI format are refused: mblk compares raw images.\n"
	"\n"
	"Options:\n"
	"      --strict  devices of different sizes are different\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit status: 0 identical, 1 different, 2 error.\n"
	"\n"
	"Examples:\n"
	"  mblk compare disk.img copy.img\n";

#define COMPARE_PIECE (1u << 20)

struct side {
	const char *uri;
	mblk_dev *dev;
	uint32_t ss;
	uint64_t size;
	struct mblk__walk walk;
	uint64_t ext_end; /* bytes */
	bool ext_zero;
	char *buf;
};

/* Makes the side's current extent cover pos. Returns 0 or -errno. */
static int compare_extent(struct side *s, uv_loop_t *loop, uint64_t pos)
{
	while (s->ext_end <= pos) {
		struct mblk_extent e;
		int r = cli_walk_sync(&s->walk, loop, &e);
		if (r < 0)
			return r;
		if (e.count == 0)
			return mblk_set_error(-EIO, "%s: the extents end early",
					      s->uri);
		s->ext_end = (e.sector + e.count) * s->ss;
		s->ext_zero = (e.flags & MBLK_EXTENT_ZERO) != 0;
	}
	return 0;
}

static int compare_read(struct side *s, uint64_t pos, uint64_t len)
{
	struct iovec iov = { s->buf, (size_t)len };
	return mblk_read_sync(s->dev, pos / s->ss, &iov, 1);
}

/* The first non-zero byte of p[0..n), or n. */
static uint64_t compare_nonzero(const char *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != 0)
			return i;
	return n;
}

static int compare_fail(const char *what)
{
	cli_fail("compare", "%s", what);
	return CLI_USAGE;
}

/* Compares [from, to) of both sides, or (b NULL) checks that a reads as
 * zeros there. Returns 0 equal, 1 different (*at set), -1 error. */
static int compare_range(struct side *a, struct side *b, uv_loop_t *loop,
			 uint64_t from, uint64_t to, uint64_t *at)
{
	uint64_t pos = from;
	while (pos < to) {
		if (compare_extent(a, loop, pos) < 0 ||
		    (b && compare_extent(b, loop, pos) < 0))
			return -1;
		uint64_t end = a->ext_end < to ? a->ext_end : to;
		if (b && b->ext_end < end)
			end = b->ext_end;
		bool za = a->ext_zero, zb = b ? b->ext_zero : true;
		if (za && zb) {
			pos = end;
			continue;
		}
		while (pos < end) {
			uint64_t len = end - pos < COMPARE_PIECE
					       ? end - pos
					       : COMPARE_PIECE;
			if ((!za && compare_read(a, pos, len) < 0) ||
			    (!zb && compare_read(b, pos, len) < 0))
				return -1;
			uint64_t i;
			if (za)
				i = compare_nonzero(b->buf, len);
			else if (zb)
				i = compare_nonzero(a->buf, len);
			else if (memcmp(a->buf, b->buf, (size_t)len) == 0)
				i = len;
			else
				for (i = 0; a->buf[i] == b->buf[i]; i++)
					;
			if (i < len) {
				*at = pos + i;
				return 1;
			}
			pos += len;
		}
	}
	return 0;
}

int cmd_compare(int argc, char **argv)
{
	enum { OPT_STRICT = 256 };
	static const struct option opts[] = {
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool strict = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STRICT: strict = true; break;
		case 'h': fputs(compare_help, stdout); return CLI_OK;
		default: return cli_bad_option("compare", c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage("compare",
				 "expected two device URIs, got %d arguments",
				 argc - optind);
	struct side sd[2] = { { .uri = argv[optind] },
			      { .uri = argv[optind + 1] } };
	uv_loop_t loop;
	uv_loop_init(&loop);
	int rc = CLI_USAGE; /* 2: an error */
	uint32_t g = 0;
	for (int i = 0; i < 2; i++) {
		if (cli_open("compare", &loop, sd[i].uri, MBLK_OPEN_RDONLY,
			     &sd[i].dev) < 0 ||
		    cli_check_raw("compare", sd[i].uri, sd[i].dev) < 0)
			goto out;
		struct mblk_info inf;
		mblk_get_info(sd[i].dev, &inf);
		sd[i].ss = inf.sector_size;
		sd[i].size = inf.size_sectors * inf.sector_size;
		g = inf.sector_size > g ? inf.sector_size : g;
		sd[i].buf =
			mblk__iobuf_alloc(COMPARE_PIECE, inf.buf_align > 4096
								 ? inf.buf_align
								 : 4096);
		if (sd[i].buf == NULL) {
			compare_fail("no memory for the read buffers");
			goto out;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (sd[i].size % g != 0) {
			cli_fail("compare",
				 "cannot compare '%s' (%" PRIu64 " bytes) in "
				 "%" PRIu32 "-byte sectors",
				 sd[i].uri, sd[i].size, g);
			goto out;
		}
		mblk__walk_init(&sd[i].walk, sd[i].dev, 0,
				sd[i].size / sd[i].ss, g / sd[i].ss);
	}
	uint64_t common = sd[0].size < sd[1].size ? sd[0].size : sd[1].size;
	if (sd[0].size != sd[1].size) {
		if (strict) {
			printf("Strict mode: Image size mismatch! '%s' is "
			       "%" PRIu64 " bytes, '%s' %" PRIu64 " bytes\n",
			       sd[0].uri, sd[0].size, sd[1].uri, sd[1].size);
			rc = CLI_FAIL;
			goto out;
		}
		fprintf(stderr,
			"mblk compare: note: the sizes differ (%" PRIu64
			" and %" PRIu64 " bytes): the rest of the larger must "
			"read as zeros\n",
			sd[0].size, sd[1].size);
	}
	uint64_t at = 0;
	int r = compare_range(&sd[0], &sd[1], &loop, 0, common, &at);
	if (r == 0 && sd[0].size != sd[1].size) {
		struct side *big = sd[0].size > sd[1].size ? &sd[0] : &sd[1];
		r = compare_range(big, NULL, &loop, common, big->size, &at);
	}
	if (r < 0) {
		cli_fail("compare", "%s", mblk_last_error());
		goto out;
	}
	if (r == 1) {
		/* qemu-img's line names the 512-byte sector; the byte too. */
		printf("Content mismatch at offset %" PRIu64 "!\n",
		       at / 512 * 512);
		fprintf(stderr,
			"mblk compare: the first differing byte is at offset "
			"%" PRIu64 "\n",
			at);
		rc = CLI_FAIL;
		goto out;
	}
	printf("Images are identical.\n");
	rc = CLI_OK;
out:
	for (int i = 0; i < 2; i++) {
		cli_close(&loop, sd[i].dev);
		free(sd[i].buf);
	}
	uv_loop_close(&loop);
	return rc;
}
