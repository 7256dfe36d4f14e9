#!/usr/bin/env python3
"""Round trips for pipeway's SMB benchmark, timed inside one client
process: one batch of N round trips of SIZE bytes, after a warm-up.

usage: smb_client.py local PATH SIZE N
       smb_client.py transact|writeread ADDRESS PORT USER PASSWORD PIPE SIZE N

Prints "WALL_US CPU_US": the wall-clock and this process's CPU time per
round trip, in microseconds.
"""
import socket
import sys
import time


def timed(n, op):
    for _ in range(max(10, n // 10)):
        op()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        op()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{wall / n * 1e6:.2f} {cpu / n * 1e6:.2f}", flush=True)


def local(path, size, n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    payload = b"x" * size

    def op():
        s.sendall(payload)
        got = 0
        while got < size:
            got += len(s.recv(size - got))

    timed(n, op)


def smb(mode, address, port, user, password, pipe, size, n):
    from impacket.smbconnection import SMBConnection

    conn = SMBConnection(address, address, sess_port=int(port))
    conn.login(user, password)
    tid = conn.connectTree("IPC$")
    fid = conn.openFile(tid, pipe, desiredAccess=0x0012019F)
    payload = b"x" * size

    def transact():
        reply = conn.transactNamedPipe(tid, fid, payload)
        assert len(reply) == size, len(reply)

    def writeread():
        conn.writeNamedPipe(tid, fid, payload)
        got = 0
        while got < size:
            got += len(conn.readNamedPipe(tid, fid, size - got))

    timed(n, transact if mode == "transact" else writeread)
    conn.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "local":
        local(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        smb(mode, *sys.argv[2:7], int(sys.argv[7]), int(sys.argv[8]))
