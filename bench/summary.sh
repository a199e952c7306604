#!/usr/bin/env bash
# summary.sh — one table of every benchmark's latest medians, from the
# results that bench/run.sh (allocator churn), bench/gc_run.sh (collector
# benchmarks), bench/programs.sh (real programs) and bench/gccpp.sh (C++
# through libgccpp) left in build/bench.  `make bench` runs those four and
# bench/leaks.sh (leak finding, not in this table); this prints the table
# last.
#
#   bash bench/summary.sh            print the table
#   bash bench/summary.sh --write    also update the summary section of docs/BENCHMARKS.md
#                                    and redraw docs/bench.svg from it
#   bash bench/summary.sh --plot [FILE]
#                                    only draw the bar chart of the summary section's
#                                    mgc/Boehm ratios, as it is in docs/BENCHMARKS.md,
#                                    into FILE (default docs/bench.svg)
#
# The chart is drawn by gnuplot (apt-get install -y gnuplot-nox); without
# it --write updates the table and says that the chart was not redrawn.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_SETTINGS=""
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
die() { say "summary.sh: $*"; exit 1; }

WRITE=0
PLOT=""
case ${1:-} in
--write) WRITE=1 ;;
--plot) PLOT=${2:-$ROOT/docs/bench.svg} ;;
"") ;;
*) die "usage: bash bench/summary.sh [--write | --plot [FILE]]" ;;
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
	rows "$OUT/programs-results.txt" 4 w3m mmv chase neko nix-instantiate
	rows "$OUT/gccpp-results.txt" 4 gccpp gccpp-2t
}

# ratios FILE: the summary section of docs/BENCHMARKS.md as gnuplot data,
# "benchmark time-ratio rss-ratio" for each row that has both mgc/Boehm
# ratios; its date goes into FILE.date.  Dies if the section or the two
# columns are missing, rather than draw an empty chart.
ratios() {
	local out=$1
	awk -v out="$out" '
		$0 == "<!-- summary:begin -->" { in_sec = 1; next }
		$0 == "<!-- summary:end -->" { in_sec = 0; next }
		!in_sec { next }
		/^- Date: / { d = substr($0, 9); sub(/;.*/, "", d); print d > (out ".date") }
		/^\|/ {
			n = split($0, cell, "|")
			for (i = 2; i < n; i++) {
				c = cell[i]
				gsub(/^ +| +$/, "", c)
				cell[i] = c
			}
			if (!tc) {
				for (i = 2; i < n; i++) {
					if (cell[i] == "time mgc/Boehm") tc = i
					if (cell[i] == "RSS mgc/Boehm") rc = i
				}
				next
			}
			if (cell[tc] ~ /^[0-9.]+$/ && cell[rc] ~ /^[0-9.]+$/)
				print cell[2], cell[tc], cell[rc] > out
		}
		END { exit !(tc && rc) }' "$DOC" ||
		die "$DOC: no summary table with \"time mgc/Boehm\" and \"RSS mgc/Boehm\" columns"
	[[ -s $out ]] || die "$DOC: the summary table has no row with both mgc/Boehm ratios"
	[[ -s $out.date ]] || die "$DOC: the summary section has no \"- Date: \" line"
}

# plot FILE: the bar chart of the summary section's ratios, as an SVG.
plot() {
	local svg=$1 data=$OUT/summary-ratios.txt date
	mkdir -p "$OUT"
	rm -f "$data" "$data.date"
	ratios "$data"
	date=$(cat "$data.date")
	rows=$(wc -l <"$data")
	gnuplot <<-EOF || die "gnuplot failed to draw $svg"
		set terminal svg size 900,480 dynamic font "sans,12" background "white"
		set output "$svg"
		set title "mgc divided by the Boehm collector (below 1: mgc is better)\n{/*0.8 medians of make bench, $date}" enhanced
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.85 border -1
		set boxwidth 0.9
		set xrange [-0.6:$rows - 0.4]
		set yrange [0:*]
		set offsets 0, 0, graph 0.12, 0
		set ylabel "mgc / Boehm"
		set grid ytics lc rgb "#dddddd"
		set key top left noenhanced
		set xtics noenhanced nomirror scale 0
		set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#444444"
		plot "$data" using 2:xtic(1) title "wall time" lc rgb "#1b9e77", \
		     "" using 3 title "peak RSS" lc rgb "#7570b3", \
		     "" using (\$0 - 1.0/6):2:(sprintf("%.2f", \$2)) with labels offset 0,0.7 font ",9" notitle, \
		     "" using (\$0 + 1.0/6):3:(sprintf("%.2f", \$3)) with labels offset 0,0.7 font ",9" notitle, \
		     NaN with lines dt 2 lw 1.5 lc rgb "#444444" title "Boehm = 1"
	EOF
	say "== drew $svg from the summary table of $DOC"
}

if [[ -n $PLOT ]]; then
	plot "$PLOT"
	exit 0
fi

TABLE=$(table)
echo "$TABLE"
if ((WRITE)); then
	{
		echo "<!-- summary:begin -->"
		echo "## Summary (\`make bench\`)"
		echo
		echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: nproc $(nproc), CPU $(cpu_model)"
		echo "- Medians of the latest runs of bench/run.sh, bench/gc_run.sh, bench/programs.sh"
		echo "  and bench/gccpp.sh (each section below gives its command, sizes, run count"
		echo "  and versions)."
		echo "  Each cell: median wall time, median peak RSS.  The malloc libraries run only"
		echo "  the explicit-free benchmarks; Boehm does not run those."
		echo
		echo "$TABLE"
		echo
		echo "![wall time and peak RSS of mgc divided by the Boehm collector's, per benchmark](bench.svg)"
		echo "<!-- summary:end -->"
	} >"$OUT/summary-section.md"
	replace_doc_section summary "$OUT/summary-section.md"
	if command -v gnuplot >/dev/null 2>&1; then
		plot "$ROOT/docs/bench.svg"
	else
		say "summary.sh: docs/bench.svg NOT redrawn: needs gnuplot (apt-get install -y gnuplot-nox)"
	fi
fi
