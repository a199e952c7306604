/* test_aligned — mgc_alloc_aligned and mgc_good_size through the public
 * header: every power-of-two alignment up to a page, over small, medium and
 * large sizes, gives an aligned, zeroed block start that every other call
 * accepts; bad alignments fail with EINVAL; mgc_good_size predicts the
 * usable size mgc_alloc gives. */
#include "check.h"

#include <mgc.h>

static const size_t sizes[] = {0,    1,    7,    8,     9,     16,    17,    100,   255,   1000,
                               4096, 5000, 8192, 12000, 32768, 32769, 40000, 70000, 200000};

static void
check_one(size_t size, size_t align)
{
	unsigned char *p = mgc_alloc_aligned(size, align);
	size_t usable = 0;
	CHECK(p != NULL, "mgc_alloc_aligned(%zu, %zu) failed", size, align);
	CHECK((uintptr_t)p % align == 0, "mgc_alloc_aligned(%zu, %zu) = %p", size, align,
	      (void *)p);
	CHECK(mgc_base(p + (size ? size - 1 : 0), &usable) == p,
	      "mgc_alloc_aligned(%zu, %zu): not a block start", size, align);
	CHECK(usable >= size && usable >= align, "mgc_alloc_aligned(%zu, %zu): usable %zu", size,
	      align, usable);
	for (size_t i = 0; i < usable; i++)
		CHECK(p[i] == 0, "mgc_alloc_aligned(%zu, %zu): byte %zu not zero", size, align, i);
	memset(p, 0xa5, usable);
	p = mgc_realloc(p, size + 10);
	CHECK(p != NULL, "mgc_realloc of an aligned block failed");
	mgc_free(p);
}

static void
check_alignments(void)
{
	for (size_t align = 1; align <= 8192; align *= 2)
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
			check_one(sizes[i], align);
}

static void
check_errors(void)
{
	const size_t bad[] = {0, 3, 24, 16384, (size_t)1 << 40};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		CHECK(mgc_alloc_aligned(10, bad[i]) == NULL && errno == EINVAL,
		      "mgc_alloc_aligned(10, %zu) did not fail with EINVAL", bad[i]);
	}
	errno = 0;
	CHECK(mgc_alloc_aligned(SIZE_MAX / 2, 64) == NULL && errno == ENOMEM,
	      "a huge aligned request did not fail with ENOMEM");
}

static void
check_good_size(void)
{
	for (size_t size = 0; size <= 70000; size += size < 2048 ? 1 : 97) {
		void *p = mgc_alloc(size);
		size_t usable = 0;
		CHECK(p != NULL && mgc_base(p, &usable) == p, "mgc_alloc(%zu) failed", size);
		CHECK(mgc_good_size(size) == usable, "mgc_good_size(%zu) = %zu, mgc_alloc gave %zu",
		      size, mgc_good_size(size), usable);
		CHECK(check_ok_amount(size, usable), "mgc_good_size(%zu) = %zu: too much", size,
		      usable);
		mgc_free(p);
	}
	CHECK(mgc_good_size(SIZE_MAX) == 0, "mgc_good_size(SIZE_MAX) is not 0");
}

int
main(void)
{
	check_alignments();
	check_errors();
	check_good_size();
	mgc_collect();
	printf("test_aligned: ok\n");
	return 0;
}
