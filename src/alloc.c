/* alloc.c — the public allocation calls and the small-block fast path.
 *
 * The allocator is the seed's hierarchy of caches, each level refilled in
 * batches from the one below:
 *
 *	thread cache (cache.c)   per thread, per span class; no lock, no atomic
 *	central list (central.c) per span class; one lock each
 *	page heap    (heap.c)    spans of 8 KiB pages; one lock
 *	OS layer     (os.c)      reserved arenas, committed on use
 *
 * Requests up to 32 KiB are rounded to a size class (sizeclass.c) and served
 * from the thread cache: the fast path below pops a block, records it live
 * in its span's state map, counts it, and returns.  Larger requests get a
 * span of their own from the page heap.  A span class is a size class and a
 * kind: scan blocks and noscan blocks never share a span, so the collector
 * learns a block's kind from its span.
 *
 * Zeroing rule: a block is zeroed when it becomes free (mgc_free) or when
 * central_take hands out a block the sweep freed, so every free block in a
 * list is zero but for the link in word 0 and, from 16 bytes up, its state
 * byte's address in word 1 (block_set_state_ref), which the fast path
 * clears on the way out.  Spans are zeroed by
 * whoever takes them from the page heap, only when their pages may hold old
 * data: memory fresh from the OS is never cleared.
 *
 * Block states.  A block is BLOCK_LIVE from allocation to free, BLOCK_FREE
 * otherwise (in a cache, on a span's free list, or never handed out).  Only
 * the thread that holds the block writes its state byte, so the fast paths
 * need no atomic read-modify-write; mgc_free and mgc_realloc check it to
 * catch double frees, and mgc_base to answer only for live blocks.  A block
 * the last mark found unreachable stays BLOCK_LIVE until its span is swept,
 * yet it is already dead to every call (block_live): so mgc_base,
 * mgc_free, mgc_realloc and the calls that attach finalizers, cleanups and
 * weak handles also consult the mark bit while the span is unswept.  The
 * one exception is a kind's disclaim callback (sweep.c), which runs in the
 * sweep of the block's span: for it, the span's blocks are live until the
 * sweep frees them, and it may run on a thread with no cache.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_all(void)
{
	knobs_init();
	if (knobs.concurrent)
		dirty_init();
	sizeclass_init();
	heap_init();
	central_init();
	thread_init();
	world_init();
	gc_init();
	debug_init();
}

void
mgc_init(void)
{
	pthread_once(&init_once, init_all);
}

/* ---- fast paths ---------------------------------------------------------- */

/* The fast paths take a span class's index within its slot, si (class << 1
 * | noscan, below 256): the plain kinds' fast path then needs no masking.
 * The state byte of free block b of index si. */
static inline _Atomic uint8_t *
block_state(void **b, unsigned si)
{
	if (likely(si >= 4)) { /* 16 bytes or more: the byte's address is in word 1 */
		_Atomic uint8_t *st = b[1];
		b[1] = NULL;
		return st;
	}
	struct span *s = pagemap_lookup((uintptr_t)b);
	return &s->state[span_block_index(s, (uintptr_t)b)];
}

/* Busy section held: mark b (just popped from a list of index si) live
 * and count it. */
static inline void *
block_go_live(struct cache *c, void **b, unsigned si)
{
	atomic_store_explicit(block_state(b, si), BLOCK_LIVE, memory_order_relaxed);
	*b = NULL;
	counter_add(&c->nmalloc, 1);
	counter_add(&c->bytes_alloc, class_size[si >> 1]);
	return b;
}

/* Busy section held: pop a block from list l (index si) and make it live,
 * or NULL if the list is empty. */
static inline void *
list_pop(struct cache *c, struct cache_list *l, unsigned si)
{
	void **b = l->head;
	if (unlikely(b == NULL))
		return NULL;
	l->head = *b;
	l->count--;
	return block_go_live(c, b, si);
}

static inline void *
cache_pop(struct cache *c, unsigned sc)
{
	busy_enter(c);
	void *p = list_pop(c, cache_list_of(c, sc), sc_index(sc));
	busy_leave(c);
	return p;
}

/* The fast path's two ways out of line.  Both are tail calls, so the fast
 * path itself calls nothing and saves no register. */

/* A stop request arrived during the busy section: serve it, then hand out
 * p, which the stopped thread holds in this frame (a root). */
static NOINLINE void *
stop_then_return(struct cache *c, void *p)
{
	void *volatile held = p;
	world_deferred_stop(c);
	return held;
}

/* The list was empty: end the busy section and take the slow path. */
static NOINLINE void *
alloc_miss(struct cache *c, size_t size, unsigned kind_sc)
{
	busy_leave(c);
	return alloc_slow(size, kind_sc);
}

/* kind_sc: the kind's span class of class 0 (slot and noscan bit), a
 * constant for the plain kinds, so that their fast path never looks at the
 * slot lists. */
static inline __attribute__((always_inline)) void *
alloc_fast(size_t size, unsigned kind_sc)
{
	struct cache *c = tls_cache;
	if (unlikely(c == NULL || size > MAX_SMALL ||
	             (sc_slot(kind_sc) != SLOT_PLAIN && c->slot_lists[sc_slot(kind_sc)] == NULL)))
		return alloc_slow(size, kind_sc);
	unsigned slot = sc_slot(kind_sc), si = sizeclass_of(size) << 1 | (kind_sc & 1);
	struct cache_list *l = slot == SLOT_PLAIN ? &c->list[si] : &c->slot_lists[slot][si];
	busy_enter(c);
	void *p = list_pop(c, l, si);
	if (unlikely(p == NULL))
		return alloc_miss(c, size, kind_sc);
	if (busy_end(c))
		return stop_then_return(c, p);
	return p;
}

void *
alloc_of_kind(size_t size, unsigned kind_sc)
{
	return alloc_fast(size, kind_sc);
}

void *
alloc_typed_block(size_t need, uintptr_t trailer)
{
	char *p = alloc_fast(need, SLOT_TYPED << SLOT_SHIFT);
	if (unlikely(p == NULL))
		return NULL;
	size_t whole = likely(need <= MAX_SMALL) ? class_size[sizeclass_of(need)]
	                                         : pagemap_lookup((uintptr_t)p)->elem_size;
	*(uintptr_t *)(p + whole - WORD) = trailer;
	return p;
}

void *
mgc_alloc(size_t size)
{
	return alloc_fast(size, false);
}

void *
mgc_alloc_noscan(size_t size)
{
	return alloc_fast(size, true);
}

static void *
enomem(void)
{
	errno = ENOMEM;
	return NULL;
}

/* Usable size of a large block for a request of size bytes in npages pages:
 * the whole span when that keeps within the 12.5% bound, else the request
 * rounded to 16. */
static size_t
large_usable(size_t size, size_t npages)
{
	size_t whole = npages * PAGE_SIZE;
	return whole - size <= size / 8 ? whole : round_up(size, 16);
}

/* Aligned blocks need no machinery of their own: spans start on a page,
 * and a request that is a multiple of a power of two up to a page lands in
 * a class (or a large span) that is a multiple of it too (sizeclass_check
 * verifies it), so every block of that class is aligned. */
void *
mgc_alloc_aligned(size_t size, size_t align)
{
	if (align == 0 || (align & (align - 1)) != 0 || align > PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	if (size > MAX_REQUEST)
		return enomem();
	return mgc_alloc(round_up(size > align ? size : align, align));
}

size_t
mgc_good_size(size_t size)
{
	if (size > MAX_REQUEST)
		return 0;
	if (size <= MAX_SMALL) {
		mgc_init();
		return class_size[sizeclass_of(size)];
	}
	return large_usable(size, (size + PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* ---- slow paths ---------------------------------------------------------- */

static void *
alloc_large(struct cache *c, size_t size, unsigned kind_sc)
{
	if (size > MAX_REQUEST)
		return enomem();
	size_t npages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
	_Atomic uintptr_t *pin = &tls_thread->pinned;
	struct span *s =
	        heap_alloc_span(npages, SPAN_LARGE, kind_sc, large_usable(size, npages), pin);
	if (s == NULL)
		return enomem();
	void *volatile p = (void *)s->base; /* held by this thread from here on */
	atomic_store_explicit(pin, 0, memory_order_relaxed);
	if (s->needzero) {
		memset(p, 0, s->elem_size);
		s->needzero = false;
	}
	counter_add(&c->nmalloc, 1);
	counter_add(&c->bytes_alloc, s->elem_size);
	cache_publish(c);
	return p;
}

static void *
alloc_once(struct cache *c, size_t size, unsigned kind_sc)
{
	if (size > MAX_SMALL)
		return alloc_large(c, size, kind_sc);
	unsigned sc = kind_sc | sizeclass_of(size) << 1;
	for (;;) {
		void *p = cache_pop(c, sc);
		if (p != NULL)
			return p;
		if (!cache_refill(c, sc))
			return enomem();
	}
}

/* The calling thread's cache, registered, with kind slot `slot` ready
 * in it and in the centrals; NULL on ENOMEM. */
static struct cache *
alloc_cache_for(unsigned slot)
{
	struct cache *c = tls_cache;
	if (c == NULL && (c = thread_attach()) == NULL)
		return NULL;
	if (!central_slot_ready(slot) || !cache_slot_ready(c, slot))
		return NULL;
	return c;
}

/* Before a slow-path allocation: collect if it is time, sweep a little. */
static void
alloc_pace(void)
{
	if (unlikely(gc_stress || gc_due()))
		gc_auto();
	sweep_some();
}

void *
alloc_slow(size_t size, unsigned kind_sc)
{
	struct cache *c = alloc_cache_for(sc_slot(kind_sc));
	if (c == NULL)
		return enomem();
	alloc_pace();
	void *p = alloc_once(c, size, kind_sc);
	/* At the heap's maximum: one full collection, then a last try. */
	if (p == NULL && size <= MAX_REQUEST && heap_has_max()) {
		gc_collect_full();
		p = alloc_once(c, size, kind_sc);
	}
	return p;
}

/* ---- batch allocation ------------------------------------------------------ */

/* Busy section held: make the first k <= l->count blocks of list l (span
 * class sc) live and detach them as a NULL-terminated chain; how many. */
static size_t
list_take_live(struct cache *c, struct cache_list *l, unsigned sc, size_t n)
{
	void **b = l->head;
	size_t k = 1;
	for (;; k++) {
		atomic_store_explicit(block_state(b, sc_index(sc)), BLOCK_LIVE,
		                      memory_order_relaxed);
		if (k == n || *b == NULL)
			break;
		b = *b;
	}
	l->head = *b;
	*b = NULL;
	l->count -= (uint32_t)k;
	counter_add(&c->nmalloc, k);
	counter_add(&c->bytes_alloc, k * class_size[sc_class(sc)]);
	return k;
}

void *
alloc_many(size_t size, unsigned kind_sc, size_t n)
{
	if (size > MAX_SMALL || n == 1)
		return alloc_of_kind(size, kind_sc);
	struct cache *c = alloc_cache_for(sc_slot(kind_sc));
	if (c == NULL)
		return enomem();
	unsigned sc = kind_sc | sizeclass_of(size) << 1;
	struct cache_list *l = cache_list_of(c, sc);
	if (l->count < n) {
		alloc_pace();
		cache_publish(c);
		size_t want = n - l->count;
		if (want < class_batch[sc_class(sc)] && !gc_stress)
			want = class_batch[sc_class(sc)];
		central_take(sc, l, want);
	}
	/* A collection may have emptied the list since (cache_flush_stopped). */
	for (;;) {
		busy_enter(c);
		void *head = l->head;
		if (head != NULL)
			list_take_live(c, l, sc, n);
		busy_leave(c);
		if (head != NULL)
			return head;
		if (!cache_refill(c, sc))
			return enomem();
	}
}

/* ---- free ---------------------------------------------------------------- */

/* Is block i of span s live: allocated, and not found unreachable by the
 * last completed mark?  A block that mark found dead stays BLOCK_LIVE until
 * its span is swept, yet it is dead to every mgc call from the moment the
 * world restarts (include/mgc.h).  The caller is in a busy section, so no
 * collection starts meanwhile and heap_sweepgen is fixed.
 *
 * A sweep claims its span (sweepgen sg-2 -> sg-1) before it clears a mark
 * bit or frees a block, and publishes sg (release) when done.  So this
 * reads like a sequence lock: swept (sg), the state byte read after the
 * generation answers; unswept (sg-2), the state byte and the mark bit
 * answer if the generation still reads sg-2 after them (a sweep that
 * started in between shows there); being swept (sg-1), the sweeper holds
 * the central or heap lock for one span's worth of work: wait for it.
 * state and mark are s's side maps, passed in as a lookup saw them: after a
 * lookup that raced with the span's teardown they may have been freed and
 * reused (fixalloc memory, still mapped), and lookup_valid then discards
 * the answer; hence no ThreadSanitizer here either. */
__attribute__((no_sanitize("thread"))) static bool
block_live(struct span *s, const _Atomic uint8_t *state, const uint64_t *mark, uint32_t i)
{
	uint32_t sg = atomic_load_explicit(&heap_sweepgen, memory_order_relaxed);
	for (;;) {
		uint32_t g = atomic_load_explicit(&s->sweepgen, memory_order_acquire);
		bool live = atomic_load_explicit(&state[i], memory_order_relaxed) == BLOCK_LIVE;
		if (g == sg)
			return live;
		if (g == sg - 1 && sweep_disclaiming != NULL)
			return live; /* for a disclaim callback (sweep.c): nothing freed yet */
		if (g == sg - 2) {
			live = live &&
			       (__atomic_load_n(&mark[i >> 6], __ATOMIC_RELAXED) >> (i & 63) & 1);
			fence_acquire();
			if (atomic_load_explicit(&s->sweepgen, memory_order_relaxed) == sg - 2)
				return live;
		}
		sched_yield();
	}
}

/* Why p is not the start of a live block, or NULL when it is.  Busy
 * section held (see block_live). */
static const char *
block_problem(struct span *s, uintptr_t p)
{
	if (s == NULL)
		return "not in the mgc heap";
	if (s->kind == SPAN_FREE)
		return "not a live block (its memory is free)";
	uint32_t i = span_block_index(s, p);
	if (i >= s->nelems || p >= s->base + i * s->elem_size + s->elem_size)
		return "not inside any block";
	if (atomic_load_explicit(&s->state[i], memory_order_relaxed) != BLOCK_LIVE)
		return "block is not allocated (double free?)";
	if (!block_live(s, s->state, s->mark, i))
		return "block is not allocated: the last collection found it unreachable "
		       "(was the pointer kept where mgc does not look?)";
	if (p != s->base + i * s->elem_size)
		return "interior pointer, not the start of a block";
	return NULL;
}

/* The calling thread's cache, registering it; a fatal error naming the
 * call if that fails. */
static struct cache *
cache_or_die(const char *call, const void *p)
{
	struct cache *c = tls_cache;
	if (c == NULL && (c = thread_attach()) == NULL)
		fatal("mgc: %s of %p: out of memory registering the thread", call, p);
	return c;
}

static _Noreturn void
bad_pointer(const char *call, const void *p, const char *why)
{
	fatal("mgc: %s of %p: %s", call, p, why);
}

/* Free small block p of span s (checked) straight to its central: the
 * thread could not make the lists of p's kind slot (ENOMEM). */
static void
free_to_central(struct cache *c, void *p, struct span *s)
{
	if (special_any())
		special_drop((uintptr_t)p);
	uint32_t i = span_block_index(s, (uintptr_t)p);
	busy_enter(c);
	atomic_store_explicit(&s->state[i], BLOCK_FREE, memory_order_relaxed);
	memset(p, 0, s->elem_size);
	block_set_state_ref(s, p, i);
	counter_add(&c->nfree, 1);
	counter_add(&c->bytes_freed, s->elem_size);
	busy_leave(c);
	cache_publish(c);
	central_give(s->spanclass, p);
}

/* Why p is not a live block's start (NULL when it is), asked inside a
 * busy section (see block_live). */
static const char *
free_problem(struct cache *c, struct span *s, const void *p)
{
	busy_enter(c);
	const char *why = block_problem(s, (uintptr_t)p);
	busy_leave(c);
	return why;
}

/* p, not a live block's start (why), is a debug block's pointer and its
 * block is freed (its guard checked first), or it is a bad pointer. */
static NOINLINE bool
free_debug(void *p, const char *why, bool strict)
{
	uintptr_t b = debug_block_of(p);
	if (b != 0) {
		debug_check_free(b);
		return strict ? (mgc_free((void *)b), true) : mgc_try_free((void *)b) == 0;
	}
	if (strict)
		bad_pointer("free", p, why);
	return false;
}

/* The free paths: p (not NULL) is freed, or, not being a live block's
 * start, aborts the program (strict: mgc_free) or is left alone (false:
 * mgc_try_free). */
static NOINLINE bool
free_slow(void *p, struct span *s, bool strict)
{
	struct cache *c = strict ? cache_or_die("free", p) : tls_cache;
	if (c == NULL && (c = thread_attach()) == NULL)
		return false;
	const char *why = free_problem(c, s, p);
	if (why != NULL)
		return free_debug(p, why, strict);
	if (s->kind == SPAN_LARGE) {
		if (special_any())
			special_drop((uintptr_t)p);
		counter_add(&c->nfree, 1);
		counter_add(&c->bytes_freed, s->elem_size);
		cache_publish(c);
		heap_free_large(s);
		return true;
	}
	if (!cache_slot_ready(c, sc_slot(s->spanclass))) {
		free_to_central(c, p, s);
		return true;
	}
	/* Now registered, the lists made: the fast path takes it. */
	return strict ? (mgc_free(p), true) : mgc_try_free(p) == 0;
}

static inline __attribute__((always_inline)) bool
free_block(void *p, bool strict)
{
	struct span *s = pagemap_lookup((uintptr_t)p);
	struct cache *c = tls_cache;
	if (unlikely(s == NULL || s->kind != SPAN_SMALL || c == NULL))
		return free_slow(p, s, strict);
	uint32_t i = span_block_index(s, (uintptr_t)p);
	size_t size = s->elem_size;
	unsigned sc = s->spanclass;
	if (unlikely(sc_slot(sc) != SLOT_PLAIN && c->slot_lists[sc_slot(sc)] == NULL))
		return free_slow(p, s, strict);
	if (unlikely(special_any())) {
		const char *why = strict ? NULL : free_problem(c, s, p);
		if (why != NULL)
			return free_debug(p, why, false);
		special_drop((uintptr_t)p);
	}
	struct cache_list *l = cache_list_of(c, sc);
	void *chain = NULL;
	busy_enter(c);
	if (unlikely((uintptr_t)p != s->base + i * size || !block_live(s, s->state, s->mark, i))) {
		const char *why = block_problem(s, (uintptr_t)p);
		busy_leave(c);
		return free_debug(p, why ? why : "not a live block's start", strict);
	}
	atomic_store_explicit(&s->state[i], BLOCK_FREE, memory_order_relaxed);
	if (unlikely(atomic_load_explicit(&gc_black, memory_order_relaxed)))
		gc_blacken(s, i); /* this cache may hand it out again in the cycle */
	memset(p, 0, size);
	*(void **)p = l->head;
	block_set_state_ref(s, p, i);
	l->head = p;
	counter_add(&c->nfree, 1);
	counter_add(&c->bytes_freed, size);
	if (unlikely(++l->count > l->limit))
		chain = cache_overflow(c, sc);
	busy_leave(c);
	if (unlikely(chain != NULL)) {
		cache_publish(c);
		central_give(sc, chain);
	}
	return true;
}

void
mgc_free(void *p)
{
	if (p != NULL)
		free_block(p, true);
}

int
mgc_try_free(void *p)
{
	if (p == NULL || free_block(p, false))
		return 0;
	errno = EINVAL;
	return -1;
}

/* ---- lookup and realloc -------------------------------------------------- */

/* A lookup of an arbitrary pointer, which holds no lock: p's span may be
 * freed, or set up anew, while it looks.  So the span's geometry is read
 * between two readings of its sequence count (heap.c, geometry_begin), and
 * the answer stands only if the count did not move by the end.  A block
 * the caller legitimately holds is live, so its span cannot change: a
 * moving count means p's block was dead anyway.  The reads race with the
 * heap's writers by design, hence no ThreadSanitizer. */
struct lookup {
	struct span *s;
	const _Atomic uint8_t *state;
	const uint64_t *mark;
	size_t size; /* usable: the block less its kind's trailer */
	uint32_t i, seq;
	unsigned sc;
	bool large;
};

__attribute__((no_sanitize("thread"))) static uintptr_t
lookup(uintptr_t p, struct lookup *l)
{
	struct span *s = pagemap_lookup(p);
	if (s == NULL)
		return 0;
	uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
	if ((seq & 1) || s->kind == SPAN_FREE)
		return 0;
	uint32_t i = span_block_index(s, p);
	uintptr_t base = s->base + i * s->elem_size;
	bool inside = i < s->nelems && p < base + s->elem_size;
	unsigned sc = s->spanclass;
	size_t usable = s->elem_size - kind_trailer(sc);
	*l = (struct lookup){s, s->state, s->mark, usable, i, seq, sc, s->kind == SPAN_LARGE};
	fence_acquire();
	if (!inside || atomic_load_explicit(&s->seq, memory_order_relaxed) != seq)
		return 0;
	return base;
}

/* Does l still describe its span, after the reads that followed it? */
static bool
lookup_valid(const struct lookup *l)
{
	fence_acquire();
	return atomic_load_explicit(&l->s->seq, memory_order_relaxed) == l->seq;
}

uintptr_t
alloc_block_allocated(uintptr_t p)
{
	struct lookup l;
	uintptr_t base = lookup(p, &l);
	if (base == 0 || atomic_load_explicit(&l.state[l.i], memory_order_relaxed) != BLOCK_LIVE)
		return 0;
	return base;
}

/* The answers below are given inside a busy section, or, on a thread with
 * no cache, from a disclaim callback, whose sweep keeps collections out. */
static void
enter(struct cache *c)
{
	if (c != NULL)
		busy_enter(c);
}

static void
leave(struct cache *c)
{
	if (c != NULL)
		busy_leave(c);
}

uintptr_t
alloc_block_base(uintptr_t p, size_t *size)
{
	struct cache *c = tls_cache;
	struct lookup l;
	enter(c);
	uintptr_t base = lookup(p, &l);
	if (base != 0 && (!block_live(l.s, l.state, l.mark, l.i) || !lookup_valid(&l)))
		base = 0;
	leave(c);
	if (base != 0 && size != NULL)
		*size = l.size;
	return base;
}

/* Inside a disclaim callback the blocks of the span being swept are live
 * to block_live, and their mark bits say what the sweep will keep. */
int
alloc_block_marked(uintptr_t p)
{
	struct cache *c = tls_cache;
	if (c == NULL && sweep_disclaiming == NULL && (c = thread_attach()) == NULL)
		return 0;
	struct lookup l;
	enter(c);
	bool marked = lookup(p, &l) != 0 && block_live(l.s, l.state, l.mark, l.i);
	if (marked && l.s == sweep_disclaiming)
		marked = __atomic_load_n(&l.mark[l.i >> 6], __ATOMIC_RELAXED) >> (l.i & 63) & 1;
	marked = marked && lookup_valid(&l);
	leave(c);
	return marked;
}

bool
alloc_block_ref(uintptr_t p, struct block_ref *r)
{
	struct lookup l;
	if (lookup(p, &l) == 0)
		return false;
	*r = (struct block_ref){l.s, l.sc, l.large, l.i, l.seq};
	return true;
}

bool
alloc_block_ref_valid(const struct block_ref *r)
{
	return atomic_load_explicit(&r->s->seq, memory_order_acquire) == r->seq;
}

void *
mgc_base(const void *p, size_t *size)
{
	struct cache *c = tls_cache;
	if (c == NULL && sweep_disclaiming == NULL && (c = thread_attach()) == NULL)
		return NULL;
	if (c != NULL)
		counter_add(&c->nlookup, 1);
	return (void *)alloc_block_base((uintptr_t)p, size);
}

/* True when a block of usable size n may serve a request of size bytes
 * (the contract's bound on rounding). */
static bool
fits_in_place(size_t size, size_t n)
{
	if (size > n)
		return false;
	return size < 128 ? n - size <= 16 : n - size <= size / 8;
}

void *
mgc_realloc(void *p, size_t size)
{
	if (p == NULL)
		return mgc_alloc(size);
	struct cache *c = cache_or_die("realloc", p);
	struct span *s = pagemap_lookup((uintptr_t)p);
	busy_enter(c);
	const char *why = block_problem(s, (uintptr_t)p);
	busy_leave(c);
	if (why != NULL) {
		uintptr_t b = debug_block_of(p);
		if (b == 0)
			bad_pointer("realloc", p, why);
		return (void *)debug_realloc_site(b, size);
	}
	unsigned sc = s->spanclass;
	size_t old = s->elem_size - kind_trailer(sc);
	if (size != 0 && fits_in_place(size, old))
		return p;
	void *q = kind_alloc_like(p, sc, size);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	mgc_free(p);
	return q;
}
