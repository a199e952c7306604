#!/usr/bin/env bash
# Runs mgc's threaded tests over and over on a crowded machine.
#
# usage: tests/soak.sh [PROGRAM | DIR]...
#
# The tests are the PROGRAMs named and the test_thread_* and test_fin_*
# programs in each DIR (by default build/release/tests, build/debug/tests
# and build/tsan/tests).  `make soak` builds them and names them.
# Two busy-loop processes compete with them for the CPUs throughout; they
# are started here and killed when the script ends, however it ends.
# Successive passes over the tests cycle through the collector settings
# MGC_MARKERS=1, 2, 4 times MGC_CHECKMARK=0, 1, set in the environment,
# with CHECK_ONE_VARIANT=1 so that the tests that otherwise run themselves
# under each setting of check_run_variants (tests/check.h) take this one.
#
# The soak stops at the first failure, printing the test's output and the
# settings it ran under, and exits 1.  It ends with a summary line:
#     soak: N runs in M minutes, F failed; MGC_MARKERS=1 MGC_CHECKMARK=0: N, ...
#
# Environment:
#     SOAK_MINUTES  how long to keep starting tests (default 10); the run
#                   in progress at the deadline is finished
#     TEST_FILTER   run only the tests whose name contains this substring
#     TEST_TIMEOUT  seconds allowed per run (default 300)
#     SOAK_CONCURRENT  1: every run with MGC_CONCURRENT=1 (mostly-concurrent
#                   collection); default 0
set -u

minutes=${SOAK_MINUTES:-10}
timeout_secs=${TEST_TIMEOUT:-300}
filter=${TEST_FILTER:-}
concurrent=${SOAK_CONCURRENT:-0}
settings=("1 0" "1 1" "2 0" "2 1" "4 0" "4 1")

case $minutes in
'' | *[!0-9]*)
	echo "soak: SOAK_MINUTES must be a whole number of minutes, not '$minutes'" >&2
	exit 2
	;;
esac
if [ $# -eq 0 ]; then
	set -- build/release/tests build/debug/tests build/tsan/tests
fi

tests=()
for arg in "$@"; do
	progs=("$arg")
	if [ -d "$arg" ]; then
		progs=("$arg"/test_thread_* "$arg"/test_fin_*)
	fi
	for prog in "${progs[@]}"; do
		[ -f "$prog" ] && [ -x "$prog" ] || continue
		case $(basename "$prog") in *"$filter"*) tests+=("$prog") ;; esac
	done
done
if [ ${#tests[@]} -eq 0 ]; then
	echo "soak: no test programs in $*" >&2
	exit 2
fi

busy=()
test_pid=
log=$(mktemp)
start=$SECONDS
runs=0
failed=0
declare -A per_setting
for s in "${settings[@]}"; do
	per_setting[$s]=0
done

# minutes_so_far: the time since the start, in minutes with one decimal.
minutes_so_far() {
	local secs=$((SECONDS - start))
	echo "$((secs / 60)).$((secs % 60 * 10 / 60))"
}

summary() {
	local s m c line
	line="soak: $runs runs in $(minutes_so_far) minutes, $failed failed, MGC_CONCURRENT=$concurrent"
	for s in "${settings[@]}"; do
		m=${s% *}
		c=${s#* }
		line+="; MGC_MARKERS=$m MGC_CHECKMARK=$c: ${per_setting[$s]}"
	done
	echo "$line"
}

# Kill what this script started (by process id) and remove the log.
cleanup() {
	# shellcheck disable=SC2046 # one word per process id
	[ -n "$test_pid" ] && kill $(descendants "$test_pid") "$test_pid" 2>/dev/null
	for pid in "${busy[@]}"; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	rm -f "$log"
}
trap cleanup EXIT
trap 'echo "soak: interrupted"; summary; exit 130' INT TERM

# why STATUS, run_limited OUT PROG, descendants PID (tests/status.sh)
# shellcheck source=tests/status.sh
source "$(dirname "${BASH_SOURCE[0]}")/status.sh"

for _ in 1 2; do
	sh -c 'while :; do :; done' &
	busy+=($!)
done

echo "soak: ${#tests[@]} tests for $minutes minutes, MGC_CONCURRENT=$concurrent, two busy loops competing (pids ${busy[*]})"
deadline=$((start + minutes * 60))
pass=0
while [ "$SECONDS" -lt "$deadline" ]; do
	setting=${settings[$((pass % ${#settings[@]}))]}
	markers=${setting% *}
	checkmark=${setting#* }
	done_in_pass=0
	for prog in "${tests[@]}"; do
		[ "$SECONDS" -lt "$deadline" ] || break
		# In the background, so that the traps run at once on Ctrl-C.
		CHECK_ONE_VARIANT=1 MGC_MARKERS=$markers MGC_CHECKMARK=$checkmark \
			MGC_CONCURRENT=$concurrent run_limited "$log" "$prog" &
		test_pid=$!
		wait "$test_pid"
		status=$?
		test_pid=
		runs=$((runs + 1))
		per_setting[$setting]=$((per_setting[$setting] + 1))
		if [ "$status" -ne 0 ]; then
			failed=1
			echo "FAIL $prog with MGC_MARKERS=$markers MGC_CHECKMARK=$checkmark" \
				"MGC_CONCURRENT=$concurrent" \
				"($(why "$status"), run $runs, after $(minutes_so_far) minutes)"
			cat "$log"
			summary
			exit 1
		fi
		done_in_pass=$((done_in_pass + 1))
	done
	pass=$((pass + 1))
	[ "$done_in_pass" -eq ${#tests[@]} ] || break # cut short by the deadline
	echo "pass $pass ok (MGC_MARKERS=$markers MGC_CHECKMARK=$checkmark," \
		"$runs runs, $((SECONDS - start))s)"
done
summary
