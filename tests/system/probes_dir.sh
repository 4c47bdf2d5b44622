#!/usr/bin/env bash
# Readiness probes on one machine without etcd: svcfwd (node-a of lib/fwdnet.sh) probes the
# pods of its node and writes what it finds to the status directory ($SVCDNS_STATUS_DIR, the
# test's own), which svcdns, svcfwd and svcctl read beside the manifests. Checks, with real
# clients (dig, curl, svcctl):
#   the probes pass: node-a.yaml in the status directory, both pods Ready;
#   a pod's /healthz turning 503 takes it out of svcdns's answers and svcfwd's pool within
#   periodSeconds x failureThreshold + 1 s, and `svcctl get pods` shows it 0/1;
#   healthy again, it returns; the manifests are never written.
# Needs root and `ip netns` (else exit 77: skipped).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcfwd svcctl
need_tools curl dig python3
FWD_TAG=pd$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

if ! fwdnet_up "10.244.1.2 10.244.1.10 10.244.1.11" ""; then
	echo "$T_NAME: could not build the namespaces" >&2
	exit 1
fi

PERIOD=1
FAILURES=2
BOUND=$((PERIOD * FAILURES * 1000 + 1000))
mkdir -p "$WORK/zones"
probed_pod() { # NAME IP
	cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default, labels: {app: web}}
spec:
  nodeName: node-a
  containers:
  - name: main
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: $PERIOD
      failureThreshold: $FAILURES
status:
  phase: Running
  podIP: $2
  conditions: [{type: Ready, status: "True"}]
EOF
}
{
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n'
	printf 'spec:\n  clusterIP: 10.96.0.80\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n'
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web-h, namespace: default}\n'
	printf 'spec:\n  clusterIP: None\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n---\n'
	probed_pod web-a 10.244.1.10
	echo ---
	probed_pod web-b 10.244.1.11
} >"$WORK/zones/web.yaml"
sum=$(sha256sum "$WORK/zones/web.yaml")

pod_start web-a "$P1" 10.244.1.10 --http 8080
pod_start web-b "$P1" 10.244.1.11 --http 8080
if ! pod_wait web-a web-b; then
	echo "$T_NAME: the pod servers did not start" >&2
	exit 1
fi
in_p1 "$SVCDNS" --zones "$WORK/zones" --listen 10.244.1.2:5353 --upstream 127.0.0.1:9 \
	--threads 1 --http 127.0.0.1:9153 >"$WORK/svcdns.log" 2>&1 &
FWD_PIDS+=("$!")
in_n1 "$SVCFWD" --zones "$WORK/zones" --node node-a --http 127.0.0.1:9154 >"$WORK/svcfwd.log" 2>&1 &
FWD_PIDS+=("$!")
ready() { [ "$(ip netns exec "$1" curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/ready")" == 200 ]; }
all_ready() { ready "$P1" 9153 && ready "$N1" 9154; }
if ! poll 15000 all_ready; then
	fail "svcdns and svcfwd become ready" "$(tail -n 3 "$WORK"/svcdns.log "$WORK"/svcfwd.log)"
	summary
	exit 1
fi
pass "svcdns and svcfwd become ready from the directory"

file=$SVCDNS_STATUS_DIR/node-a.yaml
both_true() { [ "$(grep -c 'status: "True"' "$file" 2>/dev/null)" == 2 ]; }
expect_true "the probes pass: $file says both pods Ready" poll 10000 both_true
dig_h() { in_p1 dig @10.244.1.2 -p 5353 +short +time=1 +tries=1 web-h.default.svc.cluster.local A 2>/dev/null | sort | tr '\n' ' '; }
both_in() { [ "$(dig_h)" == "10.244.1.10 10.244.1.11 " ]; }
expect_true "the headless service answers both pods" poll 5000 both_in
reached() {
	local i
	for i in $(seq 1 12); do
		in_p1 curl -s -m 2 http://10.96.0.80/ | sed -n 's/^pod=\([a-z-]*\).*/\1/p'
	done | sort -u | tr '\n' ' '
}
expect_eq "svcfwd's pool reaches both pods" "$(reached)" "web-a web-b "

t0=$(now_ms)
kill -USR1 "${POD_PID[web-b]}"
b_out() { [ "$(dig_h)" == "10.244.1.10 " ]; }
poll 15000 b_out
ok=$?
took=$(($(now_ms) - t0))
expect_true "web-b's /healthz turns 503: it leaves svcdns's answers ($took ms)" [ $ok -eq 0 ]
if timing_ok; then
	expect_true "... within periodSeconds x failureThreshold + 1 s ($took < $BOUND ms)" [ "$took" -lt "$BOUND" ]
fi
expect_eq "... and svcfwd's pool" "$(reached)" "web-a "
expect_true "svcctl get pods (reading the status directory): web-b 0/1" \
	grep -q '^web-b  *0/1 ' <("$SVCCTL" --zones "$WORK/zones" get pods)
expect_true "the status file says why" grep -q 'reason: ContainersNotReady' "$file"

t0=$(now_ms)
kill -USR2 "${POD_PID[web-b]}"
poll 15000 both_in
ok=$?
expect_true "healthy again: web-b is answered again ($(($(now_ms) - t0)) ms)" [ $ok -eq 0 ]
expect_eq "... and svcfwd's pool reaches it" "$(reached)" "web-a web-b "
expect_eq "the manifests were never written" "$(sha256sum "$WORK/zones/web.yaml")" "$sum"
expect_eq "the status directory holds node-a's file alone" "$(ls -A "$SVCDNS_STATUS_DIR")" node-a.yaml

summary
