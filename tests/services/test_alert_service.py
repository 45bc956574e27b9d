"""The alert service over real gRPC on loopback, with real webhook, SMTP and SMS receivers.

The plugin's ``webhook`` fixture stands in for the webhook consumer, ``sms``
for the SMS gateway, ``mailbox`` for the SMTP server.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiosmtpd.controller import Controller

from meshctl.proto.its.v1 import alert_pb2 as apb
from meshctl.proto.its.v1 import alert_pb2_grpc
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.alert import AlertApp, RetryPolicy, build
from meshctl.services.base import GrpcServiceApp, ServiceSettings
from meshctl.services.frames import to_timestamp
from meshctl.testing import FakeClock, WebhookReceiver, served

SENT, FAILED = apb.DELIVERY_STATUS_SENT, apb.DELIVERY_STATUS_FAILED
WEBHOOK, EMAIL, SMS = apb.ALERT_CHANNEL_WEBHOOK, apb.ALERT_CHANNEL_EMAIL, apb.ALERT_CHANNEL_SMS


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class _AnyPortController(Controller):
    """aiosmtpd's Controller, told the port the OS picked for port 0."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@pytest.fixture
def mailbox() -> Iterator[tuple[_Mailbox, int]]:
    box = _Mailbox()
    controller = _AnyPortController(box, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


@pytest.fixture
async def sms() -> AsyncIterator[WebhookReceiver]:
    """The SMS gateway."""
    async with WebhookReceiver() as gateway:
        yield gateway


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Env:
    settings: ServiceSettings
    clock: FakeClock
    webhook: WebhookReceiver
    sms: WebhookReceiver
    mailbox: _Mailbox

    @property
    def hooks(self) -> list[Any]:
        """The webhook posts the consumer accepted."""
        return [r.body for r in self.webhook.accepted]

    @property
    def texts(self) -> list[Any]:
        """The texts the SMS gateway was sent."""
        return [r.body for r in self.sms.requests]

    def app(self) -> AlertApp:
        # rng=1.0: the jitter takes the full delay, so retry times are exact.
        policy = RetryPolicy(max_attempts=3, base_delay=30, max_delay=300)
        return AlertApp(self.settings, retry=policy, clock=self.clock, rng=lambda: 1.0)


@pytest.fixture
def make_env(
    clock: FakeClock,
    webhook: WebhookReceiver,
    sms: WebhookReceiver,
    mailbox: tuple[_Mailbox, int],
) -> Callable[[str], Env]:
    """Builds the environment of an alert service on a database URL."""

    def make(url: str) -> Env:
        settings = ServiceSettings.model_validate(
            {
                "database_url": url,
                "smtp_host": "127.0.0.1",
                "smtp_port": mailbox[1],
                "webhook_url": f"{webhook.url}/hook",
                "sms_gateway_url": f"{sms.url}/sms",
                "alert_recipients": ["ops@example.com", "sms:+15550100"],
            }
        )
        return Env(settings, clock, webhook, sms, mailbox[0])

    return make


@pytest.fixture
def env(database_url: str, make_env: Callable[[str], Env]) -> Env:
    return make_env(database_url)


@pytest.fixture
def sqlite_env(tmp_path: Path, make_env: Callable[[str], Env]) -> Env:
    return make_env(f"sqlite+aiosqlite:///{tmp_path / 'alert.db'}")


class Client:
    """A gRPC client of the hosted service."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.stub: Any = alert_pb2_grpc.AlertServiceStub(channel)

    async def __call__(self, method: str, request: Any, **metadata: str) -> Any:
        return await getattr(self.stub, method)(request, metadata=tuple(metadata.items()))


async def _client(app: AlertApp) -> AsyncIterator[Client]:
    async with served(app) as port, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Client(channel)


@pytest.fixture
async def client(env: Env) -> AsyncIterator[Client]:
    async for c in _client(env.app()):
        yield c


@pytest.fixture
async def sqlite_client(sqlite_env: Env) -> AsyncIterator[Client]:
    async for c in _client(sqlite_env.app()):
        yield c


def violation(vid: str = "v-1", **fields: Any) -> apb.ProcessViolationAlertRequest:
    base: dict[str, Any] = {
        "violation_id": vid,
        "type": pb.VIOLATION_TYPE_RED_LIGHT,
        "camera_id": "cam-7",
        "track_id": "t-3",
    }
    return apb.ProcessViolationAlertRequest(violation=pb.Violation(**(base | fields)))


def channels_of(alert: apb.Alert) -> dict[int, int]:
    return {d.channel: d.status for d in alert.deliveries}


async def test_high_violation_goes_to_webhook_email_and_sms(client: Client, env: Env) -> None:
    response = await client("ProcessViolationAlert", violation(), **{"x-correlation-id": "c-77"})
    alert = response.alert
    assert alert.severity == pb.SEVERITY_HIGH  # red light, no severity of its own
    assert channels_of(alert) == {WEBHOOK: SENT, EMAIL: SENT, SMS: SENT}
    assert alert.correlation_id == "c-77"
    assert [d.attempts for d in alert.deliveries] == [1, 1, 1]
    (hook,) = env.hooks
    assert hook["alert_id"] == alert.alert_id and hook["severity"] == "high"
    assert env.webhook.requests[0].headers["x-correlation-id"] == "c-77"
    (text,) = env.texts
    assert text["to"] == "+15550100" and "HIGH" in text["message"]
    (mail,) = env.mailbox.messages
    assert mail["To"] == "ops@example.com" and mail["Subject"].startswith("[HIGH] red light")


async def test_low_violation_goes_to_the_webhook_only(sqlite_client: Client) -> None:
    request = violation(type=pb.VIOLATION_TYPE_ILLEGAL_PARKING)
    alert = (await sqlite_client("ProcessViolationAlert", request)).alert
    assert alert.severity == pb.SEVERITY_LOW
    assert list(alert.channels) == [WEBHOOK]
    assert channels_of(alert) == {WEBHOOK: SENT}


async def test_the_same_violation_alerts_once(sqlite_client: Client, sqlite_env: Env) -> None:
    first = await sqlite_client("ProcessViolationAlert", violation("dup"))
    second = await sqlite_client("ProcessViolationAlert", violation("dup"))
    assert second.deduplicated and second.alert.alert_id == first.alert.alert_id
    assert len(sqlite_env.hooks) == 1


async def test_alerts_raised_at_once_are_each_stored_once_and_delivered(
    client: Client, env: Env
) -> None:
    requests = [violation(f"v-{i}", type=pb.VIOLATION_TYPE_ILLEGAL_PARKING) for i in range(12)]
    replies = await asyncio.gather(
        *(client("ProcessViolationAlert", r) for r in [*requests, requests[0], requests[0]])
    )
    firsts = [r for r in replies if not r.deduplicated]  # which copy of v-0 wins is open
    assert len(firsts) == 12 and len({r.alert.alert_id for r in replies}) == 12
    assert len({r.alert.alert_id for r in (replies[0], *replies[12:])}) == 1
    assert all(channels_of(r.alert) == {WEBHOOK: SENT} for r in firsts)
    assert sorted(h["source_id"] for h in env.hooks) == sorted(f"v-{i}" for i in range(12))
    stats = await client("GetAlertStatistics", apb.GetAlertStatisticsRequest())
    assert (stats.total_alerts, stats.failed_deliveries) == (12, 0)


async def test_anomaly_severity_follows_its_z_score(sqlite_client: Client) -> None:
    anomaly = pb.Anomaly(anomaly_id="a-1", camera_id="cam-1", z_score=-7.5, description="empty")
    alert = (
        await sqlite_client("ProcessAnomalyAlert", apb.ProcessAnomalyAlertRequest(anomaly=anomaly))
    ).alert
    assert alert.severity == pb.SEVERITY_CRITICAL
    assert alert.message == "empty" and alert.source == "anomaly"


async def test_send_alert_uses_the_given_channels_and_recipients(
    sqlite_client: Client, sqlite_env: Env
) -> None:
    request = apb.SendAlertRequest(
        severity=pb.SEVERITY_LOW,
        title="maintenance",
        message="camera 3 offline",
        channels=[EMAIL],
        recipients=[apb.Recipient(channel=EMAIL, address="night@example.com")],
    )
    alert = (await sqlite_client("SendAlert", request)).alert
    assert channels_of(alert) == {EMAIL: SENT}
    assert [m["To"] for m in sqlite_env.mailbox.messages] == ["night@example.com"]
    assert sqlite_env.hooks == []


async def test_failed_webhook_is_retried_with_backoff_until_it_succeeds(
    client: Client, env: Env
) -> None:
    env.webhook.status = 500
    request = apb.SendAlertRequest(
        severity=pb.SEVERITY_MEDIUM, title="t", message="m", channels=[WEBHOOK]
    )
    alert = (await client("SendAlert", request)).alert
    (delivery,) = alert.deliveries
    assert delivery.status == FAILED and "HTTP 500" in delivery.last_error
    retry = apb.RetryFailedAlertsRequest(alert_id=alert.alert_id)
    env.clock.advance(29)  # the first retry is due 30 s after the failure
    assert (await client("RetryFailedAlerts", retry)).retried == 0
    env.clock.advance(1)
    still = await client("RetryFailedAlerts", retry)
    assert (still.retried, still.still_failing) == (1, 1)
    env.webhook.status = 200
    env.clock.advance(30)
    assert (await client("RetryFailedAlerts", retry)).retried == 0  # now 60 s: backoff doubled
    env.clock.advance(30)
    done = await client("RetryFailedAlerts", apb.RetryFailedAlertsRequest())
    assert (done.retried, done.succeeded, done.still_failing) == (1, 1, 0)
    (delivered,) = done.alerts[0].deliveries
    assert delivered.status == SENT and delivered.attempts == 3
    assert len(env.hooks) == 1
    stats = await client("GetAlertStatistics", apb.GetAlertStatisticsRequest())
    assert stats.failed_deliveries == 0 and stats.by_channel[0].sent == 1


async def test_acknowledge_records_who_and_when(client: Client, env: Env) -> None:
    alert = (await client("ProcessViolationAlert", violation())).alert
    env.clock.advance(5)
    ack = apb.AcknowledgeAlertRequest(alert_id=alert.alert_id, acknowledged_by="op1", note="seen")
    acked = (await client("AcknowledgeAlert", ack)).alert
    assert acked.status == apb.ALERT_STATUS_ACKNOWLEDGED
    assert (acked.acknowledged_by, acked.acknowledgement_note) == ("op1", "seen")
    assert acked.acknowledged_at.seconds == int(env.clock.now)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await client(
            "AcknowledgeAlert", apb.AcknowledgeAlertRequest(alert_id="nope", acknowledged_by="x")
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_statistics_count_by_severity_channel_and_acknowledgement(
    client: Client, env: Env
) -> None:
    high = (await client("ProcessViolationAlert", violation("v-h", camera_id="cam-1"))).alert
    env.webhook.status = 500
    await client("ProcessViolationAlert", violation("v-l", type=pb.VIOLATION_TYPE_ILLEGAL_PARKING))
    ack = apb.AcknowledgeAlertRequest(alert_id=high.alert_id, acknowledged_by="op")
    await client("AcknowledgeAlert", ack)
    stats = await client("GetAlertStatistics", apb.GetAlertStatisticsRequest())
    assert stats.total_alerts == 2
    assert dict(stats.alerts_by_severity) == {"high": 1, "low": 1}
    assert (stats.acknowledged, stats.unacknowledged, stats.failed_deliveries) == (1, 1, 1)
    webhook = next(c for c in stats.by_channel if c.channel == WEBHOOK)
    assert (webhook.sent, webhook.failed, webhook.success_rate) == (1, 1, 0.5)
    one_camera = apb.GetAlertStatisticsRequest(camera_id="cam-1")
    assert (await client("GetAlertStatistics", one_camera)).total_alerts == 1
    later = pb.TimeWindow(start=to_timestamp(env.clock.now + 1))
    assert (
        await client("GetAlertStatistics", apb.GetAlertStatisticsRequest(window=later))
    ).total_alerts == 0


async def test_alerts_survive_a_restart(env: Env) -> None:
    env.webhook.status = 500
    async for c in _client(env.app()):
        alert = (await c("ProcessViolationAlert", violation())).alert
    env.webhook.status = 200
    env.clock.advance(3600)
    async for c in _client(env.app()):
        retried = await c("RetryFailedAlerts", apb.RetryFailedAlertsRequest())
        assert retried.succeeded == 1 and retried.alerts[0].alert_id == alert.alert_id
        ack = apb.AcknowledgeAlertRequest(alert_id=alert.alert_id, acknowledged_by="op")
        assert (await c("AcknowledgeAlert", ack)).alert.title == alert.title


@pytest.mark.parametrize(
    ("method", "request_", "field_name"),
    [
        ("ProcessViolationAlert", apb.ProcessViolationAlertRequest(), "violation"),
        ("ProcessViolationAlert", violation(""), "violation.violation_id"),
        ("ProcessAnomalyAlert", apb.ProcessAnomalyAlertRequest(), "anomaly"),
        ("SendAlert", apb.SendAlertRequest(title="t", message="m"), "severity"),
        ("SendAlert", apb.SendAlertRequest(severity=pb.SEVERITY_LOW, message="m"), "title"),
        (
            "SendAlert",
            apb.SendAlertRequest(
                severity=pb.SEVERITY_LOW,
                title="t",
                message="m",
                recipients=[apb.Recipient(channel=EMAIL, address="not-an-address")],
            ),
            "recipients[0].address",
        ),
        (
            "SendAlert",
            apb.SendAlertRequest(severity=pb.SEVERITY_LOW, title="t", message="m", channels=[9]),  # type: ignore[list-item]
            "channels",
        ),
        ("AcknowledgeAlert", apb.AcknowledgeAlertRequest(alert_id="a"), "acknowledged_by"),
        ("RetryFailedAlerts", apb.RetryFailedAlertsRequest(max_alerts=-1), "max_alerts"),
        (
            "GetAlertStatistics",
            apb.GetAlertStatisticsRequest(
                window=pb.TimeWindow(start=to_timestamp(10), end=to_timestamp(5))
            ),
            "window",
        ),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(
    sqlite_client: Client, method: str, request_: Any, field_name: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await sqlite_client(method, request_)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.value.details() or "").startswith(field_name)


async def test_retry_of_an_unknown_alert_is_not_found(sqlite_client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await sqlite_client("RetryFailedAlerts", apb.RetryFailedAlertsRequest(alert_id="nope"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_build_reads_service_settings_and_refuses_bad_recipients() -> None:
    app = build(ServiceSettings.model_validate({"alert_recipients": ["sms:+15550100"]}))
    assert isinstance(app, GrpcServiceApp) and app.grpc_service_names == ("its.v1.AlertService",)
    with pytest.raises(Exception, match="alert_recipients"):
        build(ServiceSettings.model_validate({"alert_recipients": ["sms:call me"]}))


async def test_list_filters_newest_first_and_says_when_it_is_cut(
    sqlite_client: Client, sqlite_env: Env
) -> None:
    for n, camera in enumerate(("cam-1", "cam-2", "cam-1")):
        sqlite_env.clock.advance(10)
        await sqlite_client("ProcessViolationAlert", violation(f"v-{n}", camera_id=camera))
    everything = await sqlite_client("ListAlerts", apb.ListAlertsRequest())
    assert [a.source_id for a in everything.alerts] == ["v-2", "v-1", "v-0"]
    assert not everything.truncated
    cam1 = await sqlite_client("ListAlerts", apb.ListAlertsRequest(camera_id="cam-1", limit=1))
    assert [a.source_id for a in cam1.alerts] == ["v-2"] and cam1.truncated
    first = everything.alerts[-1].alert_id
    await sqlite_client(
        "AcknowledgeAlert", apb.AcknowledgeAlertRequest(alert_id=first, acknowledged_by="ops")
    )
    acked = await sqlite_client(
        "ListAlerts", apb.ListAlertsRequest(status=apb.ALERT_STATUS_ACKNOWLEDGED)
    )
    assert [a.alert_id for a in acked.alerts] == [first]
    severity = everything.alerts[0].severity
    other = pb.SEVERITY_LOW if severity != pb.SEVERITY_LOW else pb.SEVERITY_CRITICAL
    assert (
        await sqlite_client("ListAlerts", apb.ListAlertsRequest(severities=[other]))
    ).alerts == []
    since = everything.alerts[1].created_at
    recent = await sqlite_client(
        "ListAlerts", apb.ListAlertsRequest(window=pb.TimeWindow(start=since))
    )
    assert [a.source_id for a in recent.alerts] == ["v-2", "v-1"]
    assert (await sqlite_client("ListAlerts", apb.ListAlertsRequest(failed_only=True))).alerts == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (apb.ListAlertsRequest(limit=1001), "limit"),
        (apb.ListAlertsRequest(limit=-1), "limit"),
        (apb.ListAlertsRequest(severities=[pb.SEVERITY_UNSPECIFIED]), "severities"),
        (apb.ListAlertsRequest(status=99), "status"),  # type: ignore[arg-type]
    ],
)
async def test_list_refuses_bad_filters(sqlite_client: Client, request_: Any, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await sqlite_client("ListAlerts", request_)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(field)


def send_to(url: str) -> apb.SendAlertRequest:
    return apb.SendAlertRequest(
        severity=pb.SEVERITY_LOW,
        title="t",
        message="m",
        channels=[WEBHOOK],
        recipients=[apb.Recipient(channel=WEBHOOK, address=url)],
    )


async def test_the_ssrf_probe_is_refused_and_nothing_is_posted(sqlite_env: Env) -> None:
    async with WebhookReceiver() as internal:  # a service inside that callers must not reach
        async for c in _client(sqlite_env.app()):
            for url in (f"{internal.url}/admin", "http://169.254.169.254/latest/meta-data/"):
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await c("SendAlert", send_to(url))
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                details = error.value.details() or ""
                assert details.startswith("recipients[0].address: ")
                assert "not an allowed webhook destination" in details
            assert list((await c("ListAlerts", apb.ListAlertsRequest())).alerts) == []
        assert internal.requests == []
    assert sqlite_env.webhook.requests == []


async def test_a_listed_loopback_receiver_also_needs_its_network_allowed(sqlite_env: Env) -> None:
    async with WebhookReceiver() as partner:
        listed = sqlite_env.settings.model_copy(update={"alert_allowed_urls": [partner.url]})
        async for c in _client(dataclasses.replace(sqlite_env, settings=listed).app()):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await c("SendAlert", send_to(f"{partner.url}/in"))
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "127.0.0.1, a private, loopback or link-local" in (error.value.details() or "")
        assert partner.requests == []
        allowed = listed.model_copy(update={"alert_allowed_networks": ["127.0.0.0/8"]})
        async for c in _client(dataclasses.replace(sqlite_env, settings=allowed).app()):
            alert = (await c("SendAlert", send_to(f"{partner.url}/in"))).alert
        assert channels_of(alert) == {WEBHOOK: SENT}
        assert [r.path for r in partner.requests] == ["/in"]


async def test_the_configured_webhook_may_be_named_by_the_caller(
    sqlite_client: Client, sqlite_env: Env
) -> None:
    alert = (await sqlite_client("SendAlert", send_to(f"{sqlite_env.webhook.url}/hook"))).alert
    assert channels_of(alert) == {WEBHOOK: SENT}
    assert len(sqlite_env.hooks) == 1


def test_build_refuses_a_malformed_allow_list() -> None:
    with pytest.raises(Exception, match="alert_allowed_networks"):
        build(ServiceSettings.model_validate({"alert_allowed_networks": ["10.0.0.0/33"]}))
