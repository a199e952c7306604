/* test_mallocrand — the seed's mallocrand: random sizes, allocated and freed
 * through a table of one slot, so allocations and frees alternate.  A size
 * is a 31-bit random number shifted right by 11 to 30 bits (0 to 1 MiB).
 * Every block is filled with 0xbb; the footprint (sys) must stay under 1e9.
 *
 * usage: test_mallocrand [-v] [SEED]
 */
#include "check.h"

#include <mgc.h>

#define ITERATIONS (1 << 10)
#define NBLOCKS 1

struct block {
	unsigned char *base;
	size_t size;
};

static struct block blocks[NBLOCKS];	/* in bss: a root */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t footprint;
static uint64_t allocated;
static bool chatty;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static uint32_t
rand31(void)
{
	return (uint32_t)(rng_next() >> 33);
}

static uint32_t
rand32(void)
{
	return (uint32_t)(rng_next() >> 32);
}

/* The seed's bigger(): track the footprint, fail past 1e9 bytes. */
static void
bigger(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	if (footprint >= s.sys)
		return;
	footprint = s.sys;
	if (chatty)
		printf("footprint %llu for %llu\n", (unsigned long long)footprint,
		       (unsigned long long)allocated);
	CHECK(footprint <= 1000000000u, "footprint %llu too big",
	      (unsigned long long)footprint);
}

static void
check_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == 0, "new block %p of %zu bytes: byte %zu is %#x", (void *)p,
		      n, i, p[i]);
}

static void
free_block(struct block *b)
{
	mgc_free(b->base);
	b->base = NULL;
	allocated -= b->size;
}

static void
alloc_block(struct block *b)
{
	size_t siz = (size_t)(rand31() >> (11 + rand32() % 20));
	unsigned char *base = mgc_alloc(siz);
	size_t usable = 0;

	CHECK(base != NULL, "mgc_alloc(%zu) returned NULL (errno %d)", siz, errno);
	CHECK(mgc_base(base, &usable) == base, "mgc_base of new block %p", (void *)base);
	CHECK(check_ok_amount(siz, usable), "usable %zu for %zu bytes", usable, siz);
	if (siz > 0)
		CHECK(mgc_base(base + siz / 2, NULL) == base, "mgc_base(%p + %zu)",
		      (void *)base, siz / 2);
	check_zero(base, siz);
	b->base = base;
	b->size = siz;
	allocated += siz;
	memset(base, 0xbb, siz);
	bigger();
}

int
main(int argc, char **argv)
{
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-v") == 0)
			chatty = true;
		else
			rng_state = strtoull(argv[a], NULL, 0) | 1;
	}
	for (int i = 0; i < ITERATIONS; i++) {
		struct block *b = &blocks[rand31() % NBLOCKS];

		if (b->base != NULL)
			free_block(b);
		else
			alloc_block(b);
	}
	for (int i = 0; i < NBLOCKS; i++)
		if (blocks[i].base != NULL)
			free_block(&blocks[i]);
	return 0;
}
