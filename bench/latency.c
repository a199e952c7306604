/* latency.c — how long single operations of a program take while the
 * collector works on a large live heap: the time of every operation, not
 * only the total, so that the pauses a collection puts into the program
 * show as the tail of the distribution.
 *
 * Compiled once per variant, selected with the backend's define (see
 * backend.h) and at most one of this program's own:
 *   -DBACKEND_MGC                    mgc       MGC_CONCURRENT=1: automatic
 *                                              collections mark on mgc's
 *                                              collector thread
 *   -DBACKEND_MGC -DLAT_STW          mgcstw    MGC_CONCURRENT=0: every
 *                                              collection stops the program
 *   -DBACKEND_BOEHM                  boehm     default settings
 *   -DBACKEND_BOEHM -DLAT_INCREMENTAL boehminc GC_enable_incremental()
 * The variant sets MGC_CONCURRENT itself, before mgc reads it, so that a
 * binary always measures what its name says whatever the environment.
 *
 * The heap: LIVE_MIB MiB of 64-byte nodes in trees of 15 nodes (perfect
 * binary trees of depth 4), whose roots are in one big array allocated
 * from the collector.  The array is heap, not a root: the stores into it
 * are what a mostly-concurrent collector's dirty-page tracking must catch,
 * or it frees a live tree.
 *
 * An operation picks a random slot (xorshift, fixed seed: every variant
 * sees the same sequence), builds a new tree and stores its root in the
 * slot; the tree it replaces becomes garbage.  So the live size stays
 * constant and everything allocated dies young or lives until replaced.
 * Each operation is timed with CLOCK_MONOTONIC, and the times go into an
 * array from malloc, which no collector scans or counts.  At the end every
 * tree must have the number of the operation that stored it and intact
 * nodes; a collector that freed a live node shows here, once the node's
 * memory has been handed out again.
 *
 * Usage:
 *   latency [LIVE_MIB [OPS]]   (defaults 256 and 10000000)
 *   latency --which            (variant identity, then exit)
 * Output, one line:
 *   latency variant live_mib ops total_s p50_us p99_us p999_us max_ms peak_rss_kib num_gc
 * total_s is the time of the OPS operations, timing included; num_gc
 * counts the collections completed during them (not while building).
 */
#define _GNU_SOURCE
#include <errno.h>

#define BENCH_NAME "latency"
#include "backend.h"

#if defined(BACKEND_MGC) && defined(LAT_STW)
#define VARIANT "mgcstw"
#elif defined(BACKEND_MGC)
#define VARIANT "mgc"
#elif defined(LAT_INCREMENTAL)
#define VARIANT "boehminc"
#else
#define VARIANT "boehm"
#endif

#define DEFAULT_MIB 256
#define DEFAULT_OPS 10000000
#define LIMIT_MIB   (64 * 1024)
#define TREE_NODES  15
#define NDATA       3
#define SEED        UINT64_C(0x9E3779B97F4A7C15)
#define MAX_TREES   ((size_t)1 << 28)

typedef struct node {
	struct node *left, *right;
	uint64_t tree;  /* the number of the tree: its slot, or the operation's */
	uint64_t index; /* breadth-first position in the tree, 0 for the root */
	uint64_t data[NDATA];
	uint64_t check;
} node;

_Static_assert(sizeof(node) == 64, "a node is 64 bytes");

/* ---- start-up --------------------------------------------------------- */

static void
variant_init(void)
{
#if defined(BACKEND_MGC) && defined(LAT_STW)
	setenv("MGC_CONCURRENT", "0", 1); /* read once, when mgc starts */
#elif defined(BACKEND_MGC)
	setenv("MGC_CONCURRENT", "1", 1);
#endif
	bk_init();
#ifdef LAT_INCREMENTAL
	GC_enable_incremental();
#endif
}

static void
variant_which(void)
{
#if defined(BACKEND_MGC) && defined(LAT_STW)
	printf("mgcstw: statically linked, MGC_CONCURRENT=0 (stop-the-world)\n");
#elif defined(BACKEND_MGC)
	printf("mgc: statically linked, MGC_CONCURRENT=1 (mostly concurrent)\n");
#else
	unsigned v = GC_get_version();

	printf("%s: bdwgc %u.%u.%u, %s\n", VARIANT, v >> 16, (v >> 8) & 0xff, v & 0xff,
	       GC_is_incremental_mode() ? "GC_enable_incremental()" : "default settings");
#endif
}

/* ---- trees ------------------------------------------------------------ */

/* Every data word is below 2^32 (there are at most MAX_TREES trees), so no
 * conservative scan takes one for a pointer into the heap. */
static uint64_t
data_word(uint64_t tree, uint64_t index, int w)
{
	return (tree * TREE_NODES + index) * NDATA + (uint64_t)w;
}

static uint64_t
check_word(uint64_t tree, uint64_t index)
{
	return ((tree * TREE_NODES + index) * UINT64_C(2654435761)) & 0xffffffffu;
}

/* Node `index` of tree `tree` and, below it, its subtree. */
static node *
build(uint64_t tree, uint64_t index)
{
	node *n = bk_alloc(sizeof *n);
	int w;

	n->tree = tree;
	n->index = index;
	for (w = 0; w < NDATA; w++)
		n->data[w] = data_word(tree, index, w);
	n->check = check_word(tree, index);
	if (2 * index + 2 < TREE_NODES) {
		n->left = build(tree, 2 * index + 1);
		n->right = build(tree, 2 * index + 2);
	}
	return n;
}

/* Whether the subtree at n is node `index` of tree `tree` and below it,
 * all intact. */
static int
tree_ok(const node *n, uint64_t tree, uint64_t index)
{
	int w, inner = 2 * index + 2 < TREE_NODES;

	if (n == NULL || n->tree != tree || n->index != index ||
	    n->check != check_word(tree, index))
		return 0;
	for (w = 0; w < NDATA; w++)
		if (n->data[w] != data_word(tree, index, w))
			return 0;
	if (!inner)
		return n->left == NULL && n->right == NULL;
	return tree_ok(n->left, tree, 2 * index + 1) && tree_ok(n->right, tree, 2 * index + 2);
}

/* ---- the benchmark ---------------------------------------------------- */

struct run {
	node **slots;     /* [nslots], heap: scanned by the collector */
	uint32_t *expect; /* [nslots], malloc: the tree each slot must hold */
	uint32_t *ns;     /* [ops], malloc: each operation's time */
	size_t nslots, ops;
};

static void *
malloc_or_die(size_t n, const char *what)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "latency: malloc of %s (%zu bytes) failed\n", what, n);
		exit(1);
	}
	return p;
}

static void
fill(struct run *r)
{
	size_t i;

	r->slots = bk_alloc(r->nslots * sizeof *r->slots);
	for (i = 0; i < r->nslots; i++) {
		r->slots[i] = build(i, 0);
		r->expect[i] = (uint32_t)i;
	}
}

static uint64_t
elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (uint64_t)(b->tv_sec - a->tv_sec) * 1000000000u + (uint64_t)b->tv_nsec -
	       (uint64_t)a->tv_nsec;
}

/* The timed loop.  Tree numbers go on from the initial slots', so that a
 * slot holding an old tree, or another slot's, is caught. */
static void
replace_trees(struct run *r)
{
	struct timespec t0, t1;
	uint64_t rng = SEED, d;
	size_t k, slot, tree;

	for (k = 0; k < r->ops; k++) {
		slot = xorshift64(&rng) % r->nslots;
		tree = r->nslots + k;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		r->slots[slot] = build(tree, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		r->expect[slot] = (uint32_t)tree;
		d = elapsed_ns(&t0, &t1);
		r->ns[k] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
}

static void
verify(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->nslots; i++) {
		if (!tree_ok(r->slots[i], r->expect[i], 0)) {
			fprintf(stderr,
			        "latency: %s: slot %zu does not hold tree %u intact: the "
			        "collector freed or damaged live nodes\n",
			        VARIANT, i, (unsigned)r->expect[i]);
			exit(1);
		}
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The p-quantile (nearest rank) of n sorted times, in microseconds. */
static double
quantile_us(const uint32_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p * n + 0.999999);

	return v[rank == 0 ? 0 : rank - 1] / 1e3;
}

static unsigned long
collections(void)
{
	double max_pause;
	unsigned long n;

	bk_gc_stats(&max_pause, &n);
	return n;
}

static size_t
parse_arg(const char *arg, size_t limit, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v < 1 || v > limit) {
		fprintf(stderr, "latency: bad %s '%s' (1 to %zu)\n", what, arg, limit);
		exit(2);
	}
	return (size_t)v;
}

int
main(int argc, char **argv)
{
	struct run r;
	size_t mib = DEFAULT_MIB;
	unsigned long gc0;
	double t0, total;

	variant_init();
	if (argc == 2 && strcmp(argv[1], "--which") == 0) {
		variant_which();
		return 0;
	}
	if (argc > 3) {
		fprintf(stderr, "usage: latency [LIVE_MIB [OPS]]\n       latency --which\n");
		return 2;
	}
	r.ops = DEFAULT_OPS;
	if (argc >= 2)
		mib = parse_arg(argv[1], LIMIT_MIB, "live size in MiB");
	if (argc == 3)
		r.ops = parse_arg(argv[2], MAX_TREES, "operation count");
	r.nslots = mib * 1024 * 1024 / (TREE_NODES * sizeof(node));
	if (r.nslots + r.ops > MAX_TREES) {
		fprintf(stderr, "latency: more than %zu trees\n", MAX_TREES);
		return 2;
	}
	r.expect = malloc_or_die(r.nslots * sizeof *r.expect, "the expected trees");
	r.ns = malloc_or_die(r.ops * sizeof *r.ns, "the operation times");
	/* Touched now, so that its page faults are not in the timed loop. */
	memset(r.ns, 0, r.ops * sizeof *r.ns);
	fill(&r);
	clear_stack();
	gc0 = collections();
	t0 = now_sec();
	replace_trees(&r);
	total = now_sec() - t0;
	gc0 = collections() - gc0;
	verify(&r);
	qsort(r.ns, r.ops, sizeof *r.ns, cmp_u32);
	printf("latency %s %zu %zu %.3f %.2f %.2f %.2f %.3f %ld %lu\n", VARIANT, mib, r.ops, total,
	       quantile_us(r.ns, r.ops, 0.5), quantile_us(r.ns, r.ops, 0.99),
	       quantile_us(r.ns, r.ops, 0.999), r.ns[r.ops - 1] / 1e6, peak_rss_kib(), gc0);
	return 0;
}
