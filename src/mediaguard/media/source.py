"""Read a source's bytes, or just its first bytes, refusing what must not be read.

Why separate: this is the file-system edge of the media stage, shared by images and by
the scanner, which peeks at a source before it knows whether to read it whole (an image)
or stream it (a video). A path is opened non-blocking and checked with ``fstat`` before
anything is read, so a FIFO or a device cannot stall a scan and an oversized file is
refused from its size alone; nothing here decodes.
"""

from __future__ import annotations

import os
import stat

from mediaguard.errors import MediaTooLarge, UnreadableSource, UnsupportedMedia
from mediaguard.media.limits import Limits
from mediaguard.media.sniff import SNIFF_BYTES

__all__ = ["enforce_max_bytes", "peek", "read_source"]


def enforce_max_bytes(size: int, limits: Limits, what: str = "input") -> None:
    """Refuse input larger than ``limits.max_bytes``.

    Raises:
        MediaTooLarge: ``size`` exceeds the limit; the message names the setting.
    """
    if size > limits.max_bytes:
        raise MediaTooLarge(
            f"{what} is larger than limits.max_bytes ({limits.max_bytes} bytes); raise "
            "limits.max_bytes in the config to accept larger files"
        )


def _open_regular(path: str) -> tuple[int, int]:
    """Open ``path`` non-blocking and return ``(fd, size)`` once it is known to be a file.

    Opening non-blocking and checking with ``fstat`` means a FIFO or a device can never
    stall a scan; the caller closes the descriptor.

    Raises:
        UnreadableSource: the path is missing, a directory, not a regular file, or not
            readable.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as err:
        raise UnreadableSource(f"{path}: no such file") from err
    except PermissionError as err:
        raise UnreadableSource(f"{path}: permission denied") from err
    except OSError as err:
        raise UnreadableSource(f"{path}: cannot open ({err.strerror or err})") from err
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableSource(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableSource(f"{path}: not a regular file (device, pipe or socket)")
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def peek(source: str | os.PathLike[str] | bytes) -> tuple[bytes, int]:
    """The first :data:`SNIFF_BYTES` of a source and its size, reading nothing more.

    The scanner sniffs first and only then decides how to read: an image whole, a video
    as a stream.

    Raises:
        UnreadableSource: the path cannot be read (see :func:`read_source`).
    """
    if isinstance(source, bytes):
        return source[:SNIFF_BYTES], len(source)
    path = os.fspath(source)
    fd, size = _open_regular(path)
    try:
        with open(fd, "rb", closefd=False) as file:
            return file.read(SNIFF_BYTES), size
    except OSError as err:
        raise UnreadableSource(f"{path}: read failed ({err.strerror or err})") from err
    finally:
        os.close(fd)


def read_source(source: str | os.PathLike[str] | bytes, limits: Limits) -> bytes:
    """Return the bytes of a source, refusing oversized or unreadable ones before reading.

    ``bytes`` are the content itself (never a path). A path is opened non-blocking and
    checked with ``fstat`` before anything is read, so a FIFO or device cannot stall the
    scan and an oversized file is refused without reading it. At most
    ``limits.max_bytes + 1`` bytes are read, which also catches a file that grows while
    it is read.

    Args:
        source: a filesystem path, or the media bytes.
        limits: the limits to enforce; only ``max_bytes`` is used here.

    Raises:
        UnreadableSource: the path is missing, a directory, not a regular file, or not
            readable.
        MediaTooLarge: the content exceeds ``limits.max_bytes``.
        UnsupportedMedia: the content is empty.
    """
    if isinstance(source, bytes):
        enforce_max_bytes(len(source), limits)
        if not source:
            raise UnsupportedMedia("empty file")
        return source
    path = os.fspath(source)
    fd, size = _open_regular(path)
    try:
        enforce_max_bytes(size, limits, what=path)
        with open(fd, "rb", closefd=False) as file:
            # Sized to the file, not to the limit, so a small file never allocates
            # max_bytes; a file that grew since fstat is read on up to the limit.
            data = file.read(size + 1)
            if len(data) > size:
                data += file.read(limits.max_bytes + 1 - len(data))
    except OSError as err:
        raise UnreadableSource(f"{path}: read failed ({err.strerror or err})") from err
    finally:
        os.close(fd)
    enforce_max_bytes(len(data), limits, what=path)
    if not data:
        raise UnsupportedMedia(f"{path}: empty file")
    return data
