"""The certificates of a mesh that ``meshctl up`` or ``demo`` runs: issued, handed out, renewed.

The mesh CA lives in ``<state>/tls`` (made on first use, kept from one mesh
to the next, the key 0600); each process's certificate and key go to
``<run>/tls/<name>.pem`` and ``<name>-key.pem``. A child learns its paths from
``MESH_TLS_CA``/``MESH_TLS_CERT``/``MESH_TLS_KEY`` in its environment: never a
key on a command line. ``meshctl`` itself gets ``client/meshctl``, named in
the up context so every command in other terminals uses it. ``renew_due``
re-issues each certificate at two thirds of its life; servers and clients
pick the new files up themselves (``meshctl.transport.tls``).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meshctl.core.identity import Renewal, SpiffeId, client_id, renewal, service_id
from meshctl.embedded.plan import ProcessSpec
from meshctl.transport.certs import CA_FILE, MeshCA, issue, load_or_create_ca, write_pair

CLIENT_NAME = "meshctl"
TLS_KEYS = ("tls_ca", "tls_cert", "tls_key")


def ca_dir(state_dir: Path) -> Path:
    """Where the mesh CA of the meshes run from ``state_dir`` is kept."""
    return state_dir / "tls"


@dataclass(slots=True)
class _Held:
    identity: SpiffeId
    cert: Path
    key: Path
    not_before: float = 0.0
    not_after: float = 0.0


class MeshCertificates:
    """The mesh CA and the certificates issued for one mesh's processes.

    Args:
        state_dir: holds the CA (``<state>/tls``).
        run_dir: holds this mesh's certificates (``<run>/tls``).
        trust_domain: of the SPIFFE ids issued.
        hours: lifetime of each certificate.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        state_dir: Path,
        run_dir: Path,
        *,
        trust_domain: str,
        hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ca_path = ca_dir(state_dir) / CA_FILE
        self.ca: MeshCA = load_or_create_ca(ca_dir(state_dir), trust_domain)
        self.directory = run_dir / "tls"
        self.trust_domain = trust_domain
        self.hours = hours
        self._clock = clock
        self._held: dict[str, _Held] = {}

    def _issue(self, held: _Held) -> None:
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        issued = issue(self.ca, held.identity, hours=self.hours, now=now)
        write_pair(held.cert, held.key, issued)
        held.not_before = now.timestamp()
        held.not_after = now.timestamp() + self.hours * 3600

    def _files(self, name: str, identity: SpiffeId) -> dict[str, str]:
        held = self._held.get(name)
        if held is None:
            held = self._held[name] = _Held(
                identity, self.directory / f"{name}.pem", self.directory / f"{name}-key.pem"
            )
            self._issue(held)
        return {"tls_ca": str(self.ca_path), "tls_cert": str(held.cert), "tls_key": str(held.key)}

    def child_env(self, name: str, service: str) -> dict[str, str]:
        """The ``MESH_TLS_*`` variables of child ``name``, an instance of ``service``."""
        files = self._files(name, service_id(service, self.trust_domain))
        return {f"MESH_{key.upper()}": value for key, value in files.items()}

    def client_settings(self) -> dict[str, str]:
        """``tls_ca``/``tls_cert``/``tls_key`` for meshctl's own commands (the up context)."""
        return self._files(CLIENT_NAME, client_id(CLIENT_NAME, self.trust_domain))

    def renew_due(self) -> list[str]:
        """Re-issue every certificate past two thirds of its life; returns their names."""
        now = self._clock()
        due = [
            name
            for name, held in self._held.items()
            if renewal(held.not_before, held.not_after, now) in (Renewal.RENEW, Renewal.EXPIRED)
        ]
        for name in due:
            self._issue(self._held[name])
        return due


def mesh_tls(
    specs: list[ProcessSpec],
    *,
    enabled: bool,
    state_dir: Path,
    run_dir: Path,
    trust_domain: str,
    hours: float,
) -> tuple[MeshCertificates | None, list[ProcessSpec], dict[str, str]]:
    """The mesh's certificates, the children with their ``MESH_TLS_*``, and meshctl's own files.

    Files given by ``MESH_TLS_CA``/``_CERT``/``_KEY`` (cert-manager, SPIRE) are the
    children's, as they inherit the environment, and meshctl's: no CA is made then.
    """
    if not enabled:
        return None, specs, {}
    supplied = {key: os.environ.get(f"MESH_{key.upper()}", "") for key in TLS_KEYS}
    if supplied["tls_ca"]:
        return None, specs, {key: value for key, value in supplied.items() if value}
    certs = MeshCertificates(state_dir, run_dir, trust_domain=trust_domain, hours=hours)
    specs = [
        dataclasses.replace(spec, env={**spec.env, **certs.child_env(spec.name, spec.service)})
        for spec in specs
    ]
    return certs, specs, certs.client_settings()
