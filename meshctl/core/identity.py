"""Service identities and when their certificates are renewed: pure, no I/O.

An identity is a SPIFFE ID, ``spiffe://<trust-domain>/<kind>/<name>``:

    kind      ``service`` for a mesh service (``spiffe://mesh.local/service/analytics``),
              ``client`` for a caller that serves nothing (``spiffe://mesh.local/client/meshctl``)
    trust     lower-case letters, digits, ``.``, ``-`` and ``_``, at most 255 characters
    name      letters, digits, ``.``, ``-`` and ``_``; not ``.`` or ``..``

A certificate valid from ``not_before`` to ``not_after`` is renewed once
``ROTATE_AT`` (two thirds) of its lifetime has passed, so a renewal that
fails has a third of the lifetime to be retried before anything breaks.
Times are seconds since the epoch and ``now`` is always given by the caller.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from meshctl.errors import InvalidRequestError

SCHEME = "spiffe://"
DEFAULT_TRUST_DOMAIN = "mesh.local"
KINDS = ("service", "client")
ROTATE_AT = 2 / 3
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]{1,255}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


class IdentityError(InvalidRequestError):
    """A SPIFFE ID, trust domain or name that does not follow the rules above."""


@dataclass(frozen=True, slots=True)
class SpiffeId:
    """``spiffe://<trust_domain>/<kind>/<name>``; construction validates every part."""

    trust_domain: str
    kind: str
    name: str

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        if self.kind not in KINDS:
            raise IdentityError(f"identity kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not _NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise IdentityError(
                f"invalid name {self.name!r} in an identity: use letters, digits, '.', '-', '_'"
            )

    def __str__(self) -> str:
        return f"{SCHEME}{self.trust_domain}/{self.kind}/{self.name}"

    @classmethod
    def parse(cls, uri: str) -> SpiffeId:
        """The identity ``uri`` names; IdentityError says what is wrong with it."""
        if not uri.startswith(SCHEME):
            raise IdentityError(f"{uri!r} is not a SPIFFE ID (spiffe://<trust-domain>/...)")
        parts = uri[len(SCHEME) :].split("/")
        if len(parts) != 3:
            raise IdentityError(
                f"{uri!r} is not a mesh identity (spiffe://<trust-domain>/service|client/<name>)"
            )
        return cls(*parts)


def validate_trust_domain(trust_domain: str) -> str:
    """``trust_domain`` when it is valid, else IdentityError."""
    if not _TRUST_DOMAIN.fullmatch(trust_domain):
        raise IdentityError(
            f"invalid trust domain {trust_domain!r}: use lower-case letters, digits, '.', '-', '_'"
        )
    return trust_domain


def service_id(name: str, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> SpiffeId:
    """The identity of service ``name``."""
    return SpiffeId(trust_domain, "service", name)


def client_id(name: str, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> SpiffeId:
    """The identity of a client ``name`` that serves nothing (``meshctl`` itself)."""
    return SpiffeId(trust_domain, "client", name)


class Renewal(enum.Enum):
    """What a certificate needs at a given time."""

    NOT_YET_VALID = "not yet valid"
    VALID = "valid"
    RENEW = "renew"
    EXPIRED = "expired"


def renew_at(not_before: float, not_after: float, at: float = ROTATE_AT) -> float:
    """When a certificate valid from ``not_before`` to ``not_after`` is due for renewal."""
    if not 0 < at <= 1:
        raise ValueError(f"renewal point must be in (0, 1], not {at!r}")
    if not_after <= not_before:
        raise ValueError("a certificate's validity must end after it starts")
    return not_before + (not_after - not_before) * at


def renewal(not_before: float, not_after: float, now: float, at: float = ROTATE_AT) -> Renewal:
    """What the certificate needs at ``now``: nothing, renewal, or it is unusable."""
    due = renew_at(not_before, not_after, at)
    if now < not_before:
        return Renewal.NOT_YET_VALID
    if now >= not_after:
        return Renewal.EXPIRED
    return Renewal.RENEW if now >= due else Renewal.VALID
