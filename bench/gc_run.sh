#!/usr/bin/env bash
# gc_run.sh — build and run the mgc collector benchmarks (bench/gcbench.c,
# bintree.c, pause.c, finalizers.c) against the Boehm collector, and print
# markdown tables of medians.  See bench/README.md.
#
#   bash bench/gc_run.sh            build, run, print the tables
#   bash bench/gc_run.sh --write    also update the gc section of docs/BENCHMARKS.md
#
# Environment:
#   BENCH_RUNS           runs per benchmark and backend (default 5)
#   BENCH_PAUSE_RUNS     runs of pause per backend (default 3, at most BENCH_RUNS)
#   BENCH_PAUSE_MIB      live heap of pause in MiB (default 1024)
#   BENCH_BINTREE_DEPTH  bintree depth (default 21)
#   BENCH_FINALIZERS_N   blocks of finalizers and cleanups (default 1000000)
#   CC                   compiler (default cc)
#   MGC_LIB              libmgc.a to link (default build/libmgc.a, built with make)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=gc_run.sh
# variable       environment           default
SETTINGS=(
	"RUNS            BENCH_RUNS            5"
	"PAUSE_RUNS      BENCH_PAUSE_RUNS      3"
	"PAUSE_MIB       BENCH_PAUSE_MIB       1024"
	"BINTREE_DEPTH   BENCH_BINTREE_DEPTH   21"
	"FINALIZERS_N    BENCH_FINALIZERS_N    1000000"
)
PROGRAMS="gcbench bintree pause finalizers"
BENCHMARKS="gcbench bintree pause finalizers cleanups"
# mgc1 is mgc marking on one thread (MGC_MARKERS=1); boehmpar is the
# Boehm collector with its parallel markers started (GC_start_mark_threads),
# which a single-threaded program does not do by default.
BACKENDS="mgc mgcpct mgc1 boehm boehmpar"
FILE_PREFIX=gc-
FAIL_DROPS=benchmark
FAILED_WHAT=benchmark
SECTION=gc
SECTION_TITLE="Collector benchmarks: mgc against the Boehm collector"
MAKE_COMMAND="\`@CMD@\` (from make)"
# shellcheck source=bench/runner.sh
source "$ROOT/bench/runner.sh"

after_args() {
	((PAUSE_RUNS <= RUNS)) || PAUSE_RUNS=$RUNS
}

# Links a program using the Boehm collector: is libgc-dev installed?
have_boehm() {
	printf '#include <gc.h>\nint main(void) { GC_INIT(); return GC_MALLOC(8) == 0; }\n' |
		"$CC" -x c - -o "$OUT/.probe" -lgc >/dev/null 2>&1
}

# Does the library define the function?  (grep reads all of nm's output:
# with -q, nm could die of SIGPIPE and pipefail would report a failure.)
defines() {
	nm -g "$1" 2>/dev/null | grep -E " T $2\$" >/dev/null
}

backend_defines() {
	case $1 in
	mgc) echo "-DBACKEND_MGC" ;;
	mgc1) echo "-DBACKEND_MGC -DBK_ONE_MARKER" ;;
	mgcpct) echo "-DBACKEND_MGC -DBK_PERCENT" ;;
	boehm) echo "-DBACKEND_BOEHM" ;;
	boehmpar) echo "-DBACKEND_BOEHM -DBK_PARALLEL_MARK" ;;
	esac
}

# The benchmarks a program runs.
benchmarks_of() {
	case $1 in
	finalizers) echo "finalizers cleanups" ;;
	*) echo "$1" ;;
	esac
}

program_of() {
	case $1 in
	cleanups) echo finalizers ;;
	*) echo "$1" ;;
	esac
}

backend_ready() {
	local b=$1
	if [[ $b == mgc ]] && ! defines "$MGC_LIB" mgc_collect; then
		NOTES+=("$MGC_LIB has no collector yet (no mgc_collect): its rows show allocation without collection")
		say "NOTE ${NOTES[-1]}"
	fi
	if [[ $b == boehm* ]] && ! have_boehm; then
		skip "$b: <gc.h> or -lgc not found (apt-get install libgc-dev)"
		return 1
	fi
}

# Compiles (a failure stops everything: the sources must build) and links
# (a failure of mgc's link, typically symbols the library does not have
# yet, skips that program's mgc benchmarks, naming the missing symbols).
build_one() {
	local p=$1 b=$2 libs defs obj log missing
	libs=$(gc_backend_libs "$b")
	defs=$(backend_defines "$b")
	obj=$OUT/$p-$b.o
	log=$OUT/gc-link-$p-$b.txt
	say "== build $p $b: $CC $CFLAGS $defs bench/$p.c $libs"
	# shellcheck disable=SC2086 # $CFLAGS, $defs and $libs are lists of flags
	"$CC" $CFLAGS $defs -I"$ROOT/include" -c "$ROOT/bench/$p.c" -o "$obj" ||
		die "compiling bench/$p.c for $b failed"
	# shellcheck disable=SC2086
	if ! "$CC" "$obj" -o "$OUT/$p-$b" $libs >"$log" 2>&1; then
		missing=$(grep -i 'undefined' "$log" | grep -oE '\bmgc_[a-z_]+' |
			sort -u | tr '\n' ' ' || true)
		if [[ -n $missing ]]; then
			skip "$b ($p): $MGC_LIB lacks ${missing% }"
		else
			skip "$b ($p): link failed: $(head -n 1 "$log")"
		fi
		return 1
	fi
}

refused() { echo "$2 ($1): does not start"; }

# Arguments of the program for a benchmark.
bench_args() {
	case $1 in
	gcbench) ;;
	bintree) echo "$BINTREE_DEPTH" ;;
	pause) echo "$PAUSE_MIB" ;;
	finalizers|cleanups) echo "$1 $FINALIZERS_N" ;;
	esac
}

# Words in the result line of a benchmark.
bench_fields() {
	case $1 in
	gcbench|bintree) echo 6 ;;
	*) echo 9 ;;
	esac
}

bench_runs() {
	case $1 in
	pause) echo "$PAUSE_RUNS" ;;
	*) echo "$RUNS" ;;
	esac
}

# The check lines binary-trees must print for a depth: a tree of depth d
# has 2^(d+1) - 1 nodes.
expected_checks() {
	awk -v n="$1" 'BEGIN {
		printf "stretch tree of depth %d\t check: %.0f\n", n + 1, 2 ^ (n + 2) - 1
		for (d = 4; d <= n; d += 2) {
			it = 2 ^ (n - d + 4)
			printf "%.0f\t trees of depth %d\t check: %.0f\n", it, d, it * (2 ^ (d + 1) - 1)
		}
		printf "long lived tree of depth %d\t check: %.0f\n", n, 2 ^ (n + 1) - 1
	}'
}

# bintree prints its check lines before the result: every run of every
# backend must print exactly the expected ones.
checks_differ() {
	local w=$1 out=$2 ref=$OUT/gc-checks-expected.txt
	[[ $w == bintree ]] || return 1
	[[ -f $ref ]] || expected_checks "$BINTREE_DEPTH" >"$ref"
	head -n -1 "$out" >"$out.checks"
	! cmp -s "$ref" "$out.checks"
}

before_runs() {
	rm -f "$OUT/gc-checks-expected.txt"
}

# A run prints its result line last: the benchmark, the backend and as
# many words as the benchmark has fields; 77 means the backend lacks the
# feature (ENOSYS).
verdict() {
	local w=$1 b=$2 rc=$3 out=$4 err=$5 line=$6
	if ((rc == 77)); then
		WHY="not available: $(tail -n 1 "$err")"
		return 2
	fi
	if ((rc != 0)) || [[ $(wc -w <<<"$line") -ne $(bench_fields "$w") ]] ||
		[[ $line != "$w $b "* ]]; then
		WHY=$(run_failure "$rc" "$err")
		return 1
	fi
	if checks_differ "$w" "$out"; then
		WHY="check lines differ from the expected ones"
		REPEAT+=" (diff $out.checks $OUT/gc-checks-expected.txt)"
		return 1
	fi
}

announce() {
	local on
	on=$(active_backends)
	say "== $RUNS runs ($PAUSE_RUNS of pause) of: $BENCHMARKS on: ${on% }"
}

main_table() {
	local w b s rss pause ngc bs brss
	echo "| benchmark | backend | median s | time ÷ boehm | median peak RSS (MiB) | RSS ÷ boehm | median max pause (ms) | median num_gc |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for w in $BENCHMARKS; do
		bs=$(median "$w" boehm 3)
		brss=$(median "$w" boehm 4)
		for b in $BACKENDS; do
			s=$(median "$w" "$b" 3)
			[[ -n $s ]] || continue
			rss=$(median "$w" "$b" 4)
			pause=$(median "$w" "$b" 5)
			ngc=$(median "$w" "$b" 6)
			printf '| %s | %s | %.3f | %s | %.1f | %s | %.2f | %.0f |\n' "$w" "$b" \
				"$s" "$(ratio "$s" "$bs")" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
				"$(ratio "$rss" "$brss")" "$pause" "$ngc"
		done
	done
}

pause_table() {
	local b s
	echo "| backend | live MiB | median collection (ms) | median mark rate (GB/s) | median build s |"
	echo "|---|---:|---:|---:|---:|"
	for b in $BACKENDS; do
		s=$(median pause "$b" 3)
		[[ -n $s ]] || continue
		printf '| %s | %s | %.1f | %.3f | %.2f |\n' "$b" "$(median pause "$b" 7)" \
			"$(awk -v s="$s" 'BEGIN { print s * 1000 }')" \
			"$(median pause "$b" 8)" "$(median pause "$b" 9)"
	done
}

finalizer_table() {
	local w b s
	echo "| benchmark | backend | finalized | median rounds | median finalization s |"
	echo "|---|---|---:|---:|---:|"
	for w in finalizers cleanups; do
		for b in $BACKENDS; do
			s=$(median "$w" "$b" 9)
			[[ -n $s ]] || continue
			printf '| %s | %s | %s | %s | %.3f |\n' "$w" "$b" \
				"$(median "$w" "$b" 7)" "$(median "$w" "$b" 8)" "$s"
		done
	done
}

tables() {
	main_table
	echo
	echo "One full collection of the \`pause\` heap (\`seconds\` above).  The build"
	echo "time includes the kernel's page faults: mgc asks for huge pages, and"
	echo "the first mgc run of a round often pays the kernel for compacting"
	echo "memory into them (seconds of system time), so that column depends on"
	echo "the order of the runs more than on the backend:"
	echo
	pause_table
	echo
	echo "Finalization after the drop (part of \`seconds\` above):"
	echo
	finalizer_table
}

# The commit mgc was built from, if the tree is a git checkout.
mgc_commit() {
	local c
	c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || return 0
	if [[ -n $(git -C "$ROOT" status --porcelain -- src include 2>/dev/null) ]]; then
		c+=", src or include modified"
	fi
	echo " (commit $c)"
}

# Variables that change how either collector behaves (MGC_GCPERCENT,
# GC_MARKERS, GC_FREE_SPACE_DIVISOR, ...), if any are set.
collector_env() {
	local e
	e=$(env | grep -E '^(MGC|GC)_' | sort | tr '\n' ' ' || true)
	e=${e% }
	echo "${e:-none}"
}

section_facts() {
	echo "- Sizes: gcbench standard parameters, bintree depth $BINTREE_DEPTH," \
		"pause $PAUSE_MIB MiB live, finalizers and cleanups $FINALIZERS_N blocks;" \
		"$RUNS runs per cell ($PAUSE_RUNS for pause), medians shown"
	[[ -n ${IDENT[mgc]+set} ]] && echo "- mgc: ${IDENT[mgc]}$(mgc_commit)"
	[[ -n ${IDENT[mgcpct]+set} ]] && echo "- mgcpct: ${IDENT[mgcpct]}"
	[[ -n ${IDENT[mgc1]+set} ]] && echo "- mgc1: ${IDENT[mgc1]}"
	[[ -n ${IDENT[boehm]+set} ]] && echo "- boehm: ${IDENT[boehm]}"
	[[ -n ${IDENT[boehmpar]+set} ]] && echo "- boehmpar: ${IDENT[boehmpar]}"
	echo "- Collector environment: $(collector_env)"
}

section_text() {
	echo "The machine has $(nproc) cores and is noisy, so the ratios matter more"
	echo "than the absolute times.  The ratios are each backend's median divided"
	echo "by the Boehm collector's with its default settings (below 1: faster or"
	echo "smaller; above 1: slower or larger).  mgc marks with as many threads as"
	echo "there are CPUs (MGC_MARKERS) and paces with its default, adaptive rule;"
	echo "mgcpct is mgc with the fixed rule at MGC_GCPERCENT=100 (the pacing"
	echo "table); mgc1 is mgc marking on one thread.  The"
	echo "programs are single-threaded, so Boehm does not start its parallel"
	echo "markers; boehmpar is Boehm with them started (GC_start_mark_threads)."
	echo "See \`bench/README.md\` for what each benchmark measures."
}

bench_main "$@"
