"""The digesting reader: digests of the whole file, whatever order its reader reads in."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from mediaguard.media.digesting import DigestingReader, FileDigests


def expected(data: bytes) -> FileDigests:
    return FileDigests(hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


@pytest.fixture
def data() -> bytes:
    return os.urandom(3 * (1 << 20) + 12_345)


def test_a_sequential_read_is_hashed_as_it_goes(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    while reader.read(32_768):
        pass
    assert reader.hashed == len(data)
    assert reader.finish() == expected(data)


def test_readinto_is_hashed_too(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    buffer = bytearray(65_536)
    while reader.readinto(buffer):
        pass
    assert reader.hashed == len(data)
    assert reader.finish() == expected(data)


def test_backward_seeks_and_overlapping_reads_are_hashed_once(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    reader.read(1000)
    reader.seek(0)
    reader.read(500)  # already hashed: ignored
    reader.seek(800)
    reader.read(400)  # overlaps: only bytes 1000..1200 are new
    assert reader.hashed == 1200
    reader.read()
    assert reader.finish() == expected(data)


def test_a_forward_gap_is_read_by_finish(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    reader.read(100)
    reader.seek(-5000, os.SEEK_END)  # an index at the end, read before the middle
    reader.read()
    assert reader.hashed == 100
    reader.seek(100)
    reader.read(50_000)
    assert reader.hashed == 50_100
    assert reader.finish() == expected(data)


def test_finish_keeps_the_position_and_later_reads_change_nothing(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    reader.read(10)
    assert reader.finish() == expected(data)
    assert reader.tell() == 10
    assert reader.read(5) == data[10:15]
    assert reader.finish() == expected(data)


def test_an_unread_file_is_hashed_whole(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    with path.open("rb") as raw:
        assert DigestingReader(raw).finish() == expected(data)


def test_finish_after_close_is_refused(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    reader.read(10)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.finish()


def hashing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "digests"]


def test_closing_without_finish_ends_the_hashing_thread(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    reader.read(1 << 20)
    assert hashing_threads()
    reader.close()
    assert not hashing_threads()


class BrokenHash:
    def update(self, data: object) -> None:
        raise MemoryError("no room to hash")


def test_a_hashing_failure_is_raised_by_finish_and_reading_never_waits(data: bytes) -> None:
    reader = DigestingReader(io.BytesIO(data))
    reader._sha256 = BrokenHash()  # type: ignore[assignment]
    reads = 0
    # Many more reads than the queue holds: a thread that stopped taking them would
    # leave this loop waiting for ever.
    while reader.read(4096):
        reads += 1
    assert reads > 100
    with pytest.raises(MemoryError, match="no room"):
        reader.finish()
    assert not hashing_threads()
