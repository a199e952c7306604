/* test_compat_disclaim — gc_disclaim.h and the mark bits through
 * libmgc-gc.so: GC_register_disclaim_proc (a proc that keeps some objects,
 * with and without mark_unconditionally), GC_init_finalized_malloc and
 * GC_finalized_malloc (the closure called once on the intact object, the
 * object and what it reaches alive meanwhile, GC_base and GC_size, interior
 * pointers off), GC_is_marked inside a disclaim proc, and GC_set_mark_bit
 * and GC_clear_mark_bit between collections: a weak map in the manner of
 * Boehm's disclaim_weakmap_test, whose objects are found by hidden
 * pointers and brought back, checked by threads while collections run.
 *
 * Objects under test are reached only through hidden pointers; of those
 * that must go, a tenth may linger (stale stack words).
 */
#include "check.h"

#define GC_THREADS
#include <gc.h>
#include <gc_disclaim.h>
#include <gc_mark.h>
#include <pthread.h>
#include "settle.h"

#define N     200
#define MAGIC 0x5eedf00du

struct obj {
	GC_word magic;
	GC_word id;
	struct obj *next;
};

/* ---- a disclaim procedure on a new kind ------------------------------------ */

static int kind;
static GC_word hidden[N];
static atomic_int asked[N], bad;
static bool keep[N];

static int GC_CALLBACK
disclaim(void *p)
{
	struct obj *o = p;
	if (o->magic != MAGIC || o->id >= N || GC_base(o) != o || GC_is_marked(o)) {
		atomic_fetch_add(&bad, 1);
		return 0;
	}
	if (o->next != NULL && o->next->magic != MAGIC)
		atomic_fetch_add(&bad, 1); /* what a dying object reaches is intact */
	atomic_fetch_add(&asked[o->id], 1);
	return keep[o->id];
}

static __attribute__((noinline)) void
make_objects(struct obj *next)
{
	for (int i = 0; i < N; i++) {
		struct obj *o = GC_generic_malloc(sizeof *o, kind);
		CHECK(o != NULL, "GC_generic_malloc");
		*o = (struct obj){MAGIC, (GC_word)i, next};
		hidden[i] = GC_HIDE_POINTER(o);
	}
}

static int
count_asked(void)
{
	int n = 0;
	for (int i = 0; i < N; i++)
		n += atomic_load(&asked[i]) > 0;
	return n;
}

static void
reset_asked(void)
{
	for (int i = 0; i < N; i++)
		atomic_store(&asked[i], 0);
}

static void
check_disclaim_proc(void)
{
	kind = (int)GC_new_kind(GC_new_free_list(), GC_DS_LENGTH, 1, 1); /* whole object */
	GC_register_disclaim_proc(kind, disclaim, 0);
	for (int i = 0; i < N; i++)
		keep[i] = i % 2 == 0;
	make_objects(NULL);
	settle(1, false);
	CHECK(count_asked() >= N - N / 10, "asked about %d of %d", count_asked(), N);
	for (int i = 0; i < N; i++) {
		void *o = GC_REVEAL_POINTER(hidden[i]);
		if (atomic_load(&asked[i]) == 1)
			CHECK((GC_base(o) == o) == keep[i], "object %d: kept %d, live %d", i,
			      keep[i], GC_base(o) == o);
	}
	/* Kept ones are asked again at the next collection. */
	int first[N];
	for (int i = 0; i < N; i++)
		first[i] = atomic_load(&asked[i]);
	reset_asked();
	memset(keep, 0, sizeof keep);
	settle(1, false);
	int again = 0;
	for (int i = 0; i < N; i += 2)
		again += atomic_load(&asked[i]) == 1;
	CHECK(again >= N / 2 - N / 10, "kept objects asked again: %d", again);
	for (int i = 1; i < N; i += 2)
		CHECK(atomic_load(&asked[i]) == 0 || first[i] == 0, "object %d asked after it went",
		      i);
	CHECK(atomic_load(&bad) == 0, "%d calls saw a broken object", atomic_load(&bad));
}

/* With mark_unconditionally, what a dying object points to outlives it. */
static __attribute__((noinline)) void
make_chain(void)
{
	struct obj *tail = GC_malloc_atomic(sizeof *tail);
	CHECK(tail != NULL, "tail");
	*tail = (struct obj){MAGIC, N, NULL};
	hidden[0] = GC_HIDE_POINTER(tail);
	struct obj *o = GC_generic_malloc(sizeof *o, kind);
	*o = (struct obj){MAGIC, 1, tail};
	hidden[1] = GC_HIDE_POINTER(o);
}

static void
check_mark_unconditionally(void)
{
	GC_register_disclaim_proc(kind, disclaim, 1);
	static void *link;
	reset_asked();
	make_chain();
	link = GC_REVEAL_POINTER(hidden[0]);
	CHECK(GC_general_register_disappearing_link(&link, link) == GC_SUCCESS, "link");
	link = (void *)hidden[0];
	settle(1, false);
	CHECK(atomic_load(&asked[1]) == 1 && link != NULL, "asked %d; the tail outlived it: %d",
	      atomic_load(&asked[1]), link != NULL);
	settle(2, false);
	CHECK(link == NULL, "the tail went with the object that reached it");
	CHECK(atomic_load(&bad) == 0, "%d calls saw a broken object", atomic_load(&bad));
}

/* ---- finalized allocation ---------------------------------------------------- */

struct cell {
	GC_word magic;
	struct cell *next; /* reached while the finalizer runs */
	GC_word id;
};

static atomic_int finalized[N], fin_bad;

static void GC_CALLBACK
cell_final(void *obj, void *cd)
{
	struct cell *c = obj;
	if (c->magic != MAGIC || c->id >= N || cd != (void *)(c->id * 2 + 1) ||
	    GC_base(c) != (GC_word *)c - 1 || (c->next != NULL && c->next->magic != MAGIC))
		atomic_fetch_add(&fin_bad, 1);
	else
		atomic_fetch_add(&finalized[c->id], 1);
	c->magic = 0; /* as a destructor would */
}

static __attribute__((noinline)) void
make_cells(void)
{
	struct cell *prev = NULL;
	for (int i = 0; i < N; i++) {
		struct GC_finalizer_closure *fc = GC_malloc_atomic(sizeof *fc);
		fc->proc = cell_final;
		fc->cd = (void *)(GC_word)(i * 2 + 1);
		struct cell *c = GC_finalized_malloc(sizeof *c, fc);
		CHECK(c != NULL, "GC_finalized_malloc");
		CHECK(GC_base(c) == (GC_word *)c - 1 && GC_size(GC_base(c)) >= sizeof *c + 8,
		      "GC_base a word below, GC_size %zu", GC_size(GC_base(c)));
		*c = (struct cell){MAGIC, prev, (GC_word)i};
		prev = i % 10 == 9 ? NULL : c;
		hidden[i] = GC_HIDE_POINTER(fc);
	}
}

static void
check_finalized_malloc(void)
{
	GC_init_finalized_malloc();
	GC_init_finalized_malloc();      /* twice is fine */
	GC_set_all_interior_pointers(0); /* pointers to cells are one word in */
	struct cell *kept = NULL;
	make_cells();
	kept = GC_finalized_malloc(sizeof *kept, GC_REVEAL_POINTER(hidden[0]));
	*kept = (struct cell){MAGIC, NULL, 0};
	for (int round = 0; round < 20; round++) {
		int done = 0;
		for (int i = 0; i < N; i++)
			done += atomic_load(&finalized[i]) > 0;
		if (done >= N - N / 10)
			break;
		settle(1, false);
	}
	int done = 0;
	for (int i = 0; i < N; i++) {
		CHECK(atomic_load(&finalized[i]) <= 1, "cell %d finalized %d times", i,
		      atomic_load(&finalized[i]));
		done += atomic_load(&finalized[i]);
	}
	CHECK(done >= N - N / 10, "%d of %d cells finalized", done, N);
	CHECK(atomic_load(&fin_bad) == 0, "%d finalizers saw a broken cell", atomic_load(&fin_bad));
	CHECK(kept->magic == MAGIC && GC_base(kept) == (GC_word *)kept - 1,
	      "a reachable cell (an interior pointer on the stack) is kept");
	GC_set_all_interior_pointers(1);
}

/* ---- mark bits: a weak map ------------------------------------------------------ */

#define BUCKETS 64
#define THREADS 3

struct entry {
	GC_word hidden;
	struct entry *next;
};

static pthread_mutex_t bucket_lock[BUCKETS];
static struct entry **table; /* in the heap, reached from here */
static int weak_kind;
static atomic_long added, found, removed, skipped, revived, map_bad;

static unsigned
bucket_of(GC_word key)
{
	return (unsigned)((key * 0x9e3779b97f4a7c15u) >> 58);
}

/* An object: header word (the key, with bit 0 set), then the key again
 * and a checksum.  The disclaim proc gets the base, as Boehm's. */
static int GC_CALLBACK
weak_disclaim(void *base)
{
	GC_word *w = base;
	if (!(w[0] & 1))
		return 0;
	GC_word key = w[0] >> 1;
	unsigned b = bucket_of(key);
	if (pthread_mutex_trylock(&bucket_lock[b]) != 0) {
		atomic_fetch_add(&skipped, 1);
		return 1;
	}
	if (GC_is_marked(base)) { /* brought back: mgc asks only about unmarked ones */
		atomic_fetch_add(&map_bad, 1);
		pthread_mutex_unlock(&bucket_lock[b]);
		return 1;
	}
	struct entry **e = &table[b];
	while (*e != NULL && (*e)->hidden != GC_HIDE_POINTER(base))
		e = &(*e)->next;
	if (*e == NULL)
		atomic_fetch_add(&map_bad, 1);
	else
		*e = (*e)->next;
	w[0] = 0;
	pthread_mutex_unlock(&bucket_lock[b]);
	atomic_fetch_add(&removed, 1);
	return 0;
}

static void *GC_CALLBACK
set_mark(void *p)
{
	if (!GC_is_marked(p))
		atomic_fetch_add(&revived, 1);
	GC_set_mark_bit(p);
	return NULL;
}

/* The object for key: the one in the map (brought back if the last
 * collection found it unreachable), or a new one. */
static GC_word *
intern(GC_word key)
{
	unsigned b = bucket_of(key);
	pthread_mutex_lock(&bucket_lock[b]);
	for (struct entry *e = table[b]; e != NULL; e = e->next) {
		GC_word *w = GC_REVEAL_POINTER(e->hidden);
		if (w[1] == key) {
			GC_call_with_alloc_lock(set_mark, w);
			pthread_mutex_unlock(&bucket_lock[b]);
			atomic_fetch_add(&found, 1);
			return w;
		}
	}
	GC_word *w = GC_generic_malloc(3 * sizeof(GC_word), weak_kind);
	struct entry *e = GC_malloc(sizeof *e);
	CHECK(w != NULL && e != NULL, "alloc");
	w[0] = key << 1 | 1;
	w[1] = key;
	w[2] = key * 7 + 3;
	e->hidden = GC_HIDE_POINTER(w);
	e->next = table[b];
	table[b] = e;
	pthread_mutex_unlock(&bucket_lock[b]);
	atomic_fetch_add(&added, 1);
	return w;
}

static void
check_interned(const GC_word *w, GC_word key)
{
	CHECK(GC_base((void *)w) == w && w[0] == (key << 1 | 1) && w[1] == key &&
	              w[2] == key * 7 + 3,
	      "object for key %lu broken", (unsigned long)key);
}

static void *
map_thread(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
	GC_word *held[32] = {0};
	GC_word keys[32] = {0};
	for (int i = 0; i < 100000; i++) {
		CHECK(GC_malloc(48) != NULL, "garbage"); /* automatic collections: lazy sweeps */
		int k = (int)(check_rng_next(&rng) % 32);
		keys[k] = check_rng_next(&rng) % 2000;
		held[k] = intern(keys[k]);
		check_interned(held[k], keys[k]);
		int j = (int)(check_rng_next(&rng) % 32);
		if (held[j] != NULL) {
			check_interned(held[j], keys[j]);
			CHECK(intern(keys[j]) == held[j], "a held object was replaced");
		}
	}
	return NULL;
}

static void
check_mark_bits(void)
{
	CHECK(GC_is_marked(GC_malloc(16)) == 1, "a new object survives the sweep: marked");
	for (int i = 0; i < BUCKETS; i++)
		pthread_mutex_init(&bucket_lock[i], NULL);
	table = GC_malloc(BUCKETS * sizeof *table);
	weak_kind = (int)GC_new_kind(GC_new_free_list(), GC_DS_LENGTH, 1, 1);
	GC_register_disclaim_proc(weak_kind, weak_disclaim, 1);
	pthread_t t[THREADS];
	for (intptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, map_thread, (void *)i) == 0, "thread");
	for (int i = 0; i < 10; i++)
		GC_gcollect();
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	GC_gcollect();
	CHECK(atomic_load(&map_bad) == 0, "%ld inconsistencies", atomic_load(&map_bad));
	CHECK(atomic_load(&removed) > 0 && atomic_load(&found) > 0,
	      "added %ld found %ld removed %ld", atomic_load(&added), atomic_load(&found),
	      atomic_load(&removed));
	printf("weak map: added %ld, found %ld (%ld brought back), removed %ld, skipped %ld\n",
	       atomic_load(&added), atomic_load(&found), atomic_load(&revived),
	       atomic_load(&removed), atomic_load(&skipped));
	/* Every object left in the map is whole. */
	for (int b = 0; b < BUCKETS; b++)
		for (struct entry *e = table[b]; e != NULL; e = e->next) {
			GC_word *w = GC_REVEAL_POINTER(e->hidden);
			GC_call_with_alloc_lock(set_mark, w);
			check_interned(w, w[1]);
		}
	/* After a full collection every block is swept: clearing a live
	 * object's mark changes nothing (the next collection decides), and a
	 * non-object is never marked. */
	void **p = GC_malloc(16);
	GC_clear_mark_bit(p);
	CHECK(GC_is_marked(p) == 1 && GC_base(p) == p, "cleared after the sweep: no effect");
	GC_set_mark_bit(&bad);
	CHECK(GC_is_marked(&bad) == 0, "not an object: not marked");
}

int
main(void)
{
	GC_INIT();
	check_disclaim_proc();
	check_mark_unconditionally();
	check_finalized_malloc();
	check_mark_bits();
	printf("test_compat_disclaim: ok\n");
	return 0;
}
