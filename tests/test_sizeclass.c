/* Size-class tables: the generator's invariants, checked from outside. */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

static void
test_tables(void)
{
	CHECK(sizeclass_check(), "sizeclass_check reports an inconsistency");
	CHECK(num_classes > 30 && num_classes <= MAX_CLASSES, "num_classes %d", num_classes);
	CHECK(class_size[1] == 8 && class_size[num_classes - 1] == MAX_SMALL,
	      "classes run from %u to %u", class_size[1], class_size[num_classes - 1]);
	for (int c = 1; c < num_classes; c++) {
		uint32_t span = class_npages[c] * PAGE_SIZE;
		CHECK(class_nelems[c] == span / class_size[c], "class %d nelems", c);
		CHECK(span - class_nelems[c] * class_size[c] <= span / 8,
		      "class %d (%u B) wastes more than 1/8 of its %u-byte span", c, class_size[c],
		      span);
		CHECK(class_size[c] <= 8 || class_size[c] % 16 == 0, "class %d not 16-aligned", c);
		CHECK(class_batch[c] >= 4, "class %d batch %u", c, class_batch[c]);
	}
}

/* Every request maps to the smallest class that holds it, within the bound. */
static void
test_lookup(void)
{
	for (size_t size = 1; size <= MAX_SMALL; size++) {
		unsigned c = sizeclass_of(size);
		CHECK(class_size[c] >= size, "size %zu -> class %u (%u B)", size, c, class_size[c]);
		CHECK(check_ok_amount(size, class_size[c]), "size %zu rounded to %u", size,
		      class_size[c]);
		CHECK(c == 1 || class_size[c - 1] < size, "size %zu: class %u not the smallest", size,
		      c);
	}
}

/* The multiply-shift index agrees with division at every byte of a span. */
static void
test_index(void)
{
	for (int c = 1; c < num_classes; c++) {
		struct span s = {.base = 0, .divmul = class_divmul[c]};
		uint32_t span = class_npages[c] * PAGE_SIZE;
		for (uint32_t off = 0; off < span; off++)
			CHECK(span_block_index(&s, off) == off / class_size[c], "class %d offset %u", c,
			      off);
	}
}

int
main(void)
{
	mgc_init();
	test_tables();
	test_lookup();
	test_index();
	return 0;
}
