#!/usr/bin/env bash
# udp_bench.sh -- cluster DNS through the kube-dns ClusterIP (svcfwd's UDP relay) against the same
# svcdns asked directly, on the example cluster in the lib/fwdnet.sh namespaces:
#
#   C (dnsperf) 10.251.0.2 -- N1 node-a (svcfwd; routes) -- P1 10.244.1.2 (svcdns, the kube-dns pod, :5353)
#
# Both paths cross node-a: through the VIP 10.96.0.10:53 (svcfwd relays) or routed to the pod
# (the kernel forwards). svcdns (--threads 1) and svcfwd run on SERVER_CPU, dnsperf on CLIENT_CPU.
# Rounds alternate direct / VIP; medians of:
#   - queries per second at saturation (dnsperf -c 10 -q 500)
#   - at a fixed RATE (default 20000/s): the CPU each process spends per query (utime+stime from
#     /proc/PID/stat): svcdns answering, svcfwd relaying; the whole machine's busy time per query
#     (/proc/stat, softirq included: a kernel fast path runs there, outside any process), less
#     dnsperf's own; and the queries lost
# The issue's targets: svcfwd's CPU per relayed query at most svcdns's per answer, and the VIP's
# saturation rate at least 0.8 of the direct one.
#
# usage: bench/udp_bench.sh
# environment: DURATION=10 ROUNDS=3 RATE=20000 SERVER_CPU=0 CLIENT_CPU=1 BUILD_DIR=build-bench
#   FWD_ARGS="--udp-answer-ports none" (svcfwd options)
#   PROFILE=1 (after the rounds: perf record -g on svcfwd, then strace -c, each during a fixed-rate
#   run through the VIP; prints the top symbols and system calls)
# Needs root (network namespaces), dnsperf.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-20000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
command -v dnsperf >/dev/null || { echo "udp_bench: dnsperf is needed (apt-get install dnsperf)" >&2; exit 1; }
if [ ! -x "$BUILD_DIR/svcdns" ] || [ ! -x "$BUILD_DIR/svcfwd" ]; then
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j "$(nproc)" --target svcdns svcfwd >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/udp_bench.XXXXXX")
PY=$(command -v python3)
FWD_TAG=ub$$
# shellcheck source=../tests/system/lib/fwdnet.sh
. "$ROOT/tests/system/lib/fwdnet.sh"
# The cleanup runs without -e: a stopped process's status is not an error here.
trap 'set +e; fwdnet_down; rm -rf "$WORK"' EXIT

fwdnet_up "10.244.1.2" "" || { echo "udp_bench: namespaces" >&2; exit 1; }
ip netns exec "$P1" taskset -c "$SERVER_CPU" "$BUILD_DIR/svcdns" --zones "$ROOT/zones" \
	--listen 10.244.1.2:5353 --upstream 127.0.0.1:9 --threads 1 --no-autopath \
	>"$WORK/svcdns.log" 2>&1 &
DNS_PID=$!
FWD_PIDS+=("$DNS_PID")
ip netns exec "$N1" taskset -c "$SERVER_CPU" "$BUILD_DIR/svcfwd" --zones "$ROOT/zones" \
	--node node-a --http 127.0.0.1:9154 ${FWD_ARGS:-} >"$WORK/svcfwd.log" 2>&1 &
FWD_PID=$!
FWD_PIDS+=("$FWD_PID")
for i in $(seq 1 200); do
	[ "$(in_c dig @10.96.0.10 +short +time=1 +tries=1 backend.shop.svc.cluster.local 2>/dev/null)" = 10.106.35.83 ] &&
		[ "$(in_c dig @10.244.1.2 -p 5353 +short +time=1 +tries=1 backend.shop.svc.cluster.local 2>/dev/null)" = 10.106.35.83 ] && break
	sleep 0.1
done
printf '%s\n' "backend.shop.svc.cluster.local A" "frontend.shop.svc.cluster.local A" \
	"db.data.svc.cluster.local A" "kubernetes.default.svc.cluster.local A" \
	"_http._tcp.backend.shop.svc.cluster.local SRV" >"$WORK/queries"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy jiffies of the whole machine: all but idle and iowait.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
TCK=$(getconf CLK_TCK)
# dnsperf from C against ADDR PORT: "QPS SENT LOST" ("-Q RATE" when a rate is given).
run_dnsperf() { # ADDR PORT [RATE]
	local out
	out=$(in_c taskset -c "$CLIENT_CPU" dnsperf -s "$1" -p "$2" -d "$WORK/queries" -l "$DURATION" \
		-c 10 -q 500 ${3:+-Q "$3"} 2>&1)
	awk '/Queries per second/ {q = $4} /Queries sent/ {s = $3} /Queries lost/ {l = $3} END {print q, s, l}' <<<"$out"
}
: >"$WORK/res"
for r in $(seq 1 "$ROUNDS"); do
	for path in direct vip; do
		if [ "$path" = direct ]; then A=10.244.1.2 P=5353; else A=10.96.0.10 P=53; fi
		read -r sat _ _ <<<"$(run_dnsperf "$A" "$P")"
		d0=$(ticks "$DNS_PID")
		f0=$(ticks "$FWD_PID")
		m0=$(busy)
		read -r q sent lost <<<"$(run_dnsperf "$A" "$P" "$RATE")"
		d1=$(ticks "$DNS_PID")
		f1=$(ticks "$FWD_PID")
		m1=$(busy)
		us_dns=$(awk -v t=$((d1 - d0)) -v n="$sent" -v h="$TCK" 'BEGIN {printf "%.2f", n ? t / h * 1e6 / n : 0}')
		us_fwd=$(awk -v t=$((f1 - f0)) -v n="$sent" -v h="$TCK" 'BEGIN {printf "%.2f", n ? t / h * 1e6 / n : 0}')
		us_all=$(awk -v t=$((m1 - m0)) -v n="$sent" -v h="$TCK" 'BEGIN {printf "%.2f", n ? t / h * 1e6 / n : 0}')
		echo "$path $sat $us_dns $us_fwd $lost $us_all" >>"$WORK/res"
		echo "round $r $path: saturation $sat q/s; at $RATE q/s: svcdns $us_dns us, svcfwd $us_fwd us, machine $us_all us a query, $lost lost" >&2
	done
done
if [ "${PROFILE:-0}" = 1 ]; then
	command -v perf >/dev/null || { echo "udp_bench: PROFILE=1 needs perf" >&2; exit 1; }
	perf record -q -g -o "$WORK/perf.data" -p "$FWD_PID" -- sleep "$DURATION" >"$WORK/perf.log" 2>&1 &
	PERF_PID=$!
	sleep 0.3
	run_dnsperf 10.96.0.10 53 "$RATE" >/dev/null
	wait "$PERF_PID" || true
	echo "svcfwd profile at $RATE q/s through the VIP, self time:"
	perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -40 || true
	if command -v strace >/dev/null; then
		timeout -s INT "$DURATION" strace -c -f -p "$FWD_PID" -o "$WORK/strace.txt" >/dev/null 2>&1 &
		ST_PID=$!
		sleep 0.3
		run_dnsperf 10.96.0.10 53 "$RATE" >/dev/null
		wait "$ST_PID" || true
		echo "svcfwd system calls at $RATE q/s through the VIP:"
		head -20 "$WORK/strace.txt" || true
	fi
fi
med() { awk -v p="$1" -v c="$2" '$1 == p {print $c}' "$WORK/res" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf '\nDNS through the kube-dns ClusterIP (svcfwd) and direct to the svcdns pod; %d rounds, medians\n' "$ROUNDS"
printf '%-40s %12s %12s %8s\n' "" direct "via VIP" ratio
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '%-40s %12s %12s %8s\n' "queries/s at saturation" "$(med direct 2)" "$(med vip 2)" "$(ratio "$(med vip 2)" "$(med direct 2)")"
printf '%-40s %12s %12s\n' "svcdns CPU per query (us), at $RATE/s" "$(med direct 3)" "$(med vip 3)"
printf '%-40s %12s %12s %8s\n' "svcfwd CPU per relayed query (us)" "-" "$(med vip 4)" "$(ratio "$(med vip 4)" "$(med direct 3)")"
printf '%-40s %12s %12s\n' "queries lost at $RATE/s" "$(med direct 5)" "$(med vip 5)"
printf '%-40s %12s %12s\n' "machine CPU per query (us), at $RATE/s" "$(med direct 6)" "$(med vip 6)"
printf '%-40s %12s %12s %8s\n' "the VIP's cost per query (us): difference" "-" \
	"$(awk -v a="$(med vip 6)" -v b="$(med direct 6)" 'BEGIN {printf "%.2f", a - b}')" \
	"$(awk -v a="$(med vip 6)" -v b="$(med direct 6)" -v c="$(med direct 3)" 'BEGIN { if (c > 0) printf "%.2f", (a - b) / c; else print "-" }')"
echo "(ratios: VIP / direct rate, target >= 0.8; svcfwd / svcdns CPU per query, target <= 1; the"
echo " VIP's cost per query, whole machine, against svcdns's per answer, target <= 1)"
