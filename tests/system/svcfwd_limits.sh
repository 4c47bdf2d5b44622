#!/usr/bin/env bash
# svcfwd at its limits, on one node of the lib/fwdnet.sh namespaces:
#   - an idle TCP connection is closed after --tcp-idle-timeout, an idle UDP flow expires after
#     --udp-timeout, and both give their descriptors back;
#   - an endpoint that never answers (a pod IP nobody holds) costs the client at most a connect
#     timeout: every request succeeds through the other pod, and the dead one is set aside;
#   - a client that stops reading does not make svcfwd buffer the server's data (backpressure:
#     its memory stays flat while 256 MiB wait), and the transfer completes once it reads;
#   - with too few file descriptors, svcfwd pauses accepting instead of spinning, stays up, and
#     serves again when connections close.
#
# Needs root and `ip netns`; without them it prints SKIP and exits 77 (ctest: skipped). Run by ctest with
# SVC_BUILD_DIR and SVC_SOURCE_DIR.
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd
FWD_TAG=sl$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down # the namespaces and everything in them

VIP=10.96.50.10 # web: http 80 -> 8080, echo 7000 -> 7000, udp 5300 -> 5300
VIP_DEAD=10.96.50.11
Z=$WORK/zones
mkdir -p "$Z"

{
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: $VIP
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: echo, port: 7000, targetPort: 7000}
  - {name: udp, port: 5300, targetPort: 5300, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: half-dead, namespace: default}
spec:
  clusterIP: $VIP_DEAD
  selector: {app: half-dead}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
EOF
	yaml_pod web-a default node-a 10.244.1.10 True app=web http:8080/TCP,echo:7000/TCP,udp:5300/UDP
	echo ---
	yaml_pod live default node-a 10.244.1.11 True app=half-dead http:8080/TCP
	echo ---
	# Ready in the manifests, but no host holds the address: connects to it never complete.
	yaml_pod ghost default node-a 10.244.1.99 True app=half-dead http:8080/TCP
} >"$Z/cluster.yaml"

fwdnet_up "10.244.1.10 10.244.1.11" "" || {
	echo "could not build the namespaces" >&2
	exit 1
}
pod_start web-a "$P1" 10.244.1.10 --http 8080 --echo 7000 --udp 5300
pod_start live "$P1" 10.244.1.11 --http 8080
pod_wait web-a live || exit 1

FWD_PID=
start_fwd() { # [svcfwd options...]
	ip netns exec "$N1" "$SVCFWD" --zones "$Z" --node node-a --http 127.0.0.1:9154 "$@" \
		>>"$WORK/svcfwd.log" 2>&1 &
	FWD_PID=$!
	track_pid "$FWD_PID"
	local i
	for ((i = 0; i < 100; i++)); do
		in_n1 curl -fs http://127.0.0.1:9154/ready >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "svcfwd did not start:" >&2
	cat "$WORK/svcfwd.log" >&2
	return 1
}
metric() { # NAME (with labels, exact) -> value
	in_n1 curl -fs http://127.0.0.1:9154/metrics | awk -v k="$1" '$1 == k {print $2}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# ---- timeouts ----------------------------------------------------------------------------------

start_fwd --tcp-idle-timeout 1 --udp-timeout 1 --connect-timeout 200 || exit 1

out=$(in_p1 "$PY" - "$VIP" <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7000), timeout=5)
t = time.monotonic()
try:
    d = s.recv(100)
    print("eof" if d == b"" else "data", round(time.monotonic() - t, 1))
except Exception as e:
    print("error", e)
EOF
)
case $out in
eof\ *) secs=${out#eof }
	if awk -v s="$secs" 'BEGIN {exit !(s >= 0.5 && s <= 3)}'; then
		pass "an idle TCP connection is closed after --tcp-idle-timeout 1 ($secs s)"
	else
		fail "an idle TCP connection is closed after --tcp-idle-timeout 1" "after $secs s"
	fi ;;
*) fail "an idle TCP connection is closed after --tcp-idle-timeout 1" "got: $out" ;;
esac
conns=$(metric svcfwd_tcp_connections)
expect_true "the idle-closed connection is gone from svcfwd_tcp_connections ($conns)" [ "$conns" = 0 ]

out=$(in_p1 "$PY" - "$VIP" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"ping", (sys.argv[1], 5300))
print(s.recvfrom(200)[0].decode())
EOF
)
expect_true "a UDP datagram through the VIP is answered ($out)" grep -q "pod=web-a port=5300:ping" <<<"$out"
flows=$(metric svcfwd_udp_flows)
expect_true "one UDP flow is open ($flows)" [ "$flows" = 1 ]
sleep 2.5
flows=$(metric svcfwd_udp_flows)
expired=$(metric svcfwd_udp_flows_expired_total)
expect_true "the idle UDP flow expired after --udp-timeout 1 (flows $flows, expired $expired)" \
	[ "$flows" = 0 -a "$expired" -ge 1 ]

# ---- an endpoint that never answers ------------------------------------------------------------

fails=0
slow=0
for i in $(seq 20); do
	t0=$(now_ms)
	if ! body=$(in_p1 curl -s -m 5 "http://$VIP_DEAD/") || ! grep -q "pod=live" <<<"$body"; then
		fails=$((fails + 1))
	fi
	[ $(($(now_ms) - t0)) -le 1500 ] || slow=$((slow + 1))
done
expect_true "20 requests with one of two endpoints black-holed: 0 failed ($fails), none over 1.5 s ($slow)" \
	[ "$fails" = 0 -a "$slow" = 0 ]
aside=$(metric 'svcfwd_endpoint_set_aside{endpoint="10.244.1.99:8080",protocol="TCP"}')
cf=$(metric 'svcfwd_endpoint_connect_failures_total{endpoint="10.244.1.99:8080",protocol="TCP"}')
expect_true "the black-holed endpoint is set aside (set_aside $aside) after timed-out connects ($cf)" \
	[ "$aside" = 1 -a "${cf:-0}" -ge 1 ]
expect_true "it was tried only a few times, not on every request ($cf of 20)" [ "${cf:-0}" -le 6 ]

# ---- backpressure ------------------------------------------------------------------------------

# A connection that moves nothing is idle even while data waits: this part needs a longer timeout.
stop_pid "$FWD_PID"
start_fwd || exit 1
rss0=$(rss_kb "$FWD_PID")
in_p1 "$PY" - "$VIP" 268435456 >"$WORK/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
n = int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.settimeout(30)
s.connect((sys.argv[1], 80))
s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % n)
print("paused", flush=True)
time.sleep(3)  # read nothing: the server's data must wait, not pile up in svcfwd
got = 0
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    got += len(d)
print("received", got, flush=True)
EOF
slow_pid=$!
sleep 2
rss1=$(rss_kb "$FWD_PID")
wait "$slow_pid"
received=$(awk '/^received/ {print $2}' "$WORK/slow.out")
expect_true "svcfwd's memory stays flat while a client does not read ($rss0 -> $rss1 KB)" \
	[ $((rss1 - rss0)) -lt 4096 ]
expect_true "the transfer completes once the client reads (received $received bytes of 256 MiB + headers)" \
	[ "${received:-0}" -gt 268435456 ]

stop_pid "$FWD_PID"

# ---- out of file descriptors -------------------------------------------------------------------

# 64 descriptors: a handful for svcfwd itself, then each connection takes two.
start_fwd --max-conns 1000 || exit 1
prlimit --pid "$FWD_PID" --nofile=64:64 || fail "prlimit"
in_p1 "$PY" - "$VIP" >"$WORK/flood.out" 2>&1 <<'EOF' &
import socket, sys, time
socks = []
for i in range(120):
    try:
        s = socket.create_connection((sys.argv[1], 7000), timeout=1)
        socks.append(s)
    except Exception:
        pass
print("open", len(socks), flush=True)
time.sleep(4)
for s in socks:
    s.close()
print("closed", flush=True)
EOF
flood=$!
sleep 1.5
t0=$(cpu_ticks "$FWD_PID")
sleep 2
t1=$(cpu_ticks "$FWD_PID")
pauses=$(metric svcfwd_tcp_accept_pauses_total)
expect_true "out of descriptors, svcfwd pauses accepting ($pauses pauses)" [ "${pauses:-0}" -ge 1 ]
expect_true "and does not spin meanwhile ($((t1 - t0)) ticks of CPU in 2 s)" [ $((t1 - t0)) -le 30 ]
expect_true "svcfwd is still running" kill -0 "$FWD_PID"
wait "$flood"
sleep 0.5
body=$(in_p1 curl -s -m 5 "http://$VIP/")
expect_true "once the connections close, it serves again ($body)" grep -q "pod=web-a" <<<"$body"
stop_pid "$FWD_PID"

if grep -q "AddressSanitizer\|runtime error" "$WORK/svcfwd.log"; then
	fail "no sanitizer reports" "$(grep -m5 "AddressSanitizer\|runtime error" "$WORK/svcfwd.log")"
else
	pass "no sanitizer reports"
fi
summary
