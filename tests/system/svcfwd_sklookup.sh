#!/usr/bin/env bash
# svcfwd's sockets do not grow with the number of services (sk_lookup), on node-a of the
# lib/fwdnet.sh namespaces: 3,000 generated services (5,400 ClusterIP ports, backends nobody
# holds) plus one service of our own written last (ClusterIP, NodePort, TCP and UDP, pods in P1),
# with svcfwd under a limit of 1,024 descriptors, far fewer than one socket per service port:
#   - TCP and UDP through the ClusterIP and the node ports of the last service are served, UDP
#     answers come from the address and port the client sent to;
#   - a port that is no service port, on a ClusterIP or a node address, is refused at once;
#   - host services bound to a node address on a service port number (80, 9090/TCP, 5353/UDP)
#     keep their traffic;
#   - svcfwd holds a few dozen descriptors, and sk_lookup's map has every service port;
#   - a reload that adds a port writes only the changed entries, keeps an open connection, and
#     serves the new port;
#   - the fallback (--no-sklookup) under the same limit binds listeners up to their share of the
#     descriptor budget (half of it, svcfwd_fd_share{kind="listen"}), counts the rest in
#     svcfwd_ports_unbound and says so in its log.
#
# Needs root, `ip netns` and a kernel that loads sk_lookup (else SKIP, exit 77).
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd svcctl
need_tools curl prlimit python3
FWD_TAG=sk$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down # the namespaces and everything in them

VIP=10.111.255.250 # far: http 9090 -> 8080, dns 5353/UDP -> 5300, node ports 32700, 32701
NODE=10.251.0.1    # node-a, as the client sees it
NOFILE=1024
Z=$WORK/zones
mkdir -p "$Z/filler" "$Z/zz"

"$PY" "$SVC_SOURCE_DIR/bench/gen_cluster.py" "$Z/filler" --services 3000 --pods 1 || exit 1
far_service() { # [extra port lines]
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: far, namespace: zz}
spec:
  type: NodePort
  clusterIP: $VIP
  selector: {app: far}
  ports:
  - {name: http, port: 9090, targetPort: 8080, nodePort: 32700}
  - {name: dns, port: 5353, targetPort: 5300, protocol: UDP, nodePort: 32701}
EOF
	cat
}
far_service </dev/null >"$Z/zz/svc.yaml"
{
	yaml_pod far-a zz node-a 10.244.1.10 True app=far http:8080/TCP,dns:5300/UDP
	echo ---
	yaml_pod far-b zz node-a 10.244.1.11 True app=far http:8080/TCP,dns:5300/UDP
} >"$Z/zz/pods.yaml"
FILLER_VIP=$("$SVCCTL" --zones "$Z" get svc -n ns-29 svc-2999 2>/dev/null | awk 'NR == 2 {print $3}')

fwdnet_up "10.244.1.10 10.244.1.11" "" || {
	echo "could not build the namespaces" >&2
	exit 1
}
pod_start far-a "$P1" 10.244.1.10 --http 8080 --udp 5300
pod_start far-b "$P1" 10.244.1.11 --http 8080 --udp 5300
pod_wait far-a far-b || exit 1

# Host services on node-a's address, on port numbers services use elsewhere.
in_n1 "$PY" - "$NODE" >"$WORK/host.log" 2>&1 <<'EOF' &
import selectors, socket, sys
addr = sys.argv[1]
sel = selectors.DefaultSelector()
for port in (80, 9090):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    sel.register(s, selectors.EVENT_READ, ("tcp", port))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((addr, 5353))
sel.register(u, selectors.EVENT_READ, ("udp", 5353))
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        kind, port = key.data
        if kind == "tcp":
            c, _ = key.fileobj.accept()
            c.settimeout(2)
            try:
                c.recv(2000)  # the request, so that closing sends FIN, not RST
                c.sendall(b"host port=%d\n" % port)
            except OSError:
                pass
            c.close()
        else:
            d, a = key.fileobj.recvfrom(2000)
            key.fileobj.sendto(b"host port=5353:" + d, a)
EOF
FWD_PIDS+=("$!")
poll 5000 grep -q ready "$WORK/host.log" || {
	cat "$WORK/host.log" >&2
	exit 1
}

FWD_PID=
start_fwd() { # LOG [svcfwd options...]
	local log=$1
	shift
	ip netns exec "$N1" prlimit --nofile=$NOFILE:$NOFILE "$SVCFWD" --zones "$Z" --node node-a \
		--http 127.0.0.1:9154 --log-level info "$@" >"$log" 2>&1 &
	FWD_PID=$!
	track_pid "$FWD_PID"
	if ! poll 20000 in_n1 curl -fs -m 1 -o /dev/null http://127.0.0.1:9154/ready; then
		echo "svcfwd did not become ready:" >&2
		tail -20 "$log" >&2
		return 1
	fi
}
metric() { in_n1 curl -fs -m 3 http://127.0.0.1:9154/metrics | awk -v k="$1" '$1 == k {print $2}'; }
n_fds() { ls "/proc/$FWD_PID/fd" | wc -l; }

# TCP: "pod=NAME ..." or what went wrong, and how long it took.
tcp_ask() { # NS ADDR PORT
	ip netns exec "$1" "$PY" - "$2" "$3" <<'EOF'
import socket, sys, time
t = time.monotonic()
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    body = buf.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
    print(body.split()[0] if body else "empty")
except ConnectionRefusedError:
    print("refused %.3f" % (time.monotonic() - t))
except OSError as e:
    print("error %s" % e)
EOF
}
# UDP: "FROM-ADDR:FROM-PORT ANSWER" or "timeout" (unconnected: any source is seen); with
# CONNECTED, "refused" when ICMP port unreachable comes back.
udp_ask() { # NS ADDR PORT [connected]
	ip netns exec "$1" "$PY" - "$2" "$3" "${4:-}" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
dst = (sys.argv[1], int(sys.argv[2]))
try:
    if sys.argv[3]:
        s.connect(dst)
        s.send(b"hi")
    else:
        s.sendto(b"hi", dst)
    d, a = s.recvfrom(2000)
    print("%s:%d %s" % (a[0], a[1], d.decode(errors="replace").split(":")[0]))
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error %s" % e)
EOF
}
refused_fast() { [[ $1 == refused* ]] && awk -v t="${1#refused }" 'BEGIN { exit !(t < 0.2) }'; }

# ---- sk_lookup ---------------------------------------------------------------------------------

start_fwd "$WORK/svcfwd.log" || exit 1
if grep -q 'sk_lookup unavailable' "$WORK/svcfwd.log"; then
	grep sk_lookup "$WORK/svcfwd.log"
	skip "svcfwd could not load sk_lookup here"
fi
expect_eq "svcfwd serves 3,001 services under a limit of $NOFILE descriptors with sk_lookup" \
	"$(metric svcfwd_sklookup)" 1
expect_eq "every service port is in the sk_lookup map (5,400 ClusterIP ports + 2 + 2 node ports x 2 families)" \
	"$(metric svcfwd_sklookup_entries)" 5406
expect_eq "no service port is left unbound" "$(metric svcfwd_ports_unbound)" 0
fds=$(n_fds)
# The fast path's program and maps hold a dozen more, fixed as well.
expect_true "svcfwd holds few descriptors ($fds)" [ "$fds" -le 56 ]
listeners="$(metric 'svcfwd_listeners{protocol="TCP"}') $(metric 'svcfwd_listeners{protocol="UDP"}')"
expect_eq "two TCP and two UDP sockets listen" "$listeners" "2 2"

seen=
for i in 1 2 3 4; do seen+="$(tcp_ask "$P1" "$VIP" 9090) "; done
expect_eq "TCP through the last service's ClusterIP reaches both its pods" \
	"$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | tr '\n' ' ')" "pod=far-a pod=far-b "
out=$(udp_ask "$P1" "$VIP" 5353)
expect_true "UDP through the ClusterIP is answered from $VIP:5353 ($out)" \
	grep -Eq "^$VIP:5353 pod=far-[ab] " <<<"$out"
out=$(tcp_ask "$C" "$NODE" 32700)
expect_true "TCP through the node port from outside ($out)" grep -Eq '^pod=far-[ab]$' <<<"$out"
out=$(udp_ask "$C" "$NODE" 32701)
expect_true "UDP through the node port is answered from $NODE:32701 ($out)" \
	grep -Eq "^$NODE:32701 pod=far-[ab] " <<<"$out"
out=$(tcp_ask "$N1" 127.0.0.1 32700)
expect_true "TCP through the node port on loopback ($out)" grep -Eq '^pod=far-[ab]$' <<<"$out"
replies=$(metric svcfwd_udp_reply_sockets)
# The node port's flow from outside goes through the fast path when it is on (no reply socket).
want=$((2 - $(metric svcfwd_fast_path)))
expect_eq "one reply socket per service address and port with relayed flows" "$replies" "$want"

out=$(tcp_ask "$P1" "$VIP" 9091)
expect_true "a port that is no service port on the ClusterIP is refused at once ($out)" refused_fast "$out"
out=$(tcp_ask "$P1" "$FILLER_VIP" 81)
expect_true "and on a generated service's ClusterIP $FILLER_VIP:81 ($out)" refused_fast "$out"
out=$(udp_ask "$P1" "$VIP" 5354 connected)
expect_eq "a UDP port that is no service port gets port unreachable" "$out" refused
out=$(tcp_ask "$C" "$NODE" 9091)
expect_true "a port nobody holds on the node address is refused at once ($out)" refused_fast "$out"

out=$(tcp_ask "$C" "$NODE" 9090)
expect_eq "a host service on $NODE:9090 (a ClusterIP port number) keeps its traffic" "$out" "host"
out=$(tcp_ask "$C" "$NODE" 80)
expect_eq "a host service on $NODE:80 (5,400 ClusterIP ports use 80) keeps its traffic" "$out" "host"
out=$(udp_ask "$C" "$NODE" 5353)
expect_eq "a host UDP service on $NODE:5353 keeps its traffic" "$out" "$NODE:5353 host port=5353"

# ---- a reload at this size ---------------------------------------------------------------------

in_p1 "$PY" - "$VIP" >"$WORK/keep.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection((sys.argv[1], 9090), timeout=10)
def ask():
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while not (b"\r\n\r\n" in buf and buf.endswith(b"\n") and not buf.endswith(b"\r\n\r\n")):
        d = s.recv(4096)
        if not d:
            return "EOF"
        buf += d
    return buf.split(b"\r\n\r\n", 1)[1].split()[0].decode()
print("before", ask(), flush=True)
time.sleep(3)
print("after", ask(), flush=True)
EOF
keep=$!
poll 3000 grep -q before "$WORK/keep.out"
far_service >"$Z/zz/.svc.tmp" <<EOF
  - {name: extra, port: 9191, targetPort: 8080}
EOF
mv "$Z/zz/.svc.tmp" "$Z/zz/svc.yaml"
served_9191() { [[ $(in_p1 curl -s -m 1 "http://$VIP:9191/") == pod=far-* ]]; }
expect_true "a port added to the last service is served within 3 s" poll 3000 served_9191
wait "$keep"
expect_true "a connection open across the reload goes on ($(tr '\n' ' ' <"$WORK/keep.out"))" \
	grep -Eq '^after pod=far-[ab]$' "$WORK/keep.out"
line=$(grep 'sk_lookup: .* service ports' "$WORK/svcfwd.log" | tail -1)
added=$(sed -n 's/.*(\([0-9]*\) added, \([0-9]*\) removed.*/\1 \2/p' <<<"$line")
expect_true "the reload wrote only the changed map entries: '$line'" \
	awk -v a="${added% *}" -v r="${added#* }" 'BEGIN { exit !(a >= 1 && a <= 3 && r == 0) }'
stop_pid "$FWD_PID"

# ---- the fallback under the same limit ---------------------------------------------------------

start_fwd "$WORK/fallback.log" --no-sklookup || exit 1
unbound=$(metric svcfwd_ports_unbound)
fds=$(n_fds)
share=$(metric 'svcfwd_fd_share{kind="listen"}')
used=$(metric 'svcfwd_fd_used{kind="listen"}')
expect_true "--no-sklookup: listeners fill their share of the budget ($used of $share; $fds descriptors of $NOFILE), the rest counted ($unbound unbound)" \
	[ "${share:-0}" -ge $((NOFILE / 4)) -a "${used:-0}" = "${share:-x}" -a "$fds" -le $NOFILE -a "$fds" -ge "${share:-0}" -a "${unbound:-0}" -ge 4800 ]
expect_true "and the log says so, once" \
	test "$(grep -c "service ports not bound: the share of $share sockets for them (of $NOFILE descriptors)" "$WORK/fallback.log")" = 1
expect_true "no 'Too many open files' flood" \
	test "$(grep -c 'Too many open files' "$WORK/fallback.log")" -le 6
expect_true "svcfwd is still running" kill -0 "$FWD_PID"
stop_pid "$FWD_PID"

if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error" "$WORK/svcfwd.log" "$WORK/fallback.log"; then
	fail "no sanitizer reports" "$(grep -m5 "AddressSanitizer\|LeakSanitizer\|runtime error" "$WORK"/*.log)"
else
	pass "no sanitizer reports"
fi
[ "$T_FAILED" -eq 0 ] || tail -20 "$WORK/svcfwd.log"
summary
