/* test_fin_weak — the contract of mgc_weak_new and mgc_weak_get.
 *
 *   - mgc_weak_get(NULL) is NULL; mgc_weak_new of NULL, a global, a stack
 *     variable, malloc'ed memory or a freed block is NULL with EINVAL;
 *   - handles on any interior pointer (start, second byte, middle, last
 *     byte) of a reachable block read exactly the pointer given, also after
 *     many collections and when the block is reached only through an
 *     interior pointer; a handle is itself a block start (mgc_base) that
 *     can be freed, leaving the other handles working;
 *   - handles do not keep their blocks alive: 1000 dropped blocks are
 *     reclaimed (90% of their bytes) and at least 90% of their handles read
 *     NULL after one collection; a handle never reads anything but its
 *     pointer or NULL, and once NULL stays NULL (also when the address is
 *     reused); dropped handles are reclaimed too;
 *   - cleared before the finalizer runs: in the finalizer of a dropped
 *     block, the block's handle reads NULL, and so does (at least 90% of
 *     the time: a stale word may keep it) the handle of a child reachable
 *     only through the block, the child itself intact; the block's handle
 *     stays NULL after the finalizer resurrected the block, while a new
 *     handle on the resurrected block reads it;
 *   - after mgc_free(block) its handles read NULL, also once the address
 *     has been reused.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NW 1000
#define NF 100
#define SMALL 64
#define KEEP_SIZE 1000
#define WAIT_ROUNDS 100
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

static mgc_weak *wk[NW];
static uintptr_t hidden[NW];	/* the pointers given, xor HIDE_MASK */
static mgc_weak *fw[NF], *cw[NF];
static void *volatile keep[NF];
static atomic_int fin_runs[NF];
static atomic_int fin_total;
static atomic_int child_live;	/* finalizers that found the child's handle set */
static char *volatile kept_block;
static char *volatile kept_inner;
static int global_int;


static void *
unhide(int i)
{
	return (void *)(hidden[i] ^ HIDE_MASK);
}

static void
pump(void)
{
	check_clear_stack();
	mgc_collect();
	mgc_run_finalizers();
	sched_yield();
}


static __attribute__((noinline)) void
churn(size_t size)
{
	for (int i = 0; i < 2000; i++) {
		char *p = mgc_alloc(size);

		CHECK(p != NULL, "mgc_alloc failed");
		memset(p, 0xa5, size);
	}
}

static void
new_fails(void *obj, const char *what)
{
	mgc_weak *w;

	errno = 0;
	w = mgc_weak_new(obj);
	CHECK(w == NULL && errno == EINVAL, "%s: mgc_weak_new(%p) returned %p, errno %d (%s), "
	      "want NULL, EINVAL", what, obj, (void *)w, errno, strerror(errno));
}

static mgc_weak *
new_ok(void *obj, const char *what)
{
	mgc_weak *w;

	errno = 0;
	w = mgc_weak_new(obj);
	CHECK(w != NULL, "%s: mgc_weak_new(%p) failed: %s", what, obj, strerror(errno));
	return w;
}

static void
test_invalid(void)
{
	int local = 0;
	char *heap = malloc(64), *p = mgc_alloc(64);

	CHECK(heap != NULL && p != NULL, "allocation failed");
	CHECK(mgc_weak_get(NULL) == NULL, "mgc_weak_get(NULL) is not NULL");
	new_fails(NULL, "NULL");
	new_fails(&global_int, "global variable");
	new_fails(&local, "stack variable");
	new_fails(heap, "malloc'ed memory");
	free(heap);
	mgc_free(p);
	new_fails(p, "freed block");
	new_fails(p + 8, "inside a freed block");
}

static mgc_weak *kh[5];		/* handles on the kept blocks */
static uintptr_t kwant[5];	/* their pointers, xor HIDE_MASK */

static char *
kept_want(int i)
{
	return (char *)(kwant[i] ^ HIDE_MASK);
}

/* Two blocks: p, kept by kept_block, and q, kept only by an interior
 * pointer (kept_inner); handles on p's start, second byte, middle and last
 * byte, and on q's start. */
static __attribute__((noinline)) void
make_kept(void)
{
	char *p = mgc_alloc(KEEP_SIZE), *q = mgc_alloc(KEEP_SIZE);
	char *want[5];
	size_t u = 0;

	CHECK(p != NULL && q != NULL, "mgc_alloc failed");
	CHECK(mgc_base(p, &u) == p, "new block not found");
	want[0] = p;
	want[1] = p + 1;
	want[2] = p + u / 2;
	want[3] = p + u - 1;
	want[4] = q;
	for (int i = 0; i < 5; i++) {
		kh[i] = new_ok(want[i], "reachable block");
		kwant[i] = (uintptr_t)want[i] ^ HIDE_MASK;
	}
	kept_block = p;
	kept_inner = q + 500;
}

static void
check_kept(int skip, const char *when)
{
	for (int i = 0; i < 5; i++)
		CHECK(i == skip || mgc_weak_get(kh[i]) == kept_want(i),
		      "%s: handle %d reads %p, want %p", when, i, mgc_weak_get(kh[i]),
		      (void *)kept_want(i));
}

static void
test_reachable(void)
{
	make_kept();
	for (int i = 0; i < 5; i++)
		CHECK(mgc_base(kh[i], NULL) == (void *)kh[i], "handle %p is not a block start",
		      (void *)kh[i]);
	check_kept(-1, "new handles");
	for (int r = 0; r < 5; r++) {
		churn(KEEP_SIZE);
		pump();
		check_kept(-1, "after collections");
	}
	CHECK(mgc_base(kept_want(4), NULL) == kept_want(4), "block reached through an interior "
	      "pointer was reclaimed");
	mgc_free(kh[1]);
	kh[1] = NULL;
	pump();
	check_kept(1, "after freeing handle 1");
	kept_block = NULL;
	kept_inner = NULL;
}

/* NW blocks of SMALL bytes, dropped; their handles in wk[].  Returns the
 * bytes of the blocks; *hbytes gets those of the handles. */
static __attribute__((noinline)) uint64_t
make_dropped(uint64_t *hbytes)
{
	uint64_t bytes = 0;

	*hbytes = 0;
	for (int i = 0; i < NW; i++) {
		char *p = mgc_alloc(SMALL);
		size_t u = 0, hu = 0;

		CHECK(p != NULL, "mgc_alloc failed");
		mgc_base(p, &u);
		bytes += u;
		wk[i] = new_ok(p + i % SMALL, "dropped block");
		CHECK(mgc_base(wk[i], &hu) == (void *)wk[i], "handle %p is not a block start",
		      (void *)wk[i]);
		*hbytes += hu;
		hidden[i] = (uintptr_t)(p + i % SMALL) ^ HIDE_MASK;
		CHECK(mgc_weak_get(wk[i]) == p + i % SMALL, "new handle reads %p, want %p",
		      mgc_weak_get(wk[i]), (void *)(p + i % SMALL));
	}
	return bytes;
}

/* Every handle reads NULL or its pointer, and those found NULL before
 * (was_null) still do.  Returns how many read NULL. */
static int
scan_dropped(bool *was_null, const char *when)
{
	int nulls = 0;

	for (int i = 0; i < NW; i++) {
		void *v = mgc_weak_get(wk[i]);

		CHECK(v == NULL || v == unhide(i), "%s: handle %d reads %p, want %p or NULL", when,
		      i, v, unhide(i));
		CHECK(!was_null[i] || v == NULL, "%s: handle %d read NULL, now reads %p", when, i,
		      v);
		was_null[i] = v == NULL;
		nulls += v == NULL;
	}
	return nulls;
}

static void
test_dropped(void)
{
	static bool was_null[NW];
	uint64_t before = check_alloc_after_collect(), bytes, hbytes, after;
	int nulls;

	bytes = make_dropped(&hbytes);
	after = check_alloc_after_collect();
	nulls = scan_dropped(was_null, "after one collection");
	CHECK(nulls >= NW * 9 / 10, "%d of %d handles of dropped blocks read NULL after one "
	      "collection", nulls, NW);
	CHECK(after <= before + hbytes + bytes / 10, "handles keep their blocks: alloc %ju -> %ju "
	      "with %ju bytes of handles and %ju of dropped blocks", (uintmax_t)before,
	      (uintmax_t)after, (uintmax_t)hbytes, (uintmax_t)bytes);
	for (int r = 0; r < 5; r++) {
		churn(SMALL);
		pump();
		scan_dropped(was_null, "after address reuse");
	}
	/* The handles themselves are collected blocks. */
	before = check_alloc_after_collect();
	memset(wk, 0, sizeof wk);
	after = check_alloc_after_collect();
	CHECK(after + hbytes * 9 / 10 <= before, "dropped handles: alloc %ju -> %ju, less than "
	      "90%% of %ju bytes reclaimed", (uintmax_t)before, (uintmax_t)after,
	      (uintmax_t)hbytes);
}

struct fobj {
	long index;
	uint64_t *child;
	uint64_t check;
};

static void
fin(void *obj, void *arg)
{
	struct fobj *o = obj;
	long i = o->index;
	void *v, *c;

	(void)arg;
	if (mgc_base(o, NULL) != o || i < 0 || i >= NF || o->check != check_mix((uint64_t)i)) {
		check_note("finalizer: block %p not intact", obj);
		return;
	}
	if ((v = mgc_weak_get(fw[i])) != NULL)
		check_note("finalizer of block %ld: its weak handle reads %p", i, v);
	/* The child is reached only through the block, unless a stale word
	 * still points to it: counted, checked in aggregate. */
	c = mgc_weak_get(cw[i]);
	if (c != NULL && c != o->child)
		check_note("finalizer of block %ld: the weak handle of its child reads %p, "
			   "want %p or NULL", i, c, (void *)o->child);
	if (c != NULL)
		atomic_fetch_add(&child_live, 1);
	if (mgc_base(o->child, NULL) != o->child || o->child[0] != check_mix((uint64_t)i + 1))
		check_note("finalizer of block %ld: child %p not intact", i, (void *)o->child);
	if (atomic_fetch_add(&fin_runs[i], 1) != 0)
		check_note("finalizer of block %ld ran twice", i);
	if (i % 2 == 0)
		keep[i] = o;
	atomic_fetch_add(&fin_total, 1);
}

static __attribute__((noinline)) void
make_finalizable(void)
{
	for (long i = 0; i < NF; i++) {
		struct fobj *o = mgc_alloc(sizeof *o);

		CHECK(o != NULL, "mgc_alloc failed");
		o->index = i;
		o->check = check_mix((uint64_t)i);
		o->child = mgc_alloc(SMALL);
		CHECK(o->child != NULL, "mgc_alloc failed");
		o->child[0] = check_mix((uint64_t)i + 1);
		fw[i] = new_ok((char *)o + 8, "finalizable block");
		cw[i] = new_ok(o->child, "child of a finalizable block");
		CHECK(mgc_set_finalizer(o, fin, NULL) == 0, "mgc_set_finalizer failed: %s",
		      strerror(errno));
	}
}

static void
test_finalizer(void)
{
	int ran, resurrected = 0;

	make_finalizable();
	for (int i = 0; i < WAIT_ROUNDS && atomic_load(&fin_total) < NF; i++)
		pump();
	ran = atomic_load(&fin_total);
	CHECK_NOTED("finalizers");
	CHECK(ran >= NF * 9 / 10, "%d of %d finalizers ran", ran, NF);
	CHECK(atomic_load(&child_live) <= ran / 10, "in %d of %d finalizers, the weak handle of "
	      "a child reached only through the finalized block was not NULL",
	      atomic_load(&child_live), ran);
	for (int r = 0; r < 3; r++)
		pump();
	for (int i = 0; i < NF; i += 2) {
		struct fobj *o = keep[i];
		mgc_weak *w;

		if (o == NULL)
			continue;
		resurrected++;
		CHECK(mgc_weak_get(fw[i]) == NULL, "the handle of resurrected block %d reads %p",
		      i, mgc_weak_get(fw[i]));
		w = new_ok(o, "resurrected block");
		CHECK(mgc_weak_get(w) == o, "a new handle on resurrected block %d reads %p, want "
		      "%p", i, mgc_weak_get(w), (void *)o);
		keep[i] = NULL;
	}
	CHECK(resurrected >= NF / 2 * 9 / 10, "%d blocks resurrected", resurrected);
	CHECK_NOTED("finalizers");
}

/* Blocks freed explicitly: their handles read NULL at once, and still do
 * after blocks of the same size took their addresses. */
static void
test_freed(void)
{
	static mgc_weak *h[NF][2];

	for (int i = 0; i < NF; i++) {
		char *p = mgc_alloc(SMALL);

		CHECK(p != NULL, "mgc_alloc failed");
		h[i][0] = new_ok(p, "block to free");
		h[i][1] = new_ok(p + SMALL - 1, "block to free");
		mgc_free(p);
		CHECK(mgc_weak_get(h[i][0]) == NULL && mgc_weak_get(h[i][1]) == NULL,
		      "handles of freed block %d read %p and %p", i, mgc_weak_get(h[i][0]),
		      mgc_weak_get(h[i][1]));
	}
	churn(SMALL);
	for (int i = 0; i < NF; i++)
		CHECK(mgc_weak_get(h[i][0]) == NULL && mgc_weak_get(h[i][1]) == NULL,
		      "handles of freed block %d read %p and %p after reuse", i,
		      mgc_weak_get(h[i][0]), mgc_weak_get(h[i][1]));
	pump();
	for (int i = 0; i < NF; i++)
		CHECK(mgc_weak_get(h[i][0]) == NULL && mgc_weak_get(h[i][1]) == NULL,
		      "handles of freed block %d read %p and %p after a collection", i,
		      mgc_weak_get(h[i][0]), mgc_weak_get(h[i][1]));
}

int
main(void)
{
	mgc_init();
	test_invalid();
	test_reachable();
	test_dropped();
	test_finalizer();
	test_freed();
	CHECK_NOTED("finalizers");
	return 0;
}
