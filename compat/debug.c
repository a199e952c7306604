/* debug.c — Boehm's debug allocation (GC_debug_*, finalizers aside: fin.c)
 * and leak finding
 * (GC_set_find_leak, GC_FIND_LEAK) on mgc's own (mgc_debug_alloc,
 * mgc_set_find_leaks): every GC_debug_* block records its file and line and
 * carries guard words, each collection checks the guards, and in leak mode
 * reports the blocks the program lost instead of reclaiming them.  The
 * reports are printed in Boehm's words, so that a program's leak report
 * reads the same on either collector:
 *     Found 2 leaked objects:
 *     0x... (leak.c:12, sz= 4, NORMAL)
 *     GC_check_heap_block: found 1 smashed heap objects:
 *     0x... in or near object at 0x... (smash.c:26, sz= 40)
 * A leaked object of a kind with a description function
 * (GC_register_describe_type_fn, kinds.c) is named by what it writes.
 */
#include "compat.h"

#include <gc_mark.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
kind_name(int kind)
{
	switch (kind) {
	case MGC_KIND_NORMAL:
		return "NORMAL";
	case MGC_KIND_NOSCAN:
		return "ATOMIC";
	case MGC_KIND_UNCOLLECTABLE:
		return "UNCOLLECTABLE";
	case MGC_KIND_UNCOLLECTABLE_NOSCAN:
		return "ATOMIC_UNCOLLECTABLE";
	default:
		return "kind";
	}
}

/* What a report names the object's type: the description of its kind's
 * GC_register_describe_type_fn function if it has one, else the kind. */
static const char *
type_of(const mgc_report *r, char buf[GC_TYPE_DESCR_LEN + 1])
{
	const char *d = compat_describe_type(compat_boehm_kind(r->kind), r->p, buf);
	return d != NULL ? d : kind_name(r->kind);
}

static void
report(const mgc_report *r, size_t n, void *arg)
{
	char buf[GC_TYPE_DESCR_LEN + 1];
	(void)arg;
	if (r[0].what == MGC_REPORT_LEAK) {
		fprintf(stderr, "Found %zu leaked objects:\n", n);
		for (size_t i = 0; i < n; i++)
			if (r[i].file != NULL)
				fprintf(stderr, "%p (%s:%d, sz= %zu, %s)\n", r[i].p, r[i].file,
				        r[i].line, r[i].size, type_of(&r[i], buf));
			else
				fprintf(stderr, "%p (sz= %zu, %s)\n", r[i].p, r[i].size,
				        type_of(&r[i], buf));
	} else {
		fprintf(stderr, "GC_check_heap_block: found %zu smashed heap objects:\n", n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%p in or near object at %p (%s:%d, sz= %zu)\n",
			        r[i].smashed, r[i].p, r[i].file ? r[i].file : "unknown", r[i].line,
			        r[i].size);
	}
}

/* Once, at the first allocation or GC_init: Boehm's reports, and leak
 * mode if the program set GC_find_leak before it, or GC_FIND_LEAK is set. */
void
compat_debug_init(void)
{
	mgc_set_report_callback(report, NULL);
	if (GC_find_leak || getenv("GC_FIND_LEAK") != NULL) {
		GC_find_leak = 1;
		mgc_set_find_leaks(1);
	}
}

void GC_CALL
GC_set_find_leak(int on)
{
	GC_find_leak = on;
	mgc_set_find_leaks(on);
}

int GC_CALL
GC_get_find_leak(void)
{
	return GC_find_leak;
}

static void *
debug_alloc(size_t size, int kind, const char *file, int line)
{
	return compat_checked(mgc_debug_alloc(size, kind, file, line), size);
}

#define DEBUG_ALLOC(name, kind)                                                                    \
	void *GC_CALL GC_debug_##name(size_t size, GC_EXTRA_PARAMS)                                \
	{                                                                                          \
		return debug_alloc(size, kind, s, i);                                              \
	}

DEBUG_ALLOC(malloc, MGC_KIND_NORMAL)
DEBUG_ALLOC(malloc_atomic, MGC_KIND_NOSCAN)
DEBUG_ALLOC(malloc_uncollectable, MGC_KIND_UNCOLLECTABLE)
DEBUG_ALLOC(malloc_atomic_uncollectable, MGC_KIND_UNCOLLECTABLE_NOSCAN)
DEBUG_ALLOC(malloc_ignore_off_page, MGC_KIND_NORMAL)
DEBUG_ALLOC(malloc_atomic_ignore_off_page, MGC_KIND_NOSCAN)

char *GC_CALL
GC_debug_strndup(const char *str, size_t n, GC_EXTRA_PARAMS)
{
	size_t len = strnlen(str, n);
	char *copy = debug_alloc(len + 1, MGC_KIND_NOSCAN, s, i);
	if (copy != NULL) {
		memcpy(copy, str, len);
		copy[len] = '\0';
	}
	return copy;
}

char *GC_CALL
GC_debug_strdup(const char *str, GC_EXTRA_PARAMS)
{
	return GC_debug_strndup(str, strlen(str), s, i);
}

void *GC_CALL
GC_debug_realloc(void *p, size_t size, GC_EXTRA_PARAMS)
{
	if (p != NULL)
		compat_fin_forget(p);
	return compat_checked(mgc_debug_realloc(p, size, s, i), size);
}

void GC_CALL
GC_debug_free(void *p)
{
	GC_free(p);
}

void *GC_CALL
GC_debug_malloc_replacement(size_t size)
{
	return debug_alloc(size, MGC_KIND_NORMAL, "unknown", 0);
}

void *GC_CALL
GC_debug_realloc_replacement(void *p, size_t size)
{
	return GC_debug_realloc(p, size, "unknown", 0);
}

/* Boehm's debug record size: what GC_USR_PTR_FROM_BASE adds to a base. */
size_t GC_debug_header_size = MGC_DEBUG_OFFSET;

size_t GC_CALL
GC_get_debug_header_size(void)
{
	return MGC_DEBUG_OFFSET;
}

/* Boehm's kinds 0 to 3 (pointer-free, normal, uncollectable, atomic
 * uncollectable) are debug blocks; any other kind has no debug form here
 * and gets a plain block of its kind. */
void *GC_CALL
GC_debug_generic_or_special_malloc(size_t size, int knd, GC_EXTRA_PARAMS)
{
	static const int kinds[] = {MGC_KIND_NOSCAN, MGC_KIND_NORMAL, MGC_KIND_UNCOLLECTABLE,
	                            MGC_KIND_UNCOLLECTABLE_NOSCAN};
	if (knd >= 0 && knd < 4)
		return debug_alloc(size, kinds[knd], s, i);
	return GC_generic_or_special_malloc(size, knd);
}

/* Stubborn blocks are plain ones, as in Boehm 8.2, and without
 * incremental collection there is nothing to mark dirty. */
void *GC_CALL
GC_debug_malloc_stubborn(size_t size, GC_EXTRA_PARAMS)
{
	return debug_alloc(size, MGC_KIND_NORMAL, s, i);
}

void GC_CALL
GC_debug_change_stubborn(const void *p)
{
	(void)p;
}

void GC_CALL
GC_debug_end_stubborn_change(const void *p)
{
	(void)p;
}
