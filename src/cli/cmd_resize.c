/* cmd_resize.c - `mblk resize URI SIZE [--shrink]`: change a device's
 * size. Shrinking loses the data past the new end, so it needs --shrink,
 * as with qemu-img resize. */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"
#include "../common/size.h"

static const char resize_help[] =
	"Usage: mblk resize URI SIZE [--shrink]\n"
	"\n"
	"Sets the size of the device to SIZE bytes (K..E suffixes), a multiple\n"
	"of its sector size. Growing adds bytes that read as zeros; shrinking\n"
	"drops the data past SIZE and is refused without --shrink. The device\n"
	"must support resizing (see 'mblk info': capability resize).\n"
	"\n"
	"Options:\n"
	"      --shrink  allow a SIZE smaller than the device\n"
	"  -h, --help    show this help\n"
	"\n"
	"Examples:\n"
	"  mblk resize disk.img 20G\n"
	"  mblk resize disk.img 1G --shrink\n";

int cmd_resize(int argc, char **argv)
{
	enum { OPT_SHRINK = 256 };
	static const struct option opts[] = {
		{ "shrink", no_argument, NULL, OPT_SHRINK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool shrink = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SHRINK: shrink = true; break;
		case 'h': fputs(resize_help, stdout); return CLI_OK;
		default: return cli_bad_option("resize", c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage("resize",
				 "expected a device URI and a SIZE, got %d "
				 "arguments",
				 argc - optind);
	const char *uri = argv[optind];
	uint64_t size;
	if (cli_parse_size("resize", "SIZE", argv[optind + 1], &size) < 0)
		return CLI_USAGE;

	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev = NULL;
	int rc = CLI_FAIL;
	if (cli_open("resize", &loop, uri, 0, &dev) < 0)
		goto out;
	struct mblk_info inf;
	mblk_get_info(dev, &inf);
	uint64_t old = inf.size_sectors * inf.sector_size;
	char h1[32], h2[32];
	mblk__human_size(old, h1, sizeof(h1));
	mblk__human_size(size, h2, sizeof(h2));
	if (!inf.read_write) {
		cli_fail("resize", "cannot resize '%s': it is read-only", uri);
		goto out;
	}
	if (!(inf.caps & MBLK_CAP_RESIZE)) {
		cli_fail("resize",
			 "cannot resize '%s': the device cannot "
			 "change its size",
			 uri);
		goto out;
	}
	if (size % inf.sector_size != 0) {
		rc = cli_usage("resize",
			       "SIZE %" PRIu64 " is not a multiple of the "
			       "%" PRIu32 "-byte sectors of '%s'",
			       size, inf.sector_size, uri);
		goto out;
	}
	if (size < old && !shrink) {
		cli_fail("resize",
			 "refusing to shrink '%s' from %s to %s: the data past "
			 "%s would be lost; add --shrink if that is meant",
			 uri, h1, h2, h2);
		goto out;
	}
	if (size > old && shrink)
		fprintf(stderr,
			"mblk resize: warning: --shrink does nothing "
			"here: %s is larger than %s\n",
			h2, h1);
	int r = mblk_resize_sync(dev, size / inf.sector_size);
	if (r < 0) {
		cli_fail("resize", "%s", mblk_last_error());
		goto out;
	}
	printf("'%s' resized from %" PRIu64 " bytes (%s) to %" PRIu64
	       " bytes (%s)\n",
	       uri, old, h1, size, h2);
	rc = CLI_OK;
out:
	cli_close(&loop, dev);
	uv_loop_close(&loop);
	return rc;
}
