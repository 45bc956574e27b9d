"""The on-disk spool: bounded, ordered, batched, crash-safe, exact about its size, locked."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshctl.errors import SpoolFullError
from meshctl.events.spool import Spool, SpoolBatch, SpooledRecord
from meshctl.events.spooldir import SpoolInUseError, SpoolLock, private_spool_dir, spool_dirs


def record(i: int) -> SpooledRecord:
    return SpooledRecord("its.alert.sent", b"c", f'{{"i":{i}}}'.encode(), [("h", bytes([0, i]))])


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("segment-*.jsonl"))


def on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in segments(directory))


def drain(spool: Spool) -> list[SpooledRecord]:
    out: list[SpooledRecord] = []
    while (batch := spool.next_batch()) is not None:
        out.extend(batch.records)
        spool.commit(spool.begin(batch, {}))
        assert spool.size == on_disk(spool.directory)
    return out


def test_records_come_back_in_order_and_the_spool_empties(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(0), record(1)])
    spool.append([record(2)])
    assert drain(spool) == [record(0), record(1), record(2)]
    assert not spool and spool.size == 0 and spool.pending_bytes == 0
    assert segments(tmp_path) == []


def test_many_events_share_a_segment_until_it_rolls_over(tmp_path: Path) -> None:
    line = len(record(0).to_line())
    spool = Spool(tmp_path / "big", 1_000_000)
    for i in range(200):
        spool.append([record(i)])
    assert len(segments(tmp_path / "big")) == 1
    small = Spool(tmp_path / "small", 1_000_000, segment_bytes=line * 10)
    for i in range(95):
        small.append([record(i)])
    assert len(segments(tmp_path / "small")) == 10
    assert drain(small) == [record(i) for i in range(95)]


def test_batches_are_bounded_and_the_drain_reads_the_segment_being_written(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, 10_000, batch_records=2)
    spool.append([record(i) for i in range(5)])
    sizes = []
    while (batch := spool.next_batch()) is not None:
        sizes.append(len(batch.records))
        spool.commit(spool.begin(batch, {}))
        if len(sizes) == 1:
            spool.append([record(5)])  # appended while the drain is under way
    assert sizes == [2, 2, 2]


def test_size_matches_the_files_through_writes_replays_and_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 100_000, segment_bytes=200, batch_records=3)
    for i in range(20):
        spool.append([record(i)])
        assert spool.size == on_disk(tmp_path)
    batch = spool.next_batch()
    assert batch is not None
    spool.commit(spool.begin(batch, {}))
    assert spool.size == on_disk(tmp_path)
    reopened = Spool(tmp_path, 100_000, segment_bytes=200, batch_records=3)
    assert reopened.size == on_disk(tmp_path) > 0
    assert drain(reopened) == [record(i) for i in range(3, 20)]
    assert reopened.size == on_disk(tmp_path) == 0


def test_a_crash_mid_replay_hands_back_the_batch_in_flight_with_its_marks(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000, batch_records=2)
    spool.append([record(i) for i in range(3)])
    batch = spool.next_batch()
    assert batch is not None
    spool.begin(batch, {"its.alert.sent/0": 41})
    # The process dies here: sent or not, the broker's acks were never recorded.
    reopened = Spool(tmp_path, 10_000, batch_records=2)
    assert reopened.size == on_disk(tmp_path)
    again = reopened.next_batch()
    assert again == SpoolBatch(
        batch.segment, batch.start, batch.end, batch.records, [], {"its.alert.sent/0": 41}
    )
    reopened.commit(again)
    assert drain(reopened) == [record(2)]


def test_a_crash_after_the_cursor_moved_never_replays_the_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(0), record(1)])
    [segment] = segments(tmp_path)
    kept = tmp_path / "copy"
    shutil.copy(segment, kept)
    batch = spool.next_batch()
    assert batch is not None
    spool.commit(spool.begin(batch, {}))
    kept.rename(segment)  # as if the crash came before the delivered segment was deleted
    reopened = Spool(tmp_path, 10_000)
    assert reopened.next_batch() is None
    assert not reopened and reopened.size == on_disk(tmp_path) == 0
    reopened.append([record(2)])
    assert drain(reopened) == [record(2)]


def test_full_spool_raises_and_keeps_what_it_has(tmp_path: Path) -> None:
    spool = Spool(tmp_path, len(record(0).to_line()) * 2)
    spool.append([record(0), record(1)])
    with pytest.raises(SpoolFullError, match="full"):
        spool.append([record(2)])
    assert spool.size == on_disk(tmp_path)
    assert drain(spool) == [record(0), record(1)]


def test_corrupt_and_torn_lines_are_set_aside_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append([record(0)])
    [segment] = segments(tmp_path)
    with open(segment, "ab") as fh:
        fh.write(b"{half a line\n" + record(1).to_line() + b'{"torn')
    with caplog.at_level(logging.WARNING):
        reopened = Spool(tmp_path, 10_000)
        assert reopened.size == on_disk(tmp_path)
        reopened.append([record(2)])
        first = reopened.next_batch()
        assert first is not None and reopened.next_batch() == first  # read twice, not set aside
        reopened.commit(reopened.begin(first, {}))
    assert first.records == [record(0), record(1), record(2)]
    assert "corrupt" in caplog.text and "torn" in caplog.text
    [aside] = tmp_path.glob("corrupt-*.jsonl")
    assert aside.read_bytes() == b'{"torn\n{half a line\n'
    assert not reopened and reopened.size == on_disk(tmp_path) == 0


def test_limits_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        Spool(tmp_path, 0)


def test_a_spool_is_held_by_one_holder_at_a_time(tmp_path: Path) -> None:
    directory = private_spool_dir(tmp_path, "svc/a b")
    assert directory.name.startswith("svc_a_b-")
    assert private_spool_dir(tmp_path, "svc") != private_spool_dir(tmp_path, "svc")
    held = SpoolLock(directory)
    with pytest.raises(SpoolInUseError, match="in use by another process \\(pid "):
        SpoolLock(directory)
    assert spool_dirs(tmp_path) == [directory]
    held.release()
    again = SpoolLock(directory)  # free once released, as when its holder dies
    again.release(discard=True)
    assert not directory.exists() and spool_dirs(tmp_path) == []


def test_a_drained_private_spool_with_lines_set_aside_is_kept(tmp_path: Path) -> None:
    lock = SpoolLock(tmp_path / "s")
    (tmp_path / "s" / "corrupt-000000001.jsonl").write_bytes(b"x\n")
    lock.release(discard=True)
    assert (tmp_path / "s").is_dir()


def test_a_spool_of_the_shared_layout_before_locks_is_found_and_read(tmp_path: Path) -> None:
    legacy = tmp_path / "meshctl"
    legacy.mkdir()
    (legacy / "segment-000000003.jsonl").write_bytes(record(0).to_line() + record(1).to_line())
    (tmp_path / "not-a-spool").mkdir()
    assert spool_dirs(tmp_path) == [legacy]
    lock = SpoolLock(legacy)
    assert drain(Spool(legacy, 10_000)) == [record(0), record(1)]
    lock.release(discard=True)
    assert not legacy.exists()


def test_the_lock_of_a_process_that_died_is_free_again(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, str(directory)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            with pytest.raises(SpoolInUseError, match=f"pid {holder.pid}"):
                SpoolLock(directory)
        finally:
            holder.kill()  # no clean-up: as a crash leaves it
    SpoolLock(directory).release()


HOLD_AND_WAIT = """
import sys, time
from pathlib import Path
from meshctl.events.spooldir import SpoolLock
lock = SpoolLock(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(60)
"""


def test_a_record_keeps_its_timestamp_and_older_lines_without_one_still_read() -> None:
    stamped = SpooledRecord("its.alert.sent", None, b"{}", [], timestamp_ms=1_767_225_600_000)
    assert SpooledRecord.from_line(stamped.to_line()) == stamped
    before_timestamps = b'{"topic":"its.alert.sent","key":"c","value":"{}","headers":[]}\n'
    assert SpooledRecord.from_line(before_timestamps).timestamp_ms is None
