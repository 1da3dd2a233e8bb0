"""QR codes and barcodes on real photos: module sizes, blur, perspective, hostile payloads."""

from __future__ import annotations

import io
import os

import pytest
import segno
import zxingcpp

from mediaguard import media
from mediaguard.media.limits import Limits
from mediaguard.signals import codes
from mediaguard.signals.codes import CodeRead, CodeReader

from . import builders
from .measure import overlap

URL = "https://login.phish.example/verify?id=42"


def _read(reader: CodeReader, data: bytes, working_size: int = 512) -> list[CodeRead]:
    return reader.read(media.load(data, Limits(), working_size).frames)[0]


@pytest.mark.parametrize(
    ("photo", "module_px", "blur", "perspective"),
    [
        ("chelsea.png", 4.0, 0.0, 0.0),
        ("coffee.png", 6.0, 1.5, 0.0),
        ("astronaut.png", 5.0, 0.8, 0.25),
        ("rocket.jpg", 8.0, 2.0, 0.15),
    ],
)
def test_a_pasted_qr_code_is_read_with_its_box(
    code_reader: CodeReader, photo: str, module_px: float, blur: float, perspective: float
) -> None:
    drawn = builders.code_image(
        photo, URL, module_px=module_px, blur=blur, perspective=perspective, quality=80
    )
    (read,) = _read(code_reader, drawn.data)
    assert (read.symbology, read.content, read.payload) == ("qr_code", "text", URL)
    assert read.length == len(URL.encode())
    assert not read.truncated
    size = round(builders.qr_image(URL).width * module_px)
    at = (drawn.width // 2, drawn.height // 4)
    # The symbol proper sits inside its 4-module quiet zone.
    quiet = round(4 * module_px)
    truth = (at[0] + quiet, at[1] + quiet, size - 2 * quiet, size - 2 * quiet)
    assert overlap(truth, (read.box.x, read.box.y, read.box.width, read.box.height)) > 0.6


@pytest.mark.parametrize(
    ("fmt", "payload", "name"),
    [
        (zxingcpp.BarcodeFormat.DataMatrix, "https://dm.example/x", "data_matrix"),
        (zxingcpp.BarcodeFormat.Aztec, "AZTEC PAYLOAD 123", "aztec"),
        (zxingcpp.BarcodeFormat.EAN13, "4006381333931", "ean_13"),
        (zxingcpp.BarcodeFormat.Code128, "MG-CODE-128", "code_128"),
    ],
)
def test_other_symbologies_are_named(
    code_reader: CodeReader, fmt: zxingcpp.BarcodeFormat, payload: str, name: str
) -> None:
    symbol = builders.zxing_symbol(fmt, payload)
    drawn = builders.code_image("coffee.png", payload, symbol=symbol, module_px=3.0)
    reads = _read(code_reader, drawn.data, working_size=1024)
    assert [(r.symbology, r.payload) for r in reads] == [(name, payload)]


def test_micro_qr_is_read(code_reader: CodeReader) -> None:
    symbol = builders.qr_image("MG42", micro=True)
    drawn = builders.code_image("chelsea.png", "MG42", symbol=symbol, module_px=6.0)
    assert [(r.symbology, r.payload) for r in _read(code_reader, drawn.data)] == [
        ("micro_qr_code", "MG42")
    ]


def _qr_of_bytes(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    segno.make(payload, error="l", mode="byte").save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def test_binary_junk_is_reported_as_bounded_hex(code_reader: CodeReader) -> None:
    junk = os.urandom(1200)
    (read,) = _read(code_reader, _qr_of_bytes(junk), working_size=2048)
    assert read.content == "binary"
    assert read.length == len(junk)
    assert read.truncated
    assert read.payload == junk[: codes.MAX_BINARY].hex()


def test_control_characters_in_a_text_payload_are_replaced(code_reader: CodeReader) -> None:
    payload = "pay here\x1b[31m\x07 https://x.example"
    (read,) = _read(code_reader, _qr_of_bytes(payload.encode()), working_size=1024)
    assert read.content == "text"
    assert read.payload == "pay here\ufffd[31m\ufffd https://x.example"
    assert codes.printable("a\tb\nc\x00\x9b") == "a\tb\nc\ufffd\ufffd"


def test_no_false_payloads_on_the_sample_photos(code_reader: CodeReader) -> None:
    for name in (*builders.PHOTOS, "camera.png", "hubble_deep_field.jpg"):
        data = builders.encode(builders.photo(name))
        assert _read(code_reader, data, working_size=1024) == [], name
