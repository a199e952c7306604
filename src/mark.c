/* mark.c — conservative marking and the mark stack.
 *
 * Every aligned word of a root range or of a reached scan block is a
 * candidate pointer.  A candidate marks a block when it points anywhere
 * inside the block's usable size (interior pointers count, as the seed's
 * mlookup; one past the end does not) and the block is live.  Marking a
 * scan block pushes its range on the mark stack; noscan blocks are marked
 * and never scanned.  The loop pops ranges until the stack is empty: no
 * recursion, so a ten-million-node list needs one slot at a time.
 *
 * Cheap rejections come first: a word outside [heap_lo, heap_hi) costs two
 * compares, one in a page with no span costs the page-map loads, and only
 * then are span fields read.  A newly marked block is prefetched and waits
 * in a short FIFO before it reaches the stack, so its first line is on its
 * way while other blocks are scanned.
 *
 * Overflow.  The stack grows by doubling (os_alloc_meta) up to a limit.  A
 * block that cannot be pushed is still marked, and `overflowed` is set;
 * when the stack drains, every span is searched for marked scan blocks,
 * which are scanned again (rescanning marked blocks is harmless), until a
 * pass completes without overflow (the Boehm collector's recovery).
 *
 * Parallel marking.  Each marker (the collecting thread's, and those of
 * the helper threads) has its own stack, FIFO and pipeline (struct marker,
 * internal.h).  drain.c runs the helpers, shares work between the markers
 * and ends a drain; this file scans.  While helpers may run (parallel),
 * mark bits are set with an atomic or, so a block is pushed by exactly one
 * marker.
 *
 * Beyond the roots the collector lists, this file marks what the
 * program's roots callback reports (mark_roots_callback), the
 * uncollectable blocks, and the contents of every allocated block of a
 * kind traced whole (mark_trace_all, MGC_DISCLAIM_TRACE_ALL).  It also
 * answers mgc_is_marked and mgc_set_mark while a collection is stopped
 * (on the collecting thread or a helper: the bits as marked so far);
 * between collections alloc.c and sweep.c answer them.
 *
 * Runs only with the world stopped, but for the test hooks (which take the
 * gc lock) and the public mark-bit calls.  The collecting thread's marker
 * is [world stopped]; a helper's is its own while a drain runs and the
 * collector's between drains (drain.c).
 */
#include "internal.h"

#include <errno.h>

static size_t limit = (size_t)1 << 26; /* entries per marker: 1 GiB of stack */

void
mark_set_stack_limit(size_t entries)
{
	limit = entries;
}

/* markers[0] is the collecting thread's (COLLECTOR). */
struct marker markers[MAX_MARKERS] MGC_STATE;

/* True while helpers may be marking: mark bits are then set atomically.
 * Written by the collector with every helper asleep or about to join. */
static _Atomic bool parallel;

void
mark_set_parallel(bool on)
{
	atomic_store(&parallel, on);
}

bool
mark_parallel(void)
{
	return atomic_load(&parallel);
}

bool
mark_grow_stack(struct marker *m)
{
	size_t ncap = m->capacity ? m->capacity * 2 : 1 << 16;
	if (ncap > limit)
		return false;
	struct range *n = os_alloc_meta(ncap * sizeof *n);
	if (n == NULL)
		return false;
	for (size_t i = 0; i < m->depth; i++)
		n[i] = m->stack[i];
	if (m->stack != NULL)
		os_free_meta(m->stack, m->capacity * sizeof *m->stack);
	m->stack = n;
	m->capacity = ncap;
	return true;
}

static void
push(struct marker *m, uintptr_t lo, uintptr_t hi)
{
	if (unlikely(m->depth == m->capacity) && !mark_grow_stack(m)) {
		m->overflowed = true;
		return;
	}
	m->stack[m->depth++] = (struct range){lo, hi};
}

static void
enqueue(struct marker *m, uintptr_t lo, uintptr_t hi)
{
	/* The block's first line, and its last if it has another: a scan of a
	 * block of two lines or more otherwise waits a whole miss at the second,
	 * and a typed block's layout word is in its last.  Measured on blocks
	 * of 128 bytes (120-byte records, 160 MiB live), the first-line
	 * prefetch alone left the marker at about 2.5 times the time per live
	 * MiB. */
	__builtin_prefetch((const void *)lo);
	if (((lo ^ (hi - 1)) & ~(uintptr_t)63) != 0)
		__builtin_prefetch((const void *)(hi - 1));
	if (m->fifo_len == FIFO) {
		struct range old = m->fifo[m->fifo_head];
		push(m, old.lo, old.hi);
		m->fifo[m->fifo_head] = (struct range){lo, hi};
		m->fifo_head = (m->fifo_head + 1) % FIFO;
		return;
	}
	m->fifo[(m->fifo_head + m->fifo_len++) % FIFO] = (struct range){lo, hi};
}

/* The next range to scan: the stack's top, or the FIFO's oldest. */
static bool
next_range(struct marker *m, struct range *r)
{
	if (m->depth > 0) {
		*r = m->stack[--m->depth];
		return true;
	}
	if (m->fifo_len == 0)
		return false;
	*r = m->fifo[m->fifo_head];
	m->fifo_head = (m->fifo_head + 1) % FIFO;
	m->fifo_len--;
	return true;
}

/* Mark the block at index i of span s, which w points into; push it if it
 * is to be scanned.  The span is in use and i is checked against it. */
static inline void
mark_index(struct marker *m, struct span *s, uint32_t i)
{
	/* The mark bit first: most pointers reach blocks already marked, and
	 * the bitmap is denser in cache than the state bytes. */
	uint64_t bit = (uint64_t)1 << (i & 63);
	uint64_t *word = &s->mark[i >> 6];
	uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
	if (old & bit)
		return;
	if (atomic_load_explicit(&s->state[i], memory_order_relaxed) != BLOCK_LIVE)
		return;
	if (unlikely(atomic_load_explicit(&parallel, memory_order_relaxed))) {
		if (__atomic_fetch_or(word, bit, __ATOMIC_RELAXED) & bit)
			return; /* another marker got there first */
	} else {
		__atomic_store_n(word, old | bit, __ATOMIC_RELAXED);
	}
	m->result.marked_bytes += s->elem_size;
	m->result.marked_blocks++;
	if (!(s->spanclass & 1)) {
		uintptr_t base = s->base + i * s->elem_size;
		enqueue(m, base | s->tag, base + s->elem_size);
	}
}

/* The index of the block of s that w points into, or UINT32_MAX. */
static inline uint32_t
block_of(const struct span *s, uintptr_t w)
{
	/* Acquire: while a concurrent cycle marks, the page map may lead to a
	 * free span (its first and last pages are mapped, heap.c) whose
	 * record is being set up as a span in use; its geometry is complete
	 * once its kind says so (span_setup). */
	if (__atomic_load_n(&s->kind, __ATOMIC_ACQUIRE) == SPAN_FREE)
		return UINT32_MAX;
	uint32_t i = span_block_index(s, w);
	if (i >= s->nelems || w >= s->base + (uintptr_t)i * s->elem_size + s->elem_size)
		return UINT32_MAX;
	return i;
}

/* The heap rule with interior pointers off: w, in block i of s, is at
 * the block's start or at a registered displacement. */
static inline bool
strict_ok(const struct span *s, uint32_t i, uintptr_t w)
{
	uintptr_t off = w - (s->base + (uintptr_t)i * s->elem_size);
	return off == 0 ||
	       (off < MAX_DISPLACEMENT && (mark_displacements[off >> 6] >> (off & 63) & 1));
}

/* Mark the block w points into, if any, at once (no pipeline).  Under
 * m->strict (a heap scan while interior pointers are off) only a
 * block's start or a displacement counts. */
static inline void
mark_candidate(struct marker *m, uintptr_t w)
{
	struct span *s = pagemap_lookup(w);
	if (s == NULL)
		return;
	uint32_t i = block_of(s, w);
	if (i != UINT32_MAX && (!m->strict || strict_ok(s, i, w)))
		mark_index(m, s, i);
}

/* A candidate read from a heap block (typed words, trace functions). */
static inline void
mark_heap_word(struct marker *m, uintptr_t w)
{
	uintptr_t min = atomic_load_explicit(&heap_lo, memory_order_relaxed);
	if (w - min < atomic_load_explicit(&heap_hi, memory_order_relaxed) - min)
		mark_candidate(m, w);
}

/* The candidate pipeline.  A candidate that passed the heap-range test
 * needs three dependent loads before its mark bit can be tested — its
 * page-map entry, its span record, its mark word and state byte — and in
 * a large heap each is a cache miss.  So the scan does not wait for them:
 * each stage issues the prefetch for the next load and parks the
 * candidate in a ring of LAG entries; when the ring is full its oldest
 * entry, whose line has had LAG candidates' time to arrive, moves on.
 *   pipe_page:   prefetch the page-map entry        -> ring 0
 *   finish_span: load the span, prefetch its record -> ring 1
 *   pipe_bits:   index the block, prefetch its bits -> ring 2
 *   finish_bits: test and set the mark (mark_index)
 * Candidates still in the rings are pushed through by pipe_flush, which
 * the drain loop (local_drain) calls whenever the stack runs dry, so
 * nothing is left unmarked. */
/* Park (w, p) in stage k; returns true and the oldest entry in *ow, *op
 * when the ring was full. */
static inline bool
stage_put(struct stage *st, uintptr_t w, const void *p, uintptr_t *ow, const void **op)
{
	unsigned k = st->next++ & (LAG - 1);
	bool full = st->count == LAG;
	*ow = st->w[k];
	*op = st->p[k];
	st->w[k] = w;
	st->p[k] = p;
	st->count += !full;
	return full;
}

static inline void
finish_bits(struct marker *m, uintptr_t i, const void *s)
{
	mark_index(m, (struct span *)s, (uint32_t)i);
}

static inline void
pipe_bits(struct marker *m, uintptr_t w, struct span *s)
{
	uint32_t i = block_of(s, w);
	if (i == UINT32_MAX || (m->strict && !strict_ok(s, i, w)))
		return;
	__builtin_prefetch(&s->mark[i >> 6]);
	__builtin_prefetch((const void *)&s->state[i]);
	uintptr_t ow;
	const void *op;
	if (stage_put(&m->pipe[2], i, s, &ow, &op))
		finish_bits(m, ow, op);
}

static inline void
finish_span(struct marker *m, uintptr_t w, const void *slot)
{
	struct span *s =
	        atomic_load_explicit((struct span * _Atomic const *)slot, memory_order_relaxed);
	if (s == NULL)
		return;
	__builtin_prefetch(s);
	uintptr_t ow;
	const void *op;
	if (stage_put(&m->pipe[1], w, s, &ow, &op))
		pipe_bits(m, ow, (struct span *)op);
}

static inline void
pipe_page(struct marker *m, uintptr_t w)
{
	if (unlikely(w >>
	             ADDR_BITS)) /* before the heap exists, its range is empty only modulo 2^64 */
		return;
	struct chunk_map *c =
	        atomic_load_explicit(&pagemap_l1[w >> CHUNK_SHIFT], memory_order_relaxed);
	if (c == NULL)
		return;
	const void *slot = &c->page[(w >> PAGE_SHIFT) & (PAGES_PER_CHUNK - 1)];
	__builtin_prefetch(slot);
	uintptr_t ow;
	const void *op;
	if (stage_put(&m->pipe[0], w, slot, &ow, &op))
		finish_span(m, ow, op);
}

/* Take the oldest entry out of stage st. */
static bool
stage_take(struct stage *st, uintptr_t *w, const void **p)
{
	if (st->count == 0)
		return false;
	unsigned k = (st->next - st->count--) & (LAG - 1);
	*w = st->w[k];
	*p = st->p[k];
	return true;
}

/* Push every parked candidate through to its mark; true if there were any. */
static bool
pipe_flush(struct marker *m)
{
	uintptr_t w;
	const void *p;
	bool any = false;
	while (stage_take(&m->pipe[0], &w, &p)) {
		finish_span(m, w, p);
		any = true;
	}
	while (stage_take(&m->pipe[1], &w, &p)) {
		pipe_bits(m, w, (struct span *)p);
		any = true;
	}
	while (stage_take(&m->pipe[2], &w, &p)) {
		finish_bits(m, w, p);
		any = true;
	}
	return any;
}

/* Which scan loop this collection uses.  The pipeline pays off once a
 * candidate's metadata (page-map slot, span record, mark word, state byte)
 * is no longer in the caches; while it is, the pipeline's bookkeeping
 * costs more than the misses it hides.  Where the two meet depends on the
 * heap's locality as much as on its size.  Measured on a 2-core Xeon with
 * 2 MiB of L2 per core: GCBench (8 MiB live) collects in about 10% less
 * time without the pipeline, binary-trees at depth 21 (90 MiB live,
 * allocated in order) 7% less; the pause benchmark's random graph marks
 * at the same rate both ways at 64 MiB, and 25% faster with the pipeline
 * from 128 MiB up (1.7 against 1.4 GB/s; at 1 GiB 1.15 against 0.7).  The
 * choice is made from the live heap the last collection marked. */
static uint64_t pipeline_min_live = (uint64_t)128 << 20;
static bool pipelined; /* [world stopped] */

void
mark_set_pipeline_min(uint64_t live)
{
	pipeline_min_live = live;
}

/* Scanning reads whatever the roots hold, including other threads' stacks
 * and memory that unregistered threads may be writing: by design, not a
 * race the sanitizers should report. */
__attribute__((no_sanitize("address", "thread"))) static void
scan(struct marker *m, uintptr_t lo, uintptr_t hi)
{
	uintptr_t min = atomic_load_explicit(&heap_lo, memory_order_relaxed);
	uintptr_t span = atomic_load_explicit(&heap_hi, memory_order_relaxed) - min;
	const uintptr_t *p = (const uintptr_t *)round_up(lo, WORD);
	const uintptr_t *end = (const uintptr_t *)(hi & ~(uintptr_t)(WORD - 1));
	if (pipelined) {
		for (; p < end; p++) {
			uintptr_t w = mark_load_word(p);
			if (w - min < span)
				pipe_page(m, w);
		}
	} else {
		for (; p < end; p++) {
			uintptr_t w = mark_load_word(p);
			if (w - min < span)
				mark_candidate(m, w);
		}
	}
}

/* A typed block: only the words its layout names (kind.c).  A layout of
 * one bitmap word covering the block visits its set bits only. */
__attribute__((no_sanitize("address", "thread"))) static void
scan_typed(struct marker *m, uintptr_t base, size_t size)
{
	size_t n;
	const struct mgc_layout *l = kind_layout(base, size, &n);
	const uintptr_t *w = (const uintptr_t *)base;
	if (l == NULL) /* allocated, its trailer not yet written: all zero */
		return;
	if (n <= 64 && n <= l->nwords) {
		uint64_t bits = n == 64 ? l->bits[0] : l->bits[0] & (((uint64_t)1 << n) - 1);
		for (; bits != 0; bits &= bits - 1)
			mark_heap_word(m, mark_load_word(&w[__builtin_ctzll(bits)]));
		return;
	}
	for (size_t i = 0, j = 0; i < n; i++) {
		if (l->bits[j >> 6] >> (j & 63) & 1)
			mark_heap_word(m, mark_load_word(&w[i]));
		if (++j == l->nwords)
			j = 0;
	}
}

/* Block base of span s, to be scanned: by its kind, or conservatively. */
static void
scan_block(struct marker *m, const struct span *s, uintptr_t base)
{
	if (s->tag == TAG_TYPED)
		scan_typed(m, base, s->elem_size);
	else if (s->tag)
		kind_trace(s, base, &m->tracer);
	else
		scan(m, base, base + s->elem_size);
}

/* A tagged block off the stack: its kind scans it. */
static NOINLINE void
scan_other(struct marker *m, struct range r)
{
	uintptr_t base = r.lo & ~(uintptr_t)TAG_TYPED;
	if ((r.lo & TAG_TYPED) == TAG_TYPED)
		scan_typed(m, base, r.hi - base); /* no span needed */
	else
		scan_block(m, pagemap_lookup(base), base);
}

/* What a trace function reports, for marker t->m. */
static void
tracer_word(struct mgc_tracer *t, uintptr_t w)
{
	mark_heap_word(t->m, w);
}

static void
tracer_range(struct mgc_tracer *t, uintptr_t lo, uintptr_t hi)
{
	lo = round_up(lo, WORD); /* bit 0 would read as a tag */
	if (lo < hi)
		push(t->m, lo, hi);
}

void
mark_begin(uint64_t last_live)
{
	MGC_ASSERT(world_stopped_here());
	pipelined = last_live >= pipeline_min_live;
	for (struct marker *m = markers; m < markers + MAX_MARKERS; m++) {
		m->depth = 0;
		m->fifo_len = 0;
		for (int k = 0; k < 3; k++)
			m->pipe[k].count = 0;
		m->overflowed = false;
		m->result = (struct mark_result){0};
		m->tracer = (struct mgc_tracer){tracer_word, tracer_range, m};
		m->strict = mark_base_only;
	}
	if (COLLECTOR->capacity == 0)
		mark_grow_stack(COLLECTOR);
}

/* A root range: interior pointers count whatever the heap rule, so its
 * candidates are pushed through the pipeline before heap ranges, under
 * the heap rule, enter it. */
void
mark_range(uintptr_t lo, uintptr_t hi)
{
	MGC_ASSERT(world_stopped_here());
	COLLECTOR->strict = false;
	scan(COLLECTOR, lo, hi);
	pipe_flush(COLLECTOR);
	COLLECTOR->strict = mark_base_only;
	mark_drain();
}

static struct sweep_item *recover_items; /* the spans overflow recovery searches */
static size_t recover_n;

void
mark_set_spans(struct sweep_item *items, size_t n)
{
	MGC_ASSERT(world_stopped_here());
	recover_items = items;
	recover_n = n;
}

static struct span *block_span(uintptr_t base, uint32_t *index);

/* Scan until m has no work of its own left (true), or until `budget`
 * ranges have been scanned (false).  In a parallel drain (sharing) it
 * also gives work to an idle peer.  Callers pass `sharing` as a constant,
 * so each use compiles to its own loop. */
static inline bool
local_drain(struct marker *m, size_t budget, bool sharing)
{
	struct range r;
	do {
		while (next_range(m, &r)) {
			if (likely(!(r.lo & 1)))
				scan(m, r.lo, r.hi);
			else
				scan_other(m, r);
			if (sharing && unlikely(drain_peer_hungry(m)))
				drain_share(m);
			if (--budget == 0)
				return false;
		}
	} while (pipe_flush(m));
	return true;
}

void
mark_drain_sharing(struct marker *m)
{
	local_drain(m, SIZE_MAX, true);
}

/* ---- draining and overflow recovery ---------------------------------------- */

/* Scan every marked block of scan span s again (overflow recovery). */
static void
rescan_span(struct span *s)
{
	if (s->kind == SPAN_FREE || (s->spanclass & 1))
		return;
	for (uint32_t i = 0; i < s->nelems; i++) {
		if (!(s->mark[i >> 6] >> (i & 63) & 1))
			continue;
		scan_block(COLLECTOR, s, s->base + i * s->elem_size);
		local_drain(COLLECTOR, SIZE_MAX, false);
	}
}

static bool
take_overflow(void)
{
	bool any = false;
	for (struct marker *m = markers; m < markers + MAX_MARKERS; m++) {
		any |= m->overflowed;
		m->overflowed = false;
	}
	return any;
}

/* The first stop of a concurrent cycle: roots are pushed, not drained. */
static bool push_only; /* [gc lock] */

void
mark_push_only(bool on)
{
	MGC_ASSERT(world_stopped_here());
	push_only = on;
}

void
mark_drain(void)
{
	MGC_ASSERT(world_stopped_here());
	if (push_only) {
		pipe_flush(COLLECTOR);
		return;
	}
	if (!local_drain(COLLECTOR, drain_alone_budget(), false))
		drain_with_helpers();
	while (take_overflow())
		for (size_t k = 0; k < recover_n; k++)
			rescan_span(recover_items[k].span);
}

/* ---- concurrent marking --------------------------------------------------
 * In a mostly-concurrent cycle (gc.c) the markers run while the program
 * does.  What they read stays valid: spans in use are not torn down until
 * the final stop (gc_black), a span made meanwhile is published in the page
 * map only once its geometry is set, and every block allocated meanwhile is
 * marked already, so the state and mark bits a marker tests may change
 * under it only from unmarked to marked or from live to free.  A block the
 * program writes after it was scanned lies on a written page, which the
 * final stop (or an earlier pass) hands to mark_rescan.  Overflow recovery
 * waits for the final stop's drain, which has the spans to search. */

void
mark_drain_running(void)
{
	MGC_ASSERT(lock_held(&gc_lock) && atomic_load(&gc_black));
	if (!local_drain(COLLECTOR, drain_alone_budget(), false))
		drain_with_helpers();
}

/* Push again what of block i of s lies in [lo, hi), if it is marked and
 * live: a small or tagged block whole, the rest of a large one clipped. */
static void
rescan_block(struct span *s, uint32_t i, uintptr_t lo, uintptr_t hi)
{
	if (!(__atomic_load_n(&s->mark[i >> 6], __ATOMIC_RELAXED) >> (i & 63) & 1) ||
	    atomic_load_explicit(&s->state[i], memory_order_relaxed) != BLOCK_LIVE)
		return;
	uintptr_t base = s->base + (uintptr_t)i * s->elem_size, end = base + s->elem_size;
	if (s->kind == SPAN_LARGE && s->tag == 0) {
		base = base > lo ? base : lo;
		end = end < hi ? end : hi;
	}
	if (base < end)
		push(COLLECTOR, base | s->tag, end);
}

void
mark_rescan(uintptr_t lo, uintptr_t hi)
{
	MGC_ASSERT(lock_held(&gc_lock));
	while (lo < hi) {
		struct span *s = pagemap_lookup(lo);
		/* A free span's first and last pages are mapped to it (heap.c):
		 * its geometry and side maps are stale (see block_of). */
		if (s == NULL || __atomic_load_n(&s->kind, __ATOMIC_ACQUIRE) == SPAN_FREE) {
			lo = (lo | (PAGE_SIZE - 1)) + 1;
			continue;
		}
		uintptr_t end = s->base + s->npages * PAGE_SIZE;
		end = end < hi ? end : hi;
		if (!(s->spanclass & 1)) {
			uint32_t last = span_block_index(s, end - 1);
			for (uint32_t i = span_block_index(s, lo); i <= last && i < s->nelems; i++)
				rescan_block(s, i, lo, end);
		}
		lo = end;
	}
}

/* Every page counts as written: the next drain's overflow recovery
 * scans every marked block again. */
void
mark_rescan_all(void)
{
	COLLECTOR->overflowed = true;
}

/* Bytes of a mark stack kept resident between collections; the pages
 * beyond go back to the OS at the end of each mark.  A stack reaches deep
 * only while a collection scans a wide structure (an array of many
 * pointers pushes a range for each), and a small program would otherwise
 * keep a third of a megabyte of stack it used once: its peak memory passed
 * Boehm's by that much (chase, mmv).  Refaulting costs a deep mark one
 * fault per 4 KiB it uses again, little beside the scanning that fills it. */
enum { STACK_KEEP = 64 << 10 };

static void
release_stack(struct marker *m)
{
	size_t bytes = m->capacity * sizeof *m->stack;
	if (bytes > STACK_KEEP)
		os_release((char *)m->stack + STACK_KEEP, bytes - STACK_KEEP);
}

void
mark_end(struct mark_result *out)
{
	MGC_ASSERT(world_stopped_here());
	*out = (struct mark_result){0};
	for (struct marker *m = markers; m < markers + MAX_MARKERS; m++) {
		out->marked_bytes += m->result.marked_bytes;
		out->marked_blocks += m->result.marked_blocks;
		out->root_bytes += m->result.root_bytes;
		out->stack_bytes += m->result.stack_bytes;
		release_stack(m);
	}
}

uint64_t
mark_helper_blocks(void)
{
	uint64_t n = 0;
	for (const struct marker *m = markers + 1; m < markers + MAX_MARKERS; m++)
		n += m->result.marked_blocks;
	return n;
}

void
mark_add_root_bytes(uint64_t roots, uint64_t stacks)
{
	MGC_ASSERT(world_stopped_here());
	COLLECTOR->result.root_bytes += roots;
	COLLECTOR->result.stack_bytes += stacks;
}

/* ---- test hook: a dropped mark ---------------------------------------------- */

static uintptr_t drop_next MGC_STATE; /* [gc lock] */

void
mark_drop_next(uintptr_t base)
{
	lock_acquire(&gc_lock);
	drop_next = base;
	lock_release(&gc_lock);
}

void
mark_forget_dropped(void)
{
	MGC_ASSERT(world_stopped_here());
	if (likely(drop_next == 0))
		return;
	uint32_t i;
	struct span *s = block_span(drop_next, &i);
	s->mark[i >> 6] &= ~((uint64_t)1 << (i & 63));
	drop_next = 0;
}

/* ---- debug: the mark is closed ------------------------------------------------ */

static uintptr_t closed_from MGC_STATE; /* [world stopped] the block being checked */

/* Each candidate of a marked block (under the heap rule) is not an
 * unmarked allocated block. */
static void
closed_word(struct mgc_tracer *t, uintptr_t w)
{
	(void)t;
	uintptr_t base = alloc_block_allocated(w);
	if (base != 0 && mark_offset_ok(w - base) && !mark_is_marked(base))
		fatal("mgc: verify: marked block %p points to unmarked live block %#lx",
		      (void *)closed_from, (unsigned long)w);
}

static void
closed_range(struct mgc_tracer *t, uintptr_t lo, uintptr_t hi)
{
	for (const uintptr_t *p = (const uintptr_t *)round_up(lo, WORD); (uintptr_t)(p + 1) <= hi;
	     p++)
		closed_word(t, *p);
}

void
mark_check_closed(void)
{
	MGC_ASSERT(world_stopped_here());
	struct mgc_tracer t = {closed_word, closed_range, NULL};
	for (size_t k = 0; k < recover_n; k++) {
		struct span *s = recover_items[k].span;
		if (s->kind == SPAN_FREE || (s->spanclass & 1))
			continue;
		for (uint32_t i = 0; i < s->nelems; i++) {
			if (!(s->mark[i >> 6] >> (i & 63) & 1))
				continue;
			closed_from = s->base + i * s->elem_size;
			if (s->tag)
				kind_trace(s, closed_from, &t);
			else
				closed_range(&t, closed_from, closed_from + s->elem_size);
		}
	}
}

/* ---- uncollectable blocks and blocks traced whole ------------------------- */

void
mark_uncollectable(const struct sweep_item *items, size_t n)
{
	MGC_ASSERT(world_stopped_here());
	for (size_t k = 0; k < n; k++) {
		struct span *s = items[k].span;
		if (items[k].kind == SPAN_FREE || sc_slot(items[k].spanclass) != SLOT_UNCOLLECTABLE)
			continue;
		for (uint32_t i = 0; i < s->nelems; i++)
			if (atomic_load_explicit(&s->state[i], memory_order_relaxed) == BLOCK_LIVE)
				mark_index(COLLECTOR, s, i);
	}
	mark_drain();
}

/* Blocks of kinds traced whole (MGC_DISCLAIM_TRACE_ALL): the contents of
 * each allocated block the roots have not reached are scanned as if they
 * were a root's (the block itself stays unmarked, so its disclaim
 * callback is asked about it).  One marked later is scanned again, which
 * is harmless. */
void
mark_trace_all(const struct sweep_item *items, size_t n)
{
	MGC_ASSERT(world_stopped_here());
	if (!kind_any_traced_all())
		return;
	for (size_t k = 0; k < n; k++) {
		struct span *s = items[k].span;
		if (items[k].kind == SPAN_FREE || (items[k].spanclass & 1) ||
		    !kind_traced_all(items[k].spanclass))
			continue;
		for (uint32_t i = 0; i < s->nelems; i++)
			if (atomic_load_explicit(&s->state[i], memory_order_relaxed) ==
			            BLOCK_LIVE &&
			    !(s->mark[i >> 6] >> (i & 63) & 1))
				scan_block(COLLECTOR, s, s->base + i * s->elem_size);
		mark_drain();
	}
}

/* ---- the roots callback (mgc_set_roots_callback) -------------------------- */

static void
root_word(struct mgc_tracer *t, uintptr_t w)
{
	(void)t;
	mark_word(w);
}

static void
root_range(struct mgc_tracer *t, uintptr_t lo, uintptr_t hi)
{
	(void)t;
	mark_range(lo, hi);
}

void
mark_roots_callback(void)
{
	MGC_ASSERT(world_stopped_here());
	struct mgc_tracer t = {root_word, root_range, COLLECTOR};
	roots_call_stopped(&t);
	mark_drain();
}

/* ---- mark bits (mgc_is_marked, mgc_set_mark) ----------------------------------
 * During a collection's mark, on the collecting thread or a helper, the
 * bits are read and changed in place (atomically: helpers may be setting
 * others in the same word); between collections, alloc.c and sweep.c
 * answer, since only the sweep gives the bits a meaning then. */

/* The collecting thread is inside a collection's stop. */
static __thread bool collecting;

void
mark_phase_stopped(bool on)
{
	MGC_ASSERT(world_stopped_here());
	collecting = on;
}

static bool
marking_here(void)
{
	return collecting || drain_helper_here();
}

/* The span of the allocated block p points into, its index in *i; NULL if
 * none.  World stopped: spans do not change. */
static struct span *
stopped_block(uintptr_t p, uint32_t *i)
{
	struct span *s = pagemap_lookup(p);
	if (s == NULL)
		return NULL;
	*i = block_of(s, p);
	if (*i == UINT32_MAX ||
	    atomic_load_explicit(&s->state[*i], memory_order_relaxed) != BLOCK_LIVE)
		return NULL;
	return s;
}

int
mgc_is_marked(const void *p)
{
	if (!marking_here())
		return alloc_block_marked((uintptr_t)p);
	uint32_t i;
	struct span *s = stopped_block((uintptr_t)p, &i);
	return s != NULL && (__atomic_load_n(&s->mark[i >> 6], __ATOMIC_RELAXED) >> (i & 63) & 1);
}

int
mgc_set_mark(const void *p, int on)
{
	if (!marking_here())
		return sweep_set_mark((uintptr_t)p, on != 0);
	uint32_t i;
	struct span *s = stopped_block((uintptr_t)p, &i);
	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	uint64_t bit = (uint64_t)1 << (i & 63);
	if (on)
		__atomic_fetch_or(&s->mark[i >> 6], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&s->mark[i >> 6], ~bit, __ATOMIC_RELAXED);
	return 0;
}

/* ---- the heap rule's settings --------------------------------------------- */

bool mark_base_only;
uint64_t mark_displacements[MAX_DISPLACEMENT / 64];

int
mgc_set_interior_pointers(int on)
{
	mgc_init();
	lock_acquire(&gc_lock);
	int old = !mark_base_only;
	mark_base_only = !on;
	lock_release(&gc_lock);
	return old;
}

int
mgc_register_displacement(size_t offset)
{
	if (offset >= MAX_DISPLACEMENT) {
		errno = EINVAL;
		return -1;
	}
	mgc_init();
	lock_acquire(&gc_lock);
	mark_displacements[offset >> 6] |= (uint64_t)1 << (offset & 63);
	lock_release(&gc_lock);
	return 0;
}

/* ---- single blocks, for the finalization passes (finalize.c) -----------
 * These mark without draining: a pass marks from many records, then calls
 * mark_drain once, which reaches the same closure at a fraction of the
 * cost. */

static struct span *
block_span(uintptr_t base, uint32_t *index)
{
	struct span *s = pagemap_lookup(base);
	*index = span_block_index(s, base);
	return s;
}

bool
mark_is_marked(uintptr_t base)
{
	MGC_ASSERT(world_stopped_here());
	uint32_t i;
	struct span *s = block_span(base, &i);
	return s->mark[i >> 6] >> (i & 63) & 1;
}

void
mark_block(uintptr_t base)
{
	MGC_ASSERT(world_stopped_here());
	mark_candidate(COLLECTOR, base);
}

void
mark_contents(uintptr_t base)
{
	MGC_ASSERT(world_stopped_here());
	uint32_t i;
	struct span *s = block_span(base, &i);
	if (!(s->spanclass & 1))
		scan_block(COLLECTOR, s, base);
}

void
mark_word(uintptr_t w)
{
	MGC_ASSERT(world_stopped_here());
	uintptr_t min = atomic_load_explicit(&heap_lo, memory_order_relaxed);
	COLLECTOR->strict = false; /* a root: interior pointers count */
	if (w - min < atomic_load_explicit(&heap_hi, memory_order_relaxed) - min)
		mark_candidate(COLLECTOR, w);
	COLLECTOR->strict = mark_base_only;
}
