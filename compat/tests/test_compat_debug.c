/* test_compat_debug — Boehm's debug allocation and leak finding through
 * <gc.h> built with GC_DEBUG: the GC_MALLOC family records file and line,
 * GC_FREE and GC_REALLOC take its blocks, a write past a block's end is
 * reported by the next collection in Boehm's words ("GC_check_heap_block:
 * found 1 smashed heap objects:" and the object's site), and with
 * GC_set_find_leak(1) a lost block is reported ("Found N leaked objects:"
 * and its site) and not reclaimed, while blocks still referenced or freed
 * are not reported; GC_REGISTER_FINALIZER on a debug block calls the
 * finalizer with the block's pointer.  Each report is read from a
 * child's stderr. */
#include "check.h"

#define GC_DEBUG
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc_mark.h>

enum { NLOST = 20 };

static int alloc_line;        /* of the last allocation made by the functions below */
static uintptr_t lost[NLOST]; /* hidden: complemented */
static void *kept;

static void
debug_blocks(void)
{
	char *p = GC_MALLOC(40);
	CHECK(p != NULL && (uintptr_t)p % 16 == 0, "GC_MALLOC under GC_DEBUG: aligned block");
	memset(p, 'a', 40);
	p = GC_REALLOC(p, 400);
	CHECK(p != NULL && p[0] == 'a' && p[39] == 'a', "GC_REALLOC kept the contents");
	GC_FREE(p);
	char *s = GC_STRDUP("debug");
	CHECK(s != NULL && strcmp(s, "debug") == 0, "GC_STRDUP");
	GC_FREE(s);
	void *u = GC_MALLOC_UNCOLLECTABLE(24);
	CHECK(u != NULL, "GC_MALLOC_UNCOLLECTABLE under GC_DEBUG");
	GC_FREE(u);
}

static char *
alloc40(void)
{
	char *p = GC_MALLOC(40);
	alloc_line = __LINE__ - 1;
	return p;
}

static void *finalized; /* hidden: complemented */

static void GC_CALLBACK
note_finalized(void *obj, void *cd)
{
	CHECK(cd == &finalized, "the finalizer's client data");
	finalized = (void *)~(uintptr_t)obj;
}

static __attribute__((noinline)) uintptr_t
finalizable(void)
{
	char *p = GC_MALLOC(32);
	GC_REGISTER_FINALIZER(p, note_finalized, &finalized, NULL, NULL);
	CHECK(GC_USR_PTR_FROM_BASE(GC_base(p)) == p && GC_get_debug_header_size() > 0,
	      "GC_USR_PTR_FROM_BASE of a debug block's base is its pointer");
	return ~(uintptr_t)p;
}

/* GC_REGISTER_FINALIZER under GC_DEBUG, on a debug block: the finalizer
 * runs once the block is unreachable, with the pointer GC_MALLOC gave. */
static void
debug_finalizer(void)
{
	uintptr_t hidden = finalizable();
	for (int i = 0; i < 50 && finalized == NULL; i++) {
		check_clear_stack();
		GC_gcollect();
		GC_invoke_finalizers();
	}
	CHECK(finalized != NULL && (uintptr_t)finalized == hidden,
	      "the debug finalizer ran with the block's pointer");
}

static void
smash(void *arg)
{
	(void)arg;
	char *volatile p = alloc40();
	p[41] = 1;
	GC_gcollect();
	GC_gcollect(); /* reported once */
	fprintf(stderr, "keep %p\n", (void *)p);
}

static __attribute__((noinline)) void
lose_blocks(void)
{
	for (int i = 0; i < NLOST; i++) {
		char *b = GC_MALLOC(24);
		alloc_line = __LINE__ - 1;
		memset(b, 'x', 24);
		lost[i] = ~(uintptr_t)b;
	}
	kept = GC_MALLOC(24);
	void *freed = GC_MALLOC(24);
	GC_FREE(freed);
}

static __attribute__((noinline)) void
clear_stack(void)
{
	check_clear_stack();
}

static void
leaks(void *arg)
{
	(void)arg;
	GC_set_find_leak(1);
	CHECK(GC_get_find_leak() == 1, "GC_get_find_leak");
	lose_blocks();
	clear_stack();
	GC_gcollect();
	GC_gcollect(); /* nothing new */
	for (int i = 0; i < NLOST; i++) {
		const char *b = (const char *)~lost[i];
		for (int k = 0; k < 24; k++)
			CHECK(b[k] == 'x', "a leaked block was reclaimed");
	}
	fprintf(stderr, "kept %p\n", kept);
}

static size_t
occurrences(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

int
main(void)
{
	static char err[1 << 16];
	char want[256];
	int status = -1;

	GC_INIT();
	debug_blocks();
	debug_finalizer();

	/* The lines the children will report (a child's variables stay its own). */
	GC_FREE(alloc40());
	int smash_line = alloc_line;
	lose_blocks();
	int lost_line = alloc_line;

	CHECK(check_child(smash, NULL, err, sizeof err, &status) == 0 && status == 0,
	      "smash child failed: %s", err);
	CHECK(occurrences(err, "GC_check_heap_block: found 1 smashed heap objects:\n") == 1,
	      "one smash report: %s", err);
	snprintf(want, sizeof want, "(%s:%d, sz= 40)", __FILE__, smash_line);
	CHECK(strstr(err, want) != NULL, "the smash report names %s: %s", want, err);

	CHECK(check_child(leaks, NULL, err, sizeof err, &status) == 0 && status == 0,
	      "leak child failed: %s", err);
	CHECK(occurrences(err, "Found ") >= 1 && strstr(err, " leaked objects:\n") != NULL,
	      "a leak report: %s", err);
	snprintf(want, sizeof want, "(%s:%d, sz= 24, NORMAL)", __FILE__, lost_line);
	size_t n = occurrences(err, want);
	/* the child lost its NLOST blocks and the ones lose_blocks made above */
	CHECK(n >= 2 * NLOST - 2 && n <= 2 * NLOST, "%zu of %d lost blocks reported: %s", n,
	      2 * NLOST, err);
	/* the referenced block's address, printed last, is in no report line */
	const char *k = strstr(err, "kept 0x");
	CHECK(k != NULL, "child printed its kept block");
	char line[64];
	snprintf(line, sizeof line, "%.*s (", (int)strcspn(k + 5, "\n"), k + 5);
	CHECK(strstr(err, line) == NULL, "a referenced block was reported: %s", line);
	printf("test_compat_debug: ok\n");
	return 0;
}
