#!/usr/bin/env python3
"""One gRPC call to a tonic server on another host, through Samba: impacket
opens \\\\ADDRESS\\pipe\\PIPE, and HTTP/2 (the h2 package) runs over the
pipe's byte stream as it would over a socket.

usage: grpc_over_smb.py ADDRESS PORT USER PASSWORD PIPE PATH REQUEST_HEX

Prints "ok RESPONSE_HEX" (the response message, without gRPC's 5-byte
prefix) or "status CODE MESSAGE" when the call fails.
"""
import struct
import sys

import h2.config
import h2.connection
import h2.events
from impacket.smbconnection import SMBConnection


def main():
    address, port, user, password, pipe, path, request_hex = sys.argv[1:8]
    conn = SMBConnection(address, address, sess_port=int(port))
    conn.login(user, password)
    tid = conn.connectTree("IPC$")
    fid = conn.openFile(tid, pipe, desiredAccess=0x0012019F)

    def send(data):
        if data:
            conn.writeNamedPipe(tid, fid, data)

    http = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    http.initiate_connection()
    stream = http.get_next_available_stream_id()
    http.send_headers(
        stream,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "pipe"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ],
    )
    message = bytes.fromhex(request_hex)
    http.send_data(stream, b"\0" + struct.pack(">I", len(message)) + message, end_stream=True)
    send(http.data_to_send())

    body, status, detail = b"", None, ""
    done = False
    while not done:
        data = conn.readNamedPipe(tid, fid, 65536)
        for event in http.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                body += event.data
                http.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers = {k.decode(): v.decode() for k, v in event.headers}
                if "grpc-status" in headers:
                    status = int(headers["grpc-status"])
                    detail = headers.get("grpc-message", "")
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        send(http.data_to_send())
    conn.close()
    if status == 0 and len(body) >= 5:
        print("ok", body[5:].hex(), flush=True)
    else:
        print("status", status, detail, flush=True)


if __name__ == "__main__":
    main()
