#!/usr/bin/env bash
# fwd_bench.sh -- svcfwd against HAProxy (TCP mode) and a direct connection, in front of the same pods.
#
# Topology (all network namespaces and veths are created here and removed on exit; the host's own
# interfaces and routes are not touched):
#
#   client ns  10.200.0.2 --veth-- 10.200.0.1  node ns  10.244.1.1 --veth-- 10.244.1.11 pod web-1 (nginx :8080)
#   (wrk, iperf3 -c)                (svcfwd, HAProxy,   10.244.2.1 --veth-- 10.244.2.12 pod web-2 (nginx :8080)
#                                    ip_forward=1)      10.244.3.1 --veth-- 10.244.3.13 pod iperf (iperf3 -s :5201)
#
#   The node holds `local 10.96.0.0/12 dev lo` (added here; svcfwd runs with --no-route).
#   svcfwd : Service bench/web, ClusterIP 10.96.100.10, 80 -> web-1,web-2 :8080, 5201 -> iperf :5201
#   haproxy: 10.96.200.10:80 (roundrobin web-1,web-2) and :5201 (iperf), mode tcp, option splice-auto,
#            nbthread 1, no health checks
#   direct : wrk to 10.244.1.11:8081 (the same nginx), iperf3 to 10.244.3.13:5201, routed (kernel
#            forwarding) by the node. Another port than svcfwd's: its fast path keeps the client's
#            address and port, so a direct connection on a recycled client port would meet the pod's
#            TIME_WAIT of a fast-path connection (a SYN answered by an ACK, a second's retry)
#
# Each proxy is pinned to PROXY_CPU, wrk and the iperf3 client to CLIENT_CPU; the pods float (POD_CPU
# pins them). Rounds alternate svcfwd / haproxy / direct for every measure; the table shows medians:
#   - requests/s on kept-alive connections   (wrk -c 50, 1 KiB file)
#   - new connections/s                      (wrk -c 50 -H 'Connection: close')
#   - bulk throughput                        (iperf3 -t IPERF_TIME, -P 1 and -P 4)
#   - proxy CPU per request / connection / GB (utime+stime of the proxy from /proc/PID/stat)
#
# usage: bench/fwd_bench.sh
# environment: DURATION=10 (s per wrk run) IPERF_TIME=5 ROUNDS=3 QUICK=1 (DURATION=3 IPERF_TIME=2
#   ROUNDS=1) CONNS=50 SVCFWD=path (default build/svcfwd; "n/a" column when missing)
#   PROXY_CPU=0 CLIENT_CPU=1 POD_CPU= (empty: pods unpinned) NICE=-10 (as root)
#   SVCFWD_ARGS="--no-fast-path" (more svcfwd options: the relay alone)
#   PROFILE=1 (after the rounds: perf record and strace -c on svcfwd and haproxy during a keep-alive
#   and a connection:close run; prints the top functions and syscalls) KEEP=1 (keep the work dir)
# Installs haproxy, nginx-light, wrk, iperf3 with apt-get when missing. Needs root (netns).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-3}; IPERF_TIME=${IPERF_TIME:-2}; ROUNDS=${ROUNDS:-1}
else
	DURATION=${DURATION:-10}; IPERF_TIME=${IPERF_TIME:-5}; ROUNDS=${ROUNDS:-3}
fi
CONNS=${CONNS:-50}
PROXY_CPU=${PROXY_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
POD_CPU=${POD_CPU:-}
PROFILE=${PROFILE:-0}
KEEP=${KEEP:-0}
SVCFWD=${SVCFWD:-$ROOT/build/svcfwd}
NICE=${NICE:--10}
NICE_CMD=
[ "$NICE" != 0 ] && NICE_CMD="nice -n $NICE"

log() { printf '%s\n' "$*" >&2; }
die() { log "fwd_bench: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
[ "$(nproc)" -ge 2 ] || log "fwd_bench: WARNING: one CPU: proxy and load generator share it"

# ---- packages ----
need_pkgs=()
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_pkgs+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx-light)
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v iperf3 >/dev/null || need_pkgs+=(iperf3)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ "$PROFILE" = 1 ]; then
	command -v perf >/dev/null || need_pkgs+=(linux-perf)
	command -v strace >/dev/null || need_pkgs+=(strace)
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
	log "installing: ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# policy-rc.d or not: the packaged haproxy/nginx/iperf3 services are not used here.
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

HAVE_SVCFWD=0
if [ -x "$SVCFWD" ]; then HAVE_SVCFWD=1; else log "fwd_bench: no svcfwd at $SVCFWD: its column is n/a"; fi
TARGETS="haproxy direct"
[ "$HAVE_SVCFWD" = 1 ] && TARGETS="svcfwd haproxy direct"

# ---- work dir, names, cleanup ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fwd_bench.XXXXXX")
chmod 755 "$WORK"
TAG=fb$$
NS_NODE=$TAG-node NS_CLI=$TAG-cli
POD_NAMES=(web-1 web-2 iperf)
POD_IPS=(10.244.1.11 10.244.2.12 10.244.3.13)
POD_GWS=(10.244.1.1 10.244.2.1 10.244.3.1)
VIP=10.96.100.10
HAVIP=10.96.200.10
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
	# Anything still running in our namespaces was started here.
	for ns in "${NSES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
	done
	# Deleting a namespace removes its veth ends (and their peers).
	for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background processes are started with `ip netns exec` itself (it execs), so $! is their PID.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
sysctls() { # NS: settings for many short connections
	nsx "$1" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
		net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
}

# ---- network ----
ip netns add "$NS_NODE"; NSES+=("$NS_NODE")
ip netns add "$NS_CLI"; NSES+=("$NS_CLI")
for ns in "$NS_NODE" "$NS_CLI"; do nsx "$ns" ip link set lo up; sysctls "$ns"; done
nsx "$NS_NODE" sysctl -qw net.ipv4.ip_forward=1
ip link add "${TAG}c0" netns "$NS_NODE" type veth peer name eth0 netns "$NS_CLI"
nsx "$NS_NODE" ip addr add 10.200.0.1/24 dev "${TAG}c0"
nsx "$NS_NODE" ip link set "${TAG}c0" up
nsx "$NS_CLI" ip addr add 10.200.0.2/24 dev eth0
nsx "$NS_CLI" ip link set eth0 up
nsx "$NS_CLI" ip route add default via 10.200.0.1
for i in 0 1 2; do
	ns=$TAG-p$i
	ip netns add "$ns"; NSES+=("$ns")
	nsx "$ns" ip link set lo up
	sysctls "$ns"
	ip link add "${TAG}p$i" netns "$NS_NODE" type veth peer name eth0 netns "$ns"
	nsx "$NS_NODE" ip addr add "${POD_GWS[$i]}/24" dev "${TAG}p$i"
	nsx "$NS_NODE" ip link set "${TAG}p$i" up
	nsx "$ns" ip addr add "${POD_IPS[$i]}/24" dev eth0
	nsx "$ns" ip link set eth0 up
	nsx "$ns" ip route add default via "${POD_GWS[$i]}"
done
# The service CIDR is local on the node (what svcfwd would add without --no-route); HAProxy binds
# an address in it too, so both proxies see the same path.
nsx "$NS_NODE" ip route add local 10.96.0.0/12 dev lo

# ---- pods ----
mkdir -p "$WORK/www"
head -c 1024 /dev/zero | tr '\0' x >"$WORK/www/1k.html"
POD_PIN=
[ -n "$POD_CPU" ] && POD_PIN="taskset -c $POD_CPU"
for i in 0 1; do
	d=$WORK/${POD_NAMES[$i]}
	mkdir -p "$d/tmp" "$d/logs"
	cat >"$d/nginx.conf" <<-EOF
	worker_processes 1;
	daemon off;
	master_process off;
	pid $d/nginx.pid;
	error_log $d/logs/error.log warn;
	worker_rlimit_nofile 16384;
	events { worker_connections 8192; }
	http {
	    access_log off;
	    default_type text/html;
	    sendfile on;
	    tcp_nopush on;
	    keepalive_requests 100000000;
	    keepalive_timeout 300s;
	    client_body_temp_path $d/tmp/body;
	    proxy_temp_path $d/tmp/proxy;
	    fastcgi_temp_path $d/tmp/fastcgi;
	    uwsgi_temp_path $d/tmp/uwsgi;
	    scgi_temp_path $d/tmp/scgi;
	    server {
	        listen ${POD_IPS[$i]}:8080 backlog=4096;
	        listen ${POD_IPS[$i]}:8081 backlog=4096;
	        root $WORK/www;
	    }
	}
	EOF
	ip netns exec "$TAG-p$i" $NICE_CMD $POD_PIN "$NGINX" -e "$d/logs/error.log" -p "$d" -c "$d/nginx.conf" \
		>"$d/logs/stdout.log" 2>&1 &
	PIDS+=($!)
done
ip netns exec "$TAG-p2" $NICE_CMD $POD_PIN iperf3 -s -B "${POD_IPS[2]}" -p 5201 >"$WORK/iperf3-server.log" 2>&1 &
PIDS+=($!)

# ---- svcfwd: manifests ----
ZONES=$WORK/zones
mkdir -p "$ZONES/bench"
cat >"$ZONES/namespaces.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: bench
EOF
{
	cat <<-EOF
	apiVersion: v1
	kind: Service
	metadata:
	  name: web
	  namespace: bench
	spec:
	  clusterIP: $VIP
	  selector:
	    app: bench
	  ports:
	  - name: http
	    port: 80
	    targetPort: http
	  - name: iperf
	    port: 5201
	    targetPort: iperf
	---
	apiVersion: v1
	kind: List
	items:
	EOF
	for i in 0 1 2; do
		if [ "$i" = 2 ]; then port="{name: iperf, containerPort: 5201}"; else port="{name: http, containerPort: 8080}"; fi
		cat <<-EOF
		- apiVersion: v1
		  kind: Pod
		  metadata: {name: ${POD_NAMES[$i]}, namespace: bench, labels: {app: bench}}
		  spec:
		    nodeName: node-a
		    containers:
		    - name: c
		      ports: [$port]
		  status:
		    phase: Running
		    podIP: ${POD_IPS[$i]}
		    conditions: [{type: Ready, status: "True"}]
		EOF
	done
} >"$ZONES/bench/web.yaml"

# ---- haproxy config ----
cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
    log stderr format raw local0 err
defaults
    mode tcp
    option splice-auto
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend web
    bind $HAVIP:80
    default_backend web
backend web
    balance roundrobin
    server web-1 ${POD_IPS[0]}:8080
    server web-2 ${POD_IPS[1]}:8080
frontend iperf
    bind $HAVIP:5201
    default_backend iperf
backend iperf
    server iperf ${POD_IPS[2]}:5201
EOF

# ---- proxies ----
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SVCFWD_CMD="$SVCFWD --zones $ZONES --node node-a --no-route --log-level warning${SVCFWD_ARGS:+ $SVCFWD_ARGS}"
HAPROXY_CMD="$HAPROXY -db -f $WORK/haproxy.cfg"
PROXY_PIN="taskset -c $PROXY_CPU"
CLIENT_PIN="taskset -c $CLIENT_CPU"
declare -A PID_OF HOST_OF WEBPORT_OF WEBIP_OF IPERFIP_OF
ip netns exec "$NS_NODE" $NICE_CMD $PROXY_PIN $HAPROXY_CMD >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!); PID_OF[haproxy]=$!
WEBIP_OF[haproxy]=$HAVIP WEBPORT_OF[haproxy]=80 IPERFIP_OF[haproxy]=$HAVIP
WEBIP_OF[direct]=${POD_IPS[0]} WEBPORT_OF[direct]=8081 IPERFIP_OF[direct]=${POD_IPS[2]}
if [ "$HAVE_SVCFWD" = 1 ]; then
	"$SVCFWD" --check --zones "$ZONES" >"$WORK/svcfwd-check.log" 2>&1 ||
		{ cat "$WORK/svcfwd-check.log" >&2; die "svcfwd --check failed"; }
	ip netns exec "$NS_NODE" $NICE_CMD $PROXY_PIN $SVCFWD_CMD >"$WORK/svcfwd.log" 2>&1 &
	PIDS+=($!); PID_OF[svcfwd]=$!
	WEBIP_OF[svcfwd]=$VIP WEBPORT_OF[svcfwd]=80 IPERFIP_OF[svcfwd]=$VIP
fi

wait_http() { # TARGET: until a GET through it returns the file
	local t=$1
	for _ in $(seq 1 100); do
		if [ -n "${PID_OF[$t]:-}" ] && ! kill -0 "${PID_OF[$t]}" 2>/dev/null; then
			cat "$WORK/$t.log" >&2; die "$t exited"
		fi
		if nsx "$NS_CLI" python3 - "${WEBIP_OF[$t]}" "${WEBPORT_OF[$t]}" <<-'EOF' 2>/dev/null; then return 0; fi
		import socket, sys
		s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
		s.sendall(b"GET /1k.html HTTP/1.0\r\n\r\n")
		d = b""
		while True:
		    b = s.recv(65536)
		    if not b: break
		    d += b
		sys.exit(0 if d.startswith(b"HTTP/1.1 200") and d.endswith(b"x" * 1024) else 1)
		EOF
		sleep 0.1
	done
	die "no answer through $t at ${WEBIP_OF[$t]}:${WEBPORT_OF[$t]} (see $WORK)"
}
for t in $TARGETS; do wait_http "$t"; done
# The iperf3 server answers through each path (a 1 s test).
for t in $TARGETS; do
	nsx "$NS_CLI" iperf3 -c "${IPERFIP_OF[$t]}" -p 5201 -t 1 >/dev/null 2>"$WORK/iperf-check.$t.log" ||
		{ cat "$WORK/iperf-check.$t.log" >&2; die "iperf3 through $t failed"; }
done

# ---- measures ----
HZ=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of the whole process (all threads)
	if [ -n "${PID_OF[$1]:-}" ]; then awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/${PID_OF[$1]}/stat"; else echo 0; fi
}
core_busy() { # busy ticks of CPU $1 (user nice system irq softirq steal)
	awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
machine_busy() { # busy ticks of every CPU: client, proxy, pods, softirq (a kernel relay's)
	awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
RUNS=$WORK/runs.tsv
printf 'target\tmeasure\tround\tcount\tsecs\trate\terrors\tcpu_s\tcore_busy_s\tmachine_s\n' >"$RUNS"
WRK_KA="$CLIENT_PIN wrk -t1 -c$CONNS -d${DURATION}s http://ADDR:PORT/1k.html"
WRK_CL="$CLIENT_PIN wrk -t1 -c$CONNS -d${DURATION}s -H 'Connection: close' http://ADDR:PORT/1k.html"
IPERF="$CLIENT_PIN iperf3 -c ADDR -p 5201 -t $IPERF_TIME -P N -J"

run_wrk() { # TARGET MEASURE ROUND [wrk args]
	local t=$1 m=$2 r=$3 c0 c1 out
	shift 3
	out=$WORK/wrk.$t.$m.$r.txt
	c0=$(cpu_ticks "$t") b0=$(core_busy "$PROXY_CPU") a0=$(machine_busy)
	nsx "$NS_CLI" $NICE_CMD $CLIENT_PIN wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" \
		"http://${WEBIP_OF[$t]}:${WEBPORT_OF[$t]}/1k.html" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
	c1=$(cpu_ticks "$t") b1=$(core_busy "$PROXY_CPU") a1=$(machine_busy)
	awk -v t="$t" -v m="$m" -v r="$r" -v cpu="$(( c1 - c0 ))" -v busy="$(( b1 - b0 ))" -v all="$(( a1 - a0 ))" -v hz="$HZ" '
	/requests in/ { n = $1; s = $4; sub(/,$/, "", s); if (s ~ /ms$/) { sub(/ms$/, "", s); s /= 1000 } else if (s ~ /m$/) { sub(/m$/, "", s); s *= 60 } else sub(/s$/, "", s) }
	/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); e += v } }
	/Non-2xx/ { e += $NF }
	END { printf "%s\t%s\t%s\t%d\t%.2f\t%.0f\t%d\t%.2f\t%.2f\t%.2f\n", t, m, r, n, s, n / s, e, cpu / hz, busy / hz, all / hz }' "$out" >>"$RUNS"
	tail -1 "$RUNS" | awk -F'\t' '{printf "  %-7s %-9s #%s: %9.0f /s  errors %d  proxy cpu %.2fs\n", $1, $2, $3, $6, $7, $8}' >&2
}
run_iperf() { # TARGET MEASURE ROUND STREAMS
	local t=$1 m=$2 r=$3 p=$4 c0 c1 out
	out=$WORK/iperf.$t.$m.$r.json
	c0=$(cpu_ticks "$t") b0=$(core_busy "$PROXY_CPU") a0=$(machine_busy)
	nsx "$NS_CLI" $NICE_CMD $CLIENT_PIN iperf3 -c "${IPERFIP_OF[$t]}" -p 5201 -t "$IPERF_TIME" -P "$p" -J \
		>"$out" 2>&1 || { cat "$out" >&2; die "iperf3 failed"; }
	c1=$(cpu_ticks "$t") b1=$(core_busy "$PROXY_CPU") a1=$(machine_busy)
	python3 - "$out" "$t" "$m" "$r" "$(( c1 - c0 ))" "$HZ" "$(( b1 - b0 ))" "$(( a1 - a0 ))" >>"$RUNS" <<-'EOF'
	import json, sys
	j = json.load(open(sys.argv[1])); e = j["end"]["sum_received"]
	print("%s\t%s\t%s\t%d\t%.2f\t%.0f\t%d\t%.2f\t%.2f\t%.2f" % (sys.argv[2], sys.argv[3], sys.argv[4], e["bytes"],
	      e["seconds"], e["bits_per_second"], j["end"]["sum_sent"].get("retransmits", 0),
	      int(sys.argv[5]) / int(sys.argv[6]), int(sys.argv[7]) / int(sys.argv[6]),
	      int(sys.argv[8]) / int(sys.argv[6])))
	EOF
	sleep 0.5 # the iperf3 server takes a moment to accept the next test
	tail -1 "$RUNS" | awk -F'\t' '{printf "  %-7s %-9s #%s: %9.2f Gbit/s  retransmits %d  proxy cpu %.2fs\n", $1, $2, $3, $6 / 1e9, $7, $8}' >&2
}
measure() { # TARGET MEASURE ROUND
	case $2 in
	keepalive) run_wrk "$1" "$2" "$3" ;;
	close) run_wrk "$1" "$2" "$3" -H 'Connection: close' ;;
	iperf1) run_iperf "$1" "$2" "$3" 1 ;;
	iperf4) run_iperf "$1" "$2" "$3" 4 ;;
	esac
}

t_start=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "warm-up ..."
for t in $TARGETS; do
	nsx "$NS_CLI" wrk -t1 -c"$CONNS" -d1s "http://${WEBIP_OF[$t]}:${WEBPORT_OF[$t]}/1k.html" >/dev/null
done
for r in $(seq 1 "$ROUNDS"); do
	for m in keepalive close iperf1 iperf4; do
		log "round $r/$ROUNDS: $m"
		for t in $TARGETS; do measure "$t" "$m" "$r"; done
	done
done

# ---- report ----
echo
echo "svcfwd vs HAProxy $("$HAPROXY" -v | awk 'NR == 1 {print $3}') vs direct; kernel $(uname -r);" \
	"$(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
echo "proxies on CPU $PROXY_CPU, wrk/iperf3 client on CPU $CLIENT_CPU, pods ${POD_CPU:+on CPU $POD_CPU}${POD_CPU:-unpinned}; $ROUNDS round(s), medians; ${NICE_CMD:-no nice}"
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers)"
echo "commands (client runs in netns client, proxies in netns node; ADDR:PORT = svcfwd $VIP:80 (iperf $VIP:5201),"
echo "  haproxy $HAVIP:80 (iperf $HAVIP:5201), direct ${POD_IPS[0]}:8081 (iperf ${POD_IPS[2]}:5201)):"
echo "  svcfwd:    ${NICE_CMD:+$NICE_CMD }$PROXY_PIN $SVCFWD_CMD$([ "$HAVE_SVCFWD" = 1 ] || echo '   [not run: binary missing]')"
echo "  haproxy:   ${NICE_CMD:+$NICE_CMD }$PROXY_PIN $HAPROXY_CMD   (mode tcp, option splice-auto, nbthread 1, roundrobin 2 servers)"
echo "  pods:      nginx $("$NGINX" -v 2>&1 | sed 's|.*/||') worker_processes 1, access_log off, keepalive_requests 1e8, 1 KiB file; iperf3 -s"
echo "  keepalive: ${NICE_CMD:+$NICE_CMD }$WRK_KA"
echo "  close:     ${NICE_CMD:+$NICE_CMD }$WRK_CL"
echo "  iperf:     ${NICE_CMD:+$NICE_CMD }$IPERF    (N = 1, 4)"
echo "  cpu:       utime+stime of the proxy process (/proc/PID/stat) across each run; \"core busy (all)\": every"
echo "             non-idle tick of CPU $PROXY_CPU (/proc/stat: proxy, softirq, pods, anything else); \"machine\":"
echo "             every non-idle tick of every CPU (client, proxy, pods, softirq: a kernel fast path's too)"
python3 - "$RUNS" "$HAVE_SVCFWD" <<'PYEOF'
import csv, statistics, sys
runs = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
have = sys.argv[2] == "1"
T = ("svcfwd", "haproxy", "direct")
nan = float("nan")

def col(t, m, f):
    v = [f(r) for r in runs if r["target"] == t and r["measure"] == m]
    return statistics.median(v) if v else nan

def rate(r): return float(r["rate"])
def gbit(r): return float(r["rate"]) / 1e9
def us_per(r): return float(r["cpu_s"]) / int(r["count"]) * 1e6 if int(r["count"]) else nan
def s_per_gb(r): return float(r["cpu_s"]) / (int(r["count"]) / 1e9) if int(r["count"]) else nan
def core(r): return 100 * float(r["cpu_s"]) / float(r["secs"])
def errs(r): return float(r["errors"])
def busy(r): return 100 * float(r["core_busy_s"]) / float(r["secs"])
def m_us_per(r): return float(r["machine_s"]) / int(r["count"]) * 1e6 if int(r["count"]) else nan
def m_s_per_gb(r): return float(r["machine_s"]) / (int(r["count"]) / 1e9) if int(r["count"]) else nan

rows = [
    ("keep-alive: requests/s", "keepalive", rate, "{:.0f}", True),
    ("keep-alive: proxy CPU us/request", "keepalive", us_per, "{:.2f}", False),
    ("keep-alive: proxy CPU % of core", "keepalive", core, "{:.0f}", False),
    ("keep-alive: proxy core busy % (all)", "keepalive", busy, "{:.0f}", True),
    ("keep-alive: machine CPU us/request", "keepalive", m_us_per, "{:.2f}", True),
    ("conn:close: connections/s", "close", rate, "{:.0f}", True),
    ("conn:close: proxy CPU us/connection", "close", us_per, "{:.2f}", False),
    ("conn:close: proxy CPU % of core", "close", core, "{:.0f}", False),
    ("conn:close: socket errors + non-2xx", "close", errs, "{:.0f}", True),
    ("conn:close: proxy core busy % (all)", "close", busy, "{:.0f}", True),
    ("conn:close: machine CPU us/connection", "close", m_us_per, "{:.2f}", True),
    ("iperf3 -P 1: Gbit/s", "iperf1", gbit, "{:.2f}", True),
    ("iperf3 -P 1: proxy CPU s/GB", "iperf1", s_per_gb, "{:.3f}", False),
    ("iperf3 -P 1: retransmits", "iperf1", errs, "{:.0f}", True),
    ("iperf3 -P 1: machine CPU s/GB", "iperf1", m_s_per_gb, "{:.3f}", True),
    ("iperf3 -P 4: Gbit/s", "iperf4", gbit, "{:.2f}", True),
    ("iperf3 -P 4: proxy CPU s/GB", "iperf4", s_per_gb, "{:.3f}", False),
    ("iperf3 -P 4: proxy core busy % (all)", "iperf4", busy, "{:.0f}", True),
    ("iperf3 -P 4: machine CPU s/GB", "iperf4", m_s_per_gb, "{:.3f}", True),
]
fmt = "{:<38} {:>10} {:>10} {:>10} {:>10} {:>10}"
print(fmt.format("(medians)", *T, "fwd/hap", "fwd/direct"))
def show(v, f): return "n/a" if v != v else f.format(v)
def ratio(a, b): return "n/a" if a != a or b != b or b == 0 else f"{a / b:.2f}"
for label, m, f, ff, has_direct in rows:
    v = {t: col(t, m, f) if (t != "svcfwd" or have) and (t != "direct" or has_direct) else nan for t in T}
    print(fmt.format(label, *(show(v[t], ff) for t in T), ratio(v["svcfwd"], v["haproxy"]),
                     ratio(v["svcfwd"], v["direct"]) if has_direct else "-"))
print("every run (rate /s or Gbit/s):")
for m in ("keepalive", "close", "iperf1", "iperf4"):
    for t in T:
        rs = [r for r in runs if r["target"] == t and r["measure"] == m]
        if rs:
            print(f"  {m:<9} {t:<7} " + "  ".join(
                f"{gbit(r):.2f}" if m.startswith("iperf") else f"{rate(r):.0f}" for r in rs))
PYEOF

# ---- optional profile ----
if [ "$PROFILE" = 1 ]; then
	for t in $TARGETS; do
		[ "$t" = direct ] && continue
		for m in keepalive close; do
			log "profiling $t ($m) ..."
			perf record -q -g -o "$WORK/perf.$t.$m.data" -p "${PID_OF[$t]}" -- sleep "$DURATION" \
				>"$WORK/perf.$t.$m.log" 2>&1 &
			pp=$!
			measure "$t" "$m" perf
			wait "$pp" || true
			echo
			echo "$t, $m ($(tail -1 "$RUNS" | cut -f6)/s under perf): self time, top 25"
			perf report -i "$WORK/perf.$t.$m.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
				grep -E '^ +[0-9.]+%' | head -25 | sed 's/ *- *- *$//' || true
			timeout "$((DURATION + 5))" strace -c -f -p "${PID_OF[$t]}" -o "$WORK/strace.$t.$m.txt" &
			sp=$!
			sleep 0.5
			measure "$t" "$m" strace
			kill -INT "$sp" 2>/dev/null || true
			wait "$sp" || true
			echo "$t, $m: syscalls (strace -c, $(tail -1 "$RUNS" | cut -f4) requests under strace)"
			head -22 "$WORK/strace.$t.$m.txt" || true
			awk -v n="$(tail -1 "$RUNS" | cut -f4)" '$NF == "total" {printf "  %.1f syscalls per request\n", $4 / n}' \
				"$WORK/strace.$t.$m.txt"
		done
	done
fi
log "done in $(( $(date +%s) - t_start ))s"
