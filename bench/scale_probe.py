#!/usr/bin/env python3
"""scale_probe.py -- the measuring half of bench/scale_bench.sh (one process per role).

  backend   PORT                 a pod: on each accepted connection sends "<its local IP>\\n", closes
  wait-dns  ...                  seconds until svcdns answers a name (UDP), or "did not serve"
  wait-fwd  ...                  seconds until svcfwd is /ready, forwards to the probe pods, and
                                 holds listeners for a sample of ClusterIPs
  load      ...                  open-loop UDP DNS, TCP DNS (a new connection each) and new TCP
                                 connections through a ClusterIP, at fixed rates, until SIGTERM;
                                 every request's send time and latency (or loss) go to --out
  change    ...                  flips one probe pod's Ready (tmp file + rename, as an editor
                                 does) and measures when svcdns's answer and svcfwd's balancing
                                 show it
  burst     ...                  flips random pods across many namespaces at a fixed rate and
                                 samples both daemons' memory
  report    ...                  the table, from the files the others wrote

Every time is time.monotonic_ns() (CLOCK_MONOTONIC, the same in every network namespace), so the
files of different processes line up. Each role is one thread on one selector loop; its own
lateness (a request sent later than its schedule) is recorded too, so a slow probe shows.
"""
import argparse
import array
import errno
import gc
import json
import os
import random
import re
import selectors
import signal
import socket
import statistics
import struct
import sys
import time

mono = time.monotonic_ns
MS = 1_000_000


# ---- DNS -------------------------------------------------------------------------------------


def dns_query(qid, name, qtype=1):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def skip_name(m, i):
    while True:
        n = m[i]
        if n & 0xC0 == 0xC0:
            return i + 2
        if n == 0:
            return i + 1
        i += n + 1


def dns_parse(m):
    """(id, rcode, sorted A addresses) of an answer; raises on a malformed one."""
    qid, flags, qd, an = struct.unpack(">HHHH", m[:8])
    i = 12
    for _ in range(qd):
        i = skip_name(m, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(m, i)
        t, _c, _ttl, ln = struct.unpack(">HHIH", m[i:i + 10])
        i += 10
        if t == 1 and ln == 4:
            addrs.append(socket.inet_ntoa(m[i:i + 4]))
        i += ln
    return qid, flags & 0xF, tuple(sorted(addrs))


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def udp_ask(server, name, timeout):
    """One UDP question; the answer's (rcode, addresses) or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        qid = random.randrange(65536)
        s.sendto(dns_query(qid, name), server)
        end = time.monotonic() + timeout
        while True:
            s.settimeout(max(end - time.monotonic(), 0.001))
            m = s.recv(4096)
            rid, rcode, addrs = dns_parse(m)
            if rid == qid:
                return rcode, addrs
    except (OSError, ValueError, struct.error, IndexError):
        return None
    finally:
        s.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie (exited, not reaped yet) is not alive either.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def mem(pid):
    """(VmRSS, VmHWM) in KiB, or (None, None) once the process is gone."""
    r = h = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    r = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    h = int(line.split()[1])
    except OSError:
        pass
    return r, h


# ---- backend ---------------------------------------------------------------------------------


def cmd_backend(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", a.port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        sel.select()
        while True:
            try:
                c, _ = ls.accept()
            except BlockingIOError:
                break
            except OSError:
                break
            try:
                c.send(c.getsockname()[0].encode() + b"\n")
            except OSError:
                pass
            c.close()


# ---- waiting for start-up --------------------------------------------------------------------


def cmd_wait_dns(a):
    server = hostport(a.server)
    t0 = a.t0
    end = time.time() + a.timeout
    res = {"daemon": "svcdns", "serving_s": None, "why": None}
    while True:
        if not alive(a.pid):
            res["why"] = "exited"
            break
        r = udp_ask(server, a.name, 0.2)
        if r is not None and r[0] == 0 and r[1]:
            res["serving_s"] = round(time.time() - t0, 3)
            break
        if time.time() >= end:
            res["why"] = f"no answer within {a.timeout:.0f} s"
            break
        time.sleep(0.02)
    res["rss_kb"], res["hwm_kb"] = mem(a.pid)
    print(json.dumps(res))


def http_status(addr, path, timeout=1.0):
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            d = s.recv(64)
        return int(d.split()[1])
    except (OSError, ValueError, IndexError):
        return None


def fwd_first_byte(vip, timeout):
    """What the pod behind VIP says (its IP), or None."""
    try:
        with socket.create_connection(vip, timeout=timeout) as s:
            s.settimeout(timeout)
            d = s.recv(64)
        return d.decode().strip() or None
    except (OSError, UnicodeError):
        return None


def listening(vip, timeout):
    """True when the TCP handshake to VIP completes: svcfwd holds a socket there."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(vip)
        # Reset instead of a FIN, so svcfwd does not keep a relay for it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cmd_wait_fwd(a):
    http = hostport(a.http)
    vip = hostport(a.vip)
    sample = [hostport(x) for x in a.sample.split(",") if x] if a.sample else []
    t0 = a.t0
    end = time.time() + a.timeout
    res = {"daemon": "svcfwd", "serving_s": None, "ready_s": None, "probe_s": None,
           "sample_s": None, "sample": len(sample), "sample_listening": 0, "why": None}
    pending = list(sample)
    while True:
        if not alive(a.pid):
            res["why"] = "exited"
            break
        now = time.time()
        if res["ready_s"] is None and http_status(http, "/ready") == 200:
            res["ready_s"] = round(time.time() - t0, 3)
        if res["probe_s"] is None and fwd_first_byte(vip, 0.5):
            res["probe_s"] = round(time.time() - t0, 3)
        if pending:
            pending = [v for v in pending if not listening(v, 0.3)]
            res["sample_listening"] = len(sample) - len(pending)
            if not pending:
                res["sample_s"] = round(time.time() - t0, 3)
        elif res["sample_s"] is None:
            res["sample_s"] = round(time.time() - t0, 3)
        if res["ready_s"] is not None and res["probe_s"] is not None and not pending:
            res["serving_s"] = max(res["ready_s"], res["probe_s"], res["sample_s"])
            break
        if now >= end:
            miss = [k for k in ("ready_s", "probe_s") if res[k] is None]
            res["why"] = (f"not serving within {a.timeout:.0f} s: "
                          + ", ".join([{"ready_s": "/ready not 200",
                                        "probe_s": "no connection through the probe ClusterIP"}[k]
                                       for k in miss]
                                      + ([f"{len(pending)} of {len(sample)} sampled ClusterIPs "
                                          "refused"] if pending else [])))
            break
        time.sleep(0.05)
    res["rss_kb"], res["hwm_kb"] = mem(a.pid)
    print(json.dumps(res))


def cmd_resolve(a):
    server = hostport(a.server)
    for n in a.names:
        r = None
        for _ in range(5):
            r = udp_ask(server, n, 1.0)
            if r is not None:
                break
        print(r[1][0] if r is not None and r[0] == 0 and r[1] else "-")


# ---- load ------------------------------------------------------------------------------------

UDP, TCPDNS, FWD = 0, 1, 2
KINDS = ("udp_dns", "tcp_dns", "fwd_connect")


class Load:
    """Open loop: each kind sends at its own fixed interval whatever is outstanding. A request is
    timed from the moment it is sent (connect() for TCP) to the complete answer (TCP DNS) or the
    pod's first byte through svcfwd (a connect alone completes in the kernel's backlog, without
    svcfwd). Results: kind, scheduled ns, sent ns, latency ns (-1 timeout, -2 error)."""

    def __init__(self, a):
        self.dns = hostport(a.dns)
        self.name = a.name
        self.vip = hostport(a.vip)
        self.timeout = int(a.timeout * 1000) * MS
        self.sel = selectors.DefaultSelector()
        # Flat arrays, not a list of tuples: no garbage-collector pauses as results pile up.
        self.rows = array.array("q")
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.udp.connect(self.dns)
        self.udp.setblocking(False)
        self.sel.register(self.udp, selectors.EVENT_READ, ("udp",))
        self.qid = random.randrange(65536)
        self.udp_pending = {}  # id -> (sched, sent)
        self.pending = {}  # socket -> [kind, sched, sent, buf]
        self.late_answers = 0
        self.errors = {}

    def done(self, kind, sched, sent, lat, why=None):
        self.rows.extend((kind, sched, sent, lat))
        if why:
            k = f"{KINDS[kind]}: {why}"
            self.errors[k] = self.errors.get(k, 0) + 1

    def start(self, kind, sched):
        now = mono()
        if kind == UDP:
            self.qid = (self.qid + 1) & 0xFFFF
            if self.qid in self.udp_pending:  # 65536 outstanding: the oldest is lost
                s0 = self.udp_pending.pop(self.qid)
                self.done(UDP, s0[0], s0[1], -1)
            try:
                self.udp.send(dns_query(self.qid, self.name))
            except OSError as e:
                self.done(UDP, sched, now, -2, errno.errorcode.get(e.errno, str(e)))
                return
            self.udp_pending[self.qid] = (sched, now)
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex(self.dns if kind == TCPDNS else self.vip)
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.done(kind, sched, now, -2, errno.errorcode.get(rc, str(rc)))
            return
        st = [kind, sched, now, b"", False]
        self.pending[s] = st
        if kind == TCPDNS:
            self.sel.register(s, selectors.EVENT_WRITE, ("tcp", s))
        else:
            self.sel.register(s, selectors.EVENT_READ, ("tcp", s))

    def finish(self, s, lat, why=None):
        st = self.pending.pop(s)
        self.sel.unregister(s)
        s.close()
        self.done(st[0], st[1], st[2], lat, why)

    def on_udp(self):
        while True:
            try:
                m = self.udp.recv(4096)
            except BlockingIOError:
                return
            except OSError as e:  # ICMP unreachable: no server on the port
                self.errors["udp_dns: " + errno.errorcode.get(e.errno, str(e))] = \
                    self.errors.get("udp_dns: " + errno.errorcode.get(e.errno, str(e)), 0) + 1
                return
            now = mono()
            try:
                rid, rcode, addrs = dns_parse(m)
            except (ValueError, struct.error, IndexError):
                self.errors["udp_dns: malformed answer"] = \
                    self.errors.get("udp_dns: malformed answer", 0) + 1
                continue
            p = self.udp_pending.pop(rid, None)
            if p is None:
                self.late_answers += 1
                continue
            if rcode != 0 or not addrs:
                self.done(UDP, p[0], p[1], -2, f"rcode {rcode}")
            else:
                self.done(UDP, p[0], p[1], now - p[1])

    def on_tcp(self, s, ev):
        st = self.pending.get(s)
        if st is None:
            return
        kind = st[0]
        now = mono()
        if kind == TCPDNS and not st[4]:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.finish(s, -2, "connect " + errno.errorcode.get(err, str(err)))
            q = dns_query(random.randrange(65536), self.name)
            try:
                s.send(struct.pack(">H", len(q)) + q)
            except OSError as e:
                return self.finish(s, -2, "send " + errno.errorcode.get(e.errno, str(e)))
            st[4] = True
            self.sel.modify(s, selectors.EVENT_READ, ("tcp", s))
            return
        try:
            d = s.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            return self.finish(s, -2, errno.errorcode.get(e.errno, str(e)))
        if not d:
            return self.finish(s, -2, "closed before the answer")
        if kind == FWD:
            return self.finish(s, now - st[2])
        st[3] += d
        if len(st[3]) >= 2 and len(st[3]) >= 2 + struct.unpack(">H", st[3][:2])[0]:
            try:
                _, rcode, addrs = dns_parse(st[3][2:])
            except (ValueError, struct.error, IndexError):
                return self.finish(s, -2, "malformed answer")
            if rcode != 0 or not addrs:
                return self.finish(s, -2, f"rcode {rcode}")
            self.finish(s, now - st[2])

    def expire(self, now):
        for qid, p in list(self.udp_pending.items()):
            if now - p[1] >= self.timeout:
                del self.udp_pending[qid]
                self.done(UDP, p[0], p[1], -1)
        for s, st in list(self.pending.items()):
            if now - st[2] >= self.timeout:
                self.finish(s, -1)

    def run(self, rates, stop):
        iv = [int(1e9 / r) if r > 0 else None for r in rates]
        t = mono()
        nxt = [t + (iv[k] * k // 3 if iv[k] else 0) for k in range(3)]  # staggered
        last_expire = t
        while not stop[0]:
            now = mono()
            for k in range(3):
                if iv[k] is None:
                    continue
                while nxt[k] <= now:
                    self.start(k, nxt[k])
                    nxt[k] += iv[k]
            if now - last_expire > 10 * MS:
                self.expire(now)
                last_expire = now
            wait = min([n for k, n in enumerate(nxt) if iv[k]] + [now + 10 * MS]) - mono()
            for key, ev in self.sel.select(max(wait, 0) / 1e9):
                if key.data[0] == "udp":
                    self.on_udp()
                else:
                    self.on_tcp(key.data[1], ev)
        # Drain: what is outstanding gets its full timeout.
        end = mono() + self.timeout
        while (self.udp_pending or self.pending) and mono() < end:
            for key, ev in self.sel.select(0.01):
                if key.data[0] == "udp":
                    self.on_udp()
                else:
                    self.on_tcp(key.data[1], ev)
        self.expire(mono() + self.timeout)


def cmd_load(a):
    stop = [False]

    def on_sig(*_):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)
    ld = Load(a)
    print("ready", flush=True)
    ld.run((a.udp_rate, a.tcp_rate, a.fwd_rate), stop)
    with open(a.out + ".tmp", "w") as f:
        f.write("# kind sched_ns sent_ns latency_ns(-1 timeout, -2 error)\n")
        r = ld.rows
        for i in range(0, len(r), 4):
            f.write("%d %d %d %d\n" % (r[i], r[i + 1], r[i + 2], r[i + 3]))
        f.write("# errors " + json.dumps(ld.errors) + "\n")
        f.write("# late_answers %d\n" % ld.late_answers)
    os.rename(a.out + ".tmp", a.out)


# ---- editing manifests like an editor --------------------------------------------------------


class Manifests:
    """The generated files, kept in memory (only this process writes them while it runs), and
    the offset of each pod's Ready status value in its file."""

    def __init__(self):
        self.text = {}

    def load(self, path):
        if path not in self.text:
            with open(path) as f:
                self.text[path] = f.read()
        return self.text[path]

    def ready_at(self, path, pod):
        t = self.load(path)
        i = t.find(f"\n  name: {pod}\n")
        if i < 0:
            raise SystemExit(f"{path}: no pod {pod}")
        j = t.find("\n  - type: Ready\n    status: \"", i)
        if j < 0:
            raise SystemExit(f"{path}: pod {pod} has no Ready condition")
        return j + len("\n  - type: Ready\n    status: \"")

    def is_ready(self, path, pod):
        i = self.ready_at(path, pod)
        return self.text[path][i:i + 4] == "True"

    def set_ready(self, path, pod, ready):
        """Rewrites PATH with POD's Ready set: a temporary dot file in the same directory (which
        the watchers ignore), fsync-free, then rename over the original."""
        t = self.load(path)
        i = self.ready_at(path, pod)
        old = "True" if t[i:i + 4] == "True" else "False"
        new = "True" if ready else "False"
        t = t[:i] + new + t[i + len(old):]
        self.text[path] = t
        d, b = os.path.split(path)
        tmp = os.path.join(d, f".{b}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            f.write(t)
        os.rename(tmp, path)


# ---- one-pod changes -------------------------------------------------------------------------


class Watch:
    """Two sequential observers on one loop: a UDP question for the headless name (the next one
    GAP after each answer) and a connection through the watch ClusterIP (the next one GAP after
    the pod's first byte). Each records (sent, received, result)."""

    def __init__(self, a):
        self.dns = hostport(a.dns)
        self.name = a.headless
        self.vip = hostport(a.watch_vip)
        self.gap = int(a.gap_ms * MS)
        self.sel = selectors.DefaultSelector()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.connect(self.dns)
        self.udp.setblocking(False)
        self.sel.register(self.udp, selectors.EVENT_READ, "udp")
        self.q = None  # (id, sent)
        self.q_next = 0
        self.c = None  # (socket, sent)
        self.c_next = 0 if not a.no_fwd else 1 << 62
        self.dns_seen = []  # (sent, recv, addrs)
        self.fwd_seen = []  # (sent, recv, pod ip or None)

    def step(self, until):
        now = mono()
        if self.q is None and now >= self.q_next:
            qid = random.randrange(65536)
            try:
                self.udp.send(dns_query(qid, self.name))
                self.q = (qid, now)
            except OSError:
                self.q_next = now + self.gap
        elif self.q is not None and now - self.q[1] > 500 * MS:  # lost: ask again
            self.dns_seen.append((self.q[1], now, None))
            self.q = None
        if self.c is None and now >= self.c_next:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(self.vip)
            self.sel.register(s, selectors.EVENT_READ, "tcp")
            self.c = (s, now)
        elif self.c is not None and now - self.c[1] > 3000 * MS:
            self.fwd_seen.append((self.c[1], now, None))
            self.close_c(now)
        nxt = min(x for x in (self.q_next if self.q is None else now + 5 * MS,
                              self.c_next if self.c is None else now + 5 * MS, until))
        for key, _ in self.sel.select(max(nxt - mono(), 0) / 1e9):
            t = mono()
            if key.data == "udp":
                try:
                    m = self.udp.recv(4096)
                    rid, rcode, addrs = dns_parse(m)
                except (OSError, ValueError, struct.error, IndexError):
                    continue
                if self.q is not None and rid == self.q[0]:
                    self.dns_seen.append((self.q[1], t, addrs if rcode == 0 else None))
                    self.q = None
                    self.q_next = t + self.gap
            else:
                s = key.fileobj
                try:
                    d = s.recv(64).decode().strip() or None
                except (OSError, UnicodeError):
                    d = None
                self.fwd_seen.append((self.c[1], t, d))
                self.close_c(t)

    def close_c(self, t):
        self.sel.unregister(self.c[0])
        self.c[0].close()
        self.c = None
        self.c_next = t + self.gap

    def run_until(self, t):
        while mono() < t:
            self.step(t)


def dns_verdict(seen, since, ip, ready):
    """Receive time of the first answer to a question sent after SINCE that shows the change."""
    for sent, recv, addrs in seen:
        if sent >= since and addrs is not None and (ip in addrs) == ready:
            return recv
    return None


def fwd_verdict(seen, since, ip, ready, members):
    """Receive time of the first connection that shows the change: for a pod turning ready, the
    first connection sent after SINCE that reaches it; for one leaving, the connection where round
    robin over MEMBERS would have reached it again and did not (the MEMBERS-th in a row without it),
    provided it never shows up again. Connections of this observer are the only ones on the
    watch service, so its round robin is strict."""
    if ready:
        for sent, recv, pod in seen:
            if sent >= since and pod == ip:
                return recv
        return None
    misses, at = 0, None
    for sent, recv, pod in seen:
        if pod == ip:
            misses, at = 0, None
        elif pod is not None:
            misses += 1
            if misses == members and at is None:
                at = max(recv, since)
    return at if misses >= 2 * members else None


def cmd_change(a):
    man = Manifests()
    w = Watch(a)
    out = {"phase_start": mono(), "changes": [], "why": None, "timeout": a.timeout,
           "no_fwd": a.no_fwd}
    ready = man.is_ready(a.file, a.pod)
    members = a.members
    # Steady state first: both observers see the pod as the file says.
    w.run_until(mono() + 300 * MS)
    for rep in range(a.reps):
        if a.stop_at and mono() >= a.stop_at:
            break
        ready = not ready
        w.run_until(mono() + 50 * MS)
        before = mono()
        man.set_ready(a.file, a.pod, ready)
        t = mono()
        rec = {"ready": ready, "write_ns": t, "write_ms": round((t - before) / MS, 2),
               "dns_ms": None, "fwd_ms": None}
        end = t + int(a.timeout * 1e9)
        n_dns, n_fwd = len(w.dns_seen), len(w.fwd_seen)
        while mono() < end:
            w.run_until(min(mono() + 20 * MS, end))
            if rec["dns_ms"] is None:
                r = dns_verdict(w.dns_seen[n_dns:], t, a.pod_ip, ready)
                if r is not None:
                    rec["dns_ms"] = round((r - t) / MS, 2)
            if rec["fwd_ms"] is None and not a.no_fwd:
                r = fwd_verdict(w.fwd_seen[max(n_fwd - 2 * members, 0):], t, a.pod_ip, ready,
                                members)
                if r is not None:
                    rec["fwd_ms"] = round((r - t) / MS, 2)
            if rec["dns_ms"] is not None and (rec["fwd_ms"] is not None or a.no_fwd):
                break
        out["changes"].append(rec)
        seen = lambda v: f"{v} ms" if v is not None else f"not seen in {a.timeout:.0f} s"
        print(f"  change {rep + 1}/{a.reps}: ready={ready}: DNS {seen(rec['dns_ms'])}, svcfwd "
              + ("not measured (it does not serve)" if a.no_fwd else seen(rec["fwd_ms"])),
              file=sys.stderr, flush=True)
        if rec["dns_ms"] is None or (rec["fwd_ms"] is None and not a.no_fwd):
            out["why"] = f"a change not seen within {a.timeout:.0f} s: stopped"
            break
        w.run_until(mono() + int(a.settle * 1e9))
    if a.restore and not man.is_ready(a.file, a.pod):
        man.set_ready(a.file, a.pod, True)
    out["phase_end"] = mono()
    out["dns_queries"] = len(w.dns_seen)
    out["dns_lost"] = sum(1 for x in w.dns_seen if x[2] is None)
    out["fwd_conns"] = len(w.fwd_seen)
    out["fwd_failed"] = sum(1 for x in w.fwd_seen if x[2] is None)
    with open(a.out, "w") as f:
        json.dump(out, f)


# ---- burst -----------------------------------------------------------------------------------


def cmd_burst(a):
    man = Manifests()
    files = sorted(os.path.join(a.dir, f) for f in os.listdir(a.dir)
                   if re.fullmatch(r"ns-\d+\.yaml", f))
    if not files:
        raise SystemExit(f"{a.dir}: no ns-N.yaml files")
    pods = {}
    pids = {k: int(v) for k, v in (x.split(":") for x in a.pids.split(","))}
    rng = random.Random(a.seed)
    out = {"phase_start": mono(), "changes": 0, "late_ms_max": 0, "samples": []}
    iv = int(1e9 / a.rate)
    t = mono()
    end = t + int(a.duration * 1e9)
    nxt = t
    next_sample = t
    state = {}
    while True:
        now = mono()
        if now >= next_sample:
            s = {"t": round((now - t) / 1e9, 2)}
            for k, p in pids.items():
                s[k + "_rss"], s[k + "_hwm"] = mem(p)
            out["samples"].append(s)
            next_sample += 1_000_000_000
        if now >= end:
            break
        if now >= nxt:
            out["late_ms_max"] = max(out["late_ms_max"], (now - nxt) / MS)
            f = files[rng.randrange(len(files))]
            if f not in pods:
                pods[f] = re.findall(r"\n  name: (svc-\d+-\d+)\n", man.load(f))
            pod = pods[f][rng.randrange(len(pods[f]))]
            key = (f, pod)
            r = state.get(key)
            if r is None:
                r = man.is_ready(f, pod)
            man.set_ready(f, pod, not r)
            state[key] = not r
            out["changes"] += 1
            nxt += iv
            continue
        time.sleep(max(min(nxt, next_sample) - mono(), 0) / 1e9)
    # Leave every pod as it was, in as few writes as possible.
    for (f, pod), r in state.items():
        if not r:
            i = man.ready_at(f, pod)
            man.text[f] = man.text[f][:i] + "True" + man.text[f][i + 5:]
    for f in {f for f, _ in state}:
        d, b = os.path.split(f)
        tmp = os.path.join(d, f".{b}.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            fh.write(man.text[f])
        os.rename(tmp, f)
    out["phase_end"] = end
    out["restored_files"] = len({f for f, _ in state})
    with open(a.out, "w") as fh:
        json.dump(out, fh)


# ---- report ----------------------------------------------------------------------------------


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def jload(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_rows(path):
    rows, errors, n_late = [], {}, 0
    with open(path) as f:
        for line in f:
            if line.startswith("# errors "):
                errors = json.loads(line[len("# errors "):])
            elif line.startswith("# late_answers "):
                n_late = int(line.split()[2])
            elif not line.startswith("#"):
                rows.append(tuple(int(x) for x in line.split()))
    return rows, errors, n_late


def latency_stats(rows, s, e, k, late=None, timeout_ms=None):
    sel = [r for r in rows if r[0] == k and s <= r[2] < e]
    lat = [r[3] / MS for r in sel if r[3] >= 0]
    # For the percentile a timeout counts as a wait of the timeout (at least that).
    with_to = lat + [timeout_ms] * sum(1 for r in sel if r[3] == -1) if timeout_ms else lat
    # The worst of the requests during whose flight the probe itself kept to its schedule (sent
    # everything within PROBE_ON_TIME of plan): the probe's own stalls cannot inflate it.
    clean = [r[3] / MS for r in sel
             if r[3] >= 0 and late is not None and late.between(r[2], r[2] + r[3]) <= 10 * MS]
    return {"n": len(sel), "timeouts": sum(1 for r in sel if r[3] == -1),
            "worst_clean": max(clean) if clean else None,
            "errors": sum(1 for r in sel if r[3] == -2),
            "worst": max(lat) if lat else None, "p99": pct(with_to, 99),
            "lag": max(((r[2] - r[1]) / MS for r in sel), default=None)}


class LateMax:
    """Range maximum of the probe's lateness over send times (a sparse table): how late the
    probe was, at worst, while a request was in flight."""

    def __init__(self, rows):
        pts = sorted((r[2], r[2] - r[1]) for r in rows)
        self.t = [p[0] for p in pts]
        lv = [[p[1] for p in pts]]
        k = 1
        while 2 * k <= len(pts):
            prev = lv[-1]
            lv.append([max(prev[i], prev[i + k]) for i in range(len(prev) - k)])
            k *= 2
        self.lv = lv

    def between(self, a, b):
        import bisect
        i = bisect.bisect_left(self.t, a)
        j = bisect.bisect_right(self.t, b)
        if i >= j:
            return 0
        n = j - i
        k = n.bit_length() - 1
        return max(self.lv[k][i], self.lv[k][j - (1 << k)])


def cmd_report(a):
    W = a.work
    mb = lambda kb: f"{kb / 1024:.0f}" if kb is not None else "n/a"
    start = {d: jload(f"{W}/start-{d}.json") for d in ("svcdns", "svcfwd")}
    steady = {d: jload(f"{W}/steady-{d}.json") for d in ("svcdns", "svcfwd")}
    after = {d: jload(f"{W}/after-{d}.json") for d in ("svcdns", "svcfwd")}
    flog = jload(f"{W}/svcfwd-log.json") or {}
    rows = []

    def row(label, dns, fwd, target=""):
        rows.append((label, str(dns), str(fwd), target))

    def serve(d):
        st = start[d]
        if st is None:
            return "not run"
        if st["serving_s"] is None:
            return "did not serve"
        return f"{st['serving_s']:.2f}"

    row("start to serving, s", serve("svcdns"), serve("svcfwd"), "< 15 (svcdns), < 30 (svcfwd) at 100k")
    if start["svcfwd"] is not None:
        f = start["svcfwd"]
        row("  svcfwd: /ready 200; probe VIP; sampled VIPs listening, s", "",
            "; ".join("never" if v is None else str(v) for v in (f["ready_s"], f["probe_s"]))
            + f"; {f['sample_listening']}/{f['sample']}"
            + (f" at {f['sample_s']}" if f["sample_s"] is not None else " (then never all)"))
        row("  svcfwd: 'Too many open files' log lines", "", flog.get("emfile_log_lines", "?"))
    hw = {d: (steady[d] or {}).get("hwm_kb") for d in start}
    rs = {d: (steady[d] or {}).get("rss_kb") for d in start}
    row("peak RSS (VmHWM), MB", mb(hw["svcdns"]), mb(hw["svcfwd"]))
    row("steady RSS (VmRSS), MB", mb(rs["svcdns"]), mb(rs["svcfwd"]))
    for d in start:
        if start[d] is not None and start[d]["serving_s"] is None and start[d].get("rss_kb"):
            row(f"  {d} when it was given up (then stopped): VmRSS / VmHWM, MB",
                *[f"{mb(start[d]['rss_kb'])} / {mb(start[d]['hwm_kb'])}" if x == d else ""
                  for x in ("svcdns", "svcfwd")])
    row(f"steady RSS per object ({a.objects}), bytes",
        *[f"{rs[d] * 1024 / a.objects:.0f}" if rs[d] else "n/a" for d in ("svcdns", "svcfwd")],
        "<= 1024")
    row("peak / steady", *[f"{hw[d] / rs[d]:.2f}" if rs[d] and hw[d] else "n/a"
                           for d in ("svcdns", "svcfwd")], "<= 1.5")

    def changes(path, label):
        c = jload(path)
        if c is None:
            return
        cells = []
        for key in ("dns_ms", "fwd_ms"):
            v = [x[key] for x in c["changes"] if x[key] is not None]
            miss = sum(1 for x in c["changes"] if x[key] is None)
            if c.get("no_fwd") and key == "fwd_ms":
                cells.append("n/a (not serving)")
            elif not v:
                cells.append(f"not seen in {c['timeout']:.0f} s" if miss else "none")
            else:
                cells.append(f"{statistics.median(v):.0f} / {max(v):.0f} ({len(v)}"
                             + (f", {miss} not seen" if miss else "") + ")")
        row(label, cells[0], cells[1], "< 1000 (aim 100)")
        if c.get("why"):
            row("  " + c["why"], "", "")
        row("  observer: queries (lost); connections (failed)",
            f"{c['dns_queries']} ({c['dns_lost']})",
            f"{c['fwd_conns']} ({c['fwd_failed']})")

    changes(f"{W}/change.json", "one-pod change seen, ms: median / max (n)")
    changes(f"{W}/change-burst.json", "one-pod change during the burst, ms: median / max (n)")
    b = jload(f"{W}/burst.json")
    if b is not None:
        dur = (b["phase_end"] - b["phase_start"]) / 1e9
        row("burst: changes written (per s); writer late by at most, ms",
            f"{b['changes']} ({b['changes'] / dur:.0f}/s); {b['late_ms_max']:.0f}", "",
            f"{a.burst_rate:.0f}/s for {a.burst_s:.0f} s")
        for d in ("svcdns", "svcfwd"):
            sm = [s.get(d + "_rss") for s in b["samples"] if s.get(d + "_rss")]
            if not sm:
                continue
            hws = [s.get(d + "_hwm") for s in b["samples"] if s.get(d + "_hwm")]
            aft = (after[d] or {}).get("rss_kb")
            txt = (f"{mb(sm[0])} -> {mb(sm[-1])} (max {mb(max(sm))}, VmHWM {mb(max(hws))}); "
                   f"{mb(aft)} after")
            row(f"burst: {d} RSS first -> last sample, MB; after settling",
                txt if d == "svcdns" else "", txt if d == "svcfwd" else "", "no growth")
    print()
    print("| | svcdns | svcfwd | target |")
    print("|---|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    for d in ("svcdns", "svcfwd"):
        if start[d] is not None and start[d]["why"]:
            print(f"{d} did not serve: {start[d]['why']}")

    # Latency per phase.
    if not os.path.exists(f"{W}/load.txt"):
        print("\nno latency measured (svcdns did not serve, or the probe did not finish)")
        return
    lrows, errors, n_late = load_rows(f"{W}/load.txt")
    phases = {}
    with open(f"{W}/phases.txt") as f:
        for line in f:
            n, s, e = line.split()
            phases[n] = (int(s), int(e))
    late = LateMax(lrows)
    print()
    print("| latency, ms: worst / p99 | UDP DNS | TCP DNS | svcfwd connect | |")
    print("|---|---:|---:|---:|---|")
    st = {}
    for ph in ("quiet", "onepod", "burst"):
        if ph not in phases:
            continue
        cells, counts = [], []
        for k in range(3):
            x = latency_stats(lrows, *phases[ph], k, late, a.req_timeout * 1000)
            st[(ph, k)] = x
            if x["n"] == 0:
                cells.append("n/a")
                counts.append("n/a")
                continue
            wo = f"{x['worst']:.1f}" if x["worst"] is not None else "-"
            if x["timeouts"]:  # a request that timed out waited longer than any answered one
                wo = f">= {a.req_timeout * 1000:.0f} (timeouts)"
            p9 = f"{x['p99']:.1f}" if x["p99"] is not None else "-"
            if x["p99"] is not None and x["p99"] >= a.req_timeout * 1000:
                p9 = f">= {x['p99']:.0f}"
            cells.append(f"{wo} / {p9}")
            counts.append(f"{x['n']} / {x['timeouts']} / {x['errors']} / {x['lag']:.0f}")
        label = {"quiet": "no changes", "onepod": "one-pod changes",
                 "burst": f"burst ({a.burst_rate:.0f}/s)"}[ph]
        print(f"| {label} | " + " | ".join(cells) + " | |")
        print(f"| {label}: requests / timeouts / errors / probe late by, ms | "
              + " | ".join(counts) + " | |")
        if ph == "quiet":
            print("| no changes: worst while the probe kept to its schedule (within 10 ms) | "
                  + " | ".join("n/a" if st[(ph, k)].get("worst_clean") is None
                               else f"{st[(ph, k)]['worst_clean']:.1f}" for k in range(3))
                  + " | the baseline |")
        if ph != "quiet" and "quiet" in phases:
            cells = []
            for k in range(3):
                q, x = st.get(("quiet", k)), st[(ph, k)]
                if not q or q["worst_clean"] is None or x["n"] == 0:
                    cells.append("n/a")
                    continue
                # A timeout is a wait of at least the timeout.
                worst = x["worst"] or 0
                if x["timeouts"]:
                    worst = max(worst, a.req_timeout * 1000)
                # Against the quiet worst without the probe's own stalls: the baseline is not
                # raised by the probe (which would make a difference look smaller than it is).
                d = worst - q["worst_clean"]
                cells.append(f"{'>= ' if x['timeouts'] else ''}{d:+.1f}"
                             f" {'ok' if d < 50 else 'OVER'}")
            print(f"| {label}: worst minus the baseline | " + " | ".join(cells) + " | < 50 |")
    if errors:
        print("errors: " + ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
    if n_late:
        print(f"UDP answers after their timeout: {n_late}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("backend")
    p.add_argument("port", type=int)
    p = sub.add_parser("wait-dns")
    p.add_argument("--server", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--t0", type=float, required=True, help="start, epoch seconds")
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("wait-fwd")
    p.add_argument("--http", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--sample", default="")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("load")
    p.add_argument("--dns", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--udp-rate", type=float, default=200)
    p.add_argument("--tcp-rate", type=float, default=200)
    p.add_argument("--fwd-rate", type=float, default=200)
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--out", required=True)
    p = sub.add_parser("change")
    p.add_argument("--dns", required=True)
    p.add_argument("--headless", required=True)
    p.add_argument("--watch-vip", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--pod", required=True)
    p.add_argument("--pod-ip", required=True)
    p.add_argument("--members", type=int, required=True, help="ready pods with the probe pod")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--settle", type=float, default=1)
    p.add_argument("--gap-ms", type=float, default=2)
    p.add_argument("--stop-at", type=int, default=0, help="monotonic ns: no new change after")
    p.add_argument("--restore", action="store_true")
    p.add_argument("--no-fwd", action="store_true", help="svcfwd does not serve: DNS only")
    p.add_argument("--out", required=True)
    p = sub.add_parser("burst")
    p.add_argument("--dir", required=True)
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--pids", required=True, help="name:pid,...")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--work", required=True)
    p.add_argument("--objects", type=int, required=True)
    p.add_argument("--quiet-s", type=float, default=0)
    p.add_argument("--burst-s", type=float, default=0)
    p.add_argument("--burst-rate", type=float, default=0)
    p.add_argument("--req-timeout", type=float, default=5)
    p = sub.add_parser("resolve")
    p.add_argument("--server", required=True)
    p.add_argument("names", nargs="+")
    a = ap.parse_args()
    # The probes keep few objects: the cyclic collector would only add pauses to what they time.
    gc.disable()
    {"backend": cmd_backend, "wait-dns": cmd_wait_dns, "wait-fwd": cmd_wait_fwd,
     "load": cmd_load, "change": cmd_change, "burst": cmd_burst, "report": cmd_report,
     "resolve": cmd_resolve}[
        a.cmd.replace("_", "-")](a)


if __name__ == "__main__":
    main()
