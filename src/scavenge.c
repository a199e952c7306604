/* scavenge.c — the background scavenger: free heap pages go back to the OS
 * while the program runs, and a program that stops allocating gets one
 * collection, so that what it dropped goes back too.
 *
 * Go's scavenger is the model.  A thread of mgc's own, started after the
 * first collection (scavenge_start) and never registered (it holds no heap
 * pointer, and is never stopped or scanned), wakes every TICK_MS and after
 * each collection:
 *   - Releasing.  The heap keeps free pages for the allocation the next
 *     collection's goal still allows (gc_trigger - heap_live, in block
 *     bytes, plus an eighth for partly used spans) and a tenth of the pages
 *     in use; free pages beyond that are released (os_release), biggest
 *     spans first, STEP bytes per hold of the heap lock.  After each step it
 *     sleeps nine times as long as the step took, so releasing costs at most
 *     a tenth of one CPU.  The allocation path also releases, all at once,
 *     when free memory grows far past the goal (heap.c, maybe_scavenge).
 *   - Idle collection.  If a whole tick passed with little allocation (less
 *     than IDLE_ALLOC bytes) and no collection, and the program allocated a
 *     fair amount since the last collection (at least a 64th of the live
 *     heap, and 1 MiB), the heap may hold garbage that no allocation will
 *     ever trigger a collection for: collect once.  Nothing allocated since
 *     means nothing to gain, so an idle program is collected once, not
 *     every tick.
 * Automatic collection off (MGC_GCPERCENT=off, no limit) turns the idle
 * collection off too; releasing continues.
 *
 * Locking: `mu` guards started and the wake-up; the scavenger takes the gc
 * lock (through gc.c) and the heap lock, never while holding mu.  After
 * fork the child has no scavenger; scavenge_after_fork_child forgets it and
 * the next collection starts a new one.
 */
#include "internal.h"

#include <pthread.h>
#include <time.h>

enum {
	TICK_MS = 1000,
	STEP = 16 << 20,
	IDLE_ALLOC = 1 << 20,
	IDLE_MIN_GARBAGE = 1 << 20,
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool started; /* [mu] */
static bool kicked;  /* [mu] a collection ended since the last wake-up */

uint64_t
scavenge_free_keep(void)
{
	int64_t live = atomic_load_explicit(&heap_live, memory_order_relaxed);
	int64_t trigger = atomic_load_explicit(&gc_trigger, memory_order_relaxed);
	uint64_t ahead = trigger > live ? (uint64_t)(trigger - live) : 0;
	struct heap_figures h;
	heap_read_figures(&h);
	uint64_t keep = ahead + ahead / 8 + h.inuse_bytes / 10;
	uint64_t cap = heap_retain_goal();
	/* Under a memory limit the retain goal is the ceiling. */
	if (cap != 0 && h.inuse_bytes + keep > cap)
		keep = cap > h.inuse_bytes ? cap - h.inuse_bytes : 0;
	return keep;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void
release_excess(void)
{
	for (;;) {
		uint64_t t0 = now_ns();
		if (heap_scavenge(scavenge_free_keep(), STEP) == 0)
			return;
		sleep_ns((now_ns() - t0) * 9);
	}
}

/* Collect if the program went idle after allocating; `prev` is what
 * gc_alloc_since said at the previous tick. */
static void
maybe_collect_idle(uint64_t *prev)
{
	uint64_t last_end;
	uint64_t since = gc_alloc_since(&last_end);
	uint64_t during = since >= *prev ? since - *prev : since;
	*prev = since;
	if (during >= IDLE_ALLOC || now_ns() - last_end < TICK_MS * 1000000ull)
		return;
	struct gc_figures g;
	gc_read_figures(&g);
	int64_t live = atomic_load_explicit(&heap_live, memory_order_relaxed);
	uint64_t garbage_min = live > 0 ? (uint64_t)live / 64 : 0;
	if (!g.enabled || since < IDLE_MIN_GARBAGE || since < garbage_min)
		return;
	gc_collect_idle();
	*prev = 0;
}

static void
wait_tick(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += TICK_MS / 1000;
	pthread_mutex_lock(&mu);
	while (!kicked)
		if (pthread_cond_timedwait(&wake, &mu, &until) != 0)
			break;
	kicked = false;
	pthread_mutex_unlock(&mu);
}

static void *
scavenger(void *arg)
{
	(void)arg;
	uint64_t prev = 0;
	for (;;) {
		wait_tick();
		release_excess();
		maybe_collect_idle(&prev);
	}
	return NULL;
}

void
scavenge_start(void)
{
	pthread_mutex_lock(&mu);
	if (!started)
		started = world_spawn_quiet(scavenger, NULL);
	kicked = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&mu);
}

/* In the child of fork: the scavenger did not come along.  mu is
 * re-initialised: the scavenger may have held it at the fork. */
void
scavenge_after_fork_child(void)
{
	pthread_mutex_init(&mu, NULL);
	pthread_cond_init(&wake, NULL);
	started = false;
	kicked = false;
}
