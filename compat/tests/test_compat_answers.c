/* test_compat_answers — what libgc 8.2.2 answers, libmgc-gc.so answers too:
 * the collector counts as initialised after the first allocation and the
 * main thread as registered after GC_INIT (checked in a fresh process: the
 * test runs itself again); blocks come in 16-byte granules
 * (GC_size(GC_malloc(0)) is 16, every kind 16-byte aligned) and
 * GC_get_size_map_at says what GC_malloc gives; GC_memalign and
 * GC_posix_memalign give aligned block starts, with posix_memalign's
 * EINVAL and ENOMEM; the stubborn calls and GC_malloc_kind;
 * GC_get_kind_and_size names Boehm's kinds; the counters: bytes freed
 * explicitly since the last collection exactly, GC_incr_bytes_allocd and
 * _freed, the heap figures consistent with each other and with
 * GC_get_prof_stats (whose size argument is honoured both ways); and
 * Boehm's private arrays exported, empty, and not scanned. */
#include "check.h"

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc_inline.h>
#include <gc_mark.h>
#include <gc_typed.h>
#include "settle.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* libgc exports these without declaring them. */
extern void **GC_objfreelist_ptr, **GC_aobjfreelist_ptr, **GC_uobjfreelist_ptr,
        **GC_auobjfreelist_ptr;
extern char GC_arrays[];
GC_API void GC_CALL GC_incr_bytes_allocd(size_t);
GC_API void GC_CALL GC_incr_bytes_freed(size_t);

/* ---- a fresh process ------------------------------------------------------- */

static int
fresh(void)
{
	CHECK(!GC_is_init_called(), "GC_is_init_called before any call");
	void *p = GC_malloc(10);
	CHECK(p != NULL && GC_is_init_called(),
	      "GC_is_init_called is 0 after the first allocation");
	CHECK(GC_thread_is_registered(), "the allocating thread is not registered");
	return 0;
}

static int
fresh_init(void)
{
	GC_INIT();
	CHECK(GC_is_init_called() && GC_thread_is_registered(),
	      "after GC_INIT: init_called %d, registered %d", GC_is_init_called(),
	      GC_thread_is_registered());
	struct GC_stack_base sb;
	CHECK(GC_get_stack_base(&sb) == GC_SUCCESS, "GC_get_stack_base");
	GC_allow_register_threads();
	CHECK(GC_register_my_thread(&sb) == GC_DUPLICATE,
	      "GC_register_my_thread after GC_INIT is not GC_DUPLICATE");
	return 0;
}

/* Runs this program again with `what` as its argument. */
static void
run_fresh(const char *what)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed");
	if (pid == 0) {
		execl("/proc/self/exe", "test_compat_answers", what, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the fresh process for %s failed (status %#x)", what, status);
}

/* ---- granules -------------------------------------------------------------- */

static void
check_granules(void)
{
	CHECK(GC_size(GC_malloc(0)) == 16, "GC_size(GC_malloc(0)) = %zu", GC_size(GC_malloc(0)));
	CHECK(GC_size(GC_malloc_atomic(0)) == 16 && GC_size(GC_malloc_uncollectable(0)) == 16 &&
	              GC_size(GC_malloc_atomic_uncollectable(1)) == 16,
	      "a small block of another kind is not 16 bytes");
	CHECK(GC_size(GC_malloc(7)) == 16 && GC_size(GC_malloc(15)) == 16,
	      "GC_malloc(7), GC_malloc(15): %zu, %zu", GC_size(GC_malloc(7)),
	      GC_size(GC_malloc(15)));
	for (size_t size = 0; size < 3000; size += size < 64 ? 1 : 37) {
		void *p[] = {GC_malloc(size),
		             GC_malloc_atomic(size),
		             GC_malloc_uncollectable(size),
		             GC_malloc_atomic_uncollectable(size),
		             GC_generic_malloc(size, GC_I_NORMAL),
		             GC_malloc_kind(size, GC_I_PTRFREE),
		             GC_realloc(GC_malloc(40), size + 1)};
		for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
			CHECK(p[i] != NULL && (uintptr_t)p[i] % 16 == 0 && GC_size(p[i]) % 16 == 0,
			      "block %zu of %zu bytes at %p, size %zu", i, size, p[i],
			      GC_size(p[i]));
		}
		GC_free(p[2]);
		GC_free(p[3]);
	}
	void *list = GC_malloc_many(1);
	CHECK(list != NULL && GC_size(list) == 16 && (uintptr_t)list % 16 == 0,
	      "GC_malloc_many(1) blocks are not 16-byte granules");
}

static void
check_size_map(void)
{
	CHECK(GC_get_size_map_at(-1) == (size_t)-1, "GC_get_size_map_at(-1) is not -1");
	CHECK(GC_get_size_map_at(100000) == (size_t)-1, "GC_get_size_map_at(100000) is not -1");
	for (int i = 0; i <= 32768; i += i < 300 ? 1 : 101) {
		size_t want = GC_get_size_map_at(i);
		void *p = GC_malloc((size_t)i);
		CHECK(GC_size(p) == want, "GC_get_size_map_at(%d) = %zu, GC_malloc gives %zu", i,
		      want, GC_size(p));
		CHECK(want >= (size_t)i && want >= 16, "size map %d: %zu", i, want);
	}
}

/* ---- aligned, stubborn and kind allocation ------------------------------------ */

static void
check_memalign(void)
{
	for (size_t align = 8; align <= 8192; align *= 2)
		for (size_t size = 0; size < 20000; size = size * 3 + 17) {
			char *p = GC_memalign(align, size);
			CHECK(p != NULL && (uintptr_t)p % align == 0 && GC_base(p) == p,
			      "GC_memalign(%zu, %zu) = %p", align, size, (void *)p);
			CHECK(GC_size(p) >= size, "GC_memalign(%zu, %zu): size %zu", align, size,
			      GC_size(p));
			for (size_t i = 0; i < size; i++)
				CHECK(p[i] == 0, "GC_memalign block not zeroed");
			void *q;
			CHECK(GC_posix_memalign(&q, align, size) == 0 && (uintptr_t)q % align == 0,
			      "GC_posix_memalign(%zu, %zu)", align, size);
			GC_free(p); /* a block start: freed without a warning */
			CHECK(GC_base(p) == NULL, "GC_free of a GC_memalign block did nothing");
		}
	CHECK(GC_memalign(3, 17) != NULL, "GC_memalign(3, 17): an alignment of 16 or less");
	void *q = &q;
	CHECK(GC_posix_memalign(&q, 3, 10) == EINVAL && q == &q, "posix_memalign align 3");
	CHECK(GC_posix_memalign(&q, 4, 10) == EINVAL, "posix_memalign align 4");
	CHECK(GC_posix_memalign(&q, 0, 10) == EINVAL, "posix_memalign align 0");
	CHECK(GC_posix_memalign(&q, 16384, 10) == ENOMEM, "posix_memalign align 16384");
	CHECK(GC_posix_memalign(&q, 64, (size_t)1 << 62) == ENOMEM, "posix_memalign huge");
	CHECK(GC_memalign(16384, 10) == NULL, "GC_memalign beyond the limit");
}

static void
check_kinds_and_stubborn(void)
{
	void **s = GC_malloc_stubborn(32);
	CHECK(s != NULL && GC_get_kind_and_size(s, NULL) == GC_I_NORMAL,
	      "GC_malloc_stubborn is not a normal block");
	GC_change_stubborn(s);
	s[1] = GC_malloc(8);
	GC_end_stubborn_change(s);
	CHECK(GC_base(s[1]) == s[1], "stubborn block contents");
	size_t size = 0;
	struct {
		void *p;
		int kind;
	} k[] = {{GC_malloc(24), GC_I_NORMAL},
	         {GC_malloc_atomic(24), GC_I_PTRFREE},
	         {GC_malloc_uncollectable(24), 2},
	         {GC_malloc_atomic_uncollectable(24), 3},
	         {GC_malloc_kind(24, GC_I_NORMAL), GC_I_NORMAL},
	         {GC_malloc_kind_global(3000, GC_I_PTRFREE), GC_I_PTRFREE},
	         {GC_malloc(100000), GC_I_NORMAL}};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
		CHECK(GC_get_kind_and_size(k[i].p, &size) == k[i].kind && size == GC_size(k[i].p),
		      "GC_get_kind_and_size of block %zu: kind %d, size %zu", i,
		      GC_get_kind_and_size(k[i].p, NULL), size);
		void *again = GC_generic_or_special_malloc(10, k[i].kind);
		CHECK(GC_get_kind_and_size(again, NULL) == k[i].kind, "a block of kind %d",
		      k[i].kind);
	}
	/* A kind of the program's own, made with a mark procedure. */
	unsigned proc = GC_new_proc(NULL);
	int mine = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 0), 0, 1);
	void *p = GC_malloc_kind(40, mine);
	CHECK(p != NULL && GC_get_kind_and_size(p, NULL) == mine,
	      "GC_get_kind_and_size of a GC_new_kind block: %d, want %d",
	      GC_get_kind_and_size(p, NULL), mine);
}

/* ---- counters --------------------------------------------------------------- */

static void
check_expl_freed(void)
{
	GC_gcollect();
	CHECK(GC_get_expl_freed_bytes_since_gc() == 0, "freed bytes not 0 after a collection: %zu",
	      GC_get_expl_freed_bytes_since_gc());
	size_t want = 0;
	for (size_t size = 0; size < 200000; size = size * 2 + 5) {
		void *p = size % 2 ? GC_malloc(size) : GC_malloc_atomic_uncollectable(size);
		want += GC_size(p);
		GC_free(p);
		CHECK(GC_get_expl_freed_bytes_since_gc() == want,
		      "after GC_free of %zu bytes: %zu freed, want %zu", size,
		      GC_get_expl_freed_bytes_since_gc(), want);
	}
	void *p = GC_malloc(50);
	want += GC_size(p);
	p = GC_realloc(p, 5000); /* moves: the old block is freed */
	CHECK(GC_get_expl_freed_bytes_since_gc() == want, "GC_realloc: %zu freed, want %zu",
	      GC_get_expl_freed_bytes_since_gc(), want);
	GC_incr_bytes_freed(500);
	CHECK(GC_get_expl_freed_bytes_since_gc() == want + 500, "GC_incr_bytes_freed not counted");
	GC_gcollect();
	CHECK(GC_get_expl_freed_bytes_since_gc() == 0, "freed bytes not reset by a collection");
	CHECK(p != NULL, "realloc failed");
}

static void
check_since_gc(void)
{
	GC_gcollect();
	size_t since = GC_get_bytes_since_gc(), total = GC_get_total_bytes();
	void *p = GC_malloc(1000);
	CHECK(GC_get_bytes_since_gc() >= since + GC_size(p) &&
	              GC_get_total_bytes() >= total + GC_size(p),
	      "an allocation of %zu bytes is not counted", GC_size(p));
	since = GC_get_bytes_since_gc();
	total = GC_get_total_bytes();
	GC_incr_bytes_allocd(12345);
	CHECK(GC_get_bytes_since_gc() == since + 12345 && GC_get_total_bytes() == total + 12345,
	      "GC_incr_bytes_allocd not counted");
	GC_gcollect();
	CHECK(GC_get_bytes_since_gc() < 12345, "bytes since the collection: %zu",
	      GC_get_bytes_since_gc());
	CHECK(GC_get_total_bytes() >= total + 12345, "the total went down");
}

/* The heap figures of every getter, read together. */
struct figures {
	size_t heap, free, unmapped, use, os;
	GC_word h, f, u;
	struct GC_prof_stats_s st;
};

static void
read_figures(struct figures *x)
{
	x->heap = GC_get_heap_size();
	x->free = GC_get_free_bytes();
	x->unmapped = GC_get_unmapped_bytes();
	x->use = GC_get_memory_use();
	x->os = GC_get_obtained_from_os_bytes();
	GC_get_heap_usage_safe(&x->h, &x->f, &x->u, NULL, NULL);
	CHECK(GC_get_prof_stats(&x->st, sizeof x->st) == sizeof x->st, "GC_get_prof_stats size");
}

/* Figures from one quiet moment: no other thread of the program allocates,
 * but mgc's scavenger may return pages to the OS meanwhile, so they are
 * read until two readings agree. */
static void
quiet_figures(struct figures *x)
{
	struct figures again;
	for (int i = 0; i < 1000; i++) {
		read_figures(x);
		read_figures(&again);
		if (x->heap == again.heap && x->unmapped == again.unmapped && x->use == again.use &&
		    x->os == again.os)
			return;
	}
	CHECK(false, "the heap figures never held still");
}

static void
check_heap_figures(void)
{
	void *keep = GC_malloc_atomic(4 << 20);
	for (int i = 0; i < 3; i++) {
		struct figures x;
		quiet_figures(&x);
		CHECK(x.free <= x.heap, "free %zu > heap %zu", x.free, x.heap);
		CHECK(x.use == x.heap - x.free, "memory use %zu, heap %zu, free %zu", x.use, x.heap,
		      x.free);
		CHECK(x.use >= (4u << 20), "a 4 MiB block but %zu bytes in use", x.use);
		CHECK(x.heap + x.unmapped <= x.os, "heap %zu + unmapped %zu > obtained %zu", x.heap,
		      x.unmapped, x.os);
		CHECK(x.h == x.heap && x.f == x.free && x.u == x.unmapped,
		      "GC_get_heap_usage_safe disagrees with the getters");
		CHECK(x.st.heapsize_full == x.heap + x.unmapped &&
		              x.st.free_bytes_full == x.free + x.unmapped &&
		              x.st.unmapped_bytes == x.unmapped &&
		              x.st.obtained_from_os_bytes == x.os,
		      "GC_get_prof_stats heap figures disagree");
		CHECK(x.st.gc_no == GC_get_gc_no() &&
		              x.st.markers_m1 == (GC_word)GC_get_parallel() &&
		              x.st.non_gc_bytes == GC_get_non_gc_bytes(),
		      "GC_get_prof_stats counts disagree");
		CHECK(x.st.bytes_allocd_since_gc == GC_get_bytes_since_gc() &&
		              x.st.allocd_bytes_before_gc + x.st.bytes_allocd_since_gc ==
		                      GC_get_total_bytes() &&
		              x.st.expl_freed_bytes_since_gc == GC_get_expl_freed_bytes_since_gc(),
		      "GC_get_prof_stats allocation figures disagree");
		if (i == 1)
			GC_gcollect_and_unmap();
		else
			GC_gcollect();
	}
	CHECK(keep != NULL, "kept");
}

static void
check_prof_stats_sizes(void)
{
	GC_word big[sizeof(struct GC_prof_stats_s) / sizeof(GC_word) + 4];
	memset(big, 0, sizeof big);
	CHECK(GC_get_prof_stats((struct GC_prof_stats_s *)big, sizeof big) ==
	              sizeof(struct GC_prof_stats_s),
	      "a larger buffer: the known size is returned");
	for (size_t i = sizeof(struct GC_prof_stats_s) / sizeof(GC_word);
	     i < sizeof big / sizeof big[0]; i++)
		CHECK(big[i] == (GC_word)-1, "unknown field %zu not set to -1", i);
	GC_word small[3] = {0, 0, 7};
	CHECK(GC_get_prof_stats((struct GC_prof_stats_s *)small, 2 * sizeof(GC_word)) ==
	              2 * sizeof(GC_word),
	      "a smaller buffer: its size is returned");
	CHECK(small[2] == 7, "GC_get_prof_stats wrote past the size it was given");
	struct GC_prof_stats_s st;
	CHECK(GC_get_prof_stats_unsafe(&st, sizeof st) == sizeof st, "GC_get_prof_stats_unsafe");
	GC_gcollect();
	void *garbage;
	for (int i = 0; i < 1000; i++)
		garbage = GC_malloc(1000);
	(void)garbage;
	settle(1, false);
	GC_get_prof_stats(&st, sizeof st);
	CHECK(st.bytes_reclaimed_since_gc > 0 && st.reclaimed_bytes_before_gc > 0,
	      "reclaimed bytes: %lu since, %lu before", (unsigned long)st.bytes_reclaimed_since_gc,
	      (unsigned long)st.reclaimed_bytes_before_gc);
}

/* ---- Boehm's private arrays --------------------------------------------------- */

static atomic_int finalized;

static void GC_CALLBACK
count(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
	atomic_fetch_add(&finalized, 1);
}

/* Blocks whose only pointers lie in GC_arrays (past the free lists), as
 * in Boehm's, which does not scan them either. */
static __attribute__((noinline)) void
hide_in_arrays(void)
{
	void **slots = (void **)(GC_arrays + 64 * 1024);
	for (int i = 0; i < 16; i++) {
		slots[i] = GC_malloc(64);
		GC_register_finalizer(slots[i], count, NULL, NULL, NULL);
	}
}

static void
check_arrays(void)
{
	void **lists[] = {GC_objfreelist_ptr, GC_aobjfreelist_ptr, GC_uobjfreelist_ptr,
	                  GC_auobjfreelist_ptr};
	for (size_t i = 0; i < 4; i++) {
		CHECK(lists[i] != NULL, "free list pointer %zu is NULL", i);
		for (int g = 0; g <= 128; g++)
			CHECK(lists[i][g] == NULL, "free list %zu, %d granules, is not empty", i,
			      g);
	}
	CHECK((char *)GC_objfreelist_ptr >= GC_arrays, "the free lists are not in GC_arrays");
	hide_in_arrays();
	for (int i = 0; i < 100 && atomic_load(&finalized) < 15; i++)
		settle(2, true);
	CHECK(atomic_load(&finalized) >= 15,
	      "only %d of 16 blocks held from GC_arrays were finalized", atomic_load(&finalized));
	memset(GC_arrays + 64 * 1024, 0, 16 * sizeof(void *));
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "fresh") == 0)
		return fresh();
	if (argc > 1 && strcmp(argv[1], "fresh_init") == 0)
		return fresh_init();
	run_fresh("fresh");
	run_fresh("fresh_init");
	GC_INIT();
	check_granules();
	check_size_map();
	check_memalign();
	check_kinds_and_stubborn();
	check_expl_freed();
	check_since_gc();
	check_heap_figures();
	check_prof_stats_sizes();
	check_arrays();
	printf("test_compat_answers: ok\n");
	return 0;
}
