#!/usr/bin/env bash
# svcfwd's LoadBalancer extras, on node-a of the lib/fwdnet.sh namespaces with an outside client:
#   - loadBalancerSourceRanges: a client inside the ranges is served, one outside is reset;
#   - healthCheckNodePort (externalTrafficPolicy Local): 200 with the local endpoint count on a
#     node that has endpoints, 503 on one that has none, and it follows the manifests live.
#
# Needs root and `ip netns`; without them it prints SKIP and exits 77 (ctest: skipped). Run by ctest with
# SVC_BUILD_DIR and SVC_SOURCE_DIR.
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd
FWD_TAG=sb$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down # the namespaces and everything in them

LB_ALLOW=198.51.100.20 # sources 10.251.0.0/24 (the client's): served
LB_DENY=198.51.100.21  # sources 192.0.2.0/24: the client is reset
LB_LOCAL=198.51.100.22 # externalTrafficPolicy Local, a pod on node-a: health 200
LB_REMOTE=198.51.100.23 # externalTrafficPolicy Local, its pod on node-b: health 503 on node-a
Z=$WORK/zones
mkdir -p "$Z"

lb_service() { # NAME IP SELECTOR RANGE|- POLICY [HEALTH-PORT]
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.60.${2##*.}
  selector: {app: $3}
  externalTrafficPolicy: $5
EOF
	[ -n "${6:-}" ] && echo "  healthCheckNodePort: $6"
	[ "$4" != - ] && printf '  loadBalancerSourceRanges: [%s]\n' "$4"
	cat <<EOF
  ports:
  - {name: http, port: 80, targetPort: 8080}
status:
  loadBalancer:
    ingress:
    - ip: $2
---
EOF
}
{
	lb_service allow "$LB_ALLOW" web-a 10.251.0.0/24 Cluster
	lb_service deny "$LB_DENY" web-a 192.0.2.0/24 Cluster
	lb_service local "$LB_LOCAL" web-a - Local 30900
	lb_service remote "$LB_REMOTE" web-b - Local 30901
	yaml_pod web-a default node-a 10.244.1.10 True app=web-a http:8080/TCP
	echo ---
	yaml_pod web-b default node-b 10.244.2.10 True app=web-b http:8080/TCP
} >"$Z/cluster.yaml"

fwdnet_up "10.244.1.10" "10.244.2.10" || {
	echo "could not build the namespaces" >&2
	exit 1
}
fwdnet_lb "$LB_ALLOW" "$LB_DENY" "$LB_LOCAL" "$LB_REMOTE" || exit 1
pod_start web-a "$P1" 10.244.1.10 --http 8080
pod_start web-b "$P2" 10.244.2.10 --http 8080
pod_wait web-a web-b || exit 1

ip netns exec "$N1" "$SVCFWD" --zones "$Z" --node node-a --http 127.0.0.1:9154 \
	>"$WORK/svcfwd.log" 2>&1 &
FWD_PID=$!
track_pid "$FWD_PID"
for ((i = 0; i < 100; i++)); do
	in_n1 curl -fs http://127.0.0.1:9154/ready >/dev/null 2>&1 && break
	sleep 0.05
done

body=$(in_c curl -s -m 3 "http://$LB_ALLOW/")
expect_true "a client inside loadBalancerSourceRanges is served ($body)" grep -q "pod=web-a" <<<"$body"
err=$(in_c curl -sS -m 3 "http://$LB_DENY/" 2>&1)
rc=$?
# Reset right after the handshake: curl calls it a failed connect (7) or a reset read (56, 52).
expect_true "a client outside loadBalancerSourceRanges is reset (curl $rc: $err)" \
	[ "$rc" = 7 -o "$rc" = 56 -o "$rc" = 52 ]
rejected=$(in_n1 curl -fs http://127.0.0.1:9154/metrics |
	awk '/^svcfwd_service_rejected_total\{namespace="default",service="deny"/ {s += $2} END {print s + 0}')
expect_true "the refusal is counted in svcfwd_service_rejected_total ($rejected)" [ "$rejected" -ge 1 ]
body=$(in_p1 curl -s -m 3 "http://10.96.60.21/")
expect_true "the ranges apply to the LoadBalancer IP only: the service's ClusterIP serves a pod ($body)" \
	grep -q "pod=web-a" <<<"$body"

health() { # NODE-ADDR PORT -> "CODE BODY"
	in_c curl -s -m 3 -o "$WORK/h.out" -w '%{http_code}' "http://$1:$2/"
	echo " $(cat "$WORK/h.out")"
}
out=$(health 10.251.0.1 30900)
expect_true "healthCheckNodePort on a node with a local endpoint: 200, localEndpoints 1 ($out)" \
	grep -q '^200 .*"localEndpoints":1' <<<"$out"
out=$(health 10.251.0.1 30901)
expect_true "healthCheckNodePort on a node without one: 503, localEndpoints 0 ($out)" \
	grep -q '^503 .*"localEndpoints":0' <<<"$out"
nl=$(in_n1 curl -fs http://127.0.0.1:9154/metrics | awk '$1 == "svcfwd_service_no_local_endpoints{namespace=\"default\",service=\"remote\",port=\"http\",protocol=\"TCP\",scope=\"external\",family=\"ipv4\"}" {print $2}')
expect_true "svcfwd_service_no_local_endpoints says why the remote service is closed here ($nl)" [ "$nl" = 1 ]
nc=$(in_c curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$LB_REMOTE/")
expect_true "and its LoadBalancer IP is refused on this node (code $nc)" [ "$nc" = 000 ]
body=$(in_c curl -s -m 3 "http://$LB_LOCAL/")
expect_true "the Local LoadBalancer IP reaches the node's own pod ($body)" grep -q "pod=web-a" <<<"$body"

# The remote service gains a pod on node-a: its health turns 200 within a second.
yaml_pod web-b2 default node-a 10.244.1.11 True app=web-b http:8080/TCP >"$Z/web-b2.yaml"
ok=0
for ((i = 0; i < 20; i++)); do
	out=$(health 10.251.0.1 30901)
	if grep -q '^200 .*"localEndpoints":1' <<<"$out"; then
		ok=1
		break
	fi
	sleep 0.05
done
expect_true "a local pod added to the manifests turns the health check to 200 within 1 s ($out)" \
	[ "$ok" = 1 ]

stop_pid "$FWD_PID"
if grep -q "AddressSanitizer\|runtime error" "$WORK/svcfwd.log"; then
	fail "no sanitizer reports" "$(grep -m5 "AddressSanitizer\|runtime error" "$WORK/svcfwd.log")"
else
	pass "no sanitizer reports"
fi
summary
