"""Format recognition from bytes: every supported format, and the refusals."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from mediaguard.media import (
    SNIFF_BYTES,
    Limits,
    MediaKind,
    UnsupportedMedia,
    load,
    sniff,
)

from . import builders
from .builders import PhotoSource

IMAGE_MIMES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heif": "image/heif",
    "avif": "image/avif",
}


@pytest.mark.parametrize("fmt", [pytest.param(name, id=name) for name in IMAGE_MIMES])
def test_real_encoded_photo_is_recognised(photos: PhotoSource, fmt: str) -> None:
    data = photos.encode(photos.pixels("coffee"), fmt)

    found = sniff(data[:SNIFF_BYTES])

    assert (found.name, found.mime, found.kind) == (fmt, IMAGE_MIMES[fmt], MediaKind.IMAGE)


@pytest.mark.parametrize(
    ("name", "package_file"),
    [
        pytest.param("jpeg", "rocket", id="skimage-rocket-jpeg"),
        pytest.param("jpeg", "grace_hopper", id="matplotlib-grace-hopper-jpeg"),
        pytest.param("png", "astronaut", id="skimage-astronaut-png"),
    ],
)
def test_shipped_photo_files_are_recognised(
    photos: PhotoSource, name: str, package_file: str
) -> None:
    assert sniff(photos.file(package_file)).name == name


@pytest.mark.parametrize(
    ("head", "name", "mime"),
    [
        pytest.param(builders.ftyp(b"heic", b"mif1", b"heic"), "heif", "image/heif", id="heic"),
        pytest.param(builders.ftyp(b"mif1", b"mif1", b"heic"), "heif", "image/heif", id="mif1"),
        pytest.param(builders.ftyp(b"heix", b"mif1"), "heif", "image/heif", id="heix"),
        pytest.param(
            builders.ftyp(b"msf1", b"hevc", b"iso8"), "heif", "image/heif-sequence", id="msf1"
        ),
        pytest.param(builders.ftyp(b"avif", b"mif1", b"miaf"), "avif", "image/avif", id="avif"),
        pytest.param(
            builders.ftyp(b"mif1", b"mif1", b"avif"), "avif", "image/avif", id="mif1-with-avif"
        ),
        pytest.param(builders.ftyp(b"avis", b"msf1"), "avif", "image/avif", id="avis"),
        pytest.param(b"BM" + bytes(12) + (40).to_bytes(4, "little"), "bmp", "image/bmp", id="bmp"),
        pytest.param(b"MM\x00*" + bytes(60), "tiff", "image/tiff", id="tiff-big-endian"),
        pytest.param(b"II+\x00" + bytes(60), "tiff", "image/tiff", id="bigtiff"),
    ],
)
def test_image_headers(head: bytes, name: str, mime: str) -> None:
    found = sniff(head)

    assert (found.name, found.mime, found.kind) == (name, mime, MediaKind.IMAGE)


@pytest.mark.parametrize(
    ("head", "name", "mime"),
    [
        pytest.param(builders.ftyp(b"isom", b"isom", b"avc1"), "mp4", "video/mp4", id="isom"),
        pytest.param(builders.ftyp(b"mp42", b"mp41"), "mp4", "video/mp4", id="mp42"),
        pytest.param(builders.ftyp(b"iso2"), "mp4", "video/mp4", id="iso2"),
        pytest.param(builders.ftyp(b"dash", b"iso6"), "mp4", "video/mp4", id="dash"),
        pytest.param(builders.ftyp(b"M4V ", b"M4A "), "mp4", "video/x-m4v", id="m4v"),
        pytest.param(builders.ftyp(b"3gp5", b"isom"), "mp4", "video/3gpp", id="3gp"),
        pytest.param(builders.ftyp(b"3g2a"), "mp4", "video/3gpp2", id="3g2"),
        pytest.param(builders.ftyp(b"qt  ", b"qt  "), "mov", "video/quicktime", id="mov"),
        pytest.param(
            b"\x00\x00\x00\x20moov" + bytes(24), "mov", "video/quicktime", id="mov-no-ftyp"
        ),
        pytest.param(builders.ftyp(b"isom", box_size=12), "mp4", "video/mp4", id="ftyp-short-box"),
        pytest.param(builders.ebml(b"webm"), "webm", "video/webm", id="webm"),
        pytest.param(builders.ebml(b"matroska"), "matroska", "video/x-matroska", id="mkv"),
        pytest.param(builders.ebml(None), "matroska", "video/x-matroska", id="ebml-no-doctype"),
        pytest.param(builders.riff(b"AVI ", b"LIST"), "avi", "video/x-msvideo", id="avi"),
        pytest.param(b"FLV\x01\x05" + bytes(59), "flv", "video/x-flv", id="flv"),
        pytest.param(builders.mpegts(), "mpegts", "video/mp2t", id="mpegts"),
        pytest.param(builders.mpegts(packet_size=192), "mpegts", "video/mp2t", id="m2ts"),
        pytest.param(b"\x00\x00\x01\xba\x44" + bytes(59), "mpegps", "video/mpeg", id="mpegps"),
        pytest.param(
            bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(48),
            "asf",
            "video/x-ms-asf",
            id="asf-wmv",
        ),
        pytest.param(b"OggS\x00\x02" + bytes(58), "ogg", "video/ogg", id="ogg"),
    ],
)
def test_video_headers(head: bytes, name: str, mime: str) -> None:
    found = sniff(head)

    assert (found.name, found.mime, found.kind) == (name, mime, MediaKind.VIDEO)


def _encode_video(container: str, codec: str) -> bytes:
    av = pytest.importorskip("av")
    out = io.BytesIO()
    with av.open(out, "w", format=container) as output:
        stream = output.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            pixels = np.full((48, 64, 3), i * 80, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(
    ("container", "codec", "name"),
    [
        pytest.param("mp4", "mpeg4", "mp4", id="mp4"),
        pytest.param("mov", "mpeg4", "mov", id="mov"),
        pytest.param("webm", "libvpx", "webm", id="webm"),
        pytest.param("matroska", "mpeg4", "matroska", id="mkv"),
        pytest.param("avi", "mpeg4", "avi", id="avi"),
        pytest.param("mpegts", "mpeg2video", "mpegts", id="mpegts"),
    ],
)
def test_real_encoded_video_is_recognised(container: str, codec: str, name: str) -> None:
    found = sniff(_encode_video(container, codec)[:SNIFF_BYTES])

    assert (found.name, found.kind) == (name, MediaKind.VIDEO)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty file", id="empty"),
        pytest.param(b"<!DOCTYPE html>\n<html><head>", "looks like HTML/text", id="html"),
        pytest.param(b"  \n<HTML><BODY>x", "looks like HTML/text", id="html-uppercase"),
        pytest.param(
            "<!doctype html><html>".encode("utf-16"), "looks like HTML/text", id="html-utf16"
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<!-- drawn by hand -->\n<svg width="10">',
            "SVG is not supported (vector images can carry scripts)",
            id="svg-with-prolog",
        ),
        pytest.param(
            b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'/>",
            "SVG is not supported (vector images can carry scripts)",
            id="svg-with-bom",
        ),
        pytest.param(b'<?xml version="1.0"?><rss/>', "looks like XML/text", id="xml"),
        pytest.param("plain words, çà et là\n".encode(), "looks like text", id="utf8-text"),
        pytest.param(b"BM this is text, not a bitmap", "looks like text", id="text-starting-bm"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "PDF", id="pdf"),
        pytest.param(b"PK\x03\x04\x14\x00" + bytes(40), "ZIP", id="zip"),
        pytest.param(b"\x1f\x8b\x08\x00" + bytes(20), "gzip", id="gzip"),
        pytest.param(b"MZ\x90\x00" + bytes(60), "Windows executable", id="exe"),
        pytest.param(b"\x7fELF\x02\x01\x01" + bytes(57), "ELF", id="elf"),
        pytest.param(b"8BPS\x00\x01" + bytes(30), "PSD", id="psd"),
        pytest.param(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(20), "JPEG 2000", id="jp2"),
        pytest.param(b"\xff\x0a\xfa\x7f" + bytes(20), "JPEG XL", id="jxl"),
        pytest.param(b"ID3\x04\x00" + bytes(40), "audio (MP3)", id="mp3"),
        pytest.param(builders.riff(b"WAVE", b"fmt "), "audio (WAV)", id="wav"),
        pytest.param(builders.ftyp(b"M4A ", b"isom"), "audio-only MP4", id="m4a"),
        pytest.param(builders.ftyp(b"crx ", b"crx "), "unknown brand 'crx '", id="canon-raw"),
        pytest.param(builders.riff(b"CDXA"), "RIFF container", id="riff-unknown"),
        pytest.param(b"\x47" + bytes(300), "unrecognised leading bytes 47 00", id="one-ts-sync"),
        pytest.param(b"\x00\x01\x02\x03\xfe\xfd", "unrecognised leading bytes", id="binary"),
    ],
)
def test_refusal_says_what_the_bytes_look_like(data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedMedia, match=re.escape(message)):
        sniff(data)


def test_only_the_first_sniff_bytes_matter() -> None:
    # A signature of something else far into the data must not change the answer.
    data = builders.ebml(b"webm") + bytes(SNIFF_BYTES) + b"<svg>"

    assert sniff(data).name == "webm"


def test_video_is_refused_by_load_until_video_decoding_exists() -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        load(builders.ftyp(b"isom", b"avc1"), Limits())

    assert str(caught.value) == "video: not yet supported"
