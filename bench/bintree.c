/* bintree.c — binary-trees (the benchmarks game), single-threaded: mgc
 * against the Boehm collector.
 *
 * Compiled once per backend, selected with exactly one define:
 *   -DBACKEND_MGC    mgc_alloc (build/libmgc.a -lpthread -ldl)
 *   -DBACKEND_BOEHM  GC_MALLOC (-lgc)
 * and, with -DBK_TYPED as well, nodes allocated typed: mgc_alloc_typed or
 * GC_malloc_explicitly_typed with the node's layout (both words pointers).
 * Nothing is freed explicitly; the collector reclaims everything.
 *
 * With DEPTH n (at least 6): a stretch tree of depth n+1 is built, checked
 * and dropped; a long-lived tree of depth n is built; then for d = 4, 6,
 * ... n, 2^(n-d+4) trees of depth d are built bottom-up, checked (their
 * nodes counted) and dropped; last, the long-lived tree is checked.  A
 * node is two pointers (16 bytes).
 *
 * Usage:
 *   bintree [DEPTH]     (default 21)
 *   bintree --which     (backend identity, then exit)
 * Output: the benchmarks game's check lines, the same for every backend,
 * then one line:
 *   bintree backend seconds peak_rss_kib max_pause_ms num_gc
 */
#define _GNU_SOURCE
#include <errno.h>

#define BENCH_NAME "bintree"
#include "backend.h"

#define MIN_DEPTH 4
#define DEFAULT_DEPTH 21
#define LIMIT_DEPTH 30

typedef struct node {
	struct node *left;
	struct node *right;
} node;

/* The long-lived tree lives in bss, a root for both collectors. */
static node *long_lived;
static bk_layout node_layout;

/* ---- the benchmark ---------------------------------------------------- */

static node *bottom_up_tree(int depth)
{
	node *n = bk_alloc_typed(sizeof *n, node_layout);

	if (depth > 0) {
		n->left = bottom_up_tree(depth - 1);
		n->right = bottom_up_tree(depth - 1);
	}
	return n;
}

static long item_check(const node *n)
{
	if (n->left == NULL)
		return 1;
	return 1 + item_check(n->left) + item_check(n->right);
}

/* Nodes in a complete tree of the given depth. */
static long tree_size(int depth)
{
	return (1L << (depth + 1)) - 1;
}

/* A check that does not match the tree shape means the collector lost or
 * damaged live nodes: stop at once. */
static void expect(long got, long want, const char *what, int depth)
{
	if (got == want)
		return;
	fprintf(stderr, "bintree: %s: %s of depth %d: check %ld, expected %ld\n",
		BACKEND_NAME, what, depth, got, want);
	exit(1);
}

static void stretch(int depth)
{
	long c = item_check(bottom_up_tree(depth));

	expect(c, tree_size(depth), "stretch tree", depth);
	printf("stretch tree of depth %d\t check: %ld\n", depth, c);
}

static void trees_of_depth(int depth, int max_depth)
{
	long iters = 1L << (max_depth - depth + MIN_DEPTH), i, c = 0;

	for (i = 0; i < iters; i++)
		c += item_check(bottom_up_tree(depth));
	expect(c, iters * tree_size(depth), "trees", depth);
	printf("%ld\t trees of depth %d\t check: %ld\n", iters, depth, c);
}

static void bintree(int max_depth)
{
	long c;
	int d;

	stretch(max_depth + 1);
	long_lived = bottom_up_tree(max_depth);
	for (d = MIN_DEPTH; d <= max_depth; d += 2)
		trees_of_depth(d, max_depth);
	c = item_check(long_lived);
	expect(c, tree_size(max_depth), "long lived tree", max_depth);
	printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
}

static int parse_depth(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < MIN_DEPTH + 2 ||
	    v > LIMIT_DEPTH) {
		fprintf(stderr, "bintree: bad depth '%s' (%d to %d)\n", arg,
			MIN_DEPTH + 2, LIMIT_DEPTH);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int depth = DEFAULT_DEPTH;
	double t0, secs;

	bk_start(argc, argv);
	node_layout = bk_layout_new(BK_PTR_BIT(node, left) | BK_PTR_BIT(node, right),
				    BK_WORDS(node));
	if (argc > 2) {
		fprintf(stderr, "usage: bintree [DEPTH]\n       bintree --which\n");
		return 2;
	}
	if (argc == 2)
		depth = parse_depth(argv[1]);
	t0 = now_sec();
	bintree(depth);
	secs = now_sec() - t0;
	bk_print_result("bintree", 3, secs);
	printf("\n");
	return 0;
}
