/* cmd_create.c - `mblk create URI --size SIZE`: a new, empty device to
 * copy or mirror onto: a sparse file, or an RBD image.
 *
 * A file (a path, or file:PATH) is created sparse with O_EXCL: an
 * existing file is never overwritten (`mblk resize` changes a size).
 * Other schemes go through create_other(), the one place a scheme that
 * can create images plugs in: RBD, through mblk_rbd_create
 * (include/mblk/rbd.h), so this file needs no librbd of its own.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include <mblk/rbd.h>

#include "cli.h"
#include "../common/size.h"

static const char create_help[] =
	"Usage: mblk create URI --size SIZE\n"
	"\n"
	"Creates a new raw image of SIZE bytes (K..E suffixes) that reads as\n"
	"zeros and takes no space:\n"
	"  PATH, file:PATH      a sparse file\n"
	"  rbd:POOL/IMAGE       a Ceph RBD image (format 2, the cluster's\n"
	"                       default features), reached with the rbd: keys\n"
	"                       conf, id, keyring, mon-host, namespace, timeout\n"
	"An existing file or image is never overwritten.\n"
	"\n"
	"Options:\n"
	"  -s, --size SIZE  the size of the new image (required)\n"
	"  -h, --help       show this help\n"
	"\n"
	"Examples:\n"
	"  mblk create disk.img --size 20G\n"
	"  mblk create rbd:rbd/vm1 --size 10G\n";

/* Creates uri when it is not a file. Returns 0, or -1 after the
 * sentence; -2 when the scheme cannot create images. */
static int create_other(const char *uri, uint64_t size)
{
	if (strncmp(uri, "rbd:", 4) != 0)
		return -2;
	if (mblk_rbd_create(uri, size) < 0) {
		cli_fail("create", "%s", mblk_last_error());
		return -1;
	}
	return 0;
}

int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t size = 0;
	bool have_size = false;
	int c;
	while ((c = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_size("create", "--size", optarg, &size) <
			    0)
				return CLI_USAGE;
			have_size = true;
			break;
		case 'h': fputs(create_help, stdout); return CLI_OK;
		default: return cli_bad_option("create", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("create", "expected one URI, got %d arguments",
				 argc - optind);
	if (!have_size)
		return cli_usage("create", "--size is required");
	const char *uri = argv[optind];
	if (size % 512 != 0)
		return cli_usage("create",
				 "--size %" PRIu64 " is not a multiple of "
				 "512 bytes",
				 size);
	char path[4096];
	if (!cli_uri_file_path(uri, path, sizeof(path))) {
		int r = create_other(uri, size);
		if (r == -2)
			return cli_usage("create",
					 "cannot create '%s': mblk create makes "
					 "files (a path or file:PATH) and RBD "
					 "images (rbd:POOL/IMAGE)",
					 uri);
		return r < 0 ? CLI_FAIL : CLI_OK;
	}
	if (strchr(uri, '?') != NULL && strncmp(uri, "file:", 5) == 0)
		fprintf(stderr,
			"mblk create: warning: the settings of '%s' do nothing "
			"when creating it\n",
			uri);
	int r = cli_create_sparse_file("create", path, size);
	if (r < 0)
		return CLI_FAIL;
	if (r == 0)
		return cli_fail("create",
				"cannot create '%s': it already exists (mblk "
				"create never overwrites; 'mblk resize' "
				"changes a size)",
				path);
	return CLI_OK;
}
