/* The page heap: spans are reused, free neighbours coalesce, the page map
 * answers for every page, and free spans go back to the OS. */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

static struct span *
take(size_t npages)
{
	struct span *s = heap_alloc_span(npages, SPAN_LARGE, 0, npages * PAGE_SIZE, NULL);
	CHECK(s != NULL, "heap_alloc_span(%zu) failed", npages);
	CHECK(s->npages == npages, "asked %zu pages, got %zu", npages, s->npages);
	for (size_t i = 0; i < npages; i++)
		CHECK(pagemap_lookup(s->base + i * PAGE_SIZE + 123) == s, "page %zu not mapped", i);
	return s;
}

/* Three adjacent spans freed in the order a, c, b merge into one free span
 * that a request of their total size reuses. */
static void
test_coalesce(void)
{
	struct span *a = take(3), *b = take(5), *c = take(7);
	uintptr_t base = a->base;
	if (b->base != a->base + 3 * PAGE_SIZE || c->base != b->base + 5 * PAGE_SIZE) {
		/* Not adjacent (the heap grew in between): nothing to check here. */
		CHECK(0, "spans not carved contiguously: %#lx %#lx %#lx", (unsigned long)a->base,
		      (unsigned long)b->base, (unsigned long)c->base);
	}
	heap_free_large(a);
	heap_free_large(c);
	struct span *f = pagemap_lookup(base);
	CHECK(f != NULL && f->kind == SPAN_FREE && f->npages == 3, "a not free alone");
	heap_free_large(b);
	f = pagemap_lookup(base);
	CHECK(f != NULL && f->kind == SPAN_FREE && f->npages >= 15, "a+b+c not merged (%zu pages)",
	      f ? f->npages : 0);
	CHECK(pagemap_lookup(base + 5 * PAGE_SIZE) == NULL, "inner page of a free span mapped");
	struct span *d = take(15);
	CHECK(d->base == base, "merged span not reused: %#lx vs %#lx", (unsigned long)d->base,
	      (unsigned long)base);
	heap_free_large(d);
}

/* Spans are reused first-fit by size: freeing and asking again gives the
 * same pages back, and heap_inuse follows. */
static void
test_reuse(void)
{
	struct heap_figures before, during, after;
	heap_read_figures(&before);
	struct span *s = take(40);
	uintptr_t base = s->base;
	heap_read_figures(&during);
	CHECK(during.inuse_bytes == before.inuse_bytes + 40 * PAGE_SIZE, "inuse not counted");
	heap_free_large(s);
	heap_read_figures(&after);
	CHECK(after.inuse_bytes == before.inuse_bytes, "inuse not uncounted");
	s = take(40);
	CHECK(s->base == base, "freed span not reused");
	heap_free_large(s);
}

/* Freeing a lot releases pages to the OS; using them again un-counts them
 * and they read as zero. */
static void
test_release(void)
{
	enum { N = 8, PAGES = 2048 }; /* 8 x 16 MiB */
	struct span *s[N];
	for (int i = 0; i < N; i++) {
		s[i] = take(PAGES);
		memset((void *)s[i]->base, 0x5a, PAGES * PAGE_SIZE);
	}
	for (int i = 0; i < N; i++)
		heap_free_large(s[i]);
	struct heap_figures f;
	heap_read_figures(&f);
	CHECK(f.released_bytes > 0, "nothing released after freeing 128 MiB");
	heap_release_free();
	heap_read_figures(&f);
	CHECK(f.released_bytes == f.free_bytes, "release_free left %llu of %llu unreleased",
	      (unsigned long long)(f.free_bytes - f.released_bytes),
	      (unsigned long long)f.free_bytes);
	struct span *t = take(PAGES);
	CHECK(!t->needzero, "released pages marked as needing zeroing");
	for (size_t i = 0; i < PAGES * PAGE_SIZE; i += 4096)
		CHECK(((volatile char *)t->base)[i] == 0, "released page not zero at %zu", i);
	struct heap_figures g;
	heap_read_figures(&g);
	CHECK(g.released_bytes < f.released_bytes, "reuse did not un-count released bytes");
	heap_free_large(t);
}

int
main(void)
{
	mgc_init();
	test_coalesce();
	test_reuse();
	test_release();
	CHECK(pagemap_lookup((uintptr_t)&test_reuse) == NULL, "code address in the page map");
	CHECK(pagemap_lookup(~(uintptr_t)0) == NULL, "top address in the page map");
	return 0;
}
