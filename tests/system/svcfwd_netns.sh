#!/usr/bin/env bash
# svcfwd on a two-node "cluster" of network namespaces (see lib/fwdnet.sh for the picture): two
# node namespaces running svcfwd (node-a, node-b), a pods namespace behind each with the pod IPs,
# one python server per pod (lib/podserver.py), an outside client, svcdns as the kube-dns pod.
# Real clients (curl, python sockets, iperf3, glibc's resolver) check:
#   ClusterIP round robin over exactly the ready selected pods on the named targetPort, two ports,
#   UDP, sessionAffinity ClientIP; NodePort on node addresses, loopback and IPv6; LoadBalancer IPs
#   (status and --lb-pool); both nodes, externalTrafficPolicy Local; a pod killed mid-run, a pod
#   added, a service without endpoints refused at once; 1 GiB byte-exact, half-close both ways;
#   iperf3; `curl http://backend/` by name through kube-dns; reload (a removed pod gets no new
#   connections, its established ones go on; a broken manifest keeps the last good model);
#   /metrics; SIGTERM exits 0 and removes the route.
#
# Needs root and `ip netns`; without them it prints SKIP and exits 77 (ctest: skipped). Without $SVC_BUILD_DIR/svcfwd
# it checks the topology and the pod servers only, then prints SKIP and exits 77. Everything it
# makes (namespaces, veths, /etc/netns/NS, the temporary directory, processes) is removed on exit.
# Run by ctest with SVC_BUILD_DIR and SVC_SOURCE_DIR.
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcctl
need_tools curl dig getent python3 iperf3 sha256sum
Z=$WORK/zones
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down # the namespaces and everything in them

# ---- addresses ---------------------------------------------------------------------------------

VIP_BACKEND=10.96.100.10 # backend: http 80 -> named "http", admin 9090 -> 9090
VIP_STICKY=10.96.100.11  # sticky: the backend pods, sessionAffinity ClientIP
VIP_UDP=10.96.100.12     # udpecho: 5300/UDP -> named "echo-udp"
VIP_WEB=10.96.100.20     # web: NodePort 30080
VIP_VICTIM=10.96.100.30  # victim: pods killed and added
VIP_EMPTY=10.96.100.31   # empty: no endpoints
VIP_BULK=10.96.100.40    # bulk: http 80, echo 7000, speak 7001
VIP_IPERF=10.96.100.41   # iperf: 5201
VIP_RELOAD=10.96.100.50  # reload: pods removed and a manifest broken
VIP_DNS=10.96.0.10       # kube-dns
LB_STATUS=198.51.100.10  # web-lb's status.loadBalancer.ingress ip
LB_POOL=192.0.2.0/28     # --lb-pool, for web-pool
EXT_IP=203.0.113.7       # web's externalIPs
HTTP_ADDR=127.0.0.1:10256

P1_IPS="10.244.1.2 10.244.1.20 10.244.1.21 10.244.1.22 10.244.1.30 10.244.1.40 10.244.1.41 10.244.1.42 10.244.1.50 10.244.1.51"
P2_IPS="10.244.2.20 10.244.2.21 10.244.2.30 10.244.2.40 10.244.2.60 10.244.2.61"

if ! fwdnet_up "$P1_IPS" "$P2_IPS" || ! fwdnet_lb "$LB_STATUS" "$EXT_IP" || ! fwdnet_lb_route "$LB_POOL"; then
	echo "svcfwd_netns.sh: could not build the namespaces" >&2
	exit 1
fi
netns_resolv_conf "$P1" <<EOF || exit 1
nameserver $VIP_DNS
search shop.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:2 attempts:2
EOF

# ---- pods --------------------------------------------------------------------------------------

BK=(--http "8080,8081,9090" --udp 5300) # every backend-ish pod serves all of these
pod_start backend-a "$P1" 10.244.1.20 "${BK[@]}"
pod_start backend-nr "$P1" 10.244.1.21 "${BK[@]}" # selected, not ready
pod_start other-x "$P1" 10.244.1.22 "${BK[@]}"    # ready, another label
pod_start backend-b "$P2" 10.244.2.20 "${BK[@]}"  # its "http" is 8081
pod_start backend-c "$P2" 10.244.2.21 "${BK[@]}"
pod_start web-a "$P1" 10.244.1.30 --http 8080
pod_start web-b "$P2" 10.244.2.30 --http 8080
pod_start victim-1 "$P1" 10.244.1.40 --http 8080
pod_start victim-2 "$P2" 10.244.2.40 --http 8080
pod_start victim-3 "$P1" 10.244.1.41 --http 8080
pod_start victim-4 "$P1" 10.244.1.42 --http 8080 # in the manifests only later
pod_start rl-1 "$P1" 10.244.1.50 --http 8080
pod_start rl-2 "$P1" 10.244.1.51 --http 8080
pod_start bulk-b "$P2" 10.244.2.60 --http 8080 --echo 7000 --speak 7001
ip netns exec "$P2" iperf3 -s -B 10.244.2.61 -p 5201 >"$WORK/iperf3.log" 2>&1 &
track_pid "$!"
if ! pod_wait backend-a backend-nr other-x backend-b backend-c web-a web-b victim-1 victim-2 \
	victim-3 victim-4 rl-1 rl-2 bulk-b; then
	echo "svcfwd_netns.sh: the pod servers did not start" >&2
	exit 1
fi

# ---- manifests ---------------------------------------------------------------------------------

mkdir -p "$Z/shop" "$Z/kube-system"
cat >"$Z/namespaces.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: default
---
apiVersion: v1
kind: Namespace
metadata:
  name: kube-system
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
EOF

svc() { # NAME CLUSTER-IP SELECTOR-APP [TYPE] then the ports and extra spec lines on stdin
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: shop
spec:
  type: ${4:-ClusterIP}
  clusterIP: $2
  selector:
    app: $3
EOF
	cat
}
{
	svc backend $VIP_BACKEND backend <<EOF
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: admin
    port: 9090
    targetPort: 9090
EOF
	svc sticky $VIP_STICKY backend <<EOF
  sessionAffinity: ClientIP
  ports:
  - name: http
    port: 80
    targetPort: http
EOF
	svc udpecho $VIP_UDP backend <<EOF
  ports:
  - name: echo
    port: 5300
    protocol: UDP
    targetPort: echo-udp
EOF
	svc web $VIP_WEB web NodePort <<EOF
  externalIPs:
  - $EXT_IP
  ports:
  - name: http
    port: 80
    targetPort: 8080
    nodePort: 30080
EOF
	svc web-local 10.96.100.21 web NodePort <<EOF
  externalTrafficPolicy: Local
  ports:
  - name: http
    port: 80
    targetPort: 8080
    nodePort: 30081
EOF
	svc web-ilocal 10.96.100.24 web <<EOF
  internalTrafficPolicy: Local
  ports:
  - name: http
    port: 80
    targetPort: 8080
EOF
	svc web-lb 10.96.100.22 web LoadBalancer <<EOF
  ports:
  - name: http
    port: 80
    targetPort: 8080
    nodePort: 30082
status:
  loadBalancer:
    ingress:
    - ip: $LB_STATUS
EOF
	svc web-pool 10.96.100.23 web LoadBalancer <<EOF
  ports:
  - name: http
    port: 8080
    targetPort: 8080
    nodePort: 30083
EOF
	svc victim $VIP_VICTIM victim <<EOF
  ports:
  - name: http
    port: 80
    targetPort: 8080
EOF
	svc empty $VIP_EMPTY nothing <<EOF
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: udp
    port: 5300
    protocol: UDP
EOF
	svc bulk $VIP_BULK bulk <<EOF
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: echo
    port: 7000
  - name: speak
    port: 7001
EOF
	svc iperf $VIP_IPERF iperf <<EOF
  ports:
  - name: iperf
    port: 5201
EOF
	svc reload $VIP_RELOAD rl <<EOF
  ports:
  - name: http
    port: 80
    targetPort: 8080
EOF
} >"$Z/shop/services.yaml"

BK_PORTS8080=http:8080/TCP,admin:9090/TCP,echo-udp:5300/UDP
BK_PORTS8081=http:8081/TCP,admin:9090/TCP,echo-udp:5300/UDP
{
	yaml_pod backend-a shop node-a 10.244.1.20 True app=backend,tier=api $BK_PORTS8080
	echo ---
	yaml_pod backend-nr shop node-a 10.244.1.21 False app=backend,tier=api $BK_PORTS8080
	echo ---
	yaml_pod other-x shop node-a 10.244.1.22 True app=other $BK_PORTS8080
	echo ---
	yaml_pod backend-b shop node-b 10.244.2.20 True app=backend,tier=api $BK_PORTS8081
	echo ---
	yaml_pod backend-c shop node-b 10.244.2.21 True app=backend,tier=api $BK_PORTS8080
} >"$Z/shop/backend.yaml"
{
	yaml_pod web-a shop node-a 10.244.1.30 True app=web http:8080/TCP
	echo ---
	yaml_pod web-b shop node-b 10.244.2.30 True app=web http:8080/TCP
} >"$Z/shop/web.yaml"
{
	yaml_pod victim-1 shop node-a 10.244.1.40 True app=victim http:8080/TCP
	echo ---
	yaml_pod victim-2 shop node-b 10.244.2.40 True app=victim http:8080/TCP
	echo ---
	yaml_pod victim-3 shop node-a 10.244.1.41 True app=victim http:8080/TCP
} >"$Z/shop/victim.yaml"
RELOAD_RL1=$(yaml_pod rl-1 shop node-a 10.244.1.50 True app=rl http:8080/TCP)
RELOAD_BOTH=$(printf '%s\n---\n' "$RELOAD_RL1" && yaml_pod rl-2 shop node-a 10.244.1.51 True app=rl http:8080/TCP)
echo "$RELOAD_BOTH" >"$Z/shop/reload.yaml"
echo "$RELOAD_RL1" >"$WORK/reload-rl1.yaml"
{
	yaml_pod bulk-b shop node-b 10.244.2.60 True app=bulk http:8080/TCP,echo:7000/TCP,speak:7001/TCP
	echo ---
	yaml_pod iperf-b shop node-b 10.244.2.61 True app=iperf iperf:5201/TCP
} >"$Z/shop/bulk.yaml"
{
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
spec:
  clusterIP: $VIP_DNS
  selector:
    k8s-app: kube-dns
  ports:
  - name: dns
    port: 53
    protocol: UDP
    targetPort: dns
  - name: dns-tcp
    port: 53
    protocol: TCP
    targetPort: dns-tcp
---
EOF
	yaml_pod svcdns-node-a kube-system node-a 10.244.1.2 True k8s-app=kube-dns dns:53/UDP,dns-tcp:53/TCP
} >"$Z/kube-system/kube-dns.yaml"

# ---- helpers -----------------------------------------------------------------------------------

# http_n NS N URL [curl options...]: N requests, each on a new connection; prints each body and a
# "code=NNN" line after it (code=000: the request failed).
http_n() {
	local ns=$1 n=$2 url=$3 i urls=()
	shift 3
	for ((i = 0; i < n; i++)); do urls+=("$url"); done
	ip netns exec "$ns" curl -gs --max-time 5 -H 'Connection: close' -w 'code=%{http_code}\n' "$@" "${urls[@]}"
}
# Who answered: "pod:port" per answer, sorted, with counts ("N pod:port").
tally() { awk '/^pod=/ { sub("pod=", "", $1); sub("port=", "", $2); print $1 ":" $2 }' | sort | uniq -c; }
# The distinct pods that answered, space separated.
pods_seen() { awk '/^pod=/ { sub("pod=", "", $1); print $1 }' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
n_ok() { grep -c '^code=200$'; }

# expect_http DESC NS N URL EXPECTED-PODS [curl options...]: N answers, all 200, from exactly the
# pods EXPECTED-PODS (sorted, space separated).
expect_http() {
	local desc=$1 ns=$2 n=$3 url=$4 want=$5 out got ok
	shift 5
	out=$(http_n "$ns" "$n" "$url" "$@" 2>&1)
	got=$(pods_seen <<<"$out")
	ok=$(n_ok <<<"$out")
	if [ "$ok" -eq "$n" ] && [ "$got" == "$want" ]; then
		pass "$desc"
	else
		fail "$desc" "expected $n answers from: $want" "got $ok answers from: $got" "$(tally <<<"$out")"
	fi
}

# ---- the topology and the pods, without svcfwd --------------------------------------------------

GEN_PID=
HASH_1G=
if [ -x "$SVCFWD" ]; then # the expected hash of 1 GiB, computed while the rest goes on
	("$PY" "$T_LIB/podserver.py" --gen 1073741824 | sha256sum | cut -d" " -f1 >"$WORK/hash-1g") </dev/null >/dev/null 2>&1 &
	GEN_PID=$!
fi

out=$("$SVCCTL" --zones "$Z" check 2>&1)
expect_true "svcctl check accepts the generated manifests" test $? -eq 0
out=$("$SVCCTL" --zones "$Z" get endpoints -A 2>&1)
want_eps=(
	"backend 10.244.1.20:8080,10.244.1.20:9090,10.244.2.20:8081,10.244.2.20:9090,10.244.2.21:8080,10.244.2.21:9090"
	"empty <none>"
	"kube-dns 10.244.1.2:53,10.244.1.2:53"
)
bad=
for w in "${want_eps[@]}"; do
	got=$(awk -v n="${w%% *}" '$2 == n { print $3 }' <<<"$out" | tr , '\n' | sort | tr '\n' , | sed 's/,$//')
	[ "$got" == "${w#* }" ] || bad+="$w; "
done
if [ -z "$bad" ]; then pass "svcctl get endpoints: ready pods only, named ports resolved per pod"; else
	fail "svcctl get endpoints: ready pods only, named ports resolved per pod" "missing: $bad" "$out"
fi

out=$(in_n1 curl -s --max-time 3 http://10.244.1.20:8080/)
expect_true "node-a reaches its pod: '$out'" [ "$out" == "pod=backend-a port=8080 from=10.244.1.1" ]
out=$(in_n1 curl -s --max-time 3 http://10.244.2.20:8081/)
expect_true "node-a reaches node-b's pod: '$out'" [ "$out" == "pod=backend-b port=8081 from=10.250.0.1" ]
out=$(in_p1 curl -s --max-time 3 http://10.244.2.21:9090/)
expect_true "a pod reaches a pod on the other node: '$out'" [ "$out" == "pod=backend-c port=9090 from=10.244.1.100" ]
out=$(in_c curl -s --max-time 3 http://10.244.2.30:8080/)
expect_true "the outside client reaches node-b's pod through node-a: '$out'" [ "$out" == "pod=web-b port=8080 from=10.251.0.2" ]
bad=
for name in "${!POD_IP[@]}"; do
	out=$(in_n1 curl -s --max-time 3 "http://${POD_IP[$name]}:8080/")
	[ "$out" == "pod=$name port=8080 from=${POD_IP[$name]%.*}.1" ] ||
		[ "$out" == "pod=$name port=8080 from=10.250.0.1" ] || bad+="$name: '$out'; "
done
expect_true "every pod's HTTP server answers from node-a $bad" [ -z "$bad" ]
out=$(in_p1 "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"ping", ("10.244.2.20", 5300)); d, a = s.recvfrom(1000); print(a[0], d.decode())' 2>&1)
expect_true "UDP echo across the nodes: '$out'" [ "$out" == "10.244.2.20 pod=backend-b port=5300:ping" ]
out=$(in_p1 curl -s --max-time 10 "http://10.244.2.60:8080/bytes?n=67108864" | sha256sum | cut -d' ' -f1)
want=$("$PY" "$T_LIB/podserver.py" --gen 67108864 | sha256sum | cut -d' ' -f1)
expect_true "64 MiB straight from the pod hashes as generated locally" [ "$out" == "$want" ]

# half-close both ways: HOST PORT (echo) and HOST PORT (speak); prints what it saw
HALFCLOSE_PY='
import hashlib, socket, sys, time
host, echo_port, speak_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def read_all(s):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d
s = socket.create_connection((host, echo_port), timeout=5)
data = bytes(range(256)) * 400
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = read_all(s)
s.close()
print("echo", "same" if got[:len(data)] == data else "differs", got[len(data):].decode(errors="replace").strip())
s = socket.create_connection((host, speak_port), timeout=5)
greeting = read_all(s)            # the server half-closed: EOF, yet we may still send
time.sleep(0.2)
h = hashlib.sha256()
try:
    for i in range(5):
        chunk = bytes([65 + i]) * 10000
        s.sendall(chunk)
        h.update(chunk)
        time.sleep(0.05)
    s.shutdown(socket.SHUT_WR)
    rest = read_all(s)
    print("speak", greeting.decode(errors="replace").strip(), "| after:", "eof" if rest == b"" else repr(rest), "| sent", h.hexdigest())
except OSError as e:
    print("speak", greeting.decode(errors="replace").strip(), "| error:", e)
'
halfclose_check() { # LABEL HOST [CLIENT-NS]
	local label=$1 host=$2 ns=${3:-$P1} out sum want_speak
	out=$(ip netns exec "$ns" "$PY" -c "$HALFCLOSE_PY" "$host" 7000 7001 2>&1)
	if grep -qx "echo same pod=bulk-b port=7000 bytes=102400 done" <<<"$out"; then
		pass "$label: the client half-closes, the server's trailer still arrives"
	else
		fail "$label: the client half-closes, the server's trailer still arrives" "expected: echo same pod=bulk-b port=7000 bytes=102400 done" "got: $out"
	fi
	sum=$(sed -n 's/^speak .*| sent \([0-9a-f]*\)$/\1/p' <<<"$out")
	want_speak="speak pod=bulk-b port=7001 received=50000 sha256=$sum"
	sleep 0.1
	if grep -q "^speak pod=bulk-b port=7001 hello | after: eof | sent " <<<"$out" &&
		[ -n "$sum" ] && grep -qx "$want_speak" "$WORK/pod-bulk-b.log"; then
		pass "$label: the server half-closes first, the client's later data still arrives"
	else
		fail "$label: the server half-closes first, the client's later data still arrives" \
			"client: $out" "server log: $(grep '^speak' "$WORK/pod-bulk-b.log" | tail -3)" "expected in server log: $want_speak"
	fi
}
halfclose_check "straight to the pod" 10.244.2.60

out=$(in_p1 timeout 20 iperf3 -c 10.244.2.61 -p 5201 -t 1 2>&1)
expect_true "iperf3 straight to the pod" grep -q 'receiver' <<<"$out"

ip netns exec "$P1" "$SVCDNS" --zones "$Z" --listen 10.244.1.2:53 --upstream 127.0.0.1:9 --threads 1 \
	>"$WORK/svcdns.out" 2>"$WORK/svcdns.err" &
SD_PID=$!
track_pid "$SD_PID"
end=$(($(now_ms) + 10000))
out=
until [ "$out" == "$VIP_BACKEND" ] || [ "$(now_ms)" -ge "$end" ] || ! kill -0 "$SD_PID" 2>/dev/null; do
	sleep 0.05
	out=$(in_p1 dig @10.244.1.2 +short +time=1 +tries=1 backend.shop.svc.cluster.local A 2>/dev/null)
done
expect_true "svcdns as the kube-dns pod answers backend.shop.svc.cluster.local: '$out'" [ "$out" == "$VIP_BACKEND" ]

if [ ! -x "$SVCFWD" ]; then
	summary || exit 1
	skip "svcfwd not built ($SVCFWD)"
fi

# ---- svcfwd on both nodes ----------------------------------------------------------------------

out=$("$SVCFWD" --zones "$Z" --check 2>&1)
expect_true "svcfwd --check accepts the manifests" test $? -eq 0

FWD_ARGS=(--zones "$Z" --lb-pool "$LB_POOL" --http "$HTTP_ADDR" --log-level info)
ip netns exec "$N1" "$SVCFWD" "${FWD_ARGS[@]}" --node node-a >"$WORK/svcfwd-a.out" 2>"$WORK/svcfwd-a.err" &
FWD_A=$!
track_pid "$FWD_A"
# node-b copies through user space if svcfwd can (its bulk and half-close checks below are from P2).
NO_SPLICE=()
! "$SVCFWD" --help 2>&1 | grep -q -- --no-splice || NO_SPLICE=(--no-splice)
ip netns exec "$N2" "$SVCFWD" "${FWD_ARGS[@]}" "${NO_SPLICE[@]}" --node node-b >"$WORK/svcfwd-b.out" 2>"$WORK/svcfwd-b.err" &
FWD_B=$!
track_pid "$FWD_B"
ready() { [ "$(ip netns exec "$1" curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://$HTTP_ADDR/ready")" == 200 ]; }
end=$(($(now_ms) + 10000))
until ready "$N1" && ready "$N2"; do
	if ! kill -0 "$FWD_A" 2>/dev/null || ! kill -0 "$FWD_B" 2>/dev/null || [ "$(now_ms)" -ge "$end" ]; then
		echo "svcfwd_netns.sh: svcfwd did not become ready" >&2
		sed 's/^/  node-a | /' "$WORK/svcfwd-a.err" >&2
		sed 's/^/  node-b | /' "$WORK/svcfwd-b.err" >&2
		fail "svcfwd becomes ready on both nodes"
		summary
		exit 1
	fi
	sleep 0.05
done
pass "svcfwd becomes ready on both nodes"
expect_true "svcfwd added the local route for the service CIDR" grep -q '10.96.0.0/12' <(ip -n "$N1" route show table local)

# 1. ClusterIP ------------------------------------------------------------------------------------

out=$(http_n "$P1" 60 "http://$VIP_BACKEND/" 2>&1)
got=$(tally <<<"$out" | awk '{ printf "%s=%s ", $2, $1 }')
if [ "$(n_ok <<<"$out")" -eq 60 ] && [ "$(tally <<<"$out" | awk '{ print $2 }' | tr '\n' ' ')" == "backend-a:8080 backend-b:8081 backend-c:8080 " ] &&
	tally <<<"$out" | awk '{ if ($1 < 18 || $1 > 22) bad = 1 } END { exit bad }'; then
	pass "ClusterIP: 60 requests round robin over the 3 ready pods on the named targetPort ($got)"
else
	fail "ClusterIP: 60 requests round robin over the 3 ready pods on the named targetPort" \
		"expected 60 answers, 20±2 each from backend-a:8080 backend-b:8081 backend-c:8080" \
		"got $(n_ok <<<"$out") answers: $got"
fi
expect_http "ClusterIP: the second service port goes to its own targetPort" "$P1" 6 "http://$VIP_BACKEND:9090/" "backend-a backend-b backend-c"
out=$(http_n "$P1" 6 "http://$VIP_BACKEND:9090/" 2>&1 | tally | awk '{ print $2 }' | tr '\n' ' ')
expect_true "ClusterIP: port 9090 answers on 9090 only: '$out'" [ "$out" == "backend-a:9090 backend-b:9090 backend-c:9090 " ]
out=$(http_n "$P1" 20 "http://$VIP_STICKY/" 2>&1)
if [ "$(n_ok <<<"$out")" -eq 20 ] && [ "$(tally <<<"$out" | wc -l)" -eq 1 ]; then
	pass "sessionAffinity ClientIP: 20 requests from one client, one pod ($(pods_seen <<<"$out"))"
else
	fail "sessionAffinity ClientIP: 20 requests from one client, one pod" "got $(n_ok <<<"$out") answers: $(tally <<<"$out" | tr '\n' ' ')"
fi
out=$(http_n "$P1" 20 "http://$VIP_STICKY/" --interface 10.244.1.22 2>&1)
if [ "$(n_ok <<<"$out")" -eq 20 ] && [ "$(tally <<<"$out" | wc -l)" -eq 1 ]; then
	pass "sessionAffinity ClientIP: another client address, one pod ($(pods_seen <<<"$out"))"
else
	fail "sessionAffinity ClientIP: another client address, one pod" "got $(n_ok <<<"$out") answers: $(tally <<<"$out" | tr '\n' ' ')"
fi

out=$(in_p1 "$PY" -c '
import socket, sys
vip = sys.argv[1]
def ask(s, payload):
    s.sendto(payload, (vip, 5300))
    d, a = s.recvfrom(2000)
    return "%s:%d %s" % (a[0], a[1], d.decode(errors="replace"))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for i in range(5):
    print("one", ask(s, b"one-%d" % i))
for i in range(6):
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.settimeout(2)
    print("new", ask(t, b"new-%d" % i))
' "$VIP_UDP" 2>&1)
from_vip=$(grep -c "^[a-z]* $VIP_UDP:5300 pod=backend-[abc] port=5300:[a-z]*-[0-9]\$" <<<"$out")
one=$(awk '$1 == "one" { split($3, a, ":"); print a[1] }' <<<"$out" | sort -u | wc -l)
new=$(awk '$1 == "new" { split($3, a, ":"); print a[1] }' <<<"$out" | sort -u | tr '\n' ' ')
if [ "$from_vip" -eq 11 ] && [ "$one" -eq 1 ] && [ "$new" == "pod=backend-a pod=backend-b pod=backend-c " ]; then
	pass "UDP ClusterIP: answers come from the VIP; one flow one pod; new flows round robin over the ready pods"
else
	fail "UDP ClusterIP: answers come from the VIP; one flow one pod; new flows round robin over the ready pods" \
		"expected 11 answers from $VIP_UDP:5300, 1 pod for one socket, 3 ready pods for 6 sockets" "got:" "$out"
fi

# 2. NodePort and LoadBalancer --------------------------------------------------------------------

expect_http "NodePort from outside on node-a's address (10.251.0.1:30080)" "$C" 4 "http://10.251.0.1:30080/" "web-a web-b"
expect_http "NodePort on node-a's loopback (127.0.0.1:30080)" "$N1" 4 "http://127.0.0.1:30080/" "web-a web-b"
expect_http "NodePort from outside on node-a's IPv6 address ([fd00:251::1]:30080)" "$C" 4 "http://[fd00:251::1]:30080/" "web-a web-b"
expect_http "NodePort from outside on node-b's IPv6 address ([fd00:250::2]:30080)" "$C" 4 "http://[fd00:250::2]:30080/" "web-a web-b"
expect_http "ClusterIP of the NodePort service" "$P1" 4 "http://$VIP_WEB/" "web-a web-b"
expect_http "LoadBalancer status ingress IP from outside ($LB_STATUS:80)" "$C" 4 "http://$LB_STATUS/" "web-a web-b"
expect_http "LoadBalancer's nodePort (30082)" "$C" 4 "http://10.251.0.1:30082/" "web-a web-b"
found=
for i in $(seq 1 14); do
	out=$(in_c curl -s --max-time 1 "http://192.0.2.$i:8080/" 2>/dev/null)
	[[ $out == pod=web-* ]] && found+="192.0.2.$i "
done
expect_true "LoadBalancer IP from --lb-pool $LB_POOL: exactly one pool address answers ('$found')" \
	[ "$(wc -w <<<"$found")" -eq 1 ]

# 3. Two nodes ------------------------------------------------------------------------------------

expect_http "NodePort on node-a (10.250.0.1:30080) reaches pods on both nodes" "$C" 8 "http://10.250.0.1:30080/" "web-a web-b"
expect_http "NodePort on node-b (10.250.0.2:30080) reaches pods on both nodes" "$C" 8 "http://10.250.0.2:30080/" "web-a web-b"
expect_http "externalTrafficPolicy Local on node-a (10.251.0.1:30081): node-a's pod only" "$C" 10 "http://10.251.0.1:30081/" "web-a"
expect_http "externalTrafficPolicy Local on node-b (10.250.0.2:30081): node-b's pod only" "$C" 10 "http://10.250.0.2:30081/" "web-b"
expect_http "ClusterIP from node-b's pods" "$P2" 6 "http://$VIP_BACKEND/" "backend-a backend-b backend-c"
expect_http "internalTrafficPolicy Local from node-a's pods: node-a's pod only" "$P1" 6 "http://10.96.100.24/" "web-a"
expect_http "internalTrafficPolicy Local from node-b's pods: node-b's pod only" "$P2" 6 "http://10.96.100.24/" "web-b"
expect_http "externalIPs from outside ($EXT_IP:80, held by node-a)" "$C" 4 "http://$EXT_IP/" "web-a web-b"

# 7. The whole path by name -----------------------------------------------------------------------

out=$(in_p1 dig @"$VIP_DNS" +short +time=2 +tries=1 backend.shop.svc.cluster.local A 2>&1)
expect_true "DNS over UDP through the kube-dns ClusterIP: '$out'" [ "$out" == "$VIP_BACKEND" ]
out=$(in_p1 dig @"$VIP_DNS" +tcp +short +time=2 +tries=1 backend.shop.svc.cluster.local A 2>&1)
expect_true "DNS over TCP through the kube-dns ClusterIP: '$out'" [ "$out" == "$VIP_BACKEND" ]
out=$(in_p1 getent hosts backend 2>&1)
expect_true "getent hosts backend (resolv.conf: nameserver $VIP_DNS): '$out'" grep -q "^$VIP_BACKEND " <<<"$out"
out=$(in_p1 curl -sS --max-time 5 http://backend/ 2>&1)
expect_true "curl http://backend/ by name reaches a backend pod: '$out'" grep -Eq '^pod=backend-[abc] port=808[01] ' <<<"$out"

# 5. Bulk and half-close --------------------------------------------------------------------------

halfclose_check "through the ClusterIP" "$VIP_BULK"
halfclose_check "through the ClusterIP on node-b ${NO_SPLICE[*]}" "$VIP_BULK" "$P2"
wait "$GEN_PID"
HASH_1G=$(cat "$WORK/hash-1g")
t0=$(now_ms)
out=$(in_p1 curl -sS --max-time 60 "http://$VIP_BULK/bytes?n=1073741824" | sha256sum | cut -d' ' -f1)
ms=$(($(now_ms) - t0))
expect_true "1 GiB through the ClusterIP arrives byte-exact (${ms} ms)" test -n "$HASH_1G" -a "$out" == "$HASH_1G"
t0=$(now_ms)
out=$(in_p2 curl -sS --max-time 60 "http://$VIP_BULK/bytes?n=1073741824" | sha256sum | cut -d' ' -f1)
ms=$(($(now_ms) - t0))
expect_true "1 GiB through the ClusterIP on node-b ${NO_SPLICE[*]} arrives byte-exact (${ms} ms)" test -n "$HASH_1G" -a "$out" == "$HASH_1G"

# 6. iperf3 ---------------------------------------------------------------------------------------

out=$(in_p1 timeout 30 iperf3 -c "$VIP_IPERF" -p 5201 -t 2 -f m 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q 'receiver' <<<"$out"; then
	pass "iperf3 -t 2 through the ClusterIP: $(grep receiver <<<"$out" | awk '{ print $7, $8 }')"
else
	fail "iperf3 -t 2 through the ClusterIP (exit $rc)" "$out"
fi

# 4. Endpoints come and go ------------------------------------------------------------------------

# 200 sequential requests, each on a new connection; between the 100th and the 101st the pod
# victim-2 is killed with SIGKILL (between requests, so that no request is in flight to it: a
# request already forwarded to a pod that dies cannot be saved by any proxy), and the loop goes on
# once the pod's port refuses. svcfwd learns of the death only from failed connects.
disown "${POD_PID[victim-2]}" # no "Killed" notice from bash
out=$(in_p1 "$PY" -c '
import os, signal, socket, sys, time
vip, pid, pod_ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def req():
    try:
        s = socket.create_connection((vip, 80), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: victim\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        s.close()
        body = buf.split(b"\r\n\r\n", 1)[1] if buf.startswith(b"HTTP/1.1 200 ") else b""
        return body.split()[0].decode()[4:] if body.startswith(b"pod=") else "bad:%r" % buf[:60]
    except OSError as e:
        return "error:%s" % e
for i in range(200):
    if i == 100:
        os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                socket.create_connection((pod_ip, 8080), timeout=1).close()
                time.sleep(0.005)
            except OSError:
                break
        print("killed")
    print(req())
' "$VIP_VICTIM" "${POD_PID[victim-2]}" "${POD_IP[victim-2]}" 2>&1)
before=$(sed '/^killed$/,$d' <<<"$out" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
after=$(sed '1,/^killed$/d' <<<"$out" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
n=$(grep -c '^victim-[0-9]$' <<<"$out")
if [ "$n" -eq 200 ] && grep -q 'victim-2=' <<<"$before" && ! grep -q 'victim-2=' <<<"$after"; then
	pass "a pod killed (-9) midway through 200 sequential requests: none failed (before: ${before}after: $after)"
else
	fail "a pod killed (-9) midway through 200 sequential requests: none failed, none to the dead pod after" \
		"command: ip netns exec $P1 <python: 200 x GET http://$VIP_VICTIM/ on new connections, kill -9 victim-2 after the 100th>" \
		"expected: 200 answers; before the kill from victim-1,2,3, after from victim-1,3" \
		"got $n answers; before: $before" "after: $after"
fi

{
	echo ---
	yaml_pod victim-4 shop node-a 10.244.1.42 True app=victim http:8080/TCP
} >>"$Z/shop/victim.yaml"
t0=$(now_ms)
seen=
while [ $(($(now_ms) - t0)) -lt 3000 ]; do
	t1=$(now_ms)
	if grep -q '^pod=victim-4 ' <<<"$(http_n "$P1" 3 "http://$VIP_VICTIM/" 2>/dev/null)"; then
		seen=$((t1 - t0))
		break
	fi
	sleep 0.05
done
if [ "${seen:-9999}" -le 1000 ]; then
	pass "a pod appended to the manifests takes traffic within 1 s (${seen} ms)"
else
	fail "a pod appended to the manifests takes traffic within 1 s (${seen:-never} ms)" \
		"after 3 s: $(http_n "$P1" 8 "http://$VIP_VICTIM/" 2>&1 | tally | tr '\n' ' ')" \
		"$(in_n1 curl -s --max-time 2 "http://$HTTP_ADDR/metrics" | grep 'victim\|10.244.1.4[0-2]:8080\|10.244.2.40:8080' | grep -v '^#')"
fi

out=$(in_p1 curl -v -sS --max-time 2 -o /dev/null -w 'time_total=%{time_total}\n' "http://$VIP_EMPTY/" 2>&1)
rc=$?
secs=$(sed -n 's/^time_total=//p' <<<"$out")
if [ $rc -eq 7 ] && grep -q 'Connection refused' <<<"$out" && awk -v t="$secs" 'BEGIN { exit !(t < 0.2) }'; then
	pass "a service without endpoints refuses at once (${secs} s)"
else
	fail "a service without endpoints refuses at once" "command: ip netns exec $P1 curl http://$VIP_EMPTY/" \
		"expected: exit 7 'Connection refused' in < 0.2 s" "got: exit $rc: $out"
fi

out=$(in_p1 "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.connect((sys.argv[1], 5300))
t = time.monotonic()
try:
    s.send(b"x"); s.recv(100); print("answered")
except ConnectionRefusedError:
    print("refused %.3f" % (time.monotonic() - t))
except OSError as e:
    print("error %s" % e)
' "$VIP_EMPTY" 2>&1)
if [[ $out == refused* ]] && awk -v t="${out#refused }" 'BEGIN { exit !(t < 0.2) }'; then
	pass "a UDP service port without endpoints: ICMP port unreachable at once ($out s)"
else
	fail "a UDP service port without endpoints: ICMP port unreachable at once" "expected: refused in < 0.2 s" "got: $out"
fi

# 8. Reload ---------------------------------------------------------------------------------------

out=$(in_p1 "$PY" -c '
import os, socket, sys, time
vip, path, newtext, tmp = sys.argv[1:5]
def req(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: reload\r\n\r\n")
    buf = b""
    while not (b"\r\n\r\n" in buf and buf.endswith(b"\n") and not buf.endswith(b"\r\n\r\n")):
        d = s.recv(4096)
        if not d:
            return "EOF"
        buf += d
    return buf.split(b"\r\n\r\n", 1)[1].split()[0].decode()[4:]
kept = None
for i in range(10):
    s = socket.create_connection((vip, 80), timeout=3)
    if req(s) == "rl-2":
        kept = s
        break
    s.close()
if kept is None:
    print("no connection reached rl-2")
    sys.exit(0)
with open(newtext) as f, open(tmp, "w") as g:
    g.write(f.read())
os.rename(tmp, path)
t0 = time.monotonic()
seen = []
while time.monotonic() - t0 < 2.0:
    dt = time.monotonic() - t0
    try:
        s = socket.create_connection((vip, 80), timeout=3)
        seen.append((dt, req(s)))
        s.close()
    except OSError as e:
        seen.append((dt, "error:%s" % e))
    time.sleep(0.02)
last = max([dt for dt, p in seen if p == "rl-2"], default=-1)
print("last_new_rl2_ms", int(last * 1000))
print("after_1s", " ".join(sorted({p for dt, p in seen if dt > 1.0})))
print("requests", len(seen))
try:
    print("kept", req(kept))
except OSError as e:
    print("kept error:%s" % e)
' "$VIP_RELOAD" "$Z/shop/reload.yaml" "$WORK/reload-rl1.yaml" "$WORK/reload.tmp" 2>&1)
last=$(awk '$1 == "last_new_rl2_ms" { print $2 }' <<<"$out")
if [ -n "$last" ] && [ "$last" -le 1000 ] && grep -qx 'after_1s rl-1' <<<"$out"; then
	pass "a pod removed from the manifests gets no new connections within 1 s (last at ${last} ms)"
else
	fail "a pod removed from the manifests gets no new connections within 1 s" "$out"
fi
expect_true "an established keep-alive connection to the removed pod keeps working" grep -qx 'kept rl-2' <<<"$out"

printf 'apiVersion: v1\nkind: Pod\nmetadata: [name: broken\n' >"$Z/shop/reload.yaml"
sleep 1.5
expect_http "a broken manifest: the last good model goes on (reload -> rl-1)" "$P1" 4 "http://$VIP_RELOAD/" "rl-1"
expect_http "a broken manifest: other services go on" "$P1" 3 "http://$VIP_BACKEND/" "backend-a backend-b backend-c"
echo "$RELOAD_BOTH" >"$Z/shop/reload.yaml"
t0=$(now_ms)
seen=
while [ $(($(now_ms) - t0)) -lt 3000 ]; do
	t1=$(now_ms)
	if grep -q '^pod=rl-2 ' <<<"$(http_n "$P1" 2 "http://$VIP_RELOAD/" 2>/dev/null)"; then
		seen=$((t1 - t0))
		break
	fi
	sleep 0.05
done
expect_true "the manifest fixed: the pod is back within 1 s (${seen:-never} ms)" test "${seen:-9999}" -le 1000

kill -HUP "$FWD_B"
sleep 0.3
expect_true "SIGHUP: svcfwd on node-b goes on" kill -0 "$FWD_B"
expect_http "SIGHUP: node-b still forwards" "$P2" 3 "http://$VIP_BACKEND/" "backend-a backend-b backend-c"

# 9. Metrics, and the end -------------------------------------------------------------------------

out=$(in_n1 curl -s --max-time 2 "http://$HTTP_ADDR/metrics")
expect_true "/metrics has svcfwd_ lines ($(grep -c '^svcfwd_' <<<"$out"))" grep -q '^svcfwd_' <<<"$out"
out=$(in_n1 curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$HTTP_ADDR/health")
expect_true "/health is 200" [ "$out" == 200 ]
expect_true "svcfwd still running on node-a" kill -0 "$FWD_A"
expect_true "svcfwd still running on node-b" kill -0 "$FWD_B"
expect_true "no sanitizer report" bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' '$WORK/svcfwd-a.err' '$WORK/svcfwd-b.err'"

kill -TERM "$FWD_A"
end=$(($(now_ms) + 5000))
while kill -0 "$FWD_A" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do sleep 0.05; done
wait "$FWD_A"
rc=$?
untrack_pid "$FWD_A"
expect_true "SIGTERM: svcfwd exits 0 (exit $rc)" [ $rc -eq 0 ]
expect_true "svcfwd removed the route it added" bash -c "! ip -n $N1 route show table local | grep -q 10.96.0.0/12"

if [ "$T_FAILED" -ne 0 ]; then
	echo "# svcfwd node-a stderr (last 30 lines):"
	tail -30 "$WORK/svcfwd-a.err" | sed 's/^/#   /'
	echo "# svcfwd node-b stderr (last 15 lines):"
	tail -15 "$WORK/svcfwd-b.err" | sed 's/^/#   /'
fi
summary
