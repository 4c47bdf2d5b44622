# common.sh -- sourced first by every system test (tests/system/*.sh; this folder holds no tests).
#
# Gives: SVC_SOURCE_DIR, SVC_BUILD_DIR, the programs ($SVCDNS, $SVCFWD, $SVCCTL), ZONES_SRC, PY
# (the python3 interpreter itself), WORK (a temporary directory), and
#   skip MSG                  print "SKIP: <test>: MSG" and exit 77, which ctest reports as skipped
#   need_root, need_netns     skip without root / without `ip netns`
#   need_tools TOOL...        fail (exit 1) when a tool the test needs is missing
#   need_programs PROG...     fail when $SVC_BUILD_DIR/PROG is not built
#   track_pid PID             stop PID (SIGTERM, then SIGKILL after 3 s) on exit
#   stop_pid PID              the same, now
#   at_exit CMD...            run CMD on exit, before WORK is removed (last registered, first run)
#   pass / fail MSG / expect_true MSG CMD... / expect_eq MSG ACTUAL WANT / summary
#                             the check counters; summary prints them and is the script's status
#   now_ms, poll MS CMD...    milliseconds; run CMD every 50 ms until it succeeds or MS pass
#   pick_port                 a port in 20000-29999 free on 127.0.0.1 for UDP and TCP right now
#   timing_ok                 false in a sanitizer build (SVC_SANITIZED=1): skip time-bound checks
# T_NAME is the test's file name, for messages.
set -u -o pipefail

T_NAME=$(basename "$0")
SVC_SOURCE_DIR=${SVC_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
SVC_BUILD_DIR=${SVC_BUILD_DIR:-$SVC_SOURCE_DIR/build}
SVCDNS=$SVC_BUILD_DIR/svcdns
SVCFWD=$SVC_BUILD_DIR/svcfwd
SVCCTL=$SVC_BUILD_DIR/svcctl
ZONES_SRC=$SVC_SOURCE_DIR/zones
T_LIB=$SVC_SOURCE_DIR/tests/system/lib

# Messages, tables and sort orders must not depend on the caller's locale or environment.
export LC_ALL=C
unset SVCDNS_ZONES SVCFWD_ZONES

skip() {
	echo "SKIP: $T_NAME: $*"
	exit 77
}

need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
need_netns() {
	need_root
	command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "needs 'ip netns' (iproute2)"
}

need_tools() {
	local t
	for t in "$@"; do
		if ! command -v "$t" >/dev/null; then
			echo "$T_NAME: $t is needed (scripts/deps.sh installs it)" >&2
			exit 1
		fi
	done
}

need_programs() {
	local p
	for p in "$@"; do
		if [ ! -x "$SVC_BUILD_DIR/$p" ]; then
			echo "$T_NAME: $SVC_BUILD_DIR/$p not found; build first" >&2
			exit 1
		fi
	done
}

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/${T_NAME%.sh}.XXXXXX")

T_PIDS=()
T_AT_EXIT=()
track_pid() { T_PIDS+=("$1"); }
at_exit() { T_AT_EXIT+=("$*"); }

stop_pid() { # PID: SIGTERM, then SIGKILL after 3 s
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < 60; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

t_cleanup() {
	local i
	set +e
	for p in "${T_PIDS[@]}"; do
		stop_pid "$p"
	done
	for ((i = ${#T_AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${T_AT_EXIT[$i]}"
	done
	rm -rf "$WORK"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
	failed=$((failed + 1))
	echo "FAIL: $*"
}
expect_true() { # MSG COMMAND...
	local msg=$1
	shift
	if "$@"; then pass; else fail "$msg"; fi
}
expect_eq() { # MSG ACTUAL WANT
	if [ "$2" == "$3" ]; then
		pass
	else
		fail "$1: got '$2', want '$3'"
	fi
}
summary() {
	echo "$T_NAME: $passed checks passed, $failed failed"
	[ "$failed" -eq 0 ]
}

now_ms() { date +%s%3N; }

poll() { # MS CMD...
	local ms=$1 end
	shift
	end=$(($(now_ms) + ms))
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

pick_port() {
	"$PY" - <<'PYEOF'
import random, socket
for _ in range(500):
    p = random.randint(20000, 29999)
    try:
        for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, t)
            s.bind(("127.0.0.1", p))
            s.close()
    except OSError:
        continue
    print(p)
    break
PYEOF
}

# Checks of a time bound run in the normal build only: sanitizers change the timing.
timing_ok() { [ "${SVC_SANITIZED:-0}" != 1 ]; }
