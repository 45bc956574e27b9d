"""``meshctl certs``: the mesh CA and the certificates it issues.

``init`` makes the CA that ``meshctl up`` uses (``<state>/tls``, key 0600);
``issue NAME`` writes ``NAME.pem`` and ``NAME-key.pem`` for a service (or,
with ``--client``, a caller); ``rotate FILE`` issues the same identity
afresh into the same files (servers and clients reading them pick the new
pair up); ``inspect FILE`` shows a certificate and exits 1 once it expired.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import OutputFormat, OutputOption, emit
from meshctl.cli.runner import EXIT_FAILED, state

if TYPE_CHECKING:
    from meshctl.transport.certs import CertInfo, MeshCA

app = typer.Typer(help="The mesh CA and its certificates (mTLS).", no_args_is_help=True)

CaDirOption = Annotated[
    Path | None,
    typer.Option("--ca-dir", help="Directory of the CA. Default: the one `meshctl up` uses."),
]
HoursOption = Annotated[
    float | None,
    typer.Option("--hours", min=0.01, help="Lifetime. Default: tls_cert_hours (24)."),
]


def _ca_dir(given: Path | None) -> Path:
    from meshctl.config import up_state_path
    from meshctl.embedded.tls import ca_dir

    return given or ca_dir(up_state_path().parent)


def _ca(ctx: typer.Context, given: Path | None) -> MeshCA:
    from meshctl.core.identity import validate_trust_domain
    from meshctl.transport.certs import load_or_create_ca

    domain = validate_trust_domain(state(ctx).resolve().settings.tls_trust_domain)
    return load_or_create_ca(_ca_dir(given), domain)


def _hours(ctx: typer.Context, hours: float | None) -> float:
    return hours if hours is not None else state(ctx).resolve().settings.tls_cert_hours


@app.command()
def init(ctx: typer.Context, ca_dir: CaDirOption = None) -> None:
    """Create the mesh CA (kept when there is one already) and print where it is."""
    from meshctl.transport.certs import CA_FILE

    ca = _ca(ctx, ca_dir)
    typer.echo(f"mesh CA {ca.certificate.subject.rfc4514_string()}: {_ca_dir(ca_dir) / CA_FILE}")


def _write(ca: MeshCA, identity: Any, cert: Path, key: Path, hours: float) -> None:
    from meshctl.transport.certs import issue, write_pair

    write_pair(cert, key, issue(ca, identity, hours=hours))
    typer.echo(f"{identity}: {cert} (key {key}), valid {hours:g} h")


@app.command("issue")
def issue_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The service (or, with --client, caller) name.")],
    client: Annotated[bool, typer.Option("--client", help="A client identity.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory to write into.")] = Path("."),
    hours: HoursOption = None,
    ca_dir: CaDirOption = None,
) -> None:
    """Write NAME.pem and NAME-key.pem (0600) for spiffe://<trust-domain>/service/NAME."""
    from meshctl.core.identity import SpiffeId

    ca = _ca(ctx, ca_dir)
    kind = "client" if client else "service"
    identity = SpiffeId(state(ctx).resolve().settings.tls_trust_domain, kind, name)
    _write(ca, identity, out / f"{name}.pem", out / f"{name}-key.pem", _hours(ctx, hours))


@app.command()
def rotate(
    ctx: typer.Context,
    cert: Annotated[Path, typer.Argument(help="A certificate the CA issued (NAME.pem).")],
    key: Annotated[
        Path | None, typer.Option("--key", help="Its key. Default: NAME-key.pem beside it.")
    ] = None,
    hours: HoursOption = None,
    ca_dir: CaDirOption = None,
) -> None:
    """Issue the certificate's identity afresh, with a new key, into the same files."""
    from meshctl.core.identity import SpiffeId
    from meshctl.errors import InvalidRequestError
    from meshctl.transport.certs import describe, read_certificate

    info = describe(read_certificate(cert))
    if info.spiffe_id is None:
        raise InvalidRequestError(
            f"{cert} carries no SPIFFE ID: issue it with `meshctl certs issue`"
        )
    identity = SpiffeId.parse(info.spiffe_id)
    key = key or cert.with_name(f"{cert.stem}-key.pem")
    _write(_ca(ctx, ca_dir), identity, cert, key, _hours(ctx, hours))


def inspect_row(info: CertInfo, now: float) -> dict[str, Any]:
    """What ``inspect`` shows of a certificate at ``now``."""

    def iso(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    return {
        "subject": info.subject,
        "spiffe_id": info.spiffe_id,
        "issuer": info.issuer,
        "not_before": iso(info.not_before),
        "not_after": iso(info.not_after),
        "days_left": round((info.not_after - now) / 86400, 2),
        "fingerprint": info.fingerprint,
    }


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A certificate (PEM).")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Subject, SPIFFE ID, issuer, validity, SHA-256 fingerprint, days left; exit 1 if expired."""
    from meshctl.transport.certs import describe, read_certificate

    row = inspect_row(describe(read_certificate(file)), time.time())
    emit(row, output)
    if row["days_left"] <= 0:
        raise typer.Exit(EXIT_FAILED)
