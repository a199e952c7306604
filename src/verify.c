/* verify.c — the heap verifier, run after every mark in debug builds, with
 * the world stopped and every cache flushed.
 *
 * For every span in use it checks what the other layers promise:
 *   - the page map sends every page of the span to it;
 *   - small spans: each block on the free list lies in the span, on a block
 *     boundary below the bump mark, and is BLOCK_FREE and not dead; dead
 *     blocks are BLOCK_FREE and counted in ndead; free-list blocks, dead
 *     blocks, never-used blocks and blocks out (nout) add up to nelems; every live
 *     block lies below the bump mark and is counted in nout;
 *   - a marked block is live, but after a concurrent cycle (black): blocks
 *     went out marked to thread caches and came back unused, or were freed
 *     marked (gc_black);
 *   - free-list blocks of 16 bytes or more name their state byte in word 1,
 *     and with MGC_DEBUG_EXPENSIVE they are zero from word 2 on.
 * A failure is an internal error: it prints what it found and aborts.
 */
#include "internal.h"

static void
verify_pages(const struct span *s)
{
	for (size_t i = 0; i < s->npages; i++)
		if (pagemap_lookup(s->base + i * PAGE_SIZE) != s)
			fatal("mgc: verify: page %zu of span %#lx not mapped to it", i,
			      (unsigned long)s->base);
}

static bool
is_marked(const struct span *s, uint32_t i)
{
	return s->mark[i >> 6] >> (i & 63) & 1;
}

static bool
is_live(const struct span *s, uint32_t i)
{
	return atomic_load_explicit(&s->state[i], memory_order_relaxed) == BLOCK_LIVE;
}

static void
verify_free_block(const struct span *s, uintptr_t b)
{
	if (b < s->base || b >= s->base + (uintptr_t)s->nelems * s->elem_size ||
	    (b - s->base) % s->elem_size != 0)
		fatal("mgc: verify: free-list entry %#lx outside span %#lx", (unsigned long)b,
		      (unsigned long)s->base);
	uint32_t i = (uint32_t)((b - s->base) / s->elem_size);
	if (i >= s->bump || is_live(s, i) || (s->dead[i >> 6] >> (i & 63) & 1))
		fatal("mgc: verify: free-list block %#lx is live or never handed out",
		      (unsigned long)b);
	if (s->elem_size >= 2 * WORD && ((void *const *)b)[1] != (const void *)&s->state[i])
		fatal("mgc: verify: free block %#lx does not name its state byte",
		      (unsigned long)b);
	if (MGC_DEBUG_EXPENSIVE)
		for (size_t w = 2; w < s->elem_size / WORD; w++)
			if (((const uintptr_t *)b)[w] != 0)
				fatal("mgc: verify: free block %#lx not zero at word %zu",
				      (unsigned long)b, w);
}

static void
verify_small(const struct span *s, bool black)
{
	uint32_t nfree = 0, nlive = 0;
	for (void **b = s->free; b != NULL; b = *b) {
		verify_free_block(s, (uintptr_t)b);
		if (++nfree > s->nelems)
			fatal("mgc: verify: free list of span %#lx loops", (unsigned long)s->base);
	}
	uint32_t ndead = 0;
	for (uint32_t i = 0; i < s->nelems; i++) {
		if (s->dead[i >> 6] >> (i & 63) & 1) {
			if (is_live(s, i) || i >= s->bump)
				fatal("mgc: verify: dead block %u of %#lx is live or never handed "
				      "out",
				      i, (unsigned long)s->base);
			ndead++;
		}
		if (is_live(s, i) && i >= s->bump)
			fatal("mgc: verify: live block above the bump mark in %#lx",
			      (unsigned long)s->base);
		if (is_marked(s, i) && !is_live(s, i) && !black)
			fatal("mgc: verify: marked block %u of %#lx is not live", i,
			      (unsigned long)s->base);
		nlive += is_live(s, i);
	}
	if (ndead != s->ndead || nfree + ndead + (s->nelems - s->bump) + s->nout != s->nelems ||
	    nlive > s->nout)
		fatal("mgc: verify: span %#lx: %u free + %u dead (%u counted) + %u fresh + %u out "
		      "!= %u blocks (%u live)",
		      (unsigned long)s->base, nfree, ndead, s->ndead, s->nelems - s->bump, s->nout,
		      s->nelems, nlive);
}

void
verify_heap_stopped(const struct sweep_item *items, size_t n, bool black)
{
	MGC_ASSERT(world_stopped_here());
	heap_verify_stopped();
	mark_check_closed();
	for (size_t k = 0; k < n; k++) {
		const struct span *s = items[k].span;
		verify_pages(s);
		if (s->kind == SPAN_SMALL)
			verify_small(s, black);
		else if (s->mark1 && !is_live(s, 0) && !black)
			fatal("mgc: verify: marked large block %#lx is not live",
			      (unsigned long)s->base);
	}
}
