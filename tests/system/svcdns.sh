#!/usr/bin/env bash
# svcdns, the real program, against real clients: every record kind and rule of the cluster DNS
# schema asked with both dig and kdig over UDP and TCP, forwarding to a real upstream (nsd) with
# its cache, EDNS and truncation, HTTP health and metrics, --check, --config, and live manifest
# changes (answered within 1 s, no query lost, a broken manifest keeps the last good model).
#
# Run by ctest with SVC_BUILD_DIR (svcdns is $SVC_BUILD_DIR/svcdns) and SVC_SOURCE_DIR. The cluster
# is a copy of zones/ plus a namespace "testns" written below, in a temporary directory; every
# process this script starts listens on 127.0.0.1 ports picked at random in 20000-29999 and is
# stopped on exit.
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/nsd.sh
. "$T_LIB/nsd.sh"
need_programs svcdns svcctl
need_tools dig kdig nsd curl python3
CIDRS=10.96.0.0/12,fd00:10:96::/112

# ---- the upstream: nsd, authoritative for example.com and 113.10.in-addr.arpa -------------------

NSD_DIR=$WORK/nsd
mkdir -p "$NSD_DIR"
cat >"$NSD_DIR/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 300
@             IN SOA  ns1 hostmaster 1 3600 900 604800 60
@             IN NS   ns1
ns1           IN A    127.0.0.1
www           IN A    192.0.2.80
other         IN A    192.0.2.82
cached        IN A    192.0.2.90
stale       1 IN A    192.0.2.91
api.payments  IN A    192.0.2.81
api.payments  IN AAAA 2001:db8::81
EOF
cat >"$NSD_DIR/113.10.in-addr.arpa.zone" <<'EOF'
$ORIGIN 113.10.in-addr.arpa.
$TTL 300
@      IN SOA ns1.example.com. hostmaster.example.com. 1 3600 900 604800 60
@      IN NS  ns1.example.com.
99.99  IN PTR outside.example.com.
EOF

nsd_up() {
	[ "$(dig @127.0.0.1 -p "$NSD_PORT" +short +time=1 +tries=1 www.example.com A 2>/dev/null)" == 192.0.2.80 ]
}

start_nsd() {
	local try end
	for try in 1 2 3 4 5; do
		NSD_PORT=$(pick_port)
		nsd_conf "$NSD_DIR" "127.0.0.1@$NSD_PORT" example.com=example.com.zone \
			113.10.in-addr.arpa=113.10.in-addr.arpa.zone
		nsd -d -c "$NSD_DIR/nsd.conf" >"$NSD_DIR/nsd.out" 2>&1 &
		NSD_PID=$!
		track_pid "$NSD_PID"
		end=$(($(now_ms) + 5000))
		while kill -0 "$NSD_PID" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do
			nsd_up && return 0
			sleep 0.05
		done
		stop_pid "$NSD_PID"
	done
	echo "svcdns.sh: could not start nsd" >&2
	cat "$NSD_DIR/nsd.out" "$NSD_DIR/nsd.log" >&2 2>/dev/null
	exit 1
}

# ---- starting svcdns ----------------------------------------------------------------------------

# start_svcdns NAME ARGS...: start svcdns with ARGS, in which @PORT@ and @HTTP@ become two free
# ports (also in $WORK/NAME.yaml.in, written to $WORK/NAME.yaml), and wait until it answers DNS on
# @PORT@ and /ready on @HTTP@. Sets SD_PID, SD_PORT, SD_HTTP, SD_ERR (its stderr).
start_svcdns() {
	local name=$1 try end a args
	shift
	SD_ERR=$WORK/$name.err
	for try in 1 2 3 4 5; do
		SD_PORT=$(pick_port)
		SD_HTTP=$(pick_port)
		[ "$SD_PORT" != "$SD_HTTP" ] || continue
		args=()
		for a in "$@"; do
			a=${a//@PORT@/$SD_PORT}
			args+=("${a//@HTTP@/$SD_HTTP}")
		done
		if [ -f "$WORK/$name.yaml.in" ]; then
			sed -e "s/@PORT@/$SD_PORT/g" -e "s/@HTTP@/$SD_HTTP/g" "$WORK/$name.yaml.in" >"$WORK/$name.yaml"
		fi
		"$SVCDNS" "${args[@]}" >"$WORK/$name.out" 2>"$SD_ERR" &
		SD_PID=$!
		track_pid "$SD_PID"
		end=$(($(now_ms) + 10000))
		while kill -0 "$SD_PID" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do
			if [ "$(dig @127.0.0.1 -p "$SD_PORT" +short +time=1 +tries=1 dns-version.cluster.local TXT 2>/dev/null)" == '"1.1.0"' ] &&
				[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SD_HTTP/ready")" == 200 ]; then
				return 0
			fi
			sleep 0.05
		done
		stop_pid "$SD_PID"
		if ! grep -qi "in use" "$SD_ERR"; then
			break
		fi
	done
	echo "svcdns.sh: could not start svcdns ($name): $SVCDNS $*" >&2
	sed 's/^/  | /' "$SD_ERR" >&2
	exit 1
}

# ---- asking: dig or kdig, UDP or TCP, the reply normalised ---------------------------------------

# norm.awk reads a client's text (dig's or kdig's, one or several queries) and writes for each
# query, at PREFIX (-v out=PREFIX; with -v multi=1 PREFIX.0, PREFIX.1, ... one per query in order):
#   PREFIX.raw  the client's text for that query
#   PREFIX.sum  status|proto|flags|#answer|#authority|#additional|answer TTLs|authority owners
#               and types|EDNS version|EDNS UDP size|message size|client warning
#   PREFIX.ans  the answer section, one "owner TYPE rdata" per line, sorted
#   PREFIX.ord  the same, in the order received
#   PREFIX.add  the additional section (OPT aside), sorted
# A query's text ends with dig's "MSG SIZE" or kdig's "From" line, or the client giving up.
# With -v sortonly=1 it only sorts its input's non-empty lines.
cat >"$WORK/norm.awk" <<'EOF'
function isort(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && (a[j] "") > (t ""); j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
}
function prefix() { return out (multi ? "." k : "") }
function reset() {
	status = proto = flags = ev = eu = size = warn = auth = sec = ""
	nan = nad = nau = ntt = 0
	split("", seen)
}
function emit(   p, i, ttls) {
	p = prefix()
	printf "" >(p ".ord"); printf "" >(p ".ans"); printf "" >(p ".add")
	for (i = 1; i <= nan; i++) print an[i] >(p ".ord")
	isort(an, nan); for (i = 1; i <= nan; i++) print an[i] >(p ".ans")
	isort(ad, nad); for (i = 1; i <= nad; i++) print ad[i] >(p ".add")
	isort(tt, ntt); ttls = ""; for (i = 1; i <= ntt; i++) ttls = ttls (i > 1 ? " " : "") tt[i]
	print status "|" proto "|" flags "|" nan + 0 "|" nau + 0 "|" nad + 0 "|" ttls "|" auth "|" ev "|" eu "|" size "|" warn >(p ".sum")
	close(p ".ord"); close(p ".ans"); close(p ".add"); close(p ".sum"); close(p ".raw")
	k++
	reset()
}
BEGIN { k = 0; reset() }
sortonly { if ($0 != "") l[++nl] = $0; next }
!multi && k > 0 { next } # one query: what follows its end is not its
{ print >(prefix() ".raw") }
/[Mm]alformed|extra bytes|[Pp]arse error|ID mismatch|unexpected source|Bad packet/ { if (warn == "") warn = $0 }
/no servers could be reached|^;; ERROR: failed to query server/ { if (warn == "") warn = $0; emit(); next }
/^;; ->>HEADER<<-/ { status = $0; sub(/.*status: /, "", status); sub(/[,;].*/, "", status); next }
/^;; [Ff]lags: / { flags = $0; sub(/^;; [Ff]lags: */, "", flags); sub(/;.*/, "", flags); flags = " " flags " "; next }
/^; EDNS: version: / {
	ev = $0; sub(/.*version: /, "", ev); sub(/,.*/, "", ev)
	eu = $0; sub(/.*udp: /, "", eu); sub(/[^0-9].*/, "", eu); next
}
/^;; Version: [0-9]+; flags:.*UDP size: / {
	ev = $0; sub(/^;; Version: /, "", ev); sub(/;.*/, "", ev)
	eu = $0; sub(/.*UDP size: /, "", eu); sub(/[^0-9].*/, "", eu); next
}
/^;; Received [0-9]+ B/ { size = $3; next }
/^;; (SERVER:|From) .*\((UDP|TCP)\)/ { match($0, /\((UDP|TCP)\)/); proto = substr($0, RSTART + 1, 3) }
/^;; From / { emit(); next }
/^;; MSG SIZE +rcvd: / { size = $NF; emit(); next }
/^;; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:/ { sec = $2; next }
/^;/ { next }
/^[ \t]*$/ { sec = ""; next }
sec != "" {
	rr = $1 " " $4; for (i = 5; i <= NF; i++) rr = rr " " $i
	if (sec == "ANSWER") {
		an[++nan] = rr
		if (!(("t" $2) in seen)) { seen["t" $2] = 1; tt[++ntt] = $2 }
	} else if (sec == "AUTHORITY") {
		auth = auth (nau++ ? "," : "") $1 " " $4
	} else {
		ad[++nad] = rr
	}
}
END {
	if (sortonly) { isort(l, nl); for (i = 1; i <= nl; i++) print l[i]; exit }
	if (k == 0 && !multi) emit()
}
EOF

PORT=0 # the svcdns being asked
RAW=$WORK/q.raw

# client_cmd TOOL PROTO: the command line start for dig or kdig over UDP or TCP, in CMD.
client_cmd() {
	if [ "$1" == dig ]; then
		CMD=(dig @127.0.0.1 -p "$PORT" +time=5 +tries=1)
	else
		CMD=(kdig @127.0.0.1 -p "$PORT" +time=5 +retry=0)
	fi
	if [ "$2" == tcp ]; then
		CMD+=(+tcp)
	else
		CMD+=(+notcp +ignore) # really UDP: no silent retry over TCP when TC is set
	fi
}

# load PREFIX: a normalised reply into R_STATUS R_PROTO R_FLAGS R_AN R_AU R_AR R_TTLS R_AUTH
# R_EDNSV R_UDP R_SIZE R_WARN, R_ANS (sorted answer), R_ORD (answer in order), R_ADD; RAW.
load() {
	R_STATUS='' R_PROTO='' R_FLAGS='' R_AN=0 R_AU=0 R_AR=0 R_TTLS='' R_AUTH='' R_EDNSV='' R_UDP='' R_SIZE='' R_WARN=''
	R_ANS='' R_ORD='' R_ADD=''
	RAW=$1.raw
	if [ ! -f "$1.sum" ]; then
		R_WARN="no reply parsed"
		return
	fi
	IFS='|' read -r R_STATUS R_PROTO R_FLAGS R_AN R_AU R_AR R_TTLS R_AUTH R_EDNSV R_UDP R_SIZE R_WARN <"$1.sum"
	IFS= read -r -d '' R_ANS <"$1.ans"
	IFS= read -r -d '' R_ORD <"$1.ord"
	IFS= read -r -d '' R_ADD <"$1.add"
	R_ANS=${R_ANS%$'\n'} R_ORD=${R_ORD%$'\n'} R_ADD=${R_ADD%$'\n'}
}

# ask TOOL PROTO NAME TYPE [CLIENT ARGS...]: one query, its reply loaded.
ask() {
	local tool=$1 proto=$2
	shift 2
	client_cmd "$tool" "$proto"
	rm -f "$WORK"/q.*
	"${CMD[@]}" "$@" >"$WORK/q.out" 2>&1
	awk -v out="$WORK/q" -f "$WORK/norm.awk" "$WORK/q.out"
	load "$WORK/q"
}

has_flag() { [[ $R_FLAGS == *" $1 "* ]]; }
show_raw() { sed 's/^/  | /' "$RAW"; }
sorted() { printf '%s\n' "$1" | awk -v sortonly=1 -f "$WORK/norm.awk"; }

CLIENTS=("dig udp" "dig tcp" "kdig udp" "kdig tcp")

# expect_q LABEL NAME TYPE RCODE ANSWER [OPTIONS]: NAME TYPE asked with dig and kdig over UDP and
# TCP (four checks): the reply has rcode RCODE and exactly the answer section ANSWER (one
# "owner TYPE rdata" per line, any order; "" for none). By default it is authoritative (AA), every
# answer has TTL 5, a positive answer has an empty authority section and a negative one (no
# answer) exactly one SOA, owned by cluster.local. Options:
#   --extra TEXT  the additional section (OPT aside), any order
#   --ordered     ANSWER in exactly this order (a CNAME before its target's records)
#   --ttl N       answers' TTL (default 5); --ttl '' does not check
#   --soa OWNER   the SOA's owner in a negative answer
#   --fwd         forwarded: RA set; AA, TTLs and authority as the upstream has them
#   --clients L   only these clients ("dig udp" ...), comma-separated
# The questions are queued and asked by run_q: each client asks all of them in one run.
Q_N=0
expect_q() {
	local label=$1 name=$2 qtype=$3 rcode=$4 want=$5
	shift 5
	local extra='' check_extra=0 ordered=0 ttl=5 soa=cluster.local. fwd=0 clients
	clients=$(printf '%s,' "${CLIENTS[@]}")
	while [ $# -gt 0 ]; do
		case $1 in
		--extra) extra=$(sorted "$2") check_extra=1; shift 2 ;;
		--ordered) ordered=1; shift ;;
		--ttl) ttl=$2; shift 2 ;;
		--soa) soa=$2; shift 2 ;;
		--fwd) fwd=1 ttl=''; shift ;;
		--clients) clients=$2,; shift 2 ;;
		*) echo "expect_q: bad option $1" >&2; exit 2 ;;
		esac
	done
	[ "$ordered" == 1 ] || want=$(sorted "$want")
	Q_LABEL[Q_N]=$label Q_NAME[Q_N]=$name Q_TYPE[Q_N]=$qtype Q_RCODE[Q_N]=$rcode Q_WANT[Q_N]=$want
	Q_EXTRA[Q_N]=$extra Q_CHECK_EXTRA[Q_N]=$check_extra Q_ORDERED[Q_N]=$ordered Q_TTL[Q_N]=$ttl
	Q_SOA[Q_N]=$soa Q_FWD[Q_N]=$fwd Q_CLIENTS[Q_N]=$clients
	Q_N=$((Q_N + 1))
}

# run_q: ask the queued questions (each client once, the four at the same time) and check them.
run_q() {
	local c i n tool proto pids=() args
	local -A slots
	for c in "${!CLIENTS[@]}"; do
		read -r tool proto <<<"${CLIENTS[$c]}"
		args=()
		for ((i = 0; i < Q_N; i++)); do
			[[ ${Q_CLIENTS[i]} == *"${CLIENTS[$c]},"* ]] || continue
			slots[$i,$c]=$((${#args[@]} / 2))
			args+=("${Q_NAME[i]}" "${Q_TYPE[i]}")
		done
		[ ${#args[@]} -gt 0 ] || continue
		rm -f "$WORK/b$c".*
		client_cmd "$tool" "$proto"
		{
			"${CMD[@]}" "${args[@]}" >"$WORK/b$c.out" 2>"$WORK/b$c.err"
			awk -v out="$WORK/b$c" -v multi=1 -f "$WORK/norm.awk" "$WORK/b$c.out"
		} &
		pids+=("$!")
	done
	wait "${pids[@]}"
	# Each client's text must split into exactly one reply per question, and the client must have
	# had nothing to say on stderr (a timeout, a malformed reply): else it asks again, one question
	# per run, so every reply (and complaint) is matched to its question.
	for c in "${!CLIENTS[@]}"; do
		n=0
		for ((i = 0; i < Q_N; i++)); do
			[ -z "${slots[$i,$c]:-}" ] || n=$((n + 1))
		done
		[ "$n" -gt 0 ] || continue
		if [ -f "$WORK/b$c.$((n - 1)).sum" ] && [ ! -f "$WORK/b$c.$n.sum" ] && [ ! -s "$WORK/b$c.err" ]; then
			continue
		fi
		echo "note: ${CLIENTS[$c]}: asking its $n questions one by one"
		read -r tool proto <<<"${CLIENTS[$c]}"
		client_cmd "$tool" "$proto"
		for ((i = 0; i < Q_N; i++)); do
			[ -n "${slots[$i,$c]:-}" ] || continue
			rm -f "$WORK/b$c.${slots[$i,$c]}".*
			"${CMD[@]}" "${Q_NAME[i]}" "${Q_TYPE[i]}" >"$WORK/b$c.one" 2>&1
			awk -v out="$WORK/b$c.${slots[$i,$c]}" -f "$WORK/norm.awk" "$WORK/b$c.one"
		done
	done
	for ((i = 0; i < Q_N; i++)); do
		for c in "${!CLIENTS[@]}"; do
			[ -n "${slots[$i,$c]:-}" ] || continue
			read -r tool proto <<<"${CLIENTS[$c]}"
			load "$WORK/b$c.${slots[$i,$c]}"
			check_reply "$i" "$tool" "$proto"
		done
	done
	Q_N=0
	unset Q_LABEL Q_NAME Q_TYPE Q_RCODE Q_WANT Q_EXTRA Q_CHECK_EXTRA Q_ORDERED Q_TTL Q_SOA Q_FWD Q_CLIENTS
}

# check_reply I TOOL PROTO: the loaded reply against queued question I.
check_reply() {
	local i=$1 tool=$2 proto=$3 want=${Q_WANT[$1]} rcode=${Q_RCODE[$1]} errs=() desc
	[ "$R_STATUS" == "$rcode" ] || errs+=("rcode '$R_STATUS', expected '$rcode'")
	[ "$R_PROTO" == "${proto^^}" ] || errs+=("answered over '$R_PROTO', expected ${proto^^}")
	[ -z "$R_WARN" ] || errs+=("client says: $R_WARN")
	if [ "${Q_FWD[i]}" == 1 ]; then
		has_flag ra || errs+=("RA not set")
	else
		has_flag aa || errs+=("AA not set")
	fi
	if [ "${Q_ORDERED[i]}" == 1 ]; then
		[ "$R_ORD" == "$want" ] || errs+=("answer section (in order) differs; expected:
$want")
	else
		[ "$R_ANS" == "$want" ] || errs+=("answer section differs; expected (any order):
$want")
	fi
	if [ -n "${Q_TTL[i]}" ] && [ "$R_AN" -gt 0 ] && [ "$R_TTLS" != "${Q_TTL[i]}" ]; then
		errs+=("answer TTLs '$R_TTLS', expected ${Q_TTL[i]}")
	fi
	if [ "${Q_CHECK_EXTRA[i]}" == 1 ] && [ "$R_ADD" != "${Q_EXTRA[i]}" ]; then
		errs+=("additional section differs; expected (any order):
${Q_EXTRA[i]}")
	fi
	if [ "${Q_FWD[i]}" == 0 ]; then
		if [ -z "$want" ] && { [ "$rcode" == NOERROR ] || [ "$rcode" == NXDOMAIN ]; }; then
			[ "$R_AUTH" == "${Q_SOA[i]} SOA" ] ||
				errs+=("authority '$R_AUTH', expected exactly one SOA owned by ${Q_SOA[i]}")
		elif [ -n "$want" ] && [ "$R_AU" != 0 ]; then
			errs+=("authority section not empty")
		fi
	fi
	desc="${Q_LABEL[i]}: ${Q_NAME[i]} ${Q_TYPE[i]} ($tool over $proto)"
	if [ ${#errs[@]} -eq 0 ]; then
		pass "$desc"
	else
		fail "$desc" "${errs[@]}"
		show_raw
	fi
}

# The reverse-lookup name of an IPv4 or IPv6 address.
rev() { "$PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).reverse_pointer + ".")' "$1"; }

metric() { # HTTPPORT NAME{LABELS}: the value of one sample, or empty
	curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'
}

# ---- the test cluster: zones/ plus namespace testns ----------------------------------------------

Z=$WORK/zones
cp -R "$ZONES_SRC" "$Z"
mkdir -p "$Z/testns"
cat >"$Z/testns/namespace.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: testns
EOF
# svc1: two named ports, one UDP. unnamed: one port without a name (no _port._proto SRV).
# dual: dual-stack. v6only: IPv6 only. hdls: headless over pods (one with hostname/subdomain, one
# not ready). hdls6: selectorless headless with Endpoints of both families and a not-ready address.
# unready / pnr: headless over a never-ready pod, without and with publishNotReadyAddresses.
# ext-out / ext-in: ExternalName outside and inside the cluster domain.
cat >"$Z/testns/services.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: svc1
  namespace: testns
spec:
  clusterIP: 10.96.100.1
  ports:
  - name: http
    port: 80
    protocol: TCP
  - name: dns
    port: 53
    protocol: UDP
---
apiVersion: v1
kind: Service
metadata:
  name: unnamed
  namespace: testns
spec:
  clusterIP: 10.96.100.2
  ports:
  - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: dual
  namespace: testns
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIP: 10.96.100.3
  clusterIPs: [10.96.100.3, "fd00:10:96::3"]
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: v6only
  namespace: testns
spec:
  ipFamilies: [IPv6]
  clusterIP: "fd00:10:96::6"
  clusterIPs: ["fd00:10:96::6"]
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: hdls
  namespace: testns
spec:
  clusterIP: None
  selector:
    app: hdls
  ports:
  - name: http
    port: 80
  - name: metrics
    port: 9100
---
apiVersion: v1
kind: Service
metadata:
  name: hdls6
  namespace: testns
spec:
  clusterIP: None
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Endpoints
metadata:
  name: hdls6
  namespace: testns
subsets:
- addresses:
  - ip: 10.244.6.1
    hostname: one
  - ip: "fd00:244::6:2"
  notReadyAddresses:
  - ip: 10.244.6.3
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: unready
  namespace: testns
spec:
  clusterIP: None
  selector:
    app: sleepy
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: pnr
  namespace: testns
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app: sleepy
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: ext-out
  namespace: testns
spec:
  type: ExternalName
  externalName: www.example.com
---
apiVersion: v1
kind: Service
metadata:
  name: ext-in
  namespace: testns
spec:
  type: ExternalName
  externalName: svc1.testns.svc.cluster.local
EOF
cat >"$Z/testns/pods.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: hdls-a
  namespace: testns
  labels: {app: hdls}
spec:
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.244.5.1
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: hdls-b
  namespace: testns
  labels: {app: hdls}
spec:
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.244.5.2
  podIPs: [{ip: 10.244.5.2}, {ip: "fd00:244::5:2"}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: testns
  labels: {app: hdls}
spec:
  hostname: web-0
  subdomain: hdls
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.244.5.4
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: hdls-notready
  namespace: testns
  labels: {app: hdls}
spec:
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.244.5.3
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: sleepy-0
  namespace: testns
  labels: {app: sleepy}
spec:
  hostname: sleepy-0
  subdomain: pnr
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.244.7.1
  conditions: [{type: Ready, status: "False"}]
EOF
# mid: 60 ready endpoints (about 1 KB of A records), big: 100 (about 1.7 KB).
"$PY" - "$Z/testns" <<'EOF'
import sys
for name, n, third in (("mid", 60, 8), ("big", 100, 9)):
    with open(f"{sys.argv[1]}/{name}.yaml", "w") as f:
        f.write(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: testns\n"
                "spec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: 80\n---\n"
                f"apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {name}\n  namespace: testns\n"
                "subsets:\n- addresses:\n")
        for i in range(n):
            f.write(f"  - ip: 10.244.{third}.{i + 1}\n")
        f.write("  ports:\n  - name: http\n    port: 80\n")
EOF

# The allocated ClusterIPs, as svcctl (the other program reading the same manifests) shows them.
"$SVCCTL" --zones "$Z" --service-cidr "$CIDRS" get services -A >"$WORK/services" 2>"$WORK/svcctl.err"
cell() { awk -v ns="$1" -v n="$2" '$1 == ns && $2 == n { print $4 }' "$WORK/services"; }
IP_BACKEND=$(cell shop backend)
IP_FRONTEND=$(cell shop frontend)
IP_LB=$(cell shop storefront-lb)
IP_LEGACY=$(cell data legacy-db)
for v in IP_BACKEND IP_FRONTEND IP_LB IP_LEGACY; do
	if ! [[ ${!v} =~ ^10\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		echo "svcdns.sh: svcctl gave no ClusterIP for $v" >&2
		cat "$WORK/services" "$WORK/svcctl.err" >&2
		exit 1
	fi
done

# ---- --check ------------------------------------------------------------------------------------

if "$SVCDNS" --check --zones "$Z" --service-cidr "$CIDRS" >"$WORK/check.out" 2>"$WORK/check.err"; then rc=0; else rc=$?; fi
expect_eq "--check on a good cluster: exit status" "$rc" 0
expect_true "--check on a good cluster: reports ok" grep -qF "$Z: ok: " "$WORK/check.out"

BAD=$WORK/bad-zones
cp -R "$Z" "$BAD"
cat >"$BAD/testns/broken.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: broken
  namespace: testns
spec:
  ports:
  - port: notaport
EOF
if "$SVCDNS" --check --zones "$BAD" --service-cidr "$CIDRS" >"$WORK/check.out" 2>"$WORK/check.err"; then rc=0; else rc=$?; fi
expect_true "--check on a broken manifest: exit status $rc is not 0" [ "$rc" -ne 0 ]
expect_true "--check on a broken manifest: prints file:line" \
	grep -qF "$BAD/testns/broken.yaml:8:" "$WORK/check.out" "$WORK/check.err"
# Without the second service CIDR the IPv6 ClusterIPs do not validate: the flag is honoured.
if "$SVCDNS" --check --zones "$Z" >"$WORK/check.out" 2>"$WORK/check.err"; then rc=0; else rc=$?; fi
expect_true "--check without an IPv6 service CIDR: exit status $rc is not 0" [ "$rc" -ne 0 ]
expect_true "--check without an IPv6 service CIDR: names services.yaml" \
	grep -qF "$Z/testns/services.yaml:" "$WORK/check.out" "$WORK/check.err"

# ---- start the upstream and the server ----------------------------------------------------------

start_nsd
start_svcdns main --zones "$Z" --service-cidr "$CIDRS" --listen 127.0.0.1:@PORT@ \
	--http 127.0.0.1:@HTTP@ --upstream "127.0.0.1:$NSD_PORT" --threads 2
MAIN_PID=$SD_PID
MAIN_PORT=$SD_PORT
MAIN_HTTP=$SD_HTTP
MAIN_ERR=$SD_ERR
PORT=$MAIN_PORT
SVC=svc.cluster.local

# ---- the example cluster (zones/) ---------------------------------------------------------------

expect_q "ClusterIP A" backend.shop.$SVC A NOERROR "backend.shop.$SVC. A $IP_BACKEND"
expect_q "ClusterIP, IPv4 only: AAAA is NODATA" backend.shop.$SVC AAAA NOERROR ""
expect_q "NodePort A is its ClusterIP" frontend.shop.$SVC A NOERROR "frontend.shop.$SVC. A $IP_FRONTEND"
expect_q "LoadBalancer A is its ClusterIP" storefront-lb.shop.$SVC A NOERROR "storefront-lb.shop.$SVC. A $IP_LB"
expect_q "fixed ClusterIP" kubernetes.default.$SVC A NOERROR "kubernetes.default.$SVC. A 10.96.0.1"
expect_q "fixed ClusterIP" kube-dns.kube-system.$SVC A NOERROR "kube-dns.kube-system.$SVC. A 10.96.0.10"
expect_q "SRV of a named port" _https._tcp.kubernetes.default.$SVC SRV NOERROR \
	"_https._tcp.kubernetes.default.$SVC. SRV 0 100 443 kubernetes.default.$SVC." \
	--extra "kubernetes.default.$SVC. A 10.96.0.1"
expect_q "SRV of a named port whose targetPort is named: the service port" _http._tcp.backend.shop.$SVC SRV NOERROR \
	"_http._tcp.backend.shop.$SVC. SRV 0 100 80 backend.shop.$SVC." --extra "backend.shop.$SVC. A $IP_BACKEND"
expect_q "SRV of a UDP port" _dns._udp.kube-dns.kube-system.$SVC SRV NOERROR \
	"_dns._udp.kube-dns.kube-system.$SVC. SRV 0 100 53 kube-dns.kube-system.$SVC."
expect_q "SRV, protocol mismatch" _dns._tcp.kube-dns.kube-system.$SVC SRV NXDOMAIN ""
expect_q "SRV, unknown port name" _nope._tcp.backend.shop.$SVC SRV NXDOMAIN ""
# CoreDNS: weight 100/N with N counted before (target, port) duplicates are dropped: 53/UDP and
# 53/TCP are one record.
expect_q "SRV on the bare name: one per (target, port)" kube-dns.kube-system.$SVC SRV NOERROR \
	"kube-dns.kube-system.$SVC. SRV 0 33 53 kube-dns.kube-system.$SVC.
kube-dns.kube-system.$SVC. SRV 0 33 9153 kube-dns.kube-system.$SVC." \
	--extra "kube-dns.kube-system.$SVC. A 10.96.0.10"
expect_q "headless A: ready endpoints" db.data.$SVC A NOERROR "db.data.$SVC. A 10.244.1.30
db.data.$SVC. A 10.244.2.30"
expect_q "headless: pod hostname.subdomain" db-0.db.data.$SVC A NOERROR "db-0.db.data.$SVC. A 10.244.1.30"
expect_q "headless: pod hostname.subdomain" db-1.db.data.$SVC A NOERROR "db-1.db.data.$SVC. A 10.244.2.30"
expect_q "headless SRV: one per endpoint, targets the hostnames" _postgres._tcp.db.data.$SVC SRV NOERROR \
	"_postgres._tcp.db.data.$SVC. SRV 0 50 5432 db-0.db.data.$SVC.
_postgres._tcp.db.data.$SVC. SRV 0 50 5432 db-1.db.data.$SVC." \
	--extra "db-0.db.data.$SVC. A 10.244.1.30
db-1.db.data.$SVC. A 10.244.2.30"
expect_q "selectorless service with Endpoints" legacy-db.data.$SVC A NOERROR "legacy-db.data.$SVC. A $IP_LEGACY"
expect_q "endpoint of a ClusterIP service by dashed IP" 192-0-2-50.legacy-db.data.$SVC A NOERROR \
	"192-0-2-50.legacy-db.data.$SVC. A 192.0.2.50"
expect_q "endpoint of a ClusterIP service by dashed IP" 10-244-1-20.backend.shop.$SVC A NOERROR \
	"10-244-1-20.backend.shop.$SVC. A 10.244.1.20"
expect_q "a not-ready pod is no endpoint" 10-244-2-21.backend.shop.$SVC A NXDOMAIN ""
expect_q "PTR of a ClusterIP" "$(rev "$IP_BACKEND")" PTR NOERROR "$(rev "$IP_BACKEND") PTR backend.shop.$SVC."
expect_q "PTR of a fixed ClusterIP" 1.0.96.10.in-addr.arpa PTR NOERROR "1.0.96.10.in-addr.arpa. PTR kubernetes.default.$SVC."
expect_q "PTR of an endpoint of a ClusterIP service" 50.2.0.192.in-addr.arpa PTR NOERROR \
	"50.2.0.192.in-addr.arpa. PTR 192-0-2-50.legacy-db.data.$SVC."
expect_q "PTR of a headless endpoint: its hostname" 30.1.244.10.in-addr.arpa PTR NOERROR \
	"30.1.244.10.in-addr.arpa. PTR db-0.db.data.$SVC."
expect_q "PTR of an IP behind two services: one PTR each" 10.1.244.10.in-addr.arpa PTR NOERROR \
	"10.1.244.10.in-addr.arpa. PTR 10-244-1-10.frontend.shop.$SVC.
10.1.244.10.in-addr.arpa. PTR 10-244-1-10.storefront-lb.shop.$SVC."
expect_q "ExternalName: CNAME" payments-api.shop.$SVC CNAME NOERROR \
	"payments-api.shop.$SVC. CNAME api.payments.example.com."
expect_q "ExternalName A: the CNAME, then the target's A from upstream" payments-api.shop.$SVC A NOERROR \
	"payments-api.shop.$SVC. CNAME api.payments.example.com.
api.payments.example.com. A 192.0.2.81" --ordered --ttl ''
expect_q "ExternalName AAAA: the CNAME, then the target's AAAA from upstream" payments-api.shop.$SVC AAAA NOERROR \
	"payments-api.shop.$SVC. CNAME api.payments.example.com.
api.payments.example.com. AAAA 2001:db8::81" --ordered --ttl ''
expect_q "pod A (pods insecure)" 10-244-1-20.shop.pod.cluster.local A NOERROR \
	"10-244-1-20.shop.pod.cluster.local. A 10.244.1.20"

# ---- testns: every kind of service --------------------------------------------------------------

T=testns.$SVC
expect_q "ClusterIP A" svc1.$T A NOERROR "svc1.$T. A 10.96.100.1"
expect_q "ClusterIP TXT: NODATA" svc1.$T TXT NOERROR ""
expect_q "ClusterIP CNAME: NODATA" svc1.$T CNAME NOERROR ""
expect_q "ClusterIP MX: NODATA" svc1.$T MX NOERROR ""
expect_q "SRV of a named TCP port" _http._tcp.svc1.$T SRV NOERROR "_http._tcp.svc1.$T. SRV 0 100 80 svc1.$T." \
	--extra "svc1.$T. A 10.96.100.1"
expect_q "SRV of a named UDP port" _dns._udp.svc1.$T SRV NOERROR "_dns._udp.svc1.$T. SRV 0 100 53 svc1.$T." \
	--extra "svc1.$T. A 10.96.100.1"
expect_q "SRV: the port's protocol must match" _http._udp.svc1.$T SRV NXDOMAIN ""
expect_q "SRV on the bare name: one per port, weight 100/2" svc1.$T SRV NOERROR "svc1.$T. SRV 0 50 80 svc1.$T.
svc1.$T. SRV 0 50 53 svc1.$T." --extra "svc1.$T. A 10.96.100.1"
# (kdig sends every name in lower case: the case checks are dig's alone.)
expect_q "SRV port and protocol match case-insensitively" _HTTP._TCP.svc1.$T SRV NOERROR \
	"_HTTP._TCP.svc1.$T. SRV 0 100 80 svc1.$T." --clients "dig udp,dig tcp"
expect_q "an unnamed port has no _port._proto SRV" _http._tcp.unnamed.$T SRV NXDOMAIN ""
expect_q "unnamed port: A" unnamed.$T A NOERROR "unnamed.$T. A 10.96.100.2"
expect_q "dual-stack A" dual.$T A NOERROR "dual.$T. A 10.96.100.3"
expect_q "dual-stack AAAA" dual.$T AAAA NOERROR "dual.$T. AAAA fd00:10:96::3"
# CoreDNS counts one backend per address: weight 100/2 (dns-anchors.md §3 #25).
expect_q "dual-stack SRV: both addresses in additional" _http._tcp.dual.$T SRV NOERROR \
	"_http._tcp.dual.$T. SRV 0 50 80 dual.$T." --extra "dual.$T. A 10.96.100.3
dual.$T. AAAA fd00:10:96::3"
expect_q "IPv6-only service: A is NODATA" v6only.$T A NOERROR ""
expect_q "IPv6-only service: AAAA" v6only.$T AAAA NOERROR "v6only.$T. AAAA fd00:10:96::6"
expect_q "PTR of an IPv4 ClusterIP" 1.100.96.10.in-addr.arpa PTR NOERROR "1.100.96.10.in-addr.arpa. PTR svc1.$T."
expect_q "PTR of a dual-stack service's IPv4 ClusterIP" 3.100.96.10.in-addr.arpa PTR NOERROR \
	"3.100.96.10.in-addr.arpa. PTR dual.$T."
R6=$(rev fd00:10:96::3)
expect_q "PTR of an IPv6 ClusterIP (ip6.arpa)" "$R6" PTR NOERROR "$R6 PTR dual.$T."
R6=$(rev fd00:10:96::6)
expect_q "PTR of an IPv6-only ClusterIP" "$R6" PTR NOERROR "$R6 PTR v6only.$T."

expect_q "headless A: ready endpoints only" hdls.$T A NOERROR "hdls.$T. A 10.244.5.1
hdls.$T. A 10.244.5.2
hdls.$T. A 10.244.5.4"
expect_q "headless: endpoint by hostname (hostname+subdomain)" web-0.hdls.$T A NOERROR "web-0.hdls.$T. A 10.244.5.4"
expect_q "headless: endpoint without hostname by dashed IP" 10-244-5-1.hdls.$T A NOERROR "10-244-5-1.hdls.$T. A 10.244.5.1"
expect_q "headless: a pod with a hostname has no dashed-IP name" 10-244-5-4.hdls.$T A NXDOMAIN ""
expect_q "headless: not-ready endpoint absent" 10-244-5-3.hdls.$T A NXDOMAIN ""
expect_q "headless: unknown endpoint" bogus.hdls.$T A NXDOMAIN ""
expect_q "headless: endpoint name, AAAA of an IPv4 endpoint is NODATA" web-0.hdls.$T AAAA NOERROR ""
expect_q "headless SRV: per ready endpoint, weight 100/3" _http._tcp.hdls.$T SRV NOERROR \
	"_http._tcp.hdls.$T. SRV 0 33 80 web-0.hdls.$T.
_http._tcp.hdls.$T. SRV 0 33 80 10-244-5-1.hdls.$T.
_http._tcp.hdls.$T. SRV 0 33 80 10-244-5-2.hdls.$T." \
	--extra "web-0.hdls.$T. A 10.244.5.4
10-244-5-1.hdls.$T. A 10.244.5.1
10-244-5-2.hdls.$T. A 10.244.5.2"
expect_q "headless SRV on the bare name: endpoints x ports, weight 100/6" hdls.$T SRV NOERROR \
	"hdls.$T. SRV 0 16 80 web-0.hdls.$T.
hdls.$T. SRV 0 16 9100 web-0.hdls.$T.
hdls.$T. SRV 0 16 80 10-244-5-1.hdls.$T.
hdls.$T. SRV 0 16 9100 10-244-5-1.hdls.$T.
hdls.$T. SRV 0 16 80 10-244-5-2.hdls.$T.
hdls.$T. SRV 0 16 9100 10-244-5-2.hdls.$T."
expect_q "headless, both families: A" hdls6.$T A NOERROR "hdls6.$T. A 10.244.6.1"
expect_q "headless, both families: AAAA" hdls6.$T AAAA NOERROR "hdls6.$T. AAAA fd00:244::6:2"
expect_q "headless: Endpoints hostname" one.hdls6.$T A NOERROR "one.hdls6.$T. A 10.244.6.1"
expect_q "headless: dashed IPv6 endpoint name" fd00-244--6-2.hdls6.$T AAAA NOERROR \
	"fd00-244--6-2.hdls6.$T. AAAA fd00:244::6:2"
expect_q "headless: notReadyAddresses are not served" 10-244-6-3.hdls6.$T A NXDOMAIN ""
expect_q "headless SRV, both families" _http._tcp.hdls6.$T SRV NOERROR \
	"_http._tcp.hdls6.$T. SRV 0 50 80 one.hdls6.$T.
_http._tcp.hdls6.$T. SRV 0 50 80 fd00-244--6-2.hdls6.$T." \
	--extra "one.hdls6.$T. A 10.244.6.1
fd00-244--6-2.hdls6.$T. AAAA fd00:244::6:2"
expect_q "PTR of a headless endpoint with a hostname" 4.5.244.10.in-addr.arpa PTR NOERROR \
	"4.5.244.10.in-addr.arpa. PTR web-0.hdls.$T."
expect_q "PTR of a headless endpoint without one" 1.5.244.10.in-addr.arpa PTR NOERROR \
	"1.5.244.10.in-addr.arpa. PTR 10-244-5-1.hdls.$T."
R6=$(rev fd00:244::6:2)
expect_q "PTR of an IPv6 headless endpoint" "$R6" PTR NOERROR "$R6 PTR fd00-244--6-2.hdls6.$T."
expect_q "headless with no ready endpoint: NXDOMAIN" unready.$T A NXDOMAIN ""
expect_q "headless with no ready endpoint: NXDOMAIN for SRV too" unready.$T SRV NXDOMAIN ""
expect_q "publishNotReadyAddresses: the not-ready pod is served" pnr.$T A NOERROR "pnr.$T. A 10.244.7.1"
expect_q "publishNotReadyAddresses: hostname.subdomain" sleepy-0.pnr.$T A NOERROR "sleepy-0.pnr.$T. A 10.244.7.1"
expect_q "ExternalName out of the zone: CNAME" ext-out.$T CNAME NOERROR "ext-out.$T. CNAME www.example.com."
expect_q "ExternalName out of the zone: A chased upstream" ext-out.$T A NOERROR "ext-out.$T. CNAME www.example.com.
www.example.com. A 192.0.2.80" --ordered --ttl ''
expect_q "ExternalName in the zone: CNAME" ext-in.$T CNAME NOERROR "ext-in.$T. CNAME svc1.$T."
# An ExternalName pointing inside the cluster domain: the CNAME, then the target's A from the model
# (CoreDNS, dns-anchors.md §3 #31). (Found answering the CNAME alone at 3436b04; fixed by 25e88cf.)
expect_q "ExternalName in the zone: A resolved inside the zone" ext-in.$T A NOERROR "ext-in.$T. CNAME svc1.$T.
svc1.$T. A 10.96.100.1" --ordered
expect_q "ExternalName: no SRV below it" _http._tcp.ext-out.$T SRV NXDOMAIN ""
expect_q "ExternalName: no names below it" x.ext-out.$T A NXDOMAIN ""

expect_q "pod A by dashed IP" 10-244-5-1.testns.pod.cluster.local A NOERROR \
	"10-244-5-1.testns.pod.cluster.local. A 10.244.5.1"
expect_q "pod AAAA by dashed IPv6" fd00-244--5-2.testns.pod.cluster.local AAAA NOERROR \
	"fd00-244--5-2.testns.pod.cluster.local. AAAA fd00:244::5:2"
expect_q "pod name that is no IP" blah.testns.pod.cluster.local A NXDOMAIN ""
expect_q "pod in a namespace that does not exist" 10-1-2-3.nons.pod.cluster.local A NXDOMAIN ""
expect_q "pod namespace: empty non-terminal" testns.pod.cluster.local A NOERROR ""

# ---- the apex, names that do not exist ----------------------------------------------------------

SOA_RE='^ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. [0-9]+ 7200 1800 86400 5$'
for c in "${CLIENTS[@]}"; do
	read -r tool proto <<<"$c"
	ask "$tool" "$proto" cluster.local SOA
	got=${R_ORD#cluster.local. SOA }
	if [ "$R_STATUS" == NOERROR ] && has_flag aa && [ "$R_AN" == 1 ] && [ "$R_TTLS" == 5 ] &&
		[ "$got" != "$R_ORD" ] && [[ $got =~ $SOA_RE ]]; then
		pass "apex SOA ($tool over $proto): cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 5"
	else
		fail "apex SOA ($tool over $proto): cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 5"
		show_raw
	fi
done
expect_q "apex NS: kube-dns's name, its address as glue" cluster.local NS NOERROR \
	"cluster.local. NS kube-dns.kube-system.$SVC." --extra "kube-dns.kube-system.$SVC. A 10.96.0.10"
expect_q "apex A: NODATA" cluster.local A NOERROR ""
expect_q "apex AAAA: NODATA" cluster.local AAAA NOERROR ""
expect_q "schema version" dns-version.cluster.local TXT NOERROR 'dns-version.cluster.local. TXT "1.1.0"' --ttl 28800
expect_q "svc.zone: empty non-terminal" $SVC A NOERROR ""
expect_q "pod.zone: empty non-terminal" pod.cluster.local A NOERROR ""
expect_q "existing namespace: empty non-terminal" $T A NOERROR ""
expect_q "existing namespace, NS: NODATA" $T NS NOERROR ""
expect_q "namespace that does not exist" nons.$SVC A NXDOMAIN ""
expect_q "service in a namespace that does not exist" svc1.nons.$SVC A NXDOMAIN ""
expect_q "service that does not exist" nope.$T A NXDOMAIN ""
expect_q "service that does not exist, AAAA" nope.$T AAAA NXDOMAIN ""
expect_q "first label not svc or pod" foo.cluster.local A NXDOMAIN ""
expect_q "too deep below a service" a.b.svc1.$T A NXDOMAIN ""
expect_q "query case echoed in the answer" SvC1.TeStNs.SvC.cLuStEr.LoCaL A NOERROR \
	"SvC1.TeStNs.SvC.cLuStEr.LoCaL. A 10.96.100.1" --clients "dig udp,dig tcp"
expect_q "query case echoed in the SOA owner" not-a-service.testns.svc.ClUsTeR.lOcAl A NXDOMAIN "" \
	--soa ClUsTeR.lOcAl. --clients "dig udp,dig tcp"
# SRV targets: compared without case (CoreDNS writes the service path in lower case).
for c in "dig udp" "dig tcp"; do
	read -r tool proto <<<"$c"
	ask "$tool" "$proto" _HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL SRV
	got=$R_ORD
	if [ "$R_STATUS" == NOERROR ] && has_flag aa &&
		[ "${got%% *}" == _HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. ] &&
		[ "${got,,}" == "_http._tcp.svc1.testns.svc.cluster.local. srv 0 100 80 svc1.testns.svc.cluster.local." ]; then
		pass "mixed-case SRV ($tool over $proto): owner in the query's case, one SRV 0 100 80 svc1..."
	else
		fail "mixed-case SRV ($tool over $proto): owner in the query's case, one SRV 0 100 80 svc1..."
		show_raw
	fi
done

# ---- --dump-zone: the zone in master file format, as served ---------------------------------------

if "$SVCDNS" --dump-zone --zones "$Z" --service-cidr "$CIDRS" >"$WORK/dump.zone" 2>"$WORK/dump.err"; then
	rc=0
else
	rc=$?
fi
expect_eq "--dump-zone: exit status 0 ($(tail -1 "$WORK/dump.err"))" "$rc" 0
expect_true "--dump-zone: ldns-read-zone reads it" ldns-read-zone "$WORK/dump.zone"
expect_true "--dump-zone: the SOA first" awk 'NR == 1 && $1 == "cluster.local." && $4 == "SOA" { ok = 1 } END { exit !ok }' "$WORK/dump.zone"
expect_true "--dump-zone: no pod or reverse names" \
	awk '$1 ~ /(\.pod\.cluster\.local|\.arpa)\.$/ { bad = 1 } END { exit bad }' "$WORK/dump.zone"
# Every (name, type) of the dump but the SOA, asked of the running server: the same records.
awk '$4 != "SOA" { print $1, $4 }' "$WORK/dump.zone" | sort -u >"$WORK/dump.keys"
bad=0 n=0
while read -r name type; do
	n=$((n + 1))
	want=$(awk -v n="$name" -v t="$type" '$1 == n && $4 == t { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' \
		"$WORK/dump.zone" | sort)
	got=$(dig @127.0.0.1 -p "$PORT" +norec +short +time=2 +tries=1 "$name" "$type" | sort)
	[ "$got" == "$want" ] || { bad=$((bad + 1)); echo "$name $type: served '$got', dumped '$want'" >>"$WORK/dump.bad"; }
done <"$WORK/dump.keys"
if [ "$bad" -eq 0 ] && [ "$n" -gt 20 ]; then
	pass "--dump-zone: each of its $n names and types is served with the same records"
else
	fail "--dump-zone: each of its $n names and types is served with the same records" \
		"$bad differ: $(head -5 "$WORK/dump.bad" 2>/dev/null | tr '\n' ';')"
fi

# ---- forwarding to nsd --------------------------------------------------------------------------

expect_q "forwarded A" www.example.com A NOERROR "www.example.com. A 192.0.2.80" --fwd
expect_q "forwarded AAAA" api.payments.example.com AAAA NOERROR "api.payments.example.com. AAAA 2001:db8::81" --fwd
expect_q "forwarded NXDOMAIN" nope.example.com A NXDOMAIN "" --fwd
# nsd refuses names outside its zones: the client hears REFUSED, as from CoreDNS's forward.
expect_q "the upstream refuses: REFUSED relayed, not SERVFAIL" www.not-served.test A REFUSED "" --fwd
expect_q "forwarded reverse name outside the cluster" 99.99.113.10.in-addr.arpa PTR NOERROR \
	"99.99.113.10.in-addr.arpa. PTR outside.example.com." --fwd
# An address of the service CIDRs that no service holds: the cluster's NXDOMAIN, never forwarded.
expect_q "PTR of a free address of the service CIDR: NXDOMAIN, SOA of 10.in-addr.arpa" \
	99.99.99.10.in-addr.arpa PTR NXDOMAIN "" --soa 10.in-addr.arpa.
expect_q "... and of the IPv6 one (fd00:10:96::/112): the SOA of its 28 nibbles" \
	f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa PTR NXDOMAIN "" --soa 0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.
run_q
# A not-ready endpoint's IP has no cluster PTR (the name may still go upstream).
for c in "${CLIENTS[@]}"; do
	read -r tool proto <<<"$c"
	ask "$tool" "$proto" 3.5.244.10.in-addr.arpa PTR
	if [ -n "$R_STATUS" ] && [[ $R_ANS != *hdls* ]]; then
		pass "PTR of a not-ready endpoint ($tool over $proto): must not name it"
	else
		fail "PTR of a not-ready endpoint ($tool over $proto): must not name it"
		show_raw
	fi
done
for c in "${CLIENTS[@]}"; do
	read -r tool proto <<<"$c"
	ask "$tool" "$proto" www.example.com A +norec
	if [ "$R_STATUS" == NOERROR ] && ! has_flag rd && has_flag ra; then
		pass "forwarded with RD clear ($tool over $proto): RD echoed clear, RA set"
	else
		fail "forwarded with RD clear ($tool over $proto): RD echoed clear, RA set"
		show_raw
	fi
done

# The cache: a second question is a hit, and its TTL counts down.
hits0=$(metric "$MAIN_HTTP" svcdns_cache_hits_total)
ask dig udp cached.example.com A
ttl1=$R_TTLS
expect_eq "cached.example.com: first answer's TTL" "$ttl1" 300
ask dig udp cached.example.com A
hits1=$(metric "$MAIN_HTTP" svcdns_cache_hits_total)
expect_true "cache: the second question is a hit (svcdns_cache_hits_total $hits0 -> $hits1)" \
	[ "${hits1:-0}" -gt "${hits0:-0}" ]
ttl_below() {
	ask kdig tcp cached.example.com A
	[ "$R_AN" == 1 ] && [ "$R_TTLS" -lt 300 ]
}
expect_true "cache: the TTL of a cached answer counts down (within 2.5 s)" poll 2500 ttl_below
expect_eq "cache: the counted-down answer is still right" "$R_ANS" "cached.example.com. A 192.0.2.90"
hits0=$(metric "$MAIN_HTTP" svcdns_cache_hits_total)
ask dig udp nope.example.com A
ask dig udp nope.example.com A
hits1=$(metric "$MAIN_HTTP" svcdns_cache_hits_total)
expect_true "negative cache: NXDOMAIN cached ($hits0 -> $hits1)" [ "${hits1:-0}" -gt "${hits0:-0}" ]
expect_eq "negative cache: still NXDOMAIN" "$R_STATUS" NXDOMAIN

# ---- EDNS, truncation, TCP ----------------------------------------------------------------------

for tool in dig kdig; do
	ask "$tool" udp mid.$T A +noedns
	n=$R_AN size=$R_SIZE
	if has_flag tc && [ "${size:-9999}" -le 512 ] && [ "$n" -ge 1 ] && [ "$n" -lt 60 ] && [ -z "$R_WARN" ]; then
		pass "60 endpoints over UDP without EDNS ($tool): TC=1, <= 512 bytes, cut at a record (got $n answers, $size bytes)"
	else
		fail "60 endpoints over UDP without EDNS ($tool): TC=1, <= 512 bytes, cut at a record (got $n answers, $size bytes)"
		show_raw
	fi
	ask "$tool" udp mid.$T A +bufsize=1232
	size=$R_SIZE
	if ! has_flag tc && [ "$R_AN" -eq 60 ] && [ "${size:-9999}" -le 1232 ] && [ "$R_EDNSV" == 0 ]; then
		pass "60 endpoints over UDP with EDNS 1232 ($tool): complete, no TC, <= 1232 bytes (got $R_AN, $size bytes)"
	else
		fail "60 endpoints over UDP with EDNS 1232 ($tool): complete, no TC, <= 1232 bytes (got $R_AN, $size bytes)"
		show_raw
	fi
	for bufsize in 1232 4096 700; do
		ask "$tool" udp big.$T A +bufsize=$bufsize
		size=$R_SIZE
		limit=$((bufsize < 1232 ? bufsize : 1232))
		n=$R_AN
		if has_flag tc && [ "${size:-9999}" -le "$limit" ] && [ "$n" -ge 1 ] && [ "$n" -lt 100 ] &&
			[ -z "$R_WARN" ]; then
			pass "100 endpoints over UDP, EDNS $bufsize ($tool): TC=1, <= $limit bytes (got $n answers, $size bytes)"
		else
			fail "100 endpoints over UDP, EDNS $bufsize ($tool): TC=1, <= $limit bytes (got $n answers, $size bytes)"
			show_raw
		fi
	done
	ask "$tool" tcp big.$T A
	if ! has_flag tc && [ "$R_AN" -eq 100 ] && [ "$R_STATUS" == NOERROR ]; then
		pass "100 endpoints over TCP ($tool): complete (got $R_AN answers)"
	else
		fail "100 endpoints over TCP ($tool): complete (got $R_AN answers)"
		show_raw
	fi
	ask "$tool" tcp big.$T A +noedns
	if ! has_flag tc && [ "$R_AN" -eq 100 ]; then
		pass "100 endpoints over TCP without EDNS ($tool): complete (got $R_AN answers)"
	else
		fail "100 endpoints over TCP without EDNS ($tool): complete (got $R_AN answers)"
		show_raw
	fi
done
# dig: a truncated answer makes it retry over TCP and get everything.
PORT=$MAIN_PORT
rm -f "$WORK"/r.*
dig @127.0.0.1 -p "$PORT" +time=5 +tries=1 +notcp big.$T A >"$WORK/r.out" 2>&1
awk -v out="$WORK/r" -f "$WORK/norm.awk" "$WORK/r.out"
load "$WORK/r"
if [ "$R_AN" -eq 100 ] && grep -q "Truncated, retrying in TCP" "$RAW"; then
	pass "dig without +ignore: truncated over UDP, complete over TCP"
else
	fail "dig without +ignore: truncated over UDP, complete over TCP"
	show_raw
fi

for c in "${CLIENTS[@]}"; do
	read -r tool proto <<<"$c"
	ask "$tool" "$proto" svc1.$T A +edns=0
	if [ "$R_STATUS" == NOERROR ] && [ "$R_EDNSV" == 0 ] && [ "${R_UDP:-9999}" -le 1232 ]; then
		pass "EDNS query ($tool over $proto): OPT version 0 in the answer, payload <= 1232"
	else
		fail "EDNS query ($tool over $proto): OPT version 0 in the answer, payload <= 1232"
		show_raw
	fi
	ask "$tool" "$proto" svc1.$T A +noedns
	if [ "$R_STATUS" == NOERROR ] && [ -z "$R_EDNSV" ]; then
		pass "query without EDNS ($tool over $proto): no OPT in the answer"
	else
		fail "query without EDNS ($tool over $proto): no OPT in the answer"
		show_raw
	fi
	if [ "$tool" == dig ]; then
		ask dig "$proto" svc1.$T A +edns=1 +noednsneg
	else
		ask kdig "$proto" svc1.$T A +edns=1
	fi
	if [ "$R_STATUS" == BADVERS ] && [ "$R_AN" -eq 0 ]; then
		pass "EDNS version 1 ($tool over $proto): BADVERS"
	else
		fail "EDNS version 1 ($tool over $proto): BADVERS"
		show_raw
	fi
done

# Zone transfers are refused.
RAW=$WORK/xfr.raw
kdig @127.0.0.1 -p "$PORT" +time=5 cluster.local AXFR >"$RAW" 2>&1
if grep -q "REFUSED" "$RAW" && ! grep -q "IN.*SOA" "$RAW"; then pass "kdig AXFR cluster.local: REFUSED"; else
	fail "kdig AXFR cluster.local: REFUSED"
	show_raw
fi
dig @127.0.0.1 -p "$PORT" +time=5 +tries=1 cluster.local AXFR >"$RAW" 2>&1
if grep -q "Transfer failed" "$RAW" && ! grep -q "IN.*SOA" "$RAW"; then pass "dig AXFR cluster.local: transfer fails, no records"; else
	fail "dig AXFR cluster.local: transfer fails, no records"
	show_raw
fi
# An IXFR query carries the client's SOA in the authority section (RFC 1995 §3): still REFUSED,
# not FORMERR.
kdig @127.0.0.1 -p "$PORT" +time=5 cluster.local IXFR=1 >"$RAW" 2>&1
if grep -q "REFUSED" "$RAW" && ! grep -q "IN.*SOA" "$RAW"; then pass "kdig IXFR=1 cluster.local: REFUSED"; else
	fail "kdig IXFR=1 cluster.local: REFUSED"
	show_raw
fi

# ---- HTTP ---------------------------------------------------------------------------------------

H=http://127.0.0.1:$MAIN_HTTP
expect_eq "GET /health" "$(curl -s -o /dev/null -w '%{http_code}' "$H/health")" 200
expect_eq "GET /ready" "$(curl -s -o /dev/null -w '%{http_code}' "$H/ready")" 200
expect_eq "GET /nope" "$(curl -s -o /dev/null -w '%{http_code}' "$H/nope")" 404
curl -s "$H/metrics" >"$WORK/metrics"
# The sum of the samples of NAME whose labels hold each LABEL ("proto=\"udp\"", ...).
msum() {
	local name=$1
	shift
	awk -v n="$name" -v want="$*" '
		BEGIN { k = split(want, w, " ") }
		{ split($1, p, "{"); if (p[1] != n) next
		  for (i = 1; i <= k; i++) if (index($1, w[i]) == 0) next
		  sum += $2; found = 1 }
		END { if (found) print sum }' "$WORK/metrics"
}
for m in 'svcdns_dns_requests_total proto="udp" type="A"' 'svcdns_dns_requests_total proto="tcp" type="A"' \
	'svcdns_dns_requests_total proto="udp" type="SRV"' 'svcdns_dns_requests_total proto="tcp" type="PTR"' \
	'svcdns_dns_requests_total family="1" server="dns://127.0.0.1:' 'svcdns_dns_responses_total rcode="NOERROR"' \
	'svcdns_dns_responses_total rcode="NXDOMAIN"' 'svcdns_dns_request_duration_seconds_count type="A"' \
	'svcdns_dns_truncated_total' 'svcdns_cache_hits_total' \
	'svcdns_cache_misses_total' 'svcdns_upstream_requests_total' 'svcdns_model_services' 'svcdns_model_pods' \
	'svcdns_upstream_errors_total reason="refused"'; do
	# shellcheck disable=SC2086 # the name, then the labels, as words
	v=$(msum $m)
	if [[ $v =~ ^[0-9.e+]+$ ]] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'; then
		pass "/metrics: $m is a count > 0 ($v)"
	else
		fail "/metrics: $m is a count > 0" "got '$v'"
	fi
done
for m in 'svcdns_dns_request_duration_seconds_bucket le="+Inf"' 'svcdns_upstream_errors_total reason="timeout"' \
	'svcdns_reloads_total result="ok"' 'svcdns_reloads_total result="error"' 'svcdns_reload_duration_seconds'; do
	# shellcheck disable=SC2086
	v=$(msum $m)
	if [[ $v =~ ^[0-9.e+]+$ ]]; then pass "/metrics: a sample $m"; else fail "/metrics: a sample $m"; fi
done
expect_true "/metrics: Prometheus TYPE lines" grep -q '^# TYPE svcdns_dns_requests_total counter' "$WORK/metrics"

# ---- serve-stale: the upstream gone, an expired answer still answers (RFC 8767) -----------------

expect_eq "serve-stale: stale.example.com forwarded, TTL 1" \
	"$(dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 +noall +answer stale.example.com A | awk '{print $2, $4, $5}')" \
	"1 A 192.0.2.91"
sleep 2.2 # past its TTL
stop_pid "$NSD_PID"
t0=$(now_ms)
out=$(dig @127.0.0.1 -p "$PORT" +time=5 +tries=1 +noall +answer stale.example.com A)
took=$(($(now_ms) - t0))
expect_eq "serve-stale: nsd stopped, the expired entry answers with TTL 30" \
	"$(awk '{print $2, $4, $5}' <<<"$out")" "30 A 192.0.2.91"
# Its port closed, the upstream fails at once (ICMP), so the stale answer comes at once too; a
# silent upstream's 1.8 s client response timer is test_upstream's.
if timing_ok; then
	expect_true "... at once: the failure is known at once ($took ms < 1000)" [ "$took" -lt 1000 ]
fi
expect_true "... counted: svcdns_cache_stale_answers_total" \
	bash -c "curl -s http://127.0.0.1:$MAIN_HTTP/metrics | awk '\$1 == \"svcdns_cache_stale_answers_total\" && \$2 >= 1 { ok = 1 } END { exit !ok }'"
expect_eq "... a name never cached: SERVFAIL" \
	"$(dig @127.0.0.1 -p "$PORT" +time=5 +tries=1 never-cached.example.com A | awk '/status:/ {print $6}')" "SERVFAIL,"
start_nsd # (a new port: what follows starts its servers with it)

# ---- --config, flags win; an upstream that never answers ----------------------------------------

SILENT=$(pick_port)
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(600)' "$SILENT" &
track_pid "$!"
cat >"$WORK/cfg.yaml.in" <<EOF
# svcdns settings: the same keys as the flags
zones: $Z
listen: 127.0.0.1:@PORT@
http: 127.0.0.1:@HTTP@
upstream: 127.0.0.1:$SILENT
service-cidr: $CIDRS
ttl: 42
threads: 1
EOF
# A bad value in the config file: refused, with file:line.
printf 'zones: %s\nlisten: 127.0.0.1:53\nttl: soon\n' "$Z" >"$WORK/cfg-bad.yaml"
if "$SVCDNS" --config "$WORK/cfg-bad.yaml" --check >"$WORK/cfg-bad.out" 2>&1; then rc=0; else rc=$?; fi
expect_true "--config with a bad value: exit status $rc is not 0" [ "$rc" -ne 0 ]
expect_true "--config with a bad value: file:line" grep -qF "$WORK/cfg-bad.yaml:3:" "$WORK/cfg-bad.out"
start_svcdns cfg --config "$WORK/cfg.yaml" --ttl 7
CFG_PID=$SD_PID
PORT=$SD_PORT
expect_q "--config: listen from the file, --ttl flag wins over the file's ttl" svc1.$T A NOERROR \
	"svc1.$T. A 10.96.100.1" --ttl 7
expect_q "--config: service-cidr from the file" dual.$T AAAA NOERROR "dual.$T. AAAA fd00:10:96::3" --ttl 7
run_q
# An upstream that never answers: SERVFAIL in about 3 s, over UDP and TCP at once.
t0=$(now_ms)
dig @127.0.0.1 -p "$PORT" +time=8 +tries=1 +notcp www.example.com A >"$WORK/sf-udp" 2>&1 &
d1=$!
kdig @127.0.0.1 -p "$PORT" +time=8 +retry=0 +tcp other.example.com A >"$WORK/sf-tcp" 2>&1 &
d2=$!
wait "$d1" "$d2"
elapsed=$(($(now_ms) - t0))
for f in sf-udp sf-tcp; do
	if grep -q "status: SERVFAIL" "$WORK/$f"; then pass "silent upstream ($f): SERVFAIL, not silence"; else
		fail "silent upstream ($f): SERVFAIL, not silence"
		sed 's/^/  | /' "$WORK/$f"
	fi
done
expect_true "silent upstream: SERVFAIL within 4.5 s (took $elapsed ms)" [ "$elapsed" -le 4500 ]
v=$(metric "$SD_HTTP" 'svcdns_upstream_errors_total{reason="timeout"}')
expect_true "silent upstream: counted in svcdns_upstream_errors_total{reason=\"timeout\"} ($v)" [ "${v:-0}" -ge 1 ]
stop_pid "$CFG_PID"

# Two upstreams, the first refusing (nothing listens there): the second answers.
CLOSED=$(pick_port)
start_svcdns failover --zones "$Z" --service-cidr "$CIDRS" --listen 127.0.0.1:@PORT@ --http 127.0.0.1:@HTTP@ \
	--upstream "127.0.0.1:$CLOSED" --upstream "127.0.0.1:$NSD_PORT" --threads 1
FO_PID=$SD_PID
PORT=$SD_PORT
expect_q "upstream failover: the second upstream answers" www.example.com A NOERROR \
	"www.example.com. A 192.0.2.80" --fwd --clients "dig udp,kdig tcp"
run_q
stop_pid "$FO_PID"
PORT=$MAIN_PORT

# ---- a generated cluster: 2000 services, 4000 pods (bench/gen_cluster.py) ------------------------

GEN=$WORK/gen
"$PY" "$SVC_SOURCE_DIR/bench/gen_cluster.py" "$GEN" --services 2000 --pods 2
"$SVCCTL" --zones "$GEN" get services -A >"$WORK/gen-services" 2>&1
start_svcdns gen --zones "$GEN" --listen 127.0.0.1:@PORT@ --http 127.0.0.1:@HTTP@ \
	--upstream "127.0.0.1:$NSD_PORT" --threads 2
GEN_PID=$SD_PID
PORT=$SD_PORT
gen_ip() { awk -v ns="$1" -v n="$2" '$1 == ns && $2 == n { print $4 }' "$WORK/gen-services"; }
pod_ip() { # the IP gen_cluster.py gives pod P of service S
	local i=$((0x0A800000 + $1 * 2 + $2))
	echo "$((i >> 24 & 255)).$((i >> 16 & 255)).$((i >> 8 & 255)).$((i & 255))"
}
for sn in 1 777 1999; do
	ns=ns-$((sn / 100)) ip=$(gen_ip "ns-$((sn / 100))" "svc-$sn")
	expect_q "generated cluster: ClusterIP A" "svc-$sn.$ns.$SVC" A NOERROR "svc-$sn.$ns.$SVC. A $ip"
	expect_q "generated cluster: SRV" "_grpc._tcp.svc-$sn.$ns.$SVC" SRV NOERROR \
		"_grpc._tcp.svc-$sn.$ns.$SVC. SRV 0 100 9090 svc-$sn.$ns.$SVC." --extra "svc-$sn.$ns.$SVC. A $ip"
	expect_q "generated cluster: PTR" "$(rev "$ip")" PTR NOERROR "$(rev "$ip") PTR svc-$sn.$ns.$SVC."
done
for sn in 10 1230 1990; do
	ns=ns-$((sn / 100)) a=$(pod_ip $sn 0) b=$(pod_ip $sn 1)
	expect_q "generated cluster: headless A" "svc-$sn.$ns.$SVC" A NOERROR "svc-$sn.$ns.$SVC. A $a
svc-$sn.$ns.$SVC. A $b"
	expect_q "generated cluster: pod hostname" "svc-$sn-1.svc-$sn.$ns.$SVC" A NOERROR "svc-$sn-1.svc-$sn.$ns.$SVC. A $b"
	expect_q "generated cluster: headless SRV" "_http._tcp.svc-$sn.$ns.$SVC" SRV NOERROR \
		"_http._tcp.svc-$sn.$ns.$SVC. SRV 0 50 8080 svc-$sn-0.svc-$sn.$ns.$SVC.
_http._tcp.svc-$sn.$ns.$SVC. SRV 0 50 8080 svc-$sn-1.svc-$sn.$ns.$SVC."
	expect_q "generated cluster: PTR of a headless pod" "$(rev "$a")" PTR NOERROR "$(rev "$a") PTR svc-$sn-0.svc-$sn.$ns.$SVC."
done
expect_q "generated cluster: service in another namespace" svc-1.ns-1.$SVC A NXDOMAIN ""
expect_q "generated cluster: a namespace" ns-19.$SVC A NOERROR ""
expect_q "generated cluster: past the last namespace" svc-2000.ns-20.$SVC A NXDOMAIN ""
run_q
expect_eq "generated cluster: svcdns_model_services" "$(metric "$SD_HTTP" svcdns_model_services)" 2000
expect_eq "generated cluster: svcdns_model_pods" "$(metric "$SD_HTTP" svcdns_model_pods)" 4000
stop_pid "$GEN_PID"
PORT=$MAIN_PORT

# ---- live changes -------------------------------------------------------------------------------

# A client asking all the time while the model is swapped: every query answered, every answer right.
cat >"$WORK/hammer.py" <<'EOF'
import os, random, socket, struct, sys, time
port, stop, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
sent = lost = bad = 0
while not os.path.exists(stop):
    qid = random.randrange(65536)
    s.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1), ("127.0.0.1", port))
    sent += 1
    try:
        while True:
            data = s.recv(4096)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                break
        if data[3] & 15 != 0 or struct.unpack(">H", data[6:8])[0] != 1:
            bad += 1
    except socket.timeout:
        lost += 1
    time.sleep(0.002)
print(sent, lost, bad)
EOF
"$PY" "$WORK/hammer.py" "$MAIN_PORT" "$WORK/hammer.stop" backend.shop.$SVC >"$WORK/hammer.out" 2>&1 &
HAMMER=$!
track_pid "$HAMMER"

# short NAME TYPE: dig +short's answer, lines sorted and joined by spaces.
short() { dig @127.0.0.1 -p "$MAIN_PORT" +short +time=1 +tries=1 "$1" "$2" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
status_of() { dig @127.0.0.1 -p "$MAIN_PORT" +time=1 +tries=1 "$1" "$2" 2>/dev/null | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
answers() { [ "$(short "$1" "$2")" == "$3" ]; }
answers_not() { local got; got=$(short "$1" "$2"); [ -n "$(status_of "$1" "$2")" ] && [ "$got" != "$3" ]; }
rcode_is() { [ "$(status_of "$1" "$2")" == "$3" ]; }

# expect_within LABEL CMD...: CMD succeeds within 1 s (asked every 50 ms).
expect_within() {
	local label=$1 t0
	shift
	t0=$(now_ms)
	if poll 1000 "$@"; then
		pass "$label: within 1 s of the change"
	else
		fail "$label: within 1 s of the change" "not after $(($(now_ms) - t0)) ms: '$*'"
		echo "  now: $(short "$2" "$3") ($(status_of "$2" "$3"))"
	fi
}

# Edit a service: svc1 gets another ClusterIP.
sed -i 's/clusterIP: 10.96.100.1$/clusterIP: 10.96.100.11/' "$Z/testns/services.yaml"
expect_within "edited service: new ClusterIP" answers svc1.$T A 10.96.100.11
expect_within "edited service: new PTR" answers 11.100.96.10.in-addr.arpa PTR svc1.$T.
expect_within "edited service: old PTR gone" answers_not 1.100.96.10.in-addr.arpa PTR svc1.$T.
# Add a service in a new file.
cat >"$Z/testns/added.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: added
  namespace: testns
spec:
  clusterIP: 10.96.100.20
  ports:
  - name: http
    port: 8080
EOF
expect_within "added service: A" answers added.$T A 10.96.100.20
expect_within "added service: SRV" answers _http._tcp.added.$T SRV "0 100 8080 added.$T."
# Change an ExternalName's target, then turn it into a ClusterIP service.
sed -i 's/externalName: www.example.com$/externalName: other.example.com/' "$Z/testns/services.yaml"
expect_within "edited ExternalName: new CNAME" answers ext-out.$T CNAME other.example.com.
cat >"$Z/testns/added.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: added
  namespace: testns
spec:
  type: ExternalName
  externalName: www.example.com
EOF
expect_within "ClusterIP service turned ExternalName: CNAME" answers added.$T CNAME www.example.com.
# Remove it.
rm "$Z/testns/added.yaml"
expect_within "removed service: NXDOMAIN" rcode_is added.$T A NXDOMAIN
# Add a ready pod behind the headless service, with a hostname.
cat >"$Z/testns/pod-new.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: testns
  labels: {app: hdls}
spec:
  hostname: web-1
  subdomain: hdls
  containers: [{name: c, image: x}]
status:
  phase: Running
  podIP: 10.244.5.5
  conditions: [{type: Ready, status: "True"}]
EOF
expect_within "added pod: in the headless A" answers hdls.$T A "10.244.5.1 10.244.5.2 10.244.5.4 10.244.5.5"
expect_within "added pod: its hostname" answers web-1.hdls.$T A 10.244.5.5
expect_within "added pod: its PTR" answers 5.5.244.10.in-addr.arpa PTR web-1.hdls.$T.
# The pod stops being ready.
sed -i 's/status: "True"/status: "False"/' "$Z/testns/pod-new.yaml"
expect_within "pod no longer ready: out of the headless A" answers hdls.$T A "10.244.5.1 10.244.5.2 10.244.5.4"
expect_within "pod no longer ready: hostname gone" rcode_is web-1.hdls.$T A NXDOMAIN
# The not-ready pod of 'unready' becomes ready: that service appears.
sed -i '/name: sleepy-0/,$ s/status: "False"/status: "True"/' "$Z/testns/pods.yaml"
expect_within "pod became ready: headless service appears" answers unready.$T A 10.244.7.1
# Remove a pod.
rm "$Z/testns/pod-new.yaml"
"$PY" - "$Z/testns/pods.yaml" <<'EOF'
import sys
docs = open(sys.argv[1]).read().split("---\n")
open(sys.argv[1], "w").write("---\n".join(d for d in docs if "name: hdls-a\n" not in d))
EOF
expect_within "removed pod: out of the headless A" answers hdls.$T A "10.244.5.2 10.244.5.4"
expect_within "removed pod: its dashed name gone" rcode_is 10-244-5-1.hdls.$T A NXDOMAIN

# A broken manifest: the last good model keeps being served; file:line on stderr.
errs0=$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="error"}')
cp "$BAD/testns/broken.yaml" "$Z/testns/broken.yaml"
sed -i 's/clusterIP: 10.96.100.11$/clusterIP: 10.96.100.12/' "$Z/testns/services.yaml"
logged() { grep -qF "$Z/testns/broken.yaml:8:" "$MAIN_ERR"; }
expect_within "broken manifest: file:line logged on stderr" logged
expect_true "broken manifest: the field is named" grep -q "broken.yaml:8:.*spec.ports\[0\].port" "$MAIN_ERR"
errs1=$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="error"}')
expect_true "broken manifest: a reload with errors counted ($errs0 -> $errs1)" [ "${errs1:-0}" -gt "${errs0:-0}" ]
# The file in error is left out; the valid edit made with it serves, and the rest stays.
expect_within "broken manifest: the valid edit beside it is served" answers svc1.$T A 10.96.100.12
expect_eq "broken manifest: the rest still served" "$(short hdls.$T A)" "10.244.5.2 10.244.5.4"
expect_eq "broken manifest: the broken service is not there" "$(status_of broken.$T A)" NXDOMAIN
# Fixed: its service appears.
sed -i 's/port: notaport/port: 9999/' "$Z/testns/broken.yaml"
expect_within "manifest fixed: its service appears" rcode_is broken.$T A NOERROR
# Broken again: the file keeps its last good objects in service.
sed -i 's/port: 9999/port: notaport/' "$Z/testns/broken.yaml"
errs2=$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="error"}')
counted() { [ "$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="error"}')" -gt "${errs2:-0}" ]; }
expect_within "broken again: a reload with errors counted" counted
expect_eq "broken again: its last good service still served" "$(status_of broken.$T A)" NOERROR
expect_eq "broken again: one file in error" "$(metric "$MAIN_HTTP" svcdns_manifest_files_in_error)" 1
expect_eq "broken again: the rest still served" "$(short svc1.$T A)" 10.96.100.12
sed -i 's/port: notaport/port: 9999/' "$Z/testns/broken.yaml"
no_errors() { [ "$(metric "$MAIN_HTTP" svcdns_manifest_files_in_error)" == 0 ]; }
expect_within "fixed again: no file in error" no_errors
# A file read in two chunks (32 documents each) with an error in each: one file in error.
for i in $(seq 0 39); do
	port=80
	[ "$i" = 1 ] || [ "$i" = 35 ] && port=0
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: big%d, namespace: testns}\n' "$i"
	printf -- 'spec: {ports: [{port: %d}]}\n' "$port"
done >"$Z/testns/big-broken.yaml"
one_file() { [ "$(metric "$MAIN_HTTP" svcdns_manifest_files_in_error)" == 1 ]; }
expect_within "errors in two chunks of one file: one file in error" one_file
expect_true "errors in two chunks: both reported" grep -q "big-broken.yaml:180:" "$MAIN_ERR"
expect_true "errors in two chunks: the first reported" grep -q "big-broken.yaml:10:" "$MAIN_ERR"
rm -f "$Z/testns/big-broken.yaml"
expect_within "that file removed: no file in error" no_errors

# SIGHUP forces a reload. First let the reloads for the edits above settle, so that the counter
# moves for the signal alone.
settled() {
	ok0=$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="ok"}')
	sleep 0.3
	[ "$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="ok"}')" == "$ok0" ]
}
poll 3000 settled
kill -HUP "$MAIN_PID"
reloaded() { [ "$(metric "$MAIN_HTTP" 'svcdns_reloads_total{result="ok"}')" -gt "${ok0:-0}" ]; }
expect_within "SIGHUP: a reload (svcdns_reloads_total{result=\"ok\"} was $ok0)" reloaded
expect_true "SIGHUP: logged" grep -q "SIGHUP" "$MAIN_ERR"
expect_eq "SIGHUP: still serving" "$(short svc1.$T A)" 10.96.100.12

touch "$WORK/hammer.stop"
wait "$HAMMER"
read -r sent lost bad <"$WORK/hammer.out"
expect_true "queries during the changes: some sent ($sent)" [ "${sent:-0}" -gt 50 ]
expect_eq "queries during the changes: none lost" "${lost:-x}" 0
expect_eq "queries during the changes: none wrong" "${bad:-x}" 0

# SIGTERM: a clean exit, status 0.
kill -TERM "$MAIN_PID"
gone() { ! kill -0 "$MAIN_PID" 2>/dev/null || [ "$(ps -o stat= -p "$MAIN_PID" 2>/dev/null | cut -c1)" == Z ]; }
if poll 3000 gone; then
	wait "$MAIN_PID"
	rc=$?
	untrack_pid "$MAIN_PID"
	expect_eq "SIGTERM: exit status" "$rc" 0
else
	fail "SIGTERM: exit status" "svcdns still running after 3 s"
fi
expect_true "SIGTERM: logged" grep -q "SIGTERM" "$MAIN_ERR"
expect_true "no sanitizer report on stderr" bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' $WORK/*.err"

summary
