/* cmd_map.c - `mblk map URI [--json]`: the data and hole extents.
 *
 * Walks the device with seek_mapped / seek_unmapped: at each position,
 * seek_mapped says where the next data may start (anything before it is
 * a hole) and seek_unmapped where that data ends. A position that both
 * seeks claim (a device contradicting itself) is reported as a hole of
 * one sector, since seek_unmapped guarantees zeros there. Adjacent
 * extents of the same kind are merged, so the output is the same as
 * `qemu-img map --output=json` for a raw image: offsets in bytes, the
 * device is its own storage (offset = start).
 */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

static const char map_help[] =
	"Usage: mblk map URI [--json]\n"
	"\n"
	"Lists the device's extents: data (may hold data) and holes (read as\n"
	"zeros), in bytes, merging neighbours of the same kind. A device that\n"
	"cannot tell holes is reported as one data extent.\n"
	"\n"
	"Options:\n"
	"  -j, --json   print a JSON array like 'qemu-img map --output=json':\n"
	"               [{\"start\":0,\"length\":N,\"data\":true,"
	"\"zero\":false,\"offset\":0},...]\n"
	"  -h, --help   show this help\n"
	"\n"
	"Examples:\n"
	"  mblk map 'ram:?size=1G'\n"
	"  mblk map disk.img --json\n";

struct map_out {
	bool json;
	bool have;           /* an extent is pending */
	bool first;          /* nothing printed yet (JSON commas) */
	uint64_t start, len; /* the pending extent, bytes */
	bool data;
};

static void map_emit(struct map_out *o)
{
	if (!o->have)
		return;
	if (o->json) {
		printf("%s{\"start\":%" PRIu64 ",\"length\":%" PRIu64
		       ",\"data\":%s,\"zero\":%s,\"offset\":%" PRIu64 "}",
		       o->first ? "[" : ",\n", o->start, o->len,
		       o->data ? "true" : "false", o->data ? "false" : "true",
		       o->start);
	} else {
		if (o->first)
			printf("%20s %20s  %s\n", "start", "length", "type");
		printf("%20" PRIu64 " %20" PRIu64 "  %s\n", o->start, o->len,
		       o->data ? "data" : "hole");
	}
	o->first = false;
	o->have = false;
}

static void map_add(struct map_out *o, uint64_t start, uint64_t len, bool data)
{
	if (o->have && o->data == data && o->start + o->len == start) {
		o->len += len;
		return;
	}
	map_emit(o);
	o->have = true;
	o->start = start;
	o->len = len;
	o->data = data;
}

int cmd_map(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct map_out o = { .first = true };
	int c;
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; break;
		case 'h': fputs(map_help, stdout); return CLI_OK;
		default: return cli_bad_option("map", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("map",
				 "expected one device URI, got %d "
				 "arguments",
				 argc - optind);
	const char *uri = argv[optind];

	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	if (cli_open("map", &loop, uri, MBLK_OPEN_RDONLY, &dev) < 0) {
		uv_loop_close(&loop);
		return CLI_FAIL;
	}
	struct mblk_info inf;
	mblk_get_info(dev, &inf);
	uint64_t ss = inf.sector_size, end = inf.size_sectors, pos = 0;
	int rc = CLI_OK;
	while (pos < end) {
		uint64_t next;
		int r = mblk_seek_mapped_sync(dev, pos, &next);
		if (r == 0 && next > pos) {
			next = next < end ? next : end;
			map_add(&o, pos * ss, (next - pos) * ss, false);
			pos = next;
			continue;
		}
		if (r == 0)
			r = mblk_seek_unmapped_sync(dev, pos, &next);
		if (r < 0) {
			map_emit(&o);
			if (o.json && !o.first)
				printf("]\n");
			fflush(stdout);
			rc = cli_fail("map", "%s", mblk_last_error());
			goto out;
		}
		if (next > pos) {
			next = next < end ? next : end;
			map_add(&o, pos * ss, (next - pos) * ss, true);
			pos = next;
		} else {
			map_add(&o, pos * ss, ss, false);
			pos++;
		}
	}
	map_emit(&o);
	if (o.json)
		printf(o.first ? "[]\n" : "]\n");
out:
	cli_close(&loop, dev);
	uv_loop_close(&loop);
	return rc;
}
