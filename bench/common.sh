# shellcheck shell=bash disable=SC2034 # the settings are for the callers
# common.sh — settings and shell functions shared by the benchmark
# scripts (bench/runner.sh, for run.sh and gc_run.sh; programs.sh; leaks.sh;
# summary.sh; typed.sh).  Sourced, not run: the caller sets ROOT (the top
# of the tree) and ENV_SETTINGS (the BENCH_* variables it reads) first,
# RESULTS before it calls median, and defines die.

# The settings given in the environment, for the record in the docs.
GIVEN_ENV=""
for v in $ENV_SETTINGS CC MGC_LIB; do
	if [[ -n ${!v:-} ]]; then GIVEN_ENV+="$v=$(printf %q "${!v}") "; fi
done
unset v

OUT=$ROOT/build/bench
DOC=$ROOT/docs/BENCHMARKS.md
CC=${CC:-cc}
CFLAGS="-O2 -std=c11 -Wall -Wextra"
RUN_TIMEOUT=300

say() { printf '%s\n' "$*" >&2; }

# The mgc library: MGC_LIB if given, else build/libmgc.a, brought up to
# date with make unless make is already running us (make bench).
find_mgc() {
	if [[ -n ${MGC_LIB:-} ]]; then
		return
	fi
	MGC_LIB=$ROOT/build/libmgc.a
	if [[ -z ${MAKELEVEL:-} && -f $ROOT/Makefile ]]; then
		say "== make -C $ROOT"
		make -s -C "$ROOT" >&2 || die "make failed: cannot build $MGC_LIB"
	fi
}

# Why a run failed, from its exit status.
exit_reason() {
	local rc=$1
	if ((rc == 124)); then
		echo "timed out after $RUN_TIMEOUT s"
	elif ((rc > 128)); then
		echo "killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
	elif ((rc == 0)); then
		echo "malformed output"
	else
		echo "exit status $rc"
	fi
}

# $1 / $2 with two decimals, or n/a.
ratio() {
	if [[ -n $1 && -n $2 ]]; then
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
	else
		echo "n/a"
	fi
}

# Median of column $3 for benchmark $1 and backend $2; empty if no runs.
median() {
	awk -v w="$1" -v b="$2" -v c="$3" '$1 == w && $2 == b { print $c }' "$RESULTS" |
		sort -g |
		awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print m
		}'
}

cpu_model() {
	local m
	m=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
	echo "${m:-unknown}"
}

# Replaces the section between the markers <!-- $1:begin --> and
# <!-- $1:end --> of docs/BENCHMARKS.md with the file $2, or adds it.
replace_doc_section() {
	local mark=$1 new=$2 begins ends
	mkdir -p "$(dirname "$DOC")"
	if [[ ! -f $DOC ]]; then
		{ echo "# mgc benchmarks"; echo; cat "$new"; } >"$DOC"
	else
		begins=$(grep -c "^<!-- $mark:begin -->\$" "$DOC" || true)
		ends=$(grep -c "^<!-- $mark:end -->\$" "$DOC" || true)
		if [[ $begins -eq 0 && $ends -eq 0 ]]; then
			{ echo; cat "$new"; } >>"$DOC"
		elif [[ $begins -eq 1 && $ends -eq 1 ]]; then
			awk -v sec="$new" -v b="<!-- $mark:begin -->" -v e="<!-- $mark:end -->" '
				$0 == b { while ((getline l < sec) > 0) print l; skip = 1; next }
				$0 == e { skip = 0; next }
				!skip { print }' "$DOC" >"$DOC.tmp"
			mv "$DOC.tmp" "$DOC"
		else
			die "$DOC: $mark markers are unbalanced; not touching it"
		fi
	fi
	say "== wrote the $mark section of $DOC"
}
