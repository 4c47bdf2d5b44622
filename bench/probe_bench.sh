#!/usr/bin/env bash
# probe_bench.sh -- what svcfwd's readiness probes cost a node, with HAProxy's health checks as the anchor.
#
# The target (issue): 10,000 probed pods on one node at the default period (10 s) use under 5% of a core.
#
# Topology (one network namespace, created here and removed on exit; the host's own interfaces and
# routes are not touched):
#
#   node ns:  lo up, `local 10.244.0.0/16 dev lo` (every pod address is local), `local 10.96.0.0/12
#             dev lo` (the service CIDR; svcfwd runs with --no-route)
#             nginx on 0.0.0.0:8080 answers every pod IP (GET /healthz -> 200), pinned to POD_CPU;
#             its stub_status on 127.0.0.1:8081 counts the requests it served
#             the prober under test, pinned to FWD_CPU, one at a time:
#     svcfwd (probing)   --zones zones-probe --node node-a: PODS pods on node-a, each with
#                        readinessProbe {httpGet: {path: /healthz, port: http}} (kubelet defaults:
#                        period 10 s, timeout 1 s), PODS/100 services of 100 pods (clusterIP, port
#                        80 -> targetPort http); results to a status dir in the work dir
#     svcfwd (no probes) the same manifests without the readinessProbe lines: the baseline
#     haproxy            nbthread 1, the same PODS addresses:8080 as servers, 100 per backend,
#                        option httpchk GET /healthz, check inter 10s rise 1 fall 3, timeout check 1s
#
# For each: start it, wait until its probes are all up (svcfwd: svcfwd_probed_pods and
# svcfwd_probed_pods_ready = PODS; haproxy: every server's last check L7OK, from its stats socket;
# baseline: /ready), let it settle SETTLE s, then measure over MEASURE s (the script sleeps):
#   - CPU: utime+stime of the process, all threads (/proc/PID/stat), as % of one core; the kernel
#     share is stime's. Both are sampled at the tick (a kernel without IRQ time accounting, as
#     here, charges the softirq work done in the process's context to it): at 250 Hz over 60 s,
#     about +-0.2% of a core at 5%, hence the rounds. Over loopback the TCP handshake, the request's delivery and the reset run
#     in the prober's context (softirq), the pod server's side included: charged to the prober,
#     as they would be over a pod's veth
#   - attempts/s: svcfwd_probe_attempts_total (svcfwd), and the requests nginx served (all three)
#   - RSS (VmRSS) at the end of the window; the pods' server's CPU; every non-idle tick of FWD_CPU
#     (/proc/stat: whatever else runs there too)
# and prints one table plus the ratios: svcfwd's probing cost (probing minus baseline) in % of a
# core against the 5% target (a verdict at PODS=10000 only), and against HAProxy's.
#
# usage: bench/probe_bench.sh
# environment: PODS=10000 MEASURE=60 (s) ROUNDS=3 (rounds of the three in turn, about 4 minutes each
#   at full size; the table shows medians, and every round's CPU %) QUICK=1 (PODS=2000 MEASURE=15
#   ROUNDS=1) SETTLE=5 (s after the probes are up) START_TIMEOUT=90 (s for the probes to come up)
#   SVCFWD=path (default build-bench/svcfwd) FWD_CPU=0 (the prober) POD_CPU=1 (nginx, and the
#   script's own sampling) NICE=-10 (as root)
#   PROFILE=1 (in the last round, after the window of svcfwd (probing) and of haproxy: perf record -g
#   on it for PROFILE_TIME=15 s, then perf stat of its system calls for as long; prints the top
#   functions and the system calls and context switches per check) KEEP=1 (keep the work dir)
#   TARGETS="svcfwd-probe svcfwd-noprobe haproxy" (which to run, in this order each round: a
#   subset for a quick comparison of two builds) SVCFWD_B=path (a second build, probing, as the
#   target svcfwd-probe-b, added to TARGETS after svcfwd-probe: the two interleaved in each round)
# Needs root (netns), haproxy, nginx, curl, python3, taskset; perf for PROFILE=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARGV0="$0 $*"
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	PODS=${PODS:-2000}; MEASURE=${MEASURE:-15}; ROUNDS=${ROUNDS:-1}
else
	PODS=${PODS:-10000}; MEASURE=${MEASURE:-60}; ROUNDS=${ROUNDS:-3}
fi
SETTLE=${SETTLE:-5}
START_TIMEOUT=${START_TIMEOUT:-90}
SVCFWD=${SVCFWD:-$ROOT/build-bench/svcfwd}
FWD_CPU=${FWD_CPU:-0}
POD_CPU=${POD_CPU:-1}
NICE=${NICE:--10}
PROFILE=${PROFILE:-0}
PROFILE_TIME=${PROFILE_TIME:-15}
KEEP=${KEEP:-0}
TARGETS=${TARGETS:-svcfwd-probe svcfwd-noprobe haproxy}
SVCFWD_B=${SVCFWD_B:-}
[ -z "$SVCFWD_B" ] || TARGETS=$(sed 's/svcfwd-probe\b/svcfwd-probe svcfwd-probe-b/' <<<"$TARGETS")
NICE_CMD=
[ "$NICE" != 0 ] && NICE_CMD="nice -n $NICE"

log() { printf '%s\n' "$*" >&2; }
die() { log "probe_bench: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
[[ "$PODS" =~ ^[0-9]+$ ]] && [ "$PODS" -ge 1 ] && [ "$PODS" -le 62500 ] || die "PODS: 1 to 62500"
[[ "$MEASURE" =~ ^[0-9]+$ ]] && [ "$MEASURE" -ge 1 ] || die "MEASURE: seconds, at least 1"
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] || die "ROUNDS: at least 1"
[ "$(nproc)" -ge 2 ] || log "probe_bench: WARNING: one CPU: the prober and the pods' server share it"
[ -x "$SVCFWD" ] || die "no svcfwd at $SVCFWD (build it: cd build-bench && make)"
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for c in "$HAPROXY" "$NGINX" curl python3 taskset ip; do
	command -v "$c" >/dev/null || die "missing: $c"
done
[ "$PROFILE" = 1 ] && { command -v perf >/dev/null || die "PROFILE=1 needs perf"; }

# ---- work dir, names, cleanup ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/probe_bench.XXXXXX")
chmod 755 "$WORK"
TAG=pb$$
NS=$TAG-node
METRICS=127.0.0.1:19180
STUB=127.0.0.1:8081
PIDS=()
NSES=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	# Anything still running in our namespace was started here.
	for ns in "${NSES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
	done
	for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background processes are started with `ip netns exec` itself (it and nice and taskset exec), so $!
# is their PID. The script's own sampling runs on POD_CPU, away from the prober.
nsx() { ip netns exec "$NS" "$@"; }
SAMPLE_PIN="taskset -c $POD_CPU"
nap() { sleep "$1" & wait $!; } # a long sleep that a signal ends at once (its trap runs)
stop() { # PID: terminate one process started here, and wait for it
	local pid=$1
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# Gone: off the cleanup list, so that a reused PID is never signalled.
	local left=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || left+=("$p"); done
	PIDS=("${left[@]}")
}

# ---- network ----
ip netns add "$NS"; NSES+=("$NS")
nsx ip link set lo up
nsx sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.core.somaxconn=4096 \
	net.ipv4.tcp_max_syn_backlog=4096
nsx ip route add local 10.244.0.0/16 dev lo
nsx ip route add local 10.96.0.0/12 dev lo

# ---- manifests: PODS pods (and their services), with and without probes ----
python3 - "$WORK" "$PODS" <<'PYEOF'
import os, sys
work, pods = sys.argv[1], int(sys.argv[2])
per_svc, svc_per_file = 100, 10
n_svc = (pods + per_svc - 1) // per_svc

def pod_ip(i): return f"10.244.{i // 250}.{i % 250 + 1}"
def svc_ip(s): return f"10.96.{1 + s // 250}.{s % 250 + 1}"

for variant in ("probe", "noprobe"):
    d = os.path.join(work, "zones-" + variant)
    os.makedirs(os.path.join(d, "bench"))
    with open(os.path.join(d, "namespaces.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n")
    for f0 in range(0, n_svc, svc_per_file):
        docs = []
        for s in range(f0, min(f0 + svc_per_file, n_svc)):
            docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: s{s}, namespace: bench}}
spec:
  clusterIP: {svc_ip(s)}
  selector: {{app: s{s}}}
  ports: [{{name: http, port: 80, targetPort: http}}]""")
            for i in range(s * per_svc, min((s + 1) * per_svc, pods)):
                probe = ("\n    readinessProbe: {httpGet: {path: /healthz, port: http}}"
                         if variant == "probe" else "")
                docs.append(f"""apiVersion: v1
kind: Pod
metadata: {{name: p{i}, namespace: bench, labels: {{app: s{s}}}}}
spec:
  nodeName: node-a
  containers:
  - name: main
    ports: [{{name: http, containerPort: 8080}}]{probe}
status: {{phase: Running, podIP: {pod_ip(i)}, conditions: [{{type: Ready, status: "True"}}]}}""")
        with open(os.path.join(d, "bench", f"s{f0:05d}.yaml"), "w") as f:
            f.write("\n---\n".join(docs) + "\n")

# HAProxy: the same addresses, 100 servers per backend.
with open(os.path.join(work, "haproxy-servers.cfg"), "w") as f:
    for s in range(n_svc):
        f.write(f"backend s{s}\n")
        for i in range(s * per_svc, min((s + 1) * per_svc, pods)):
            f.write(f"    server p{i} {pod_ip(i)}:8080\n")
PYEOF
for v in probe noprobe; do
	mkdir -p "$WORK/status-$v"
	"$SVCFWD" --check --zones "$WORK/zones-$v" >"$WORK/svcfwd-check-$v.log" 2>&1 ||
		{ cat "$WORK/svcfwd-check-$v.log" >&2; die "svcfwd --check failed on zones-$v"; }
done
N_PROBES=$(grep -rc readinessProbe "$WORK/zones-probe/bench" | awk -F: '{n += $2} END {print n}')
[ "$N_PROBES" = "$PODS" ] || die "zones-probe holds $N_PROBES probes, not $PODS"

# ---- the pods' server ----
mkdir -p "$WORK/nginx/tmp" "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    access_log off;
    default_type text/plain;
    keepalive_timeout 0;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 0.0.0.0:8080 backlog=4096;
        location = /healthz { return 200 "ok\n"; }
        location / { return 404; }
    }
    server {
        listen $STUB;
        location = /stub { stub_status; }
    }
}
EOF
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ip netns exec "$NS" $NICE_CMD taskset -c "$POD_CPU" "$NGINX" -e "$WORK/nginx/logs/error.log" \
	-p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!; PIDS+=("$NGINX_PID")
nginx_requests() { # requests nginx has served (its stub_status requests too: one per call)
	local out
	out=$(nsx $SAMPLE_PIN curl -sf --max-time 2 "http://$STUB/stub") || { echo -1; return; }
	awk 'NR == 3 {print $3}' <<<"$out"
}
for _ in $(seq 1 50); do
	nsx curl -sf --max-time 1 -o /dev/null http://10.244.0.1:8080/healthz &&
		nsx curl -sf --max-time 1 -o /dev/null "http://$(python3 -c "i = $PODS - 1; print(f'10.244.{i // 250}.{i % 250 + 1}')"):8080/healthz" &&
		break
	kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx/logs/"* >&2; die "nginx exited"; }
	sleep 0.1
done
nsx curl -sf --max-time 1 -o /dev/null http://10.244.0.1:8080/healthz || die "nginx does not answer on the pod IPs"
[ "$(nginx_requests)" -ge 0 ] || die "nginx's stub_status does not answer"

# ---- haproxy config ----
cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
    stats socket $WORK/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout check 1s
    timeout client 10s
    timeout server 10s
    option httpchk GET /healthz
    default-server check inter 10s rise 1 fall 3
EOF
cat "$WORK/haproxy-servers.cfg" >>"$WORK/haproxy.cfg"
"$HAPROXY" -c -f "$WORK/haproxy.cfg" >"$WORK/haproxy-check.log" 2>&1 ||
	{ tail -20 "$WORK/haproxy-check.log" >&2; die "haproxy -c failed"; }

# ---- measures ----
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
sys_ticks() { awk '{sub(/^.*\) /, ""); print $13}' "/proc/$1/stat"; }
core_busy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
tcp_segs() { nsx awk '$1 == "Tcp:" && n++ {print $12}' /proc/net/snmp; } # OutSegs, both ends
metric() { # NAME: from svcfwd's /metrics (0 when absent, -1 when it does not answer)
	local out
	out=$(nsx $SAMPLE_PIN curl -sf --max-time 5 "http://$METRICS/metrics") || { echo -1; return; }
	awk -v m="$1" '$1 == m {print $2; f = 1} END {if (!f) print 0}' <<<"$out"
}
haproxy_up() { # servers whose last check passed (L7OK) and that are UP, and all servers; the
	# count of each status and last check result goes to $WORK/haproxy-states.txt
	python3 - "$WORK/haproxy.sock" "$WORK/haproxy-states.txt" <<-'EOF'
	import socket, sys
	s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
	s.sendall(b"show stat\n"); d = b""
	while True:
	    b = s.recv(1 << 20)
	    if not b: break
	    d += b
	lines = d.decode().splitlines()
	head = lines[0].lstrip("# ").split(",")
	ix = {k: i for i, k in enumerate(head)}
	ok = n = 0
	states = {}
	for l in lines[1:]:
	    f = l.split(",")
	    if len(f) < len(head) or f[ix["svname"]] in ("FRONTEND", "BACKEND"): continue
	    n += 1
	    # "* L7OK": the last check passed and the next one is running
	    ok += f[ix["status"]] == "UP" and f[ix["check_status"]].lstrip("* ") == "L7OK"
	    k = f[ix["status"]] + " " + f[ix["check_status"]]
	    states[k] = states.get(k, 0) + 1
	open(sys.argv[2], "w").write(", ".join(f"{v} {k}" for k, v in sorted(states.items(), key=lambda x: -x[1])) + "\n")
	print(ok, n)
	EOF
}

RUNS=$WORK/runs.tsv
printf 'round\ttarget\tsecs\tcpu_s\tattempts\tserved\tnginx_cpu_s\tcore_busy_s\tsys_s\trss_kb\thwm_kb\tup_s\tprobed\tready\tsegs\n' >"$RUNS"
SVCFWD_CMD_probe="$SVCFWD --zones $WORK/zones-probe --status-dir $WORK/status-probe --node node-a --no-route --http $METRICS --log-level warning"
SVCFWD_CMD_noprobe="$SVCFWD --zones $WORK/zones-noprobe --status-dir $WORK/status-noprobe --node node-a --no-route --http $METRICS --log-level warning"
HAPROXY_CMD="$HAPROXY -db -f $WORK/haproxy.cfg"
PIN="taskset -c $FWD_CPU"

run_target() { # TARGET ROUND: start it, wait until up, settle, measure, stop
	local t=$1 r=$2 cmd pid t0 t1 up=0 c0 c1 s0 s1 a0 a1 n0 n1 g0 g1 b0 b1 w0 w1 q0 q1 rss hwm probed=- ready=- x y
	case $t in
	svcfwd-probe) cmd=$SVCFWD_CMD_probe ;;
	svcfwd-probe-b) cmd="$SVCFWD_B ${SVCFWD_CMD_probe#* }" ;;
	svcfwd-noprobe) cmd=$SVCFWD_CMD_noprobe ;;
	haproxy) cmd=$HAPROXY_CMD ;;
	esac
	log "$t: starting (round $r/$ROUNDS)"
	t0=$(now)
	ip netns exec "$NS" $NICE_CMD $PIN $cmd >"$WORK/$t.log" 2>&1 &
	pid=$!; PIDS+=("$pid")
	for _ in $(seq 1 "$((START_TIMEOUT * 2))"); do
		sleep 0.5
		kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$t.log" >&2; die "$t exited"; }
		case $t in
		svcfwd-probe | svcfwd-probe-b)
			x=$(metric svcfwd_probed_pods); y=$(metric svcfwd_probed_pods_ready)
			[ "$x" = "$PODS" ] && [ "$y" = "$PODS" ] && { up=1; break; } ;;
		svcfwd-noprobe)
			nsx $SAMPLE_PIN curl -sf --max-time 2 -o /dev/null "http://$METRICS/ready" && { up=1; break; } ;;
		haproxy)
			read -r x y < <(haproxy_up 2>/dev/null || echo "0 0")
			[ "$x" = "$PODS" ] && [ "$y" = "$PODS" ] && { up=1; break; } ;;
		esac
	done
	[ "$up" = 1 ] || { tail -20 "$WORK/$t.log" >&2
		case $t in
		svcfwd-probe | svcfwd-probe-b) x="svcfwd_probed_pods ${x:-?}, svcfwd_probed_pods_ready ${y:-?}, of $PODS" ;;
		svcfwd-noprobe) x="/ready not 200" ;;
		haproxy) x="${x:-?} of ${y:-?} servers UP with L7OK: $(cat "$WORK/haproxy-states.txt" 2>/dev/null)" ;;
		esac
		die "$t: not up within START_TIMEOUT=${START_TIMEOUT}s ($x; KEEP=1 keeps the work dir)"; }
	t1=$(now)
	up=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
	log "$t: up after ${up}s; settling ${SETTLE}s, then measuring ${MEASURE}s"
	nap "$SETTLE"
	a0=0; [ "$t" = haproxy ] || a0=$(metric svcfwd_probe_attempts_total)
	n0=$(nginx_requests) q0=$(tcp_segs)
	c0=$(cpu_ticks "$pid") s0=$(sys_ticks "$pid") g0=$(cpu_ticks "$NGINX_PID") b0=$(core_busy "$FWD_CPU") w0=$(now)
	nap "$MEASURE"
	c1=$(cpu_ticks "$pid") s1=$(sys_ticks "$pid") g1=$(cpu_ticks "$NGINX_PID") b1=$(core_busy "$FWD_CPU") w1=$(now)
	n1=$(nginx_requests) q1=$(tcp_segs)
	a1=0; [ "$t" = haproxy ] || a1=$(metric svcfwd_probe_attempts_total)
	rss=$(status_kb "$pid" VmRSS) hwm=$(status_kb "$pid" VmHWM)
	case $t in
	svcfwd-*) probed=$(metric svcfwd_probed_pods); ready=$(metric svcfwd_probed_pods_ready) ;;
	haproxy) read -r ready probed < <(haproxy_up 2>/dev/null || echo "- -") ;;
	esac
	kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$t.log" >&2; die "$t exited while measured"; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" \
		"$(awk -v a="$w0" -v b="$w1" 'BEGIN {printf "%.3f", b - a}')" \
		"$(awk -v x=$((c1 - c0)) -v h="$HZ" 'BEGIN {printf "%.2f", x / h}')" \
		"$([ "$t" = haproxy ] && echo - || echo $((a1 - a0)))" \
		"$(( n1 - n0 - 1 ))" \
		"$(awk -v x=$((g1 - g0)) -v h="$HZ" 'BEGIN {printf "%.2f", x / h}')" \
		"$(awk -v x=$((b1 - b0)) -v h="$HZ" 'BEGIN {printf "%.2f", x / h}')" \
		"$(awk -v x=$((s1 - s0)) -v h="$HZ" 'BEGIN {printf "%.2f", x / h}')" \
		"$rss" "$hwm" "$up" "$probed" "$ready" "$((q1 - q0))" >>"$RUNS"
	tail -1 "$RUNS" | awk -F'\t' '{printf "  %-15s cpu %.2fs in %.1fs (%.2f%% of a core)  nginx served %d  rss %d KiB\n",
		$2, $4, $3, 100 * $4 / $3, $6, $10}' >&2
	[ "$t" = svcfwd-probe ] &&
		{ cp "$WORK/status-probe/node-a.yaml" "$WORK/status-probe.snapshot.yaml" 2>/dev/null || true; }
	[ "$PROFILE" = 1 ] && [ "$r" = "$ROUNDS" ] && [ "$t" != svcfwd-noprobe ] && profile "$t" "$pid"
	stop "$pid"
}

# System calls counted with perf stat on their tracepoints (strace would slow the prober down and
# change how many events each epoll_wait returns); those this kernel has.
TRACEFS=/sys/kernel/tracing
[ -d "$TRACEFS/events/syscalls" ] || TRACEFS=/sys/kernel/debug/tracing
SC_EVENTS=(-e raw_syscalls:sys_enter -e context-switches)
for sc in socket connect setsockopt getsockopt sendto sendmsg recvfrom recvmsg read write close shutdown \
	epoll_wait epoll_pwait epoll_ctl fcntl; do
	[ -d "$TRACEFS/events/syscalls/sys_enter_$sc" ] && SC_EVENTS+=(-e "syscalls:sys_enter_$sc")
done
profile() { # TARGET PID: perf record -g, then perf stat of its system calls, PROFILE_TIME s each
	local t=$1 pid=$2 n0 n1
	log "$t: perf record -g for ${PROFILE_TIME}s"
	$SAMPLE_PIN perf record -q -g -o "$WORK/perf.$t.data" -p "$pid" -- sleep "$PROFILE_TIME" \
		>"$WORK/perf.$t.log" 2>&1 || log "perf record failed (see $WORK/perf.$t.log)"
	log "$t: perf stat (system calls) for ${PROFILE_TIME}s"
	n0=$(nginx_requests)
	$SAMPLE_PIN perf stat -x, -o "$WORK/perfstat.$t.csv" "${SC_EVENTS[@]}" -p "$pid" -- sleep "$PROFILE_TIME" \
		>"$WORK/perfstat.$t.log" 2>&1 || log "perf stat failed (see $WORK/perfstat.$t.log)"
	n1=$(nginx_requests)
	echo $((n1 - n0 - 1)) >"$WORK/perfstat.$t.n"
}

t_start=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
	for t in $TARGETS; do run_target "$t" "$r"; done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
STATUS_PODS=$(grep -c '^kind: PodStatus' "$WORK/status-probe.snapshot.yaml" 2>/dev/null || echo 0)
STATUS_TRUE=$(grep -c 'status: "True"' "$WORK/status-probe.snapshot.yaml" 2>/dev/null || echo 0)

# ---- report ----
echo
echo "svcfwd readiness probes vs HAProxy $("$HAPROXY" -v | awk 'NR == 1 {print $3}') health checks:" \
	"$PODS pods, period 10 s; kernel $(uname -r); $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); command: PODS=$PODS MEASURE=$MEASURE SETTLE=$SETTLE ROUNDS=$ROUNDS PROFILE=$PROFILE $ARGV0"
echo "prober on CPU $FWD_CPU, nginx (and this script's sampling) on CPU $POD_CPU, ${NICE_CMD:-no nice}; window ${MEASURE}s after the probes were up + ${SETTLE}s; $ROUNDS round(s)$([ "$ROUNDS" -gt 1 ] && echo ", medians")"
echo "load average before: $LOAD0, after: $LOAD1 (other work on the machine skews the figures, \"CPU$FWD_CPU busy\" most)"
echo "commands (in netns $NS; every pod IP 10.244.x.y local there, nginx on 0.0.0.0:8080):"
echo "  svcfwd (probing):  ${NICE_CMD:+$NICE_CMD }$PIN $SVCFWD_CMD_probe"
echo "  svcfwd (no probes):${NICE_CMD:+ $NICE_CMD} $PIN $SVCFWD_CMD_noprobe"
echo "  haproxy:           ${NICE_CMD:+$NICE_CMD }$PIN $HAPROXY_CMD"
echo "                     (nbthread 1, mode http, option httpchk GET /healthz, check inter 10s rise 1 fall 3, timeout check 1s, $PODS servers in $(( (PODS + 99) / 100 )) backends)"
echo "  pods:              nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes 1, access_log off, location = /healthz { return 200; }"
echo "  svcfwd's status file after its window: $STATUS_PODS PodStatus objects, $STATUS_TRUE Ready"
echo "  haproxy's servers after its window (status, last check): $(cat "$WORK/haproxy-states.txt" 2>/dev/null || echo n/a)"
python3 - "$RUNS" "$PODS" <<'PYEOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
pods = int(sys.argv[2])
names = [("svcfwd-probe", "svcfwd (probing)"), ("svcfwd-probe-b", "svcfwd B (probing)"),
         ("svcfwd-noprobe", "svcfwd (no probes)"),
         ("haproxy", f"haproxy ({pods} checks)")]
by = {k: [r for r in rows if r["target"] == k] for k, _ in names}

def med(k, f):
    v = [f(r) for r in by[k]]
    v = [x for x in v if x == x]
    return statistics.median(v) if v else float("nan")
def num(key): return lambda r: float(r[key]) if r[key] not in ("-", "") else float("nan")
def pct(r): return 100 * float(r["cpu_s"]) / float(r["secs"])
def per_s(key): return lambda r: float(r[key]) / float(r["secs"]) if r[key] != "-" else float("nan")
def ker(r): return 100 * float(r["sys_s"]) / float(r["cpu_s"]) if float(r["cpu_s"]) > 0 else float("nan")
def us_per_req(r): return float(r["cpu_s"]) / int(r["served"]) * 1e6 if int(r["served"]) > 0 else float("nan")
def mib(key): return lambda r: int(r[key]) / 1024
def nginx_pct(r): return 100 * float(r["nginx_cpu_s"]) / float(r["secs"])
def segs(r): return int(r["segs"]) / int(r["served"]) if int(r["served"]) > 0 else float("nan")
def busy(r): return 100 * float(r["core_busy_s"]) / float(r["secs"])
def show(v, f): return "-" if v != v else f.format(v)

print()
fmt = "{:<24} {:>9} {:>8} {:>11} {:>9} {:>9} {:>7} {:>9} {:>9} {:>11} {:>7}"
print(fmt.format("", "CPU % of", "of which", "attempts/s", "nginx", "CPU us /", "RSS", "peak RSS",
                 "up after", "probes up", "nginx"))
print(fmt.format("", "one core", "kernel", "(own count)", "served/s", "request", "MiB", "MiB", "s",
                 "(ready/n)", "CPU %"))
for k, label in names:
    if not by[k] and k == "svcfwd-probe-b":
        continue
    if not by[k]:
        print(fmt.format(label, *["n/a"] * 10)); continue
    last = by[k][-1]
    print(fmt.format(label, show(med(k, pct), "{:.2f}"), show(med(k, ker), "{:.0f}%"),
                     show(med(k, per_s("attempts")), "{:.0f}"), show(med(k, per_s("served")), "{:.0f}"),
                     show(med(k, us_per_req), "{:.1f}"), show(med(k, mib("rss_kb")), "{:.1f}"),
                     show(med(k, mib("hwm_kb")), "{:.1f}"), show(med(k, num("up_s")), "{:.1f}"),
                     f"{last['ready']}/{last['probed']}", show(med(k, nginx_pct), "{:.2f}")))
print("TCP segments per check (sent by both ends, the netns's OutSegs over nginx's requests): " + ", ".join(
    f"{label} {med(k, segs):.2f}" for k, label in names if by[k]))
print("CPU busy (every non-idle tick of the prober's core, whatever ran there): " + ", ".join(
    f"{label} {med(k, busy):.2f}%" for k, label in names if by[k]))
if len(rows) > len(names):
    print("every round, CPU % of one core: " + "; ".join(
        f"{label} " + " ".join(f"{pct(r):.2f}" for r in by[k]) for k, label in names if by[k]))

print()
if by["svcfwd-probe"] and by["svcfwd-noprobe"]:
    cost = med("svcfwd-probe", pct) - med("svcfwd-noprobe", pct)
    att = med("svcfwd-probe", per_s("attempts"))
    print(f"svcfwd probing cost (probing - no probes): {cost:.2f}% of a core"
          + (f" for {pods} pods; {cost * 10000 / pods:.2f}% scaled linearly to 10,000 (rough: fewer attempts"
             " a second cost more each, with fewer sharing a wake-up)" if pods != 10000 else " for 10,000 pods"))
    if pods == 10000:
        print(f"  target < 5% of a core for 10,000 pods: {cost:.2f}% = {cost / 5:.2f} x the target -> "
              + ("PASS" if cost < 5 else "FAIL"))
    else:
        print(f"  target < 5% of a core for 10,000 pods: no verdict at PODS={pods} (run with PODS=10000)")
    if att > 0:
        print(f"  per attempt: {cost / 100 / att * 1e6:.1f} us of svcfwd CPU ({att:.0f} attempts/s;"
              f" expected {pods / 10:.0f}/s)")
    if by["svcfwd-probe-b"]:
        cb = med("svcfwd-probe-b", pct) - med("svcfwd-noprobe", pct)
        print(f"svcfwd B (SVCFWD_B) probing cost: {cb:.2f}% of a core; B / A: {cb / cost:.2f}"
              " (the rounds interleaved: every round's figures above)")
    drss = med("svcfwd-probe", mib("rss_kb")) - med("svcfwd-noprobe", mib("rss_kb"))
    print(f"  memory: +{drss:.1f} MiB RSS ({drss * 1048576 / pods:.0f} bytes per probed pod)")
    if by["haproxy"]:
        hc = med("haproxy", pct)
        hs = med("haproxy", per_s("served"))
        print(f"haproxy: {hc:.2f}% of a core for {pods} checks every 10 s"
              + (f" ({hc * 10000 / pods:.2f}% scaled to 10,000)" if pods != 10000 else ""))
        if hc > 0:
            print(f"  svcfwd probing cost / haproxy check cost: {cost / hc:.2f}")
        if hs > 0 and att > 0:
            print(f"  per check: svcfwd {cost / 100 / att * 1e6:.1f} us, haproxy {hc / 100 / hs * 1e6:.1f} us"
                  f" (its checks counted by nginx: {hs:.0f}/s)")
PYEOF

# ---- optional profile ----
if [ "$PROFILE" = 1 ]; then
	for t in svcfwd-probe haproxy; do
		[ -s "$WORK/perf.$t.data" ] || continue
		echo
		echo "$t under perf record -g for ${PROFILE_TIME}s: by shared object"
		perf report -i "$WORK/perf.$t.data" --no-children --sort dso --stdio -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -8 || true
		echo "$t: self time, top 25"
		perf report -i "$WORK/perf.$t.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -25 | sed 's/ *- *- *$//' || true
		echo "$t: system calls, inclusive time"
		perf report -i "$WORK/perf.$t.data" --children --sort symbol --stdio -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | grep -E '\] __x64_sys_' | head -15 | sed 's/ *- *- *$//' || true
		if [ -s "$WORK/perfstat.$t.csv" ]; then
			# One connect per check: the denominator (nginx's count spans a little more than perf's).
			n=$(awk -F, '$3 == "syscalls:sys_enter_connect" {print $1}' "$WORK/perfstat.$t.csv")
			echo "$t: perf stat over ${PROFILE_TIME}s: ${n:-?} connects (nginx served $(cat "$WORK/perfstat.$t.n")" \
				"meanwhile): count, per connect"
			awk -F, -v n="$n" '$1 ~ /^[0-9]+$/ && $1 > 0 {e = $3; sub(/^syscalls:sys_enter_/, "", e)
				sub(/^raw_syscalls:sys_enter$/, "(all system calls)", e)
				printf "  %-22s %10d %8.2f\n", e, $1, (n > 0 ? $1 / n : 0)}' "$WORK/perfstat.$t.csv"
		fi
	done
fi
log "done in $(( $(date +%s) - t_start ))s"
