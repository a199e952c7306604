# compat.mk — the Boehm-compatible shim, included by the top-level Makefile.
#
#   build/libmgc-gc.so          the GC_* API of Boehm's gc.h on mgc
#   build/mgc-run               runs a program with that library preloaded
#   build/compat/tests/test_*   unit tests: built against <gc.h>, linked
#                               with libmgc-gc.so (never -lgc)
#   make check-abi              libmgc-gc.so defines every name libgc
#                               exports (compat/abi.txt, made by
#                               compat/abi.sh) and every GC_ name the
#                               installed libgc clients import

COMPAT_SRCS  := $(wildcard compat/*.c)
COMPAT_HDRS  := $(wildcard compat/*.h) include/mgc.h
COMPAT_TESTS := $(patsubst compat/tests/%.c,build/compat/tests/%,$(wildcard compat/tests/test_*.c))
COMPAT_PROGS := $(patsubst compat/tests/%.sh,build/compat/tests/%,$(wildcard compat/tests/test_*.sh))
COMPAT_CFLAGS := -std=c11 -fPIC -fvisibility=hidden -O2 -g -Iinclude -I/usr/include/gc $(WARN)

build/libmgc-gc.so: $(COMPAT_SRCS) $(COMPAT_HDRS) build/release/libmgc.a
	$(CC) $(COMPAT_CFLAGS) $(CFLAGS) -shared -o $@ $(COMPAT_SRCS) build/release/libmgc.a \
		-Wl,--exclude-libs,ALL $(LIBS)

build/mgc-run: compat/mgc-run.in build/libmgc-gc.so
	sed 's|@LIBMGC_GC@|$(CURDIR)/build/libmgc-gc.so|' $< > $@ && chmod +x $@

build/compat/tests/%: compat/tests/%.c tests/check.h compat/tests/settle.h build/libmgc-gc.so | build/compat/tests
	$(CC) -std=c11 -O1 -g -Iinclude -Itests -I/usr/include/gc $(WARN) -Wno-missing-prototypes \
		$(CFLAGS) $< -o $@ -L$(CURDIR)/build -l:libmgc-gc.so \
		-Wl,-rpath,$(CURDIR)/build -lpthread

build/compat/tests/%: compat/tests/%.sh build/mgc-run | build/compat/tests
	cp $< $@ && chmod +x $@

build/compat/tests:
	mkdir -p $@

.PHONY: check-abi
check-abi: build/libmgc-gc.so
	@bash compat/abi.sh check build/libmgc-gc.so compat/abi.txt

EXTRA_TEST_BINS += build/libmgc-gc.so build/mgc-run $(COMPAT_TESTS) $(COMPAT_PROGS)
EXTRA_TEST_DIRS += build/compat/tests
