"""The Routing tab and ``top --once`` on the real Redis: route tables set as ``meshctl route``
sets them, SLOs with what the services served, instances of two versions in two zones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from textual.widgets import DataTable, Static
from typer.testing import CliRunner

from meshctl.cli.app import app as cli
from meshctl.core.endpoint import HealthStatus
from meshctl.core.slo import Slo
from meshctl.core.stats import MethodStats
from meshctl.registry import ServiceRegistry
from meshctl.registry.health import HealthMonitor
from meshctl.registry.keys import slos_key
from meshctl.registry.routes import set_table
from meshctl.registry.sli import SliRecorder, save_slo
from meshctl.testing import FakeClock, Platform
from meshctl.tui.app import MeshTopApp
from meshctl.tui.data import MeshReader
from tests.support.top import until

pytestmark = pytest.mark.redis

CANARY = {
    "service": "analytics",
    "subsets": {"stable": {"version": "0.1.0"}, "canary": {"version": "0.2.0"}},
    "rules": [
        {"match": {"headers": {"x-canary": "1"}}, "route": "canary"},
        {"route": [{"subset": "stable", "weight": 95}, {"subset": "canary", "weight": 5}]},
    ],
}


async def burning(redis: aioredis.Redis, prefix: str) -> None:
    """A 99.9 % SLO on analytics, and 1000 requests served just now, 2 % failed: a fast burn."""
    await save_slo(redis, prefix, Slo("analytics", 99.9, 30 * 86400))
    stats = MethodStats()
    for i in range(1000):
        stats.of("GetTrafficMetrics").start()
        stats.of("GetTrafficMetrics").finish(0.004, "INTERNAL" if i < 20 else None)
    await SliRecorder(redis, prefix, "analytics", stats).flush()


async def canary_mesh(platform: Platform) -> None:
    """analytics 0.1.0 in eu-west and 0.2.0 in eu-east, health checked, with the canary
    route table and a fast-burning SLO."""
    await platform.start("analytics", instance_version="0.1.0", zone="eu-west")
    await platform.start("analytics", instance_version="0.2.0", zone="eu-east")
    health = await HealthMonitor(platform.registry).check_once()
    assert set(health.values()) == {HealthStatus.HEALTHY}
    await set_table(platform.registry.redis, platform.registry.prefix, CANARY)
    await burning(platform.registry.redis, platform.registry.prefix)


async def test_the_reader_reads_routing_every_few_seconds(
    redis_client: aioredis.Redis, key_prefix: str
):
    clock = FakeClock()
    reader = MeshReader(ServiceRegistry(redis_client, key_prefix), clock=clock, routing_every=5)
    assert (await reader.fetch()).routing.tables == {}
    await set_table(redis_client, key_prefix, CANARY)
    clock.advance(4)
    assert (await reader.fetch()).routing.tables == {}  # the last read stands until 5 s
    clock.advance(1)
    state = await reader.fetch()
    assert state.routing.at == clock.now and state.routing.tables["analytics"].revision == 1


async def test_a_record_that_is_not_a_table_is_listed_not_fatal(
    redis_client: aioredis.Redis, key_prefix: str
):
    await redis_client.hset(f"{key_prefix}:routes", "analytics", "not json")
    reader = MeshReader(ServiceRegistry(redis_client, key_prefix))
    state = await reader.fetch()
    assert state.routing.tables == {}
    [problem] = state.routing.problems
    assert problem.startswith("route table of 'analytics' is not valid")


async def test_an_slo_whose_window_is_not_kept_is_listed_not_fatal(
    redis_client: aioredis.Redis, key_prefix: str
):
    record = Slo("alert", 99.0, 60 * 86400).to_json()  # written by hand: save_slo refuses it
    await redis_client.hset(slos_key(key_prefix), "alert", json.dumps(record))
    await save_slo(redis_client, key_prefix, Slo("auth", 99.0, 86400))
    state = await MeshReader(ServiceRegistry(redis_client, key_prefix)).fetch()
    assert [s.slo.service for s in state.routing.slos] == ["auth"]
    assert state.routing.problems == [
        "SLO 'alert' cannot be measured: windows up to 31 days are kept"
    ]


async def test_routing_tab_shows_the_table_subsets_zones_and_a_fast_burn(platform: Platform):
    await canary_mesh(platform)
    app = MeshTopApp(MeshReader(platform.registry).fetch, interval=0)
    async with app.run_test(size=(240, 40)) as pilot:
        table = app.query_one("#service-table", DataTable)
        await until(pilot, lambda: table.row_count == 3)
        assert str(table.get_row_at(0)[0]) == "analytics ⇄ !!"
        labels = [str(c.label) for c in table.columns.values()]
        version, zone = labels.index("VERSION"), labels.index("ZONE")
        instances = {tuple(str(table.get_row_at(i)[c]) for c in (version, zone)) for i in (1, 2)}
        assert instances == {("0.1.0", "eu-west"), ("0.2.0", "eu-east")}
        await pilot.press("6")
        text = str(app.query_one("#routing-text", Static).render())
        assert "analytics ⇄ !!  route table rev 1, fallback any instance" in text
        assert "x-canary=1 -> canary 100%" in text
        assert "any call -> stable 95%, canary 5%" in text
        assert "stable (version=0.1.0) 1/1   canary (version=0.2.0) 1/1" in text
        assert "0.1.0 1/1   0.2.0 1/1" in text
        assert "eu-east 1/1   eu-west 1/1" in text
        assert "availability 99.9% over 30d:" in text and "1000 requests" in text
        assert "burn  5m 20.00  1h 20.00  30m 20.00  6h 20.00  fast burn" in text
        await pilot.press("slash", *"nothing", "enter")
        assert "analytics" not in str(app.query_one("#routing-text", Static).render())


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args)


async def test_once_json_has_routes_slos_and_instance_labels(platform: Platform, redis_url: str):
    await canary_mesh(platform)
    args = ["--redis-url", redis_url, "--prefix", platform.registry.prefix, "top", "--once"]
    result = await asyncio.to_thread(invoke, [*args, "--interval", "0.05", "-o", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    [route] = data["routes"]
    assert route["service"] == "analytics" and route["revision"] == 1
    assert route["rules"] == ["x-canary=1 -> canary 100%", "any call -> stable 95%, canary 5%"]
    assert {s["name"]: (s["healthy"], s["total"]) for s in route["subsets"]} == {
        "stable": (1, 1), "canary": (1, 1),
    }  # fmt: skip
    [slo] = data["slos"]
    assert slo["service"] == "analytics" and slo["requests"] == 1000
    assert slo["alerts"] == ["fast", "slow"]
    assert slo["slis"][0]["burn_rates"] == {"5m": 20.0, "30m": 20.0, "1h": 20.0, "6h": 20.0}
    [analytics] = data["services"]
    labels = {(i["version"], i["zone"]) for i in analytics["instances"]}
    assert labels == {("0.1.0", "eu-west"), ("0.2.0", "eu-east")}
    assert [z["name"] for z in analytics["zones"]] == ["eu-east", "eu-west"]
    table = await asyncio.to_thread(invoke, [*args, "--interval", "0.05"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    start = lines.index("analytics ⇄ !!  route table rev 1, fallback any instance")
    assert lines[start + 1 :] == [
        "  rule      x-canary=1 -> canary 100%",
        "  rule      any call -> stable 95%, canary 5%",
        "  subsets   stable (version=0.1.0) 1/1   canary (version=0.2.0) 1/1",
        "  SLO       availability 99.9% over 30d: -1900.0% budget left, 1000 requests",
        "            burn  5m 20.00  1h 20.00  30m 20.00  6h 20.00  fast burn",
    ]


async def test_once_table_has_no_routing_section_without_tables_or_slos(
    platform: Platform, redis_url: str
):
    await platform.start("analytics")
    args = ["--redis-url", redis_url, "--prefix", platform.registry.prefix, "top", "--once"]
    table = await asyncio.to_thread(invoke, [*args, "--interval", "0.05"])
    assert table.exit_code == 0, table.output
    assert "route table" not in table.output and "SLO" not in table.output
