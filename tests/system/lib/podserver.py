#!/usr/bin/env python3
"""A stand-in for a pod's containers, for the svcfwd system tests: one process per pod, bound to
the pod's IP, standard library only.

  --http PORT,...   HTTP/1.1 with keep-alive. GET / (any query) answers
                    "pod=NAME port=PORT from=CLIENT-IP\n"; GET /bytes?n=N streams N bytes of the
                    stream --gen N writes; "Connection: close" or HTTP/1.0 closes after the answer.
                    GET /healthz: 200 "ok", or 503 while unhealthy (SIGUSR1 makes the pod
                    unhealthy, SIGUSR2 healthy again), for readiness probes.
  --echo PORT,...   raw TCP: echoes everything until the client's EOF, then sends
                    "pod=NAME port=PORT bytes=N done\n" and closes (the client half-closes first).
  --speak PORT,...  raw TCP, server first: sends "pod=NAME port=PORT hello\n", half-closes its
                    write side, reads until the client's EOF, then prints
                    "speak pod=NAME port=PORT received=N sha256=HEX" on stdout and closes.
  --udp PORT,...    UDP echo: answers each datagram with "pod=NAME port=PORT:" + the datagram.

  podserver.py --gen N   writes the first N bytes of the /bytes stream to stdout and exits.

Prints "ready pod=NAME" on stdout once every socket is bound.
"""
import argparse
import asyncio
import hashlib
import random
import signal
import socket
import sys

# The /bytes stream: one pseudo-random block of an odd length, repeated, so a lost, doubled or
# reordered piece of any size but a multiple of the block changes the hash.
BLOCK = random.Random(0x5F3D).randbytes(1048573)


def stream_chunks(n):
    view = memoryview(BLOCK)
    while n > 0:
        k = min(n, len(BLOCK))
        yield view[:k]
        n -= k


def ports(text):
    return [int(p) for p in text.split(",") if p] if text else []


class Pod:
    def __init__(self, name):
        self.name = name
        self.healthy = True

    async def http(self, reader, writer, port):
        peer = writer.get_extra_info("peername")[0]
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    break
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    break
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    k, sep, v = line.partition(":")
                    if sep:
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                conn = b"Connection: close\r\n" if close else b""
                path, _, query = target.partition("?")
                if method in ("GET", "HEAD") and path == "/bytes":
                    args = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
                    n = int(args.get("n", "0"))
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                 b"Content-Length: %d\r\n%s\r\n" % (n, conn))
                    if method == "GET":
                        for chunk in stream_chunks(n):
                            writer.write(chunk)
                            await writer.drain()
                elif method in ("GET", "HEAD") and path == "/healthz":
                    body = b"ok\n" if self.healthy else b"unhealthy\n"
                    writer.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n"
                                 % (b"200 OK" if self.healthy else b"503 Service Unavailable",
                                    len(body), conn))
                    if method == "GET":
                        writer.write(body)
                elif method in ("GET", "HEAD") and path == "/":
                    body = ("pod=%s port=%d from=%s\n" % (self.name, port, peer)).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: %d\r\n%s\r\n" % (len(body), conn))
                    if method == "GET":
                        writer.write(body)
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n%s\r\n" % conn)
                await writer.drain()
                if close:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def echo(self, reader, writer, port):
        n = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                n += len(data)
                writer.write(data)
                await writer.drain()
            writer.write(("pod=%s port=%d bytes=%d done\n" % (self.name, port, n)).encode())
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def speak(self, reader, writer, port):
        n = 0
        h = hashlib.sha256()
        try:
            writer.write(("pod=%s port=%d hello\n" % (self.name, port)).encode())
            await writer.drain()
            writer.write_eof()
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                n += len(data)
                h.update(data)
            print("speak pod=%s port=%d received=%d sha256=%s" % (self.name, port, n, h.hexdigest()),
                  flush=True)
        except (ConnectionError, OSError) as e:
            print("speak pod=%s port=%d error=%s received=%d" % (self.name, port, e, n), flush=True)
        finally:
            writer.close()


class UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, name, port):
        self.prefix = ("pod=%s port=%d:" % (name, port)).encode()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(self.prefix + data, addr)


async def serve(opts):
    pod = Pod(opts.name)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(pod, "healthy", False))
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(pod, "healthy", True))
    servers = []
    for kind, plist in (("http", opts.http), ("echo", opts.echo), ("speak", opts.speak)):
        for port in ports(plist):
            handler = getattr(pod, kind)
            servers.append(await asyncio.start_server(
                lambda r, w, h=handler, p=port: h(r, w, p), opts.ip, port, reuse_address=True))
    for port in ports(opts.udp):
        await loop.create_datagram_endpoint(lambda p=port: UdpEcho(opts.name, p),
                                            local_addr=(opts.ip, port), family=socket.AF_INET)
    print("ready pod=%s" % opts.name, flush=True)
    await asyncio.Event().wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", type=int)
    ap.add_argument("--name")
    ap.add_argument("--ip")
    ap.add_argument("--http", default="")
    ap.add_argument("--echo", default="")
    ap.add_argument("--speak", default="")
    ap.add_argument("--udp", default="")
    opts = ap.parse_args()
    if opts.gen is not None:
        out = sys.stdout.buffer
        for chunk in stream_chunks(opts.gen):
            out.write(chunk)
        out.flush()
        return
    if not opts.name or not opts.ip:
        ap.error("--name and --ip are needed")
    asyncio.run(serve(opts))


if __name__ == "__main__":
    main()
