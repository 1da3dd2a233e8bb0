"""Pictures added to a list themselves: cropped reposts match, crops go with the picture,
exports leave them out, and the local-feature check refutes a wrong picture."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mediaguard.cli import EXIT_FLAGGED, EXIT_OK, main
from mediaguard.commands.hashlist import EXIT_LINES_REJECTED
from mediaguard.lists import media
from mediaguard.match.types import Match
from mediaguard.match.verify import grey
from mediaguard.store import Store
from mediaguard.store.list_types import NewEntry

LISTED = ["astronaut", "coffee", "rocket", "grace_hopper"]


def _jpeg(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path, quality=88)
    return path


def crop(pixels: np.ndarray, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    return pixels[
        round(height * top) : height - round(height * bottom),
        round(width * left) : width - round(width * right),
    ]


@pytest.fixture
def listed(photos: Any, tmp_path: Path) -> list[Path]:
    files = [_jpeg(photos.pixels(n), tmp_path / f"{n}.jpg") for n in LISTED]
    assert main(["hashlist", "create", "tvec", "--category", "terrorism", "--action", "block"]) == 0
    assert main(["hashlist", "add-media", "tvec", *map(str, files)]) == EXIT_OK
    return files


def _scan(paths: list[Path], out: Path) -> tuple[int, list[dict[str, Any]]]:
    code = main(["scan", *map(str, paths), "-f", "jsonl", "-o", str(out), "-w", "1"])
    return code, [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize(
    ("shares", "crop_name"),
    [
        pytest.param((0.05, 0.05, 0.05, 0.05), "centre crop 5%", id="crop-5"),
        pytest.param((0.10, 0.10, 0.10, 0.10), "centre crop 10%", id="crop-10"),
        pytest.param((0.20, 0.20, 0.20, 0.20), "centre crop 20%", id="crop-20"),
        pytest.param((0.0, 0.0, 0.10, 0.0), "cut from the left", id="left-10"),
    ],
)
def test_a_cropped_repost_matches_the_listed_picture(
    listed: list[Path], photos: Any, tmp_path: Path, shares: tuple[float, ...], crop_name: str
) -> None:
    copies = [_jpeg(crop(photos.pixels(n), *shares), tmp_path / f"copy-{n}.jpg") for n in LISTED]

    code, verdicts = _scan(copies, tmp_path / "v.jsonl")

    assert code == EXIT_FLAGGED
    for name, verdict in zip(LISTED, verdicts, strict=True):
        assert verdict["decision"] == "block", name
        (match,) = [m for m in verdict["matches"] if m["signal"] == "pdq"]
        assert match["external_id"] == f"{name}.jpg"  # reported as the picture itself
        assert crop_name in match["variant"]


def test_exports_leave_the_crops_out_and_removing_the_picture_takes_them(
    listed: list[Path], photos: Any, tmp_path: Path
) -> None:
    plain, full = tmp_path / "plain.txt", tmp_path / "full.txt"
    assert main(["hashlist", "export", "tvec", str(plain)]) == EXIT_OK
    assert main(["hashlist", "export", "tvec", str(full), "--with-crops"]) == EXIT_OK
    lines = plain.read_text().splitlines()
    assert len(lines) == 3 * len(LISTED)  # each picture's PDQ, MD5 and SHA-256
    assert len(full.read_text().splitlines()) > len(lines) + 8 * len(LISTED)

    pdq = next(line.split()[1] for line in lines if line.startswith("pdq "))
    with Store.open() as store:
        before = store.lists.count_entries("tvec")
        store.lists.remove_entries("tvec", [pdq], signal_type="pdq")
        after = store.lists.count_entries("tvec")
    assert before - after > 8  # the picture's PDQ and all its crops


def test_unreadable_files_are_listed_and_the_rest_added(
    photos: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _jpeg(photos.pixels("coffee"), tmp_path / "coffee.jpg")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    flat = _jpeg(np.full((200, 300, 3), 128, np.uint8), tmp_path / "flat.jpg")
    assert main(["hashlist", "create", "tvec", "--category", "terrorism", "--action", "block"]) == 0
    capsys.readouterr()

    code = main(["hashlist", "add-media", "tvec", str(good), str(bad), str(flat)])

    err = capsys.readouterr().err
    assert code == EXIT_LINES_REJECTED
    assert "added" in err
    assert "skipped" in err
    assert "broken.jpg" in err
    assert "too flat" in err
    with Store.open() as store:
        assert store.lists.count_entries("tvec", "md5") == 1


def _picture(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.mark.parametrize(("stored", "kept"), [("coffee", True), ("chelsea", False)])
def test_a_near_threshold_edited_copy_is_checked_against_the_picture(
    photos: Any, store: Store, stored: str, kept: bool
) -> None:
    store.lists.create_list("tvec", "terrorism", "block")
    added = store.list_media.add_picture(
        "tvec", [NewEntry("pdq", "ab" * 32)], [], _picture(photos.pixels(stored))
    )
    parent = added.entry_ids[0]
    scanned = grey(photos.pixels("coffee")[40:-40, 60:-60])
    candidate = Match(
        list="tvec",
        category="terrorism",
        signal="pdq",
        value="ab" * 32,
        entry_id=parent,
        distance=media.VERIFY_FROM + 4,
        variant="border removed",
    )

    matches, notes = media.resolve(store, [candidate], {0: scanned}, {})

    assert (matches == [candidate]) is kept
    assert bool(notes) is not kept
    if not kept:
        assert "the listed picture does not match" in notes[0]


def test_a_collage_is_verified_on_the_half_that_matched(photos: Any, store: Store) -> None:
    """The other half of a collage takes most keypoints of the whole frame: checked
    whole, rocket.jpg next to camera.png keeps too few to pass; its own half passes."""
    store.lists.create_list("tvec", "terrorism", "block")
    rocket = photos.pixels("rocket")
    added = store.list_media.add_picture("tvec", [NewEntry("pdq", "ab" * 32)], [], _picture(rocket))
    camera = photos.pixels("camera")
    height, width = rocket.shape[:2]
    beside = np.asarray(Image.fromarray(camera).convert("RGB").resize((height, height)))
    collage = np.concatenate([rocket, beside], axis=1)
    candidate = Match(
        list="tvec",
        category="terrorism",
        signal="pdq",
        value="ab" * 32,
        entry_id=added.entry_ids[0],
        distance=media.VERIFY_FROM + 4,
        variant="left part",
    )
    box = (0.0, 1.0, 0.0, width / collage.shape[1])

    whole, _ = media.resolve(store, [candidate], {0: grey(collage)}, {})
    half, notes = media.resolve(store, [candidate], {0: grey(collage)}, {(0, "left part"): box})

    assert whole == []
    assert half == [candidate]
    assert notes == []


def test_a_cropped_captioned_repost_is_blocked_and_says_how(
    listed: list[Path], photos: Any, tmp_path: Path
) -> None:
    from signals.edits import captioned

    copy = _jpeg(
        captioned(crop(photos.pixels("coffee"), 0.1, 0.1, 0.1, 0.1), 0.2, top=True),
        tmp_path / "meme.jpg",
    )

    code, (verdict,) = _scan([copy], tmp_path / "v.jsonl")

    assert code == EXIT_FLAGGED
    assert verdict["decision"] == "block"
    (match,) = [m for m in verdict["matches"] if m["signal"] == "pdq"]
    assert match["variant"] == "caption bar removed (top), then centre crop 10% per side"
    assert (
        "as an edited copy (caption bar removed (top), then centre crop 10%"
        in (verdict["reasons"][0]["message"])
    )
