/* test_dead_unswept — a block the last collection found unreachable is
 * dead to every mgc call before its span is swept.
 *
 * After an automatic collection the sweep is lazy: a dead block keeps its
 * BLOCK_LIVE state byte until its span is swept.  The blocks here are
 * hidden (their addresses xor-ed, so nothing reaches them), an automatic
 * collection finds them dead, and before their spans are swept (checked
 * through the span's sweep generation, so the window is known to be the
 * one under test): mgc_base gives NULL, mgc_weak_new, mgc_set_finalizer and
 * mgc_add_cleanup fail with EINVAL, and mgc_free and mgc_realloc abort (in
 * child processes) naming the reason.  A block kept reachable beside them
 * answers as live throughout.
 */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

#include <signal.h>

enum { NHIDDEN = 4000, BLOCK = 48, MASK = 0x5a5a5a5a };

static uintptr_t hidden[NHIDDEN]; /* addresses xor MASK: not roots */
static void *kept;                /* in bss: a root */

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

static NOINLINE void
make_hidden(void)
{
	for (int i = 0; i < NHIDDEN; i++) {
		uint64_t *b = mgc_alloc(BLOCK);
		CHECK(b != NULL, "mgc_alloc");
		b[0] = (uint64_t)i;
		hidden[i] = (uintptr_t)b ^ MASK;
	}
	kept = mgc_alloc(BLOCK);
	CHECK(kept != NULL, "mgc_alloc");
}

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

/* A hidden block the last mark found dead (a stale word may still reach
 * one or two) whose span the lazy sweep has not reached, or -1. */
static int
find_unswept(void)
{
	uint32_t sg = atomic_load(&heap_sweepgen);
	for (int i = 0; i < NHIDDEN; i++) {
		struct span *s = pagemap_lookup((uintptr_t)unhide(i));
		uint32_t k = span_block_index(s, (uintptr_t)unhide(i));
		if (atomic_load(&s->sweepgen) == sg - 2 &&
		    atomic_load(&s->state[k]) == BLOCK_LIVE && !(s->mark[k >> 6] >> (k & 63) & 1))
			return i;
	}
	return -1;
}

/* A block found dead by an automatic collection, its span not swept yet. */
static void *
dead_block(void)
{
	make_hidden();
	check_clear_stack();
	until_collected();
	int i = find_unswept();
	CHECK(i >= 0, "every hidden block was swept already: the window is not under test");
	return unhide(i);
}

/* In a child (fork finishes the sweep, so the child makes its own window):
 * free or realloc a dead unswept block; prints its address first. */
static void
misuse(void *arg)
{
	void *dead = dead_block();
	fprintf(stderr, "block %p\n", dead);
	if (arg != NULL)
		mgc_realloc(dead, 2 * BLOCK);
	else
		mgc_free(dead);
}

static void
expect_abort(bool realloc, const char *call)
{
	char err[1024], want[128];
	void *p = NULL;
	int sig = check_child(misuse, realloc ? "realloc" : NULL, err, sizeof err, NULL);
	CHECK(sscanf(err, "block %p", &p) == 1, "%s: no block: %s", call, err);
	snprintf(want, sizeof want,
	         "mgc: %s of %p: block is not allocated: the last collection found it "
	         "unreachable",
	         call, p);
	CHECK(sig == SIGABRT && strstr(err, want) != NULL,
	      "%s of a dead unswept block: signal %d, stderr: %s (want \"%s\")", call, sig, err,
	      want);
}

static void
nop_cleanup(void *arg)
{
	(void)arg;
}

static void
nop_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
}

int
main(void)
{
	mgc_set_min_heap(1 << 20);
	expect_abort(false, "free");
	expect_abort(true, "realloc");

	void *dead = dead_block();
	CHECK(mgc_base(dead, NULL) == NULL, "mgc_base of a dead unswept block: %p",
	      mgc_base(dead, NULL));
	CHECK(mgc_base((char *)dead + 8, NULL) == NULL, "mgc_base of its interior");
	errno = 0;
	CHECK(mgc_weak_new(dead) == NULL && errno == EINVAL, "mgc_weak_new: errno %d", errno);
	errno = 0;
	CHECK(mgc_set_finalizer(dead, nop_finalizer, NULL) == -1 && errno == EINVAL,
	      "mgc_set_finalizer: errno %d", errno);
	errno = 0;
	CHECK(mgc_add_cleanup(dead, nop_cleanup, NULL) == -1 && errno == EINVAL,
	      "mgc_add_cleanup: errno %d", errno);
	size_t size = 0;
	CHECK(mgc_base(kept, &size) == kept && size >= BLOCK, "the kept block is not live");
	int i = find_unswept();
	CHECK(i >= 0 && unhide(i) == dead, "the window closed during the test");
	printf("ok: dead before their sweep\n");
	return 0;
}
