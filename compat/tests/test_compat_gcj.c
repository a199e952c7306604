/* test_compat_gcj — gc_gcj.h through libmgc-gc.so: GC_init_gcj_malloc
 * with a mark procedure at a reserved index, GC_gcj_malloc and
 * GC_gcj_malloc_ignore_off_page with vtables whose descriptor (at
 * MARK_DESCR_OFFSET, the vtable's second word) is a length, a bitmap or a
 * mark procedure, GC_gcj_kind and GC_gcj_debug_kind (GC_debug_gcj_malloc's
 * objects, marked by the procedure with environment 1 from the start of
 * their debug header), and gcj objects built and checked by threads while
 * collections run.
 *
 * Retention is observed through disappearing links: a word the descriptor
 * names keeps its target; one it does not name keeps nothing (a tenth may
 * linger, stale stack words).
 */
#include "check.h"

#define GC_THREADS
#include <gc.h>
#include <gc_gcj.h>
#include <gc_mark.h>
#include <pthread.h>
#include "settle.h"

#define N 128

/* gcj's vtable: a class pointer, then the mark descriptor. */
struct vtable {
	void *klass;
	GC_word descr;
};

/* Objects: word 0 the vtable, words 1..4 fields. */
enum { WORDS = 5 };

static atomic_int proc_calls, debug_calls;

/* The mark procedure: pushes field 2 only; environment 1 marks a debug
 * object, whose fields follow a header, as Boehm's test does. */
static struct GC_ms_entry *
gcj_proc(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *msl, GC_word env)
{
	if (env == 1) {
		atomic_fetch_add(&debug_calls, 1);
		addr = (GC_word *)GC_USR_PTR_FROM_BASE(addr);
	} else {
		atomic_fetch_add(&proc_calls, 1);
	}
	return GC_MARK_AND_PUSH((void *)addr[2], msp, msl, (void **)&addr[2]);
}

static struct vtable by_length, by_bitmap, by_proc;

static __attribute__((noinline)) void **
make_objects(struct vtable *vt, bool off_page, struct watch *keep, struct watch *drop, int kept,
             int dropped)
{
	void **roots = GC_malloc(N * sizeof *roots);
	for (int i = 0; i < N; i++) {
		GC_word *o = off_page ? GC_gcj_malloc_ignore_off_page(WORDS * sizeof(GC_word), vt)
		                      : GC_gcj_malloc(WORDS * sizeof(GC_word), vt);
		CHECK(o != NULL && o[0] == (GC_word)vt, "GC_gcj_malloc stores the vtable");
		CHECK(GC_size(o) >= WORDS * sizeof(GC_word), "size");
		o[kept] = (GC_word)target(keep, i);
		o[dropped] = (GC_word)target(drop, i);
		roots[i] = o;
	}
	return roots;
}

static void
check_descriptor(struct vtable *vt, bool off_page, int kept, int dropped, const char *what)
{
	struct watch *keep = calloc(2, sizeof *keep), *drop = keep + 1; /* never scanned */
	CHECK(keep != NULL, "calloc");
	void **roots = make_objects(vt, off_page, keep, drop, kept, dropped);
	settle(2, false);
	CHECK(alive(keep) == N, "%s: a described word keeps its target: %d of %d", what,
	      alive(keep), N);
	CHECK(alive(drop) <= N / 10, "%s: an undescribed word keeps nothing: %d alive", what,
	      alive(drop));
	CHECK(roots[N - 1] != NULL, "kept");
}

/* GC_debug_gcj_malloc: a debug block of GC_gcj_debug_kind, marked by the
 * procedure with environment 1 whatever its vtable says. */
static void
check_debug_kind(void)
{
	CHECK(GC_gcj_debug_kind != GC_gcj_kind && GC_gcj_debug_kind > 3 && GC_gcj_kind > 3,
	      "gcj kinds %d and %d", GC_gcj_kind, GC_gcj_debug_kind);
	struct watch *keep = calloc(2, sizeof *keep), *drop = keep + 1; /* never scanned */
	CHECK(keep != NULL, "calloc");
	void **roots = GC_malloc(N * sizeof *roots);
	for (int i = 0; i < N; i++) {
		GC_word *o = GC_debug_gcj_malloc(WORDS * sizeof(GC_word), &by_length, __FILE__,
		                                 __LINE__);
		CHECK(o != NULL && o[0] == (GC_word)&by_length, "debug gcj object");
		CHECK((char *)GC_base(o) == (char *)o - GC_get_debug_header_size(),
		      "the debug header lies before the object");
		CHECK(GC_get_kind_and_size(o, NULL) == GC_gcj_debug_kind, "of the debug kind");
		o[2] = (GC_word)target(keep, i);
		o[1] = (GC_word)target(drop, i); /* the length descriptor would keep it */
		roots[i] = o;
	}
	atomic_store(&debug_calls, 0);
	settle(2, false);
	CHECK(atomic_load(&debug_calls) >= N, "the procedure marked debug objects %d times",
	      atomic_load(&debug_calls));
	CHECK(alive(keep) == N, "debug objects keep what the procedure pushes: %d", alive(keep));
	CHECK(alive(drop) <= N / 10, "and only that: %d alive", alive(drop));
	GC_FREE(roots[0]);
	CHECK(GC_base(roots[1]) != NULL, "kept");
}

/* ---- threads: lists of gcj conses ---------------------------------------------- */

/* A cons: vtable, car (an int, shifted), cdr; its vtable's bitmap names
 * only the cdr, so a list is kept through its cdrs. */
static struct vtable cons_vt;

static GC_word *
cons(GC_word car, GC_word *cdr)
{
	GC_word *c = GC_gcj_malloc(3 * sizeof(GC_word), &cons_vt);
	CHECK(c != NULL, "cons");
	c[1] = car << 1 | 1;
	c[2] = (GC_word)cdr;
	return c;
}

static void
check_list(GC_word *l, GC_word n)
{
	for (GC_word i = n; i > 0; i--, l = (GC_word *)l[2]) {
		CHECK(l != NULL && l[0] == (GC_word)&cons_vt && l[1] == (i << 1 | 1) &&
		              GC_base(l) == l,
		      "list element %lu broken", (unsigned long)i);
	}
	CHECK(l == NULL, "list too long");
}

static void *
list_thread(void *arg)
{
	(void)arg;
	for (int round = 0; round < 200; round++) {
		GC_word *l = NULL;
		for (GC_word i = 1; i <= 300; i++)
			l = cons(i, l);
		check_list(l, 300);
		if (round % 50 == 0)
			GC_gcollect();
	}
	return NULL;
}

int
main(void)
{
	GC_INIT();
	GC_init_gcj_malloc(GC_GCJ_RESERVED_MARK_PROC_INDEX, (void *)(GC_word)gcj_proc);
	GC_init_gcj_malloc(3, NULL);                          /* once made, the kinds stay */
	by_length.descr = 3 * sizeof(GC_word) | GC_DS_LENGTH; /* words 0..2 */
	by_bitmap.descr = (GC_word)1 << (8 * sizeof(GC_word) - 4) | GC_DS_BITMAP; /* word 3 */
	by_proc.descr = GC_MAKE_PROC(GC_GCJ_RESERVED_MARK_PROC_INDEX, 0);
	check_descriptor(&by_length, false, 2, 4, "length");
	check_descriptor(&by_bitmap, true, 3, 1, "bitmap");
	atomic_store(&proc_calls, 0);
	check_descriptor(&by_proc, false, 2, 3, "mark procedure");
	CHECK(atomic_load(&proc_calls) >= N, "the procedure ran %d times",
	      atomic_load(&proc_calls));
	check_debug_kind();
	cons_vt.descr = (GC_word)1 << (8 * sizeof(GC_word) - 3) | GC_DS_BITMAP;
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, list_thread, NULL) == 0, "thread");
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("test_compat_gcj: ok\n");
	return 0;
}
