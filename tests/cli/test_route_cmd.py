"""``meshctl route`` on the real Redis: writes, refusals, history and rollback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.redis

CANARY = """\
service: analytics
subsets:
  stable: {version: 0.1.0}
  canary: {version: 0.2.0}
rules:
  - match: {headers: {x-canary: "1"}}
    route: canary
  - route: [{subset: stable, weight: 90}, {subset: canary, weight: 10}]
    timeout: 2s
"""


def test_split_list_show_history_and_rollback(meshctl) -> None:
    split = meshctl("route", "split", "analytics", "v0.1.0=95", "v0.2.0=5")
    assert split.exit_code == 0, split.output
    assert split.stdout.splitlines() == [
        "route table of analytics set: revision 1",
        "  any call -> v0.1.0 95%, v0.2.0 5%",
    ]
    green = meshctl("route", "split", "analytics", "v0.2.0=100", "v0.1.0=0")  # blue-green
    assert green.stdout.splitlines()[1] == "  any call -> v0.2.0 100%"
    listed = meshctl("route", "list")
    assert listed.stdout.splitlines() == [
        "SERVICE    REVISION  RULES",
        "analytics  2         any call -> v0.2.0 100%",
    ]
    shown = yaml.safe_load(meshctl("route", "show", "analytics").stdout)
    assert shown["subsets"] == {"v0.2.0": {"version": "0.2.0"}}
    back = meshctl("route", "rollback", "analytics")
    assert back.stdout.splitlines() == [
        "route table of analytics rolled back: revision 3",
        "  any call -> v0.1.0 95%, v0.2.0 5%",
    ]
    revisions = json.loads(meshctl("route", "history", "analytics", "-o", "json").stdout)
    assert [(r["revision"], r["action"]) for r in revisions["revisions"]] == [
        (3, "rollback to 1"), (2, "set"), (1, "set"),
    ]  # fmt: skip
    assert meshctl("route", "delete", "analytics").stdout == (
        "route table of analytics deleted: revision 4\n"
    )
    assert meshctl("route", "list").stdout == "no route table: every call may go to any instance\n"


def test_a_table_from_a_file(meshctl, tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(CANARY)
    written = meshctl("route", "set", "-f", str(path))
    assert written.exit_code == 0, written.output
    assert written.stdout.splitlines()[1:] == [
        "  x-canary=1 -> canary 100%",
        "  any call -> stable 90%, canary 10% timeout 2s",
    ]
    as_json = json.loads(meshctl("route", "list", "-o", "json").stdout)
    assert as_json["routes"][0]["table"]["rules"][1]["timeout"] == "2s"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "analytics", "v1=90"], "weights add up to 90, not 100"),
        (["split", "analytics", "v1"], "invalid split 'v1': expected VERSION=PERCENT"),
        (["split", "analytics", "v1=ten"], "invalid split 'v1=ten'"),
        (["split", "analytics", "v1=50", "v1=50"], "version v1 is named twice"),
        (["show", "analytics"], "analytics has no route table"),
        (["rollback", "analytics"], "analytics has no route history"),
        (["set", "-f", "/no/such/file"], "cannot read /no/such/file"),
    ],
)
def test_mistakes_are_refused_and_nothing_is_written(
    meshctl, args: list[str], message: str
) -> None:
    refused = meshctl("route", *args)
    assert refused.exit_code == 2, refused.output
    assert message in refused.output and "Traceback" not in refused.output
    assert json.loads(meshctl("route", "list", "-o", "json").stdout) == {"routes": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service: analytics\nrules: [{route: nope}]\n", "subset 'nope' is not defined"),
        ("{{{", "is not YAML or JSON (line 1)"),
        ("- just\n- a list\n", "the route table must be a mapping"),
    ],
)
def test_a_malformed_file_is_refused(meshctl, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    refused = meshctl("route", "set", "-f", str(path))
    assert refused.exit_code == 2 and message in refused.output


# -- route shift -------------------------------------------------------------------------


async def invoke(meshctl, *args: str):
    return await asyncio.to_thread(meshctl, *args)


SHIFT = ["route", "shift", "analytics", "--to", "v0.2.0", "--slo", "errors<1%"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--step", "0%"], "invalid step '0%'"),
        (["--step", "x"], "invalid step 'x'"),
        (["--every", "500ms"], "too short to judge a step: at least 1s"),
        (["--every", "soon"], "invalid duration 'soon'"),
        (["--slo", "mean<5ms"], "a canary is judged on errors, rps and pNN<T"),
        (["--slo", "p99<90ms"], "servers count latency at 1ms, 2.5ms"),
        (["--slo", "p99"], "invalid SLO 'p99'"),
        ([], "no instance of analytics is registered"),
    ],
)
def test_shift_mistakes_are_refused_before_anything_is_written(
    meshctl, extra: list[str], message: str
) -> None:
    refused = meshctl(*SHIFT, *extra)
    assert refused.exit_code == 2, refused.output
    assert message in refused.output and "Traceback" not in refused.output
    assert json.loads(meshctl("route", "list", "-o", "json").stdout) == {"routes": []}


async def test_shift_refuses_versions_it_cannot_find(platform, meshctl) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    missing = await invoke(meshctl, *SHIFT[:4], "v0.3.0", *SHIFT[5:])
    assert missing.exit_code == 2
    assert "no instance of analytics runs version 0.3.0 (registered versions: 0.1.0, 0.2.0)" in (
        missing.output
    )
    await platform.start("analytics", instance_version="0.0.9")
    unclear = await invoke(meshctl, *SHIFT)
    assert unclear.exit_code == 2
    assert "cannot tell which version analytics shifts from (other versions: 0.0.9, 0.1.0)" in (
        unclear.output
    )
    same = await invoke(meshctl, *SHIFT, "--from", "0.2.0")
    assert same.exit_code == 2 and "--from and --to name the same version" in same.output


async def test_shift_will_not_overwrite_a_table_with_match_rules(
    platform, meshctl, tmp_path: Path
) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    path = tmp_path / "canary.yaml"
    path.write_text(CANARY)
    assert (await invoke(meshctl, "route", "set", "-f", str(path))).exit_code == 0
    refused = await invoke(meshctl, *SHIFT)
    assert refused.exit_code == 2
    assert "matches on method, headers or caller" in refused.output


async def test_a_shift_without_traffic_rolls_back_and_exits_1(platform, meshctl) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    result = await invoke(meshctl, *SHIFT, "--step", "100%", "--every", "1s", "--patience", "0")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "step 1/1: 100% of analytics calls to v0.2.0 (revision 1)"
    assert lines[1] == "  v0.2.0 served 0 requests in 1s: errors<1% (0.00%) ok"
    assert lines[2] == (
        "rolled back: every call of analytics goes to v0.1.0 (revision 2): "
        "v0.2.0 served 0 requests in 1s, too few to judge"
    )
    shown = yaml.safe_load((await invoke(meshctl, "route", "show", "analytics")).stdout)
    assert shown["rules"] == [{"route": [{"subset": "v0.1.0", "weight": 100}]}]


async def test_a_blue_green_shift_under_traffic_promotes(platform, mesh, meshctl) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")

    async def calls() -> None:
        while True:
            await mesh.call_service("analytics", "GetTrafficMetrics", {})
            await asyncio.sleep(0.005)

    caller = asyncio.create_task(calls())
    try:
        result = await invoke(
            meshctl, *SHIFT, "--from", "0.1.0", "--step", "100%", "--every", "2s", "-o", "json"
        )
    finally:
        caller.cancel()
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert (outcome["promoted"], outcome["from"], outcome["to"]) == (True, "v0.1.0", "v0.2.0")
    judged = [s for s in outcome["steps"] if s["action"] == "advance"]
    assert judged and judged[-1]["share"] == 100 and judged[-1]["requests"] >= 10
    assert "step 1/1: 100% of analytics calls to v0.2.0" in result.stderr
