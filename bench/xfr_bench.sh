#!/usr/bin/env bash
# xfr_bench.sh -- a full zone transfer of a large cluster zone, svcdns against Knot DNS serving
# the same records, side by side, one core each.
#
# Generates a cluster (bench/gen_cluster.py, SERVICES services), starts svcdns on it with
# --transfer-allow, writes the zone it serves (`svcdns --dump-zone`) for knotd as a primary, and
# then, ROUNDS times each, alternating:
#   - one AXFR with kdig from each server: wall time, records, messages, bytes, and the server's
#     CPU time for it (utime+stime from /proc/PID/stat);
#   - while it runs, TCP queries from another client, one after the other: how many were answered
#     and the slowest (the other clients of a server must not wait for a transfer).
# Medians are printed with svcdns/Knot ratios. Servers on SERVER_CPU, clients on CLIENT_CPU.
#
# usage: bench/xfr_bench.sh
# environment: SERVICES=100000 ROUNDS=3 PORT_SVCDNS=38363 PORT_KNOT=38365 PORT_HTTP=38367 SERVER_CPU=0
#   CLIENT_CPU=1 BUILD_DIR=build-bench KEEP=1 (keep the temporary directory)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=${SERVICES:-100000}
ROUNDS=${ROUNDS:-3}
PORT_SVCDNS=${PORT_SVCDNS:-38363}
PORT_KNOT=${PORT_KNOT:-38365}
PORT_HTTP=${PORT_HTTP:-38367}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
KEEP=${KEEP:-0}

log() { printf '%s\n' "$*" >&2; }
die() {
	log "xfr_bench: $*"
	exit 1
}

for t in knotd kdig python3 taskset; do
	command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || die "$t is needed (apt-get install knot knot-dnsutils python3 util-linux)"
done
if [ ! -x "$BUILD_DIR/svcdns" ]; then
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j "$(nproc)" --target svcdns >/dev/null
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/xfr_bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$KEEP" = 1 ] && log "kept $W" || rm -rf "$W"
}
trap cleanup EXIT

log "generating $SERVICES services"
python3 "$ROOT/bench/gen_cluster.py" "$W/zones" --services "$SERVICES" --pods 1 >/dev/null

taskset -c "$SERVER_CPU" "$BUILD_DIR/svcdns" --zones "$W/zones" --listen "127.0.0.1:$PORT_SVCDNS" \
	--upstream 127.0.0.1:9 --threads 1 --transfer-allow 127.0.0.1/32 \
	--http 127.0.0.1:$PORT_HTTP >"$W/svcdns.log" 2>&1 &
SVCDNS_PID=$!
PIDS+=("$SVCDNS_PID")
for i in $(seq 1 600); do
	curl -fs -o /dev/null "http://127.0.0.1:$PORT_HTTP/ready" && break
	sleep 0.2
done
curl -fs -o /dev/null "http://127.0.0.1:$PORT_HTTP/ready" || die "svcdns did not start"

log "writing the zone for knotd (svcdns --dump-zone)"
"$BUILD_DIR/svcdns" --zones "$W/zones" --dump-zone >"$W/cluster.local.zone" 2>/dev/null
mkdir -p "$W/knot"
cat >"$W/knot.conf" <<EOF
server:
    rundir: "$W/knot"
    listen: 127.0.0.1@$PORT_KNOT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$W/knot"
acl:
  - id: local
    address: 127.0.0.1
    action: transfer
zone:
  - domain: cluster.local
    storage: "$W"
    file: "cluster.local.zone"
    acl: local
    zonefile-sync: -1
    journal-content: none
EOF
taskset -c "$SERVER_CPU" knotd -c "$W/knot.conf" >"$W/knot.log" 2>&1 &
KNOT_PID=$!
PIDS+=("$KNOT_PID")
for i in $(seq 1 300); do
	kdig @127.0.0.1 -p "$PORT_KNOT" +short +timeout=1 cluster.local SOA 2>/dev/null | grep -q . && break
	kill -0 "$KNOT_PID" 2>/dev/null || die "knotd stopped: $(tail -3 "$W/knot.log")"
	sleep 0.2
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

# One transfer from PORT (server PID): "ms records messages bytes cpu_ms answered worst_ms".
one() {
	local port=$1 pid=$2 c0 c1 t0 t1 out
	c0=$(cpu_ticks "$pid")
	taskset -c "$CLIENT_CPU" python3 - "$port" >"$W/probe.out" <<'EOF' &
import socket, struct, sys, time
port = int(sys.argv[1])
q = struct.pack(">HHHHHH", 9, 0, 1, 0, 0, 0) + b"\x0bdns-version\x07cluster\x05local\x00" + struct.pack(">HH", 16, 1)
worst = 0.0; n = 0
end = time.monotonic() + 600
while time.monotonic() < end:
    try:
        open("/dev/shm/xfr_bench_stop", "rb").close()
        break
    except OSError:
        pass
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(struct.pack(">H", len(q)) + q)
    d = s.recv(2)
    s.close()
    worst = max(worst, time.monotonic() - t); n += 1
    time.sleep(0.005)
print(n, round(worst * 1000, 1))
EOF
	local probe=$!
	t0=$(date +%s%N)
	out=$(taskset -c "$CLIENT_CPU" kdig @127.0.0.1 -p "$port" +timeout=60 cluster.local AXFR 2>&1 | tail -3)
	t1=$(date +%s%N)
	touch /dev/shm/xfr_bench_stop
	wait "$probe"
	rm -f /dev/shm/xfr_bench_stop
	c1=$(cpu_ticks "$pid")
	# ";; Received 5094079 B (319 messages, 120005 records)"
	local recs msgs bytes
	recs=$(sed -n 's/.*messages, \([0-9]*\) records.*/\1/p' <<<"$out")
	msgs=$(sed -n 's/.*(\([0-9]*\) messages.*/\1/p' <<<"$out")
	bytes=$(sed -n 's/.*Received \([0-9]*\) B.*/\1/p' <<<"$out")
	echo "$(((t1 - t0) / 1000000)) ${recs:-0} ${msgs:-0} ${bytes:-0} $(((c1 - c0) * 1000 / TCK)) $(cat "$W/probe.out")"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
: >"$W/svcdns.res"
: >"$W/knot.res"
for r in $(seq 1 "$ROUNDS"); do
	one "$PORT_SVCDNS" "$SVCDNS_PID" >>"$W/svcdns.res"
	one "$PORT_KNOT" "$KNOT_PID" >>"$W/knot.res"
	log "round $r: svcdns $(tail -1 "$W/svcdns.res") | knot $(tail -1 "$W/knot.res")"
done

col() { awk -v c="$2" '{print $c}' "$1" | median; }
printf '\nfull transfer (AXFR) of %d services, %d rounds, medians; servers on CPU %s, clients on CPU %s\n' \
	"$SERVICES" "$ROUNDS" "$SERVER_CPU" "$CLIENT_CPU"
printf '%-34s %12s %12s %8s\n' "" svcdns knot ratio
row() { # LABEL COLUMN
	local a b
	a=$(col "$W/svcdns.res" "$2")
	b=$(col "$W/knot.res" "$2")
	printf '%-34s %12s %12s %8s\n' "$1" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
}
row "transfer wall time (ms)" 1
row "records" 2
row "messages" 3
row "bytes" 4
row "server CPU for it (ms)" 5
row "other TCP queries meanwhile" 6
row "slowest of them (ms)" 7
