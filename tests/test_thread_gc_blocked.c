/* test_thread_gc_blocked — blocks reachable only from a thread that is
 * blocked in a system call.
 *
 * Each of a few threads allocates pattern-filled blocks (small and large)
 * whose only pointers are its local variables: one volatile (on its stack),
 * the others plain locals that a loop working on all of them at once keeps
 * in registers across the call.  It then blocks in read() on a pipe.  The
 * main thread collects many times, allocating blocks of the same sizes in
 * between (a block wrongly freed would be reused and overwritten), then
 * writes one byte to each pipe.  Each thread's read() must return exactly
 * that byte (stopping it for a collection must not make read fail with
 * EINTR) and every block must be intact.
 *
 * Under ThreadSanitizer the thread first blocks in poll() and reads only
 * once the byte is there: that runtime counts poll() as a blocking call and
 * delivers the stop signal inside it, but holds the signal back for the
 * whole of a read(), so no collection could stop a thread blocked there.
 * poll() fails with EINTR after any handled signal, SA_RESTART or not
 * (signal(7)), so that wait retries it; read() itself must never see EINTR.
 */
#define _GNU_SOURCE
#include "check.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#include <mgc.h>

#define NBLOCKED 3
#define ROUNDS (UNDER_TSAN ? 5 : 20)
#define SMALL 96
#define LARGE (128 * 1024)
#define CHURN_BYTES (UNDER_TSAN ? (1u << 20) : (4u << 20))
#define WAKE_BYTE 'g'
#define STATE_POLLS 100000

struct blocked {
	pthread_t tid;
	int id;
	int ready[2];	/* the thread writes its kernel thread id, then blocks */
	int wake[2];	/* main writes WAKE_BYTE */
};

static __attribute__((noinline)) uint64_t *
make_block(size_t size, uint64_t key)
{
	uint64_t *w = mgc_alloc(size);

	CHECK(w != NULL, "mgc_alloc(%zu) failed (errno %d)", size, errno);
	check_fill(w, size / 8, key);
	return w;
}

static void
check_block(const uint64_t *w, size_t size, uint64_t key, const char *what)
{
	CHECK(mgc_base(w, NULL) == w, "%s %p is no longer a live block", what, (const void *)w);
	CHECK_PATTERN(w, size / 8, key, what);
}

/* Works on all four blocks at once, keeping their pointers live. */
static __attribute__((noinline)) uint64_t
register_loop(const uint64_t *a, const uint64_t *b, const uint64_t *c, const uint64_t *d)
{
	uint64_t x = 0;

	for (size_t i = 0; i < 4096; i++)
		x = check_mix(x ^ a[i % (SMALL / 8)] ^ b[i % (LARGE / 8)] ^ c[(i * 7) % (SMALL / 8)] ^
			d[(i * 13) % (LARGE / 8)]);
	return x;
}

static void
write_all(int fd, const void *buf, size_t n)
{
	ssize_t w;

	while ((w = write(fd, buf, n)) < 0 && errno == EINTR)
		continue;
	CHECK(w == (ssize_t)n, "write to a pipe: %s", w < 0 ? strerror(errno) : "short");
}

/* Under ThreadSanitizer, blocks in poll() until fd is readable (see the
 * top of the file); elsewhere the read() that follows is the blocking call. */
static void
wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	if (!UNDER_TSAN)
		return;
	while ((n = poll(&p, 1, -1)) < 0 && errno == EINTR)
		continue;
	CHECK(n == 1, "poll: %s", n < 0 ? strerror(errno) : "no event");
}

static void *
blocked_main(void *arg)
{
	struct blocked *t = arg;
	uint64_t key = (uint64_t)t->id << 40;
	uint64_t *volatile on_stack = make_block(SMALL, key);
	uint64_t *a = make_block(SMALL, key + 1000), *b = make_block(LARGE, key + 2000);
	uint64_t *c = make_block(SMALL, key + 3000), *d = make_block(LARGE, key + 4000);
	uint64_t x = register_loop(a, b, c, d);
	pid_t self = (pid_t)syscall(SYS_gettid);
	ssize_t n;
	char byte = 0;

	write_all(t->ready[1], &self, sizeof self);
	wait_readable(t->wake[0]);
	n = read(t->wake[0], &byte, 1);
	CHECK(n == 1, "thread %d: read returned %zd (%s), want 1", t->id, n,
	      n < 0 ? strerror(errno) : "end of file");
	CHECK(byte == WAKE_BYTE, "thread %d: read gave %#x", t->id, byte);
	check_block(on_stack, SMALL, key, "block held in a volatile local");
	check_block(a, SMALL, key + 1000, "small block held in a local");
	check_block(b, LARGE, key + 2000, "large block held in a local");
	check_block(c, SMALL, key + 3000, "small block held in a local");
	check_block(d, LARGE, key + 4000, "large block held in a local");
	CHECK(register_loop(a, b, c, d) == x, "thread %d: the blocks changed", t->id);
	return NULL;
}

/* Gives a thread that said it is about to block a chance to be in read()
 * (state S) before the collections; the test is correct either way. */
static void
await_sleeping(pid_t tid)
{
	char path[64], buf[256];

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	for (int i = 0; i < STATE_POLLS; i++) {
		FILE *f = fopen(path, "r");
		char *paren = NULL;

		if (f == NULL)
			return;
		if (fgets(buf, sizeof buf, f) != NULL)
			paren = strrchr(buf, ')');
		fclose(f);
		if (paren == NULL || (paren[1] == ' ' && paren[2] == 'S'))
			return;
		sched_yield();
	}
}

static __attribute__((noinline)) void
churn(void)
{
	for (size_t n = 0; n < CHURN_BYTES; n += SMALL)
		memset(make_block(SMALL, n), 0xa5, SMALL);
	for (int i = 0; i < 4; i++)
		memset(make_block(LARGE, (uint64_t)i), 0xa5, LARGE);
	mgc_collect();
}

int
main(void)
{
	static struct blocked t[NBLOCKED];
	mgc_stats a, b;

	mgc_read_stats(&a);
	for (int i = 0; i < NBLOCKED; i++) {
		t[i].id = i;
		CHECK(pipe(t[i].ready) == 0 && pipe(t[i].wake) == 0, "pipe: %s", strerror(errno));
		CHECK(pthread_create(&t[i].tid, NULL, blocked_main, &t[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < NBLOCKED; i++) {
		pid_t tid;
		ssize_t n;

		while ((n = read(t[i].ready[0], &tid, sizeof tid)) < 0 && errno == EINTR)
			continue;
		CHECK(n == (ssize_t)sizeof tid, "thread %d did not report", i);
		await_sleeping(tid);
	}
	for (int r = 0; r < ROUNDS; r++)
		churn();
	for (int i = 0; i < NBLOCKED; i++)
		write_all(t[i].wake[1], &(char){ WAKE_BYTE }, 1);
	for (int i = 0; i < NBLOCKED; i++)
		CHECK(pthread_join(t[i].tid, NULL) == 0, "pthread_join");
	mgc_read_stats(&b);
	CHECK(b.num_gc - a.num_gc >= ROUNDS, "num_gc grew by %llu for %d collections",
	      (unsigned long long)(b.num_gc - a.num_gc), ROUNDS);
	return 0;
}
