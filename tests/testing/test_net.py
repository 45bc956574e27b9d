"""Loopback ports and the TCP proxy that cuts a server off and brings it back."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

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


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_reset_kills_open_connections_mid_stream_and_new_ones_get_through(
    echo_port: int,
) -> None:
    async with TcpProxy(echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"one")
        assert await reader.read(1024) == b"one"
        assert proxy.reset() == 1
        with pytest.raises(ConnectionResetError):
            await reader.read(1024)  # a reset, not an orderly end of stream
        writer.close()
        assert proxy.reset() == 0
        assert await round_trip(proxy.port, b"again") == b"again"


async def test_flow_holds_bytes_on_open_connections_until_it_is_turned_back_on(
    echo_port: int,
) -> None:
    async with TcpProxy(echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.flow(False)
        assert not proxy.flowing
        writer.write(b"held")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await reader.read(1024)
        proxy.flow(True)
        assert await reader.read(1024) == b"held"
        writer.close()


async def test_stall_holds_bytes_for_a_while_and_stop_ends_held_connections(
    echo_port: int,
) -> None:
    loop = asyncio.get_running_loop()
    async with TcpProxy(echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        began = loop.time()
        proxy.stall(0.3)
        writer.write(b"late")
        assert await reader.read(1024) == b"late"
        assert loop.time() - began >= 0.3 and proxy.flowing
        proxy.flow(False)
        writer.write(b"never")
        async with asyncio.timeout(5):
            await proxy.stop()  # ends the held connection instead of waiting for it
        with contextlib.suppress(ConnectionResetError):  # a close with bytes held may reset
            assert await reader.read(1024) == b""
        writer.close()
