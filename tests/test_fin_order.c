/* test_fin_order — finalizers of a chain run in chain order.
 *
 * A chain of N = 1000 blocks, each with a finalizer and pointing to the
 * next, is dropped.  Node k is reachable from node k - 1, so its finalizer
 * may only run once node k - 1 has been finalized and then reclaimed: the
 * finalizers run strictly head first, and at most one per collection.
 *
 * Checked inside the finalizers (errors recorded, reported by main): node k
 * is the next expected one, and its contents and its successor are intact.
 * Checked by main between collections: no more chain finalizers have run
 * than collections completed since the drop, and once node k's finalizer
 * has run, node k - 1 (whose address is kept hidden from the collector) is
 * no longer a live block: the collection that queued node k reclaimed it.
 * (Inside node k's finalizer, that collection may still be sweeping.)  Main
 * loops up to 5 * N times { mgc_collect(); mgc_run_finalizers(); } until all
 * N ran; nothing is allocated meanwhile, so no freed node's address is
 * reused.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define N 1000
#define MAX_ROUNDS (5 * N)
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

struct node {
	struct node *next;
	long index;
	uint64_t check;
};

static uintptr_t hidden[N];	/* node addresses xor HIDE_MASK: not roots */
static atomic_long next_expected;
static atomic_long nran;


static void *
unhide(long k)
{
	return (void *)(hidden[k] ^ HIDE_MASK);
}

static uint64_t
node_check(long index)
{
	return check_mix((uint64_t)index ^ 0x5eed);
}

static __attribute__((noinline)) void
check_node(void *obj, void *arg)
{
	struct node *n = obj;
	long k = n->index, want = atomic_load(&next_expected);

	if (arg != (void *)&hidden[0])
		check_note("finalizer of %p: arg %p, want %p", obj, arg, (void *)&hidden[0]);
	if (mgc_base(n, NULL) != n || k < 0 || k >= N || n->check != node_check(k)) {
		check_note("finalizer of %p: not an intact node (index %ld)", obj, k);
		return;
	}
	if (k != want)
		check_note("node %ld finalized while node %ld was expected", k, want);
	if (n != unhide(k))
		check_note("node %ld finalized at %p, allocated at %p", k, obj, unhide(k));
	if (k + 1 < N) {
		struct node *next = n->next;

		if (next != unhide(k + 1) || mgc_base(next, NULL) != next ||
		    next->index != k + 1 || next->check != node_check(k + 1))
			check_note("node %ld: successor %p not intact", k, (void *)next);
	} else if (n->next != NULL) {
		check_note("last node: next is %p", (void *)n->next);
	}
	atomic_store(&next_expected, k + 1);
	atomic_fetch_add(&nran, 1);
}

/* The checks leave pointers to this node and its successor in the dead
 * frames of the thread running the finalizer, where they would keep the
 * successor reachable (the collector scans that thread's stack): they are
 * overwritten before returning. */
static void
fin_node(void *obj, void *arg)
{
	check_node(obj, arg);
	check_clear_stack();
	*(void *volatile *)&obj = NULL;
}

/* Builds the chain tail first and drops it. */
static __attribute__((noinline)) void
make_chain(void)
{
	struct node *next = NULL;

	for (long k = N - 1; k >= 0; k--) {
		struct node *n = mgc_alloc(sizeof *n);

		CHECK(n != NULL, "mgc_alloc failed (errno %d)", errno);
		n->next = next;
		n->index = k;
		n->check = node_check(k);
		hidden[k] = (uintptr_t)n ^ HIDE_MASK;
		CHECK(mgc_set_finalizer(n, fin_node, &hidden[0]) == 0,
		      "mgc_set_finalizer(node %ld) failed: %s", k, strerror(errno));
		next = n;
	}
}

/* Node k's finalizer was queued by a collection that reclaimed node k - 1,
 * and that collection is over.  Checked in a function of its own, so that
 * the node addresses it handles do not linger in main's registers, where
 * they would keep the next nodes alive. */
static __attribute__((noinline)) long
check_reclaimed(long checked, long next)
{
	for (; checked < next; checked++)
		CHECK(mgc_base(unhide(checked - 1), NULL) != unhide(checked - 1),
		      "node %ld finalized, node %ld (%p) still live after the collection", checked,
		      checked - 1, unhide(checked - 1));
	return checked;
}

static uint64_t
num_gc(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	return s.num_gc;
}

int
main(void)
{
	uint64_t gc0;
	long ran = 0, checked = 1;
	int i;

	make_chain();
	gc0 = num_gc();
	for (i = 0; i < MAX_ROUNDS && (ran = atomic_load(&nran)) < N; i++) {
		uint64_t done = num_gc() - gc0;
		long next = atomic_load(&next_expected);

		CHECK((uint64_t)ran <= done, "%ld chain finalizers ran after %ju collections",
		      ran, (uintmax_t)done);
		checked = check_reclaimed(checked, next);
		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
		sched_yield();
	}
	CHECK_NOTED("finalizers");
	CHECK(ran == N, "only %ld of %d chain finalizers ran after %d rounds (next expected %ld)",
	      ran, N, i, atomic_load(&next_expected));
	return 0;
}
