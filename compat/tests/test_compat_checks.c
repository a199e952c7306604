/* test_compat_checks — libmgc-gc.so's pointer checks and root controls:
 * GC_same_obj, GC_pre_incr and GC_post_incr (their print procedure called
 * exactly when the pointers leave the object), GC_is_valid_displacement
 * (with interior pointers on, and off in a child, where only registered
 * displacements pass), GC_PTR_STORE_AND_DIRTY and its GC_DEBUG form,
 * GC_is_tmp_root, GC_clear_stack (the dead frames below are zero), and
 * what GC_exclude_static_roots, GC_clear_exclusion_table and
 * GC_register_has_static_roots_callback do to the blocks held only by
 * static data. */
#include "check.h"

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc_mark.h>
#include "settle.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int same_fails;
static void *fail_p, *fail_q;

static void GC_CALLBACK
same_failed(void *p, void *q)
{
	same_fails++;
	fail_p = p;
	fail_q = q;
}

static void
check_same_obj(void)
{
	GC_same_obj_print_proc = same_failed;
	char *a = GC_malloc(100), *b = GC_malloc(100);
	int local, other;
	CHECK(GC_same_obj(a + 5, a) == a + 5 && GC_same_obj(a, a + GC_size(a) - 1) == a &&
	              same_fails == 0,
	      "pointers into one block failed");
	CHECK(GC_same_obj(&local, &other) == &local && same_fails == 0,
	      "two pointers outside the heap failed");
	CHECK(GC_same_obj(a, b) == a && same_fails == 1 && fail_p == a && fail_q == b,
	      "two blocks passed");
	CHECK(GC_same_obj(&local, a) == &local && same_fails == 2, "stack and heap passed");
	CHECK(GC_same_obj(a, a + GC_size(a)) == a && same_fails == 3, "one past the end passed");
	void *p = a;
	CHECK(GC_pre_incr(&p, 10) == a + 10 && p == a + 10 && same_fails == 3, "GC_pre_incr");
	CHECK(GC_post_incr(&p, 10) == a + 10 && p == a + 20 && same_fails == 3, "GC_post_incr");
	GC_pre_incr(&p, (ptrdiff_t)GC_size(a));
	CHECK(same_fails == 4 && fail_q == a + 20, "GC_pre_incr out of the block passed");
	p = a;
	CHECK(GC_post_incr(&p, -1) == a && same_fails == 5, "GC_post_incr before the block passed");
}

static int bad_displacements;

static void GC_CALLBACK
displacement_failed(void *p)
{
	(void)p;
	bad_displacements++;
}

static void
displacements_off(void *arg)
{
	(void)arg;
	GC_is_valid_displacement_print_proc = displacement_failed;
	GC_set_all_interior_pointers(0);
	GC_register_displacement(8);
	char *a = GC_malloc(64);
	GC_is_valid_displacement(a);
	GC_is_valid_displacement(a + 8);
	CHECK(bad_displacements == 0, "a block start or a registered displacement failed");
	GC_is_valid_displacement(a + 3);
	CHECK(bad_displacements == 1, "an unregistered displacement passed");
}

static void
check_displacement(void)
{
	GC_is_valid_displacement_print_proc = displacement_failed;
	char *a = GC_malloc(64);
	int local;
	CHECK(GC_is_valid_displacement(a + 3) == a + 3 &&
	              GC_is_valid_displacement(&local) == &local && bad_displacements == 0,
	      "with interior pointers on, every displacement is valid");
	char err[1024];
	int status = -1;
	CHECK(check_child(displacements_off, NULL, err, sizeof err, &status) == 0 && status == 0,
	      "with interior pointers off: %s", err);
}

static void
check_stores(void)
{
	void **box = GC_malloc(4 * sizeof *box);
	void *x = GC_malloc(8);
	GC_ptr_store_and_dirty(&box[1], x);
	CHECK(box[1] == x, "GC_ptr_store_and_dirty did not store");
	GC_debug_ptr_store_and_dirty(&box[2], x);
	CHECK(box[2] == x, "GC_debug_ptr_store_and_dirty did not store");
}

static int data_word = 1;
static int bss_word;

static void
check_tmp_root(void)
{
	int local;
	void *heap = GC_malloc(16);
	CHECK(GC_is_tmp_root(&data_word) && GC_is_tmp_root(&bss_word),
	      "the executable's data is not a temporary root");
	CHECK(!GC_is_tmp_root(&local) && !GC_is_tmp_root(heap), "the stack or the heap is one");
	void **added = malloc(4 * sizeof *added);
	CHECK(added != NULL, "malloc failed");
	GC_add_roots(added, added + 4);
	CHECK(!GC_is_tmp_root(&added[1]), "a range of GC_add_roots is temporary");
	GC_remove_roots(added, added + 4);
	free(added);
	GC_exclude_static_roots(&bss_word, &bss_word + 1); /* skipped, still a root section */
	CHECK(GC_is_tmp_root(&bss_word), "an excluded word is no temporary root");
	GC_clear_exclusion_table();
}

/* ---- the stack --------------------------------------------------------------- */

static uintptr_t deep_frame; /* the address of a frame that has returned */

static __attribute__((noinline)) void
leave_marks(void)
{
	volatile uintptr_t buf[64];
	for (int i = 0; i < 64; i++)
		buf[i] = 0x5eed0000u + (uintptr_t)i;
	deep_frame = (uintptr_t)buf;
}

static __attribute__((noinline)) int
marks_left(void)
{
	int n = 0;
	for (int i = 0; i < 64; i++)
		n += ((volatile uintptr_t *)deep_frame)[i] == 0x5eed0000u + (uintptr_t)i;
	return n;
}

static void
check_gc_clear_stack(void)
{
	int arg;
	leave_marks();
	CHECK(marks_left() > 0, "the dead frame lost its marks by itself");
	CHECK(GC_clear_stack(&arg) == &arg, "GC_clear_stack did not return its argument");
	CHECK(marks_left() == 0, "%d words of the dead frame were not cleared", marks_left());
}

/* ---- exclusions and the static-roots callback ---------------------------------- */

#define N 32
static void *holder[N];
static atomic_int finalized;

static void GC_CALLBACK
count(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
	atomic_fetch_add(&finalized, 1);
}

static __attribute__((noinline)) void
fill(void)
{
	atomic_store(&finalized, 0);
	for (int i = 0; i < N; i++) {
		holder[i] = GC_malloc(48);
		GC_register_finalizer(holder[i], count, NULL, NULL, NULL);
	}
}

static int
finalized_after_collections(void)
{
	for (int i = 0; i < 20 && atomic_load(&finalized) < N; i++)
		settle(2, true);
	return atomic_load(&finalized);
}

static int callback_calls, refused;

static int GC_CALLBACK
refuse_holder(const char *name, void *start, size_t size)
{
	(void)name;
	callback_calls++;
	bool holds = (char *)holder >= (char *)start && (char *)holder < (char *)start + size;
	refused += holds;
	return !holds;
}

static void
check_static_roots(void)
{
	fill();
	GC_exclude_static_roots(holder, holder + N);
	CHECK(finalized_after_collections() >= N - 2,
	      "%d of %d blocks held only by an excluded range were finalized",
	      atomic_load(&finalized), N);
	GC_clear_exclusion_table();
	fill();
	CHECK(finalized_after_collections() == 0, "%d blocks held by static data were finalized",
	      atomic_load(&finalized));
	GC_register_has_static_roots_callback(refuse_holder);
	fill();
	CHECK(finalized_after_collections() >= N - 2,
	      "%d of %d blocks held only by a refused segment were finalized",
	      atomic_load(&finalized), N);
	CHECK(callback_calls > 0 && refused > 0, "the callback was asked %d times, refused %d",
	      callback_calls, refused);
	GC_register_has_static_roots_callback(NULL);
	fill();
	CHECK(finalized_after_collections() == 0,
	      "%d blocks held by static data were finalized without the callback",
	      atomic_load(&finalized));
}

int
main(void)
{
	GC_INIT();
	check_same_obj();
	check_displacement();
	check_stores();
	check_tmp_root();
	check_gc_clear_stack();
	check_static_roots();
	printf("test_compat_checks: ok\n");
	return 0;
}
