#!/usr/bin/env bash
# Readiness probes, run by each node's svcfwd for the pods of its node (etcd, the two-node
# topology of lib/fwdnet.sh, one etcd member in node-a's namespace). Pods are real servers whose
# /healthz turns 503 on SIGUSR1 and 200 on SIGUSR2. Checks, with real clients (dig, curl,
# svcctl, etcdctl):
#   both pods' httpGet probes pass: a PodStatus per pod in etcd, Ready;
#   node-b's pod turning unhealthy leaves svcdns's answers and node-a's pool within
#   periodSeconds x failureThreshold + 1 s, with no failed new connection meanwhile; get pods
#   shows it 0/1 and its PodStatus says ContainersNotReady; healthy again, it returns;
#   a tcpSocket probe: the pod's server killed, the pod leaves the answers;
#   a pod deleted: the PodStatus its node wrote goes;
#   svcfwd on node-b killed and restarted at once: its pod never leaves the answers (what the
#   node wrote holds through the first probes);
#   /metrics counts the probed pods.
# Needs root, `ip netns` and etcd (else exit 77: skipped).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcfwd svcctl
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip "etcd and etcdctl are not installed"
need_tools curl dig python3
FWD_TAG=pr$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

if ! fwdnet_up "10.244.1.2 10.244.1.10" "10.244.2.10 10.244.2.11"; then
	echo "$T_NAME: could not build the namespaces" >&2
	exit 1
fi

fwdnet_etcd

PERIOD=1
FAILURES=2
BOUND=$((PERIOD * FAILURES * 1000 + 1000))
# probed_pod NAME NODE IP PROBE(http|tcp)
probed_pod() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default, labels: {app: web}}
spec:
  nodeName: $2
  containers:
  - name: main
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
EOF
	if [ "$4" = http ]; then
		printf '      httpGet: {path: /healthz, port: http}\n'
	else
		printf '      tcpSocket: {port: 8080}\n'
	fi
	cat <<EOF
      periodSeconds: $PERIOD
      failureThreshold: $FAILURES
status:
  phase: Running
  podIP: $3
  conditions: [{type: Ready, status: "True"}]
EOF
}
{
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n'
	printf 'spec:\n  clusterIP: 10.96.0.80\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n'
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web-h, namespace: default}\n'
	printf 'spec:\n  clusterIP: None\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n'
	probed_pod web-a node-a 10.244.1.10 http
	echo ---
	probed_pod web-b node-b 10.244.2.10 http
	echo ---
	probed_pod web-c node-b 10.244.2.11 tcp
} >"$WORK/web.yaml"
out=$(ctl apply -f "$WORK/web.yaml" 2>&1)
expect_true "svcctl apply -f: services and probed pods ($(tr '\n' ' ' <<<"$out"))" \
	grep -q 'pod/web-c created' <<<"$out"

pod_start web-a "$P1" 10.244.1.10 --http 8080
pod_start web-b "$P2" 10.244.2.10 --http 8080
pod_start web-c "$P2" 10.244.2.11 --http 8080
if ! pod_wait web-a web-b web-c; then
	echo "$T_NAME: the pod servers did not start" >&2
	exit 1
fi
in_p1 "$SVCDNS" --etcd "$EP" --listen 10.244.1.2:5353 --upstream 127.0.0.1:9 --threads 1 \
	--http 127.0.0.1:9153 >"$WORK/svcdns.log" 2>&1 &
FWD_PIDS+=("$!")
FWD_B=
fwd_start() { # NODE NS
	ip netns exec "$2" "$SVCFWD" --etcd "$EP" --node "$1" --http 127.0.0.1:9154 \
		>>"$WORK/svcfwd-$1.log" 2>&1 &
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

dig_h() { in_p1 dig @10.244.1.2 -p 5353 +short +time=1 +tries=1 web-h.default.svc.cluster.local A 2>/dev/null | sort | tr '\n' ' '; }
ALL="10.244.1.10 10.244.2.10 10.244.2.11 "
is_all() { [ "$(dig_h)" == "$ALL" ]; }
podstatus() { ectl get "/svcdns/podstatus/default/$1" --print-value-only; }
all_written() { podstatus web-a | grep -q 'status: "True"' && podstatus web-b | grep -q 'status: "True"' && podstatus web-c | grep -q 'status: "True"'; }
expect_true "the probes pass: a PodStatus per pod in etcd, Ready" poll 10000 all_written
expect_true "... written by the pod's node" grep -q 'nodeName: node-b' <(podstatus web-b)
expect_true "the headless service answers the three pods" poll 5000 is_all
metric() { ip netns exec "$1" curl -s -m 2 "http://127.0.0.1:$2/metrics" | awk -v m="$3" '$1 == m { print $2 }'; }
metric_is() { [ "$(metric "$N2" 9154 "$1")" == "$2" ]; }
expect_true "svcfwd_probed_pods on node-b is 2" poll 3000 metric_is svcfwd_probed_pods 2
expect_true "svcfwd_probed_pods_ready on node-b is 2" poll 3000 metric_is svcfwd_probed_pods_ready 2
# Two probed pods: the prober holds a socket or two (one per attempt in flight, kept for the next).
sockets_ok() { local n; n=$(metric "$N2" 9154 svcfwd_probe_sockets); [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le 2 ]; }
expect_true "svcfwd_probe_sockets on node-b is 1 or 2" poll 3000 sockets_ok

# New connections from node-a's pod, one every 50 ms, for the length of a step: how many fail.
client_loop() { # SECONDS OUT
	local end=$(($(now_ms) + $1 * 1000)) n=0 failed=0
	while [ "$(now_ms)" -lt "$end" ]; do
		in_p1 curl -s -m 2 -o /dev/null http://10.96.0.80/ || failed=$((failed + 1))
		n=$((n + 1))
		sleep 0.05
	done
	echo "$n $failed" >"$2"
}
reached() {
	local i
	for i in $(seq 1 15); do
		in_p1 curl -s -m 2 http://10.96.0.80/ | sed -n 's/^pod=\([a-z-]*\).*/\1/p'
	done | sort -u | tr '\n' ' '
}

# ---- an HTTP probe fails ---------------------------------------------------------------------

client_loop 6 "$WORK/clients-1" &
CL=$!
t0=$(now_ms)
kill -USR1 "${POD_PID[web-b]}"
b_out() { [ "$(dig_h)" == "10.244.1.10 10.244.2.11 " ]; }
poll 15000 b_out
ok=$?
took=$(($(now_ms) - t0))
expect_true "web-b's /healthz turns 503: it leaves svcdns's answers ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within periodSeconds x failureThreshold + 1 s ($took < $BOUND ms)" [ "$took" -lt "$BOUND" ]
fi
expect_eq "... and node-a's pool: no curl reaches it" "$(reached)" "web-a web-c "
expect_true "svcctl get pods: web-b 0/1" grep -q '^web-b  *0/1 ' <(ctl get pods)
expect_true "its PodStatus: ContainersNotReady, with lastTransitionTime" \
	grep -q 'reason: ContainersNotReady' <(podstatus web-b)
wait "$CL"
read -r n failed <"$WORK/clients-1"
expect_eq "no new connection failed meanwhile ($n made)" "$failed" 0

t0=$(now_ms)
kill -USR2 "${POD_PID[web-b]}"
poll 15000 is_all
ok=$?
took=$(($(now_ms) - t0))
expect_true "healthy again: web-b is answered again ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within periodSeconds x successThreshold + 1 s ($took < $((PERIOD * 1000 + 1000)) ms)" \
		[ "$took" -lt $((PERIOD * 1000 + 1000)) ]
fi
expect_eq "... and node-a's pool reaches it" "$(reached)" "web-a web-b web-c "

# ---- a TCP probe fails ---------------------------------------------------------------------------

client_loop 5 "$WORK/clients-2" &
CL=$!
t0=$(now_ms)
pod_kill web-c KILL
c_out() { [ "$(dig_h)" == "10.244.1.10 10.244.2.10 " ]; }
poll 15000 c_out
ok=$?
took=$(($(now_ms) - t0))
expect_true "web-c's server killed: its tcpSocket probe takes it out ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within the bound ($took < $BOUND ms)" [ "$took" -lt "$BOUND" ]
fi
wait "$CL"
read -r n failed <"$WORK/clients-2"
expect_eq "no new connection failed meanwhile ($n made)" "$failed" 0

# ---- a pod deleted: its PodStatus goes -----------------------------------------------------------

ctl delete pod web-c >/dev/null
gone() { [ -z "$(ectl get /svcdns/podstatus/default/web-c --keys-only)" ]; }
expect_true "web-c deleted: node-b deletes the PodStatus it wrote" poll 5000 gone

# ---- svcfwd on node-b restarted at once: what it wrote holds ---------------------------------------

kill -KILL "$FWD_B"
wait "$FWD_B" 2>/dev/null
fwd_start node-b "$N2"
missing=0
end=$(($(now_ms) + 4000))
while [ "$(now_ms)" -lt "$end" ]; do
	[ "$(dig_h)" == "10.244.1.10 10.244.2.10 " ] || missing=$((missing + 1))
	sleep 0.1
done
expect_eq "svcfwd on node-b killed and restarted: web-b never left the answers" "$missing" 0
expect_true "... and the new svcfwd probes it" poll 5000 metric_is svcfwd_probed_pods_ready 1

summary
