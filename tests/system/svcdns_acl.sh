#!/usr/bin/env bash
# svcdns is not an open resolver, and rate-limits UDP when asked (issue 9, item 18). In a network
# namespace made here, svcdns listens on 198.51.100.1 and clients send from 198.51.100.2 and .3
# (TEST-NET-2: outside every range recursion is offered to by default) and from 127.0.0.1:
#   - cluster names are answered to anyone; names outside the cluster only to clients allowed
#     recursion (REFUSED for the rest); an ExternalName pointing outside gets its CNAME only;
#   - a pod of the model is allowed by its address; --allow-recursion replaces the list;
#   - --rrl: answers over the rate to one source are dropped or sent truncated (TC, so a real
#     client retries over TCP, which is answered); clients allowed recursion are exempt.
# The upstream is a python fake (lib/fakeupstream.py) on the namespace's loopback.
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns
need_tools dig python3 curl

NS=sdacl$$
in_ns() { ip netns exec "$NS" "$@"; }
ip netns add "$NS" || skip "cannot add a network namespace"
at_exit "ip netns del $NS"
in_ns ip link set lo up
in_ns ip link add "a$$" type veth peer name "b$$"
in_ns ip addr add 198.51.100.1/24 dev "a$$"
in_ns ip addr add 198.51.100.2/24 dev "b$$"
in_ns ip addr add 198.51.100.3/24 dev "b$$"
in_ns ip link set "a$$" up
in_ns ip link set "b$$" up
# Both ends are ours, so the addresses are local (no DAD for IPv4: usable at once).

cp -R "$ZONES_SRC" "$WORK/zones"
# A pod whose address is 198.51.100.3: a pod of the model, so allowed recursion by default.
cat >"$WORK/zones/shop/outside-pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: edge, namespace: shop, labels: {app: edge}}
spec:
  nodeName: node-a
  containers: [{name: c, image: nginx}]
status:
  podIP: 198.51.100.3
  conditions: [{type: Ready, status: "True"}]
EOF

ip netns exec "$NS" "$PY" "$T_LIB/fakeupstream.py" 127.0.0.1 5300 "$WORK/upstream.log" >"$WORK/up.out" 2>&1 &
track_pid $!
poll 3000 grep -q ready "$WORK/up.out" || { echo "$T_NAME: the fake upstream did not start" >&2; exit 1; }

start() { # ARGS...: svcdns in the namespace
	[ -n "${SD_PID:-}" ] && stop_pid "$SD_PID"
	ip netns exec "$NS" "$SVCDNS" --zones "$WORK/zones" --listen 198.51.100.1:53 --listen 127.0.0.1:53 \
		--http 127.0.0.1:9153 --upstream 127.0.0.1:5300 --threads 2 "$@" 2>>"$WORK/svcdns.err" &
	SD_PID=$!
	track_pid "$SD_PID"
	poll 5000 ready || { echo "$T_NAME: svcdns did not start" >&2; cat "$WORK/svcdns.err" >&2; exit 1; }
}
ready() { [ "$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9153/ready)" == 200 ]; }
# ask SRC NAME [dig options]: "STATUS answer..." as dig sees it
ask() {
	local src=$1 name=$2
	shift 2
	in_ns dig -b "$src" @"$( [ "$src" == 127.0.0.1 ] && echo 127.0.0.1 || echo 198.51.100.1)" \
		+time=2 +tries=1 "$name" "$@" 2>/dev/null |
		awk '/status:/ { sub(",", "", $6); st = $6 } /^[^;]/ && NF >= 5 { a = a " " $4 ":" $5 } END { print st a }'
}
metric() { in_ns curl -s http://127.0.0.1:9153/metrics | awk -v m="$1" '$1 == m { print $2 }'; }

start
expect_eq "outside client: a cluster name is answered" \
	"$(ask 198.51.100.2 backend.shop.svc.cluster.local)" "NOERROR A:10.106.35.83"
expect_eq "outside client: a name outside the cluster is REFUSED" \
	"$(ask 198.51.100.2 www.example.org)" "REFUSED"
expect_eq "outside client: a cached name too (answering from the cache is recursion)" \
	"$(ask 127.0.0.1 cached.example.org)/$(ask 198.51.100.2 cached.example.org)" \
	"NOERROR A:192.0.2.1/REFUSED"
expect_eq "outside client: an ExternalName gets its CNAME, not chased" \
	"$(ask 198.51.100.2 payments-api.shop.svc.cluster.local)" \
	"NOERROR CNAME:api.payments.example.com."
expect_eq "outside client: over TCP the same" \
	"$(ask 198.51.100.2 www.example.org +tcp)" "REFUSED"
expect_eq "loopback: forwarded" "$(ask 127.0.0.1 www.example.org)" "NOERROR A:192.0.2.1"
expect_eq "loopback: the ExternalName chased" \
	"$(ask 127.0.0.1 payments-api.shop.svc.cluster.local)" \
	"NOERROR CNAME:api.payments.example.com. A:192.0.2.1"
expect_eq "a pod of the model (198.51.100.3): forwarded" "$(ask 198.51.100.3 www.example.org)" \
	"NOERROR A:192.0.2.1"
expect_true "refusals are counted ($(metric 'svcdns_limit_total{limit="recursion_refused"}'))" \
	[ "$(metric 'svcdns_limit_total{limit="recursion_refused"}')" -ge 4 ]

start --allow-recursion 198.51.100.2/32
expect_eq "--allow-recursion 198.51.100.2/32: that client is forwarded" \
	"$(ask 198.51.100.2 www.example.org)" "NOERROR A:192.0.2.1"
expect_eq "--allow-recursion replaces the list: loopback is refused" \
	"$(ask 127.0.0.1 www.example.org)" "REFUSED"
expect_eq "--allow-recursion replaces the list: so are pods (not named)" \
	"$(ask 198.51.100.3 www.example.org)" "REFUSED"
start --allow-recursion none
expect_eq "--allow-recursion none: nobody" "$(ask 127.0.0.1 www.example.org)" "REFUSED"
expect_eq "--allow-recursion none: cluster names still answered" \
	"$(ask 127.0.0.1 backend.shop.svc.cluster.local)" "NOERROR A:10.106.35.83"

# ---- response rate limiting --------------------------------------------------------------------
start --rrl 10
burst() { # SRC: 100 UDP queries for one name in one go; "answered truncated silent"
	in_ns "$PY" - "$1" <<'EOF'
import socket, struct, sys, time
src = sys.argv[1]
dst = "127.0.0.1" if src == "127.0.0.1" else "198.51.100.1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
q = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07backend\x04shop\x03svc\x07cluster\x05local\x00\x00\x01\x00\x01"
for i in range(100):
    s.sendto(struct.pack(">H", i) + q[2:], (dst, 53))
s.settimeout(1)
ans = tc = 0
try:
    while ans + tc < 100:
        r = s.recv(4096)
        flags, an = struct.unpack(">H", r[2:4])[0], struct.unpack(">H", r[6:8])[0]
        if flags & 0x0200:
            tc += 1
        elif an > 0:
            ans += 1
except socket.timeout:
    pass
print(ans, tc, 100 - ans - tc)
EOF
}
read -r ans tc silent < <(burst 198.51.100.2)
expect_true "rrl 10: an outside source gets about the rate answered ($ans of 100)" \
	[ "$ans" -ge 10 ] && [ "$ans" -le 20 ]
expect_true "rrl 10: of the rest, every second one truncated ($tc), the others dropped ($silent)" \
	[ $((tc - silent)) -le 2 ] && [ $((silent - tc)) -le 2 ]
expect_eq "rrl 10: the same source over TCP is answered" \
	"$(ask 198.51.100.2 backend.shop.svc.cluster.local +tcp)" "NOERROR A:10.106.35.83"
read -r ans tc silent < <(burst 198.51.100.3)
expect_eq "rrl 10: a pod of the model is exempt: 100 of 100" "$ans" 100
read -r ans tc silent < <(burst 127.0.0.1)
expect_eq "rrl 10: a client allowed recursion is exempt: 100 of 100" "$ans" 100
expect_true "rrl: drops and truncations counted" \
	[ "$(metric 'svcdns_limit_total{limit="rrl_dropped"}')" -gt 0 ] &&
	[ "$(metric 'svcdns_limit_total{limit="rrl_truncated"}')" -gt 0 ]

summary
