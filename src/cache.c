/* cache.c — the per-thread cache: one free list per span class, and the
 * thread's allocation counters.  The lists of the plain kinds are an
 * array in the cache; those of every other kind slot (kind.c) an array
 * made on the thread's first use of the slot, freed when it leaves.
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

/* Collect-at-every-allocation mode keeps the lists empty, so every
 * allocation takes the slow path, where the collection is started. */
static void
init_lists(struct cache_list *lists)
{
	for (int sc = 2; sc < 2 * num_classes; sc++)
		lists[sc].limit = gc_stress ? 0 : 2u * class_batch[sc_class(sc)];
}

void
cache_init(struct cache *c)
{
	init_lists(c->list);
}

enum { SLOT_LISTS_BYTES = MAX_SPANCLASSES * sizeof(struct cache_list) };

bool
cache_slot_ready(struct cache *c, unsigned slot)
{
	if (slot == SLOT_PLAIN || likely(c->slot_lists[slot] != NULL))
		return true;
	struct cache_list *lists = os_alloc_meta(SLOT_LISTS_BYTES);
	if (lists == NULL)
		return false;
	init_lists(lists);
	busy_enter(c);
	c->slot_lists[slot] = lists;
	busy_leave(c);
	return true;
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
	size_t want = gc_stress ? 1 : class_batch[sc_class(spanclass)];
	return central_take(spanclass, cache_list_of(c, spanclass), want) > 0;
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
	struct cache_list *l = cache_list_of(c, spanclass);
	uint32_t batch = class_batch[sc_class(spanclass)];
	uint32_t n = l->count > batch && !gc_stress ? batch : l->count;
	return detach_chain(l, n);
}

/* Every list of c that holds blocks: fn(c, sc, l). */
static void
each_list(struct cache *c, void (*fn)(struct cache *, unsigned, struct cache_list *))
{
	for (unsigned slot = 0; slot < KIND_SLOTS; slot++) {
		struct cache_list *lists = slot == 0 ? c->list : c->slot_lists[slot];
		if (lists == NULL)
			continue;
		for (unsigned i = 2; i < 2u * (unsigned)num_classes; i++)
			if (lists[i].count > 0)
				fn(c, slot << SLOT_SHIFT | i, &lists[i]);
	}
}

static void
flush_list(struct cache *c, unsigned sc, struct cache_list *l)
{
	busy_enter(c);
	void *chain = l->count > 0 ? detach_chain(l, l->count) : NULL;
	busy_leave(c);
	if (chain != NULL)
		central_give(sc, chain);
}

void
cache_flush_all(struct cache *c)
{
	each_list(c, flush_list);
	for (unsigned slot = 1; slot < KIND_SLOTS; slot++) {
		struct cache_list *lists = c->slot_lists[slot];
		busy_enter(c);
		c->slot_lists[slot] = NULL;
		busy_leave(c);
		if (lists != NULL)
			os_free_meta(lists, SLOT_LISTS_BYTES);
	}
}

static void
flush_list_stopped(struct cache *c, unsigned sc, struct cache_list *l)
{
	(void)c;
	MGC_ASSERT(world_stopped_here());
	central_give_stopped(sc, detach_chain(l, l->count));
}

void
cache_flush_stopped(struct cache *c)
{
	MGC_ASSERT(world_stopped_here());
	each_list(c, flush_list_stopped);
}
