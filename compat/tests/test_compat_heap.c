/* test_compat_heap — Boehm's heap-sizing calls through <gc.h>.
 *
 * GC_INITIAL_HEAP_SIZE (read at the first allocation, checked in a copy of
 * this program run with it set) and GC_expand_hp grow the heap the pacer
 * fills before collecting: 16 MiB of garbage under a 64 MiB initial heap,
 * or after GC_expand_hp(64 MiB), start no collection.  GC_set_max_heap_size
 * is a hard limit: allocation past it collects, then fails with the oom
 * function called (it returns NULL here), and the heap stays usable once
 * blocks are dropped.  GC_gcollect_and_unmap and, with
 * GC_set_force_unmap_on_gcollect(1), GC_gcollect hand free memory back
 * (GC_get_unmapped_bytes grows).
 *
 * usage: test_compat_heap [initial]
 */
#include "check.h"

#include <gc.h>
#include <sys/wait.h>

#define MiB ((size_t)1 << 20)

static atomic_int oom_calls;
static void **kept; /* a GC block, reached from this global */
static size_t nkept;

static void *GC_CALLBACK
count_oom(size_t size)
{
	(void)size;
	atomic_fetch_add(&oom_calls, 1);
	return NULL;
}

static void
garbage(size_t bytes)
{
	for (size_t done = 0; done < bytes; done += 4096)
		CHECK(GC_malloc(4096) != NULL, "garbage allocation failed");
}

/* Run with GC_INITIAL_HEAP_SIZE=64m: no collection within 16 MiB. */
static int
initial_child(void)
{
	GC_INIT();
	garbage(16 * MiB);
	CHECK(GC_get_gc_no() == 0, "%lu collections under GC_INITIAL_HEAP_SIZE=64m",
	      (unsigned long)GC_get_gc_no());
	return 0;
}

static void
check_initial(const char *self)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = {(char *)self, "initial", NULL};
		setenv("GC_INITIAL_HEAP_SIZE", "64m", 1);
		execv(self, argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the GC_INITIAL_HEAP_SIZE child failed (status %#x)", status);
}

static void
check_expand(void)
{
	GC_gcollect();
	CHECK(GC_expand_hp(64 * MiB), "GC_expand_hp returned 0");
	GC_word n = GC_get_gc_no();
	garbage(16 * MiB);
	CHECK(GC_get_gc_no() == n, "%lu collections within 16 MiB after GC_expand_hp(64 MiB)",
	      (unsigned long)(GC_get_gc_no() - n));
}

static void
check_max(void)
{
	size_t cap = 512;

	GC_set_oom_fn(count_oom);
	GC_set_max_heap_size(128 * MiB);
	kept = GC_malloc(cap * sizeof *kept);
	CHECK(kept != NULL, "table allocation failed");
	GC_word n = GC_get_gc_no();
	for (nkept = 0; nkept < cap; nkept++) {
		void *p = GC_malloc_atomic(MiB);
		if (p == NULL)
			break;
		memset(p, (int)nkept, MiB);
		kept[nkept] = p;
	}
	CHECK(nkept < cap, "512 MiB allocated under GC_set_max_heap_size(128 MiB)");
	CHECK(nkept >= 32, "failed after only %zu MiB", nkept);
	CHECK(atomic_load(&oom_calls) > 0, "the oom function was not called");
	CHECK(GC_get_gc_no() > n, "no collection before the allocation failed");
	for (size_t i = 0; i < nkept; i++)
		CHECK(((unsigned char *)kept[i])[MiB - 1] == (unsigned char)i, "block %zu changed",
		      i);
	for (size_t i = 0; i < nkept; i += 2)
		kept[i] = NULL;
	for (size_t i = 0; i < nkept / 4; i++)
		CHECK(GC_malloc_atomic(MiB) != NULL, "allocation %zu after dropping half failed", i);
	kept = NULL;
	GC_set_max_heap_size(0);
}

/* 64 blocks of 1 MiB, reached only from kept; not inlined, so that no
 * register of the caller still holds one afterwards. */
static __attribute__((noinline)) void
fill64(void)
{
	kept = GC_malloc(64 * sizeof *kept);
	CHECK(kept != NULL, "table allocation failed");
	for (int i = 0; i < 64; i++)
		kept[i] = GC_malloc_atomic(MiB);
}

/* collect (named what) hands back at least 32 of 64 MiB just dropped. */
static void
check_releases(void (*collect)(void), const char *what)
{
	fill64();
	collect();
	size_t before = GC_get_unmapped_bytes();
	kept = NULL;
	check_clear_stack();
	collect();
	CHECK(GC_get_unmapped_bytes() >= before + 32 * MiB,
	      "%s released %zu bytes after dropping 64 MiB", what,
	      GC_get_unmapped_bytes() - before);
}

static void
check_unmap(void)
{
	check_releases(GC_gcollect_and_unmap, "GC_gcollect_and_unmap");
	GC_set_force_unmap_on_gcollect(1);
	CHECK(GC_get_force_unmap_on_gcollect() == 1, "force_unmap not reflected");
	check_releases(GC_gcollect, "GC_gcollect with force_unmap");
	GC_set_force_unmap_on_gcollect(0);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "initial") == 0)
		return initial_child();
	GC_INIT();
	check_initial(argv[0]);
	check_expand();
	check_max();
	check_unmap();
	printf("test_compat_heap: initial heap, expand, maximum and unmap as in Boehm\n");
	return 0;
}
