"""The alert service's outbound allow-list: which webhook URLs a caller may choose."""

from __future__ import annotations

import httpx
import pytest

from meshctl.errors import InvalidRequestError
from meshctl.services.alert.channels import DeliveryError, Notification, WebhookChannel
from meshctl.services.alert.outbound import DestinationRefused, OutboundPolicy
from meshctl.testing import WebhookReceiver

CONFIGURED = "http://127.0.0.1:8080/alerts"


def policy(*allowed: str, networks: tuple[str, ...] = ()) -> OutboundPolicy:
    return OutboundPolicy([CONFIGURED], allowed, networks)


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        ("8.8.8.8", "https://8.8.8.8/hook"),
        ("8.8.8.8:8443", "https://8.8.8.8:8443/x"),
        ("https://8.8.8.8/its", "https://8.8.8.8/its"),
        ("https://8.8.8.8/its/", "https://8.8.8.8/its/alerts?x=1"),
        ("http://[2001:4860:4860::8888]/", "http://[2001:4860:4860::8888]:80/a"),
    ],
)
async def test_allowed_hosts_and_prefixes_pass(allowed: str, url: str) -> None:
    await policy(allowed).check(url, "f")


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        ("8.8.8.8", "https://8.8.4.4/hook"),
        ("8.8.8.8:8443", "https://8.8.8.8/x"),  # another port
        ("https://8.8.8.8/its", "https://8.8.8.8/itsy"),  # not at a path boundary
        ("https://8.8.8.8/its", "http://8.8.8.8/its"),  # another scheme
        ("https://8.8.8.8", "https://8.8.8.8@1.1.1.1/"),  # userinfo is not the host
        ("hooks.example.com", "https://hooks.example.com.evil.test/"),
        ("hooks.example.com", "https://evil.test/?hooks.example.com"),
        ("8.8.8.8", "https://8.8.8.8:99999/"),  # a malformed port
    ],
)
async def test_urls_outside_the_list_are_refused_naming_the_field(allowed: str, url: str) -> None:
    with pytest.raises(DestinationRefused, match=r"^recipients\[0\]\.address: "):
        await policy(allowed).check(url, "recipients[0].address")


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254", "127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.254",
        "192.168.1.1", "0.0.0.0", "[::1]", "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]",
    ],
)  # fmt: skip
async def test_private_loopback_and_link_local_targets_are_refused_even_when_listed(
    address: str,
) -> None:
    url = f"http://{address}/latest/meta-data/"
    with pytest.raises(DestinationRefused, match="private, loopback or link-local"):
        await policy(address).check(url, "f")


async def test_a_listed_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(DestinationRefused, match="localhost resolves to"):
        await policy("localhost").check("http://localhost:9/x", "f")


async def test_an_allowed_network_lets_a_private_target_through() -> None:
    allowing = policy("10.0.0.5", "localhost", networks=("10.0.0.0/8", "127.0.0.0/8", "::1/128"))
    await allowing.check("http://10.0.0.5/hook", "f")
    await allowing.check("http://localhost:9/x", "f")
    with pytest.raises(DestinationRefused):
        await policy("169.254.169.254", networks=("10.0.0.0/8",)).check(
            "http://169.254.169.254/", "f"
        )


async def test_the_configured_url_is_always_allowed_and_only_it() -> None:
    await policy().check(CONFIGURED, "f")
    with pytest.raises(DestinationRefused):
        await policy().check(CONFIGURED + "/../admin", "f")


async def test_an_unresolvable_host_is_refused() -> None:
    with pytest.raises(DestinationRefused, match="cannot resolve"):
        await policy("no-such-host.invalid").check("https://no-such-host.invalid/", "f")


@pytest.mark.parametrize(
    ("allowed", "networks", "field"),
    [
        (["ftp://x/"], [], "alert_allowed_urls"),
        (["host/path"], [], "alert_allowed_urls"),
        (["host:port"], [], "alert_allowed_urls"),
        ([], ["10.0.0.0/33"], "alert_allowed_networks"),
    ],
)
def test_malformed_allow_list_entries_are_refused(
    allowed: list[str], networks: list[str], field: str
) -> None:
    with pytest.raises(InvalidRequestError, match=field):
        OutboundPolicy([], allowed, networks)


async def test_the_webhook_channel_checks_again_before_it_posts() -> None:
    """Stored deliveries are retried later: a URL no longer allowed is not posted to."""
    async with WebhookReceiver() as internal, httpx.AsyncClient() as http:
        channel = WebhookChannel(http, OutboundPolicy())
        with pytest.raises(DeliveryError, match="not an allowed webhook destination"):
            await channel.send(Notification("a-1", "low", "t", "m"), f"{internal.url}/x")
    assert internal.requests == []
