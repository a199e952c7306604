/* fdclose — cleanups closing file descriptors when their block dies.
 *
 * Opens 200 descriptors on /dev/null, each owned by a small block that
 * carries a cleanup closing it (the fd is the cleanup's argument, so the
 * argument does not reach the block).  The blocks are dropped, a collection
 * queues the cleanups, mgc_run_finalizers runs them, and fcntl confirms
 * that every descriptor is closed.  Exits 0 only if all were.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <mgc.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define NFD 200

struct file {
	int fd;
};

static void
close_fd(void *arg)
{
	close((int)(intptr_t)arg);
}

/* Opens one owned descriptor; returns it, or -1.  Not inlined so that no
 * pointer to the block stays in main's frame. */
static __attribute__((noinline)) int
open_owned(void)
{
	struct file *f = mgc_alloc(sizeof *f);
	if (f == NULL || (f->fd = open("/dev/null", O_WRONLY)) < 0)
		return -1;
	if (mgc_add_cleanup(f, close_fd, (void *)(intptr_t)f->fd) != 0)
		return -1;
	return f->fd;
}

int
main(void)
{
	int fds[NFD];
	for (int i = 0; i < NFD; i++)
		if ((fds[i] = open_owned()) < 0)
			return 1;
	printf("opened %d descriptors (%d..%d)\n", NFD, fds[0], fds[NFD - 1]);
	int open_left = NFD;
	size_t ran = 0;
	for (int round = 0; round < 10 && open_left > 0; round++) {
		mgc_collect();
		ran += mgc_run_finalizers();
		nanosleep(&(struct timespec){0, 1000000}, NULL); /* the runner may have some */
		open_left = 0;
		for (int i = 0; i < NFD; i++)
			open_left += fcntl(fds[i], F_GETFD) != -1 || errno != EBADF;
	}
	mgc_stats st;
	mgc_read_stats(&st);
	printf("cleanups run: %llu (%zu in this thread)\n",
	       (unsigned long long)st.finalizers_run, ran);
	printf("descriptors still open: %d\n", open_left);
	printf("%s\n", open_left == 0 ? "fdclose: ok" : "fdclose: FAILED");
	return open_left == 0 ? 0 : 1;
}
