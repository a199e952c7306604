/* test_compat_alloc — libmgc-gc.so's allocation calls through Boehm's
 * <gc.h>: malloc, atomic, realloc, strdup/strndup, base, size, free, the
 * uncollectable and ignore-off-page kinds, and the heap statistics. */
#include "check.h"

#include <gc.h>
#include "settle.h"

#define N 100

static atomic_int fin_collectable, fin_uncollectable;

static void GC_CALLBACK
count_fin(void *obj, void *cd)
{
	(void)obj;
	atomic_fetch_add((atomic_int *)cd, 1);
}

static void
check_basic(void)
{
	unsigned char *p = GC_malloc(100), *a = GC_malloc_atomic(200);

	CHECK(p != NULL && a != NULL, "GC_malloc/GC_malloc_atomic returned NULL");
	for (int i = 0; i < 100; i++)
		CHECK(p[i] == 0, "GC_malloc block not zeroed at %d", i);
	CHECK(GC_size(p) >= 100 && GC_size(a) >= 200, "GC_size too small: %zu %zu", GC_size(p),
	      GC_size(a));
	CHECK(GC_base(p + 50) == p, "GC_base of interior pointer is %p, want %p", GC_base(p + 50),
	      (void *)p);
	CHECK(GC_base(&fin_collectable) == NULL, "GC_base of a static is not NULL");
	GC_free(a);
	CHECK(GC_base(a) == NULL, "GC_base of a freed block is not NULL");
	GC_free(NULL);
}

static void
check_realloc(void)
{
	unsigned char *p = GC_realloc(NULL, 64), *q;

	CHECK(p != NULL, "GC_realloc(NULL, 64) returned NULL");
	for (int i = 0; i < 64; i++)
		p[i] = (unsigned char)i;
	q = GC_realloc(p, 5000);
	CHECK(q != NULL && GC_size(q) >= 5000, "GC_realloc grow failed");
	for (int i = 0; i < 64; i++)
		CHECK(q[i] == i, "GC_realloc lost byte %d", i);
	q = GC_realloc(q, 10);
	CHECK(q != NULL && q[9] == 9, "GC_realloc shrink lost contents");
	CHECK(GC_realloc(q, 0) == NULL, "GC_realloc(p, 0) did not return NULL");
}

static void
check_strings(void)
{
	char *s = GC_strdup("hello, world"), *t = GC_strndup("hello", 3);

	CHECK(s != NULL && strcmp(s, "hello, world") == 0, "GC_strdup gave %s", s);
	CHECK(t != NULL && strcmp(t, "hel") == 0, "GC_strndup gave %s", t);
	CHECK(GC_size(t) >= 4, "GC_strndup block too small");
	t = GC_strndup("ab", 10);
	CHECK(strcmp(t, "ab") == 0, "GC_strndup past the end gave %s", t);
}

static void
check_off_page(void)
{
	void *p = GC_malloc_ignore_off_page(1 << 20);
	void *q = GC_malloc_atomic_ignore_off_page(1 << 20);

	CHECK(p != NULL && q != NULL, "ignore_off_page allocation failed");
	CHECK(GC_size(p) >= (1 << 20) && GC_size(q) >= (1 << 20), "ignore_off_page too small");
}

/* N collectable and N uncollectable blocks with finalizers, all dropped;
 * each uncollectable one points to a collectable one it keeps alive. */
static __attribute__((noinline)) void
make_blocks(void)
{
	for (int i = 0; i < N; i++) {
		void **u = GC_malloc_uncollectable(64);
		void *c = GC_malloc(64), *kept = GC_malloc(64);

		CHECK(u != NULL && c != NULL && kept != NULL, "allocation failed");
		u[0] = kept;
		GC_register_finalizer(u, count_fin, &fin_uncollectable, NULL, NULL);
		GC_register_finalizer(kept, count_fin, &fin_uncollectable, NULL, NULL);
		GC_register_finalizer(c, count_fin, &fin_collectable, NULL, NULL);
	}
	for (int i = 0; i < N; i++)
		CHECK(GC_malloc_atomic_uncollectable(32) != NULL, "atomic uncollectable failed");
}

static void
collect_until(atomic_int *count, int want)
{
	for (int round = 0; round < 200 && atomic_load(count) < want; round++)
		settle(1, true);
}

static void
check_uncollectable(void)
{
	void *u;

	make_blocks();
	collect_until(&fin_collectable, N * 9 / 10);
	CHECK(atomic_load(&fin_collectable) >= N * 9 / 10,
	      "only %d of %d dropped collectable blocks were finalized",
	      atomic_load(&fin_collectable), N);
	CHECK(atomic_load(&fin_uncollectable) == 0,
	      "%d uncollectable blocks (or blocks they reach) were finalized",
	      atomic_load(&fin_uncollectable));
	u = GC_malloc_uncollectable(100);
	GC_free(u);
	CHECK(GC_base(u) == NULL, "GC_free of an uncollectable block left it live");
}

static __attribute__((noinline)) void
make_garbage(void)
{
	for (int i = 0; i < 1000; i++)
		CHECK(GC_malloc(10000) != NULL, "allocation failed");
}

static void
check_stats(void)
{
	size_t total = GC_get_total_bytes(), heap, free_bytes;

	make_garbage();
	CHECK(GC_get_total_bytes() >= total + 1000 * 10000, "GC_get_total_bytes did not grow");
	check_clear_stack();
	GC_gcollect();
	heap = GC_get_heap_size();
	free_bytes = GC_get_free_bytes();
	CHECK(heap > 0 && free_bytes <= heap, "heap %zu, free %zu", heap, free_bytes);
	CHECK(heap - free_bytes < 1000 * 10000 / 2, "%zu bytes still in use after dropping 10 MB",
	      heap - free_bytes);
}

int
main(void)
{
	GC_INIT();
	check_basic();
	check_realloc();
	check_strings();
	check_off_page();
	check_uncollectable();
	check_stats();
	puts("test_compat_alloc: ok");
	return 0;
}
