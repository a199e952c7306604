# system.mk — tests of mgc as an installed system library and of its
# tools, included by the top-level Makefile.  `make test` runs
# build/system/tests/test_<name>, a wrapper around tests/system/<name>.sh:
#   test_install   make install into a temporary prefix: the README's
#                  example built with pkg-config against it, its mgc-run,
#                  its man pages; make uninstall
#   test_manpages  man/mgc.3 names every function of include/mgc.h
#   test_plot      tools/mgc-plot on real and broken traces; docs/bench.svg
#                  drawn from the current summary table
#   test_comments  every function, variable and file the comments of src/
#                  name exists
#   test_preconditions  every _locked and _stopped function of src/ and
#                  compat/ asserts its precondition
#   test_abi       make check-abi: build/libmgc-gc.so defines every name of
#                  compat/abi.txt and what the installed libgc clients import
# A test that needs a program that is not installed skips (tests/run.sh).

SYSTEM_TESTS := install manpages plot comments preconditions abi
SYSTEM_WRAPPERS := $(addprefix build/system/tests/test_,$(SYSTEM_TESTS))

build/system/tests/test_%: tests/system/system.mk
	@mkdir -p build/system/tests
	@printf '#!/bin/sh\nexec bash "%s/tests/system/%s.sh"\n' "$(CURDIR)" "$*" > $@
	@chmod +x $@

# test_install runs `make install` with `all` taken as built; test_plot
# draws a trace of the demo example.
EXTRA_TEST_BINS += all build/examples/demo $(SYSTEM_WRAPPERS)
EXTRA_TEST_DIRS += build/system/tests
