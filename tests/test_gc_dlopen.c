/* test_gc_dlopen — the data and bss of a dlopen'ed library are roots.
 *
 * usage: test_gc_dlopen [LIBRARY]
 * The library is tests/gclib_dl.c built as a shared object; it is looked
 * for at LIBRARY, else at $MGC_TEST_DL, else as gclib_dl.so next to this
 * program.
 *
 * After mgc is initialised the library is dlopen'ed; the only pointers to
 * two blocks (one small, one large) go into its globals, one in .bss and
 * one in .data.  Many collections with allocation of blocks of the same
 * sizes in between must leave both blocks live and intact.  Then the
 * library is closed and collections go on (its data is gone: they must not
 * crash); it is opened again and the same holds.
 */
#include "check.h"

#include <dlfcn.h>
#include <limits.h>

#include <mgc.h>

#define SMALL 300
#define LARGE (256 * 1024)
#define ROUNDS 10
#define CHURN_BYTES (4u << 20)
#define LIBNAME "gclib_dl.so"

typedef void (*set_fn)(void *);
typedef void *(*get_fn)(void);

struct lib {
	void *handle;
	set_fn set, set_data;
	get_fn get, get_data;
};

static __attribute__((noinline)) void *
make_block(size_t size, uint64_t seed)
{
	uint64_t *w = mgc_alloc(size);

	CHECK(w != NULL, "mgc_alloc(%zu) failed (errno %d)", size, errno);
	check_fill(w, size / 8, seed);
	return w;
}

static void
check_block(const void *p, size_t size, uint64_t seed, const char *what)
{
	CHECK(p != NULL && mgc_base(p, NULL) == p, "%s: block %p is not live", what, p);
	CHECK_PATTERN(p, size / 8, seed, what);
}

static void
garbage(size_t size)
{
	void *p = mgc_alloc(size);

	CHECK(p != NULL, "mgc_alloc(%zu) failed (errno %d)", size, errno);
	memset(p, 0xa5, size);
}

/* Garbage of the kept blocks' sizes, then a collection. */
static __attribute__((noinline)) void
churn(void)
{
	for (size_t n = 0; n < CHURN_BYTES; n += SMALL)
		garbage(SMALL);
	for (int i = 0; i < 4; i++)
		garbage(LARGE);
	check_clear_stack();
	mgc_collect();
}

static void
library_path(int argc, char **argv, char *path, size_t size)
{
	const char *env = getenv("MGC_TEST_DL");
	ssize_t n;
	char *slash;

	if (argc > 1 || (env != NULL && *env != '\0')) {
		CHECK(strlen(argc > 1 ? argv[1] : env) < size, "library path too long");
		strcpy(path, argc > 1 ? argv[1] : env);
		return;
	}
	n = readlink("/proc/self/exe", path, size - sizeof LIBNAME - 1);
	CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
	path[n] = '\0';
	slash = strrchr(path, '/');
	strcpy(slash != NULL ? slash + 1 : path, LIBNAME);
}

static void *
symbol(void *handle, const char *name)
{
	void *sym = dlsym(handle, name);

	CHECK(sym != NULL, "dlsym %s: %s", name, dlerror());
	return sym;
}

static void
open_lib(struct lib *lib, const char *path)
{
	lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(lib->handle != NULL, "dlopen %s: %s (build it with: cc -shared -fPIC -o "
	      LIBNAME " tests/gclib_dl.c; give its path as the argument or in MGC_TEST_DL)",
	      path, dlerror());
	lib->set = (set_fn)symbol(lib->handle, "gclib_set");
	lib->get = (get_fn)symbol(lib->handle, "gclib_get");
	lib->set_data = (set_fn)symbol(lib->handle, "gclib_set_data");
	lib->get_data = (get_fn)symbol(lib->handle, "gclib_get_data");
}

static __attribute__((noinline)) void
store(const struct lib *lib, uint64_t seed)
{
	lib->set(make_block(SMALL, seed));
	lib->set_data(make_block(LARGE, seed + 1000000));
}

/* The library's globals keep their blocks through many collections. */
static void
run_loaded(const char *path, uint64_t seed)
{
	struct lib lib;

	open_lib(&lib, path);
	store(&lib, seed);
	for (int r = 0; r < ROUNDS; r++) {
		churn();
		check_block(lib.get(), SMALL, seed, "block held in the library's .bss");
		check_block(lib.get_data(), LARGE, seed + 1000000,
			    "block held in the library's .data");
	}
	CHECK(dlclose(lib.handle) == 0, "dlclose: %s", dlerror());
	for (int r = 0; r < 3; r++)
		churn();
}

int
main(int argc, char **argv)
{
	char path[PATH_MAX];

	library_path(argc, argv, path, sizeof path);
	mgc_init();
	run_loaded(path, 1);
	run_loaded(path, 2);
	return 0;
}
