/* test_kinds — object kinds through the public header: typed blocks,
 * kinds with a trace function, uncollectable blocks, batch allocation,
 * collection events, interior pointers off, mgc_is_root, mgc_heap_bounds,
 * mgc_block_kind.
 *
 * Retention is checked with weak handles on many targets at once: every
 * target a pointer must keep alive is alive after mgc_collect (what mgc
 * guarantees); of the targets only a non-pointer word names, at most a
 * tenth may survive (a conservative collector may find a stale copy of a
 * few on the stack or in registers).
 */
#include "check.h"

#include <errno.h>
#include <mgc.h>

#define N 256

struct targets {
	mgc_weak *weak[N];
};

/* A fresh target for slot i, watched through a weak handle. */
static void *
new_target(struct targets *t, int i)
{
	uint64_t *p = mgc_alloc_noscan(48);
	CHECK(p != NULL, "target %d", i);
	p[0] = 0x7a7a0000u + (uint64_t)i;
	t->weak[i] = mgc_weak_new(p);
	CHECK(t->weak[i] != NULL, "weak handle %d", i);
	return p;
}

static int
count_alive(const struct targets *t)
{
	int n = 0;
	for (int i = 0; i < N; i++)
		n += mgc_weak_get(t->weak[i]) != NULL;
	return n;
}

static void
collect(void)
{
	check_clear_stack();
	mgc_collect();
}

/* ---- typed blocks ---------------------------------------------------------- */

struct node {
	struct node *ptr;  /* word 0: a pointer */
	uintptr_t integer; /* word 1: never scanned */
	void *ptr2;        /* word 2: a pointer */
	double real;       /* word 3 */
};

static const mgc_layout *node_layout;

static __attribute__((noinline)) struct node **
make_typed(struct targets *keep, struct targets *drop)
{
	struct node **nodes = mgc_alloc(N * sizeof *nodes);
	for (int i = 0; i < N; i++) {
		struct node *n = mgc_alloc_typed(sizeof *n, node_layout);
		CHECK(n != NULL, "typed block %d", i);
		size_t usable = 0;
		CHECK(mgc_base(n, &usable) == n && usable >= sizeof *n, "typed usable size %zu",
		      usable);
		n->ptr = new_target(keep, i);
		n->integer = (uintptr_t)new_target(drop, i);
		nodes[i] = n;
	}
	return nodes;
}

static void
test_typed(void)
{
	uint64_t bits = 1u << 0 | 1u << 2;
	node_layout = mgc_layout_new(&bits, 4);
	CHECK(node_layout != NULL, "mgc_layout_new");
	errno = 0;
	CHECK(mgc_layout_new(&bits, 0) == NULL && errno == EINVAL, "layout of 0 words: EINVAL");
	errno = 0;
	CHECK(mgc_alloc_typed(16, NULL) == NULL && errno == EINVAL, "typed with no layout: EINVAL");

	static struct targets keep, drop;
	struct node **nodes = make_typed(&keep, &drop);
	collect();
	CHECK(count_alive(&keep) == N, "pointer words keep their targets: %d of %d",
	      count_alive(&keep), N);
	CHECK(count_alive(&drop) <= N / 10, "integer words keep nothing: %d of %d alive",
	      count_alive(&drop), N);
	for (int i = 0; i < N; i++)
		CHECK(((uint64_t *)nodes[i]->ptr)[0] == 0x7a7a0000u + (uint64_t)i,
		      "target %d intact", i);

	/* realloc keeps the layout: the moved block still retains its pointer. */
	struct node *n = nodes[0], *was = n->ptr;
	struct node *m = mgc_realloc(n, 4096);
	CHECK(m != NULL && m->ptr == was, "typed realloc copies");
	nodes[0] = m;
	collect();
	CHECK(mgc_weak_get(keep.weak[0]) != NULL, "realloc'ed typed block keeps its pointer");
}

/* An array: the layout (pointer, integer) repeated. */
static __attribute__((noinline)) void **
make_array(struct targets *keep, struct targets *drop)
{
	uint64_t bits = 1;
	const mgc_layout *pair = mgc_layout_new(&bits, 2);
	void **a = mgc_alloc_typed_array(N, pair);
	CHECK(a != NULL, "typed array");
	size_t usable = 0;
	CHECK(mgc_base(a, &usable) == a && usable >= 2 * N * sizeof(void *), "array size %zu",
	      usable);
	for (int i = 0; i < N; i++) {
		a[2 * i] = new_target(keep, i);
		a[2 * i + 1] = new_target(drop, i);
	}
	return a;
}

static void
test_typed_array(void)
{
	static struct targets keep, drop;
	void **a = make_array(&keep, &drop);
	collect();
	CHECK(count_alive(&keep) == N, "array pointer words: %d of %d", count_alive(&keep), N);
	CHECK(count_alive(&drop) <= N / 10, "array integer words: %d of %d alive",
	      count_alive(&drop), N);
	CHECK(a[0] != NULL, "array kept");
}

/* ---- a kind with a trace function ---------------------------------------- */

/* A "pair" whose trace function reports word 0 and the range of words 2-3,
 * never word 1. */
static int pair_kind;
static _Atomic long traced;

static void
trace_pair(void *block, size_t size, mgc_tracer *t, void *arg)
{
	void **w = block;
	CHECK(arg == &pair_kind && size >= 4 * sizeof(void *), "trace arguments");
	atomic_fetch_add_explicit(&traced, 1, memory_order_relaxed);
	mgc_trace_ptr(t, w[0]);
	mgc_trace_range(t, &w[2], &w[4]);
}

static __attribute__((noinline)) void **
make_pairs(struct targets *keep, struct targets *range, struct targets *drop)
{
	void **roots = mgc_alloc(N * sizeof *roots);
	for (int i = 0; i < N; i++) {
		void **p = mgc_alloc_kind(4 * sizeof(void *), pair_kind);
		CHECK(p != NULL, "custom block %d", i);
		p[0] = new_target(keep, i);
		p[1] = new_target(drop, i);
		p[3] = new_target(range, i);
		roots[i] = p;
	}
	return roots;
}

static void
test_custom(void)
{
	pair_kind = mgc_kind_new(trace_pair, &pair_kind, 0);
	CHECK(pair_kind >= 4, "mgc_kind_new gave %d", pair_kind);
	errno = 0;
	CHECK(mgc_kind_new(NULL, NULL, 0) == -1 && errno == EINVAL, "no trace function: EINVAL");
	errno = 0;
	CHECK(mgc_alloc_kind(16, pair_kind + 1) == NULL && errno == EINVAL, "unknown kind: EINVAL");

	static struct targets keep, range, drop;
	void **roots = make_pairs(&keep, &range, &drop);
	atomic_store(&traced, 0);
	collect();
	CHECK(atomic_load(&traced) >= N, "trace function called %ld times", atomic_load(&traced));
	CHECK(count_alive(&keep) == N, "reported pointers: %d of %d", count_alive(&keep), N);
	CHECK(count_alive(&range) == N, "reported range: %d of %d", count_alive(&range), N);
	CHECK(count_alive(&drop) <= N / 10, "unreported word: %d of %d alive", count_alive(&drop),
	      N);
	CHECK(roots[0] != NULL, "roots kept");

	/* Until ENOSPC: 13 custom kinds in all. */
	int k, made = 1;
	while ((k = mgc_kind_new(trace_pair, &pair_kind, 0)) >= 0)
		made++;
	CHECK(errno == ENOSPC && made == 13, "custom kinds until ENOSPC: %d", made);
}

/* ---- uncollectable blocks ----------------------------------------------- */

static __attribute__((noinline)) uintptr_t
make_uncollectable(struct targets *keep, struct targets *self, struct targets *noscan)
{
	uintptr_t first = 0;
	for (int i = 0; i < N; i++) {
		void **u = mgc_alloc_kind(64, MGC_KIND_UNCOLLECTABLE);
		CHECK(u != NULL, "uncollectable %d", i);
		u[0] = new_target(keep, i);
		self->weak[i] = mgc_weak_new(u);
		void **v = mgc_alloc_kind(64, MGC_KIND_UNCOLLECTABLE_NOSCAN);
		v[0] = new_target(noscan, i);
		if (i == 0)
			first = (uintptr_t)u ^ 0x5555; /* hidden from the scan */
	}
	return first;
}

static void
test_uncollectable(void)
{
	static struct targets keep, self, noscan;
	uintptr_t hidden = make_uncollectable(&keep, &self, &noscan);
	mgc_stats before;
	collect();
	mgc_read_stats(&before);
	CHECK(count_alive(&self) == N, "uncollectable blocks survive unreferenced: %d",
	      count_alive(&self));
	CHECK(count_alive(&keep) == N, "what they point to survives: %d", count_alive(&keep));
	CHECK(count_alive(&noscan) <= N / 10, "the noscan flavour keeps nothing: %d",
	      count_alive(&noscan));
	void **u = (void **)(hidden ^ 0x5555);
	CHECK(mgc_base(u, NULL) == u, "an unreferenced uncollectable block is live");
	mgc_free(u);
	collect();
	CHECK(mgc_weak_get(keep.weak[0]) == NULL || count_alive(&keep) >= N - 1, "after mgc_free");
	mgc_stats after;
	mgc_read_stats(&after);
	CHECK(after.frees > before.frees, "mgc_free counted");
}

/* ---- batch allocation ---------------------------------------------------- */

static void
test_many(void)
{
	mgc_stats a, b;
	mgc_read_stats(&a);
	size_t total = 0;
	for (int round = 0; round < 50; round++) {
		void **list = mgc_alloc_many(48, MGC_KIND_NORMAL, 100);
		CHECK(list != NULL, "mgc_alloc_many");
		size_t n = 0;
		for (void **q = list; q != NULL; q = *q, n++) {
			size_t usable = 0;
			CHECK(mgc_base(q, &usable) == q && usable >= 48, "batch block live");
			for (size_t w = 1; w < 48 / sizeof(void *); w++)
				CHECK(q[w] == NULL, "batch block zeroed (word %zu)", w);
		}
		CHECK(n >= 1 && n <= 100, "batch of %zu blocks", n);
		total += n;
	}
	mgc_read_stats(&b);
	CHECK(b.mallocs - a.mallocs >= total, "batch blocks counted: %llu for %zu",
	      (unsigned long long)(b.mallocs - a.mallocs), total);
	void **u = mgc_alloc_many(32, MGC_KIND_UNCOLLECTABLE, 10);
	CHECK(u != NULL, "uncollectable batch");
	for (void **p = u; p != NULL;) {
		void **next = *p;
		mgc_free(p);
		p = next;
	}
	void **big = mgc_alloc_many(100000, MGC_KIND_NOSCAN, 5);
	CHECK(big != NULL && *big == NULL, "large blocks come one at a time");
	errno = 0;
	CHECK(mgc_alloc_many(16, MGC_KIND_NORMAL, 0) == NULL && errno == EINVAL, "n 0: EINVAL");
}

/* ---- collection events ----------------------------------------------------- */

static int events[64];
static int nevents;
static uint64_t stats_at_start;

static void
on_event(int e, void *arg)
{
	CHECK(arg == events, "event argument");
	if (nevents < 64)
		events[nevents++] = e;
	if (e == MGC_EVENT_START) {
		mgc_stats s;
		mgc_read_stats(&s); /* allowed here */
		stats_at_start = s.num_gc + 1;
	}
}

static void
test_events(void)
{
	mgc_set_event_callback(on_event, events);
	mgc_collect();
	mgc_collect();
	mgc_set_event_callback(NULL, NULL);
	mgc_collect();
	CHECK(nevents == 8, "four events per collection: %d", nevents);
	for (int i = 0; i < nevents; i++)
		CHECK(events[i] == i % 4, "event %d is %d", i, events[i]);
	CHECK(stats_at_start > 0, "mgc_read_stats from the start event");
}

/* ---- interior pointers off ----------------------------------------------- */

static __attribute__((noinline)) void **
make_interior(struct targets *base, struct targets *inner, struct targets *disp)
{
	void **holder = mgc_alloc(3 * N * sizeof *holder);
	for (int i = 0; i < N; i++) {
		holder[3 * i] = new_target(base, i);
		holder[3 * i + 1] = (char *)new_target(inner, i) + 24;
		holder[3 * i + 2] = (char *)new_target(disp, i) + 8;
	}
	return holder;
}

static void
test_interior(void)
{
	static struct targets base, inner, disp;
	CHECK(mgc_register_displacement(4096) == -1 && errno == EINVAL, "displacement too big");
	CHECK(mgc_register_displacement(8) == 0, "displacement 8");
	CHECK(mgc_set_interior_pointers(0) == 1, "on by default");
	void **holder = make_interior(&base, &inner, &disp);
	char *volatile on_stack = (char *)new_target(&inner, 0) + 24; /* roots: interior ok */
	collect();
	CHECK(count_alive(&base) == N, "base pointers: %d", count_alive(&base));
	CHECK(count_alive(&disp) == N, "registered displacement: %d", count_alive(&disp));
	CHECK(count_alive(&inner) <= N / 10 && mgc_weak_get(inner.weak[0]) != NULL,
	      "interior pointers in the heap retain nothing (%d alive), on the stack they do",
	      count_alive(&inner));
	CHECK(mgc_set_interior_pointers(1) == 0, "previous setting");
	CHECK(holder[0] != NULL && on_stack != NULL, "kept");
}

/* ---- queries ------------------------------------------------------------------ */

static int static_word;

static void
test_queries(void)
{
	int local = 0;
	void *heap = mgc_alloc(16);
	static char added[64];
	CHECK(mgc_is_root(&static_word) == 1, "static data is a root");
	CHECK(mgc_is_root(&local) == 1, "the stack is a root");
	CHECK(mgc_is_root(heap) == 0, "a heap block is not a root");
	char *outside = malloc(64);
	CHECK(mgc_is_root(outside) == 0, "malloc'ed memory is not a root");
	mgc_add_roots(outside, outside + 64);
	CHECK(mgc_is_root(outside + 8) == 1, "an added range is a root");
	mgc_remove_roots(outside, outside + 64);
	free(outside);
	void *lo, *hi;
	mgc_heap_bounds(&lo, &hi);
	CHECK((char *)lo <= (char *)heap && (char *)heap < (char *)hi, "heap bounds hold blocks");
	(void)added;
}

/* Every way to make a block, small and large, asked through an interior
 * pointer too. */
static void
test_block_kind(void)
{
	static const size_t sizes[] = {0, 24, 3000, 100000};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		char *p[] = {mgc_alloc(n),
		             mgc_alloc_noscan(n),
		             mgc_alloc_kind(n, MGC_KIND_UNCOLLECTABLE),
		             mgc_alloc_kind(n, MGC_KIND_UNCOLLECTABLE_NOSCAN),
		             mgc_alloc_kind(n, pair_kind),
		             mgc_alloc_typed(n + 32, node_layout)};
		int want[] = {MGC_KIND_NORMAL,
		              MGC_KIND_NOSCAN,
		              MGC_KIND_UNCOLLECTABLE,
		              MGC_KIND_UNCOLLECTABLE_NOSCAN,
		              pair_kind,
		              MGC_KIND_TYPED};
		for (size_t k = 0; k < sizeof p / sizeof p[0]; k++) {
			CHECK(p[k] != NULL, "allocation %zu of %zu bytes", k, n);
			CHECK(mgc_block_kind(p[k]) == want[k] &&
			              mgc_block_kind(p[k] + (n ? n - 1 : 0)) == want[k],
			      "mgc_block_kind of a %zu-byte block: %d, want %d", n,
			      mgc_block_kind(p[k]), want[k]);
		}
		mgc_free(p[2]);
		mgc_free(p[3]);
	}
	int local;
	errno = 0;
	CHECK(mgc_block_kind(&local) == -1 && errno == EINVAL, "mgc_block_kind of the stack");
	void *freed = mgc_alloc(40);
	mgc_free(freed);
	CHECK(mgc_block_kind(freed) == -1, "mgc_block_kind of a freed block");
	CHECK(mgc_alloc_kind(16, MGC_KIND_TYPED) == NULL && errno == EINVAL,
	      "mgc_alloc_kind takes no MGC_KIND_TYPED");
}

int
main(void)
{
	test_typed();
	test_typed_array();
	test_custom();
	test_uncollectable();
	test_many();
	test_events();
	test_interior();
	test_queries();
	test_block_kind();
	printf("test_kinds: ok\n");
	return 0;
}
