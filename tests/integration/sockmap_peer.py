#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The two ends of agent_sockmap.sh's connections, run inside endpoints.

  sockmap_peer.py server PORT
      HTTP/1.1 keep-alive server: GET /big/N answers N bytes of the pattern;
      POST /up?stall=S waits S seconds before reading its body, then checks
      it is the pattern and answers "ok N" or "bad AT"; GET /small answers 2
      bytes. One thread per connection.
  sockmap_peer.py big ADDR PORT N STALL
      GET /big/N, reads nothing for STALL seconds, then reads the body and
      checks it byte for byte. Prints "mem BEFORE DURING" (the host's TCP
      memory in pages, /proc/net/sockstat) and "ok" or "bad AT".
  sockmap_peer.py up ADDR PORT N STALL
      POST /up?stall=STALL with an N-byte pattern body, sent while the
      server does not read; prints "mem BEFORE DURING" and the answer.
  sockmap_peer.py small ADDR PORT K
      K requests on one connection, pipelined two at a time; prints "ok".
"""
import socket
import sys
import threading
import time


def pattern(off, n):
    # bytes (off + i) % 251 for i in [0, n)
    base = bytes(range(251)) * (n // 251 + 2)
    s = off % 251
    return base[s:s + n]


def tcp_mem():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                return int(w[w.index("mem") + 1])
    return -1


def read_head(f):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        c = f.read(1)
        if not c:
            return None
        head += c
    return head.decode("latin-1")


def serve_conn(c):
    f = c.makefile("rb")
    try:
        while True:
            head = read_head(f)
            if head is None:
                return
            line = head.split("\r\n")[0]
            method, target, _ = line.split(" ", 2)
            length = 0
            for h in head.split("\r\n")[1:]:
                if h.lower().startswith("content-length:"):
                    length = int(h.split(":", 1)[1])
            if method == "GET" and target.startswith("/big/"):
                n = int(target[5:])
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
                off = 0
                while off < n:
                    k = min(1 << 16, n - off)
                    c.sendall(pattern(off, k))
                    off += k
            elif method == "POST" and target.startswith("/up"):
                stall = float(target.split("stall=")[1]) if "stall=" in target else 0
                time.sleep(stall)
                off, bad = 0, -1
                while off < length:
                    b = f.read(min(1 << 16, length - off))
                    if not b:
                        return
                    if bad < 0 and b != pattern(off, len(b)):
                        want = pattern(off, len(b))
                        bad = off + next(i for i in range(len(b)) if b[i] != want[i])
                    off += len(b)
                body = b"ok %d\n" % off if bad < 0 else b"bad %d\n" % bad
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except (OSError, ValueError):
        return
    finally:
        c.close()


def server(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    print("listening on", port, flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


def big(addr, port, n, stall):
    before = tcp_mem()
    c = socket.create_connection((addr, port), 5)
    c.sendall(b"GET /big/%d HTTP/1.1\r\nHost: s\r\n\r\n" % n)
    time.sleep(stall)
    during = tcp_mem()
    c.settimeout(30)
    f = c.makefile("rb")
    head = read_head(f)
    print("mem", before, during, flush=True)
    if not head or " 200 " not in head.split("\r\n")[0]:
        print("bad head", repr(head))
        return 1
    off = 0
    while off < n:
        b = f.read(min(1 << 16, n - off))
        if not b:
            print("bad short", off)
            return 1
        want = pattern(off, len(b))
        if b != want:
            print("bad", off + next(i for i in range(len(b)) if b[i] != want[i]))
            return 1
        off += len(b)
    print("ok")
    return 0


def up(addr, port, n, stall):
    before = tcp_mem()
    c = socket.create_connection((addr, port), 5)
    c.sendall(b"POST /up?stall=%s HTTP/1.1\r\nHost: s\r\nContent-Length: %d\r\n\r\n"
              % (str(stall).encode(), n))
    # send what the path takes while the server does not read
    c.setblocking(False)
    off = 0
    t0 = time.monotonic()
    while off < n and time.monotonic() - t0 < stall * 0.8:
        try:
            off += c.send(pattern(off, min(1 << 16, n - off)))
        except BlockingIOError:
            time.sleep(0.01)
    during = tcp_mem()
    c.setblocking(True)
    c.settimeout(30)
    while off < n:
        off += c.send(pattern(off, min(1 << 16, n - off)))
    print("mem", before, during, flush=True)
    print(c.recv(4096).decode("latin-1").split("\r\n\r\n", 1)[-1].strip())
    return 0


def small(addr, port, k):
    c = socket.create_connection((addr, port), 5)
    c.settimeout(10)
    f = c.makefile("rb")
    i = 0
    while i < k:
        c.sendall(b"GET /small HTTP/1.1\r\nHost: s\r\n\r\n" * 2)
        for _ in range(2):
            head = read_head(f)
            if not head or " 200 " not in head.split("\r\n")[0] or f.read(2) != b"ok":
                print("bad", i, repr(head))
                return 1
        i += 2
    print("ok")
    return 0


def main(a):
    if a[0] == "server":
        server(int(a[1]))
    elif a[0] == "big":
        return big(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif a[0] == "up":
        return up(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif a[0] == "small":
        return small(a[1], int(a[2]), int(a[3]))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
