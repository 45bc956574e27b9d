import json
from pathlib import Path

import httpx

from meshctl.embedded.sink import AlertSink


def test_alerts_posted_to_the_sink_land_in_its_file(tmp_path: Path):
    path = tmp_path / "alerts.jsonl"
    with AlertSink(path) as sink:
        for n in range(3):
            reply = httpx.post(f"{sink.url}/alerts", json={"alert_id": f"a{n}", "severity": "high"})
            assert reply.status_code == 200
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == ["a0", "a1", "a2"]
    try:
        httpx.post(f"{sink.url}/alerts", json={}, timeout=1)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("the sink still answers after it stopped")
