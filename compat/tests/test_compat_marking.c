/* test_compat_marking — gc_mark.h's marker interface through
 * libmgc-gc.so: GC_push_all, GC_push_all_eager and GC_push_conditional
 * from a mark procedure and from the push-other-roots procedure (set with
 * GC_set_push_other_roots, chained to the previous one, or assigned to the
 * GC_push_other_roots variable as older programs do), GC_is_marked,
 * GC_set_mark_bit and GC_clear_mark_bit while marking,
 * GC_push_finalizer_structures, GC_enumerate_reachable_objects_inner and
 * GC_register_describe_type_fn (whose function names the objects of a
 * leak report, read from a child's stderr).
 *
 * Retention is observed through disappearing links (test_compat_kinds'
 * watch): a target that must stay alive always does; of those that must
 * go, at most a tenth may linger.
 */
#include "check.h"

#define GC_THREADS
#include <gc.h>
#include <gc_inline.h>
#include <gc_mark.h>
#include "settle.h"

#define N 128

/* ---- pushing from a mark procedure ------------------------------------------- */

/* An object whose words 1..3 are a range the procedure pushes with one of
 * the three calls, as word 0 says; word 4 is never pushed. */
static struct GC_ms_entry *
push_proc(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *msl, GC_word env)
{
	(void)msl;
	(void)env;
	if (addr[0] == 1)
		GC_push_all(addr + 1, addr + 4);
	else if (addr[0] == 2)
		GC_push_all_eager(addr + 1, addr + 4);
	else if (addr[0] == 3)
		GC_push_conditional(addr + 1, addr + 4, 0);
	return msp;
}

static __attribute__((noinline)) void **
make_pushed(int kind, struct watch *keep, struct watch *drop)
{
	void **roots = GC_malloc(N * sizeof *roots);
	for (int i = 0; i < N; i++) {
		GC_word *o = GC_generic_malloc(5 * sizeof(GC_word), kind);
		CHECK(o != NULL, "GC_generic_malloc");
		o[0] = (GC_word)(1 + i % 3);
		o[1 + i % 3] = (GC_word)target(keep, i);
		o[4] = (GC_word)target(drop, i);
		roots[i] = o;
	}
	return roots;
}

static void
check_push_from_proc(void)
{
	unsigned proc = GC_new_proc(push_proc);
	CHECK(proc >= GC_RESERVED_MARK_PROCS, "GC_new_proc gave a reserved index: %u", proc);
	int kind = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 0), 0, 1);
	static struct watch keep, drop;
	void **roots = make_pushed(kind, &keep, &drop);
	settle(2, false);
	CHECK(alive(&keep) == N, "pushed ranges keep their targets: %d of %d", alive(&keep), N);
	CHECK(alive(&drop) <= N / 10, "a word not pushed keeps nothing: %d alive", alive(&drop));
	CHECK(roots[0] != NULL, "kept");
	/* Outside a collection, pushing does nothing (and does not crash). */
	GC_push_all(roots, roots + 1);
}

/* ---- the push-other-roots procedure ------------------------------------------ */

static void **outside_a, **outside_b; /* malloc'd: not scanned */
static GC_push_other_roots_proc previous;
static atomic_int calls_a, calls_b, mark_bad;
static GC_word set_hidden, cleared_hidden;
static void *global_obj;

static void GC_CALLBACK
push_a(void)
{
	atomic_fetch_add(&calls_a, 1);
	GC_push_all_eager(outside_a, outside_a + N);
	if (previous != NULL)
		previous();
}

static void GC_CALLBACK
push_b(void)
{
	atomic_fetch_add(&calls_b, 1);
	GC_push_conditional(outside_b, outside_b + N, 1);
	/* The data segment is marked before this runs. */
	if (global_obj != NULL && !GC_is_marked(global_obj))
		atomic_fetch_add(&mark_bad, 1);
	/* Setting a mark keeps an object; setting then clearing one keeps
	 * nothing.  (Neither is scanned: what they point to is not kept.) */
	void *s = GC_REVEAL_POINTER(set_hidden), *c = GC_REVEAL_POINTER(cleared_hidden);
	if (set_hidden != 0) {
		GC_set_mark_bit(s);
		if (!GC_is_marked(s))
			atomic_fetch_add(&mark_bad, 1);
	}
	if (set_hidden != 0 && atomic_load(&calls_b) == 1) { /* c lives until the first sweep */
		GC_set_mark_bit(c);
		if (!GC_is_marked(c))
			atomic_fetch_add(&mark_bad, 1);
		GC_clear_mark_bit(c);
		if (GC_is_marked(c))
			atomic_fetch_add(&mark_bad, 1);
	}
	GC_push_finalizer_structures(); /* nothing for it to do: allowed */
}

static __attribute__((noinline)) void
make_outside(struct watch *a, struct watch *b, struct watch *marks)
{
	for (int i = 0; i < N; i++) {
		outside_a[i] = (char *)target(a, i) + 8; /* interior: a root's rule */
		outside_b[i] = target(b, i);
	}
	set_hidden = GC_HIDE_POINTER(target(marks, 0));
	cleared_hidden = GC_HIDE_POINTER(target(marks, 1));
	global_obj = GC_malloc(16);
}

static void
check_push_other_roots(void)
{
	static struct watch a, b, marks;
	outside_a = calloc(N, sizeof *outside_a);
	outside_b = calloc(N, sizeof *outside_b);
	CHECK(outside_a != NULL && outside_b != NULL, "calloc");
	CHECK(GC_get_push_other_roots() != NULL, "a default procedure");
	make_outside(&a, &b, &marks);
	/* Old style: the variable itself.  New style: the setter, chaining. */
	extern GC_push_other_roots_proc GC_push_other_roots;
	GC_push_other_roots = push_b;
	previous = GC_get_push_other_roots();
	CHECK(previous == push_b, "the variable and the getter agree");
	GC_set_push_other_roots(push_a);
	CHECK(GC_get_push_other_roots() == push_a, "read back");
	settle(2, false);
	CHECK(atomic_load(&calls_a) >= 2 && atomic_load(&calls_b) >= 2, "called %d, %d times",
	      atomic_load(&calls_a), atomic_load(&calls_b));
	CHECK(alive(&a) == N && alive(&b) == N, "pushed roots kept: %d %d", alive(&a), alive(&b));
	CHECK(marks.link[0] != NULL && marks.link[1] == NULL,
	      "set mark keeps its object (%d), set and cleared does not (%d)",
	      marks.link[0] != NULL, marks.link[1] != NULL);
	CHECK(atomic_load(&mark_bad) == 0, "%d wrong mark bits seen while marking",
	      atomic_load(&mark_bad));
	GC_set_push_other_roots(previous);
	set_hidden = 0;
	GC_push_other_roots = NULL;
	settle(2, false);
	CHECK(alive(&a) <= N / 10 && alive(&b) <= N / 10, "unpushed roots keep nothing: %d %d",
	      alive(&a), alive(&b));
	free(outside_a);
	free(outside_b);
	global_obj = NULL;
}

/* ---- reachable objects ------------------------------------------------------------ */

#define WALK 300
static void *walked[WALK];
static int walked_count[WALK], walk_bad, walk_total;

static void GC_CALLBACK
count_reachable(void *obj, size_t bytes, void *cd)
{
	walk_total++;
	if (cd != walked || bytes == 0 || GC_base(obj) != obj || GC_size(obj) != bytes)
		walk_bad++;
	for (int i = 0; i < WALK; i++)
		if (walked[i] == obj)
			walked_count[i]++;
}

static void
check_enumerate(void)
{
	for (int i = 0; i < WALK; i++) {
		walked[i] = i % 3 == 0   ? GC_malloc(24)
		            : i % 3 == 1 ? GC_malloc_atomic(3000)
		                         : GC_malloc_uncollectable(100000);
		CHECK(walked[i] != NULL, "alloc");
	}
	GC_free(walked[5]);
	GC_alloc_lock();
	GC_enumerate_reachable_objects_inner(count_reachable, walked);
	GC_alloc_unlock();
	CHECK(walk_bad == 0, "%d objects reported wrongly", walk_bad);
	for (int i = 0; i < WALK; i++)
		CHECK(walked_count[i] == (i == 5 ? 0 : 1), "object %d reported %d times", i,
		      walked_count[i]);
	CHECK(walk_total >= WALK - 1, "only %d objects reported", walk_total);
	for (int i = 2; i < WALK; i += 3)
		if (i != 5)
			GC_free(walked[i]);
}

/* ---- type descriptions ------------------------------------------------------------ */

static atomic_int described;

static void GC_CALLBACK
describe(void *p, char *buf)
{
	atomic_fetch_add(&described, 1);
	snprintf(buf, GC_TYPE_DESCR_LEN, "thing #%lu", (unsigned long)*(GC_word *)p);
}

static int describe_kind;

static __attribute__((noinline)) void
lose_things(void)
{
	for (GC_word i = 0; i < 3; i++) {
		GC_word *p = GC_generic_malloc(64, describe_kind);
		CHECK(p != NULL, "alloc");
		*p = 40 + i;
	}
}

/* In a child: leak mode, three objects of the described kind lost. */
static void
leak_things(void *arg)
{
	(void)arg;
	GC_set_find_leak(1);
	lose_things();
	check_clear_stack();
	GC_gcollect();
}

static void
check_describe(void)
{
	/* Only the debug support's printing asks (leak and smash reports);
	 * nothing else may call it, a collection least of all. */
	GC_register_describe_type_fn(GC_I_NORMAL, describe);
	describe_kind = (int)GC_new_kind(GC_new_free_list(), GC_DS_LENGTH, 1, 1);
	GC_register_describe_type_fn(describe_kind, describe);
	CHECK(GC_generic_malloc(64, describe_kind) != NULL, "alloc");
	settle(2, false);
	CHECK(atomic_load(&described) == 0, "describe called outside a report");
	GC_register_describe_type_fn(GC_I_NORMAL, 0);
	/* A leak report names the objects' type by the function. */
	char err[4096];
	int status = -1;
	int sig = check_child(leak_things, NULL, err, sizeof err, &status);
	CHECK(sig == 0 && status == 0, "leak child: signal %d, status %d: %s", sig, status, err);
	CHECK(strstr(err, "leaked objects") != NULL && strstr(err, "thing #40") != NULL &&
	              strstr(err, "thing #42") != NULL,
	      "leak report without the descriptions: %s", err);
}

int
main(void)
{
	GC_INIT();
	check_push_from_proc();
	check_push_other_roots();
	check_enumerate();
	check_describe();
	printf("test_compat_marking: ok\n");
	return 0;
}
