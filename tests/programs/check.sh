#!/usr/bin/env bash
# check.sh PROGRAM — one real-program test (tests/programs/workloads.sh):
# the workload runs on the Boehm collector, then under build/mgc-run twice
# (MGC_TRACE=1 at mgc's default pace, and with wl_often's setting to
# collect often), and everything the program prints must be identical.  mgc must
# have collected at least once (its trace lines, taken out of the stderr
# files before comparing, show it), or the preload did not take.
# A program that is not installed is skipped (exit status 77, see
# tests/run.sh), naming the package to install; CI installs them all.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
run=$root/build/mgc-run
prog=${1:?usage: check.sh PROGRAM}
# shellcheck source=tests/programs/workloads.sh
source "$here/workloads.sh"

if ! command -v "$prog" >/dev/null 2>&1; then
	echo "SKIP test_prog_$prog: needs $prog (apt-get install -y $(wl_package "$prog"))"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

wl_setup "$prog" "$tmp/in" test || { echo "FAIL: setting up the $prog input"; exit 1; }
wl_run "$prog" "$tmp/in" "" "$tmp/boehm"
MGC_TRACE=1 wl_run "$prog" "$tmp/in" "$run" "$tmp/mgc"
env MGC_TRACE=1 "$(wl_often "$prog")" bash "$here/workloads.sh" wl_run "$prog" "$tmp/in" "$run" "$tmp/mgc-often"

collections=0
for dir in "$tmp/mgc" "$tmp/mgc-often"; do
	for f in "$dir"/*.err; do
		collections=$((collections + $(grep -c '^mgc: gc ' "$f")))
		sed -i '/^mgc: gc /d' "$f"
	done
	if ! diff -r "$tmp/boehm" "$dir" >"$tmp/diff"; then
		echo "FAIL: $prog prints differently under mgc-run ($(basename "$dir"))"
		head -n 30 "$tmp/diff"
		exit 1
	fi
done
if ((collections == 0)); then
	echo "FAIL: no mgc collection traced: libmgc-gc.so was not used"
	exit 1
fi
echo "test_prog_$prog: same output on Boehm and mgc ($(ls "$tmp/boehm" | wc -l) files, $collections collections)"
