/* weak — weak references: a handle that does not keep its block alive.
 *
 * One target is kept in a local, another is dropped.  After a collection
 * the dropped target's handle reads NULL while the kept one's still gives
 * back the block, with its contents intact.  Exits 0 only if both hold.
 */
#include <mgc.h>
#include <stdio.h>
#include <string.h>

struct thing {
	char name[32];
};

static __attribute__((noinline)) mgc_weak *
weak_to_new(const char *name, struct thing **keep)
{
	struct thing *t = mgc_alloc(sizeof *t);
	if (t == NULL)
		return NULL;
	strcpy(t->name, name);
	if (keep != NULL)
		*keep = t;
	return mgc_weak_new(t);
}

int
main(void)
{
	struct thing *kept = NULL;
	mgc_weak *wk = weak_to_new("kept", &kept);
	mgc_weak *wd = weak_to_new("dropped", NULL);
	if (wk == NULL || wd == NULL)
		return 1;
	int dropped_gone = 0;
	for (int round = 0; round < 5 && !dropped_gone; round++) {
		mgc_collect();
		dropped_gone = mgc_weak_get(wd) == NULL;
	}
	struct thing *k = mgc_weak_get(wk);
	int kept_ok = k == kept && k != NULL && strcmp(k->name, "kept") == 0;
	printf("dropped target: handle reads %s\n", dropped_gone ? "NULL" : "non-NULL");
	printf("kept target: handle reads %s\n", kept_ok ? k->name : "(wrong)");
	int ok = dropped_gone && kept_ok;
	printf("%s\n", ok ? "weak: ok" : "weak: FAILED");
	return ok ? 0 : 1;
}
