/* records.c — a live structure of records with a large numeric payload,
 * replaced steadily: the shape where a typed layout should pay, since the
 * collector may skip most of each record.
 *
 * Compiled once per backend, selected with exactly one define:
 *   -DBACKEND_MGC    mgc_alloc (build/libmgc.a -lpthread -ldl)
 *   -DBACKEND_BOEHM  GC_MALLOC (-lgc)
 * and, with -DBK_TYPED as well, records allocated typed: mgc_alloc_typed
 * or GC_malloc_explicitly_typed with the record's layout, left and right
 * the only words the collector reads.
 * Nothing is freed explicitly; the collector reclaims everything.
 *
 * A record is 15 words (120 bytes): two links and thirteen words of data
 * that are never pointers — a serial number, a 64-bit key and three 64-bit
 * samples from a xorshift generator, five doubles (a value derived from
 * the key and the running sum, mean, minimum and maximum of the values
 * held at the record's place), two counters and a check word, a hash of
 * the others.  A conservative scan reads all fifteen words and tests each
 * against the heap's range; a typed one reads the two links.
 *
 * LIVE_MIB MiB of records (by their 128-byte blocks) are built as complete
 * binary trees of depth 10 (2047 records each) whose roots are in an array
 * allocated from the collector.  Then, until REPLACED records have been
 * allocated, a step picks a tree, a depth and a path at random (xorshift,
 * fixed seed: the same steps for every backend) and replaces the subtree
 * there with new records, each made from the one it replaces (its
 * counters advanced, new random words, the statistics updated); the old
 * subtree becomes garbage, so the live size stays put and the collector
 * runs again and again.  Every record read is checked against its check
 * word first, so a record the collector freed too early and whose memory
 * was given out again stops the program.  At the end every record is
 * checked and folded, in tree order, into a checksum that depends on the
 * data only, never on an address: every backend must print the same one.
 *
 * Usage:
 *   records [LIVE_MIB [REPLACED]]   (defaults 160 and 8000000)
 *   records --which                 (backend identity, then exit)
 * Output, one line:
 *   records backend seconds peak_rss_kib max_pause_ms num_gc replaced checksum
 */
#define _GNU_SOURCE
#define BENCH_NAME "records"
#include "backend.h"

#define TREE_DEPTH       10
#define DEFAULT_LIVE_MIB 160
#define DEFAULT_REPLACED 8000000ULL
#define BLOCK            128 /* the block a record takes, for the live size */

typedef struct record {
	struct record *left;
	struct record *right;
	uint64_t serial;    /* 1, 2, ... in order of making */
	uint64_t key;       /* random */
	uint64_t sample[3]; /* random */
	double value;       /* from the key, in [0, 1000) */
	double sum;         /* of the values held at this place so far */
	double mean;
	double min;
	double max;
	uint64_t version; /* records that held this place, this one included */
	uint64_t step;    /* the step that made it; 0 while building */
	uint64_t check;   /* hash of the words from serial to step */
} record;

/* Two pointer words and thirteen that never hold one; 120 bytes, so a
 * record takes a 128-byte block conservatively and typed alike (mgc's
 * typed block adds its layout word, Boehm's its descriptor word). */
_Static_assert(BK_WORDS(record) == 15, "a record is two links and thirteen data words");

static record **roots; /* the trees, in a block from the collector */
static size_t ntrees;
static bk_layout record_layout;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t serial;
static uint64_t step;
static uint64_t made; /* records allocated since the trees were built */

/* ---- records ---------------------------------------------------------- */

static uint64_t
mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 31;
	return h;
}

static uint64_t
bits_of(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

static uint64_t
record_hash(const record *r)
{
	uint64_t h = 0x2545f4914f6cdd1dULL;

	h = mix(h, r->serial);
	h = mix(h, r->key);
	for (int i = 0; i < 3; i++)
		h = mix(h, r->sample[i]);
	h = mix(h, bits_of(r->value));
	h = mix(h, bits_of(r->sum));
	h = mix(h, bits_of(r->mean));
	h = mix(h, bits_of(r->min));
	h = mix(h, bits_of(r->max));
	h = mix(h, r->version);
	return mix(h, r->step);
}

/* A record whose check word does not match was freed and reused, or
 * damaged, by the collector: stop at once. */
static void
verify(const record *r, const char *when)
{
	if (r != NULL && record_hash(r) == r->check)
		return;
	fprintf(stderr, "records: %s: %s: a record is %s\n", BACKEND_NAME, when,
	        r == NULL ? "missing" : "damaged");
	exit(1);
}

/* Fill r's data as the successor of old at its place (NULL: the first). */
static void
fill(record *r, const record *old)
{
	r->serial = ++serial;
	r->key = xorshift64(&rng);
	for (int i = 0; i < 3; i++)
		r->sample[i] = xorshift64(&rng);
	r->value = (double)(r->key >> 11) * 0x1p-53 * 1000.0;
	r->version = old != NULL ? old->version + 1 : 1;
	r->sum = (old != NULL ? old->sum : 0.0) + r->value;
	r->mean = r->sum / (double)r->version;
	r->min = old != NULL && old->min < r->value ? old->min : r->value;
	r->max = old != NULL && old->max > r->value ? old->max : r->value;
	r->step = step;
	r->check = record_hash(r);
}

static record *
new_record(const record *old)
{
	record *r = bk_alloc_typed(sizeof *r, record_layout);

	fill(r, old);
	return r;
}

/* ---- the trees -------------------------------------------------------- */

static record *
build(int depth)
{
	record *r = new_record(NULL);

	if (depth > 0) {
		r->left = build(depth - 1);
		r->right = build(depth - 1);
	}
	return r;
}

/* A new subtree of the given depth in place of old, record for record. */
static record *
renew(const record *old, int depth)
{
	record *r;

	verify(old, "replacing");
	r = new_record(old);
	made++;
	if (depth > 0) {
		r->left = renew(old->left, depth - 1);
		r->right = renew(old->right, depth - 1);
	}
	return r;
}

/* One step: a random tree, a random depth d in it, a random path to a
 * record at depth d; the subtree there is replaced. */
static void
replace_one(void)
{
	uint64_t x = xorshift64(&rng);
	record **at = &roots[x % ntrees];
	int d = (int)((x >> 32) % (TREE_DEPTH + 1));
	uint64_t path = x >> 48;

	for (int k = 0; k < d; k++, path >>= 1) {
		verify(*at, "walking");
		at = path & 1 ? &(*at)->right : &(*at)->left;
	}
	*at = renew(*at, TREE_DEPTH - d);
}

/* Checks the subtree of r, which must be complete to the given depth, and
 * folds its records into h in pre-order. */
static uint64_t
fold(const record *r, int depth, uint64_t h)
{
	verify(r, "at the end");
	h = mix(h, r->check);
	if (depth == 0) {
		if (r->left != NULL || r->right != NULL)
			verify(NULL, "at the end (a tree too deep)");
		return h;
	}
	h = fold(r->left, depth - 1, h);
	return fold(r->right, depth - 1, h);
}

/* ---- main ------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	unsigned long long live_mib = DEFAULT_LIVE_MIB, replaced = DEFAULT_REPLACED;
	uint64_t sum = 0;
	double t0, secs;

	bk_start(argc, argv);
	record_layout = bk_layout_new(BK_PTR_BIT(record, left) | BK_PTR_BIT(record, right),
	                              BK_WORDS(record));
	if (argc > 3) {
		fprintf(stderr, "usage: records [LIVE_MIB [REPLACED]]\n       records --which\n");
		return 2;
	}
	if (argc >= 2)
		live_mib = parse_count(argv[1]);
	if (argc == 3)
		replaced = parse_count(argv[2]);
	ntrees = (size_t)(live_mib * 1048576 / (BLOCK * ((2 << TREE_DEPTH) - 1)));
	if (ntrees == 0)
		ntrees = 1;

	t0 = now_sec();
	roots = bk_alloc(ntrees * sizeof *roots);
	for (size_t t = 0; t < ntrees; t++)
		roots[t] = build(TREE_DEPTH);
	while (made < replaced) {
		step++;
		replace_one();
	}
	for (size_t t = 0; t < ntrees; t++)
		sum = fold(roots[t], TREE_DEPTH, sum);
	secs = now_sec() - t0;

	bk_print_result("records", 3, secs);
	printf(" %llu %016llx\n", (unsigned long long)made, (unsigned long long)sum);
	return 0;
}
