# Sourced by the svcfwd system tests, after lib/common.sh, and by scripts/fwd_demo.sh (not a
# test itself: ctest runs tests/system/*.sh only). Its user calls fwdnet_down at the end (a test:
# `at_exit fwdnet_down`); the caller provides PY and WORK.
#
# A two-node "cluster" in network namespaces, all named after FWD_TAG (default sf$$), so that
# runs never collide:
#
#   C (outside client) 10.251.0.2, fd00:251::2
#     |  veth: N1 has 10.251.0.1, fd00:251::1, and holds the LoadBalancer addresses
#   N1 (node-a) ---- veth 10.250.0.1 / 10.250.0.2, fd00:250::1 / ::2 ---- N2 (node-b)
#     |  veth: N1 has 10.244.1.1                                            |  N2 has 10.244.2.1
#   P1 (node-a's pods) 10.244.1.100 + pod IPs 10.244.1.x/24              P2 (node-b's pods) 10.244.2.x
#
# Nodes forward and route the other node's pod CIDR via the other node; pods and the client have
# default routes via their node (so the service CIDR goes to the node too); N2's default route is N1.
#
# Functions: fwdnet_up, fwdnet_down, fwdnet_lb, fwdnet_lb_route, in_n1/in_n2/in_p1/in_p2/in_c,
# pod_start, pod_kill, pod_wait, yaml_pod. FWD_PIDS: the processes fwdnet_down stops first.

FWD_TAG=${FWD_TAG:-sf$$}
N1=${FWD_TAG}n1
N2=${FWD_TAG}n2
P1=${FWD_TAG}p1
P2=${FWD_TAG}p2
C=${FWD_TAG}c
FWD_NAMESPACES=("$N1" "$N2" "$P1" "$P2" "$C")
FWD_PIDS=()
FWDNET_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -A POD_PID POD_NS POD_IP
# shellcheck source=proc.sh
. "$FWDNET_DIR/proc.sh"

in_n1() { ip netns exec "$N1" "$@"; }
in_n2() { ip netns exec "$N2" "$@"; }
in_p1() { ip netns exec "$P1" "$@"; }
in_p2() { ip netns exec "$P2" "$@"; }
in_c() { ip netns exec "$C" "$@"; }

# ---- processes ---------------------------------------------------------------------------------

# pod_start NAME NS IP [podserver options...]: a pod's servers, bound to IP in namespace NS.
# Output goes to $WORK/pod-NAME.log. `ip netns exec` execs python, so $! is the server itself.
pod_start() {
	local name=$1 ns=$2 ip=$3
	shift 3
	ip netns exec "$ns" "$PY" "$FWDNET_DIR/podserver.py" --name "$name" --ip "$ip" "$@" \
		>"$WORK/pod-$name.log" 2>&1 &
	POD_PID[$name]=$!
	POD_NS[$name]=$ns
	POD_IP[$name]=$ip
	FWD_PIDS+=("$!")
}

# pod_wait NAME...: until each has printed "ready" (5 s at most); 1 if one did not.
pod_wait() {
	local name end
	end=$(($(now_ms) + 5000))
	for name in "$@"; do
		until grep -q "^ready pod=$name\$" "$WORK/pod-$name.log" 2>/dev/null; do
			if ! kill -0 "${POD_PID[$name]}" 2>/dev/null || [ "$(now_ms)" -ge "$end" ]; then
				echo "pod $name did not start:" >&2
				sed 's/^/  | /' "$WORK/pod-$name.log" >&2
				return 1
			fi
			sleep 0.02
		done
	done
}

pod_kill() { # NAME SIGNAL
	kill "-${2:-KILL}" "${POD_PID[$1]}" 2>/dev/null
	wait "${POD_PID[$1]}" 2>/dev/null
	return 0
}

# ---- manifests ---------------------------------------------------------------------------------

# yaml_pod NAME NAMESPACE NODE IP READY(True|False) LABELS(k=v,...) PORTS(name:port/PROTO,...)
yaml_pod() {
	local name=$1 ns=$2 node=$3 ip=$4 ready=$5 labels=$6 ports=$7 kv p pname rest
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $ns
  labels:
EOF
	IFS=, read -ra kv <<<"$labels"
	for p in "${kv[@]}"; do echo "    ${p%%=*}: ${p#*=}"; done
	cat <<EOF
spec:
  nodeName: $node
  containers:
  - name: main
    image: podserver:test
    ports:
EOF
	IFS=, read -ra kv <<<"$ports"
	for p in "${kv[@]}"; do
		pname=${p%%:*}
		rest=${p#*:}
		echo "    - name: $pname"
		echo "      containerPort: ${rest%/*}"
		echo "      protocol: ${rest#*/}"
	done
	cat <<EOF
status:
  phase: Running
  podIP: $ip
  conditions:
  - type: Ready
    status: "$ready"
EOF
}

# ---- the network -------------------------------------------------------------------------------

fwdnet_down() {
	local p ns
	for p in "${FWD_PIDS[@]}"; do
		stop_pid "$p"
	done
	for ns in "${FWD_NAMESPACES[@]}"; do # anything still running in our namespaces
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
	for ns in "${FWD_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null # and the veths inside it
		rm -rf "/etc/netns/$ns"
	done
	return 0
}

# fwdnet_up P1-POD-IPS P2-POD-IPS: builds the topology above; the pod IPs (space separated) are
# added to the pods' veth in P1 and P2.
fwdnet_up() {
	local ns ip t=$FWD_TAG
	for ns in "${FWD_NAMESPACES[@]}"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
	done
	# N1 <-> N2
	ip -n "$N1" link add "${t}ab" type veth peer name "${t}ba" netns "$N2" &&
		ip -n "$N1" addr add 10.250.0.1/24 dev "${t}ab" &&
		ip -n "$N1" addr add fd00:250::1/64 dev "${t}ab" nodad &&
		ip -n "$N2" addr add 10.250.0.2/24 dev "${t}ba" &&
		ip -n "$N2" addr add fd00:250::2/64 dev "${t}ba" nodad &&
		ip -n "$N1" link set "${t}ab" up && ip -n "$N2" link set "${t}ba" up || return 1
	# N1 <-> P1, N2 <-> P2
	ip -n "$N1" link add "${t}ap" type veth peer name "${t}pa" netns "$P1" &&
		ip -n "$N1" addr add 10.244.1.1/24 dev "${t}ap" &&
		ip -n "$P1" addr add 10.244.1.100/24 dev "${t}pa" &&
		ip -n "$N1" link set "${t}ap" up && ip -n "$P1" link set "${t}pa" up &&
		ip -n "$P1" route add default via 10.244.1.1 || return 1
	ip -n "$N2" link add "${t}bp" type veth peer name "${t}pb" netns "$P2" &&
		ip -n "$N2" addr add 10.244.2.1/24 dev "${t}bp" &&
		ip -n "$P2" addr add 10.244.2.100/24 dev "${t}pb" &&
		ip -n "$N2" link set "${t}bp" up && ip -n "$P2" link set "${t}pb" up &&
		ip -n "$P2" route add default via 10.244.2.1 || return 1
	for ip in $1; do ip -n "$P1" addr add "$ip/24" dev "${t}pa" || return 1; done
	for ip in $2; do ip -n "$P2" addr add "$ip/24" dev "${t}pb" || return 1; done
	# N1 <-> C
	ip -n "$N1" link add "${t}ac" type veth peer name "${t}ca" netns "$C" &&
		ip -n "$N1" addr add 10.251.0.1/24 dev "${t}ac" &&
		ip -n "$N1" addr add fd00:251::1/64 dev "${t}ac" nodad &&
		ip -n "$C" addr add 10.251.0.2/24 dev "${t}ca" &&
		ip -n "$C" addr add fd00:251::2/64 dev "${t}ca" nodad &&
		ip -n "$N1" link set "${t}ac" up && ip -n "$C" link set "${t}ca" up &&
		ip -n "$C" route add default via 10.251.0.1 &&
		ip -n "$C" -6 route add default via fd00:251::1 || return 1
	# Routes between the nodes; N2 reaches C through N1.
	ip -n "$N1" route add 10.244.2.0/24 via 10.250.0.2 &&
		ip -n "$N2" route add 10.244.1.0/24 via 10.250.0.1 &&
		ip -n "$N2" route add default via 10.250.0.1 &&
		ip -n "$N2" -6 route add default via fd00:250::1 || return 1
	for ns in "$N1" "$N2"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	done
	return 0
}

# fwdnet_lb ADDR...: N1 holds these LoadBalancer addresses (on its veth toward C);
# fwdnet_lb_route CIDR: N1 takes the whole CIDR as local (for addresses allocated from a pool).
fwdnet_lb() {
	local a
	for a in "$@"; do ip -n "$N1" addr add "$a/32" dev "${FWD_TAG}ac" || return 1; done
}
fwdnet_lb_route() { ip -n "$N1" route add local "$1" dev "${FWD_TAG}ac"; }

# fwdnet_etcd: one etcd member in node-a's namespace, its clients at $EP (http://10.250.0.1:23791);
# ectl runs etcdctl against it there, ctl runs svcctl --etcd there. Exits the test when etcd does
# not come up within 20 s.
EIP=10.250.0.1
EP=http://$EIP:23791
ectl() { in_n1 env ETCDCTL_API=3 etcdctl --endpoints "$EIP:23791" --command-timeout=5s "$@"; }
ctl() { in_n1 "$SVCCTL" --etcd "$EP" "$@"; }
fwdnet_etcd() {
	ip netns exec "$N1" etcd --name m1 --data-dir "$WORK/etcd" \
		--listen-client-urls "$EP" --advertise-client-urls "$EP" \
		--listen-peer-urls "http://$EIP:23801" --initial-advertise-peer-urls "http://$EIP:23801" \
		--initial-cluster "m1=http://$EIP:23801" --initial-cluster-token "$FWD_TAG" \
		>"$WORK/etcd.log" 2>&1 &
	FWD_PIDS+=("$!")
	if ! poll 20000 ectl endpoint health >/dev/null 2>&1; then
		echo "$T_NAME: etcd did not start" >&2
		tail -5 "$WORK/etcd.log" >&2
		exit 1
	fi
}
