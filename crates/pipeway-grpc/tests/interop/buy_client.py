"""A grpcio client of MyService (buy.proto): calls Buy and prints each result.

usage: buy_client.py ADDRESS ID QUANTITY PRICE [CALLS]
ADDRESS is a gRPC target such as unix:/tmp/CoreFxPipe_shop; CALLS (default
1) calls are made on one channel. The stubs (buy_pb2, buy_pb2_grpc) must be
on PYTHONPATH, generated from buy.proto.

No channel options: since grpcio 1.57 a unix: channel sends the %-encoded
socket path as its HTTP/2 :authority, which a pipeway-grpc server accepts
(it replaces it with "localhost" before tonic's HTTP/2 layer sees it).
"""

import sys

import grpc

import buy_pb2
import buy_pb2_grpc


def main() -> int:
    address, item, quantity, price = sys.argv[1:5]
    calls = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    with grpc.insecure_channel(address) as channel:
        shop = buy_pb2_grpc.MyServiceStub(channel)
        request = buy_pb2.BuyRequest(id=item, quantity=int(quantity), price=int(price))
        for _ in range(calls):
            reply = shop.Buy(request, timeout=30)
            print(reply.result, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
