/* test_thread_fin_race — finalizers and weak handles under concurrent
 * collections.
 *
 * Finalizers: 4 threads each loop { mgc_collect(); mgc_run_finalizers(); }
 * while the main thread drops NFIN finalizable blocks (10,000; 1,000 under
 * ThreadSanitizer), so the background runner and the 4 threads race for
 * the queue.  Each finalizer counts its block in a per-block atomic
 * counter: no block is finalized twice (checked by the finalizer and again
 * at the end), and at least 90% are finalized.  The loops stop once all
 * ran, or after a bounded number of rounds.
 *
 * Weak handles: NWEAK = 1000 handles, half on blocks kept in a global
 * array, half on dropped blocks (their addresses kept hidden from the
 * collector).  4 threads read every handle in a loop while another thread
 * collects: a handle of a kept block always reads its pointer; one of a
 * dropped block reads its pointer or NULL, never anything else, and once
 * NULL stays NULL for that reader.  At the end (readers gone, a collection
 * after) at least 90% of the dropped blocks' handles read NULL.
 */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NTHREADS 4
#define NFIN (UNDER_TSAN ? 1000 : 10000)
#define BATCH 100
#define POST_ROUNDS (UNDER_TSAN ? 50 : 300)
#define NWEAK 1000
#define READ_PASSES (UNDER_TSAN ? 10 : 200)
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

struct fobj {
	long index;
	uint64_t check;
};

static atomic_int fin_count[NFIN];
static atomic_long fin_total;
static atomic_int twice;
static atomic_bool dropping_done;

static mgc_weak *handles[NWEAK];
static void *volatile kept[NWEAK / 2];	/* volatile: written only, yet a root */
static uintptr_t hidden[NWEAK];	/* the pointers given, xor HIDE_MASK */
static atomic_bool readers_done;

static void
fin(void *obj, void *arg)
{
	struct fobj *o = obj;
	long i = o->index;

	(void)arg;
	if (i < 0 || i >= NFIN || o->check != check_mix((uint64_t)i)) {
		atomic_fetch_add(&twice, 1000000);
		return;
	}
	if (atomic_fetch_add(&fin_count[i], 1) != 0)
		atomic_fetch_add(&twice, 1);
	atomic_fetch_add(&fin_total, 1);
}

static void *
collector(void *arg)
{
	long rounds = 0;

	(void)arg;
	for (;;) {
		if (atomic_load(&dropping_done)) {
			if (atomic_load(&fin_total) >= NFIN || rounds++ >= POST_ROUNDS)
				break;
		}
		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
		sched_yield();
	}
	return NULL;
}

static __attribute__((noinline)) void
drop_batch(long from)
{
	for (long i = from; i < from + BATCH && i < NFIN; i++) {
		struct fobj *o = mgc_alloc(sizeof *o);

		CHECK(o != NULL, "mgc_alloc failed (errno %d)", errno);
		o->index = i;
		o->check = check_mix((uint64_t)i);
		CHECK(mgc_set_finalizer(o, fin, NULL) == 0, "mgc_set_finalizer failed: %s",
		      strerror(errno));
	}
}

static void
test_finalizers(void)
{
	pthread_t tid[NTHREADS];
	long n = 0;

	for (int t = 0; t < NTHREADS; t++)
		CHECK(pthread_create(&tid[t], NULL, collector, NULL) == 0, "pthread_create failed");
	for (long i = 0; i < NFIN; i += BATCH) {
		drop_batch(i);
		check_clear_stack();
	}
	atomic_store(&dropping_done, true);
	for (int t = 0; t < NTHREADS; t++)
		CHECK(pthread_join(tid[t], NULL) == 0, "pthread_join failed");
	/* The runner may still be busy: settle in this thread. */
	for (int r = 0; r < 100; r++) {
		mgc_stats s;

		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
		mgc_read_stats(&s);
		if (s.finalizers_queued == s.finalizers_run && atomic_load(&fin_total) >= NFIN)
			break;
		sched_yield();
	}
	CHECK(atomic_load(&twice) == 0, "finalizers ran twice or got a bad object (%d)",
	      atomic_load(&twice));
	for (int i = 0; i < NFIN; i++) {
		int c = atomic_load(&fin_count[i]);

		CHECK(c <= 1, "the finalizer of block %d ran %d times", i, c);
		n += c;
	}
	CHECK(n == atomic_load(&fin_total), "counted %ld finalizer runs, %ld recorded", n,
	      atomic_load(&fin_total));
	CHECK(n >= NFIN * 9 / 10, "%ld of %d finalizers ran", n, NFIN);
}

static void *
reader(void *arg)
{
	static _Thread_local bool was_null[NWEAK];

	(void)arg;
	for (int pass = 0; pass < READ_PASSES; pass++) {
		for (int i = 0; i < NWEAK; i++) {
			void *v = mgc_weak_get(handles[i]);
			void *want = (void *)(hidden[i] ^ HIDE_MASK);

			if (i % 2 == 0) {
				CHECK(v == want, "handle %d of a kept block reads %p, want %p", i, v,
				      want);
				continue;
			}
			CHECK(v == NULL || v == want, "handle %d of a dropped block reads %p, want "
			      "%p or NULL", i, v, want);
			CHECK(!was_null[i] || v == NULL, "handle %d of a dropped block read NULL, "
			      "then %p", i, v);
			was_null[i] = v == NULL;
		}
		sched_yield();
	}
	return NULL;
}

static void *
weak_collector(void *arg)
{
	(void)arg;
	while (!atomic_load(&readers_done)) {
		mgc_collect();
		sched_yield();
	}
	return NULL;
}

/* Even handles on blocks kept in kept[], odd ones on dropped blocks. */
static __attribute__((noinline)) void
make_weak(void)
{
	for (int i = 0; i < NWEAK; i++) {
		char *p = mgc_alloc(48);

		CHECK(p != NULL, "mgc_alloc failed (errno %d)", errno);
		if (i % 2 == 0)
			kept[i / 2] = p;
		hidden[i] = (uintptr_t)(p + i % 48) ^ HIDE_MASK;
		handles[i] = mgc_weak_new(p + i % 48);
		CHECK(handles[i] != NULL, "mgc_weak_new failed: %s", strerror(errno));
	}
}

static void
test_weak(void)
{
	pthread_t tid[NTHREADS], col;
	int nulls = 0;

	make_weak();
	check_clear_stack();
	CHECK(pthread_create(&col, NULL, weak_collector, NULL) == 0, "pthread_create failed");
	for (int t = 0; t < NTHREADS; t++)
		CHECK(pthread_create(&tid[t], NULL, reader, NULL) == 0, "pthread_create failed");
	for (int t = 0; t < NTHREADS; t++)
		CHECK(pthread_join(tid[t], NULL) == 0, "pthread_join failed");
	atomic_store(&readers_done, true);
	CHECK(pthread_join(col, NULL) == 0, "pthread_join failed");
	for (int r = 0; r < 3; r++) {
		check_clear_stack();
		mgc_collect();
	}
	for (int i = 0; i < NWEAK; i++) {
		void *v = mgc_weak_get(handles[i]);
		void *want = (void *)(hidden[i] ^ HIDE_MASK);

		if (i % 2 == 0)
			CHECK(v == want, "handle %d of a kept block reads %p, want %p", i, v, want);
		else
			CHECK(v == NULL || v == want, "handle %d reads %p, want %p or NULL", i, v,
			      want);
		nulls += i % 2 && v == NULL;
	}
	CHECK(nulls >= NWEAK / 2 * 9 / 10, "%d of %d handles of dropped blocks read NULL", nulls,
	      NWEAK / 2);
}

int
main(void)
{
	mgc_init();
	test_finalizers();
	test_weak();
	return 0;
}
