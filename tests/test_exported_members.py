"""``meshctl.__all__`` names exactly what the package exports, and every name resolves."""

import subprocess
import sys

import meshctl

SPEC_NAMES = {
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitState",
    "CircuitBreakerOpenError",
    "LoadBalancer",
    "LoadBalancingStrategy",
    "ServiceEndpoint",
    "HealthStatus",
    "ServiceRegistry",
    "CorrelationContext",
    "ServiceMeshClient",
    "get_service_mesh",
}


def test_all_names_resolve():
    for name in meshctl.__all__:
        assert getattr(meshctl, name) is not None, name


def test_the_spec_names_are_public():
    assert SPEC_NAMES <= set(meshctl.__all__)


def test_exported_classes_say_where_they_live():
    for name in meshctl.__all__:
        member = getattr(meshctl, name)
        if isinstance(member, type):
            assert member.__module__.startswith("meshctl."), name


def test_unknown_names_raise_attribute_error():
    try:
        meshctl.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_stays_light():
    code = (
        "import sys, meshctl; "
        "heavy = [m for m in ('grpc', 'redis', 'aiokafka', 'textual') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_lists_exactly_the_lazy_exports():
    assert set(meshctl.__all__) == {"__version__", *meshctl._EXPORTS}
