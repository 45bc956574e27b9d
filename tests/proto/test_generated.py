"""The committed generated code matches protos/ and imports inside the package."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "meshctl" / "proto"


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen-protos"), str(tmp_path)],
        check=True,
        env=env,
        capture_output=True,
    )
    fresh = tmp_path / "meshctl" / "proto"
    assert _files(fresh) == _files(COMMITTED), "run scripts/gen-protos"
    stale = [name for name in _files(fresh) if not filecmp.cmp(fresh / name, COMMITTED / name)]
    assert stale == [], f"stale generated code, run scripts/gen-protos: {stale}"


def test_services_have_the_agreed_methods() -> None:
    from meshctl.proto.its.v1 import alert_pb2, analytics_pb2, streaming_pb2

    def methods(module: object, service: str) -> list[str]:
        descriptor = module.DESCRIPTOR.services_by_name[service]  # type: ignore[attr-defined]
        return [m.name for m in descriptor.methods]

    assert methods(streaming_pb2, "StreamingService") == [
        "ProcessDetections",
        "GetTrafficMetrics",
        "HealthCheck",
    ]
    assert methods(analytics_pb2, "AnalyticsService") == [
        "ProcessDetections",
        "GetTrafficMetrics",
        "GetActiveViolations",
        "GetTrafficAnomalies",
        "GenerateReport",
    ]
    assert methods(alert_pb2, "AlertService") == [
        "ProcessViolationAlert",
        "ProcessAnomalyAlert",
        "SendAlert",
        "GetAlertStatistics",
        "RetryFailedAlerts",
        "AcknowledgeAlert",
        "GetAlert",
        "ListAlerts",
    ]
