"""The auth service over real HTTP (uvicorn on loopback) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from argon2 import PasswordHasher

from meshctl.services.auth import AuthConfig, AuthConfigError, AuthService, build
from meshctl.services.auth.revocation import RedisRevocations, Revocations
from meshctl.services.base import HttpServiceApp, ServiceSettings
from meshctl.services.db import create_engine
from meshctl.testing import AsgiServer, FakeClock, served

SECRET = "s3cret-for-tests-only-0123456789abcdef"
ADMIN, ADMIN_PW = "root", "correct horse battery staple"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def make_service(
    url: str,
    clock: FakeClock,
    password: str = ADMIN_PW,
    revocations: Revocations | None = None,
) -> AuthService:
    config = AuthConfig(
        database_url=url,
        jwt_secret=SECRET,
        admin_user=ADMIN,
        admin_password=password,
        access_ttl=300,
    )
    return AuthService(config, clock=clock, hasher=FAST_HASHER, revocations=revocations)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@asynccontextmanager
async def client_of(url: str, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async with served(make_service(url, clock)) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            yield c


@pytest.fixture
async def client(database_url: str, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service on each database."""
    async with client_of(database_url, clock) as c:
        yield c


@pytest.fixture
async def sqlite_client(tmp_path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service on SQLite, for request errors that never reach storage."""
    async with client_of(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}", clock) as c:
        yield c


async def login(client: httpx.AsyncClient, password: str = ADMIN_PW) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": ADMIN, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_then_verify_gives_subject_roles_and_expiry(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await login(client)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    verified = await client.get("/api/v1/auth/verify", headers=bearer(body["access_token"]))
    assert verified.status_code == 200
    assert verified.json() == {
        "subject": ADMIN,
        "roles": ["admin"],
        "expires_at": int(clock.now) + 300,
    }


@pytest.mark.parametrize(
    ("username", "password"), [(ADMIN, "wrong"), ("nobody", ADMIN_PW)], ids=["password", "user"]
)
async def test_bad_credentials_are_401_with_a_json_error(
    sqlite_client: httpx.AsyncClient, username: str, password: str
) -> None:
    response = await sqlite_client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "payload",
    [{"username": ADMIN}, {"username": "", "password": "x"}, {"username": 1, "password": []}],
)
async def test_malformed_login_body_is_422(
    sqlite_client: httpx.AsyncClient, payload: object
) -> None:
    response = await sqlite_client.post("/api/v1/auth/login", json=payload)
    assert response.status_code == 422
    assert "detail" in response.json()


async def test_non_json_login_body_is_422(sqlite_client: httpx.AsyncClient) -> None:
    response = await sqlite_client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_refresh_gives_a_new_working_access_token(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = (await login(client)).json()
    clock.advance(3600)  # the access token is long dead, the refresh token is not
    assert (
        await client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    verified = await client.get(
        "/api/v1/auth/verify", headers=bearer(refreshed.json()["access_token"])
    )
    assert verified.status_code == 200
    assert verified.json()["expires_at"] == int(clock.now) + 300


async def test_access_token_is_refused_as_refresh_and_vice_versa(
    sqlite_client: httpx.AsyncClient,
) -> None:
    tokens = (await login(sqlite_client)).json()
    refused = await sqlite_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    assert refused.status_code == 401
    assert "expected a refresh token" in refused.json()["detail"]
    verify = await sqlite_client.get("/api/v1/auth/verify", headers=bearer(tokens["refresh_token"]))
    assert verify.status_code == 401


async def test_malformed_refresh_body_is_422(sqlite_client: httpx.AsyncClient) -> None:
    assert (await sqlite_client.post("/api/v1/auth/refresh", json={})).status_code == 422


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, bearer("garbage")],
    ids=["missing", "basic", "empty", "garbage"],
)
async def test_verify_without_a_valid_token_is_401(
    sqlite_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await sqlite_client.get("/api/v1/auth/verify", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] in {"missing_token", "invalid_token"}


async def test_health_reports_database_and_echoes_correlation_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/auth/health", headers={"x-correlation-id": "corr-42"})
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": True}
    assert response.headers["x-correlation-id"] == "corr-42"
    fresh = await client.get("/api/v1/auth/health")
    assert fresh.headers["x-correlation-id"]


async def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    service = make_service(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db", FakeClock())
    try:
        async with (
            AsgiServer(service.asgi_app) as server,
            httpx.AsyncClient(base_url=server.url) as c,
        ):
            response = await c.get("/api/v1/auth/health")
        assert response.status_code == 503
        assert response.json() == {"status": "unhealthy", "database": False}
    finally:
        await service.stop()


async def test_admin_survives_a_restart_and_is_not_overwritten(database_url: str) -> None:
    first = make_service(database_url, FakeClock())
    await first.start()
    await first.stop()
    # A second start with another configured password keeps the existing admin.
    second = make_service(database_url, FakeClock(), password="another password")
    async with served(second) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            assert (await login(c)).status_code == 200
            assert (await login(c, "another password")).status_code == 401


async def test_password_is_stored_hashed(client: httpx.AsyncClient, database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.text("SELECT password_hash FROM auth_users"))).scalar()
    finally:
        await engine.dispose()
    assert isinstance(stored, str) and stored.startswith("$argon2")
    assert ADMIN_PW not in stored


def test_build_takes_its_options_from_service_settings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings.model_validate({"jwt_secret": "", "jwt_ttl_seconds": 120})
    with pytest.raises(AuthConfigError, match="MESH_JWT_SECRET"):
        build(settings)
    with pytest.raises(AuthConfigError):
        build(ServiceSettings.model_validate({}))  # the placeholder default is no secret either
    with pytest.raises(AuthConfigError, match="has no password; set MESH_ADMIN_PASSWORD"):
        build(ServiceSettings.model_validate({"jwt_secret": SECRET}))  # no default password
    monkeypatch.setenv("MESH_AUTH_DEV_MODE", "true")  # read with the other settings
    dev = ServiceSettings.model_validate({"jwt_secret": "", "admin_password": ADMIN_PW})
    assert isinstance(build(dev), HttpServiceApp)
    assert "generated a random JWT secret" in caplog.text


def test_metadata_names_every_route() -> None:
    service = make_service("sqlite+aiosqlite:///unused.db", FakeClock())
    assert service.metadata == {
        "route.login": "POST /api/v1/auth/login",
        "route.refresh": "POST /api/v1/auth/refresh",
        "route.logout": "POST /api/v1/auth/logout",
        "route.verify": "GET /api/v1/auth/verify",
        "route.health": "GET /api/v1/auth/health",
        "health_path": "/api/v1/auth/health",
    }


async def test_the_sixth_wrong_login_within_a_minute_is_429_and_logged(
    sqlite_client: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(5):
        assert (await login(sqlite_client, "guess")).status_code == 401
        clock.advance(5)
    refused = await login(sqlite_client)  # even the right password waits
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_attempts"
    assert refused.headers["retry-after"] == "55"  # locked for 60 s from the fifth failure
    locks = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"auth: login locked for user {ADMIN!r} for 60 s" in locks
    assert "auth: login locked for address '127.0.0.1' for 60 s" in locks
    assert not any("guess" in line or ADMIN_PW in line for line in locks)
    clock.advance(55)
    assert (await login(sqlite_client)).status_code == 200


async def test_a_good_login_clears_the_users_failures(
    sqlite_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for _ in range(4):
        assert (await login(sqlite_client, "guess")).status_code == 401
    assert (await login(sqlite_client)).status_code == 200
    other = {"username": "nobody", "password": "x"}
    # The address's four failures still count: one more locks it, for every user.
    assert (await sqlite_client.post("/api/v1/auth/login", json=other)).status_code == 401
    assert (await login(sqlite_client)).status_code == 429


async def test_logout_revokes_the_token_and_its_session(sqlite_client: httpx.AsyncClient) -> None:
    tokens = (await login(sqlite_client)).json()
    out = await sqlite_client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert out.status_code == 200 and out.json() == {"revoked": True}
    verify = await sqlite_client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"]))
    assert verify.status_code == 401 and verify.json()["detail"] == "token revoked"
    refresh = await sqlite_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    again = await sqlite_client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert again.status_code == 401


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(
    sqlite_client: httpx.AsyncClient,
) -> None:
    first = (await login(sqlite_client)).json()
    rotated = await sqlite_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    reused = await sqlite_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401 and "already used" in reused.json()["detail"]
    # Whoever held the rotated pair is logged out too.
    for token in (second["access_token"], first["access_token"]):
        verify = await sqlite_client.get("/api/v1/auth/verify", headers=bearer(token))
        assert verify.status_code == 401
    refresh = await sqlite_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_verify_refuses_the_token_of_a_deleted_user(
    client: httpx.AsyncClient, database_url: str
) -> None:
    tokens = (await login(client)).json()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM auth_users"))
    finally:
        await engine.dispose()
    verify = await client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"]))
    assert verify.status_code == 401
    assert verify.json()["detail"] == "the token's user no longer exists"


async def test_a_token_revoked_on_one_instance_is_refused_by_another(
    tmp_path: Path, clock: FakeClock, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"

    def instance() -> AuthService:
        return make_service(
            url, clock, revocations=RedisRevocations(redis_client, key_prefix, clock)
        )

    async with (
        served(instance()) as one,
        served(instance()) as two,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{one}") as first,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{two}") as second,
    ):
        access = (await login(first)).json()["access_token"]
        assert (await second.get("/api/v1/auth/verify", headers=bearer(access))).status_code == 200
        assert (await first.post("/api/v1/auth/logout", headers=bearer(access))).status_code == 200
        assert (await second.get("/api/v1/auth/verify", headers=bearer(access))).status_code == 401
    # The revocations expire with the session: nothing stays behind in Redis for ever.
    keys = [k async for k in redis_client.scan_iter(f"{key_prefix}:auth:revoked:*")]
    assert len(keys) == 2
    ttls = sorted([await redis_client.pttl(k) / 1000 for k in keys])
    # The access token's lifetime and the session's, each with the leeway.
    assert ttls == [pytest.approx(300 + 5, abs=2), pytest.approx(7 * 24 * 3600 + 5, abs=2)]


async def test_revocations_unreachable_are_503_not_an_accepted_token(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    down = RedisRevocations("redis://127.0.0.1:9/0", "p", clock)  # nothing listens on port 9
    async with served(make_service(url, clock, revocations=down)) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            access = (await login(c)).json()["access_token"]
            verify = await c.get("/api/v1/auth/verify", headers=bearer(access))
    assert verify.status_code == 503
    assert "Cannot reach the registry" in verify.json()["detail"]


async def test_a_burst_of_guesses_sent_at_once_gets_five_password_checks(
    sqlite_client: httpx.AsyncClient,
) -> None:
    answers = await asyncio.gather(*(login(sqlite_client, f"guess-{n}") for n in range(12)))
    assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 7
