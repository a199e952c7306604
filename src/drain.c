/* drain.c — the parallel drain: the helper markers, the work they share,
 * and the end of a drain.
 *
 * Up to MAX_MARKERS-1 helper threads of mgc's own (MGC_MARKERS, default one
 * per CPU; drain_start_helpers, before the world stops) mark beside the
 * collecting thread, each with a marker of its own (internal.h).  A drain
 * (mark_drain) starts alone; once the collector has scanned DRAIN_ALONE
 * ranges and work is left, it opens the drain to the helpers
 * (drain_with_helpers), and from then on a marker that runs dry while
 * others have work asks for some: a marker with work and a hungry peer
 * (drain_peer_hungry) moves part of its stack to a shared pool
 * (drain_share), from which the hungry take.  The drain ends when every
 * marker that joined is idle, which is stable: only a marker with work
 * fills the pool, and it empties its own share before it goes idle.  While
 * the helpers may run, mark bits are set atomically (mark_set_parallel).
 *
 * The helpers are not registered threads: they are never stopped or
 * scanned, sleep on helper_wake between drains, and hold heap addresses
 * only while the world is stopped.  In the child of a fork they are gone:
 * drain_after_fork_child forgets them, and the next collection starts new
 * ones.
 *
 * Locking: everything here runs with the world stopped, on the collecting
 * thread or on a helper inside a drain, but for drain_start_helpers (gc
 * lock held, world running) and drain_after_fork_child.  The pool is
 * [pool_lock]; the drain's generation and whether it is open are
 * [helper_lock], on which the helpers sleep; both are leaves (the lock
 * order in internal.h).  A helper's marker is its own from the moment it
 * joins a drain until it leaves (`inside` counts those in one), the
 * collector's otherwise: the collector closes a drain, then waits until
 * `inside` is 0.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

/* A drain scans this many ranges alone before it wakes the helpers: most
 * drains (a root range, a finalization pass) are over by then, and a
 * wake-up costs more than they do. */
enum { DRAIN_ALONE = 512, POOL_MAX = 1024, SHARE_MAX = 128 };

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct range pool[POOL_MAX] MGC_STATE; /* [pool_lock]; heap addresses: not a root */
_Atomic size_t drain_pool_n;                  /* [pool_lock] to change; read as a hint without it */
_Atomic unsigned drain_idle;                  /* markers of this drain out of work */
static _Atomic unsigned joined;               /* markers in this drain, the collector included */

static pthread_mutex_t helper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_wake = PTHREAD_COND_INITIALIZER;
static unsigned drain_gen;      /* [helper_lock] one per parallel drain */
static bool drain_open;         /* [helper_lock] helpers may join the current drain */
static _Atomic unsigned inside; /* helpers that joined and have not left */
static unsigned nhelpers;       /* [gc lock] helpers started: markers[1..nhelpers] */
static unsigned drain_markers;  /* [helper_lock] markers that may join (knobs.markers) */
static bool helpers_failed;     /* [gc lock] a helper could not be started */

size_t
drain_alone_budget(void)
{
	return nhelpers > 0 && knobs.markers > 1 ? DRAIN_ALONE : SIZE_MAX;
}

/* A peer is out of work: give it part of m's stack.  The bottom of the
 * stack holds the oldest pushes (in a tree, the biggest subtrees); a deep
 * stack gives its top instead, to spare moving the rest. */
void
drain_share(struct marker *m)
{
	pthread_mutex_lock(&pool_lock);
	size_t have = atomic_load_explicit(&drain_pool_n, memory_order_relaxed);
	size_t n = m->depth / 2;
	if (n > SHARE_MAX)
		n = SHARE_MAX;
	if (n > POOL_MAX - have)
		n = POOL_MAX - have;
	if (m->depth <= 4 * SHARE_MAX) {
		memcpy(pool + have, m->stack, n * sizeof *pool);
		memmove(m->stack, m->stack + n, (m->depth - n) * sizeof *m->stack);
	} else {
		memcpy(pool + have, m->stack + m->depth - n, n * sizeof *pool);
	}
	m->depth -= n;
	atomic_store_explicit(&drain_pool_n, have + n, memory_order_relaxed);
	pthread_mutex_unlock(&pool_lock);
}

/* Move half the pool (at least one range) onto m's empty stack; false if
 * there was nothing to take. */
static bool
take(struct marker *m)
{
	if (atomic_load_explicit(&drain_pool_n, memory_order_relaxed) == 0)
		return false;
	pthread_mutex_lock(&pool_lock);
	size_t have = atomic_load_explicit(&drain_pool_n, memory_order_relaxed);
	size_t n = have - have / 2;
	if (n > m->capacity - m->depth)
		n = m->capacity - m->depth;
	memcpy(m->stack + m->depth, pool + have - n, n * sizeof *pool);
	m->depth += n;
	atomic_store_explicit(&drain_pool_n, have - n, memory_order_relaxed);
	pthread_mutex_unlock(&pool_lock);
	return n > 0;
}

/* Out of work: wait until the pool has some (true, taken) or every marker
 * of the drain is out of work too (false: the drain is over). */
static bool
wait_for_work(struct marker *m)
{
	atomic_fetch_add(&drain_idle, 1);
	for (;;) {
		if (atomic_load(&drain_pool_n) > 0) {
			atomic_fetch_sub(&drain_idle, 1);
			if (take(m))
				return true;
			atomic_fetch_add(&drain_idle, 1);
		}
		if (atomic_load(&drain_idle) == atomic_load(&joined))
			return false;
		sched_yield();
	}
}

/* Marker m's part of a parallel drain. */
static void
drain_together(struct marker *m)
{
	do
		mark_drain_sharing(m);
	while (take(m) || wait_for_work(m));
}

/* This thread is a helper marker: what it runs outside mgc (trace
 * functions) runs inside a drain, with the world stopped. */
static __thread bool on_helper;

bool
drain_helper_here(void)
{
	return on_helper;
}

static void *
helper_main(void *arg)
{
	struct marker *m = arg;
	unsigned seen = 0;
	on_helper = true;
	pthread_mutex_lock(&helper_lock);
	for (;;) {
		while (!drain_open || drain_gen == seen)
			pthread_cond_wait(&helper_wake, &helper_lock);
		seen = drain_gen;
		if ((unsigned)(m - markers) >= drain_markers)
			continue; /* mgc_set_markers left this one out */
		atomic_fetch_add(&joined, 1);
		atomic_fetch_add(&inside, 1);
		pthread_mutex_unlock(&helper_lock);
		if (m->capacity == 0)
			mark_grow_stack(m); /* on failure it takes nothing and only idles */
		drain_together(m);
		atomic_fetch_sub(&inside, 1);
		pthread_mutex_lock(&helper_lock);
	}
	return NULL;
}

/* The collector's drain with the helpers: open it, work, close it, and
 * wait until every helper that joined has left. */
void
drain_with_helpers(void)
{
	atomic_store(&drain_idle, 0);
	atomic_store(&joined, 1);
	bool was_parallel = mark_parallel(); /* a concurrent cycle's stays on */
	mark_set_parallel(true);
	pthread_mutex_lock(&helper_lock);
	drain_gen++;
	drain_markers = knobs.markers;
	drain_open = true;
	pthread_cond_broadcast(&helper_wake);
	pthread_mutex_unlock(&helper_lock);
	drain_together(COLLECTOR);
	pthread_mutex_lock(&helper_lock);
	drain_open = false;
	pthread_mutex_unlock(&helper_lock);
	while (atomic_load(&inside) != 0)
		sched_yield();
	mark_set_parallel(was_parallel);
}

void
drain_start_helpers(void)
{
	MGC_ASSERT(knobs.markers >= 1 && knobs.markers <= MAX_MARKERS); /* util.c clamps it */
	while (nhelpers < knobs.markers - 1 && !helpers_failed) {
		if (world_spawn_quiet(helper_main, &markers[nhelpers + 1]))
			nhelpers++;
		else
			helpers_failed = true; /* mark with those there are */
	}
}

/* In the child of fork: the helpers did not come along. */
void
drain_after_fork_child(void)
{
	pthread_mutex_init(&pool_lock, NULL);
	pthread_mutex_init(&helper_lock, NULL);
	pthread_cond_init(&helper_wake, NULL);
	drain_open = false;
	atomic_store(&inside, 0);
	nhelpers = 0;
	helpers_failed = false;
}
