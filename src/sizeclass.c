/* sizeclass.c — the size-class tables, generated at start-up, and their
 * self-check.
 *
 * Requests up to MAX_SMALL (32 KiB) are rounded up to a class; larger ones
 * get a span of their own (alloc_large).  The classes follow the seed's rule
 * on waste: below 128 bytes they step by 16 (8 and 16 first), so a block
 * exceeds its request by at most 16 bytes; from 128 bytes up each class is at
 * most 9/8 of (the previous class + 1), so no request is rounded up by more
 * than 12.5%.  Classes from 128 bytes up are multiples of a power of two no
 * larger than an eighth of the class, which keeps them 16-byte aligned and
 * lets the lookup tables below index sizes by 8 (up to 1 KiB) and by 128.
 *
 * Each class's span is the smallest number of pages whose tail (the bytes
 * left after the last whole block) is at most an eighth of the span, with at
 * most MAX_BLOCKS_PER_SPAN blocks so side maps stay small.
 *
 * Written once by sizeclass_init (under the init once-guard), read-only after.
 */
#include "internal.h"

uint32_t class_size[MAX_CLASSES];
uint8_t class_npages[MAX_CLASSES];
uint16_t class_nelems[MAX_CLASSES];
uint32_t class_divmul[MAX_CLASSES];
uint16_t class_batch[MAX_CLASSES];
int num_classes;
uint8_t class_small_index[MAX_SMALL / 8 + 1];
uint8_t class_large_index[MAX_SMALL / 128 + 1];

/* The class after `prev`: as large as the 12.5% rule allows. */
static uint32_t
next_class_size(uint32_t prev)
{
	if (prev < 16)
		return 16;
	if (prev < 128)
		return prev + 16;
	uint32_t align = 16;
	while (align * 2 * 8 <= prev)
		align *= 2;
	uint32_t next = (prev + 1) * 9 / 8 / align * align;
	return next > prev ? next : prev + align;
}

static uint8_t
pages_for_class(uint32_t size)
{
	for (uint32_t np = 1;; np++) {
		uint32_t bytes = np * PAGE_SIZE;
		if (bytes / size > MAX_BLOCKS_PER_SPAN)
			continue;
		if (bytes >= size && bytes % size <= bytes / 8)
			return (uint8_t)np;
	}
}

static void
fill_class(int c, uint32_t size)
{
	class_size[c] = size;
	class_npages[c] = pages_for_class(size);
	class_nelems[c] = (uint16_t)(class_npages[c] * PAGE_SIZE / size);
	class_divmul[c] = (uint32_t)(((uint64_t)1 << 32) / size + 1);
	uint32_t batch = (64 << 10) / size;
	class_batch[c] = (uint16_t)(batch < 4 ? 4 : batch > 128 ? 128 : batch);
}

static void
fill_index(void)
{
	int c = 1;
	for (uint32_t i = 0; i <= MAX_SMALL / 8; i++) {
		while (class_size[c] < i * 8)
			c++;
		class_small_index[i] = (uint8_t)c;
	}
	c = 1;
	for (uint32_t i = 0; i <= MAX_SMALL / 128; i++) {
		while (class_size[c] < i * 128)
			c++;
		class_large_index[i] = (uint8_t)c;
	}
}

void
sizeclass_init(void)
{
	int c = 1;
	for (uint32_t size = 8; size <= MAX_SMALL; size = next_class_size(size)) {
		if (c >= MAX_CLASSES)
			fatal("mgc: internal error: too many size classes");
		fill_class(c++, size);
	}
	if (class_size[c - 1] != MAX_SMALL)
		fill_class(c++, MAX_SMALL);
	num_classes = c;
	fill_index();
	if (MGC_DEBUG && !sizeclass_check())
		fatal("mgc: internal error: size-class tables inconsistent");
}

/* True when the usable size n is allowed for a request of size. */
static bool
waste_ok(size_t size, size_t n)
{
	if (n < size)
		return false;
	return size < 128 ? n - size <= 16 : n * 8 <= size * 9;
}

static bool
class_ok(int c)
{
	uint32_t size = class_size[c];
	uint32_t bytes = class_npages[c] * PAGE_SIZE;
	if (size <= class_size[c - 1] || (size > 8 && size % 16 != 0))
		return false;
	if (class_nelems[c] * size > bytes || bytes - class_nelems[c] * size > bytes / 8)
		return false;
	if (class_nelems[c] > MAX_BLOCKS_PER_SPAN || (uint64_t)bytes * size >= (1ull << 32))
		return false;
	for (uint32_t off = 0; off < bytes; off += 8) /* the multiply gives the index */
		if (((uint64_t)off * class_divmul[c]) >> 32 != off / size)
			return false;
	return true;
}

/* mgc_alloc_aligned's premise: a request that is a multiple of a power of
 * two up to a page gets a class that is a multiple of it. */
static bool
aligned_ok(void)
{
	for (size_t align = 16; align <= MAX_SMALL; align *= 2) {
		size_t a = align < PAGE_SIZE ? align : PAGE_SIZE;
		for (size_t size = align; size <= MAX_SMALL; size += align)
			if (class_size[sizeclass_of(size)] % a != 0)
				return false;
	}
	return true;
}

bool
sizeclass_check(void)
{
	if (!aligned_ok())
		return false;
	for (int c = 1; c < num_classes; c++)
		if (!class_ok(c))
			return false;
	for (size_t size = 0; size <= MAX_SMALL; size++) {
		unsigned c = sizeclass_of(size);
		if (c == 0 || (int)c >= num_classes || !waste_ok(size ? size : 1, class_size[c]))
			return false;
		if (c > 1 && class_size[c - 1] >= size)
			return false; /* not the smallest class that fits */
	}
	return true;
}
