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

#include "../core/walk.h"

/* Exit statuses. An interrupted copy or mirror exits 128 + the signal
 * (130 for SIGINT, 143 for SIGTERM), as a shell reports a command the
 * signal killed; the destination is then incomplete. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_SIGNAL_BASE = 128 };

int cmd_info(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_mirror(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_ctl(int argc, char **argv);

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

/* Parses seconds (fractions allowed) up to 1e6 for option opt: above 0,
 * or 0 or more with zero_ok. Returns 0, or prints a usage sentence and
 * returns -1. */
int cli_parse_seconds(const char *sub, const char *opt, const char *s,
		      bool zero_ok, double *out);

/* Writes s to f as a JSON string, quotes included. */
void cli_json_string(FILE *f, const char *s);

/* Opens uri with mblk_open_sync. On failure prints "mblk SUB: cannot open
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

/* The mirror's mode at start, background|active, for option opt: 0, or
 * CLI_USAGE after the message. */
int cli_parse_mirror_mode(const char *sub, const char *opt, const char *arg,
			  bool *active);

/* Creates path, sparse, of size bytes, for a destination that does not
 * exist yet. Returns 1 if created, 0 if it already exists, -1 after
 * printing the error (as subcommand sub). */
int cli_create_sparse_file(const char *sub, const char *path, uint64_t size);

/* The next extent of the walk w (src/core/walk.h), running loop until the
 * device answers; for code outside callbacks. Returns 0 with *e (count 0
 * at the end of the range), or -errno with the sentence in
 * mblk_last_error(). */
int cli_walk_sync(struct mblk__walk *w, uv_loop_t *loop, struct mblk_extent *e);

/* True when the two URIs name the same file (a path, file:PATH with or
 * without settings, a symlink or a hard link to it: same device and
 * inode, or the same block device) or the same named ram: device. Used
 * to refuse copying or mirroring a device onto itself. */
bool cli_same_device(const char *a, const char *b);

/* Reads the first sectors of dev and refuses an image in a format mblk
 * does not read (qcow2, VMDK, VHD, VHDX, VDI): prints "mblk SUB: 'URI'
 * is a FORMAT image ...; make it raw with: qemu-img convert -O raw URI
 * OUT.raw" and returns -1. 0 for anything else (raw), and when the
 * first sectors cannot be read (the operation itself will say why). */
int cli_check_raw(const char *sub, const char *uri, mblk_dev *dev);

/* SIGINT / SIGTERM / SIGHUP while a copy or mirror runs: the first one
 * calls stop(data) from the loop and records the signal; a second one of
 * the same kind kills the process as usual. SIGPIPE is ignored from then
 * on, so that a reader of --progress=json going away makes the writes to
 * stdout fail (exit 1 at the end, see main.c) rather than kill the copy
 * half-way and leave DST behind. */
struct cli_signals {
	uv_signal_t sig[3];
	int signo; /* the first signal received, 0 if none */
	void (*stop)(void *data);
	void *data;
};
void cli_signals_start(struct cli_signals *s, uv_loop_t *loop,
		       void (*stop)(void *data), void *data);
/* Closes the handles; run the loop afterwards (cli_close does). */
void cli_signals_stop(struct cli_signals *s);
/* "SIGINT", "SIGTERM", "SIGHUP". */
const char *cli_signal_name(int signo);

#endif
