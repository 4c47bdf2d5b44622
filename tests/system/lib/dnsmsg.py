"""dnsmsg.py -- DNS messages for the system tests, by hand (struct only): queries, and the parts
of answers the tests look at. Shared by the test scripts and fakeupstream.py."""
import struct

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(name, qtype="A", qid=0x1234, rd=True, edns=1232):
    """A query; EDNS with payload EDNS unless it is None."""
    flags = 0x0100 if rd else 0
    msg = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    msg += wire_name(name) + struct.pack(">HH", QTYPES.get(qtype, qtype) if isinstance(qtype, str) else qtype, 1)
    if edns:
        msg += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    return msg


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def read_name(msg, off):
    labels, hops = [], 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            off = (n & 0x3F) << 8 | msg[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("pointer loop")
            continue
        if n == 0:
            return ".".join(labels) + "."
        labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n


def parse(msg):
    """A dict: id, flags, rcode (text), tc, qname, counts, answers [(type, rdata text)]. Raises on
    a malformed message, so a test sees a cut or broken answer as an error."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    qname = None
    for _ in range(qd):
        qname = read_name(msg, off)
        off = skip_name(msg, off) + 4
    answers = []
    for i in range(an + ns + ar):
        owner = read_name(msg, off)
        off = skip_name(msg, off)
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if len(rdata) != rdlen:
            raise ValueError("record cut short")
        if i < an:
            if rtype == 1:
                text = ".".join(str(b) for b in rdata)
            elif rtype == 5:
                text = read_name(msg, off)
            else:
                text = rdata.hex()
            answers.append((rtype, text, owner))
        off += rdlen
    if off != len(msg):
        raise ValueError("trailing bytes")
    return {"id": qid, "flags": flags, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)),
            "tc": bool(flags & 0x0200), "qname": qname, "an": an, "ns": ns, "ar": ar,
            "answers": answers}


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_frame(msg):
    return struct.pack(">H", len(msg)) + msg


def tcp_read_all(sock):
    """Every whole framed message until EOF; raises if the stream ends mid-frame."""
    out = []
    while True:
        hdr = sock.recv(2, 0)
        if not hdr:
            return out
        if len(hdr) == 1:
            hdr += recv_exact(sock, 1)
        (n,) = struct.unpack(">H", hdr)
        out.append(recv_exact(sock, n))
