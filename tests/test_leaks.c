/* test_leaks — debug allocation, the guard check and leak mode, through
 * the public header, built with MGC_DEBUG_ALLOC so that mgc_alloc records
 * its call site (the plain call is written (mgc_alloc)(n)):
 *   - a debug block is 16-byte aligned, usable to its size, accepted by
 *     mgc_free, mgc_try_free and mgc_realloc (contents kept), and its
 *     mgc_base is the whole block's start;
 *   - bytes written past a debug block's end are reported by the next
 *     collection (mgc_check_heap counts them) with the allocation site, and
 *     only once; mgc_free of a smashed block reports it too;
 *   - leak mode: blocks dropped without a free are reported, each once, with
 *     their site (debug blocks) or none (plain ones), and are not
 *     reclaimed: their contents survive, and mgc_free takes them later;
 *     blocks still referenced and blocks freed are never reported;
 *   - with no callback, reports are printed on stderr in the documented
 *     form, and MGC_FIND_LEAKS=1 reports the leaks left at exit;
 *   - bad kinds give EINVAL.
 */
#define MGC_DEBUG_ALLOC
#include "check.h"

#include <mgc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { NLEAK = 64, NKEEP = 32, MAXR = 8192 };

static mgc_report got[MAXR];
static size_t ngot;

static void
collect_reports(const mgc_report *r, size_t n, void *arg)
{
	CHECK(arg == &ngot, "the report callback got its argument");
	for (size_t i = 0; i < n && ngot < MAXR; i++) {
		CHECK(i == 0 || r[i].what == r[0].what, "one call, one kind of finding");
		got[ngot++] = r[i];
	}
}

/* got[] is a root: the addresses it holds, of blocks since freed and
 * perhaps reused, must not keep the next test's blocks reachable. */
static void
forget_reports(void)
{
	memset(got, 0, sizeof got);
	ngot = 0;
}

/* How many reports of p (of the given kind) there are. */
static size_t
count(const void *p, int what)
{
	size_t n = 0;
	for (size_t i = 0; i < ngot; i++)
		n += got[i].p == p && got[i].what == what;
	return n;
}

/* Index in got[] of the report of p (of the given kind), or -1. */
static long
found(const void *p, int what)
{
	for (size_t i = 0; i < ngot; i++)
		if (got[i].p == p && got[i].what == what)
			return (long)i;
	return -1;
}

static uintptr_t
hide(const void *p)
{
	return ~(uintptr_t)p;
}

static void *
unhide(uintptr_t h)
{
	return (void *)~h;
}

static void
test_debug_blocks(void)
{
	char *p = mgc_alloc(40);
	int line = __LINE__ - 1;
	CHECK(p != NULL && (uintptr_t)p % 16 == 0, "debug block aligned: %p", (void *)p);
	memset(p, 0xab, 40);
	size_t size = 0;
	char *base = mgc_base(p, &size);
	CHECK(base != NULL && base < p && base + size >= p + 40,
	      "mgc_base of a debug block: its start %p, %zu bytes, before %p", (void *)base, size,
	      (void *)p);
	char *q = mgc_realloc(p, 100);
	CHECK(q != NULL, "realloc of a debug block");
	for (int i = 0; i < 40; i++)
		CHECK((unsigned char)q[i] == 0xab, "realloc kept byte %d", i);
	CHECK(mgc_try_free(q) == 0, "mgc_try_free of a debug block");
	char *r = mgc_debug_realloc(NULL, 24, "here.c", 7);
	CHECK(r != NULL, "mgc_debug_realloc(NULL) allocates");
	mgc_free(r);
	char *n = mgc_alloc_noscan(0);
	CHECK(n != NULL, "size-0 debug block");
	mgc_free(n);
	errno = 0;
	CHECK(mgc_debug_alloc(8, 9, __FILE__, __LINE__) == NULL && errno == EINVAL,
	      "mgc_debug_alloc of a kind it does not take: EINVAL");
	(void)line;
}

static void
test_smash(void)
{
	forget_reports();
	char *volatile p = mgc_alloc(40);
	int line = __LINE__ - 1;
	char *volatile intact = mgc_alloc(40);
	p[40 + 2] = 42; /* past the end */
	intact[39] = 1; /* the last byte: fine */
	size_t n = mgc_check_heap();
	CHECK(n == 1, "mgc_check_heap found %zu smashed blocks, not 1", n);
	long i = found(p, MGC_REPORT_SMASH);
	CHECK(i >= 0, "the smashed block was reported");
	CHECK(got[i].file != NULL && strcmp(got[i].file, __FILE__) == 0 && got[i].line == line &&
	              got[i].size == 40,
	      "smash report names %s:%d, size 40 (got %s:%d, %zu)", __FILE__, line,
	      got[i].file ? got[i].file : "NULL", got[i].line, got[i].size);
	CHECK(got[i].smashed == p + 42, "the first changed byte: %p, not %p", got[i].smashed,
	      (void *)(p + 42));
	CHECK(found(intact, MGC_REPORT_SMASH) < 0, "an intact block is not reported");
	CHECK(mgc_check_heap() == 0, "a smashed block is reported once");

	forget_reports();
	char *f = mgc_alloc(10);
	line = __LINE__ - 1;
	f[10] = 'x';
	mgc_free(f);
	CHECK(ngot == 1 && got[0].what == MGC_REPORT_SMASH && got[0].p == f && got[0].line == line,
	      "mgc_free of a smashed block reports it (%zu reports)", ngot);
	mgc_free(p);
	mgc_free(intact);
}

static uintptr_t leaks[NLEAK];
static int leak_line;
static void *kept[NKEEP];

static __attribute__((noinline)) void
make_leaks(void)
{
	for (int i = 0; i < NLEAK; i++) {
		uint64_t *b;
		if (i % 2) {
			b = mgc_alloc(48), leak_line = __LINE__;
		} else {
			b = (mgc_alloc)(48);
		}
		CHECK(b != NULL, "allocation");
		for (int w = 0; w < 6; w++)
			b[w] = (uint64_t)i * 1000 + (uint64_t)w;
		leaks[i] = hide(b);
	}
	for (int i = 0; i < NKEEP; i++)
		kept[i] = mgc_alloc(32);
	for (int i = 0; i < NKEEP; i++) {
		void *gone = mgc_alloc(32);
		mgc_free(gone);
	}
}

static void
test_leak_mode(void)
{
	CHECK(mgc_set_find_leaks(1) == 0, "leak mode was off");
	forget_reports();
	make_leaks();
	check_clear_stack();
	mgc_collect();
	size_t missed = 0;
	for (int i = 0; i < NLEAK; i++) {
		long k = found(unhide(leaks[i]), MGC_REPORT_LEAK);
		if (k < 0) {
			missed++;
			continue;
		}
		if (i % 2)
			CHECK(got[k].file != NULL && strcmp(got[k].file, __FILE__) == 0 &&
			              got[k].line == leak_line && got[k].size == 48 &&
			              got[k].kind == MGC_KIND_NORMAL,
			      "debug leak %d reported with its site and size", i);
		else
			CHECK(got[k].file == NULL && got[k].size >= 48, "plain leak %d: no site",
			      i);
	}
	/* A stale copy of an address in a register or a dead frame may keep
	 * one block reachable: conservative marking allows that much. */
	CHECK(missed <= 2, "%zu of %d leaks not reported", missed, NLEAK);
	for (int i = 0; i < NKEEP; i++)
		CHECK(found(kept[i], MGC_REPORT_LEAK) < 0, "a referenced block reported as leaked");
	for (size_t k = 0; k < ngot; k++)
		CHECK(got[k].what == MGC_REPORT_LEAK, "only leaks this time");
	size_t first = ngot;

	/* Not reclaimed: after more collections and allocation, each leak
	 * keeps its contents, and none is reported again. */
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 1000; i++)
			(void)(mgc_alloc)(48);
		mgc_collect();
	}
	for (int i = 0; i < NLEAK; i++) {
		uint64_t *b = unhide(leaks[i]);
		if (found(b, MGC_REPORT_LEAK) < 0)
			continue;
		for (int w = 0; w < 6; w++)
			CHECK(b[w] == (uint64_t)i * 1000 + (uint64_t)w,
			      "leak %d word %d changed: reclaimed?", i, w);
		CHECK(count(b, MGC_REPORT_LEAK) == 1, "leak %d reported again", i);
	}
	/* The 3000 plain blocks just dropped are leaks too, reported once. */
	CHECK(ngot >= first + 2990, "later leaks reported: %zu", ngot - first);
	for (int i = 0; i < NLEAK; i++)
		mgc_free(unhide(leaks[i])); /* the program frees them after all */
	for (int i = 0; i < NKEEP; i++)
		mgc_free(kept[i]);
	CHECK(mgc_set_find_leaks(0) == 1, "leak mode was on");
}

/* Child: no callback, one debug leak, reported on stderr. */
static void
child_print(void *arg)
{
	(void)arg;
	forget_reports();
	mgc_set_report_callback(NULL, NULL);
	mgc_set_find_leaks(1);
	make_leaks();
	check_clear_stack();
	mgc_collect();
	mgc_set_find_leaks(0);
}

static void
test_printed(void)
{
	static char err[1 << 16];
	int status = -1;
	int sig = check_child(child_print, NULL, err, sizeof err, &status);
	CHECK(sig == 0 && status == 0, "child: signal %d, status %d", sig, status);
	char want[256];
	CHECK(strstr(err, "mgc: leak: 48 bytes at 0x") != NULL, "a debug leak printed: %.300s",
	      err);
	snprintf(want, sizeof want, ", allocated at %s:%d\n", __FILE__, leak_line);
	CHECK(strstr(err, want) != NULL, "with its site (%s): %.300s", want, err);
	CHECK(strstr(err, "allocated at an unknown site") != NULL, "a plain leak printed");
}

static void
test_at_exit(const char *self)
{
	int fds[2];
	CHECK(pipe(fds) == 0, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("MGC_FIND_LEAKS", "1", 1);
		execl(self, self, "exit-child", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	static char err[1 << 16];
	check_drain(fds[0], err, sizeof err);
	close(fds[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "exit child failed: %s", err);
	CHECK(strstr(err, "mgc: leak: 48 bytes at 0x") != NULL,
	      "MGC_FIND_LEAKS=1 reports the leaks left at exit: %.300s", err);
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exit-child") == 0) {
		make_leaks();
		check_clear_stack();
		return 0; /* the exit collection reports them */
	}
	mgc_init();
	mgc_set_report_callback(collect_reports, &ngot);
	test_debug_blocks();
	test_smash();
	test_leak_mode();
	test_printed();
	test_at_exit(argv[0]);
	printf("test_leaks: ok\n");
	return 0;
}
