#!/usr/bin/env bash
# One cluster across two nodes with etcd as the store: a three-member etcd (Debian's etcd-server)
# inside node-a's namespace on 10.250.0.1, which node-b and the pods reach over their veths (the
# two-node topology of lib/fwdnet.sh, as run.sh builds it). Checks, with real clients (svcctl,
# etcdctl, dig, curl):
#   svcctl apply -f zones/ in node-a, svcctl get svc -A in node-b: the directory's table;
#   svcfwd on both nodes and svcdns as the kube-dns pod and on node-b serve it, curl by name;
#   a change made on node-a is answered by both svcdns within 1 s;
#   two svcctl creating 50 services each at once (no clusterIP): 100 distinct ClusterIPs;
#   an apply with a stale resourceVersion is refused with kubectl's conflict message;
#   an invalid object put with etcdctl is reported (log, metric) and ignored, later changes arrive;
#   one member killed: changes still arrive; all killed: answers and forwarding go on, /metrics
#   says down; members restarted: the next change arrives; a daemon paused while etcd compacts
#   past its revision lists again and converges;
#   svcdns started without etcd: not ready, cluster names SERVFAIL, forwarded names answered.
# Needs root, `ip netns` and etcd (else exit 77: skipped).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcfwd svcctl
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip "etcd and etcdctl are not installed"
need_tools curl dig python3
FWD_TAG=ec$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

if ! fwdnet_up "10.244.1.2 10.244.1.10 10.244.1.20 10.244.1.30" \
	"10.244.2.10 10.244.2.20 10.244.2.21 10.244.2.30" || ! fwdnet_lb 203.0.113.10; then
	echo "$T_NAME: could not build the namespaces" >&2
	exit 1
fi

# ---- etcd: three members in node-a -------------------------------------------------------------

EIP=10.250.0.1
CLUSTER="m1=http://$EIP:23801,m2=http://$EIP:23802,m3=http://$EIP:23803"
EP="http://$EIP:23791,http://$EIP:23792,http://$EIP:23793"
declare -A MEMBER_PID
member_start() { # N STATE
	# Not through in_n1: `ip netns exec` execs etcd, so $! is the member itself.
	ip netns exec "$N1" etcd --name "m$1" --data-dir "$WORK/etcd-m$1" \
		--listen-client-urls "http://$EIP:2379$1" --advertise-client-urls "http://$EIP:2379$1" \
		--listen-peer-urls "http://$EIP:2380$1" --initial-advertise-peer-urls "http://$EIP:2380$1" \
		--initial-cluster "$CLUSTER" --initial-cluster-state "$2" --initial-cluster-token "$FWD_TAG" \
		>>"$WORK/etcd-m$1.log" 2>&1 &
	MEMBER_PID[$1]=$!
	FWD_PIDS+=("$!")
}
member_kill() { kill -KILL "${MEMBER_PID[$1]}" 2>/dev/null; wait "${MEMBER_PID[$1]}" 2>/dev/null; }
ectl() { in_n1 env ETCDCTL_API=3 etcdctl --endpoints "${EP//http:\/\//}" --command-timeout=5s "$@"; }
for m in 1 2 3; do member_start $m new; done
if ! poll 20000 ectl endpoint health >/dev/null 2>&1; then
	echo "$T_NAME: etcd did not start" >&2
	tail -5 "$WORK"/etcd-m*.log >&2
	exit 1
fi
pass "a three-member etcd is healthy"

# ---- import, and the same table from another process on the other node ------------------------

ctl_a() { in_n1 "$SVCCTL" --etcd "$EP" "$@"; }
ctl_b() { in_n2 "$SVCCTL" --etcd "$EP" "$@"; }
out=$(ctl_a apply -f "$ZONES_SRC" 2>&1)
expect_true "svcctl apply -f zones/ writes every object: $(wc -l <<<"$out") lines" \
	grep -q 'service/backend created' <<<"$out"
out=$(ctl_b apply -f "$ZONES_SRC" 2>&1)
expect_eq "applied again from node-b: every object unchanged" "$(grep -vc ' unchanged$' <<<"$out")" 0
cols() { awk '{ $NF = ""; print }'; } # AGE differs
want=$("$SVCCTL" --zones "$ZONES_SRC" get svc -A | cols)
got=$(ctl_b get svc -A | cols)
expect_eq "svcctl get svc -A on node-b shows the directory's table" "$got" "$want"
out=$(ectl get --prefix /svcdns/claims/clusterips --keys-only | grep -c clusterips)
expect_eq "every ClusterIP is claimed in etcd" "$out" "$("$SVCCTL" --zones "$ZONES_SRC" get svc -A | awk 'NR > 1 && $4 ~ /^10\./' | wc -l)"

# ---- the daemons on both nodes, the pods of zones/ -------------------------------------------------

pod_start frontend-7d9f-a "$P1" 10.244.1.10 --http 8080,8443
pod_start frontend-7d9f-b "$P2" 10.244.2.10 --http 8080,8443
pod_start backend-5c4b-a "$P1" 10.244.1.20 --http 8080,9090
pod_start backend-5c4b-b "$P2" 10.244.2.20 --http 8081,9090
pod_start backend-5c4b-c "$P2" 10.244.2.21 --http 8080,9090
if ! pod_wait frontend-7d9f-a frontend-7d9f-b backend-5c4b-a backend-5c4b-b backend-5c4b-c; then
	echo "$T_NAME: the pod servers did not start" >&2
	exit 1
fi

in_p1 "$PY" "$T_LIB/fakeupstream.py" 127.0.0.1 5300 "$WORK/upstream.log" >"$WORK/up.out" 2>&1 &
FWD_PIDS+=("$!")
in_p1 "$SVCDNS" --etcd "$EP" --listen 10.244.1.2:5353 --upstream 127.0.0.1:5300 --threads 1 \
	--http 127.0.0.1:9153 >"$WORK/svcdns-a.log" 2>&1 &
FWD_PIDS+=("$!")
ip netns exec "$N2" "$SVCDNS" --etcd "$EP" --listen 10.250.0.2:5300 --upstream 127.0.0.1:9 --threads 1 \
	--http 127.0.0.1:9153 >"$WORK/svcdns-b.log" 2>&1 &
SD_B=$!
FWD_PIDS+=("$SD_B")
for n in a b; do
	ns=$N1
	[ $n = b ] && ns=$N2
	ip netns exec "$ns" "$SVCFWD" --etcd "$EP" --node "node-$n" --http 127.0.0.1:9154 \
		>"$WORK/svcfwd-$n.log" 2>&1 &
	FWD_PIDS+=("$!")
done
mkdir -p "/etc/netns/$P1"
printf 'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
	>"/etc/netns/$P1/resolv.conf"
ready() { [ "$(ip netns exec "$1" curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/ready")" == 200 ]; }
all_ready() { ready "$P1" 9153 && ready "$N2" 9153 && ready "$N1" 9154 && ready "$N2" 9154; }
if ! poll 15000 all_ready; then
	fail "svcdns and svcfwd become ready from etcd" "$(tail -n 3 "$WORK"/svcdns-*.log "$WORK"/svcfwd-*.log)"
	summary
	exit 1
fi
pass "svcdns (two) and svcfwd (two nodes) become ready from etcd"
dig_a() { in_p1 dig @10.244.1.2 -p 5353 +short +time=1 +tries=1 "$1" A 2>/dev/null; }
dig_b() { in_n2 dig @10.250.0.2 -p 5300 +short +time=1 +tries=1 "$1" A 2>/dev/null; }
expect_eq "svcdns (kube-dns pod) answers backend.shop" "$(dig_a backend.shop.svc.cluster.local)" 10.106.35.83
expect_eq "svcdns on node-b answers backend.shop" "$(dig_b backend.shop.svc.cluster.local)" 10.106.35.83
out=$(in_p1 curl -s -m 3 http://backend/)
expect_true "curl http://backend/ from a pod on node-a: '$out'" grep -q '^pod=backend-5c4b-[ab]' <<<"$out"
out=$(in_c curl -s -m 3 http://10.250.0.2:30080/)
expect_true "the frontend NodePort on node-b: '$out'" grep -q '^pod=frontend-7d9f-' <<<"$out"

# ---- a change on node-a, answered on every node ------------------------------------------------

svc_yaml() { # NAME IP
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: shop}\nspec:\n  clusterIP: %s\n  selector: {app: backend}\n  ports: [{port: 80, targetPort: http}]\n' "$1" "$2"
}
both_answer() { [ "$(dig_a "$1.shop.svc.cluster.local")" == "$2" ] && [ "$(dig_b "$1.shop.svc.cluster.local")" == "$2" ]; }
t0=$(now_ms)
svc_yaml probe1 10.96.200.1 | ctl_a apply -f - >/dev/null
poll 5000 both_answer probe1 10.96.200.1
ok=$?
took=$(($(now_ms) - t0))
expect_true "a service applied on node-a is answered by both svcdns ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within 1 s ($took ms)" [ "$took" -lt 1000 ]
fi
# The zone's SOA serial is the store's revision: the same on both (once both have read the
# last write), never past etcd's.
soa_a() { in_p1 dig @10.244.1.2 -p 5353 +short +time=1 +tries=1 cluster.local SOA 2>/dev/null | awk '{print $3}'; }
soa_b() { in_n2 dig @10.250.0.2 -p 5300 +short +time=1 +tries=1 cluster.local SOA 2>/dev/null | awk '{print $3}'; }
same_serial() { local a; a=$(soa_a); [ -n "$a" ] && [ "$a" == "$(soa_b)" ]; }
poll 5000 same_serial
serial=$(soa_a)
rev=$(ectl get /svcdns -w json --limit 1 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
expect_true "both svcdns give the same SOA serial: etcd's revision ($serial, etcd at $rev)" same_serial
serial_le_rev() { [ -n "$serial" ] && [ -n "$rev" ] && [ "$serial" -le "$rev" ]; }
expect_true "... not past the store's" serial_le_rev

# ---- two writers at once, no clusterIPs ----------------------------------------------------------

for p in a b; do
	for i in $(seq 1 50); do
		printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s-%d, namespace: race}\nspec: {ports: [{port: 80}]}\n' $p $i
	done >"$WORK/race-$p.yaml"
done
ctl_a create -f "$WORK/race-a.yaml" >"$WORK/race-a.out" 2>&1 &
ra=$!
ctl_b create -f "$WORK/race-b.yaml" >"$WORK/race-b.out" 2>&1
rb=$?
wait $ra
expect_true "two svcctl create 50 services each at once, both succeed" [ $? -eq 0 ] && [ $rb -eq 0 ]
ips=$(ctl_a get svc -n race | awk 'NR > 1 { print $3 }')
expect_eq "100 services, 100 distinct ClusterIPs" "$(sort -u <<<"$ips" | grep -c '^10\.')/$(wc -l <<<"$ips")" "100/100"

# ---- optimistic concurrency ----------------------------------------------------------------------

ctl_a get svc probe1 -n shop -o yaml >"$WORK/probe1.yaml"
expect_true "get -o yaml carries the resourceVersion" grep -q 'resourceVersion: "[0-9]*"' "$WORK/probe1.yaml"
sed 's/port: 80/port: 81/' "$WORK/probe1.yaml" | ctl_b apply -f - >/dev/null 2>&1
out=$(sed 's/port: 80/port: 82/' "$WORK/probe1.yaml" | ctl_a apply -f - 2>&1)
expect_true "an apply with a stale resourceVersion is refused: $out" \
	grep -q 'Error from server (Conflict): Operation cannot be fulfilled on services "probe1": the object has been modified; please apply your changes to the latest version and try again' <<<"$out"
expect_true "... and changes nothing" grep -q '81/TCP' <(ctl_a get svc probe1 -n shop)

# ---- an invalid object from another tool -------------------------------------------------------

ectl put /svcdns/services/shop/broken 'apiVersion: v1
kind: Service
metadata: {name: broken, namespace: shop}
spec: {clusterIP: 10.96.200.9, ports: [{port: 99999}]}' >/dev/null
svc_yaml probe2 10.96.200.2 | ctl_a apply -f - >/dev/null
expect_true "the change after an invalid object arrives" poll 5000 both_answer probe2 10.96.200.2
expect_true "the invalid object is reported with its key and field" \
	grep -q '/svcdns/services/shop/broken:.*spec.ports\[0\].port' "$WORK/svcdns-b.log"
metric() { ip netns exec "$1" curl -s -m 2 "http://127.0.0.1:$2/metrics" | awk -v m="$3" '$1 == m { print $2 }'; }
expect_eq "svcdns_store_invalid_objects says so" "$(metric "$N2" 9153 svcdns_store_invalid_objects)" 1
expect_eq "... and the broken service does not answer" "$(dig_b broken.shop.svc.cluster.local)" ""

# ---- members fail ----------------------------------------------------------------------------------

member_kill 1
svc_yaml probe3 10.96.200.3 | ctl_a apply -f - >/dev/null
expect_true "one member killed: a change still arrives on both nodes" poll 10000 both_answer probe3 10.96.200.3
member_kill 2
member_kill 3
expect_true "all killed: svcdns still answers on both nodes" both_answer probe3 10.96.200.3
out=$(in_p1 curl -s -m 3 http://backend/)
expect_true "... and forwarding goes on (curl http://backend/: '$out')" grep -q '^pod=backend-5c4b-' <<<"$out"
down() { [ "$(metric "$N2" 9153 'svcdns_store_state{state="down"}')" == 1 ]; }
expect_true "... and /metrics says the store is down" poll 10000 down
expect_true "... /ready stays 200" ready "$N2" 9153
for m in 1 2 3; do member_start $m existing; done
poll 20000 ectl endpoint health >/dev/null 2>&1
svc_yaml probe4 10.96.200.4 | ctl_a apply -f - >/dev/null
expect_true "members restarted: the next change arrives on both nodes" poll 15000 both_answer probe4 10.96.200.4

# ---- compacted while paused --------------------------------------------------------------------

kill -STOP "$SD_B"
for m in 1 2 3; do member_kill $m; done # its stream breaks while it cannot see it
for m in 1 2 3; do member_start $m existing; done
poll 20000 ectl endpoint health >/dev/null 2>&1
expect_eq "probe3's ClusterIP is claimed" "$(ectl get /svcdns/claims/clusterips/10.96.200.3 --print-value-only)" "services/shop/probe3"
ctl_a delete svc probe3 -n shop >/dev/null
expect_eq "deleting it released the claim" "$(ectl get /svcdns/claims/clusterips/10.96.200.3 --print-value-only)" ""
svc_yaml probe5 10.96.200.5 | ctl_a apply -f - >/dev/null
rev=$(ectl get /svcdns/config -w json | python3 -c 'import json, sys; print(json.load(sys.stdin)["header"]["revision"])')
ectl compact "$rev" >/dev/null
kill -CONT "$SD_B"
gone() { [ -z "$(dig_b probe3.shop.svc.cluster.local)" ]; }
expect_true "a daemon paused past a compaction converges: the new service" poll 20000 both_answer probe5 10.96.200.5
expect_true "... and the deleted one is gone" gone
expect_true "... after listing again" [ "$(metric "$N2" 9153 svcdns_store_relists_total)" -ge 1 ]

# ---- started without etcd ------------------------------------------------------------------------

in_p1 "$SVCDNS" --etcd http://127.0.0.1:9 --listen 10.244.1.2:5354 --upstream 127.0.0.1:5300 \
	--threads 1 --http 127.0.0.1:9155 >"$WORK/svcdns-c.log" 2>&1 &
FWD_PIDS+=("$!")
poll 5000 in_p1 dig @10.244.1.2 -p 5354 +time=1 +tries=1 example.org >/dev/null
out=$(in_p1 dig @10.244.1.2 -p 5354 +time=1 +tries=1 backend.shop.svc.cluster.local A)
expect_true "without etcd at start: cluster names get SERVFAIL" grep -q 'status: SERVFAIL' <<<"$out"
expect_eq "... forwarded names are answered" "$(in_p1 dig @10.244.1.2 -p 5354 +short +time=1 +tries=1 example.org A)" 192.0.2.1
expect_eq "... and /ready says 503" "$(in_p1 curl -s -m 1 -o /dev/null -w '%{http_code}' http://127.0.0.1:9155/ready)" 503

summary
