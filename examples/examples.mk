# examples/examples.mk — the example programs and their test wrappers.
#
# Included by the top-level Makefile.  Single-file examples are built by its
# pattern rule build/examples/%; `make test` runs each one through a small
# wrapper build/examples/tests/test_example_<name> (tests/run.sh runs every
# test_* there).

EXAMPLES := hello fdclose weak threads demo roots
EXAMPLE_BINS := $(addprefix build/examples/,$(EXAMPLES))
EXAMPLE_WRAPPERS := $(addprefix build/examples/tests/test_example_,$(EXAMPLES))

# A wrapper runs its example from the top of the project.
build/examples/tests/test_example_%: examples/examples.mk
	@mkdir -p build/examples/tests
	@printf '#!/bin/sh\ncd "%s" || exit 1\nexec build/examples/%s\n' "$(CURDIR)" "$*" > $@
	@chmod +x $@

# The Lisp interpreter: examples/lisp/*.c.  Its wrapper compares what the
# demo program prints (everything before the "---" summary line) with
# examples/lisp/demo.expected and checks that a summary followed.  `make
# demo` (top-level Makefile) runs it with MGC_TRACE=1.
build/examples/lisp: $(wildcard examples/lisp/*.c) build/libmgc.a include/mgc.h
	@mkdir -p build/examples
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Iinclude $(filter %.c,$^) build/libmgc.a -o $@ $(LIBS)

build/examples/tests/test_example_lisp: examples/examples.mk
	@mkdir -p build/examples/tests
	@printf '%s\n' '#!/bin/sh' 'cd "$(CURDIR)" || exit 1' \
		'ulimit -n 256 # fewer descriptors than ports: some opens wait for finalizers' \
		'out=$$(build/examples/lisp examples/lisp/demo.lisp) || exit 1' \
		'printf "%s\n" "$$out"' \
		'printf "%s\n" "$$out" | sed -n "/^---/q;p" | diff examples/lisp/demo.expected - || exit 1' \
		'printf "%s\n" "$$out" | grep -q "^finalizers run:"' > $@
	@chmod +x $@

EXTRA_TEST_BINS += $(EXAMPLE_BINS) $(EXAMPLE_WRAPPERS)
EXTRA_TEST_BINS += build/examples/lisp build/examples/tests/test_example_lisp
EXTRA_TEST_DIRS += build/examples/tests
