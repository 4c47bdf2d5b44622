#!/usr/bin/env bash
# etcd with TLS and client-certificate authentication, as Kubernetes runs it: one member on
# loopback (--client-cert-auth, a CA, a server and a client certificate made here with openssl).
# Checks: svcctl imports zones/ over https with --etcd-cacert/--etcd-cert/--etcd-key; without
# the client certificate, or with another CA, it fails with a TLS error; a missing key file is
# named; a --service-cidr that disagrees with etcd's settings is an error. svcdns reads etcd with
# its settings from a config file (keys etcd, etcd-cacert, ...) and follows changes; one started
# from $SVCDNS_ETCD without its client certificate stays not ready, answers cluster names with
# SERVFAIL, logs why and says "connecting" in /metrics. Skipped (77) without etcd or openssl.
. "$(dirname "$0")/lib/common.sh"
need_programs svcdns svcctl
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip "etcd and etcdctl are not installed"
command -v openssl >/dev/null || skip "openssl is not installed"
need_tools curl dig

# ---- certificates ----------------------------------------------------------------------------------

C=$WORK/pki
mkdir -p "$C"
(
	set -e
	cd "$C"
	key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
	ca() {
		key "$1.key"
		openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
	}
	leaf() {
		key "$1.key"
		printf '%s\n' "$2" >"$1.ext"
		openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "$3" -days 2 \
			-extfile "$1.ext" -out "$1.crt" 2>/dev/null
	}
	ca ca svc-etcd-ca
	ca other svc-other-ca
	# The member's certificate serves clients too: etcd's JSON gateway calls its gRPC side with it.
	leaf server 'subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth' 2
	leaf client extendedKeyUsage=clientAuth 3
) >"$WORK/pki.log" 2>&1 || { cat "$WORK/pki.log" >&2; exit 1; }
pass "a CA, a server and a client certificate"

# ---- the member ------------------------------------------------------------------------------------

CPORT=$(pick_port)
PPORT=$(pick_port)
EP=https://127.0.0.1:$CPORT
etcd --name t --data-dir "$WORK/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-cluster "t=http://127.0.0.1:$PPORT" --client-cert-auth --trusted-ca-file "$C/ca.crt" \
	--cert-file "$C/server.crt" --key-file "$C/server.key" >"$WORK/etcd.log" 2>&1 &
track_pid $!
TLS=(--etcd-cacert "$C/ca.crt" --etcd-cert "$C/client.crt" --etcd-key "$C/client.key")
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$EP" --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" "$@"; }
if ! poll 20000 ectl endpoint health >/dev/null 2>&1; then
	echo "$T_NAME: etcd did not start" >&2
	tail -n 5 "$WORK/etcd.log" >&2
	exit 1
fi

# ---- svcctl -------------------------------------------------------------------------------------

out=$("$SVCCTL" --etcd "$EP" "${TLS[@]}" apply -f "$ZONES_SRC" 2>&1)
expect_true "svcctl apply -f zones/ over TLS with a client certificate" grep -q 'service/backend created' <<<"$out"
out=$("$SVCCTL" --etcd "$EP" --etcd-cacert "$C/ca.crt" get svc -A 2>&1)
rc=$?
expect_true "without a client certificate svcctl fails ($rc): $(head -c 200 <<<"$out")" [ $rc -ne 0 ]
expect_true "... saying so" grep -qi 'TLS\|certificate\|dropped the connection' <<<"$out"
out=$("$SVCCTL" --etcd "$EP" --etcd-cacert "$C/other.crt" --etcd-cert "$C/client.crt" --etcd-key "$C/client.key" get svc -A 2>&1)
expect_true "with another CA svcctl fails: $(head -c 200 <<<"$out")" grep -qi 'certificate' <<<"$out"
out=$("$SVCCTL" --etcd "$EP" "${TLS[@]}" --etcd-key "$WORK/nosuch.key" get svc 2>&1)
expect_true "a key file that is not there is named: $out" grep -q 'nosuch.key' <<<"$out"
out=$("$SVCCTL" --etcd "$EP" "${TLS[@]}" --service-cidr 10.100.0.0/16 apply -f "$ZONES_SRC" 2>&1)
expect_true "a --service-cidr that disagrees with etcd's settings is an error: $out" \
	grep -q 'serviceCIDR "10.100.0.0/16" (flag) is not "10.96.0.0/12"' <<<"$out"

# ---- svcdns: its etcd from a config file --------------------------------------------------------

DPORT=$(pick_port)
HPORT=$(pick_port)
cat >"$WORK/svcdns.yaml" <<EOF
etcd: $EP
etcd-cacert: $C/ca.crt
etcd-cert: $C/client.crt
etcd-key: $C/client.key
listen: 127.0.0.1:$DPORT
http: 127.0.0.1:$HPORT
upstream: 127.0.0.1:9
threads: 1
EOF
"$SVCDNS" --config "$WORK/svcdns.yaml" >"$WORK/svcdns.log" 2>&1 &
track_pid $!
answer() { dig @127.0.0.1 -p "$DPORT" +short +time=1 +tries=1 "$1" A 2>/dev/null; }
ok() { [ "$(answer backend.shop.svc.cluster.local)" == 10.106.35.83 ]; }
expect_true "svcdns reads etcd over TLS (etcd, etcd-cacert, ... in its config file)" poll 10000 ok
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: tls-new, namespace: shop}\nspec: {clusterIP: 10.96.201.1, ports: [{port: 80}]}\n' |
	"$SVCCTL" --etcd "$EP" "${TLS[@]}" apply -f - >/dev/null
new() { [ "$(answer tls-new.shop.svc.cluster.local)" == 10.96.201.1 ]; }
expect_true "... and follows its changes" poll 5000 new

out=$("$SVCDNS" --config "$WORK/svcdns.yaml" --check 2>&1)
expect_true "svcdns --check lists etcd and says ok: $out" grep -q "^etcd https://127.0.0.1:$CPORT/svcdns: ok: 9 services" <<<"$out"
ectl put /svcdns/pods/shop/bad 'apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: shop}
spec: {containers: [{name: c, ports: [{containerPort: 0}]}]}' >/dev/null
out=$("$SVCDNS" --config "$WORK/svcdns.yaml" --check 2>&1)
rc=$?
expect_true "... and fails ($rc) naming an invalid key: $out" [ $rc -eq 1 ] && grep -q '/svcdns/pods/shop/bad:' <<<"$out"
ectl del /svcdns/pods/shop/bad >/dev/null

# ---- svcdns without its client certificate, from $SVCDNS_ETCD --------------------------------------

D2=$(pick_port)
H2=$(pick_port)
SVCDNS_ETCD=$EP "$SVCDNS" --etcd-cacert "$C/ca.crt" --listen "127.0.0.1:$D2" --http "127.0.0.1:$H2" \
	--upstream 127.0.0.1:9 --threads 1 >"$WORK/svcdns2.log" 2>&1 &
track_pid $!
poll 5000 curl -s -o /dev/null "http://127.0.0.1:$H2/ready"
sleep 1
expect_eq "without its certificate svcdns is not ready" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H2/ready")" 503
out=$(dig @127.0.0.1 -p "$D2" +time=1 +tries=1 backend.shop.svc.cluster.local A)
expect_true "... cluster names get SERVFAIL" grep -q 'status: SERVFAIL' <<<"$out"
expect_true "... and it logs why (SVCDNS_ETCD was read)" grep -q "etcd /svcdns: .*$CPORT" "$WORK/svcdns2.log"
expect_eq "... /metrics: the store is connecting" \
	"$(curl -s "http://127.0.0.1:$H2/metrics" | awk '$1 == "svcdns_store_state{state=\"connecting\"}" { print $2 }')" 1

summary
