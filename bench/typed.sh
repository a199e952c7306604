#!/usr/bin/env bash
# typed.sh — GCBench, binary-trees and records with typed nodes beside
# the conservative ones, on mgc and on the Boehm collector: time, peak RSS
# and the mark time per live MiB.  See bench/README.md ("Typed
# allocation").
#
#   bash bench/typed.sh        build, run, print the table
#
# Environment:
#   BENCH_RUNS           runs per benchmark and variant (default 5)
#   BENCH_BINTREE_DEPTH  bintree depth (default 21)
#   BENCH_RECORDS_MIB    records: live MiB (default 160)
#   BENCH_RECORDS_N      records: records replaced (default 8000000)
#   BENCH_TYPED_PROGRAMS which programs (default "gcbench bintree records")
#   CC                   compiler (default cc)
#   MGC_LIB              libmgc.a to link (default build/libmgc.a, built with make)
#
# The mark time comes from the collectors' own per-collection lines:
# MGC_TRACE=1 (mgc: the pause, and the live MiB the mark found) and
# GC_PRINT_STATS=1 (Boehm: "World-stopped marking took", and the in-use
# heap after the mark, pointer-holding and pointer-free blocks).  Summed
# over the run's collections, the time divided by the live MiB is the
# figure per run; the table shows the medians.  Every run of records
# must print the checksum of the first.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_SETTINGS="BENCH_RUNS BENCH_BINTREE_DEPTH BENCH_RECORDS_MIB BENCH_RECORDS_N BENCH_TYPED_PROGRAMS"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
die() { say "typed.sh: $*"; exit 1; }

RUNS=${BENCH_RUNS:-5}
DEPTH=${BENCH_BINTREE_DEPTH:-21}
REC_MIB=${BENCH_RECORDS_MIB:-160}
REC_N=${BENCH_RECORDS_N:-8000000}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $DEPTH =~ ^[1-9][0-9]*$ ]] || die "BENCH_BINTREE_DEPTH must be a positive integer"
[[ $REC_MIB =~ ^[1-9][0-9]*$ ]] || die "BENCH_RECORDS_MIB must be a positive integer"
[[ $REC_N =~ ^[1-9][0-9]*$ ]] || die "BENCH_RECORDS_N must be a positive integer"
[[ $# -eq 0 ]] || die "usage: bash bench/typed.sh"

PROGRAMS=${BENCH_TYPED_PROGRAMS:-gcbench bintree records}
# Each conservative variant is followed by its typed one.
VARIANTS="mgc mgctyped boehm boehmtyped"
BIN=$OUT/typed
RESULTS=$OUT/typed-results.txt

defines() {
	case $1 in
	mgc) echo "-DBACKEND_MGC" ;;
	mgctyped) echo "-DBACKEND_MGC -DBK_TYPED" ;;
	boehm) echo "-DBACKEND_BOEHM" ;;
	boehmtyped) echo "-DBACKEND_BOEHM -DBK_TYPED" ;;
	esac
}

libs() {
	case $1 in
	mgc*) echo "$MGC_LIB -lpthread -ldl" ;;
	boehm*) echo "-lgc -lpthread" ;;
	esac
}

# The block a node takes.  mgc: size classes of 8, 16, 32, 48 ... bytes,
# and a typed block holds one word more, its layout, unless every word of
# the layout is a pointer and the request fills its class (16-byte
# bintree nodes take 16 bytes either way, as plain blocks; 24-byte
# GCBench nodes take 32 either way).  Boehm: 16-byte granules, one byte
# more for a pointer just past the end, one word more for a typed block's
# descriptor (32 bytes in all four cases).  A 120-byte record takes 128
# bytes in every variant: the typed layout word, or descriptor, fits in
# the rounding.
node_block() {
	case $1/$2 in
	bintree/mgc*) echo 16 ;;
	records/*) echo 128 ;;
	*) echo 32 ;;
	esac
}

# The sums over a run's collections, from its stderr: "collections
# mark_ns live_mib".
mark_sums() {
	case $1 in
	mgc*)
		awk '$1 == "mgc:" && $2 == "gc" && $5 == "pause" {
			p = $6; sub(/ms:$/, "", p); ns += p * 1e6; mib += $10; n++
		}
		END { printf "%d %.0f %.3f\n", n, ns, mib }' "$2"
		;;
	boehm*)
		awk '/^World-stopped marking took / { ns += $4 * 1e6 + $6; n++ }
		/^In-use heap: / { a = $4; sub(/^\(/, "", a); kib += a + $8 }
		END { printf "%d %.0f %.3f\n", n, ns, kib / 1024 }' "$2"
		;;
	esac
}

build() {
	local p v
	find_mgc
	[[ -f $MGC_LIB ]] || die "$MGC_LIB does not exist (run make)"
	mkdir -p "$BIN"
	for p in $PROGRAMS; do
		for v in $VARIANTS; do
			say "== build $p $v: $CC $CFLAGS $(defines "$v") bench/$p.c $(libs "$v")"
			# shellcheck disable=SC2046,SC2086 # lists of flags
			"$CC" $CFLAGS $(defines "$v") -I"$ROOT/include" "$ROOT/bench/$p.c" \
				-o "$BIN/$p-$v" $(libs "$v") || die "building $p for $v failed"
			"$BIN/$p-$v" --which >&2 || die "$BIN/$p-$v does not start"
		done
	done
}

# One run: appends "benchmark variant seconds peak_rss_kib collections
# mark_ns live_mib round" to the results.
run_one() {
	local p=$1 v=$2 r=$3 out=$BIN/stdout.txt err=$BIN/stderr.txt rc=0 line sums f
	local -a argv=("$BIN/$p-$v")
	[[ $p == bintree ]] && argv+=("$DEPTH")
	[[ $p == records ]] && argv+=("$REC_MIB" "$REC_N")
	case $v in
	mgc*) MGC_TRACE=1 timeout "$RUN_TIMEOUT" "${argv[@]}" >"$out" 2>"$err" || rc=$? ;;
	boehm*) GC_PRINT_STATS=1 timeout "$RUN_TIMEOUT" "${argv[@]}" >"$out" 2>"$err" || rc=$? ;;
	esac
	line=$(tail -n 1 "$out")
	if ((rc != 0)) || [[ $line != "$p $v "* ]]; then
		die "$p $v (run $r): $(run_failure "$rc" "$err"); repeat with: ${argv[*]}"
	fi
	check_sum "$p" "$v" "$r" "$line" "${argv[*]}"
	sums=$(mark_sums "$v" "$err")
	say "   [$r/$RUNS] $line | collections, mark ns, live MiB: $sums"
	read -r -a f <<<"$line"
	echo "$p $v ${f[2]} ${f[3]} $sums $r" >>"$RESULTS"
}

# records ends its line with a checksum of the records' data, which does
# not depend on the collector: every run must print the first run's.
declare -A FIRST_SUM=()
check_sum() {
	local p=$1 v=$2 r=$3 line=$4 cmd=$5 sum
	[[ $p == records ]] || return 0
	sum=${line##* }
	[[ $sum =~ ^[0-9a-f]{16}$ ]] || die "$p $v (run $r): no checksum; repeat with: $cmd"
	: "${FIRST_SUM[$p]:=$sum}"
	[[ $sum == "${FIRST_SUM[$p]}" ]] ||
		die "$p $v (run $r): checksum $sum, the first run's was ${FIRST_SUM[$p]}; repeat with: $cmd"
}

run_failure() {
	echo "$(exit_reason "$1")$(tail -n 1 "$2" | sed 's/^./: &/')"
}

# Rounds alternate the order of the variants (forward, then backward), so
# that none always runs first or last.
run_all() {
	local r p v order
	: >"$RESULTS"
	for ((r = 1; r <= RUNS; r++)); do
		order=$VARIANTS
		((r % 2)) || order=$(echo "$VARIANTS" | tr ' ' '\n' | tac | tr '\n' ' ')
		for p in $PROGRAMS; do
			for v in $order; do
				run_one "$p" "$v" "$r"
			done
		done
	done
}

# The median of a column of numbers.
median_of() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit
			print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# The awk expression $3 of the fields s (seconds), rss (KiB), n, ns and
# mib of benchmark $1, variant $2: "round value" for each run.
values() {
	awk -v w="$1" -v b="$2" '$1 == w && $2 == b {
		s = $3; rss = $4; n = $5; ns = $6; mib = $7; print $8, '"$3"' }' "$RESULTS"
}

# Its median over the runs.
med() {
	values "$@" | awk '{ print $2 }' | median_of
}

# The median over the rounds of its value for variant $2 divided by its
# value for variant $3 in the same round: the runs of a round follow one
# another, so a slow spell of the machine weighs on both.
paired() {
	join <(values "$1" "$2" "$4" | sort) <(values "$1" "$3" "$4" | sort) |
		awk '{ print $2 / $3 }' | median_of
}

table() {
	local p v c s rss n nsmib rs rrss rnsmib blk cblk
	echo "| benchmark | variant | node block (B) | median s | ÷ conservative | median peak RSS (MiB) | ÷ conservative | median collections | median mark µs per live MiB | ÷ conservative | mark ns per live node (÷ conservative) |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for p in $PROGRAMS; do
		for v in $VARIANTS; do
			c=${v%typed}
			s=$(med "$p" "$v" s) rss=$(med "$p" "$v" rss) n=$(med "$p" "$v" n)
			nsmib=$(med "$p" "$v" "ns / mib")
			rs=$(paired "$p" "$v" "$c" s) rrss=$(paired "$p" "$v" "$c" rss)
			rnsmib=$(paired "$p" "$v" "$c" "ns / mib")
			blk=$(node_block "$p" "$v") cblk=$(node_block "$p" "$c")
			awk -v p="$p" -v v="$v" -v blk="$blk" -v cblk="$cblk" -v s="$s" -v rs="$rs" \
				-v rss="$rss" -v rrss="$rrss" -v n="$n" -v m="$nsmib" -v rm="$rnsmib" 'BEGIN {
				# per node: where every block is a node (records: all but
				# the array of tree roots)
				node = "—"
				if (p == "bintree" || p == "records")
					node = sprintf("%.1f (%.2f)", m * blk / 1048576, rm * blk / cblk)
				printf "| %s | %s | %d | %.3f | %.2f | %.1f | %.2f | %.0f | %.0f | %.2f | %s |\n",
					p, v, blk, s, rs, rss / 1024, rrss, n, m / 1000, rm, node
			}'
		done
	done
}

build
say "== $RUNS rounds of: $PROGRAMS on: $VARIANTS (bintree depth $DEPTH, records $REC_MIB MiB, $REC_N replaced)"
run_all
echo
echo "- Command: \`${GIVEN_ENV}bash bench/typed.sh\`"
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: nproc $(nproc), CPU $(cpu_model)"
echo "- Compiler: \`$CC $CFLAGS\` ($("$CC" --version | head -n 1))"
echo "- $RUNS runs per cell, alternating; bintree depth $DEPTH; records $REC_MIB MiB live, $REC_N replaced, checksum ${FIRST_SUM[records]:-none}"
CENV=$(env | grep -E '^(MGC|GC)_' | sort | tr '\n' ' ' || true)
CENV=${CENV% }
echo "- Collector environment: ${CENV:-none}"
echo
table
