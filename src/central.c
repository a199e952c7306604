/* central.c — one central list per span class (size class × scan/noscan).
 *
 * A central list owns the small spans of its class that are not free in the
 * page heap.  Spans with at least one block available (on the span's free
 * list, or never handed out yet: the bump region) sit on `partial`; spans
 * with none are on no list and come back when a block is returned.
 *
 * Thread caches move blocks in batches: central_take hands out up to a
 * batch, taking never-used blocks in address order so fresh memory is
 * touched only when it is needed; central_give takes a chain back onto the
 * spans it came from.  A span is swept (sweep.c) before any of its blocks
 * is handed out again: a block allocated from an unswept span would be live
 * and unmarked, and the sweep would free it.  A span whose blocks have all come back returns to the
 * page heap, unless it is the class's last partial span (kept so that a
 * thread allocating and freeing one block does not map and release a span
 * each time).
 *
 * Invariants [central lock]: s->nout counts the blocks of s held by caches
 * or users; s->in_partial iff s has a block available; blocks on a span's
 * free list are BLOCK_FREE and zero but for words 0 and 1 (alloc.c); those
 * of its bump region are zero;
 * dead blocks (sweep.c) are BLOCK_FREE and zeroed when taken.
 *
 * Locking: each central has its own lock; no thread holds two.  The page
 * heap's lock may be taken under it (to get or return a span).  The
 * collector changes central state (central_give_locked) only with the world
 * stopped, when no registered thread holds a central lock (internal.h).
 */
#include "internal.h"

#include <string.h>

struct central {
	struct lock lock;
	struct span partial; /* [lock] sentinel of the partial list */
	unsigned npartial;   /* [lock] */
} __attribute__((aligned(64)));

static struct central centrals[MAX_SPANCLASSES];

void
central_init(void)
{
	for (int i = 0; i < MAX_SPANCLASSES; i++) {
		centrals[i].lock = (struct lock)LOCK_INIT(LOCK_CENTRAL);
		centrals[i].partial.next = centrals[i].partial.prev = &centrals[i].partial;
	}
}

static void
partial_insert(struct central *c, struct span *s)
{
	s->next = c->partial.next;
	s->prev = &c->partial;
	c->partial.next->prev = s;
	c->partial.next = s;
	s->in_partial = true;
	c->npartial++;
}

static void
partial_remove(struct central *c, struct span *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->in_partial = false;
	c->npartial--;
}

/* A new span for the class, zeroed, on the partial list; NULL on ENOMEM. */
static struct span *
central_grow(struct central *c, unsigned spanclass)
{
	unsigned cls = spanclass >> 1;
	struct span *s = heap_alloc_span(class_npages[cls], SPAN_SMALL, spanclass, 0, NULL);
	if (s == NULL)
		return NULL;
	if (s->needzero) {
		memset((void *)s->base, 0, s->npages * PAGE_SIZE);
		s->needzero = false;
	}
	partial_insert(c, s);
	return s;
}

/* Zero up to `want` dead blocks of s and put them on *head; how many. */
static size_t
take_dead(struct span *s, void **head, size_t want)
{
	size_t n = 0;
	for (uint32_t w = 0; n < want && s->ndead > n; w++) {
		uint64_t bits = s->dead[w];
		while (bits != 0 && n < want) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			void **b = (void **)(s->base + i * s->elem_size);
			memset(b, 0, s->elem_size);
			*b = *head;
			block_set_state_ref(s, b, i);
			*head = b;
			n++;
		}
		s->dead[w] = bits;
	}
	s->ndead -= (uint32_t)n;
	return n;
}

static bool
has_available(const struct span *s)
{
	return s->free != NULL || s->ndead > 0 || s->bump < s->nelems;
}

/* Move up to `want` of s's available blocks onto *head; returns how many. */
static size_t
take_from_span(struct span *s, void **head, size_t want)
{
	size_t n = 0;
	for (; n < want && s->free != NULL; n++) {
		void **b = s->free;
		s->free = *b;
		*b = *head;
		*head = b;
	}
	if (n < want && s->ndead > 0)
		n += take_dead(s, head, want - n);
	size_t fresh = s->nelems - s->bump;
	if (fresh > want - n)
		fresh = want - n;
	for (size_t i = fresh; i-- > 0;) { /* lowest address ends up first */
		void **b = (void **)(s->base + (s->bump + i) * s->elem_size);
		*b = *head;
		block_set_state_ref(s, b, s->bump + (uint32_t)i);
		*head = b;
	}
	s->bump += (uint32_t)fresh;
	n += fresh;
	s->nout += (uint32_t)n;
	return n;
}

/* Give span s back to the page heap if it holds no block and is not the
 * class's last partial span.  s must be swept. */
static void
maybe_release(struct central *c, struct span *s)
{
	if (s->nout == 0 && c->npartial > 1) {
		partial_remove(c, s);
		heap_free_span(s);
	}
}

/* Sweep s now if it is unswept in generation sg; true if this call swept it. */
static bool
sweep_here(struct central *c, struct span *s, uint32_t sg)
{
	uint32_t unswept = sg - 2;
	if (!atomic_compare_exchange_strong(&s->sweepgen, &unswept, sg - 1))
		return false;
	uint64_t freed = 0;
	sweep_small_locked(s, sg, &freed);
	if (freed > 0 && !s->in_partial)
		partial_insert(c, s);
	if (s->in_partial)
		maybe_release(c, s);
	return true;
}

size_t
central_take(unsigned spanclass, struct cache_list *l, size_t want)
{
	struct central *c = &centrals[spanclass];
	size_t n = 0;
	lock_acquire(&c->lock);
	/* Read under the lock: no collection starts while it is held. */
	uint32_t sg = atomic_load(&heap_sweepgen);
	void *head = l->head;
	while (n < want) {
		struct span *s = c->partial.next;
		if (s != &c->partial && sweep_here(c, s, sg))
			continue; /* the span may have moved or gone: look again */
		if (s == &c->partial && (s = central_grow(c, spanclass)) == NULL)
			break;
		n += take_from_span(s, &head, want - n);
		if (!has_available(s))
			partial_remove(c, s);
	}
	l->head = head;
	l->count += (uint32_t)n;
	lock_release(&c->lock);
	return n;
}

/* Return b (zero but for words 0 and 1) to its span; true if the span may now be
 * given back to the heap. */
static struct span *
give_to_span(struct central *c, void **b)
{
	struct span *s = pagemap_lookup((uintptr_t)b);
	MGC_ASSERT(s->kind == SPAN_SMALL && s->nout > 0);
	*b = s->free;
	s->free = b;
	s->nout--;
	if (!s->in_partial)
		partial_insert(c, s);
	return s;
}

static void
give_chain(struct central *c, void *head, bool release)
{
	uint32_t sg = atomic_load(&heap_sweepgen);
	while (head != NULL) {
		void **b = head;
		head = *b;
		struct span *s = give_to_span(c, b);
		if (release && atomic_load_explicit(&s->sweepgen, memory_order_relaxed) == sg)
			maybe_release(c, s);
	}
}

void
central_give(unsigned spanclass, void *head)
{
	struct central *c = &centrals[spanclass];
	lock_acquire(&c->lock);
	give_chain(c, head, true);
	lock_release(&c->lock);
}

void
central_give_locked(unsigned spanclass, void *head)
{
	give_chain(&centrals[spanclass], head, false);
}

void
central_sweep(struct span *s, unsigned spanclass, uint32_t sg)
{
	struct central *c = &centrals[spanclass];
	lock_acquire(&c->lock);
	sweep_here(c, s, sg);
	lock_release(&c->lock);
}
