"""Journal: entries come back in order, survive a restart, a torn tail is cut, a corrupt entry is
quarantined and the rest kept, the bound holds."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.errors import JournalError
from producer.journal import Journal


def entries(n: int, size: int = 100) -> list[bytes]:
    return [bytes([i % 256]) * size + str(i).encode() for i in range(n)]


def test_entries_are_read_back_in_order(tmp_path):
    j = Journal(tmp_path, segment_bytes=4096)
    data = entries(200)
    for e in data:
        assert j.append(e)
    got, pos = j.read(max_entries=10_000, max_bytes=1 << 30)
    assert got == data
    j.commit(pos)
    assert j.pending_entries == 0 and j.unread == 0


def test_uncommitted_entries_are_replayed_after_a_restart(tmp_path):
    j = Journal(tmp_path, segment_bytes=4096)
    data = entries(50)
    for e in data:
        j.append(e)
    first, pos = j.read(max_entries=20)
    j.commit(pos)
    j.read(max_entries=10)  # read but never committed: the process died before delivering
    j.close()
    again = Journal(tmp_path, segment_bytes=4096)
    assert again.unread == 30
    got, _ = again.read(max_entries=1000)
    assert got == data[20:]


def test_fully_read_segments_are_deleted(tmp_path):
    j = Journal(tmp_path, segment_bytes=1024)
    for e in entries(100):
        j.append(e)
    assert len(list(tmp_path.glob("seg-*.log"))) > 5
    _, pos = j.read(max_entries=1000)
    j.commit(pos)
    assert len(list(tmp_path.glob("seg-*.log"))) == 1


def test_torn_tail_is_truncated_on_recovery(tmp_path):
    j = Journal(tmp_path)
    data = entries(5)
    for e in data:
        j.append(e)
    j.close()
    seg = next(tmp_path.glob("seg-*.log"))
    whole = seg.stat().st_size
    with seg.open("ab") as f:
        f.write(b"\x00\x00\x01\x00\xde\xad")  # a header and part of a payload: crash mid-write
    recovered = Journal(tmp_path)
    assert recovered.truncated_bytes == 6 and seg.stat().st_size == whole
    recovered.append(b"after")
    got, _ = recovered.read()
    assert got == [*data, b"after"]


def corrupt(tmp_path: Path, at: int, xor: int = 0xFF) -> None:
    seg = next(tmp_path.glob("seg-*.log"))
    raw = bytearray(seg.read_bytes())
    raw[at] ^= xor
    seg.write_bytes(bytes(raw))


def write(tmp_path: Path, data: list[bytes]) -> None:
    j = Journal(tmp_path)
    for e in data:
        j.append(e)
    j.close()


def test_a_corrupt_final_entry_is_quarantined_not_replayed(tmp_path):
    write(tmp_path, entries(3))
    corrupt(tmp_path, -1)  # a flipped bit in the last payload: CRC mismatch
    recovered = Journal(tmp_path)
    got, _ = recovered.read()
    assert got == entries(3)[:2]
    assert recovered.quarantined == 1 and recovered.truncated_bytes == 0
    (bad,) = (tmp_path / "quarantine").iterdir()
    assert bad.read_bytes()[8:] == bytes([x ^ (0xFF if i == len(entries(3)[2]) - 1 else 0)
                                          for i, x in enumerate(entries(3)[2])])


def test_one_flipped_byte_in_entry_2_of_10_loses_only_entry_2(tmp_path):
    data = entries(10)
    write(tmp_path, data)
    entry = 8 + len(data[0])
    corrupt(tmp_path, entry * 1 + 8 + 5)  # inside the second entry's payload
    recovered = Journal(tmp_path)
    got, _ = recovered.read(max_entries=100)
    assert got == data[:1] + data[2:]
    assert recovered.quarantined == 1 and recovered.pending_entries == 9
    recovered.append(b"after")  # appends land after the kept entries
    assert recovered.read()[0] == [b"after"]
    recovered.close()
    again = Journal(tmp_path)  # the repair is durable: a second recovery finds nothing wrong
    assert again.quarantined == 0 and again.read(max_entries=100)[0] == data[:1] + data[2:] + [b"after"]


def test_a_corrupt_length_field_is_skipped_by_finding_the_next_good_entry(tmp_path):
    data = entries(6)
    write(tmp_path, data)
    entry = 8 + len(data[0])
    corrupt(tmp_path, entry * 3, 0x40)  # the high byte of entry 4's length: it now points far away
    got, _ = Journal(tmp_path).read(max_entries=100)
    assert got == data[:3] + data[4:]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=200), min_size=2, max_size=30), st.data())
def test_a_corrupt_byte_anywhere_loses_at_most_the_entry_it_hit(payloads, data):
    with tempfile.TemporaryDirectory() as d:
        write(Path(d), payloads)
        seg = next(Path(d).glob("seg-*.log"))
        raw = bytearray(seg.read_bytes())
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[at] ^= data.draw(st.integers(min_value=1, max_value=255))
        seg.write_bytes(bytes(raw))
        got, _ = Journal(d).read(max_entries=1000, max_bytes=1 << 30)
        hit = next(i for i, end in enumerate(itertools.accumulate(8 + len(p) for p in payloads)) if at < end)
        assert got == payloads[:hit] + payloads[hit + 1:]


def test_an_empty_entry_is_refused(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        Journal(tmp_path).append(b"")


def test_append_refuses_past_the_bound_and_writes_nothing(tmp_path):
    j = Journal(tmp_path, max_bytes=1000)
    accepted = [j.append(b"x" * 100) for _ in range(20)]
    assert accepted.count(True) == 9 and not any(accepted[9:])
    assert j.disk_bytes <= 1000


def test_unknown_fsync_policy_is_rejected(tmp_path):
    with pytest.raises(JournalError, match="fsync policy"):
        Journal(tmp_path, fsync="sometimes")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=40), st.integers(min_value=0, max_value=1 << 20),
       st.integers(min_value=256, max_value=4096))
def test_a_crash_at_any_byte_leaves_a_readable_prefix(payloads, cut, segment_bytes):
    with tempfile.TemporaryDirectory() as d:
        j = Journal(d, segment_bytes=segment_bytes)
        for p in payloads:
            j.append(p)
        j.close()
        last = sorted(Path(d).glob("seg-*.log"))[-1]
        size = last.stat().st_size
        with last.open("r+b") as f:
            f.truncate(cut % (size + 1))  # the crash tore the last segment somewhere
        recovered = Journal(d, segment_bytes=segment_bytes)
        got, _ = recovered.read(max_entries=1000, max_bytes=1 << 30)
        assert got == payloads[: len(got)]
        recovered.append(b"next")
        again, _ = recovered.read()
        assert again == [b"next"]


def test_a_journal_directory_has_one_writer(tmp_path):
    first = Journal(tmp_path)
    with pytest.raises(JournalError, match="in use by another producer"):
        Journal(tmp_path)
    first.close()
    Journal(tmp_path).close()
