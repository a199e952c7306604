# shellcheck shell=bash disable=SC2034 # the tables are read by the callers too
# runner.sh — the benchmark runner that bench/run.sh, bench/gc_run.sh and
# bench/gccpp.sh share: settings, building every program for every
# backend, runs round-robin, failures, tables and the section of
# docs/BENCHMARKS.md.
# Sourced, not run.  The caller describes its benchmarks first, in these
# variables, then defines the functions below that say what differs:
#
#   ROOT            the top of the tree
#   BENCH_NAME      the script's name, for messages (run.sh)
#   SETTINGS        one "VARIABLE ENVIRONMENT DEFAULT" line each: the
#                   positive integers it reads from the environment
#   PROGRAMS        the bench/*.c programs, built once per backend as
#                   build/bench/PROGRAM-BACKEND
#   BENCHMARKS      what is measured, in table order
#   BACKENDS        the backends, in table order
#   FILE_PREFIX     prefix of its files in build/bench ("", "gc-", "gccpp-")
#   FAIL_DROPS      what a failed run drops: "backend" (from every
#                   benchmark) or "benchmark" (that backend's runs of it)
#   FAILED_WHAT     what failed, for the message that leaves the docs alone
#   SECTION, SECTION_TITLE   the docs/BENCHMARKS.md section it writes
#   MAKE_COMMAND    how the section names the command when make ran it,
#                   with @CMD@ for the script's command line
#
#   backend_ready B     is backend B installed?  (else it calls skip, and
#                       fails); may add to NOTES
#   build_one P B       build program P for backend B (false: skipped)
#   refused P B         what a binary that does not answer --which is
#   benchmarks_of P     the benchmarks program P runs
#   program_of W        the program that runs benchmark W
#   bench_args W        its arguments
#   verdict W B RC OUT ERR LINE   is a run good?  Else it sets WHY (and may
#                       add to REPEAT, the command to repeat it) and
#                       returns 1 for a failure, 2 for a skip
#   announce            the line before the runs
#   tables              the tables, from the medians of RESULTS
#   section_facts       the section's lines after Compiler (sizes, backends)
#   section_text        the section's paragraph above the tables
# and may redefine bench_runs W (runs of benchmark W; RUNS by default),
# after_args (after the settings are checked) and before_runs.

ENV_SETTINGS=""
for s in "${SETTINGS[@]}"; do
	read -r var env def <<<"$s"
	printf -v "$var" '%s' "${!env:-$def}"
	ENV_SETTINGS+="${ENV_SETTINGS:+ }$env"
done
unset s var env def
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

WRITE=0
declare -A ACTIVE=() # "benchmark backend" -> 1 while it builds and runs
declare -A IDENT=()  # backend -> what its binaries say they run on
SKIPPED=()           # "backend: reason", printed and written, never silent
NOTES=()             # caveats about what was measured, printed and written
FAILED=()

die() { say "$BENCH_NAME: $*"; exit 1; }

usage() {
	say "usage: bash bench/$BENCH_NAME [--write]"
	exit 2
}

bench_runs() { echo "$RUNS"; }
after_args() { :; }
before_runs() { :; }

parse_args() {
	local a s var env def
	for a in "$@"; do
		case $a in
		--write) WRITE=1 ;;
		-h|--help) usage ;;
		*) say "$BENCH_NAME: unknown argument '$a'"; usage ;;
		esac
	done
	for s in "${SETTINGS[@]}"; do
		read -r var env def <<<"$s"
		[[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$env must be a positive integer"
	done
	after_args
}

skip() {
	SKIPPED+=("$1")
	say "SKIP $1"
}

# Links an empty program with the given flags: is the library installed?
can_link() {
	printf 'int main(void) { return 0; }\n' |
		"$CC" -x c - -o "$OUT/.probe" "$@" >/dev/null 2>&1
}

# Link flags of a collector benchmark's backend: mgc (MGC_LIB, any mgc*
# variant) or the Boehm collector (any boehm* variant).
gc_backend_libs() {
	case $1 in
	mgc*) echo "$MGC_LIB -lpthread -ldl" ;;
	boehm*) echo "-lgc -lpthread" ;;
	esac
}

# Builds every program for every backend that is installed; a binary must
# also answer --which before its benchmarks are run.
build_all() {
	local p b w ident
	mkdir -p "$OUT"
	find_mgc
	for b in $BACKENDS; do
		if [[ $b == mgc* && ! -f $MGC_LIB ]]; then
			skip "$b: $MGC_LIB does not exist (run make)"
			continue
		fi
		backend_ready "$b" || continue
		for p in $PROGRAMS; do
			build_one "$p" "$b" || continue
			if ! ident=$("$OUT/$p-$b" --which 2>&1); then
				skip "$(refused "$p" "$b"): $ident"
				continue
			fi
			IDENT[$b]=${ident#"$b: "}
			for w in $(benchmarks_of "$p"); do
				ACTIVE["$w $b"]=1
			done
		done
	done
	rm -f "$OUT/.probe"
}

is_active() {
	[[ -n ${ACTIVE["$1 $2"]+set} ]]
}

# The backends that have at least one benchmark to run.
active_backends() {
	local b w
	for b in $BACKENDS; do
		for w in $BENCHMARKS; do
			if is_active "$w" "$b"; then
				printf '%s ' "$b"
				break
			fi
		done
	done
}

# Backend B no longer runs benchmark W (or any, if a failure drops the
# backend).
drop() {
	local w
	if [[ $FAIL_DROPS == backend ]]; then
		for w in $BENCHMARKS; do
			unset "ACTIVE[$w $2]"
		done
	else
		unset "ACTIVE[$1 $2]"
	fi
}

# Why a run failed: its exit status and the last line it wrote on stderr.
run_failure() {
	echo "$(exit_reason "$1")$(tail -n 1 "$2" | sed 's/^./: &/')"
}

# One run; appends its result line to the results file.  A backend that
# fails once is dropped, and the failure is reported with the command that
# repeats it.
run_one() {
	local w=$1 b=$2 r=$3 out err rc=0 v=0 line argv
	read -r -a argv <<<"$OUT/$(program_of "$w")-$b $(bench_args "$w")"
	out=$OUT/${FILE_PREFIX}stdout-$b-$w.txt
	err=$OUT/${FILE_PREFIX}stderr-$b-$w.txt
	WHY=""
	REPEAT="${argv[*]}"
	timeout "$RUN_TIMEOUT" "${argv[@]}" >"$out" 2>"$err" || rc=$?
	line=$(tail -n 1 "$out")
	verdict "$w" "$b" "$rc" "$out" "$err" "$line" || v=$?
	case $v in
	0)
		say "   [$r/$(bench_runs "$w")] $line"
		echo "$line" >>"$RESULTS"
		;;
	2)
		skip "$b ($w): $WHY"
		unset "ACTIVE[$w $b]"
		;;
	*)
		say "FAIL $b $w (run $r): $WHY"
		say "     repeat with: $REPEAT"
		FAILED+=("$b ($w, run $r): $WHY; repeat with: $REPEAT")
		drop "$w" "$b"
		;;
	esac
}

# Round-robin over backends inside each repetition, so that a noisy
# moment on the machine is spread over all of them.
run_all() {
	local r w b
	RESULTS=$OUT/${FILE_PREFIX}results.txt
	: >"$RESULTS"
	before_runs
	for ((r = 1; r <= RUNS; r++)); do
		for w in $BENCHMARKS; do
			((r <= $(bench_runs "$w"))) || continue
			for b in $BACKENDS; do
				if is_active "$w" "$b"; then
					run_one "$w" "$b" "$r"
				fi
			done
		done
	done
}

# The command as it was given, with the settings from the environment.
command_line() {
	local cmd="${GIVEN_ENV}bash bench/$BENCH_NAME --write"
	if [[ -n ${MAKELEVEL:-} ]]; then
		echo "${MAKE_COMMAND//@CMD@/$cmd}"
	else
		echo "\`$cmd\`"
	fi
}

section() {
	local tables=$1 s
	echo "<!-- $SECTION:begin -->"
	echo "## $SECTION_TITLE"
	echo
	echo "- Command: $(command_line)"
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- Machine: nproc $(nproc), CPU $(cpu_model)"
	echo "- Compiler: \`$CC $CFLAGS\` ($("$CC" --version | head -n 1))"
	section_facts
	for s in "${SKIPPED[@]}"; do
		echo "- Not measured: $s"
	done
	for s in "${NOTES[@]}"; do
		echo "- Note: $s"
	done
	echo
	section_text
	echo
	echo "$tables"
	echo "<!-- $SECTION:end -->"
}

bench_main() {
	local t f
	parse_args "$@"
	build_all
	((${#ACTIVE[@]} > 0)) || die "no backend could be built"
	announce
	run_all
	t=$(tables)
	echo
	echo "$t"
	echo
	for f in "${SKIPPED[@]}"; do echo "Not measured: $f"; done
	for f in "${NOTES[@]}"; do echo "Note: $f"; done
	for f in "${FAILED[@]}"; do echo "FAILED: $f"; done
	if ((${#FAILED[@]} > 0)); then
		[[ $WRITE -eq 1 ]] && say "$BENCH_NAME: a $FAILED_WHAT failed; $DOC not updated"
		exit 1
	fi
	if [[ $WRITE -eq 1 ]]; then
		grep -q '^[^ ]* mgc ' "$RESULTS" ||
			die "mgc was not measured; $DOC not updated"
		section "$t" >"$OUT/${FILE_PREFIX}section.md"
		replace_doc_section "$SECTION" "$OUT/${FILE_PREFIX}section.md"
	fi
}
