#!/usr/bin/env bash
# The bare-metal load balancer: two nodes and an outside client on one bridge, etcd in node-a's
# namespace. A LoadBalancer service's address (10.252.0.200, on the bridge's subnet) is held by
# one node, elected through etcd: it is on that node's interface and announced with a
# gratuitous ARP. Checks, with real clients (curl, ip, svcctl, etcdctl):
#   one node holds it (its interface, /metrics, etcd's holder key, svcctl describe), the client's
#   curls work;
#   the holder's svcfwd killed (SIGKILL): within the lease time plus 1 s the other node holds it
#   and the client's curls work again, through it; the dead node's address lapsed by itself;
#   the killed svcfwd restarted, then the holder stopped cleanly (SIGTERM): the other takes the
#   address over at once, the client's curls work.
#
#   C (client) 10.252.0.100 --+
#   N1 (node-a) 10.252.0.1 ---+-- bridge (its own namespace)
#   N2 (node-b) 10.252.0.2 ---+
#   N1 -- P1 (pod web-a 10.244.1.10), N2 -- P2 (pod web-b 10.244.2.10)
# Needs root, `ip netns` and etcd (else exit 77: skipped).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd svcctl
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip "etcd and etcdctl are not installed"
need_tools curl python3
T=lb$$
LAN=${T}l N1=${T}n1 N2=${T}n2 C=${T}c P1=${T}p1 P2=${T}p2
NSS=("$LAN" "$N1" "$N2" "$C" "$P1" "$P2")
PIDS=()
down() {
	local p ns
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	for ns in "${NSS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}
at_exit down
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
not() { ! "$@"; }

up() {
	local ns
	for ns in "${NSS[@]}"; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	done
	ip -n "$LAN" link add br0 type bridge && ip -n "$LAN" link set br0 up || return 1
	# host-side ends: NAME in NS with ADDR, its peer on the bridge
	for spec in "$C c0 10.252.0.100" "$N1 n1lan 10.252.0.1" "$N2 n2lan 10.252.0.2"; do
		read -r ns dev addr <<<"$spec"
		ip -n "$ns" link add "$dev" type veth peer name "b$dev" netns "$LAN" || return 1
		ip -n "$LAN" link set "b$dev" master br0 && ip -n "$LAN" link set "b$dev" up || return 1
		ip -n "$ns" addr add "$addr/24" dev "$dev" && ip -n "$ns" link set "$dev" up || return 1
	done
	for spec in "$N1 $P1 1" "$N2 $P2 2"; do
		read -r node pod i <<<"$spec"
		ip -n "$node" link add pod0 type veth peer name eth0 netns "$pod" || return 1
		ip -n "$node" addr add "10.244.$i.1/24" dev pod0 && ip -n "$node" link set pod0 up || return 1
		ip -n "$pod" addr add "10.244.$i.10/24" dev eth0 && ip -n "$pod" link set eth0 up || return 1
		ip -n "$pod" route add default via "10.244.$i.1" || return 1
		nsx "$node" sysctl -qw net.ipv4.ip_forward=1 || return 1
	done
	ip -n "$N1" route add 10.244.2.0/24 via 10.252.0.2 && ip -n "$N2" route add 10.244.1.0/24 via 10.252.0.1
}
if ! up; then
	echo "$T_NAME: could not build the namespaces" >&2
	exit 1
fi

LEASE=2
EP=http://10.252.0.1:23791
ip netns exec "$N1" etcd --name m1 --data-dir "$WORK/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls http://10.252.0.1:23801 --initial-advertise-peer-urls http://10.252.0.1:23801 \
	--initial-cluster m1=http://10.252.0.1:23801 --initial-cluster-token "$T" >"$WORK/etcd.log" 2>&1 &
PIDS+=("$!")
ectl() { nsx "$N1" env ETCDCTL_API=3 etcdctl --endpoints 10.252.0.1:23791 --command-timeout=5s "$@"; }
if ! poll 20000 ectl endpoint health >/dev/null 2>&1; then
	echo "$T_NAME: etcd did not start" >&2
	exit 1
fi
cat >"$WORK/lb.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerIP: 10.252.0.200
  clusterIP: 10.96.0.80
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: default, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: main}]}
status: {phase: Running, podIP: 10.244.1.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, namespace: default, labels: {app: web}}
spec: {nodeName: node-b, containers: [{name: main}]}
status: {phase: Running, podIP: 10.244.2.10, conditions: [{type: Ready, status: "True"}]}
EOF
out=$(nsx "$N1" "$SVCCTL" --etcd "$EP" apply -f "$WORK/lb.yaml" 2>&1)
expect_true "svcctl apply: a LoadBalancer service on both nodes' pods ($(tr '\n' ' ' <<<"$out"))" \
	grep -q 'service/web created' <<<"$out"
for spec in "web-a $P1 10.244.1.10" "web-b $P2 10.244.2.10"; do
	read -r name ns ip <<<"$spec"
	ip netns exec "$ns" "$PY" "$T_LIB/podserver.py" --name "$name" --ip "$ip" --http 8080 >"$WORK/pod-$name.log" 2>&1 &
	PIDS+=("$!")
done

declare -A FWD
fwd_start() { # NODE NS DEV
	# Not through nsx: `ip netns exec` execs svcfwd, so $! is svcfwd itself.
	ip netns exec "$2" "$SVCFWD" --etcd "$EP" --node "$1" --node-lease-seconds $LEASE --lb-interface "$3" \
		--http 127.0.0.1:9154 >>"$WORK/svcfwd-$1.log" 2>&1 &
	FWD[$1]=$!
	PIDS+=("$!")
}
fwd_start node-a "$N1" n1lan
fwd_start node-b "$N2" n2lan
ns_of() { [ "$1" = node-a ] && echo "$N1" || echo "$N2"; }
dev_of() { [ "$1" = node-a ] && echo n1lan || echo n2lan; }
# Not `ip | grep -q`: grep leaving early makes ip fail (pipefail), as if the address were not there.
has_vip() { [[ "$(ip -n "$(ns_of "$1")" addr show dev "$(dev_of "$1")")" == *"inet 10.252.0.200/32"* ]]; }
holder() { # the node whose interface has the address (empty: none, "both": two)
	local a=0 b=0
	has_vip node-a && a=1
	has_vip node-b && b=1
	case "$a$b" in 10) echo node-a ;; 01) echo node-b ;; 11) echo both ;; *) echo ;; esac
}
one_holder() { [ "$(holder)" = node-a ] || [ "$(holder)" = node-b ]; }
expect_true "one node holds 10.252.0.200 on its interface" poll 15000 one_holder
H=$(holder)
O=$([ "$H" = node-a ] && echo node-b || echo node-a)
expect_eq "etcd's holder key names it" "$(ectl get /svcdns/lbholders/10.252.0.200 --print-value-only)" "$H"
describe() { nsx "$N1" "$SVCCTL" --etcd "$EP" describe service web; }
expect_true "svcctl describe service web: LoadBalancer Ingress 10.252.0.200 (held by $H)" \
	grep -q "^LoadBalancer Ingress: *10.252.0.200 (held by $H)$" <(describe)
metric_held() { nsx "$(ns_of "$1")" curl -s -m 2 http://127.0.0.1:9154/metrics | grep -c "^svcfwd_lb_address_held{address=\"10.252.0.200\",holder=\"$H\"} 1"; }
held_metric() { [ "$(metric_held "$H")" = 1 ]; }
expect_true "/metrics on $H says it holds it" poll 3000 held_metric
curl_ok() { nsx "$C" curl -s -m 1 http://10.252.0.200/ | grep -q '^pod=web-'; }
expect_true "the client's curl to the LoadBalancer IP works" poll 5000 curl_ok

# ---- the holder's svcfwd killed -------------------------------------------------------------------

t0=$(now_ms)
kill -KILL "${FWD[$H]}"
wait "${FWD[$H]}" 2>/dev/null
other_holds() { [ "$(holder)" = "$O" ] && curl_ok; }
poll 15000 other_holds
ok=$?
took=$(($(now_ms) - t0))
expect_true "$H's svcfwd killed: $O holds the address and the client's curls work again ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within the lease time plus 1 s ($took < $((LEASE * 1000 + 1000)) ms)" \
		[ "$took" -lt $((LEASE * 1000 + 1000)) ]
fi
expect_true "... and the address left $H's interface by itself (its lifetime lapsed)" not has_vip "$H"
expect_eq "etcd's holder key names $O" "$(ectl get /svcdns/lbholders/10.252.0.200 --print-value-only)" "$O"
expect_true "... and so does svcctl describe" grep -q "(held by $O)$" <(describe)
n=0
for i in $(seq 1 10); do curl_ok && n=$((n + 1)); done
expect_eq "10 curls in a row through $O" "$n" 10

# ---- restarted, then a clean stop of the holder ---------------------------------------------------

fwd_start "$H" "$(ns_of "$H")" "$(dev_of "$H")"
sleep 1
expect_eq "$H restarted: $O keeps the address (no flapping back)" "$(holder)" "$O"
t0=$(now_ms)
kill -TERM "${FWD[$O]}"
wait "${FWD[$O]}" 2>/dev/null
back() { [ "$(holder)" = "$H" ] && curl_ok; }
poll 15000 back
ok=$?
took=$(($(now_ms) - t0))
expect_true "$O stopped cleanly (SIGTERM): $H takes the address over, curls work ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... at once, before a lease could lapse ($took < $((LEASE * 1000)) ms)" \
		[ "$took" -lt $((LEASE * 1000)) ]
fi
expect_true "... and $O let it go" not has_vip "$O"

summary
