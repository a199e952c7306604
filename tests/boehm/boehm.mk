# boehm.mk — the Boehm collector's own test suite (the tests/ programs of
# Debian's libgc source) on libgc and on mgc, included by the top-level
# Makefile.  `make test` runs build/boehm/tests/test_boehm_<name> for each
# program named in tests/boehm/enabled (those that pass on mgc), a wrapper
# around tests/boehm/suite.sh <name>; every program of the suite runs by
# hand with
#     bash tests/boehm/suite.sh NAME
# suite.sh fetches the source once (apt-get source) into build/boehm-src/
# and builds each program once into build/boehm/; a test that cannot get
# the source skips, saying how to set apt up for it.

BOEHM_ENABLED := $(shell sed 's/\#.*//' tests/boehm/enabled)

# One rule writes every wrapper, after emptying the directory, so that a
# program taken off the list is no longer run.
build/boehm/tests/.enabled: tests/boehm/enabled tests/boehm/boehm.mk
	@rm -rf build/boehm/tests && mkdir -p build/boehm/tests
	@for n in $(BOEHM_ENABLED); do \
		printf '#!/bin/sh\nexec bash "%s/tests/boehm/suite.sh" %s\n' "$(CURDIR)" "$$n" \
			> build/boehm/tests/test_boehm_$$n && chmod +x build/boehm/tests/test_boehm_$$n; \
	done
	@touch $@

EXTRA_TEST_BINS += build/mgc-run build/boehm/tests/.enabled
EXTRA_TEST_DIRS += build/boehm/tests
