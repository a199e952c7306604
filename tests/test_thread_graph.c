/* test_thread_graph — threads rebuilding parts of a shared graph while
 * collections run.
 *
 * usage: test_thread_graph [THREADS [SCALE [ITER]]]
 *   THREADS  mutator threads (default 4, 3 under TSan)
 *   SCALE    multiplies the number of roots (32 each)
 *   ITER     rounds per mutator (default shorter in debug and TSan builds)
 *
 * A static table of roots, each a DAG of nodes: a node has up to four
 * children (one may repeat its left neighbour, so subtrees are shared), a
 * few inline payload words and a noscan payload block (pattern words;
 * now and then a large block).  A node is never changed once published: a
 * mutator replaces a subtree by building the new subtree in full, then
 * copies of the nodes on the path from the root down to it (sharing every
 * other subtree and the payloads with the old version), and publishes the
 * new root with a compare-and-swap on the table.  The old path and subtree
 * become garbage, unless another thread is still walking that version.
 *
 * Every visit checks a node completely: mgc_base gives the node back; its
 * id, inline words and checksum are intact; its children's ids fold to
 * the checksum it keeps; its height exceeds theirs; its count of visits
 * below it is right; its payload is a live block holding its pattern.  Each
 * round a mutator walks a random root, replaces a subtree of another, and
 * every few rounds walks again a version it has kept in a local variable
 * since (only its stack keeps that version alive once it has been
 * replaced).  One thread collects in a loop until the mutators are done;
 * with a small minimum heap, allocation starts collections too.
 * At the end the whole table is checked again around a last collection,
 * the garbage must have been reclaimed (alloc at most twice the bytes the
 * walk reaches, plus 1 MiB) and collections must have run.
 *
 * The run is repeated in child processes under each collector setting of
 * check_run_variants (MGC_MARKERS=1 and 4, MGC_CHECKMARK=0 and 1), or
 * made once under the environment's with CHECK_ONE_VARIANT=1.
 */
#include "check.h"

#include <pthread.h>
#include <time.h>

#include <mgc.h>

#define USAGE           "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS (UNDER_TSAN ? 3 : 4)
#if UNDER_TSAN
#define DEFAULT_ITER 300
#elif defined(NDEBUG)
#define DEFAULT_ITER 2500
#else
#define DEFAULT_ITER 1000
#endif

enum {
	MAX_THREADS = 32,
	ROOTS_PER_SCALE = 32,
	MAX_SCALE = 64,
	MAX_ROOTS = ROOTS_PER_SCALE * MAX_SCALE,
	MAX_KIDS = 4,
	HEIGHT = 6, /* height of a root: at most HEIGHT + 1 nodes on a path */
	INLINE_WORDS = 3,
	HOLD_ROUNDS = 8, /* a kept version is walked again this many rounds later */
};

#define PAYLOAD_SALT 0x9a71c4d5u
/* Below the live heap (about 1 MiB a scale), so that collections also
 * start by themselves and sweep lazily, beside the collector thread's. */
#define MIN_HEAP (512u << 10)

struct node {
	uint64_t id;
	uint32_t nkids, height; /* every child is lower */
	uint64_t visits;        /* nodes a walk from here visits (shared ones again) */
	uint64_t kidsum;        /* the children's ids folded */
	uint64_t *payload;      /* noscan, plen words of pattern pkey */
	uint64_t plen, pkey;
	uint64_t inl[INLINE_WORDS];
	uint64_t check;
	struct node *kid[];
};

static struct node *_Atomic roots[MAX_ROOTS];
static int nroots;
static long iterations;
static _Atomic uint64_t next_id;
static atomic_bool stop;
static _Atomic uint64_t visited, replaced, cas_lost, collections;

static void *
must(void *p, size_t size)
{
	CHECK(p != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
	return p;
}

static uint64_t
fold_kids(const struct node *n)
{
	uint64_t h = check_mix(n->nkids);

	for (uint32_t i = 0; i < n->nkids; i++)
		h = check_mix(h ^ n->kid[i]->id);
	return h;
}

static uint64_t
node_check(const struct node *n)
{
	uint64_t h = check_mix(n->id ^ ((uint64_t)n->nkids << 32 | n->height));

	h = check_mix(h ^ n->visits);
	h = check_mix(h ^ n->kidsum);
	h = check_mix(h ^ (uint64_t)(uintptr_t)n->payload);
	h = check_mix(h ^ n->plen);
	h = check_mix(h ^ n->pkey);
	for (int i = 0; i < INLINE_WORDS; i++)
		h = check_mix(h ^ n->inl[i]);
	return h;
}

/* ---- building -------------------------------------------------------------- */

static struct node *
new_node(uint32_t nkids, uint32_t height)
{
	size_t size = sizeof(struct node) + nkids * sizeof(struct node *);
	struct node *n = must(mgc_alloc(size), size);

	n->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
	n->nkids = nkids;
	n->height = height;
	for (int i = 0; i < INLINE_WORDS; i++)
		n->inl[i] = check_mix(n->id + (uint64_t)i);
	return n;
}

/* Checksums a node whose children and payload are in place. */
static void
seal(struct node *n)
{
	n->visits = 1;
	for (uint32_t i = 0; i < n->nkids; i++)
		n->visits += n->kid[i]->visits;
	n->kidsum = fold_kids(n);
	n->check = node_check(n);
}

static void
new_payload(struct node *n, uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);
	size_t words = 1 + r % 24;

	if (r % 509 == 0)
		words = 5000; /* a large block */
	else if (r % 61 == 0)
		words = 600;
	n->payload = must(mgc_alloc_noscan(words * 8), words * 8);
	n->plen = words;
	n->pkey = n->id ^ PAYLOAD_SALT;
	check_fill(n->payload, words, n->pkey);
}

/* Children are mostly one level lower, now and then lower still. */
static uint32_t
kid_height(uint32_t height, uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);

	return r % 8 != 0 ? height - 1 : (uint32_t)(r / 8 % height);
}

/* A new subtree of the given height. */
static struct node *
build(uint32_t height, uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);
	uint32_t nkids = height == 0 ? 0 : (uint32_t)(r % (MAX_KIDS + 1));
	struct node *n = new_node(nkids, height);

	new_payload(n, rng);
	for (uint32_t i = 0; i < nkids; i++) {
		if (i > 0 && check_rng_next(rng) % 8 == 0)
			n->kid[i] = n->kid[i - 1]; /* shared */
		else
			n->kid[i] = build(kid_height(height, rng), rng);
	}
	seal(n);
	return n;
}

/* A copy of old (new id, same payload) whose child k is kid. */
static struct node *
copy_with(const struct node *old, uint32_t k, struct node *kid)
{
	struct node *n = new_node(old->nkids, old->height);

	for (uint32_t i = 0; i < old->nkids; i++)
		n->kid[i] = old->kid[i];
	n->kid[k] = kid;
	n->payload = old->payload;
	n->plen = old->plen;
	n->pkey = old->pkey;
	seal(n);
	return n;
}

/* A new version of the DAG at cur with one subtree replaced by a new one:
 * the path from cur down to it is copied, everything else shared. */
static struct node *
new_version(struct node *cur, uint64_t *rng)
{
	const struct node *path[HEIGHT + 1];
	uint32_t which[HEIGHT + 1];
	int depth = 0;

	path[0] = cur;
	while (path[depth]->nkids > 0 && check_rng_next(rng) % 4 != 0) {
		which[depth] = (uint32_t)(check_rng_next(rng) % path[depth]->nkids);
		path[depth + 1] = path[depth]->kid[which[depth]];
		depth++;
	}
	struct node *n = build(path[depth]->height, rng);
	while (depth-- > 0)
		n = copy_with(path[depth], which[depth], n);
	return n;
}

/* Replace a subtree of root r; retried when another thread got there
 * first (the version built meanwhile is garbage at once). */
static void
replace(int r, uint64_t *rng)
{
	struct node *cur = atomic_load_explicit(&roots[r], memory_order_acquire);

	for (;;) {
		struct node *n = new_version(cur, rng);

		if (atomic_compare_exchange_strong_explicit(
		            &roots[r], &cur, n, memory_order_acq_rel, memory_order_acquire))
			break;
		atomic_fetch_add_explicit(&cas_lost, 1, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&replaced, 1, memory_order_relaxed);
}

/* ---- checking ---------------------------------------------------------------- */

static void
check_payload(const struct node *n)
{
	size_t size = 0;

	CHECK(mgc_base(n->payload, &size) == n->payload && size >= n->plen * 8,
	      "node %#jx: payload %p is not a live block of %ju words", (uintmax_t)n->id,
	      (void *)n->payload, (uintmax_t)n->plen);
	CHECK_PATTERN(n->payload, n->plen, n->pkey, "payload");
}

/* Checks the node at n and everything below; returns the nodes visited. */
static uint64_t
walk(const struct node *n, uint32_t max_height)
{
	CHECK(mgc_base(n, NULL) == n, "node %p is not a live block", (const void *)n);
	CHECK(n->check == node_check(n) && n->nkids <= MAX_KIDS && n->height <= max_height,
	      "node %p (id %#jx) is corrupt", (const void *)n, (uintmax_t)n->id);
	for (int i = 0; i < INLINE_WORDS; i++)
		CHECK(n->inl[i] == check_mix(n->id + (uint64_t)i),
		      "node %p (id %#jx): inline word %d is %#jx", (const void *)n,
		      (uintmax_t)n->id, i, (uintmax_t)n->inl[i]);
	check_payload(n);
	CHECK(fold_kids(n) == n->kidsum, "node %p (id %#jx): its children's ids changed",
	      (const void *)n, (uintmax_t)n->id);
	uint64_t count = 1;
	for (uint32_t i = 0; i < n->nkids; i++) {
		CHECK(n->height > 0, "node %p: children below height 0", (const void *)n);
		count += walk(n->kid[i], n->height - 1);
	}
	CHECK(count == n->visits, "node %p (id %#jx): %ju nodes below, want %ju", (const void *)n,
	      (uintmax_t)n->id, (uintmax_t)count, (uintmax_t)n->visits);
	return count;
}

static uint64_t
walk_root(int r)
{
	const struct node *n = atomic_load_explicit(&roots[r], memory_order_acquire);
	uint64_t count = walk(n, HEIGHT);

	atomic_fetch_add_explicit(&visited, count, memory_order_relaxed);
	return count;
}

/* The bytes a walk from n reaches, counting shared blocks again. */
static uint64_t
reached_bytes(const struct node *n)
{
	size_t node_size = 0, payload_size = 0;
	uint64_t bytes;

	mgc_base(n, &node_size);
	mgc_base(n->payload, &payload_size);
	bytes = node_size + payload_size;
	for (uint32_t i = 0; i < n->nkids; i++)
		bytes += reached_bytes(n->kid[i]);
	return bytes;
}

/* ---- threads --------------------------------------------------------------- */

static void *
mutator(void *arg)
{
	uint64_t rng = check_mix((uint64_t)(uintptr_t)arg) | 1;
	const struct node *held = NULL;
	uint64_t held_visits = 0;

	/* Registered before it loads a pointer from the table: until its first
	 * mgc call the collector does not scan this thread. */
	CHECK(mgc_register_thread() == 0, "mgc_register_thread failed");
	for (long it = 0; it < iterations; it++) {
		walk_root((int)(check_rng_next(&rng) % (uint64_t)nroots));
		replace((int)(check_rng_next(&rng) % (uint64_t)nroots), &rng);
		if (it % HOLD_ROUNDS == 0) {
			if (held != NULL)
				CHECK(walk(held, HEIGHT) == held_visits,
				      "a kept version changed its size");
			int r = (int)(check_rng_next(&rng) % (uint64_t)nroots);
			held = atomic_load_explicit(&roots[r], memory_order_acquire);
			held_visits = held->visits;
		}
	}
	return NULL;
}

static void *
collector(void *arg)
{
	struct timespec pace = {0, 200000};

	(void)arg;
	while (!atomic_load(&stop)) {
		mgc_collect();
		atomic_fetch_add(&collections, 1);
		nanosleep(&pace, NULL);
	}
	return NULL;
}

static __attribute__((noinline)) void
make_roots(void)
{
	uint64_t rng = 0x243f6a8885a308d3u;

	for (int r = 0; r < nroots; r++)
		atomic_store(&roots[r], build(HEIGHT, &rng));
}

/* Walks every root; returns the bytes they reach. */
static __attribute__((noinline)) uint64_t
check_all(void)
{
	uint64_t bytes = 0;

	for (int r = 0; r < nroots; r++) {
		walk_root(r);
		bytes += reached_bytes(atomic_load(&roots[r]));
	}
	return bytes;
}

struct params {
	int threads, scale;
};

static void
run(void *arg)
{
	const struct params *p = arg;
	pthread_t m[MAX_THREADS], c;
	mgc_stats s;

	nroots = ROOTS_PER_SCALE * p->scale;
	mgc_set_min_heap(MIN_HEAP);
	make_roots();
	check_clear_stack();
	CHECK(pthread_create(&c, NULL, collector, NULL) == 0, "pthread_create");
	for (int i = 0; i < p->threads; i++)
		CHECK(pthread_create(&m[i], NULL, mutator, (void *)(uintptr_t)(i + 1)) == 0,
		      "pthread_create");
	for (int i = 0; i < p->threads; i++)
		CHECK(pthread_join(m[i], NULL) == 0, "pthread_join");
	atomic_store(&stop, true);
	CHECK(pthread_join(c, NULL) == 0, "pthread_join");

	check_all();
	uint64_t alloc = check_alloc_after_collect();
	uint64_t live = check_all();
	mgc_read_stats(&s);
	CHECK(alloc <= 2 * live + (1u << 20),
	      "%ju bytes still allocated after a collection; the roots reach %ju", (uintmax_t)alloc,
	      (uintmax_t)live);
	CHECK(s.num_gc > atomic_load(&collections) && atomic_load(&collections) > 0,
	      "num_gc %ju after %ju explicit collections", (uintmax_t)s.num_gc,
	      (uintmax_t)atomic_load(&collections));
	CHECK(s.frees > 0, "nothing was reclaimed");
	printf("%ju subtrees replaced (%ju lost a race), %ju nodes checked, %ju collections, "
	       "%ju KiB live\n",
	       (uintmax_t)atomic_load(&replaced), (uintmax_t)atomic_load(&cas_lost),
	       (uintmax_t)atomic_load(&visited), (uintmax_t)s.num_gc, (uintmax_t)(live >> 10));
}

int
main(int argc, char **argv)
{
	static struct params p;

	p.threads = (int)check_arg(argc, argv, USAGE, 1, DEFAULT_THREADS, 1, MAX_THREADS);
	p.scale = (int)check_arg(argc, argv, USAGE, 2, 1, 1, MAX_SCALE);
	iterations = check_arg(argc, argv, USAGE, 3, DEFAULT_ITER, 1, 1L << 30);
	check_run_variants(run, &p);
	return 0;
}
