"""fakeupstream.py ADDR PORT LOG -- an upstream DNS server for the system tests, over UDP (and
TCP, framed). It answers every A question with 192.0.2.1 (TTL 60), but a name starting with
"never-" gets no answer and one starting with "slow-" is answered after half a second. Every
UDP query is logged to LOG as "<source port> <id> <time>" (one line each, flushed)."""
import os
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsmsg  # noqa: E402

addr, port, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
udp = socket.socket(fam, socket.SOCK_DGRAM)
udp.bind((addr, port))
tcp = socket.socket(fam, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((addr, port))
tcp.listen(64)
udp.setblocking(False)
tcp.setblocking(False)
log = open(logpath, "a", buffering=1)
sel = selectors.DefaultSelector()
sel.register(udp, selectors.EVENT_READ, "udp")
sel.register(tcp, selectors.EVENT_READ, "tcp")
later = []  # (when, reply, peer)


def answer(q):
    qid, flags = struct.unpack(">HH", q[:4])
    end = dnsmsg.skip_name(q, 12) + 4
    name = dnsmsg.read_name(q, 12)
    first = name.split(".")[0].lower()
    if first.startswith("never-"):
        return None, 0
    hdr = struct.pack(">HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, 1, 0, 0)
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return hdr + q[12:end] + rr, 0.5 if first.startswith("slow-") else 0


print("ready", flush=True)
while True:
    timeout = None
    if later:
        timeout = max(0, min(w for w, _, _ in later) - time.time())
    for key, _ in sel.select(timeout):
        if key.data == "udp":
            while True:
                try:
                    q, peer = udp.recvfrom(4096)
                except BlockingIOError:
                    break
                if len(q) < 12:
                    continue
                log.write("%d %d %.6f\n" % (peer[1], struct.unpack(">H", q[:2])[0], time.time()))
                reply, delay = answer(q)
                if reply is not None:
                    later.append((time.time() + delay, reply, peer))
        elif key.data == "tcp":
            c, _ = tcp.accept()
            c.setblocking(True)
            c.settimeout(2)
            try:
                n = struct.unpack(">H", dnsmsg.recv_exact(c, 2))[0]
                reply, delay = answer(dnsmsg.recv_exact(c, n))
                if reply is not None:
                    time.sleep(delay)
                    c.sendall(dnsmsg.tcp_frame(reply))
            except (OSError, EOFError):
                pass
            c.close()
    now = time.time()
    due = [x for x in later if x[0] <= now]
    later = [x for x in later if x[0] > now]
    for _, reply, peer in due:
        try:
            udp.sendto(reply, peer)
        except OSError:
            pass
