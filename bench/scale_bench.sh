#!/usr/bin/env bash
# scale_bench.sh -- issue 10's targets at a given cluster size: start to serving, memory per object,
# how fast a one-pod change reaches svcdns's answers and svcfwd's balancing, and how long queries
# and new connections wait while changes are applied (one at a time, and a burst of 100/s).
#
# usage: bench/scale_bench.sh [--services N] [--pods N] [--burst SECONDS] [--quiet SECONDS]
#                             [--reps N] [--burst-rate N] [--keep]
#   --services 10000 --pods 5 (per service): the cluster of bench/gen_cluster.py (one file per
#   namespace of 100 services, every tenth headless), plus its --probe namespace (bench-probe:
#   services probe, probe-watch and headless probe-h over 5 pods that are real servers here).
#   --quiet 20: seconds of load without changes (the baseline); --reps 10: one-pod changes, each
#   direction in turn; --burst 60 (0: none): seconds of --burst-rate 100 changes/s, pods flapping
#   ready across every namespace, during which one-pod changes go on and memory is sampled.
# environment: SERVER_CPU=0 CLIENT_CPU=1 NICE=-10 BUILD_DIR=build-bench (Release, built when
#   needed; SVCDNS=/SVCFWD= use given binaries) START_TIMEOUT=120 (s, per daemon) CHANGE_TIMEOUT=30
#   (s, per change) RATE=200 (per second, each of: UDP DNS queries, TCP DNS queries on a new
#   connection each, new connections through svcfwd) REQ_TIMEOUT=5 (s: a request not answered by
#   then counts as a timeout) SETTLE=5 (s before reading steady memory) KEEP=1
#
# Topology (made here, removed on exit; the host's interfaces and routes are not touched):
#   netns node: svcdns on 127.0.0.1:5353 (--threads 1), svcfwd --node node-a (its local route for
#     10.96.0.0/12 and /ready, /metrics on 127.0.0.1:10256), the probes; routes 10.127.0.0/24 and
#     10.128.0.0/9 to netns pods over a veth
#   netns pods: the five probe pod IPs 10.127.0.11-15, one server on :8080 that writes the address
#     it was reached at; the generated pods' addresses exist nowhere (nothing connects to them)
# svcdns and svcfwd run on SERVER_CPU, everything else (probes, pod server, the file edits) on
# CLIENT_CPU. What is measured, and how (bench/scale_probe.py does the measuring):
#   - start to serving: from starting the daemon until svcdns answers probe.bench-probe over UDP;
#     until svcfwd's /ready says 200, a connection through the probe ClusterIP reaches a pod, and
#     the ClusterIPs of 50 sampled services accept connections (svcfwd holds their sockets)
#   - memory: VmHWM and VmRSS from /proc/PID/status when serving and SETTLE s later; per object =
#     steady VmRSS / (services + pods)
#   - a one-pod change: probe-0's Ready flipped in bench-probe.yaml (the file written whole to a
#     dot file, then renamed over, as an editor does); svcdns: the first UDP answer for probe-h
#     showing it (questions back to back, 2 ms apart); svcfwd: connections to probe-watch back to
#     back (nobody else uses it, so its round robin is strict): for a pod turning ready the first
#     one that reaches it, for one leaving the one where round robin would have reached it again
#     (and it is never reached after). Both are upper bounds, to the answer's arrival.
#   - latency: an open-loop probe sends RATE/s of each kind (UDP DNS; TCP DNS, a new connection
#     each; a new connection through the probe ClusterIP, timed to the pod's first byte, since the
#     handshake alone completes in the kernel without svcfwd), and times each from its send to its
#     answer; worst and p99 per phase: quiet, one-pod changes, burst. Timeouts and errors are
#     counted, and so is the probe's own lateness (how late it sent against its schedule).
# Other work on the machine shows in the numbers: the load average is printed.
set -euo pipefail

# The whole script is one block: bash reads it all before running, so editing the file while it
# runs cannot change what runs.
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=10000 PODS=5 QUIET=20 REPS=10 BURST=60 BURST_RATE=100
KEEP=${KEEP:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--services) SERVICES=$2; shift 2 ;;
	--pods) PODS=$2; shift 2 ;;
	--quiet) QUIET=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--burst) BURST=$2; shift 2 ;;
	--burst-rate) BURST_RATE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "scale_bench: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
done
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
START_TIMEOUT=${START_TIMEOUT:-120}
CHANGE_TIMEOUT=${CHANGE_TIMEOUT:-30}
RATE=${RATE:-200}
REQ_TIMEOUT=${REQ_TIMEOUT:-5}
SETTLE=${SETTLE:-5}
NICE=${NICE:--10}
NICE_CMD=
[ "$NICE" != 0 ] && NICE_CMD="nice -n $NICE"
PROBE=$ROOT/bench/scale_probe.py
DNS_ADDR=127.0.0.1:5353
HTTP_ADDR=127.0.0.1:10256
ZONE=cluster.local

log() { printf '%s\n' "$*" >&2; }
die() { log "scale_bench: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces; svcfwd binds ClusterIPs)"
for t in ip taskset python3; do command -v "$t" >/dev/null || die "$t is needed"; done
[ "$(nproc)" -ge 2 ] || { log "scale_bench: WARNING: one CPU: daemons and probes share it"; SERVER_CPU=0 CLIENT_CPU=0; }

# ---- build ----
if [ -z "${SVCDNS:-}" ] || [ -z "${SVCFWD:-}" ]; then
	if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
		[ -x "$ROOT/scripts/deps.sh" ] && "$ROOT/scripts/deps.sh"
		cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=OFF >/dev/null
	fi
	if ! cmake --build "$BUILD_DIR" -j2 --target svcdns svcfwd >"$BUILD_DIR/scale-build.log" 2>&1; then
		tail -20 "$BUILD_DIR/scale-build.log" >&2
		die "build failed (see $BUILD_DIR/scale-build.log)"
	fi
fi
SVCDNS=${SVCDNS:-$BUILD_DIR/svcdns}
SVCFWD=${SVCFWD:-$BUILD_DIR/svcfwd}
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$SVCDNS")/CMakeCache.txt" 2>/dev/null || true)

# ---- work dir, names, cleanup ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scale_bench.XXXXXX")
chmod 755 "$WORK"
TAG=sb$$
NS_NODE=$TAG-node NS_POD=$TAG-pods
PIDS=()
NSES=()
cleanup() {
	local rc=$? pid ns
	trap - EXIT INT TERM
	[ -n "$FG" ] && kill "$FG" 2>/dev/null
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# Anything still running in our namespaces was started here.
	for ns in "${NSES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
	done
	for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Long steps run in the background and are waited for, so a signal is handled at once (bash
# runs a trap only after a foreground command ends); cleanup stops what is left.
FG=
fg_run() {
	local rc=0
	"$@" &
	FG=$!
	wait "$FG" || rc=$?
	FG=
	return "$rc"
}
nap() { fg_run sleep "$1"; }
mono() { python3 -c 'import time; print(time.monotonic_ns())'; }
CLIENT_PIN="$NICE_CMD taskset -c $CLIENT_CPU"
SERVER_PIN="taskset -c $SERVER_CPU"
probe() { $CLIENT_PIN python3 "$PROBE" "$@"; }
probe_in() { local ns=$1; shift; nsx "$ns" $CLIENT_PIN python3 "$PROBE" "$@"; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- cluster ----
CL=$WORK/cluster
log "generating $SERVICES services x $PODS pods ..."
t=$EPOCHREALTIME
python3 "$ROOT/bench/gen_cluster.py" "$CL" --services "$SERVICES" --pods "$PODS" --probe
N_OBJ=$((SERVICES + SERVICES * PODS + 3 + 5))
log "  $(find "$CL" -name '*.yaml' | wc -l) files, $(du -sm "$CL" | cut -f1) MB in" \
	"$(python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.1f}')" "$EPOCHREALTIME" "$t") s"

# ---- network ----
ip netns add "$NS_NODE"; NSES+=("$NS_NODE")
ip netns add "$NS_POD"; NSES+=("$NS_POD")
for ns in "$NS_NODE" "$NS_POD"; do
	nsx "$ns" ip link set lo up
	# Many short connections: every port, reuse TIME_WAIT, long queues.
	nsx "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
		net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
done
ip link add "${TAG}n" netns "$NS_NODE" type veth peer name "${TAG}p" netns "$NS_POD"
nsx "$NS_NODE" ip addr add 192.168.251.1/24 dev "${TAG}n"
nsx "$NS_NODE" ip link set "${TAG}n" up
nsx "$NS_POD" ip addr add 192.168.251.2/24 dev "${TAG}p"
for i in 11 12 13 14 15; do nsx "$NS_POD" ip addr add "10.127.0.$i/32" dev "${TAG}p"; done
nsx "$NS_POD" ip link set "${TAG}p" up
nsx "$NS_POD" ip route add default via 192.168.251.1
nsx "$NS_NODE" ip route add 10.127.0.0/24 via 192.168.251.2
nsx "$NS_NODE" ip route add 10.128.0.0/9 via 192.168.251.2

# ---- the probe pods' server ----
ip netns exec "$NS_POD" $CLIENT_PIN python3 "$PROBE" backend 8080 >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q ready "$WORK/backend.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/backend.log" || die "the pod server did not start: $(cat "$WORK/backend.log")"

# ---- svcdns ----
log "starting svcdns (CPU $SERVER_CPU) ..."
T0=$EPOCHREALTIME
ip netns exec "$NS_NODE" $NICE_CMD $SERVER_PIN "$SVCDNS" --zones "$CL" --listen "$DNS_ADDR" \
	--threads 1 --upstream 127.0.0.1:9 --log-level warning >"$WORK/svcdns.log" 2>&1 &
SVCDNS_PID=$!
PIDS+=($!)
fg_run probe_in "$NS_NODE" wait-dns --server "$DNS_ADDR" --name "probe.bench-probe.svc.$ZONE" \
	--pid "$SVCDNS_PID" --t0 "$T0" --timeout "$START_TIMEOUT" >"$WORK/start-svcdns.json"
log "  $(cat "$WORK/start-svcdns.json")"
DNS_OK=$(python3 -c 'import json,sys; print(1 if json.load(open(sys.argv[1]))["serving_s"] is not None else 0)' "$WORK/start-svcdns.json")

resolve() { # NAME...: the A address of each, one per line ("-" when none)
	probe_in "$NS_NODE" resolve --server "$DNS_ADDR" "$@"
}

# ---- svcfwd ----
FWD_OK=0
if [ "$DNS_OK" = 1 ]; then
	read -r VIP VIP_WATCH < <(resolve "probe.bench-probe.svc.$ZONE" "probe-watch.bench-probe.svc.$ZONE" | paste -sd' ')
	# 50 services that are not headless, spread over the namespaces (every tenth is headless).
	SAMPLE_NAMES=$(python3 -c '
import random, sys
n = int(sys.argv[1]); r = random.Random(7)
c = [s for s in (r.randrange(n) for _ in range(200)) if s % 10][:50]
print(" ".join(f"svc-{s}.ns-{s // 100}.svc.{sys.argv[2]}" for s in c))' "$SERVICES" "$ZONE")
	# shellcheck disable=SC2086
	SAMPLE=$(resolve $SAMPLE_NAMES | grep -v '^-$' | sed 's/$/:80/' | paste -sd,)
	log "starting svcfwd (CPU $SERVER_CPU; probe $VIP, watch $VIP_WATCH) ..."
	T0=$EPOCHREALTIME
	ip netns exec "$NS_NODE" $NICE_CMD $SERVER_PIN "$SVCFWD" --zones "$CL" --node node-a \
		--http "$HTTP_ADDR" --log-level warning >"$WORK/svcfwd.log" 2>&1 &
	SVCFWD_PID=$!
	PIDS+=($!)
	fg_run probe_in "$NS_NODE" wait-fwd --http "$HTTP_ADDR" --vip "$VIP:80" --sample "$SAMPLE" \
		--pid "$SVCFWD_PID" --t0 "$T0" --timeout "$START_TIMEOUT" >"$WORK/start-svcfwd.json"
	log "  $(cat "$WORK/start-svcfwd.json")"
	FWD_OK=$(python3 -c 'import json,sys; print(1 if json.load(open(sys.argv[1]))["serving_s"] is not None else 0)' "$WORK/start-svcfwd.json")
	EMFILE=$(grep -c 'Too many open files' "$WORK/svcfwd.log" || true)
	echo "{\"emfile_log_lines\": $EMFILE}" >"$WORK/svcfwd-log.json"
	if [ "$FWD_OK" != 1 ]; then
		# Its memory at the timeout is in start-svcfwd.json. Stopped, so that its retries do not
		# take svcdns's core for the rest of the run.
		log "scale_bench: svcfwd did not serve; stopping it"
		kill "$SVCFWD_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$SVCFWD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$SVCFWD_PID" 2>/dev/null || true
		wait "$SVCFWD_PID" 2>/dev/null || true
		SVCFWD_PID=
	fi
else
	SVCFWD_PID=
	VIP=0.0.0.0 VIP_WATCH=0.0.0.0
fi

# CPU ticks of PID's builder thread: the one with the highest nice value (it lowers its own
# priority below the serving threads'), which runs only while a change is being built.
builder_ticks() {
	awk '{ sub(/^[^)]*\) /, ""); nice = $17; t = $12 + $13 }
		NR == 1 || nice > best { best = nice; sum = 0 }
		nice == best { sum += t } END { print sum + 0 }' /proc/"$1"/task/*/stat 2>/dev/null || echo 0
}
# Wait (up to 120 s) until no builder thread of the PIDs has run for a second: every change
# written so far is built, and memory read then is not that of a build under way.
wait_built() {
	local last="" now i
	for i in $(seq 1 240); do
		now=""
		for p in "$@"; do now="$now $(builder_ticks "$p")"; done
		[ "$now" = "$last" ] && return 0
		last=$now
		nap 0.5
		now=""
		for p in "$@"; do now="$now $(builder_ticks "$p")"; done
		[ "$now" = "$last" ] && { nap 0.5; return 0; }
		last=$now
	done
	log "scale_bench: the daemons were still building after 120 s"
}
mem_json() { # NAME PID: {"rss_kb":..,"hwm_kb":..}
	awk -v n="$1" '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2}
		END {printf "{\"daemon\": \"%s\", \"rss_kb\": %s, \"hwm_kb\": %s}\n", n, r ? r : "null", h ? h : "null"}' \
		"/proc/$2/status" 2>/dev/null || echo "{\"daemon\": \"$1\", \"rss_kb\": null, \"hwm_kb\": null}"
}
log "settling ${SETTLE}s, then reading steady memory ..."
nap "$SETTLE"
mem_json svcdns "$SVCDNS_PID" >"$WORK/steady-svcdns.json"
[ -n "$SVCFWD_PID" ] && mem_json svcfwd "$SVCFWD_PID" >"$WORK/steady-svcfwd.json"

# ---- latency probe, phases ----
PHASES=$WORK/phases.txt
: >"$PHASES"
if [ "$DNS_OK" = 1 ]; then
	FWD_RATE=$RATE
	[ "$FWD_OK" = 1 ] || FWD_RATE=0
	ip netns exec "$NS_NODE" $CLIENT_PIN python3 "$PROBE" load --dns "$DNS_ADDR" \
		--name "probe.bench-probe.svc.$ZONE" --vip "$VIP:80" --udp-rate "$RATE" --tcp-rate "$RATE" \
		--fwd-rate "$FWD_RATE" --timeout "$REQ_TIMEOUT" --out "$WORK/load.txt" >"$WORK/load.log" 2>&1 &
	LOAD_PID=$!
	PIDS+=($!)
	for _ in $(seq 1 50); do grep -q ready "$WORK/load.log" 2>/dev/null && break; sleep 0.1; done
	sleep 1 # warm-up, left out of every phase
	log "quiet: ${QUIET}s of load without changes ..."
	q0=$(mono); nap "$QUIET"; q1=$(mono)
	echo "quiet $q0 $q1" >>"$PHASES"

	CHANGE_ARGS=(--dns "$DNS_ADDR" --headless "probe-h.bench-probe.svc.$ZONE" --watch-vip "$VIP_WATCH:80"
		--file "$CL/bench-probe.yaml" --pod probe-0 --pod-ip 10.127.0.11 --members 5
		--timeout "$CHANGE_TIMEOUT")
	[ "$FWD_OK" = 1 ] || CHANGE_ARGS+=(--no-fwd)
	log "one-pod changes: $REPS ..."
	fg_run probe_in "$NS_NODE" change "${CHANGE_ARGS[@]}" --reps "$REPS" --restore --out "$WORK/change.json" ||
		log "scale_bench: the change probe failed"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("onepod", d["phase_start"], d["phase_end"])' \
		"$WORK/change.json" >>"$PHASES" 2>/dev/null || true

	if [ "$BURST" != 0 ]; then
		log "burst: ${BURST_RATE} changes/s for ${BURST}s, one-pod changes meanwhile ..."
		PIDLIST="svcdns:$SVCDNS_PID${SVCFWD_PID:+,svcfwd:$SVCFWD_PID}"
		$CLIENT_PIN python3 "$PROBE" burst --dir "$CL" --rate "$BURST_RATE" --duration "$BURST" \
			--pids "$PIDLIST" --out "$WORK/burst.json" &
		BURST_PID=$!
		PIDS+=($!)
		stop_at=$(python3 -c "import time; print(time.monotonic_ns() + int(($BURST - 0.5) * 1e9))")
		fg_run probe_in "$NS_NODE" change "${CHANGE_ARGS[@]}" --reps 100000 --stop-at "$stop_at" --restore \
			--out "$WORK/change-burst.json" || log "scale_bench: the change probe failed"
		wait "$BURST_PID" || log "scale_bench: the burst failed"
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("burst", d["phase_start"], d["phase_end"])' \
			"$WORK/burst.json" >>"$PHASES" 2>/dev/null || true
		log "settling ${SETTLE}s after the burst, and until every change is built ..."
		nap "$SETTLE"
		wait_built "$SVCDNS_PID" ${SVCFWD_PID:+"$SVCFWD_PID"}
		mem_json svcdns "$SVCDNS_PID" >"$WORK/after-svcdns.json"
		[ -n "$SVCFWD_PID" ] && mem_json svcfwd "$SVCFWD_PID" >"$WORK/after-svcfwd.json"
	fi
	kill -TERM "$LOAD_PID" 2>/dev/null || true
	for _ in $(seq 1 $((REQ_TIMEOUT * 10 + 100))); do [ -f "$WORK/load.txt" ] && break; sleep 0.1; done
fi
ALIVE=""
kill -0 "$SVCDNS_PID" 2>/dev/null || ALIVE="$ALIVE svcdns exited;"
[ -n "$SVCFWD_PID" ] && { kill -0 "$SVCFWD_PID" 2>/dev/null || ALIVE="$ALIVE svcfwd exited;"; }

# ---- report ----
echo
echo "scale_bench: $SERVICES services x $PODS pods ($N_OBJ objects with bench-probe's 3 services," \
	"5 pods); $(find "$CL" -name "*.yaml" | wc -l) files, $(du -sm "$CL" | cut -f1) MB; ${BUILD_TYPE:-?} build," \
	"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "pinned: svcdns (--threads 1) and svcfwd on CPU $SERVER_CPU${NICE_CMD:+ ($NICE_CMD)}, probes," \
	"pod server and file edits on CPU $CLIENT_CPU; load $RATE/s each of UDP DNS, TCP DNS (new" \
	"connection each), svcfwd connects; request timeout ${REQ_TIMEOUT}s"
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the" \
	"machine shows in the numbers)${ALIVE:+; $ALIVE}"
probe report --work "$WORK" --objects "$N_OBJ" --quiet-s "$QUIET" --burst-s "$BURST" \
	--burst-rate "$BURST_RATE" --req-timeout "$REQ_TIMEOUT"
exit
}
