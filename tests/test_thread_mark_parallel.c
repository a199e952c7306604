/* test_thread_mark_parallel — marking shared between the collecting thread
 * and mgc's helper markers (MGC_MARKERS=2, set before mgc starts).
 *
 * The live data is a checksummed binary tree, whose subtrees the markers
 * hand each other, and a table of many small leaves, whose single scan
 * fills a marker's stack deep enough that it shares from the top.  Each
 * round allocates garbage of the same sizes (a block freed by mistake is
 * reused and overwritten), collects, and checks every live block: each
 * must have been marked (it is still live) and be intact, whichever marker
 * got to it.  How many blocks the helper marked is printed for information
 * only: whether it got a CPU in time is the scheduler's business (on a
 * busy machine it may mark none) and the contract promises nothing about
 * it.  The helper is mgc's own thread, so the program's signals must never
 * run on it: it blocks them all.
 * First, in child processes, values of MGC_MARKERS outside 1..8 or not a
 * number are reported on stderr, naming the variable, and ignored.
 */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

#include <dirent.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#define DEPTH   (UNDER_TSAN ? 14 : 17)
#define NLEAVES (UNDER_TSAN ? 20000 : 100000)
#define ROUNDS  (UNDER_TSAN ? 4 : 12)

struct node {
	struct node *left, *right;
	uint64_t key, check;
};

static uint64_t next_id;

static struct node *
make_tree(int depth)
{
	struct node *n = mgc_alloc(sizeof *n);
	CHECK(n != NULL, "mgc_alloc(node)");
	n->key = check_mix(++next_id);
	n->check = ~n->key;
	if (depth > 0) {
		n->left = make_tree(depth - 1);
		n->right = make_tree(depth - 1);
	}
	return n;
}

/* Returns the number of nodes; every one must be live and intact. */
static uint64_t
check_tree(const struct node *n)
{
	CHECK(mgc_base(n, NULL) == n, "tree node %p is no longer live", (const void *)n);
	CHECK(n->check == ~n->key, "tree node %p corrupted", (const void *)n);
	if (n->left == NULL)
		return 1;
	return 1 + check_tree(n->left) + check_tree(n->right);
}

static __attribute__((noinline)) void
churn(uint64_t nodes)
{
	for (uint64_t i = 0; i < nodes; i++) {
		struct node *g = mgc_alloc(sizeof *g);
		CHECK(g != NULL, "mgc_alloc(garbage)");
		memset(g, 0x5a, sizeof *g);
		uint64_t *leaf = mgc_alloc(2 * sizeof *leaf);
		CHECK(leaf != NULL, "mgc_alloc(garbage leaf)");
		leaf[0] = leaf[1] = 0xa5a5a5a5a5a5a5a5u;
	}
}

/* The blocked-signal mask of thread tid, from /proc. */
static uint64_t
blocked_mask(const char *tid)
{
	char path[320], line[256];
	uint64_t mask = 0;
	bool found = false;

	snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL, "open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "SigBlk: %" SCNx64, &mask) == 1)
			found = true;
	fclose(f);
	CHECK(found, "no SigBlk line in %s", path);
	return mask;
}

/* Every thread but this one is mgc's helper (or a sanitizer's): each must block the
 * program's usual signals.  Returns how many there are. */
static int
check_helpers_block_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGALRM, SIGCHLD};
	char self[32];
	int n = 0;

	snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL, "opendir /proc/self/task: %s", strerror(errno));
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
			continue;
		uint64_t mask = blocked_mask(e->d_name);
		for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
			CHECK(mask >> (sigs[k] - 1) & 1,
			      "thread %s does not block signal %d (mask %#" PRIx64 ")", e->d_name,
			      sigs[k], mask);
		n++;
	}
	closedir(d);
	return n;
}

static unsigned
cpu_markers(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 1)
		return 1;
	return CPU_COUNT(&set) > 8 ? 8 : (unsigned)CPU_COUNT(&set);
}

/* In a child: MGC_MARKERS=arg, then the markers mgc settled on in the
 * exit status. */
static void
markers_child(void *arg)
{
	CHECK(setenv("MGC_MARKERS", arg, 1) == 0, "setenv");
	mgc_init();
	_exit((int)knobs.markers);
}

static void
check_bad_markers(void)
{
	static const char *const bad[] = {"0", "9", "-1", "two", "2x", ""};
	char err[512];
	int status;

	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		int sig = check_child(markers_child, (void *)bad[k], err, sizeof err, &status);
		CHECK(sig == 0, "MGC_MARKERS=\"%s\": the child died of signal %d", bad[k], sig);
		CHECK((unsigned)status == cpu_markers(),
		      "MGC_MARKERS=\"%s\" gave %d markers, want %u", bad[k], status, cpu_markers());
		CHECK(strstr(err, "MGC_MARKERS") != NULL,
		      "MGC_MARKERS=\"%s\": no message naming it (stderr \"%s\")", bad[k], err);
	}
	int sig = check_child(markers_child, (void *)"3", err, sizeof err, &status);
	CHECK(sig == 0 && status == 3 && err[0] == '\0',
	      "MGC_MARKERS=3 gave %d markers (signal %d, stderr \"%s\")", status, sig, err);
}

int
main(void)
{
	check_bad_markers();
	CHECK(setenv("MGC_MARKERS", "2", 1) == 0, "setenv");
	mgc_init();
	CHECK(knobs.markers == 2, "MGC_MARKERS=2 gave %u markers", knobs.markers);
	mgc_set_gc_percent(-1);

	static struct node *tree;
	static uint64_t **leaves;
	tree = make_tree(DEPTH);
	uint64_t nodes = next_id;
	leaves = mgc_alloc(NLEAVES * sizeof *leaves);
	CHECK(leaves != NULL, "mgc_alloc(table)");
	for (long i = 0; i < NLEAVES; i++) {
		leaves[i] = mgc_alloc(2 * sizeof **leaves);
		CHECK(leaves[i] != NULL, "mgc_alloc(leaf)");
		leaves[i][0] = check_mix((uint64_t)i);
		leaves[i][1] = ~leaves[i][0];
	}

	uint64_t helped = 0;
	for (int r = 0; r < ROUNDS; r++) {
		churn(nodes / 2);
		mgc_collect();
		helped += mark_helper_blocks();
		CHECK(check_tree(tree) == nodes, "round %d: the tree lost nodes", r);
		for (long i = 0; i < NLEAVES; i++) {
			CHECK(mgc_base(leaves[i], NULL) == leaves[i], "round %d: leaf %ld freed", r,
			      i);
			CHECK(leaves[i][0] == check_mix((uint64_t)i) &&
			              leaves[i][1] == ~leaves[i][0],
			      "round %d: leaf %ld corrupted", r, i);
		}
	}

	CHECK(check_helpers_block_signals() >= 1, "no helper thread");

	printf("helper marked %llu blocks over %d collections\n", (unsigned long long)helped,
	       ROUNDS);
	return 0;
}
