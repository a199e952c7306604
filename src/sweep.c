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
 *
 * The disclaim hook (the section of that name below) is the one place a
 * sweep calls the program: a kind's disclaim callback, asked about each
 * block the sweep is about to reclaim, and the marks the program sets and
 * clears between collections (mgc_set_mark), which decide what the sweep
 * keeps.
 */
#include "internal.h"

#include <errno.h>
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
	const struct kind_disclaim *d = kind_disclaim_of(s->spanclass);
	if (unlikely(d != NULL))
		sweep_disclaim_locked(s, d);
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

/* ---- the disclaim hook ------------------------------------------------------
 * A kind with a disclaim callback (kind.c) is asked about each block the
 * sweep is about to reclaim: sweep_small_locked and the page heap's
 * heap_sweep_large_locked call sweep_disclaim_locked once they have claimed the
 * span (sweepgen sg-1) and before they clear a mark bit or free a block,
 * and a block the callback keeps gets its mark bit, so the sweep leaves
 * it allocated.  The callback thus runs on the sweeping thread, holding
 * the span's central lock (small spans) or the heap lock (large ones),
 * either busy or under the gc lock (the scavenger, a fork): no collection
 * starts before it returns, and the span's marks and states are the
 * collection's, but for the blocks it keeps.  While it runs,
 * sweep_disclaiming names the span: for the callback, block_live (alloc.c)
 * counts the span's blocks live by their state alone, since nothing is
 * freed yet, and mgc_set_mark changes the span's bits in place instead of
 * taking the lock this thread holds.
 *
 * Between collections, mgc_set_mark keeps or gives up a block of a span
 * not yet swept by setting or clearing its mark bit under the span's
 * lock, the lock every sweeper of the span holds from its claim to its
 * end: so the bit is changed either before the sweep reads it, or after
 * the sweep, when it no longer matters. */

__thread const struct span *sweep_disclaiming;

void
sweep_disclaim_locked(struct span *s, const struct kind_disclaim *d)
{
	MGC_ASSERT(s->kind == SPAN_SMALL ? central_lock_held(s->spanclass) : heap_lock_held());
	MGC_ASSERT(atomic_load(&s->sweepgen) == atomic_load(&heap_sweepgen) - 1);
	uint32_t end = s->kind == SPAN_SMALL ? s->bump : s->nelems;
	sweep_disclaiming = s;
	for (uint32_t i = 0; i < end; i++) {
		uint64_t bit = (uint64_t)1 << (i & 63);
		/* Read again for each block: the callback may keep another. */
		if ((__atomic_load_n(&s->mark[i >> 6], __ATOMIC_RELAXED) & bit) ||
		    atomic_load_explicit(&s->state[i], memory_order_relaxed) != BLOCK_LIVE)
			continue;
		if (d->fn((void *)(s->base + (uintptr_t)i * s->elem_size), d->arg))
			__atomic_fetch_or(&s->mark[i >> 6], bit, __ATOMIC_RELAXED);
	}
	sweep_disclaiming = NULL;
}

/* Set (on) or clear the mark of block i of s, allocated. */
static void
set_bit(struct span *s, uint32_t i, bool on)
{
	uint64_t bit = (uint64_t)1 << (i & 63);
	if (on)
		__atomic_fetch_or(&s->mark[i >> 6], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&s->mark[i >> 6], ~bit, __ATOMIC_RELAXED);
}

static int
fail(int err)
{
	errno = err;
	return -1;
}

/* mgc_set_mark from a disclaim callback: this thread sweeps
 * sweep_disclaiming and holds its lock. */
static int
set_mark_disclaiming(uintptr_t p, bool on)
{
	struct block_ref r;
	if (!alloc_block_ref(p, &r))
		return fail(EINVAL);
	if (r.s != sweep_disclaiming)
		return fail(EDEADLK);
	if (atomic_load_explicit(&r.s->state[r.i], memory_order_relaxed) != BLOCK_LIVE)
		return fail(EINVAL);
	set_bit(r.s, r.i, on);
	return 0;
}

int
sweep_set_mark(uintptr_t p, bool on)
{
	if (sweep_disclaiming != NULL)
		return set_mark_disclaiming(p, on);
	if (tls_cache == NULL && thread_attach() == NULL)
		return fail(ENOMEM);
	struct block_ref r;
	if (!alloc_block_ref(p, &r))
		return fail(EINVAL);
	if (r.large)
		heap_lock();
	else
		central_lock(r.sc);
	/* Under the lock the span can be neither swept nor freed; it is still
	 * the block's if its geometry did not change since the lookup. */
	bool live = alloc_block_ref_valid(&r) &&
	            atomic_load_explicit(&r.s->state[r.i], memory_order_relaxed) == BLOCK_LIVE;
	int err = live ? 0 : EINVAL;
	uint32_t sg = atomic_load(&heap_sweepgen);
	if (err == 0 && atomic_load(&r.s->sweepgen) == sg - 2)
		set_bit(r.s, r.i, on);
	if (r.large)
		heap_unlock();
	else
		central_unlock(r.sc);
	return err ? fail(err) : 0;
}
