"""Loopback ports and the TCP proxy that cuts a server off and brings it back."""

import asyncio
import socket

import pytest

from meshctl.testing import TcpProxy, closed_port, free_port


def test_free_port_can_be_bound_and_closed_port_refuses() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=1).close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def round_trip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    reply = await reader.read(1024)
    writer.close()
    await writer.wait_closed()
    return reply


async def test_proxy_forwards_cuts_and_comes_back_on_its_port() -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        async with TcpProxy(server.sockets[0].getsockname()[1]) as proxy:
            port = proxy.port
            assert proxy.redis_url == f"redis://127.0.0.1:{port}/0"
            assert await round_trip(port, b"ping") == b"ping"
            await proxy.stop()
            with pytest.raises(ConnectionRefusedError):
                await round_trip(port, b"lost")
            await proxy.start()
            assert proxy.port == port
            assert await round_trip(port, b"back") == b"back"
    finally:
        server.close()
        await server.wait_closed()
