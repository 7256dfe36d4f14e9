#!/usr/bin/env python3
"""An SMB client of one named pipe, driven from the command line, for
pipeway's tests: impacket opens \\\\ADDRESS\\pipe\\PIPE as USER and runs
the operations in order, printing one line per operation.

usage: impacket_pipe.py ADDRESS PORT USER PASSWORD PIPE OP...

OP is one of
  write=HEX           one SMB write
  fill=N:HEXBYTE      one SMB write of N copies of a byte
  read=N              one SMB read of at most N bytes
  transact=HEX:N      FSCTL_PIPE_TRANSCEIVE, reading at most N bytes
  sleep=SECONDS
  bulk=SIZE:CHUNK     writes SIZE pseudo-random bytes in CHUNK-byte writes,
                      reading back what the server echoes after each; prints
                      the SHA-256 of what was sent and of what came back
  readall=N           reads (N bytes at a time) until an error; prints the
                      bytes, then the error
  close               closes the pipe

Output: "open ok" or "open err STATUS", then per operation "ok HEX",
"ok SENT_SHA RECEIVED_SHA" (bulk) or "err STATUS"; after the first error
the rest of the operations are skipped, except that readall prints what it
read before its error as "ok HEX" followed by "err STATUS".
"""
import hashlib
import random
import sys
import time

from impacket.smbconnection import SMBConnection

FILE_READ_WRITE = 0x0012019F


def status(err):
    text = str(err)
    for word in text.replace("(", " ").replace(")", " ").split():
        if word.startswith("STATUS_"):
            return word
    return text.replace("\n", " ")


def main():
    address, port, user, password, pipe = sys.argv[1:6]
    ops = sys.argv[6:]
    conn = SMBConnection(address, address, sess_port=int(port))
    conn.login(user, password)
    tid = conn.connectTree("IPC$")
    try:
        fid = conn.openFile(tid, pipe, desiredAccess=FILE_READ_WRITE)
    except Exception as err:  # noqa: BLE001 - report any failure as a line
        print("open err", status(err), flush=True)
        return
    print("open ok", flush=True)
    for op in ops:
        name, _, arg = op.partition("=")
        try:
            if name == "write":
                conn.writeNamedPipe(tid, fid, bytes.fromhex(arg))
                print("ok", flush=True)
            elif name == "fill":
                n, _, byte = arg.partition(":")
                conn.writeNamedPipe(tid, fid, bytes.fromhex(byte) * int(n))
                print("ok", flush=True)
            elif name == "read":
                print("ok", conn.readNamedPipe(tid, fid, int(arg)).hex(), flush=True)
            elif name == "transact":
                data, _, n = arg.partition(":")
                reply = conn.transactNamedPipe(tid, fid, bytes.fromhex(data))
                print("ok", reply[: int(n)].hex(), flush=True)
            elif name == "sleep":
                time.sleep(float(arg))
                print("ok", flush=True)
            elif name == "bulk":
                size, chunk = (int(x) for x in arg.split(":"))
                rng = random.Random(size)
                sent, got = hashlib.sha256(), hashlib.sha256()
                left = size
                while left:
                    block = rng.randbytes(min(chunk, left))
                    left -= len(block)
                    conn.writeNamedPipe(tid, fid, block)
                    sent.update(block)
                    back = 0
                    while back < len(block):
                        data = conn.readNamedPipe(tid, fid, len(block) - back)
                        got.update(data)
                        back += len(data)
                print("ok", sent.hexdigest(), got.hexdigest(), flush=True)
            elif name == "readall":
                data = b""
                try:
                    while True:
                        data += conn.readNamedPipe(tid, fid, int(arg))
                except Exception as err:  # noqa: BLE001
                    print("ok", data.hex(), flush=True)
                    print("err", status(err), flush=True)
                    return
            elif name == "close":
                conn.closeFile(tid, fid)
                print("ok", flush=True)
            else:
                raise SystemExit(f"unknown operation {op}")
        except Exception as err:  # noqa: BLE001
            print("err", status(err), flush=True)
            return


if __name__ == "__main__":
    main()
