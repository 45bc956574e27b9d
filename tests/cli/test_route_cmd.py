"""``meshctl route`` on the real Redis: writes, refusals, history and rollback."""

from __future__ import annotations

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
