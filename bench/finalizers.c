/* finalizers.c — the cost of finalization: mgc against the Boehm collector.
 *
 * Compiled once per backend, selected with exactly one define:
 *   -DBACKEND_MGC    mgc_alloc, mgc_set_finalizer / mgc_add_cleanup,
 *                    mgc_collect, mgc_run_finalizers (build/libmgc.a -lpthread -ldl)
 *   -DBACKEND_BOEHM  GC_MALLOC, GC_register_finalizer /
 *                    GC_register_finalizer_no_order, GC_gcollect,
 *                    GC_invoke_finalizers (-lgc)
 * Nothing is freed explicitly.
 *
 * N blocks of 32 bytes are allocated, each given a finalizer (mode
 * `finalizers`: mgc_set_finalizer or GC_register_finalizer, both ordered)
 * or a cleanup (mode `cleanups`: mgc_add_cleanup; Boehm has no cleanups, so
 * its row uses GC_register_finalizer_no_order, the closest thing).  They
 * are kept reachable from a table (a collected, scanned block whose only
 * reference is in bss) until all are made, so that no collection during
 * the allocation finalizes any, and then dropped all at once by clearing
 * that reference.  Then come rounds of one full collection followed by
 * running the queued finalizers, until every finalizer has run or ROUNDS
 * rounds have passed.  Each finalizer increments an atomic counter; the
 * program fails (exit 1) if fewer than 99.9% of N ran (a conservative
 * collector may keep a few blocks that a stale word still points to; the
 * count is reported).  For mgc, a
 * round also waits (at most a second) for finalizers that its background
 * runner has taken but not finished.
 *
 * Usage:
 *   finalizers finalizers|cleanups [N]   (default 1000000)
 *   finalizers --which                   (backend identity, then exit)
 * Output, one line:
 *   mode backend seconds peak_rss_kib max_pause_ms num_gc finalized rounds finalize_seconds
 * seconds covers allocation, registration and finalization; finalize_seconds
 * only the rounds after the drop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

#define BENCH_NAME "finalizers"
#include "backend.h"

#define DEFAULT_N 1000000
#define BLOCK_SIZE 32
#define ROUNDS 10
#define SETTLE_SEC 1.0

/* Incremented by every finalizer and cleanup; mgc may run them on its own
 * thread. */
static atomic_size_t finalized;
/* The table that keeps the blocks reachable until they are dropped. */
static uint64_t **table;

/* ---- helpers ---------------------------------------------------------- */

static void count_one(void)
{
	atomic_fetch_add_explicit(&finalized, 1, memory_order_relaxed);
}

/* ---- backend ---------------------------------------------------------- */

#ifdef BACKEND_MGC
/* Exit status 77 means "this backend does not have the feature" (ENOSYS):
 * gc_run.sh reports the benchmark as skipped rather than failed. */
static void die(const char *what)
{
	fprintf(stderr, "finalizers: %s: %s failed: %s\n", BACKEND_NAME, what,
		strerror(errno));
	exit(errno == ENOSYS ? 77 : 1);
}

static void on_finalize(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	count_one();
}

static void on_cleanup(void *arg)
{
	(void)arg;
	count_one();
}

static void bk_set_finalizer(void *p, int cleanup)
{
	if (cleanup) {
		if (mgc_add_cleanup(p, on_cleanup, NULL) != 0)
			die("mgc_add_cleanup");
	} else if (mgc_set_finalizer(p, on_finalize, NULL) != 0) {
		die("mgc_set_finalizer");
	}
}

/* Runs what is queued here, then gives the background runner up to
 * SETTLE_SEC to finish the finalizers it has already taken. */
static void bk_run_finalizers(void)
{
	double t0 = now_sec();
	mgc_stats st;

	mgc_run_finalizers();
	for (;;) {
		mgc_read_stats(&st);
		if (st.finalizers_run >= st.finalizers_queued ||
		    now_sec() - t0 > SETTLE_SEC)
			return;
		if (mgc_run_finalizers() == 0)
			sched_yield();
	}
}
#else
static void GC_CALLBACK on_finalize(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	count_one();
}

static void bk_set_finalizer(void *p, int cleanup)
{
	if (cleanup)
		GC_register_finalizer_no_order(p, on_finalize, NULL, NULL, NULL);
	else
		GC_register_finalizer(p, on_finalize, NULL, NULL, NULL);
}

static void bk_run_finalizers(void)
{
	GC_invoke_finalizers();
}
#endif

/* ---- the benchmark ---------------------------------------------------- */

/* Not inlined, so that its locals, the last block pointers among them, are
 * gone from the registers and the live stack once it returns. */
static __attribute__((noinline)) void make_blocks(size_t n, int cleanup)
{
	size_t i;

	table = bk_alloc(n * sizeof *table);
	for (i = 0; i < n; i++) {
		uint64_t *p = bk_alloc(BLOCK_SIZE);

		p[0] = i;
		bk_set_finalizer(p, cleanup);
		table[i] = p;
	}
}

/* Collections until all n finalizers have run, or ROUNDS of them. */
static int finalize_all(size_t n)
{
	int rounds = 0;

	while (atomic_load(&finalized) < n - n / 1000 && rounds < ROUNDS) {
		bk_collect();
		bk_run_finalizers();
		rounds++;
	}
	return rounds;
}

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: finalizers finalizers|cleanups [N]\n"
		"       finalizers --which\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t n = DEFAULT_N, done;
	double t0, t1, t2;
	int cleanup, rounds;

	bk_start(argc, argv);
	if (argc < 2 || argc > 3)
		usage();
	if (strcmp(argv[1], "finalizers") == 0)
		cleanup = 0;
	else if (strcmp(argv[1], "cleanups") == 0)
		cleanup = 1;
	else
		usage();
	if (argc == 3)
		n = parse_count(argv[2]);
	t0 = now_sec();
	make_blocks(n, cleanup);
	table = NULL;
	clear_stack();
	t1 = now_sec();
	rounds = finalize_all(n);
	t2 = now_sec();
	done = atomic_load(&finalized);
	if (done < n - n / 1000) {
		fprintf(stderr, "finalizers: %s: %s: %zu of %zu ran after %d collections\n",
			BACKEND_NAME, argv[1], done, n, rounds);
		return 1;
	}
	bk_print_result(argv[1], 3, t2 - t0);
	printf(" %zu %d %.3f\n", done, rounds, t2 - t1);
	return 0;
}
