/* hello — the plain API: allocate, drop, collect, read the statistics.
 *
 * Allocates a million small blocks and keeps one in a thousand on a list;
 * after mgc_collect the dropped ones are reclaimed and the kept ones are
 * intact.  Exits 0 only if that holds.
 */
#include <mgc.h>
#include <stdio.h>

struct node {
	struct node *next;
	long value;
};

int
main(void)
{
	struct node *kept = NULL;
	for (long i = 0; i < 1000000; i++) {
		struct node *n = mgc_alloc(sizeof *n); /* zeroed, never freed */
		if (n == NULL)
			return 1;
		n->value = i;
		if (i % 1000 == 0) {
			n->next = kept;
			kept = n;
		}
	}
	mgc_collect();
	long count = 0, sum = 0;
	for (struct node *n = kept; n != NULL; n = n->next) {
		count++;
		sum += n->value;
	}
	mgc_stats st;
	mgc_read_stats(&st);
	printf("kept %ld nodes, sum %ld\n", count, sum);
	printf("%llu collections, %llu blocks allocated, %llu freed\n",
	       (unsigned long long)st.num_gc, (unsigned long long)st.mallocs,
	       (unsigned long long)st.frees);
	printf("live after collect: %.1f KiB\n", st.alloc / 1024.0);
	int ok = count == 1000 && sum == 499500000L && st.num_gc >= 1 && st.frees >= 900000;
	printf("%s\n", ok ? "hello: ok" : "hello: FAILED");
	return ok ? 0 : 1;
}
