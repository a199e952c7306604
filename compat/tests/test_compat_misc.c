/* test_compat_misc — the rest of libmgc-gc.so's Boehm API: enable/disable
 * nesting, collection counts, roots, warn and oom procs, the tuning
 * variables, the debug and many-object allocators, and threads (explicit
 * registration, GC_get_stack_base, GC_pthread_create of a thread that
 * allocates and collects). */
#include "check.h"

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include "settle.h"
#include <pthread.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static atomic_int fin_ran;

static void GC_CALLBACK
count_fin(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
	atomic_fetch_add(&fin_ran, 1);
}

static void
check_enable_disable(void)
{
	GC_word n = GC_get_gc_no();

	GC_gcollect();
	CHECK(GC_get_gc_no() > n, "GC_gcollect did not increment GC_get_gc_no");
	GC_disable();
	GC_disable();
	CHECK(GC_is_disabled(), "GC_is_disabled is 0 after GC_disable");
	n = GC_get_gc_no();
	for (int i = 0; i < 2000; i++)
		CHECK(GC_malloc(50000) != NULL, "allocation failed while disabled");
	GC_gcollect();
	CHECK(GC_get_gc_no() == n, "collected while disabled (%lu -> %lu)", (unsigned long)n,
	      (unsigned long)GC_get_gc_no());
	GC_enable();
	CHECK(GC_is_disabled(), "one GC_enable undid two GC_disable");
	GC_enable();
	CHECK(!GC_is_disabled(), "still disabled after matching GC_enable");
	GC_gcollect();
	CHECK(GC_get_gc_no() > n, "GC_gcollect did nothing after GC_enable");
}

static __attribute__((noinline)) void
fill_area(void **area, int n)
{
	for (int i = 0; i < n; i++) {
		area[i] = GC_malloc(64);
		GC_register_finalizer(area[i], count_fin, NULL, NULL, NULL);
	}
}

static void
check_roots(void)
{
	enum { K = 20 };
	void **area = calloc(K, sizeof *area);

	CHECK(area != NULL, "calloc failed");
	GC_add_roots(area, area + K);
	fill_area(area, K);
	settle(5, true);
	CHECK(atomic_load(&fin_ran) == 0, "%d blocks held by an added root were finalized",
	      atomic_load(&fin_ran));
	GC_remove_roots(area, area + K);
	for (int i = 0; i < 200 && atomic_load(&fin_ran) < K * 9 / 10; i++)
		settle(1, true);
	CHECK(atomic_load(&fin_ran) >= K * 9 / 10, "only %d of %d finalized after removal",
	      atomic_load(&fin_ran), K);
	atomic_store(&fin_ran, 0);
	GC_add_roots(area, area + K);
	fill_area(area, K);
	GC_clear_roots();
	for (int i = 0; i < 200 && atomic_load(&fin_ran) < K * 9 / 10; i++)
		settle(1, true);
	CHECK(atomic_load(&fin_ran) >= K * 9 / 10, "only %d of %d finalized after clear",
	      atomic_load(&fin_ran), K);
	free(area);
}

static int warned, oom_calls;
static void *oom_block;

static void GC_CALLBACK
my_warn(char *msg, GC_word arg)
{
	(void)msg;
	(void)arg;
	warned++;
}

static void *GC_CALLBACK
my_oom(size_t size)
{
	(void)size;
	oom_calls++;
	return oom_block;
}

static void
check_procs(void)
{
	GC_warn_proc old = GC_get_warn_proc();

	CHECK(old != NULL, "no default warn proc");
	GC_set_warn_proc(my_warn);
	CHECK(GC_get_warn_proc() == my_warn, "GC_get_warn_proc is not what was set");
	GC_set_warn_proc(GC_ignore_warn_proc);
	CHECK(GC_get_warn_proc() == GC_ignore_warn_proc, "ignore proc not set");
	GC_set_warn_proc(old);
	oom_block = GC_malloc(16);
	GC_set_oom_fn(my_oom);
	CHECK(GC_get_oom_fn() == my_oom, "GC_get_oom_fn is not what was set");
	CHECK(GC_malloc((size_t)1 << 62) == oom_block && oom_calls == 1,
	      "failed GC_malloc did not return the oom fn's result");
	CHECK(GC_malloc_atomic((size_t)1 << 62) == oom_block && oom_calls == 2,
	      "failed GC_malloc_atomic did not call the oom fn");
}

/* Not static: a write-only static array may be optimised away. */
void *live_part[16];

/* Collections while 8 MiB of garbage is allocated over a 16 MiB live heap. */
static GC_word
collections_over_garbage(void)
{
	GC_word n = GC_get_gc_no();
	for (int i = 0; i < 8 * 1024; i++)
		CHECK(GC_malloc(1000) != NULL, "allocation failed");
	return GC_get_gc_no() - n;
}

/* The divisor paces collections as Boehm's does: a large one collects
 * after little allocation, a small one lets the heap grow first. */
static void
check_divisor_paces(void)
{
	GC_word often, seldom;

	for (int i = 0; i < 16; i++)
		live_part[i] = GC_malloc_atomic(1 << 20);
	GC_gcollect();
	GC_set_free_space_divisor(151);
	often = collections_over_garbage();
	GC_set_free_space_divisor(2);
	GC_gcollect();
	seldom = collections_over_garbage();
	GC_set_free_space_divisor(3);
	CHECK(often >= 10, "divisor 151: %lu collections over 8 MiB", (unsigned long)often);
	CHECK(seldom <= 1, "divisor 2: %lu collections over 8 MiB", (unsigned long)seldom);
	for (int i = 0; i < 16; i++)
		live_part[i] = NULL;
}

static void
check_variables(void)
{
	CHECK(GC_all_interior_pointers == 1, "GC_all_interior_pointers is not 1");
	GC_set_java_finalization(0);
	CHECK(GC_java_finalization == 0 && GC_get_java_finalization() == 0,
	      "GC_set_java_finalization not reflected");
	GC_set_no_dls(1);
	CHECK(GC_no_dls == 1 && GC_get_no_dls() == 1, "GC_set_no_dls not reflected");
	GC_set_no_dls(0);
	GC_set_free_space_divisor(4);
	CHECK(GC_get_free_space_divisor() == 4, "free space divisor not reflected");
	check_divisor_paces();
	GC_set_dont_expand(0);
	GC_set_handle_fork(1);
	CHECK(GC_expand_hp(1 << 20), "GC_expand_hp returned 0");
}

static void
check_debug_and_many(void)
{
	char *s = GC_debug_strdup("abc", GC_EXTRAS);
	void *p = GC_debug_malloc(40, GC_EXTRAS), *list = GC_malloc_many(48);
	int n = 0;

	CHECK(s != NULL && strcmp(s, "abc") == 0, "GC_debug_strdup failed");
	CHECK(p != NULL && GC_size(p) >= 40, "GC_debug_malloc failed");
	p = GC_debug_realloc(p, 400, GC_EXTRAS);
	CHECK(p != NULL && GC_size(p) >= 400, "GC_debug_realloc failed");
	GC_debug_free(p);
	for (void *q = list; q != NULL; q = GC_NEXT(q), n++)
		CHECK(GC_size(q) >= 48, "GC_malloc_many element too small");
	CHECK(n >= 1, "GC_malloc_many returned no objects");
}

static void *GC_CALLBACK
twice(void *cd)
{
	return (char *)cd + 1;
}

static void
check_wrappers(void)
{
	char buf[4];

	CHECK(GC_call_with_alloc_lock(twice, buf) == buf + 1, "GC_call_with_alloc_lock");
	CHECK(GC_do_blocking(twice, buf) == buf + 1, "GC_do_blocking");
	CHECK(GC_call_with_gc_active(twice, buf) == buf + 1, "GC_call_with_gc_active");
	GC_alloc_lock();
	GC_alloc_unlock();
}

struct node {
	struct node *next;
	long value;
};

static void *
thread_allocates(void *arg)
{
	struct node *head = NULL;

	(void)arg;
	for (long i = 0; i < 10000; i++) {
		struct node *n = GC_malloc(sizeof *n);

		n->next = head;
		n->value = i;
		head = n;
	}
	GC_gcollect();
	return head;
}

static void *
thread_registers(void *arg)
{
	struct GC_stack_base sb;
	int *ok = arg;

	*ok = GC_get_stack_base(&sb) == GC_SUCCESS && (char *)sb.mem_base > (char *)&sb;
	*ok = *ok && GC_register_my_thread(&sb) == GC_SUCCESS;
	*ok = *ok && GC_register_my_thread(&sb) == GC_DUPLICATE && GC_thread_is_registered();
	*ok = *ok && GC_malloc(100) != NULL;
	*ok = *ok && GC_unregister_my_thread() == GC_SUCCESS;
	return NULL;
}

static void
check_threads(void)
{
	pthread_t t;
	void *ret;
	int ok = 0;
	long want = 9999;

	GC_allow_register_threads();
	CHECK(GC_pthread_create(&t, NULL, thread_allocates, NULL) == 0, "GC_pthread_create failed");
	settle(3, true);
	CHECK(GC_pthread_join(t, &ret) == 0, "GC_pthread_join failed");
	GC_gcollect();
	for (struct node *n = ret; n != NULL; n = n->next, want--)
		CHECK(n->value == want, "thread's list: node %ld, want %ld", n->value, want);
	CHECK(want == -1, "thread's list is short by %ld", want + 1);
	CHECK(pthread_create(&t, NULL, thread_registers, &ok) == 0, "pthread_create failed");
	CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
	CHECK(ok, "explicit thread registration failed");
	CHECK(GC_pthread_create(&t, NULL, thread_allocates, NULL) == 0, "GC_pthread_create failed");
	CHECK(GC_pthread_detach(t) == 0, "GC_pthread_detach failed");
}

int
main(void)
{
	GC_INIT();
	check_enable_disable();
	check_roots();
	check_procs();
	check_variables();
	check_debug_and_many();
	check_wrappers();
	check_threads();
	puts("test_compat_misc: ok");
	return 0;
}
