#!/usr/bin/env bash
# run.sh — build and run the mgc allocator churn benchmark (bench/churn.c)
# against glibc, mimalloc, jemalloc and tcmalloc, and print a markdown table
# of medians.  See bench/README.md.
#
#   bash bench/run.sh            build, run, print the table
#   bash bench/run.sh --write    also update the churn section of docs/BENCHMARKS.md
#
# Environment:
#   BENCH_RUNS        runs per workload and backend (default 5)
#   BENCH_CHURN1_N    churn1 iterations (default 5000000)
#   BENCH_PRODCONS_N  prodcons blocks (default 2000000)
#   CC                compiler (default cc)
#   MGC_LIB           libmgc.a to link (default build/libmgc.a, built with make)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=run.sh
# variable    environment       default
SETTINGS=(
	"RUNS         BENCH_RUNS        5"
	"CHURN1_N     BENCH_CHURN1_N    5000000"
	"PRODCONS_N   BENCH_PRODCONS_N  2000000"
)
PROGRAMS="churn"
BENCHMARKS="churn1 prodcons"
BACKENDS="mgc glibc mimalloc jemalloc tcmalloc"
FILE_PREFIX=""
FAIL_DROPS=backend
FAILED_WHAT=backend
SECTION=churn
SECTION_TITLE="Allocator churn (\`bench/churn.c\`)"
MAKE_COMMAND="\`make bench\` (which runs \`@CMD@\`)"
# shellcheck source=bench/runner.sh
source "$ROOT/bench/runner.sh"

declare -A LIBS=() # backend -> link flags

# Link flags for a backend on stdout; nothing and status 1 if not installed.
backend_libs() {
	case $1 in
	mgc) echo "$MGC_LIB" ;;
	glibc) echo "" ;;
	mimalloc) can_link -lmimalloc && echo "-lmimalloc" ;;
	jemalloc) can_link -ljemalloc && echo "-ljemalloc" ;;
	tcmalloc)
		if can_link -ltcmalloc_minimal; then echo "-ltcmalloc_minimal"
		elif can_link -ltcmalloc; then echo "-ltcmalloc"
		else return 1; fi ;;
	esac
}

missing_hint() {
	case $1 in
	mimalloc) echo "-lmimalloc not found (apt-get install libmimalloc-dev)" ;;
	jemalloc) echo "-ljemalloc not found (apt-get install libjemalloc-dev)" ;;
	tcmalloc) echo "neither -ltcmalloc_minimal nor -ltcmalloc found (apt-get install libgoogle-perftools-dev)" ;;
	esac
}

backend_ready() {
	local libs
	if ! libs=$(backend_libs "$1"); then
		skip "$1: $(missing_hint "$1")"
		return 1
	fi
	LIBS[$1]=$libs
}

build_one() {
	local b=$2 libs=${LIBS[$2]} def
	def=BACKEND_$(tr '[:lower:]' '[:upper:]' <<<"$b")
	say "== build $b: $CC $CFLAGS -DBACKEND_${b^^} bench/churn.c $libs -lpthread -ldl"
	# shellcheck disable=SC2086 # $CFLAGS and $libs are lists of flags
	"$CC" $CFLAGS -D"$def" -I"$ROOT/include" "$ROOT/bench/churn.c" \
		-o "$OUT/churn-$b" $libs -lpthread -ldl ||
		die "build of the $b backend failed"
}

# Each binary confirms that its allocator is the one in use.
refused() { echo "$2: refused, allocator not active"; }

benchmarks_of() { echo "$BENCHMARKS"; }
program_of() { echo churn; }

bench_args() {
	case $1 in
	churn1) echo "$1 $CHURN1_N" ;;
	prodcons) echo "$1 $PRODCONS_N" ;;
	esac
}

# A run prints one line of five words.
verdict() {
	local rc=$3 err=$5 line=$6
	((rc == 0)) && [[ $(wc -w <<<"$line") -eq 5 ]] && return 0
	WHY=$(run_failure "$rc" "$err")
	return 1
}

announce() {
	say "== $RUNS runs of: $BENCHMARKS on: $(active_backends)"
}

tables() {
	local w b s ns rss base ratio
	echo "| workload | backend | median s | median ns/op | ratio to mgc | median peak RSS (MiB) |"
	echo "|---|---|---:|---:|---:|---:|"
	for w in $BENCHMARKS; do
		base=$(median "$w" mgc 3)
		for b in $BACKENDS; do
			s=$(median "$w" "$b" 3)
			[[ -n $s ]] || continue
			ns=$(median "$w" "$b" 4)
			rss=$(median "$w" "$b" 5)
			if [[ -n $base ]]; then
				ratio=$(awk -v s="$s" -v m="$base" 'BEGIN { printf "%.2f", s / m }')
			else
				ratio="n/a"
			fi
			printf '| %s | %s | %.3f | %.1f | %s | %.1f |\n' "$w" "$b" "$s" "$ns" "$ratio" \
				"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
		done
	done
}

section_facts() {
	local b
	echo "- Sizes: churn1 $CHURN1_N iterations, prodcons $PRODCONS_N blocks;" \
		"$RUNS runs per cell, medians shown"
	for b in $BACKENDS; do
		if [[ -n ${IDENT[$b]+set} ]]; then echo "- $b: ${IDENT[$b]}"; fi
	done
}

section_text() {
	echo "The machine has $(nproc) cores and is noisy, so the ratios matter more"
	echo "than the absolute times.  Ratio to mgc = the backend's median time"
	echo "divided by mgc's (above 1: mgc is faster; below 1: mgc is slower)."
	echo "See \`bench/README.md\` for what each workload measures."
}

bench_main "$@"
