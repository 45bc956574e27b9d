"""The embedded mesh's certificates: where they go, who they name, when they are renewed."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from meshctl.embedded.plan import ProcessSpec
from meshctl.embedded.tls import MeshCertificates, mesh_tls
from meshctl.transport.certs import describe, read_certificate
from meshctl.transport.tls import TlsFiles

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _certs(tmp_path: Path, clock: Clock) -> MeshCertificates:
    return MeshCertificates(
        tmp_path / "state", tmp_path / "run", trust_domain="its.test", hours=24, clock=clock
    )


def test_children_get_paths_by_environment_and_their_service_identity(tmp_path: Path):
    certs = _certs(tmp_path, Clock())
    env = certs.child_env("analytics-2", "analytics")
    assert set(env) == {"MESH_TLS_CA", "MESH_TLS_CERT", "MESH_TLS_KEY"}
    info = describe(read_certificate(Path(env["MESH_TLS_CERT"])))
    assert info.spiffe_id == "spiffe://its.test/service/analytics"
    assert info.not_after - info.not_before == pytest.approx(24 * HOUR + 300)
    TlsFiles(env["MESH_TLS_CA"], env["MESH_TLS_CERT"], env["MESH_TLS_KEY"])  # a matching pair
    client = describe(read_certificate(Path(certs.client_settings()["tls_cert"])))
    assert client.spiffe_id == "spiffe://its.test/client/meshctl"


def test_keys_and_directories_are_private(tmp_path: Path):
    certs = _certs(tmp_path, Clock())
    env = certs.child_env("auth-1", "auth")
    for key in (Path(env["MESH_TLS_KEY"]), tmp_path / "state" / "tls" / "ca-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for directory in (tmp_path / "state" / "tls", tmp_path / "run" / "tls"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_ca_is_kept_from_one_mesh_to_the_next(tmp_path: Path):
    first = _certs(tmp_path, Clock()).ca.pem
    assert _certs(tmp_path, Clock()).ca.pem == first


def test_renewal_at_two_thirds_of_the_lifetime(tmp_path: Path):
    clock = Clock()
    certs = _certs(tmp_path, clock)
    path = Path(certs.child_env("alert-1", "alert")["MESH_TLS_CERT"])
    certs.client_settings()
    before = path.read_bytes()
    clock.now += 16 * HOUR - 1
    assert certs.renew_due() == []
    clock.now += 1
    assert sorted(certs.renew_due()) == ["alert-1", "meshctl"]
    assert path.read_bytes() != before
    assert certs.renew_due() == []  # the new ones are good for another 16 h


def test_off_switch_and_supplied_files(tmp_path: Path, monkeypatch):
    specs = [ProcessSpec("auth-1", "auth", ("python",))]
    kwargs: dict[str, Any] = {
        "state_dir": tmp_path,
        "run_dir": tmp_path,
        "trust_domain": "t",
        "hours": 1.0,
    }
    assert mesh_tls(specs, enabled=False, **kwargs) == (None, specs, {})
    monkeypatch.setenv("MESH_TLS_CA", "/etc/mesh/ca.pem")
    monkeypatch.setenv("MESH_TLS_CERT", "/etc/mesh/tls.crt")
    monkeypatch.setenv("MESH_TLS_KEY", "/etc/mesh/tls.key")
    certs, same, files = mesh_tls(specs, enabled=True, **kwargs)
    assert certs is None and same == specs
    assert files == {
        "tls_ca": "/etc/mesh/ca.pem",
        "tls_cert": "/etc/mesh/tls.crt",
        "tls_key": "/etc/mesh/tls.key",
    }
    assert not (tmp_path / "tls").exists()  # no CA made


def test_enabled_without_files_issues_one_per_child(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MESH_TLS_CA", raising=False)
    specs = [ProcessSpec("auth-1", "auth", ("python",)), ProcessSpec("auth-2", "auth", ("py",))]
    certs, planned, files = mesh_tls(
        specs, enabled=True, state_dir=tmp_path, run_dir=tmp_path, trust_domain="t", hours=1.0
    )
    assert certs is not None
    assert planned[0].env["MESH_TLS_CERT"] != planned[1].env["MESH_TLS_CERT"]
    assert files["tls_cert"].endswith("meshctl.pem")
    assert all("KEY" not in arg for spec in planned for arg in spec.argv)
