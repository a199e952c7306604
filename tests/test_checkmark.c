/* test_checkmark — MGC_CHECKMARK=1 catches a mark that missed a reachable
 * block.
 *
 * A test hook (mark_drop_next) makes the next collection forget one mark,
 * as a broken marker would.  Without the checkmark that block is freed
 * while reachable (shown here, so the hook is known to break the mark);
 * with it, the collection aborts before anything is swept, naming the
 * block, its size and where it was found from: another block, the data
 * and bss roots, or a thread's stack.  Each case runs in a child process.
 * A healthy heap passes the checkmark through many collections.
 */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

#include <signal.h>

struct node {
	struct node *next;
	uint64_t id, check;
};

static struct node *list;  /* in bss: a root */
static struct node *alone; /* in bss: a root to a single block */

static struct node *
build(int n)
{
	struct node *head = NULL;
	for (int i = n; i-- > 0;) {
		struct node *x = mgc_alloc(sizeof *x);
		CHECK(x != NULL, "mgc_alloc");
		x->next = head;
		x->id = (uint64_t)i;
		x->check = check_mix((uint64_t)i);
		head = x;
	}
	return head;
}

static struct node *
nth(struct node *x, int n)
{
	while (n-- > 0)
		x = x->next;
	return x;
}

/* A healthy heap: many collections under the checkmark, contents intact. */
static void
healthy(void *arg)
{
	(void)arg;
	setenv("MGC_CHECKMARK", "1", 1);
	list = build(10000);
	for (int round = 0; round < 20; round++) {
		struct node *garbage = build(5000);
		CHECK(garbage != NULL, "build");
		mgc_collect();
	}
	int n = 0;
	for (struct node *x = list; x != NULL; x = x->next, n++)
		CHECK(x->id == (uint64_t)n && x->check == check_mix(x->id) &&
		              mgc_base(x, NULL) == x,
		      "node %d damaged", n);
	CHECK(n == 10000, "list has %d nodes", n);
}

enum where { FROM_BLOCK, FROM_ROOTS, FROM_STACK };

struct drop {
	const char *checkmark;
	enum where where;
	char expect[256];
};

static NOINLINE void
drop_from_stack(void)
{
	struct node *volatile held = build(1);
	mark_drop_next((uintptr_t)held);
	mgc_collect();
	CHECK(mgc_base(held, NULL) == NULL, "the dropped block is still live");
}

static void
dropped(void *arg)
{
	const struct drop *d = arg;
	setenv("MGC_CHECKMARK", d->checkmark, 1);
	list = build(100);
	alone = build(1);
	mgc_collect();
	switch (d->where) {
	case FROM_BLOCK:
		mark_drop_next((uintptr_t)nth(list, 50));
		mgc_collect();
		/* Reached only without the checkmark: the mark really was lost. */
		CHECK(mgc_base(nth(list, 50), NULL) == NULL, "the dropped block is still live");
		break;
	case FROM_ROOTS:
		mark_drop_next((uintptr_t)alone);
		mgc_collect();
		CHECK(mgc_base(alone, NULL) == NULL, "the dropped block is still live");
		break;
	case FROM_STACK:
		drop_from_stack();
		break;
	}
	printf("no abort\n");
}

static void
expect_abort(enum where where, const char *fmt, ...)
{
	struct drop d = {"1", where, ""};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d.expect, sizeof d.expect, fmt, ap);
	va_end(ap);
	char err[4096];
	int sig = check_child(dropped, &d, err, sizeof err, NULL);
	CHECK(sig == SIGABRT, "dropped mark (case %d): no abort (signal %d): %s", where, sig, err);
	CHECK(strstr(err, "mgc: checkmark: block ") != NULL &&
	              strstr(err, "reachable but unmarked; found from ") != NULL &&
	              strstr(err, d.expect) != NULL,
	      "dropped mark (case %d): expected \"%s\" in: %s", where, d.expect, err);
}

int
main(void)
{
	char err[4096];
	int status = -1;
	int sig = check_child(healthy, NULL, err, sizeof err, &status);
	CHECK(sig == 0 && status == 0, "healthy heap under the checkmark: signal %d status %d: %s",
	      sig, status, err);

	/* Without the checkmark the hook's block is freed while reachable.  In
	 * debug builds the heap verifier's closure check sees a dropped mark
	 * inside the heap (a marked block pointing to an unmarked one), but
	 * not one whose only reference is a root. */
	for (enum where w = FROM_BLOCK; w <= FROM_STACK; w++) {
		struct drop d = {"0", w, ""};
		sig = check_child(dropped, &d, err, sizeof err, &status);
		bool verified = MGC_DEBUG && w == FROM_BLOCK && sig == SIGABRT &&
		                strstr(err, "mgc: verify: marked block") != NULL;
		CHECK(verified || (sig == 0 && status == 0),
		      "without checkmark (case %d): signal %d status %d: %s", w, sig, status, err);
	}

	/* With it, each is caught and named.  The list's node 49 is what
	 * reaches node 50; the nodes are 24 bytes, in 32-byte blocks. */
	list = NULL;
	expect_abort(FROM_BLOCK, "(size 32) reachable but unmarked; found from block 0x");
	expect_abort(FROM_ROOTS,
	             "(size 32) reachable but unmarked; found from roots (data and bss)");
	expect_abort(FROM_STACK, "(size 32) reachable but unmarked; found from stack of thread 0x");
	printf("ok\n");
	return 0;
}
