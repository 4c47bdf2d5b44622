#!/usr/bin/env bash
# svcdns as a pod's resolver: in a network namespace made here (two addresses on a veth pair, as
# glibc wants a non-loopback address), svcdns listens on port 53 and /etc/resolv.conf (through
# /etc/netns/NS/resolv.conf, which `ip netns exec` mounts over it) says what a ClusterFirst pod's
# does: the svcdns address, `search shop.svc.cluster.local svc.cluster.local cluster.local`,
# `options ndots:5`. Then glibc resolves short names through the search path: getent hosts
# backend, db-0.db.data, kubernetes.default, and Python's getaddrinfo; a name outside the cluster
# goes to the upstream, an nsd in the same namespace.
#
# Needs root and `ip netns`; without them it prints SKIP and exits 77 (ctest: skipped). Everything it creates (the
# namespace, its veth pair, /etc/netns/NS, the temporary directory, the processes) is removed on exit.
# Run by ctest with SVC_BUILD_DIR (svcdns is $SVC_BUILD_DIR/svcdns) and SVC_SOURCE_DIR.
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/nsd.sh
. "$T_LIB/nsd.sh"
need_netns
need_programs svcdns svcctl
need_tools nsd getent dig python3
NS=svcdns-test-$$
ADDR_DNS=10.253.0.1 # svcdns
ADDR_UP=10.253.0.2  # nsd, its upstream
in_ns() { ip netns exec "$NS" "$@"; }

# ---- the namespace ------------------------------------------------------------------------------

if ! ip netns add "$NS"; then
	echo "svcdns_netns.sh: ip netns add $NS failed" >&2
	exit 1
fi
at_exit "ip netns del '$NS' 2>/dev/null" # and the veth pair inside it
ip -n "$NS" link set lo up &&
	ip -n "$NS" link add "sd$$a" type veth peer name "sd$$b" &&
	ip -n "$NS" addr add "$ADDR_DNS/24" dev "sd$$a" &&
	ip -n "$NS" addr add "$ADDR_UP/24" dev "sd$$b" &&
	ip -n "$NS" link set "sd$$a" up &&
	ip -n "$NS" link set "sd$$b" up || {
	echo "svcdns_netns.sh: could not set up the veth pair in $NS" >&2
	exit 1
}
netns_resolv_conf "$NS" <<EOF || exit 1
nameserver $ADDR_DNS
search shop.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:2 attempts:1
EOF

# ---- nsd, the upstream --------------------------------------------------------------------------

mkdir -p "$WORK/nsd"
# Authoritative for the root, so every other name gets a real NXDOMAIN, as from a resolver.
cat >"$WORK/nsd/root.zone" <<'EOF'
$ORIGIN .
$TTL 300
@                IN SOA ns1.example.com. hostmaster.example.com. 1 3600 900 604800 60
@                IN NS  ns1.example.com.
ns1.example.com. IN A   10.253.0.2
www.example.com. IN A   192.0.2.80
EOF
nsd_conf "$WORK/nsd" "$ADDR_UP" .=root.zone
# Started by `ip netns exec` itself (it execs the program): $! is the program, for cleanup.
ip netns exec "$NS" nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/nsd.out" 2>&1 &
track_pid "$!"

# ---- svcdns on port 53 --------------------------------------------------------------------------

cp -R "$ZONES_SRC" "$WORK/zones"
IP_BACKEND=$("$SVCCTL" --zones "$WORK/zones" get svc backend -n shop | awk 'NR == 2 { print $3 }')
if ! [[ $IP_BACKEND =~ ^10\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "svcdns_netns.sh: svcctl gave no ClusterIP for backend: '$IP_BACKEND'" >&2
	exit 1
fi
ip netns exec "$NS" "$SVCDNS" --zones "$WORK/zones" --listen "$ADDR_DNS:53" --upstream "$ADDR_UP:53" --threads 2 \
	>"$WORK/svcdns.out" 2>"$WORK/svcdns.err" &
SD_PID=$!
track_pid "$SD_PID"

up() {
	[ "$(in_ns dig @"$ADDR_DNS" +short +time=1 +tries=1 dns-version.cluster.local TXT 2>/dev/null)" == '"1.1.0"' ] &&
		[ "$(in_ns dig @"$ADDR_UP" +short +time=1 +tries=1 www.example.com A 2>/dev/null)" == 192.0.2.80 ]
}
end=$(($(now_ms) + 10000))
until up; do
	if ! kill -0 "$SD_PID" 2>/dev/null || [ "$(now_ms)" -ge "$end" ]; then
		echo "svcdns_netns.sh: svcdns or nsd did not come up in $NS" >&2
		sed 's/^/  svcdns | /' "$WORK/svcdns.err" >&2
		sed 's/^/  nsd | /' "$WORK/nsd/nsd.out" "$WORK/nsd/nsd.log" >&2 2>/dev/null
		exit 1
	fi
	sleep 0.05
done

# ---- glibc through the search path --------------------------------------------------------------

expect_resolves() { # LABEL EXPECTED-FIRST-FIELD COMMAND...
	local label=$1 want=$2 out
	shift 2
	out=$(in_ns "$@" 2>&1)
	if [ "$(awk 'NR == 1 { print $1 }' <<<"$out")" == "$want" ]; then
		pass "$label: $want"
	else
		fail "$label: $want"
		sed 's/^/  | /' <<<"$out"
	fi
}

expect_true "resolv.conf inside the namespace is ours" \
	grep -q "^nameserver $ADDR_DNS\$" <(in_ns cat /etc/resolv.conf)
expect_resolves "getent hosts backend (shop.svc.cluster.local)" "$IP_BACKEND" getent hosts backend
expect_true "getent hosts backend: the full name" \
	grep -q "backend.shop.svc.cluster.local" <(in_ns getent hosts backend)
expect_resolves "getent hosts db-0.db.data (svc.cluster.local)" 10.244.1.30 getent hosts db-0.db.data
expect_resolves "getent ahostsv4 kubernetes.default" 10.96.0.1 getent ahostsv4 kubernetes.default
expect_resolves "getent ahostsv4 kube-dns.kube-system.svc" 10.96.0.10 getent ahostsv4 kube-dns.kube-system.svc
expect_resolves "getent hosts of a full name" 10.244.2.30 getent hosts db-1.db.data.svc.cluster.local.
expect_resolves "getent hosts of a name outside the cluster (upstream nsd)" 192.0.2.80 getent hosts www.example.com
expect_true "getent hosts of a name that does not exist fails" bash -c "! ip netns exec $NS getent hosts nope-nothing"

out=$(in_ns "$PY" -c '
import socket
print(" ".join(sorted({ai[4][0] for ai in socket.getaddrinfo("backend", 80, proto=socket.IPPROTO_TCP)})))
print(" ".join(sorted({ai[4][0] for ai in socket.getaddrinfo("db.data", 5432, socket.AF_INET, socket.SOCK_STREAM)})))
print(socket.gethostbyname("frontend"))
try:
    socket.getaddrinfo("nope-nothing", 80)
    print("resolved")
except socket.gaierror as e:
    print("EAI_NONAME" if e.errno == socket.EAI_NONAME else "gaierror %s" % e)
' 2>&1)
mapfile -t lines <<<"$out"
if [ "${lines[0]:-}" == "$IP_BACKEND" ]; then pass "python getaddrinfo('backend', 80): $IP_BACKEND"; else
	fail "python getaddrinfo('backend', 80): $IP_BACKEND"
	sed 's/^/  | /' <<<"$out"
fi
if [ "${lines[1]:-}" == "10.244.1.30 10.244.2.30" ]; then pass "python getaddrinfo('db.data', 5432): the headless service's two pods"; else
	fail "python getaddrinfo('db.data', 5432): the headless service's two pods"
	sed 's/^/  | /' <<<"$out"
fi
if [[ ${lines[2]:-} =~ ^10\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && [ "${lines[2]}" != "$IP_BACKEND" ]; then pass "python gethostbyname('frontend'): its ClusterIP"; else
	fail "python gethostbyname('frontend'): its ClusterIP"
	sed 's/^/  | /' <<<"$out"
fi
if [ "${lines[3]:-}" == EAI_NONAME ]; then pass "python getaddrinfo('nope-nothing'): EAI_NONAME (NXDOMAIN everywhere on the search path)"; else
	fail "python getaddrinfo('nope-nothing'): EAI_NONAME (NXDOMAIN everywhere on the search path)"
	sed 's/^/  | /' <<<"$out"
fi

# dig with the search list from resolv.conf, as the Kubernetes e2e probes do.
out=$(in_ns dig +search +short +time=2 +tries=1 backend A 2>&1)
expect_true "dig +search backend: '$out'" [ "$out" == "$IP_BACKEND" ]
out=$(in_ns dig +search +short +tcp +time=2 +tries=1 _postgres._tcp.db.data SRV 2>&1 | sort | tr '\n' ' ')
expect_true "dig +search +tcp _postgres._tcp.db.data SRV: '$out'" \
	[ "$out" == "0 50 5432 db-0.db.data.svc.cluster.local. 0 50 5432 db-1.db.data.svc.cluster.local. " ]

expect_true "svcdns still running" kill -0 "$SD_PID"
expect_true "no sanitizer report" bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' '$WORK/svcdns.err'"

summary
