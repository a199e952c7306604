/* threads — four threads allocating at once, with collections under them.
 *
 * Each thread builds lists of 20000 nodes, checks each list's checksum
 * (collections stopped it and scanned its stack meanwhile), drops it and
 * starts again; one thread also calls mgc_collect itself.  The main thread
 * joins them all.  Exits 0 only if every checksum held.
 */
#include <mgc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define NTHREADS 4
#define ROUNDS 20
#define LEN 20000

struct node {
	struct node *next;
	uint64_t value;
};

static void *
worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg, bad = 0;
	for (int r = 0; r < ROUNDS; r++) {
		struct node *list = NULL;
		uint64_t want = 0, got = 0;
		for (uint64_t i = 0; i < LEN; i++) {
			struct node *n = mgc_alloc(sizeof *n);
			if (n == NULL)
				return (void *)(uintptr_t)1;
			n->value = i * 2654435761u + id;
			want += n->value;
			n->next = list;
			list = n;
		}
		if (id == 0 && r % 5 == 0)
			mgc_collect();
		for (struct node *n = list; n != NULL; n = n->next)
			got += n->value;
		bad += got != want;
	}
	return (void *)bad;
}

int
main(void)
{
	pthread_t th[NTHREADS];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
			return 1;
	uintptr_t bad = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *res;
		pthread_join(th[i], &res);
		bad += (uintptr_t)res;
	}
	mgc_stats st;
	mgc_read_stats(&st);
	printf("%d threads x %d lists of %d nodes\n", NTHREADS, ROUNDS, LEN);
	printf("%llu collections, %llu blocks freed\n", (unsigned long long)st.num_gc,
	       (unsigned long long)st.frees);
	printf("%s (%lu bad checksums)\n", bad == 0 ? "threads: ok" : "threads: FAILED",
	       (unsigned long)bad);
	return bad == 0 && st.num_gc > 0 ? 0 : 1;
}
