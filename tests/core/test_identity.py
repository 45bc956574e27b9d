"""SPIFFE identities and the renewal decision, over every boundary."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.core.identity import (
    DEFAULT_TRUST_DOMAIN,
    IdentityError,
    Renewal,
    SpiffeId,
    client_id,
    renew_at,
    renewal,
    service_id,
    validate_trust_domain,
)


def test_service_and_client_ids_format():
    assert str(service_id("analytics")) == "spiffe://mesh.local/service/analytics"
    assert str(client_id("meshctl", "prod.example")) == "spiffe://prod.example/client/meshctl"
    assert service_id("a").trust_domain == DEFAULT_TRUST_DOMAIN


def test_parse_round_trips():
    parsed = SpiffeId.parse("spiffe://its.example/service/alert")
    assert parsed == SpiffeId("its.example", "service", "alert")
    assert str(parsed) == "spiffe://its.example/service/alert"


@pytest.mark.parametrize(
    "uri",
    [
        "http://mesh.local/service/a",
        "spiffe://mesh.local/service",
        "spiffe://mesh.local/service/a/b",
        "spiffe://mesh.local/robot/a",
        "spiffe://Mesh.Local/service/a",
        "spiffe:///service/a",
        "spiffe://mesh.local/service/",
        "spiffe://mesh.local/service/..",
        "spiffe://mesh.local/service/a b",
        "spiffe://mesh.local:8080/service/a",
    ],
)
def test_parse_refuses_what_is_not_a_mesh_identity(uri):
    with pytest.raises(IdentityError):
        SpiffeId.parse(uri)


def test_errors_are_bad_input():
    with pytest.raises(IdentityError) as caught:
        validate_trust_domain("UPPER")
    assert caught.value.exit_code == 2
    assert "UPPER" in str(caught.value)


def test_trust_domain_length_bound():
    assert validate_trust_domain("a" * 255) == "a" * 255
    with pytest.raises(IdentityError):
        validate_trust_domain("a" * 256)


names = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}", fullmatch=True)
domains = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True)


@given(domains, st.sampled_from(["service", "client"]), names)
def test_every_valid_identity_round_trips(domain, kind, name):
    identity = SpiffeId(domain, kind, name)
    assert SpiffeId.parse(str(identity)) == identity


# A 24 h certificate from t=1000: renewal is due at 2/3, i.e. 16 h in.
START, END = 1000.0, 1000.0 + 24 * 3600
DUE = START + 16 * 3600


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - 1, Renewal.NOT_YET_VALID),
        (START, Renewal.VALID),
        (DUE - 0.001, Renewal.VALID),
        (DUE, Renewal.RENEW),
        (END - 0.001, Renewal.RENEW),
        (END, Renewal.EXPIRED),
        (END + 3600, Renewal.EXPIRED),
    ],
)
def test_renewal_at_each_boundary(now, expected):
    assert renewal(START, END, now) is expected


def test_renewal_point_is_configurable():
    assert renew_at(0, 100, at=0.5) == 50
    assert renewal(0, 100, 50, at=0.5) is Renewal.RENEW
    assert renewal(0, 100, 49, at=0.5) is Renewal.VALID


@pytest.mark.parametrize("at", [0, -0.1, 1.01])
def test_renewal_point_outside_the_lifetime_is_refused(at):
    with pytest.raises(ValueError):
        renew_at(0, 100, at=at)


def test_empty_validity_is_refused():
    with pytest.raises(ValueError):
        renewal(100, 100, 100)


@given(
    st.floats(0, 1e9),
    st.floats(1, 1e7),
    st.floats(-1e7, 2e7),
    st.floats(0.01, 1),
)
def test_renewal_is_monotonic_in_time(start, lifetime, offset, at):
    order = [Renewal.NOT_YET_VALID, Renewal.VALID, Renewal.RENEW, Renewal.EXPIRED]
    end = start + lifetime
    first = renewal(start, end, start + offset, at)
    later = renewal(start, end, start + offset + lifetime / 10, at)
    assert order.index(later) >= order.index(first)
    if start <= start + offset < end:
        assert first in (Renewal.VALID, Renewal.RENEW)
