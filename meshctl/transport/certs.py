"""The mesh CA and the certificates it issues (the ``cryptography`` package).

A CA is created on first use in a directory of the user's alone (0700):
``ca.pem`` and ``ca-key.pem`` (0600). It issues short-lived ECDSA P-256
certificates whose URI SAN is the holder's SPIFFE ID, with DNS and IP SANs
for ``localhost``, ``127.0.0.1``, ``::1`` and this host, so a client checking
the host name it dialled accepts them. Files are replaced atomically
(written aside, then renamed), the key before the certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshctl.core.identity import SpiffeId
from meshctl.errors import InvalidRequestError

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_YEARS = 5
_USAGES = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
_BACKDATE = datetime.timedelta(minutes=5)  # clocks of the machines differ a little


class CertificateError(InvalidRequestError):
    """A certificate or key file that cannot be read or used."""


@dataclass(frozen=True, slots=True)
class MeshCA:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its key, PEM encoded."""

    cert_pem: bytes
    key_pem: bytes


def load_or_create_ca(directory: Path, trust_domain: str) -> MeshCA:
    """The CA in ``directory``, created there (0700 directory, 0600 key) when there is none."""
    cert_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if cert_path.exists() and key_path.exists():
        return load_ca(cert_path, key_path)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"meshctl mesh CA {trust_domain}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    ca = MeshCA(certificate, key)
    write_pair(cert_path, key_path, Issued(ca.pem, _key_pem(key)))
    return ca


def load_ca(cert_path: Path, key_path: Path) -> MeshCA:
    """A CA from its certificate and key files (the mesh's own, or one an operator supplies)."""
    certificate = read_certificate(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(f"cannot read the CA key {key_path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"the CA key {key_path} is not an EC key")
    return MeshCA(certificate, key)


def local_hosts() -> tuple[list[str], list[str]]:
    """DNS names and IP addresses a certificate for this machine covers."""
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    return sorted(n for n in names if n), ["127.0.0.1", "::1"]


def issue(
    ca: MeshCA,
    identity: SpiffeId,
    *,
    hours: float,
    now: datetime.datetime | None = None,
) -> Issued:
    """A fresh key and a certificate for ``identity`` valid ``hours`` from ``now``."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    dns, ips = local_hosts()
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(str(identity))]
    sans += [x509.DNSName(name) for name in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.name)])
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(_USAGES),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pair(cert_path: Path, key_path: Path, issued: Issued) -> None:
    """Replace the key (0600) and then the certificate, each atomically; dirs made 0700."""
    for path in {cert_path.parent, key_path.parent}:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _replace(key_path, issued.key_pem)
    _replace(cert_path, issued.cert_pem)


def _replace(path: Path, data: bytes) -> None:
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(aside, path)


def read_certificate(path: Path) -> x509.Certificate:
    """The first certificate in a PEM file."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"cannot read the certificate {path}: {exc}") from None


def key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """Whether the key belongs to the (first) certificate: a half-replaced pair does not."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    return bool(
        certificate.public_key().public_bytes(encoding, public)
        == key.public_key().public_bytes(encoding, public)
    )


def spiffe_ids(certificate: x509.Certificate) -> list[str]:
    """The certificate's ``spiffe://`` URI SANs."""
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    uris = sans.value.get_values_for_type(x509.UniformResourceIdentifier)
    return [uri for uri in uris if uri.startswith("spiffe://")]


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What ``meshctl certs inspect`` shows of a certificate."""

    subject: str
    spiffe_id: str | None
    issuer: str
    not_before: float
    not_after: float
    fingerprint: str
    """SHA-256 of the DER encoding, hex pairs joined by ':'."""


def describe(certificate: x509.Certificate) -> CertInfo:
    ids = spiffe_ids(certificate)
    return CertInfo(
        subject=certificate.subject.rfc4514_string(),
        spiffe_id=ids[0] if ids else None,
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc.timestamp(),
        not_after=certificate.not_valid_after_utc.timestamp(),
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
    )
