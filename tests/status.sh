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
