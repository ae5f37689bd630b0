/* no-uring.c - runs a command where io_uring is refused, as a container's
 * seccomp profile does: io_uring_setup fails with EPERM (or ENOSYS with
 * --enosys) for the command and everything it starts.
 *
 * Usage: no-uring [--enosys] COMMAND [ARGS...]
 *
 * Used by tests/file/test-uring-refused.sh to check that the tests which
 * ask for engine=uring skip (exit 77, naming the refusal) instead of
 * passing on the thread-pool engine. Exits 77 itself when the seccomp
 * filter cannot be installed.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int no_uring_forbid(int err)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned)err & 0xffff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { sizeof(prog) / sizeof(prog[0]), prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
}

int main(int argc, char **argv)
{
	int err = EPERM, first = 1;
	if (argc > 1 && strcmp(argv[1], "--enosys") == 0) {
		err = ENOSYS;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr,
			"usage: no-uring [--enosys] COMMAND [ARGS...]\n");
		return 2;
	}
	if (no_uring_forbid(err) != 0) {
		printf("skipped: cannot install a seccomp filter: %s\n",
		       strerror(errno));
		return 77;
	}
	execvp(argv[first], argv + first);
	fprintf(stderr, "no-uring: %s: %s\n", argv[first], strerror(errno));
	return 127;
}
