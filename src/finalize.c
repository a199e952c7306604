/* finalize.c — finalizers, cleanups and weak references.
 *
 * Not available yet: the collector does not run finalization passes, so
 * these calls refuse with ENOSYS rather than accept work they would never
 * do.  They exist so that programs written against the full contract link
 * and can test for the feature at run time.
 */
#include "internal.h"

#include <errno.h>

int
mgc_set_finalizer(void *obj, mgc_finalizer_fn fn, void *arg)
{
	(void)obj;
	(void)fn;
	(void)arg;
	errno = ENOSYS;
	return -1;
}

size_t
mgc_run_finalizers(void)
{
	return 0;
}

int
mgc_add_cleanup(void *obj, mgc_cleanup_fn fn, void *arg)
{
	(void)obj;
	(void)fn;
	(void)arg;
	errno = ENOSYS;
	return -1;
}

mgc_weak *
mgc_weak_new(void *obj)
{
	(void)obj;
	errno = ENOSYS;
	return NULL;
}

void *
mgc_weak_get(const mgc_weak *w)
{
	(void)w;
	return NULL;
}
