"""``meshctl loadtest`` refuses, before any load, what cannot answer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.redis


def test_unreachable_registry_exits_3_before_any_request(meshctl_without_redis):
    result = meshctl_without_redis("loadtest", "analytics", "GetTrafficMetrics", "-n", "1")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: Cannot reach the registry at redis://127.0.0.1:")
    assert result.stdout == ""


def test_no_instance_exits_1_and_an_unknown_name_2(meshctl):
    down = meshctl("loadtest", "analytics", "GetTrafficMetrics", "-n", "1")
    assert (down.exit_code, down.stderr) == (1, "error: No endpoints found for service analytics\n")
    assert down.stdout == ""
    typo = meshctl("loadtest", "analytcs", "GetTrafficMetrics", "-n", "1")
    assert typo.exit_code == 2
    assert typo.stderr.startswith("error: unknown service 'analytcs'; did you mean 'analytics'?")
