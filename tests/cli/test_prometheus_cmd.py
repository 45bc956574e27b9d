"""``meshctl prometheus sd`` on the real registry: the announced /metrics endpoints as HTTP SD."""

from __future__ import annotations

import asyncio
import json

import pytest

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry

from .conftest import Meshctl

pytestmark = pytest.mark.redis


def register(redis_url: str, prefix: str, *endpoints: ServiceEndpoint) -> None:
    async def go() -> None:
        registry = ServiceRegistry(redis_url, prefix)
        try:
            for ep in endpoints:
                await registry.register_service(ep.service_name, ep)
        finally:
            await registry.aclose()

    asyncio.run(go())


def test_sd_lists_one_target_per_metrics_url(meshctl: Meshctl, redis_url: str, key_prefix: str):
    def ep(service: str, port: int, instance_id: str, url: str | None) -> ServiceEndpoint:
        metadata = {} if url is None else {"metrics_url": url}
        return ServiceEndpoint(service, "10.0.0.5", port, instance_id=instance_id,
                               metadata=metadata)  # fmt: skip

    register(
        redis_url, key_prefix,
        ep("analytics", 50052, "a1", "http://10.0.0.5:9100/metrics"),
        ep("alert", 50053, "b1", "http://10.0.0.5:9100/metrics"),  # one process, two services
        ep("streaming", 50051, "s1", "https://10.0.0.6:9200/custom"),
        ep("auth", 8000, "u1", None),  # announces nothing
        ep("auth", 8001, "u2", "not a url"),
    )  # fmt: skip
    result = meshctl("prometheus", "sd")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"targets": ["10.0.0.5:9100"], "labels": {
            "__scheme__": "http", "__metrics_path__": "/metrics",
            "service": "alert,analytics", "instance_id": "a1,b1"}},
        {"targets": ["10.0.0.6:9200"], "labels": {
            "__scheme__": "https", "__metrics_path__": "/custom",
            "service": "streaming", "instance_id": "s1"}},
    ]  # fmt: skip


def test_sd_of_an_empty_mesh_is_an_empty_list(meshctl: Meshctl):
    result = meshctl("prometheus", "sd")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_sd_with_redis_away_exits_3(meshctl_without_redis: Meshctl):
    result = meshctl_without_redis("prometheus", "sd")
    assert result.exit_code == 3 and "Cannot reach the registry" in result.output
