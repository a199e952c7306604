/* test_badfree — misuse of mgc_free and mgc_realloc aborts.
 *
 * Freeing (or reallocating) a pointer that is not the start of a live block
 * — an interior pointer, a stack, malloc or global address, a block already
 * freed — must print "mgc: free of <ptr>: <why>" (resp. "mgc: realloc of
 * <ptr>: <why>"), the pointer as %p prints it, on stderr and die by SIGABRT.
 * Each case runs in a child process.  mgc_free(NULL) does nothing.
 */
#include "check.h"

#include <errno.h>

#include <signal.h>

#include <mgc.h>

enum op { OP_FREE, OP_FREE_TWICE, OP_REALLOC, OP_FREE_THEN_REALLOC };

struct misuse {
	const char *what;
	enum op op;
	void *ptr;
};

static int global_int;
static void *keep[4];	/* in bss: keeps the blocks under test reachable */

static void
do_misuse(void *arg)
{
	const struct misuse *m = arg;

	switch (m->op) {
	case OP_FREE:
		mgc_free(m->ptr);
		break;
	case OP_FREE_TWICE:
		mgc_free(m->ptr);
		mgc_free(m->ptr);
		break;
	case OP_REALLOC:
		mgc_realloc(m->ptr, 100);
		break;
	case OP_FREE_THEN_REALLOC:
		mgc_free(m->ptr);
		mgc_realloc(m->ptr, 100);
		break;
	}
}

static const char *
verb(enum op op)
{
	return op == OP_REALLOC || op == OP_FREE_THEN_REALLOC ? "realloc" : "free";
}

static void
expect_abort(const struct misuse *m)
{
	char err[4096], want[128];
	int status = -1;
	int sig = check_child(do_misuse, (void *)m, err, sizeof err, &status);

	snprintf(want, sizeof want, "mgc: %s of %p: ", verb(m->op), m->ptr);
	CHECK(sig == SIGABRT, "%s: child ended by signal %d, exit status %d, want SIGABRT; "
	      "stderr: %s", m->what, sig, status, err);
	CHECK(strstr(err, want) != NULL, "%s: stderr lacks \"%s\": %s", m->what, want, err);
}

static void
run_case(const char *what, enum op op, void *ptr)
{
	struct misuse m = { what, op, ptr };

	expect_abort(&m);
}

static void
test_blocks(void)
{
	char *small = mgc_alloc(64);
	char *large = mgc_alloc(200000);
	char *noscan = mgc_alloc_noscan(48);

	CHECK(small != NULL && large != NULL && noscan != NULL, "allocation failed");
	keep[0] = small;
	keep[1] = large;
	keep[2] = noscan;
	run_case("free of an interior pointer", OP_FREE, small + 16);
	run_case("free of an unaligned interior pointer", OP_FREE, small + 1);
	run_case("free of a large block's interior", OP_FREE, large + 4096);
	run_case("free of a noscan block's interior", OP_FREE, noscan + 8);
	run_case("double free", OP_FREE_TWICE, small);
	run_case("double free of a large block", OP_FREE_TWICE, large);
	run_case("realloc of an interior pointer", OP_REALLOC, small + 16);
	run_case("realloc of a large block's interior", OP_REALLOC, large + 100);
	run_case("realloc of a freed block", OP_FREE_THEN_REALLOC, small);
	run_case("realloc of a freed large block", OP_FREE_THEN_REALLOC, large);
}

static void
test_foreign(void)
{
	int local = 0;
	char *m = malloc(64);

	CHECK(m != NULL, "malloc failed");
	run_case("free of a stack address", OP_FREE, &local);
	run_case("free of a global", OP_FREE, &global_int);
	run_case("free of a malloc block", OP_FREE, m);
	run_case("realloc of a stack address", OP_REALLOC, &local);
	run_case("realloc of a global", OP_REALLOC, &global_int);
	run_case("realloc of a malloc block", OP_REALLOC, m);
	free(m);
}

/* The parent's blocks are untouched by the children's misuse. */
static void
test_parent_intact(void)
{
	for (int i = 0; i < 3; i++)
		CHECK(mgc_base(keep[i], NULL) == keep[i], "block %p no longer live", keep[i]);
	for (int i = 0; i < 3; i++)
		mgc_free(keep[i]);
}

/* mgc_try_free: the same checks, answered with EINVAL instead of an abort,
 * for a small block, a large one and pointers that are no block start. */
static void
test_try_free(void)
{
	int local;
	CHECK(mgc_try_free(NULL) == 0, "mgc_try_free(NULL)");
	for (size_t size = 48; size <= 100000; size += 99952) {
		char *p = mgc_alloc(size);
		errno = 0;
		CHECK(mgc_try_free(p + 8) == -1 && errno == EINVAL, "interior pointer (%zu)", size);
		CHECK(mgc_base(p, NULL) == p, "left alone (%zu)", size);
		CHECK(mgc_try_free(p) == 0 && mgc_base(p, NULL) == NULL, "freed (%zu)", size);
		errno = 0;
		CHECK(mgc_try_free(p) == -1 && errno == EINVAL, "double free (%zu)", size);
	}
	errno = 0;
	CHECK(mgc_try_free(&local) == -1 && errno == EINVAL, "foreign pointer");
}

int
main(void)
{
	mgc_stats before, after;

	mgc_read_stats(&before);
	mgc_free(NULL);
	mgc_read_stats(&after);
	CHECK(after.frees == before.frees, "mgc_free(NULL) counted a free");
	test_blocks();
	test_foreign();
	test_parent_intact();
	test_try_free();
	return 0;
}
