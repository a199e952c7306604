/* test_fin_cycle — a cycle holding a finalizable block is never reclaimed.
 *
 * Dropped, NC = 100 of each:
 *   - two-block cycles a <-> b with a finalizer on a;
 *   - two-block cycles with finalizers on both blocks;
 *   - blocks pointing to themselves, with a finalizer;
 *   - (control) a finalizable block reached from a three-block cycle
 *     without finalizers, and pointing nowhere: it is not in a cycle, so it
 *     is finalized (at least 90%).
 * After many collections (with garbage of the same size allocated between
 * them, which would reuse and overwrite a freed block) no finalizer in a
 * cycle has run, and every block of every cycle is still live and intact
 * (checked exactly through addresses kept hidden from the collector) and
 * counted in alloc.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NC 100
#define ROUNDS 40
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)
#define PAT_WORDS 5

enum { PAIR_ONE, PAIR_BOTH, SELF, CONTROL, NKIND };

static const char *const kind_name[NKIND] = {
	"cycle with one finalizer", "cycle with two finalizers", "self-cycle",
	"block reached from a cycle",
};

struct node {
	struct node *peer;
	long kind;
	long index;
	uint64_t pat[PAT_WORDS];
};

static uintptr_t hidden[NKIND][NC][2];	/* xor HIDE_MASK: not roots */
static atomic_int runs[NKIND];
static atomic_int nerr;

static uint64_t
seed_of(long kind, long index, int which)
{
	return (uint64_t)((kind * NC + index) * 2 + which) << 8;
}

static void
fin(void *obj, void *arg)
{
	struct node *n = obj;

	(void)arg;
	if (mgc_base(n, NULL) != n || n->kind < 0 || n->kind >= NKIND) {
		atomic_fetch_add(&nerr, 1);
		return;
	}
	atomic_fetch_add(&runs[n->kind], 1);
}

static __attribute__((noinline)) struct node *
new_node(long kind, long index, int which)
{
	struct node *n = mgc_alloc(sizeof *n);

	CHECK(n != NULL, "mgc_alloc failed (errno %d)", errno);
	n->kind = kind;
	n->index = index;
	check_fill(n->pat, PAT_WORDS, seed_of(kind, index, which));
	hidden[kind][index][which] = (uintptr_t)n ^ HIDE_MASK;
	return n;
}

static void
set_fin(struct node *n)
{
	CHECK(mgc_set_finalizer(n, fin, NULL) == 0, "mgc_set_finalizer failed: %s",
	      strerror(errno));
}

/* Makes the structures and drops them; returns the bytes of the cycles
 * that must be kept. */
static __attribute__((noinline)) uint64_t
make_all(void)
{
	uint64_t bytes = 0;
	size_t u = 0;

	for (long i = 0; i < NC; i++) {
		struct node *a = new_node(PAIR_ONE, i, 0), *b = new_node(PAIR_ONE, i, 1);

		a->peer = b;
		b->peer = a;
		set_fin(a);

		a = new_node(PAIR_BOTH, i, 0);
		b = new_node(PAIR_BOTH, i, 1);
		a->peer = b;
		b->peer = a;
		set_fin(a);
		set_fin(b);

		a = new_node(SELF, i, 0);
		a->peer = a;
		set_fin(a);

		/* Control: a -> b -> link -> a, and link -> f, a finalizable
		 * node that points nowhere. */
		a = new_node(CONTROL, i, 0);
		b = new_node(CONTROL, i, 1);
		{
			struct node **link = mgc_alloc(2 * sizeof *link);
			struct node *f = mgc_alloc(sizeof *f);

			CHECK(link != NULL && f != NULL, "mgc_alloc failed");
			f->kind = CONTROL;
			f->index = i;
			link[0] = a;
			link[1] = f;
			a->peer = b;
			b->peer = (struct node *)link;
			set_fin(f);
		}
	}
	mgc_base((void *)(hidden[PAIR_ONE][0][0] ^ HIDE_MASK), &u);
	bytes = (uint64_t)u * NC * 5;
	return bytes;
}

/* Garbage of the nodes' size, pattern-filled. */
static __attribute__((noinline)) void
churn(void)
{
	for (int i = 0; i < 4 * NC * 8; i++) {
		char *p = mgc_alloc(sizeof(struct node));

		CHECK(p != NULL, "mgc_alloc failed");
		memset(p, 0xa5, sizeof(struct node));
	}
}

static void
check_node(long kind, long i, int which, const struct node *peer_want)
{
	struct node *n = (struct node *)(hidden[kind][i][which] ^ HIDE_MASK);

	CHECK(mgc_base(n, NULL) == n, "%s %ld: block %d (%p) was reclaimed", kind_name[kind], i,
	      which, (void *)n);
	CHECK(n->kind == kind && n->index == i && n->peer == peer_want,
	      "%s %ld: block %d (%p) was overwritten", kind_name[kind], i, which, (void *)n);
	CHECK_PATTERN(n->pat, PAT_WORDS, seed_of(kind, i, which), kind_name[kind]);
}

int
main(void)
{
	uint64_t bytes;
	mgc_stats s;

	mgc_init();
	bytes = make_all();
	for (int r = 0; r < ROUNDS; r++) {
		churn();
		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
		sched_yield();
	}
	CHECK(atomic_load(&nerr) == 0, "a finalizer got a bad object");
	for (int k = PAIR_ONE; k <= SELF; k++)
		CHECK(atomic_load(&runs[k]) == 0, "%s: %d finalizers ran", kind_name[k],
		      atomic_load(&runs[k]));
	CHECK(atomic_load(&runs[CONTROL]) >= NC * 9 / 10,
	      "%s: %d of %d finalizers ran", kind_name[CONTROL], atomic_load(&runs[CONTROL]), NC);
	for (long i = 0; i < NC; i++) {
		for (int k = PAIR_ONE; k <= PAIR_BOTH; k++) {
			struct node *a = (struct node *)(hidden[k][i][0] ^ HIDE_MASK);
			struct node *b = (struct node *)(hidden[k][i][1] ^ HIDE_MASK);

			check_node(k, i, 0, b);
			check_node(k, i, 1, a);
		}
		check_node(SELF, i, 0, (struct node *)(hidden[SELF][i][0] ^ HIDE_MASK));
	}
	mgc_read_stats(&s);
	CHECK(s.alloc >= bytes, "alloc is %ju, the cycles alone hold %ju bytes",
	      (uintmax_t)s.alloc, (uintmax_t)bytes);
	return 0;
}
