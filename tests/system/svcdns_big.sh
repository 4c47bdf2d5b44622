#!/usr/bin/env bash
# svcdns_big.sh -- big headless services through the real svcdns with real clients (issue 9,
# item 3): with 600 and 2000 ready endpoints the SRV and A answers pass 16 KiB, the reach of a
# compression pointer. Over UDP they come back truncated (TC); dig's retry over TCP, and dig
# and kdig asked over TCP directly, must get a well-formed answer naming every endpoint, with
# correct addresses in the additional section.
. "$(dirname "$0")/lib/common.sh"

need_tools dig kdig curl
need_programs svcdns

ZONE=cluster.local

# Service SVC in namespace bigns: N pods at 10.<NET>.<i / 250>.<i % 250 + 1>, even ones with
# hostname h<i> (their endpoint name), odd ones named by their dashed address. Writes the
# manifests, and the expected SRV targets and addresses, sorted.
gen() { # SVC N NET
	"$PY" - "$WORK" "$1" "$2" "$3" "$ZONE" <<'PYEOF'
import sys
work, svc, n, net, zone = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
docs = ["""apiVersion: v1
kind: Service
metadata: {name: %s, namespace: bigns}
spec:
  clusterIP: None
  selector: {app: %s}
  ports: [{name: http, port: 80, targetPort: 8080}]
""" % (svc, svc)]
names, addrs = [], []
for i in range(n):
    ip = "10.%s.%d.%d" % (net, i // 250, i % 250 + 1)
    host = "h%d" % i if i % 2 == 0 else ip.replace(".", "-")
    spec = "  hostname: %s\n" % host if i % 2 == 0 else ""
    docs.append("""apiVersion: v1
kind: Pod
metadata: {name: %s-%d, namespace: bigns, labels: {app: %s}}
spec:
  subdomain: %s
%s  containers: [{name: c, image: x}]
status:
  podIP: %s
  conditions: [{type: Ready, status: "True"}]
""" % (svc, i, svc, svc, spec, ip))
    names.append("%s.%s.bigns.svc.%s." % (host, svc, zone))
    addrs.append(ip)
with open("%s/zones/%s.yaml" % (work, svc), "w") as f:
    f.write("---\n".join(docs))
with open("%s/%s.names" % (work, svc), "w") as f:
    f.write("".join(x + "\n" for x in sorted(names)))
with open("%s/%s.addrs" % (work, svc), "w") as f:
    f.write("".join(x + "\n" for x in sorted(addrs)))
with open("%s/%s.pairs" % (work, svc), "w") as f:
    f.write("".join("%s %s\n" % p for p in sorted(zip(names, addrs))))
PYEOF
}

mkdir -p "$WORK/zones"
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: bigns}\n' >"$WORK/zones/ns.yaml"
gen big 600 1
gen huge 2000 2

PORT=$(pick_port)
HTTP=$(pick_port)
"$SVCDNS" --zones "$WORK/zones" --listen "127.0.0.1:$PORT" --upstream 127.0.0.1:1 \
	--http "127.0.0.1:$HTTP" --threads 1 >"$WORK/svcdns.log" 2>&1 &
track_pid $!
if ! poll 20000 curl -sf "http://127.0.0.1:$HTTP/ready" -o /dev/null; then
	cat "$WORK/svcdns.log"
	fail "svcdns not ready"
	summary
	exit 1
fi

DIG=(dig @127.0.0.1 -p "$PORT" +norec +time=5 +tries=1)
KDIG=(kdig @127.0.0.1 -p "$PORT" +norec +time=5 +retry=0)

# No client complains about the message (dig: "malformed", "bad label type"; kdig: "malformed
# reply packet") or gets none. (Not any warning: dig warns that .local is for mDNS.)
clean() { ! grep -qiE 'malformed|bad label|bad compression|;; error|communications error|timed out|refused' "$1"; }
# The header line of dig or kdig says NOERROR.
noerror() { grep -qE 'status: NOERROR' "$1"; }

for svc in big huge; do
	n=$(wc -l <"$WORK/$svc.addrs")
	srv=_http._tcp.$svc.bigns.svc.$ZONE
	name=$svc.bigns.svc.$ZONE

	# dig over TCP: every endpoint a target, each A record in the additional section right.
	"${DIG[@]}" +tcp "$srv" SRV >"$WORK/out" 2>&1
	expect_true "$svc: dig +tcp SRV is well formed" clean "$WORK/out"
	expect_true "$svc: dig +tcp SRV is NOERROR" noerror "$WORK/out"
	expect_eq "$svc: dig +tcp SRV answer count" "$(grep -oE 'ANSWER: [0-9]+' "$WORK/out")" "ANSWER: $n"
	awk '$1 !~ /^;/ && $4 == "SRV" { print $8 }' "$WORK/out" | sort >"$WORK/got"
	expect_true "$svc: SRV targets are the endpoints" cmp -s "$WORK/got" "$WORK/$svc.names"
	awk '$1 !~ /^;/ && $4 == "A" { print $1, $5 }' "$WORK/out" | sort >"$WORK/got"
	expect_true "$svc: additional A records match their targets" \
		sh -c "[ -s '$WORK/got' ] && comm -23 '$WORK/got' '$WORK/$svc.pairs' | cmp -s - /dev/null"
	if [ "$n" -le 1000 ]; then
		expect_true "$svc: every target's address is there" cmp -s "$WORK/got" "$WORK/$svc.pairs"
	fi

	# kdig, another parser, over TCP.
	"${KDIG[@]}" +tcp "$srv" SRV >"$WORK/out" 2>&1
	expect_true "$svc: kdig +tcp SRV is well formed" clean "$WORK/out"
	expect_true "$svc: kdig +tcp SRV is NOERROR" noerror "$WORK/out"
	awk '$1 !~ /^;/ && $4 == "SRV" { print $8 }' "$WORK/out" | sort >"$WORK/got"
	expect_true "$svc: kdig sees every endpoint" cmp -s "$WORK/got" "$WORK/$svc.names"

	# A over TCP: every address.
	"${DIG[@]}" +tcp +short "$name" A | sort >"$WORK/got"
	expect_true "$svc: A over TCP has every address" cmp -s "$WORK/got" "$WORK/$svc.addrs"

	# Over UDP the answer is truncated: TC, and dig retries over TCP and resolves the name.
	"${DIG[@]}" +ignore "$srv" SRV >"$WORK/out" 2>&1
	expect_true "$svc: UDP answer has TC" grep -qE 'flags:[a-z ]* tc' "$WORK/out"
	"${DIG[@]}" "$srv" SRV >"$WORK/out" 2>&1
	expect_true "$svc: dig retries over TCP" grep -q 'Truncated, retrying in TCP mode' "$WORK/out"
	expect_true "$svc: the retry is well formed" clean "$WORK/out"
	awk '$1 !~ /^;/ && $4 == "SRV" { print $8 }' "$WORK/out" | sort >"$WORK/got"
	expect_true "$svc: the retry resolves every endpoint" cmp -s "$WORK/got" "$WORK/$svc.names"
done

# One endpoint name, looked up by name after the big answers.
"${DIG[@]}" +tcp +short "h598.big.bigns.svc.$ZONE" A >"$WORK/got"
expect_eq "endpoint name" "$(cat "$WORK/got")" "10.1.2.99"

summary
