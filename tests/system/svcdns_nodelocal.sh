#!/usr/bin/env bash
# Node-local DNS and the server-side search path (autopath), on node-a of the lib/fwdnet.sh
# namespaces with the example cluster of zones/:
#   - svcfwd relays the kube-dns ClusterIP (10.96.0.10:53) to the kube-dns pod (an svcdns in
#     node-a's pod namespace); the pod's svcdns sees the node's address, not the pod's, so a
#     pod's query gets no search path there;
#   - svcdns started on node-a with --listen 10.96.0.10:53 (node-local): svcfwd finds within
#     seconds that a local process serves that ClusterIP port (UDP and TCP), leaves it (log,
#     svcfwd_ports_served_locally, svcfwd_port_served_locally{...}), and pods' queries reach
#     svcdns with their own addresses;
#   - from frontend-7d9f-a (a shop pod, 10.244.1.10, resolv.conf search shop.svc.cluster.local
#     svc.cluster.local cluster.local, ndots:5): dig, kdig (UDP and TCP) and getent get a CNAME
#     from the first search name to the name that exists, in the cluster or upstream (an nsd);
#   - queries that reach svcdns and the upstream for one lookup, with autopath and with
#     --no-autopath, printed as a table (the README's figures) and checked: 1 against 4 for an
#     external name, A only;
#   - a client that is no pod (outside, 10.251.0.2) gets the plain answers and still resolves
#     through its own search list;
#   - svcdns stopped: svcfwd takes the ClusterIP port back and relays to the kube-dns pod again.
#
# Needs root, `ip netns` and a kernel that loads sk_lookup (else SKIP, exit 77).
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/nsd.sh
. "$T_LIB/nsd.sh"
need_netns
need_programs svcfwd svcdns svcctl
need_tools curl dig kdig getent nsd python3
FWD_TAG=nl$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

Z=$WORK/zones
cp -R "$ZONES_SRC" "$Z"
KDNS=10.96.0.10
LINKLOCAL=169.254.20.10 # NodeLocal DNSCache's address: node-a holds it on lo
UP=10.250.0.1 # nsd, on node-a's address toward node-b
POD=10.244.1.10
IP_BACKEND=$("$SVCCTL" --zones "$Z" get svc backend -n shop | awk 'NR == 2 { print $3 }')

fwdnet_up "10.244.1.2 $POD" "" || {
	echo "could not build the namespaces" >&2
	exit 1
}
# node-a's pods share one namespace: the client pod's address is the one that leaves it.
ip -n "$P1" route replace default via 10.244.1.1 src "$POD" || exit 1
ip -n "$N1" addr add "$LINKLOCAL/32" dev lo || exit 1

# ---- nsd, the upstream: every name under example.test is 192.0.2.80 ---------------------------

mkdir -p "$WORK/nsd"
cat >"$WORK/nsd/root.zone" <<EOF
\$ORIGIN .
\$TTL 300
@                 IN SOA ns1.example.test. hostmaster.example.test. 1 3600 900 604800 60
@                 IN NS  ns1.example.test.
ns1.example.test. IN A   $UP
*.example.test.   IN A   192.0.2.80
EOF
nsd_conf "$WORK/nsd" "$UP@5399" .=root.zone
ip netns exec "$N1" nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/nsd.out" 2>&1 &
FWD_PIDS+=("$!")

# ---- the kube-dns pod and svcfwd -----------------------------------------------------------------

ip netns exec "$P1" "$SVCDNS" --zones "$Z" --listen 10.244.1.2:5353 --upstream "$UP:5399" \
	--threads 1 --http 10.244.1.2:9153 >"$WORK/svcdns-pod.log" 2>&1 &
FWD_PIDS+=("$!")
ip netns exec "$N1" "$SVCFWD" --zones "$Z" --node node-a --http 127.0.0.1:9154 --log-level info \
	>"$WORK/svcfwd.log" 2>&1 &
FWD_PIDS+=("$!")
if ! poll 20000 in_n1 curl -fs -m 1 -o /dev/null http://127.0.0.1:9154/ready; then
	echo "svcfwd did not become ready:" >&2
	tail -20 "$WORK/svcfwd.log" >&2
	exit 1
fi
if grep -q 'sk_lookup unavailable' "$WORK/svcfwd.log"; then
	skip "svcfwd could not load sk_lookup here"
fi
fmetric() { in_n1 curl -fs -m 3 http://127.0.0.1:9154/metrics | awk -v k="$1" '$1 == k {print $2}'; }
# The sum of a svcdns counter over its labels.
dmetric() { in_n1 curl -fs -m 3 http://127.0.0.1:9153/metrics | awk -v k="$1" '$1 == k || index($1, k "{") == 1 {n += $2} END {print n + 0}'; }

netns_resolv_conf "$P1" <<EOF || exit 1
nameserver $KDNS
search shop.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:2 attempts:2
EOF
netns_resolv_conf "$C" <<EOF || exit 1
nameserver $KDNS
search shop.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:2 attempts:2
EOF

pod_dig() { in_p1 dig +time=2 +tries=2 "$@"; }
relayed() { [ "$(pod_dig @"$KDNS" +short backend.shop.svc.cluster.local A)" == "$IP_BACKEND" ]; }
if ! poll 10000 relayed; then
	echo "the kube-dns ClusterIP does not answer through svcfwd:" >&2
	tail -20 "$WORK/svcdns-pod.log" "$WORK/svcfwd.log" >&2
	exit 1
fi
pass "relayed by svcfwd: the kube-dns pod answers backend.shop.svc.cluster.local"
# The pod's svcdns sees node-a's address: no search path for it.
out=$(pod_dig @"$KDNS" backend.shop.shop.svc.cluster.local A)
expect_true "relayed: the first search name gets NXDOMAIN (the server sees the node, not the pod)" \
	grep -q "status: NXDOMAIN" <<<"$out"

# ---- node-local svcdns -----------------------------------------------------------------------------

SD_PID=
start_local() { # [svcdns options...]
	ip netns exec "$N1" "$SVCDNS" --zones "$Z" --listen "$KDNS:53" --listen "$LINKLOCAL:53" \
		--upstream "$UP:5399" --threads 2 \
		--http 127.0.0.1:9153 "$@" >>"$WORK/svcdns-local.log" 2>&1 &
	SD_PID=$!
	track_pid "$SD_PID"
	poll 10000 in_n1 curl -fs -m 1 -o /dev/null http://127.0.0.1:9153/ready
}
start_local || {
	echo "node-local svcdns did not start:" >&2
	cat "$WORK/svcdns-local.log" >&2
	exit 1
}
local_both() { [ "$(fmetric svcfwd_ports_served_locally)" == 2 ]; }
t0=$(now_ms)
poll 5000 local_both
expect_eq "svcfwd leaves $KDNS:53 UDP and TCP to the local svcdns" \
	"$(fmetric svcfwd_ports_served_locally)" 2
echo "# svcfwd left the ports within $(($(now_ms) - t0)) ms of svcdns being ready"
expect_true "svcfwd's /metrics names the port" grep -q \
	"svcfwd_port_served_locally{address=\"$KDNS\",port=\"53\",protocol=\"UDP\"} 1" \
	<(in_n1 curl -fs -m 3 http://127.0.0.1:9154/metrics)
expect_true "svcfwd's log says so" grep -q "$KDNS:53/TCP: served by a local process" "$WORK/svcfwd.log"

# ---- autopath from a pod ------------------------------------------------------------------------

out=$(pod_dig @"$KDNS" backend.shop.shop.svc.cluster.local A)
expect_true "dig from a pod: backend.shop (first search name) is a CNAME to the service" \
	grep -Eq "^backend\.shop\.shop\.svc\.cluster\.local\.\s+[0-9]+\s+IN\s+CNAME\s+backend\.shop\.svc\.cluster\.local\." <<<"$out"
expect_true "... and its ClusterIP" \
	grep -Eq "^backend\.shop\.svc\.cluster\.local\.\s+[0-9]+\s+IN\s+A\s+$IP_BACKEND\$" <<<"$out"
expect_true "... NOERROR, authoritative" grep -Eq "status: NOERROR|flags: qr aa" <<<"$out"
out=$(pod_dig @"$LINKLOCAL" backend.shop.shop.svc.cluster.local A)
expect_true "the link-local address $LINKLOCAL answers the same" \
	grep -Eq "^backend\.shop\.svc\.cluster\.local\.\s+[0-9]+\s+IN\s+A\s+$IP_BACKEND\$" <<<"$out"
for tr in +notcp +tcp; do
	out=$(in_p1 kdig "$tr" +timeout=2 @"$KDNS" kube-dns.kube-system.shop.svc.cluster.local A)
	expect_true "kdig $tr: kube-dns.kube-system through svc.cluster.local" \
		grep -Eq "kube-dns\.kube-system\.svc\.cluster\.local\.\s+[0-9]+\s+IN\s+A\s+$KDNS" <<<"$out"
done
out=$(pod_dig +search +ndots=5 www.example.test A)
expect_true "dig +search from a pod: an external name, a CNAME to it" \
	grep -Eq "^www\.example\.test\.shop\.svc\.cluster\.local\.\s+[0-9]+\s+IN\s+CNAME\s+www\.example\.test\." <<<"$out"
expect_true "... and the upstream's address" \
	grep -Eq "^www\.example\.test\.\s+[0-9]+\s+IN\s+A\s+192\.0\.2\.80" <<<"$out"
out=$(in_p1 kdig +tcp +timeout=2 @"$KDNS" mail.example.test.shop.svc.cluster.local AAAA)
expect_true "kdig +tcp: AAAA of an external name, the CNAME and the upstream's NODATA" \
	grep -Eq "status: NOERROR" <<<"$out"
expect_true "... the CNAME" grep -Eq "CNAME\s+mail\.example\.test\." <<<"$out"
out=$(pod_dig @"$KDNS" nothing.example.test.shop.svc.cluster.local MX)
expect_true "an external name's MX: plain NXDOMAIN (the pod walks its list)" grep -q "status: NXDOMAIN" <<<"$out"
expect_eq "getent hosts backend.shop from the pod" "$(in_p1 getent ahostsv4 backend.shop | awk 'NR == 1 {print $1}')" "$IP_BACKEND"
expect_eq "getent hosts of an external name from the pod" \
	"$(in_p1 getent ahostsv4 www.example.test | awk 'NR == 1 {print $1}')" 192.0.2.80
expect_true "getent: a name that exists nowhere fails" bash -c "! ip netns exec $P1 getent ahostsv4 nope.nothing.test"
n=$(dmetric svcdns_autopath_answers_total)
expect_true "svcdns counts autopath answers ($n)" [ "$n" -ge 6 ]

# ---- what one lookup costs, with autopath and without ---------------------------------------------

SEQ=0
# Queries reaching svcdns and its upstream for one `getent ahostsv4 NAME` from NS (a fresh name
# each time for external ones, so the cache does not hide the upstream): "QUERIES UPSTREAM".
cost() { # NS NAME
	local q0 u0 q1 u1
	q0=$(dmetric svcdns_dns_requests_total)
	u0=$(dmetric svcdns_upstream_requests_total)
	ip netns exec "$1" getent ahostsv4 "$2" >/dev/null
	q1=$(dmetric svcdns_dns_requests_total)
	u1=$(dmetric svcdns_upstream_requests_total)
	echo "$((q1 - q0)) $((u1 - u0))"
}
declare -A COST
measure() { # MODE
	SEQ=$((SEQ + 1))
	COST[$1,ext]=$(cost "$P1" "www$SEQ.example.test")
	COST[$1,svc]=$(cost "$P1" backend.shop)
	COST[$1,short]=$(cost "$P1" backend)
	COST[$1,nopod]=$(cost "$C" "out$SEQ.example.test")
}
measure autopath
stop_pid "$SD_PID"
start_local --no-autopath || {
	echo "svcdns --no-autopath did not start" >&2
	exit 1
}
poll 5000 local_both
measure plain
echo "# queries reaching svcdns / its upstream for one getent ahostsv4 (A only), ndots:5:"
printf '# %-34s %-12s %s\n' lookup autopath --no-autopath
printf '# %-34s %-12s %s\n' "www<N>.example.test (pod)" "${COST[autopath,ext]// / \/ }" "${COST[plain,ext]// / \/ }"
printf '# %-34s %-12s %s\n' "backend.shop (pod)" "${COST[autopath,svc]// / \/ }" "${COST[plain,svc]// / \/ }"
printf '# %-34s %-12s %s\n' "backend (pod)" "${COST[autopath,short]// / \/ }" "${COST[plain,short]// / \/ }"
printf '# %-34s %-12s %s\n' "out<N>.example.test (no pod)" "${COST[autopath,nopod]// / \/ }" "${COST[plain,nopod]// / \/ }"
expect_eq "external name from a pod, autopath: 1 query, 1 upstream" "${COST[autopath,ext]}" "1 1"
expect_eq "external name from a pod, --no-autopath: 4 queries, 1 upstream" "${COST[plain,ext]}" "4 1"
expect_eq "backend.shop from a pod, autopath: 1 query" "${COST[autopath,svc]}" "1 0"
expect_eq "backend.shop from a pod, --no-autopath: 2 queries" "${COST[plain,svc]}" "2 0"
expect_eq "backend from a pod: 1 query either way" "${COST[autopath,short]} ${COST[plain,short]}" "1 0 1 0"
expect_eq "a client that is no pod walks its own list: 4 queries either way" \
	"${COST[autopath,nopod]} ${COST[plain,nopod]}" "4 1 4 1"
out=$(pod_dig @"$KDNS" backend.shop.shop.svc.cluster.local A)
expect_true "--no-autopath: the first search name is NXDOMAIN" grep -q "status: NXDOMAIN" <<<"$out"

# ---- svcdns gone: svcfwd serves the ClusterIP again -------------------------------------------------

stop_pid "$SD_PID"
t0=$(now_ms)
none_local() { [ "$(fmetric svcfwd_ports_served_locally)" == 0 ]; }
poll 5000 none_local
expect_eq "svcdns stopped: svcfwd takes $KDNS:53 back" "$(fmetric svcfwd_ports_served_locally)" 0 ||
	{ ps -o pid,args -p "$(ip netns pids "$N1" | tr '\n' ',')0"; tail -5 "$WORK/svcfwd.log"; }
echo "# svcfwd took the ports back within $(($(now_ms) - t0)) ms"
expect_true "relayed again to the kube-dns pod" poll 3000 relayed
expect_true "svcfwd's log says so" grep -q "$KDNS:53/UDP: no longer served by a local process" "$WORK/svcfwd.log"

summary
