/* cli.h - what the mblk command's subcommands share.
 *
 * Every subcommand is `int cmd_NAME(int argc, char **argv)` where argv[0]
 * is the subcommand's name; it returns an exit status (CLI_OK, CLI_FAIL,
 * CLI_USAGE). Errors are one sentence on stderr, printed through cli_fail
 * (the operation failed) or cli_usage (the command line is wrong).
 */
#ifndef MBLK_CLI_H
#define MBLK_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mblk.h>

/* Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cmd_info(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_mirror(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Prints "mblk SUB: <sentence>" on stderr and returns CLI_FAIL. */
CLI_PRINTF(2, 3) int cli_fail(const char *sub, const char *fmt, ...);

/* Prints "mblk SUB: <sentence>; see 'mblk SUB --help'." on stderr and
 * returns CLI_USAGE. */
CLI_PRINTF(2, 3) int cli_usage(const char *sub, const char *fmt, ...);

/* Handles getopt_long's '?' and ':' answers: prints the usage sentence
 * naming the bad option and returns CLI_USAGE. */
int cli_bad_option(const char *sub, int c, char **argv);

/* Parses a size with K/M/G/T suffixes for option opt. Returns 0, or prints
 * a usage sentence and returns -1. */
int cli_parse_size(const char *sub, const char *opt, const char *s,
		   uint64_t *out);

/* Parses a decimal integer in [min, max] for option opt. Returns 0, or
 * prints a usage sentence and returns -1. */
int cli_parse_uint(const char *sub, const char *opt, const char *s,
		   uint64_t min, uint64_t max, uint64_t *out);

/* Writes s to f as a JSON string, quotes included. */
void cli_json_string(FILE *f, const char *s);

/* The name of one MBLK_CAP_* bit ("flush", "discard", ...), or NULL. */
const char *cli_cap_name(uint32_t bit);

/* Opens uri with mblk_open. On failure prints "mblk SUB: cannot open
 * URI: <cause>" and returns the -errno. */
int cli_open(const char *sub, uv_loop_t *loop, const char *uri, unsigned flags,
	     mblk_dev **devp);

/* Closes dev (NULL is fine) and runs loop until it is gone. */
void cli_close(uv_loop_t *loop, mblk_dev *dev);

/* If uri names a file (a bare path or file:PATH), stores the decoded path
 * in buf (size len) and returns true; otherwise returns false. */
bool cli_uri_file_path(const char *uri, char *buf, size_t len);

/* Opens a destination (copy's DST, mirror's secondary): a file given as a
 * path, or as file:PATH without a query, is opened with O_DIRECT
 * (buffered=0) when direct is set; where O_DIRECT does not fit (-EINVAL:
 * refused by the filesystem, or the size or sector size), the URI as
 * given, after a note on stderr saying why. Errors as cli_open. */
int cli_open_dst(const char *sub, uv_loop_t *loop, const char *uri,
		 unsigned flags, bool direct, mblk_dev **devp);

/* --dst-cache direct|buffered: 0, or CLI_USAGE after the message. */
int cli_parse_dst_cache(const char *sub, const char *arg, bool *direct);

/* Creates path, sparse, of size bytes, for a destination that does not
 * exist yet. Returns 1 if created, 0 if it already exists, -1 after
 * printing the error (as subcommand sub). */
int cli_create_sparse_file(const char *sub, const char *path, uint64_t size);

#endif
