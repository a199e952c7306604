/* gc.c — the collection driver: when to collect, and the phases.
 *
 * A collection, under gc_lock:
 *   1. Finish the previous cycle's sweep (sweep_finish): marking needs
 *      every mark bit clear and every span swept.
 *   2. List the data/bss segments (roots.c); the rest runs inside the
 *      loader-lock callback, so no listed library is unloaded meanwhile.
 *   3. Take the thread lock and stop the world (world.c).  A thread is
 *      never stopped inside an allocator lock or a busy section, so the
 *      collector may then touch every cache and span.
 *   4. Empty every thread cache back to its spans: after the collection
 *      each block handed out comes from a swept span.
 *   5. Start a sweep generation and snapshot the in-use spans (heap.c).
 *   6. Mark from the roots: segments, added ranges, every registered
 *      thread's stack (from its saved stack pointer to its base, registers
 *      spilled on it) and static TLS blocks (mark.c).
 *   7. With MGC_CHECKMARK (the default in debug builds), mark again from
 *      the same roots with a simple marker and abort if the real mark
 *      missed a block (checkmark.c); then the finalization passes
 *      (finalize.c); in debug builds, check the heap (verify.c).
 *   8. Hand the snapshot to the sweeper, restart the world, release the
 *      locks.  The pause is steps 3-8.
 *   9. Pace the next collection; print the trace line.
 *  10. mgc_collect sweeps everything before returning; a collection that
 *      started by itself leaves the sweep to allocation (sweep.c).
 *
 * Pacing.  heap_live is the marked bytes plus each thread's allocations
 * minus its frees since the mark, which threads add from their slow paths
 * (cache_publish: refills, cache overflows, large blocks), so it follows
 * alloc within a few cache batches per thread without a shared counter on
 * the fast path.  A collection starts (gc_auto, called from allocation slow
 * paths) when it reaches gc_trigger = marked × (1 + percent/100), at least
 * 4 MiB.
 *
 * Locking: gc_lock (roots.c) is the top of the lock order.  The figures
 * below are [gc lock].
 */
#include "internal.h"

#include <stdio.h>

enum { MIN_HEAP = 4 << 20 };

_Atomic int64_t heap_live;
_Atomic int64_t gc_trigger = MIN_HEAP;
bool gc_stress;

static int percent;                  /* [gc lock] -1: off */
static uint64_t min_heap = MIN_HEAP; /* [gc lock] */
static uint64_t live_after;          /* [gc lock] marked bytes of the last cycle */
static struct gc_figures figs;       /* [gc lock] */
static _Atomic uint64_t completed;   /* [atomic] copy of figs.num_gc */
static uint64_t start_ns;

struct cycle {
	size_t stopped;
	uint64_t pause_ns;
	uint64_t heap_before, blocks_before;
	struct mark_result mark;
	struct special_result special;
};

/* ---- pacing -------------------------------------------------------------- */

static uint64_t
goal(void)
{
	if (percent < 0)
		return UINT64_MAX;
	uint64_t g = live_after + live_after / 100 * (uint64_t)percent +
	             live_after % 100 * (uint64_t)percent / 100;
	return g < min_heap ? min_heap : g;
}

static void
set_goal_locked(void)
{
	figs.next_gc = goal();
	figs.enabled = percent >= 0;
	/* next_gc counts block bytes; the pages holding them are up to a
	 * quarter more (partly used spans, class rounding). */
	heap_set_retain_goal(percent < 0 ? 0 : figs.next_gc + figs.next_gc / 4);
	atomic_store(&gc_trigger, figs.next_gc > INT64_MAX ? INT64_MAX : (int64_t)figs.next_gc);
}

int
mgc_set_gc_percent(int p)
{
	mgc_init();
	lock_acquire(&gc_lock);
	int old = percent;
	percent = p < 0 ? -1 : p;
	set_goal_locked();
	lock_release(&gc_lock);
	return old;
}

size_t
mgc_set_min_heap(size_t bytes)
{
	mgc_init();
	lock_acquire(&gc_lock);
	size_t old = (size_t)min_heap;
	min_heap = bytes == 0 ? MIN_HEAP : bytes;
	set_goal_locked();
	lock_release(&gc_lock);
	return old;
}

/* ---- the stop-the-world part --------------------------------------------- */

static void
scan_root(uintptr_t lo, uintptr_t hi, void *arg)
{
	uint64_t *bytes = arg;
	*bytes += hi - lo;
	mark_range(lo, hi);
}

/* Every registered thread's stack and TLS; for the collecting thread, from
 * self_lo up (stopped_phase's frame, where its registers were spilled). */
static uint64_t
mark_threads(uintptr_t self_lo)
{
	uint64_t bytes = 0;
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t)) {
		uintptr_t lo = t == tls_thread
		                       ? self_lo
		                       : atomic_load_explicit(&t->stack_lo, memory_order_acquire);
		scan_root(lo, t->stack_hi, &bytes);
		scan_root((uintptr_t)&t->pinned, (uintptr_t)(&t->pinned + 1), &bytes);
		for (int i = 0; i < t->ntls; i++)
			scan_root(t->tls[i][0], t->tls[i][1], &bytes);
	}
	return bytes;
}

static void
count_before(struct cycle *cy)
{
	struct counters k;
	uint64_t blocks, bytes;
	thread_sum_counters_locked(&k);
	sweep_read_counts(&blocks, &bytes);
	cy->heap_before = k.bytes_alloc - k.bytes_freed - bytes;
	cy->blocks_before = k.nmalloc - k.nfree - blocks;
}

static NOINLINE void stopped_work(struct cycle *cy, uintptr_t self_lo);

/* The collecting thread's registers are spilled into this frame, and its
 * stack is scanned from here up, by the mark and the checkmark alike.  The
 * work runs in a frame of its own below: this frame holds nothing else, so
 * no heap address that the work leaves in a spill slot, at the same depth
 * in every collection, is found by the next one. */
static NOINLINE void
stopped_phase(struct cycle *cy)
{
	__builtin_unwind_init();
	volatile uintptr_t here = 0;
	stopped_work(cy, (uintptr_t)&here);
	(void)here;
}

static NOINLINE void
stopped_work(struct cycle *cy, uintptr_t self_lo)
{
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t)) {
		cache_flush_locked(&t->cache);
		t->cache.published =
		        counter_read(&t->cache.bytes_alloc) - counter_read(&t->cache.bytes_freed);
	}
	count_before(cy);
	central_release_empty_locked();
	struct sweep_item *items;
	size_t n = heap_begin_cycle(&items);
	mark_set_spans(items, n);
	mark_begin(live_after);
	uint64_t root_bytes = 0;
	roots_each_segment(scan_root, &root_bytes);
	roots_each_added(scan_root, &root_bytes);
	uint64_t stack_bytes = mark_threads(self_lo);
	special_mark_roots();
	mark_add_root_bytes(root_bytes, stack_bytes);
	mark_forget_dropped();
	if (knobs.checkmark)
		checkmark_stopped(items, n, self_lo);
	special_after_mark(&cy->special);
	mark_end(&cy->mark);
	if (MGC_DEBUG)
		verify_heap(items, n);
	atomic_store(&heap_live, (int64_t)cy->mark.marked_bytes);
	sweep_begin(items, n, atomic_load(&heap_sweepgen));
}

static void
stop_and_mark(void *arg)
{
	struct cycle *cy = arg;
	thread_lock_registry();
	uint64_t t0 = now_ns();
	cy->stopped = world_stop();
	stopped_phase(cy);
	world_start();
	cy->pause_ns = now_ns() - t0;
	thread_unlock_registry();
}

/* ---- the driver ---------------------------------------------------------- */

static void
trace(const struct cycle *cy)
{
	double mib = 1024.0 * 1024.0;
	fprintf(stderr,
	        "mgc: gc %llu @%.3fs pause %.3fms: heap %.1f -> %.1f -> %.1f MiB, %llu blocks "
	        "freed, "
	        "%zu threads stopped, roots %llu KiB, stacks %llu KiB, %llu finalizers queued, "
	        "%llu finalizable blocks held back (ordering or cycles)\n",
	        (unsigned long long)figs.num_gc, (double)(now_ns() - start_ns) / 1e9,
	        (double)cy->pause_ns / 1e6, (double)cy->heap_before / mib,
	        (double)cy->mark.marked_bytes / mib,
	        figs.next_gc == UINT64_MAX ? 0.0 : (double)figs.next_gc / mib,
	        (unsigned long long)(cy->blocks_before - cy->mark.marked_blocks), cy->stopped,
	        (unsigned long long)cy->mark.root_bytes / 1024,
	        (unsigned long long)cy->mark.stack_bytes / 1024,
	        (unsigned long long)cy->special.queued, (unsigned long long)cy->special.held_back);
}

/* One collection; gc lock held, previous sweep finished. */
static void
collect_locked(void)
{
	struct cycle cy = {0};
	central_release_empty();
	mark_start_helpers();
	roots_collect_then(stop_and_mark, &cy);
	figs.num_gc++;
	figs.pause_last_ns = cy.pause_ns;
	figs.pause_total_ns += cy.pause_ns;
	if (cy.pause_ns > figs.pause_max_ns)
		figs.pause_max_ns = cy.pause_ns;
	live_after = cy.mark.marked_bytes;
	set_goal_locked();
	atomic_store(&completed, figs.num_gc);
	if (knobs.trace)
		trace(&cy);
	special_wake_runner();
}

void
gc_auto(void)
{
	uint64_t seen = atomic_load(&completed);
	lock_acquire(&gc_lock);
	if (gc_stress || atomic_load(&completed) == seen) {
		sweep_finish();
		if (gc_stress || gc_due())
			collect_locked();
	}
	lock_release(&gc_lock);
}

void
mgc_collect(void)
{
	if (thread_attach() == NULL)
		return;
	wipe_traces();
	lock_acquire(&gc_lock);
	sweep_finish();
	collect_locked();
	sweep_finish();
	central_release_empty();
	lock_release(&gc_lock);
	heap_release_free();
}

void
gc_read_figures(struct gc_figures *out)
{
	lock_acquire(&gc_lock);
	*out = figs;
	lock_release(&gc_lock);
}

/* ---- fork ----------------------------------------------------------------
 * In the child of fork every lock of mgc must be free and what it guards
 * whole, whatever the parent's other threads were doing: the child keeps
 * only the forking thread.  Each lock is held by the forking thread across
 * fork() (taken in fork_prepare, released in both processes), or shown
 * free by the stop, or re-initialised in the child:
 *   tls_walk_lock         held, taken before everything (thread.c): no
 *                         registering thread is inside dl_iterate_phdr, whose
 *                         loader lock glibc's fork does not take.
 *   gc_lock, thread_lock  held, taken next: no collection runs and no
 *                         thread joins or leaves the registry meanwhile;
 *                         the sweep is finished before the world stops.
 *   heap lock,            held, taken after the world is stopped.  A
 *   fixalloc_lock         registered thread holding or waiting for one is
 *                         busy and stops only once it has let go, so taking
 *                         one before the stop could deadlock with it.  After
 *                         the stop only unregistered threads can hold them:
 *                         mgc_read_stats takes the heap lock without
 *                         registering its caller, thread_attach and
 *                         thread_detach take fixalloc_lock for the thread's
 *                         record while it is not registered.  Such a thread
 *                         holds the lock briefly and waits for nothing held
 *                         here.
 *   central locks,        free once the world is stopped: only registered
 *   special lock          threads (busy while they hold one) take them, and
 *                         for the centrals the holder of the gc lock too
 *                         (central.c, finalize.c).  Not held across fork:
 *                         ThreadSanitizer aborts a thread that holds more
 *                         than 64 locks, and there are 192 centrals.  Debug
 *                         builds check in the child that they are free.
 *   wake_mutex, helper    re-initialised in the child (finalize.c, mark.c,
 *   and pool locks, the   world.c): their other users, the finalizer runner
 *   acks semaphore        and the helper markers, are not in the child, and
 *                         the state they guard is reset there.
 * pthread_atfork runs prepare handlers in the reverse order of their
 * registration and the others in order, so a library that registers its own
 * after mgc_init (the Boehm-compatible one does) takes its locks before
 * these and releases them after. */

static void
fork_prepare(void)
{
	thread_fork_prepare();
	lock_acquire(&gc_lock);
	sweep_finish();
	thread_lock_registry();
	world_stop();
	heap_lock();
	lock_acquire(&fixalloc_lock);
}

static void
fork_parent(void)
{
	lock_release(&fixalloc_lock);
	heap_unlock();
	world_start();
	thread_unlock_registry();
	lock_release(&gc_lock);
	thread_fork_done();
}

static void
fork_child(void)
{
	lock_release(&fixalloc_lock);
	heap_unlock();
	central_after_fork_child();
	thread_after_fork_child();
	special_after_fork_child();
	mark_after_fork_child();
	world_after_fork_child();
	thread_unlock_registry();
	lock_release(&gc_lock);
	thread_fork_done();
}

void
gc_init(void)
{
	start_ns = now_ns();
	percent = knobs.gc_percent;
	gc_stress = knobs.collect_every;
	set_goal_locked();
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
		fatal("mgc: pthread_atfork failed");
}
