/* test_links — disappearing links (mgc_link_register and friends) and
 * exclusive sections (mgc_call_exclusive).
 *
 * Links: of N targets dropped, the links of at least 90% read NULL after
 * one collection (a conservative collector may keep a few through stale
 * words), and every link of a live target keeps its value; an
 * unregistered link is never written; a moved one is written at its new
 * place only; a long link outlives the finalizer that resurrects its
 * target and clears once the target dies for good; misuse gives the
 * documented errno.
 * Exclusive sections: no collection starts while one runs, even one that
 * allocates many times the heap goal; mgc_collect returns at once inside
 * one and collects after it; sections nest.
 */
#include "check.h"

#include <errno.h>
#include <mgc.h>

#define N 200

static void *links[N]; /* in the data segment: a root, but links hold hidden values */
static void *kept[N];  /* live targets */
static void *kept_links[N];

static uintptr_t
hide(void *p)
{
	return ~(uintptr_t)p;
}

static __attribute__((noinline)) void
make_targets(void)
{
	for (int i = 0; i < N; i++) {
		void *dead = mgc_alloc(32);
		links[i] = (void *)hide(dead);
		CHECK(mgc_link_register(&links[i], dead, 0) == 0, "register %d", i);
		kept[i] = mgc_alloc(32);
		kept_links[i] = (void *)hide(kept[i]);
		CHECK(mgc_link_register(&kept_links[i], kept[i], 0) == 0, "register kept %d", i);
	}
}

static void
test_short(void)
{
	make_targets();
	check_clear_stack();
	mgc_collect();
	int cleared = 0;
	for (int i = 0; i < N; i++) {
		cleared += links[i] == NULL;
		CHECK(kept_links[i] == (void *)hide(kept[i]), "live target's link %d intact", i);
	}
	CHECK(cleared >= N * 9 / 10, "links of dropped targets cleared: %d of %d", cleared, N);
}

static void
test_errors(void)
{
	static void *a, *b;
	void *obj = mgc_alloc(16);
	CHECK(mgc_link_register(NULL, obj, 0) == -1 && errno == EINVAL, "NULL link");
	int local;
	CHECK(mgc_link_register(&a, &local, 0) == -1 && errno == EINVAL, "target not in the heap");
	CHECK(mgc_link_register(&a, obj, 4) == -1 && errno == EINVAL, "unknown flags");
	CHECK(mgc_link_register(&a, obj, 0) == 0, "register");
	CHECK(mgc_link_register(&a, obj, 0) == -1 && errno == EEXIST, "twice: EEXIST");
	CHECK(mgc_link_register(&a, obj, MGC_LINK_LONG) == 0, "a long one beside it");
	CHECK(mgc_link_move(&b, &a, 0) == -1 && errno == ENOENT, "move of nothing");
	CHECK(mgc_link_unregister(&a, 0) == 0 && mgc_link_unregister(&a, MGC_LINK_LONG) == 0,
	      "unregister both");
	CHECK(mgc_link_unregister(&a, 0) == -1 && errno == ENOENT, "unregister twice");
	CHECK(obj != NULL, "kept");
}

static __attribute__((noinline)) void
make_moved(void **from, void **to, void **gone)
{
	void *t = mgc_alloc(64);
	*from = *to = (void *)hide(t);
	CHECK(mgc_link_register(from, t, 0) == 0, "register");
	CHECK(mgc_link_move(from, to, 0) == 0, "move");
	void *u = mgc_alloc(64);
	*gone = (void *)hide(u);
	CHECK(mgc_link_register(gone, u, 0) == 0 && mgc_link_unregister(gone, 0) == 0,
	      "register, unregister");
}

static void
test_move_unregister(void)
{
	static void *from[N], *to[N], *gone[N];
	for (int i = 0; i < N; i++)
		make_moved(&from[i], &to[i], &gone[i]);
	check_clear_stack();
	mgc_collect();
	int cleared = 0;
	for (int i = 0; i < N; i++) {
		cleared += to[i] == NULL;
		CHECK(from[i] != NULL, "the old place of a moved link is never written (%d)", i);
		CHECK(gone[i] != NULL, "an unregistered link is never written (%d)", i);
	}
	CHECK(cleared >= N * 9 / 10, "moved links cleared at their new place: %d", cleared);
}

/* ---- long links and finalizers ------------------------------------------- */

static _Atomic int finalized;

static void
count_fin(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	atomic_fetch_add(&finalized, 1);
}

static void *short_links[N], *long_links[N];

static __attribute__((noinline)) void
make_finalizable(void)
{
	for (int i = 0; i < N; i++) {
		void *p = mgc_alloc(48);
		CHECK(mgc_set_finalizer(p, count_fin, NULL) == 0, "finalizer");
		short_links[i] = long_links[i] = (void *)hide(p);
		CHECK(mgc_link_register(&short_links[i], p, 0) == 0 &&
		              mgc_link_register(&long_links[i], p, MGC_LINK_LONG) == 0,
		      "links");
	}
}

static void
test_long(void)
{
	make_finalizable();
	check_clear_stack();
	mgc_collect(); /* the targets die; their finalizers resurrect them */
	int short_cleared = 0, long_kept = 0;
	for (int i = 0; i < N; i++) {
		short_cleared += short_links[i] == NULL;
		if (short_links[i] == NULL)
			long_kept += long_links[i] != NULL;
	}
	CHECK(short_cleared >= N * 9 / 10, "short links cleared at once: %d", short_cleared);
	CHECK(long_kept == short_cleared, "long links kept while finalizers hold the blocks: %d",
	      long_kept);
	for (int round = 0; round < 100 && atomic_load(&finalized) < short_cleared; round++) {
		mgc_run_finalizers();
		check_clear_stack();
		mgc_collect();
	}
	check_clear_stack();
	mgc_collect();
	int long_cleared = 0;
	for (int i = 0; i < N; i++)
		long_cleared += long_links[i] == NULL;
	CHECK(long_cleared >= short_cleared * 9 / 10,
	      "long links cleared once the finalized blocks died: %d of %d", long_cleared,
	      short_cleared);
}

/* ---- exclusive sections -------------------------------------------------------- */

static uint64_t
num_gc(void)
{
	mgc_stats s;
	mgc_read_stats(&s);
	return s.num_gc;
}

static void *
inner(void *arg)
{
	return arg;
}

static void *
churn(void *arg)
{
	uint64_t before = num_gc();
	mgc_stats s;
	mgc_read_stats(&s);
	/* Several times the goal: outside a section this would collect. */
	uint64_t bytes = 4 * (s.next_gc > s.alloc ? s.next_gc : s.alloc) + (16u << 20);
	for (uint64_t done = 0; done < bytes; done += 4096)
		CHECK(mgc_alloc(4096) != NULL, "allocation in a section");
	mgc_collect(); /* returns at once */
	CHECK(num_gc() == before, "no collection inside the section: %llu -> %llu",
	      (unsigned long long)before, (unsigned long long)num_gc());
	CHECK(mgc_call_exclusive(inner, arg) == arg, "sections nest");
	return arg;
}

static void
test_exclusive(void)
{
	int token;
	CHECK(mgc_call_exclusive(churn, &token) == &token, "returns fn's value");
	uint64_t before = num_gc();
	mgc_collect();
	CHECK(num_gc() > before, "collections resume after the section");
}

int
main(void)
{
	test_short();
	test_errors();
	test_move_unregister();
	test_long();
	test_exclusive();
	printf("test_links: ok\n");
	return 0;
}
