"""``meshctl call`` against real services on loopback, registered in the real Redis."""

from __future__ import annotations

import asyncio
import json
import math
import sys

import pytest
import yaml

from meshctl.cli.app import app
from meshctl.cli.call import direct_endpoint, reply_rows, request_metadata
from meshctl.cli.requestdata import json_depth, parse_headers, read_data, read_object, seconds
from meshctl.core.context import CorrelationContext
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import InvalidRequestError
from meshctl.events import KafkaEventBus
from meshctl.testing import closed_port

pytestmark = pytest.mark.redis


async def invoke(meshctl, *args: str, **kwargs):
    """Run the command in a thread: it runs its own event loop while the services run in ours."""
    if kwargs:
        return await asyncio.to_thread(meshctl.runner.invoke, app, [*meshctl.base, *args], **kwargs)
    return await asyncio.to_thread(meshctl, *args)


async def test_reply_in_every_format(platform, meshctl):
    await platform.start("analytics")
    args = ("call", "analytics", "GetTrafficMetrics", "-d", '{"camera_id": "cam-9"}')
    result = await invoke(meshctl, *args)
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    assert reply == {"metrics": []}  # no frames of cam-9 yet
    assert result.stderr == ""
    assert yaml.safe_load((await invoke(meshctl, *args, "-o", "yaml")).stdout) == reply
    table = (await invoke(meshctl, *args, "-o", "table")).stdout.splitlines()
    assert table[0].split() == ["KEY", "VALUE"]
    assert table[1].split() == ["metrics", "-"]


async def test_verbose_shows_the_sample_endpoint_and_ids(platform, meshctl):
    port = await platform.start("streaming")
    await platform.start("analytics")
    result = await invoke(
        meshctl, "call", "streaming", "ProcessDetections", "-v", "--correlation-id", "corr-v-1"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["correlation_id"] == "corr-v-1"
    err = result.stderr.splitlines()
    assert err[0] == "request:        the sample request of streaming/ProcessDetections"
    assert f"at 127.0.0.1:{port} (grpc)" in err[1]
    assert err[2].startswith("latency:") and err[2].endswith(" ms")
    assert err[3] == "attempts:       1"
    assert err[4] == "correlation id: corr-v-1"
    assert len(err[5].removeprefix("trace id:       ")) == 32
    assert err[6:] == []  # the gRPC services send no reply metadata


async def test_data_from_a_file_and_from_stdin(platform, meshctl, tmp_path):
    await platform.start("analytics")
    path = tmp_path / "req.json"
    path.write_text('{"camera_id": "cam001"}')
    from_file = await invoke(meshctl, "call", "analytics", "GetTrafficMetrics", "-d", f"@{path}")
    assert json.loads(from_file.stdout) == {"metrics": []}
    path.write_text('{"from_file": 1}')
    wrong = await invoke(meshctl, "call", "analytics", "GetTrafficMetrics", "-d", f"@{path}")
    assert wrong.exit_code == 2 and "from_file" in wrong.stderr
    from_stdin = await invoke(
        meshctl, "call", "analytics", "GetTrafficMetrics", "-d", "@-", input='{"from_stdin": 1}'
    )
    assert from_stdin.exit_code == 2 and "from_stdin" in from_stdin.stderr
    bad_stdin = await invoke(
        meshctl, "call", "analytics", "GetTrafficMetrics", "-d", "@-", input="{oops"
    )
    assert bad_stdin.stderr.startswith("error: invalid JSON in stdin at line 1 column 2")


async def test_http_service_with_a_token(platform, meshctl):
    await platform.start("auth")
    login = await invoke(
        meshctl, "call", "auth", "login", "-d", '{"username": "admin", "password": "s3cret-pass"}'
    )
    assert login.exit_code == 0, login.output
    token = json.loads(login.stdout)["access_token"]
    verified = await invoke(meshctl, "call", "auth", "verify", "--token", token, "-v")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["subject"] == "admin"
    assert "metadata:       content-type: application/json" in verified.stderr.splitlines()
    refused = await invoke(meshctl, "call", "auth", "verify", "--token", "not-a-token")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: auth/verify failed with HTTP 401")


async def test_pinned_endpoint_registered_or_not(platform, meshctl):
    first = await platform.start("analytics")
    second = await platform.start("analytics")
    pinned = await invoke(
        meshctl, "call", "analytics", "GetTrafficMetrics", "--endpoint", f"127.0.0.1:{second}", "-v"
    )
    assert pinned.exit_code == 0, pinned.output
    assert f"127.0.0.1:{second} (grpc)" in pinned.stderr
    # Deregistered: the instance is called directly, its methods found by reflection.
    endpoints = await platform.registry.discover_services("analytics")
    for ep in endpoints:
        await platform.registry.deregister_service("analytics", ep.instance_id)
    direct = await invoke(
        meshctl, "call", "analytics", "GetTrafficMetrics", "--endpoint", f"127.0.0.1:{first}"
    )
    assert direct.exit_code == 0, direct.output
    assert json.loads(direct.stdout) == {"metrics": []}


async def test_call_errors_exit_1_with_the_spec_texts(platform, meshctl):
    down = await invoke(meshctl, "call", "streaming", "HealthCheck")
    assert (down.exit_code, down.stderr) == (1, "error: No endpoints found for service streaming\n")
    port = closed_port()
    dead = ServiceEndpoint("analytics", "127.0.0.1", port)
    await platform.registry.register_service("analytics", dead, ttl=60)
    refused = await invoke(meshctl, "call", "analytics", "GetTrafficMetrics", "--timeout", "5")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: Channel connectivity failure to 127.0.0.1:{port}")
    assert len(refused.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ghost", "Anything"), "error: unknown service 'ghost' (registered: analytics)"),
        (
            ("alrt", "Anything"),
            "error: unknown service 'alrt'; did you mean 'alert'? (registered: analytics)",
        ),
        (("analytics", "NoSuch"), "error: analytics has no method NoSuch (methods: GenerateReport"),
        (("analytics", "GetTrafficMetrics", "-d", "{"), "error: invalid JSON in -d at line 1"),
        (("analytics", "GetTrafficMetrics", "-d", "[1]"), "error: -d must be a JSON object"),
        (
            (
                "analytics",
                "ProcessDetections",
                "-d",
                '{"frame": {"detections": [{"confidence": "x"}]}}',
            ),
            "error: invalid request for /its.v1.AnalyticsService/ProcessDetections",
        ),
        (("analytics", "GetTrafficMetrics", "-H", "novalue"), "error: invalid -H 'novalue'"),
        (("analytics", "GetTrafficMetrics", "--timeout", "0"), "error: invalid --timeout 0"),
        (("analytics", "GetTrafficMetrics", "--endpoint", "nowhere"), "error: invalid address"),
        (
            ("analytics", "GetTrafficMetrics", "-d", "[" * 10_000 + "]" * 10_000),
            "error: invalid JSON in -d: nested deeper than 100 levels",
        ),
        (
            ("analytics", "GetTrafficMetrics", "-H", "x-a=b\r\nc"),
            "error: invalid -H x-a: '\\r' is not allowed; values are printable ASCII only",
        ),
        (
            ("analytics", "GetTrafficMetrics", "--correlation-id", "ab\r\ncd"),
            "error: invalid --correlation-id: '\\r' is not allowed",
        ),
        (
            ("analytics", "GetTrafficMetrics", "-H", "x-foo-bin=aGVsbG8="),
            "error: invalid -H x-foo-bin: binary (-bin) metadata is not supported",
        ),
        (
            ("analytics", "GetTrafficMetrics", "-H", "x\na=b"),
            "error: invalid -H 'x\\na=b': expected KEY=VALUE",
        ),
        (
            ("analytics", "GetTrafficMetrics", "--timeout", "inf"),
            "error: invalid --timeout inf: must be a finite number of seconds",
        ),
        (
            ("analytics", "GetTrafficMetrics", "--timeout", "1e10"),
            "error: invalid --timeout 1e+10: at most 86400 seconds (a day)",
        ),
        (("analytics", "GetTrafficMetrics", "--timeout", "nan"), "error: invalid --timeout nan"),
        (
            ("analytics", "GetTrafficMetrics", "--trace-wait", "-1"),
            "error: invalid --trace-wait -1: must not be negative",
        ),
    ],
)
async def test_bad_input_exits_2_with_one_line(platform, meshctl, args, message):
    await platform.start("analytics")
    result = await invoke(meshctl, "call", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
    assert "unexpected" not in result.stderr
    if "confidence" in args[-1]:
        assert "confidence" in result.stderr


async def test_a_header_gRPC_would_refuse_leaves_no_core_log_lines(platform, redis_url, key_prefix):
    """gRPC's C core logs to the process's own stderr, so only a real process shows it."""
    await platform.start("analytics")
    args = ["--redis-url", redis_url, "--prefix", key_prefix, "call", "analytics"]
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshctl", *args, "GetTrafficMetrics", "-H", "x-a=b\r\nc",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await done.communicate()
    assert (done.returncode, out) == (2, b"")
    assert err.decode().splitlines() == [
        "error: invalid -H x-a: '\\r' is not allowed; values are printable ASCII only"
    ]


async def test_table_reply_is_one_row_per_field(platform, meshctl):
    await platform.start("alert")
    sent = await invoke(meshctl, "call", "alert", "SendAlert", "-o", "table")
    assert sent.exit_code == 0, sent.output
    lines = sent.stdout.splitlines()
    assert lines[0].split() == ["KEY", "VALUE"]
    keys = [line.split()[0] for line in lines[1:]]
    assert "alert.alert_id" in keys and "{" not in sent.stdout and "'" not in sent.stdout


def test_reply_rows_spell_nested_fields_as_paths():
    reply = {"violations": [{"violation_id": "v-1", "resolved": False, "tags": []}], "n": 2}
    assert reply_rows(reply) == [
        {"key": "violations[0].violation_id", "value": "v-1"},
        {"key": "violations[0].resolved", "value": False},
        {"key": "violations[0].tags", "value": []},
        {"key": "n", "value": 2},
    ]
    assert reply_rows({}) == []
    assert reply_rows("ok") == [{"key": "value", "value": "ok"}]


def test_unreachable_registry_exits_3(meshctl_without_redis):
    result = meshctl_without_redis("call", "a", "B")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: Cannot reach the registry at redis://127.0.0.1:")
    assert "Traceback" not in result.output


@pytest.mark.kafka
async def test_trace_prints_the_calls_events(
    platform, meshctl, kafka_bootstrap, topic_prefix, monkeypatch, tmp_path
):
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    await platform.start("analytics")
    async with KafkaEventBus(
        kafka_bootstrap, topic_prefix=topic_prefix, spool_dir=tmp_path / "spool"
    ) as bus:
        await bus.publish("violation.detected", {"n": 1}, CorrelationContext.new("corr-trace"))
        await bus.publish("violation.detected", {"n": 2}, CorrelationContext.new("other"))
    result = await invoke(
        meshctl, "--kafka", kafka_bootstrap, "call", "analytics", "GetTrafficMetrics",
        "--correlation-id", "corr-trace", "--trace", "--trace-wait", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"] is not None
    lines = result.stderr.splitlines()
    assert lines[0] == "trace corr-trace: 1 event(s)"
    assert "violation.detected" in lines[1] and '{"n":1}' in lines[1]


def test_pure_helpers(tmp_path):
    assert read_data('{"a": [1]}') == {"a": [1]}
    with pytest.raises(InvalidRequestError, match="line 2 column 1"):
        read_data('{"a":\n}')
    with pytest.raises(InvalidRequestError, match="cannot read -d file"):
        read_data(f"@{tmp_path / 'missing.json'}")
    with pytest.raises(InvalidRequestError, match="must be a JSON object, not a string"):
        read_object('"x"')
    assert parse_headers(["X-A=1", "b: two"]) == {"x-a": "1", "b": "two"}
    assert json_depth([[1], {"a": {"b": []}}]) == 4 and json_depth(7) == 0
    assert read_data("[" * 100 + "]" * 100) is not None
    assert seconds("--wait", 0, zero=True) == 0 and seconds("--wait", 86_400) == 86_400
    for bad in (0.0, -1.0, math.inf, math.nan, 86_401.0):
        with pytest.raises(InvalidRequestError):
            seconds("--wait", bad)
    assert request_metadata([], "tok") == {"authorization": "Bearer tok"}
    with pytest.raises(InvalidRequestError, match="empty"):
        request_metadata([], " ")
    sibling = ServiceEndpoint(
        "auth", "10.0.0.1", 8000, protocol="http", metadata={"route.x": "GET /x"}
    )
    direct = direct_endpoint("auth", "127.0.0.1:9000", True, [sibling])
    assert (direct.address, direct.protocol, direct.metadata) == (
        "127.0.0.1:9000",
        "http",
        sibling.metadata,
    )
    assert direct_endpoint("auth", "10.0.0.1:8000", False, [sibling]) is sibling


@pytest.mark.parametrize(
    "args",
    [
        ("loadtest", "analytics", "GetTrafficMetrics", "--timeout", "inf", "--requests", "1"),
        ("top", "--once", "--interval", "nan"),
        ("workflow", "run", "camera-frame", "--timeout", "1e10"),
        ("breakers", "open", "analytics", "--wait", "inf"),
    ],
)
def test_other_commands_refuse_durations_no_clock_holds(meshctl_without_redis, args):
    result = meshctl_without_redis(*args)
    assert result.exit_code == 2, result.output
    option = next(a for a in args if a in ("--timeout", "--interval", "--wait"))
    assert result.stderr.startswith(f"error: invalid {option} ")
    assert len(result.stderr.splitlines()) == 1
