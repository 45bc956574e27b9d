import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.core.tracestate import (
    LONG_MEMBER,
    MAX_MEMBERS,
    PROPAGATED_LENGTH,
    format_tracestate,
    parse_tracestate,
    propagated_tracestate,
    truncate,
)

KEYCHARS = string.ascii_lowercase + string.digits + "_-*/"
VALUECHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=")


@pytest.mark.parametrize(
    "key",
    [
        "a",
        KEYCHARS,  # every key character
        "z" * 256,
        "1tenant@system",  # a tenant id may start with a digit
        "t" * 241 + "@" + "v" * 14,  # the longest tenant and system ids
        "t@v",
        "t@" + KEYCHARS[:14],
    ],
)
def test_valid_keys(key):
    assert parse_tracestate(f"{key}=1") == ((key, "1"),)


@pytest.mark.parametrize(
    "key",
    [
        "FOO",  # upper case
        "1foo",  # a simple key starts with a letter
        "foo.bar",  # not a key character
        "foo bar",
        "_foo",
        "z" * 257,  # longer than 256
        "t" * 242 + "@v",  # tenant id longer than 241
        "t@" + "v" * 15,  # system id longer than 14
        "foo@",  # empty system id
        "@foo",  # empty tenant id
        "foo@1bar",  # a system id starts with a letter
        "foo@@bar",
        "foo@bar@baz",
        "fóo",
        "",
    ],
)
def test_an_invalid_key_drops_the_header(key):
    assert parse_tracestate(f"{key}=1,bar=2") is None


@pytest.mark.parametrize(
    "value",
    ["1", VALUECHARS.rstrip(), "v" * 256, " leading-space", "a b", "!~"],
)
def test_valid_values(value):
    assert parse_tracestate(f"foo={value}") == (("foo", value),)


@pytest.mark.parametrize(
    "member",
    [
        "foo=",  # empty value
        "foo= ",  # only a space (OWS) is no value either
        "foo=bar=baz",
        "foo=" + "v" * 257,
        "foo=a\tb",  # tabs, newlines and other controls are not printable
        "foo=a\nb",
        "foo=\x7f",
        "foo=é",
        "foo",  # no value
        "=1",  # no key
    ],
)
def test_an_invalid_value_or_member_drops_the_header(member):
    assert parse_tracestate(f"bar=2,{member}") is None


def test_optional_whitespace_and_empty_members_are_ignored():
    assert parse_tracestate(" \tfoo=1 \t , \t bar=2,\t baz=3\t") == (
        ("foo", "1"),
        ("bar", "2"),
        ("baz", "3"),
    )
    assert parse_tracestate(",, foo=1 ,,\t,") == (("foo", "1"),)


@pytest.mark.parametrize("header", ["", " ", " \t ", ",", " , ,\t,"])
def test_a_header_without_members_is_no_tracestate(header):
    assert parse_tracestate(header) is None
    assert propagated_tracestate(header) is None


def test_at_most_32_members():
    members = [f"k{i}={i}" for i in range(MAX_MEMBERS + 1)]
    assert len(parse_tracestate(",".join(members[:-1])) or ()) == MAX_MEMBERS
    assert parse_tracestate(",".join(members)) is None
    assert parse_tracestate(",".join(members[:-1]) + ",,,") is not None  # empty ones do not count


@pytest.mark.parametrize("header", ["foo=1,foo=1", "foo=1,bar=2,foo=2", "a@b=1,a@b=2"])
def test_a_repeated_key_drops_the_header(header):
    assert parse_tracestate(header) is None


def test_order_is_kept_and_the_canonical_form_has_no_whitespace():
    header = "rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE,,"
    assert propagated_tracestate(header) == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"


def test_a_list_that_fits_is_not_truncated():
    members = tuple((f"k{i:02}", "v" * 11) for i in range(MAX_MEMBERS))  # 32 * 16 - 1 = 511
    assert len(format_tracestate(members)) <= PROPAGATED_LENGTH
    assert truncate(members) == members
    assert propagated_tracestate(format_tracestate(members)) == format_tracestate(members)


def test_truncation_drops_long_members_first_then_from_the_right():
    long = "v" * LONG_MEMBER  # "kN=" + 128 characters: over LONG_MEMBER
    members = (("a", long), ("b", "1"), ("c", long), ("d", "2"), ("e", long), ("f", "v" * 110))
    assert len(format_tracestate(members)) > PROPAGATED_LENGTH
    # Dropping "e" (the right-most long member) is enough.
    assert truncate(members) == (members[0], *members[1:4], members[5])
    assert truncate(members, limit=120) == (("b", "1"), ("d", "2"), ("f", "v" * 110))
    assert truncate(members, limit=10) == (("b", "1"), ("d", "2"))
    assert truncate(members, limit=2) == ()


def test_a_long_header_is_propagated_truncated():
    members = [f"k{i:02}={'v' * 40}" for i in range(20)]  # 20 * 45 - 1 = 899
    propagated = propagated_tracestate(",".join(members))
    assert propagated == ",".join(members[:11])  # 11 * 45 - 1 = 494; 12 would be 539
    assert propagated_tracestate("k=" + "v" * 256 + ",x=" + "v" * 256) == "k=" + "v" * 256


key = st.from_regex(
    r"[a-z][a-z0-9_\-*/]{0,20}|[a-z0-9][a-z0-9_\-*/]{0,8}@[a-z][a-z0-9_]{0,5}", fullmatch=True
)
value = st.from_regex(
    r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,30}[\x21-\x2b\x2d-\x3c\x3e-\x7e]", fullmatch=True
)
ows = st.text(alphabet=" \t", max_size=2)


@given(
    st.lists(st.tuples(key, value), max_size=MAX_MEMBERS, unique_by=lambda m: m[0]),
    st.data(),
)
def test_a_valid_list_with_any_whitespace_parses_to_its_members(members, data):
    separators = data.draw(
        st.lists(st.tuples(ows, ows), min_size=len(members), max_size=len(members))
    )
    header = ",".join(f"{a}{k}={v}{b}" for (k, v), (a, b) in zip(members, separators, strict=True))
    assert parse_tracestate(header) == (tuple(members) or None)


@given(st.text() | st.text(alphabet=KEYCHARS + "@=, \t" + VALUECHARS[:8]))
def test_any_header_parses_to_nothing_or_a_list_that_round_trips(header):
    members = parse_tracestate(header)
    if members is not None:
        assert 1 <= len(members) <= MAX_MEMBERS
        assert parse_tracestate(format_tracestate(members)) == members
    propagated = propagated_tracestate(header)
    if propagated is not None:
        assert len(propagated) <= PROPAGATED_LENGTH
        assert propagated_tracestate(propagated) == propagated
