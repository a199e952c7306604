/* sweep.c — sweeping: unmarked live blocks go back to their spans.
 *
 * A collection ends its stop-the-world phase by handing this file the
 * spans that were in use (heap_begin_cycle_stopped's snapshot) and a new sweep
 * generation sg.  From then on each of those spans is swept exactly once,
 * by whoever gets to it first:
 *   - central_take, before it hands out blocks of an unswept span (a block
 *     allocated from an unswept span would be live and unmarked);
 *   - allocation slow paths, which sweep two more spans of the snapshot
 *     on each refill (sweep_some), so the sweep keeps pace with allocation
 *     without a thread of its own contending for the central locks;
 *   - mgc_collect and the next collection, which finish the walk
 *     themselves (sweep_finish) so a sweep never overlaps a mark.
 * Claiming is a compare-and-swap of the span's sweepgen from sg-2 to sg-1,
 * done under the span's central lock (small spans) or the heap lock (large
 * spans), so no one sees a span half swept.
 *
 * Sweeping a small span frees every live, unmarked block below its bump
 * mark: the state byte goes to BLOCK_FREE and the block's dead bit is set;
 * mark bits are cleared for the next cycle.  The block's memory is not
 * touched: central_take zeroes it (the zeroing rule of alloc.c) when it
 * hands it out, just before it is used, instead of the sweep pulling every
 * dead block into the cache once more.  A span left with no block out goes
 * to its central's empty list, and from there back to the page heap
 * (central.c).  The blocks and bytes freed are counted
 * here, so the stats stay exact: until a dead block is swept it still
 * counts in alloc, as the contract says.
 *
 * Sweeping reads a block's state only when its mark bit is clear: a marked
 * block may be freed by its owner meanwhile, an unmarked one is touched by
 * no one else.
 */
#include "internal.h"

#include <sched.h>
#include <string.h>

static struct sweep_item *_Atomic items; /* this cycle's spans (set with the world stopped) */
static _Atomic size_t nitems;
/* Next item to take: the cycle's sweepgen in the high half, so a thread
 * that took a number in an earlier cycle cannot take one of this cycle. */
static _Atomic uint64_t next;
static _Atomic size_t done; /* items finished this cycle */
static _Atomic uint64_t swept_blocks, swept_bytes;

static _Atomic bool pending; /* [atomic] spans of this cycle are left to take */

void
sweep_count(uint64_t blocks, uint64_t bytes)
{
	atomic_fetch_add_explicit(&swept_blocks, blocks, memory_order_relaxed);
	atomic_fetch_add_explicit(&swept_bytes, bytes, memory_order_relaxed);
}

void
sweep_read_counts(uint64_t *blocks, uint64_t *bytes)
{
	*blocks = atomic_load_explicit(&swept_blocks, memory_order_relaxed);
	*bytes = atomic_load_explicit(&swept_bytes, memory_order_relaxed);
}

/* Is block i of s live and unmarked (garbage)?  marks is its mark word. */
static inline bool
is_garbage(const struct span *s, uint64_t marks, uint32_t i)
{
	return !(marks >> (i & 63) & 1) &&
	       atomic_load_explicit(&s->state[i], memory_order_relaxed) == BLOCK_LIVE;
}

void
sweep_small_locked(struct span *s, uint32_t sg, uint64_t *freed_out)
{
	MGC_ASSERT(central_lock_held(s->spanclass));
	uint64_t freed = 0;
	/* The claim (sweepgen sg-1) is ordered before every bit cleared and
	 * every block freed: alloc.c's block_live reads them, then the
	 * generation, and must see the sweep under way if it read any. */
	fence_release();
	for (uint32_t w = 0; w * 64 < s->bump; w++) {
		uint64_t marks = s->mark[w], dead = 0;
		__atomic_store_n(&s->mark[w], 0, __ATOMIC_RELAXED); /* read by block_live */
		if (marks == ~(uint64_t)0)
			continue;
		uint32_t end = w * 64 + 64 < s->bump ? w * 64 + 64 : s->bump;
		for (uint32_t i = w * 64; i < end; i++)
			if (is_garbage(s, marks, i)) {
				atomic_store_explicit(&s->state[i], BLOCK_FREE,
				                      memory_order_relaxed);
				dead |= (uint64_t)1 << (i & 63);
			}
		s->dead[w] |= dead;
		freed += (uint64_t)__builtin_popcountll(dead);
	}
	s->ndead += (uint32_t)freed;
	s->nout -= (uint32_t)freed;
	sweep_count(freed, freed * s->elem_size);
	atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
	*freed_out = freed;
}

void
sweep_begin_stopped(struct sweep_item *list, size_t n, uint32_t sg)
{
	MGC_ASSERT(world_stopped_here());
	atomic_store(&items, list);
	atomic_store(&nitems, n);
	atomic_store(&done, 0);
	atomic_store(&next, (uint64_t)sg << 32);
	atomic_store(&pending, n > 0);
}

static void
sweep_item(const struct sweep_item *it, uint32_t sg)
{
	if (atomic_load_explicit(&it->span->sweepgen, memory_order_acquire) != sg - 2)
		return;
	if (it->kind == SPAN_SMALL) {
		central_sweep(it->span, it->spanclass, sg);
	} else {
		heap_lock();
		heap_sweep_large_locked(it->span, sg);
		heap_unlock();
	}
}

/* Sweep one more span of the current cycle; false when none is left. */
static bool
sweep_one(void)
{
	uint64_t v = atomic_fetch_add(&next, 1);
	uint32_t sg = (uint32_t)(v >> 32);
	size_t i = (size_t)(uint32_t)v;
	if (sg != atomic_load(&heap_sweepgen) || i >= nitems) {
		atomic_store_explicit(&pending, false, memory_order_relaxed);
		return false;
	}
	sweep_item(&atomic_load(&items)[i], sg);
	atomic_fetch_add(&done, 1);
	return true;
}

void
sweep_finish(void)
{
	while (sweep_one())
		;
	while (atomic_load(&done) < nitems)
		sched_yield(); /* another thread is finishing its last span */
}

void
sweep_some(void)
{
	if (atomic_load_explicit(&pending, memory_order_relaxed))
		for (int i = 0; i < 2 && sweep_one(); i++)
			;
}
