/* test_fin_api — the contract of mgc_set_finalizer and mgc_run_finalizers.
 *
 *   - the stats: after a batch of finalizers ran and nothing is left
 *     queued, finalizers_queued and finalizers_run advanced by the number
 *     of finalizers that ran, and mgc_run_finalizers returns 0 when nothing
 *     is queued;
 *   - EINVAL for NULL, an interior pointer, pointers outside the heap
 *     (global, stack, malloc) and a freed block;
 *   - EEXIST when a finalizer is already set: the first one stays (only it
 *     runs), also for a second call with the same function;
 *   - fn NULL clears (0 even if none was set; a cleared finalizer never
 *     runs, and a new one can then be set), and a cleared finalizer's arg
 *     is no longer kept;
 *   - noscan blocks may have finalizers;
 *   - arg is a root until the finalizer has run: it is the only reference
 *     to a pattern-filled block, which must be live and intact while the
 *     object lives (checked exactly) and when the finalizer runs;
 *   - a finalizer whose arg reaches its object (the object itself, or a
 *     block pointing to it) never runs, and the object stays live;
 *   - mgc_free of a block with a finalizer drops it: it never runs, not
 *     even for blocks later allocated at the same address; a block moved
 *     by mgc_realloc loses its finalizer the same way.
 * Finalization is checked in aggregate (at least 90% of a batch), "never"
 * exactly.  Finalizers check their object and record errors, which main
 * reports.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NB 100
#define ARG_SIZE 256
#define BIG_ARG (16 * 1024)
#define WAIT_ROUNDS 100
#define NEVER_ROUNDS 30
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

struct obj {
	long batch;
	long index;
	uint64_t seed;
};

enum {
	B_STATS, B_EEXIST, B_CLEARED, B_NOSCAN, B_ARG, B_REACH, B_FREED, B_REALLOC, NBATCH
};

static atomic_long total_runs;		/* every finalizer of this program */
static atomic_int runs[NBATCH][NB];	/* by the expected function */
static atomic_int wrong_runs[NBATCH];	/* a function that must never run */
static uintptr_t hidden[NB];		/* addresses xor HIDE_MASK: not roots */
static struct obj *volatile keep[NB];
static int global_int;


static bool
pattern_ok(const uint64_t *w, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++)
		if (w[i] != check_mix(seed + i))
			return false;
	return true;
}

/* The object passed to a finalizer: live, of batch b, index in range. */
static struct obj *
fin_obj(void *p, long b, const char *who)
{
	struct obj *o = p;

	if (mgc_base(p, NULL) != p) {
		check_note("%s: object %p is not a live block start", who, p);
		return NULL;
	}
	if (o->batch != b || o->index < 0 || o->index >= NB) {
		check_note("%s: object %p holds batch %ld index %ld, want batch %ld", who, p,
			   o->batch, o->index, b);
		return NULL;
	}
	return o;
}

static void
fin_count(void *p, long b, const char *who)
{
	struct obj *o = fin_obj(p, b, who);

	if (o != NULL && atomic_fetch_add(&runs[b][o->index], 1) != 0)
		check_note("%s: finalizer of object %ld ran twice", who, o->index);
	atomic_fetch_add(&total_runs, 1);
}

static void
fin_stats(void *p, void *arg)
{
	(void)arg;
	fin_count(p, B_STATS, "stats");
}

static void
fin_first(void *p, void *arg)
{
	if (arg != (void *)&runs[0][0])
		check_note("EEXIST: first finalizer got arg %p", arg);
	fin_count(p, B_EEXIST, "EEXIST");
}

static void
fin_second(void *p, void *arg)
{
	(void)p;
	(void)arg;
	atomic_fetch_add(&wrong_runs[B_EEXIST], 1);
	atomic_fetch_add(&total_runs, 1);
}

static void
fin_cleared(void *p, void *arg)
{
	(void)p;
	(void)arg;
	atomic_fetch_add(&wrong_runs[B_CLEARED], 1);
	atomic_fetch_add(&total_runs, 1);
}

static void
fin_after_clear(void *p, void *arg)
{
	(void)arg;
	fin_count(p, B_CLEARED, "after clear");
}

static void
fin_noscan(void *p, void *arg)
{
	(void)arg;
	fin_count(p, B_NOSCAN, "noscan");
}

static void
fin_arg(void *p, void *arg)
{
	struct obj *o = fin_obj(p, B_ARG, "arg kept");
	size_t u = 0;

	if (o != NULL && (mgc_base(arg, &u) != arg || u < ARG_SIZE ||
			  !pattern_ok(arg, ARG_SIZE / 8, o->seed)))
		check_note("arg kept: arg %p of object %ld is not an intact live block", arg,
			   o->index);
	fin_count(p, B_ARG, "arg kept");
}

static void
fin_never(void *p, void *arg)
{
	struct obj *o = p;

	(void)arg;
	if (o->batch >= 0 && o->batch < NBATCH)
		atomic_fetch_add(&wrong_runs[o->batch], 1);
	atomic_fetch_add(&total_runs, 1);
}

static void
fin_realloc(void *p, void *arg)
{
	long i = (long)(intptr_t)arg - 1;

	(void)p;
	if (i >= 0 && i < NB)
		atomic_fetch_add(&runs[B_REALLOC][i], 1);
	atomic_fetch_add(&total_runs, 1);
}

static void
pump(void)
{
	check_clear_stack();
	mgc_collect();
	mgc_run_finalizers();
	sched_yield();
}

static long
batch_runs(int b)
{
	long n = 0;

	for (int i = 0; i < NB; i++)
		n += atomic_load(&runs[b][i]) != 0;
	return n;
}

/* Pumps until every object of batch b has been finalized (or the rounds
 * run out); returns how many were. */
static long
wait_batch(int b)
{
	for (int i = 0; i < WAIT_ROUNDS && batch_runs(b) < NB; i++)
		pump();
	return batch_runs(b);
}

/* Pumps until nothing is queued or running; returns the stats then. */
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

static __attribute__((noinline)) struct obj *
new_obj(long b, long i, bool noscan)
{
	struct obj *o = noscan ? mgc_alloc_noscan(sizeof *o) : mgc_alloc(sizeof *o);

	CHECK(o != NULL, "mgc_alloc failed (errno %d)", errno);
	o->batch = b;
	o->index = i;
	o->seed = check_mix((uint64_t)(b * NB + i));
	return o;
}

static void
set_ok(void *p, mgc_finalizer_fn fn, void *arg, const char *what)
{
	errno = 0;
	CHECK(mgc_set_finalizer(p, fn, arg) == 0, "%s: mgc_set_finalizer(%p) failed: %s", what,
	      p, strerror(errno));
}

static void
set_fails(void *p, mgc_finalizer_fn fn, void *arg, int err, const char *what)
{
	int r;

	errno = 0;
	r = mgc_set_finalizer(p, fn, arg);
	CHECK(r == -1 && errno == err, "%s: mgc_set_finalizer(%p) returned %d, errno %d (%s), "
	      "want -1, errno %d (%s)", what, p, r, errno, strerror(errno), err, strerror(err));
}

static __attribute__((noinline)) void
make_stats_batch(void)
{
	for (long i = 0; i < NB; i++)
		set_ok(new_obj(B_STATS, i, false), fin_stats, NULL, "stats batch");
}

static void
test_stats(void)
{
	mgc_stats s0 = settle(), s1;
	long t0 = atomic_load(&total_runs), returned = 0, n;

	CHECK(s0.finalizers_queued == s0.finalizers_run,
	      "finalizers_queued %ju != finalizers_run %ju with nothing to finalize",
	      (uintmax_t)s0.finalizers_queued, (uintmax_t)s0.finalizers_run);
	CHECK(mgc_run_finalizers() == 0, "mgc_run_finalizers ran something with nothing queued");
	make_stats_batch();
	for (int i = 0; i < WAIT_ROUNDS && batch_runs(B_STATS) < NB; i++) {
		check_clear_stack();
		mgc_collect();
		returned += (long)mgc_run_finalizers();
	}
	n = wait_batch(B_STATS);
	s1 = settle();
	CHECK_NOTED("finalizers");
	CHECK(n >= NB * 9 / 10, "stats batch: %ld of %d finalizers ran", n, NB);
	CHECK(s1.finalizers_run - s0.finalizers_run == (uint64_t)(atomic_load(&total_runs) - t0),
	      "finalizers_run advanced by %ju, %ld finalizers ran",
	      (uintmax_t)(s1.finalizers_run - s0.finalizers_run), atomic_load(&total_runs) - t0);
	CHECK(s1.finalizers_queued - s0.finalizers_queued == s1.finalizers_run - s0.finalizers_run,
	      "finalizers_queued advanced by %ju, finalizers_run by %ju",
	      (uintmax_t)(s1.finalizers_queued - s0.finalizers_queued),
	      (uintmax_t)(s1.finalizers_run - s0.finalizers_run));
	CHECK(returned <= atomic_load(&total_runs) - t0,
	      "mgc_run_finalizers reported %ld runs, only %ld finalizers ran", returned,
	      atomic_load(&total_runs) - t0);
	CHECK(mgc_run_finalizers() == 0, "mgc_run_finalizers ran something after settling");
}

static void
test_einval(void)
{
	int local = 0;
	int *heap = malloc(64);
	char *p = mgc_alloc(64), *big = mgc_alloc(100000), *q;

	CHECK(heap != NULL && p != NULL && big != NULL, "allocation failed");
	set_fails(NULL, fin_never, NULL, EINVAL, "NULL");
	set_fails(p + 16, fin_never, NULL, EINVAL, "interior pointer");
	set_fails(p + 1, fin_never, NULL, EINVAL, "unaligned interior pointer");
	set_fails(big + 50000, fin_never, NULL, EINVAL, "interior pointer of a large block");
	set_fails(&global_int, fin_never, NULL, EINVAL, "global variable");
	set_fails(&local, fin_never, NULL, EINVAL, "stack variable");
	set_fails(heap, fin_never, NULL, EINVAL, "malloc'ed memory");
	free(heap);
	q = mgc_alloc(64);
	CHECK(q != NULL, "allocation failed");
	mgc_free(q);
	set_fails(q, fin_never, NULL, EINVAL, "freed block");
	/* Nothing was set on p or big: setting works now. */
	set_ok(p, fin_never, NULL, "block after refused calls");
	set_ok(p, NULL, NULL, "clearing");
	set_ok(big, NULL, NULL, "clearing a large block");
}

static __attribute__((noinline)) void
make_eexist_batch(void)
{
	for (long i = 0; i < NB; i++) {
		struct obj *o = new_obj(B_EEXIST, i, false);

		set_ok(o, fin_first, (void *)&runs[0][0], "EEXIST batch");
		set_fails(o, fin_second, NULL, EEXIST, "second finalizer");
		set_fails(o, fin_first, NULL, EEXIST, "same finalizer again");
	}
}

static void
test_eexist(void)
{
	long n;

	make_eexist_batch();
	n = wait_batch(B_EEXIST);
	CHECK_NOTED("finalizers");
	CHECK(n >= NB * 9 / 10, "EEXIST batch: %ld of %d first finalizers ran", n, NB);
	CHECK(atomic_load(&wrong_runs[B_EEXIST]) == 0, "EEXIST batch: %d refused finalizers ran",
	      atomic_load(&wrong_runs[B_EEXIST]));
}

static __attribute__((noinline)) void
make_cleared_batch(void)
{
	for (long i = 0; i < NB; i++) {
		struct obj *o = new_obj(B_CLEARED, i, false);

		set_ok(o, NULL, NULL, "clearing with none set");
		set_ok(o, fin_cleared, NULL, "before clearing");
		set_ok(o, NULL, NULL, "clearing");
		set_ok(o, NULL, NULL, "clearing twice");
		set_ok(o, fin_after_clear, NULL, "after clearing");
	}
}

/* Objects kept in keep[], each with a finalizer whose arg is the only
 * reference to a BIG_ARG block.  Returns the bytes of the args. */
static __attribute__((noinline)) uint64_t
make_big_args(void)
{
	uint64_t bytes = 0;

	for (long i = 0; i < NB; i++) {
		void *a = mgc_alloc(BIG_ARG);
		size_t u = 0;

		CHECK(a != NULL, "allocation failed");
		mgc_base(a, &u);
		bytes += u;
		keep[i] = new_obj(B_CLEARED, i, false);
		set_ok(keep[i], fin_cleared, a, "finalizer with a big arg");
	}
	return bytes;
}


static void
test_clear(void)
{
	uint64_t before, bytes, held, after;
	long n;

	make_cleared_batch();
	n = wait_batch(B_CLEARED);
	CHECK_NOTED("finalizers");
	CHECK(n >= NB * 9 / 10, "cleared batch: %ld of %d finalizers set after clearing ran", n,
	      NB);
	CHECK(atomic_load(&wrong_runs[B_CLEARED]) == 0, "cleared batch: %d cleared finalizers ran",
	      atomic_load(&wrong_runs[B_CLEARED]));

	/* A cleared finalizer's arg is no longer a root. */
	before = check_alloc_after_collect();
	bytes = make_big_args();
	held = check_alloc_after_collect();
	CHECK(held + bytes / 10 >= before + bytes, "finalizer args: alloc %ju -> %ju, %ju bytes "
	      "of args should be kept", (uintmax_t)before, (uintmax_t)held, (uintmax_t)bytes);
	for (int i = 0; i < NB; i++)
		set_ok(keep[i], NULL, NULL, "clearing a finalizer with a big arg");
	after = check_alloc_after_collect();
	CHECK(after + bytes * 9 / 10 <= held, "cleared finalizers' args: alloc %ju -> %ju, less "
	      "than 90%% of %ju bytes reclaimed", (uintmax_t)held, (uintmax_t)after,
	      (uintmax_t)bytes);
	for (int i = 0; i < NB; i++)
		keep[i] = NULL;
	for (int i = 0; i < NEVER_ROUNDS; i++)
		pump();
	CHECK(atomic_load(&wrong_runs[B_CLEARED]) == 0, "cleared batch: %d cleared finalizers ran",
	      atomic_load(&wrong_runs[B_CLEARED]));
}

static __attribute__((noinline)) void
make_noscan_batch(void)
{
	for (long i = 0; i < NB; i++)
		set_ok(new_obj(B_NOSCAN, i, true), fin_noscan, NULL, "noscan batch");
}

static void
test_noscan(void)
{
	long n;

	make_noscan_batch();
	n = wait_batch(B_NOSCAN);
	CHECK_NOTED("finalizers");
	CHECK(n >= NB * 9 / 10, "noscan batch: %ld of %d finalizers ran", n, NB);
}

/* Objects in keep[] (noscan: they do not point to their args), each with a
 * finalizer whose arg is the only reference to a pattern-filled block. */
static __attribute__((noinline)) void
make_arg_batch(void)
{
	for (long i = 0; i < NB; i++) {
		struct obj *o = new_obj(B_ARG, i, true);
		uint64_t *a = mgc_alloc(ARG_SIZE);

		CHECK(a != NULL, "allocation failed");
		check_fill(a, ARG_SIZE / 8, o->seed);
		hidden[i] = (uintptr_t)a ^ HIDE_MASK;
		set_ok(o, fin_arg, a, "arg batch");
		keep[i] = o;
	}
}

/* Garbage of the args' size: a freed arg would be reused and overwritten. */
static __attribute__((noinline)) void
churn(void)
{
	for (int i = 0; i < 2000; i++) {
		char *p = mgc_alloc(ARG_SIZE);

		CHECK(p != NULL, "allocation failed");
		memset(p, 0xa5, ARG_SIZE);
	}
}

static void
test_arg_kept(void)
{
	long n;

	make_arg_batch();
	for (int r = 0; r < 5; r++) {
		churn();
		pump();
		for (int i = 0; i < NB; i++) {
			uint64_t *a = (uint64_t *)(hidden[i] ^ HIDE_MASK);

			CHECK(mgc_base(a, NULL) == a, "arg %d (%p) of a live object was freed", i,
			      (void *)a);
			CHECK_PATTERN(a, ARG_SIZE / 8, keep[i]->seed, "arg of a live object");
		}
	}
	CHECK(batch_runs(B_ARG) == 0, "arg batch: finalizers of live objects ran");
	for (int i = 0; i < NB; i++)
		keep[i] = NULL;
	for (int i = 0; i < WAIT_ROUNDS && batch_runs(B_ARG) < NB; i++) {
		churn();
		pump();
	}
	n = batch_runs(B_ARG);
	CHECK_NOTED("finalizers");
	CHECK(n >= NB * 9 / 10, "arg batch: %ld of %d finalizers ran", n, NB);
}

/* Half the objects are their own finalizer's arg; the other half's arg is
 * a block pointing to the object.  Only hidden[] records them. */
static __attribute__((noinline)) void
make_reach_batch(void)
{
	for (long i = 0; i < NB; i++) {
		struct obj *o = new_obj(B_REACH, i, false);
		void *arg = o;

		if (i % 2) {
			struct obj **h = mgc_alloc(sizeof *h);

			CHECK(h != NULL, "allocation failed");
			*h = o;
			arg = h;
		}
		hidden[i] = (uintptr_t)o ^ HIDE_MASK;
		set_ok(o, fin_never, arg, "arg reaching the object");
	}
}

static void
test_arg_reaches(void)
{
	make_reach_batch();
	for (int i = 0; i < NEVER_ROUNDS; i++)
		pump();
	CHECK(atomic_load(&wrong_runs[B_REACH]) == 0,
	      "%d finalizers whose arg reaches the object ran", atomic_load(&wrong_runs[B_REACH]));
	for (int i = 0; i < NB; i++) {
		struct obj *o = (struct obj *)(hidden[i] ^ HIDE_MASK);

		CHECK(mgc_base(o, NULL) == o && o->batch == B_REACH && o->index == i,
		      "object %d (%p), whose finalizer's arg reaches it, was reclaimed", i,
		      (void *)o);
	}
}

static __attribute__((noinline)) void
make_freed_batch(void)
{
	for (long i = 0; i < NB; i++) {
		struct obj *o = new_obj(B_FREED, i, i % 2 == 0);

		set_ok(o, fin_never, NULL, "freed batch");
		mgc_free(o);
	}
	/* Blocks at the freed addresses, without finalizers, dropped too. */
	for (long i = 0; i < 10 * NB; i++)
		new_obj(B_FREED, i % NB, i % 2 == 0);
}

/* Blocks of 100 bytes with a finalizer, grown to 4000 bytes (a move) or
 * shrunk to 96 (in place or not): the finalizer is kept only by a block
 * resized in place.  Returns the number of moved blocks. */
static __attribute__((noinline)) int
make_realloc_batch(bool moved[NB])
{
	int nmoved = 0;

	for (long i = 0; i < NB; i++) {
		char *p = mgc_alloc(100), *q;

		CHECK(p != NULL, "allocation failed");
		set_ok(p, fin_realloc, (void *)(intptr_t)(i + 1), "realloc batch");
		q = mgc_realloc(p, i % 2 ? 4000 : 96);
		CHECK(q != NULL, "mgc_realloc failed");
		moved[i] = q != p;
		nmoved += moved[i];
	}
	return nmoved;
}

static void
test_freed(void)
{
	bool moved[NB];
	int nmoved, in_place_ran = 0;

	make_freed_batch();
	nmoved = make_realloc_batch(moved);
	for (int i = 0; i < NEVER_ROUNDS; i++)
		pump();
	CHECK(atomic_load(&wrong_runs[B_FREED]) == 0, "%d finalizers of freed blocks ran",
	      atomic_load(&wrong_runs[B_FREED]));
	for (int i = 0; i < NB; i++) {
		int r = atomic_load(&runs[B_REALLOC][i]);

		CHECK(!moved[i] || r == 0, "the finalizer of block %d ran after mgc_realloc "
		      "moved it", i);
		CHECK(r <= 1, "the finalizer of realloc'ed block %d ran %d times", i, r);
		in_place_ran += !moved[i] && r != 0;
	}
	CHECK(nmoved >= NB / 2, "only %d of %d blocks moved by mgc_realloc", nmoved, NB);
	CHECK(in_place_ran >= (NB - nmoved) * 9 / 10, "%d of %d blocks resized in place kept "
	      "their finalizer", in_place_ran, NB - nmoved);
}

int
main(void)
{
	mgc_init();
	test_stats();
	test_einval();
	test_eexist();
	test_clear();
	test_noscan();
	test_arg_kept();
	test_arg_reaches();
	test_freed();
	CHECK_NOTED("finalizers");
	return 0;
}
