#!/usr/bin/env python3
"""A client for pipeway-bench's `smb-serve` group: connects, says "ready", then
for each line N on stdin makes N round trips of SIZE bytes, each stamped
with its own counter and checked when it comes back, and prints the time
they took in nanoseconds (with `net`, less this process's own CPU time).
A wrong echo prints "mismatch ..." and exits 1.

usage: smb_serve_client.py [net] local PATH SIZE
       smb_serve_client.py [net] transact|writeread ADDRESS PORT USER PASSWORD PIPE SIZE
"""
import socket
import struct
import sys
import time


def stamped(counter, size):
    head = struct.pack("<Q", counter)
    return (head + bytes((counter + i) & 0xFF for i in range(size)))[:size]


def local(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)

    def exchange(message):
        s.sendall(message)
        reply = b""
        while len(reply) < len(message):
            chunk = s.recv(len(message) - len(reply))
            if not chunk:
                raise SystemExit("mismatch: the server closed")
            reply += chunk
        return reply

    return exchange


def smb(mode, address, port, user, password, pipe):
    from impacket.smbconnection import SMBConnection

    conn = SMBConnection(address, address, sess_port=int(port))
    conn.login(user, password)
    tid = conn.connectTree("IPC$")
    fid = conn.openFile(tid, pipe, desiredAccess=0x0012019F)

    def transact(message):
        return conn.transactNamedPipe(tid, fid, message)

    def writeread(message):
        conn.writeNamedPipe(tid, fid, message)
        reply = b""
        while len(reply) < len(message):
            reply += conn.readNamedPipe(tid, fid, len(message) - len(reply))
        return reply

    return transact if mode == "transact" else writeread


def main():
    args = sys.argv[1:]
    net = args[0] == "net"
    if net:
        args = args[1:]
    mode, size = args[0], int(args[-1])
    exchange = local(args[1]) if mode == "local" else smb(mode, *args[1:6])
    print("ready", flush=True)
    counter = 0
    for line in sys.stdin:
        ops = int(line)
        messages = [stamped(counter + i, size) for i in range(ops)]
        wall, cpu = time.perf_counter_ns(), time.process_time_ns()
        for message in messages:
            if exchange(message) != message:
                print(f"mismatch: round trip {counter} came back different", flush=True)
                sys.exit(1)
            counter += 1
        wall, cpu = time.perf_counter_ns() - wall, time.process_time_ns() - cpu
        print(wall - cpu if net else wall, flush=True)


if __name__ == "__main__":
    main()
