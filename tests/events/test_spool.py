"""The on-disk spool: bounded, ordered, crash-safe, tolerant of corrupt lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from meshctl.errors import SpoolFullError
from meshctl.events.spool import Spool, SpooledRecord


def record(i: int) -> SpooledRecord:
    return SpooledRecord("its.alert.sent", b"c", f'{{"i":{i}}}'.encode(), [("h", bytes([0, i]))])


def drain(spool: Spool) -> list[SpooledRecord]:
    out = []
    spool.seal()
    while (batch := spool.oldest()) is not None:
        path, records = batch
        out.extend(records)
        spool.consume(path, len(records))
    return out


def test_records_come_back_in_order_and_the_spool_empties(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(0), record(1)])
    spool.seal()
    spool.append([record(2)])
    assert drain(spool) == [record(0), record(1), record(2)]
    assert not spool and spool.size == 0
    assert list(tmp_path.iterdir()) == []


def test_partial_delivery_keeps_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(i) for i in range(3)])
    spool.seal()
    batch = spool.oldest()
    assert batch is not None
    spool.consume(batch[0], 1)
    assert drain(spool) == [record(1), record(2)]


def test_the_active_segment_is_not_drained_until_sealed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(0)])
    assert spool.oldest() is None
    spool.seal()
    assert spool.oldest() is not None


def test_full_spool_raises_and_keeps_what_it_has(tmp_path: Path) -> None:
    spool = Spool(tmp_path, len(record(0).to_line()) * 2)
    spool.append([record(0), record(1)])
    with pytest.raises(SpoolFullError, match="full"):
        spool.append([record(2)])
    assert drain(spool) == [record(0), record(1)]


def test_a_spool_survives_a_restart(tmp_path: Path) -> None:
    Spool(tmp_path, 10_000).append([record(0)])
    reopened = Spool(tmp_path, 10_000)
    assert reopened.size > 0
    reopened.append([record(1)])
    assert drain(reopened) == [record(0), record(1)]


def test_corrupt_lines_are_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(0)])
    segment = next(tmp_path.glob("segment-*.jsonl"))
    with open(segment, "ab") as fh:
        fh.write(b"{half a line\n")
    reopened = Spool(tmp_path, 10_000)
    reopened.append([record(1)])
    with caplog.at_level(logging.WARNING):
        assert drain(reopened) == [record(0), record(1)]
    assert "corrupt" in caplog.text
    aside = list(tmp_path.glob("corrupt-*.jsonl"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"{half a line\n"
    assert reopened.size == 0


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        Spool(tmp_path, 0)
