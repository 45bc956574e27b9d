"""The request template language: every placeholder, JSON checks, bad templates refused."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from meshctl.errors import InvalidRequestError
from meshctl.loadtest.template import Template, TemplateContext, load_lines


def render(text: str, n: int = 0, worker: int = 0, seed: int = 1):
    return Template.compile(text).render(TemplateContext(n, worker, random.Random(seed)))


def test_plain_json_passes_through():
    assert render('{"camera_id": "cam001", "limit": 10}') == {"camera_id": "cam001", "limit": 10}


def test_request_number_and_worker():
    assert render('{"id": {{n}}, "w": "w{{worker}}"}', n=41, worker=3) == {"id": 41, "w": "w3"}


def test_randint_stays_in_bounds_and_varies():
    template = Template.compile('{"x": {{randint 1 3}}}')
    ctx = TemplateContext(rng=random.Random(7))
    seen = {template.render(ctx)["x"] for _ in range(200)}
    assert seen == {1, 2, 3}


def test_choice_picks_among_the_words():
    template = Template.compile('{"cam": "{{choice cam1 cam2}}"}')
    ctx = TemplateContext(rng=random.Random(3))
    assert {template.render(ctx)["cam"] for _ in range(100)} == {"cam1", "cam2"}


def test_uuid_is_fresh_per_request():
    template = Template.compile('{"id": "{{uuid}}"}')
    ctx = TemplateContext(rng=random.Random(5))
    ids = [template.render(ctx)["id"] for _ in range(50)]
    assert len(set(ids)) == 50
    pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert all(re.fullmatch(pattern, i) for i in ids)


def test_now_is_an_iso_utc_timestamp():
    before = datetime.now(UTC)
    stamp = render('{"t": "{{now}}"}')["t"]
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert stamp.endswith("Z") and before <= parsed <= datetime.now(UTC)


def test_placeholders_tolerate_inner_spaces():
    assert render('{"n": {{ n }}}', n=2) == {"n": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"x": {{eval 1}}}', "unknown placeholder"),
        ('{"x": {{__import__}}}', "unknown placeholder"),
        ('{"x": {{}}}', "empty placeholder"),
        ('{"x": {{n 3}}}', "takes no arguments"),
        ('{"x": {{randint 1}}}', "two integers"),
        ('{"x": {{randint a b}}}', "two integers"),
        ('{"x": {{randint 5 1}}}', "greater than"),
        ('{"x": "{{choice}}"}', "at least one word"),
        ('{"x": {{n}', "unclosed"),
        ('{"x": "{{uuid}}"', "does not give JSON"),
        ('{"x": {{uuid}}}', "does not give JSON"),
        ("not json", "does not give JSON"),
    ],
)
def test_bad_templates_are_refused_when_compiled(text, message):
    with pytest.raises(InvalidRequestError, match=message):
        Template.compile(text)


def test_json_lines_skip_blanks_and_name_the_bad_line():
    assert load_lines(['{"a": 1}', "", " ", '{"a": 2}'], "f.jsonl") == [{"a": 1}, {"a": 2}]
    with pytest.raises(InvalidRequestError, match=r"f.jsonl:2: not JSON"):
        load_lines(['{"a": 1}', "{oops"], "f.jsonl")
    with pytest.raises(InvalidRequestError, match="holds no requests"):
        load_lines(["", ""], "f.jsonl")
