#!/usr/bin/env bash
# summary.sh — one table of every benchmark's latest medians, from the
# results that bench/run.sh (allocator churn), bench/gc_run.sh (collector
# benchmarks) and bench/programs.sh (real programs) left in build/bench.
# `make bench` runs all four; this prints the table last.
#
#   bash bench/summary.sh            print the table
#   bash bench/summary.sh --write    also update the summary section of docs/BENCHMARKS.md
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_SETTINGS=""
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
die() { say "summary.sh: $*"; exit 1; }

WRITE=0
case ${1:-} in
--write) WRITE=1 ;;
"") ;;
*) die "usage: bash bench/summary.sh [--write]" ;;
esac

BACKENDS="mgc boehm glibc mimalloc jemalloc tcmalloc"

# rows FILE RSS_FIELD BENCHMARK...: one table row per benchmark found.
rows() {
	local file=$1 rssf=$2 w b t r cells tm tb rm rb
	shift 2
	[[ -f $file ]] || return 0
	RESULTS=$file
	for w in "$@"; do
		grep -q "^$w " "$file" || continue
		cells=""
		for b in $BACKENDS; do
			t=$(median "$w" "$b" 3)
			r=$(median "$w" "$b" "$rssf")
			if [[ -z $t ]]; then
				cells+=" — |"
			else
				cells+=$(awk -v t="$t" -v r="$r" 'BEGIN { printf " %.3g s, %.0f MiB |", t, r / 1024 }')
			fi
		done
		tm=$(median "$w" mgc 3) tb=$(median "$w" boehm 3)
		rm=$(median "$w" mgc "$rssf") rb=$(median "$w" boehm "$rssf")
		if [[ -n $tm && -n $tb ]]; then
			cells+=$(awk -v a="$tm" -v b="$tb" -v c="$rm" -v d="$rb" \
				'BEGIN { printf " %.2f | %.2f |", a / b, c / d }')
		else
			cells+=" — | — |"
		fi
		echo "| $w |$cells"
	done
}

table() {
	echo "| benchmark | mgc | Boehm | glibc | mimalloc | jemalloc | tcmalloc | time mgc/Boehm | RSS mgc/Boehm |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	rows "$OUT/results.txt" 5 churn1 prodcons
	rows "$OUT/gc-results.txt" 4 gcbench bintree pause finalizers cleanups
	rows "$OUT/programs-results.txt" 4 w3m mmv chase neko
}

TABLE=$(table)
echo "$TABLE"
if ((WRITE)); then
	{
		echo "<!-- summary:begin -->"
		echo "## Summary (\`make bench\`)"
		echo
		echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: nproc $(nproc), CPU $(cpu_model)"
		echo "- Medians of the latest runs of bench/run.sh, bench/gc_run.sh and bench/programs.sh"
		echo "  (each section below gives its command, sizes, run count and versions)."
		echo "  Each cell: median wall time, median peak RSS.  The malloc libraries run only"
		echo "  the explicit-free benchmarks; Boehm does not run those."
		echo
		echo "$TABLE"
		echo "<!-- summary:end -->"
	} >"$OUT/summary-section.md"
	replace_doc_section summary "$OUT/summary-section.md"
fi
