"""``meshctl certs``: init, issue, rotate and inspect, with their exit codes."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.core.identity import service_id
from meshctl.transport.certs import issue, load_or_create_ca, write_pair


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for var in ("MESH_TLS_TRUST_DOMAIN", "MESH_TLS_CERT_HOURS"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def test_init_issue_inspect_rotate(cli: CliRunner, tmp_path: Path):
    done = cli.invoke(app, ["certs", "init"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "state" / "meshctl" / "tls" / "ca.pem").exists()

    done = cli.invoke(app, ["certs", "issue", "alert", "--out", str(tmp_path), "--hours", "2"])
    assert done.exit_code == 0, done.output
    cert = tmp_path / "alert.pem"
    assert (tmp_path / "alert-key.pem").stat().st_mode & 0o777 == 0o600

    shown = cli.invoke(app, ["certs", "inspect", str(cert), "-o", "json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["spiffe_id"] == "spiffe://mesh.local/service/alert"
    assert info["issuer"] == "CN=meshctl mesh CA mesh.local"
    assert 0.08 <= info["days_left"] <= 0.09
    assert len(info["fingerprint"].split(":")) == 32

    rotated = cli.invoke(app, ["certs", "rotate", str(cert)])
    assert rotated.exit_code == 0, rotated.output
    again = json.loads(cli.invoke(app, ["certs", "inspect", str(cert), "-o", "json"]).stdout)
    assert again["spiffe_id"] == info["spiffe_id"]
    assert again["fingerprint"] != info["fingerprint"]
    assert again["days_left"] == pytest.approx(1.0, abs=0.01)  # the default 24 h


def test_client_identity_and_trust_domain_from_settings(
    cli: CliRunner, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("MESH_TLS_TRUST_DOMAIN", "its.example")
    done = cli.invoke(app, ["certs", "issue", "ops", "--client", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "spiffe://its.example/client/ops" in done.output


def test_inspect_exits_1_on_an_expired_certificate(cli: CliRunner, tmp_path: Path):
    ca = load_or_create_ca(tmp_path / "ca", "mesh.local")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    write_pair(
        tmp_path / "old.pem",
        tmp_path / "old-key.pem",
        issue(ca, service_id("auth"), hours=1, now=past),
    )
    shown = cli.invoke(app, ["certs", "inspect", str(tmp_path / "old.pem"), "-o", "json"])
    assert shown.exit_code == 1
    assert json.loads(shown.stdout)["days_left"] < 0


@pytest.mark.parametrize(
    "args",
    [
        ["certs", "inspect", "/no/such.pem"],
        ["certs", "issue", "bad name"],
        ["certs", "rotate", "/no/such.pem"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: CliRunner, tmp_path: Path, args: list[str]):
    done = cli.invoke(app, [*args, *(["--out", str(tmp_path)] if args[1] == "issue" else [])])
    assert done.exit_code == 2
    assert done.stderr.count("error:") == 1
    assert "Traceback" not in done.output
