/* test_fin_resurrect — finalizers that resurrect, allocate, collect and
 * re-arm.
 *
 * Resurrection: NR = 100 dropped blocks, each pointing to a pattern-filled
 * child, have a finalizer that checks the block and its child and stores
 * the block in a global array.  Once (at least 90% of) the finalizers ran,
 * many collections follow, with garbage of the same sizes allocated in
 * between: every resurrected block and its child stay live and intact, and
 * no finalizer runs twice.  Then the array is cleared: at least 90% of the
 * resurrected bytes are reclaimed by the next collection.
 *
 * Busy finalizers: NH = 20 dropped blocks have a finalizer that allocates a
 * list of 1000 blocks, calls mgc_collect, checks the list, re-registers a
 * second finalizer on its block (mgc_set_finalizer inside the finalizer
 * must succeed) and records the collection count in the block.  The second
 * finalizer must run later (at least 90% of them): it sees the first one's
 * last store, the block intact, and no fewer collections completed.
 *
 * Finalizers record errors; main reports them.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NR 100
#define NH 20
#define CHILD_SIZE 512
#define LIST_LEN 1000
#define WAIT_ROUNDS 200
#define KEEP_ROUNDS 20

struct robj {
	long index;
	uint64_t *child;
	uint64_t pat[4];
};

struct hobj {
	long index;
	_Atomic int stage;	/* 1 when the first finalizer has re-armed */
	_Atomic uint64_t gc1;	/* num_gc at the end of the first finalizer */
	uint64_t pat[4];
};

struct lnode {
	struct lnode *next;
	uint64_t value;
};

static struct robj *volatile resurrected[NR];
static atomic_int res_runs[NR];
static atomic_int res_total;
static atomic_int h1_runs[NH], h2_runs[NH];
static atomic_int h1_total, h2_total;


static bool
pattern_ok(const uint64_t *w, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++)
		if (w[i] != check_mix(seed + i))
			return false;
	return true;
}

static uint64_t
rseed(long i)
{
	return (uint64_t)i << 16;
}

static uint64_t
cseed(long i)
{
	return ((uint64_t)i << 16) + 0x8000;
}

static uint64_t
hseed(long i)
{
	return ((uint64_t)i << 16) + 0x4000000;
}

static uint64_t
num_gc(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	return s.num_gc;
}

static bool
robj_ok(const struct robj *o)
{
	size_t u = 0;

	return mgc_base(o, NULL) == o && o->index >= 0 && o->index < NR &&
	       pattern_ok(o->pat, 4, rseed(o->index)) && mgc_base(o->child, &u) == o->child &&
	       u >= CHILD_SIZE && pattern_ok(o->child, CHILD_SIZE / 8, cseed(o->index));
}

static void
fin_resurrect(void *obj, void *arg)
{
	struct robj *o = obj;

	(void)arg;
	if (!robj_ok(o)) {
		check_note("resurrecting finalizer: block %p (index %ld) or its child not intact",
			   obj, o->index);
		return;
	}
	if (atomic_fetch_add(&res_runs[o->index], 1) != 0)
		check_note("resurrecting finalizer of block %ld ran twice", o->index);
	resurrected[o->index] = o;
	atomic_fetch_add(&res_total, 1);
}

static bool
hobj_ok(const struct hobj *h)
{
	return mgc_base(h, NULL) == h && h->index >= 0 && h->index < NH &&
	       pattern_ok(h->pat, 4, hseed(h->index));
}

static void
fin_second(void *obj, void *arg)
{
	struct hobj *h = obj;
	uint64_t now = num_gc();

	if (arg != (void *)&h2_runs[0])
		check_note("second finalizer: arg %p, want %p", arg, (void *)&h2_runs[0]);
	if (!hobj_ok(h)) {
		check_note("second finalizer: block %p not intact", obj);
		return;
	}
	if (atomic_load(&h->stage) != 1)
		check_note("second finalizer of block %ld: stage %d, want 1", h->index,
			   atomic_load(&h->stage));
	if (now < atomic_load(&h->gc1))
		check_note("second finalizer of block %ld: num_gc %ju, was %ju in the first", h->index,
			   (uintmax_t)now, (uintmax_t)atomic_load(&h->gc1));
	if (atomic_fetch_add(&h2_runs[h->index], 1) != 0)
		check_note("second finalizer of block %ld ran twice", h->index);
	atomic_store(&h->stage, 2);
	atomic_fetch_add(&h2_total, 1);
}

/* Allocates a list, collects, checks the list, re-arms, and records the
 * collection count in the block as its last act (so the block stays
 * reachable from this frame until then). */
static void
fin_busy(void *obj, void *arg)
{
	struct hobj *h = obj;
	struct lnode *head = NULL;
	long n = 0;
	int r;

	(void)arg;
	if (!hobj_ok(h)) {
		check_note("busy finalizer: block %p not intact", obj);
		return;
	}
	if (atomic_fetch_add(&h1_runs[h->index], 1) != 0)
		check_note("busy finalizer of block %ld ran twice", h->index);
	for (long i = 0; i < LIST_LEN; i++) {
		struct lnode *l = mgc_alloc(sizeof *l);

		if (l == NULL) {
			check_note("busy finalizer: mgc_alloc failed (errno %d)", errno);
			return;
		}
		l->next = head;
		l->value = check_mix((uint64_t)(h->index * LIST_LEN + i));
		head = l;
	}
	mgc_collect();
	for (struct lnode *l = head; l != NULL; l = l->next, n++)
		if (mgc_base(l, NULL) != l ||
		    l->value != check_mix((uint64_t)(h->index * LIST_LEN + LIST_LEN - 1 - n))) {
			check_note("busy finalizer of block %ld: list node %ld (%p) not intact "
				   "after mgc_collect", h->index, n, (void *)l);
			return;
		}
	if (n != LIST_LEN)
		check_note("busy finalizer: list of %ld nodes, want %d", n, LIST_LEN);
	errno = 0;
	r = mgc_set_finalizer(h, fin_second, (void *)&h2_runs[0]);
	if (r != 0)
		check_note("busy finalizer of block %ld: re-arming failed: %s", h->index,
			   strerror(errno));
	if (!hobj_ok(h))
		check_note("busy finalizer: block %p not intact after mgc_collect", obj);
	atomic_fetch_add(&h1_total, 1);
	atomic_store(&h->gc1, num_gc());
	atomic_store(&h->stage, 1);
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
make_resurrectable(void)
{
	for (long i = 0; i < NR; i++) {
		struct robj *o = mgc_alloc(sizeof *o);

		CHECK(o != NULL, "mgc_alloc failed (errno %d)", errno);
		o->index = i;
		check_fill(o->pat, 4, rseed(i));
		o->child = mgc_alloc(CHILD_SIZE);
		CHECK(o->child != NULL, "mgc_alloc failed (errno %d)", errno);
		check_fill(o->child, CHILD_SIZE / 8, cseed(i));
		CHECK(mgc_set_finalizer(o, fin_resurrect, NULL) == 0,
		      "mgc_set_finalizer failed: %s", strerror(errno));
	}
}

static __attribute__((noinline)) void
churn(void)
{
	for (int i = 0; i < 1000; i++) {
		char *p = mgc_alloc(sizeof(struct robj)), *q = mgc_alloc(CHILD_SIZE);

		CHECK(p != NULL && q != NULL, "mgc_alloc failed");
		memset(p, 0xa5, sizeof(struct robj));
		memset(q, 0x5a, CHILD_SIZE);
	}
}


static void
test_resurrect(void)
{
	uint64_t held, after, bytes = 0;
	int ran, kept = 0;
	size_t u1 = 0, u2 = 0;

	make_resurrectable();
	for (int i = 0; i < WAIT_ROUNDS && atomic_load(&res_total) < NR; i++)
		pump();
	ran = atomic_load(&res_total);
	CHECK_NOTED("finalizers");
	CHECK(ran >= NR * 9 / 10, "%d of %d resurrecting finalizers ran", ran, NR);
	for (int r = 0; r < KEEP_ROUNDS; r++) {
		churn();
		pump();
		for (int i = 0; i < NR; i++) {
			struct robj *o = resurrected[i];

			CHECK(atomic_load(&res_runs[i]) <= 1, "finalizer of block %d ran %d times",
			      i, atomic_load(&res_runs[i]));
			if (o == NULL)
				continue;
			CHECK(o->index == i && robj_ok(o),
			      "resurrected block %d (%p) or its child not intact after %d "
			      "collections", i, (void *)o, r + 1);
		}
	}
	CHECK_NOTED("finalizers");
	for (int i = 0; i < NR; i++)
		kept += resurrected[i] != NULL;
	CHECK(kept == atomic_load(&res_total), "%d blocks resurrected, %d finalizers ran", kept,
	      atomic_load(&res_total));
	for (int i = 0; i < NR; i++)
		if (resurrected[i] != NULL) {
			mgc_base(resurrected[i], &u1);
			mgc_base(resurrected[i]->child, &u2);
			break;
		}
	bytes = (uint64_t)kept * (u1 + u2);
	held = check_alloc_after_collect();
	for (int i = 0; i < NR; i++)
		resurrected[i] = NULL;
	after = check_alloc_after_collect();
	CHECK(after + bytes * 9 / 10 <= held, "resurrected blocks dropped: alloc %ju -> %ju, "
	      "less than 90%% of %ju bytes reclaimed", (uintmax_t)held, (uintmax_t)after,
	      (uintmax_t)bytes);
	for (int i = 0; i < 10; i++)
		pump();
	for (int i = 0; i < NR; i++)
		CHECK(atomic_load(&res_runs[i]) <= 1, "finalizer of block %d ran %d times", i,
		      atomic_load(&res_runs[i]));
	CHECK(atomic_load(&res_total) == kept, "finalizers ran again after resurrection (%d, "
	      "was %d)", atomic_load(&res_total), kept);
}

static __attribute__((noinline)) void
make_busy(void)
{
	for (long i = 0; i < NH; i++) {
		struct hobj *h = mgc_alloc(sizeof *h);

		CHECK(h != NULL, "mgc_alloc failed (errno %d)", errno);
		h->index = i;
		check_fill(h->pat, 4, hseed(i));
		CHECK(mgc_set_finalizer(h, fin_busy, NULL) == 0, "mgc_set_finalizer failed: %s",
		      strerror(errno));
	}
}

static void
test_busy(void)
{
	make_busy();
	for (int i = 0; i < WAIT_ROUNDS && atomic_load(&h2_total) < NH; i++)
		pump();
	CHECK_NOTED("finalizers");
	CHECK(atomic_load(&h1_total) >= NH * 9 / 10, "%d of %d busy finalizers completed",
	      atomic_load(&h1_total), NH);
	CHECK(atomic_load(&h2_total) >= NH * 9 / 10,
	      "%d of %d finalizers re-armed by a finalizer ran (%d busy ones completed)",
	      atomic_load(&h2_total), NH, atomic_load(&h1_total));
	for (int i = 0; i < NH; i++)
		CHECK(atomic_load(&h2_runs[i]) <= atomic_load(&h1_runs[i]),
		      "block %d: re-armed finalizer ran without the first", i);
}

int
main(void)
{
	mgc_init();
	test_resurrect();
	test_busy();
	CHECK_NOTED("finalizers");
	return 0;
}
