/* test_scavenge — memory goes back to the OS in the background.
 *
 * The program builds L bytes of live blocks (1 GiB; 256 MiB in debug
 * builds) of sizes from 32 bytes to 4 KiB in a list, keeps the first
 * 10 MiB of it and drops the rest, allocates a little (32 MiB of
 * short-lived blocks) and then calls nothing of mgc.  Within 20 seconds
 * (about 2 on an idle machine) its RSS must fall under 100 MiB: mgc's scavenger collects the idle
 * program once and returns the free pages.  The kept blocks keep their
 * contents.
 *
 * usage: test_scavenge [LIVE_MIB]
 */
#include "memory.h"

#include <time.h>

struct node {
	struct node *next;
	uint64_t id, words;
	uint64_t data[];
};

static struct node *head; /* a root */

static struct node *
build(uint64_t live, struct node **cut, uint64_t keep)
{
	uint64_t rng = 42, total = 0;
	struct node *first = NULL, **link = &first;

	*cut = NULL;
	for (uint64_t id = 0; total < live; id++) {
		uint64_t words = 2 + check_rng_next(&rng) % 508;
		struct node *n = mgc_alloc(sizeof *n + words * 8);
		CHECK(n != NULL, "allocation failed at %llu MiB",
		      (unsigned long long)(total >> 20));
		n->id = id;
		n->words = words;
		check_fill(n->data, words, id);
		*link = n;
		link = &n->next;
		total += sizeof *n + words * 8;
		if (*cut == NULL && total >= keep)
			*cut = n;
	}
	return first;
}

static void
check_kept(void)
{
	uint64_t id = 0;

	for (struct node *n = head; n != NULL; n = n->next, id++) {
		CHECK(n->id == id, "node %llu has id %llu", (unsigned long long)id,
		      (unsigned long long)n->id);
		CHECK_PATTERN(n->data, n->words, id, "kept node");
	}
}

/* 32 MiB of short-lived blocks from a cleared stack; true if a
 * collection ran meanwhile. */
static __attribute__((noinline)) bool
allocate_garbage(void)
{
	mgc_stats before, after;
	check_clear_stack();
	mgc_read_stats(&before);
	for (uint64_t g = 0; g < MIB(32); g += 128) {
		void *volatile junk = mgc_alloc(128);
		CHECK(junk != NULL, "garbage allocation failed");
	}
	mgc_read_stats(&after);
	return after.num_gc != before.num_gc;
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	uint64_t live = MIB(
	        check_arg(argc, argv, "[LIVE_MIB]", 1, MGC_DEBUG_BUILD ? 256 : 1024, 128, 1 << 16));
	struct node *cut;

	head = build(live, &cut, MIB(10));
	uint64_t peak = memory_status("VmRSS");
	CHECK(peak >= live, "RSS %llu MiB below the %llu MiB built",
	      (unsigned long long)(peak >> 20), (unsigned long long)(live >> 20));
	cut->next = NULL;
	cut = NULL;
	/* The scavenger collects an idle program that allocated at least
	 * live/64 since the last collection: if an automatic one ran while the
	 * garbage was allocated (possibly seeing a stale copy of the dropped
	 * list on the stack), allocate the garbage again after it. */
	for (int round = 0; round < 4 && allocate_garbage(); round++)
		;
	check_clear_stack();

	double t0 = seconds(), waited = 0;
	uint64_t rss = memory_status("VmRSS");
	/* About 2 s on an idle machine; 20 allowed, for a CI machine loaded
	 * with the other tests (one such run took over 10). */
	while (rss >= MIB(100) && waited < 20) {
		struct timespec tick = {0, 50 * 1000 * 1000};
		nanosleep(&tick, NULL); /* polling the kernel's figure, not synchronising */
		rss = memory_status("VmRSS");
		waited = seconds() - t0;
	}
	CHECK(rss < MIB(100), "RSS still %llu MiB %.1f s after dropping %llu of %llu MiB",
	      (unsigned long long)(rss >> 20), waited, (unsigned long long)((live - MIB(10)) >> 20),
	      (unsigned long long)(live >> 20));
	check_kept();
	printf("test_scavenge: RSS %llu -> %llu MiB, %.1f s after the drop\n",
	       (unsigned long long)(peak >> 20), (unsigned long long)(rss >> 20), waited);
	return 0;
}
