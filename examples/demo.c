/* demo — what mgc does, in one screen.
 *
 * Builds and drops binary trees (garbage the collector must find), keeps a
 * list of strings alive across collections (noscan blocks reached from scan
 * blocks), then prints the collector's figures.  Run with MGC_TRACE=1 to see
 * one line per collection.
 */
#include <mgc.h>
#include <stdio.h>
#include <string.h>

struct tree {
	struct tree *left, *right;
};

struct note {
	struct note *next;
	char *text; /* a noscan block */
};

static struct tree *
build(int depth)
{
	struct tree *t = mgc_alloc(sizeof *t);
	if (depth > 0) {
		t->left = build(depth - 1);
		t->right = build(depth - 1);
	}
	return t;
}

static long
count(const struct tree *t)
{
	return t == NULL ? 0 : 1 + count(t->left) + count(t->right);
}

static struct note *
remember(struct note *list, int i)
{
	struct note *n = mgc_alloc(sizeof *n);
	n->text = mgc_alloc_noscan(32);
	snprintf(n->text, 32, "note %d", i);
	n->next = list;
	return n;
}

int
main(void)
{
	struct note *notes = NULL;
	long nodes = 0;
	for (int round = 0; round < 40; round++) {
		nodes += count(build(16)); /* 131071 nodes, dropped at once */
		notes = remember(notes, round);
	}
	mgc_collect();
	int kept = 0;
	for (struct note *n = notes; n != NULL; n = n->next)
		kept += strncmp(n->text, "note ", 5) == 0;
	mgc_stats st;
	mgc_read_stats(&st);
	printf("built %ld tree nodes; %d of 40 notes intact\n", nodes, kept);
	printf("collections: %llu, pause total %.1f ms, max %.2f ms\n",
	       (unsigned long long)st.num_gc, st.pause_total_ns / 1e6, st.pause_max_ns / 1e6);
	printf("blocks: %llu allocated, %llu freed; live now %.1f KiB; from the OS %.1f MiB\n",
	       (unsigned long long)st.mallocs, (unsigned long long)st.frees, st.alloc / 1024.0,
	       st.sys / 1048576.0);
	return kept == 40 ? 0 : 1;
}
