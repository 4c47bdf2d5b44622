#!/usr/bin/env bash
# dns_bench.sh -- svcdns against Knot DNS on the same records, one core each.
#
# Generates a cluster (bench/gen_cluster.py), writes the records svcdns serves for it as zone files
# for knotd (bench/zone_from_cluster.py, from `svcctl get ... -o yaml`, never by asking svcdns),
# checks that both servers give the same answers to a sample of the query mix
# (bench/compare_answers.py), then loads each server in turn with dnsperf and prints side by side:
#   - queries per second at saturation (dnsperf -c CLIENTS -q OUTSTANDING, no rate limit)
#   - CPU time per answer (utime+stime of the server process from /proc/PID/stat) at a fixed rate
#     below saturation (dnsperf -Q RATE; default half the slower server's saturation rate)
#   - queries lost at that rate, and its average latency
#   - VmRSS after the load
# Each server is pinned to core SERVER_CPU (svcdns --threads 1; knotd with one UDP, one TCP and one
# background worker), dnsperf to core CLIENT_CPU.
#
# usage: bench/dns_bench.sh          (from the repository root or anywhere)
# environment: SERVICES=10000 PODS=2 (per service) DURATION=10 (s per run) CLIENTS=10
#   OUTSTANDING=500 REPS=3 (runs per server and phase, alternating; medians shown)
#   NICE=-10 (as root) RATE=auto|QPS PORT_SVCDNS=38353 PORT_KNOT=38354 SERVER_CPU=0 CLIENT_CPU=1
#   BUILD_DIR=build-bench PROFILE=1 (perf record svcdns during a saturation run, print top
#   functions) KEEP=1 (keep the temporary directory) CHECK=400 (queries compared)
# Installs knot, dnsperf, dig and python3-yaml with apt-get when missing; builds svcdns when needed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=${SERVICES:-10000}
PODS=${PODS:-2}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-10}
OUTSTANDING=${OUTSTANDING:-500}
RATE=${RATE:-auto}
PORT_SVCDNS=${PORT_SVCDNS:-38353}
PORT_KNOT=${PORT_KNOT:-38354}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PROFILE=${PROFILE:-0}
KEEP=${KEEP:-0}
CHECK=${CHECK:-400}
REPS=${REPS:-3}
# Other work on a shared machine competes for the cores: as root, run the servers and dnsperf
# at a higher priority (NICE=0 turns this off).
if [ "$(id -u)" -eq 0 ]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi
NICE_CMD=
[ "$NICE" != 0 ] && NICE_CMD="nice -n $NICE"

log() { printf '%s\n' "$*" >&2; }
die() { log "dns_bench: $*"; exit 1; }

# ---- packages ----
need_pkgs=()
command -v knotd >/dev/null || [ -x /usr/sbin/knotd ] || need_pkgs+=(knot)
command -v dnsperf >/dev/null || need_pkgs+=(dnsperf)
command -v dig >/dev/null || need_pkgs+=(bind9-dnsutils)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
command -v python3 >/dev/null || need_pkgs+=(python3)
python3 -c 'import yaml' 2>/dev/null || need_pkgs+=(python3-yaml)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
	log "installing: ${need_pkgs[*]}"
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root (or sudo) to install: ${need_pkgs[*]}"
		SUDO=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
	# The package may start a system knotd on port 53; ours uses its own config and ports.
fi
KNOTD=$(command -v knotd || echo /usr/sbin/knotd)

# ---- build ----
# A Release build (-O3), as a packager would make.
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
	[ -x "$ROOT/scripts/deps.sh" ] && "$ROOT/scripts/deps.sh"
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
		-DSVC_BUILD_TESTS=OFF >/dev/null
fi
if ! cmake --build "$BUILD_DIR" -j"$(nproc)" --target svcdns svcctl >"$BUILD_DIR/bench-build.log" 2>&1; then
	if [ ! -x "$BUILD_DIR/svcdns" ] || [ ! -x "$BUILD_DIR/svcctl" ]; then
		tail -20 "$BUILD_DIR/bench-build.log" >&2
		die "build failed"
	fi
	log "dns_bench: WARNING: build failed (see $BUILD_DIR/bench-build.log); using the existing binaries"
fi
SVCDNS=$BUILD_DIR/svcdns
SVCCTL=$BUILD_DIR/svcctl

if [ "$(nproc)" -lt 2 ]; then
	log "dns_bench: WARNING: one CPU: server and dnsperf share it"
	SERVER_CPU=0
	CLIENT_CPU=0
fi
for p in "$PORT_SVCDNS" "$PORT_KNOT"; do
	python3 - "$p" <<-'EOF' || die "port $p is in use (set PORT_SVCDNS / PORT_KNOT)"
	import socket, sys
	for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
	    s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()
	EOF
done

# ---- temporary directory and cleanup ----
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dns_bench.XXXXXX")
SVCDNS_PID=
KNOT_PID=
PERF_PID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in $PERF_PID $SVCDNS_PID $KNOT_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $PERF_PID $SVCDNS_PID $KNOT_PID; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- cluster, zone files, queries ----
t0=$(date +%s)
python3 "$ROOT/bench/gen_cluster.py" "$WORK/cluster" --services "$SERVICES" --pods "$PODS"
mkdir -p "$WORK/zones" "$WORK/knot/run" "$WORK/knot/db"
python3 "$ROOT/bench/zone_from_cluster.py" --svcctl "$SVCCTL" --zones "$WORK/cluster" \
	--out "$WORK/zones" --check "$CHECK"
QUERIES=$WORK/zones/queries.txt

cat >"$WORK/knot/knot.conf" <<EOF
server:
    rundir: $WORK/knot/run
    listen: 127.0.0.1@$PORT_KNOT
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: $WORK/knot/db
template:
  - id: default
    storage: $WORK/zones
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: cluster.local
    file: cluster.local.zone
  - domain: in-addr.arpa
    file: in-addr.arpa.zone
EOF

# ---- servers ----
wait_answer() { # PORT PID NAME: until the server answers an A query for a service
	local name
	name=$(awk '$2 == "A" && $1 ~ /^svc-[0-9]+\.ns-/ {print $1; exit}' "$QUERIES")
	for _ in $(seq 1 300); do
		kill -0 "$2" 2>/dev/null || die "$3 exited (see $WORK/$3.log)"
		# dig prints its errors (";; communications error ...") on stdout too.
		if dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 "$name" A 2>/dev/null |
			grep -qv '^;;'; then
			return 0
		fi
		sleep 0.1
	done
	die "$3 does not answer on port $1"
}

$NICE_CMD taskset -c "$SERVER_CPU" "$SVCDNS" --zones "$WORK/cluster" --listen "127.0.0.1:$PORT_SVCDNS" \
	--threads 1 --upstream 127.0.0.1:9 --log-level warning >"$WORK/svcdns.log" 2>&1 &
SVCDNS_PID=$!
$NICE_CMD taskset -c "$SERVER_CPU" "$KNOTD" -c "$WORK/knot/knot.conf" >"$WORK/knotd.log" 2>&1 &
KNOT_PID=$!
wait_answer "$PORT_SVCDNS" "$SVCDNS_PID" svcdns
wait_answer "$PORT_KNOT" "$KNOT_PID" knotd
PTR_NAME=$(awk '$2 == "PTR" {print $1; exit}' "$QUERIES")
[ -n "$(dig @127.0.0.1 -p "$PORT_KNOT" +short +tries=1 "$PTR_NAME" PTR)" ] || sleep 2 # rev zone

log "checking answers ($(wc -l <"$WORK/zones/check.txt") queries from the mix) ..."
if python3 "$ROOT/bench/compare_answers.py" "$WORK/zones/check.txt" svcdns "$PORT_SVCDNS" \
	knot "$PORT_KNOT" >"$WORK/compare.txt"; then SAME=yes; else SAME=NO; fi
cat "$WORK/compare.txt" >&2

# ---- load ----
# Runs alternate between the servers, REPS times, so that other load on the machine hits both
# alike; the table shows medians. Every run is also listed in runs.tsv.
cpu_ticks() { # utime + stime of the whole process (all threads), in clock ticks
	awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}
core_busy() { # busy ticks of CPU $1 (user nice system irq softirq steal)
	awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
RUNS=$WORK/runs.tsv
printf 'server\tphase\trep\tsent\tanswers\tlost\tqps\tcpu_s\tus_per_answer\tlat_ms\tserver_cpu_pct\tother_cpu_pct\tcodes\n' >"$RUNS"

run_perf() { # SERVER PHASE REP [dnsperf args...]: one dnsperf run, one line in runs.tsv
	local s=$1 phase=$2 rep=$3 port pid c0 c1 b0 b1 t0 t1 out
	shift 3
	if [ "$s" = svcdns ]; then port=$PORT_SVCDNS pid=$SVCDNS_PID; else port=$PORT_KNOT pid=$KNOT_PID; fi
	out=$WORK/dnsperf.$s.$phase.$rep.txt
	c0=$(cpu_ticks "$pid") b0=$(core_busy "$SERVER_CPU") t0=$(date +%s%N)
	$NICE_CMD taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$QUERIES" \
		-c "$CLIENTS" -q "$OUTSTANDING" "$@" >"$out" 2>&1 || { cat "$out" >&2; die "dnsperf failed"; }
	c1=$(cpu_ticks "$pid") b1=$(core_busy "$SERVER_CPU") t1=$(date +%s%N)
	awk -v s="$s" -v ph="$phase" -v rep="$rep" -v dc=$((c1 - c0)) -v db=$((b1 - b0)) \
		-v hz="$HZ" -v wall=$(((t1 - t0) / 1000000)) '
	/Queries sent:/ {sent = $3}
	/Queries completed:/ {done = $3}
	/Queries lost:/ {lost = $3}
	/Queries per second:/ {qps = $4}
	/Average Latency/ {lat = $4 * 1000}
	/Response codes:/ {codes = $0; sub(/.*codes: +/, "", codes)}
	END {
		cpu = dc / hz; secs = wall / 1000
		printf "%s\t%s\t%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.3f\t%.0f\t%.0f\t%s\n", s, ph, rep, sent,
		    done, lost, qps, cpu, (done > 0 ? cpu / done * 1e6 : 0), lat, 100 * cpu / secs,
		    100 * (db - dc) / hz / secs, codes
	}' "$out" >>"$RUNS"
	tail -1 "$RUNS" | awk -F'\t' '{printf "  %-6s %-4s #%s: %7d answers/s, %5.2f us/answer, %d lost, server core: %s%% server %s%% other\n", $1, $2, $3, $7, $9, $6, $11, $12}' >&2
}

for s in svcdns knot; do
	log "$s: warm-up"
	run_perf "$s" warm 0 -l 2
done
for rep in $(seq 1 "$REPS"); do
	for s in svcdns knot; do
		log "$s: saturation for ${DURATION}s (run $rep/$REPS) ..."
		run_perf "$s" sat "$rep" -l "$DURATION"
	done
done
if [ "$RATE" = auto ]; then
	# Half the slower server's median rate at saturation, rounded down to 1000.
	RATE=$(python3 -c '
import csv, statistics, sys
runs = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["phase"] == "sat"]
m = min(statistics.median(float(r["qps"]) for r in runs if r["server"] == s)
        for s in ("svcdns", "knot"))
print(max(int(m / 2 / 1000) * 1000, 1000))' "$RUNS")
fi
for rep in $(seq 1 "$REPS"); do
	for s in svcdns knot; do
		log "$s: ${RATE} q/s for ${DURATION}s (run $rep/$REPS) ..."
		run_perf "$s" fixed "$rep" -l "$DURATION" -Q "$RATE"
	done
done
RSS_SVCDNS=$(rss_kb "$SVCDNS_PID")
RSS_KNOT=$(rss_kb "$KNOT_PID")

# ---- report ----
echo
echo "svcdns vs Knot DNS $("$KNOTD" --version 2>/dev/null | awk '{print $NF}'): $SERVICES services," \
	"$((SERVICES * PODS)) pods; $(wc -l <"$QUERIES") queries in the mix; servers on CPU" \
	"$SERVER_CPU, dnsperf on CPU $CLIENT_CPU; $REPS x ${DURATION}s runs each, -c $CLIENTS" \
	"-q $OUTSTANDING${NICE_CMD:+, $NICE_CMD}"
echo "same answers on the sample: $SAME ($(head -1 "$WORK/compare.txt"))"
python3 - "$RUNS" "$RATE" "$RSS_SVCDNS" "$RSS_KNOT" <<'PYEOF'
import csv, statistics, sys
runs = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rate, rss = sys.argv[2], {"svcdns": int(sys.argv[3]), "knot": int(sys.argv[4])}

def med(server, phase, col):
    v = [float(r[col]) for r in runs if r["server"] == server and r["phase"] == phase]
    return statistics.median(v) if v else float("nan")

rows = [
    ("saturation: answers/s", "sat", "qps", "{:.0f}"),
    ("saturation: server CPU % of its core", "sat", "server_cpu_pct", "{:.0f}"),
    ("saturation: CPU us/answer", "sat", "us_per_answer", "{:.2f}"),
    ("saturation: queries lost", "sat", "lost", "{:.0f}"),
    ("saturation: avg latency ms", "sat", "lat_ms", "{:.3f}"),
    (f"at {rate} q/s: answers", "fixed", "answers", "{:.0f}"),
    (f"at {rate} q/s: CPU s (utime+stime)", "fixed", "cpu_s", "{:.2f}"),
    (f"at {rate} q/s: CPU us/answer", "fixed", "us_per_answer", "{:.2f}"),
    (f"at {rate} q/s: queries lost", "fixed", "lost", "{:.0f}"),
    (f"at {rate} q/s: avg latency ms", "fixed", "lat_ms", "{:.3f}"),
    ("other busy time on the server core, %", None, "other_cpu_pct", "{:.0f}"),
]
fmt = "{:<40} {:>12} {:>12} {:>12}"
print(fmt.format("(medians)", "svcdns", "knot", "svcdns/knot"))
for label, phase, col, f in rows:
    if phase is None:
        a = statistics.median([float(r[col]) for r in runs if r["server"] == "svcdns" and r["phase"] != "warm"])
        b = statistics.median([float(r[col]) for r in runs if r["server"] == "knot" and r["phase"] != "warm"])
    else:
        a, b = med("svcdns", phase, col), med("knot", phase, col)
    print(fmt.format(label, f.format(a), f.format(b), f"{a / b:.2f}" if b else "-"))
a, b = 1e6 / med("svcdns", "sat", "us_per_answer"), 1e6 / med("knot", "sat", "us_per_answer")
print(fmt.format("one core's capacity, 1e6/(us/answer)", f"{a:.0f}", f"{b:.0f}", f"{a / b:.2f}"))
print(fmt.format("VmRSS after load, KiB", rss["svcdns"], rss["knot"], f"{rss['svcdns'] / rss['knot']:.2f}"))
print("runs (answers/s | us/answer | lost):")
for s in ("svcdns", "knot"):
    for phase in ("sat", "fixed"):
        rs = [r for r in runs if r["server"] == s and r["phase"] == phase]
        print(f"  {s:<6} {phase:<5} " + "  ".join(
            f"{float(r['qps']):.0f} | {r['us_per_answer']} | {r['lost']}" for r in rs))
for s in ("svcdns", "knot"):
    r = [r for r in runs if r["server"] == s and r["phase"] == "fixed"][-1]
    print(f"response codes ({s}, last fixed-rate run): {r['codes']}")
PYEOF

# ---- optional profile of svcdns at saturation ----
if [ "$PROFILE" = 1 ]; then
	command -v perf >/dev/null || die "PROFILE=1 needs perf"
	log "profiling svcdns at saturation for ${DURATION}s ..."
	perf record -q -g -o "$WORK/perf.data" -p "$SVCDNS_PID" -- sleep "$DURATION" \
		>"$WORK/perf.log" 2>&1 &
	PERF_PID=$!
	sleep 0.3
	run_perf svcdns profile 1 -l "$DURATION"
	wait "$PERF_PID" || true
	PERF_PID=
	echo
	echo "svcdns profile at saturation ($(tail -1 "$RUNS" | cut -f7) answers/s), self time:"
	perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -30
fi
log "done in $(( $(date +%s) - t0 ))s"
