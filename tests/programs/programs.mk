# programs.mk — real programs built for the Boehm collector, run unmodified
# on mgc (tests/programs/workloads.sh), included by the top-level Makefile.
# `make test` runs build/programs/tests/test_prog_<name>, a wrapper around
# tests/programs/check.sh <name>; bench/programs.sh times the same runs.

PROGRAM_NAMES := w3m mmv chase neko nix-instantiate guile
PROGRAM_WRAPPERS := $(addprefix build/programs/tests/test_prog_,$(PROGRAM_NAMES))

build/programs/tests/test_prog_%: tests/programs/programs.mk
	@mkdir -p build/programs/tests
	@printf '#!/bin/sh\nexec bash "%s/tests/programs/check.sh" %s\n' "$(CURDIR)" "$*" > $@
	@chmod +x $@

EXTRA_TEST_BINS += build/mgc-run $(PROGRAM_WRAPPERS)
EXTRA_TEST_DIRS += build/programs/tests
