"""Recognise a media format from its leading bytes.

Design note: the format is decided from content only, never from a file name or a
client-declared MIME type, because both are chosen by whoever uploads the file. Sniffing
is a pure function of the first :data:`SNIFF_BYTES` bytes so it is cheap to call before
anything is decoded, and it is strict: bytes that match no signature are refused with a
message that says what they look like when that is cheap to tell (HTML, SVG, PDF, ZIP,
...), so an operator can see at a glance why an upload was rejected. The decoder later
checks that Pillow agrees with the sniffed format, so a file cannot be sniffed as one
format and parsed as another.
"""

from __future__ import annotations

import re
from typing import Final

from mediaguard.errors import UnsupportedMedia
from mediaguard.media.types import MediaFormat, MediaKind

#: How many leading bytes callers should pass. Every signature fits in far fewer; the
#: extra room lets MPEG-TS be confirmed by its second sync byte (offset 188 or 196) and
#: lets SVG be found behind an XML prolog and comments.
SNIFF_BYTES: Final = 4096

_I = MediaKind.IMAGE
_V = MediaKind.VIDEO

JPEG: Final = MediaFormat("jpeg", "image/jpeg", _I)
PNG: Final = MediaFormat("png", "image/png", _I)
WEBP: Final = MediaFormat("webp", "image/webp", _I)
GIF: Final = MediaFormat("gif", "image/gif", _I)
BMP: Final = MediaFormat("bmp", "image/bmp", _I)
TIFF: Final = MediaFormat("tiff", "image/tiff", _I)
HEIF: Final = MediaFormat("heif", "image/heif", _I)
HEIF_SEQUENCE: Final = MediaFormat("heif", "image/heif-sequence", _I)
AVIF: Final = MediaFormat("avif", "image/avif", _I)

MP4: Final = MediaFormat("mp4", "video/mp4", _V)
M4V: Final = MediaFormat("mp4", "video/x-m4v", _V)
THREE_GP: Final = MediaFormat("mp4", "video/3gpp", _V)
THREE_G2: Final = MediaFormat("mp4", "video/3gpp2", _V)
MOV: Final = MediaFormat("mov", "video/quicktime", _V)
MATROSKA: Final = MediaFormat("matroska", "video/x-matroska", _V)
WEBM: Final = MediaFormat("webm", "video/webm", _V)
AVI: Final = MediaFormat("avi", "video/x-msvideo", _V)
FLV: Final = MediaFormat("flv", "video/x-flv", _V)
MPEGTS: Final = MediaFormat("mpegts", "video/mp2t", _V)
MPEGPS: Final = MediaFormat("mpegps", "video/mpeg", _V)
ASF: Final = MediaFormat("asf", "video/x-ms-asf", _V)
OGG: Final = MediaFormat("ogg", "video/ogg", _V)

# ISO-BMFF brands. Image brands win over video brands: HEIF and AVIF files list generic
# ISO brands (e.g. "iso8", "mif1") among their compatible brands, and an AVIF file often
# has major brand "mif1" with "avif" only among the compatible ones.
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2"})
_HEIF_SEQUENCE_BRANDS: Final = frozenset({b"hevc", b"hevx", b"hevm", b"hevs", b"msf1"})
_QUICKTIME_BRANDS: Final = frozenset({b"qt  "})
_M4V_BRANDS: Final = frozenset({b"M4V ", b"M4VH", b"M4VP"})
_MP4_BRANDS: Final = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso7",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"avc1",
        b"dash",
        b"msdh",
        b"msix",
        b"mmp4",
        b"f4v ",
        b"XAVC",
        b"MSNV",
        b"NDAS",
    }
)
_AUDIO_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P "})
# Top-level atoms that open a QuickTime file written before "ftyp" existed.
_QUICKTIME_ATOMS: Final = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

_ASF_GUID: Final = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_EBML_MAGIC: Final = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE_ID: Final = 0x4282
_BMP_DIB_HEADER_SIZES: Final = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_TS_PACKET: Final = 188
_M2TS_PACKET: Final = 192

# Things that are not media, recognised only to explain the refusal.
_NOT_MEDIA: Final[tuple[tuple[bytes, str], ...]] = (
    (b"%PDF-", "looks like a PDF document"),
    (b"PK\x03\x04", "looks like a ZIP archive (or an office document)"),
    (b"PK\x05\x06", "looks like an empty ZIP archive"),
    (b"\x1f\x8b", "looks like a gzip archive"),
    (b"BZh", "looks like a bzip2 archive"),
    (b"\xfd7zXZ\x00", "looks like an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "looks like a 7-Zip archive"),
    (b"Rar!\x1a\x07", "looks like a RAR archive"),
    (b"\x7fELF", "looks like an ELF executable"),
    (b"MZ", "looks like a Windows executable"),
    (b"8BPS", "Photoshop PSD is not supported"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000 is not supported"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 is not supported"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL is not supported"),
    (b"\xff\x0a", "JPEG XL is not supported"),
    (b"ID3", "audio (MP3) is not supported"),
    (b"fLaC", "audio (FLAC) is not supported"),
    (b"#!AMR", "audio (AMR) is not supported"),
)
_HTML_MARKERS: Final = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<meta")
_SVG_RE: Final = re.compile(rb"<svg[\s>/]")
_UTF8_BOM: Final = b"\xef\xbb\xbf"


def sniff(head: bytes) -> MediaFormat:
    """Recognise the format of a file from its first bytes.

    Args:
        head: the first bytes of the file; pass at least 64 and ideally
            :data:`SNIFF_BYTES` (more is fine, only the start is read).

    Returns:
        The recognised format. Its ``kind`` says whether it is an image or a video.

    Raises:
        UnsupportedMedia: the bytes match no supported format; the message says what
            they look like when that is cheap to tell.
    """
    head = bytes(head[:SNIFF_BYTES])
    if not head:
        raise UnsupportedMedia("empty file")
    found = _image(head) or _video(head)
    if found is None:
        raise UnsupportedMedia(f"unsupported format: {_describe(head)}")
    return found


def _image(head: bytes) -> MediaFormat | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return TIFF
    if _is_bmp(head):
        return BMP
    return None


def _video(head: bytes) -> MediaFormat | None:
    if head[4:8] == b"ftyp":
        return _iso_bmff(head)
    if head[4:8] in _QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return MOV
    if head.startswith(_EBML_MAGIC):
        return WEBM if _ebml_doctype(head) == b"webm" else MATROSKA
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return AVI
    if head.startswith(b"FLV\x01"):
        return FLV
    if _is_mpegts(head):
        return MPEGTS
    if head.startswith(b"\x00\x00\x01\xba"):
        return MPEGPS
    if head.startswith(_ASF_GUID):
        return ASF
    if head.startswith(b"OggS"):
        # Ogg holds audio or video and telling them apart means parsing the codec
        # headers; it is routed to the video path, which refuses streams it can't use.
        return OGG
    return None


def _iso_bmff(head: bytes) -> MediaFormat | None:
    """Classify an ISO base media file (MP4, MOV, HEIF, AVIF, 3GP) by its ftyp brands."""
    box_size = int.from_bytes(head[:4], "big")
    end = min(box_size, len(head)) if box_size >= 16 else 16
    major = head[8:12]
    # Compatible brands follow the major brand and the 4-byte minor version.
    brands = [major] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    brand_set = set(brands)
    if brand_set & _AVIF_BRANDS:
        return AVIF
    if brand_set & _HEIF_BRANDS:
        return HEIF
    if brand_set & _HEIF_SEQUENCE_BRANDS:
        return HEIF_SEQUENCE
    if major in _AUDIO_BRANDS:
        # An M4A lists "isom" too; its major brand says it holds no picture.
        return None
    for brand in brands:
        if brand in _QUICKTIME_BRANDS:
            return MOV
        if brand in _M4V_BRANDS:
            return M4V
        if brand.startswith(b"3gp"):
            return THREE_GP
        if brand.startswith(b"3g2"):
            return THREE_G2
        if brand in _MP4_BRANDS:
            return MP4
    return None


def _ebml_doctype(head: bytes) -> bytes | None:
    """Return the DocType of an EBML (Matroska/WebM) header, if it is within ``head``."""
    pos = len(_EBML_MAGIC)
    header_size, pos = _ebml_vint(head, pos, keep_marker=False)
    if header_size is None:
        return None
    end = min(len(head), pos + header_size)
    while pos < end:
        element_id, pos = _ebml_vint(head, pos, keep_marker=True)
        size, pos = _ebml_vint(head, pos, keep_marker=False)
        if element_id is None or size is None:
            return None
        if element_id == _EBML_DOCTYPE_ID:
            return head[pos : pos + size].rstrip(b"\x00")
        pos += size
    return None


def _ebml_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int | None, int]:
    """Read an EBML variable-length integer; element IDs keep their length marker."""
    if pos >= len(data) or data[pos] == 0:
        return None, pos
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None, pos
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _is_bmp(head: bytes) -> bool:
    # "BM" alone starts plenty of text files; a real BMP also has a DIB header of one of
    # the sizes the format defines, whose little-endian length no text can spell.
    if not head.startswith(b"BM") or len(head) < 18:
        return False
    return int.from_bytes(head[14:18], "little") in _BMP_DIB_HEADER_SIZES


def _is_mpegts(head: bytes) -> bool:
    # One 0x47 byte is too common to mean anything; two sync bytes a packet apart do.
    if head[:1] == b"\x47" and len(head) > _TS_PACKET:
        return head[_TS_PACKET] == 0x47
    # M2TS (Blu-ray, AVCHD) prefixes each packet with a 4-byte timestamp.
    if len(head) > _M2TS_PACKET + 4 and head[4] == 0x47:
        return head[_M2TS_PACKET + 4] == 0x47
    return False


def _describe(head: bytes) -> str:
    """Say what unsupported bytes look like, for the refusal message."""
    if head.startswith(b"RIFF"):
        kind = head[8:12].decode("latin-1")
        if kind == "WAVE":
            return "audio (WAV) is not supported"
        return f"RIFF container of unknown type {kind!r}"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1")
        if head[8:12] in _AUDIO_BRANDS:
            return f"audio-only MP4 (brand {brand!r}) is not supported"
        return f"ISO media file with unknown brand {brand!r}"
    for magic, description in _NOT_MEDIA:
        if head.startswith(magic):
            return description
    text = _as_text(head)
    if text is not None:
        lowered = text.lstrip().lower()
        if _SVG_RE.search(lowered):
            return "SVG is not supported (vector images can carry scripts)"
        if any(marker in lowered for marker in _HTML_MARKERS):
            return "looks like HTML/text"
        if lowered.startswith(b"<?xml"):
            return "looks like XML/text"
        return "looks like text"
    return f"unrecognised leading bytes {head[:8].hex(' ')}"


def _as_text(head: bytes) -> bytes | None:
    """Return ``head`` as ASCII-compatible text if it looks like a text file, else None."""
    if head.startswith(b"\xff\xfe"):
        return _utf16_as_ascii(head[2:], "utf-16-le")
    if head.startswith(b"\xfe\xff"):
        return _utf16_as_ascii(head[2:], "utf-16-be")
    head = head.removeprefix(_UTF8_BOM)
    try:
        # The head may end inside a multi-byte character; ignore only that tail.
        decoded = head.decode("utf-8", errors="strict")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:
            return None
        decoded = head[: err.start].decode("utf-8")
    if not decoded or any(not (ch.isprintable() or ch in "\t\r\n\f") for ch in decoded):
        return None
    return head


def _utf16_as_ascii(body: bytes, encoding: str) -> bytes | None:
    text = body[: len(body) - len(body) % 2].decode(encoding, errors="replace")
    if "\ufffd" in text or any(not (ch.isprintable() or ch in "\t\r\n\f") for ch in text):
        return None
    return text.encode("ascii", errors="replace")
