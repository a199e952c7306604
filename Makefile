# mgc — one Makefile for the library, tests, benchmarks and the demo.
#
#   make                 everything a user runs (release): build/libmgc.a,
#                        build/libmgc.so (soname libmgc.so.0), the
#                        Boehm-compatible build/libmgc-gc.so (needs libgc-dev's
#                        gc.h) and build/mgc-run
#   make lib             build/libmgc.a and build/libmgc.so only
#   make test            every test: release, debug (assertions), the
#                        threaded tests under ThreadSanitizer and the
#                        single-threaded ones under Valgrind's Memcheck
#   make soak            the threaded tests, over and over for SOAK_MINUTES (default
#                        10) beside two busy loops (tests/soak.sh); with
#                        SOAK_CONCURRENT=1, in mostly-concurrent mode
#   make bench           benchmarks against the Boehm collector and malloc libraries,
#                        and leak finding against Valgrind's
#   make demo            build and run the Lisp demo; its collector trace
#                        drawn by tools/mgc-plot into build/demo.svg
#   make install PREFIX=/usr/local [DESTDIR=/staging]
#                        the header, libmgc.a, libmgc.so.0 and its links,
#                        libmgc-gc.so, mgc-run, mgc-plot, mgc.pc and the
#                        man pages (BINDIR, LIBDIR, INCLUDEDIR, MANDIR
#                        default to PREFIX's bin, lib, include, share/man)
#   make uninstall PREFIX=/usr/local [DESTDIR=/staging]
#   make format          clang-format (.clang-format) on every C file of the tree
#   BUILD=release|debug|tsan|asan (or DEBUG=1) picks the flavour of `make`.

CC      ?= cc
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
# The library's version (also in mgc.pc) and the soname's: SOVERSION goes
# up when a change breaks programs linked with the previous libmgc.so.
VERSION   := 0.1.0
SOVERSION := 0
SONAME    := libmgc.so.$(SOVERSION)
BUILD   ?= release
ifeq ($(DEBUG),1)
BUILD   := debug
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
BASE    := -std=c11 -fPIC -fvisibility=hidden -Iinclude -Isrc $(WARN)
FLAGS_release := -O2 -g -DNDEBUG
FLAGS_debug   := -O0 -g -DMGC_DEBUG=1
FLAGS_tsan    := -O1 -g -fsanitize=thread -DMGC_DEBUG=1
FLAGS_asan    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -DMGC_DEBUG=1
FLAGS_valgrind := -O1 -g -DMGC_VALGRIND=1
LIBS    := -lpthread -ldl

SRCS    := $(wildcard src/*.c)
HDRS    := src/internal.h include/mgc.h
TESTS   := $(basename $(notdir $(wildcard tests/test_*.c)))
# Threaded tests, also run under ThreadSanitizer: those that start threads
# (test_thread_*) and the finalizer tests (test_fin_*: finalizers and
# cleanups run on mgc's own runner thread as well).
TTESTS  := $(filter test_thread_% test_fin_%,$(TESTS))

# $(call objs,FLAVOUR)
objs = $(patsubst src/%.c,build/$(1)/obj/%.o,$(SRCS))

.PHONY: all lib compat check-gc-h test test-release test-debug test-tsan test-valgrind soak bench \
	demo install uninstall clean format
all: lib compat
lib: build/libmgc.a build/libmgc.so
compat: build/libmgc-gc.so build/mgc-run

build/libmgc.a: build/$(BUILD)/libmgc.a
	cp $< $@
# build/libmgc.so links to the file named by the soname, as once installed.
build/$(SONAME): build/$(BUILD)/libmgc.so
	cp $< $@
build/libmgc.so: build/$(SONAME)
	ln -sf $(SONAME) $@

# The Boehm-compatible library (compat/compat.mk) is compiled against
# Boehm's own gc.h: say so, rather than let the compiler find it missing.
build/libmgc-gc.so: | check-gc-h
check-gc-h:
	@printf '#include <gc.h>\n' | $(CC) -I/usr/include/gc -E -x c - >/dev/null 2>&1 || \
		{ echo "build/libmgc-gc.so needs gc.h (apt-get install -y libgc-dev);" \
			"'make lib' builds mgc alone" >&2; exit 1; }

define flavour
build/$(1)/obj/%.o: src/%.c $(HDRS) | build/$(1)/obj
	$$(CC) $$(BASE) $$(FLAGS_$(1)) $$(CFLAGS) -c $$< -o $$@
build/$(1)/libmgc.a: $(call objs,$(1))
	rm -f $$@ && ar rcs $$@ $$^
build/$(1)/libmgc.so: $(call objs,$(1)) Makefile
	$$(CC) -shared -Wl,-soname,$(SONAME) $$(FLAGS_$(1)) -o $$@ $$(filter %.o,$$^) $$(LIBS)
build/$(1)/tests/%: tests/%.c tests/check.h build/$(1)/libmgc.a | build/$(1)/tests
	$$(CC) $$(BASE) -Wno-missing-prototypes $$(FLAGS_$(1)) $$(CFLAGS) $$< build/$(1)/libmgc.a -o $$@ $$(LIBS)
build/$(1)/tests/gclib_dl.so: tests/gclib_dl.c | build/$(1)/tests
	$$(CC) -shared -fPIC $$(FLAGS_$(1)) -o $$@ $$<
build/$(1)/obj build/$(1)/tests:
	mkdir -p $$@
endef
$(foreach f,release debug tsan asan valgrind,$(eval $(call flavour,$(f))))

test-release: $(addprefix build/release/tests/,$(TESTS) gclib_dl.so)
test-debug: $(addprefix build/debug/tests/,$(TESTS) gclib_dl.so)
test-tsan: $(addprefix build/tsan/tests/,$(TTESTS))

# Single-threaded tests, also run under Valgrind's Memcheck (with
# tests/valgrind.supp), built with MGC_VALGRIND.  Left out: the threaded
# ones (ThreadSanitizer covers them), test_faults and test_gc_longlist
# (minutes under Memcheck) and test_gc_stress_mode (it runs itself again
# through /proc/self/exe, which is Valgrind's own binary there, as does
# test_gc_reclaim), and the tests of big heaps (test_limit_*, test_scavenge).
VG_SKIP := test_faults test_gc_longlist test_gc_stress_mode test_gc_reclaim test_limit_soft \
           test_limit_hard test_scavenge
VTESTS  := $(filter-out $(TTESTS) $(VG_SKIP),$(TESTS))
# Without Valgrind (whose header the MGC_VALGRIND build includes) they are
# one skipped test, test_memcheck.
VALGRIND := valgrind -q --error-exitcode=99 --suppressions=$(CURDIR)/tests/valgrind.supp
VG_SKIP_LINE := echo "SKIP $$(basename "$$0"): needs valgrind (apt-get install -y valgrind)"
build/memcheck/tests/%: build/valgrind/tests/% tests/valgrind.supp
	@mkdir -p build/memcheck/tests
	@printf '#!/bin/sh\ncommand -v valgrind >/dev/null || { %s; exit 77; }\nexec %s "%s/%s" "$$@"\n' \
		'$(VG_SKIP_LINE)' "$(VALGRIND)" "$(CURDIR)" "$<" > $@
	@chmod +x $@
ifneq ($(shell command -v valgrind),)
test-valgrind: $(addprefix build/valgrind/tests/,$(VTESTS) gclib_dl.so) \
	$(addprefix build/memcheck/tests/,$(VTESTS))
	@rm -f build/memcheck/tests/test_memcheck
else
test-valgrind:
	@mkdir -p build/memcheck/tests
	@printf '#!/bin/sh\n%s\nexit 77\n' '$(VG_SKIP_LINE)' > build/memcheck/tests/test_memcheck
	@chmod +x build/memcheck/tests/test_memcheck
endif

# Parts of the project with their own make fragment (compat/, examples/,
# tests/programs/, tests/boehm/) append to these: targets to build before
# the tests run, and directories of test_* programs handed to tests/run.sh.
EXTRA_TEST_BINS :=
EXTRA_TEST_DIRS :=
-include compat/compat.mk
-include examples/examples.mk
-include tests/programs/programs.mk
-include tests/boehm/boehm.mk
-include tests/system/system.mk

test: test-release test-debug test-tsan test-valgrind $(EXTRA_TEST_BINS)
	@bash tests/run.sh build/release/tests build/debug/tests build/tsan/tests \
		build/memcheck/tests $(EXTRA_TEST_DIRS)

# The threaded tests of the release, debug and tsan builds, run by
# tests/soak.sh under each MGC_MARKERS and MGC_CHECKMARK setting in turn.
SOAK_BINS := $(foreach f,release debug tsan,$(addprefix build/$(f)/tests/,$(TTESTS)))
soak: $(SOAK_BINS)
	@bash tests/soak.sh $(SOAK_BINS)

bench: all
	bash bench/run.sh --write
	bash bench/gc_run.sh --write
	bash bench/programs.sh --write
	bash bench/gccpp.sh --write
	bash bench/latency.sh --write
	bash bench/leaks.sh --write
	bash bench/summary.sh --write

build/examples/%: examples/%.c build/libmgc.a include/mgc.h
	@mkdir -p build/examples
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Iinclude $< build/libmgc.a -o $@ $(LIBS)

# The Lisp demo with MGC_TRACE=1: what it prints, its first trace lines
# (all of them in build/demo.trace), its summary, and the trace drawn by
# tools/mgc-plot in build/demo.svg.
DEMO_TRACE_LINES := 3
demo: build/examples/lisp
	@MGC_TRACE=1 build/examples/lisp examples/lisp/demo.lisp >build/demo.out 2>build/demo.trace || \
		{ cat build/demo.out build/demo.trace; exit 1; }
	@sed '/^---/,$$d' build/demo.out
	@grep -v '^mgc: gc ' build/demo.trace || true
	@echo "MGC_TRACE=1 prints a line per collection; the first $(DEMO_TRACE_LINES) of" \
		"$$(grep -c '^mgc: gc ' build/demo.trace) (all in build/demo.trace):"
	@grep -m $(DEMO_TRACE_LINES) '^mgc: gc ' build/demo.trace
	@sed -n '/^---/,$$p' build/demo.out
	@if command -v gnuplot >/dev/null 2>&1; then \
		tools/mgc-plot -t 'mgc: the Lisp demo (make demo)' build/demo.trace build/demo.svg; \
	else \
		echo "build/demo.svg not drawn: needs gnuplot (apt-get install -y gnuplot-nox)"; \
	fi

# What `make install` puts under $(DESTDIR) and `make uninstall` removes:
# the real shared library is libmgc.so.VERSION, reached through its soname
# and libmgc.so; mgc-run preloads the installed libmgc-gc.so; each public
# function gets a man page link to mgc(3).
MGC_FUNCS := ${shell grep -v "^typedef" include/mgc.h | sed -n "s/^[a-z].*[ *]\\(mgc_[a-z_]*\\)(.*/\\1/p"}
INSTALL_FILES = $(INCLUDEDIR)/mgc.h $(LIBDIR)/libmgc.a $(LIBDIR)/libmgc.so.$(VERSION) \
	$(LIBDIR)/$(SONAME) $(LIBDIR)/libmgc.so $(LIBDIR)/libmgc-gc.so $(LIBDIR)/pkgconfig/mgc.pc \
	$(BINDIR)/mgc-run $(BINDIR)/mgc-plot $(MANDIR)/man1/mgc-run.1 $(MANDIR)/man1/mgc-plot.1 \
	$(MANDIR)/man3/mgc.3 $(patsubst %,$(MANDIR)/man3/%.3,$(MGC_FUNCS))
# mgc.pc's directories relative to its prefix where they lie under it.
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

install: all
	install -d $(addprefix $(DESTDIR),$(INCLUDEDIR) $(LIBDIR)/pkgconfig $(BINDIR) \
		$(MANDIR)/man1 $(MANDIR)/man3)
	install -m 644 include/mgc.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 build/libmgc.a $(DESTDIR)$(LIBDIR)/
	install -m 755 build/$(SONAME) $(DESTDIR)$(LIBDIR)/libmgc.so.$(VERSION)
	ln -sf libmgc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmgc.so
	install -m 755 build/libmgc-gc.so $(DESTDIR)$(LIBDIR)/
	sed 's|@LIBMGC_GC@|$(LIBDIR)/libmgc-gc.so|' compat/mgc-run.in > $(DESTDIR)$(BINDIR)/mgc-run
	chmod 755 $(DESTDIR)$(BINDIR)/mgc-run
	install -m 755 tools/mgc-plot $(DESTDIR)$(BINDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|' \
		-e 's|@INCLUDEDIR@|$(call pc_dir,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS@|$(LIBS)|' mgc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/mgc.pc
	install -m 644 man/mgc-run.1 man/mgc-plot.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/mgc.3 $(DESTDIR)$(MANDIR)/man3/
	for f in $(MGC_FUNCS); do echo '.so man3/mgc.3' > $(DESTDIR)$(MANDIR)/man3/$$f.3; done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALL_FILES))

# Every C source and header of the tree, wherever it is (build/ aside).
C_FILES = $(shell find . -path ./build -prune -o -path ./.git -prune -o -name '*.[ch]' -print | sort)
format:
	clang-format -i $(C_FILES)

clean:
	rm -rf build
