# proc.sh -- processes and time, for lib/common.sh (every test) and lib/fwdnet.sh (also used by
# scripts/fwd_demo.sh, outside the tests). Sourcing it only defines; a second time, nothing.
#   track_pid PID      for the caller's cleanup: T_PIDS lists the processes it must stop
#   untrack_pid PID    forget PID (after reaping it: its number may be reused)
#   stop_pid PID       SIGTERM, then SIGKILL after 3 s; no longer tracked
#   now_ms             milliseconds since the epoch
#   poll MS CMD...     run CMD every 50 ms until it succeeds (0) or MS milliseconds pass (1)
[ -z "${T_PROC_SH:-}" ] || return 0
T_PROC_SH=1

T_PIDS=()
track_pid() { T_PIDS+=("$1"); }
untrack_pid() {
	local q keep=()
	for q in "${T_PIDS[@]}"; do [ "$q" == "$1" ] || keep+=("$q"); done
	T_PIDS=("${keep[@]}")
}

stop_pid() {
	local p=$1 i
	untrack_pid "$p"
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < 60; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

now_ms() { date +%s%3N; }

poll() {
	local ms=$1 end
	shift
	end=$(($(now_ms) + ms))
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.05
	done
}
