"""Reposts of listed photos, framed, captioned or pasted into a collage, through ``scan``.

The list holds PDQ hashes of the full-resolution originals, as a shared list would; the
copies are scanned from the CLI with the default policy and with each ``match_variants``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
import pytest
from PIL import Image

from mediaguard.cli import EXIT_FLAGGED, EXIT_OK, main
from mediaguard.signals.hashes import bits_to_hex
from signals.edits import captioned, framed

LISTED = ["astronaut", "coffee", "rocket", "grace_hopper"]
UNLISTED = ["chelsea", "camera"]


@pytest.fixture
def listed(photos: Any, tmp_path: Path) -> None:
    lines = []
    for name in LISTED:
        bits, _quality = pdqhash.compute(np.ascontiguousarray(photos.pixels(name)))
        lines.append(f"pdq {bits_to_hex(bits)} {name}")
    hashes = tmp_path / "tvec.txt"
    hashes.write_text("\n".join(lines) + "\n")
    assert main(["hashlist", "create", "tvec", "--category", "terrorism", "--action", "block"]) == 0
    assert main(["hashlist", "import", "tvec", str(hashes)]) == 0


def _save(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path, quality=85)
    return path


def _scan(paths: list[Path], out: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["scan", *map(str, paths), "-f", "jsonl", "-o", str(out), "-w", "1", *extra])
    return code, [json.loads(line) for line in out.read_text().splitlines()]


def _policy(tmp_path: Path, variants: str) -> Path:
    path = tmp_path / f"{variants}.toml"
    path.write_text(f'name = "test"\nversion = "1"\nmatch_variants = "{variants}"\n')
    return path


def test_a_captioned_framed_copy_is_blocked_and_the_verdict_says_how(
    listed: None, photos: Any, tmp_path: Path
) -> None:
    copies = [
        _save(captioned(photos.pixels("coffee"), 0.2, top=True), tmp_path / "meme.jpg"),
        _save(framed(photos.pixels("rocket"), 0.08, (0, 0, 0)), tmp_path / "framed.jpg"),
    ]

    code, verdicts = _scan(copies, tmp_path / "v.jsonl")

    assert code == EXIT_FLAGGED
    assert [v["decision"] for v in verdicts] == ["block", "block"]
    meme, frame = (v["matches"][0] for v in verdicts)
    assert meme["variant"] == "caption bar removed (top)"
    assert frame["variant"] == "border removed"
    assert meme["distance"] <= 31
    message = verdicts[0]["reasons"][0]["message"]
    assert "as an edited copy (caption bar removed (top)) at PDQ distance" in message


def test_exact_matching_misses_them_and_all_finds_a_collage(
    listed: None, photos: Any, tmp_path: Path
) -> None:
    meme = _save(captioned(photos.pixels("astronaut"), 0.2, top=False), tmp_path / "m.jpg")
    left, right = photos.pixels("grace_hopper"), photos.pixels("chelsea")
    height = left.shape[0]
    scaled = Image.fromarray(right).resize(
        (round(right.shape[1] * height / right.shape[0]), height)
    )
    collage = _save(np.concatenate([left, np.asarray(scaled)], axis=1), tmp_path / "c.jpg")

    code, exact = _scan(
        [meme, collage], tmp_path / "e.jsonl", "--policy", str(_policy(tmp_path, "exact"))
    )
    assert code == EXIT_OK
    assert [v["matches"] for v in exact] == [[], []]

    _code, trimmed = _scan([collage], tmp_path / "t.jsonl")
    assert trimmed[0]["matches"] == []  # the default does not split pictures

    code, wide = _scan(
        [meme, collage], tmp_path / "a.jsonl", "--policy", str(_policy(tmp_path, "all"))
    )
    assert code == EXIT_FLAGGED
    assert [v["matches"][0]["variant"] for v in wide] == [
        "caption bar removed (bottom)",
        "left part",
    ]


def test_no_false_match_on_other_photos_or_their_edits(
    listed: None, photos: Any, tmp_path: Path
) -> None:
    paths = []
    for name in UNLISTED:
        pixels = photos.pixels(name)
        paths.append(_save(pixels, tmp_path / f"{name}.jpg"))
        paths.append(_save(captioned(pixels, 0.2, top=True), tmp_path / f"{name}-meme.jpg"))
        paths.append(_save(framed(pixels, 0.1, (255, 255, 255)), tmp_path / f"{name}-framed.jpg"))

    code, verdicts = _scan(paths, tmp_path / "n.jsonl", "--policy", str(_policy(tmp_path, "all")))

    assert code == EXIT_OK
    assert all(v["matches"] == [] for v in verdicts)
