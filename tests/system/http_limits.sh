#!/usr/bin/env bash
# The HTTP endpoints bound what a client can make them do (daemon/httpd.c), checked on svcdns's
# status endpoint (/metrics) and on a svcfwd healthCheckNodePort, each in a network namespace
# of its own test:
#   - GET and HEAD answer, with Content-Length and "Connection: close"; POST is refused;
#   - 300 MiB of body (announced by Content-Length, chunked, or not announced at all) leave the
#     daemon's peak memory where it was: 413, or the connection closes, without the body read;
#   - twice the connection cap in idle sockets: a real curl still gets the metrics, and the
#     oldest idle sockets were closed to make room;
#   - slowloris (one header byte a second) is closed by the 5 s deadline;
#   - a request head over 8 KiB (one long line, or many lines) gets 431; one under it is served.
#
# Needs root and `ip netns` (else SKIP, exit 77).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcfwd
need_tools curl

NS=hl$$
ip netns add "$NS" || skip "cannot create a network namespace"
at_exit ip netns del "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
attack() { in_ns "$PY" "$T_LIB/httpattack.py" "$@"; }
# word KEY LINE: the value of KEY=VALUE in LINE.
word() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # PID VmRSS|VmHWM

Z=$WORK/zones
mkdir -p "$Z"
cat >"$Z/cluster.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.80.10
  selector: {app: web}
  externalTrafficPolicy: Local
  healthCheckNodePort: 30900
  ports:
  - {name: http, port: 80, targetPort: 8080}
status:
  loadBalancer:
    ingress:
    - ip: 198.51.100.40
---
EOF
yaml_pod_min() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: default, labels: {app: web}}
spec:
  nodeName: node-a
  containers:
  - {name: main, image: web, ports: [{name: http, containerPort: 8080}]}
status:
  phase: Running
  podIP: 10.244.1.10
  conditions:
  - {type: Ready, status: "True"}
EOF
}
yaml_pod_min >>"$Z/cluster.yaml"

# `ip netns exec` execs the daemon: $! is its PID, whose memory is measured.
ip netns exec "$NS" "$SVCDNS" --zones "$Z" --listen 127.0.0.1:5353 --http 127.0.0.1:9153 \
	--threads 1 --upstream 127.0.0.1:9 >"$WORK/svcdns.log" 2>&1 &
SD_PID=$!
track_pid "$SD_PID"
ip netns exec "$NS" "$SVCFWD" --zones "$Z" --node node-a --http 127.0.0.1:9154 \
	>"$WORK/svcfwd.log" 2>&1 &
FWD_PID=$!
track_pid "$FWD_PID"
up() { [ "$(in_ns curl -s -o /dev/null -w '%{http_code}' "$1")" = "$2" ]; }
if ! poll 10000 up http://127.0.0.1:9153/ready 200 || ! poll 10000 up http://127.0.0.1:30900/ 200; then
	echo "the daemons did not start" >&2
	cat "$WORK/svcdns.log" "$WORK/svcfwd.log" >&2
	exit 1
fi

# check NAME PORT PATH PID: every limit, on one server.
check() {
	local name=$1 port=$2 path=$3 pid=$4 out hwm0 rss0 hwm1 rss1 mode code t
	local url=http://127.0.0.1:$port$path

	# Ordinary clients.
	code=$(in_ns curl -s -o "$WORK/body" -w '%{http_code}' "$url")
	expect_eq "$name: curl GET $path" "$code" 200
	expect_true "$name: with a body" [ -s "$WORK/body" ]
	out=$(attack raw 127.0.0.1 "$port" "HEAD $path HTTP/1.1\r\nHost: t\r\n\r\n")
	expect_true "$name: HEAD: 200, a Content-Length, no body, Connection: close ($out)" \
		eval '[ "$(word status "$out")" = 200 ] && [ "$(word body_bytes "$out")" = 0 ] &&
			[ "$(word h_content-length "$out")" -gt 0 ] && [ "$(word h_connection "$out")" = close ]'
	out=$(attack raw 127.0.0.1 "$port" "GET $path?x=1 HTTP/1.0\n\n")
	expect_eq "$name: HTTP/1.0 with bare LFs and a query ($out)" "$(word status "$out")" 200
	out=$(attack raw 127.0.0.1 "$port" "POST $path HTTP/1.1\r\nHost: t\r\n\r\n")
	expect_eq "$name: POST without a body is not allowed ($out)" "$(word status "$out")" 405

	# Bodies: nothing of them is kept.
	hwm0=$(kib "$pid" VmHWM)
	rss0=$(kib "$pid" VmRSS)
	for mode in length chunked none; do
		out=$(attack body 127.0.0.1 "$port" "$path" 300 "$mode")
		if [ "$mode" = none ]; then
			# The GET is answered; the bytes after it are never read.
			expect_true "$name: 300 MiB after a GET that announces no body: connection closed ($out)" \
				[ "$(word closed "$out")" = 1 ]
		else
			expect_true "$name: 300 MiB body ($mode): 413 or the connection closes ($out)" \
				eval '[ "$(word status "$out")" = 413 ] || [ "$(word closed "$out")" = 1 ]'
		fi
	done
	hwm1=$(kib "$pid" VmHWM)
	rss1=$(kib "$pid" VmRSS)
	expect_true "$name: the memory measured is the daemon's" \
		grep -q "^Name:.*svc" "/proc/$pid/status"
	expect_true "$name: peak memory flat after 3 x 300 MiB (VmHWM $hwm0 -> $hwm1 KiB, VmRSS $rss0 -> $rss1 KiB)" \
		[ $((hwm1 - hwm0)) -lt 8192 -a $((rss1 - rss0)) -lt 8192 ]

	# Idle sockets: twice the cap.
	out=$(attack idle 127.0.0.1 "$port" 128 "$path")
	expect_true "$name: with 128 idle connections open, curl still gets $path ($out)" \
		eval '[ "$(word curl_status "$out")" = 200 ] && [ "$(word curl_bytes "$out")" -gt 0 ]'
	expect_true "$name: and at least 64 of the idle ones were closed to make room ($out)" \
		[ "$(word idle_closed "$out")" -ge 64 ]

	# Oversized heads; one just under the limit is fine.
	out=$(attack head 127.0.0.1 "$port" "$path" 9 line)
	expect_eq "$name: a 9 KiB header line gets 431 ($out)" "$(word status "$out")" 431
	out=$(attack head 127.0.0.1 "$port" "$path" 9 many)
	expect_eq "$name: 9 KiB of header lines gets 431 ($out)" "$(word status "$out")" 431
	out=$(attack head 127.0.0.1 "$port" "$path" 7 many)
	expect_eq "$name: 7 KiB of header lines is served ($out)" "$(word status "$out")" 200

	code=$(in_ns curl -s -o /dev/null -w '%{http_code}' "$url")
	expect_eq "$name: still serving" "$code" 200
}

check "svcdns status endpoint" 9153 /metrics "$SD_PID"
check "svcfwd health-check port" 30900 / "$FWD_PID"

# Slowloris on both at once: each closed by the deadline (5 s from the accept).
attack slow 127.0.0.1 9153 /metrics 15 >"$WORK/slow-dns" &
s1=$!
attack slow 127.0.0.1 30900 / 15 >"$WORK/slow-fwd" &
s2=$!
wait "$s1" "$s2"
for f in dns fwd; do
	t=$(word closed_after "$(cat "$WORK/slow-$f")")
	expect_true "slowloris on the $f server is closed by the 5 s deadline (after $t s)" \
		eval '[ "$t" != never ] && awk -v t="$t" "BEGIN {exit !(t >= 4.5 && t <= 8)}"'
done

code=$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9154/metrics)
expect_eq "svcfwd's status endpoint answers /metrics" "$code" 200
stop_pid "$SD_PID"
stop_pid "$FWD_PID"
expect_true "no sanitizer reports" \
	eval '! grep -q "AddressSanitizer\|runtime error\|LeakSanitizer" "$WORK/svcdns.log" "$WORK/svcfwd.log"'
summary
