#!/usr/bin/env bash
# svcfwd's fast path (a tc program on node-a's interfaces, fwd_nat.bpf.c), on the lib/fwdnet.sh
# namespaces, with an outside client C:
#   - it loads and attaches to node-a's interfaces, and takes the ClusterIP and LoadBalancer
#     ports of services without affinity or source ranges (svcfwd_fast_path_destinations);
#   - TCP and UDP from C to a ClusterIP with pods on node-a are rewritten in the kernel: the pod
#     sees the client's own address (the relay's connections come from node-a), answers come
#     from the service address, and no connection reaches svcfwd's relay;
#   - new connections take the pods in turn; a pod that stops listening (RST to a SYN) is set
#     aside and the client's retried SYN reaches the other: every request succeeds, the failure
#     is counted;
#   - its node ports too, on node-a's address;
#   - a service whose pod is on node-b, and one with sessionAffinity, are relayed;
#   - when svcfwd stops, its filters leave every interface: nothing rewrites traffic any more.
# With --no-fast-path the same client meets the relay (from=node-a).
#
# Needs root, `ip netns` and a kernel that loads the program (else SKIP, exit 77).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd
need_tools curl tc
FWD_TAG=fp$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

VIP=10.96.71.10    # web: 80/TCP -> 8080, 53/UDP -> 5300 (pods wa, wb on node-a)
FAR_VIP=10.96.71.20 # far: 80/TCP -> 8080 (pod wc on node-b)
AFF_VIP=10.96.71.30 # sticky: 80/TCP -> 8080, sessionAffinity ClientIP (wa, wb)
Z=$WORK/zones
mkdir -p "$Z"
svc() { # NAME VIP SELECTOR [extra spec line]
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  clusterIP: $2
  selector: {app: $3}
${4:+  $4
}  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP${5:+, nodePort: $5}}
  - {name: dns, port: 53, targetPort: 5300, protocol: UDP${6:+, nodePort: $6}}
---
EOF
}
{
	svc web "$VIP" web "type: NodePort" 30180 30153
	svc far "$FAR_VIP" far
	svc sticky "$AFF_VIP" web "sessionAffinity: ClientIP"
} >"$Z/svc.yaml"
{
	yaml_pod wa default node-a 10.244.1.10 True app=web http:8080/TCP,dns:5300/UDP
	echo ---
	yaml_pod wb default node-a 10.244.1.11 True app=web http:8080/TCP,dns:5300/UDP
	echo ---
	yaml_pod wc default node-b 10.244.2.10 True app=far http:8080/TCP,dns:5300/UDP
} >"$Z/pods.yaml"

fwdnet_up "10.244.1.10 10.244.1.11" "10.244.2.10" || exit 1
pod_start wa "$P1" 10.244.1.10 --http 8080 --udp 5300
pod_start wb "$P1" 10.244.1.11 --http 8080 --udp 5300
pod_start wc "$P2" 10.244.2.10 --http 8080 --udp 5300
pod_wait wa wb wc || exit 1

FWD_PID=
start_fwd() { # [svcfwd options...]
	ip netns exec "$N1" "$SVCFWD" --zones "$Z" --node node-a --http 127.0.0.1:9154 "$@" \
		>"$WORK/svcfwd.log" 2>&1 &
	FWD_PID=$!
	FWD_PIDS+=("$FWD_PID")
	poll 10000 in_n1 curl -fs -m 1 -o /dev/null http://127.0.0.1:9154/ready
}
metrics() { in_n1 curl -fs -m 3 http://127.0.0.1:9154/metrics; }
metric() { metrics | awk -v k="$1" '$1 == k {print $2}'; }
# The sum of a per-service family's samples for service $2.
svc_metric() { metrics | awk -v f="$1{" -v s="service=\"$2\"" 'index($0, f) == 1 && index($0, s) {n += $2} END {print n + 0}'; }
# UDP from C to ADDR:53: "FROM-ADDR:FROM-PORT ANSWER".
udp_ask() {
	in_c "$PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"hi", (sys.argv[1], 53))
try:
    d, a = s.recvfrom(2000)
    print("%s:%d %s" % (a[0], a[1], d.decode().strip()))
except socket.timeout:
    print("timeout")
EOF
}

start_fwd || {
	cat "$WORK/svcfwd.log" >&2
	exit 1
}
if [ "$(metric svcfwd_fast_path)" != 1 ]; then
	grep "fast path" "$WORK/svcfwd.log" >&2
	echo "SKIP: the fast path does not load here" >&2
	exit 77
fi
expect_true "the fast path is attached to node-a's interfaces ($(metric svcfwd_fast_path_interfaces))" \
	[ "$(metric svcfwd_fast_path_interfaces)" -ge 3 ]
# web's and far's two ports, and web's two node ports in both families; sticky (affinity) stays
# with the relay.
expect_eq "it takes the ports of services without affinity" "$(metric svcfwd_fast_path_destinations)" 8
accepted0=$(metric svcfwd_tcp_accepted_total)
out=$(for i in 1 2 3 4; do in_c curl -s -m 3 "http://$VIP/"; done)
expect_eq "TCP from outside to the ClusterIP: rewritten in the kernel, the pods see the client, in turn" \
	"$(sort <<<"$out" | tr '\n' ' ')" \
	"pod=wa port=8080 from=10.251.0.2 pod=wa port=8080 from=10.251.0.2 pod=wb port=8080 from=10.251.0.2 pod=wb port=8080 from=10.251.0.2 "
expect_eq "... and svcfwd's relay accepted none of them" "$(metric svcfwd_tcp_accepted_total)" "$accepted0"
expect_true "... counted per service ($(svc_metric svcfwd_service_connections_total web) connections)" \
	[ "$(svc_metric svcfwd_service_connections_total web)" -ge 4 ]
out=$(udp_ask "$VIP")
expect_true "UDP to the ClusterIP: answered from $VIP:53 ($out)" \
	grep -Eq "^$VIP:53 pod=w[ab] port=5300:hi$" <<<"$out"
expect_eq "... in the kernel: no UDP flow in the relay" \
	"$(metric svcfwd_udp_flows) $(metric svcfwd_udp_flows_created_total)" "0 0"

out=$(in_c curl -s -m 3 "http://10.251.0.1:30180/")
expect_true "a node port on node-a's address: rewritten in the kernel too ($out)" \
	grep -Eq "^pod=w[ab] port=8080 from=10.251.0.2$" <<<"$out"
expect_eq "... not relayed" "$(metric svcfwd_tcp_accepted_total)" "$accepted0"
out=$(in_c curl -s -m 3 "http://$FAR_VIP/")
expect_eq "a service whose pod is on node-b is relayed (its replies would not come back through node-a)" \
	"$out" "pod=wc port=8080 from=10.250.0.1"
out=$(in_c curl -s -m 3 "http://$AFF_VIP/")
expect_true "a service with sessionAffinity is relayed ($out)" grep -Eq "^pod=w[ab] port=8080 from=10.244.1.1$" <<<"$out"

# A pod stops listening: its port answers SYNs with RST.
failures0=$(svc_metric svcfwd_service_connect_failures_total web)
pod_kill wb
t0=$(now_ms)
out=$(for i in 1 2 3 4 5 6; do in_c curl -s -m 5 "http://$VIP/"; done)
t1=$(now_ms)
expect_eq "a pod that refuses: every one of 6 connections still answered, by the other pod" \
	"$(sort -u <<<"$out" | tr '\n' ' ')" "pod=wa port=8080 from=10.251.0.2 "
expect_true "... the refusing pod costs one SYN retry, then is set aside ($((t1 - t0)) ms for 6)" \
	[ $((t1 - t0)) -lt 4500 ]
expect_true "... and it is counted ($failures0 -> $(svc_metric svcfwd_service_connect_failures_total web) failures, $(metrics | awk '$1 == "svcfwd_fast_path_packets_total{event=\"endpoint_refused\"}" {print $2}') refusals)" \
	[ "$(svc_metric svcfwd_service_connect_failures_total web)" -gt "$failures0" ]

# Stopping svcfwd takes the filters away.
ifs=$(in_n1 ip -o link show | awk -F': ' '$2 != "lo" {sub(/@.*/, "", $2); print $2}')
filters() {
	local n=0 i
	for i in $ifs; do
		in_n1 tc filter show dev "$i" ingress 2>/dev/null | grep -q fwd_nat_ingress && n=$((n + 1))
	done
	echo "$n"
}
expect_eq "while svcfwd runs, each of node-a's interfaces has its filter" "$(filters)" "$(wc -w <<<"$ifs")"
stop_pid "$FWD_PID"
expect_eq "svcfwd stopped: no interface keeps its filter" "$(filters)" 0

# The relay alone.
start_fwd --no-fast-path || exit 1
expect_eq "--no-fast-path: no fast path" "$(metric svcfwd_fast_path)" 0
out=$(in_c curl -s -m 3 "http://$VIP/")
expect_eq "... the relay connects from node-a" "$out" "pod=wa port=8080 from=10.244.1.1"
stop_pid "$FWD_PID"

expect_true "no sanitizer reports" eval '! grep -q "AddressSanitizer\|runtime error" "$WORK/svcfwd.log"'
summary
