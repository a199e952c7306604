/* roots — the classic mistake: mgc pointers kept only in malloc'ed memory.
 *
 * mgc scans the program's data and bss, its threads' stacks and registers
 * and its own blocks, but not memory from malloc.  A table of names from
 * malloc whose entries are mgc blocks therefore keeps none of them alive:
 * the first collection reclaims them all, and the table is left holding
 * dangling pointers.  The program never reads them to find out (that would
 * be undefined behaviour): each name has a weak handle, which mgc promises
 * reads NULL once its block is found unreachable.
 *
 * The fix is to register the table with mgc_add_roots (or to allocate it
 * with mgc_alloc).  The names then survive collections, intact; and once
 * the table is unregistered with mgc_remove_roots, before it is freed,
 * they are reclaimed again.  Exits 0 only if all three steps behave so.
 */
#include <mgc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NNAMES 8

/* The weak handles are mgc blocks too; a static array is a root, so they
 * stay alive, and a weak handle does not keep its name alive. */
static mgc_weak *handle[NNAMES];

/* A malloc'ed table of NNAMES mgc strings, each with its weak handle; with
 * roots true, registered with mgc_add_roots as soon as it exists.  NULL if
 * memory ran out.  Not inlined, so that no copy of a name's pointer is left
 * in the caller's frame to keep it alive. */
static __attribute__((noinline)) char **
names_new(int roots)
{
	char **table = malloc(NNAMES * sizeof *table);
	if (table == NULL)
		return NULL;
	if (roots)
		mgc_add_roots(table, table + NNAMES);
	for (int i = 0; i < NNAMES; i++) {
		table[i] = mgc_alloc_noscan(16);
		if (table[i] == NULL || (handle[i] = mgc_weak_new(table[i])) == NULL)
			return NULL;
		snprintf(table[i], 16, "name %d", i);
	}
	return table;
}

/* How many names are still alive after a collection, by their handles. */
static int
names_alive(void)
{
	mgc_collect();
	int alive = 0;
	for (int i = 0; i < NNAMES; i++)
		alive += mgc_weak_get(handle[i]) != NULL;
	return alive;
}

/* 1 if every name in table is alive and holds what names_new wrote. */
static int
names_intact(char **table)
{
	for (int i = 0; i < NNAMES; i++) {
		char want[16];
		snprintf(want, sizeof want, "name %d", i);
		if (mgc_weak_get(handle[i]) != table[i] || strcmp(table[i], want) != 0)
			return 0;
	}
	return 1;
}

int
main(void)
{
	char **table = names_new(0);
	if (table == NULL)
		return 1;
	int alive = names_alive();
	printf("mistake: %d names kept only in malloc'ed memory; after mgc_collect %d of them "
	       "are alive (weak handles)\n",
	       NNAMES, alive);
	int ok = alive == 0;
	free(table); /* only dangling pointers in it now */

	table = names_new(1);
	if (table == NULL)
		return 1;
	alive = names_alive();
	int intact = names_intact(table);
	printf("fix: the table given to mgc_add_roots; after mgc_collect %d of %d are alive, "
	       "%s\n",
	       alive, NNAMES, intact ? "intact" : "NOT intact");
	ok = ok && alive == NNAMES && intact;

	mgc_remove_roots(table, table + NNAMES);
	free(table);
	alive = names_alive();
	printf("done: mgc_remove_roots, then free; after mgc_collect %d of %d are alive\n", alive,
	       NNAMES);
	ok = ok && alive == 0;
	printf("%s\n", ok ? "roots: ok" : "roots: FAILED");
	return ok ? 0 : 1;
}
