/* test_fin_cleanup — the contract of mgc_add_cleanup.
 *
 *   - EINVAL for fn NULL, and for obj NULL, outside the heap (global,
 *     stack, malloc) or in a freed block;
 *   - cleanups on interior pointers, three per block (start, middle, last
 *     byte): once the block is dropped each runs exactly once, and a
 *     block's cleanups run all or none; the stats count them
 *     (finalizers_queued and finalizers_run advance by the number run);
 *   - two-block cycles with cleanups (on one block, or on both) do not
 *     block them: they run;
 *   - no resurrection: blocks with cleanups are reclaimed by the very
 *     collection that finds them unreachable (alloc drops and frees
 *     advance at that collection, their weak handles read NULL, also
 *     inside the cleanups);
 *   - a block with a finalizer and cleanups: the cleanups run only after
 *     the finalizer ran and the block became unreachable again (the
 *     finalizer resurrects half of the blocks: while they are reachable no
 *     cleanup runs; once dropped, their cleanups run).
 * Aggregate checks (at least 90% of 100 blocks); "never" is exact.
 * Cleanups and finalizers record errors, which main reports.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NB 100
#define NPER 3
#define BLOCK_SIZE 256
#define BIG_SIZE 2000
#define WAIT_ROUNDS 100
#define NEVER_ROUNDS 20

enum { B_INTERIOR, B_CYCLE, B_RECLAIM, B_FINAL, NBATCH };

static atomic_int runs[NBATCH][NB][NPER];
static atomic_long total_runs;
static mgc_weak *weak[NB];		/* handles of the B_RECLAIM blocks */
static void *volatile keep[NB];
static atomic_int fin_done[NB];
static atomic_int fin_total;
static int global_int;


/* A cleanup's arg: batch, block and cleanup number, as a small integer
 * (not a pointer, so that it keeps nothing alive). */
static void *
code(int b, long i, int k)
{
	return (void *)(intptr_t)(1 + (b * NB + i) * NPER + k);
}

static void
cleanup(void *arg)
{
	long c = (long)(intptr_t)arg - 1;
	int k = (int)(c % NPER), b = (int)(c / NPER / NB);
	long i = c / NPER % NB;

	atomic_fetch_add(&total_runs, 1);
	if (c < 0 || b >= NBATCH) {
		check_note("cleanup: bad arg %p", arg);
		return;
	}
	if (atomic_fetch_add(&runs[b][i][k], 1) != 0)
		check_note("cleanup %d of block %ld (batch %d) ran twice", k, i, b);
	if (b == B_RECLAIM && mgc_weak_get(weak[i]) != NULL)
		check_note("cleanup of block %ld: its weak handle still reads %p", i,
			   mgc_weak_get(weak[i]));
	if (b == B_FINAL && atomic_load(&fin_done[i]) != 1)
		check_note("cleanup %d of block %ld ran before its finalizer", k, i);
}

static void
pump(void)
{
	check_clear_stack();
	mgc_collect();
	mgc_run_finalizers();
	sched_yield();
}

/* Blocks of batch b whose cleanups 0..n-1 have all run. */
static long
blocks_done(int b, int n)
{
	long done = 0;

	for (int i = 0; i < NB; i++) {
		int all = 1;

		for (int k = 0; k < n; k++)
			all &= atomic_load(&runs[b][i][k]) != 0;
		done += all;
	}
	return done;
}

static long
wait_blocks(int b, int n)
{
	for (int i = 0; i < WAIT_ROUNDS && blocks_done(b, n) < NB; i++)
		pump();
	return blocks_done(b, n);
}

static mgc_stats
settle(void)
{
	mgc_stats s;

	for (int i = 0; i < WAIT_ROUNDS; i++) {
		pump();
		mgc_read_stats(&s);
		if (s.finalizers_queued == s.finalizers_run)
			break;
	}
	return s;
}

static void
add_ok(void *obj, mgc_cleanup_fn fn, void *arg, const char *what)
{
	errno = 0;
	CHECK(mgc_add_cleanup(obj, fn, arg) == 0, "%s: mgc_add_cleanup(%p) failed: %s", what, obj,
	      strerror(errno));
}

static void
add_fails(void *obj, mgc_cleanup_fn fn, const char *what)
{
	int r;

	errno = 0;
	r = mgc_add_cleanup(obj, fn, NULL);
	CHECK(r == -1 && errno == EINVAL, "%s: mgc_add_cleanup(%p) returned %d, errno %d (%s), "
	      "want -1, EINVAL", what, obj, r, errno, strerror(errno));
}

static void
test_einval(void)
{
	int local = 0;
	char *p = mgc_alloc(64), *q = mgc_alloc(64), *heap = malloc(64);

	CHECK(p != NULL && q != NULL && heap != NULL, "allocation failed");
	add_fails(p, NULL, "fn NULL");
	add_fails(p + 10, NULL, "fn NULL, interior pointer");
	add_fails(NULL, cleanup, "obj NULL");
	add_fails(&global_int, cleanup, "global variable");
	add_fails(&local, cleanup, "stack variable");
	add_fails(heap, cleanup, "malloc'ed memory");
	free(heap);
	mgc_free(q);
	add_fails(q, cleanup, "freed block");
	add_fails(q + 8, cleanup, "inside a freed block");
}

static __attribute__((noinline)) void
make_interior(void)
{
	for (long i = 0; i < NB; i++) {
		char *p = mgc_alloc(BLOCK_SIZE);
		size_t u = 0;

		CHECK(p != NULL, "mgc_alloc failed (errno %d)", errno);
		CHECK(mgc_base(p, &u) == p, "new block not found");
		add_ok(p, cleanup, code(B_INTERIOR, i, 0), "block start");
		add_ok(p + u / 2, cleanup, code(B_INTERIOR, i, 1), "middle of the block");
		add_ok(p + u - 1, cleanup, code(B_INTERIOR, i, 2), "last byte of the block");
	}
}

static void
test_interior(void)
{
	mgc_stats s0 = settle(), s1;
	long t0 = atomic_load(&total_runs), done;

	make_interior();
	done = wait_blocks(B_INTERIOR, NPER);
	s1 = settle();
	CHECK_NOTED("cleanups");
	CHECK(done >= NB * 9 / 10, "interior cleanups: all three ran for %ld of %d blocks", done,
	      NB);
	for (int i = 0; i < NB; i++) {
		int n = 0;

		for (int k = 0; k < NPER; k++)
			n += atomic_load(&runs[B_INTERIOR][i][k]);
		CHECK(n == 0 || n == NPER, "block %d: %d of its %d cleanups ran", i, n, NPER);
	}
	CHECK(s1.finalizers_run - s0.finalizers_run == (uint64_t)(atomic_load(&total_runs) - t0),
	      "finalizers_run advanced by %ju, %ld cleanups ran",
	      (uintmax_t)(s1.finalizers_run - s0.finalizers_run), atomic_load(&total_runs) - t0);
	CHECK(s1.finalizers_queued - s0.finalizers_queued == s1.finalizers_run - s0.finalizers_run,
	      "finalizers_queued advanced by %ju, finalizers_run by %ju",
	      (uintmax_t)(s1.finalizers_queued - s0.finalizers_queued),
	      (uintmax_t)(s1.finalizers_run - s0.finalizers_run));
}

/* Two-block cycles; cleanup 0 on a, and for odd i cleanup 1 on b. */
static __attribute__((noinline)) void
make_cycles(void)
{
	for (long i = 0; i < NB; i++) {
		void **a = mgc_alloc(4 * sizeof(void *)), **b = mgc_alloc(4 * sizeof(void *));

		CHECK(a != NULL && b != NULL, "mgc_alloc failed (errno %d)", errno);
		a[0] = b;
		b[1] = a;
		add_ok(a, cleanup, code(B_CYCLE, i, 0), "cycle");
		add_ok(i % 2 ? (void *)(b + 1) : (void *)b, cleanup, code(B_CYCLE, i, 1), "cycle");
	}
}

static void
test_cycles(void)
{
	long done;

	make_cycles();
	done = wait_blocks(B_CYCLE, 2);
	CHECK_NOTED("cleanups");
	CHECK(done >= NB * 9 / 10, "cycles: the cleanups of %ld of %d cycles ran", done, NB);
}

/* Blocks of BIG_SIZE in keep[], with a cleanup and a weak handle each;
 * returns their bytes. */
static __attribute__((noinline)) uint64_t
make_reclaim(void)
{
	uint64_t bytes = 0;

	for (long i = 0; i < NB; i++) {
		char *p = mgc_alloc(BIG_SIZE);
		size_t u = 0;

		CHECK(p != NULL, "mgc_alloc failed (errno %d)", errno);
		mgc_base(p, &u);
		bytes += u;
		weak[i] = mgc_weak_new(p + 8);
		CHECK(weak[i] != NULL, "mgc_weak_new failed: %s", strerror(errno));
		add_ok(p + 16, cleanup, code(B_RECLAIM, i, 0), "reclaim batch");
		keep[i] = p;
	}
	return bytes;
}

static void
test_reclaim(void)
{
	uint64_t bytes = make_reclaim();
	mgc_stats s0, s1;
	long nulls = 0, done;

	settle();
	check_clear_stack();
	mgc_collect();
	mgc_read_stats(&s0);
	for (int i = 0; i < NB; i++)
		CHECK(mgc_weak_get(weak[i]) == (char *)keep[i] + 8,
		      "weak handle %d of a reachable block reads %p, want %p", i,
		      mgc_weak_get(weak[i]), (void *)((char *)keep[i] + 8));
	for (int i = 0; i < NB; i++)
		keep[i] = NULL;
	check_clear_stack();
	mgc_collect();
	mgc_read_stats(&s1);
	for (int i = 0; i < NB; i++)
		nulls += mgc_weak_get(weak[i]) == NULL;
	CHECK(s1.alloc + bytes * 9 / 10 <= s0.alloc, "blocks with cleanups dropped: alloc %ju -> "
	      "%ju after one collection, less than 90%% of %ju bytes reclaimed",
	      (uintmax_t)s0.alloc, (uintmax_t)s1.alloc, (uintmax_t)bytes);
	CHECK(s1.frees - s0.frees >= NB * 9 / 10, "blocks with cleanups dropped: frees advanced "
	      "by %ju after one collection", (uintmax_t)(s1.frees - s0.frees));
	CHECK(nulls >= NB * 9 / 10, "blocks with cleanups dropped: %ld of %d weak handles read "
	      "NULL after one collection", nulls, NB);
	done = wait_blocks(B_RECLAIM, 1);
	CHECK_NOTED("cleanups");
	CHECK(done >= NB * 9 / 10, "reclaim batch: %ld of %d cleanups ran", done, NB);
}

struct fobj {
	long index;
	uint64_t check;
};

static void
fin_final(void *obj, void *arg)
{
	struct fobj *o = obj;
	long i = o->index;

	(void)arg;
	if (mgc_base(o, NULL) != o || i < 0 || i >= NB || o->check != check_mix((uint64_t)i)) {
		check_note("finalizer: block %p not intact", obj);
		return;
	}
	for (int k = 0; k < 2; k++)
		if (atomic_load(&runs[B_FINAL][i][k]) != 0)
			check_note("cleanup %d of block %ld ran before its finalizer", k, i);
	if (atomic_exchange(&fin_done[i], 1) != 0)
		check_note("finalizer of block %ld ran twice", i);
	if (i % 2 == 0)
		keep[i] = o;
	atomic_fetch_add(&fin_total, 1);
}

static __attribute__((noinline)) void
make_final(void)
{
	for (long i = 0; i < NB; i++) {
		struct fobj *o = mgc_alloc(sizeof *o);

		CHECK(o != NULL, "mgc_alloc failed (errno %d)", errno);
		o->index = i;
		o->check = check_mix((uint64_t)i);
		if (i % 3 == 0)
			CHECK(mgc_set_finalizer(o, fin_final, NULL) == 0,
			      "mgc_set_finalizer failed: %s", strerror(errno));
		add_ok(o, cleanup, code(B_FINAL, i, 0), "with a finalizer");
		add_ok((char *)o + 8, cleanup, code(B_FINAL, i, 1), "with a finalizer");
		if (i % 3 != 0)
			CHECK(mgc_set_finalizer(o, fin_final, NULL) == 0,
			      "mgc_set_finalizer failed: %s", strerror(errno));
	}
}

static void
test_final(void)
{
	long done, ran;
	int resurrected = 0;

	make_final();
	for (int i = 0; i < WAIT_ROUNDS && atomic_load(&fin_total) < NB; i++)
		pump();
	ran = atomic_load(&fin_total);
	CHECK_NOTED("cleanups");
	CHECK(ran >= NB * 9 / 10, "%ld of %d finalizers of blocks with cleanups ran", ran, NB);
	for (int r = 0; r < NEVER_ROUNDS; r++)
		pump();
	CHECK_NOTED("cleanups");
	for (int i = 0; i < NB; i += 2) {
		if (keep[i] == NULL)
			continue;
		resurrected++;
		for (int k = 0; k < 2; k++)
			CHECK(atomic_load(&runs[B_FINAL][i][k]) == 0, "cleanup %d of block %d ran "
			      "while the block was reachable (resurrected by its finalizer)", k, i);
	}
	for (int i = 0; i < NB; i++)
		keep[i] = NULL;
	done = wait_blocks(B_FINAL, 2);
	CHECK_NOTED("cleanups");
	CHECK(done >= NB * 9 / 10, "blocks with a finalizer: the cleanups of %ld of %d blocks ran "
	      "(%d resurrected, %ld finalized)", done, NB, resurrected, ran);
}

int
main(void)
{
	mgc_init();
	test_einval();
	test_interior();
	test_cycles();
	test_reclaim();
	test_final();
	CHECK_NOTED("cleanups");
	return 0;
}
