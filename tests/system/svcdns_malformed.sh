#!/usr/bin/env bash
# svcdns against malformed queries, over UDP and TCP, from a raw-packet client (python3, socket and
# struct only): truncated headers and answers-as-queries get silence, a header that survives gets
# FORMERR (question count, compression pointers, label and name lengths, truncated question, bad
# OPT, records in the answer section), other opcodes NOTIMP, EDNS version 1 BADVERS, zone
# transfers REFUSED; every reply carries the query's ID. TCP: length framing, a frame shorter than
# a header closes the connection, pipelined queries are all answered. Then a burst of random
# packets; afterwards the server must still be running and answering (as Knot's dnsheader test).
# The packet rules are those of reliability-anchors.md §1.3 (NSD, Knot, BIND).
#
# Run by ctest with SVC_BUILD_DIR (svcdns is $SVC_BUILD_DIR/svcdns) and SVC_SOURCE_DIR.
. "$(dirname "$0")/lib/common.sh"
need_programs svcdns
need_tools dig python3

cp -R "$ZONES_SRC" "$WORK/zones"
UPSTREAM=$(pick_port) # nothing listens there: forwarded names fail fast, nothing leaves the host

started=0
for try in 1 2 3 4 5; do
	PORT=$(pick_port)
	"$SVCDNS" --zones "$WORK/zones" --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$UPSTREAM" \
		--threads 2 >"$WORK/svcdns.out" 2>"$WORK/svcdns.err" &
	SD_PID=$!
	track_pid "$SD_PID"
	end=$(($(now_ms) + 10000))
	while kill -0 "$SD_PID" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do
		if [ "$(dig @127.0.0.1 -p "$PORT" +short +time=1 +tries=1 dns-version.cluster.local TXT 2>/dev/null)" == '"1.1.0"' ]; then
			started=1
			break 2
		fi
		sleep 0.05
	done
	stop_pid "$SD_PID"
	grep -qi "in use" "$WORK/svcdns.err" || break
done
if [ "$started" != 1 ]; then
	echo "svcdns_malformed.sh: could not start svcdns" >&2
	sed 's/^/  | /' "$WORK/svcdns.err" >&2
	exit 1
fi

cat >"$WORK/malformed.py" <<'EOF'
import random
import socket
import struct
import sys
import time

PORT = int(sys.argv[1])
ADDR = ("127.0.0.1", PORT)

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}
A, NS, SOA, AAAA, OPT, AXFR, IXFR, TXT = 1, 2, 6, 28, 41, 252, 251, 16


# One line per check, read by the shell: "PASS name" or "FAIL name<TAB>detail"; "DONE" at the end.
def check(name, ok, detail=""):
    if ok:
        print("PASS " + name)
    else:
        print("FAIL %s\t%s" % (name, " ".join(detail.split())))


def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def question(qname="kubernetes.default.svc.cluster.local", qtype=A, qclass=1):
    return name(qname) + struct.pack(">HH", qtype, qclass)


def opt(payload=1232, version=0, ext_rcode=0, do=False, options=b"", owner=b"\0", rdlen=None):
    ttl = (ext_rcode << 24) | (version << 16) | (0x8000 if do else 0)
    if rdlen is None:
        rdlen = len(options)
    return owner + struct.pack(">HHIH", OPT, payload, ttl, rdlen) + options


def query(qid, body=None, **kw):
    return header(qid, **kw) + (question() if body is None else body)


def skip_name(buf, off):
    while True:
        if off >= len(buf):
            raise ValueError("name runs past the end")
        n = buf[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def parse(reply):
    """ID, flags, counts, the full rcode (with EDNS's extension), the OPT's version or None, and
    the answer RRs as (type, rdata)."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    off = 12
    for _ in range(qd):
        off = skip_name(reply, off) + 4
    rrs = []
    rcode = flags & 15
    version = None
    for i in range(an + ns + ar):
        off = skip_name(reply, off)
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", reply[off:off + 10])
        off += 10
        if i < an:
            rrs.append((rtype, reply[off:off + rdlen]))
        if rtype == OPT and i >= an + ns:
            rcode |= (ttl >> 24) << 4
            version = (ttl >> 16) & 0xFF
        off += rdlen
    if off > len(reply):
        raise ValueError("records run past the end")
    return {"id": qid, "qr": flags >> 15, "opcode": (flags >> 11) & 15, "aa": (flags >> 10) & 1,
            "tc": (flags >> 9) & 1, "rcode": rcode, "qd": qd, "an": an, "version": version, "rrs": rrs}


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(ADDR)
    return s


def udp_ask(pkt, timeout=2.0):
    s = udp_socket()
    s.settimeout(timeout)
    try:
        s.send(pkt)
        return s.recv(65535)
    except socket.timeout:
        return None
    except ConnectionRefusedError:
        return "refused"
    finally:
        s.close()


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def tcp_connect(timeout=2.0):
    s = socket.create_connection(ADDR, timeout=timeout)
    s.settimeout(timeout)
    return s


def tcp_read_frame(s):
    """A reply frame, b"" when the server closed the connection, None when it stayed silent."""
    try:
        lenb = recv_exact(s, 2)
        if len(lenb) < 2:
            return b""
        (n,) = struct.unpack(">H", lenb)
        return recv_exact(s, n)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return b""


def tcp_ask(pkt, timeout=2.0):
    s = tcp_connect(timeout)
    try:
        s.sendall(struct.pack(">H", len(pkt)) + pkt)
        return tcp_read_frame(s)
    finally:
        s.close()


def describe(r):
    if r is None:
        return "no answer"
    if r == b"":
        return "connection closed"
    if isinstance(r, str):
        return r
    try:
        p = parse(r)
        return "reply id %d rcode %s qr %d (%d bytes)" % (p["id"], RCODES.get(p["rcode"], p["rcode"]), p["qr"], len(r))
    except Exception as e:
        return "unparsable reply %r (%s)" % (r[:40], e)


def expect_rcode(label, transport, pkt, rcode, qid):
    r = udp_ask(pkt) if transport == "udp" else tcp_ask(pkt)
    name = "%s over %s" % (label, transport.upper())
    if not isinstance(r, bytes) or len(r) < 12:
        check(name, False, "expected %s, got %s" % (RCODES[rcode], describe(r)))
        return None
    try:
        p = parse(r)
    except Exception as e:
        check(name, False, "unparsable reply (%s): %r" % (e, r[:60]))
        return None
    errs = []
    if p["rcode"] != rcode:
        errs.append("rcode %s, expected %s" % (RCODES.get(p["rcode"], p["rcode"]), RCODES[rcode]))
    if p["id"] != qid:
        errs.append("reply ID %d, query ID %d" % (p["id"], qid))
    if p["qr"] != 1:
        errs.append("QR not set")
    check(name, not errs, "; ".join(errs))
    return p


# ---- cases: (label, packet builder taking an ID, expected rcode) --------------------------------

LONG63 = "a" * 63
cases = [
    ("QDCOUNT 0", lambda i: header(i, qd=0), FORMERR),
    ("QDCOUNT 0 with an OPT", lambda i: header(i, qd=0, ar=1) + opt(), FORMERR),
    ("QDCOUNT 2, two questions", lambda i: header(i, qd=2) + question() + question("kube-dns.kube-system.svc.cluster.local"), FORMERR),
    ("QDCOUNT 2, one question", lambda i: query(i, qd=2), FORMERR),
    ("ANCOUNT 1", lambda i: query(i, an=1) + name("x.cluster.local") + struct.pack(">HHIH", A, 1, 5, 4) + bytes(4), FORMERR),
    ("ANCOUNT 1, no record", lambda i: query(i, an=1), FORMERR),
    ("compression pointer to itself", lambda i: header(i) + b"\xc0\x0c" + struct.pack(">HH", A, 1), FORMERR),
    ("compression pointer loop after a label", lambda i: header(i) + b"\x01a\xc0\x0c" + struct.pack(">HH", A, 1), FORMERR),
    ("compression pointer forward", lambda i: header(i) + b"\xc0\x12" + struct.pack(">HH", A, 1) + name("cluster.local"), FORMERR),
    ("compression pointer past the end", lambda i: header(i) + b"\xc3\xff" + struct.pack(">HH", A, 1), FORMERR),
    ("compression pointer cut in half", lambda i: header(i) + b"\x01a\xc0", FORMERR),
    ("label type 0x40 (extended label)", lambda i: header(i) + b"\x41" + b"a" * 1 + b"\0" + struct.pack(">HH", A, 1), FORMERR),
    ("label length 64", lambda i: header(i) + b"\x40" + b"a" * 64 + b"\0" + struct.pack(">HH", A, 1), FORMERR),
    ("name of 256 octets", lambda i: header(i) + name(".".join([LONG63] * 3 + ["b" * 62])) + struct.pack(">HH", A, 1), FORMERR),
    ("name of 321 octets", lambda i: header(i) + name(".".join([LONG63] * 5)) + struct.pack(">HH", A, 1), FORMERR),
    ("question without type and class", lambda i: header(i) + name("kubernetes.default.svc.cluster.local"), FORMERR),
    ("question with half its type", lambda i: header(i) + name("kubernetes.default.svc.cluster.local") + b"\x00", FORMERR),
    ("question without class", lambda i: header(i) + name("kubernetes.default.svc.cluster.local") + b"\x00\x01", FORMERR),
    ("name without its end", lambda i: header(i) + b"\x0akubernetes\x07default", FORMERR),
    ("label running past the end", lambda i: header(i) + b"\x3fabc", FORMERR),
    ("ARCOUNT 1, no record", lambda i: query(i, ar=1), FORMERR),
    ("OPT owner not the root", lambda i: query(i, ar=1) + opt(owner=name("x")), FORMERR),
    ("two OPTs", lambda i: query(i, ar=2) + opt() + opt(), FORMERR),
    ("OPT option longer than its RDATA", lambda i: query(i, ar=1) + opt(options=struct.pack(">HH", 10, 8) + bytes(4)), FORMERR),
    ("OPT option header cut", lambda i: query(i, ar=1) + opt(options=b"\x00\x0a\x00"), FORMERR),
    ("OPT RDLENGTH past the end", lambda i: query(i, ar=1) + opt(rdlen=40), FORMERR),
    ("OPT cut in its fixed part", lambda i: query(i, ar=1) + b"\x00\x00\x29\x04", FORMERR),
    ("a record that is no OPT in additional", lambda i: query(i, ar=1) + name("x.cluster.local") + struct.pack(">HHIH", A, 1, 5, 4) + bytes(4), FORMERR),
    ("qtype OPT", lambda i: header(i) + question(qtype=OPT), FORMERR),
    ("opcode 2 (STATUS)", lambda i: query(i, flags=(2 << 11) | 0x0100), NOTIMP),
    ("opcode 5 (UPDATE)", lambda i: query(i, flags=(5 << 11)), NOTIMP),
    ("opcode 15", lambda i: query(i, flags=(15 << 11)), NOTIMP),
    ("EDNS version 1", lambda i: query(i, ar=1) + opt(version=1), BADVERS),
    ("EDNS version 255 with the DO bit", lambda i: query(i, ar=1) + opt(version=255, do=True), BADVERS),
    ("AXFR", lambda i: header(i) + question("cluster.local", AXFR), REFUSED),
    ("AXFR with EDNS", lambda i: header(i, ar=1) + question("cluster.local", AXFR) + opt(), REFUSED),
    # Controls: the same shapes, well formed, answered.
    ("control: plain query", lambda i: query(i), NOERROR),
    ("control: EDNS with a cookie option", lambda i: query(i, ar=1) + opt(options=struct.pack(">HH", 10, 8) + bytes(8)), NOERROR),
    ("control: EDNS payload 100 (treated as 512)", lambda i: query(i, ar=1) + opt(payload=100), NOERROR),
    ("control: a 63-octet label", lambda i: header(i) + name(LONG63 + ".svc.cluster.local") + struct.pack(">HH", A, 1), NXDOMAIN),
    ("control: a 255-octet name", lambda i: header(i) + name(".".join([LONG63] * 3 + ["b" * 43, "svc", "cluster", "local"])) + struct.pack(">HH", A, 1), NXDOMAIN),
]
assert len(name(".".join([LONG63] * 3 + ["b" * 62]))) == 256
assert len(name(".".join([LONG63] * 3 + ["b" * 43, "svc", "cluster", "local"]))) == 255

rng = random.Random(20260420)
for transport in ("udp", "tcp"):
    for label, build, rcode in cases:
        qid = rng.randrange(1, 65536)
        expect_rcode(label, transport, build(qid), rcode, qid)

# The controls answer the right thing, not just NOERROR.
p = expect_rcode("control: A of kubernetes.default", "udp", query(4242), NOERROR, 4242)
check("control: kubernetes.default has A 10.96.0.1", p is not None and (A, bytes([10, 96, 0, 1])) in p["rrs"],
      repr(p and p["rrs"]))
p = expect_rcode("control: EDNS answer", "udp", query(4243, ar=1) + opt(), NOERROR, 4243)
check("control: EDNS answered with OPT version 0", p is not None and p["version"] == 0, repr(p))
p = expect_rcode("BADVERS answer", "udp", query(4244, ar=1) + opt(version=1), BADVERS, 4244)
check("BADVERS answer carries OPT version 0, no answer records", p is not None and p["version"] == 0 and p["an"] == 0, repr(p))
p = expect_rcode("BADVERS answer", "tcp", query(4245, ar=1) + opt(version=1), BADVERS, 4245)
check("BADVERS answer over TCP carries OPT version 0", p is not None and p["version"] == 0, repr(p))

# ---- silence over UDP: truncated headers, answers ------------------------------------------------

silent = [("header of %d octets" % n, bytes([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])[:n]) for n in range(12)]
silent += [
    ("QR=1 (a response)", header(0x4321, flags=0x8180) + question()),
    ("QR=1 with FORMERR set", header(0x4322, flags=0x8181) + question()),
    ("QR=1 with no question", header(0x4323, flags=0x8000, qd=0)),
]
socks = []
for label, pkt in silent:
    s = udp_socket()
    s.setblocking(False)
    s.send(pkt)
    socks.append((label, s))
# A control query after them all, on its own socket, must be answered; then 300 ms more for any
# late reply to the silent ones.
ctl = udp_socket()
ctl.settimeout(2.0)
ctl.send(query(7777))
try:
    ctl_reply = ctl.recv(65535)
except socket.timeout:
    ctl_reply = None
check("UDP: control query after the silent ones answered", ctl_reply is not None and parse(ctl_reply)["id"] == 7777)
time.sleep(0.3)
for label, s in socks:
    try:
        got = s.recv(65535)
    except (BlockingIOError, ConnectionRefusedError):
        got = None
    check("%s over UDP: no answer" % label, got is None, describe(got))
    s.close()
ctl.close()

# ---- TCP framing ---------------------------------------------------------------------------------

# A frame shorter than a header: the server closes the connection, without a reply.
for n in (0, 1, 5, 11):
    s = tcp_connect(3.0)
    s.sendall(struct.pack(">H", n) + bytes([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0])[:n])
    r = tcp_read_frame(s)
    check("TCP frame of %d octets: connection closed, no reply" % n, r == b"", describe(r))
    s.close()
# A response sent as a query: no reply (closing is allowed).
s = tcp_connect(1.0)
s.sendall(struct.pack(">H", 12 + len(question())) + header(0x4444, flags=0x8180) + question())
r = tcp_read_frame(s)
check("TCP QR=1: no reply", r in (None, b""), describe(r))
s.close()

# Pipelined: 20 queries in one write, 20 replies with the same IDs, each for its own question.
names = ["kubernetes.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local",
         "nope.shop.svc.cluster.local", "db-0.db.data.svc.cluster.local", "dns-version.cluster.local"]
types = [A, A, A, A, TXT]
s = tcp_connect(3.0)
sent = {}
buf = b""
for k in range(20):
    qid = 1000 + k
    pkt = header(qid) + question(names[k % 5], types[k % 5])
    sent[qid] = pkt[12:]
    buf += struct.pack(">H", len(pkt)) + pkt
s.sendall(buf)
got = {}
for k in range(20):
    r = tcp_read_frame(s)
    if not r:
        break
    got[struct.unpack(">H", r[:2])[0]] = r
check("TCP pipelined: 20 queries, 20 replies", len(got) == 20, "got %d" % len(got))
bad = [qid for qid, r in got.items() if qid not in sent or r[12:12 + len(sent[qid])] != sent[qid]]
check("TCP pipelined: every reply matches its query's ID and question", not bad and len(got) == 20, repr(bad))
rc = {qid: parse(r)["rcode"] for qid, r in got.items()}
want = {1000 + k: (NXDOMAIN if k % 5 == 2 else NOERROR) for k in range(20)}
check("TCP pipelined: rcodes", rc == want, repr(rc))
# The connection still works after them.
s.sendall(struct.pack(">H", len(query(5555))) + query(5555))
r = tcp_read_frame(s)
check("TCP pipelined: the connection still answers", bool(r) and parse(r)["id"] == 5555, describe(r))
s.close()

# Two queries split across writes at awkward places (inside the length, inside the header).
s = tcp_connect(3.0)
pkt1, pkt2 = query(6001), query(6002)
stream = struct.pack(">H", len(pkt1)) + pkt1 + struct.pack(">H", len(pkt2)) + pkt2
for piece in (stream[:1], stream[1:7], stream[7:len(pkt1) + 3], stream[len(pkt1) + 3:]):
    s.sendall(piece)
    time.sleep(0.02)
ids = []
for _ in range(2):
    r = tcp_read_frame(s)
    ids.append(parse(r)["id"] if r else describe(r))
check("TCP: queries split across writes both answered", sorted(ids, key=str) == [6001, 6002], repr(ids))
s.close()

# A malformed frame on a connection does not stop the next query on it.
s = tcp_connect(3.0)
bad_pkt = header(6101) + b"\xc0\x0c" + struct.pack(">HH", A, 1)
s.sendall(struct.pack(">H", len(bad_pkt)) + bad_pkt + struct.pack(">H", len(query(6102))) + query(6102))
r1, r2 = tcp_read_frame(s), tcp_read_frame(s)
check("TCP: FORMERR, then the next query on the same connection",
      bool(r1) and bool(r2) and parse(r1)["rcode"] == FORMERR and parse(r2)["id"] == 6102,
      "%s / %s" % (describe(r1), describe(r2)))
s.close()

# A frame announced longer than what comes, then the client closes: nothing breaks.
s = tcp_connect(1.0)
s.sendall(struct.pack(">H", 300) + query(6201))
s.shutdown(socket.SHUT_WR)
r = tcp_read_frame(s)
check("TCP: a frame cut by the client's close gets no reply", r in (b"", None), describe(r))
s.close()

# ---- random packets, then the server must still answer -------------------------------------------

seed_pkts = [b(rng.randrange(65536)) for _, b, _ in cases]
u = udp_socket()
u.setblocking(False)
for k in range(3000):
    kind = k % 3
    if kind == 0:
        pkt = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
    else:  # a real query with a few octets flipped
        pkt = bytearray(rng.choice(seed_pkts))
        for _ in range(rng.randrange(1, 4)):
            if pkt:
                pkt[rng.randrange(len(pkt))] = rng.randrange(256)
        pkt = bytes(pkt)
        if kind == 2 and len(pkt) > 12:
            pkt = pkt[:rng.randrange(12, len(pkt))]
    try:
        u.send(pkt)
    except (BlockingIOError, ConnectionRefusedError):
        time.sleep(0.001)
    if k % 200 == 0:
        try:
            while u.recv(65535):
                pass
        except (BlockingIOError, ConnectionRefusedError):
            pass
u.close()
for k in range(150):
    s = tcp_connect(2.0)
    pkt = bytearray(rng.choice(seed_pkts))
    for _ in range(rng.randrange(1, 4)):
        pkt[rng.randrange(len(pkt))] = rng.randrange(256)
    try:
        s.sendall(struct.pack(">H", len(pkt)) + bytes(pkt))
        if k % 2:
            s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
    except OSError:
        pass
    s.close()

for transport in ("udp", "tcp"):
    p = expect_rcode("after the random packets: SOA of cluster.local", transport,
                     header(9999) + question("cluster.local", SOA), NOERROR, 9999)
    check("after the random packets over %s: one SOA answer" % transport.upper(),
          p is not None and p["an"] == 1 and p["rrs"][0][0] == SOA, repr(p))

print("DONE")
EOF

if "$PY" "$WORK/malformed.py" "$PORT" >"$WORK/py.out" 2>&1; then rc=0; else rc=$?; fi
finished=0
while IFS= read -r line; do
	case $line in
	"PASS "*) pass "${line#PASS }" ;;
	"FAIL "*)
		IFS=$'\t' read -r name detail <<<"${line#FAIL }"
		fail "$name" ${detail:+"$detail"}
		;;
	DONE) finished=1 ;;
	*) printf '%s\n' "$line" ;; # whatever else the client said, a traceback say
	esac
done <"$WORK/py.out"
# Only a failure counts here: a client that stops early has left its other checks out.
if [ "$finished" != 1 ] || [ "$rc" -ne 0 ]; then
	fail "the raw-packet client ran to its end" "exit status $rc"
fi

# Still running, still answering (dig over UDP and TCP), nothing reported by a sanitizer.
if kill -0 "$SD_PID" 2>/dev/null; then
	pass "svcdns is still running"
else
	fail "svcdns is still running"
	sed 's/^/  | /' "$WORK/svcdns.err"
fi
for proto in +notcp +tcp; do
	got=$(dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 $proto +short kubernetes.default.svc.cluster.local A 2>&1)
	expect_eq "dig $proto kubernetes.default.svc.cluster.local after the malformed packets" "$got" 10.96.0.1
done
if ! grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$WORK/svcdns.err"; then
	pass "no sanitizer report on svcdns's stderr"
else
	fail "no sanitizer report on svcdns's stderr"
	sed 's/^/  | /' "$WORK/svcdns.err"
fi

summary
