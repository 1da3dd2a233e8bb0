"""Receiving uploads: a raw body or ``multipart/form-data``, size-limited while streaming.

Design note: the size limit must hold *before* the bytes are buffered, or a client can
make the server read (and store) gigabytes only to refuse them. So the request is read
straight from the ASGI stream, chunk by chunk: a declared ``Content-Length`` over the
limit is refused before a byte is read, and a body without one (chunked encoding) is
refused as soon as the running count passes the limit. FastAPI's ``UploadFile`` is not
used for that reason: it parses the whole body before the handler runs.

Multipart bodies are parsed incrementally by python-multipart's push parser. Its
callbacks only record events; the file data is then written by this module, to memory
(a synchronous scan needs the bytes) or to a spool file (jobs), so a video is never held
in memory. Each file's SHA-256 and first bytes (for sniffing) are computed on the way.

The parts called ``file`` or ``files`` are the uploads; any other part is refused, so a
typo in a field name is an error rather than a silently empty upload.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from mediaguard.media.sniff import SNIFF_BYTES
from mediaguard.service.errors import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELDS: Final = frozenset({"file", "files"})
# Room for boundaries and part headers on top of the file bytes of a multipart body.
_PART_OVERHEAD: Final = 16 * 1024
_MAX_PART_HEADERS: Final = 16 * 1024
_UNSAFE_NAME: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(slots=True)
class ReceivedFile:
    """One received upload: in memory (``data``) or in a spool file (``path``)."""

    name: str
    size: int = 0
    field: str = ""
    sha256: str = ""
    head: bytes = b""
    data: bytes | None = None
    path: Path | None = None


@dataclass(slots=True)
class _Writer:
    """Where one file's bytes go while they arrive."""

    received: ReceivedFile
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    head: bytearray = field(default_factory=bytearray)
    memory: bytearray | None = None
    handle: IO[bytes] | None = None

    async def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.received.size += len(chunk)
        if self.memory is not None:
            self.memory += chunk
        elif self.handle is not None:
            await anyio.to_thread.run_sync(self.handle.write, chunk)

    def finish(self) -> ReceivedFile:
        if self.handle is not None:
            self.handle.close()
        self.received.sha256 = self.digest.hexdigest()
        self.received.head = bytes(self.head)
        if self.memory is not None:
            self.received.data = bytes(self.memory)
        return self.received


def too_large(limit: int) -> ApiError:
    """The 413 answer for an upload over ``limit`` bytes."""
    return ApiError(
        413,
        "payload_too_large",
        f"the upload exceeds this endpoint's limit of {limit} bytes",
        headers={"Connection": "close"},
    )


def clean_name(raw: str | None, fallback: str) -> str:
    """A file name safe to record and show: its last path part, no control characters."""
    if not raw:
        return fallback
    name = _UNSAFE_NAME.sub("", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:255] or fallback


class _Receiver:
    """Reads one request body into :class:`ReceivedFile` values."""

    def __init__(
        self,
        *,
        limit: int,
        max_files: int,
        new_path: Callable[[], Path] | None,
        default_name: str,
        fields: frozenset[str] = FILE_FIELDS,
    ) -> None:
        self.fields = fields
        self.limit = limit
        self.max_files = max_files
        self.new_path = new_path
        self.default_name = default_name
        self.files: list[ReceivedFile] = []
        self.writers: list[_Writer] = []
        self.total = 0

    def _open(self, name: str, field_name: str = "") -> _Writer:
        if len(self.writers) >= self.max_files:
            raise ApiError(400, "too_many_files", f"at most {self.max_files} file(s) per request")
        received = ReceivedFile(name=name, field=field_name)
        writer = _Writer(received)
        if self.new_path is None:
            writer.memory = bytearray()
        else:
            received.path = self.new_path()
            writer.handle = received.path.open("xb")
        self.writers.append(writer)
        return writer

    async def _add(self, writer: _Writer, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self.limit:
            raise too_large(self.limit)
        await writer.write(chunk)

    def cleanup(self) -> None:
        """Close and delete whatever was received, after a failure."""
        for writer in self.writers:
            if writer.handle is not None:
                writer.handle.close()
            if writer.received.path is not None:
                writer.received.path.unlink(missing_ok=True)

    async def raw(self, request: Request) -> list[ReceivedFile]:
        writer = self._open(self.default_name)
        async for chunk in request.stream():
            if chunk:
                await self._add(writer, chunk)
        return [writer.finish()]

    async def multipart(self, request: Request, boundary: bytes) -> list[ReceivedFile]:
        events: list[tuple[str, bytes]] = []
        header_bytes = 0

        def data(kind: str) -> Callable[[bytes, int, int], None]:
            def record(buf: bytes, start: int, end: int) -> None:
                events.append((kind, buf[start:end]))

            return record

        def mark(kind: str) -> Callable[[], None]:
            return lambda: events.append((kind, b""))

        callbacks: MultipartCallbacks = {
            "on_part_begin": mark("begin"),
            "on_header_field": data("field"),
            "on_header_value": data("value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_done"),
            "on_part_data": data("data"),
            "on_part_end": mark("end"),
            "on_end": mark("finished"),
        }
        parser = MultipartParser(boundary, callbacks)
        raw_total = 0
        raw_limit = self.limit + _PART_OVERHEAD * (self.max_files + 1)
        header_name = bytearray()
        header_value = bytearray()
        disposition = b""
        current: _Writer | None = None
        finished = False
        async for chunk in request.stream():
            raw_total += len(chunk)
            if raw_total > raw_limit:
                raise too_large(self.limit)
            try:
                parser.write(chunk)
            except MultipartParseError as err:
                raise ApiError(
                    400, "invalid_multipart", f"malformed multipart body: {err}"
                ) from err
            for kind, value in events:
                if kind == "begin":
                    disposition, current, header_bytes = b"", None, 0
                elif kind in ("field", "value"):
                    header_bytes += len(value)
                    if header_bytes > _MAX_PART_HEADERS:
                        raise ApiError(400, "invalid_multipart", "multipart part headers too long")
                    (header_name if kind == "field" else header_value).extend(value)
                elif kind == "header_end":
                    if bytes(header_name).lower() == b"content-disposition":
                        disposition = bytes(header_value)
                    header_name.clear()
                    header_value.clear()
                elif kind == "headers_done":
                    current = self._open(*self._file_name(disposition))
                elif kind == "data" and current is not None:
                    await self._add(current, value)
                elif kind == "end" and current is not None:
                    self.files.append(current.finish())
                    current = None
                elif kind == "finished":
                    finished = True
            events.clear()
        if not finished:
            raise ApiError(400, "invalid_multipart", "the multipart body ended early")
        return self.files

    def _file_name(self, disposition: bytes) -> tuple[str, str]:
        kind, params = parse_options_header(disposition)
        field_name = params.get(b"name", b"").decode("utf-8", "replace")
        if kind != b"form-data" or field_name not in self.fields:
            expected = " or ".join(f"`{f}`" for f in sorted(self.fields))
            raise ApiError(
                400,
                "unexpected_field",
                f"unexpected multipart part {field_name!r}; send the media as {expected}",
            )
        filename = params.get(b"filename")
        fallback = f"{self.default_name}-{len(self.writers) + 1}"
        name = clean_name(filename.decode("utf-8", "replace") if filename else None, fallback)
        return name, field_name


async def receive(
    request: Request,
    *,
    limit: int,
    max_files: int = 1,
    spool: Callable[[], Path] | None = None,
    default_name: str = "upload",
    fields: frozenset[str] = FILE_FIELDS,
) -> list[ReceivedFile]:
    """Read the uploaded file(s) of ``request``, refusing more than ``limit`` bytes early.

    Args:
        request: the request; its body is consumed.
        limit: most bytes of file data accepted, all files together.
        max_files: most files accepted (a raw body is one file).
        spool: makes a fresh path for each file, which is then written to disk; None
            keeps the bytes in memory.
        default_name: the name of a raw body or of a part without a file name.
        fields: the multipart field names a file may come in (HMA names the field after
            the content type, ``photo`` or ``video``); each file records its field.

    Returns:
        The files, in the order they were sent (possibly empty files).

    Raises:
        ApiError: 413 ``payload_too_large`` (before buffering the body), 400
            ``missing_file``, ``too_many_files``, ``unexpected_field``,
            ``invalid_multipart`` or ``bad_content_length``.
    """
    content_type, params = parse_options_header(request.headers.get("content-type"))
    is_multipart = content_type == b"multipart/form-data"
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_content_length", "Content-Length is not a number")
        allowance = _PART_OVERHEAD * (max_files + 1) if is_multipart else 0
        if int(declared) > limit + allowance:
            raise too_large(limit)
    receiver = _Receiver(
        limit=limit,
        max_files=max_files,
        new_path=spool,
        default_name=clean_name(default_name, "upload"),
        fields=fields,
    )
    try:
        if is_multipart:
            boundary = params.get(b"boundary")
            if not boundary:
                raise ApiError(400, "invalid_multipart", "multipart body without a boundary")
            files = await receiver.multipart(request, boundary)
        else:
            files = await receiver.raw(request)
    except ClientDisconnect as err:
        receiver.cleanup()
        raise ApiError(400, "client_disconnected", "the client went away mid-upload") from err
    except BaseException:
        receiver.cleanup()
        raise
    if not files:
        receiver.cleanup()
        raise ApiError(400, "missing_file", "no file in the request; send it as `file`")
    return files


async def receive_bytes(request: Request, *, limit: int, label: str | None) -> tuple[bytes, str]:
    """The one file of a request handled at once, in memory, and the name to record it by.

    ``label`` (the caller's ``?name=``) wins over the upload's own file name.

    Raises:
        ApiError: 400 ``empty_upload`` for an empty file, and what :func:`receive` raises.
    """
    upload = (await receive(request, limit=limit))[0]
    if upload.size == 0 or upload.data is None:
        raise ApiError(400, "empty_upload", "the upload is empty")
    return upload.data, clean_name(label, upload.name)
