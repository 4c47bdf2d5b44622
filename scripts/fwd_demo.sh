# Sourced by run.sh: the example cluster of zones/ as two nodes in network namespaces, so the
# demo touches nothing outside them.
#
#   svcdemoc (a user outside the cluster, 10.251.0.2)
#      |
#   svcdemon1 = node-a (svcfwd) ---- svcdemon2 = node-b (svcfwd)
#      |                                  |
#   svcdemop1: node-a's pods           svcdemop2: node-b's pods
#
# Every pod of zones/ runs as a small server bound to its pod IP (tests/system/lib/podserver.py
# answers "pod=NAME port=PORT"), and the kube-dns pod is svcdns itself. Pods resolve through the
# kube-dns ClusterIP, as a ClusterFirst pod would; in node-local mode: an svcdns on each node
# serves that ClusterIP itself (svcfwd leaves it to it), sees each pod's own address, and walks
# the pod's search path for it (autopath). A pod namespace's queries leave from one pod's
# address (frontend-7d9f-a, frontend-7d9f-b), so that svcdns knows them as pods.
#
#   fwd_demo_up ZONES BUILD   start everything; 1 on failure
#   fwd_demo_show             run and print the demo's curl commands
#   fwd_demo_down             stop and remove everything

FWD_TAG=svcdemo
FWD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/system/lib" && pwd)
# shellcheck source=../tests/system/lib/fwdnet.sh
. "$FWD_LIB/fwdnet.sh"
PY=$(command -v python3)
WORK=

fwd_demo_down() {
	fwdnet_down
	[ -n "$WORK" ] && rm -rf "$WORK"
	WORK=
}

fwd_demo_up() {
	local zones=$1 build=$2 i
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/svcdemo.XXXXXX")
	fwdnet_down # a previous demo killed before it cleaned up
	fwdnet_up "10.244.1.2 10.244.1.10 10.244.1.20 10.244.1.30" \
		"10.244.2.10 10.244.2.20 10.244.2.21 10.244.2.30" || return 1
	fwdnet_lb 203.0.113.10 || return 1
	pod_start frontend-7d9f-a "$P1" 10.244.1.10 --http 8080,8443
	pod_start frontend-7d9f-b "$P2" 10.244.2.10 --http 8080,8443
	pod_start backend-5c4b-a "$P1" 10.244.1.20 --http 8080,9090
	pod_start backend-5c4b-b "$P2" 10.244.2.20 --http 8081,9090
	pod_start backend-5c4b-c "$P2" 10.244.2.21 --http 8080,9090
	pod_start db-0 "$P1" 10.244.1.30 --echo 5432
	pod_start db-1 "$P2" 10.244.2.30 --echo 5432
	pod_wait frontend-7d9f-a frontend-7d9f-b backend-5c4b-a backend-5c4b-b backend-5c4b-c \
		db-0 db-1 || return 1
	# The kube-dns pod: svcdns on its pod IP. Names outside the cluster have no upstream here.
	ip netns exec "$P1" "$build/svcdns" --zones "$zones" --listen 10.244.1.2:5353 \
		--upstream 127.0.0.1:9 --threads 1 >"$WORK/svcdns.log" 2>&1 &
	FWD_PIDS+=("$!")
	ip netns exec "$N1" "$build/svcfwd" --zones "$zones" --node node-a \
		--http 127.0.0.1:9154 >"$WORK/svcfwd-node-a.log" 2>&1 &
	FWD_PIDS+=("$!")
	ip netns exec "$N2" "$build/svcfwd" --zones "$zones" --node node-b \
		--http 127.0.0.1:9154 >"$WORK/svcfwd-node-b.log" 2>&1 &
	FWD_PIDS+=("$!")
	# Node-local DNS: svcdns on each node on the kube-dns ClusterIP.
	for i in 1 2; do
		ip netns exec "${FWD_TAG}n$i" "$build/svcdns" --zones "$zones" --listen 10.96.0.10:53 \
			--upstream 127.0.0.1:9 --threads 1 --http 127.0.0.1:9153 \
			>"$WORK/svcdns-node$i.log" 2>&1 &
		FWD_PIDS+=("$!")
	done
	ip -n "$P1" route replace default via 10.244.1.1 src 10.244.1.10 &&
		ip -n "$P2" route replace default via 10.244.2.1 src 10.244.2.10 || return 1
	for i in "$P1" "$P2"; do
		mkdir -p "/etc/netns/$i"
		printf 'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
			>"/etc/netns/$i/resolv.conf"
	done
	for ((i = 0; i < 100; i++)); do
		if in_n1 curl -fs http://127.0.0.1:9154/ready >/dev/null 2>&1 &&
			in_n2 curl -fs http://127.0.0.1:9154/ready >/dev/null 2>&1 &&
			in_n1 curl -fs http://127.0.0.1:9153/ready >/dev/null 2>&1 &&
			in_n2 curl -fs http://127.0.0.1:9153/ready >/dev/null 2>&1; then
			break
		fi
		sleep 0.05
	done
	# svcfwd's once-a-second scan finds the node-local svcdns.
	for ((i = 0; i < 60; i++)); do
		if [ "$(in_n1 curl -fs http://127.0.0.1:9154/metrics | awk '$1 == "svcfwd_ports_served_locally" {print $2}')" == 2 ]; then
			return 0
		fi
		sleep 0.05
	done
	echo "svcfwd did not start:" >&2
	cat "$WORK"/svcfwd-*.log >&2
	return 1
}

fwd_demo_show() {
	local i
	echo "# From a pod on node-a ($P1): the backend ClusterIP, round robin over its two ready pods"
	echo "# (backend-5c4b-c is not ready), on the named targetPort \"http\" (8080 on one, 8081 on the other)"
	for i in 1 2 3 4; do
		echo "\$ curl http://10.106.35.83/"
		in_p1 curl -s -m 3 http://10.106.35.83/ || echo "(failed)"
	done
	echo
	echo "# The same by name: resolv.conf points at the kube-dns ClusterIP, which node-a's own"
	echo "# svcdns serves (node-local mode: svcfwd leaves 10.96.0.10:53 to it); the answer is the"
	echo "# ClusterIP above"
	echo "\$ curl http://backend/"
	in_p1 curl -s -m 3 http://backend/ || echo "(failed)"
	echo "\$ curl http://backend.shop.svc.cluster.local:9090/"
	in_p1 curl -s -m 3 http://backend.shop.svc.cluster.local:9090/ || echo "(failed)"
	echo "\$ curl -s http://127.0.0.1:9154/metrics | grep served_locally     # on node-a"
	in_n1 curl -s -m 3 http://127.0.0.1:9154/metrics | grep '^svcfwd_port.*served_locally'
	echo
	echo "# svcdns sees the pod's own address, so it walks the pod's search path itself (autopath):"
	echo "# \"backend.shop\" with ndots:5 is first asked as backend.shop.shop.svc.cluster.local, and"
	echo "# answered at once with a CNAME to the name that exists, not NXDOMAIN and a second query"
	echo "\$ dig +search +noall +answer backend.shop     # from frontend-7d9f-a (namespace shop)"
	in_p1 dig +search +noall +answer +time=2 backend.shop || echo "(failed)"
	echo
	echo "# From outside the cluster ($C): the frontend NodePort on node-a's address; ClientIP"
	echo "# affinity keeps this client on one pod"
	for i in 1 2; do
		echo "\$ curl http://10.251.0.1:30080/"
		in_c curl -s -m 3 http://10.251.0.1:30080/ || echo "(failed)"
	done
	echo "# ... and on node-b's address, and on node-a's loopback"
	echo "\$ curl http://10.250.0.2:30080/"
	in_c curl -s -m 3 http://10.250.0.2:30080/ || echo "(failed)"
	echo "\$ curl http://127.0.0.1:30080/     # on node-a"
	in_n1 curl -s -m 3 http://127.0.0.1:30080/ || echo "(failed)"
	echo
	echo "# The LoadBalancer IP (status.loadBalancer.ingress), held by node-a; externalTrafficPolicy"
	echo "# Local keeps it on node-a's frontend pod (plain HTTP on 443 in this demo)"
	echo "\$ curl http://203.0.113.10:443/"
	in_c curl -s -m 3 http://203.0.113.10:443/ || echo "(failed)"
}
