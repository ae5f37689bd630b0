/* cmd_create.c - `mblk create URI --size SIZE`: make a new, empty device
 * to copy or mirror onto: a sparse file, or an RBD image.
 *
 * It never replaces anything: an existing file or image is refused, so
 * a typo cannot wipe a disk. The RBD image is made by mblk_rbd_create
 * (include/mblk/rbd.h), so this file needs no librbd of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <mblk/rbd.h>

#include "cli.h"

static const char create_help[] =
	"Usage: mblk create URI --size SIZE\n"
	"\n"
	"Creates an empty device of SIZE bytes (a whole number of 512-byte\n"
	"sectors; K, M, G, T suffixes, binary) that reads as zeros:\n"
	"  PATH, file:PATH      a sparse file (no blocks allocated)\n"
	"  rbd:POOL/IMAGE       a Ceph RBD image (format 2, the cluster's\n"
	"                       default features), reached with the rbd: keys\n"
	"                       conf, id, keyring, mon-host, namespace, timeout\n"
	"An existing file or image is never replaced: create fails instead.\n"
	"\n"
	"Options:\n"
	"  -s, --size SIZE   the size (required)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Examples:\n"
	"  mblk create disk.img --size 10G\n"
	"  mblk create rbd:rbd/vm1 --size 10G\n"
	"  mblk create 'rbd:rbd/vm1?conf=/etc/ceph/other.conf&id=vm' -s 10G\n";

static int create_file(const char *uri, const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST)
		return cli_fail("create",
				"'%s' already exists: mblk create does not "
				"replace it",
				path);
	if (fd < 0)
		return cli_fail("create", "cannot create '%s': %s", path,
				strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return cli_fail("create",
				"cannot make '%s' %" PRIu64 " bytes long: %s",
				path, size, strerror(e));
	}
	if (close(fd) < 0)
		return cli_fail("create", "closing '%s': %s", path,
				strerror(errno));
	printf("created %s: a sparse file of %" PRIu64 " bytes\n", uri, size);
	return CLI_OK;
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
		return cli_usage("create", "--size SIZE is required");
	if (size % 512 != 0 || size > (1ull << 63))
		return cli_usage("create",
				 "--size %" PRIu64 " is not a whole number of "
				 "512-byte sectors up to 8 EiB",
				 size);
	const char *uri = argv[optind];

	char path[4096];
	if (strncmp(uri, "rbd:", 4) == 0) {
		if (mblk_rbd_create(uri, size) < 0)
			return cli_fail("create", "%s", mblk_last_error());
		printf("created %s: an RBD image of %" PRIu64 " bytes\n", uri,
		       size);
		return CLI_OK;
	}
	if (strchr(uri, '?') == NULL &&
	    cli_uri_file_path(uri, path, sizeof(path)))
		return create_file(uri, path, size);
	return cli_usage("create",
			 "'%s' is not a file path, file:PATH or rbd:POOL/IMAGE "
			 "(the devices create can make)",
			 uri);
}
