/* test_disclaim — disclaim callbacks, mark bits, the roots callback and
 * the heap walk (mgc_kind_set_disclaim, mgc_is_marked, mgc_set_mark,
 * mgc_set_roots_callback, mgc_heap_walk), and debug blocks of a kind with
 * a trace function (mgc_debug_alloc).
 *
 * Blocks under test are hidden (their addresses xor-ed), so nothing the
 * collector scans reaches them; the few a stale stack word may still
 * reach are allowed for where the count matters (a tenth at most).  The
 * window between an automatic collection and the lazy sweep of a span is
 * found as test_dead_unswept finds it, through the span's sweep
 * generation, so mgc_set_mark's effect on the sweep is seen exactly.
 */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

enum { N = 256, MASK = 0x5a5a5a5a, MAGIC = 0x0b1ec7 };

struct obj {
	uint64_t magic;
	uint64_t id;
	struct obj *ref; /* the only word the kinds' trace reports */
	uint64_t sum;
	uint64_t generation; /* the part of the test that made it */
};

/* Each part of the test makes its blocks in a generation of its own: a
 * block of an earlier one that a stale word kept alive until now is not
 * counted when its callback comes. */
static uint64_t generation;

static uint64_t
obj_sum(const struct obj *o)
{
	return check_mix(o->id ^ o->generation << 32);
}

static uintptr_t hidden[N];

static void *
unhide(int i)
{
	return (void *)(hidden[i] ^ MASK);
}

static uint64_t
num_gc(void)
{
	mgc_stats st;
	mgc_read_stats(&st);
	return st.num_gc;
}

static void
collect(void)
{
	check_clear_stack();
	mgc_collect();
}

static void
trace_obj(void *block, size_t size, mgc_tracer *t, void *arg)
{
	(void)size;
	(void)arg;
	mgc_trace_ptr(t, ((struct obj *)block)->ref);
}

static struct obj *
new_obj(int kind, size_t size, uint64_t id, struct obj *ref)
{
	struct obj *o = mgc_alloc_kind(size, kind);
	CHECK(o != NULL, "mgc_alloc_kind");
	*o = (struct obj){MAGIC, id, ref, 0, generation};
	o->sum = obj_sum(o);
	return o;
}

/* ---- the callback: what it saw ----------------------------------------------- */

static int calls[N];  /* per id, this collection */
static bool keep[N];  /* per id: answer nonzero */
static int bad_calls; /* a block that was not intact, or answered wrongly */
static int disclaim_kind, chain_kind;
static int dead_refs;         /* a block asked about pointed to a block not live */
static uintptr_t seen[4 * N]; /* the blocks asked about, hidden */
static int nseen;

static int
disclaim(void *block, void *arg)
{
	struct obj *o = block;
	bool ok = arg == &disclaim_kind && o->magic == MAGIC && o->id < N && o->sum == obj_sum(o) &&
	          mgc_base(o, NULL) == o && mgc_base((char *)o + 8, NULL) == o &&
	          mgc_is_marked(o) == 0;
	if (!ok) {
		bad_calls++;
		return 0;
	}
	if (o->generation != generation)
		return 0;
	calls[o->id]++;
	if (nseen < 4 * N)
		seen[nseen++] = (uintptr_t)o ^ MASK;
	if (o->ref != NULL && (mgc_base(o->ref, NULL) != o->ref || o->ref->magic != MAGIC))
		dead_refs++;
	if (keep[o->id])
		return 1;
	o->magic = 0xdead; /* what a finalizer would undo */
	return 0;
}

static void
reset_calls(void)
{
	memset(calls, 0, sizeof calls);
	nseen = 0;
}

static bool
was_seen(const void *p)
{
	for (int i = 0; i < nseen; i++)
		if (seen[i] == ((uintptr_t)p ^ MASK))
			return true;
	return false;
}

/* With automatic collection off: one would find the first blocks dead. */
static NOINLINE void
make_hidden(int kind, size_t size)
{
	int percent = mgc_set_gc_percent(-1);
	generation++;
	for (int i = 0; i < N; i++)
		hidden[i] = (uintptr_t)new_obj(kind, size, (uint64_t)i, NULL) ^ MASK;
	mgc_set_gc_percent(percent);
}

/* Blocks answered 0 are gone (nothing was allocated since); kept ones live. */
static void
check_after(const char *what)
{
	int called = 0;
	for (int i = 0; i < N; i++) {
		CHECK(calls[i] <= 1, "%s: block %d disclaimed %d times", what, i, calls[i]);
		called += calls[i];
		void *b = unhide(i);
		if (calls[i] == 1 && !keep[i])
			CHECK(mgc_base(b, NULL) == NULL, "%s: block %d answered 0 but lives", what,
			      i);
		if (calls[i] == 1 && keep[i])
			CHECK(mgc_base(b, NULL) == b && ((struct obj *)b)->magic == MAGIC,
			      "%s: block %d kept but dead", what, i);
	}
	CHECK(called >= N - N / 10, "%s: %d of %d unreachable blocks disclaimed", what, called, N);
	CHECK(bad_calls == 0, "%s: %d callbacks saw a block not intact", what, bad_calls);
}

static void
test_disclaim(size_t bytes)
{
	CHECK(mgc_kind_set_disclaim(disclaim_kind, disclaim, &disclaim_kind, 0) == 0, "set");
	make_hidden(disclaim_kind, bytes);
	for (int i = 0; i < N; i++)
		keep[i] = i % 4 == 0;
	reset_calls();
	collect();
	check_after(bytes > MAX_SMALL ? "large, first" : "first");
	/* The kept ones are asked again; now they go. */
	int first[N];
	memcpy(first, calls, sizeof first);
	for (int i = 0; i < N; i++)
		keep[i] = false;
	reset_calls();
	collect();
	int lingered = 0;
	for (int i = 0; i < N; i++) {
		if (i % 4 == 0)
			lingered += calls[i] == 0 && first[i] == 1; /* a stale word kept it */
		else
			CHECK(calls[i] == 0 || first[i] == 0, "block %d asked twice", i);
	}
	CHECK(lingered <= N / 40, "%d kept blocks not asked again", lingered);
	/* Removed: no more calls. */
	CHECK(mgc_kind_set_disclaim(disclaim_kind, NULL, NULL, 0) == 0, "remove");
	make_hidden(disclaim_kind, bytes);
	reset_calls();
	collect();
	for (int i = 0; i < N; i++)
		CHECK(calls[i] == 0, "removed callback called for %d", i);
}

/* ---- MGC_DISCLAIM_TRACE_ALL -------------------------------------------------- */

enum { CHAINS = N / 3 };
static mgc_weak *target_weak[CHAINS];

/* Chains a -> b -> c -> target, with ids 3j+0..2, hidden. */
static NOINLINE void
make_chains(int kind)
{
	generation++;
	for (int j = 0; j < CHAINS; j++) {
		uint64_t *t = mgc_alloc_noscan(64);
		CHECK(t != NULL, "target");
		t[0] = MAGIC;
		target_weak[j] = mgc_weak_new(t);
		struct obj *c = new_obj(kind, sizeof(struct obj), 3 * j + 2, (struct obj *)t);
		struct obj *b = new_obj(kind, sizeof(struct obj), 3 * j + 1, c);
		hidden[j] = (uintptr_t)new_obj(kind, sizeof(struct obj), 3 * j, b) ^ MASK;
	}
}

/* Chains whose links called this collection are exactly `want` (a mask
 * of link numbers), and no chain saw another mix. */
static int
chains_called(int want)
{
	int n = 0;
	for (int j = 0; j < CHAINS; j++) {
		int mask = 0;
		for (int k = 0; k < 3; k++)
			mask |= calls[3 * j + k] ? 1 << k : 0;
		CHECK(mask == 0 || mask == want,
		      "chain %d: links %#x disclaimed together (want %#x)", j, mask, want);
		n += mask == want;
	}
	return n;
}

static int
targets_alive(void)
{
	int n = 0;
	for (int j = 0; j < CHAINS; j++)
		n += mgc_weak_get(target_weak[j]) != NULL;
	return n;
}

static void
test_trace_all(void)
{
	memset(keep, 0, sizeof keep);
	CHECK(mgc_kind_set_disclaim(chain_kind, disclaim, &disclaim_kind, MGC_DISCLAIM_TRACE_ALL) ==
	              0,
	      "set with TRACE_ALL");
	make_chains(chain_kind);
	/* One link per collection: the rest is traced from the dying block. */
	for (int link = 0; link < 3; link++) {
		reset_calls();
		dead_refs = 0;
		collect();
		int n = chains_called(1 << link);
		CHECK(n >= CHAINS - CHAINS / 10, "link %d: %d of %d chains", link, n, CHAINS);
		CHECK(dead_refs == 0, "link %d: %d dying blocks pointed to dead ones", link,
		      dead_refs);
		CHECK(targets_alive() == CHAINS, "link %d: targets died early", link);
	}
	collect();
	CHECK(targets_alive() <= CHAINS / 10, "%d targets outlived their chains", targets_alive());
	CHECK(bad_calls == 0, "%d callbacks saw a block not intact", bad_calls);

	/* Without the flag the chains go at once. */
	CHECK(mgc_kind_set_disclaim(chain_kind, disclaim, &disclaim_kind, 0) == 0, "set, no flag");
	make_chains(chain_kind);
	reset_calls();
	collect();
	int n = chains_called(7);
	CHECK(n >= CHAINS - CHAINS / 10, "at once: %d of %d chains", n, CHAINS);
	CHECK(mgc_kind_set_disclaim(chain_kind, NULL, NULL, 0) == 0, "remove");
}

/* ---- a plain kind ------------------------------------------------------------- */

static _Atomic int noscan_calls;

static int
count_magic(void *block, void *arg)
{
	(void)arg;
	if (*(uint64_t *)block == MAGIC + 1)
		atomic_fetch_add(&noscan_calls, 1);
	return 0;
}

static NOINLINE void
make_noscan(void)
{
	for (int i = 0; i < N; i++) {
		uint64_t *b = mgc_alloc_noscan(24);
		CHECK(b != NULL, "noscan");
		b[0] = MAGIC + 1;
	}
}

static void
test_plain_kind(void)
{
	CHECK(mgc_kind_set_disclaim(MGC_KIND_NOSCAN, count_magic, NULL, 0) == 0, "noscan kind");
	make_noscan();
	collect();
	CHECK(mgc_kind_set_disclaim(MGC_KIND_NOSCAN, NULL, NULL, 0) == 0, "remove");
	CHECK(atomic_load(&noscan_calls) >= N - N / 10, "noscan blocks disclaimed: %d",
	      atomic_load(&noscan_calls));
	errno = 0;
	CHECK(mgc_kind_set_disclaim(99, count_magic, NULL, 0) == -1 && errno == EINVAL,
	      "unknown kind");
	errno = 0;
	CHECK(mgc_kind_set_disclaim(MGC_KIND_NORMAL, count_magic, NULL, 2) == -1 && errno == EINVAL,
	      "unknown flag");
}

/* ---- mark bits between collections --------------------------------------------- */

static void *globals[N]; /* reachable */

/* Allocate garbage of another size until an automatic collection ran. */
static NOINLINE void
until_collected(void)
{
	uint64_t before = num_gc();
	for (int n = 0; num_gc() == before; n++) {
		CHECK(n < 10000000, "no automatic collection started");
		CHECK(mgc_alloc_noscan(2048) != NULL, "mgc_alloc_noscan");
	}
}

static bool
unswept(const void *p)
{
	struct span *s = pagemap_lookup((uintptr_t)p);
	return atomic_load(&s->sweepgen) == atomic_load(&heap_sweepgen) - 2;
}

/* Index of a hidden block found dead whose span is unswept, or -1. */
static int
find_dead_unswept(void)
{
	for (int i = 0; i < N; i++) {
		struct span *s = pagemap_lookup((uintptr_t)unhide(i));
		uint32_t k = span_block_index(s, (uintptr_t)unhide(i));
		if (unswept(unhide(i)) && atomic_load(&s->state[k]) == BLOCK_LIVE &&
		    !(s->mark[k >> 6] >> (k & 63) & 1))
			return i;
	}
	return -1;
}

static int
find_live_unswept(void)
{
	for (int i = 0; i < N; i++)
		if (unswept(globals[i]))
			return i;
	return -1;
}

static NOINLINE void
make_globals(int kind)
{
	generation++;
	for (int i = 0; i < N; i++) {
		globals[i] = new_obj(kind, sizeof(struct obj), (uint64_t)i, NULL);
		hidden[i] = (uintptr_t)new_obj(kind, sizeof(struct obj), (uint64_t)i, NULL) ^ MASK;
	}
}

static void
test_marks_between(int kind)
{
	static int stack_word;
	errno = 0;
	CHECK(mgc_is_marked(&stack_word) == 0 && mgc_set_mark(&stack_word, 1) == -1 &&
	              errno == EINVAL,
	      "not a block");
	void *fresh = mgc_alloc(32);
	CHECK(mgc_is_marked(fresh) == 1, "a block allocated since survives the sweep");

	memset(keep, 0, sizeof keep);
	make_globals(kind);
	check_clear_stack();
	until_collected();
	int d = find_dead_unswept(), l = find_live_unswept();
	CHECK(d >= 0 && l >= 0, "no unswept span left to test (%d %d)", d, l);
	struct obj *dead = unhide(d), *live = globals[l];
	CHECK(mgc_is_marked(dead) == 0 && mgc_base(dead, NULL) == NULL, "dead before its sweep");
	CHECK(mgc_is_marked(live) == 1 && mgc_is_marked((char *)live + 8) == 1, "live: marked");
	CHECK(mgc_set_mark(dead, 1) == 0, "set the mark of a dead block");
	CHECK(mgc_is_marked(dead) == 1 && mgc_base(dead, NULL) == dead && dead->magic == MAGIC,
	      "brought back");
	CHECK(mgc_set_mark(live, 0) == 0, "clear the mark of a live block");
	CHECK(mgc_is_marked(live) == 0 && unswept(dead) && unswept(live), "cleared, still unswept");
	reset_calls();
	sweep_finish();
	CHECK(!was_seen(dead) && mgc_base(dead, NULL) == dead && dead->magic == MAGIC,
	      "kept by its mark: not disclaimed, not reclaimed");
	CHECK(mgc_base(live, NULL) == NULL, "reclaimed by its cleared mark, though reachable");
	CHECK(kind != disclaim_kind || was_seen(live), "asked before it went");
	globals[l] = NULL;
	/* Swept: the marks change nothing. */
	CHECK(mgc_set_mark(dead, 0) == 0 && mgc_base(dead, NULL) == dead, "swept: clearing");
	CHECK(mgc_set_mark(live, 1) == -1 && errno == EINVAL, "swept: a reclaimed block");
	CHECK(mgc_is_marked(dead) == 1, "swept, allocated: marked");
	memset(globals, 0, sizeof globals);
}

/* ---- marks from a disclaim callback -------------------------------------------- */

static uintptr_t partner[N]; /* hidden: the block a callback keeps */
static int partner_set;

static int
keep_partner(void *block, void *arg)
{
	(void)arg;
	struct obj *o = block;
	if (o->magic != MAGIC + 2 || o->id >= N)
		return 0;
	calls[o->id]++;
	void *p = (void *)(partner[o->id] ^ MASK);
	int r = mgc_set_mark(p, 1);
	if (r == 0)
		partner_set++;
	else
		CHECK(errno == EDEADLK, "set_mark from a callback: errno %d", errno);
	return 0;
}

static void
test_marks_in_callback(void)
{
	CHECK(mgc_kind_set_disclaim(disclaim_kind, keep_partner, NULL, 0) == 0, "set");
	/* Pairs allocated together share spans; a partner the callback marks
	 * before the sweep reaches it survives. */
	for (int i = 0; i < N; i++) {
		partner[i] =
		        (uintptr_t)new_obj(disclaim_kind, sizeof(struct obj), (uint64_t)i, NULL) ^
		        MASK;
		struct obj *o = new_obj(disclaim_kind, sizeof(struct obj), (uint64_t)i, NULL);
		o->magic = MAGIC + 2;
		hidden[i] = (uintptr_t)o ^ MASK;
	}
	reset_calls();
	partner_set = 0;
	collect();
	CHECK(partner_set > 0, "no partner shared a span with its block");
	int kept = 0;
	for (int i = 0; i < N; i++) {
		void *p = (void *)(partner[i] ^ MASK);
		kept += mgc_base(p, NULL) == p;
	}
	CHECK(kept >= partner_set, "partners kept: %d of %d marked", kept, partner_set);
	CHECK(mgc_kind_set_disclaim(disclaim_kind, NULL, NULL, 0) == 0, "remove");
}

/* ---- the roots callback ------------------------------------------------------- */

static void **outside; /* malloc'd: not scanned */
static uintptr_t single, set_in_cb;
static _Atomic int cb_calls;
static int cb_bad;

static void
roots_cb(mgc_tracer *t, void *arg)
{
	atomic_fetch_add(&cb_calls, 1);
	cb_bad += arg != &cb_calls;
	mgc_trace_range(t, outside, outside + N);
	mgc_trace_ptr(t, (char *)(single ^ MASK) + 8); /* interior: a root's rule */
	cb_bad += mgc_is_marked(globals[0]) != 1;      /* the data segment went first */
	void *s = (void *)(set_in_cb ^ MASK);
	cb_bad += mgc_set_mark(s, 1) != 0 || mgc_is_marked(s) != 1;
}

static NOINLINE void
make_roots(mgc_weak **w)
{
	for (int i = 0; i < N; i++) {
		outside[i] = new_obj(disclaim_kind, sizeof(struct obj), (uint64_t)i, NULL);
		w[i] = mgc_weak_new(outside[i]);
	}
	single = (uintptr_t)new_obj(MGC_KIND_NORMAL, sizeof(struct obj), 1, NULL) ^ MASK;
	w[N] = mgc_weak_new((void *)(single ^ MASK));
	set_in_cb = (uintptr_t)new_obj(MGC_KIND_NORMAL, sizeof(struct obj), 2, NULL) ^ MASK;
	w[N + 1] = mgc_weak_new((void *)(set_in_cb ^ MASK));
	globals[0] = new_obj(MGC_KIND_NORMAL, sizeof(struct obj), 3, NULL);
}

static void
test_roots_callback(void)
{
	static mgc_weak *w[N + 2];
	outside = malloc(N * sizeof *outside);
	CHECK(outside != NULL, "malloc");
	make_roots(w);
	mgc_set_roots_callback(roots_cb, &cb_calls);
	collect();
	collect();
	CHECK(atomic_load(&cb_calls) >= 2 && cb_bad == 0, "callback: %d calls, %d bad",
	      atomic_load(&cb_calls), cb_bad);
	for (int i = 0; i < N + 2; i++)
		CHECK(mgc_weak_get(w[i]) != NULL, "reported root %d reclaimed", i);
	mgc_set_roots_callback(NULL, NULL);
	int calls_then = atomic_load(&cb_calls);
	free(outside);
	collect();
	CHECK(atomic_load(&cb_calls) == calls_then, "removed callback called");
	int alive = 0;
	for (int i = 0; i < N + 2; i++)
		alive += mgc_weak_get(w[i]) != NULL;
	CHECK(alive <= N / 10, "%d blocks outlived their roots", alive);
	memset(globals, 0, sizeof globals);
}

/* ---- the heap walk --------------------------------------------------------------- */

static void *walked[N];
static size_t walked_size[N];
static int walked_count[N], walk_other;
static const mgc_layout *layout;

static void
walk(void *block, size_t size, void *arg)
{
	CHECK(arg == walked, "walk argument");
	struct obj *o = block;
	for (int i = 0; i < N; i++)
		if (walked[i] == block) {
			walked_count[i]++;
			walked_size[i] = size;
			CHECK(o->magic == MAGIC && mgc_is_marked(o) == 1, "walked block %d", i);
			return;
		}
	walk_other++;
}

static void
test_walk(void)
{
	uint64_t bits = 1;
	layout = mgc_layout_new(&bits, 4);
	for (int i = 0; i < N; i++) {
		size_t size = i % 3 == 0 ? 40 : i % 3 == 1 ? 1000 : 40000;
		struct obj *o = i % 5 == 0 ? mgc_alloc_typed(size, layout) : mgc_alloc(size);
		CHECK(o != NULL, "alloc");
		*o = (struct obj){MAGIC, (uint64_t)i, NULL, 0, 0};
		walked[i] = o;
	}
	for (int i = 1; i < N; i += 7)
		mgc_free(walked[i]);
	mgc_heap_walk(walk, walked);
	for (int i = 0; i < N; i++) {
		size_t usable = 0;
		if (i % 7 == 1) {
			CHECK(walked_count[i] == 0, "freed block %d walked", i);
			continue;
		}
		CHECK(mgc_base(walked[i], &usable) == walked[i], "block %d", i);
		CHECK(walked_count[i] == 1 && walked_size[i] == usable,
		      "block %d walked %d times, size %zu (usable %zu)", i, walked_count[i],
		      walked_size[i], usable);
	}
	CHECK(walk_other > 0, "the walk saw no other block");
}

/* ---- a debug block of a kind with a trace function ------------------------ */

/* The trace function gets the whole block: the program's bytes lie
 * MGC_DEBUG_OFFSET past it. */
static void
trace_debug_obj(void *block, size_t size, mgc_tracer *t, void *arg)
{
	(void)size;
	(void)arg;
	mgc_trace_ptr(t, ((struct obj *)((char *)block + MGC_DEBUG_OFFSET))->ref);
}

static mgc_weak *debug_weak[N];

static NOINLINE void **
make_debug_objs(int kind, struct obj **targets)
{
	void **roots = mgc_alloc(N * sizeof *roots);
	for (int i = 0; i < N; i++) {
		struct obj *o = mgc_debug_alloc(sizeof *o, kind, __FILE__, __LINE__);
		CHECK(o != NULL, "mgc_debug_alloc of a custom kind");
		CHECK(mgc_base(o, NULL) == (char *)o - MGC_DEBUG_OFFSET, "the record lies before");
		*o = (struct obj){MAGIC, (uint64_t)i, NULL, 0, 0};
		o->ref = mgc_alloc_noscan(16);
		targets[i] = o->ref;
		debug_weak[i] = mgc_weak_new(o->ref);
		roots[i] = o;
	}
	return roots;
}

static void
test_debug_kind(void)
{
	int kind = mgc_kind_new(trace_debug_obj, NULL, 0);
	CHECK(kind >= 4, "kind");
	errno = 0;
	CHECK(mgc_debug_alloc(16, kind + 1, __FILE__, __LINE__) == NULL && errno == EINVAL,
	      "no such kind: EINVAL");
	static struct obj *targets[N];
	void **roots = make_debug_objs(kind, targets);
	memset(targets, 0, sizeof targets);
	collect();
	for (int i = 0; i < N; i++)
		CHECK(mgc_weak_get(debug_weak[i]) != NULL && mgc_base(roots[i], NULL) != NULL,
		      "debug block %d or what its trace reports died", i);
	CHECK(mgc_check_heap() == 0, "no guard smashed");
}

int
main(void)
{
	mgc_set_min_heap(1 << 20);
	disclaim_kind = mgc_kind_new(trace_obj, NULL, 0);
	chain_kind = mgc_kind_new(trace_obj, NULL, 0);
	CHECK(disclaim_kind >= 4 && chain_kind >= 4, "kinds");
	test_disclaim(sizeof(struct obj));
	test_disclaim(40000);
	test_trace_all();
	test_plain_kind();
	test_marks_between(MGC_KIND_NORMAL);
	CHECK(mgc_kind_set_disclaim(disclaim_kind, disclaim, &disclaim_kind, 0) == 0, "set");
	test_marks_between(disclaim_kind);
	CHECK(mgc_kind_set_disclaim(disclaim_kind, NULL, NULL, 0) == 0, "remove");
	test_marks_in_callback();
	test_roots_callback();
	test_walk();
	test_debug_kind();
	printf("test_disclaim: ok\n");
	return 0;
}
