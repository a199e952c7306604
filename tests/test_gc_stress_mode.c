/* test_gc_stress_mode — the debug mode that collects at every allocation.
 *
 * The program runs itself again with MGC_COLLECT_EVERY=1 in the
 * environment (read when mgc initialises), so that every allocation is
 * preceded by a full collection.  It then builds and checks pointer
 * structures held by every kind of root:
 *   - a list whose links, and its root (a global), are interior pointers
 *     (to the middle of the next node), each node with a noscan payload;
 *   - a binary search tree reached from a volatile local, each node with a
 *     scan payload holding the only pointer to a noscan leaf;
 *   - pattern blocks held by a global array, a local array and plain
 *     locals (kept in registers or spilled, as the compiler likes);
 *   - a scan block grown by mgc_realloc, holding pointers to blocks;
 *   - blocks freed explicitly now and then.
 * Everything is checked as it grows and at the end, and num_gc must have
 * grown by at least the number of allocations made (mgc_realloc not
 * counted).
 */
#include "check.h"

#include <stddef.h>

#include <mgc.h>

#define CHILD_ARG "collect-every"
#define LIST_NODES 1000
#define TREE_NODES 1000
#define NHELD 64
#define NGROW 100
#define CHECK_EVERY 100

struct lnode {
	char *next_mid;		/* &next->value, or NULL */
	uint64_t value;
	uint64_t *payload;	/* noscan, 2 words */
	uint64_t check;
};

struct holder {
	uint64_t *leaf;		/* noscan, 3 words */
	uint64_t key;
};

struct tnode {
	struct tnode *left, *right;
	struct holder *holder;
	uint64_t key;
	uint64_t check;
};

static char *volatile list_mid;		/* &head->value */
static uint64_t *gheld[NHELD];		/* in bss */
static uint64_t nallocs;

static void *
alloc(size_t size, bool scan)
{
	void *p = scan ? mgc_alloc(size) : mgc_alloc_noscan(size);

	CHECK(p != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
	nallocs++;
	return p;
}

static uint64_t *
pattern_block(size_t words, uint64_t key, bool scan)
{
	uint64_t *w = alloc(words * 8, scan);

	check_fill(w, words, key);
	return w;
}

static void
check_pattern(const uint64_t *w, size_t words, uint64_t key, const char *what)
{
	CHECK(mgc_base(w, NULL) == w, "%s %p is not a live block", what, (const void *)w);
	CHECK_PATTERN(w, words, key, what);
}

static size_t
held_words(int i)
{
	return 2 + (size_t)(i * 37) % 250;
}

/* ---- the list of interior pointers ---- */

static struct lnode *
from_mid(char *mid)
{
	return mid == NULL ? NULL : (struct lnode *)(void *)(mid - offsetof(struct lnode, value));
}

static uint64_t
lnode_sum(const struct lnode *n)
{
	return check_mix(check_mix((uint64_t)(uintptr_t)n->next_mid ^ n->value) ^ (uint64_t)(uintptr_t)n->payload);
}

static void
list_push(uint64_t value)
{
	struct lnode *n = alloc(sizeof *n, true);

	n->payload = pattern_block(2, value, false);
	n->value = value;
	n->next_mid = list_mid;
	n->check = lnode_sum(n);
	list_mid = (char *)&n->value;
}

static void
verify_list(int count)
{
	int i = count;

	for (struct lnode *n = from_mid(list_mid); n != NULL; n = from_mid(n->next_mid)) {
		i--;
		CHECK(i >= 0, "the list is too long");
		CHECK(mgc_base(&n->value, NULL) == n, "list node %d (%p) is not live", i, (void *)n);
		CHECK(n->check == lnode_sum(n) && n->value == check_mix((uint64_t)i),
		      "list node %d (%p) is corrupt", i, (void *)n);
		check_pattern(n->payload, 2, n->value, "list payload");
	}
	CHECK(i == 0, "%d list nodes missing", i);
}

/* ---- the tree ---- */

static uint64_t
tnode_sum(const struct tnode *n)
{
	uint64_t h = check_mix((uint64_t)(uintptr_t)n->left ^ n->key);

	return check_mix(check_mix(h ^ (uint64_t)(uintptr_t)n->right) ^ (uint64_t)(uintptr_t)n->holder);
}

static void
tree_insert(struct tnode **root, uint64_t key)
{
	struct tnode *n = alloc(sizeof *n, true), *parent = NULL;
	struct tnode **link = root;

	n->holder = alloc(sizeof *n->holder, true);
	n->holder->key = key;
	n->holder->leaf = pattern_block(3, ~key, false);
	n->key = key;
	n->check = tnode_sum(n);
	while (*link != NULL) {
		parent = *link;
		link = key < parent->key ? &parent->left : &parent->right;
	}
	*link = n;
	if (parent != NULL)
		parent->check = tnode_sum(parent);
}

static int
verify_tree(const struct tnode *n, uint64_t lo, uint64_t hi)
{
	int count = 0;

	for (; n != NULL; n = n->right) {
		CHECK(mgc_base(n, NULL) == n && n->check == tnode_sum(n),
		      "tree node %p is corrupt or freed", (const void *)n);
		CHECK(n->key >= lo && n->key <= hi, "tree node %p out of order", (const void *)n);
		CHECK(mgc_base(n->holder, NULL) == n->holder && n->holder->key == n->key,
		      "the holder of tree node %p is corrupt or freed", (const void *)n);
		check_pattern(n->holder->leaf, 3, ~n->key, "tree leaf");
		count++;
		count += verify_tree(n->left, lo, n->key);
		lo = n->key;
	}
	return count;
}

/* ---- blocks held by globals, locals and a grown block ---- */

static void
verify_held(uint64_t *const *held, int n, uint64_t base, const char *what)
{
	for (int i = 0; i < n; i++)
		check_pattern(held[i], held_words(i), base + (uint64_t)i * 1000, what);
}

/* A scan block grown one pointer at a time by mgc_realloc; every pointer
 * in it is the only one to its block.  Some blocks are freed explicitly. */
static uint64_t **
grow(void)
{
	uint64_t **arr = NULL;

	for (int i = 0; i < NGROW; i++) {
		arr = mgc_realloc(arr, (size_t)(i + 1) * sizeof *arr);
		CHECK(arr != NULL, "mgc_realloc failed (errno %d)", errno);
		arr[i] = pattern_block(held_words(i), 5000000 + (uint64_t)i * 1000, i % 2 == 0);
		if (i % 10 == 9) {
			mgc_free(pattern_block(8, 0, true));
			verify_held(arr, i + 1, 5000000, "block held by a reallocated block");
		}
	}
	return arr;
}

static void
run(void)
{
	uint64_t *volatile sheld[NHELD];
	struct tnode *volatile tree = NULL;
	uint64_t *r1 = pattern_block(4, 77, true), *r2 = pattern_block(300, 78, false);
	uint64_t **grown;
	mgc_stats a, b;

	mgc_read_stats(&a);
	nallocs = 0;
	for (int i = 0; i < NHELD; i++) {
		gheld[i] = pattern_block(held_words(i), 1000000 + (uint64_t)i * 1000, i % 2 == 0);
		sheld[i] = pattern_block(held_words(i), 2000000 + (uint64_t)i * 1000, i % 2 == 1);
	}
	for (int i = 0; i < LIST_NODES; i++) {
		list_push(check_mix((uint64_t)i));
		if (i % CHECK_EVERY == CHECK_EVERY - 1)
			verify_list(i + 1);
	}
	for (int i = 0; i < TREE_NODES; i++) {
		struct tnode *t = tree;

		tree_insert(&t, check_mix((uint64_t)i + 0x1234));
		tree = t;
		if (i % CHECK_EVERY == CHECK_EVERY - 1)
			CHECK(verify_tree(tree, 0, UINT64_MAX) == i + 1, "tree nodes missing");
	}
	grown = grow();
	check_pattern(r1, 4, 77, "block held in a local");
	check_pattern(r2, 300, 78, "block held in a local");
	verify_held(gheld, NHELD, 1000000, "block held by a global");
	verify_held((uint64_t *const *)sheld, NHELD, 2000000, "block held by a local array");
	verify_held(grown, NGROW, 5000000, "block held by a reallocated block");
	verify_list(LIST_NODES);
	CHECK(verify_tree(tree, 0, UINT64_MAX) == TREE_NODES, "tree nodes missing");
	mgc_read_stats(&b);
	CHECK(b.num_gc - a.num_gc >= nallocs, "num_gc grew by %llu for %llu allocations with "
	      "MGC_COLLECT_EVERY=1", (unsigned long long)(b.num_gc - a.num_gc),
	      (unsigned long long)nallocs);
}

int
main(int argc, char **argv)
{
	char *args[] = { argv[0], CHILD_ARG, NULL };
	const char *every;

	if (argc < 2) {
		CHECK(setenv("MGC_COLLECT_EVERY", "1", 1) == 0, "setenv failed");
		fflush(NULL);
		execv("/proc/self/exe", args);
		CHECK(false, "execv /proc/self/exe: %s", strerror(errno));
	}
	every = getenv("MGC_COLLECT_EVERY");
	CHECK(strcmp(argv[1], CHILD_ARG) == 0 && every != NULL && strcmp(every, "1") == 0,
	      "usage: %s (runs itself again with MGC_COLLECT_EVERY=1)", argv[0]);
	run();
	return 0;
}
