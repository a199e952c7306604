#!/usr/bin/env bash
# gccpp.sh — build bench/gccpp.cc, a C++ program whose operator new and
# delete go through Boehm's libgccpp (GC_malloc_uncollectable, GC_free),
# run it on the Boehm collector and on mgc (build/libmgc-gc.so preloaded),
# single-threaded and with two threads, and print a markdown table of
# medians.  Every run must print the same checksum as the first.  See
# bench/README.md.
#
#   bash bench/gccpp.sh            build, run, print the table
#   bash bench/gccpp.sh --write    also update the gccpp section of docs/BENCHMARKS.md
#
# Environment:
#   BENCH_RUNS       runs per benchmark and backend (default 5)
#   BENCH_GCCPP_OPS  operations per run, split between the threads (default 1500000)
#   CXX              C++ compiler (default g++)
#   MGC_GC_SO        the library preloaded for mgc (default build/libmgc-gc.so,
#                    built with make)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=gccpp.sh
# variable    environment       default
SETTINGS=(
	"RUNS         BENCH_RUNS        5"
	"GCCPP_OPS    BENCH_GCCPP_OPS   1500000"
)
PROGRAMS="gccpp"
BENCHMARKS="gccpp gccpp-2t"
# boehm first: the checksum every other run must print is Boehm's.
BACKENDS="boehm mgc"
FILE_PREFIX=gccpp-
FAIL_DROPS=benchmark
FAILED_WHAT=benchmark
SECTION=gccpp
SECTION_TITLE="C++ through libgccpp: operator new and delete on the collector (\`bench/gccpp.cc\`)"
MAKE_COMMAND="\`@CMD@\` (from make)"
# shellcheck source=bench/runner.sh
source "$ROOT/bench/runner.sh"

# The program is C++: the section's compiler line names the C++ compiler.
CC=${CXX:-g++}
CFLAGS="-O2 -std=c++17 -Wall -Wextra -pthread"
GCCPP_LIBS="-lgccpp -lgc"
MGC_GC_SO=${MGC_GC_SO:-$ROOT/build/libmgc-gc.so}
for v in CXX MGC_GC_SO; do
	if [[ -n ${!v:-} && $GIVEN_ENV != *"$v="* ]]; then
		GIVEN_ENV+="$v=$(printf %q "${!v}") "
	fi
done
unset v
BUILT=0

# Links a C++ program on libgccpp: are the compiler and libgc-dev installed?
have_gccpp() {
	# shellcheck disable=SC2086 # $GCCPP_LIBS is a list of flags
	printf '#include <gc_cpp.h>\nstruct A : gc { int i; };\nint main() { GC_INIT(); return new A == 0; }\n' |
		"$CC" -x c++ - -o "$OUT/.probe" $GCCPP_LIBS >/dev/null 2>&1
}

backend_ready() {
	if ! have_gccpp; then
		skip "$1: $CC, <gc_cpp.h> or -lgccpp -lgc not found (apt-get install g++ libgc-dev)"
		return 1
	fi
	if [[ $1 == mgc && ! -f $MGC_GC_SO ]]; then
		skip "$1: $MGC_GC_SO does not exist (run make)"
		return 1
	fi
}

# One binary, build/bench/gccpp, linked with libgccpp and libgc as any such
# program is; gccpp-boehm runs it as it is, gccpp-mgc with MGC_GC_SO
# preloaded, as build/mgc-run does.
build_one() {
	local p=$1 b=$2
	if ((!BUILT)); then
		say "== build $p: $CC $CFLAGS bench/$p.cc $GCCPP_LIBS"
		# shellcheck disable=SC2086 # $CFLAGS and $GCCPP_LIBS are lists of flags
		"$CC" $CFLAGS "$ROOT/bench/$p.cc" -o "$OUT/$p" $GCCPP_LIBS ||
			die "compiling bench/$p.cc failed"
		BUILT=1
	fi
	case $b in
	boehm) ln -sf "$p" "$OUT/$p-$b" ;;
	mgc)
		# shellcheck disable=SC2016 # expanded by the wrapper, when it runs
		printf '#!/bin/sh\nLD_PRELOAD=%q${LD_PRELOAD:+:$LD_PRELOAD} exec %q "$@"\n' \
			"$MGC_GC_SO" "$OUT/$p" >"$OUT/$p-$b"
		chmod +x "$OUT/$p-$b"
		;;
	esac
}

refused() { echo "$2 ($1): does not run on the expected collector"; }

benchmarks_of() { echo "gccpp gccpp-2t"; }

program_of() { echo gccpp; }

bench_args() {
	case $1 in
	gccpp) echo "$GCCPP_OPS" ;;
	gccpp-2t) echo "-t 2 $GCCPP_OPS" ;;
	esac
}

before_runs() {
	rm -f "$OUT"/gccpp-checksum-*.txt
}

# A run prints "checksum HEX" and then "NAME backend seconds peak_rss_kib
# num_gc"; the checksum must be the one the first run of the benchmark
# printed (Boehm's, unless Boehm could not run).
verdict() {
	local w=$1 b=$2 rc=$3 out=$4 err=$5 line=$6 ref sum
	ref=$OUT/gccpp-checksum-$w.txt
	if ((rc != 0)) || [[ $(wc -w <<<"$line") -ne 5 || $line != "$w $b "* ]]; then
		WHY=$(run_failure "$rc" "$err")
		return 1
	fi
	sum=$(head -n -1 "$out")
	if [[ ! $sum =~ ^checksum\ [0-9a-f]{16}$ ]]; then
		WHY="no checksum line"
		return 1
	fi
	if [[ ! -f $ref ]]; then
		echo "$sum $b" >"$ref"
	elif [[ "$sum $(cut -d' ' -f3 "$ref")" != "$(cat "$ref")" ]]; then
		WHY="${sum#checksum } differs from $(cut -d' ' -f3 "$ref")'s $(cut -d' ' -f2 "$ref")"
		return 1
	fi
}

announce() {
	local on
	on=$(active_backends)
	say "== $RUNS runs of: $BENCHMARKS on: ${on% }"
}

tables() {
	local w b s rss bs brss f
	echo "| benchmark | backend | median s | time ÷ boehm | median peak RSS (MiB) | RSS ÷ boehm | median num_gc |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	for w in $BENCHMARKS; do
		bs=$(median "$w" boehm 3)
		brss=$(median "$w" boehm 4)
		for b in $BACKENDS; do
			s=$(median "$w" "$b" 3)
			[[ -n $s ]] || continue
			rss=$(median "$w" "$b" 4)
			printf '| %s | %s | %.3f | %s | %.1f | %s | %.0f |\n' "$w" "$b" "$s" \
				"$(ratio "$s" "$bs")" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
				"$(ratio "$rss" "$brss")" "$(median "$w" "$b" 5)"
		done
	done
	echo
	for w in $BENCHMARKS; do
		f=$OUT/gccpp-checksum-$w.txt
		[[ -f $f ]] && echo "Checksum of $w, the same in every run shown: $(cut -d' ' -f2 "$f")."
	done
	return 0
}

# The commit the preloaded library was built from, if it is this tree's.
shim_commit() {
	local c
	[[ $MGC_GC_SO == "$ROOT/build/libmgc-gc.so" ]] || return 0
	c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || return 0
	if [[ -n $(git -C "$ROOT" status --porcelain -- src include compat 2>/dev/null) ]]; then
		c+=", src, include or compat modified"
	fi
	echo " (commit $c)"
}

section_facts() {
	echo "- Sizes: $GCCPP_OPS operations per run (split between the two threads of gccpp-2t);" \
		"$RUNS runs per cell, alternating, medians shown"
	[[ -n ${IDENT[boehm]+set} ]] && echo "- boehm: ${IDENT[boehm]}"
	[[ -n ${IDENT[mgc]+set} ]] &&
		echo "- mgc: ${IDENT[mgc]}, LD_PRELOAD=${MGC_GC_SO#"$ROOT/"}$(shim_commit)"
	return 0
}

section_text() {
	echo "One binary, linked with \`-lgccpp -lgc\` as any C++ program on the Boehm"
	echo "collector is, run as it is (boehm) and with build/libmgc-gc.so preloaded"
	echo "(mgc).  libgccpp sends every \`operator new\` to GC_malloc_uncollectable"
	echo "and every \`delete\` to GC_free: a run makes about 5.5 million"
	echo "uncollectable blocks and frees 5.8 million blocks, beside 3.1 million"
	echo "collectable ones (\`gc\` objects and pointer-free arrays).  gccpp-2t does"
	echo "the same operations split between two threads, each with its own data."
	echo "The machine has $(nproc) cores and is noisy, so the ratios matter more than"
	echo "the absolute times; below 1, mgc is faster or smaller.  See"
	echo "\`bench/README.md\` for the workload."
}

bench_main "$@"
