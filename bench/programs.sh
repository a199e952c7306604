#!/usr/bin/env bash
# programs.sh — time the real programs of tests/programs/workloads.sh (w3m,
# mmv, chase, neko, nix-instantiate: programs built for the Boehm collector)
# on Boehm and on mgc (build/mgc-run), at the bench size, and print a
# markdown table of medians.  Every run's output must equal the first Boehm run's.
#
#   bash bench/programs.sh            build, run, print the table
#   bash bench/programs.sh --write    also update the programs section of docs/BENCHMARKS.md
#
# Environment:
#   BENCH_RUNS       runs per program and backend (default 5), alternating
#   BENCH_PROGRAMS   which programs (default: all of workloads.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_SETTINGS="BENCH_RUNS BENCH_PROGRAMS"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
# shellcheck source=tests/programs/workloads.sh
source "$ROOT/tests/programs/workloads.sh"

RUNS=${BENCH_RUNS:-5}
# boehm first: the output every other run must equal is Boehm's.  mgc paces
# with its default, adaptive rule; mgcpct with the fixed rule at the percent
# Boehm's default free space divisor maps to (GC_FREE_SPACE_DIVISOR=3).
BACKENDS="boehm mgc mgcpct"
WRITE=0
RUN=$ROOT/build/mgc-run
RESULTS=$OUT/programs-results.txt
SKIPPED=()

die() { say "programs.sh: $*"; exit 1; }

for a in "$@"; do
	case $a in
	--write) WRITE=1 ;;
	*) die "usage: bash bench/programs.sh [--write]" ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install -y time)"
mkdir -p "$OUT"
if [[ -z ${MAKELEVEL:-} ]]; then
	make -s -C "$ROOT" build/mgc-run >&2 || die "make build/mgc-run failed"
fi

# one PROG BACKEND IN WORK: one timed run; appends "prog backend secs kib".
one() {
	local prog=$1 b=$2 in=$3 work=$4 runner="" pacing=() t
	[[ $b == mgc* ]] && runner=$RUN
	# mgcpct: the fixed rule Boehm's default divisor maps to (docs/COMPAT.md)
	[[ $b == mgcpct ]] && pacing=(GC_FREE_SPACE_DIVISOR=3)
	rm -rf "$work/out" "$work/times" && mkdir -p "$work/out"
	env "${pacing[@]}" WL_TIMES="$work/times" bash "$ROOT/tests/programs/workloads.sh" wl_run "$prog" "$in" "$runner" "$work/out" ||
		die "$prog on $b failed"
	if [[ ! -d $work/ref ]]; then
		cp -r "$work/out" "$work/ref"
	elif ! diff -r "$work/ref" "$work/out" >/dev/null; then
		die "$prog on $b printed something else than on Boehm"
	fi
	# the programs' time summed, their largest peak RSS
	t=$(awk '{ s += $1; if ($2 > m) m = $2 } END { printf "%.3f %d", s, m }' "$work/times")
	echo "$prog $b $t" >>"$RESULTS"
	say "   $prog $b: $t"
}

versions() {
	local p
	for p in $PROGS; do
		printf '%s %s, ' "$p" "$(dpkg-query -W -f '${Version}' "$(wl_package "$p")" 2>/dev/null || echo '?')"
	done
	printf 'bdwgc %s' "$(dpkg-query -W -f '${Version}' libgc1 2>/dev/null || echo '?')"
}

PROGS=""
for p in ${BENCH_PROGRAMS:-$WL_PROGRAMS}; do
	if command -v "$p" >/dev/null 2>&1; then
		PROGS+="$p "
	else
		SKIPPED+=("$p: not installed (apt-get install -y $(wl_package "$p"))")
		say "SKIP ${SKIPPED[-1]}"
	fi
done
: >"$RESULTS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in $PROGS; do
	say "== $p"
	wl_setup "$p" "$tmp/$p/in" bench || die "setting up $p failed"
	for ((r = 0; r < RUNS; r++)); do
		for b in $BACKENDS; do
			one "$p" "$b" "$tmp/$p/in" "$tmp/$p"
		done
	done
done

table() {
	local p b t r tb rb
	echo "| program | backend | median s | time ÷ Boehm | median peak RSS (MiB) | RSS ÷ Boehm |"
	echo "|---|---|---:|---:|---:|---:|"
	for p in $PROGS; do
		tb=$(median "$p" boehm 3)
		rb=$(median "$p" boehm 4)
		for b in $BACKENDS; do
			t=$(median "$p" "$b" 3)
			r=$(median "$p" "$b" 4)
			awk -v p="$p" -v b="$b" -v t="$t" -v r="$r" -v tb="$tb" -v rb="$rb" 'BEGIN {
				printf "| %s | %s | %.2f | %.2f | %.1f | %.2f |\n", p, b, t, t / tb, r / 1024, r / rb }'
		done
	done
}

TABLE=$(table)
echo "$TABLE"
if ((WRITE)); then
	{
		echo "<!-- programs:begin -->"
		echo "## Real programs: Boehm-collector programs on mgc (\`bench/programs.sh\`)"
		echo
		echo "- Command: \`${GIVEN_ENV}bash bench/programs.sh --write\`"
		echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "- Machine: nproc $(nproc), CPU $(cpu_model)"
		echo "- Programs: $(versions); mgc through build/mgc-run (LD_PRELOAD of build/libmgc-gc.so), default settings"
		echo "- Workloads (tests/programs/workloads.sh, bench size): w3m -dump, -dump -cols 80 and -dump -cols 40 of three generated pages (about 10 MB of HTML: nested tables, long lists, links and pre blocks); mmv renaming 30,000 files (dry run, rename, a two-wildcard swap, and back); chase on a chain of 4,000 symbolic links (the last link, every twentieth link, --verbose, and a 300-link loop); neko running tests/programs/neko/alloc.neko at size 18 (binary trees, strings, hashes, objects, arrays); nix-instantiate --eval --strict --readonly-mode on the expressions of tests/programs/nix/ (lists of 10^6 integers mapped, filtered, sorted and folded; 150,000-name attribute sets built, merged with // and grouped; string building and hashing; toJSON/fromJSON round trips of 50,000 records; GCBench-style binary trees of attribute sets to depth 16; a generated 6 MB literal list of 60,000 records)"
		echo "- $RUNS runs per program and backend, alternating; per run, the wall time of the program's commands summed and the largest peak RSS among them (GNU time), leaving out the shell's setup around them (creating and removing mmv's files); medians"
		for s in "${SKIPPED[@]}"; do
			echo "- Not measured: $s"
		done
		echo
		echo "Ratios are each backend's median divided by Boehm's (below 1: faster or smaller)."
		echo "mgc is the default (adaptive pacing); mgcpct is mgc with the fixed percent"
		echo "rule that Boehm's default free space divisor maps to (GC_FREE_SPACE_DIVISOR=3)."
		echo
		echo "$TABLE"
		echo "<!-- programs:end -->"
	} >"$OUT/programs-section.md"
	replace_doc_section programs "$OUT/programs-section.md"
fi
