"""A connection that never comes up takes a share of a short deadline when a sibling is spare."""

from __future__ import annotations

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.errors import CallTimeoutError
from meshctl.mesh import open_mesh
from meshctl.testing import Platform
from tests.mesh.conftest import SERVICE, Fleet

TIMEOUT = 1.0  # no longer than the default connect timeout: only the share keeps it short


async def test_a_paused_instance_leaves_its_sibling_time_to_answer(
    fleet: Fleet, platform: Platform
):
    await fleet.start()
    hung = await fleet.silent()  # accepts connections, never sets one up
    mesh = open_mesh(
        platform.settings,
        registry=platform.registry,
        events=False,
        control=False,
        strategy=LoadBalancingStrategy.ROUND_ROBIN,
    )
    async with mesh:
        results = [
            await mesh.call(SERVICE, "GetTrafficMetrics", {}, timeout=TIMEOUT) for _ in range(4)
        ]
    assert all(r.endpoint.instance_id != hung.instance_id for r in results)
    assert max(r.attempts for r in results) == 2  # it was tried first, then the sibling


async def test_a_lone_paused_instance_still_gets_the_whole_deadline(
    fleet: Fleet, platform: Platform
):
    await fleet.silent()
    mesh = open_mesh(platform.settings, registry=platform.registry, events=False, control=False)
    async with mesh:
        with pytest.raises(CallTimeoutError, match=f"timed out after {TIMEOUT:g}s"):
            await mesh.call(SERVICE, "GetTrafficMetrics", {}, timeout=TIMEOUT)
