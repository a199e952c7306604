/* gcbench.c — the Ellis/Kovac/Boehm GCBench: mgc against the Boehm collector.
 *
 * Compiled once per backend, selected with exactly one define:
 *   -DBACKEND_MGC    mgc_alloc / mgc_alloc_noscan (build/libmgc.a -lpthread -ldl)
 *   -DBACKEND_BOEHM  GC_MALLOC / GC_MALLOC_ATOMIC (-lgc)
 * and, with -DBK_TYPED as well, nodes allocated typed: mgc_alloc_typed or
 * GC_malloc_explicitly_typed with the node's layout, left and right the
 * only words the collector reads (i and j share the third).
 * Nothing is freed explicitly; the collector reclaims everything.
 *
 * The classic parameters: a stretch tree of depth 18 built and dropped; a
 * long-lived tree of depth 16 and a long-lived array of 500,000 doubles
 * (noscan / atomic) kept to the end; then, for depths 4, 6, ... 16,
 * NumIters(depth) = 2 * TreeSize(18) / TreeSize(depth) trees built top-down
 * (a node is allocated, then its children are filled in) and as many built
 * bottom-up (children first), each dropped at once.
 *
 * Usage:
 *   gcbench [-v]      (-v: one line per depth on stderr)
 *   gcbench --which   (backend identity, then exit)
 * Output, one line:
 *   gcbench backend seconds peak_rss_kib max_pause_ms num_gc
 */
#define _GNU_SOURCE
#define BENCH_NAME "gcbench"
#include "backend.h"

#define STRETCH_DEPTH 18
#define LONG_LIVED_DEPTH 16
#define ARRAY_SIZE 500000
#define MIN_DEPTH 4
#define MAX_DEPTH 16

typedef struct node {
	struct node *left;
	struct node *right;
	int i;
	int j;
} node;

/* Two pointer words and one of integers: the layout has a word to skip. */
_Static_assert(BK_WORDS(node) == 3, "a node is left, right and the word of i and j");

/* The long-lived data lives in bss, a root for both collectors. */
static node *long_lived;
static double *array;
static int verbose;
static bk_layout node_layout;

/* ---- the benchmark ---------------------------------------------------- */

/* Nodes in a complete tree of the given depth. */
static long tree_size(int depth)
{
	return (1L << (depth + 1)) - 1;
}

static long num_iters(int depth)
{
	return 2 * tree_size(STRETCH_DEPTH) / tree_size(depth);
}

static node *new_node(node *left, node *right)
{
	node *n = bk_alloc_typed(sizeof *n, node_layout);

	n->left = left;
	n->right = right;
	return n;
}

/* Top-down: give an existing node children, then fill them in. */
static void populate(int depth, node *n)
{
	if (depth <= 0)
		return;
	depth--;
	n->left = new_node(NULL, NULL);
	n->right = new_node(NULL, NULL);
	populate(depth, n->left);
	populate(depth, n->right);
}

/* Bottom-up: children first, then the node that holds them. */
static node *make_tree(int depth)
{
	node *l, *r;

	if (depth <= 0)
		return new_node(NULL, NULL);
	l = make_tree(depth - 1);
	r = make_tree(depth - 1);
	return new_node(l, r);
}

static void time_construction(int depth)
{
	long iters = num_iters(depth), i;
	double t0 = now_sec(), t1;
	node *t;

	for (i = 0; i < iters; i++) {
		t = new_node(NULL, NULL);
		populate(depth, t);
	}
	t1 = now_sec();
	for (i = 0; i < iters; i++)
		t = make_tree(depth);
	(void)t;
	if (verbose)
		fprintf(stderr, "# depth %2d: %ld trees, top-down %.3f s, bottom-up %.3f s\n",
			depth, iters, t1 - t0, now_sec() - t1);
}

static void make_long_lived(void)
{
	int i;

	long_lived = new_node(NULL, NULL);
	populate(LONG_LIVED_DEPTH, long_lived);
	array = bk_alloc_noscan(ARRAY_SIZE * sizeof *array);
	for (i = 1; i < ARRAY_SIZE / 2; i++)
		array[i] = 1.0 / i;
}

/* The long-lived data must have survived every collection intact. */
static int long_lived_ok(void)
{
	const node *n = long_lived;
	int d = 0;

	while (n->left != NULL) {
		n = n->left;
		d++;
	}
	return d == LONG_LIVED_DEPTH && array[1000] == 1.0 / 1000;
}

static void gcbench(void)
{
	int d;

	make_tree(STRETCH_DEPTH);
	make_long_lived();
	for (d = MIN_DEPTH; d <= MAX_DEPTH; d += 2)
		time_construction(d);
}

int main(int argc, char **argv)
{
	double t0, secs;

	bk_start(argc, argv);
	node_layout = bk_layout_new(BK_PTR_BIT(node, left) | BK_PTR_BIT(node, right),
				    BK_WORDS(node));
	if (argc == 2 && strcmp(argv[1], "-v") == 0)
		verbose = 1;
	else if (argc != 1) {
		fprintf(stderr, "usage: gcbench [-v]\n       gcbench --which\n");
		return 2;
	}
	t0 = now_sec();
	gcbench();
	secs = now_sec() - t0;
	if (!long_lived_ok()) {
		fprintf(stderr, "gcbench: %s: long-lived data was damaged\n",
			BACKEND_NAME);
		return 1;
	}
	bk_print_result("gcbench", 3, secs);
	printf("\n");
	return 0;
}
