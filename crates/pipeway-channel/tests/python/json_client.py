#!/usr/bin/env python3
"""A JSON channel client written from the README's "Wire format" section alone.

usage: json_client.py PIPE_NAME
Exchanges hellos, sends a one-way message and a request to the server, then
prints the two frames it gets back, one JSON array [kind, id, body] per line.
"""
import json, os, socket, struct, sys

MESSAGE, REQUEST, REPLY, ERROR = 0, 1, 2, 3
HELLO = ">4sBB2x16s40s"  # magic, version, role, reserved, codec, schema

def handshake(sock, codec=b"json"):
    sock.sendall(struct.pack(HELLO, b"PWCH", 1, 0, codec, b""))
    magic, version, role, theirs, _ = struct.unpack(HELLO, recv_exact(sock, 64))
    if (magic, version, role) != (b"PWCH", 1, 1) or theirs.rstrip(b"\0") != codec:
        raise ValueError(f"not a channel server for {codec}: {magic} {version} {role} {theirs}")

def send(sock, kind, id, value):
    body = json.dumps(value).encode()
    sock.sendall(struct.pack(">IBQ", 9 + len(body), kind, id) + body)

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data

def recv(sock):
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    kind, id = struct.unpack(">BQ", recv_exact(sock, 9))
    body = recv_exact(sock, length - 9)
    if kind == ERROR:
        (code,) = struct.unpack(">H", body[:2])
        return kind, id, (code, body[2:].decode())
    return kind, id, json.loads(body)

path = os.path.join(os.environ.get("TMPDIR") or "/tmp", "CoreFxPipe_" + sys.argv[1])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
handshake(sock)
send(sock, MESSAGE, 0, {"text": "hello from python"})
send(sock, REQUEST, 1, {"text": "shout this"})
for _ in range(2):
    print(json.dumps(recv(sock)))
sock.close()
