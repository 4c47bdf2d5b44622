#!/usr/bin/env bash
# Nodes that fail leave by themselves: svcfwd with --etcd registers its node (a Node and a Lease
# bound to an etcd lease, --node-lease-seconds 2 here) on the two-node topology of
# lib/fwdnet.sh, with one etcd member in node-a's namespace. A service's pods run on both nodes
# as real servers. Checks, with real clients (dig, curl, svcctl, etcdctl):
#   both nodes Ready in `svcctl get nodes`, their Node and Lease keys in etcd;
#   svcfwd on node-b killed (SIGKILL): within the lease time plus 1 s node-b's pod leaves
#   svcdns's answers and node-a's pool (every curl from node-a's pod reaches node-a's pod), get
#   nodes says node-b NotReady and get pods shows its pod 0/1;
#   restarted: node-b Ready (its Node keeps its creationTimestamp), its pod back in the answers
#   and the pool;
#   stopped cleanly (SIGTERM): out at once (well under the lease time), lease revoked.
# Needs root, `ip netns` and etcd (else exit 77: skipped).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcfwd svcctl
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip "etcd and etcdctl are not installed"
need_tools curl dig python3
FWD_TAG=nl$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

if ! fwdnet_up "10.244.1.2 10.244.1.10" "10.244.2.10"; then
	echo "$T_NAME: could not build the namespaces" >&2
	exit 1
fi

LEASE=2
fwdnet_etcd

{
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n'
	printf 'spec:\n  clusterIP: 10.96.0.80\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n'
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web-h, namespace: default}\n'
	printf 'spec:\n  clusterIP: None\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n'
	yaml_pod web-a default node-a 10.244.1.10 True app=web http:8080/TCP
	echo ---
	yaml_pod web-b default node-b 10.244.2.10 True app=web http:8080/TCP
} >"$WORK/web.yaml"
out=$(ctl apply -f "$WORK/web.yaml" 2>&1)
expect_true "svcctl apply -f: the services and pods ($out)" grep -q 'pod/web-b created' <<<"$out"

pod_start web-a "$P1" 10.244.1.10 --http 8080
pod_start web-b "$P2" 10.244.2.10 --http 8080
if ! pod_wait web-a web-b; then
	echo "$T_NAME: the pod servers did not start" >&2
	exit 1
fi
in_p1 "$SVCDNS" --etcd "$EP" --listen 10.244.1.2:5353 --upstream 127.0.0.1:9 --threads 1 \
	--http 127.0.0.1:9153 >"$WORK/svcdns.log" 2>&1 &
FWD_PIDS+=("$!")
FWD_B=
fwd_start() { # NODE NS
	ip netns exec "$2" "$SVCFWD" --etcd "$EP" --node "$1" --node-lease-seconds $LEASE \
		--http 127.0.0.1:9154 >>"$WORK/svcfwd-$1.log" 2>&1 &
	FWD_PIDS+=("$!")
	[ "$1" = node-b ] && FWD_B=$!
	return 0
}
fwd_start node-a "$N1"
fwd_start node-b "$N2"
ready() { [ "$(ip netns exec "$1" curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/ready")" == 200 ]; }
all_ready() { ready "$P1" 9153 && ready "$N1" 9154 && ready "$N2" 9154; }
if ! poll 15000 all_ready; then
	fail "svcdns and svcfwd (two nodes) become ready" "$(tail -n 3 "$WORK"/svcdns.log "$WORK"/svcfwd-*.log)"
	summary
	exit 1
fi
pass "svcdns and svcfwd on two nodes become ready from etcd"

status_of() { ctl get nodes 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'; }
both_ready() { [ "$(status_of node-a)" == Ready ] && [ "$(status_of node-b)" == Ready ]; }
expect_true "svcctl get nodes: node-a and node-b Ready" poll 5000 both_ready
out=$(ctl get nodes)
expect_true "... with kubectl's columns and the svcfwd version: $(tr '\n' '|' <<<"$out")" \
	grep -q '^NAME  *STATUS  *ROLES  *AGE  *VERSION$' <(head -1 <<<"$out")
expect_true "... VERSION svcfwd-<version>" grep -q 'node-b  *Ready  *<none>  *[0-9]*s  *svcfwd-[0-9]' <<<"$out"
expect_true "get nodes -o wide: node-b's INTERNAL-IP is its address" \
	grep -q '10.250.0.2' <(ctl get nodes node-b -o wide)
keys=$(ectl get --prefix /svcdns/ --keys-only | grep -E '^/svcdns/(nodes|leases)/' | sort | tr '\n' ' ')
expect_eq "etcd holds each node's Node and Lease" "$keys" \
	"/svcdns/leases/node-a /svcdns/leases/node-b /svcdns/nodes/node-a /svcdns/nodes/node-b "
lease=$(ectl get /svcdns/leases/node-b -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0].get("lease", 0))')
expect_true "node-b's Lease key is bound to an etcd lease ($lease)" [ "$lease" != 0 ]
created() { ectl get /svcdns/nodes/node-b --print-value-only | awk '$1 == "creationTimestamp:" {print $2}'; }
created0=$(created)
expect_true "node-b's Node has a creationTimestamp ($created0)" [ -n "$created0" ]

dig_h() { in_p1 dig @10.244.1.2 -p 5353 +short +time=1 +tries=1 web-h.default.svc.cluster.local A 2>/dev/null | sort | tr '\n' ' '; }
expect_eq "the headless service answers both pods" "$(dig_h)" "10.244.1.10 10.244.2.10 "
# From node-a's pod through node-a's svcfwd: which pods answer 12 requests.
reached() {
	local i out
	for i in $(seq 1 12); do
		out=$(in_p1 curl -s -m 2 http://10.96.0.80/)
		sed -n 's/^pod=\([a-z-]*\).*/\1/p' <<<"$out"
	done | sort -u | tr '\n' ' '
}
expect_eq "node-a's pool reaches both pods" "$(reached)" "web-a web-b "

# ---- node-b's svcfwd killed ----------------------------------------------------------------------

t0=$(now_ms)
kill -KILL "$FWD_B"
wait "$FWD_B" 2>/dev/null
b_gone() { [ "$(dig_h)" == "10.244.1.10 " ]; }
poll 15000 b_gone
ok=$?
took=$(($(now_ms) - t0))
expect_true "svcfwd on node-b killed: node-b's pod leaves svcdns's answers ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within the lease time plus 1 s ($took ms < $((LEASE * 1000 + 1000)))" \
		[ "$took" -lt $((LEASE * 1000 + 1000)) ]
fi
expect_eq "... and node-a's pool: every curl reaches node-a's pod" "$(reached)" "web-a "
expect_eq "svcctl get nodes: node-b NotReady" "$(status_of node-b)" NotReady
expect_eq "... node-a still Ready" "$(status_of node-a)" Ready
expect_true "svcctl get pods: web-b 0/1" grep -q '^web-b  *0/1 ' <(ctl get pods)
expect_eq "node-b's Lease is gone from etcd" "$(ectl get /svcdns/leases/node-b --keys-only)" ""

# ---- restarted -----------------------------------------------------------------------------------

t0=$(now_ms)
fwd_start node-b "$N2"
b_back() { [ "$(dig_h)" == "10.244.1.10 10.244.2.10 " ]; }
poll 10000 b_back
ok=$?
expect_true "svcfwd on node-b restarted: its pod is answered again ($(($(now_ms) - t0)) ms)" [ $ok -eq 0 ]
expect_true "... node-b Ready" poll 5000 both_ready
expect_eq "... keeping its Node's creationTimestamp" "$(created)" "$created0"
expect_eq "... and node-a's pool reaches both pods again" "$(reached)" "web-a web-b "
metric() { ip netns exec "$1" curl -s -m 2 "http://127.0.0.1:$2/metrics" | awk -v m="$3" '$1 == m { print $2 }'; }
expect_eq "svcfwd_node_registered is 1" "$(metric "$N2" 9154 svcfwd_node_registered)" 1

# ---- a clean stop ------------------------------------------------------------------------------

t0=$(now_ms)
kill -TERM "$FWD_B"
wait "$FWD_B" 2>/dev/null
poll 5000 b_gone
ok=$?
took=$(($(now_ms) - t0))
expect_true "svcfwd on node-b stopped (SIGTERM): its pod leaves the answers ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... before its lease could lapse ($took ms < $((LEASE * 1000)))" \
		[ "$took" -lt $((LEASE * 1000)) ]
fi
expect_true "... it said so" grep -q 'node node-b: marked NotReady, lease revoked' "$WORK/svcfwd-node-b.log"
expect_eq "... node-b NotReady" "$(status_of node-b)" NotReady

summary
