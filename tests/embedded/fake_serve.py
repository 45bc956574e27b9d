"""Stands in for ``python -m meshctl serve NAME ...``: registers, waits for SIGTERM, deregisters.

Invoked as ``fake_serve.py -m meshctl serve NAME --port 0 --prefix P``, the registry in
``MESH_REDIS_URL`` (as ``meshctl up`` hands it to its services: never on a command line).
``FAKE_CRASH=NAME`` makes that service fail on start.
"""

import asyncio
import os
import signal
import socket
import sys

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry


async def main(argv: list[str]) -> int:
    name = argv[3]
    opts = dict(zip(argv[4::2], argv[5::2], strict=True))
    if os.environ.get("FAKE_CRASH") == name:
        print(f"{name}: cannot load its module", flush=True)
        return 1
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    registry = ServiceRegistry(os.environ["MESH_REDIS_URL"], prefix=opts["--prefix"])
    endpoint = ServiceEndpoint(name, "127.0.0.1", sock.getsockname()[1])
    await registry.register_service(name, endpoint, ttl=30)
    print(f"{name} serving on {endpoint.address} pid {os.getpid()}", flush=True)
    await stop.wait()
    await registry.deregister_service(name, endpoint.instance_id)
    await registry.aclose()
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
