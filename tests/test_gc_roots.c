/* test_gc_roots — what keeps a block alive, and what does not.
 *
 * Kept (checked exactly: the block is live and its pattern intact after
 * several collections with many blocks of its size allocated in between,
 * which would have reused and overwritten it had it been freed):
 *   - a volatile local on the stack;
 *   - a global in .data, a global in .bss, a static global;
 *   - a thread-local variable of the main thread (.tdata and .tbss);
 *   - an interior pointer (the middle of the block) and a pointer to its
 *     last byte, for small and large blocks;
 *   - a range given to mgc_add_roots (a malloc'ed array), including one
 *     added with unaligned bounds (rounded inward) and one that a removal
 *     of a range not containing it leaves in place;
 *   - a 1000-node linked list of scan blocks, reached from one global.
 * Not kept (checked in aggregate: at least 90% of the dropped bytes are
 * reclaimed, as a stale word may keep a few):
 *   - blocks whose only pointers point one past their end;
 *   - blocks whose only pointers are in malloc'ed memory;
 *   - blocks whose only pointers are in a registered range after
 *     mgc_remove_roots (a range added twice counts once; removing a range
 *     drops every added range within it);
 *   - blocks whose only pointers are inside a reachable noscan block.
 */
#include "check.h"

#include <mgc.h>

#define KEEP_SIZE 200
#define LARGE_SIZE (1 << 20)
#define NCHURN_BYTES (4u << 20)
#define NCHURN_ROUNDS 3
#define NDROP 1000
#define DROP_SIZE 256
#define NLIST 1000

typedef void *(*alloc_fn)(size_t);

/* Linker-defined bounds of the executable's data and bss. */
extern char __data_start[], _edata[], __bss_start[], _end[];

/* The roots under test.  Non-zero initialisers put root_data and tls_data
 * in .data and .tdata; the others are in .bss and .tbss. */
void *volatile root_data = (void *)(uintptr_t)0x5a5a;
void *volatile root_bss;
static void *volatile root_static;
static _Thread_local void *volatile tls_data = (void *)(uintptr_t)0x5a5a;
static _Thread_local void *volatile tls_bss;

/* The block holding p is live, starts at base and still holds its pattern. */
static void
check_block(const void *p, const void *base, size_t size, uint64_t seed, const char *what)
{
	size_t u = 0;

	CHECK(mgc_base(p, &u) == base, "%s: %p is no longer in the live block %p", what, p,
	      base);
	CHECK(u >= size, "%s: block %p has %zu usable bytes, want %zu", what, base, u, size);
	CHECK_PATTERN(base, size / 8, seed, what);
}

static void
collect(void)
{
	check_clear_stack();
	mgc_collect();
}

static uint64_t
alloc_after_collect(void)
{
	mgc_stats s;

	collect();
	mgc_read_stats(&s);
	return s.alloc;
}

static void
check_reclaimed(uint64_t before, uint64_t after, uint64_t dropped, const char *what)
{
	CHECK(after <= before + dropped / 10, "%s: alloc was %llu, is %llu after dropping %llu "
	      "bytes: less than 90%% of them reclaimed", what, (unsigned long long)before,
	      (unsigned long long)after, (unsigned long long)dropped);
}

/* Garbage of `size` bytes, scan and noscan, filled with a byte pattern:
 * a block freed by mistake gets reused and overwritten. */
static __attribute__((noinline)) void
churn_once(size_t size)
{
	size_t n = NCHURN_BYTES / size + 1;

	for (size_t i = 0; i < n; i++) {
		char *p = i % 2 ? mgc_alloc(size) : mgc_alloc_noscan(size);

		CHECK(p != NULL, "churn: allocation of %zu bytes failed", size);
		memset(p, 0xa5, size);
	}
}

static void
churn(size_t size)
{
	for (int r = 0; r < NCHURN_ROUNDS; r++) {
		churn_once(size);
		collect();
	}
}

static __attribute__((noinline)) void *
make_block(size_t size, uint64_t seed)
{
	void *p = mgc_alloc(size);

	CHECK(p != NULL, "mgc_alloc(%zu) failed (errno %d)", size, errno);
	check_fill(p, size / 8, seed);
	return p;
}

static void
test_stack_local(void)
{
	void *volatile local = make_block(KEEP_SIZE, 1);

	churn(KEEP_SIZE);
	check_block(local, local, KEEP_SIZE, 1, "volatile stack local");
}

static void
test_globals(void)
{
	CHECK((char *)&root_data >= __data_start && (char *)&root_data < _edata,
	      "root_data is not in .data");
	CHECK((char *)&root_bss >= __bss_start && (char *)&root_bss < _end,
	      "root_bss is not in .bss");
	root_data = make_block(KEEP_SIZE, 2);
	root_bss = make_block(KEEP_SIZE, 3);
	root_static = make_block(KEEP_SIZE, 4);
	churn(KEEP_SIZE);
	check_block(root_data, root_data, KEEP_SIZE, 2, "global in .data");
	check_block(root_bss, root_bss, KEEP_SIZE, 3, "global in .bss");
	check_block(root_static, root_static, KEEP_SIZE, 4, "static global");
}

static void
test_tls(void)
{
	tls_data = make_block(KEEP_SIZE, 5);
	tls_bss = make_block(KEEP_SIZE, 6);
	churn(KEEP_SIZE);
	check_block(tls_data, tls_data, KEEP_SIZE, 5, "thread-local variable in .tdata");
	check_block(tls_bss, tls_bss, KEEP_SIZE, 6, "thread-local variable in .tbss");
}

/* A pattern-filled block of `size` bytes; returns only base + offset, where
 * offset < 0 counts from the end of the usable size. */
static __attribute__((noinline)) char *
make_inner(size_t size, uint64_t seed, long offset, size_t *usable)
{
	char *p = make_block(size, seed);

	CHECK(mgc_base(p, usable) == p, "new block %p not found", (void *)p);
	return offset < 0 ? p + *usable + offset : p + offset;
}

static void
test_interior_size(size_t size, uint64_t seed)
{
	size_t um = 0, ul = 0;
	char *volatile mid = make_inner(size, seed, (long)size / 2, &um);
	char *volatile lastb = make_inner(size, seed + 1, -1, &ul);

	churn(size);
	check_block(mid, mid - size / 2, size, seed, "interior pointer");
	check_block(lastb, lastb + 1 - ul, size, seed + 1, "pointer to the last byte");
}

static void
test_interior(void)
{
	test_interior_size(KEEP_SIZE, 7);
	test_interior_size(LARGE_SIZE, 9);
}

static char *volatile past_end[NDROP];	/* bss: one past the end of each target */

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;

	return (x > y) - (x < y);
}

/* Allocates 2n blocks and keeps n of them as targets, each with no
 * allocated block of this batch starting at its end: a block there is
 * freed.  Only past_end[] refers to the targets.  Returns their bytes.
 * The working array is a scan block (so that a collection while it is
 * filled keeps the blocks), cleared and freed before returning. */
static __attribute__((noinline)) uint64_t
make_past_targets(size_t size, int n)
{
	char **all = mgc_alloc(2 * (size_t)n * sizeof *all);
	size_t u = 0;
	uint64_t bytes = 0;
	int i = 0, k = 0;

	CHECK(all != NULL, "mgc_alloc of the working array failed");
	for (i = 0; i < 2 * n; i++)
		all[i] = make_block(size, (uint64_t)i);
	CHECK(mgc_base(all[0], &u) == all[0], "new block not found");
	qsort(all, 2 * (size_t)n, sizeof *all, cmp_ptr);
	for (i = 0; i < 2 * n; i++) {
		if (k == n || (i > 0 && all[i - 1] != NULL && all[i - 1] + u == all[i])) {
			mgc_free(all[i]);
			all[i] = NULL;
			continue;
		}
		past_end[k++] = all[i] + u;
		bytes += u;
	}
	memset(all, 0, 2 * (size_t)n * sizeof *all);
	mgc_free(all);
	CHECK(k == n, "only %d targets of %zu bytes among %d blocks", k, size, 2 * n);
	return bytes;
}

static void
test_past_end_size(size_t size, int n)
{
	uint64_t before = alloc_after_collect();
	uint64_t bytes = make_past_targets(size, n);

	check_reclaimed(before, alloc_after_collect(), bytes, "pointers one past the end");
	for (int i = 0; i < n; i++)
		past_end[i] = NULL;
}

static void
test_past_end(void)
{
	test_past_end_size(64, NDROP);
	test_past_end_size(4000, NDROP);
	test_past_end_size(40000, NDROP / 5);
}

/* Fills arr[from..n) with new blocks of DROP_SIZE bytes; returns their
 * bytes.  They are made in a scan block, which keeps them should a
 * collection start meanwhile, then copied to arr; it is cleared and freed. */
static __attribute__((noinline)) uint64_t
fill_array(void **arr, int from, int n, uint64_t seed)
{
	void **tmp = mgc_alloc((size_t)n * sizeof *tmp);
	uint64_t bytes = 0;

	CHECK(tmp != NULL, "mgc_alloc of the working array failed");
	for (int i = from; i < n; i++) {
		size_t u = 0;

		tmp[i] = make_block(DROP_SIZE, seed + (uint64_t)i);
		mgc_base(tmp[i], &u);
		bytes += u;
	}
	memcpy(arr + from, tmp + from, (size_t)(n - from) * sizeof *tmp);
	memset(tmp, 0, (size_t)n * sizeof *tmp);
	mgc_free(tmp);
	return bytes;
}

static void
check_array(void **arr, int from, int n, uint64_t seed, const char *what)
{
	for (int i = from; i < n; i++)
		check_block(arr[i], arr[i], DROP_SIZE, seed + (uint64_t)i, what);
}

/* Blocks referred to only from malloc'ed memory are not kept. */
static void
test_malloc_not_root(void **arr)
{
	uint64_t before = alloc_after_collect();
	uint64_t bytes = fill_array(arr, 0, NDROP, 100);

	check_reclaimed(before, alloc_after_collect(), bytes, "pointers in malloc'ed memory");
}

/* Adds [arr, arr + NDROP) `times` times, fills it, checks it keeps the
 * blocks, removes [arr, arr + NDROP) once and checks they are reclaimed. */
static void
test_added_range(void **arr, int times, uint64_t seed)
{
	uint64_t before = alloc_after_collect(), bytes;

	for (int t = 0; t < times; t++)
		mgc_add_roots(arr, arr + NDROP);
	bytes = fill_array(arr, 0, NDROP, seed);
	churn(DROP_SIZE);
	check_array(arr, 0, NDROP, seed, "range from mgc_add_roots");
	mgc_remove_roots(arr, arr + NDROP);
	check_reclaimed(before, alloc_after_collect(), bytes, times == 1 ?
			"range after mgc_remove_roots" : "range added twice, removed once");
}

/* Two adjacent ranges, both dropped by one removal covering them. */
static void
test_split_range(void **arr)
{
	uint64_t before = alloc_after_collect(), bytes;

	mgc_add_roots(arr, arr + NDROP / 2);
	mgc_add_roots(arr + NDROP / 2, arr + NDROP);
	bytes = fill_array(arr, 0, NDROP, 300);
	churn(DROP_SIZE);
	check_array(arr, 0, NDROP, 300, "two ranges from mgc_add_roots");
	mgc_remove_roots(arr, arr + NDROP);
	check_reclaimed(before, alloc_after_collect(), bytes,
			"two ranges after removing a range covering both");
}

/* Unaligned bounds are rounded inward; a removal of a range that does not
 * contain the added one leaves it in place. */
static void
test_partial_remove(void **arr)
{
	uint64_t before = alloc_after_collect(), bytes;

	mgc_add_roots((char *)arr + 1, (char *)(arr + NDROP) + 3);
	bytes = fill_array(arr, 1, NDROP, 400);
	churn(DROP_SIZE);
	check_array(arr, 1, NDROP, 400, "range with unaligned bounds");
	mgc_remove_roots(arr + 2, arr + NDROP);
	churn(DROP_SIZE);
	check_array(arr, 1, NDROP, 400, "range after removing a range within it");
	mgc_remove_roots(arr, arr + NDROP + 1);
	check_reclaimed(before, alloc_after_collect(), bytes, "unaligned range after removal");
}

static void
test_add_roots(void)
{
	void **arr = calloc(NDROP + 1, sizeof *arr);

	CHECK(arr != NULL, "calloc failed");
	test_malloc_not_root(arr);
	test_added_range(arr, 1, 200);
	test_added_range(arr, 2, 250);
	test_split_range(arr);
	test_partial_remove(arr);
	free(arr);
}

static void *volatile noscan_root;

/* A noscan block holding the only pointers to NDROP scan blocks; their
 * addresses are copied to `copy` (malloc'ed).  Returns their bytes. */
static __attribute__((noinline)) uint64_t
make_noscan_holder(void **copy)
{
	void **h = mgc_alloc_noscan(NDROP * sizeof *h);
	uint64_t bytes;

	CHECK(h != NULL, "mgc_alloc_noscan failed");
	bytes = fill_array(h, 0, NDROP, 500);
	memcpy(copy, h, NDROP * sizeof *h);
	noscan_root = h;
	return bytes;
}

static void
test_noscan(void)
{
	void **copy = malloc(NDROP * sizeof *copy);
	uint64_t before = alloc_after_collect(), bytes;
	size_t hu = 0;

	CHECK(copy != NULL, "malloc failed");
	bytes = make_noscan_holder(copy);
	CHECK(mgc_base(noscan_root, &hu) == noscan_root, "noscan holder not found");
	check_reclaimed(before + hu, alloc_after_collect(), bytes,
			"pointers inside a reachable noscan block");
	CHECK(mgc_base(noscan_root, NULL) == noscan_root, "the noscan holder itself was freed");
	CHECK(memcmp((void *)noscan_root, copy, NDROP * sizeof *copy) == 0,
	      "the contents of the noscan holder changed");
	noscan_root = NULL;
	free(copy);
}

struct node {
	struct node *next;
	uint64_t value;
	uint64_t check;
};

static struct node *volatile list_root;

static uint64_t
node_check(const struct node *n)
{
	return check_mix(n->value ^ (uint64_t)(uintptr_t)n->next);
}

static __attribute__((noinline)) void
make_list(void)
{
	struct node *head = NULL;

	for (int i = 0; i < NLIST; i++) {
		struct node *n = mgc_alloc(sizeof *n);

		CHECK(n != NULL, "mgc_alloc of a list node failed");
		n->next = head;
		n->value = check_mix((uint64_t)i);
		n->check = node_check(n);
		head = n;
	}
	list_root = head;
}

static void
test_list(void)
{
	uint64_t sum = 0, want = 0;
	int count = 0;

	make_list();
	churn(sizeof(struct node));
	for (struct node *n = list_root; n != NULL; n = n->next, count++) {
		CHECK(count < NLIST, "the list has more than %d nodes", NLIST);
		CHECK(mgc_base(n, NULL) == n, "list node %d (%p) is not live", count, (void *)n);
		CHECK(n->check == node_check(n), "list node %d (%p) is corrupt", count, (void *)n);
		sum += n->value;
	}
	for (int i = 0; i < NLIST; i++)
		want += check_mix((uint64_t)i);
	CHECK(count == NLIST, "the list has %d nodes, want %d", count, NLIST);
	CHECK(sum == want, "the list's values sum to %#jx, want %#jx", (uintmax_t)sum,
	      (uintmax_t)want);
	list_root = NULL;
}

int
main(void)
{
	mgc_init();
	test_stack_local();
	test_globals();
	test_tls();
	test_interior();
	test_past_end();
	test_add_roots();
	test_noscan();
	test_list();
	return 0;
}
