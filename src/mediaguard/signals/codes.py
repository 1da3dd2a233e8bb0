"""QR codes and barcodes read from frames with zxing-cpp.

Design note: zxing-cpp (Apache-2.0, no model files) reads QR, Micro QR, Data Matrix,
Aztec, EAN/UPC and Code 128 from the RGB frame the media stage already decoded, handed
over as an :class:`zxingcpp.ImageView` so no copy or colour conversion is made. It was
chosen over pyzbar (no Micro QR, Data Matrix or Aztec; needs Debian's libzbar0) and
OpenCV's QR detector (QR only, slower): see docs/performance.md for the figures. It costs
a few milliseconds per 512-pixel frame, so codes are read by default.

A payload is attacker-controlled bytes. What leaves here is bounded and printable: text
payloads keep at most :data:`MAX_TEXT` characters with control characters replaced,
and binary payloads are reported as hex of their first :data:`MAX_BINARY` bytes, with
the full length and a ``truncated`` flag, so junk can neither bloat a verdict nor smuggle
terminal escapes into a log. At most :data:`MAX_CODES` symbols are kept per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import numpy as np
import zxingcpp

from mediaguard.errors import ConfigError
from mediaguard.media.types import Frame
from mediaguard.signals.base import Box, ModelInfo

MAX_TEXT = 4096
MAX_BINARY = 256
MAX_CODES = 32

# Symbology names as the verdict reports them.
FORMATS: dict[zxingcpp.BarcodeFormat, str] = {
    zxingcpp.BarcodeFormat.QRCode: "qr_code",
    zxingcpp.BarcodeFormat.MicroQRCode: "micro_qr_code",
    zxingcpp.BarcodeFormat.DataMatrix: "data_matrix",
    zxingcpp.BarcodeFormat.Aztec: "aztec",
    zxingcpp.BarcodeFormat.EAN13: "ean_13",
    zxingcpp.BarcodeFormat.EAN8: "ean_8",
    zxingcpp.BarcodeFormat.UPCA: "upc_a",
    zxingcpp.BarcodeFormat.UPCE: "upc_e",
    zxingcpp.BarcodeFormat.Code128: "code_128",
}
_READ = zxingcpp.BarcodeFormats(
    (
        zxingcpp.BarcodeFormat.QRCode,
        zxingcpp.BarcodeFormat.MicroQRCode,
        zxingcpp.BarcodeFormat.DataMatrix,
        zxingcpp.BarcodeFormat.Aztec,
        zxingcpp.BarcodeFormat.EANUPC,
        zxingcpp.BarcodeFormat.Code128,
    )
)

# zxing-cpp's default local-average binarizer first; when it finds nothing, one pass with
# a fixed threshold, which reads small (2-3 pixel) modules seen at an angle that the
# local one misses, for about 1 ms more per 512-pixel frame (docs/performance.md).
_BINARIZERS = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.FixedThreshold)


@dataclass(frozen=True, slots=True)
class CodeRead:
    """One symbol decoded in one frame.

    Attributes:
        symbology: e.g. ``qr_code``, ``data_matrix``, ``ean_13`` (see :data:`FORMATS`).
        content: ``text`` when the payload is text, ``binary`` otherwise.
        payload: the text (at most :data:`MAX_TEXT` characters, control characters
            replaced by U+FFFD), or hex of the first :data:`MAX_BINARY` bytes.
        length: the payload's full length in bytes.
        truncated: ``payload`` holds less than the whole payload.
        box: axis-aligned bounds in pixels of the upright original image.
        frame: index of the frame in the source.
    """

    symbology: str
    content: Literal["text", "binary"]
    payload: str
    length: int
    truncated: bool
    box: Box
    frame: int


def model_info() -> ModelInfo:
    """Provenance of the code reader (a library, no weights) for ``mediaguard models``."""
    try:
        package_version = version("zxing-cpp")
    except PackageNotFoundError as err:  # a core dependency, so only a broken install
        raise ConfigError("codes: the zxing-cpp package is not installed") from err
    return ModelInfo(
        name="zxing-cpp",
        version=package_version,
        licence="Apache-2.0 (no model weights)",
        package="zxing-cpp",
        path=None,
    )


class CodeReader:
    """Reads QR codes and barcodes in frames; stateless apart from its provenance."""

    def __init__(self) -> None:
        self.model = model_info()

    def read(self, frames: Sequence[Frame]) -> list[list[CodeRead]]:
        """Symbols per frame, top to bottom then left to right, in input order."""
        return [self._frame(frame) for frame in frames]

    def _frame(self, frame: Frame) -> list[CodeRead]:
        view = zxingcpp.ImageView(
            np.ascontiguousarray(frame.pixels), frame.width, frame.height, zxingcpp.ImageFormat.RGB
        )
        found: list[zxingcpp.Barcode] = []
        for binarizer in _BINARIZERS:
            found = [
                code
                for code in zxingcpp.read_barcodes(view, formats=_READ, binarizer=binarizer)
                if code.valid and code.format in FORMATS
            ]
            if found:
                break
        reads = [self._read(code, frame) for code in found[:MAX_CODES]]
        return sorted(reads, key=lambda r: (r.box.y, r.box.x))

    @staticmethod
    def _read(code: zxingcpp.Barcode, frame: Frame) -> CodeRead:
        raw = bytes(code.bytes)
        # zxing-cpp calls a payload "binary" as soon as it holds a control character;
        # bytes that are valid UTF-8 are still reported as text (controls replaced), so
        # a URL behind an escape sequence is not hidden in hex.
        content: Literal["text", "binary"] = "text"
        if code.content_type is zxingcpp.ContentType.Binary:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                content = "binary"
        else:
            text = code.text
        if content == "text":
            payload = printable(text[:MAX_TEXT])
            truncated = len(text) > MAX_TEXT
        else:
            payload = raw[:MAX_BINARY].hex()
            truncated = len(raw) > MAX_BINARY
        return CodeRead(
            symbology=FORMATS[code.format],
            content=content,
            payload=payload,
            length=len(raw),
            truncated=truncated,
            box=_box(code.position, frame),
            frame=frame.index,
        )


def printable(text: str) -> str:
    """``text`` with control characters other than tab and newline replaced by U+FFFD."""
    return "".join(
        "\ufffd" if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 else c for c in text
    )


def _box(position: zxingcpp.Position, frame: Frame) -> Box:
    points = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    xs = [min(max(p.x, 0), frame.width) for p in points]
    ys = [min(max(p.y, 0), frame.height) for p in points]
    x0, y0 = min(xs) * frame.scale, min(ys) * frame.scale
    return Box(
        x=round(x0),
        y=round(y0),
        width=max(1, round(max(xs) * frame.scale - x0)),
        height=max(1, round(max(ys) * frame.scale - y0)),
    )
