/* Mark-stack overflow recovery: with the stack unable to grow, a block
 * with more children than the stack has slots loses pushes; the collector
 * must rescan marked blocks until nothing reachable is left unmarked.
 * The rounds alternate the two scan loops (direct and pipelined), so both
 * meet the overflow and both must keep every child and leaf. */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

enum { NCHILD = 300000 };

struct child {
	uint64_t *leaf; /* reached only through its child */
	uint64_t key;
};

static struct child **table; /* one scan block with NCHILD pointers */

static void
build(void)
{
	table = mgc_alloc(NCHILD * sizeof *table);
	CHECK(table != NULL, "table");
	for (long i = 0; i < NCHILD; i++) {
		struct child *c = mgc_alloc(sizeof *c);
		CHECK(c != NULL, "child");
		c->key = check_mix((uint64_t)i);
		c->leaf = mgc_alloc(2 * sizeof *c->leaf);
		CHECK(c->leaf != NULL, "leaf");
		c->leaf[0] = c->key;
		c->leaf[1] = ~c->key;
		table[i] = c;
	}
}

/* Garbage of the leaves' size class, so a leaf freed by mistake is
 * reused and overwritten. */
static __attribute__((noinline)) void
churn(void)
{
	for (long i = 0; i < 2 * NCHILD; i++) {
		uint64_t *p = mgc_alloc(2 * sizeof *p);
		CHECK(p != NULL, "garbage");
		p[0] = p[1] = 0x5555555555555555u;
	}
}

int
main(void)
{
	mgc_init();
	mgc_set_gc_percent(-1);
	build();
	mark_set_stack_limit(1 << 16); /* what the stack starts with: no growth */
	for (int round = 0; round < 4; round++) {
		mark_set_pipeline_min(round & 1 ? 0 : UINT64_MAX);
		mgc_collect();
		churn();
	}
	mgc_collect();
	for (long i = 0; i < NCHILD; i++) {
		struct child *c = table[i];
		CHECK(mgc_base(c, NULL) == c, "child %ld was freed", i);
		CHECK(c->key == check_mix((uint64_t)i), "child %ld corrupted", i);
		CHECK(c->leaf[0] == c->key && c->leaf[1] == ~c->key, "leaf of child %ld lost", i);
	}
	return 0;
}
