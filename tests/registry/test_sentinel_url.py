"""``redis+sentinel://`` URLs: what they name, what is wrong with a bad one, and the CLI's
answer to a bad or unreachable one. No server is needed here (test_sentinel.py runs them)."""

from __future__ import annotations

import pytest
from redis.asyncio import BlockingConnectionPool
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.errors import InvalidRequestError, RegistryUnavailableError
from meshctl.registry import ServiceRegistry
from meshctl.registry.connection import (
    MAX_CONNECTIONS,
    SentinelTarget,
    connect,
    describe,
    parse_sentinel_url,
)
from meshctl.testing import closed_port


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "redis+sentinel://h1:26379,h2:26380,h3/mesh",
            SentinelTarget((("h1", 26379), ("h2", 26380), ("h3", 26379)), "mesh"),
        ),
        (
            "redis+sentinel://ops:p%40ss@10.0.0.1:5000/mesh-primary/3",
            SentinelTarget((("10.0.0.1", 5000),), "mesh-primary", 3, "ops", "p@ss"),
        ),
        (
            "redis+sentinel://:pw@[::1]:26379/mesh?sentinel_username=s&sentinel_password=x",
            SentinelTarget((("::1", 26379),), "mesh", 0, None, "pw", "s", "x"),
        ),
    ],
)
def test_a_sentinel_url_names_sentinels_service_db_and_credentials(url: str, target: object):
    assert parse_sentinel_url(url) == target


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+sentinel:///mesh", "no sentinel addresses"),
        ("redis+sentinel://h1:26379", "/<service-name>"),
        ("redis+sentinel://h1:26379/", "/<service-name>"),
        ("redis+sentinel://h1:26379/mesh/0/extra", "/<service-name>"),
        ("redis+sentinel://h1:26379/mesh/zero", "database 'zero' is not a number"),
        ("redis+sentinel://h1:port/mesh", "bad port"),
        ("redis+sentinel://h1:26379,/mesh", "has no host"),
        ("redis+sentinel://h1/mesh?ssl=true", "unknown option 'ssl'"),
    ],
)
def test_a_bad_sentinel_url_is_bad_input_that_says_why(url: str, why: str):
    with pytest.raises(InvalidRequestError, match="Invalid registry URL") as caught:
        connect(url)
    assert why in str(caught.value)


def test_a_bad_url_is_reported_without_its_password():
    with pytest.raises(InvalidRequestError) as caught:
        connect("redis+sentinel://ops:s3cret@h1/mesh/x?sentinel_password=hush")
    assert "s3cret" not in str(caught.value) and "hush" not in str(caught.value)


async def test_a_sentinel_client_is_described_by_its_sentinels_and_service():
    client, owned = connect("redis+sentinel://ops:s3cret@h2:2,h1/mesh/4?sentinel_password=x")
    assert owned
    assert describe(client) == "redis+sentinel://h1:26379,h2:2/mesh/4"
    # bursts queue for a connection, as with a single server
    assert isinstance(client.connection_pool, BlockingConnectionPool)
    assert client.connection_pool.max_connections == MAX_CONNECTIONS
    await client.aclose()


async def test_unreachable_sentinels_are_a_registry_outage():
    url = f"redis+sentinel://127.0.0.1:{closed_port()},127.0.0.1:{closed_port()}/mesh"
    registry = ServiceRegistry(url, prefix="unused")
    try:
        with pytest.raises(
            RegistryUnavailableError,
            match=r"No master found for .mesh. \(not every sentinel answered\)",
        ):
            await registry.discover_services("analytics")
    finally:
        await registry.aclose()


def test_the_cli_exits_2_on_a_bad_sentinel_url_and_3_on_unreachable_sentinels():
    runner = CliRunner()
    bad = runner.invoke(app, ["--redis-url", "redis+sentinel://h1/", "services", "list"])
    assert bad.exit_code == 2
    assert bad.stderr.splitlines()[0].startswith("error: Invalid registry URL")
    url = f"redis+sentinel://:pw@127.0.0.1:{closed_port()}/mesh"
    down = runner.invoke(app, ["--redis-url", url, "services", "list"])
    assert down.exit_code == 3
    [error, _hint] = down.stderr.splitlines()
    assert error.startswith("error: Cannot reach the registry at redis+sentinel://127.0.0.1:")
    assert "pw" not in down.stderr and "Traceback" not in down.output
