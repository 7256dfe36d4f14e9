"""A grpcio server of MyService (buy.proto) on ADDRESS.

usage: buy_server.py ADDRESS
Buy answers "bought {quantity} of {id} at {price}" with initial metadata
x-served-by: grpcio <version>; an order for the item "slow" is never
answered, until the caller gives up. Prints "ready" once it serves. The
stubs (buy_pb2, buy_pb2_grpc) must be on PYTHONPATH.
"""

import sys
import threading
from concurrent import futures

import grpc

import buy_pb2
import buy_pb2_grpc


class Shop(buy_pb2_grpc.MyServiceServicer):
    def Buy(self, request, context):
        context.send_initial_metadata((("x-served-by", "grpcio " + grpc.__version__),))
        if request.id == "slow":
            gone = threading.Event()
            context.add_callback(gone.set)
            gone.wait()
            return buy_pb2.BuyResponse()
        result = f"bought {request.quantity} of {request.id} at {request.price}"
        return buy_pb2.BuyResponse(result=result)


def main() -> int:
    address = sys.argv[1]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    buy_pb2_grpc.add_MyServiceServicer_to_server(Shop(), server)
    if server.add_insecure_port(address) == 0:
        print(f"cannot listen on {address}", file=sys.stderr, flush=True)
        return 1
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
