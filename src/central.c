/* central.c — one central list per span class (size class × kind).
 *
 * A central list owns the small spans of its class that are not free in the
 * page heap.  Spans with at least one block available (on the span's free
 * list, dead and swept, or never handed out yet: the bump region) sit on
 * `partial`; spans with none sit on `full`, and move to `partial` when a
 * block is returned or a sweep frees one.  Before the class takes a new span
 * from the page heap, central_take sweeps unswept spans of its own full list
 * (up to FULL_SCAN of them): otherwise the blocks a collection found dead in
 * full spans would wait for the global sweep (sweep_some, two spans per
 * refill) while the class grew the heap by fresh spans, and the heap's
 * pages would run to twice the goal on programs that allocate in many
 * classes (Go's mcentral sweeps its own spans first for the same reason).
 *
 * Thread caches move blocks in batches: central_take hands out up to a
 * batch, taking never-used blocks in address order so fresh memory is
 * touched only when it is needed; central_give takes a chain back onto the
 * spans it came from.  A span is swept (sweep.c) before any of its blocks
 * is handed out again: a block allocated from an unswept span would be live
 * and unmarked, and the sweep would free it.
 *
 * A span a sweep leaves with no block out moves to the class's `empty`
 * list rather than to the page heap: the class is likely to need it again
 * soon (a collection frees the spans of a dead structure while the program
 * builds its successor), and reusing it in place spares two trips through
 * the page heap's lock and its span records.  Those spans go back to the
 * page heap when the next collection starts (central_release_empty before
 * the world stops, central_release_empty_stopped for any emptied since,
 * just before the sweep snapshot: no empty-list span is ever in one) and
 * when mgc_collect ends, so a class keeps at most one cycle's worth and
 * the memory can still return to the OS.  A span emptied by explicit
 * frees goes back to the page heap at once.  Either way the class keeps
 * its last partial span, so that a thread allocating and freeing one
 * block does not cycle a span.
 *
 * Invariants [central lock]: s->nout counts the blocks of s held by caches
 * or users; s->in_partial iff s has a block available and is not on the
 * empty list; a span on the empty list has no block out, no free list and
 * no dead block, its bump at 0 and needzero set; blocks on a span's
 * free list are BLOCK_FREE and zero but for words 0 and 1 (alloc.c); those
 * of its bump region are zero;
 * dead blocks (sweep.c) are BLOCK_FREE and zeroed when taken.
 *
 * Locking: each central has its own lock; no thread holds two.  The page
 * heap's lock may be taken under it (to get or return a span).  The
 * collector changes central state (central_give_stopped) only with the world
 * stopped, when no registered thread holds a central lock (internal.h).
 * Only registered threads and the holder of the gc lock take central
 * locks, so with the gc lock held and the world stopped none is held: a
 * fork then leaves them all free in the child (gc.c).
 */
#include "internal.h"

#include <string.h>

struct central {
	struct lock lock;
	struct span partial; /* [lock] sentinel of the partial list */
	unsigned npartial;   /* [lock] */
	struct span full;    /* [lock] sentinel of the full list */
	unsigned nfull;      /* [lock] spans on it */
	/* [lock] those of them not yet swept in this cycle: full_sweep has
	 * work only while there are some.  Every full span is unswept once a
	 * collection starts the sweep (central_begin_sweep_stopped). */
	unsigned full_unswept;
	struct span *empty; /* [lock] wholly free spans, linked through next */
	/* While a concurrent cycle marks: the span blocks are taken from
	 * (take_fresh), NULL or on the partial list.  [lock] */
	struct span *fresh;
} __attribute__((aligned(64)));

/* The centrals of each kind slot, MAX_SPANCLASSES of them: slot 0's are
 * static, the others' made when the slot is first used (central_slot_ready)
 * and kept for the life of the process.  [atomic]: set once under
 * slots_mutex (a leaf, taken holding no other lock), read without it. */
static struct central plain[MAX_SPANCLASSES];
static struct central *_Atomic slots[KIND_SLOTS];
static pthread_mutex_t slots_mutex = PTHREAD_MUTEX_INITIALIZER;

static void
init_centrals(struct central *cs)
{
	for (int i = 0; i < MAX_SPANCLASSES; i++) {
		cs[i].lock = (struct lock)LOCK_INIT(LOCK_CENTRAL);
		cs[i].partial.next = cs[i].partial.prev = &cs[i].partial;
		cs[i].full.next = cs[i].full.prev = &cs[i].full;
	}
}

void
central_init(void)
{
	init_centrals(plain);
	atomic_store(&slots[SLOT_PLAIN], plain);
}

bool
central_slot_ready(unsigned slot)
{
	if (likely(atomic_load_explicit(&slots[slot], memory_order_acquire) != NULL))
		return true;
	lock_plain(&slots_mutex);
	if (atomic_load(&slots[slot]) == NULL) {
		struct central *cs = os_alloc_meta(MAX_SPANCLASSES * sizeof *cs);
		if (cs != NULL) {
			init_centrals(cs);
			atomic_store_explicit(&slots[slot], cs, memory_order_release);
		}
	}
	pthread_mutex_unlock(&slots_mutex);
	return atomic_load(&slots[slot]) != NULL;
}

/* Span class sc's central; its slot is ready. */
static struct central *
central_of(unsigned sc)
{
	return atomic_load_explicit(&slots[sc_slot(sc)], memory_order_acquire) + sc_index(sc);
}

/* fn(c, arg) for every central of every ready slot. */
static void
each_central(void (*fn)(struct central *c, void *arg), void *arg)
{
	for (unsigned slot = 0; slot < KIND_SLOTS; slot++) {
		struct central *cs = atomic_load_explicit(&slots[slot], memory_order_acquire);
		for (int i = 0; cs != NULL && i < MAX_SPANCLASSES; i++)
			fn(&cs[i], arg);
	}
}

/* s waits for this cycle's sweep.  [central lock]: only a sweep, under
 * the lock, or a collection, with the world stopped, changes s->sweepgen. */
static bool
span_unswept(const struct span *s)
{
	return atomic_load_explicit(&s->sweepgen, memory_order_relaxed) ==
	       atomic_load_explicit(&heap_sweepgen, memory_order_relaxed) - 2;
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
unlink_span(struct span *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static void
partial_remove(struct central *c, struct span *s)
{
	unlink_span(s);
	s->in_partial = false;
	c->npartial--;
	if (c->fresh == s)
		c->fresh = NULL;
}

/* At the tail: full_sweep looks at the head first, where the spans that
 * have been full longest are. */
static void
full_insert(struct central *c, struct span *s)
{
	MGC_ASSERT(!span_unswept(s));
	s->prev = c->full.prev;
	s->next = &c->full;
	c->full.prev->next = s;
	c->full.prev = s;
	s->in_full = true;
	c->nfull++;
}

static void
full_remove(struct central *c, struct span *s)
{
	if (span_unswept(s))
		c->full_unswept--;
	unlink_span(s);
	s->in_full = false;
	c->nfull--;
}

/* s has a block available again: onto the partial list. */
static void
make_partial(struct central *c, struct span *s)
{
	if (s->in_full)
		full_remove(c, s);
	if (!s->in_partial)
		partial_insert(c, s);
}

/* A span for the class, zeroed, on the partial list: one of its empty
 * spans, else a new one from the page heap; NULL on ENOMEM. */
static struct span *
central_grow(struct central *c, unsigned spanclass, uint32_t sg)
{
	unsigned cls = sc_class(spanclass);
	struct span *s = c->empty;
	if (s != NULL) {
		/* Emptied in this cycle: every collection releases the empty
		 * lists before it takes its sweep snapshot. */
		MGC_ASSERT(atomic_load(&s->sweepgen) == sg);
		c->empty = s->next;
	} else {
		s = heap_alloc_span(class_npages[cls], SPAN_SMALL, spanclass, 0, NULL);
	}
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

/* A concurrent cycle is marking: the first n blocks of chain b, from s,
 * leave marked (gc_black). */
static NOINLINE void
blacken_chain(struct span *s, void **b, size_t n)
{
	for (; n > 0; n--, b = *b)
		gc_blacken(s, span_block_index(s, (uintptr_t)b));
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
	if (unlikely(atomic_load_explicit(&gc_black, memory_order_relaxed)))
		blacken_chain(s, *head, n);
	return n;
}

/* s (swept, on the partial list) holds no block.  Unless it is the class's
 * last partial span, which stays (so that a thread allocating and freeing
 * one block does not cycle a span), it leaves the partial list: emptied by
 * a sweep, onto the empty list, reset to never handed out; emptied by
 * explicit frees, back to the page heap at once, since no collection may
 * come to release it. */
static void
maybe_release(struct central *c, struct span *s, bool swept_now)
{
	if (s->nout != 0 || c->npartial <= 1)
		return;
	partial_remove(c, s);
	if (!swept_now) {
		heap_free_span(s);
		return;
	}
	s->free = NULL;
	for (uint32_t w = 0; w * 64 < s->nelems; w++)
		s->dead[w] = 0;
	s->ndead = 0;
	s->bump = 0;
	s->needzero = true;
	s->next = c->empty;
	c->empty = s;
}

static struct span *
detach_empty(struct central *c)
{
	struct span *s = c->empty;
	c->empty = NULL;
	return s;
}

static void
free_empty_chain(struct span *s)
{
	while (s != NULL) {
		struct span *next = s->next;
		s->next = NULL;
		heap_free_span(s);
		s = next;
	}
}

static void
release_empty(struct central *c, void *arg)
{
	(void)arg;
	lock_acquire(&c->lock);
	struct span *s = detach_empty(c);
	lock_release(&c->lock);
	free_empty_chain(s);
}

void
central_release_empty(void)
{
	each_central(release_empty, NULL);
}

static void
release_empty_stopped(struct central *c, void *arg)
{
	(void)arg;
	MGC_ASSERT(world_stopped_here());
	free_empty_chain(detach_empty(c));
}

void
central_release_empty_stopped(void)
{
	MGC_ASSERT(world_stopped_here());
	each_central(release_empty_stopped, NULL);
}

static void
begin_sweep_stopped(struct central *c, void *arg)
{
	(void)arg;
	MGC_ASSERT(world_stopped_here());
	c->full_unswept = c->nfull;
}

void
central_begin_sweep_stopped(void)
{
	MGC_ASSERT(world_stopped_here());
	each_central(begin_sweep_stopped, NULL);
}

bool
central_lock_held(unsigned spanclass)
{
	return lock_held(&central_of(spanclass)->lock);
}

void
central_lock(unsigned spanclass)
{
	lock_acquire(&central_of(spanclass)->lock);
}

void
central_unlock(unsigned spanclass)
{
	lock_release(&central_of(spanclass)->lock);
}

/* Under the gc lock, as its caller may be a thread that is not registered
 * (see Locking above). */
static void
count_empty(struct central *c, void *arg)
{
	lock_acquire(&c->lock);
	for (struct span *s = c->empty; s != NULL; s = s->next)
		++*(size_t *)arg;
	lock_release(&c->lock);
}

size_t
central_count_empty(void)
{
	size_t n = 0;
	lock_acquire(&gc_lock);
	each_central(count_empty, &n);
	lock_release(&gc_lock);
	return n;
}

/* Sweep s now if it is unswept in generation sg; true if this call swept it. */
static bool
sweep_here(struct central *c, struct span *s, uint32_t sg)
{
	uint32_t unswept = sg - 2;
	if (!atomic_compare_exchange_strong(&s->sweepgen, &unswept, sg - 1))
		return false;
	if (s->in_full)
		c->full_unswept--;
	uint64_t freed = 0;
	sweep_small_locked(s, sg, &freed);
	if (freed > 0)
		make_partial(c, s);
	if (s->in_partial)
		maybe_release(c, s, true);
	return true;
}

enum { FULL_SCAN = 32 };

/* Sweep unswept spans of the full list until one has a block available;
 * true if one has.  Looks at FULL_SCAN spans at most, moving the ones it
 * finds swept and still full (by the global sweep, in place) to the tail,
 * and none once every full span is swept: reading a span record is a
 * cache miss, and a class whose spans all stay full (a large live
 * structure) paid FULL_SCAN of them for every batch it took. */
static bool
full_sweep(struct central *c, uint32_t sg)
{
	for (int i = 0; i < FULL_SCAN && c->full_unswept > 0; i++) {
		struct span *s = c->full.next;
		if (!sweep_here(c, s, sg)) {
			full_remove(c, s);
			full_insert(c, s);
			continue;
		}
		if (c->partial.next != &c->partial)
			return true;
	}
	return false;
}

/* Move s to the full list if it has no block left. */
static void
full_if_empty(struct central *c, struct span *s)
{
	if (!has_available(s)) {
		partial_remove(c, s);
		full_insert(c, s);
	}
}

/* While a concurrent cycle marks (gc_black), blocks come from spans of
 * their own (c->fresh, from the empty list or the page heap), in address
 * order, not from the free blocks the last sweep left among live ones.
 * Every block allocated in the cycle is marked, so its page is scanned
 * again once written (gc.c): scattered over old spans, each 64-byte block
 * would cost its whole page's blocks a rescan, and the rescans would never
 * catch up with a program that allocates fast.  The heap grows meanwhile
 * by what the cycle allocates, which it keeps until the next sweep
 * anyway.  Returns how many of want it moved to *head: fewer when the page
 * heap has no span to give (the caller takes the rest as usual). */
static size_t
take_fresh(struct central *c, unsigned spanclass, void **head, size_t want, uint32_t sg)
{
	size_t n = 0;
	while (n < want) {
		struct span *s = c->fresh;
		if (s == NULL && (s = central_grow(c, spanclass, sg)) == NULL)
			break;
		c->fresh = s;
		n += take_from_span(s, head, want - n);
		full_if_empty(c, s);
	}
	return n;
}

size_t
central_take(unsigned spanclass, struct cache_list *l, size_t want)
{
	struct central *c = central_of(spanclass);
	size_t n = 0;
	lock_acquire(&c->lock);
	/* Read under the lock: no collection starts while it is held. */
	uint32_t sg = atomic_load(&heap_sweepgen);
	void *head = l->head;
	if (unlikely(atomic_load_explicit(&gc_black, memory_order_relaxed)))
		n = take_fresh(c, spanclass, &head, want, sg);
	while (n < want) {
		struct span *s = c->partial.next;
		if (s != &c->partial && sweep_here(c, s, sg))
			continue; /* the span may have moved or gone: look again */
		if (s == &c->partial && full_sweep(c, sg))
			continue;
		if (s == &c->partial && (s = central_grow(c, spanclass, sg)) == NULL)
			break;
		n += take_from_span(s, &head, want - n);
		full_if_empty(c, s);
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
	make_partial(c, s);
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
			maybe_release(c, s, false);
	}
}

void
central_give(unsigned spanclass, void *head)
{
	struct central *c = central_of(spanclass);
	lock_acquire(&c->lock);
	give_chain(c, head, true);
	lock_release(&c->lock);
}

void
central_give_stopped(unsigned spanclass, void *head)
{
	MGC_ASSERT(world_stopped_here());
	give_chain(central_of(spanclass), head, false);
}

void
central_sweep(struct span *s, unsigned spanclass, uint32_t sg)
{
	struct central *c = central_of(spanclass);
	lock_acquire(&c->lock);
	sweep_here(c, s, sg);
	lock_release(&c->lock);
}

/* fork (gc.c): the forking thread holds slots_mutex and every central
 * lock across fork(), so that no central is half changed in the child.
 * They are taken in index order, outside the lock-order check (which
 * allows one central at a time), by a thread holding the gc and thread
 * locks: a thread holding a central waits at most for the heap lock and
 * the leaves below it, which the forker takes only afterwards. */
static void
lock_for_fork(struct central *c, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&c->lock.mutex);
}

static void
unlock_for_fork(struct central *c, void *arg)
{
	(void)arg;
	pthread_mutex_unlock(&c->lock.mutex);
}

void
central_fork_prepare(void)
{
	pthread_mutex_lock(&slots_mutex);
	each_central(lock_for_fork, NULL);
}

void
central_fork_done(void)
{
	each_central(unlock_for_fork, NULL);
	pthread_mutex_unlock(&slots_mutex);
}

/* In the child of a fork made with the world stopped instead (under
 * ThreadSanitizer: gc.c): every central lock is free, since only
 * registered threads and the holder of the gc lock take them (see the top
 * comment); debug builds check it. */
static void
check_free_after_fork(struct central *c, void *arg)
{
	(void)arg;
	if (pthread_mutex_trylock(&c->lock.mutex) != 0)
		fatal("mgc: internal error: a central lock was held across fork");
	pthread_mutex_unlock(&c->lock.mutex);
}

void
central_after_fork_child(void)
{
	pthread_mutex_init(&slots_mutex, NULL);
	if (MGC_DEBUG)
		each_central(check_free_after_fork, NULL);
}
