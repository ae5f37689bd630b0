/* mtest.h - what every C test shares about honest results: skips with a
 * reason, missing peers (a failure under CI=true), and the io_uring check.
 *
 * Design notes
 *
 * A test that cannot run what it was asked to run must say so (exit 77,
 * which meson reports as SKIP) rather than pass on something else:
 *
 * - mtest_skip(): a privilege or a kernel feature is missing (a loop
 *   device, a seccomp filter, FUSE). Always a skip, also in CI: CI
 *   cannot grant what its sandbox forbids, and scripts/test.sh prints
 *   what the machine allowed above the results.
 * - mtest_need_peer(): a peer program (qemu-img, nbdkit, nbdinfo...) is
 *   not installed. A skip on a developer's machine; under CI=true a
 *   failure, since scripts/deps.sh installs every peer and a silently
 *   skipped interop suite would otherwise read as passed.
 * - mtest_check_engine(): a device asked for engine=uring fell back to
 *   the thread pool because the kernel or a sandbox refused io_uring
 *   (io_uring_queue_init -> EPERM/ENOSYS). Passing on the thread engine
 *   would leave the default engine untested while saying "ok": skip,
 *   naming the refusal, also under CI=true.
 *
 * - mtest_watchdog(): a test that hangs on a bug fails at once with a
 *   sentence (an assertion, not a timeout) when its own bound passes.
 *
 * tests/common/peers.sh is the same for the shell tests.
 */
#ifndef MBLK_TEST_MTEST_H
#define MBLK_TEST_MTEST_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/backend.h>
#include <mblk/file.h>

#define MTEST_SKIP 77

/* Prints "skipped: <reason>" and exits 77. */
static inline void mtest_skip(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static inline void mtest_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("skipped: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	exit(MTEST_SKIP);
}

static const char *mtest_watchdog_what = "the test";

static inline void mtest_watchdog_fire(int sig)
{
	char msg[300];
	(void)sig;
	int n = snprintf(msg, sizeof(msg),
			 "FAIL: %s did not finish within its bound: a hang\n",
			 mtest_watchdog_what);
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(1);
	_exit(1);
}

/* Fails the test (exit 1, with a sentence naming `what`) if it is still
 * running after `seconds`: a bug that hangs fails cleanly and fast. */
static inline void mtest_watchdog(unsigned seconds, const char *what)
{
	mtest_watchdog_what = what;
	signal(SIGALRM, mtest_watchdog_fire);
	alarm(seconds);
}

/* True when running under CI (CI=true or CI=1, as CI services set). */
static inline bool mtest_in_ci(void)
{
	const char *ci = getenv("CI");
	return ci != NULL && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

/* True if `tool` is an executable file in one of $PATH's directories. */
static inline bool mtest_have_program(const char *tool)
{
	const char *path = getenv("PATH");
	char dir[4096], full[4200];
	if (strchr(tool, '/') != NULL)
		return access(tool, X_OK) == 0;
	while (path != NULL && *path != '\0') {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		if (n > 0 && n < sizeof(dir)) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			snprintf(full, sizeof(full), "%s/%s", dir, tool);
			if (access(full, X_OK) == 0)
				return true;
		}
		path = colon ? colon + 1 : NULL;
	}
	return false;
}

/* Returns if `tool` is installed. Otherwise exits: 77 (skip) normally,
 * 1 (failure) under CI=true, naming the tool and where it comes from. */
static inline void mtest_need_peer(const char *tool)
{
	if (mtest_have_program(tool))
		return;
	if (mtest_in_ci()) {
		printf("FAIL: the peer program %s is not installed; under "
		       "CI=true a missing peer is a failure (scripts/deps.sh "
		       "installs it)\n",
		       tool);
		fflush(stdout);
		exit(1);
	}
	mtest_skip("the peer program %s is not installed (scripts/deps.sh "
		   "installs it; under CI=true this is a failure)",
		   tool);
}

/* The note of the first file device in dev's tree (every child, not only
 * child 0) saying io_uring was refused, or NULL. */
static inline const char *mtest_uring_refusal(mblk_dev *node)
{
	if (node == NULL)
		return NULL;
	const char *notes = mblk_file_notes(node);
	if (notes != NULL && strstr(notes, "io_uring") != NULL)
		return notes;
	for (int i = 0; i < MBLK_DEV_MAX_CHILDREN; i++) {
		const char *n = mtest_uring_refusal(mblk_dev_child(node, i));
		if (n != NULL)
			return n;
	}
	return NULL;
}

/* If the URI `asked` asked for the io_uring engine (engine=uring or engine=io_uring,
 * anywhere in it: nested URIs included) and a file device in the tree of `opened`
 * fell back to the thread pool, prints why and exits 77: the test would
 * otherwise pass on the engine it was not asked to test. */
static inline void mtest_check_engine(const char *asked, mblk_dev *opened)
{
	if (asked == NULL || (strstr(asked, "engine=uring") == NULL &&
			      strstr(asked, "engine=io_uring") == NULL &&
			      strstr(asked, "engine%3During") == NULL))
		return;
	const char *why = mtest_uring_refusal(opened);
	if (why == NULL)
		return;
	/* The notes are lines; print the whole of them, one line. */
	char one[1024];
	snprintf(one, sizeof(one), "%s", why);
	for (char *p = one; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	mtest_skip("%s asked for engine=uring, but this machine refuses "
		   "io_uring, so it would only test the thread-pool engine: %s",
		   asked, one);
}

#endif
