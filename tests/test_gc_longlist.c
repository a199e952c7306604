/* test_gc_longlist — a very long singly linked list.
 *
 * usage: test_gc_longlist [NODES]   (default 10,000,000)
 *
 * A list of 16-byte nodes (next, value) is built by prepending, so that
 * each node points to an older one, and kept from one global root.  The
 * collector must mark it without recursing (a recursive marker overflows
 * the stack long before the end).  After several collections the list is
 * walked and every value checked; then it is dropped and at least 90% of
 * its bytes must be reclaimed.
 */
#include "check.h"

#include <mgc.h>

#define DEFAULT_NODES 10000000L
#define COLLECTIONS 2

struct node {
	struct node *next;
	uint64_t value;
};

static struct node *volatile list_head;	/* the only root */

static uint64_t
node_value(long i)
{
	return (uint64_t)i * 0x9e3779b97f4a7c15u ^ (uint64_t)i >> 7;
}

/* Builds the list; returns the bytes of its nodes. */
static __attribute__((noinline)) uint64_t
build(long n)
{
	struct node *head = NULL;
	size_t u = 0;

	for (long i = 0; i < n; i++) {
		struct node *nd = mgc_alloc(sizeof *nd);

		CHECK(nd != NULL, "allocation of node %ld failed (errno %d)", i, errno);
		nd->next = head;
		nd->value = node_value(i);
		head = nd;
	}
	list_head = head;
	CHECK(n == 0 || mgc_base(head, &u) == head, "the head is not a live block");
	return (uint64_t)n * u;
}

/* Walks the list: node k from the head holds node_value(n - 1 - k). */
static __attribute__((noinline)) void
verify(long n)
{
	uint64_t sum = 0, want = 0;
	long k = 0;

	for (const struct node *nd = list_head; nd != NULL; nd = nd->next, k++) {
		CHECK(k < n, "the list has more than %ld nodes", n);
		CHECK(nd->value == node_value(n - 1 - k), "node %ld (%p) holds %#jx, want %#jx",
		      k, (const void *)nd, (uintmax_t)nd->value, (uintmax_t)node_value(n - 1 - k));
		sum += nd->value;
	}
	for (long i = 0; i < n; i++)
		want += node_value(i);
	CHECK(k == n, "the list has %ld nodes, want %ld", k, n);
	CHECK(sum == want, "the values sum to %#jx, want %#jx", (uintmax_t)sum, (uintmax_t)want);
}


static long
parse_nodes(int argc, char **argv)
{
	char *end;
	long v;

	if (argc < 2)
		return DEFAULT_NODES;
	v = strtol(argv[1], &end, 10);
	CHECK(*argv[1] != '\0' && *end == '\0' && v >= 1 && v <= (1L << 36),
	      "usage: %s [NODES]", argv[0]);
	return v;
}

int
main(int argc, char **argv)
{
	long n = parse_nodes(argc, argv);
	uint64_t before = check_alloc_after_collect(), bytes, kept, after;

	bytes = build(n);
	for (int i = 0; i < COLLECTIONS; i++) {
		kept = check_alloc_after_collect();
		CHECK(kept >= before + bytes, "alloc is %llu with a list of %llu bytes live "
		      "(was %llu)", (unsigned long long)kept, (unsigned long long)bytes,
		      (unsigned long long)before);
	}
	verify(n);
	list_head = NULL;
	after = check_alloc_after_collect();
	CHECK(after <= before + bytes / 10, "alloc is %llu after dropping the list of %llu "
	      "bytes (was %llu before it): less than 90%% reclaimed", (unsigned long long)after,
	      (unsigned long long)bytes, (unsigned long long)before);
	return 0;
}
