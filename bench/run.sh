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
ENV_SETTINGS="BENCH_RUNS BENCH_CHURN1_N BENCH_PRODCONS_N"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

RUNS=${BENCH_RUNS:-5}
CHURN1_N=${BENCH_CHURN1_N:-5000000}
PRODCONS_N=${BENCH_PRODCONS_N:-2000000}
WORKLOADS="churn1 prodcons"
BACKENDS="mgc glibc mimalloc jemalloc tcmalloc"
WRITE=0

declare -A LIBS=()      # backend -> link flags, for the backends that are built
declare -A IDENT=()     # backend -> what the binary says it is running on
SKIPPED=()              # "backend: reason", printed and written, never silent
FAILED=()

die() { say "run.sh: $*"; exit 1; }

usage() {
	say "usage: bash bench/run.sh [--write]"
	exit 2
}

parse_args() {
	local a
	for a in "$@"; do
		case $a in
		--write) WRITE=1 ;;
		-h|--help) usage ;;
		*) say "run.sh: unknown argument '$a'"; usage ;;
		esac
	done
	[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
	[[ $CHURN1_N =~ ^[1-9][0-9]*$ ]] || die "BENCH_CHURN1_N must be a positive integer"
	[[ $PRODCONS_N =~ ^[1-9][0-9]*$ ]] || die "BENCH_PRODCONS_N must be a positive integer"
}

# Links an empty program with the given flags: is the library installed?
can_link() {
	printf 'int main(void) { return 0; }\n' |
		"$CC" -x c - -o "$OUT/.probe" "$@" >/dev/null 2>&1
}

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

build_one() {
	local b=$1 libs=$2 def
	def=BACKEND_$(tr '[:lower:]' '[:upper:]' <<<"$b")
	# shellcheck disable=SC2086 # $CFLAGS and $libs are lists of flags
	"$CC" $CFLAGS -D"$def" -I"$ROOT/include" "$ROOT/bench/churn.c" \
		-o "$OUT/churn-$b" $libs -lpthread -ldl ||
		die "build of the $b backend failed"
}

# Build every backend whose library is present, then ask each binary to
# confirm its allocator is the one in use.
build_all() {
	local b libs ident
	mkdir -p "$OUT"
	find_mgc
	for b in $BACKENDS; do
		if [[ $b == mgc && ! -f $MGC_LIB ]]; then
			SKIPPED+=("mgc: $MGC_LIB does not exist (run make)")
			say "SKIP mgc: $MGC_LIB does not exist (run make)"
			continue
		fi
		if ! libs=$(backend_libs "$b"); then
			SKIPPED+=("$b: $(missing_hint "$b")")
			say "SKIP $b: $(missing_hint "$b")"
			continue
		fi
		say "== build $b: $CC $CFLAGS -DBACKEND_${b^^} bench/churn.c $libs -lpthread -ldl"
		build_one "$b" "$libs"
		if ! ident=$("$OUT/churn-$b" --which 2>&1); then
			SKIPPED+=("$b: refused, allocator not active: $ident")
			say "SKIP $b: refused, allocator not active: $ident"
			continue
		fi
		LIBS[$b]=$libs
		IDENT[$b]=${ident#"$b: "}
	done
	rm -f "$OUT/.probe"
}

active_backends() {
	local b
	for b in $BACKENDS; do
		[[ -n ${LIBS[$b]+set} ]] && printf '%s ' "$b"
	done
	return 0
}

iterations() {
	case $1 in
	churn1) echo "$CHURN1_N" ;;
	prodcons) echo "$PRODCONS_N" ;;
	esac
}

# One run; appends its line to the results file.  A backend that fails
# once is dropped, and its failure reported with the command to repeat it.
run_one() {
	local w=$1 b=$2 r=$3 line err rc=0 why cmd
	local argv=("$OUT/churn-$b" "$w" "$(iterations "$w")")
	err=$OUT/stderr-$b-$w.txt
	cmd="${argv[*]}"
	line=$(timeout "$RUN_TIMEOUT" "${argv[@]}" 2>"$err") || rc=$?
	if ((rc == 0)) && [[ $(wc -w <<<"$line") -eq 5 ]]; then
		say "   [$r/$RUNS] $line"
		echo "$line" >>"$RESULTS"
		return
	fi
	why="$(exit_reason "$rc")$(tail -n 1 "$err" | sed 's/^./: &/')"
	say "FAIL $b $w (run $r): $why"
	say "     repeat with: $cmd"
	FAILED+=("$b ($w, run $r): $why; repeat with: $cmd")
	unset "LIBS[$b]"
}

# Round-robin over backends inside each repetition, so that a noisy
# moment on the machine is spread over all of them.
run_all() {
	local r w b
	RESULTS=$OUT/results.txt
	: >"$RESULTS"
	for ((r = 1; r <= RUNS; r++)); do
		for w in $WORKLOADS; do
			for b in $(active_backends); do
				run_one "$w" "$b" "$r"
			done
		done
	done
}

print_table() {
	local w b s ns rss base ratio
	echo "| workload | backend | median s | median ns/op | ratio to mgc | median peak RSS (MiB) |"
	echo "|---|---|---:|---:|---:|---:|"
	for w in $WORKLOADS; do
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

# The command as it was given, with the settings from the environment.
command_line() {
	local cmd="${GIVEN_ENV}bash bench/run.sh --write"
	if [[ -n ${MAKELEVEL:-} ]]; then
		echo "\`make bench\` (which runs \`$cmd\`)"
	else
		echo "\`$cmd\`"
	fi
}

section() {
	local table=$1 b s
	echo "<!-- churn:begin -->"
	echo "## Allocator churn (\`bench/churn.c\`)"
	echo
	echo "- Command: $(command_line)"
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- Machine: nproc $(nproc), CPU $(cpu_model)"
	echo "- Compiler: \`$CC $CFLAGS\` ($("$CC" --version | head -n 1))"
	echo "- Sizes: churn1 $CHURN1_N iterations, prodcons $PRODCONS_N blocks;" \
		"$RUNS runs per cell, medians shown"
	for b in $BACKENDS; do
		[[ -n ${IDENT[$b]+set} ]] && echo "- $b: ${IDENT[$b]}"
	done
	for s in "${SKIPPED[@]}"; do
		echo "- Not measured: $s"
	done
	echo
	echo "The machine has $(nproc) cores and is noisy, so the ratios matter more"
	echo "than the absolute times.  Ratio to mgc = the backend's median time"
	echo "divided by mgc's (above 1: mgc is faster; below 1: mgc is slower)."
	echo "See \`bench/README.md\` for what each workload measures."
	echo
	echo "$table"
	echo "<!-- churn:end -->"
}

# Replace the churn section of docs/BENCHMARKS.md, or add it.
write_doc() {
	section "$1" >"$OUT/section.md"
	replace_doc_section churn "$OUT/section.md"
}

main() {
	local table f
	parse_args "$@"
	build_all
	[[ -n $(active_backends) ]] || die "no backend could be built"
	say "== $RUNS runs of: $WORKLOADS on: $(active_backends)"
	run_all
	table=$(print_table)
	echo
	echo "$table"
	echo
	for f in "${SKIPPED[@]}"; do echo "Not measured: $f"; done
	for f in "${FAILED[@]}"; do echo "FAILED: $f"; done
	if ((${#FAILED[@]} > 0)); then
		[[ $WRITE -eq 1 ]] && say "run.sh: a backend failed; $DOC not updated"
		exit 1
	fi
	if [[ $WRITE -eq 1 ]]; then
		[[ -n $(median churn1 mgc 3) ]] ||
			die "mgc was not measured; $DOC not updated"
		write_doc "$table"
	fi
}

main "$@"
