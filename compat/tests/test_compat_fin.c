/* test_compat_fin — Boehm finalization and disappearing links through
 * libmgc-gc.so: finalizers run once their object is dropped, the old
 * fn/cd out-parameters, clearing, finalize-on-demand, and links cleared
 * when their object dies (and kept while it lives). */
#include "check.h"

#include <gc.h>
#include "settle.h"

#define N 100

static atomic_int ran, bad_cd;

static void GC_CALLBACK
fin_a(void *obj, void *cd)
{
	if (*(intptr_t *)obj != (intptr_t)cd)
		atomic_fetch_add(&bad_cd, 1);
	atomic_fetch_add(&ran, 1);
}

static void GC_CALLBACK
fin_b(void *obj, void *cd)
{
	(void)obj;
	(void)cd;
}

static void
check_out_params(void)
{
	intptr_t *p = GC_malloc(16);
	GC_finalization_proc ofn = fin_b;
	void *ocd = &ofn;

	GC_register_finalizer(p, fin_a, (void *)1, &ofn, &ocd);
	CHECK(ofn == NULL && ocd == NULL, "first registration: old fn %p, cd %p", (void *)ofn, ocd);
	GC_register_finalizer(p, fin_b, (void *)2, &ofn, &ocd);
	CHECK(ofn == fin_a && ocd == (void *)1, "re-registration: wrong old fn/cd");
	GC_register_finalizer(p, NULL, NULL, &ofn, &ocd);
	CHECK(ofn == fin_b && ocd == (void *)2, "clearing: wrong old fn/cd");
	GC_register_finalizer(p, NULL, NULL, &ofn, &ocd);
	CHECK(ofn == NULL && ocd == NULL, "cleared twice: old fn not NULL");
}

/* N objects holding their index, finalized by fin_a with cd = index. */
static __attribute__((noinline)) void
make_finalizable(void)
{
	for (intptr_t i = 0; i < N; i++) {
		intptr_t *p = GC_malloc(32);

		CHECK(p != NULL, "GC_malloc failed");
		*p = i;
		GC_register_finalizer(p, fin_a, (void *)i, NULL, NULL);
	}
}

static void
check_finalizers_run(void)
{
	atomic_store(&ran, 0);
	make_finalizable();
	for (int i = 0; i < 200 && atomic_load(&ran) < N * 9 / 10; i++) {
		settle(1, false);
		GC_invoke_finalizers();
	}
	CHECK(atomic_load(&ran) >= N * 9 / 10, "only %d of %d finalizers ran", atomic_load(&ran),
	      N);
	CHECK(atomic_load(&bad_cd) == 0, "%d finalizers got the wrong client data",
	      atomic_load(&bad_cd));
}

static void
check_on_demand(void)
{
	int n;

	GC_set_finalize_on_demand(1);
	CHECK(GC_get_finalize_on_demand() == 1, "finalize_on_demand not set");
	atomic_store(&ran, 0);
	make_finalizable();
	settle(10, false);
	CHECK(atomic_load(&ran) == 0, "%d finalizers ran without GC_invoke_finalizers",
	      atomic_load(&ran));
	CHECK(GC_should_invoke_finalizers(), "GC_should_invoke_finalizers is 0");
	n = GC_invoke_finalizers();
	CHECK(n >= N * 9 / 10 && n == atomic_load(&ran), "GC_invoke_finalizers returned %d, %d ran",
	      n, atomic_load(&ran));
	GC_set_finalize_on_demand(0);
}

#define LINKS 20
static void **holders[LINKS];
static void *alive_obj;

/* LINKS links to dropped objects, one to a live one; holders[i][0] holds
 * the hidden pointer, as Boehm's documentation suggests. */
static __attribute__((noinline)) void
make_links(void **alive_link)
{
	for (int i = 0; i < LINKS; i++) {
		void *obj = GC_malloc_atomic(64);

		holders[i] = GC_malloc(sizeof(void *));
		holders[i][0] = (void *)GC_HIDE_POINTER(obj);
		CHECK(GC_general_register_disappearing_link(&holders[i][0], obj) == GC_SUCCESS,
		      "registering link %d failed", i);
		CHECK(GC_general_register_disappearing_link(&holders[i][0], obj) == GC_DUPLICATE,
		      "registering link %d twice did not say GC_DUPLICATE", i);
	}
	alive_obj = GC_malloc(64);
	*alive_link = (void *)GC_HIDE_POINTER(alive_obj);
	CHECK(GC_general_register_disappearing_link(alive_link, alive_obj) == GC_SUCCESS,
	      "registering the live link failed");
}

static void
check_links(void)
{
	static void *alive_link, *spare_link;
	int cleared = 0;

	make_links(&alive_link);
	settle(5, false);
	for (int i = 0; i < LINKS; i++)
		cleared += holders[i][0] == NULL;
	CHECK(cleared >= LINKS * 9 / 10, "only %d of %d links cleared", cleared, LINKS);
	CHECK(alive_link != NULL && GC_REVEAL_POINTER(alive_link) == alive_obj,
	      "the link to a live object was cleared");
	CHECK(GC_move_disappearing_link(&alive_link, &alive_link) == GC_SUCCESS,
	      "move onto itself did not succeed");
	CHECK(GC_move_disappearing_link(&spare_link, &alive_link) == GC_NOT_FOUND,
	      "moving an unregistered link did not say GC_NOT_FOUND");
	CHECK(GC_move_disappearing_link(&alive_link, &spare_link) == GC_SUCCESS, "move failed");
	CHECK(GC_move_disappearing_link(&alive_link, &spare_link) == GC_NOT_FOUND,
	      "the old location is still registered after a move");
	CHECK(GC_move_disappearing_link(&spare_link, &alive_link) == GC_SUCCESS,
	      "move back failed");
	CHECK(GC_unregister_disappearing_link(&alive_link) == 1, "unregister returned 0");
	CHECK(GC_unregister_disappearing_link(&alive_link) == 0, "unregister twice returned 1");
	CHECK(GC_unregister_disappearing_link(&spare_link) == 0,
	      "unregistering unknown returned 1");
}

int
main(void)
{
	GC_INIT();
	check_out_params();
	check_finalizers_run();
	check_on_demand();
	check_links();
	puts("test_compat_fin: ok");
	return 0;
}
