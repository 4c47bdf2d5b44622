#!/usr/bin/env python3
"""Hostile and ordinary HTTP clients for tests/system/http_limits.sh (standard library only).
Each prints one line of KEY=VALUE words on stdout.

  httpattack.py body HOST PORT PATH MIB MODE
        sends a request head, then MIB MiB of body as fast as the server takes it (for 20 s at
        most). MODE:
        "length" (Content-Length: the size), "chunked" (Transfer-Encoding: chunked) or "none"
        (the bytes follow a GET that announces nothing). Prints status=CODE|none sent=BYTES
        closed=1|0 (the server ended the connection before the whole body was sent).
  httpattack.py idle HOST PORT N PATH
        opens N connections that send nothing, waits 0.5 s, runs `curl -s URL` (a real
        scraper), then counts the idle connections the server has closed. Prints
        curl_rc=RC curl_status=CODE curl_bytes=N idle_closed=K.
  httpattack.py slow HOST PORT PATH LIMIT_S
        slowloris: a request head that never ends, one byte a second. Prints closed_after=S
        (seconds until the server closed it) or closed_after=never (LIMIT_S passed).
  httpattack.py head HOST PORT PATH KIB SHAPE
        a request head of about KIB KiB, sent at once: SHAPE "line" (one long header line) or
        "many" (many 64-byte header lines). Prints status=CODE|none closed=1|0.
  httpattack.py raw HOST PORT TEXT
        sends TEXT (Python escapes, e.g. "GET / HTTP/1.0\\r\\n\\r\\n"), prints the first line of
        the answer as status=CODE|none, and body_bytes=N, headers in lower case as
        h_NAME=VALUE (spaces as _).
"""
import select
import socket
import subprocess
import sys
import time


def connect(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, int(port)))
    return s


def read_all(s, limit=1 << 24):
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionError, socket.timeout, OSError):
        pass
    return data


def status_of(data):
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode() if len(parts) >= 2 and parts[0].startswith(b"HTTP/") else "none"


def url(host, port, path):
    return "http://%s:%s%s" % ("[%s]" % host if ":" in host else host, port, path)


def body(host, port, path, mib, mode):
    size = int(mib) << 20
    s = connect(host, port)
    head = "GET %s HTTP/1.1\r\nHost: test\r\n" % path
    if mode == "length":
        head += "Content-Length: %d\r\n" % size
    elif mode == "chunked":
        head += "Transfer-Encoding: chunked\r\n"
    s.sendall((head + "\r\n").encode())
    block = b"x" * 65536
    if mode == "chunked":
        block = b"10000\r\n" + block + b"\r\n"
    sent, closed = 0, 0
    # A server that reads it all may take long (evhttp rescans its buffer for a line end):
    # 20 s is plenty for one that does not.
    end = time.monotonic() + 20
    while sent < size and time.monotonic() < end:
        try:
            sent += s.send(block)
        except (ConnectionError, socket.timeout, OSError):
            closed = 1
            break
    s.settimeout(2)
    data = read_all(s)
    print("status=%s sent=%d closed=%d" % (status_of(data), sent, closed))


def idle(host, port, n, path):
    socks = [connect(host, port) for _ in range(int(n))]
    time.sleep(0.5)
    r = subprocess.run(["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}",
                        url(host, port, path)], capture_output=True)
    out = r.stdout.rsplit(b"\n", 1)
    code = out[-1].decode() if out else ""
    nbytes = len(out[0]) if len(out) == 2 else 0
    time.sleep(0.2)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except (ConnectionError, OSError):
            closed += 1
        s.close()
    print("curl_rc=%d curl_status=%s curl_bytes=%d idle_closed=%d" %
          (r.returncode, code, nbytes, closed))


def slow(host, port, path, limit):
    s = connect(host, port)
    start = time.monotonic()
    text = ("GET %s HTTP/1.1\r\nHost: test\r\nX-Slow: " % path).encode()
    s.sendall(text[:1])
    i = 1
    while time.monotonic() - start < float(limit):
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            try:
                if s.recv(4096) == b"":
                    break
            except (ConnectionError, OSError):
                break
            continue
        try:
            s.send(text[i:i + 1] if i < len(text) else b"a")
        except (ConnectionError, OSError):
            break
        i += 1
    else:
        print("closed_after=never")
        return
    print("closed_after=%.1f" % (time.monotonic() - start))


def head(host, port, path, kib, shape):
    size = int(kib) * 1024
    text = "GET %s HTTP/1.1\r\nHost: test\r\n" % path
    if shape == "line":
        text += "X-Fill: " + "a" * size + "\r\n"
    else:
        for i in range(size // 64 + 1):
            text += "X-Fill-%05d: %s\r\n" % (i, "b" * 48)
    s = connect(host, port)
    closed = 0
    try:
        s.sendall((text + "\r\n").encode())
    except (ConnectionError, OSError):
        closed = 1
    data = read_all(s)
    if not data or closed:
        closed = 1
    print("status=%s closed=%d" % (status_of(data), closed))


def raw(host, port, text):
    s = connect(host, port)
    s.sendall(text.encode().decode("unicode_escape").encode("latin-1"))
    data = read_all(s)
    head_, _, bodytext = data.partition(b"\r\n\r\n")
    words = ["status=%s" % status_of(data), "body_bytes=%d" % len(bodytext)]
    for line in head_.split(b"\r\n")[1:]:
        k, sep, v = line.decode("latin-1").partition(":")
        if sep:
            words.append("h_%s=%s" % (k.strip().lower(), v.strip().replace(" ", "_")))
    print(" ".join(words))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"body": body, "idle": idle, "slow": slow, "head": head, "raw": raw}[cmd](*args)


if __name__ == "__main__":
    main()
