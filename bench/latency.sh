#!/usr/bin/env bash
# latency.sh — build bench/latency.c for mgc (mostly concurrent and
# stop-the-world) and the Boehm collector (default and incremental), run it
# at each live size and print a markdown table of medians per size: the
# time of the whole run and the distribution of single operations' times.
# See bench/README.md.
#
#   bash bench/latency.sh            build, run, print the tables
#   bash bench/latency.sh --write    also update the latency section of docs/BENCHMARKS.md
#
# Environment:
#   BENCH_RUNS          runs per size and variant (default 3), alternating
#   BENCH_LATENCY_MIB   live sizes in MiB, a list (default "256 1024")
#   BENCH_LATENCY_OPS   tree replacements per run (default 10000000)
#   CC                  compiler (default cc)
#   MGC_LIB             libmgc.a to link (default build/libmgc.a, built with make)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=latency.sh
# variable   environment          default
SETTINGS=(
	"RUNS        BENCH_RUNS           3"
	"OPS         BENCH_LATENCY_OPS    10000000"
)
PROGRAMS="latency"
# mgcstw first among the mgc rows: the times are divided by its.
BACKENDS="mgc mgcstw boehm boehminc"
FILE_PREFIX=latency-
FAIL_DROPS=benchmark
FAILED_WHAT=run
SECTION=latency
SECTION_TITLE="Latency: single operations on a large live heap (\`bench/latency.c\`)"
MAKE_COMMAND="\`@CMD@\` (from make)"
# shellcheck source=bench/runner.sh
source "$ROOT/bench/runner.sh"

# The sizes are a list, which the runner's SETTINGS (one positive integer
# each) cannot hold: read and recorded here.
LATENCY_MIB=${BENCH_LATENCY_MIB:-256 1024}
if [[ -n ${BENCH_LATENCY_MIB:-} ]]; then
	GIVEN_ENV+="BENCH_LATENCY_MIB=$(printf %q "$BENCH_LATENCY_MIB") "
fi
BENCHMARKS=""
for m in $LATENCY_MIB; do
	BENCHMARKS+="${BENCHMARKS:+ }latency-$m"
done
unset m

after_args() {
	local m
	[[ -n $BENCHMARKS ]] || die "BENCH_LATENCY_MIB names no size"
	for m in $LATENCY_MIB; do
		[[ $m =~ ^[1-9][0-9]*$ ]] || die "BENCH_LATENCY_MIB: '$m' is not a size in MiB"
	done
}

backend_ready() {
	if [[ $1 == boehm* ]] && ! can_link -lgc; then
		skip "$1: -lgc not found (apt-get install libgc-dev)"
		return 1
	fi
}

backend_defines() {
	case $1 in
	mgc) echo "-DBACKEND_MGC" ;;
	mgcstw) echo "-DBACKEND_MGC -DLAT_STW" ;;
	boehm) echo "-DBACKEND_BOEHM" ;;
	boehminc) echo "-DBACKEND_BOEHM -DLAT_INCREMENTAL" ;;
	esac
}

# The source must build for every variant: a failure stops everything.
build_one() {
	local p=$1 b=$2 libs defs
	libs=$(gc_backend_libs "$b")
	defs=$(backend_defines "$b")
	say "== build $p $b: $CC $CFLAGS $defs bench/$p.c $libs"
	# shellcheck disable=SC2086 # $CFLAGS, $defs and $libs are lists of flags
	"$CC" $CFLAGS $defs -I"$ROOT/include" "$ROOT/bench/$p.c" -o "$OUT/$p-$b" $libs ||
		die "building bench/$p.c for $b failed"
}

refused() { echo "$2 ($1): does not start"; }

benchmarks_of() { echo "$BENCHMARKS"; }

program_of() { echo latency; }

bench_args() { echo "${1#latency-} $OPS"; }

# mgc falls back to stop-the-world collections, silently, where the kernel
# offers no dirty-page tracking; a short traced run shows which it does
# here, so that the table never calls stop-the-world times concurrent ones.
before_runs() {
	is_active "${BENCHMARKS%% *}" mgc || return 0
	if ! MGC_TRACE=1 "$OUT/latency-mgc" 64 500000 2>&1 >/dev/null |
		grep -q '; concurrent ('; then
		NOTES+=("mgc made no concurrent collection in a trial run (no dirty-page tracking on this kernel?): its rows are stop-the-world")
		say "NOTE ${NOTES[-1]}"
	fi
}

# A run prints one line: "latency VARIANT LIVE_MIB OPS" and seven figures.
# Boehm's incremental mode needs one mapping per page it unprotects, and
# the kernel's vm.max_map_count can be smaller than the heap's pages: then
# bdwgc aborts, which is a limit of that variant here, not a failure.
verdict() {
	local w=$1 b=$2 rc=$3 out=$4 err=$5 line=$6
	if ((rc != 0)) && [[ $b == boehminc ]] && grep -q 'mprotect vdb failed' "$err"; then
		WHY="bdwgc aborted ($(head -n 1 "$err")): its write barrier mprotects the heap page by page and ran out of mappings (vm.max_map_count $(cat /proc/sys/vm/max_map_count 2>/dev/null || echo '?'))"
		return 2
	fi
	if ((rc != 0)) || [[ $(wc -w <<<"$line") -ne 11 || $line != "latency $b ${w#latency-} "* ]]; then
		WHY=$(run_failure "$rc" "$err")
		return 1
	fi
}

announce() {
	local on
	on=$(active_backends)
	say "== $RUNS runs of $OPS operations at $LATENCY_MIB MiB on: ${on% }"
}

# The results keyed by size: every run prints "latency" first, and the
# medians of common.sh select on that word.
by_size() {
	awk '{ $1 = "latency-" $3; print }' "$1" >"$OUT/latency-by-size.txt"
	echo "$OUT/latency-by-size.txt"
}

size_table() {
	local w=$1 b s base
	echo "| variant | median total s | ÷ mgcstw | p50 µs | p99 µs | p99.9 µs | max ms | peak RSS MiB | collections |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	base=$(median "$w" mgcstw 5)
	for b in $BACKENDS; do
		s=$(median "$w" "$b" 5)
		[[ -n $s ]] || continue
		printf '| %s | %.2f | %s | %.2f | %.2f | %.1f | %.1f | %.0f | %.0f |\n' "$b" "$s" \
			"$(ratio "$s" "$base")" "$(median "$w" "$b" 6)" "$(median "$w" "$b" 7)" \
			"$(median "$w" "$b" 8)" "$(median "$w" "$b" 9)" \
			"$(awk -v k="$(median "$w" "$b" 10)" 'BEGIN { print k / 1024 }')" \
			"$(median "$w" "$b" 11)"
	done
}

tables() {
	local w first=1 all=$RESULTS RESULTS
	RESULTS=$(by_size "$all")
	for w in $BENCHMARKS; do
		((first)) || echo
		first=0
		echo "${w#latency-} MiB live, $OPS operations:"
		echo
		size_table "$w"
	done
}

section_facts() {
	local b c
	echo "- Sizes: $LATENCY_MIB MiB live (64-byte nodes, trees of 15), $OPS operations" \
		"per run; $RUNS runs per cell, alternating, medians shown"
	c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	for b in $BACKENDS; do
		[[ -n ${IDENT[$b]+set} ]] || continue
		if [[ $b == mgc* ]]; then
			echo "- $b: ${IDENT[$b]} (commit $c)"
		else
			echo "- $b: ${IDENT[$b]}"
		fi
	done
}

section_text() {
	echo "Each operation replaces one random tree of 15 nodes in a heap of"
	echo "trees whose roots are in one array allocated from the collector; the"
	echo "operation is timed alone, so a collection that stops the program shows"
	echo "in the tail (p99.9, max) and not only in the total.  Every figure is the"
	echo "median of the runs' own figures (the p99 column is the median of the"
	echo "runs' p99s).  Total s is the time of all the operations; ÷ mgcstw divides"
	echo "it by that of mgc stop-the-world.  Collections are those completed"
	echo "during the operations.  mgc is \`MGC_CONCURRENT=1\` (marking on a"
	echo "collector thread between two short stops), mgcstw the default; boehm is"
	echo "bdwgc with its defaults, boehminc with \`GC_enable_incremental()\`.  The"
	echo "machine has $(nproc) cores, which a concurrent collector thread shares"
	echo "with the program (and the machine's other load).  See \`bench/README.md\`."
}

bench_main "$@"
