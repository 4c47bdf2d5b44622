#!/usr/bin/env bash
# etcd_bench.sh -- issue 11's etcd store, measured: how fast a change written with svcctl reaches
# the answers of ten svcdns, against the floor etcd itself sets (etcdctl put seen by etcdctl
# watch); and at scale, the import, start to serving, memory per object and svcctl get from
# etcd, beside the same daemons reading the directory.
#
# usage: bench/etcd_bench.sh [--latency] [--rounds N] [--instances N] [--keep]
#        bench/etcd_bench.sh --scale [--services N] [--pods N] [--members N] [--keep]
#   --latency (the default): a three-member etcd on 127.0.0.1 (free ports), `svcctl apply -f
#   zones/`, then --instances 10 svcdns (--threads 1, each its own port, --etcd all members).
#   --rounds 30 rounds, each of two measurements: `etcdctl put` of a new key while 10 `etcdctl
#   watch` clients follow the prefix (the floor: etcd's own write and watch path), then `svcctl
#   apply -f -` of a new Service default/lat-<i> with clusterIP 10.96.200.<i>, timed from just
#   before svcctl starts until each svcdns answers lat-<i>.default.svc.cluster.local with that
#   address (UDP questions to every instance not there yet, every GAP_MS). Per round: svcctl's
#   and etcdctl's own wall time, and the first and last instance (watcher) to see the change;
#   over all rounds: median, p90 and max of each, and svcdns over the floor as ratios.
#   --scale: bench/gen_cluster.py --services 10000 --pods 5 (per service) into the work dir,
#   --members 1 etcd member (--quota-backend-bytes QUOTA), `svcctl apply -f DIR` (wall time and
#   peak RSS by /usr/bin/time -v), then one daemon at a time, from etcd and from the directory:
#   svcdns from exec until it answers the last generated ClusterIP service over UDP, svcfwd
#   (--node node-a) until /ready is 200, VmHWM and VmRSS SETTLE s later, RSS per object
#   (services + pods), the CPU time the daemon and etcd spent until it served (svcctl's and etcd's
#   for the import); and `svcctl get svc -n <a namespace in the middle>` (median of 5). Printed
#   beside issue 11's targets: svcdns start < 15 s, svcfwd start < 30 s, <= 1024 B per object,
#   get svc -n NS < 1 s. Everything of --scale runs in a network namespace of its own (svcfwd
#   adds a local route for the service CIDR and catches its addresses).
# environment: SERVER_CPU=0 (svcdns, svcfwd, and the etcdctl watch clients of the floor)
#   ETCD_CPU=1 (etcd members) CLIENT_CPU=1 (svcctl, etcdctl put, the probes) NICE=-10 (all of
#   them) BUILD_DIR=build-bench (Release, built when needed; SVCDNS= SVCFWD= SVCCTL= use given
#   binaries) DATA_DIR=/dev/shm (etcd's data: tmpfs when it is one, so no fsync waits; else
#   the work dir) QUOTA=8589934592 (bytes) GAP_MS=2 PAUSE=0.3 (s between measurements)
#   CHANGE_TIMEOUT=10 (s, per change) START_TIMEOUT=300 (s, per daemon) IMPORT_TIMEOUT=3600 (s)
#   SETTLE=5 (s before reading steady memory) KEEP=1
# Everything made here (processes, the network namespace, the work and data directories) goes
# on exit. Other work on the machine shows in the numbers: the load average is printed.
set -euo pipefail

# The whole script is one block: bash reads it all before running, so editing the file while it
# runs cannot change what runs.
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=latency ROUNDS=30 INSTANCES=10 SERVICES=10000 PODS=5 MEMBERS=
KEEP=${KEEP:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--latency) MODE=latency; shift ;;
	--scale) MODE=scale; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--instances) INSTANCES=$2; shift 2 ;;
	--services) SERVICES=$2; shift 2 ;;
	--pods) PODS=$2; shift 2 ;;
	--members) MEMBERS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "etcd_bench: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
done
[ -n "$MEMBERS" ] || { [ "$MODE" = latency ] && MEMBERS=3 || MEMBERS=1; }
SERVER_CPU=${SERVER_CPU:-0}
ETCD_CPU=${ETCD_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
DATA_DIR=${DATA_DIR:-/dev/shm}
QUOTA=${QUOTA:-8589934592}
GAP_MS=${GAP_MS:-2}
PAUSE=${PAUSE:-0.3}
CHANGE_TIMEOUT=${CHANGE_TIMEOUT:-10}
START_TIMEOUT=${START_TIMEOUT:-300}
IMPORT_TIMEOUT=${IMPORT_TIMEOUT:-3600}
SETTLE=${SETTLE:-5}
NICE=${NICE:--10}
NICE_CMD=
[ "$NICE" != 0 ] && NICE_CMD="nice -n $NICE"
ZONE=cluster.local
PREFIX=/svcdns

log() { printf '%s\n' "$*" >&2; }
die() { log "etcd_bench: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (nice -10; --scale: a network namespace, svcfwd's routes)"
for t in etcd etcdctl taskset python3 curl; do command -v "$t" >/dev/null || die "$t is needed"; done
[ "$MODE" = scale ] && { command -v ip >/dev/null || die "ip is needed"; }
[ "$(nproc)" -ge 2 ] || { log "etcd_bench: WARNING: one CPU: everything shares it"; SERVER_CPU=0 ETCD_CPU=0 CLIENT_CPU=0; }

# ---- build ----
if [ -z "${SVCDNS:-}" ] || [ -z "${SVCFWD:-}" ] || [ -z "${SVCCTL:-}" ]; then
	if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
		[ -x "$ROOT/scripts/deps.sh" ] && "$ROOT/scripts/deps.sh"
		cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=OFF >/dev/null
	fi
	if ! cmake --build "$BUILD_DIR" -j2 --target svcdns svcfwd svcctl >"$BUILD_DIR/etcd-build.log" 2>&1; then
		tail -20 "$BUILD_DIR/etcd-build.log" >&2
		die "build failed (see $BUILD_DIR/etcd-build.log)"
	fi
fi
SVCDNS=${SVCDNS:-$BUILD_DIR/svcdns}
SVCFWD=${SVCFWD:-$BUILD_DIR/svcfwd}
SVCCTL=${SVCCTL:-$BUILD_DIR/svcctl}
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$SVCDNS")/CMakeCache.txt" 2>/dev/null || true)
ETCD_VERSION=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')

# ---- work dir, names, cleanup ----
TAG=eb$$
WORK="" DATA="" NS="" FG=""
IN=()
PIDS=()
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [ -n "$FG" ]; then
		# fg_run's job is a subshell when it runs a function: its children first.
		# shellcheck disable=SC2013 # the file is PIDs separated by spaces
		for pid in $(cat /proc/"$FG"/task/*/children 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
		kill "$FG" 2>/dev/null || true
	fi
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$NS" ]; then
		# Anything still running in our namespace was started here.
		for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$NS" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then
		log "kept $WORK${DATA:+ and $DATA}"
	else
		[ -z "$DATA" ] || rm -rf "$DATA"
		[ -z "$WORK" ] || rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/etcd_bench.XXXXXX")
chmod 755 "$WORK"
if [ -d "$DATA_DIR" ] && [ -w "$DATA_DIR" ]; then
	DATA=$(mktemp -d "$DATA_DIR/etcd_bench.XXXXXX")
else
	DATA=$WORK/etcd-data
	mkdir -p "$DATA"
fi
DATA_FS=$(stat -f -c %T "$DATA")

# Long steps run in the background and are waited for, so a signal is handled at once (bash
# runs a trap only after a foreground command ends); cleanup stops what is left.
fg_run() {
	local rc=0
	"$@" &
	FG=$!
	wait "$FG" || rc=$?
	FG=
	return "$rc"
}
nap() { fg_run sleep "$1"; }
SERVER_PIN="$NICE_CMD taskset -c $SERVER_CPU"
ETCD_PIN="$NICE_CMD taskset -c $ETCD_CPU"
CLIENT_PIN="$NICE_CMD taskset -c $CLIENT_CPU"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the measuring half: one Python file, roles as scale_probe.py has them ----
PROBE=$WORK/etcd_probe.py
cat >"$PROBE" <<'EOF'
"""etcd_probe.py -- the measuring half of bench/etcd_bench.sh (written there, run from the
work dir). DNS questions and /proc readings come from bench/scale_probe.py.

  ports N      N free TCP ports on 127.0.0.1
  latency ...  the rounds of --latency: etcdctl put against etcdctl watch clients, svcctl apply
               against svcdns answers; the tables
  wait-http    seconds until http://ADDR/ready says 200, and the memory then (JSON)
  timed ...    a command run REPS times: median and max wall time, and its output's lines (JSON)
  scale-report the table of --scale, from the JSON files of the work dir
Every time is time.monotonic_ns() unless it is compared with the shell's $EPOCHREALTIME."""
import argparse
import ctypes
import json
import os
import selectors
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.environ["ETCD_BENCH_ROOT"] + "/bench")
import scale_probe as sp  # noqa: E402

mono = time.monotonic_ns
MS = 1_000_000
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """In a child before exec: SIGTERM when the probe goes, so no client outlives it."""
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(cmd, **kw):
    return subprocess.Popen(cmd, preexec_fn=die_with_parent, **kw)


def cmd_ports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))


def cmd_wait_http(a):
    addr = sp.hostport(a.http)
    end = time.time() + a.timeout
    res = {"serving_s": None, "why": None}
    while True:
        if not sp.alive(a.pid):
            res["why"] = "exited"
            break
        if sp.http_status(addr, "/ready", 0.5) == 200:
            res["serving_s"] = round(time.time() - a.t0, 3)
            break
        if time.time() >= end:
            res["why"] = f"/ready not 200 within {a.timeout:.0f} s"
            break
        time.sleep(0.02)
    res["rss_kb"], res["hwm_kb"] = sp.mem(a.pid)
    print(json.dumps(res))


def cmd_timed(a):
    walls, out = [], b""
    for _ in range(a.reps):
        t = mono()
        p = subprocess.run(a.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        walls.append((mono() - t) / 1e9)
        out = p.stdout
        if p.returncode != 0:
            break
    print(json.dumps({"median_s": round(statistics.median(walls), 4), "max_s": round(max(walls), 4),
                      "reps": len(walls), "rc": p.returncode,
                      "lines": len(out.splitlines()), "tail": out.decode(errors="replace")[-300:]}))


# ---- --latency ---------------------------------------------------------------------------------


def wait_exit_fd(p):
    """A descriptor that turns readable when P exits: its exit is timed to the wake-up."""
    return os.pidfd_open(p.pid)


def floor_round(watchers, put_cmd, key, timeout):
    """etcdctl put KEY, timed from just before the exec until each watcher prints KEY."""
    kb = key.encode() + b"\n"
    seen = [None] * len(watchers)
    sel = selectors.DefaultSelector()
    for i, w in enumerate(watchers):
        sel.register(w["fd"], selectors.EVENT_READ, i)
    t0 = mono()
    p = spawn(put_cmd + [key, "v"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pfd = wait_exit_fd(p)
    sel.register(pfd, selectors.EVENT_READ, -1)
    done = None
    end = t0 + int(timeout * 1e9)
    while (done is None or None in seen) and mono() < end:
        for k, _ in sel.select(max(end - mono(), 0) / 1e9):
            now = mono()
            if k.data == -1:
                done = now - t0
                sel.unregister(pfd)
                continue
            w = watchers[k.data]
            chunk = os.read(w["fd"], 65536)
            if not chunk:
                raise SystemExit(f"etcd_probe: watcher {k.data} ended")
            w["buf"] = (w["buf"] + chunk)[-4096:]
            if seen[k.data] is None and (b"\n" + kb) in b"\n" + w["buf"]:
                seen[k.data] = now - t0
    sel.close()
    os.close(pfd)
    rc = p.wait()
    err = p.stderr.read().decode(errors="replace").strip()
    return {"cmd_ms": done / MS if done is not None else None, "rc": rc, "err": err[-300:],
            "seen_ms": [s / MS if s is not None else None for s in seen]}


def svc_yaml(name, ip):
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n"
            f"spec:\n  clusterIP: {ip}\n  ports:\n  - port: 80\n").encode()


def svc_round(servers, apply_cmd, name, ip, qid, timeout, gap_ns):
    """svcctl apply of NAME with IP, timed from just before the exec until each server answers
    NAME with IP: a question to every server not there yet, every GAP_NS."""
    q = sp.dns_query(qid, f"{name}.default.svc.cluster.local")
    idx = {s: i for i, s in enumerate(servers)}
    seen = [None] * len(servers)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, 0)
    t0 = mono()
    p = spawn(apply_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pfd = wait_exit_fd(p)
    sel.register(pfd, selectors.EVENT_READ, -1)
    p.stdin.write(svc_yaml(name, ip))
    p.stdin.close()
    done = None
    end = t0 + int(timeout * 1e9)
    next_send = t0
    while (done is None or None in seen) and mono() < end:
        now = mono()
        if now >= next_send and None in seen:
            for i, s in enumerate(servers):
                if seen[i] is None:
                    try:
                        sock.sendto(q, s)
                    except OSError:
                        pass
            next_send = now + gap_ns
        wait = (next_send - mono()) if None in seen else (end - mono())
        for k, _ in sel.select(max(wait, 0) / 1e9):
            if k.data == -1:
                done = mono() - t0
                sel.unregister(pfd)
                continue
            while True:
                try:
                    m, src = sock.recvfrom(4096)
                except BlockingIOError:
                    break
                now = mono()
                i = idx.get(src)
                if i is None or seen[i] is not None:
                    continue
                try:
                    rid, rcode, addrs = sp.dns_parse(m)
                except (ValueError, IndexError, sp.struct.error):
                    continue
                if rid == qid and rcode == 0 and ip in addrs:
                    seen[i] = now - t0
    sel.close()
    sock.close()
    os.close(pfd)
    rc = p.wait()
    out = p.stdout.read().decode(errors="replace").strip()
    return {"cmd_ms": done / MS if done is not None else None, "rc": rc, "out": out[-300:],
            "seen_ms": [s / MS if s is not None else None for s in seen]}


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))]


def fmt(x):
    return "-" if x is None else f"{x:.1f}"


def summary(v):
    """(median, p90, max) of V; a None (not seen within the timeout) counts as the worst."""
    if not v:
        return (None, None, None)
    miss = [x for x in v if x is None]
    w = sorted(x for x in v if x is not None)
    if miss:
        return (pct(w + [float("inf")] * len(miss), 0.5) if w else None, None, None)
    return (statistics.median(w), pct(w, 0.9), w[-1])


def cmd_latency(a):
    servers = [sp.hostport(x) for x in a.servers.split(",")]
    apply_cmd = shlex.split(a.svcctl)
    put_cmd = shlex.split(a.put)
    watch_cmd = shlex.split(a.watch)
    watchers = []
    for _ in range(len(servers)):
        r, w = os.pipe()
        p = spawn(watch_cmd, stdout=w, stderr=subprocess.DEVNULL)
        os.close(w)
        watchers.append({"p": p, "fd": r, "buf": b""})
    # Warm-up, not counted: every watcher connected and following, every binary in the page
    # cache, every svcdns past its first change.
    for tries in range(50):
        r = floor_round(watchers, put_cmd, f"{a.floor_prefix}warm-{tries}", 1.0)
        if None not in r["seen_ms"]:
            break
    else:
        raise SystemExit("etcd_probe: the etcdctl watch clients never saw a put")
    r = svc_round(servers, apply_cmd, "lat-warm", "10.96.199.1", 65000, a.timeout, a.gap_ms * MS)
    if r["rc"] != 0 or None in r["seen_ms"]:
        raise SystemExit(f"etcd_probe: the warm-up change did not arrive: {r}")
    rounds = []
    for i in range(1, a.rounds + 1):
        time.sleep(a.pause)
        f = floor_round(watchers, put_cmd, f"{a.floor_prefix}k-{i}", a.timeout)
        time.sleep(a.pause)
        ip = f"10.96.{200 + (i - 1) // 250}.{(i - 1) % 250 + 1}"
        s = svc_round(servers, apply_cmd, f"lat-{i}", ip, i, a.timeout, a.gap_ms * MS)
        if f["rc"] != 0:
            print(f"etcd_bench: round {i}: etcdctl put failed: {f['err']}", file=sys.stderr)
        if s["rc"] != 0:
            print(f"etcd_bench: round {i}: svcctl apply failed: {s['out']}", file=sys.stderr)
        rounds.append({"round": i, "ip": ip, "floor": f, "svc": s})
        print(f"  round {i}: svcctl {fmt(s['cmd_ms'])} ms, svcdns last {fmt(mx(s['seen_ms']))} ms;"
              f" etcdctl put {fmt(f['cmd_ms'])} ms, watch last {fmt(mx(f['seen_ms']))} ms",
              file=sys.stderr)
    for w in watchers:
        w["p"].terminate()
        w["p"].wait()
        os.close(w["fd"])
    with open(a.out, "w") as fo:
        json.dump(rounds, fo)
    report_latency(rounds, len(servers))


def mx(v):
    return None if None in v else max(v)


def mn(v):
    w = [x for x in v if x is not None]
    return min(w) if w else None


def report_latency(rounds, n):
    print()
    print(f"| round | svcctl apply (ms) | svcdns: first / last of {n} (ms) "
          f"| etcdctl put (ms) | etcdctl watch: first / last of {n} (ms) | last: svcdns / etcd |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        s, f = r["svc"], r["floor"]
        ls, lf = mx(s["seen_ms"]), mx(f["seen_ms"])
        ratio = f"{ls / lf:.1f}" if ls is not None and lf else "-"
        print(f"| {r['round']} | {fmt(s['cmd_ms'])} | {fmt(mn(s['seen_ms']))} / {fmt(ls)} "
              f"| {fmt(f['cmd_ms'])} | {fmt(mn(f['seen_ms']))} / {fmt(lf)} | {ratio} |")
    rows = [
        ("svcctl apply -f - (its own wall time)", [r["svc"]["cmd_ms"] for r in rounds]),
        (f"svcctl apply → one svcdns answers ({n} per round)",
         [x for r in rounds for x in r["svc"]["seen_ms"]]),
        (f"svcctl apply → all {n} svcdns answer (per-round max)",
         [mx(r["svc"]["seen_ms"]) for r in rounds]),
        ("etcdctl put (its own wall time)", [r["floor"]["cmd_ms"] for r in rounds]),
        (f"etcdctl put → one etcdctl watch sees it ({n} per round)",
         [x for r in rounds for x in r["floor"]["seen_ms"]]),
        (f"etcdctl put → all {n} watchers see it (per-round max)",
         [mx(r["floor"]["seen_ms"]) for r in rounds]),
    ]
    print()
    print(f"| {len(rounds)} rounds | n | median (ms) | p90 (ms) | max (ms) | not seen |")
    print("|---|---:|---:|---:|---:|---:|")
    sums = {}
    for name, v in rows:
        med, p90, m = summary(v)
        sums[name] = (med, p90, m)
        print(f"| {name} | {len(v)} | {fmt(med)} | {fmt(p90)} | {fmt(m)} | "
              f"{sum(1 for x in v if x is None)} |")
    print()
    keys = list(sums)

    def ratio(i, j, k):
        x, y = sums[keys[i]][k], sums[keys[j]][k]
        return f"{x / y:.1f}" if x is not None and y else "-"
    print(f"svcdns over the etcd floor (svcctl apply → answered / etcdctl put → watched): "
          f"per instance median {ratio(1, 4, 0)}x, p90 {ratio(1, 4, 1)}x; per-round max median "
          f"{ratio(2, 5, 0)}x, max {ratio(2, 5, 2)}x; the commands' own wall time median "
          f"{ratio(0, 3, 0)}x")


# ---- --scale -----------------------------------------------------------------------------------


def load(work, name):
    try:
        with open(os.path.join(work, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_scale_report(a):
    W = a.work
    n_obj = a.objects

    def start(name):
        d = load(W, f"start-{name}.json")
        if d is None:
            return "-"
        return f"{d['serving_s']:.1f} s" if d["serving_s"] is not None else f"did not serve ({d['why']})"

    def mem(name):
        s, st = load(W, f"start-{name}.json"), load(W, f"steady-{name}.json")
        if st is None or st.get("rss_kb") is None:
            return "-", "-"
        hwm = st["hwm_kb"]
        return (f"{hwm / 1024:.0f} / {st['rss_kb'] / 1024:.0f} MB",
                f"{st['rss_kb'] * 1024 / n_obj:.0f} B")

    def cpu(name):
        c = load(W, f"cpu-{name}.json")
        if c is None:
            return "-"
        if name.endswith("-dir"):
            return f"{c['daemon_cpu_s']:.1f} s / -"
        return f"{c['daemon_cpu_s']:.1f} / {c['etcd_cpu_s']:.1f} s"

    def ok(val, limit):
        return "" if val is None else (" ✓" if val <= limit else " ✗")

    def start_ok(name, limit):
        d = load(W, f"start-{name}.json")
        return ok(d["serving_s"] if d and d["serving_s"] is not None else 1e9, limit) if d else ""

    def per_obj_ok(name):
        st = load(W, f"steady-{name}.json")
        return ok(st["rss_kb"] * 1024 / n_obj, 1024) if st and st.get("rss_kb") else ""

    def get(name):
        d = load(W, f"get-{name}.json")
        if d is None:
            return "-"
        if d["rc"] != 0:
            return f"failed ({d['tail'].strip()[-80:]})"
        return f"{d['median_s'] * 1000:.0f} ms (max {d['max_s'] * 1000:.0f}; {d['lines'] - 1} rows)"

    def get_ok(name):
        d = load(W, f"get-{name}.json")
        return ok(d["median_s"], 1.0) if d and d["rc"] == 0 else ""

    imp = load(W, "import.json") or {}
    print()
    print("| | etcd | directory | target |")
    print("|---|---:|---:|---|")
    if imp:
        print(f"| import: svcctl apply -f DIR (wall; peak RSS) | {imp.get('wall_s', 0):.1f} s; "
              f"{(imp.get('maxrss_kb') or 0) / 1024:.0f} MB | - | |")
        print(f"| import: CPU of svcctl / etcd | {imp.get('svcctl_cpu_s')} / {imp.get('etcd_cpu_s')} s "
              f"| - | |")
        print(f"| etcd after the import: keys; db size; member RSS | {imp.get('keys')}; "
              f"{(imp.get('db_bytes') or 0) / 2**20:.0f} MB; {(imp.get('etcd_rss_kb') or 0) / 1024:.0f} MB | - | |")
    for d in ("svcdns", "svcfwd"):
        lim = 15 if d == "svcdns" else 30
        what = "answers the last service over UDP" if d == "svcdns" else "/ready is 200"
        print(f"| {d} start to serving: {what} | {start(d + '-etcd')}{start_ok(d + '-etcd', lim)} "
              f"| {start(d + '-dir')}{start_ok(d + '-dir', lim)} | < {lim} s |")
        print(f"| {d} CPU until serving: the daemon / etcd meanwhile | {cpu(d + '-etcd')} "
              f"| {cpu(d + '-dir')} | |")
        me, md = mem(d + "-etcd"), mem(d + "-dir")
        print(f"| {d} VmHWM / VmRSS ({a.settle:g} s after serving) | {me[0]} | {md[0]} | |")
        print(f"| {d} RSS per object ({n_obj:,} services + pods) | {me[1]}{per_obj_ok(d + '-etcd')} "
              f"| {md[1]}{per_obj_ok(d + '-dir')} | <= 1024 B |")
    print(f"| svcctl get svc -n {a.ns} (median of 5) | {get('etcd')}{get_ok('etcd')} "
          f"| {get('dir')}{get_ok('dir')} | < 1 s |")
    print()
    for name in ("svcdns-etcd", "svcfwd-etcd"):
        m = load(W, f"store-{name}.json")
        if m:
            d = name.split("-")[0]
            if "/metrics" in m:
                print(f"{d}_store_*: /metrics answered {m['/metrics']} (at this size it is over its cap)")
                continue
            state = [k.split('"')[1] for k, v in m.items() if "_store_state{" in k and v == "1"]
            print(f"{d}_store_* when steady: state {','.join(state) or '?'}, " + ", ".join(
                f"{k} {m.get(f'{d}_store_{k}', '?')}"
                for k in ("revision", "relists_total", "reconnects_total", "invalid_objects")))


def cmd_store_metrics(a):
    """svcdns_store_* / svcfwd_store_* of ADDR's /metrics, as one JSON object."""
    try:
        with socket.create_connection(sp.hostport(a.http), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            d = b""
            while True:
                c = s.recv(1 << 20)
                if not c:
                    break
                d += c
    except OSError:
        print("{}")
        return
    try:
        status = int(d.split(None, 2)[1])
    except (IndexError, ValueError):
        status = None
    out = {} if status == 200 else {"/metrics": f"HTTP {status}"}
    for line in d.decode(errors="replace").splitlines():
        if "_store_" in line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = v
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("wait-http")
    p.add_argument("--http", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("timed")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p = sub.add_parser("latency")
    p.add_argument("--servers", required=True)
    p.add_argument("--svcctl", required=True, help="the apply command, reading -f -")
    p.add_argument("--put", required=True, help="etcdctl ... put (KEY VALUE appended)")
    p.add_argument("--watch", required=True, help="etcdctl ... watch --prefix FLOOR_PREFIX")
    p.add_argument("--floor-prefix", required=True)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--gap-ms", type=float, default=2)
    p.add_argument("--pause", type=float, default=0.3)
    p.add_argument("--out", required=True)
    p = sub.add_parser("scale-report")
    p.add_argument("--work", required=True)
    p.add_argument("--objects", type=int, required=True)
    p.add_argument("--ns", required=True)
    p.add_argument("--settle", type=float, default=5)
    p = sub.add_parser("store-metrics")
    p.add_argument("--http", required=True)
    a = ap.parse_args()
    # Gone with the script that started it, even if that is killed outright.
    die_with_parent()
    {"ports": cmd_ports, "wait-http": cmd_wait_http, "timed": cmd_timed, "latency": cmd_latency,
     "scale-report": cmd_scale_report, "store-metrics": cmd_store_metrics}[a.cmd](a)


if __name__ == "__main__":
    main()
EOF
export ETCD_BENCH_ROOT=$ROOT
pyrun() { "${IN[@]}" $CLIENT_PIN python3 "$@"; }
probe() { pyrun "$PROBE" "$@"; }

# ---- etcd ----
EP="" EP_HOSTS=""
ETCD_PIDS=()
etcd_start() { # N: members m1..mN on 127.0.0.1 (in $NS when set), data under $DATA
	local n=$1 i cluster="" ports
	read -r -a ports < <(probe ports $((2 * n)))
	for i in $(seq 1 "$n"); do
		cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[2 * i - 1]}"
		EP+="${EP:+,}http://127.0.0.1:${ports[2 * i - 2]}"
	done
	EP_HOSTS=${EP//http:\/\//}
	for i in $(seq 1 "$n"); do
		"${IN[@]}" $ETCD_PIN etcd --name "m$i" --data-dir "$DATA/m$i" \
			--listen-client-urls "http://127.0.0.1:${ports[2 * i - 2]}" \
			--advertise-client-urls "http://127.0.0.1:${ports[2 * i - 2]}" \
			--listen-peer-urls "http://127.0.0.1:${ports[2 * i - 1]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${ports[2 * i - 1]}" \
			--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "$TAG" \
			--quota-backend-bytes "$QUOTA" --logger zap --log-level warn >"$WORK/etcd-m$i.log" 2>&1 &
		PIDS+=($!)
		ETCD_PIDS+=($!)
	done
	for _ in $(seq 1 300); do
		ectl endpoint health >/dev/null 2>&1 && return 0
		nap 0.1
	done
	tail -5 "$WORK"/etcd-m*.log >&2
	die "etcd did not become healthy"
}
ectl() { "${IN[@]}" etcdctl --endpoints "$EP_HOSTS" --command-timeout=60s "$@"; }
ctl() { "${IN[@]}" $CLIENT_PIN "$SVCCTL" --etcd "$EP" "$@"; }
stop_pid() { # PID: SIGTERM, then SIGKILL after 10 s
	kill "$1" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
mem_json() { # PID: {"rss_kb":..,"hwm_kb":..}
	awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2}
		END {printf "{\"rss_kb\": %s, \"hwm_kb\": %s}\n", r ? r : "null", h ? h : "null"}' \
		"/proc/$1/status" 2>/dev/null || echo '{"rss_kb": null, "hwm_kb": null}'
}
cpu_s() { # PID...: their CPU time (user + system), in seconds
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{ sub(/^[^)]*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	python3 -c "import os, sys; print(round(int(sys.argv[1]) / os.sysconf('SC_CLK_TCK'), 2))" "$t"
}
secs() { python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.1f}')" "$EPOCHREALTIME" "$1"; }
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')

# =================================== --latency ====================================================
if [ "$MODE" = latency ]; then
	log "etcd: $MEMBERS members on 127.0.0.1, data in $DATA ($DATA_FS) ..."
	etcd_start "$MEMBERS"
	out=$(ctl apply -f "$ROOT/zones" 2>&1) || die "svcctl apply -f zones/ failed: $out"
	log "  svcctl apply -f zones/: $(grep -c ' created' <<<"$out") objects created"
	read -r -a ports < <(probe ports $((2 * INSTANCES)))
	SERVERS=
	SD_PIDS=()
	log "starting $INSTANCES svcdns (CPU $SERVER_CPU) ..."
	for i in $(seq 0 $((INSTANCES - 1))); do
		dp=${ports[2 * i]} hp=${ports[2 * i + 1]}
		$SERVER_PIN "$SVCDNS" --etcd "$EP" --listen "127.0.0.1:$dp" --http "127.0.0.1:$hp" \
			--threads 1 --upstream 127.0.0.1:9 --log-level warning >"$WORK/svcdns-$i.log" 2>&1 &
		PIDS+=($!)
		SD_PIDS+=($!)
		SERVERS+="${SERVERS:+,}127.0.0.1:$dp"
	done
	T0=$EPOCHREALTIME
	for i in $(seq 0 $((INSTANCES - 1))); do
		r=$(probe wait-http --http "127.0.0.1:${ports[2 * i + 1]}" --pid "${SD_PIDS[$i]}" --t0 "$T0" --timeout 60)
		grep -q '"serving_s": [0-9]' <<<"$r" || die "svcdns $i not ready: $r; $(tail -3 "$WORK/svcdns-$i.log")"
	done
	log "  all $INSTANCES ready (/ready 200) $(secs "$T0") s after the last was started"
	FLOOR=/etcd-bench-floor/
	log "$ROUNDS rounds (a warm-up first, not counted) ..."
	echo
	echo "etcd_bench --latency: etcd $ETCD_VERSION, $MEMBERS members on 127.0.0.1, data on $DATA_FS ($DATA);" \
		"$INSTANCES svcdns (--threads 1, --etcd every member) on CPU $SERVER_CPU; etcd on CPU $ETCD_CPU;" \
		"svcctl, etcdctl put and the probe on CPU $CLIENT_CPU; the $INSTANCES etcdctl watch clients on" \
		"CPU $SERVER_CPU${NICE_CMD:+ (all $NICE_CMD)}; ${BUILD_TYPE:-?} build, $COMMIT"
	echo "each round: etcdctl put $FLOOR<key> against $INSTANCES etcdctl watch --prefix $FLOOR, then" \
		"svcctl apply -f - of Service default/lat-<i> (clusterIP 10.96.200.<i>) against a UDP A question" \
		"for it to every svcdns every $GAP_MS ms; ${PAUSE} s between; times from just before the command's exec"
	fg_run probe latency --servers "$SERVERS" --svcctl "$SVCCTL --etcd $EP apply -f -" \
		--put "etcdctl --endpoints $EP_HOSTS put" \
		--watch "taskset -c $SERVER_CPU etcdctl --endpoints $EP_HOSTS watch --prefix $FLOOR" \
		--floor-prefix "$FLOOR" --rounds "$ROUNDS" --timeout "$CHANGE_TIMEOUT" --gap-ms "$GAP_MS" \
		--pause "$PAUSE" --out "$WORK/latency.json"
	# Every instance at the same revision, none listed again or reconnected.
	STORE=""
	for i in $(seq 0 $((INSTANCES - 1))); do
		STORE+=$(probe store-metrics --http "127.0.0.1:${ports[2 * i + 1]}" | python3 -c '
import json, sys
m = json.load(sys.stdin)
g = lambda k: m.get("svcdns_store_" + k, "?")
print("revision %s, relists %s, reconnects %s, invalid objects %s" % tuple(
      g(k) for k in ("revision", "relists_total", "reconnects_total", "invalid_objects")))')$'\n'
	done
	echo
	echo "svcdns_store_* after the rounds: $(grep -v '^$' <<<"$STORE" | sort | uniq -c |
		sed 's/^ *\([0-9]*\) /\1 instances: /' | paste -sd';' | sed 's/;/; /g')"
	ALIVE=""
	for p in "${SD_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || ALIVE="$ALIVE svcdns $p exited;"; done
	echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)${ALIVE:+; $ALIVE}"
	exit
fi

# =================================== --scale =====================================================
NS=$TAG-node
ip netns add "$NS"
IN=(ip netns exec "$NS")
"${IN[@]}" ip link set lo up
CL=$WORK/cluster
log "generating $SERVICES services x $PODS pods ..."
t=$EPOCHREALTIME
python3 "$ROOT/bench/gen_cluster.py" "$CL" --services "$SERVICES" --pods "$PODS"
N_OBJ=$((SERVICES + SERVICES * PODS))
log "  $(find "$CL" -name '*.yaml' | wc -l) files, $(du -sm "$CL" | cut -f1) MB in $(secs "$t") s"
# The last service that is not headless (every tenth is), and a namespace in the middle.
LAST=$((SERVICES - 1))
[ $((LAST % 10)) = 0 ] && LAST=$((LAST - 1))
PROBE_NAME=svc-$LAST.ns-$((LAST / 100)).svc.$ZONE
GET_NS=ns-$(((SERVICES - 1) / 200))

log "etcd: $MEMBERS member(s) on 127.0.0.1 in netns $NS, data in $DATA ($DATA_FS), quota $QUOTA ..."
etcd_start "$MEMBERS"
log "importing: svcctl apply -f $CL ..."
t=$EPOCHREALTIME
E0=$(cpu_s "${ETCD_PIDS[@]}")
rc=0
fg_run "${IN[@]}" $CLIENT_PIN timeout "$IMPORT_TIMEOUT" /usr/bin/time -v -o "$WORK/import.time" \
	"$SVCCTL" --etcd "$EP" apply -f "$CL" >"$WORK/import.out" 2>&1 || rc=$?
IMPORT_S=$(secs "$t")
[ "$rc" = 0 ] || die "import failed (rc $rc) after $IMPORT_S s: $(tail -3 "$WORK/import.out")"
MAXRSS=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/import.time")
CTL_CPU=$(awk -F': ' '/User time|System time/ { t += $2 } END { print t }' "$WORK/import.time")
E1=$(cpu_s "${ETCD_PIDS[@]}")
KEYS=$(ectl get "$PREFIX/" --prefix --keys-only --limit 1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))')
DB=$(ectl endpoint status -w json | python3 -c 'import json,sys; print(max(e["Status"]["dbSize"] for e in json.load(sys.stdin)))')
ETCD_RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/${ETCD_PIDS[0]}/status")
echo "{\"wall_s\": $IMPORT_S, \"maxrss_kb\": ${MAXRSS:-null}, \"keys\": $KEYS, \"db_bytes\": $DB," \
	"\"etcd_rss_kb\": $ETCD_RSS, \"created\": $(grep -c ' created' "$WORK/import.out" || true)," \
	"\"svcctl_cpu_s\": ${CTL_CPU:-null}, \"etcd_cpu_s\": $(python3 -c "print(round($E1 - $E0, 2))")}" >"$WORK/import.json"
log "  $(cat "$WORK/import.json")"

log "svcctl get svc -n $GET_NS, 5 times each from etcd and from the directory ..."
probe timed --reps 5 "$SVCCTL" --etcd "$EP" get svc -n "$GET_NS" >"$WORK/get-etcd.json"
probe timed --reps 5 "$SVCCTL" --zones "$CL" get svc -n "$GET_NS" >"$WORK/get-dir.json"
log "  etcd $(cut -c1-120 "$WORK/get-etcd.json")"
log "  dir  $(cut -c1-120 "$WORK/get-dir.json")"

read -r DNS_PORT HTTP_PORT < <(probe ports 2)
run_daemon() { # NAME SOURCE ARGS...: start, wait until serving, settle, read memory, stop
	local name=$1 src=$2 pid t0 e0
	shift 2
	log "$name from $src: starting (CPU $SERVER_CPU) ..."
	e0=$(cpu_s "${ETCD_PIDS[@]}")
	t0=$EPOCHREALTIME
	"${IN[@]}" $SERVER_PIN "$@" --log-level warning >"$WORK/$name-$src.log" 2>&1 &
	pid=$!
	PIDS+=($!)
	if [ "$name" = svcdns ]; then
		fg_run pyrun "$ROOT/bench/scale_probe.py" wait-dns --server "127.0.0.1:$DNS_PORT" \
			--name "$PROBE_NAME" --pid "$pid" --t0 "$t0" --timeout "$START_TIMEOUT" \
			>"$WORK/start-$name-$src.json"
	else
		fg_run probe wait-http --http "127.0.0.1:$HTTP_PORT" --pid "$pid" --t0 "$t0" \
			--timeout "$START_TIMEOUT" >"$WORK/start-$name-$src.json"
	fi
	# CPU spent until serving (read once it serves): the daemon's, and etcd's meanwhile.
	echo "{\"daemon_cpu_s\": $(cpu_s "$pid"), \"etcd_cpu_s\": $(python3 -c "print(round($(cpu_s "${ETCD_PIDS[@]}") - $e0, 2))")}" \
		>"$WORK/cpu-$name-$src.json"
	log "  $(cat "$WORK/start-$name-$src.json") $(cat "$WORK/cpu-$name-$src.json")"
	nap "$SETTLE"
	mem_json "$pid" >"$WORK/steady-$name-$src.json"
	[ "$src" = etcd ] && probe store-metrics --http "127.0.0.1:$HTTP_PORT" >"$WORK/store-$name-$src.json"
	log "  steady $(cat "$WORK/steady-$name-$src.json")"
	stop_pid "$pid"
}
DNS_ARGS=(--listen "127.0.0.1:$DNS_PORT" --http "127.0.0.1:$HTTP_PORT" --threads 1 --upstream 127.0.0.1:9)
FWD_ARGS=(--node node-a --http "127.0.0.1:$HTTP_PORT")
run_daemon svcdns etcd "$SVCDNS" --etcd "$EP" "${DNS_ARGS[@]}"
run_daemon svcdns dir "$SVCDNS" --zones "$CL" "${DNS_ARGS[@]}"
run_daemon svcfwd etcd "$SVCFWD" --etcd "$EP" "${FWD_ARGS[@]}"
run_daemon svcfwd dir "$SVCFWD" --zones "$CL" "${FWD_ARGS[@]}"
ETCD_RSS2=$(awk '/^VmRSS:/ {print $2}' "/proc/${ETCD_PIDS[0]}/status" 2>/dev/null || echo 0)

# ---- report ----
echo
echo "etcd_bench --scale: $SERVICES services x $PODS pods ($N_OBJ objects), $(find "$CL" -name '*.yaml' | wc -l)" \
	"files, $(du -sm "$CL" | cut -f1) MB; etcd $ETCD_VERSION, $MEMBERS member(s), data on $DATA_FS ($DATA)," \
	"--quota-backend-bytes $QUOTA; ${BUILD_TYPE:-?} build, $COMMIT"
echo "pinned: svcdns (--threads 1) and svcfwd (--node node-a), one at a time, on CPU $SERVER_CPU; etcd on" \
	"CPU $ETCD_CPU; svcctl and the probes on CPU $CLIENT_CPU${NICE_CMD:+ (all $NICE_CMD)}; all in netns $NS;" \
	"svcdns serving = answers $PROBE_NAME; etcd RSS at the end $((ETCD_RSS2 / 1024)) MB"
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
probe scale-report --work "$WORK" --objects "$N_OBJ" --ns "$GET_NS" --settle "$SETTLE"
exit
}
