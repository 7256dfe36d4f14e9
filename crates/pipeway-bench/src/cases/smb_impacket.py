# The impacket side of `pipeway bench smb`: one logged-on client, driven
# over stdin. Each command line runs a batch and prints its elapsed
# nanoseconds, measured here, around the client's own calls.
#   argv: host port user password message-pipe byte-pipe
#   transact SIZE N | writeread SIZE N | bytes SIZE N | login N
import sys
import time

from impacket.smbconnection import SMBConnection

host, port, user, password, msg_pipe, byte_pipe = sys.argv[1:7]


def connect():
    conn = SMBConnection(host, host, sess_port=int(port))
    conn.login(user, password)
    return conn


conn = connect()
tid = conn.connectTree("IPC$")
msg = conn.openFile(tid, "\\" + msg_pipe)
byt = conn.openFile(tid, "\\" + byte_pipe)
print("ready", flush=True)


def stamped(size, i):
    head = i.to_bytes(8, "little")
    return (head + bytes((j * 7 + i) % 251 for j in range(max(size - 8, 0))))[:size]


def check(got, want):
    if got != want:
        raise SystemExit(f"impacket: wrong echo ({len(got)} bytes, wanted {len(want)})")


for line in sys.stdin:
    cmd, size, n = line.split()
    size, n = int(size), int(n)
    messages = [stamped(size, i) for i in range(n)]
    started = time.perf_counter_ns()
    if cmd == "transact":
        for m in messages:
            check(conn.transactNamedPipe(tid, msg, m, waitAnswer=True), m)
    elif cmd == "writeread":
        for m in messages:
            conn.writeNamedPipe(tid, msg, m, waitAnswer=True)
            check(conn.readNamedPipe(tid, msg, bytesToRead=65536), m)
    elif cmd == "bytes":
        # A blocking client cannot write 1 MiB while the echo comes back:
        # 64 KiB written, then read back, until the whole has gone round.
        for m in messages:
            got = b""
            for at in range(0, len(m), 65536):
                chunk = m[at:at + 65536]
                conn.writeNamedPipe(tid, byt, chunk, waitAnswer=True)
                back = b""
                while len(back) < len(chunk):
                    back += conn.readNamedPipe(tid, byt, bytesToRead=len(chunk) - len(back))
                got += back
            check(got, m)
    elif cmd == "login":
        for _ in range(n):
            c = connect()
            c.connectTree("IPC$")
            c.logoff()
    else:
        raise SystemExit(f"impacket: unknown command {cmd}")
    print(time.perf_counter_ns() - started, flush=True)
