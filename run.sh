#!/usr/bin/env bash
# Install what is missing, build, and run the example cluster in zones/:
# - svcdns serves cluster.local on 127.0.0.1:5353 (udp+tcp, metrics on 127.0.0.1:9153) and
#   forwards other names to this machine's resolvers; a few dig queries show it.
# - as root, the cluster's two nodes are built in network namespaces (scripts/fwd_demo.sh):
#   svcfwd on each, every pod a small server on its pod IP, svcdns as the kube-dns pod; curl
#   shows a ClusterIP, a name resolved through kube-dns, NodePorts and a LoadBalancer IP.
# Then keeps serving until Ctrl-C, and removes the namespaces.
#
# ./run.sh --etcd: the same cluster from etcd instead of the directory: a local etcd member
# (127.0.0.1:23790, its data in a temporary directory), zones/ imported with
# `svcctl --etcd ... apply -f zones/`, svcdns reading etcd, and a change made with svcctl
# answered at once (the network-namespace demo stays the directory's).
#
#   SVCDNS_LISTEN=ADDR:PORT  where to listen (default 127.0.0.1:5353)
#   SVCDNS_ZONES=DIR         the manifests (default zones)
#   RUN_DEMO_ONLY=1          stop after the demo queries
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ZONES=${SVCDNS_ZONES:-zones}
LISTEN=${SVCDNS_LISTEN:-127.0.0.1:5353}
HTTP=${SVCDNS_HTTP:-127.0.0.1:9153}
HOST=${LISTEN%:*}
PORT=${LISTEN##*:}
ETCD_URL=http://127.0.0.1:23790
ETCD_DIR=
etcd_pid=
pid=
FWD_DEMO=0
cleanup() {
	set +e
	[ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
	if [ "$FWD_DEMO" = 1 ]; then fwd_demo_down; fi
	[ -n "$etcd_pid" ] && kill $etcd_pid 2>/dev/null && wait $etcd_pid 2>/dev/null
	[ -n "$ETCD_DIR" ] && rm -rf "$ETCD_DIR"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
SOURCE=(--zones "$ZONES")
if [ "${1:-}" = --etcd ]; then
	ETCD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/svcdns-etcd.XXXXXX")
	etcd --name run --data-dir "$ETCD_DIR" --listen-client-urls "$ETCD_URL" \
		--advertise-client-urls "$ETCD_URL" --listen-peer-urls http://127.0.0.1:23800 \
		--initial-advertise-peer-urls http://127.0.0.1:23800 \
		--initial-cluster run=http://127.0.0.1:23800 >"$ETCD_DIR.log" 2>&1 &
	etcd_pid=$!
	for _ in $(seq 100); do
		ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" endpoint health >/dev/null 2>&1 && break
		sleep 0.1
	done
	echo "\$ svcctl --etcd $ETCD_URL apply -f $ZONES"
	./build/svcctl --etcd "$ETCD_URL" apply -f "$ZONES"
	echo
	echo "\$ svcctl --etcd $ETCD_URL get services -A"
	./build/svcctl --etcd "$ETCD_URL" get services -A
	SOURCE=(--etcd "$ETCD_URL")
else
	echo "\$ svcctl --zones $ZONES get services -A"
	./build/svcctl --zones "$ZONES" get services -A
fi
echo

./build/svcdns "${SOURCE[@]}" --listen "$LISTEN" --http "$HTTP" &
pid=$!
for _ in $(seq 100); do
	curl -fs "http://$HTTP/ready" >/dev/null 2>&1 && break
	kill -0 $pid 2>/dev/null || { echo "svcdns did not start" >&2; exit 1; }
	sleep 0.05
done

show() {
	echo "\$ dig @$HOST -p $PORT $* +noall +answer +authority"
	dig @"$HOST" -p "$PORT" "$@" +noall +answer +authority +time=4 +tries=1 || true
	echo
}
echo
show backend.shop.svc.cluster.local A
show _http._tcp.backend.shop.svc.cluster.local SRV
show db.data.svc.cluster.local A
show db-0.db.data.svc.cluster.local A
show payments-api.shop.svc.cluster.local CNAME
show -x 10.106.35.83
show 10-244-1-10.shop.pod.cluster.local A
show nosuch.shop.svc.cluster.local A
show dns-version.cluster.local TXT

if [ -n "$etcd_pid" ]; then
	echo "== a change made with svcctl, in etcd: every svcdns reading it answers at once =="
	echo "\$ svcctl --etcd $ETCD_URL create -f -   # a Service \"hello\" in default, no clusterIP"
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: hello}\nspec: {ports: [{port: 80}]}\n' |
		./build/svcctl --etcd "$ETCD_URL" create -f -
	sleep 0.2
	show hello.default.svc.cluster.local A
elif [ "$(id -u)" -eq 0 ] && ip netns list >/dev/null 2>&1; then
	# shellcheck source=scripts/fwd_demo.sh
	. scripts/fwd_demo.sh
	FWD_DEMO=1
	echo "== svcfwd: the example cluster's two nodes in network namespaces =="
	if fwd_demo_up "$(cd "$ZONES" && pwd)" "$PWD/build"; then
		fwd_demo_show
	else
		echo "the svcfwd demo could not start" >&2
		exit 1
	fi
	echo
else
	echo "(the svcfwd demo needs root for its network namespaces: skipped)"
fi

if [ -n "${RUN_DEMO_ONLY:-}" ]; then
	exit 0
fi
cat <<MSG
svcdns is serving ${SOURCE[*]} on $LISTEN (pid $pid); metrics: curl http://$HTTP/metrics
MSG
if [ -n "$etcd_pid" ]; then
	echo "Change the cluster with svcctl --etcd $ETCD_URL apply -f FILE (or delete ...). Ctrl-C stops it."
else
	echo "Edit a manifest under $ZONES/ and the answers change within a second. Ctrl-C stops it."
	echo "(./run.sh --etcd runs the same cluster from etcd.)"
fi
if [ "$FWD_DEMO" = 1 ]; then
	cat <<MSG
svcfwd runs in namespaces ${FWD_TAG}n1 (node-a) and ${FWD_TAG}n2 (node-b); try
  ip netns exec ${FWD_TAG}p1 curl http://backend/
  ip netns exec ${FWD_TAG}c curl http://10.251.0.1:30080/
  ip netns exec ${FWD_TAG}n1 curl -s http://127.0.0.1:9154/metrics
MSG
fi
wait $pid
