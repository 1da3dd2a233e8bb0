"""Reading sources: limits before reading, typed errors for what is not a readable file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaguard.media import (
    Limits,
    MediaTooLarge,
    UnreadableSource,
    UnsupportedMedia,
    load,
    read_source,
)

from .builders import PhotoSource


@pytest.fixture
def photo_path(tmp_path: Path, photo_jpeg_bytes: bytes) -> Path:
    path = tmp_path / "hopper.jpg"
    path.write_bytes(photo_jpeg_bytes)
    return path


@pytest.mark.parametrize(
    "as_source", [pytest.param(str, id="str"), pytest.param(lambda p: p, id="pathlike")]
)
def test_path_gives_the_file_bytes(
    photo_path: Path, as_source: Callable[[Path], str | os.PathLike[str]]
) -> None:
    assert read_source(as_source(photo_path), Limits()) == photo_path.read_bytes()


def test_bytes_are_content_not_a_path(photo_jpeg_bytes: bytes) -> None:
    assert read_source(photo_jpeg_bytes, Limits()) is photo_jpeg_bytes


def test_symlink_to_a_file_is_followed(photo_path: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.jpg"
    link.symlink_to(photo_path)

    assert read_source(link, Limits()) == photo_path.read_bytes()


def test_file_at_the_byte_limit_is_read(photo_path: Path) -> None:
    size = photo_path.stat().st_size

    assert len(read_source(photo_path, Limits(max_bytes=size))) == size


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    # Sparse: 300 MiB on paper, nothing on disk, and nothing is read.
    path = tmp_path / "huge.bin"
    with path.open("wb") as file:
        file.truncate(300 * 1024 * 1024)

    with pytest.raises(MediaTooLarge, match=r"limits\.max_bytes \(209715200 bytes\); raise"):
        read_source(path, Limits())


def test_oversized_bytes_are_refused() -> None:
    with pytest.raises(MediaTooLarge, match=r"limits\.max_bytes"):
        read_source(b"x" * 11, Limits(max_bytes=10))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda tmp: tmp / "missing.jpg", "no such file", id="missing"),
        pytest.param(lambda tmp: tmp, "is a directory, not a file", id="directory"),
        pytest.param(lambda tmp: Path(os.devnull), "not a regular file", id="char-device"),
    ],
)
def test_unreadable_path_is_a_typed_error(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(UnreadableSource, match=message):
        read_source(make(tmp_path), Limits())


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)

    with pytest.raises(UnreadableSource, match="not a regular file"):
        read_source(fifo, Limits())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission(photo_path: Path) -> None:
    photo_path.chmod(0)

    with pytest.raises(UnreadableSource, match="permission denied"):
        read_source(photo_path, Limits())


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()

    with pytest.raises(UnsupportedMedia, match="empty file"):
        read_source(path, Limits())


def test_empty_bytes() -> None:
    with pytest.raises(UnsupportedMedia, match=r"^empty file$"):
        read_source(b"", Limits())


def test_format_comes_from_content_not_name(tmp_path: Path, photos: PhotoSource) -> None:
    page = tmp_path / "holiday.jpg"
    page.write_bytes(b"<!doctype html><html><body>not a photo</body></html>")
    png_named_gif = tmp_path / "cat.gif"
    png_named_gif.write_bytes(photos.encode(photos.pixels("chelsea"), "png"))

    with pytest.raises(UnsupportedMedia, match="looks like HTML/text"):
        load(read_source(page, Limits()), Limits())
    assert load(read_source(png_named_gif, Limits()), Limits()).facts.format.name == "png"
