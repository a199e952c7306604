/* cache.c — the per-thread cache: one free list per span class, and the
 * thread's allocation counters.
 *
 * The fast paths in alloc.c pop and push these lists with no lock and no
 * atomic read-modify-write: only the owning thread touches its lists,
 * except the collector, which empties every cache while the world is
 * stopped.  A thread is never stopped halfway through changing its lists:
 * it changes them inside busy sections (internal.h), and a stop request
 * that arrives during one waits until it ends.  Refills write the list
 * under the central lock, and a thread holding a central lock is busy too,
 * so blocks are never in flight between a central list and a cache when a
 * collection looks (the collector itself takes no central lock with the
 * world stopped).  An empty list is refilled with a batch from the central
 * list; a list that grows past its limit (two batches) gives a batch back.
 * Every block on a list is BLOCK_FREE and zero except word 0, which links
 * the list, and word 1, which names its state byte (alloc.c).
 *
 * Counters are written only by the owner (counter_add: a relaxed load and
 * store) and summed by mgc_read_stats under the thread lock, so the stats
 * are exact whenever no thread is allocating.
 *
 * A cache lives in its thread's registry record (thread.c); when the thread
 * exits or unregisters, cache_flush_all returns every block to the centrals.
 */
#include "internal.h"

__thread struct cache *tls_cache __attribute__((tls_model("initial-exec")));

void
cache_init(struct cache *c)
{
	/* Collect-at-every-allocation mode keeps the lists empty, so every
	 * allocation takes the slow path, where the collection is started. */
	for (int sc = 2; sc < 2 * num_classes; sc++)
		c->list[sc].limit = gc_stress ? 0 : 2u * class_batch[sc >> 1];
}

void
cache_publish(struct cache *c)
{
	uint64_t net = counter_read(&c->bytes_alloc) - counter_read(&c->bytes_freed);
	if (net != c->published) {
		atomic_fetch_add_explicit(&heap_live, (int64_t)(net - c->published),
		                          memory_order_relaxed);
		c->published = net;
	}
}

/* Refill list sc from its central list; false on ENOMEM. */
bool
cache_refill(struct cache *c, unsigned spanclass)
{
	cache_publish(c);
	size_t want = gc_stress ? 1 : class_batch[spanclass >> 1];
	return central_take(spanclass, &c->list[spanclass], want) > 0;
}

/* Detach the first n blocks of list l as a NULL-terminated chain. */
static void *
detach_chain(struct cache_list *l, uint32_t n)
{
	void *head = l->head;
	void **last = head;
	for (uint32_t i = 1; i < n; i++)
		last = *last;
	l->head = *last;
	*last = NULL;
	l->count -= n;
	return head;
}

/* Busy section held: the chain to give back when list sc is too long. */
void *
cache_overflow(struct cache *c, unsigned spanclass)
{
	struct cache_list *l = &c->list[spanclass];
	uint32_t n = l->count > class_batch[spanclass >> 1] && !gc_stress
	                     ? class_batch[spanclass >> 1]
	                     : l->count;
	return detach_chain(l, n);
}

void
cache_flush_all(struct cache *c)
{
	for (unsigned sc = 2; sc < 2u * (unsigned)num_classes; sc++) {
		struct cache_list *l = &c->list[sc];
		busy_enter(c);
		void *chain = l->count > 0 ? detach_chain(l, l->count) : NULL;
		busy_leave(c);
		if (chain != NULL)
			central_give(sc, chain);
	}
}

void
cache_flush_stopped(struct cache *c)
{
	MGC_ASSERT(world_stopped_here());
	for (unsigned sc = 2; sc < 2u * (unsigned)num_classes; sc++) {
		struct cache_list *l = &c->list[sc];
		if (l->count > 0)
			central_give_stopped(sc, detach_chain(l, l->count));
	}
}
