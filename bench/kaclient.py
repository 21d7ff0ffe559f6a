#!/usr/bin/python3
"""bench/kaclient.py PORT N CONNS CODE: N keep-alive GET /CODE over CONNS
connections (round robin, one request in flight per connection), each
answer read to the end of its head (a redirect has no body); exits non-zero
on anything but a 302. The fixed load of bench/ka_instructions.sh."""
import socket
import sys

port, n, conns, code = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
req = b"GET /" + code.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kaclient\r\n\r\n"
ss = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
for i in range(n):
    s = ss[i % conns]
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            sys.exit("closed")
        buf += d
    if not buf.startswith(b"HTTP/1.1 302"):
        sys.exit(buf[:200])
for s in ss:
    s.close()
