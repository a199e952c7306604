/* checkmark.c — MGC_CHECKMARK=1: every mark checked by a second one.
 *
 * After a collection has marked from its roots, and before the
 * finalization passes clear any weak handle or anything is swept, the
 * checkmark marks again from the same roots (data and bss segments, added
 * ranges, every registered thread's stack, pinned block and static TLS,
 * what the roots callback reports, finalizer and cleanup arguments,
 * queued jobs, uncollectable blocks, the contents of blocks of kinds
 * traced whole) with
 * the same rules for candidates and kinds, and the simplest marker
 * there is: one thread, a plain stack of block addresses, no prefetch
 * pipeline, no work sharing, and a bitmap of its own.  Every block it
 * reaches must carry the real mark bit; one that does not is a block the
 * collection would free while it is reachable, and the program stops with
 * the block, its size and where it was found from.  Go's
 * GODEBUG=gccheckmark=1 is the model.
 *
 * It costs a second mark per collection, so it is off by default in
 * release builds and on in debug builds (MGC_CHECKMARK=0 turns it off
 * there); the threaded stress tests run under it.
 *
 * The bitmap gives each span of the cycle's snapshot ceil(nelems/64)
 * words, found through the span's inuse_index: with the world stopped the
 * snapshot is the in-use array, in order.  The bitmap and the stack are
 * metadata (os_alloc_meta), never scanned, and freed at the end.  When the
 * OS refuses them, the collection goes unchecked, or checked only as far
 * as the stack could reach: a check must not turn a shortage the program
 * would see as ENOMEM into an abort.
 *
 * Runs only with the world stopped, on the collecting thread, gc lock held.
 */
#include "internal.h"

#include <stdio.h>

struct checkmark {
	uint64_t *bits; /* one bit per block of every snapshot span */
	size_t *first;  /* [k]: index in bits of span k's first word */
	size_t nwords, nitems;
	uintptr_t *stack; /* blocks reached and not yet scanned */
	size_t depth, cap;
	const char *from; /* what the range being scanned is, for the message */
	uintptr_t from_block;
	bool gave_up; /* its stack could not grow: this cycle goes unchecked */
};

static struct checkmark cm MGC_STATE;

static void
teardown(void)
{
	if (cm.first != NULL)
		os_free_meta(cm.first, (cm.nitems + 1) * sizeof *cm.first);
	if (cm.bits != NULL)
		os_free_meta(cm.bits, cm.nwords * sizeof *cm.bits);
	if (cm.stack != NULL)
		os_free_meta(cm.stack, cm.cap * sizeof *cm.stack);
	cm = (struct checkmark){0};
}

/* The checkmark's memory; false when the OS refuses it (then this
 * collection goes unchecked: a check must not turn an allocation that
 * would fail with ENOMEM into an abort). */
static bool
setup(const struct sweep_item *items, size_t n)
{
	cm.nitems = n;
	cm.first = os_alloc_meta((n + 1) * sizeof *cm.first);
	if (cm.first == NULL)
		return false;
	size_t words = 0;
	for (size_t k = 0; k < n; k++) {
		MGC_ASSERT(items[k].span->inuse_index == k);
		cm.first[k] = words;
		words += (items[k].span->nelems + 63) / 64;
	}
	cm.nwords = words ? words : 1;
	cm.bits = os_alloc_meta(cm.nwords * sizeof *cm.bits);
	cm.cap = 1 << 16;
	cm.stack = cm.bits != NULL ? os_alloc_meta(cm.cap * sizeof *cm.stack) : NULL;
	cm.depth = 0;
	return cm.stack != NULL;
}

static void
push(uintptr_t base)
{
	if (cm.gave_up)
		return;
	if (cm.depth == cm.cap) {
		uintptr_t *n = os_alloc_meta(2 * cm.cap * sizeof *n);
		if (n == NULL) {
			cm.gave_up = true;
			cm.depth = 0;
			return;
		}
		for (size_t i = 0; i < cm.depth; i++)
			n[i] = cm.stack[i];
		os_free_meta(cm.stack, cm.cap * sizeof *cm.stack);
		cm.stack = n;
		cm.cap *= 2;
	}
	cm.stack[cm.depth++] = base;
}

static _Noreturn void
missed(uintptr_t base, size_t size)
{
	if (cm.from_block != 0)
		fatal("mgc: checkmark: block %p (size %zu) reachable but unmarked; found from "
		      "block %p",
		      (void *)base, size, (void *)cm.from_block);
	fatal("mgc: checkmark: block %p (size %zu) reachable but unmarked; found from %s",
	      (void *)base, size, cm.from);
}

/* w as a candidate pointer: the same rules as the real mark (anywhere
 * inside a live block's usable size; from a heap block, the heap rule). */
static void
visit(uintptr_t w, bool from_heap)
{
	struct span *s = pagemap_lookup(w);
	if (s == NULL || s->kind == SPAN_FREE)
		return;
	uint32_t i = span_block_index(s, w);
	uintptr_t base = s->base + (uintptr_t)i * s->elem_size;
	if (i >= s->nelems || w >= base + s->elem_size ||
	    atomic_load_explicit(&s->state[i], memory_order_relaxed) != BLOCK_LIVE)
		return;
	if (from_heap && !mark_offset_ok(w - base))
		return;
	if (s->inuse_index >= cm.nitems)
		fatal("mgc: checkmark: span %#lx is in use but not in the cycle's snapshot",
		      (unsigned long)s->base);
	uint64_t *word = &cm.bits[cm.first[s->inuse_index] + (i >> 6)];
	uint64_t bit = (uint64_t)1 << (i & 63);
	if (*word & bit)
		return;
	*word |= bit;
	if (!(s->mark[i >> 6] & bit))
		missed(base, s->elem_size);
	if (!(s->spanclass & 1))
		push(base);
}

static void
visit_heap(uintptr_t w)
{
	uintptr_t min = atomic_load_explicit(&heap_lo, memory_order_relaxed);
	if (w - min < atomic_load_explicit(&heap_hi, memory_order_relaxed) - min)
		visit(w, true);
}

__attribute__((no_sanitize("address", "thread"))) static void
scan(uintptr_t lo, uintptr_t hi, bool from_heap)
{
	uintptr_t min = atomic_load_explicit(&heap_lo, memory_order_relaxed);
	uintptr_t span = atomic_load_explicit(&heap_hi, memory_order_relaxed) - min;
	const uintptr_t *p = (const uintptr_t *)round_up(lo, WORD);
	const uintptr_t *end = (const uintptr_t *)(hi & ~(uintptr_t)(WORD - 1));
	for (; p < end; p++) {
		uintptr_t w = mark_load_word(p);
		if (w - min < span)
			visit(w, from_heap);
	}
}

/* What a typed block's layout or a kind's trace function reports. */
static void
tracer_word(struct mgc_tracer *t, uintptr_t w)
{
	(void)t;
	visit_heap(w);
}

static void
tracer_range(struct mgc_tracer *t, uintptr_t lo, uintptr_t hi)
{
	(void)t;
	scan(lo, hi, true);
}

/* Scan every block reached so far, and what they reach. */
static void
drain(void)
{
	struct mgc_tracer t = {tracer_word, tracer_range, NULL};
	while (cm.depth > 0) {
		uintptr_t base = cm.stack[--cm.depth];
		struct span *s = pagemap_lookup(base);
		cm.from_block = base;
		if (s->tag)
			kind_trace(s, base, &t);
		else
			scan(base, base + s->elem_size, true);
	}
	cm.from_block = 0;
}

static void
root_range(uintptr_t lo, uintptr_t hi, void *arg)
{
	cm.from = arg;
	scan(lo, hi, false);
	drain();
}

static void
root_word(uintptr_t w, void *arg)
{
	root_range((uintptr_t)&w, (uintptr_t)(&w + 1), arg);
}

static void
check_threads(uintptr_t self_lo)
{
	char what[96];
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t)) {
		unsigned long id = (unsigned long)t->id;
		uintptr_t lo = t == tls_thread
		                       ? self_lo
		                       : atomic_load_explicit(&t->stack_lo, memory_order_acquire);
		snprintf(what, sizeof what, "stack of thread %#lx", id);
		thread_each_stack_range(t, lo, root_range, what);
		snprintf(what, sizeof what, "large block being allocated by thread %#lx", id);
		root_range((uintptr_t)&t->pinned, (uintptr_t)(&t->pinned + 1), what);
		snprintf(what, sizeof what, "thread-local storage of thread %#lx", id);
		for (int i = 0; i < t->ntls; i++)
			root_range(t->tls[i][0], t->tls[i][1], what);
	}
}

/* Every allocated uncollectable block is a root. */
static void
check_uncollectable(const struct sweep_item *items, size_t n)
{
	cm.from = "roots (uncollectable blocks)";
	for (size_t k = 0; k < n; k++) {
		struct span *s = items[k].span;
		if (items[k].kind == SPAN_FREE || sc_slot(items[k].spanclass) != SLOT_UNCOLLECTABLE)
			continue;
		for (uint32_t i = 0; i < s->nelems; i++)
			visit(s->base + (uintptr_t)i * s->elem_size, false);
		drain();
	}
}

/* The blocks of kinds traced whole: their contents are roots, whether
 * the blocks are reached or not (mark_trace_all). */
static void
check_trace_all(const struct sweep_item *items, size_t n)
{
	struct mgc_tracer t = {tracer_word, tracer_range, NULL};
	if (!kind_any_traced_all())
		return;
	cm.from = "roots (blocks of a kind traced whole)";
	for (size_t k = 0; k < n; k++) {
		struct span *s = items[k].span;
		if (items[k].kind == SPAN_FREE || (items[k].spanclass & 1) ||
		    !kind_traced_all(items[k].spanclass))
			continue;
		for (uint32_t i = 0; i < s->nelems; i++) {
			uintptr_t base = s->base + (uintptr_t)i * s->elem_size;
			if (atomic_load_explicit(&s->state[i], memory_order_relaxed) != BLOCK_LIVE)
				continue;
			if (s->tag)
				kind_trace(s, base, &t);
			else
				scan(base, base + s->elem_size, true);
			drain();
		}
	}
}

/* What the roots callback reports, as the collection's mark takes it. */
static void
callback_word(struct mgc_tracer *t, uintptr_t w)
{
	(void)t;
	root_word(w, "roots (the roots callback)");
}

static void
callback_range(struct mgc_tracer *t, uintptr_t lo, uintptr_t hi)
{
	(void)t;
	root_range(lo, hi, "roots (the roots callback)");
}

void
checkmark_stopped(const struct sweep_item *items, size_t n, uintptr_t self_lo)
{
	MGC_ASSERT(lock_held(&gc_lock) && world_stopped_here());
	if (!setup(items, n)) {
		teardown();
		return;
	}
	roots_each_segment(root_range, "roots (data and bss)");
	roots_each_added(root_range, "roots (mgc_add_roots)");
	check_threads(self_lo);
	struct mgc_tracer callback_tracer = {callback_word, callback_range, NULL};
	roots_call_stopped(&callback_tracer);
	check_uncollectable(items, n);
	check_trace_all(items, n);
	special_each_root_stopped(root_word,
	                          "roots (finalizer and cleanup arguments, queued jobs)");
	teardown();
}
