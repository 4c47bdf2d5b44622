# common.sh -- sourced first by every system test (tests/system/*.sh; this folder holds no tests).
#
# Gives: SVC_SOURCE_DIR, SVC_BUILD_DIR, the programs ($SVCDNS, $SVCFWD, $SVCCTL), ZONES_SRC, T_LIB
# (this folder), PY (the python3 interpreter itself), WORK (a temporary directory), and
#   skip MSG                  print "SKIP: <test>: MSG" and exit 77, which ctest reports as skipped
#   need_root, need_netns     skip without root / without `ip netns`
#   need_tools TOOL...        fail (exit 1) when a tool the test needs is missing
#   need_programs PROG...     fail when $SVC_BUILD_DIR/PROG is not built
#   at_exit CMD...            run CMD on exit, after the tracked processes are stopped and before
#                             WORK is removed (last registered, first run)
#   netns_resolv_conf NS      stdin becomes NS's resolv.conf under `ip netns exec` (gone on exit)
#   pick_port                 a port in 20000-29999 free on 127.0.0.1 for UDP and TCP right now
#   timing_ok                 false in a sanitizer build (SVC_SANITIZED=1): skip time-bound checks
# from lib/proc.sh:
#   track_pid PID             stop PID (SIGTERM, then SIGKILL after 3 s) on exit
#   stop_pid PID              the same, now (and no longer tracked); untrack_pid PID: forget it
#   now_ms, poll MS CMD...    milliseconds; run CMD every 50 ms until it succeeds or MS pass
# and the checks, one line each on stdout:
#   pass DESC                 "ok N - DESC"
#   fail DESC [DETAIL...]     "not ok N - DESC", then each DETAIL (may span lines) as "#   " lines;
#                             whatever else the test prints about the failure follows
#   expect_true DESC CMD...   pass when CMD succeeds, else fail with the command as the detail
#   expect_eq DESC ACTUAL WANT
#   summary                   "<test>: P checks passed, F failed"; its status is the test's status
# T_NAME is the test's file name, for messages. A test ends with `summary`.
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
# The probers' status files: the test's own, never the machine's.
export SVCDNS_STATUS_DIR="$WORK/status"

# shellcheck source=proc.sh
. "$T_LIB/proc.sh"
T_AT_EXIT=()
at_exit() { T_AT_EXIT+=("$*"); }

t_cleanup() {
	local i p
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

netns_resolv_conf() { # NS, the file's text on stdin
	# Made here, it goes again on exit unless another test still has its file in it.
	! mkdir /etc/netns 2>/dev/null || at_exit "rmdir /etc/netns 2>/dev/null"
	mkdir -p "/etc/netns/$1" || return 1
	at_exit "rm -rf '/etc/netns/$1'"
	cat >"/etc/netns/$1/resolv.conf"
}

# ---- checks: one line each, numbered; the counts decide the test's status -----------------------

T_N=0
T_PASSED=0
T_FAILED=0
pass() { # [DESC]
	T_N=$((T_N + 1))
	T_PASSED=$((T_PASSED + 1))
	echo "ok $T_N - ${1:-}"
}
fail() { # DESC [DETAIL...]
	local d
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $1"
	shift
	for d in "$@"; do
		sed 's/^/#   /' <<<"$d"
	done
	return 0
}
expect_true() { # DESC COMMAND...
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc" "command: $*"; fi
}
expect_eq() { # DESC ACTUAL WANT
	if [ "$2" == "$3" ]; then
		pass "$1"
	else
		fail "$1" "got '$2', want '$3'"
	fi
}
summary() {
	echo "$T_NAME: $T_PASSED checks passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
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
