"""``meshctl describe`` against real services: methods, message shapes, request templates."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from meshctl.cli.describe import detail_text, healthiest
from meshctl.cli.shapes import MAX_DEPTH, enum_placeholder, template, type_name
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.proto.its.v1 import alert_pb2, analytics_pb2, common_pb2

pytestmark = pytest.mark.redis


async def invoke(meshctl, *args: str):
    return await asyncio.to_thread(meshctl, *args)


async def test_grpc_service_methods_and_one_method(platform, meshctl):
    await platform.start("analytics")
    listed = await invoke(meshctl, "describe", "analytics", "-o", "json")
    assert listed.exit_code == 0, listed.output
    methods = {r["method"]: r for r in json.loads(listed.stdout)}
    assert set(methods) >= {"ProcessDetections", "GetTrafficMetrics", "GenerateReport"}
    assert methods["GetTrafficMetrics"]["request_type"] == "its.v1.GetTrafficMetricsRequest"
    assert methods["GetTrafficMetrics"]["path"] == "/its.v1.AnalyticsService/GetTrafficMetrics"
    table = (await invoke(meshctl, "describe", "analytics")).stdout.splitlines()
    assert table[0].split() == ["METHOD", "REQUEST", "TYPE", "RESPONSE", "TYPE"]

    one = await invoke(meshctl, "describe", "analytics", "ProcessDetections", "-o", "yaml")
    assert one.exit_code == 0, one.output
    detail = yaml.safe_load(one.stdout)
    assert detail["request_fields"] == [{"name": "frame", "number": 1, "type": "its.v1.Frame"}]
    frame = detail["template"]["frame"]
    assert frame["signal_phase"] != "SIGNAL_PHASE_UNSPECIFIED"
    assert frame["timestamp"] == "1970-01-01T00:00:00Z"
    assert isinstance(frame["detections"], list) and len(frame["detections"]) == 1
    assert frame["detections"][0]["bbox"] == {"x": 0.0, "y": 0.0, "width": 0.0, "height": 0.0}
    text = (await invoke(meshctl, "describe", "analytics", "GetTrafficMetrics")).stdout
    assert text.startswith("analytics /its.v1.AnalyticsService/GetTrafficMetrics\n")
    assert "request its.v1.GetTrafficMetricsRequest" in text
    assert ["camera_id", "string"] in [line.split() for line in text.splitlines()]
    assert "request template (meshctl call -d):" in text


async def test_http_service_lists_its_routes(platform, meshctl):
    await platform.start("auth")
    listed = await invoke(meshctl, "describe", "auth", "-o", "json")
    routes = {r["method"]: r["route"] for r in json.loads(listed.stdout)}
    assert routes["login"] == "POST /api/v1/auth/login"
    assert routes["health"] == "GET /api/v1/auth/health"
    login = json.loads((await invoke(meshctl, "describe", "auth", "login", "-o", "json")).stdout)
    assert login["route"] == "POST /api/v1/auth/login"
    assert set(login["template"]) == {"username", "password"}
    missing = await invoke(meshctl, "describe", "auth", "nosuch")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: auth has no method nosuch (methods: health, login")


async def test_errors(platform, meshctl):
    await platform.start("analytics")
    unknown = await invoke(meshctl, "describe", "ghost")
    assert (unknown.exit_code, unknown.stderr.splitlines()) == (
        2,
        ["error: unknown service 'ghost' (registered: analytics)"],
    )
    down = await invoke(meshctl, "describe", "alert")
    assert (down.exit_code, down.stderr) == (1, "error: No endpoints found for service alert\n")
    method = await invoke(meshctl, "describe", "analytics", "Nope")
    assert method.exit_code == 2
    assert method.stderr.startswith("error: analytics has no method Nope (methods: ")


def test_templates_parse_as_their_messages():
    for module in (common_pb2, analytics_pb2, alert_pb2):
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            cls = getattr(module, descriptor.name)
            json_format.ParseDict(template(descriptor), cls())  # raises when a placeholder is wrong
    frame: Any = common_pb2.Frame.DESCRIPTOR  # the stubs type it as the C or the Python class
    fields = {f.name: f for f in frame.fields}
    assert type_name(fields["detections"]) == "repeated its.v1.Detection"
    assert type_name(fields["timestamp"]) == "google.protobuf.Timestamp"
    assert type_name(fields["metadata"]) == "map<string, string>"
    assert type_name(fields["signal_phase"]) == "enum its.v1.SignalPhase"
    assert enum_placeholder(fields["signal_phase"].enum_type) != "SIGNAL_PHASE_UNSPECIFIED"
    assert template(frame)["metadata"] == {"key": ""}
    assert MAX_DEPTH >= 3


def test_recursion_is_bounded():
    from google.protobuf import descriptor_pb2, descriptor_pool

    proto = descriptor_pb2.FileDescriptorProto(name="tree_test.proto", package="t", syntax="proto3")
    node = proto.message_type.add(name="Node")
    node.field.add(name="label", number=1, type=9, label=1)
    node.field.add(name="child", number=2, type=11, label=1, type_name=".t.Node")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    assert template(pool.FindMessageTypeByName("t.Node")) == {"label": "", "child": {}}


def test_detail_text_and_healthiest():
    detail = {
        "service": "s", "path": "/p.S/M", "request_type": "p.Req", "response_type": "p.Res",
        "request_fields": [{"name": "a", "number": 1, "type": "string"}], "response_fields": [],
        "template": {"a": ""},
    }  # fmt: skip
    assert detail_text(detail) == (
        "s /p.S/M\n\nrequest p.Req\n  a  string\n\nresponse p.Res\n  (no fields)\n\n"
        'request template (meshctl call -d):\n{\n  "a": ""\n}\n'
    )
    sick = ServiceEndpoint("s", "h", 1, health_status=HealthStatus.UNHEALTHY)
    fine = ServiceEndpoint("s", "h", 2, health_status=HealthStatus.HEALTHY)
    assert healthiest([sick, fine]) is fine
