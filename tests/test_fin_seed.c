/* test_fin_seed — the seed's test/mallocfin.go: finalizer ordering.
 *
 * N = 250 pairs: B = {n}, A = {b, n}; finalizers on both.  A reaches B, so
 * A's finalizer must run first, and B's only once A has been reclaimed.
 * final[n] is the seed's state machine: 0 -> 1 in A's finalizer, 1 -> 2 in
 * B's; a finalizer that finds another state records an error (checked in
 * main, as is B's contents).  At the end, for every B finalized, A (its
 * address kept hidden from the collector) must no longer be a live block.
 *
 * The seed sets GOMAXPROCS 4: here 4 threads allocate the pairs (pair n by
 * thread n % 4) and exit, then the main thread runs the seed's loop, up to
 * N times { mgc_collect(); mgc_run_finalizers(); sched_yield(); } (finalizers
 * also run on the background runner).  At least 90% of the B finalizers must
 * have run.  Automatic collection is off while the threads allocate, so that
 * no block is reclaimed (and its address reused) before they are done.
 */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define N 250
#define NTHREADS 4
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

struct b {
	long n;
};

struct a {
	struct b *b;
	long n;
};

static atomic_int final[N];
static atomic_int nfinal;
static atomic_int nfinal_a;
static uintptr_t hidden_a[N];	/* A's address xor HIDE_MASK: not a root */

/* Errors seen by finalizers: counted, the first one described. */

static void
final_a(void *obj, void *arg)
{
	struct a *a = obj;
	int want = 0;
	long n = a->n;

	(void)arg;
	if (mgc_base(a, NULL) != a) {
		check_note("finalA: %p is not a live block", obj);
		return;
	}
	if (n < 0 || n >= N) {
		check_note("finalA: block %p holds n = %ld", obj, n);
		return;
	}
	if (a->b == NULL || mgc_base(a->b, NULL) != a->b || a->b->n != n)
		check_note("finalA %ld: B %p not intact (n %ld)", n, (void *)a->b,
			   a->b != NULL ? a->b->n : -1L);
	if (!atomic_compare_exchange_strong(&final[n], &want, 1))
		check_note("finalA %ld: final[%ld] = %d, want 0", n, n, want);
	atomic_fetch_add(&nfinal_a, 1);
}

static void
final_b(void *obj, void *arg)
{
	struct b *b = obj;
	int want = 1;
	long n = b->n;

	(void)arg;
	if (mgc_base(b, NULL) != b) {
		check_note("finalB: %p is not a live block", obj);
		return;
	}
	if (n < 0 || n >= N) {
		check_note("finalB: block %p holds n = %ld", obj, n);
		return;
	}
	if (!atomic_compare_exchange_strong(&final[n], &want, 2)) {
		check_note("finalB %ld: final[%ld] = %d, want 1", n, n, want);
		return;
	}
	atomic_fetch_add(&nfinal, 1);
}

static void *
alloc_pairs(void *arg)
{
	long t = (long)(intptr_t)arg;

	for (long n = t; n < N; n += NTHREADS) {
		struct b *b = mgc_alloc(sizeof *b);
		struct a *a = mgc_alloc(sizeof *a);

		CHECK(b != NULL && a != NULL, "mgc_alloc failed (errno %d)", errno);
		b->n = n;
		a->b = b;
		a->n = n;
		hidden_a[n] = (uintptr_t)a ^ HIDE_MASK;
		CHECK(mgc_set_finalizer(b, final_b, NULL) == 0,
		      "mgc_set_finalizer(B %ld) failed: %s", n, strerror(errno));
		CHECK(mgc_set_finalizer(a, final_a, NULL) == 0,
		      "mgc_set_finalizer(A %ld) failed: %s", n, strerror(errno));
	}
	return NULL;
}

int
main(void)
{
	pthread_t tid[NTHREADS];
	int old, i;

	mgc_init();
	old = mgc_set_gc_percent(-1);
	for (long t = 0; t < NTHREADS; t++)
		CHECK(pthread_create(&tid[t], NULL, alloc_pairs, (void *)(intptr_t)t) == 0,
		      "pthread_create failed");
	for (int t = 0; t < NTHREADS; t++)
		CHECK(pthread_join(tid[t], NULL) == 0, "pthread_join failed");
	mgc_set_gc_percent(old);

	for (i = 0; i < N && atomic_load(&nfinal) < N; i++) {
		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
		sched_yield();
	}
	CHECK_NOTED("finalizers");
	/* The collection that queued B's finalizer reclaimed A, and it is
	 * over (nothing has been allocated since, to reuse A's address). */
	for (int n = 0; n < N; n++) {
		void *a = (void *)(hidden_a[n] ^ HIDE_MASK);

		CHECK(atomic_load(&final[n]) != 2 || mgc_base(a, NULL) != a,
		      "B %d was finalized but A %p is still a live block", n, a);
	}
	CHECK(atomic_load(&nfinal) >= N * 9 / 10,
	      "not enough finalizing: %d/%d B finalizers (%d A) after %d collections",
	      atomic_load(&nfinal), N, atomic_load(&nfinal_a), i);
	return 0;
}
