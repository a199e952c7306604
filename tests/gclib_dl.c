/* gclib_dl — a small shared library for test_gc_dlopen.
 *
 * Built as a shared object next to the test programs:
 *     cc -shared -fPIC -o gclib_dl.so tests/gclib_dl.c
 *
 * It holds pointers in its own data and bss, which mgc must scan once the
 * library is dlopen'ed: gclib_slot (in .bss) and gclib_data_slot (in .data,
 * thanks to its non-zero initial value).  The symbols have default
 * visibility so that dlsym finds them even when built with
 * -fvisibility=hidden.
 */
#define GCLIB_API __attribute__((visibility("default")))

GCLIB_API void *volatile gclib_slot;
GCLIB_API void *volatile gclib_data_slot = (void *)0x5a5aUL;

GCLIB_API void gclib_set(void *p);
GCLIB_API void *gclib_get(void);
GCLIB_API void gclib_set_data(void *p);
GCLIB_API void *gclib_get_data(void);

void
gclib_set(void *p)
{
	gclib_slot = p;
}

void *
gclib_get(void)
{
	return gclib_slot;
}

void
gclib_set_data(void *p)
{
	gclib_data_slot = p;
}

void *
gclib_get_data(void)
{
	return gclib_data_slot;
}
