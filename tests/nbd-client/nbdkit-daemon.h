/* nbdkit-daemon.h - an nbdkit server the C tests of the NBD client start
 * and kill themselves (not through with-server.sh), because killing it
 * under an open device is what they test. */
#ifndef MBLK_TEST_NBDKIT_DAEMON_H
#define MBLK_TEST_NBDKIT_DAEMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

/* Starts `nbdkit -U DIR/sock -P DIR/pid PLUGIN_ARGS` (nbdkit goes to the
 * background itself) and returns its pid, read from DIR/pid; exits 1
 * with a sentence if it does not start. */
static inline pid_t nbdkit_daemon_start(const char *dir,
					const char *plugin_args)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "rm -f %s/sock %s/pid; nbdkit -U %s/sock -P %s/pid %s", dir,
		 dir, dir, dir, plugin_args);
	if (system(cmd) != 0) {
		fprintf(stderr, "FAIL: could not start nbdkit\n");
		exit(1);
	}
	/* The daemon writes its pid file after the command returns. */
	char path[600];
	snprintf(path, sizeof(path), "%s/pid", dir);
	pid_t pid = 0;
	for (int i = 0; i < 200 && pid <= 0; i++) {
		FILE *f = fopen(path, "r");
		if (f == NULL || fscanf(f, "%d", &pid) != 1)
			usleep(10000);
		if (f)
			fclose(f);
	}
	if (pid <= 0) {
		fprintf(stderr, "FAIL: no pid file from nbdkit\n");
		exit(1);
	}
	return pid;
}

/* Stops it with sig: SIGKILL is a crash (the connection just ends);
 * SIGTERM a graceful shutdown, which nbdkit is given 200 ms for (it
 * answers NBD_ESHUTDOWN until its clients go) before SIGKILL. Returns
 * once the process is gone (2 s at most). */
static inline void nbdkit_daemon_stop(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	kill(pid, sig);
	if (sig != SIGKILL) {
		usleep(200000);
		kill(pid, SIGKILL);
	}
	for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(20000);
}

#endif
