#!/usr/bin/env bash
# suite.sh NAME — one program of the Boehm collector's own test suite (the
# tests/ directory of Debian's libgc source), run on the installed libgc
# and on mgc:
#
#     bash tests/boehm/suite.sh NAME       (after `make`, which builds mgc-run)
#
# NAME is one of the programs below (gctest is tests/test.c).  Every one
# runs by hand this way; `make test` runs those listed in
# tests/boehm/enabled, as test_boehm_NAME (tests/boehm/boehm.mk).
#
# The source is the one of the installed libgc-dev, fetched once with
# `apt-get source` (which needs a deb-src entry in apt's sources and
# dpkg-dev; .ci/run sets both up) and kept in build/boehm-src/; nothing of
# it is in mgc's tree.  Each program is built once, against the installed
# <gc.h> and -lgc (-lgccpp for test_cpp), with the macros Debian's
# configure defines for libgc's own build (BOEHM_DEFS), into build/boehm/.
#
# The program runs first as built, on libgc, then under build/mgc-run.
# It passes when:
#   - it exits with status 0 on both (one that fails on libgc is a broken
#     setup, not a pass);
#   - under mgc-run, no call or variable of the program or of its libraries
#     was bound to the real libgc (ld.so's LD_DEBUG=bindings shows it): a
#     GC_ function the shim lacks runs on a second, idle collector;
#   - for the programs that print a report (leak_test, thread_leak_test,
#     smash_test), mgc reports the same objects as libgc: the allocation
#     sites (file:line) of the leaked or smashed objects with, for
#     thread_leak_test and smash_test, how many at each.  leak_test's count
#     is not compared: its second loop's stores are dead at -O2, so which
#     of those objects stay referenced depends on where the allocator
#     reuses the freed blocks whose addresses remain in the array.
# A program that cannot be built or run here skips (exit status 77) with a
# line saying what to install or set up.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
run=$root/build/mgc-run
PROGRAMS=(gctest leak_test thread_leak_test smash_test huge_test middle realloc_test
	staticrootstest threadkey_test subthread_create initsecondarythread disclaim_test
	disclaim_weakmap_test disclaim_bench test_cpp test_atomic_ops trace_test)
# Debian's configure of libgc 8.2.2 (amd64; threads, C++, disclaim and gcj
# support, the defaults) defines these in config.h, which the tests read;
# its CFLAGS add the visibility flags and -fno-strict-aliasing.
BOEHM_DEFS="-DGC_THREADS -D_REENTRANT -DPARALLEL_MARK -DTHREAD_LOCAL_ALLOC -DHANDLE_FORK
	-DGC_ENABLE_SUSPEND_THREAD -DENABLE_DISCLAIM -DGC_GCJ_SUPPORT -DJAVA_FINALIZATION
	-DGC_ATOMIC_UNCOLLECTABLE -DGC_BUILTIN_ATOMIC -DALL_INTERIOR_POINTERS
	-DNO_EXECUTE_PERMISSION -DUSE_MMAP -DUSE_MUNMAP -DMUNMAP_THRESHOLD=6 -DGC_DLL
	-DHAVE_DLADDR -DHAVE_DL_ITERATE_PHDR -DGC_VISIBILITY_HIDDEN_SET"
BOEHM_CFLAGS="-g -O2 -fno-strict-aliasing -fexceptions -fvisibility=hidden"

# Seconds allowed for each run of a program (BOEHM_TIMEOUT).
timeout_secs=${BOEHM_TIMEOUT:-120}

name=${1:-}
test=test_boehm_$name
case " ${PROGRAMS[*]} " in
*" $name "*) ;;
*)
	echo "usage: suite.sh NAME, NAME one of: ${PROGRAMS[*]}" >&2
	exit 2
	;;
esac

skip() {
	echo "SKIP $test: $*"
	exit 77
}
fail() {
	echo "FAIL $test: $*"
	exit 1
}

# need COMMAND PACKAGE
need() {
	command -v "$1" >/dev/null 2>&1 || skip "needs $1 (apt-get install -y $2)"
}

# ---- the source: apt-get source, once, under build/boehm-src/

# fetch_source DIR VERSION: unpacks libgc's source at VERSION into DIR
# unless it is there; skips, saying why, when apt cannot get it.
fetch_source() {
	local dir=$1 version=$2 tmp log
	[ -f "$dir/tests/test.c" ] && return 0
	need apt-get apt
	need dpkg-source dpkg-dev
	mkdir -p "$(dirname "$dir")"
	tmp=$(mktemp -d "$dir.XXXXXX") || exit 1
	log=$tmp/apt.log
	if ! (cd "$tmp" && apt-get source -q "libgc=$version") >"$log" 2>&1; then
		local err
		err=$(grep -E '^(E|W):' "$log" | head -n 2 | paste -sd ' ' -)
		rm -rf "$tmp"
		skip "apt-get source libgc=$version failed (${err:-no error line})." \
			"It needs a deb-src entry in /etc/apt/sources.list.d (.ci/run adds one)," \
			"then apt-get update"
	fi
	# The unpacked tree is the one directory apt-get left (gc-VERSION).
	local tree
	tree=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	if [ -z "$tree" ] || [ ! -f "$tree/tests/test.c" ]; then
		rm -rf "$tmp"
		skip "apt-get source libgc=$version unpacked no tests/test.c" \
			"(is dpkg-dev installed? apt-get install -y dpkg-dev)"
	fi
	mv "$tree" "$dir" && rm -rf "$tmp"
}

# ---- building, against the installed gc.h and libgc

# include_dir DIR SRC: DIR gets the installed headers and, for the tests
# that include libgc's private headers, SRC's include/private: file by file,
# so that their "../gc.h" is the installed one.
include_dir() {
	local dir=$1 src=$2 f
	[ -d "$dir/private" ] && return 0
	mkdir -p "$dir.tmp/private"
	for f in /usr/include/gc/*.h; do
		ln -sf "$f" "$dir.tmp/"
	done
	for f in "$src"/include/private/*.h; do
		ln -sf "$f" "$dir.tmp/private/"
	done
	mv "$dir.tmp" "$dir"
}

# build NAME SRC OUT: builds the program NAME from SRC's tests/ into OUT
# (with its libraries beside it); on failure, the compiler's output is in
# OUT.log.
build() {
	local name=$1 tests=$2/tests out=$3 cc=(cc) file libs=(-lgc) flags
	# shellcheck disable=SC2206 # word lists
	flags=($BOEHM_CFLAGS -I"$(dirname "$out")/include" $BOEHM_DEFS)
	case $name in
	gctest) file=test.c ;;
	test_cpp) file=test_cpp.cc cc=(c++) libs=(-lgccpp -lgc) ;;
	staticrootstest)
		# Two libraries from staticrootslib.c, the second with
		# STATICROOTSLIB2, as libgc's tests.am builds them.
		file=staticrootstest.c
		cc -shared -fPIC "${flags[@]}" "$tests/staticrootslib.c" \
			-o "$(dirname "$out")/libstaticrootslib_test.so" -lgc || return 1
		flags+=(-DSTATICROOTSLIB2)
		cc -shared -fPIC "${flags[@]}" "$tests/staticrootslib.c" \
			-o "$(dirname "$out")/libstaticrootslib2_test.so" -lgc || return 1
		# shellcheck disable=SC2054 # the linker's commas
		libs=(-L"$(dirname "$out")" -lstaticrootslib_test -lstaticrootslib2_test
			-Wl,-rpath,"$(dirname "$out")" -lgc)
		;;
	*) file=$name.c ;;
	esac
	"${cc[@]}" "${flags[@]}" "$tests/$file" -o "$out.tmp" "${libs[@]}" -lpthread -ldl &&
		mv "$out.tmp" "$out"
}

# ---- comparing

# bindings_to_libgc DIR: the symbols that a file other than libgc itself
# was bound to in libgc, from the LD_DEBUG_OUTPUT files in DIR.
bindings_to_libgc() {
	cat "$1"/ld.* 2>/dev/null |
		sed -nE "s/.*binding file ([^ ]+) \[[0-9]+\] to ([^ ]+) \[[0-9]+\]: [a-z ]*symbol \`([^']+)'.*/\1 \2 \3/p" |
		awk '$2 ~ /\/libgc\.so/ && $1 !~ /\/libgc\.so/ { print $3 }' | sort -u
}

# report FILE SRCFILE: the leaked and smashed objects a report on stderr
# names, one line "leaked|smashed SRCFILE:LINE" per object.  A line naming
# a site of SRCFILE is one object, of the kind of the last line before it
# that speaks of leaked or smashed objects.
report() {
	awk -v src="$2" '
		{
			if (match($0, "(^|[^A-Za-z0-9_])" src ":[0-9]+")) {
				site = substr($0, RSTART, RLENGTH)
				sub("^[^A-Za-z0-9_]", "", site)
				print kind, site
			} else if (tolower($0) ~ /smash/) {
				kind = "smashed"
			} else if (tolower($0) ~ /leak/) {
				kind = "leaked"
			}
		}' "$1" | sort | uniq -c
}

# compare_reports NAME LIBGC_ERR MGC_ERR: fails unless the two reports
# agree (with their counts, but for leak_test).
compare_reports() {
	local name=$1 want got
	want=$(report "$2" "$name.c")
	got=$(report "$3" "$name.c")
	if [ "$name" = leak_test ]; then
		want=$(echo "$want" | awk 'NF { print $2, $3 }')
		got=$(echo "$got" | awk 'NF { print $2, $3 }')
	fi
	[ -n "$want" ] || fail "libgc printed no report (its stderr: $(head -c 300 "$2"))"
	if [ "$want" != "$got" ]; then
		echo "FAIL $test: mgc's report differs from libgc's"
		echo "--- libgc ([count] kind site):"
		echo "$want"
		echo "--- mgc:"
		echo "${got:-(nothing)}"
		echo "--- mgc's stderr:"
		head -n 20 "$3"
		exit 1
	fi
	summary="; the same report ($(echo "$want" | awk '{ $1 = $1; print }' | paste -sd, -))"
}

# ---- main

need cc build-essential
[ -f /usr/include/gc/gc.h ] || skip "needs gc.h (apt-get install -y libgc-dev)"
[ "$name" = test_cpp ] && need c++ g++
need flock util-linux
need timeout coreutils
[ -x "$run" ] || fail "no $run: run make first"

version=$(dpkg-query -W -f '${Version}' libgc-dev 2>/dev/null) ||
	skip "needs libgc-dev (apt-get install -y libgc-dev)"
if [ "$name" = trace_test ] &&
	! nm -D --defined-only "$(cc -print-file-name=libgc.so)" 2>/dev/null |
	grep -q ' GC_generate_random_backtrace$'; then
	skip "the installed libgc has no GC_generate_random_backtrace (built without" \
		"KEEP_BACK_PTRS, as Debian builds it), so trace_test does not link against it"
fi
src=$root/build/boehm-src/libgc-${version#*:}
bin=$root/build/boehm/libgc-${version#*:}
mkdir -p "$bin"
exec 9>"$root/build/boehm/lock"
flock 9
fetch_source "$src" "$version"
include_dir "$bin/include" "$src"
if [ ! "$bin/$name" -nt "$here/suite.sh" ]; then
	build "$name" "$src" "$bin/$name" >"$bin/$name.log" 2>&1 ||
		fail "building $name against libgc failed: $(grep -m 3 -E 'error|undefined' "$bin/$name.log")"
fi
flock -u 9

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/status.sh
source "$root/tests/status.sh"

# The braces keep the shell's own "Aborted" notice quiet: the status says it.
{ (cd "$tmp" && timeout -k 5 "$timeout_secs" "$bin/$name" >libgc.out 2>libgc.err); } 2>/dev/null
status=$?
if [ "$status" -ne 0 ]; then
	fail "fails on libgc itself ($(why "$status")): $(tail -n 3 "$tmp/libgc.out" "$tmp/libgc.err")"
fi
{ (cd "$tmp" && LD_DEBUG=bindings LD_DEBUG_OUTPUT="$tmp/ld" \
	timeout -k 5 "$timeout_secs" "$run" "$bin/$name" >mgc.out 2>mgc.err); } 2>/dev/null
status=$?
missing=$(bindings_to_libgc "$tmp" | paste -sd ' ' -)
if [ "$status" -ne 0 ]; then
	echo "FAIL $test: $(why "$status") on mgc (0 on libgc); the end of its output:"
	tail -n 5 "$tmp/mgc.out"
	tail -n 5 "$tmp/mgc.err"
	[ -z "$missing" ] || echo "(bound to the real libgc, the shim lacking them: $missing)"
	exit 1
fi
[ -z "$missing" ] ||
	fail "under mgc-run these were bound to the real libgc, the shim lacking them: $missing"
summary=
case $name in
leak_test | thread_leak_test | smash_test)
	compare_reports "$name" "$tmp/libgc.err" "$tmp/mgc.err"
	;;
esac
echo "$test: exit status 0 on libgc and on mgc, nothing bound to libgc$summary"
