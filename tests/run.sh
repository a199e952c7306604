#!/usr/bin/env bash
# Runs mgc's built test programs.
#
# usage: tests/run.sh DIR...
#
# Each DIR holds built test binaries (build/release/tests, build/debug/tests,
# build/tsan/tests, ...).  Every executable test_* in it is run with a time
# limit; one line is printed per test:
#     ok   <flavour>/<name> (<secs>s)
#     FAIL <flavour>/<name>          followed by the test's output
#     SKIP <flavour>/<name>: <why>
# and a last line "N passed, N failed, N skipped".  The exit status is 0
# only if no test failed.  The flavour is the name of the build directory
# (release for build/release/tests).
#
# A test that cannot run here (it needs a program that is not installed)
# skips: it prints a line "SKIP <name>: <why>" and exits with status 77 (as
# automake's tests do), and <why> says what to install, e.g.
#     SKIP test_prog_neko: needs neko (apt-get install -y neko)
# Exit status 77 without such a line is a failure.
#
# Environment:
#     TEST_FILTER   run only the tests whose name contains this substring
#     TEST_TIMEOUT  seconds allowed per test (default 300)
#     TEST_NO_SKIP  if 1, a skipped test counts as failed (CI installs
#                   everything, so nothing may skip there)
set -u

timeout_secs=${TEST_TIMEOUT:-300}
filter=${TEST_FILTER:-}
no_skip=${TEST_NO_SKIP:-0}
passed=0
failed=0
skipped=0

if [ $# -eq 0 ]; then
	echo "usage: $0 DIR..." >&2
	exit 2
fi

now() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		echo "${EPOCHREALTIME/,/.}"
	else
		date +%s.%N
	fi
}

# flavour DIR: build/debug/tests -> debug; any other DIR -> its own name.
flavour() {
	local dir=${1%/}
	if [ "$(basename "$dir")" = tests ]; then
		dir=$(dirname "$dir")
	fi
	basename "$dir"
}

# fail LABEL OUTPUT-FILE WHY: reports one failure.
fail() {
	echo "FAIL $1"
	[ -n "$3" ] && echo "    ($3)"
	[ -s "$2" ] && cat "$2"
	failed=$((failed + 1))
}

# skip LABEL OUTPUT-FILE: reports a test that exited with status 77: a
# skip if it said why on a "SKIP <name>: <why>" line, otherwise a failure.
skip() {
	local why
	why=$(sed -n 's/^SKIP [^:]*: //p' "$2" | tail -n 1)
	if [ -z "$why" ]; then
		fail "$1" "$2" "exit status 77 without a \"SKIP <name>: <why>\" line"
	elif [ "$no_skip" = 1 ]; then
		fail "$1" "$2" "skipped, and TEST_NO_SKIP=1: $why"
	else
		echo "SKIP $1: $why"
		skipped=$((skipped + 1))
	fi
}

# why STATUS (tests/status.sh)
# shellcheck source=tests/status.sh
source "$(dirname "${BASH_SOURCE[0]}")/status.sh"

# run_one LABEL PROGRAM: runs one test and reports it.
run_one() {
	local label=$1 prog=$2 out start end status
	out=$(mktemp)
	start=$(now)
	# The braces keep the shell's own "Segmentation fault" notice quiet:
	# the status says it.
	{ run_limited "$out" "$prog"; } 2>/dev/null
	status=$?
	end=$(now)
	if [ "$status" -eq 0 ]; then
		echo "ok   $label ($(echo "$start $end" |
			LC_ALL=C awk '{ printf "%.2f", $2 - $1 }')s)"
		passed=$((passed + 1))
	elif [ "$status" -eq 77 ]; then
		skip "$label" "$out"
	else
		fail "$label" "$out" "$(why "$status")"
	fi
	rm -f "$out"
}

# run_dir DIR: runs every matching test in DIR.
run_dir() {
	local dir=$1 fl prog name found=0
	fl=$(flavour "$dir")
	if [ ! -d "$dir" ]; then
		fail "$fl" /dev/null "no such directory: $dir"
		return
	fi
	for prog in "$dir"/test_*; do
		if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
			continue
		fi
		name=$(basename "$prog")
		case $name in *"$filter"*) ;; *) continue ;; esac
		found=1
		run_one "$fl/$name" "$prog"
	done
	if [ "$found" -eq 0 ] && [ -z "$filter" ]; then
		fail "$fl" /dev/null "no test programs in $dir"
	fi
}

for dir in "$@"; do
	run_dir "$dir"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
