/* cmd_map.c - `mblk map URI [--json]`: the data and hole extents.
 *
 * The extents come from the core's walker (src/core/walk.h) with a granule of one
 * sector, so they are exact and neighbours of the same kind are merged;
 * a hole costs one step whatever its size (an empty 8 EiB device is one
 * extent). The output is that of `qemu-img map -f raw` for the same
 * image, byte for byte: the human form lists the extents holding data
 * (offset, length, where it is mapped: the device is its own storage, so
 * the same offset, and the device's name), and --json lists every
 * extent with qemu-img's fields (start, length, depth, present, zero,
 * data, offset). The device is opened read-only.
 */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

static const char map_help[] =
	"Usage: mblk map URI [--json]\n"
	"\n"
	"Lists the device's extents in bytes, as 'qemu-img map -f raw' does:\n"
	"a table of the extents holding data (Offset, Length, Mapped to, File,\n"
	"offsets in hex), or with --json every extent, data and holes.\n"
	"Neighbours of the same kind are merged. A device that cannot tell\n"
	"holes is one data extent. The device is opened read-only.\n"
	"\n"
	"Options:\n"
	"  -j, --json   print a JSON array like 'qemu-img map --output=json':\n"
	"               [{ \"start\": 0, \"length\": N, \"depth\": 0, "
	"\"present\": true,\n"
	"                  \"zero\": B, \"data\": B, \"offset\": 0},...]\n"
	"  -h, --help   show this help\n"
	"\n"
	"Examples:\n"
	"  mblk map 'ram:?size=1G'\n"
	"  mblk map disk.img --json\n";

int cmd_map(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
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
	mblk_dev *dev = NULL;
	int rc = CLI_FAIL;
	if (cli_open("map", &loop, uri, MBLK_OPEN_RDONLY, &dev) < 0 ||
	    cli_check_raw("map", uri, dev) < 0)
		goto out;
	struct mblk_info inf;
	mblk_get_info(dev, &inf);
	uint64_t ss = inf.sector_size;
	struct mblk__walk w;
	mblk__walk_init(&w, dev, 0, inf.size_sectors, 1);
	if (json)
		putchar('[');
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "File");
	bool first = true;
	for (uint64_t pos = 0; pos < inf.size_sectors;) {
		struct mblk_extent e;
		if (cli_walk_sync(&w, &loop, &e) < 0 || e.count == 0) {
			if (json)
				printf("]\n");
			fflush(stdout);
			cli_fail("map", "%s", mblk_last_error());
			goto out;
		}
		pos = e.sector + e.count;
		bool data = !(e.flags & MBLK_EXTENT_HOLE);
		bool zero = (e.flags & MBLK_EXTENT_ZERO) != 0;
		uint64_t b = e.sector * ss, n = e.count * ss;
		if (json) {
			printf("%s{ \"start\": %" PRIu64
			       ", \"length\": %" PRIu64
			       ", \"depth\": 0, \"present\": true, \"zero\": "
			       "%s, \"data\": %s, \"offset\": %" PRIu64 "}",
			       first ? "" : ",\n", b, n,
			       zero ? "true" : "false", data ? "true" : "false",
			       b);
		} else if (data) {
			printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64
			       "%s\n",
			       b, n, b, mblk_dev_name(dev));
		}
		first = false;
	}
	if (json)
		printf("]\n");
	rc = CLI_OK;
out:
	cli_close(&loop, dev);
	uv_loop_close(&loop);
	return rc;
}
