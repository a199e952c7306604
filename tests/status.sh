# status.sh — sourced by tests/run.sh and tests/soak.sh.
#
# why STATUS: what an exit status from timeout(1) says about a test run;
# the caller sets timeout_secs, the limit it gave timeout.
why() {
	case $1 in
	124) echo "timed out after ${timeout_secs}s" ;;
	137) echo "killed after the time limit" ;;
	*)
		if [ "$1" -gt 128 ]; then
			echo "killed by signal $(($1 - 128))"
		else
			echo "exit status $1"
		fi
		;;
	esac
}

# run_limited OUT PROG [ARG...]: runs PROG with its output in OUT under
# timeout(1) with timeout_secs, and returns its status as timeout gives it.
# A run still going five seconds before the limit has the stack of every
# thread of every process under it appended to OUT (with gdb, which CI
# installs): a hang that shows once in hundreds of runs then says where.
run_limited() {
	local out=$1 tpid wpid status
	shift
	timeout -k 10 "$timeout_secs" "$@" >"$out" 2>&1 </dev/null &
	tpid=$!
	hang_watch "$tpid" "$out.stacks" &
	wpid=$!
	wait "$tpid"
	status=$?
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	if [ -s "$out.stacks" ]; then
		cat "$out.stacks" >>"$out"
	fi
	rm -f "$out.stacks"
	return "$status"
}

# descendants PID: the processes under PID, children first.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

# hang_watch TIMEOUT-PID FILE: waits until five seconds before the limit
# (killed before that when the run ends), then writes the stacks of the
# processes under TIMEOUT-PID into FILE.
hang_watch() {
	local pid s
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep $((timeout_secs > 10 ? timeout_secs - 5 : timeout_secs)) &
	s=$!
	wait "$s"
	command -v gdb >/dev/null || exit 0
	for pid in $(descendants "$1"); do
		echo "--- stacks of process $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)), near the time limit:"
		gdb -p "$pid" -batch -ex "thread apply all bt" 2>&1 |
			grep -v -e '^\[New LWP' -e '^\[Thread debugging' -e '^Using host libthread_db'
	done >"$2"
}
