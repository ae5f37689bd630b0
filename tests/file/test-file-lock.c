/* test-file-lock.c - the lock between two processes: a second writer is
 * refused with "locked by another process" naming the holder's pid;
 * readers share; lock=0 goes without; the lock goes with the device.
 */
#include <signal.h>
#include <sys/wait.h>

#include "filetest.h"

/* Forks a child that opens uri and holds it until killed. Returns its
 * pid once the device is open. */
static pid_t hold(const char *uri)
{
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		uv_loop_t loop;
		mblk_dev *dev;
		uv_loop_init(&loop);
		char ok = mblk_open_sync(&loop, uri, 0, &dev) == 0 ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c = 0;
	CHECK(read(p[0], &c, 1) == 1);
	CHECK(c == 'y');
	close(p[0]);
	close(p[1]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	uv_loop_t loop;
	mblk_dev *dev, *dev2;
	char uri[8400], pidtxt[64];
	uv_loop_init(&loop);
	const char *img = ft_make_file("locked.img", 1 << 20);

	/* A writer elsewhere: we can neither write nor read. */
	pid_t pid = hold(img);
	snprintf(pidtxt, sizeof(pidtxt), "(pid %d)", (int)pid);
	CHECK_EQ(mblk_open_sync(&loop, img, 0, &dev), -EBUSY);
	printf("second writer: %s\n", mblk_last_error());
	CHECK_CONTAINS(mblk_last_error(), "is locked by another process");
	CHECK_CONTAINS(mblk_last_error(), pidtxt);
	CHECK_EQ(mblk_open_sync(&loop, img, MBLK_OPEN_RDONLY, &dev), -EBUSY);
	/* lock=0 opts out. */
	snprintf(uri, sizeof(uri), "file:%s?lock=0", img);
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	mblk_close_sync(dev);
	reap(pid);

	/* Readers share; a writer is then refused. */
	snprintf(uri, sizeof(uri), "file:%s?read-only=1", img);
	pid = hold(uri);
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	CHECK_EQ(mblk_open_sync(&loop, img, 0, &dev2), -EBUSY);
	mblk_close_sync(dev);
	reap(pid);

	/* The lock goes with the device: after close (and after a mere
	 * disconnect) a writer gets in. */
	CHECK_EQ(mblk_open_sync(&loop, img, 0, &dev), 0);
	CHECK_EQ(mblk_open_sync(&loop, img, 0, &dev2), -EBUSY);
	CHECK_CONTAINS(mblk_last_error(), "another device of this process");
	CHECK_EQ(mblk_disconnect_sync(dev), 0);
	CHECK_EQ(mblk_open_sync(&loop, img, 0, &dev2), 0);
	mblk_close_sync(dev2);
	mblk_close_sync(dev);

	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("ok\n");
	return 0;
}
