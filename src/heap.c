/* heap.c — the page heap: spans of contiguous pages, their free lists, large
 * blocks' spans, and the page map from any address to its span.
 *
 * Spans.  The heap's memory is cut into spans of whole 8 KiB pages.  A span
 * is SPAN_FREE (in a free list here), SPAN_SMALL (cut into blocks of one size
 * class, owned by a central list) or SPAN_LARGE (one block above 32 KiB).
 * Free spans are coalesced with free neighbours as soon as they are freed,
 * so two free spans are never adjacent.  Free lists are bucketed by page
 * count (1..127 pages, one list each, with a bitmap of the non-empty ones),
 * and one list for larger spans searched best-fit.  The heap grows by
 * committing more of the current arena (a 64 MiB-aligned reservation of at
 * least 64 MiB); when an arena is exhausted a new one is reserved anywhere,
 * so growth is limited only by the address space.
 *
 * Zeroing.  A free span remembers whether its pages may hold old data
 * (needzero); pages fresh from the OS or released with MADV_DONTNEED read as
 * zero and are not cleared again.  Releasing: free memory the heap will need
 * again before the next collection is kept; the rest goes back.  The
 * collector sets the retain goal (heap_set_retain_goal: the heap's size when
 * the next collection is due, with slack for fragmentation).  The background
 * scavenger (scavenge.c) releases free spans beyond what that goal still
 * needs, a step at a time (heap_scavenge).  Freeing a span also releases at
 * once, when free, unreleased memory exceeds the larger of what the goal
 * still needs, an eighth of the heap and 32 MiB, until three quarters of
 * that limit is left: a burst of freeing should not wait for the scavenger.
 * Releasing below the goal would only make the program fault the same pages
 * in again within one cycle (a heap that swings between its live size and
 * its goal at every collection did just that).  Released bytes are counted
 * in heap_released until the span is used again.
 *
 * Limits (pace.c sets them).  Under a memory limit, free memory is released
 * down to what the limit leaves, and growth that would bring the memory mgc
 * holds within a 32nd of the limit asks for a collection first
 * (gc_pressure).  Under a maximum, a span that would take the in-use pages
 * past it is refused: heap_alloc_span returns NULL and allocation collects
 * and tries once more (alloc.c).
 *
 * The page map.  pagemap_l1 has one entry per 64 MiB of the 48-bit address
 * space (2^22 entries in a sparse mapping that reads as zero everywhere and
 * costs memory only in the 4 KiB pages written as arenas appear, which are
 * counted in sys); each entry is NULL or a chunk_map with one span pointer per page
 * of that 64 MiB.  Every page of an in-use span points to it; a free span's
 * first and last pages point to it (for coalescing) and its inner pages are
 * NULL.  pagemap_lookup (internal.h) is therefore O(1) — a shift, two
 * dependent loads — and takes no lock: chunk maps are never freed and span
 * records are never unmapped (fixalloc recycles them), so a reader racing
 * with the heap sees a valid record, and for any address inside a block its
 * caller holds, the record cannot change under it.  Writers publish with
 * release stores after filling a record.  A non-heap address is rejected by
 * the high-bits test or a NULL first-level entry, usually from cache.
 *
 * Locking: heap_mutex guards everything here except the page map's readers.
 * It is taken below central locks (central_take grows through the heap) and
 * above fixalloc_lock.
 */
#include "internal.h"

#include <string.h>

enum {
	NUM_BUCKETS = 128, /* lists for 1..127 pages; list 0 holds the rest */
	ARENA_SIZE = 1 << CHUNK_SHIFT,
	GROW_MIN = 128 << 10, /* commit at least this much at a time */
	/* Past HUGE_AFTER committed bytes the heap commits whole huge pages and
	 * asks for them (os_hint_huge): a collection of a large heap follows
	 * pointers all over it, and with 4 KiB pages nearly every one costs a
	 * TLB miss.  Small heaps keep 4 KiB pages, which cost less memory. */
	HUGE_AFTER = 64 << 20,
	HUGE_PAGE = 2 << 20,
	SCAVENGE_MIN = 32 << 20,
	L1_ENTRIES = 1 << (ADDR_BITS - CHUNK_SHIFT),
	L1_PAGE = 4096,
};

struct chunk_map *_Atomic *pagemap_l1;
_Atomic uint32_t heap_sweepgen = 4;
_Atomic uintptr_t heap_lo MGC_STATE = UINTPTR_MAX, heap_hi MGC_STATE;

static struct lock heap_mutex = LOCK_INIT(LOCK_HEAP); /* "the heap lock" */
static struct span buckets[NUM_BUCKETS];              /* [heap lock] list sentinels */
static uint64_t nonempty[NUM_BUCKETS / 64];           /* [heap lock] bit n: buckets[n] not empty */
static struct {
	uintptr_t next; /* [heap lock] first uncommitted byte */
	uintptr_t end;  /* [heap lock] end of the reservation */
} arena MGC_STATE;
static struct heap_figures fig;      /* [heap lock] */
static uint64_t free_unreleased;     /* [heap lock] bytes in free, unreleased spans */
static _Atomic uint64_t retain_goal; /* heap bytes worth keeping; set by the collector */
static uint64_t max_inuse;           /* [heap lock] hard maximum of fig.inuse_bytes, 0: none */
static uint64_t soft_limit;          /* [heap lock] the memory limit (pace.c), 0: none */
static uint64_t l1_written[L1_ENTRIES * sizeof(void *) / L1_PAGE / 64]; /* [heap lock] */
static struct span *spare_records;  /* [heap lock] recycled span records, linked by next */
static struct span **inuse;         /* [heap lock] every in-use span, in no order */
static size_t ninuse, inuse_cap;    /* [heap lock] */
static struct sweep_item *snapshot; /* [gc lock] the in-use spans of this cycle */
static size_t snapshot_cap;         /* [gc lock] */
/* A concurrent cycle copies the in-use spans ahead of its final stop
 * (heap_prepare_snapshot): snapshot[0, prepared) then mirrors
 * inuse[0, prepared), kept so by inuse_remove, and the stop copies only
 * the rest.  0 otherwise.  [heap lock] */
static size_t prepared;

#define SIZE16(t) ((sizeof(t) + 15) & ~(size_t)15)
/* Span records are whole cache lines, so the mark loop's fields share one. */
#define SIZE64(t) ((sizeof(t) + 63) & ~(size_t)63)
static struct fixalloc span_fix = FIXALLOC_INIT(SIZE64(struct span));
static struct fixalloc chunk_fix = FIXALLOC_INIT(SIZE16(struct chunk_map));

/* Side maps of small spans: one byte of state, one mark bit and one dead
 * bit per block.  One allocator per size class, each of the exact size its
 * spans need: rounding them up to powers of two wasted up to a third of
 * this metadata, a few per cent of a heap of small blocks. */
static struct fixalloc side_fix[MAX_CLASSES]; /* [init only] sizes */

static size_t
side_bytes(uint32_t nelems)
{
	return round_up(nelems, 8) + 2 * (round_up(nelems, 64) / 8);
}

void
heap_init(void)
{
	for (int i = 0; i < NUM_BUCKETS; i++)
		buckets[i].next = buckets[i].prev = &buckets[i];
	for (int c = 0; c < MAX_CLASSES; c++)
		side_fix[c].size = side_bytes(class_nelems[c]);
	pagemap_l1 = os_map_sparse(L1_ENTRIES * sizeof(void *));
	if (pagemap_l1 == NULL)
		fatal("mgc: cannot reserve the page map (%zu bytes)", L1_ENTRIES * sizeof(void *));
}

/* ---- the page map (writers) ---------------------------------------------- */

static void
pagemap_set(uintptr_t a, struct span *s)
{
	struct chunk_map *c =
	        atomic_load_explicit(&pagemap_l1[a >> CHUNK_SHIFT], memory_order_relaxed);
	MGC_ASSERT(c != NULL);
	atomic_store_explicit(&c->page[(a >> PAGE_SHIFT) & (PAGES_PER_CHUNK - 1)], s,
	                      memory_order_release);
}

static void
pagemap_set_range(struct span *s, size_t first, size_t last, struct span *to)
{
	for (size_t i = first; i <= last; i++)
		pagemap_set(s->base + i * PAGE_SIZE, to);
}

/* Make sure the page map covers [start, end): commit the first-level pages
 * and allocate the chunk maps it needs.  False on ENOMEM. */
static bool
pagemap_cover(uintptr_t start, uintptr_t end)
{
	for (uintptr_t a = start & ~(uintptr_t)(ARENA_SIZE - 1); a < end; a += ARENA_SIZE) {
		size_t i = a >> CHUNK_SHIFT;
		size_t page = i * sizeof(void *) / L1_PAGE;
		if (!(l1_written[page / 64] >> (page % 64) & 1)) {
			os_account(L1_PAGE);
			l1_written[page / 64] |= (uint64_t)1 << (page % 64);
		}
		if (atomic_load_explicit(&pagemap_l1[i], memory_order_relaxed) != NULL)
			continue;
		struct chunk_map *c = fixalloc_alloc(&chunk_fix);
		if (c == NULL)
			return false;
		atomic_store_explicit(&pagemap_l1[i], c, memory_order_release);
	}
	return true;
}

/* ---- span records ------------------------------------------------------ */

/* Span records are recycled here rather than through fixalloc, so a record
 * is never cleared wholesale: a sweeper may read the sweepgen of a record
 * that has just been reused, and that field is only written atomically. */
static struct span *
record_alloc(void)
{
	struct span *s = spare_records;
	if (s == NULL)
		return fixalloc_alloc(&span_fix);
	spare_records = s->next;
	s->next = s->prev = NULL;
	s->kind = SPAN_FREE;
	s->needzero = s->released = s->in_partial = s->in_full = false;
	s->free = NULL;
	/* state and mark keep pointing at mapped memory (see geometry_begin). */
	return s;
}

static void
record_free(struct span *s)
{
	s->next = spare_records;
	spare_records = s;
}

static void
set_swept(struct span *s)
{
	atomic_store_explicit(&s->sweepgen,
	                      atomic_load_explicit(&heap_sweepgen, memory_order_relaxed),
	                      memory_order_release);
}

/* ---- the in-use array (what a collection sweeps) ------------------------- */

/* Grow an array of `elem`-byte items from *cap to at least want items. */
static bool
grow_array(void **arr, size_t *cap, size_t want, size_t elem)
{
	if (want <= *cap)
		return true;
	size_t ncap = *cap ? *cap : 1024;
	while (ncap < want)
		ncap *= 2;
	void *n = os_alloc_meta(ncap * elem);
	if (n == NULL)
		return false;
	if (*arr != NULL) {
		memcpy(n, *arr, *cap * elem);
		os_free_meta(*arr, *cap * elem);
	}
	*arr = n;
	*cap = ncap;
	return true;
}

static bool
inuse_add(struct span *s)
{
	if (!grow_array((void **)&inuse, &inuse_cap, ninuse + 1, sizeof *inuse))
		return false;
	s->inuse_index = (uint32_t)ninuse;
	inuse[ninuse++] = s;
	return true;
}

static struct sweep_item
item_of(struct span *s)
{
	return (struct sweep_item){s, s->kind, s->spanclass};
}

static void
inuse_remove(struct span *s)
{
	uint32_t i = s->inuse_index;
	struct span *last = inuse[--ninuse];
	inuse[i] = last;
	last->inuse_index = i;
	if (i >= prepared)
		return;
	if (ninuse < prepared) { /* last was in the prepared part */
		snapshot[i] = snapshot[ninuse];
		prepared = ninuse;
	} else {
		snapshot[i] = item_of(last);
	}
}

/* While a concurrent cycle marks (gc_black), spans join the in-use array
 * but none leaves it, and none changes kind or class: copy them now, so
 * that the final stop (heap_begin_cycle_stopped) copies only those added
 * since.  Reading a span record is a cache miss: at 1 GiB of small blocks
 * the copy took 10 ms. */
void
heap_prepare_snapshot(void)
{
	lock_acquire(&heap_mutex);
	MGC_ASSERT(atomic_load(&gc_black));
	if (grow_array((void **)&snapshot, &snapshot_cap, ninuse, sizeof *snapshot)) {
		for (size_t i = prepared; i < ninuse; i++)
			snapshot[i] = item_of(inuse[i]);
		prepared = ninuse;
	}
	lock_release(&heap_mutex);
}

size_t
heap_begin_cycle_stopped(struct sweep_item **items)
{
	MGC_ASSERT(world_stopped_here());
	atomic_store(&heap_sweepgen, atomic_load(&heap_sweepgen) + 2);
	size_t from = prepared;
	prepared = 0;
	if (!grow_array((void **)&snapshot, &snapshot_cap, ninuse, sizeof *snapshot))
		fatal("mgc: out of memory for the sweep list (%zu spans)", ninuse);
	for (size_t i = from; i < ninuse; i++)
		snapshot[i] = item_of(inuse[i]);
	if (MGC_DEBUG)
		for (size_t i = 0; i < ninuse; i++)
			MGC_ASSERT(snapshot[i].span == inuse[i] &&
			           snapshot[i].kind == inuse[i]->kind &&
			           snapshot[i].spanclass == inuse[i]->spanclass);
	*items = snapshot;
	return ninuse;
}

/* ---- free lists --------------------------------------------------------- */

static void
list_insert(struct span *head, struct span *s)
{
	s->next = head->next;
	s->prev = head;
	head->next->prev = s;
	head->next = s;
}

static void
list_remove(struct span *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static size_t
bucket_of(size_t npages)
{
	return npages < NUM_BUCKETS ? npages : 0;
}

static void
free_insert(struct span *s)
{
	size_t b = bucket_of(s->npages);
	list_insert(&buckets[b], s);
	nonempty[b / 64] |= (uint64_t)1 << (b % 64);
	pagemap_set_range(s, 0, 0, s);
	pagemap_set_range(s, s->npages - 1, s->npages - 1, s);
	if (!s->released)
		free_unreleased += s->npages * PAGE_SIZE;
	fig.free_bytes += s->npages * PAGE_SIZE;
}

static void
free_remove(struct span *s)
{
	size_t b = bucket_of(s->npages);
	list_remove(s);
	if (buckets[b].next == &buckets[b])
		nonempty[b / 64] &= ~((uint64_t)1 << (b % 64));
	if (!s->released)
		free_unreleased -= s->npages * PAGE_SIZE;
	fig.free_bytes -= s->npages * PAGE_SIZE;
}

/* Smallest free span of at least npages (lowest address among equals in the
 * big list), or NULL. */
static struct span *
free_find(size_t npages)
{
	for (size_t b = npages < NUM_BUCKETS ? npages : NUM_BUCKETS; b < NUM_BUCKETS;) {
		uint64_t bits = nonempty[b / 64] >> (b % 64);
		if (bits != 0)
			return buckets[b + (size_t)__builtin_ctzll(bits)].next;
		b = (b / 64 + 1) * 64;
	}
	struct span *best = NULL;
	for (struct span *s = buckets[0].next; s != &buckets[0]; s = s->next)
		if (s->npages >= npages && (best == NULL || s->npages < best->npages ||
		                            (s->npages == best->npages && s->base < best->base)))
			best = s;
	return best;
}

/* ---- coalescing and releasing ------------------------------------------ */

/* Absorb free neighbour n into s (both free; n is off the lists).  The
 * merged span is released only when both halves were. */
static void
merge_into(struct span *s, struct span *n)
{
	if (n->released && !s->released) {
		fig.released_bytes -= n->npages * PAGE_SIZE;
		n->released = false;
	} else if (s->released && !n->released) {
		fig.released_bytes -= s->npages * PAGE_SIZE;
		s->released = false;
	}
	s->needzero |= n->needzero;
	/* The seam's first/last entries become inner pages of the merged span. */
	pagemap_set_range(n, 0, 0, NULL);
	pagemap_set_range(n, n->npages - 1, n->npages - 1, NULL);
	if (n->base < s->base)
		s->base = n->base;
	s->npages += n->npages;
	record_free(n);
}

static struct span *
free_neighbour(uintptr_t a)
{
	struct span *n = pagemap_lookup(a);
	return n != NULL && n->kind == SPAN_FREE ? n : NULL;
}

/* Put free span s on the lists, merged with its free neighbours. */
static void
coalesce_insert(struct span *s)
{
	MGC_ASSERT(lock_held(&heap_mutex) && s->kind == SPAN_FREE);
	struct span *n = free_neighbour(s->base - 1);
	if (n != NULL) {
		free_remove(n);
		merge_into(s, n);
	}
	n = free_neighbour(s->base + s->npages * PAGE_SIZE);
	if (n != NULL) {
		free_remove(n);
		merge_into(s, n);
	}
	free_insert(s);
}

static void
release_span(struct span *s)
{
	os_release((void *)s->base, s->npages * PAGE_SIZE);
	s->released = true;
	s->needzero = false;
	free_unreleased -= s->npages * PAGE_SIZE;
	fig.released_bytes += s->npages * PAGE_SIZE;
}

/* Release free spans, largest first (the big list, then 127..1 pages), until
 * at most `keep` bytes of free memory remain unreleased or at least `budget`
 * bytes went back; returns the bytes released. */
static uint64_t
scavenge(uint64_t keep, uint64_t budget)
{
	uint64_t done = 0;
	for (int i = 0; i < NUM_BUCKETS && free_unreleased > keep && done < budget; i++) {
		struct span *head = &buckets[i == 0 ? 0 : NUM_BUCKETS - i];
		for (struct span *s = head->next;
		     s != head && free_unreleased > keep && done < budget; s = s->next)
			if (!s->released) {
				done += s->npages * PAGE_SIZE;
				release_span(s);
			}
	}
	return done;
}

/* The memory mgc holds: sys (heap pages and metadata) less what the heap
 * released.  Heap lock held. */
static uint64_t
held_locked(void)
{
	MGC_ASSERT(lock_held(&heap_mutex));
	return os_sys_bytes() - fig.released_bytes;
}

uint64_t
heap_held(void)
{
	lock_acquire(&heap_mutex);
	uint64_t held = held_locked();
	lock_release(&heap_mutex);
	return held;
}

static void
maybe_scavenge(void)
{
	uint64_t limit = fig.inuse_bytes / 8;
	uint64_t goal = atomic_load_explicit(&retain_goal, memory_order_relaxed);
	if (goal > fig.inuse_bytes && goal - fig.inuse_bytes > limit)
		limit = goal - fig.inuse_bytes;
	if (limit < SCAVENGE_MIN)
		limit = SCAVENGE_MIN;
	if (soft_limit != 0) { /* what the limit leaves, at most */
		uint64_t held = held_locked();
		uint64_t room = soft_limit > held - free_unreleased
		                        ? soft_limit - (held - free_unreleased)
		                        : 0;
		if (room < limit)
			limit = room;
	}
	if (free_unreleased > limit)
		scavenge(limit / 4 * 3, UINT64_MAX);
}

void
heap_set_retain_goal(uint64_t bytes)
{
	atomic_store_explicit(&retain_goal, bytes, memory_order_relaxed);
}

uint64_t
heap_retain_goal(void)
{
	return atomic_load_explicit(&retain_goal, memory_order_relaxed);
}

void
heap_set_limits(uint64_t soft, uint64_t max)
{
	lock_acquire(&heap_mutex);
	soft_limit = soft;
	max_inuse = max;
	lock_release(&heap_mutex);
}

/* Before committing `need` more bytes under a memory limit: give free pages
 * back first, and if the heap would still come within a 32nd of the limit,
 * ask for a collection (the pacer's goal is an estimate; this is the
 * backstop, early enough that the growth until the collection runs stays
 * under the limit). */
static void
grow_under_limit(size_t need)
{
	uint64_t line = soft_limit - soft_limit / 32;
	uint64_t held = held_locked() + need;
	if (held <= line)
		return;
	held -= scavenge(0, held - line);
	if (held > line)
		gc_pressure();
}

bool
heap_has_max(void)
{
	lock_acquire(&heap_mutex);
	bool has = max_inuse != 0;
	lock_release(&heap_mutex);
	return has;
}

uint64_t
heap_scavenge(uint64_t keep, uint64_t budget)
{
	lock_acquire(&heap_mutex);
	uint64_t done = scavenge(keep, budget);
	lock_release(&heap_mutex);
	return done;
}

void
heap_release_free(void)
{
	lock_acquire(&heap_mutex);
	scavenge(0, UINT64_MAX);
	lock_release(&heap_mutex);
}

/* ---- growth -------------------------------------------------------------- */

static size_t committed; /* [heap lock] bytes committed by heap_grow */

static void
note_bounds(uintptr_t lo, uintptr_t hi)
{
	if (lo < atomic_load(&heap_lo))
		atomic_store(&heap_lo, lo);
	if (hi > atomic_load(&heap_hi))
		atomic_store(&heap_hi, hi);
}

/* Commit at least npages more pages and add them to the free lists.
 * False on ENOMEM (address space, commit, or metadata). */
static bool
heap_grow(size_t npages)
{
	size_t need = round_up(npages * PAGE_SIZE, GROW_MIN);
	if (soft_limit != 0)
		grow_under_limit(need);
	bool huge = committed >= HUGE_AFTER;
	if (huge) /* end on a huge-page boundary, so later commits are aligned */
		need = round_up(arena.next + need, HUGE_PAGE) - arena.next;
	if (arena.end - arena.next < npages * PAGE_SIZE) {
		size_t size = round_up(need, ARENA_SIZE);
		void *p = os_reserve(size, ARENA_SIZE);
		if (p == NULL)
			return false;
		arena.next = (uintptr_t)p;
		arena.end = (uintptr_t)p + size;
		note_bounds(arena.next, arena.end);
		if (huge)
			need = round_up(need, HUGE_PAGE);
	}
	if (need > arena.end - arena.next)
		need = arena.end - arena.next;
	struct span *s = record_alloc();
	if (s == NULL)
		return false;
	if (!pagemap_cover(arena.next, arena.next + need) || !os_commit((void *)arena.next, need)) {
		/* The range may no longer be reserved after a failed fixed
		 * mapping: never use the rest of this arena. */
		arena.next = arena.end;
		record_free(s);
		return false;
	}
	dirty_track(arena.next, arena.next + need);
	if (huge)
		os_hint_huge((void *)arena.next, need);
	committed += need;
	fig.committed_bytes = committed;
	s->base = arena.next;
	s->npages = need / PAGE_SIZE;
	arena.next += need;
	set_swept(s);
	coalesce_insert(s);
	return true;
}

/* ---- spans in and out ---------------------------------------------------- */

static struct fixalloc *
side_fix_for(const struct span *s)
{
	return &side_fix[sc_class(s->spanclass)];
}

/* A span's geometry (kind, base, block size and count, side maps) changes
 * only between geometry_begin and geometry_end, which make s->seq odd and
 * then even again, so that a lookup that holds no lock (alloc.c's
 * mgc_base of any pointer, which may race with its span being freed or
 * set up anew) can tell a consistent reading from a torn one.  The side-map
 * pointers are never cleared: a stale reader's copy still points at mapped
 * memory (fixalloc never unmaps), of the size its reading of the geometry
 * implies. */
static void
geometry_begin(struct span *s)
{
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
	fence_release();
}

static void
geometry_end(struct span *s)
{
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
}

/* Block geometry and side maps of a fresh span.  A large span's block is
 * live from here on: set under the heap lock, so a collection never sees
 * the span in use with its block not yet live.  False on ENOMEM. */
static bool
span_setup(struct span *s, enum span_kind kind, unsigned spanclass)
{
	s->spanclass = (uint16_t)spanclass;
	s->tag = (spanclass & 1) || !kind_tagged(sc_slot(spanclass)) ? 0
	         : sc_slot(spanclass) == SLOT_TYPED                  ? TAG_TYPED
	                                                             : TAG_KIND;
	s->nout = s->bump = 0;
	s->free = NULL;
	s->in_partial = s->in_full = false;
	if (kind == SPAN_LARGE) {
		s->nelems = 1;
		s->divmul = 0;
		s->mark1 = atomic_load_explicit(&gc_black, memory_order_relaxed);
		s->state = &s->state1;
		s->mark = &s->mark1;
		atomic_store_explicit(&s->state1, BLOCK_LIVE, memory_order_relaxed);
	} else {
		unsigned c = sc_class(spanclass);
		s->elem_size = class_size[c];
		s->nelems = class_nelems[c];
		s->divmul = class_divmul[c];
		uint8_t *side = fixalloc_alloc(side_fix_for(s));
		if (side == NULL)
			return false;
		s->state = (_Atomic uint8_t *)side;
		s->mark = (uint64_t *)(side + round_up(s->nelems, 8));
		s->dead = s->mark + round_up(s->nelems, 64) / 64;
		s->ndead = 0;
	}
	if (!inuse_add(s)) {
		if (kind == SPAN_SMALL)
			fixalloc_free(side_fix_for(s), (void *)s->state);
		return false;
	}
	/* Last, with release: a marker running beside the program (a
	 * concurrent cycle) that reads a kind other than free through the
	 * page map sees the geometry above (mark.c, block_of). */
	__atomic_store_n(&s->kind, (uint8_t)kind, __ATOMIC_RELEASE);
	return true;
}

static void
span_teardown(struct span *s)
{
	geometry_begin(s);
	inuse_remove(s);
	if (s->kind == SPAN_SMALL)
		fixalloc_free(side_fix_for(s), (void *)s->state);
	s->kind = SPAN_FREE;
	geometry_end(s);
}

/* Take npages off the front of free span s, leaving the rest free.
 * `rest` is a spare record for the remainder. */
static void
carve(struct span *s, size_t npages, struct span *rest)
{
	free_remove(s);
	if (s->released) {
		fig.released_bytes -= s->npages * PAGE_SIZE;
		s->released = false;
		s->needzero = false;
		rest->released = true;
	}
	if (s->npages > npages) {
		rest->base = s->base + npages * PAGE_SIZE;
		rest->npages = s->npages - npages;
		rest->needzero = s->needzero;
		rest->kind = SPAN_FREE;
		set_swept(rest);
		if (rest->released)
			fig.released_bytes += rest->npages * PAGE_SIZE;
		s->npages = npages;
		free_insert(rest);
	} else {
		record_free(rest);
	}
}

struct span *
heap_alloc_span(size_t npages, enum span_kind kind, unsigned spanclass, size_t large_size,
                _Atomic uintptr_t *pin)
{
	lock_acquire(&heap_mutex);
	if (max_inuse != 0 && fig.inuse_bytes + npages * PAGE_SIZE > max_inuse) {
		lock_release(&heap_mutex);
		return NULL;
	}
	struct span *rest = record_alloc();
	struct span *s = rest ? free_find(npages) : NULL;
	if (rest != NULL && s == NULL && heap_grow(npages))
		s = free_find(npages);
	if (s == NULL) {
		if (rest != NULL)
			record_free(rest);
		lock_release(&heap_mutex);
		return NULL;
	}
	carve(s, npages, rest);
	set_swept(s);
	geometry_begin(s);
	s->elem_size = large_size;
	bool ok = span_setup(s, kind, spanclass);
	geometry_end(s);
	if (!ok) {
		coalesce_insert(s);
		lock_release(&heap_mutex);
		return NULL;
	}
	fig.inuse_bytes += s->npages * PAGE_SIZE;
	pagemap_set_range(s, 0, s->npages - 1, s);
	if (pin != NULL)
		atomic_store_explicit(pin, s->base, memory_order_relaxed);
	lock_release(&heap_mutex);
	return s;
}

/* Spans whose teardown waits for the end of a concurrent cycle's marking
 * (gc_black), linked through next.  [heap lock] */
static struct span *deferred;

static void
free_span_locked(struct span *s)
{
	MGC_ASSERT(lock_held(&heap_mutex) && s->kind != SPAN_FREE);
	if (atomic_load_explicit(&gc_black, memory_order_relaxed)) {
		s->next = deferred;
		deferred = s;
		return;
	}
	MGC_ASSERT(atomic_load(&s->sweepgen) == atomic_load(&heap_sweepgen));
	fig.inuse_bytes -= s->npages * PAGE_SIZE;
	span_teardown(s);
	s->needzero = true;
	s->released = false;
	pagemap_set_range(s, 0, s->npages - 1, NULL);
	coalesce_insert(s);
	maybe_scavenge();
}

void
heap_free_deferred_stopped(void)
{
	MGC_ASSERT(world_stopped_here() && !atomic_load(&gc_black));
	lock_acquire(&heap_mutex);
	while (deferred != NULL) {
		struct span *s = deferred;
		deferred = s->next;
		free_span_locked(s);
	}
	lock_release(&heap_mutex);
}

void
heap_free_span(struct span *s)
{
	lock_acquire(&heap_mutex);
	free_span_locked(s);
	lock_release(&heap_mutex);
}

void
heap_free_large(struct span *s)
{
	lock_acquire(&heap_mutex);
	/* An unswept span's block is live (its owner frees it): nothing to
	 * sweep, the span only has to count as swept before it goes. */
	set_swept(s);
	atomic_store_explicit(&s->state1, BLOCK_FREE, memory_order_relaxed);
	free_span_locked(s);
	lock_release(&heap_mutex);
}

void
heap_sweep_large_locked(struct span *s, uint32_t sg)
{
	MGC_ASSERT(lock_held(&heap_mutex));
	uint32_t unswept = sg - 2;
	if (!atomic_compare_exchange_strong(&s->sweepgen, &unswept, sg - 1))
		return;
	fence_release(); /* see sweep_small_locked */
	const struct kind_disclaim *d = kind_disclaim_of(s->spanclass);
	if (unlikely(d != NULL))
		sweep_disclaim_locked(s, d);
	bool dead = s->mark1 == 0 &&
	            atomic_load_explicit(&s->state1, memory_order_relaxed) == BLOCK_LIVE;
	__atomic_store_n(&s->mark1, 0, __ATOMIC_RELAXED); /* read by block_live */
	atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
	if (!dead)
		return;
	atomic_store_explicit(&s->state1, BLOCK_FREE, memory_order_relaxed);
	sweep_count(1, s->elem_size);
	free_span_locked(s);
}

void
heap_lock(void)
{
	lock_acquire(&heap_mutex);
}

void
heap_unlock(void)
{
	lock_release(&heap_mutex);
}

bool
heap_lock_held(void)
{
	return lock_held(&heap_mutex);
}

void
heap_each_span_stopped(void (*fn)(struct span *s, void *arg), void *arg)
{
	MGC_ASSERT(world_stopped_here());
	for (size_t i = 0; i < ninuse; i++)
		fn(inuse[i], arg);
}

void
heap_read_figures(struct heap_figures *out)
{
	lock_acquire(&heap_mutex);
	*out = fig;
	lock_release(&heap_mutex);
}

/* ---- verification (verify.c calls this with the world stopped) ---------- */

static void
verify_free_span(const struct span *s)
{
	if (s->kind != SPAN_FREE)
		fatal("mgc: verify: span %#lx on a free list is in use", (unsigned long)s->base);
	if (pagemap_lookup(s->base) != s ||
	    pagemap_lookup(s->base + (s->npages - 1) * PAGE_SIZE) != s)
		fatal("mgc: verify: free span %#lx: ends not mapped to it", (unsigned long)s->base);
	for (size_t i = 1; i + 1 < s->npages; i++)
		if (pagemap_lookup(s->base + i * PAGE_SIZE) != NULL)
			fatal("mgc: verify: free span %#lx: inner page %zu mapped",
			      (unsigned long)s->base, i);
	if (free_neighbour(s->base + s->npages * PAGE_SIZE) != NULL)
		fatal("mgc: verify: free span %#lx has a free right neighbour",
		      (unsigned long)s->base);
}

void
heap_verify_stopped(void)
{
	MGC_ASSERT(world_stopped_here());
	for (int b = 0; b < NUM_BUCKETS; b++)
		for (struct span *s = buckets[b].next; s != &buckets[b]; s = s->next)
			verify_free_span(s);
	for (size_t i = 0; i < ninuse; i++)
		if (inuse[i]->kind == SPAN_FREE || inuse[i]->inuse_index != i)
			fatal("mgc: verify: in-use array entry %zu is wrong", i);
}

void
mgc_heap_bounds(void **lo, void **hi)
{
	uintptr_t l = atomic_load(&heap_lo), h = atomic_load(&heap_hi);
	*lo = h > l ? (void *)l : NULL;
	*hi = h > l ? (void *)h : NULL;
}
