# examples/examples.mk — the example programs and their test wrappers.
#
# Included by the top-level Makefile.  Single-file examples are built by its
# pattern rule build/examples/%; `make test` runs each one through a small
# wrapper build/examples/tests/test_example_<name> (tests/run.sh runs every
# test_* there).

EXAMPLES := hello fdclose weak threads
EXAMPLE_BINS := $(addprefix build/examples/,$(EXAMPLES))
EXAMPLE_WRAPPERS := $(addprefix build/examples/tests/test_example_,$(EXAMPLES))

# A wrapper runs its example from the top of the project.
build/examples/tests/test_example_%: examples/examples.mk
	@mkdir -p build/examples/tests
	@printf '#!/bin/sh\ncd "%s" || exit 1\nexec build/examples/%s\n' "$(CURDIR)" "$*" > $@
	@chmod +x $@

EXTRA_TEST_BINS += $(EXAMPLE_BINS) $(EXAMPLE_WRAPPERS)
EXTRA_TEST_DIRS += build/examples/tests
