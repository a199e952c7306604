# system.mk — tests of mgc's tools, included by the top-level Makefile.
# `make test` runs build/system/tests/test_<name>, a wrapper around
# tests/system/<name>.sh:
#   test_plot      tools/mgc-plot on real and broken traces; docs/bench.svg
#                  drawn from the current summary table
# A test that needs a program that is not installed skips (tests/run.sh).

SYSTEM_TESTS := plot
SYSTEM_WRAPPERS := $(addprefix build/system/tests/test_,$(SYSTEM_TESTS))

build/system/tests/test_%: tests/system/system.mk
	@mkdir -p build/system/tests
	@printf '#!/bin/sh\nexec bash "%s/tests/system/%s.sh"\n' "$(CURDIR)" "$*" > $@
	@chmod +x $@

# test_plot draws a trace of the demo example.
EXTRA_TEST_BINS += build/examples/demo $(SYSTEM_WRAPPERS)
EXTRA_TEST_DIRS += build/system/tests
