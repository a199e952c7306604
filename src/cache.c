/* cache.c — the per-thread cache: one free list per span class, and the
 * thread's allocation counters.
 *
 * The fast paths in alloc.c pop and push these lists with no lock and no
 * atomic read-modify-write: only the owning thread touches its lists.  An
 * empty list is refilled with a batch from the central list; a list that
 * grows past its limit (two batches) gives a batch back.  Every block on a
 * list is BLOCK_FREE and zero except word 0, which links the list.
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
	for (int sc = 2; sc < 2 * num_classes; sc++)
		c->list[sc].limit = 2u * class_batch[sc >> 1];
}

void *
cache_refill(struct cache *c, unsigned spanclass)
{
	struct cache_list *l = &c->list[spanclass];
	void *head;
	size_t n = central_take(spanclass, &head, class_batch[spanclass >> 1]);
	if (n == 0)
		return NULL;
	void **b = head;
	l->head = *b;
	l->count = (uint32_t)n - 1;
	*b = NULL;
	return b;
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

void
cache_overflow(struct cache *c, unsigned spanclass)
{
	struct cache_list *l = &c->list[spanclass];
	central_give(spanclass, detach_chain(l, class_batch[spanclass >> 1]));
}

void
cache_flush_all(struct cache *c)
{
	for (unsigned sc = 2; sc < 2u * (unsigned)num_classes; sc++) {
		struct cache_list *l = &c->list[sc];
		if (l->count > 0)
			central_give(sc, detach_chain(l, l->count));
	}
}
