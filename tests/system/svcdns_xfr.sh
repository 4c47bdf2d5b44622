#!/usr/bin/env bash
# Zone transfers to a standard secondary: knotd serves the cluster zone as a secondary of svcdns
# (--transfer-allow 127.0.0.1/32, --notify to knotd), all on loopback ports:
#   - knotd takes the whole zone (AXFR) at start; what it holds (knotc zone-read) is what
#     `svcdns --dump-zone` writes, record for record;
#   - a one-pod change: svcdns sends NOTIFY, knotd asks IXFR and gets the change alone (its log
#     says IXFR, not AXFR-style), and answers the pod's new address within 3 s;
#   - a client outside --transfer-allow gets REFUSED; an IXFR from a serial svcdns no longer
#     holds gets the whole zone; one as new as the zone gets the SOA alone;
#   - the SOA serial never goes back across a restart (--serial-file);
#   - a large zone (20,000 services) streamed to a client that reads slowly: other TCP clients
#     are answered meanwhile, and svcdns's memory does not grow with what the client has not
#     read.
. "$(dirname "$0")/lib/common.sh"
need_programs svcdns
need_tools knotd knotc kdig python3 curl
P_DNS=$(pick_port)
P_KNOT=$(pick_port)
P_HTTP=$(pick_port)
Z=$WORK/zones
cp -R "$ZONES_SRC" "$Z"

SD_PID=
start_svcdns() { # [zones dir]
	"$SVCDNS" --zones "${1:-$Z}" --listen "127.0.0.1:$P_DNS" --upstream 127.0.0.1:9 --threads 1 \
		--http "127.0.0.1:$P_HTTP" --transfer-allow 127.0.0.1/32 --notify "127.0.0.1:$P_KNOT" \
		--serial-file "$WORK/serial" >>"$WORK/svcdns.log" 2>&1 &
	SD_PID=$!
	track_pid "$SD_PID"
	poll 60000 curl -fs -m 1 -o /dev/null "http://127.0.0.1:$P_HTTP/ready"
}
dmetric() { curl -fs -m 3 "http://127.0.0.1:$P_HTTP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
soa_serial() { kdig @127.0.0.1 -p "$1" +short +timeout=1 cluster.local SOA 2>/dev/null | awk '{print $3}'; }

start_svcdns || {
	echo "svcdns did not start:" >&2
	cat "$WORK/svcdns.log" >&2
	exit 1
}

# ---- knotd, the secondary ---------------------------------------------------------------------

mkdir -p "$WORK/knot/db" "$WORK/knot/zones"
cat >"$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$P_KNOT
log:
  - target: stderr
    any: info
database:
    storage: "$WORK/knot/db"
remote:
  - id: primary
    address: 127.0.0.1@$P_DNS
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "$WORK/knot/zones"
zone:
  - domain: cluster.local
    master: primary
    acl: notify_from_primary
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
EOF
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot.log" 2>&1 &
track_pid "$!"
synced() { [ -n "$(soa_serial "$P_KNOT")" ] && [ "$(soa_serial "$P_KNOT")" == "$(soa_serial "$P_DNS")" ]; }
if ! poll 10000 synced; then
	echo "knotd did not take the zone:" >&2
	tail -20 "$WORK/knot.log" "$WORK/svcdns.log" >&2
	exit 1
fi
pass "knotd holds the zone at svcdns's serial $(soa_serial "$P_DNS")"
expect_true "... by AXFR" grep -q "AXFR, incoming, remote 127.0.0.1@$P_DNS, finished" "$WORK/knot.log"

# What knotd holds, and what svcdns --dump-zone writes: "name ttl type data" lines, SOA aside.
knot_records() {
	knotc -s "$WORK/knot/knot.sock" zone-read cluster.local |
		awk '{ $1 = ""; sub(/^ /, ""); print }' | grep -v ' SOA ' | tr -s ' \t' ' ' | sort
}
dump_records() {
	"$SVCDNS" --zones "$Z" --dump-zone 2>/dev/null | grep -v '^;' |
		awk '{ t = $4; $3 = ""; print }' | grep -v ' SOA ' | tr -s ' \t' ' ' | sort
}
knot_records >"$WORK/knot.txt"
dump_records >"$WORK/dump.txt"
expect_true "knotd holds what svcdns --dump-zone writes ($(wc -l <"$WORK/dump.txt") records)" \
	cmp -s "$WORK/knot.txt" "$WORK/dump.txt"
cmp -s "$WORK/knot.txt" "$WORK/dump.txt" || diff "$WORK/knot.txt" "$WORK/dump.txt" | head -10

# ---- a one-pod change: NOTIFY, then IXFR --------------------------------------------------------

before=$(soa_serial "$P_DNS")
t0=$(now_ms)
sed -i 's/podIP: 10.244.2.30/podIP: 10.244.2.31/' "$Z/data/db.yaml"
moved() { [ "$(kdig @127.0.0.1 -p "$P_KNOT" +short +timeout=1 db-1.db.data.svc.cluster.local A)" == 10.244.2.31 ]; }
poll 10000 moved
ms=$(($(now_ms) - t0))
expect_true "knotd answers the pod's new address" moved
echo "# the secondary followed the change in $ms ms"
if timing_ok; then
	expect_true "... within 3 s ($ms ms)" [ "$ms" -lt 3000 ]
fi
after=$(soa_serial "$P_DNS")
expect_true "the serial grew ($before -> $after)" [ "$after" -gt "$before" ]
expect_true "knotd took it by IXFR" grep -q "IXFR, incoming, remote 127.0.0.1@$P_DNS, finished" "$WORK/knot.log"
expect_true "... not AXFR-style" bash -c "! grep -q 'AXFR-style IXFR' '$WORK/knot.log'"
expect_true "svcdns counts it" [ "$(curl -fs "http://127.0.0.1:$P_HTTP/metrics" | awk '$1 == "svcdns_zone_transfers_total{type=\"incremental\"}" {print $2}')" -ge 1 ]
expect_true "the secondary answered svcdns's NOTIFY" \
	[ "$(curl -fs "http://127.0.0.1:$P_HTTP/metrics" | awk '$1 == "svcdns_notify_total{result=\"answered\"}" {print $2}')" -ge 1 ]
knot_records >"$WORK/knot.txt"
dump_records >"$WORK/dump.txt"
expect_true "after the change, knotd still holds what svcdns --dump-zone writes" \
	cmp -s "$WORK/knot.txt" "$WORK/dump.txt"

# ---- who may, and IXFR's other answers ----------------------------------------------------------

out=$(kdig -b 127.0.0.2 @127.0.0.1 -p "$P_DNS" +timeout=2 cluster.local AXFR 2>&1)
expect_true "AXFR from a client outside --transfer-allow: REFUSED" grep -q "REFUSED" <<<"$out"
out=$(kdig @127.0.0.1 -p "$P_DNS" +timeout=2 cluster.local IXFR=1 2>&1)
expect_true "IXFR from a serial svcdns does not hold: the whole zone" \
	grep -q "backend.shop.svc.cluster.local" <<<"$out"
out=$(kdig @127.0.0.1 -p "$P_DNS" +timeout=2 cluster.local "IXFR=$after" 2>&1)
expect_eq "IXFR from the zone's own serial: the SOA alone" \
	"$(grep -Ec '^[^;].*\s(SOA|A|AAAA|SRV|NS|TXT|CNAME)\s' <<<"$out")" 1

# ---- the serial across a restart ---------------------------------------------------------------------

stop_pid "$SD_PID"
ahead=$(($(date +%s) + 1000)) # as after a burst of changes faster than one a second
echo "$ahead" >"$WORK/serial"
start_svcdns || exit 1
restarted=$(soa_serial "$P_DNS")
expect_true "restarted: the serial goes on from the serial file ($ahead -> $restarted)" \
	[ "$restarted" -gt "$ahead" ]

# ---- a large zone, streamed -----------------------------------------------------------------------

stop_pid "$SD_PID"
"$PY" "$SVC_SOURCE_DIR/bench/gen_cluster.py" "$WORK/big" --services 20000 --pods 1 >/dev/null || exit 1
start_svcdns "$WORK/big" || {
	echo "svcdns did not start on 20,000 services" >&2
	exit 1
}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SD_PID/status"; }
rss0=$(rss)
# A client that asks the whole zone and reads 4 KiB every 20 ms: a few minutes for all of it.
"$PY" - "$P_DNS" >"$WORK/slow.log" 2>&1 <<'EOF' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0) + b"\x07cluster\x05local\x00" + struct.pack(">HH", 252, 1)
s.sendall(struct.pack(">H", len(q)) + q)
print("asked", flush=True)
while True:
    if not s.recv(4096):
        break
    time.sleep(0.02)
EOF
SLOW=$!
track_pid "$SLOW"
poll 5000 grep -q asked "$WORK/slow.log"
sleep 1
worst=0
for i in $(seq 1 20); do
	t=$(now_ms)
	a=$(kdig @127.0.0.1 -p "$P_DNS" +tcp +short +timeout=2 dns-version.cluster.local TXT)
	t=$(($(now_ms) - t))
	[ "$a" == '"1.1.0"' ] || worst=99999
	[ "$t" -gt "$worst" ] && worst=$t
done
expect_true "while the transfer goes on, other TCP clients are answered (slowest of 20: $worst ms)" \
	[ "$worst" -lt 99999 ]
if timing_ok; then
	expect_true "... at once (slowest under 500 ms)" [ "$worst" -lt 500 ]
fi
rss1=$(rss)
echo "# svcdns RSS before the transfer ${rss0} KiB, with the slow client ${rss1} KiB"
expect_true "svcdns holds little of what the slow client has not read (+$((rss1 - rss0)) KiB)" \
	[ $((rss1 - rss0)) -lt 16384 ]
stop_pid "$SLOW"
# A client that reads: the whole zone, framed by the SOA.
out=$(kdig @127.0.0.1 -p "$P_DNS" +timeout=10 cluster.local AXFR 2>&1 | tail -3)
expect_true "a client that reads gets the whole large zone" grep -Eq "Received.*records|XFR size: [0-9]{5,} records" <<<"$out"
echo "# $(grep -E 'XFR size|Received' <<<"$out")"

summary
