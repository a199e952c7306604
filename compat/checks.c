/* checks.c — Boehm's pointer checks, meant for code a preprocessor
 * instruments (GC_same_obj, GC_pre_incr, GC_post_incr,
 * GC_is_valid_displacement, GC_PTR_STORE_AND_DIRTY), GC_is_tmp_root and
 * GC_clear_stack.
 *
 * A failed check calls its print procedure, which the program may replace
 * (the variables are Boehm's); the defaults print Boehm's message and
 * abort through the abort function.  GC_is_visible and its procedure are
 * in kinds.c.
 */
#include "compat.h"

#include <gc_mark.h>

#include <link.h>
#include <string.h>

/* ---- same object --------------------------------------------------------- */

static void GC_CALLBACK
default_same_obj_print(void *p, void *q)
{
	GC_err_printf("GC_same_obj test failed: %p and %p are not in the same object\n", p, q);
	compat_abort("GC_same_obj test failed");
}

void(GC_CALLBACK *GC_same_obj_print_proc)(void *, void *) = default_same_obj_print;

/* p and q in the same live block, or neither in any (as Boehm's, which
 * does not look between blocks either); p in all cases. */
void *GC_CALL
GC_same_obj(void *p, void *q)
{
	size_t size = 0;
	char *base = mgc_base(p, &size);
	bool same = base != NULL ? (char *)q >= base && (char *)q < base + size
	                         : mgc_base(q, NULL) == NULL;
	if (!same)
		GC_same_obj_print_proc(p, q);
	return p;
}

void *GC_CALL
GC_pre_incr(void **p, ptrdiff_t how_much)
{
	void *old = *p, *new = (char *)old + how_much;
	*p = GC_same_obj(new, old);
	return *p;
}

void *GC_CALL
GC_post_incr(void **p, ptrdiff_t how_much)
{
	void *old = *p, *new = (char *)old + how_much;
	*p = GC_same_obj(new, old);
	return old;
}

/* ---- displacements --------------------------------------------------------- */

static void GC_CALLBACK
default_displacement_print(void *p)
{
	GC_err_printf("GC_is_valid_displacement test failed: %p not valid\n", p);
	compat_abort("GC_is_valid_displacement test failed");
}

void(GC_CALLBACK *GC_is_valid_displacement_print_proc)(void *) = default_displacement_print;

/* A pointer into a live block that would not retain it from the heap: one
 * off its start by other than a registered displacement, with interior
 * pointers off.  Pointers outside the heap's blocks pass. */
void *GC_CALL
GC_is_valid_displacement(void *p)
{
	char *base = mgc_base(p, NULL);
	if (base != NULL && !GC_get_all_interior_pointers() &&
	    !compat_displacement_ok((size_t)((char *)p - base)))
		GC_is_valid_displacement_print_proc(p);
	return p;
}

/* ---- stores ------------------------------------------------------------------ */

/* No page needs dirtying (mgc has no incremental mode): the store. */
void GC_CALL
GC_ptr_store_and_dirty(void *p, const void *q)
{
	*(const void **)p = q;
}

/* GC_PTR_STORE under GC_DEBUG: the checks, then the store. */
void GC_CALL
GC_debug_ptr_store_and_dirty(void *p, const void *q)
{
	void **at = GC_is_visible(p);
	*at = GC_is_valid_displacement((void *)q);
}

/* ---- roots and the stack ---------------------------------------------------------- */

struct find {
	uintptr_t p;
	bool found;
};

static int
in_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum && !f->found; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		f->found = ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && f->p >= lo &&
		           f->p < lo + ph->p_memsz &&
		           compat_has_static_roots(info->dlpi_name != NULL ? info->dlpi_name : "",
		                                   (void *)lo, ph->p_memsz);
	}
	return f->found;
}

/* Boehm's temporary roots are the data segments it registers anew at each
 * collection, those of the loaded objects its static-roots callback lets
 * through: so here (exclusions, which only skip words when scanning, do
 * not count); the ranges of GC_add_roots are not temporary. */
int GC_CALL
GC_is_tmp_root(void *p)
{
	struct find f = {(uintptr_t)p, false};
	dl_iterate_phdr(in_object, &f);
	return f.found;
}

/* Zeroes the stack below the caller's frame, where the frames of returned
 * calls may have left pointers that would retain garbage; returns arg. */
static __attribute__((noinline)) void
clear_below(void)
{
	volatile char buf[8192];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

void *GC_CALL
GC_clear_stack(void *arg)
{
	clear_below();
	return arg;
}
