#!/usr/bin/env bash
# svcfwd's UDP flows follow the plan, on node-a of the lib/fwdnet.sh namespaces with an outside
# client that keeps its source port (so each datagram meets its existing flow):
#   - a ClusterIP that moves to another service (alpha, app=a, renamed beta, app=b, on the same
#     address) takes an existing flow with it: the next datagram reaches beta's pod;
#   - a loadBalancerSourceRanges tightened to exclude a client with a flow: its next datagram is
#     not forwarded and is counted in svcfwd_service_rejected_total, while its flow to the
#     service's ClusterIP (no ranges there) carries on;
#   - a flow whose pod stops listening (ICMP port unreachable, read from the error queue of the
#     socket flows share) moves to the other pod: the datagram that met the closed port is lost,
#     the next is answered, and the failure is counted.
#
# Needs root and `ip netns` (else SKIP, exit 77).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd
need_tools curl
FWD_TAG=su$$
FWD_LIB=$T_LIB
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

VIP=10.96.70.10     # alpha, then beta: dns 53/UDP -> 5300
EDGE_VIP=10.96.70.20 # edge (LoadBalancer, app=a): dns 53/UDP -> 5300
EDGE_LB=198.51.100.30
BOTH_VIP=10.96.70.30 # both (role=dns): 5353/UDP -> 5300 (not an answer-ends port: flows stay)
Z=$WORK/zones
mkdir -p "$Z"

service() { # NAME SELECTOR
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  clusterIP: $VIP
  selector: {app: $2}
  ports:
  - {name: dns, port: 53, targetPort: 5300, protocol: UDP}
EOF
}
edge() { # RANGE
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: $EDGE_VIP
  selector: {app: a}
  loadBalancerSourceRanges: [$1]
  ports:
  - {name: dns, port: 53, targetPort: 5300, protocol: UDP}
status:
  loadBalancer:
    ingress:
    - ip: $EDGE_LB
EOF
}
# Replace a manifest at once (rename), so svcfwd never reads half a file.
put() { # FILE (text on stdin)
	cat >"$Z/.$1.tmp" && mv "$Z/.$1.tmp" "$Z/$1"
}

{
	yaml_pod pa default node-a 10.244.1.10 True app=a,role=dns dns:5300/UDP
	echo ---
	yaml_pod pb default node-a 10.244.1.11 True app=b,role=dns dns:5300/UDP
} | put pods.yaml
cat <<EOF | put both.yaml
apiVersion: v1
kind: Service
metadata: {name: both, namespace: default}
spec:
  clusterIP: $BOTH_VIP
  selector: {role: dns}
  ports:
  - {name: dns, port: 5353, targetPort: 5300, protocol: UDP}
EOF
service alpha a | put svc.yaml
edge 10.251.0.0/24 | put edge.yaml

fwdnet_up "10.244.1.10 10.244.1.11" "" || {
	echo "could not build the namespaces" >&2
	exit 1
}
fwdnet_lb "$EDGE_LB" || exit 1
pod_start pa "$P1" 10.244.1.10 --udp 5300
pod_start pb "$P1" 10.244.1.11 --udp 5300
pod_wait pa pb || exit 1

ip netns exec "$N1" "$SVCFWD" --zones "$Z" --node node-a --http 127.0.0.1:9154 \
	>"$WORK/svcfwd.log" 2>&1 &
FWD_PID=$!
FWD_PIDS+=("$FWD_PID")
ready() { in_n1 curl -fs http://127.0.0.1:9154/ready >/dev/null 2>&1; }
poll 5000 ready || {
	cat "$WORK/svcfwd.log"
	exit 1
}

metrics() { in_n1 curl -fs http://127.0.0.1:9154/metrics; }
reloads() { metrics | awk '$1 == "svcfwd_reloads_total{result=\"ok\"}" {print $2}'; }
rejected() { # SERVICE: every port, scope and family
	metrics | awk -v s="service=\"$1\"" \
		'/^svcfwd_service_rejected_total\{/ && index($0, s) {n += $2} END {print n + 0}'
}
# Wait until svcfwd has applied a model newer than reload number $1.
applied_after() {
	local r
	r=$(reloads)
	[ -n "$r" ] && [ "$r" -gt "$1" ]
}

# ask SRC-PORT DST-IP MSG [DST-PORT]: one datagram from the client's SRC-PORT to DST-IP:DST-PORT
# (53); prints the answer or "timeout" (1 s).
ask() {
	in_c "$PY" - "$@" <<'PYEOF'
import socket, sys
sport, dst, msg = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dport = int(sys.argv[4]) if len(sys.argv) > 4 else 53
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", sport))
s.settimeout(1.0)
s.sendto(msg.encode(), (dst, dport))
try:
    print(s.recv(65536).decode())
except socket.timeout:
    print("timeout")
PYEOF
}

# ---- a ClusterIP moves to another service --------------------------------------------------
out=$(ask 40001 "$VIP" one)
expect_eq "the flow from :40001 to alpha's ClusterIP reaches alpha's pod" "$out" "pod=pa port=5300:one"
out=$(ask 40001 "$VIP" two)
expect_eq "and stays there" "$out" "pod=pa port=5300:two"

before=$(reloads)
service beta b | put svc.yaml
expect_true "svcfwd applies the rename within 5 s" poll 5000 applied_after "$before"
out=$(ask 40001 "$VIP" three)
expect_eq "after alpha is renamed beta (app=b) on the same ClusterIP, the existing flow's next datagram reaches beta's pod" \
	"$out" "pod=pb port=5300:three"
out=$(ask 40002 "$VIP" four)
expect_eq "a new flow reaches beta's pod too" "$out" "pod=pb port=5300:four"

# ---- a source range tightened ----------------------------------------------------------------
out=$(ask 40011 "$EDGE_LB" one)
expect_eq "a client inside loadBalancerSourceRanges has a flow to the LoadBalancer IP" \
	"$out" "pod=pa port=5300:one"
out=$(ask 40012 "$EDGE_VIP" one)
expect_eq "and one to the service's ClusterIP" "$out" "pod=pa port=5300:one"
rej0=$(rejected edge)

before=$(reloads)
edge 10.251.0.99/32 | put edge.yaml
expect_true "svcfwd applies the tightened range within 5 s" poll 5000 applied_after "$before"
out=$(ask 40011 "$EDGE_LB" two)
expect_eq "with the range tightened to exclude the client, its flow's next datagram is not forwarded" \
	"$out" timeout
rej1=$(rejected edge)
expect_true "and it is counted as rejected ($rej0 -> $rej1)" [ "$rej1" -gt "$rej0" ]
out=$(ask 40012 "$EDGE_VIP" two)
expect_eq "the client's flow to the ClusterIP (no ranges) carries on" "$out" "pod=pa port=5300:two"

before=$(reloads)
edge 10.251.0.0/24 | put edge.yaml
expect_true "svcfwd applies the widened range within 5 s" poll 5000 applied_after "$before"
out=$(ask 40011 "$EDGE_LB" three)
expect_eq "widened again, the client is served again" "$out" "pod=pa port=5300:three"

# ---- ICMP port unreachable -------------------------------------------------------------------
out=$(ask 40021 "$BOTH_VIP" one 5353)
first=${out%% *}
expect_true "a flow to both's ClusterIP reaches one of its pods ($out)" \
	[ "$first" = pod=pa -o "$first" = pod=pb ]
other=pb
[ "$first" = pod=pb ] && other=pa
fail0=$(metrics | awk '/^svcfwd_service_connect_failures_total\{/ && /service="both"/ {n += $2} END {print n + 0}')
pod_kill "${first#pod=}"
out=$(ask 40021 "$BOTH_VIP" two 5353)
expect_eq "its pod stopped, the datagram that meets the closed port is lost" "$out" timeout
out=$(ask 40021 "$BOTH_VIP" three 5353)
expect_eq "the ICMP error moves the flow: its next datagram reaches the other pod" \
	"$out" "pod=$other port=5300:three"
fail1=$(metrics | awk '/^svcfwd_service_connect_failures_total\{/ && /service="both"/ {n += $2} END {print n + 0}')
expect_true "the failure is counted ($fail0 -> $fail1)" [ "$fail1" -gt "$fail0" ]

stop_pid "$FWD_PID"
expect_true "no sanitizer reports" eval '! grep -q "AddressSanitizer\|runtime error" "$WORK/svcfwd.log"'
summary
