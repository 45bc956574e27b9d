"""Token issuing and checking, and the auth configuration, without I/O."""

from __future__ import annotations

import jwt
import pytest

from meshctl.services.auth.config import AuthConfig, AuthConfigError, resolve_secret
from meshctl.services.auth.tokens import TokenError, TokenIssuer
from meshctl.testing import FakeClock
from meshctl.testing.clock import T0

SECRET = "s3cret-for-tests-only-0123456789abcdef"


def make_issuer(clock: FakeClock, secret: str = SECRET) -> TokenIssuer:
    return TokenIssuer(secret, clock=clock, access_ttl=60, refresh_ttl=3600, issuer="test")


def test_access_token_round_trips_subject_roles_and_expiry() -> None:
    clock = FakeClock()
    issuer = make_issuer(clock)
    claims = issuer.check(issuer.issue("access", "alice", ["admin", "ops"]), "access")
    assert claims.subject == "alice"
    assert claims.roles == ("admin", "ops")
    assert claims.expires_at == int(clock.now) + 60


def test_access_token_expires_on_the_injected_clock() -> None:
    clock = FakeClock()
    issuer = make_issuer(clock)
    token = issuer.issue("access", "alice", [])
    clock.advance(60)  # within the leeway: still accepted
    issuer.check(token, "access")
    clock.advance(10)
    with pytest.raises(TokenError, match="expired"):
        issuer.check(token, "access")


def test_refresh_outlives_access() -> None:
    clock = FakeClock()
    pair = make_issuer(clock).issue_pair("bob", ["viewer"])
    clock.advance(600)
    assert make_issuer(clock).check(pair.refresh_token, "refresh").subject == "bob"
    with pytest.raises(TokenError):
        make_issuer(clock).check(pair.access_token, "access")


@pytest.mark.parametrize(("issued", "expected"), [("access", "refresh"), ("refresh", "access")])
def test_token_of_the_wrong_type_is_refused(issued: str, expected: str) -> None:
    issuer = make_issuer(FakeClock())
    token = issuer.issue(issued, "alice", [])  # type: ignore[arg-type]
    with pytest.raises(TokenError, match=f"expected a {expected} token"):
        issuer.check(token, expected)  # type: ignore[arg-type]


def test_token_signed_with_another_secret_is_refused() -> None:
    clock = FakeClock()
    token = make_issuer(clock, "another-secret-another-secret-0123").issue("access", "eve", [])
    with pytest.raises(TokenError, match="invalid token"):
        make_issuer(clock).check(token, "access")


def test_tampered_and_garbage_tokens_are_refused() -> None:
    issuer = make_issuer(FakeClock())
    token = issuer.issue("access", "alice", [])
    head, body, sig = token.split(".")
    with pytest.raises(TokenError):
        issuer.check(f"{head}.{body}x.{sig}", "access")
    with pytest.raises(TokenError):
        issuer.check("not-a-jwt", "access")


def test_token_issued_in_the_future_is_refused() -> None:
    clock = FakeClock()
    token = make_issuer(FakeClock(clock.now + 3600)).issue("access", "alice", [])
    with pytest.raises(TokenError, match="future"):
        make_issuer(clock).check(token, "access")


def test_token_without_a_type_or_with_bad_roles_is_refused() -> None:
    clock = FakeClock()
    base = {
        "iss": "test", "sub": "a", "iat": int(clock.now), "exp": int(clock.now) + 60, "jti": "j"
    }  # fmt: skip
    untyped = jwt.encode(base, SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        make_issuer(clock).check(untyped, "access")
    bad_roles = jwt.encode({**base, "type": "access", "roles": "admin"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="roles"):
        make_issuer(clock).check(bad_roles, "access")


def signed(clock: FakeClock, **claims: object) -> str:
    """An access token of the test issuer with ``claims`` changed."""
    now = int(clock.now)
    base = {"iss": "test", "sub": "a", "type": "access", "iat": now, "exp": now + 60, "jti": "j"}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 1e308}, "lives longer"),
        ({"exp": T0 + 61 + 3600}, "lives longer"),  # a refresh token's lifetime, as access
        ({"exp": float("nan")}, "finite"),
        ({"iat": True}, "finite"),
        ({"nbf": T0 + 60}, "not valid yet"),
        ({"nbf": "soon"}, "finite"),
        ({"jti": ""}, "jti"),
    ],
)
def test_token_times_and_ids_out_of_bounds_are_refused(
    claims: dict[str, object], reason: str
) -> None:
    clock = FakeClock(T0)
    with pytest.raises(TokenError, match=reason):
        make_issuer(clock).check(signed(clock, **claims), "access")


def test_token_within_the_leeway_of_nbf_and_lifetime_is_accepted() -> None:
    clock = FakeClock(T0)
    token = signed(clock, nbf=T0 + 4, exp=T0 + 64)
    assert make_issuer(clock).check(token, "access").expires_at == T0 + 64


def test_every_token_has_an_id_and_a_session() -> None:
    clock = FakeClock()
    issuer = make_issuer(clock)
    pair = issuer.issue_pair("alice", [])
    access, refresh = (
        issuer.check(pair.access_token, "access"),
        issuer.check(pair.refresh_token, "refresh"),
    )
    assert access.token_id != refresh.token_id
    assert access.family == refresh.family
    assert issuer.check(issuer.issue("access", "alice", []), "access").family != access.family


def test_short_secret_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="at least 32"):
        AuthConfig(database_url="sqlite://", jwt_secret="x" * 31, admin_password="x")
    AuthConfig(database_url="sqlite://", jwt_secret="x" * 32, admin_password="x")


def test_empty_secret_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="JWT secret is empty or a placeholder"):
        AuthConfig(database_url="sqlite://", jwt_secret="", admin_password="x")


def test_admin_without_password_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="has no password"):
        AuthConfig(database_url="sqlite://", jwt_secret=SECRET)


def test_dev_mode_generates_a_secret_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_secret("given", dev_mode=True) == "given"
    assert resolve_secret("", dev_mode=False) == ""
    generated = resolve_secret("", dev_mode=True)
    assert len(generated) >= 32
    assert generated != resolve_secret("", dev_mode=True)
    assert "generated a random JWT secret" in caplog.text
