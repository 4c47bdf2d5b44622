#!/usr/bin/env python3
"""Latency while a daemon rebuilds its model, for tests/system/reload_latency.sh. Standard
library only. Each probe mode first asks a few times (the baseline), then makes the change by
renaming --trigger-src to --trigger-dst (a manifest moved into the zones directory), then keeps
asking, one request after the other, until the change shows and --after seconds more. It
prints one line:

  base_max_ms=B max_ms=M [udp_max_ms=U tcp_max_ms=T] visible_ms=V n=N failures=F

max_ms is the slowest request from the change on (udp_ and tcp_: by transport, in dns mode),
visible_ms when the change showed (after the rename), failures the rounds that got no right
answer. A request that gets nothing in 5 s
counts 5000 ms. Exit status 1 when the change did not show within --timeout seconds.

  dns    --server IP --port P --name NAME --want IP --new-name NAME --new-want IP
         every round: NAME over UDP, NAME over a new TCP connection (each timed: the slower is
         the round's sample), then NEW-NAME over UDP, which shows the change.
  tcp    --addr IP --port P --new-addr IP
         every round: a new connection to ADDR:P that must bring "ok" (from `serve` behind the
         forwarder), timed from connect() to the answer; then one to NEW-ADDR:P, which shows the
         change once it brings "ok" too.
  serve  --port P: accept on 0.0.0.0:P, send "ok\\n", close. Prints "ready" once listening.
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time

TIMEOUT = 5.0


def dns_query(name, qtype=1):
    qid = int.from_bytes(os.urandom(2), "big")
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    return qid, msg + b"\0" + struct.pack(">HH", qtype, 1)


def dns_a_answers(qid, reply):
    """The A records of REPLY (for query QID), as dotted strings; None if it is no answer."""
    if len(reply) < 12:
        return None
    rid, flags, qd, an = struct.unpack(">HHHH", reply[:8])
    if rid != qid or not flags & 0x8000 or flags & 0xF != 0:
        return None
    pos = 12

    def skip_name(p):
        while True:
            n = reply[p]
            if n & 0xC0 == 0xC0:
                return p + 2
            if n == 0:
                return p + 1
            p += n + 1

    for _ in range(qd):
        pos = skip_name(pos) + 4
    out = []
    for _ in range(an):
        pos = skip_name(pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(reply[pos:pos + 4]))
        pos += rdlen
    return out


def ask_udp(server, port, name):
    qid, msg = dns_query(name)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    try:
        s.sendto(msg, (server, port))
        while True:
            reply, _ = s.recvfrom(4096)
            got = dns_a_answers(qid, reply)
            if got is not None or reply[:2] == msg[:2]:
                return got
    except OSError:
        return None
    finally:
        s.close()


def ask_tcp(server, port, name):
    qid, msg = dns_query(name)
    try:
        with socket.create_connection((server, port), timeout=TIMEOUT) as s:
            s.sendall(struct.pack(">H", len(msg)) + msg)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                d = s.recv(65536)
                if not d:
                    return None
                buf += d
            return dns_a_answers(qid, buf[2:])
    except OSError:
        return None


def fetch_ok(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=TIMEOUT) as s:
            buf = b""
            while b"\n" not in buf:
                d = s.recv(100)
                if not d:
                    break
                buf += d
            return buf == b"ok\n"
    except OSError:
        return False


def timed(fn, *args):
    t = time.monotonic()
    r = fn(*args)
    return (time.monotonic() - t) * 1000, r


def run(args, sample, shows):
    """SAMPLE() -> ({kind: ms}, ok) one timed round; SHOWS() -> whether the change is in."""
    base = 0.0
    for _ in range(5):
        base = max([base] + list(sample()[0].values()))
        time.sleep(0.02)
    if args.touch_dir:
        # Every manifest changed at once, a line added at the top (so every object moves):
        # the daemons parse them all again, a rebuild long enough to probe across (a
        # one-file change is too quick to show a blocked loop).
        for name in os.listdir(args.touch_dir):
            if name.endswith(".yaml"):
                path = os.path.join(args.touch_dir, name)
                with open(path) as f:
                    text = f.read()
                with open(path + ".tmp", "w") as f:
                    f.write("# changed\n" + text)
                os.rename(path + ".tmp", path)
    os.rename(args.trigger_src, args.trigger_dst)
    t0 = time.monotonic()
    worst, n, failures, visible, end = {}, 0, 0, None, t0 + args.timeout
    while time.monotonic() < end:
        times, ok = sample()
        for k, ms in times.items():
            worst[k] = max(worst.get(k, 0.0), ms)
        n += 1
        failures += 0 if ok else 1
        if visible is None and shows():
            visible = (time.monotonic() - t0) * 1000
            end = time.monotonic() + args.after
        time.sleep(0.01)
    kinds = "".join(" %s_max_ms=%.0f" % (k, v) for k, v in sorted(worst.items()) if k)
    print("base_max_ms=%.0f max_ms=%.0f%s visible_ms=%s n=%d failures=%d" %
          (base, max(worst.values(), default=0), kinds,
           "%.0f" % visible if visible is not None else "none", n, failures))
    return 0 if visible is not None else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["dns", "tcp", "serve"])
    ap.add_argument("--server")
    ap.add_argument("--addr")
    ap.add_argument("--new-addr")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name")
    ap.add_argument("--want")
    ap.add_argument("--new-name")
    ap.add_argument("--new-want")
    ap.add_argument("--trigger-src")
    ap.add_argument("--trigger-dst")
    ap.add_argument("--touch-dir", help="add a line at the top of every *.yaml in it with the change")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--after", type=float, default=0.5)
    args = ap.parse_args()

    if args.mode == "serve":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", args.port))
        ls.listen(1024)
        print("ready", flush=True)

        def one(c):
            try:
                c.sendall(b"ok\n")
            except OSError:
                pass
            c.close()

        while True:
            c, _ = ls.accept()
            threading.Thread(target=one, args=(c,), daemon=True).start()

    if args.mode == "dns":
        def sample():
            ms_u, got_u = timed(ask_udp, args.server, args.port, args.name)
            ms_t, got_t = timed(ask_tcp, args.server, args.port, args.name)
            return {"udp": ms_u, "tcp": ms_t}, got_u == [args.want] and got_t == [args.want]

        def shows():
            return ask_udp(args.server, args.port, args.new_name) == [args.new_want]
    else:
        def sample():
            ms, ok = timed(fetch_ok, args.addr, args.port)
            return {"": ms}, ok

        def shows():
            return fetch_ok(args.new_addr, args.port)

    return run(args, sample, shows)


if __name__ == "__main__":
    sys.exit(main())
