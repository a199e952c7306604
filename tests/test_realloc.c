/* test_realloc — mgc_realloc's semantics.
 *
 * realloc(NULL, n) allocates; realloc(p, 0) frees p and returns a fresh
 * size-0 block; growing and shrinking keep the common prefix, between small
 * and large blocks in every direction.  A new size that fits the usable size
 * within the contract's bound resizes in place (same pointer, nothing
 * counted); a moved block counts one malloc and one free and the old block
 * is no longer live.  The result's usable size always respects the bound.
 * Noscan blocks behave the same.
 */
#include "check.h"

#include <mgc.h>

typedef void *(*alloc_fn)(size_t);

static unsigned char *keep[8];	/* in bss: a root */

static const size_t sizes[] = {
	1, 8, 9, 24, 100, 127, 128, 200, 1000, 4000, 4096, 20000, 33000,
	100000, 250000, 1 << 20, 3 << 20,
};

#define NSIZES (sizeof sizes / sizeof sizes[0])

static unsigned char
pattern(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131 + seed) % 251 + 1);
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(i, seed);
}

static void
verify(const unsigned char *p, size_t n, unsigned seed, const char *what)
{
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == pattern(i, seed), "%s: byte %zu of %p is %#x, want %#x", what,
		      i, (const void *)p, p[i], pattern(i, seed));
}

static size_t
usable(void *p)
{
	size_t u = 0;

	CHECK(mgc_base(p, &u) == p, "block %p is not live", p);
	return u;
}

static void
read_stats(mgc_stats *s)
{
	mgc_read_stats(s);
}

static unsigned char *
alloc_filled(alloc_fn fn, size_t size, unsigned seed)
{
	unsigned char *p = fn(size);

	CHECK(p != NULL, "allocation of %zu bytes failed", size);
	fill(p, size, seed);
	return p;
}

/* Resizes p from `from` to `to` bytes: checks the prefix, the bound, the
 * counts and that a moved block's old address is no longer live. */
static unsigned char *
resize(unsigned char *p, size_t from, size_t to, unsigned seed)
{
	mgc_stats a, b;
	size_t u_old = usable(p), u_new;
	bool fits = to <= u_old && check_ok_amount(to, u_old);
	unsigned char *q;

	keep[0] = p;
	read_stats(&a);
	q = mgc_realloc(p, to);
	read_stats(&b);
	CHECK(q != NULL, "mgc_realloc(%zu -> %zu) returned NULL", from, to);
	keep[0] = q;
	u_new = usable(q);
	CHECK(check_ok_amount(to, u_new), "realloc %zu -> %zu: usable size %zu", from, to, u_new);
	CHECK(!fits || q == p, "realloc %zu -> %zu (usable %zu) moved the block", from, to, u_old);
	verify(q, from < to ? from : to, seed, "prefix after realloc");
	if (q == p) {
		CHECK(b.mallocs == a.mallocs && b.frees == a.frees && b.total_alloc == a.total_alloc,
		      "in-place realloc %zu -> %zu counted mallocs %+lld frees %+lld", from, to,
		      (long long)(b.mallocs - a.mallocs), (long long)(b.frees - a.frees));
		CHECK(b.alloc - a.alloc == u_new - u_old, "in-place realloc: alloc %+lld, usable "
		      "%zu -> %zu", (long long)(b.alloc - a.alloc), u_old, u_new);
		return q;
	}
	CHECK(b.mallocs == a.mallocs + 1 && b.frees == a.frees + 1,
	      "moved realloc %zu -> %zu counted mallocs %+lld frees %+lld", from, to,
	      (long long)(b.mallocs - a.mallocs), (long long)(b.frees - a.frees));
	CHECK(b.alloc - a.alloc == u_new - u_old, "moved realloc: alloc %+lld, usable %zu -> %zu",
	      (long long)(b.alloc - a.alloc), u_old, u_new);
	CHECK(b.total_alloc - a.total_alloc == u_new, "moved realloc: total_alloc %+lld, new "
	      "usable %zu", (long long)(b.total_alloc - a.total_alloc), u_new);
	CHECK(mgc_base(p, NULL) == NULL, "old block %p still live after a move", (void *)p);
	return q;
}

/* Every pair of sizes, both directions, prefix kept. */
static void
test_pairs(alloc_fn fn)
{
	for (size_t i = 0; i < NSIZES; i++) {
		for (size_t j = 0; j < NSIZES; j++) {
			unsigned seed = (unsigned)(i * NSIZES + j);
			unsigned char *p = alloc_filled(fn, sizes[i], seed);

			p = resize(p, sizes[i], sizes[j], seed);
			fill(p, sizes[j], seed + 1);
			p = resize(p, sizes[j], sizes[i], seed + 1);
			mgc_free(p);
			keep[0] = NULL;
		}
	}
}

/* Sizes within the usable size and the bound stay in place. */
static void
test_in_place(alloc_fn fn)
{
	for (size_t i = 0; i < NSIZES; i++) {
		unsigned char *p = alloc_filled(fn, sizes[i], 3);
		size_t u = usable(p);

		for (size_t to = u; to > 0 && check_ok_amount(to, u); to -= to / 64 + 1) {
			CHECK(resize(p, sizes[i] < to ? sizes[i] : to, to, 3) == p,
			      "realloc to %zu within usable %zu moved", to, u);
		}
		mgc_free(p);
		keep[0] = NULL;
	}
}

/* Growing step by step from 1 byte to 2 MiB and back down. */
static void
test_steps(alloc_fn fn)
{
	size_t size = 1;
	unsigned char *p = alloc_filled(fn, size, 5);

	while (size < (2u << 20)) {
		size_t next = size + size / 3 + 1;

		p = resize(p, size, next, 5);
		fill(p, next, 5);
		size = next;
	}
	while (size > 1) {
		size_t next = size / 2;

		p = resize(p, size, next, 5);
		size = next;
	}
	mgc_free(p);
	keep[0] = NULL;
}

static void
test_null_and_zero(alloc_fn fn)
{
	mgc_stats a, b;
	unsigned char *p, *q, *r;

	read_stats(&a);
	p = mgc_realloc(NULL, 1000);
	read_stats(&b);
	CHECK(p != NULL && usable(p) >= 1000, "mgc_realloc(NULL, 1000)");
	CHECK(b.mallocs == a.mallocs + 1 && b.frees == a.frees, "realloc(NULL) counts");
	for (size_t i = 0; i < 1000; i++)
		CHECK(p[i] == 0, "realloc(NULL, 1000) byte %zu is not zero", i);
	mgc_free(p);

	/* A neighbour of the same size keeps p's memory from being reused
	 * for the size-0 block. */
	keep[3] = alloc_filled(fn, 1000, 8);
	p = alloc_filled(fn, 1000, 9);
	keep[1] = q = alloc_filled(fn, 0, 0);
	read_stats(&a);
	r = mgc_realloc(p, 0);
	read_stats(&b);
	CHECK(r != NULL, "mgc_realloc(p, 0) returned NULL");
	CHECK(r != p && r != q, "mgc_realloc(p, 0) gave %p (p %p, other %p)", (void *)r,
	      (void *)p, (void *)q);
	CHECK(mgc_base(p, NULL) == NULL, "block still live after mgc_realloc(p, 0)");
	CHECK(b.mallocs == a.mallocs + 1 && b.frees == a.frees + 1, "realloc(p, 0) counts");
	keep[2] = r;
	r = mgc_realloc(r, 0);
	CHECK(r != NULL && r != q, "mgc_realloc of a size-0 block to 0");
	mgc_free(r);
	mgc_free(q);
	mgc_free(keep[3]);
	keep[1] = keep[2] = keep[3] = NULL;
}

int
main(void)
{
	test_null_and_zero(mgc_alloc);
	test_null_and_zero(mgc_alloc_noscan);
	test_pairs(mgc_alloc);
	test_pairs(mgc_alloc_noscan);
	test_in_place(mgc_alloc);
	test_in_place(mgc_alloc_noscan);
	test_steps(mgc_alloc);
	test_steps(mgc_alloc_noscan);
	return 0;
}
