/* check.h — the helpers shared by mgc's test programs.
 *
 * Include it before any other header: it selects the POSIX interfaces the
 * tests use (fork, pipe, pthread).
 *
 * CHECK(cond, fmt, ...) reports "FAIL <file>:<line>: <message>" on stderr
 * and ends the program with status 1 when cond is false.  The message's
 * arguments are evaluated either way: they must be safe when cond holds.
 *
 * check_ok_amount(size, usable) is the contract's bound on a block's usable
 * size for a request (the seed's OkAmount).
 *
 * check_child(fn, arg, err, errsz, &status) runs fn(arg) in a child process
 * with its stderr captured, for misuse that must abort the program.
 *
 * check_arg(argc, argv, usage, i, def, lo, hi) reads a numeric argument.
 *
 * UNDER_TSAN is 1 when the program is built with ThreadSanitizer, else 0.
 *
 * check_rng_next(&state) is the tests' pseudo-random generator (xorshift64*),
 * check_mix(x) their hash of a word (the splitmix64 finaliser).
 * check_fill(w, words, seed) writes the word pattern mix(seed + i) into
 * w[i]; CHECK_PATTERN(w, words, seed, what) checks it is still there.
 *
 * check_clear_stack() overwrites the dead frames below the caller's, where
 * the functions it called may have left pointers to garbage.
 *
 * check_thread_in_child(&t, fn, arg) starts a thread in the child of a
 * fork, with a stack of its own under ThreadSanitizer.
 *
 * check_fork_watched(f, child, secs, &tally) forks child(f) and counts it
 * hung if it has not exited within secs seconds, failed if it exited badly.
 *
 * check_run_variants(fn, arg) runs fn(arg) in child processes under each
 * collector setting of check_variants (MGC_MARKERS, MGC_CHECKMARK), or once
 * under the environment's with CHECK_ONE_VARIANT=1.
 */
#ifndef MGC_TESTS_CHECK_H
#define MGC_TESTS_CHECK_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mgc.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CHECK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CHECK_PRINTF(f, a)
#endif

static inline void check_at(bool ok, const char *file, int line, const char *fmt, ...)
        CHECK_PRINTF(4, 5);

/* Reports a failed check and ends the program.  _Exit rather than exit:
 * a failing thread must not run atexit handlers under other threads. */
static inline void
check_at(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	fflush(stdout);
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_Exit(1);
}

#define CHECK(cond, ...) check_at((cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__)

/* The usable size the contract allows for a request (the seed's OkAmount):
 * at least the request, at most 16 bytes more below 128 bytes, at most
 * 12.5% more from 128 bytes up. */
static inline bool
check_ok_amount(size_t size, size_t usable)
{
	if (usable < size)
		return false;
	if (size < 128)
		return usable - size <= 16;
	return usable - size <= size / 8;
}

/* Reads what the child writes on fd into err (NUL terminated, truncated to
 * errsz - 1 bytes), draining the rest so the child never blocks. */
static inline void
check_drain(int fd, char *err, size_t errsz)
{
	size_t len = 0;
	char sink[512];

	for (;;) {
		char *dst = len + 1 < errsz ? err + len : sink;
		size_t room = len + 1 < errsz ? errsz - 1 - len : sizeof sink;
		ssize_t n = read(fd, dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			len += (size_t)n;
	}
	if (errsz > 0)
		err[len] = '\0';
}

/* The child's side: stderr into the pipe, no core file, run fn, exit 0. */
static inline void
check_child_run(int fds[2], void (*fn)(void *), void *arg)
{
	struct rlimit nocore = {0, 0};

	close(fds[0]);
	if (dup2(fds[1], STDERR_FILENO) < 0)
		_exit(127);
	close(fds[1]);
	setrlimit(RLIMIT_CORE, &nocore);
	fn(arg);
	_exit(0);
}

/* Runs fn(arg) in a forked child whose stderr is captured into err.
 * Returns the number of the signal that ended the child, or 0 if it exited;
 * then *exit_status (if not NULL) receives its exit status. */
static inline int
check_child(void (*fn)(void *), void *arg, char *err, size_t errsz, int *exit_status)
{
	int fds[2], status;
	pid_t pid;

	fflush(NULL);
	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		check_child_run(fds, fn, arg);
	close(fds[1]);
	check_drain(fds[0], err, errsz);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	if (exit_status != NULL)
		*exit_status = WEXITSTATUS(status);
	return 0;
}

/* Argument i of the command line, a number from lo to hi, or def if there
 * are fewer arguments; a bad one ends the program, showing usage. */
static inline long
check_arg(int argc, char **argv, const char *usage, int i, long def, long lo, long hi)
{
	char *end;
	long v;

	if (argc <= i)
		return def;
	v = strtol(argv[i], &end, 10);
	CHECK(*argv[i] != '\0' && *end == '\0' && v >= lo && v <= hi,
	      "argument %d: %s not in %ld..%ld (usage: %s %s)", i, argv[i], lo, hi, argv[0], usage);
	return v;
}

/* xorshift64*: the next pseudo-random word of the sequence in *s. */
static inline uint64_t
check_rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1du;
}

/* The splitmix64 finaliser: a well-mixed hash of x. */
static inline uint64_t
check_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Writes the pattern of seed into words w[0..words): mix(seed + i). */
static inline void
check_fill(uint64_t *w, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++)
		w[i] = check_mix(seed + i);
}

/* Checks that w[0..words) still holds the pattern of seed; the message
 * names the block by what and its address. */
static inline void
check_pattern_at(const uint64_t *w, size_t words, uint64_t seed, const char *what, const char *file,
                 int line)
{
	for (size_t i = 0; i < words; i++)
		check_at(w[i] == check_mix(seed + i), file, line,
		         "%s %p: word %zu is %#jx, want %#jx", what, (const void *)w, i,
		         (uintmax_t)w[i], (uintmax_t)check_mix(seed + i));
}

#define CHECK_PATTERN(w, words, seed, what)                                                        \
	check_pattern_at((w), (words), (seed), (what), __FILE__, __LINE__)

/* Overwrites the dead frames below the caller's.  Not inlined, so that its
 * buffer lies below the caller's frame; unused, as few tests call it. */
static __attribute__((noinline, unused)) void
check_clear_stack(void)
{
	char buf[64 * 1024];

	memset(buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Errors seen where CHECK cannot end the program cleanly (in finalizers
 * and cleanups, on the runner thread): check_note records the first
 * message and counts them; CHECK_NOTED(what) fails if any was noted. */
static atomic_int check_noted;
static atomic_int check_note_ready;
static char check_note_msg[256];

static inline void check_note(const char *fmt, ...) CHECK_PRINTF(1, 2);

static inline void
check_note(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&check_noted, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(check_note_msg, sizeof check_note_msg, fmt, ap);
	va_end(ap);
	atomic_store(&check_note_ready, 1);
}

#define CHECK_NOTED(what)                                                                          \
	CHECK(atomic_load(&check_noted) == 0, "%d error(s) in %s; first: %s",                      \
	      atomic_load(&check_noted), what,                                                     \
	      atomic_load(&check_note_ready) ? check_note_msg : "(not yet written)")

/* The bytes still allocated after a full collection, with the stack
 * cleared first so stale words left by the caller keep nothing alive. */
static inline uint64_t
check_alloc_after_collect(void)
{
	mgc_stats s;

	check_clear_stack();
	mgc_collect();
	mgc_read_stats(&s);
	return s.alloc;
}

/* The collector settings the threaded stress tests run under, each in a
 * child process that sets them before its first mgc call: one marker, more
 * markers than CPUs (which widens any window between them), and the same
 * under MGC_CHECKMARK=1, which re-marks every collection with a simple
 * marker and aborts if the real one missed a block. */
/* The last variant marks concurrently (MGC_CONCURRENT=1: automatic
 * collections run as mostly-concurrent cycles where the kernel tracks
 * written pages), checked by the checkmark. */
struct check_variant {
	const char *markers, *checkmark, *concurrent;
};
static const struct check_variant check_variants[] = {
        {"1", "0", "0"}, {"4", "0", "0"}, {"1", "1", "0"}, {"4", "1", "0"}, {"4", "1", "1"},
};
#define CHECK_NVARIANTS (sizeof check_variants / sizeof check_variants[0])
/* A variant running this long is taken as hung: its stacks are printed
 * (gdb) and the test fails, before tests/run.sh's limit ends it with no
 * word of where it waited. */
enum { CHECK_VARIANT_SECS = 200 };
static inline double check_now_s(void);
static inline bool check_read_until_exit(int fd, double deadline, char *buf, size_t size);
static inline void check_dump_stacks(pid_t pid);

struct check_variant_run {
	const struct check_variant *v;
	void (*fn)(void *);
	void *arg;
};

static inline void
check_variant_child(void *arg)
{
	const struct check_variant_run *r = arg;

	setenv("MGC_MARKERS", r->v->markers, 1);
	setenv("MGC_CHECKMARK", r->v->checkmark, 1);
	setenv("MGC_CONCURRENT", r->v->concurrent, 1);
	r->fn(r->arg);
	fflush(stdout);
}

/* Runs fn(arg) once under each of check_variants, in a child process, and
 * fails with the child's stderr if any run fails.  With CHECK_ONE_VARIANT=1
 * in the environment (make soak, or a loop of runs under chosen settings)
 * it runs fn(arg) once, here, under the MGC_MARKERS and MGC_CHECKMARK the
 * environment gives. */
static inline void
check_run_variants(void (*fn)(void *), void *arg)
{
	static char err[8192];
	const char *one = getenv("CHECK_ONE_VARIANT");

	if (one != NULL && strcmp(one, "1") == 0) {
		fn(arg);
		printf("ok with MGC_MARKERS=%s MGC_CHECKMARK=%s\n",
		       getenv("MGC_MARKERS") ? getenv("MGC_MARKERS") : "(default)",
		       getenv("MGC_CHECKMARK") ? getenv("MGC_CHECKMARK") : "(default)");
		return;
	}
	for (size_t i = 0; i < CHECK_NVARIANTS; i++) {
		struct check_variant_run r = {&check_variants[i], fn, arg};
		int fds[2], wstatus;

		fflush(NULL);
		CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
		pid_t pid = fork();
		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0)
			check_child_run(fds, check_variant_child, &r);
		close(fds[1]);
		bool exited = check_read_until_exit(fds[0], check_now_s() + CHECK_VARIANT_SECS, err,
		                                    sizeof err);
		close(fds[0]);
		if (!exited) {
			check_dump_stacks(pid);
			kill(pid, SIGKILL);
		}
		while (waitpid(pid, &wstatus, 0) < 0)
			CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
		CHECK(exited,
		      "MGC_MARKERS=%s MGC_CHECKMARK=%s MGC_CONCURRENT=%s: hung for %d s (its "
		      "stacks "
		      "above)\n%s",
		      r.v->markers, r.v->checkmark, r.v->concurrent, CHECK_VARIANT_SECS, err);
		int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
		int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;

		CHECK(sig == 0 && status == 0,
		      "MGC_MARKERS=%s MGC_CHECKMARK=%s MGC_CONCURRENT=%s: %s %d\n%s", r.v->markers,
		      r.v->checkmark, r.v->concurrent, sig ? "killed by signal" : "exit status",
		      sig ? sig : status, err);
		printf("ok with MGC_MARKERS=%s MGC_CHECKMARK=%s MGC_CONCURRENT=%s\n", r.v->markers,
		       r.v->checkmark, r.v->concurrent);
	}
}

/* ---- forking with a deadline: a child that hangs is counted, not waited
 * for (the fork stress tests). */
/* ---- forking with a deadline ---------------------------------------------- */

struct check_tally {
	int forks, hung, failed;
	int first_hung;       /* the fork number of the first hung child, or -1 */
	char first_err[2048]; /* what the first failed child said */
};

static inline double
check_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads what the child writes on fd into buf (NUL terminated, truncated)
 * until it closes its end, which it does by exiting: true; false if the
 * deadline passes first.  poll returns early (EINTR) when a collection's
 * stop signal reaches this thread. */
static inline bool
check_read_until_exit(int fd, double deadline, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (;;) {
		double left = deadline - check_now_s();
		struct pollfd p = {fd, POLLIN, 0};
		char tmp[512];
		ssize_t n;

		if (left <= 0)
			return false;
		int r = poll(&p, 1, (int)(left * 1000) + 1);

		if (r < 0)
			CHECK(errno == EINTR, "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		n = read(fd, tmp, sizeof tmp);
		if (n < 0) {
			CHECK(errno == EINTR, "read: %s", strerror(errno));
			continue;
		}
		if (n == 0)
			return true;
		if (len + 1 < size) {
			size_t k = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;

			memcpy(buf + len, tmp, k);
			len += k;
			buf[len] = '\0';
		}
	}
}

/* The stacks of every thread of process pid on stderr, when gdb is
 * installed: a hung child's, before it is killed, so that the failure
 * says where it waits. */
static inline void
check_dump_stacks(pid_t pid)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd,
	         "command -v gdb >/dev/null && gdb -p %d -batch -ex 'thread apply all bt' "
	         "2>/dev/null | grep -E '^(Thread|#)' >&2",
	         (int)pid);
	fprintf(stderr, "the stacks of hung child %d:\n", (int)pid);
	fflush(stderr);
	if (system(cmd) != 0)
		fprintf(stderr, "(no stacks: gdb is missing or could not attach)\n");
}

/* Forks child number f, which runs child(f) with its stderr on a pipe (child
 * must end with _exit), waits for it at most secs seconds, kills it if it
 * is still running then, and counts the outcome in *t. */
static inline void
check_fork_watched(int f, void (*child)(int), double secs, struct check_tally *t)
{
	static char err[1024];
	int fds[2], status;
	pid_t pid;
	bool exited;

	fflush(NULL);
	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) < 0)
			_exit(127);
		close(fds[1]);
		child(f);
	}
	close(fds[1]);
	exited = check_read_until_exit(fds[0], check_now_s() + secs, err, sizeof err);
	close(fds[0]);
	if (!exited) {
		if (t->hung == 0)
			check_dump_stacks(pid);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0)
		CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
	t->forks++;
	if (!exited) {
		if (t->hung++ == 0)
			t->first_hung = f;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (t->failed++ == 0)
			snprintf(t->first_err, sizeof t->first_err, "fork %d: %s %d: %s", f,
			         WIFEXITED(status) ? "exit status" : "killed by signal",
			         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
	}
}

/* Starts fn(arg) in a new thread, as pthread_create, from the child of a
 * fork.  Under ThreadSanitizer the thread gets a stack of its own (1 MiB,
 * never freed: the child exits soon): a thread reusing the cached stack,
 * hence the id, of a thread of the parent makes it abort ("dup thread with
 * used id"). */
static inline void
check_thread_in_child(pthread_t *t, void *(*fn)(void *), void *arg)
{
	enum { CHILD_STACK = 1 << 20 };
	pthread_attr_t attr, *ap = NULL;

	if (UNDER_TSAN) {
		void *stack = malloc(CHILD_STACK);

		CHECK(stack != NULL && pthread_attr_init(&attr) == 0 &&
		              pthread_attr_setstack(&attr, stack, CHILD_STACK) == 0,
		      "child: cannot set up a thread stack");
		ap = &attr;
	}
	CHECK(pthread_create(t, ap, fn, arg) == 0, "child: pthread_create");
}

#endif
