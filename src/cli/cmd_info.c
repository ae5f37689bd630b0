/* cmd_info.c - `mblk info URI [--json]`: what a device is and can do;
 * `mblk info --list NBD-URI`: the exports an NBD server offers.
 *
 * Looking must not write: the device is opened read-only (a mirror: URI
 * then serves its primary and copies nothing), so a lock held by a
 * writer elsewhere is reported as the failure it is, never worked around.
 * The capabilities shown are those of the device as opened: a read-only
 * device lists no discard, write_zeroes, resize, fua or zero_is_fast.
 * Whether the device could be opened for writing is a separate line,
 * "writable", answered for files (access(2)) and ram: devices, "unknown"
 * elsewhere. The reopen URI is mblk_get_uri's, untouched: the device as
 * info opened it, so read-only=1 wherever the scheme has the key; the
 * "writable" line says whether dropping it would work.
 */
#include <getopt.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mblk/file.h>
#include <mblk/nbd.h>
#include "cli.h"
#include "../common/size.h"

static const char info_help[] =
	"Usage: mblk info URI [--json]\n"
	"       mblk info --list NBD-URI [--json]\n"
	"\n"
	"Shows the device's size in bytes and sectors, sector size, the buffer\n"
	"alignment and request sizes it wants, its capabilities as opened,\n"
	"the bytes it stores and a URI that reopens it as info opened it. The\n"
	"device is opened read-only: nothing is written (a mirror: copies\n"
	"nothing), a read-only device lists no write capabilities, the reopen\n"
	"URI says read-only=1 where the scheme has that key, and a file locked\n"
	"by a writer elsewhere is reported as such. 'writable' says whether it\n"
	"could be opened for writing (files and ram: devices).\n"
	"With --list, shows instead every export of the NBD server that the\n"
	"URI names (its export name is ignored), with its description, size,\n"
	"block sizes and flags, as nbdinfo --list does.\n"
	"\n"
	"Options:\n"
	"  -j, --json   print one JSON object instead of a table\n"
	"  -l, --list   list the exports of an NBD server\n"
	"  -h, --help   show this help\n"
	"\n"
	"Examples:\n"
	"  mblk info 'ram:?size=1G'\n"
	"  mblk info disk.img --json\n"
	"  mblk info --list 'nbd+unix:///?socket=/run/nbd.sock'\n";

/* The transmission flags --list names, in the order of the spec. */
static const struct {
	uint16_t bit;
	const char *name;
} info_nbd_flags[] = {
	{ 1u << 1, "read-only" },  { 1u << 2, "flush" },
	{ 1u << 3, "fua" },        { 1u << 4, "rotational" },
	{ 1u << 5, "trim" },       { 1u << 6, "write-zeroes" },
	{ 1u << 7, "df" },         { 1u << 8, "multi-conn" },
	{ 1u << 9, "resize" },     { 1u << 10, "cache" },
	{ 1u << 11, "fast-zero" }, { 1u << 12, "block-status-payload" },
};

static int info_list(const char *uri, bool json)
{
	struct mblk_nbd_listed *ex;
	int n = mblk_nbd_list(uri, &ex);
	if (n < 0)
		return cli_fail("info", "cannot list the exports: %s",
				mblk_last_error());
	if (json)
		printf("{\"uri\":");
	if (json)
		cli_json_string(stdout, uri);
	if (json)
		printf(",\"exports\":[");
	for (int i = 0; i < n; i++) {
		const struct mblk_nbd_listed *e = &ex[i];
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(stdout, e->name);
			printf(",\"description\":");
			cli_json_string(stdout, e->description);
			if (e->have_info)
				printf(",\"size\":%" PRIu64
				       ",\"min_block\":%" PRIu32
				       ",\"pref_block\":%" PRIu32
				       ",\"max_payload\":%" PRIu32,
				       e->size, e->min_block, e->pref_block,
				       e->max_payload);
			printf(",\"flags\":[");
		} else {
			printf("export=\"%s\":\n", e->name);
			if (e->description[0])
				printf("\tdescription: %s\n", e->description);
			if (e->have_info) {
				char h[32];
				printf("\texport-size: %" PRIu64 " (%s)\n",
				       e->size,
				       mblk__human_size(e->size, h, sizeof(h)));
				if (e->min_block)
					printf("\tblock sizes: minimum %" PRIu32
					       ", preferred %" PRIu32
					       ", maximum %" PRIu32 "\n",
					       e->min_block, e->pref_block,
					       e->max_payload);
			} else {
				printf("\t(the server gave no details)\n");
			}
			printf("\tflags:");
		}
		bool first = true;
		for (size_t f = 0;
		     e->have_info &&
		     f < sizeof(info_nbd_flags) / sizeof(info_nbd_flags[0]);
		     f++) {
			if (!(e->flags & info_nbd_flags[f].bit))
				continue;
			if (json) {
				printf("%s", first ? "" : ",");
				cli_json_string(stdout, info_nbd_flags[f].name);
			} else {
				printf(" %s", info_nbd_flags[f].name);
			}
			first = false;
		}
		printf(json ? "]}" : "\n");
	}
	if (json)
		printf("]}\n");
	else if (n == 0)
		printf("(no exports)\n");
	mblk_nbd_list_free(ex, n);
	return CLI_OK;
}

static void info_caps(FILE *f, uint32_t caps, bool json)
{
	bool first = true;
	if (json)
		fputc('[', f);
	for (uint32_t bit = 1; bit != 0; bit <<= 1) {
		const char *name = mblk_cap_name(bit);
		if (!(caps & bit) || name == NULL)
			continue;
		if (json) {
			fputs(first ? "" : ",", f);
			cli_json_string(f, name);
		} else {
			fprintf(f, "%s%s", first ? "" : " ", name);
		}
		first = false;
	}
	if (json)
		fputc(']', f);
	else if (first)
		fputs("none", f);
}

/* Whether uri could be opened for writing: 1, 0, or -1 unknown. */
static int info_writable(const char *uri)
{
	char path[4096];
	if (strncasecmp(uri, "ram:", 4) == 0)
		return 1;
	if (!cli_uri_file_path(uri, path, sizeof(path)))
		return -1;
	if (strstr(uri, "read-only=1") != NULL && strncmp(uri, "file:", 5) == 0)
		return 0;
	return access(path, W_OK) == 0;
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, list = false;
	int c;
	while ((c = getopt_long(argc, argv, ":jlh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'l': list = true; break;
		case 'h': fputs(info_help, stdout); return CLI_OK;
		default: return cli_bad_option("info", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("info",
				 "expected one device URI, got %d "
				 "arguments",
				 argc - optind);
	const char *uri = argv[optind];
	if (list)
		return info_list(uri, json);

	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	if (cli_open("info", &loop, uri, MBLK_OPEN_RDONLY, &dev) < 0) {
		uv_loop_close(&loop);
		return CLI_FAIL;
	}
	struct mblk_info inf;
	mblk_get_info(dev, &inf);
	bool read_only = !inf.read_write;
	if (read_only)
		inf.caps &=
			~(uint32_t)(MBLK_CAP_DISCARD | MBLK_CAP_WRITE_ZEROES |
				    MBLK_CAP_RESIZE | MBLK_CAP_FUA |
				    MBLK_CAP_ZERO_IS_FAST);
	int writable = info_writable(uri); /* 1, 0, -1 unknown */
	uint64_t alloc = 0;
	bool have_alloc = mblk_get_allocated(dev, &alloc) == 0;
	char reuri[4096];
	int n = mblk_get_uri(dev, reuri, sizeof(reuri));
	if (n < 0 || (size_t)n >= sizeof(reuri))
		reuri[0] = '\0';
	uint64_t bytes = inf.size_sectors * inf.sector_size;
	const char *notes = mblk_file_notes(dev);

	if (json) {
		printf("{\"uri\":");
		cli_json_string(stdout, uri);
		printf(",\"name\":");
		cli_json_string(stdout, mblk_dev_name(dev));
		printf(",\"size\":%" PRIu64 ",\"size_sectors\":%" PRIu64
		       ",\"sector_size\":%" PRIu32 ",\"read_only\":%s"
		       ",\"writable\":%s"
		       ",\"buf_align\":%" PRIu32 ",\"min_io\":%" PRIu32
		       ",\"pref_io\":%" PRIu32 ",\"max_io\":%" PRIu32
		       ",\"capabilities\":",
		       bytes, inf.size_sectors, inf.sector_size,
		       read_only ? "true" : "false",
		       writable < 0 ? "null"
		       : writable   ? "true"
				    : "false",
		       inf.buf_align, inf.min_io, inf.pref_io, inf.max_io);
		info_caps(stdout, inf.caps, true);
		if (have_alloc)
			printf(",\"allocated\":%" PRIu64, alloc);
		else
			printf(",\"allocated\":null");
		printf(",\"reopen_uri\":");
		if (reuri[0])
			cli_json_string(stdout, reuri);
		else
			printf("null");
		if (notes != NULL && notes[0] != '\0') {
			printf(",\"notes\":");
			cli_json_string(stdout, notes);
		}
		printf("}\n");
	} else {
		char h[32];
		printf("device:        %s\n", mblk_dev_name(dev));
		printf("size:          %" PRIu64 " bytes (%s), %" PRIu64
		       " sectors\n",
		       bytes, mblk__human_size(bytes, h, sizeof(h)),
		       inf.size_sectors);
		printf("sector size:   %" PRIu32 " bytes\n", inf.sector_size);
		printf("read-only:     %s\n",
		       read_only ? "yes (as opened by info, which never writes)"
				 : "no");
		printf("writable:      %s\n", writable < 0 ? "unknown"
					      : writable   ? "yes"
							   : "no");
		printf("buffer align:  %" PRIu32 " bytes\n", inf.buf_align);
		printf("min io:        %" PRIu32 " bytes\n", inf.min_io);
		printf("preferred io:  %" PRIu32 " bytes\n", inf.pref_io);
		if (inf.max_io)
			printf("max io:        %" PRIu32 " bytes\n",
			       inf.max_io);
		else
			printf("max io:        no limit\n");
		printf("capabilities:  ");
		info_caps(stdout, inf.caps, false);
		printf("\n");
		if (have_alloc)
			printf("allocated:     %" PRIu64 " bytes (%s)\n", alloc,
			       mblk__human_size(alloc, h, sizeof(h)));
		else
			printf("allocated:     unknown\n");
		printf("reopen URI:    %s\n", reuri[0] ? reuri : "unknown");
		if (writable == 0)
			printf("note:          '%s' is not writable: opened for "
			       "writing, it is opened read-only\n",
			       uri);
		/* What opening decided on its own (file: read-only fallback,
		 * thread-pool fallback), one sentence per line. */
		for (const char *p = notes; p != NULL && *p != '\0';) {
			const char *e = strchr(p, '\n');
			int l = e ? (int)(e - p) : (int)strlen(p);
			printf("note:          %.*s\n", l, p);
			p = e ? e + 1 : p + l;
		}
	}
	cli_close(&loop, dev);
	uv_loop_close(&loop);
	return CLI_OK;
}
