/* debug.c — the GC_debug_* allocation calls: the plain calls, without
 * Boehm's debug headers (the file and line arguments are ignored).
 */
#include "compat.h"

#define DEBUG_ALLOC(name)                                                                          \
	void *GC_CALL GC_debug_##name(size_t size, GC_EXTRA_PARAMS)                                \
	{                                                                                          \
		(void)s;                                                                           \
		(void)i;                                                                           \
		return GC_##name(size);                                                            \
	}

DEBUG_ALLOC(malloc)
DEBUG_ALLOC(malloc_atomic)
DEBUG_ALLOC(malloc_uncollectable)
DEBUG_ALLOC(malloc_atomic_uncollectable)
DEBUG_ALLOC(malloc_ignore_off_page)
DEBUG_ALLOC(malloc_atomic_ignore_off_page)

char *GC_CALL
GC_debug_strdup(const char *str, GC_EXTRA_PARAMS)
{
	(void)s;
	(void)i;
	return GC_strdup(str);
}

char *GC_CALL
GC_debug_strndup(const char *str, size_t n, GC_EXTRA_PARAMS)
{
	(void)s;
	(void)i;
	return GC_strndup(str, n);
}

void *GC_CALL
GC_debug_realloc(void *p, size_t size, GC_EXTRA_PARAMS)
{
	(void)s;
	(void)i;
	return GC_realloc(p, size);
}

void GC_CALL
GC_debug_free(void *p)
{
	GC_free(p);
}

void *GC_CALL
GC_debug_malloc_replacement(size_t size)
{
	return GC_malloc(size);
}

void *GC_CALL
GC_debug_realloc_replacement(void *p, size_t size)
{
	return GC_realloc(p, size);
}
