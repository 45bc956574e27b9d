"""``meshctl slo`` on the real Redis, and ``meshctl check`` failing on a fast burn."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
import yaml

from meshctl.core.stats import MethodStats
from meshctl.registry.sli import SliRecorder
from meshctl.testing import Platform

pytestmark = pytest.mark.redis


async def invoke(meshctl, *args: str):
    return await asyncio.to_thread(meshctl, *args)


async def served(
    redis_client: aioredis.Redis, prefix: str, service: str, total: int, failed: int
) -> None:
    """``total`` requests of ``service`` served just now, ``failed`` of them failed."""
    stats = MethodStats()
    for i in range(total):
        stats.of("GetTrafficMetrics").start()
        stats.of("GetTrafficMetrics").finish(0.004, "INTERNAL" if i < failed else None)
    await SliRecorder(redis_client, prefix, service, stats).flush()


def test_set_list_and_delete(meshctl) -> None:
    set_ = meshctl("slo", "set", "analytics", "--objective", "99.9", "--latency", "p99<100ms")
    assert set_.exit_code == 0, set_.output
    assert set_.stdout == "SLO analytics set: 99.9% over 30d, p99<100ms\n"
    again = meshctl("slo", "set", "analytics", "--objective", "99.5", "--window", "7d")
    assert again.stdout == "SLO analytics replaced: 99.5% over 7d\n"
    meshctl("slo", "set", "alert", "--objective", "99", "--method", "SendAlert", "--window", "12h")
    listed = meshctl("slo", "list")
    assert listed.stdout.splitlines() == [
        "SLO              OBJECTIVE  WINDOW  LATENCY",
        "alert/SendAlert  99%        12h     -",
        "analytics        99.5%      7d      -",
    ]
    as_json = json.loads(meshctl("slo", "list", "-o", "json").stdout)
    assert as_json["slos"][0] == {
        "service": "alert", "objective": 99.0, "window_seconds": 43200.0, "latency": None,
        "method": "SendAlert",
    }  # fmt: skip
    assert meshctl("slo", "delete", "alert", "--method", "SendAlert").stdout == (
        "SLO alert/SendAlert deleted\n"
    )
    gone = meshctl("slo", "delete", "alert", "--method", "SendAlert")
    assert gone.exit_code == 0 and gone.stdout == "no SLO alert/SendAlert: nothing to delete\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["analytcs", "--objective", "99"],
            "unknown service 'analytcs'; did you mean 'analytics'?",
        ),
        (["analytics", "--objective", "100"], "--objective must be a percentage in (0, 100)"),
        (["analytics", "--objective", "99", "--window", "soon"], "invalid --window 'soon'"),
        (["analytics", "--objective", "99", "--window", "90d"], "--window must be at most 31d"),
        (["analytics", "--objective", "99", "--window", "10m"], "--window must be at least 1h"),
        (["analytics", "--objective", "99", "--latency", "p99<90ms"], "the nearest is 100ms"),
        (["analytics", "--objective", "ninety"], "Invalid value for '--objective'"),
    ],
)
def test_mistakes_are_refused_with_exit_2(meshctl, args: list[str], message: str) -> None:
    refused = meshctl("slo", "set", *args)
    assert refused.exit_code == 2, refused.output
    assert message in refused.output
    assert "Traceback" not in refused.output
    assert meshctl("slo", "list", "-o", "json").stdout.strip() == '{\n  "slos": []\n}'


async def test_status_shows_budget_and_burn_from_what_was_served(
    meshctl, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    await invoke(meshctl, "slo", "set", "analytics", "--objective", "99")
    empty = await invoke(meshctl, "slo", "status")
    assert "analytics  availability  99%" in empty.stdout and " 0 " in empty.stdout
    await served(redis_client, key_prefix, "analytics", 1000, 5)  # 0.5 % of a 1 % budget
    status = json.loads((await invoke(meshctl, "slo", "status", "-o", "json")).stdout)
    [slo] = status["slos"]
    [sli] = slo["slis"]
    assert slo["requests"] == 1000 and slo["alerts"] == []
    assert sli["bad_share"] == pytest.approx(0.005)
    assert sli["budget_remaining"] == pytest.approx(0.5)
    assert sli["burn_rates"] == {"5m": 0.5, "30m": 0.5, "1h": 0.5, "6h": 0.5}
    table = (await invoke(meshctl, "slo", "status", "analytics")).stdout
    assert "0.5%" in table and "50.0%" in table and "0.50" in table
    assert (await invoke(meshctl, "slo", "status", "alert")).stdout.startswith("no SLO set")


async def test_check_fails_while_a_budget_burns_fast(
    platform: Platform, meshctl, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    await platform.start("analytics")
    await invoke(meshctl, "slo", "set", "analytics", "--objective", "99.9")
    calm = await invoke(meshctl, "check")
    assert calm.exit_code == 0, calm.output
    assert "√ SLO analytics: no traffic yet" in calm.stdout.splitlines()
    await served(redis_client, key_prefix, "analytics", 1000, 20)  # 2 % bad: burn 20
    burning = await invoke(meshctl, "check")
    assert burning.exit_code == 1, burning.output
    assert "× SLO analytics: error budget burning fast (20.0x the sustainable rate)" in (
        burning.stdout.splitlines()
    )
    assert "    hint: see `meshctl slo status analytics`" in burning.stdout.splitlines()
    as_json = json.loads((await invoke(meshctl, "check", "-o", "json")).stdout)
    [slo] = [c for c in as_json["checks"] if c["check"] == "slo"]
    assert slo["status"] == "fail"


def test_rules_are_a_prometheus_rule_file(meshctl) -> None:
    meshctl("slo", "set", "analytics", "--objective", "99.9", "--latency", "p99<250ms")
    rules = yaml.safe_load(meshctl("slo", "rules").stdout)
    [group] = rules["groups"]
    assert group["name"] == "meshctl-slo-analytics"
    names = [r.get("record") or r.get("alert") for r in group["rules"]]
    assert "meshctl:slo_latency_errors:ratio_rate5m" in names
    assert "MeshSloAvailabilityFastBurn" in names and "MeshSloLatencySlowBurn" in names
    assert "&id" not in meshctl("slo", "rules").stdout  # no YAML anchors: plain for any loader
