#!/usr/bin/env bash
# plot.sh — test_plot: the pictures.
#   - tools/mgc-plot draws the trace of a real run (build/examples/demo
#     under MGC_TRACE=1, with the program's own output mixed in) into an
#     SVG holding both panels, and names it on its last line;
#   - it refuses, naming the line, a trace line whose form it does not
#     know, a trace with no trace lines, and interleaved processes; it
#     draws the biggest of several processes run one after another;
#   - docs/bench.svg is drawn from the summary table docs/BENCHMARKS.md
#     holds now (bench/summary.sh --plot gives the same bars, and its date
#     is the table's).
# Skips (exit 77) when gnuplot is not installed.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
plot=$root/tools/mgc-plot

fail() {
	echo "FAIL: $*"
	exit 1
}
command -v gnuplot >/dev/null 2>&1 ||
	{ echo "SKIP test_plot: needs gnuplot (apt-get install -y gnuplot-nox)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# svg_ok FILE: a complete SVG document from gnuplot.
svg_ok() {
	head -n 1 "$1" | grep -q '^<?xml' && grep -q '<svg' "$1" && tail -n 3 "$1" | grep -q '</svg>'
}

# ---- a real trace

MGC_TRACE=1 build/examples/demo >"$tmp/trace" 2>&1 || fail "build/examples/demo: exit status $?"
n=$(grep -c '^mgc: gc ' "$tmp/trace")
((n > 0)) || fail "build/examples/demo under MGC_TRACE=1 traced no collection"
"$plot" -t "demo example" "$tmp/trace" "$tmp/demo.svg" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "mgc-plot: exit status $?"; }
cat "$tmp/out"
tail -n 1 "$tmp/out" | grep -q "$tmp/demo.svg" || fail "mgc-plot's last line does not name the SVG"
grep -q "of $n collections" "$tmp/out" || fail "mgc-plot did not draw all $n collections"
svg_ok "$tmp/demo.svg" || fail "mgc-plot wrote no complete SVG"
for text in "demo example" "$n collections" "heap (MiB)" "next goal" "live after collection" \
	"pause (ms)" "time since the program started"; do
	grep -qF "$text" "$tmp/demo.svg" || fail "the SVG does not show \"$text\""
done
if ! "$plot" - "$tmp/stdin.svg" <"$tmp/trace" >/dev/null 2>&1 || ! svg_ok "$tmp/stdin.svg"; then
	fail "mgc-plot does not read a trace from standard input"
fi

# ---- traces it must refuse, and several processes

# refuses NAME EXPECTED-MESSAGE: mgc-plot fails on $tmp/NAME, saying so.
refuses() {
	if "$plot" "$tmp/$1" "$tmp/$1.svg" >"$tmp/out" 2>&1; then
		fail "mgc-plot accepted $1"
	fi
	grep -qF -- "$2" "$tmp/out" || { cat "$tmp/out"; fail "mgc-plot on $1 did not say \"$2\""; }
	[[ -s $tmp/$1.svg ]] && fail "mgc-plot wrote an SVG for $1"
	echo "refused $1: $(head -n 1 "$tmp/out")"
}
line=$(grep -m 1 '^mgc: gc ' "$tmp/trace")
{ echo "program output"; echo "${line/ -> */ MiB, changed format}"; } >"$tmp/changed"
refuses changed "changed:2: not the form of an mgc trace line"
{ echo "${line/@/at }"; } >"$tmp/no-at"
refuses no-at "no-at:1: not the form"
echo "hello" >"$tmp/empty"
refuses empty "no trace lines"
mapfile -t gc < <(grep '^mgc: gc ' "$tmp/trace" | head -n 3)
((${#gc[@]} == 3)) || fail "build/examples/demo traced fewer than 3 collections"
# Collections 1 2 3, then 1 2 3 of a second process, then 2 again: two
# processes running at once.
printf '%s\n' "${gc[@]}" "${gc[@]}" "${gc[1]}" >"$tmp/two"
refuses two "two:7: collection 2 follows collection 3"
# Collections 1 2 of one process, then 1 2 3 of the next: the next drawn.
printf '%s\n' "${gc[0]}" "${gc[1]}" "${gc[@]}" >"$tmp/runs"
"$plot" "$tmp/runs" "$tmp/runs.svg" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "mgc-plot on two runs"; }
if ! grep -q "holds 2 processes' traces; drawing process 2" "$tmp/out" ||
	! grep -q "of 3 collections" "$tmp/out"; then
	cat "$tmp/out"
	fail "mgc-plot did not draw the bigger of two runs"
fi

# ---- docs/bench.svg is current

[[ -s docs/bench.svg ]] || fail "docs/bench.svg is missing (bash bench/summary.sh --plot)"
grep -q '(bench.svg)' docs/BENCHMARKS.md || fail "docs/BENCHMARKS.md does not show bench.svg"
bash bench/summary.sh --plot "$tmp/bench.svg" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "summary.sh --plot"; }
svg_ok "$tmp/bench.svg" || fail "summary.sh --plot wrote no complete SVG"
date=$(sed -n '/<!-- summary:begin -->/,/<!-- summary:end -->/s/^- Date: \([^;]*\);.*/\1/p' docs/BENCHMARKS.md)
[[ -n $date ]] || fail "no \"- Date:\" in the summary section of docs/BENCHMARKS.md"
grep -qF "$date" docs/bench.svg ||
	fail "docs/bench.svg is not drawn from the summary of $date (bash bench/summary.sh --plot)"
# The same bars: gnuplot writes each bar as a path; compare their geometry.
bars() { grep -c '<path' "$1"; }
[[ $(bars "$tmp/bench.svg") == $(bars docs/bench.svg) ]] ||
	fail "docs/bench.svg does not have the bars of the current summary table (bash bench/summary.sh --plot)"
echo "test_plot: ok"
