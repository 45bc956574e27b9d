import pytest

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint


def test_defaults_and_address():
    ep = ServiceEndpoint("analytics", "10.0.0.5", 50052)
    assert ep.protocol == "grpc" and ep.weight == 1.0 and ep.metadata == {}
    assert ep.health_status is HealthStatus.UNKNOWN
    assert ep.address == "10.0.0.5:50052"
    assert len(ep.instance_id) == 12
    assert ServiceEndpoint("a", "::1", 80).address == "[::1]:80"


def test_json_round_trip():
    ep = ServiceEndpoint(
        "auth",
        "127.0.0.1",
        8000,
        "http",
        weight=2,
        metadata={"route.login": "/login"},
        zone="eu-1",
        version="1.2",
        health_status=HealthStatus.HEALTHY,
    )
    back = ServiceEndpoint.from_json(ep.to_json())
    assert back.to_dict() == ep.to_dict()
    assert back.health_status is HealthStatus.HEALTHY and back.weight == 2.0


def test_identity_is_service_and_instance():
    a = ServiceEndpoint("s", "h", 1, instance_id="i1")
    b = ServiceEndpoint("s", "other", 2, instance_id="i1", health_status=HealthStatus.UNHEALTHY)
    assert a == b and hash(a) == hash(b)
    assert a != ServiceEndpoint("s", "h", 1, instance_id="i2")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"host": "h", "port": 1}',
        b'{"service_name": "s", "host": "h", "port": "80"}',
        b'{"service_name": "s", "host": "h", "port": 70000}',
        b'{"service_name": "s", "host": "h", "port": 1, "protocol": "ftp"}',
        b'{"service_name": "s", "host": "h", "port": 1, "weight": -1}',
        b'{"service_name": "s", "host": "h", "port": 1, "health_status": "meh"}',
    ],
)
def test_garbage_records_raise_value_error(raw):
    with pytest.raises(ValueError):
        ServiceEndpoint.from_json(raw)
