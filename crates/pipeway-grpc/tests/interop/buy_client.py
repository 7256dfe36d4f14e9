"""A grpcio client of MyService (buy.proto): calls Buy once and prints the result.

usage: buy_client.py ADDRESS ID QUANTITY PRICE
ADDRESS is a gRPC target such as unix:/tmp/CoreFxPipe_shop. The stubs
(buy_pb2, buy_pb2_grpc) must be on PYTHONPATH, generated from buy.proto.

Since grpcio 1.57 a unix: channel sends the %-encoded socket path as its
HTTP/2 :authority, which tonic's HTTP/2 layer (h2) refuses as malformed
(RST_STREAM, PROTOCOL_ERROR); "localhost", what grpc-go and grpc-dotnet
send for Unix sockets, is accepted.
"""

import sys

import grpc

import buy_pb2
import buy_pb2_grpc


def main() -> int:
    address, item, quantity, price = sys.argv[1:5]
    options = [("grpc.default_authority", "localhost")]
    with grpc.insecure_channel(address, options=options) as channel:
        shop = buy_pb2_grpc.MyServiceStub(channel)
        request = buy_pb2.BuyRequest(id=item, quantity=int(quantity), price=int(price))
        reply = shop.Buy(request, timeout=30)
    print(reply.result, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
