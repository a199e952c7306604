/* gc.c — the collection driver: when to collect, and the phases.
 *
 * A collection, under gc_lock:
 *   1. Finish the previous cycle's sweep (sweep_finish): marking needs
 *      every mark bit clear and every span swept.  Give the spans on the
 *      centrals' empty lists back to the page heap (central.c), and start
 *      the helper markers that are not running yet (drain.c).
 *   2. List the data/bss segments (roots.c); the rest runs inside the
 *      loader-lock callback, so no listed library is unloaded meanwhile.
 *   3. Take the thread lock and stop the world (world.c).  A thread is
 *      never stopped inside an allocator lock or a busy section, so the
 *      collector may then touch every cache and span.
 *   4. Empty every thread cache back to its spans: after the collection
 *      each block handed out comes from a swept span.  Count the heap as
 *      the collection found it (for the trace and the pacer), and give
 *      back the spans emptied since step 1.
 *   5. Start a sweep generation and snapshot the in-use spans (heap.c).
 *   6. Mark from the roots: segments, added ranges, every registered
 *      thread's stack (from its saved stack pointer to its base, registers
 *      spilled on it), the large block it is allocating and its static
 *      TLS blocks, what the program's roots callback reports (roots.c),
 *      the uncollectable blocks and the contents of blocks of kinds traced
 *      whole (mark.c), then the arguments of finalizers and cleanups and
 *      the queued ones (finalize.c).
 *   7. With MGC_CHECKMARK (the default in debug builds), mark again from
 *      the same roots with a simple marker and abort if the real mark
 *      missed a block (checkmark.c).
 *   8. The finalization passes (finalize.c): weak handles of unmarked
 *      blocks are cleared; unreachable blocks with a finalizer are kept
 *      (they and what they reach are marked) and their finalizers queued;
 *      the cleanups of unmarked blocks are queued.  Then debug.c checks the
 *      guards of debug blocks and, in leak mode, finds (and keeps) the
 *      leaks.  In debug builds, check the heap (verify.c).
 *   9. Hand the snapshot to the sweeper, restart the world, release the
 *      locks.  The pause is steps 3-9.
 *  10. Pace the next collection; print the trace line; wake the finalizer
 *      runner if anything was queued, and the scavenger (scavenge.c).
 *      Once the gc lock is released, hand what debug.c found to the report
 *      callback.
 * The event callback (mgc_set_event_callback) runs before step 1 (START),
 * just after the stop and just before the restart (STOP, RESUME), and
 * after step 10's trace line (END).
 *  11. mgc_collect sweeps everything before returning; a collection that
 *      started by itself leaves the sweep to allocation (sweep.c).
 * With MGC_CONCURRENT=1, automatic collections run on a collector thread
 * as mostly-concurrent cycles: steps 3-9 split into two stops with
 * marking between them (the section "the mostly-concurrent cycle" below).
 *
 * Pacing.  heap_live is the marked bytes plus each thread's allocations
 * minus its frees since the mark, which threads add from their slow paths
 * (cache_publish: refills, cache overflows, large blocks), so it follows
 * alloc within a few cache batches per thread without a shared counter on
 * the fast path.  A collection starts (gc_auto, called from allocation slow
 * paths) when it reaches gc_trigger, the goal pace.c sets after each
 * collection from what this file measures (bytes marked, the collection's
 * time, the bytes allocated since the last one and the time that took).
 * Under a memory limit the page heap can also bring it forward
 * (gc_pressure), and the scavenger collects a program gone idle
 * (scavenge.c).
 *
 * Locking: gc_lock (roots.c) is the top of the lock order but for
 * tls_walk_lock, which fork_prepare takes first (internal.h).  The figures
 * below are [gc lock].
 */
#include "internal.h"

#include <stdio.h>
#include <time.h>

_Atomic int64_t heap_live;
_Atomic int64_t gc_trigger = 4 << 20;
bool gc_stress;

/* The figures mgc_read_stats and mgc_info report: written under the gc
 * lock and figs_mu, read under figs_mu alone, so that a reader does not
 * wait for a concurrent cycle (which holds the gc lock throughout).
 * figs_mu is a leaf. */
static struct gc_figures figs;
static pthread_mutex_t figs_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t completed; /* [atomic] copy of figs.num_gc */
static uint64_t start_ns;
static _Atomic uint64_t last_end_ns; /* [gc lock] to write: when the last collection ended */
static _Atomic uint64_t last_gc_ns;  /* [gc lock] to write: how long it took */
static uint64_t last_alloc_total;    /* [gc lock] bytes ever allocated, then */

/* The collection-event callback (mgc_set_event_callback).  [gc lock] */
static mgc_event_fn event_fn;
static void *event_arg;
static void
event(int e)
{
	if (event_fn != NULL)
		event_fn(e, event_arg);
}

/* Exclusive sections (mgc_call_exclusive).  A section starts under the gc
 * lock, so never during a collection, and counts itself in `exclusive`;
 * while any runs, automatic collections are skipped (the heap grows) and
 * full ones wait on excl_done.  Sections run without the gc lock, so their
 * functions may call into mgc, and into a library (the Boehm-compatible
 * one) whose locks come before mgc's, without inverting the lock order.
 * excl_mu is a leaf. */
static _Atomic unsigned exclusive;
static pthread_mutex_t excl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t excl_done = PTHREAD_COND_INITIALIZER;
static __thread unsigned in_exclusive; /* this thread's sections, nested */

void *
mgc_call_exclusive(void *(*fn)(void *), void *arg)
{
	mgc_init();
	if (in_exclusive == 0) {
		lock_acquire(&gc_lock);
		atomic_fetch_add(&exclusive, 1);
		lock_release(&gc_lock);
	}
	in_exclusive++;
	void *r = fn(arg);
	if (--in_exclusive == 0) {
		lock_plain(&excl_mu);
		if (atomic_fetch_sub(&exclusive, 1) == 1)
			pthread_cond_broadcast(&excl_done);
		pthread_mutex_unlock(&excl_mu);
	}
	return r;
}

/* Take the gc lock with no exclusive section running; false (lock not
 * taken) if the calling thread runs one itself. */
static bool
lock_outside_sections(void)
{
	if (in_exclusive > 0)
		return false;
	for (;;) {
		lock_acquire(&gc_lock);
		if (atomic_load(&exclusive) == 0)
			return true;
		lock_release(&gc_lock);
		lock_plain(&excl_mu);
		while (atomic_load(&exclusive) > 0)
			pthread_cond_wait(&excl_done, &excl_mu);
		pthread_mutex_unlock(&excl_mu);
	}
}

void
mgc_set_event_callback(mgc_event_fn fn, void *arg)
{
	mgc_init();
	lock_acquire(&gc_lock);
	event_fn = fn;
	event_arg = arg;
	lock_release(&gc_lock);
}

struct cycle {
	/* What the next stop runs: stopped_work, or a concurrent cycle's
	 * begin_work and end_work. */
	void (*work)(struct cycle *cy, uintptr_t self_lo);
	size_t stopped;
	uint64_t pause_ns;
	/* A concurrent cycle: each stop's time, the concurrent mark's, bytes
	 * rescanned as written (in the passes run concurrently, and in the
	 * final stop), and whether tracking was lost; the counters at the
	 * first stop, and the bytes allocated (less freed) since, which are
	 * live, allocated marked. */
	bool concurrent, lost;
	uint64_t stop_ns[2], conc_ns, dirty_pre, dirty_final;
	uint64_t start_alloc, start_freed, black_bytes, cycle_alloc;
	uint64_t heap_before, blocks_before, alloc_total;
	uint64_t held_before; /* memory mgc held when the collection started */
	struct mark_result mark;
	struct special_result special;
};

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
		thread_each_stack_range(t, lo, scan_root, &bytes);
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
	cy->alloc_total = k.bytes_alloc;
	cy->blocks_before = k.nmalloc - k.nfree - blocks;
	cy->held_before = heap_held();
}

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
	cy->work(cy, (uintptr_t)&here);
	(void)here;
}

/* Every thread cache back to its spans: after the stop, each block handed
 * out comes from a swept span (and, in a concurrent cycle, leaves its
 * central marked). */
static void
flush_caches_stopped(void)
{
	MGC_ASSERT(world_stopped_here());
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t)) {
		cache_flush_stopped(&t->cache);
		t->cache.published =
		        counter_read(&t->cache.bytes_alloc) - counter_read(&t->cache.bytes_freed);
	}
}

/* Step 6's roots.  The spans `items` are searched for uncollectable blocks
 * and blocks traced whole (none at a concurrent cycle's first stop). */
static void
mark_roots_stopped(uintptr_t self_lo, struct sweep_item *items, size_t n)
{
	MGC_ASSERT(world_stopped_here());
	uint64_t root_bytes = 0;
	roots_each_segment(scan_root, &root_bytes);
	roots_each_added(scan_root, &root_bytes);
	uint64_t stack_bytes = mark_threads(self_lo);
	mark_roots_callback();
	mark_uncollectable(items, n);
	mark_trace_all(items, n);
	special_mark_roots_stopped();
	if (items != NULL)
		mark_add_root_bytes(root_bytes, stack_bytes);
}

/* Steps 7-9, once everything reachable is marked. */
static void
finish_stopped(struct cycle *cy, uintptr_t self_lo, struct sweep_item *items, size_t n)
{
	MGC_ASSERT(world_stopped_here());
	mark_forget_dropped();
	if (knobs.checkmark)
		checkmark_stopped(items, n, self_lo);
	special_after_mark_stopped(&cy->special);
	debug_stopped(items, n);
	mark_end(&cy->mark);
	if (MGC_DEBUG)
		verify_heap_stopped(items, n, cy->concurrent);
	atomic_store(&heap_live, (int64_t)(cy->mark.marked_bytes + cy->black_bytes));
	sweep_begin_stopped(items, n, atomic_load(&heap_sweepgen));
}

static NOINLINE void
stopped_work(struct cycle *cy, uintptr_t self_lo)
{
	MGC_ASSERT(world_stopped_here());
	flush_caches_stopped();
	count_before(cy);
	central_release_empty_stopped();
	struct sweep_item *items;
	size_t n = heap_begin_cycle_stopped(&items);
	central_begin_sweep_stopped();
	mark_set_spans(items, n);
	mark_begin(pace_live_locked());
	mark_roots_stopped(self_lo, items, n);
	finish_stopped(cy, self_lo, items, n);
}

/* ---- the mostly-concurrent cycle -------------------------------------------
 * With MGC_CONCURRENT=1 and a dirty-page tracker (dirty.c), automatic
 * collections run on a collector thread of mgc's own, in two short stops
 * with marking between them while the program runs (Boehm, Demers and
 * Shenker, PLDI 1991):
 *   first stop (begin_work), just after tracking began (dirty_begin:
 *     every page counts as clean from there): caches flushed, the roots
 *     pushed but not scanned, gc_black set: from now on a block leaves its
 *     central marked, from spans of the cycle's own (central.c,
 *     take_fresh), a freed block is marked, and no span is torn down.
 *   concurrent (mark_running): the markers drain what the roots reached;
 *     then passes take the pages written meanwhile (tracking them afresh)
 *     and scan their marked blocks again, until few were written.
 *   final stop (end_work): caches flushed, gc_black cleared, deferred
 *     spans torn down, the sweep snapshot taken (mostly copied before the
 *     stop: heap_prepare_snapshot); the marked blocks on pages
 *     written since the last pass are scanned again, then every root as in
 *     a stop-the-world collection, and the rest of steps 6-9.
 * Why it is safe: every block allocated in the cycle is marked.  A marked
 * block's contents were scanned after their last change, or it lies on a
 * page written since it was scanned, which the final stop rescans; roots
 * are rescanned whole with the world stopped.  So at the end every pointer
 * held by a root or by a marked block leads to a marked block: everything
 * reachable is marked.  A block that was reachable only earlier in the
 * cycle may survive it (floating garbage), freed by the next.
 * Tracking lost in the cycle (dirty_collect fails) makes every page count
 * as written: the final stop rescans every marked block. */

/* Concurrent passes before the final stop, and the written bytes below
 * which the final stop takes the rest (rescanning costs about a
 * millisecond per MiB).  A program that writes about as fast as the
 * passes rescan would keep them from converging: from the second pass on,
 * allocating threads are slowed down (finishing, bg_request) until the
 * final stop. */
enum { PRECLEAN_PASSES = 8, PRECLEAN_ENOUGH = 1 << 20 };
static _Atomic bool finishing;

static void
rescan_written(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	mark_rescan(lo, hi);
}

static NOINLINE void
begin_work(struct cycle *cy, uintptr_t self_lo)
{
	MGC_ASSERT(world_stopped_here());
	cy->concurrent = true;
	flush_caches_stopped();
	count_before(cy);
	struct counters k;
	thread_sum_counters_locked(&k);
	cy->start_alloc = k.bytes_alloc;
	cy->start_freed = k.bytes_freed;
	central_release_empty_stopped();
	mark_begin(pace_live_locked());
	mark_set_parallel(true); /* threads set mark bits too, from now on */
	mark_push_only(true);
	mark_roots_stopped(self_lo, NULL, 0);
	mark_push_only(false);
	atomic_store(&gc_black, true);
}

static void
mark_running(struct cycle *cy)
{
	uint64_t t0 = now_ns();
	mark_drain_running();
	/* Soft-dirty bits are read and cleared in two steps: only with the
	 * world stopped (dirty.c). */
	int passes = dirty_backend() == DIRTY_UFFD ? PRECLEAN_PASSES : 0;
	for (int pass = 0; pass < passes; pass++) {
		int64_t written = dirty_collect(rescan_written, NULL);
		if (written < 0) {
			cy->lost = true;
			break;
		}
		cy->dirty_pre += (uint64_t)written;
		mark_drain_running();
		if (written < PRECLEAN_ENOUGH)
			break;
		atomic_store(&finishing, true);
	}
	atomic_store(&finishing, false);
	heap_prepare_snapshot();
	cy->conc_ns = now_ns() - t0;
}

static NOINLINE void
end_work(struct cycle *cy, uintptr_t self_lo)
{
	MGC_ASSERT(world_stopped_here());
	flush_caches_stopped();
	atomic_store(&gc_black, false);
	heap_free_deferred_stopped();
	central_release_empty_stopped();
	struct sweep_item *items;
	size_t n = heap_begin_cycle_stopped(&items);
	central_begin_sweep_stopped();
	mark_set_spans(items, n);
	int64_t written = cy->lost ? -1 : dirty_collect(rescan_written, NULL);
	if (written < 0)
		mark_rescan_all();
	else
		cy->dirty_final = (uint64_t)written;
	mark_drain();
	mark_roots_stopped(self_lo, items, n);
	mark_set_parallel(false);
	struct counters k;
	thread_sum_counters_locked(&k);
	int64_t net = (int64_t)(k.bytes_alloc - cy->start_alloc) -
	              (int64_t)(k.bytes_freed - cy->start_freed);
	cy->black_bytes = net > 0 ? (uint64_t)net : 0;
	cy->cycle_alloc = k.bytes_alloc - cy->start_alloc;
	finish_stopped(cy, self_lo, items, n);
}

static void
stop_and_mark(void *arg)
{
	struct cycle *cy = arg;
	thread_lock_registry();
	uint64_t t0 = now_ns();
	cy->stopped = world_stop();
	mark_phase_stopped(true);
	event(MGC_EVENT_STOP);
	stopped_phase(cy);
	event(MGC_EVENT_RESUME);
	mark_phase_stopped(false);
	world_start();
	uint64_t ns = now_ns() - t0;
	cy->pause_ns += ns;
	cy->stop_ns[cy->work == end_work] = ns;
	thread_unlock_registry();
}

/* ---- the driver ---------------------------------------------------------- */

static void
trace(const struct cycle *cy)
{
	double mib = 1024.0 * 1024.0;
	uint64_t goal = pace_goal_locked();
	fprintf(stderr,
	        "mgc: gc %llu @%.3fs pause %.3fms: heap %.1f -> %.1f -> %.1f MiB, %llu blocks "
	        "freed, "
	        "%zu threads stopped, roots %llu KiB, stacks %llu KiB, %llu finalizers queued, "
	        "%llu finalizable blocks held back (ordering or cycles)",
	        (unsigned long long)figs.num_gc, (double)(now_ns() - start_ns) / 1e9,
	        (double)cy->pause_ns / 1e6, (double)cy->heap_before / mib,
	        (double)cy->mark.marked_bytes / mib, goal == UINT64_MAX ? 0.0 : (double)goal / mib,
	        (unsigned long long)(cy->blocks_before - cy->mark.marked_blocks), cy->stopped,
	        (unsigned long long)cy->mark.root_bytes / 1024,
	        (unsigned long long)cy->mark.stack_bytes / 1024,
	        (unsigned long long)cy->special.queued, (unsigned long long)cy->special.held_back);
	if (cy->concurrent)
		fprintf(stderr,
		        "; concurrent (%s): stops %.3f + %.3f ms, mark %.1f ms, "
		        "written %llu + %llu KiB rescanned%s",
		        dirty_backend_name(), (double)cy->stop_ns[0] / 1e6,
		        (double)cy->stop_ns[1] / 1e6, (double)cy->conc_ns / 1e6,
		        (unsigned long long)cy->dirty_pre / 1024,
		        (unsigned long long)cy->dirty_final / 1024,
		        cy->lost ? ", tracking lost: every marked block rescanned" : "");
	fputc('\n', stderr);
}

static void end_cycle(struct cycle *cy, uint64_t t0);

/* One collection, stop-the-world or mostly-concurrent (see its section
 * above); gc lock held, previous sweep finished. */
static void
collect_locked(bool concurrent)
{
	MGC_ASSERT(lock_held(&gc_lock));
	event(MGC_EVENT_START);
	uint64_t t0 = now_ns();
	/* Tracking begins before the stop, which it would lengthen by the
	 * time it takes to protect the heap: a write between the two is
	 * tracked as well.  If it fails, the collection stops the world. */
	struct cycle cy = {.work = concurrent && dirty_begin() ? begin_work : stopped_work};
	central_release_empty();
	drain_start_helpers();
	roots_collect_then(stop_and_mark, &cy);
	if (cy.concurrent) {
		mark_running(&cy);
		cy.work = end_work;
		roots_collect_then(stop_and_mark, &cy);
		dirty_end(); /* after the stop: it unprotects every page */
	}
	end_cycle(&cy, t0);
}

/* Step 10: figures, pacing, the trace line, the wake-ups. */
static void
end_cycle(struct cycle *cy_, uint64_t t0)
{
	struct cycle cy = *cy_;
	pthread_mutex_lock(&figs_mu);
	figs.num_gc++;
	figs.pause_last_ns = cy.pause_ns;
	figs.pause_total_ns += cy.pause_ns;
	if (cy.pause_ns > figs.pause_max_ns)
		figs.pause_max_ns = cy.pause_ns;
	for (int i = 0; i < 2; i++)
		if (cy.stop_ns[i] > figs.stop_max_ns)
			figs.stop_max_ns = cy.stop_ns[i];
	if (cy.concurrent) {
		figs.concurrent_cycles++;
		figs.mark_concurrent_ns += cy.conc_ns;
		figs.rescanned_bytes += cy.dirty_pre + cy.dirty_final;
	}
	pthread_mutex_unlock(&figs_mu);
	uint64_t t1 = now_ns();
	/* A concurrent cycle costs the program its stops and the CPU its
	 * markers take beside it: on the two cores the markers share with
	 * the program, about half its marking time.  Its live heap is what it
	 * marked: the blocks allocated marked meanwhile are mostly garbage of
	 * the cycle (they count in heap_live until the next sweep). */
	uint64_t cost = cy.concurrent ? cy.pause_ns + cy.conc_ns / 2 : t1 - t0;
	struct pace_sample ps = {
	        .live = cy.mark.marked_bytes,
	        .allocated = cy.alloc_total - last_alloc_total,
	        .mutator_ns = t0 > last_end_ns ? t0 - last_end_ns : 0,
	        .gc_ns = cost,
	        .heap_before = cy.heap_before,
	        .held_before = cy.held_before,
	        .concurrent = cy.concurrent,
	        .cycle_alloc = cy.cycle_alloc,
	};
	pace_after_cycle_locked(&ps);
	last_end_ns = t1;
	last_gc_ns = cost;
	last_alloc_total = cy.alloc_total;
	atomic_store(&completed, figs.num_gc);
	if (knobs.trace)
		trace(&cy);
	event(MGC_EVENT_END);
	special_wake_runner();
	scavenge_start();
}

/* ---- the collector thread (concurrent cycles) ------------------------------
 * Automatic collections in concurrent mode run here, so that the thread
 * whose allocation crossed the trigger goes on.  gc_auto wakes it
 * (asked); past gc_ceiling, beyond the goal, the allocating thread is
 * slowed down (throttle), and half as far again it waits for the gc lock,
 * which the cycle holds throughout, and collects itself if no cycle ran
 * meanwhile.  The thread is not registered:
 * it is never stopped and holds no heap address outside a cycle.  bg_mu
 * (a leaf) guards started and the sleep; after fork the child has no
 * collector thread, and the next request starts one. */
_Atomic bool gc_black;
_Atomic int64_t gc_ceiling = INT64_MAX;
static bool concurrent_ok; /* [init only] MGC_CONCURRENT=1 and a dirty-page tracker */
static pthread_mutex_t bg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_wake = PTHREAD_COND_INITIALIZER;
static bool bg_started;       /* [bg_mu] */
static _Atomic bool bg_asked; /* a cycle is asked for or running */
static _Atomic bool bg_idle;  /* the scavenger asks for one, due or not */

bool
gc_concurrent_on(void)
{
	/* A custom kind's trace function is written for a stopped world. */
	return concurrent_ok && !gc_stress && !kind_any_custom();
}

static void *
bg_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&bg_mu);
		while (!atomic_load(&bg_asked))
			pthread_cond_wait(&bg_wake, &bg_mu);
		pthread_mutex_unlock(&bg_mu);
		lock_acquire(&gc_lock);
		bool idle = atomic_exchange(&bg_idle, false);
		if (atomic_load(&exclusive) == 0 && (idle || gc_due())) {
			sweep_finish();
			if (idle || gc_due())
				collect_locked(true);
		}
		if (idle) { /* as gc_collect_full: memory back to the OS */
			sweep_finish();
			central_release_empty();
		}
		atomic_store(&bg_asked, false);
		lock_release(&gc_lock);
		debug_deliver();
		if (idle)
			heap_scavenge(scavenge_free_keep(), UINT64_MAX);
	}
	return NULL;
}

/* Past gc_ceiling while a cycle runs, an allocating thread gives the
 * markers the CPU: it sleeps THROTTLE_NS at a time, at most THROTTLE_MAX
 * times per slow path, so the program slows down in steps of a fraction
 * of a millisecond instead of stopping for the rest of the cycle (Go's
 * mutator assists spread the same cost).  Past half as much again, it
 * waits for the cycle (bg_request says false). */
enum { THROTTLE_NS = 200000, THROTTLE_MAX = 10 };

static void
throttle(int64_t ceiling)
{
	struct timespec ts = {0, THROTTLE_NS};
	for (int i = 0; i < THROTTLE_MAX && atomic_load(&bg_asked) &&
	                atomic_load_explicit(&heap_live, memory_order_relaxed) >= ceiling;
	     i++)
		nanosleep(&ts, NULL);
}

/* Ask the collector thread for a cycle; false if the caller is to collect
 * (or wait for the running cycle) itself. */
static bool
bg_request(void)
{
	int64_t live = atomic_load_explicit(&heap_live, memory_order_relaxed);
	int64_t ceiling = atomic_load_explicit(&gc_ceiling, memory_order_relaxed);
	if (atomic_load_explicit(&finishing, memory_order_relaxed)) {
		struct timespec ts = {0, THROTTLE_NS};
		nanosleep(&ts, NULL);
	}
	if (live >= ceiling) {
		if (live - ceiling >= ceiling / 2)
			return false;
		throttle(ceiling);
	}
	if (atomic_load(&bg_asked) || atomic_exchange(&bg_asked, true))
		return true;
	pthread_mutex_lock(&bg_mu);
	if (!bg_started)
		bg_started = world_spawn_quiet(bg_main, NULL);
	bool ok = bg_started;
	if (ok)
		pthread_cond_signal(&bg_wake);
	else
		atomic_store(&bg_asked, false);
	pthread_mutex_unlock(&bg_mu);
	return ok;
}

/* The scavenger found the program idle with garbage to collect: a
 * concurrent cycle in concurrent mode, else a full collection. */
void
gc_collect_idle(void)
{
	if (gc_concurrent_on()) {
		atomic_store(&bg_idle, true);
		if (bg_request())
			return;
		atomic_store(&bg_idle, false);
	}
	gc_collect_full();
}

void
gc_auto(void)
{
	if (gc_concurrent_on() && bg_request())
		return;
	uint64_t seen = atomic_load(&completed);
	lock_acquire(&gc_lock);
	/* During an exclusive section the heap grows instead. */
	if (atomic_load(&exclusive) == 0 && (gc_stress || atomic_load(&completed) == seen)) {
		sweep_finish();
		if (gc_stress || gc_due())
			collect_locked(false);
	}
	lock_release(&gc_lock);
	debug_deliver();
}

/* A full collection and sweep, with the spans it emptied back in the page
 * heap and free memory above the retain goal released; the caller holds no
 * mgc lock and is registered (or is the scavenger). */
void
gc_collect_full(void)
{
	wipe_traces();
	if (!lock_outside_sections())
		return;
	sweep_finish();
	collect_locked(false);
	sweep_finish();
	central_release_empty();
	lock_release(&gc_lock);
	debug_deliver();
	heap_scavenge(scavenge_free_keep(), UINT64_MAX);
}

void
mgc_collect(void)
{
	if (thread_attach() == NULL)
		return;
	gc_collect_full();
}

void
mgc_release_memory(void)
{
	if (thread_attach() == NULL)
		return;
	gc_collect_full();
	heap_release_free();
}

/* The heap is about to pass the memory limit (heap.c).  Bring the next
 * collection forward to the next allocation slow path, unless the program
 * has run for less time since the last one than that one took: then the
 * heap grows past the limit instead, so that collections take at most about
 * half the time (pace.c).  The trigger is set again when it ends. */
void
gc_pressure(void)
{
	uint64_t since = now_ns() - atomic_load(&last_end_ns);
	if (since >= atomic_load(&last_gc_ns))
		atomic_store(&gc_trigger, 0);
}

/* Bytes allocated since the last collection ended, and when it ended. */
uint64_t
gc_alloc_since(uint64_t *last_ns)
{
	struct counters k;
	thread_sum_counters(&k);
	lock_acquire(&gc_lock);
	uint64_t since = k.bytes_alloc > last_alloc_total ? k.bytes_alloc - last_alloc_total : 0;
	*last_ns = last_end_ns;
	lock_release(&gc_lock);
	return since;
}

/* ---- the heap walk (mgc_heap_walk) ----------------------------------------- */

struct walk {
	mgc_walk_fn fn;
	void *arg;
};

static void
walk_span(struct span *s, void *arg)
{
	const struct walk *w = arg;
	size_t usable = s->elem_size - kind_trailer(s->spanclass);
	for (uint32_t i = 0; i < s->nelems; i++)
		if (atomic_load_explicit(&s->state[i], memory_order_relaxed) == BLOCK_LIVE)
			w->fn((void *)(s->base + (uintptr_t)i * s->elem_size), usable, w->arg);
}

/* With the sweep finished, a block's state says whether it is allocated:
 * blocks in thread caches are free, those the last collection found dead
 * are free once swept.  The world is stopped, as for a fork, without the
 * loader's lock: no root is scanned. */
void
mgc_heap_walk(mgc_walk_fn fn, void *arg)
{
	if (thread_attach() == NULL)
		return;
	struct walk w = {fn, arg};
	lock_acquire(&gc_lock);
	sweep_finish();
	thread_lock_registry();
	world_stop();
	heap_each_span_stopped(walk_span, &w);
	world_start();
	thread_unlock_registry();
	lock_release(&gc_lock);
}

/* From the event callback too, and during a concurrent cycle: without
 * the gc lock. */
void
gc_read_figures(struct gc_figures *out)
{
	pthread_mutex_lock(&figs_mu);
	*out = figs;
	pthread_mutex_unlock(&figs_mu);
	out->next_gc = pace_goal();
	out->enabled = out->next_gc != UINT64_MAX;
}

/* ---- fork ----------------------------------------------------------------
 * In the child of fork every lock of mgc must be free and what it guards
 * whole, whatever the parent's other threads were doing: the child keeps
 * only the forking thread.  Each lock is held by the forking thread across
 * fork() (taken in fork_prepare, released in both processes), or
 * re-initialised in the child:
 *   tls_walk_lock         held, taken before everything (thread.c): no
 *                         registering thread is inside dl_iterate_phdr, whose
 *                         loader lock glibc's fork does not take.
 *   gc_lock, thread_lock  held, taken next: no collection runs and no
 *                         thread joins or leaves the registry meanwhile;
 *                         the sweep is finished first.
 *   slots_mutex, every    held, in the lock order, the centrals in index
 *   central lock, heap    order (central.c): whoever holds one of them waits
 *   lock, special lock,   only for those after it, so the forker's wait for
 *   fixalloc_lock,        each ends.  The world is not stopped: glibc's fork
 *   kind_lock             takes malloc's locks after these handlers, and a
 *                         thread stopped inside malloc would hold one for
 *                         good.  Other threads go on running until fork(),
 *                         but touch nothing shared without one of these
 *                         locks: only their own caches, lost to the child.
 *                         Under ThreadSanitizer (FORK_STOPS), which aborts a
 *                         thread that holds more than 64 locks, the world
 *                         is stopped instead (its malloc takes its own locks
 *                         before the handlers run): a registered thread is
 *                         stopped only outside allocator locks, so once the
 *                         world is stopped the centrals and the special
 *                         lock are free (debug builds check it in the child)
 *                         and the heap lock and fixalloc_lock are taken
 *                         after the stop, from unregistered threads only
 *                         (mgc_read_stats, thread_attach), which hold them
 *                         briefly.
 *   dirty_lock            free: taken only under the heap lock or the gc
 *                         lock (dirty.c).
 *   wake_mutex,           re-initialised in the child (finalize.c,
 *   helper_lock,          drain.c, scavenge.c, world.c, gc.c): their other
 *   pool_lock, mu, bg_mu, users, the finalizer runner, the helper markers,
 *   the acks semaphore,   the scavenger and the collector thread, are not
 *   excl_mu               in the child, and the state they guard is reset
 *                         there.
 * pthread_atfork runs prepare handlers in the reverse order of their
 * registration and the others in order, so a library that registers its own
 * after mgc_init (the Boehm-compatible one does) takes its locks before
 * these and releases them after.
 * A program may run the same steps itself (mgc_fork_prepare, _parent,
 * _child: a fork by a raw system call runs no handler); between its
 * prepare and the matching call, the handlers do nothing on its thread. */

static __thread bool fork_by_program; /* [owner] mgc_fork_prepare ran, no matching call yet */

enum { FORK_STOPS = MGC_TSAN };

/* The allocator locks held across fork() (FORK_STOPS: the world is
 * stopped instead), in the lock order. */
static void
lock_allocator(void)
{
	if (FORK_STOPS)
		world_stop();
	else
		central_fork_prepare();
	heap_lock();
	if (!FORK_STOPS)
		special_fork_prepare();
	lock_acquire(&fixalloc_lock);
	if (!FORK_STOPS)
		kind_fork_prepare();
}

/* In the parent, and in the child but for the world (world_after_fork_child
 * forgets the stop there). */
static void
unlock_allocator(bool child)
{
	if (!FORK_STOPS)
		kind_fork_done();
	lock_release(&fixalloc_lock);
	if (!FORK_STOPS)
		special_fork_done();
	heap_unlock();
	if (!FORK_STOPS)
		central_fork_done();
	else if (!child)
		world_start();
}

static void
prepare_steps(void)
{
	thread_fork_prepare();
	lock_acquire(&gc_lock);
	sweep_finish();
	thread_lock_registry();
	lock_allocator();
}

static void
parent_steps(void)
{
	unlock_allocator(false);
	thread_unlock_registry();
	lock_release(&gc_lock);
	thread_fork_done();
}

static void
child_steps(void)
{
	/* Only the forking thread is left: the sections of the others are
	 * gone with them. */
	unlock_allocator(true);
	pthread_mutex_init(&excl_mu, NULL);
	pthread_cond_init(&excl_done, NULL);
	pthread_mutex_init(&bg_mu, NULL);
	pthread_mutex_init(&figs_mu, NULL);
	pthread_cond_init(&bg_wake, NULL);
	bg_started = false;
	atomic_store(&bg_asked, false);
	atomic_store(&bg_idle, false);
	dirty_after_fork_child();
	atomic_store(&exclusive, in_exclusive > 0);
	if (FORK_STOPS)
		central_after_fork_child();
	thread_after_fork_child();
	special_after_fork_child();
	scavenge_after_fork_child();
	drain_after_fork_child();
	world_after_fork_child();
	thread_unlock_registry();
	lock_release(&gc_lock);
	thread_fork_done();
}

static void
fork_prepare(void)
{
	if (!fork_by_program)
		prepare_steps();
}

static void
fork_parent(void)
{
	if (!fork_by_program)
		parent_steps();
}

static void
fork_child(void)
{
	if (!fork_by_program)
		child_steps();
}

void
mgc_fork_prepare(void)
{
	mgc_init();
	if (fork_by_program)
		fatal("mgc: mgc_fork_prepare called twice without mgc_fork_parent or "
		      "mgc_fork_child");
	prepare_steps();
	fork_by_program = true;
}

void
mgc_fork_parent(void)
{
	if (!fork_by_program)
		fatal("mgc: mgc_fork_parent without mgc_fork_prepare");
	fork_by_program = false;
	parent_steps();
}

void
mgc_fork_child(void)
{
	if (!fork_by_program)
		fatal("mgc: mgc_fork_child without mgc_fork_prepare");
	fork_by_program = false;
	child_steps();
}

void
gc_init(void)
{
	start_ns = now_ns();
	last_end_ns = start_ns;
	gc_stress = knobs.collect_every;
	concurrent_ok = knobs.concurrent && dirty_backend() != DIRTY_NONE;
	lock_acquire(&gc_lock);
	pace_init();
	lock_release(&gc_lock);
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
		fatal("mgc: pthread_atfork failed");
}
