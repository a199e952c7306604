/* Dirty-page tracking (dirty.c) on the real heap: after dirty_begin,
 * dirty_collect reports exactly the pages written since, then nothing,
 * then the next writes; writes by the kernel (read(2) from a pipe), pages
 * unpopulated at begin, pages released and touched again, huge-page ranges,
 * a scan whose output fills the buffer, a second cycle, and a fork child
 * that must not believe it tracks.  Each backend runs in a child process of
 * its own (the choice is made once per process, from the environment):
 * uffd-wp, soft-dirty, forced none and MGC_CONCURRENT=0.
 *
 * The backends this machine lacks are said so and left out; the test
 * skips if neither uffd-wp nor soft-dirty works (Valgrind knows no
 * userfaultfd), but fails if uffd-wp is missing outside Valgrind on Linux
 * 6.7 or later. */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

#include <sys/utsname.h>

enum { OSP = 4096, MAX_RUNS = 16384, MIB = 1 << 20 };

/* What the last collect reported (the callback must not allocate). */
static struct {
	uintptr_t lo, hi;
} runs[MAX_RUNS];
static size_t nruns;

static void
note_run(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	CHECK(nruns == 0 || lo > runs[nruns - 1].hi, "runs not maximal and ascending");
	CHECK(nruns < MAX_RUNS, "more than %d runs", MAX_RUNS);
	runs[nruns].lo = lo;
	runs[nruns++].hi = hi;
}

static int64_t
collect(void)
{
	nruns = 0;
	int64_t n = dirty_collect(note_run, NULL);
	CHECK(n >= 0, "dirty_collect lost tracking");
	return n;
}

static bool
reported(uintptr_t page)
{
	for (size_t i = 0; i < nruns; i++)
		if (page >= runs[i].lo && page < runs[i].hi)
			return true;
	return false;
}

/* Of the pages of [base, base + npages * OSP), exactly those whose index
 * is in want[0..nwant) were reported; pages in [slack_lo, slack_hi) (by
 * index) may be reported too. */
static void
expect(const char *what, char *base, size_t npages, const size_t *want, size_t nwant,
       size_t slack_lo, size_t slack_hi)
{
	for (size_t i = 0; i < npages; i++) {
		bool wanted = false;
		for (size_t j = 0; j < nwant; j++)
			wanted |= want[j] == i;
		bool got = reported((uintptr_t)base + i * OSP);
		CHECK(got == wanted || (got && i >= slack_lo && i < slack_hi), "%s: page %zu %s",
		      what, i, got ? "reported, not written" : "written, not reported");
	}
}

static char *
block(size_t bytes, bool touch)
{
	char *p = mgc_alloc(bytes);
	CHECK(p != NULL && (uintptr_t)p % OSP == 0, "mgc_alloc(%zu) gave %p", bytes, (void *)p);
	if (touch)
		for (size_t i = 0; i < bytes; i += OSP)
			p[i] = 1;
	return p;
}

static void
check_written(char *b, size_t npages, char *u)
{
	size_t wb[] = {0, 1, 5, 100, npages - 1}, wu[] = {3};
	for (size_t i = 0; i < 5; i++)
		b[wb[i] * OSP + 17] = 7;
	u[3 * OSP] = 7;
	collect();
	expect("first writes", b, npages, wb, 5, 0, 0);
	expect("unpopulated at begin", u, npages, wu, 1, 0, 0);
	collect();
	expect("collect again", b, npages, NULL, 0, 0, 0);
	expect("collect again (unpopulated)", u, npages, NULL, 0, 0, 0);
	size_t w7[] = {7};
	b[7 * OSP] = 8;
	collect();
	expect("written again", b, npages, w7, 1, 0, 0);
}

static void
check_read_syscall(char *b, size_t npages)
{
	int fd[2];
	CHECK(pipe(fd) == 0, "pipe");
	CHECK(write(fd[1], "hello", 5) == 5, "write to pipe");
	ssize_t r = read(fd[0], b + 9 * OSP + 100, 5);
	CHECK(r == 5 && memcmp(b + 9 * OSP + 100, "hello", 5) == 0,
	      "read(2) into the heap: %zd (%s)", r, strerror(errno));
	close(fd[0]);
	close(fd[1]);
	size_t w9[] = {9};
	collect();
	expect("read(2)", b, npages, w9, 1, 0, 0);
}

/* Released pages read as zero: they may be reported (slack), a released
 * page touched again must be. */
static void
check_released(char *b, size_t npages)
{
	os_release(b + 16 * OSP, 16 * OSP);
	collect();
	expect("released", b, npages, NULL, 0, 16, 32);
	b[20 * OSP] = 1;
	size_t w20[] = {20};
	collect();
	expect("released, touched", b, npages, w20, 1, 0, 0);
	os_release(b + 40 * OSP, 8 * OSP);
	b[41 * OSP] = 1;
	size_t w41[] = {41};
	collect();
	expect("released and touched in one step", b, npages, w41, 1, 40, 48);
	CHECK(b[42 * OSP] == 0 && b[41 * OSP] == 1, "released page contents");
}

/* More runs than the scan buffer holds. */
static void
check_many_runs(char *a, size_t npages)
{
	for (size_t i = 0; i < npages; i += 2)
		a[i * OSP] = 3;
	int64_t n = collect();
	CHECK(n >= (int64_t)(npages / 2 * OSP), "only %lld bytes for %zu pages", (long long)n,
	      npages / 2);
	for (size_t i = 0; i < npages; i++)
		CHECK(reported((uintptr_t)a + i * OSP) == (i % 2 == 0), "alternating page %zu", i);
}

/* A block past 64 MiB of heap: committed on huge pages. */
static void
check_huge(char *h, size_t bytes)
{
	size_t np = bytes / OSP;
	size_t want[64], n = 0;
	for (size_t off = 0; off < bytes && n < 64; off += 2 * MIB, n++) {
		want[n] = (off + OSP) / OSP;
		h[off + OSP] = 5;
	}
	collect();
	expect("huge", h, np, want, n, 0, 0);
	collect();
	expect("huge again", h, np, NULL, 0, 0, 0);
}

/* The fork child has no registration: no tracking, no crash. */
static void
check_fork(char *b, size_t npages)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		dirty_after_fork_child();
		CHECK(dirty_backend() == DIRTY_NONE, "child backend %s", dirty_backend_name());
		b[2 * OSP] = 9;
		CHECK(dirty_collect(note_run, NULL) == -1, "child collect did not say lost");
		CHECK(!dirty_begin(), "child began a cycle");
		CHECK(dirty_collect(note_run, NULL) == -1, "child collect after begin");
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "fork child failed (status %#x)", st);
	b[3 * OSP] = 9;
	size_t w3[] = {3};
	collect();
	expect("parent after fork", b, npages, w3, 1, 0, 0);
}

static void
exercise(void)
{
	size_t bytes = 4 * MIB, np = bytes / OSP;
	char *b = block(bytes, true), *u = block(bytes, false);
	char *a = block(32 * MIB, true);
	char *fill = block(40 * MIB, true); /* the heap past 64 MiB: huge pages next */
	char *h = block(32 * MIB, true);
	CHECK(dirty_begin(), "dirty_begin failed");
	collect();
	expect("nothing written", b, np, NULL, 0, 0, 0);
	check_written(b, np, u);
	check_read_syscall(b, np);
	check_released(b, np);
	check_many_runs(a, 32 * MIB / OSP);
	check_huge(h, 32 * MIB);
	check_fork(b, np);
	dirty_end();
	b[11 * OSP] = 1; /* between cycles: forgotten by the next begin */
	CHECK(dirty_collect(note_run, NULL) == -1, "collect outside a cycle");
	CHECK(dirty_begin(), "second dirty_begin failed");
	collect();
	expect("second cycle", b, np, NULL, 0, 0, 0);
	b[12 * OSP] = 1;
	size_t w12[] = {12};
	collect();
	expect("second cycle write", b, np, w12, 1, 0, 0);
	dirty_end();
	*(char *volatile *)&fill = NULL;
}

/* In a child: set the environment, pick, and exercise the backend if it
 * is the one wanted.  Exit 0: exercised; 3: not available here. */
static void
run(const char *dirty, const char *concurrent, enum dirty_kind want)
{
	if (dirty != NULL)
		setenv("MGC_DIRTY", dirty, 1);
	if (concurrent != NULL)
		setenv("MGC_CONCURRENT", concurrent, 1);
	dirty_init();
	enum dirty_kind k = dirty_backend();
	if (want == DIRTY_NONE) {
		CHECK(k == DIRTY_NONE, "backend %s, not none", dirty_backend_name());
		CHECK(strcmp(dirty_backend_name(), "none") == 0, "name %s", dirty_backend_name());
		(void)block(MIB, true);
		CHECK(!dirty_begin(), "none began a cycle");
		CHECK(dirty_collect(note_run, NULL) == -1, "none collected");
		dirty_end();
		exit(0);
	}
	if (k != want) {
		CHECK(k == DIRTY_NONE, "MGC_DIRTY=%s gave %s", dirty, dirty_backend_name());
		exit(3);
	}
	exercise();
	exit(0);
}

static bool
in_child(const char *dirty, const char *concurrent, enum dirty_kind want)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0)
		run(dirty, concurrent, want);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st), "child died (status %#x)", st);
	CHECK(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3, "MGC_DIRTY=%s failed",
	      dirty ? dirty : "-");
	return WEXITSTATUS(st) == 0;
}

/* Linux 6.7 or later, where uffd-wp must work (outside Valgrind). */
static bool
kernel_has_wp_async(void)
{
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 7);
}

int
main(void)
{
	bool uffd = in_child("uffd", NULL, DIRTY_UFFD);
	bool soft = in_child("soft", NULL, DIRTY_SOFT);
	in_child("none", NULL, DIRTY_NONE);
	in_child("uffd", "0", DIRTY_NONE);
	printf("test_dirty: uffd-wp %s, soft-dirty %s\n", uffd ? "tested" : "unavailable",
	       soft ? "tested" : "unavailable");
	CHECK(uffd || MGC_VALGRIND || !kernel_has_wp_async(),
	      "uffd-wp unavailable on Linux 6.7+ outside Valgrind");
	if (!uffd && !soft) {
		printf("SKIP test_dirty: neither userfaultfd write-protection nor soft-dirty "
		       "works here%s\n",
		       MGC_VALGRIND ? " (Valgrind does not support userfaultfd)" : "");
		return 77;
	}
	printf("test_dirty: ok\n");
	return 0;
}
