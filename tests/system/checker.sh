# shellcheck shell=bash
# checker.sh — what test_comments and test_preconditions share.  Sourced:
# it moves to the top of the tree, and defines
#
#   run_checker CHECKER PROBE WANT FAILURE FILE...
#
# which runs the perl program CHECKER first on a planted example, the C
# text PROBE, whose report (each line without its file name) must be WANT:
# that shows the checker can fail.  Then it runs it on FILE...: if the
# checker fails, FAILURE and its report are printed and the test fails;
# else its report is left in REPORT.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1

run_checker() {
	local checker=$1 probe=$2 want=$3 failure=$4 dir got
	shift 4
	dir=$(mktemp -d) || exit 1
	printf '%s\n' "$probe" >"$dir/probe.c"
	got=$(perl -e "$checker" "$dir/probe.c" | sed 's|^.*/probe.c:||')
	rm -rf "$dir"
	if [[ $got != "$want" ]]; then
		echo "FAIL: the checker did not report what it should on a planted example:"
		echo "$got"
		exit 1
	fi
	if ! REPORT=$(perl -e "$checker" "$@"); then
		echo "FAIL: $failure:"
		echo "$REPORT"
		exit 1
	fi
}
