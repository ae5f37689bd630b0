/* main.c - the mblk command: finds the subcommand and runs it.
 *
 * `mblk SUB ARGS...` calls the SUB entry of the table below with argv
 * starting at SUB, so each subcommand parses its own options with
 * getopt_long exactly as a program of its own would.
 *
 * Output that cannot be written is an error, as in coreutils: stdout is
 * flushed and checked once the subcommand is done, and a failure (a full
 * disk, a closed pipe, /dev/full) turns the exit status into 1 with a
 * sentence, whatever the subcommand returned.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>
#include "cli.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "info", cmd_info, "show a device's size, geometry and capabilities" },
	{ "map", cmd_map, "list a device's data and hole extents" },
	{ "copy", cmd_copy, "copy one device onto another, skipping holes" },
	{ "bench", cmd_bench, "measure a device with an in-process load" },
	{ "mirror", cmd_mirror, "mirror a live device onto another" },
	{ "serve", cmd_serve, "export devices over NBD" },
	{ "compare", cmd_compare, "compare two devices, sparse-aware" },
	{ "create", cmd_create, "create a sparse file or an RBD image" },
	{ "resize", cmd_resize, "grow (or, with --shrink, shrink) a device" },
	{ "ctl", cmd_ctl,
	  "drive a running mblk serve through its control socket" },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void main_usage(FILE *f)
{
	fprintf(f, "Usage: mblk COMMAND [OPTIONS] ARGS...\n"
		   "       mblk --help | --help-uri | --version\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < NSUB; i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name,
			subcommands[i].summary);
	fprintf(f, "\nDevices are named by URI: ram:NAME?size=SIZE, "
		   "ram:?size=SIZE, file:PATH,\n"
		   "a PATH, and more ('mblk --help-uri').\n"
		   "Sizes take K, M, G, T, P, E suffixes (binary).\n"
		   "'mblk COMMAND --help' explains each command; "
		   "'man mblk' explains them all.\n"
		   "Exit status: 0 done, 1 the operation failed, "
		   "2 usage error (compare: 0 same,\n"
		   "1 different, 2 error); 128 + the signal (130 SIGINT, "
		   "143 SIGTERM, 129 SIGHUP)\n"
		   "for a copy or mirror interrupted, DST then incomplete.\n");
}

/* Flushes stdout; a write that failed now or earlier makes rc 1. */
static int main_check_stdout(const char *sub, int rc)
{
	errno = 0;
	int bad = fflush(stdout) != 0 || ferror(stdout);
	int e = errno;
	if (fclose(stdout) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (!bad)
		return rc;
	fprintf(stderr, "mblk%s%s: cannot write the output: %s\n",
		sub ? " " : "", sub ? sub : "",
		e ? strerror(e) : "an earlier write failed");
	/* compare's 1 means "different": a failure there is 2. */
	return sub && strcmp(sub, "compare") == 0 ? CLI_USAGE : CLI_FAIL;
}

/* Every scheme this mblk was built with and its keys, from the table the
 * build assembled (src/open/): the reference that cannot go stale. */
static int main_help_uri(void)
{
	printf("Device URIs (docs/uri.md). A value in [brackets] is taken as "
	       "it is:\nthat is how a decorator names the devices it holds.\n");
	const struct mblk_scheme *s;
	for (int i = 0; (s = mblk_scheme_at(i)) != NULL; i++) {
		printf("\n%s\n  %s\n", s->syntax, s->summary);
		for (const struct mblk_uri_key *k = s->keys; k && k->name; k++)
			printf("    %-14s %-14s %s\n", k->name,
			       k->type ? k->type : "", k->help ? k->help : "");
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mblk: cannot write the help: %s\n",
			strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "mblk: no command given; see 'mblk --help'.\n");
		return CLI_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0) {
		main_usage(stdout);
		return main_check_stdout(NULL, CLI_OK);
	}
	if (strcmp(sub, "--help-uri") == 0)
		return main_help_uri();
	if (strcmp(sub, "--version") == 0 || strcmp(sub, "-V") == 0) {
		printf("mblk %s (library %s, libuv %s)\n", MBLK_VERSION_STRING,
		       mblk_version(), uv_version_string());
		return main_check_stdout(NULL, CLI_OK);
	}
	for (size_t i = 0; i < NSUB; i++) {
		if (strcmp(sub, subcommands[i].name) == 0) {
			optind = 0; /* glibc: a full reset of getopt */
			int rc = subcommands[i].run(argc - 1, argv + 1);
			return main_check_stdout(sub, rc);
		}
	}
	if (sub[0] == '-')
		fprintf(stderr,
			"mblk: unknown option '%s' before the command; "
			"see 'mblk --help'.\n",
			sub);
	else
		fprintf(stderr,
			"mblk: unknown command '%s'; see "
			"'mblk --help'.\n",
			sub);
	return CLI_USAGE;
}
