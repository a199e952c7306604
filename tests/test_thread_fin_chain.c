/* test_thread_fin_chain — a finalized block is dead to every mgc call
 * before the finalizer of the block it pointed to runs.
 *
 * A chain node[0] -> node[1] -> ... -> node[N-1] of blocks with finalizers
 * is dropped.  The contract: if A reaches B, A's finalizer runs first and
 * B's only after A has been reclaimed.  So inside node[k]'s finalizer
 * (checks recorded with check_note, as it may run on mgc's runner thread):
 *   - node[k] is intact (index, round stamp, checksum) and live, and its
 *     finalizer had not run before;
 *   - node[k-1]'s finalizer has already returned;
 *   - node[k-1] is reclaimed: mgc_base of its address is NULL.  In the
 *     rounds that allocate garbage (below) a block of the garbage may
 *     have reused the address; the garbage is of other sizes and nothing
 *     else is allocated during a round, so there a block of the node's
 *     size starting at that address is node[k-1] itself, still live.
 * The node addresses are kept xor-ed with a constant, so they are not
 * roots.  Each round builds a new chain and drives it until all N
 * finalizers ran (a bounded number of steps), in one of four ways:
 *   collect   mgc_collect then mgc_run_finalizers in the main thread,
 *             racing mgc's runner thread;
 *   race      mgc_collect in the main thread while a second thread calls
 *             mgc_run_finalizers in a loop (so finalizers may start while
 *             the collection that queued them is still sweeping);
 *   auto      no explicit collection: the main thread allocates garbage,
 *             so collections start by themselves and sweep lazily, and
 *             calls mgc_run_finalizers between allocations;
 *   runner    the same, but only mgc's runner thread runs finalizers.
 * The whole test repeats under each collector setting of
 * check_run_variants, or runs once under the environment's with
 * CHECK_ONE_VARIANT=1.
 *
 * usage: test_thread_fin_chain [ROUNDS]
 */
#include "check.h"

#include <pthread.h>
#include <sched.h>

#include <mgc.h>

#define USAGE          "[ROUNDS]"
#define N              100
#define DEFAULT_ROUNDS (UNDER_TSAN ? 4 : 48)
#define MAX_STEPS      (20 * N)
#define HIDE_MASK      ((uintptr_t)0xa5a5a5a5a5a5a5a5u)
#define MIN_HEAP       (256 << 10)

enum mode { COLLECT, RACE, AUTO, RUNNER, NMODES };
static const char *const mode_names[NMODES] = {"collect", "race", "auto", "runner"};

/* 96 bytes: a size class of its own in this test (the garbage is 32 and
 * 2048 bytes). */
struct node {
	struct node *next;
	long index;
	uint64_t stamp, check;
	uint64_t pad[8];
};

static _Atomic uintptr_t hidden[N]; /* node addresses xor HIDE_MASK: not roots */
static atomic_bool ran[N];          /* node k's finalizer has returned */
static atomic_long nran;
static _Atomic uint64_t round_salt; /* this round's stamp seed */
static size_t node_size;            /* usable size of a node block */
static atomic_bool round_over;
static atomic_bool round_allocates; /* this round allocates garbage */

static struct node *
unhide(long k)
{
	return (struct node *)(atomic_load(&hidden[k]) ^ HIDE_MASK);
}

static uint64_t
node_stamp(long k)
{
	return check_mix(atomic_load(&round_salt) ^ (uint64_t)k);
}

static uint64_t
node_check(const struct node *n)
{
	return check_mix(n->stamp ^ (uint64_t)n->index * 0x9e3779b97f4a7c15u);
}

static bool
node_intact(const struct node *n, long k)
{
	return n->index == k && n->stamp == node_stamp(k) && n->check == node_check(n);
}

/* Node k - 1 must be reclaimed when node k's finalizer runs. */
static void
check_prev_reclaimed(long k)
{
	struct node *prev = unhide(k - 1);
	size_t size = 0;
	void *base = mgc_base(prev, &size);

	if (!atomic_load(&ran[k - 1]))
		check_note("node %ld finalized before node %ld's finalizer returned", k, k - 1);
	if (atomic_load(&round_allocates) ? base == prev && size == node_size : base != NULL)
		check_note("node %ld finalized while node %ld (%p) is still a live block "
		           "(mgc_base gives %p; the node's contents %s)",
		           k, k - 1, (void *)prev, base,
		           node_intact(prev, k - 1) ? "intact" : "changed");
}

static __attribute__((noinline)) void
check_node(struct node *n, void *arg)
{
	long k = n->index;

	if (arg != (void *)&hidden[0])
		check_note("finalizer of %p: arg %p, want %p", (void *)n, arg, (void *)&hidden[0]);
	if (k < 0 || k >= N || mgc_base(n, NULL) != n || n != unhide(k) || !node_intact(n, k)) {
		check_note("finalizer of %p: not a live intact node (index %ld)", (void *)n, k);
		return;
	}
	if (atomic_load(&ran[k]))
		check_note("node %ld finalized twice", k);
	if (k > 0)
		check_prev_reclaimed(k);
	if (k + 1 < N && (n->next != unhide(k + 1) || mgc_base(n->next, NULL) != n->next ||
	                  !node_intact(n->next, k + 1)))
		check_note("node %ld: successor %p not live and intact", k, (void *)n->next);
	if (k + 1 == N && n->next != NULL)
		check_note("last node: next is %p", (void *)n->next);
	atomic_store(&ran[k], true);
	atomic_fetch_add(&nran, 1);
}

/* The checks leave node addresses in the dead frames of the thread that
 * runs the finalizer, where they would keep the successor reachable: they
 * are overwritten before returning. */
static void
fin_node(void *obj, void *arg)
{
	check_node(obj, arg);
	check_clear_stack();
	*(void *volatile *)&obj = NULL;
}

/* Builds round r's chain tail first and drops it. */
static __attribute__((noinline)) void
make_chain(long r)
{
	struct node *next = NULL;

	atomic_store(&round_salt, check_mix((uint64_t)r ^ 0xf1c4a1));
	atomic_store(&nran, 0);
	for (long k = N - 1; k >= 0; k--) {
		struct node *n = mgc_alloc(sizeof *n);

		CHECK(n != NULL, "mgc_alloc failed (errno %d)", errno);
		n->next = next;
		n->index = k;
		n->stamp = node_stamp(k);
		n->check = node_check(n);
		atomic_store(&ran[k], false);
		atomic_store(&hidden[k], (uintptr_t)n ^ HIDE_MASK);
		CHECK(mgc_set_finalizer(n, fin_node, (void *)&hidden[0]) == 0,
		      "mgc_set_finalizer(node %ld) failed: %s", k, strerror(errno));
		next = n;
	}
}

/* Garbage of sizes other than the nodes': about 130 KiB, so that with a
 * 256 KiB minimum heap a collection starts every other step. */
static __attribute__((noinline)) void
make_garbage(void)
{
	for (int i = 0; i < 64; i++) {
		uint64_t *small = mgc_alloc(32);
		uint64_t *big = mgc_alloc_noscan(2048);

		CHECK(small != NULL && big != NULL, "mgc_alloc(garbage) failed (errno %d)", errno);
		memset(small, 0x5a, 32);
		memset(big, 0xa5, 2048);
	}
}

/* The second finalizer caller of mode RACE. */
static void *
run_finalizers_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&round_over)) {
		mgc_run_finalizers();
		check_clear_stack();
		sched_yield();
	}
	return NULL;
}

static __attribute__((noinline)) void
step(enum mode m)
{
	if (m == COLLECT || m == RACE)
		mgc_collect();
	else
		make_garbage();
	if (m == COLLECT || m == AUTO)
		mgc_run_finalizers();
	check_clear_stack();
	sched_yield();
}

/* Runs round r; false if the chain stalled: then some node stays
 * reachable through a stale word (a conservative collector promises no
 * more), its successors never become unreachable, and the run ends there,
 * since their finalizers would run during later rounds, which reuse the
 * hidden addresses. */
static bool
run_round(long r)
{
	enum mode m = (enum mode)(r % NMODES);
	pthread_t racer;
	int steps;

	make_chain(r);
	check_clear_stack(); /* make_chain's dead frame holds node addresses */
	atomic_store(&round_over, false);
	atomic_store(&round_allocates, m == AUTO || m == RUNNER);
	if (m == RACE)
		CHECK(pthread_create(&racer, NULL, run_finalizers_loop, NULL) == 0,
		      "pthread_create");
	for (steps = 0; steps < MAX_STEPS && atomic_load(&nran) < N; steps++)
		step(m);
	atomic_store(&round_over, true);
	if (m == RACE)
		CHECK(pthread_join(racer, NULL) == 0, "pthread_join");
	char what[64];
	snprintf(what, sizeof what, "the finalizers of round %ld (%s)", r, mode_names[m]);
	CHECK_NOTED(what);
	if (atomic_load(&nran) < N) {
		printf("round %ld (%s): %ld of %d chain finalizers ran in %d steps; node %ld is "
		       "still reachable through a stale word: the run ends here\n",
		       r, mode_names[m], atomic_load(&nran), N, steps, atomic_load(&nran));
		return false;
	}
	return true;
}

/* The usable size of a node block, from a probe block that is left as
 * garbage: freed, its address would be the next node's, and a stale copy
 * of it on the stack would keep that node alive. */
static __attribute__((noinline)) size_t
probe_node_size(void)
{
	struct node *probe = mgc_alloc(sizeof *probe);
	size_t size = 0;

	CHECK(probe != NULL && mgc_base(probe, &size) == probe, "mgc_alloc(probe)");
	CHECK(size >= sizeof *probe && size < 128, "node blocks of %zu bytes", size);
	return size;
}

static void
run(void *arg)
{
	long rounds = *(const long *)arg;

	node_size = probe_node_size();
	check_clear_stack();
	mgc_set_min_heap(MIN_HEAP);
	long done = 0, total_ran = 0;
	for (long r = 0; r < rounds; r++, done++) {
		bool complete = run_round(r);
		total_ran += atomic_load(&nran);
		if (!complete)
			break;
	}
	/* A finalizer counts in finalizers_run once the batch it ran in is
	 * over: the runner may still be finishing the last one. */
	mgc_stats s;
	mgc_read_stats(&s);
	for (int tries = 0; s.finalizers_run < (uint64_t)total_ran && tries < 100000; tries++) {
		sched_yield();
		mgc_read_stats(&s);
	}
	CHECK(s.finalizers_run >= (uint64_t)total_ran, "finalizers_run %llu, want >= %ld",
	      (unsigned long long)s.finalizers_run, total_ran);
	printf("%ld rounds of %d finalizers, %llu collections\n", done, N,
	       (unsigned long long)s.num_gc);
}

int
main(int argc, char **argv)
{
	static long rounds;

	rounds = check_arg(argc, argv, USAGE, 1, DEFAULT_ROUNDS, 1, 1L << 20);
	check_run_variants(run, &rounds);
	return 0;
}
