"""Adding pictures themselves to a hash list, with the crops a repost may make of them.

Why: PDQ does not survive a crop of more than about 2 %, and a crop cannot be undone
from the reposted copy. When the list is given the picture (``hashlist add-media``, or
``POST /v1/hashlists/{name}/media`` on the service), mediaguard stores, besides the
picture's own PDQ, MD5 and SHA-256, the PDQ hashes of the standard crops
(:func:`mediaguard.signals.variants.standard_crops`) as entries derived from it, and a
reduced copy of the picture so that a near-threshold match can be checked against it
(:mod:`mediaguard.match.verify`). A match on a crop is reported as a match on the
picture, naming the crop.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from mediaguard import media
from mediaguard.errors import MediaError
from mediaguard.match.types import Match
from mediaguard.match.verify import COMPARE_SIDE, same_content
from mediaguard.media.limits import Limits
from mediaguard.media.source import read_source
from mediaguard.signals.hashes import MIN_PDQ_QUALITY, bits_to_hex, digests
from mediaguard.signals.variants import Box, standard_crops
from mediaguard.store import Store
from mediaguard.store.list_media import PictureAdded
from mediaguard.store.list_types import NewEntry

#: Long side at which a picture is hashed and cropped (PDQ keeps only 64 x 64).
HASH_SIDE = 1024


@dataclass(frozen=True, slots=True)
class MediaAdded:
    """One file's outcome: what was added, or why it was not."""

    source: str
    added: PictureAdded | None = None
    error: str | None = None


def _pdq(pixels: np.ndarray) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return bits_to_hex(bits), int(quality)


def _reduced_jpeg(pixels: np.ndarray) -> bytes:
    image = Image.fromarray(pixels)
    image.thumbnail((COMPARE_SIDE, COMPARE_SIDE), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def add_picture(
    store: Store, list_name: str, data: bytes, *, name: str, limits: Limits | None = None
) -> PictureAdded:
    """Add one picture's hashes, its standard crops' hashes and its reduced copy.

    Raises:
        MediaError: when the bytes are not a picture mediaguard reads, or its PDQ is
            too weak (a flat image) to match anything.
        NotFoundError: when the list does not exist.
    """
    decoded = media.load(data, limits or Limits(), HASH_SIDE)
    pixels = decoded.frames[0].pixels
    value, quality = _pdq(pixels)
    if quality < MIN_PDQ_QUALITY:
        raise MediaError(f"{name}: PDQ quality {quality} is below {MIN_PDQ_QUALITY}: too flat")
    sums = digests(data)
    originals = [
        NewEntry("pdq", value, external_id=name),
        NewEntry("md5", sums.md5, external_id=name),
        NewEntry("sha256", sums.sha256, external_id=name),
    ]
    crops = []
    for region in standard_crops(*pixels.shape[:2]):
        crop_hex, crop_quality = _pdq(
            pixels[region.top : region.bottom, region.left : region.right]
        )
        if crop_quality >= MIN_PDQ_QUALITY and crop_hex != value:
            crops.append((region.name, NewEntry("pdq", crop_hex, external_id=name)))
    return store.list_media.add_picture(list_name, originals, crops, _reduced_jpeg(pixels))


def add_files(
    store: Store,
    list_name: str,
    paths: Iterable[str | os.PathLike[str]],
    *,
    limits: Limits | None = None,
    on_file: Callable[[MediaAdded], None] | None = None,
) -> list[MediaAdded]:
    """:func:`add_picture` for each file; a file that cannot be read is reported, not fatal.

    Raises:
        NotFoundError: when the list does not exist (nothing is added then).
    """
    store.lists.get_list(list_name)
    results = []
    for path in paths:
        source = str(Path(path))
        try:
            data = read_source(path, limits or Limits())
            outcome = MediaAdded(source, add_picture(store, list_name, data, name=Path(path).name))
        except MediaError as err:
            outcome = MediaAdded(source, error=str(err))
        results.append(outcome)
        if on_file is not None:
            on_file(outcome)
    return results


#: Matches on an edited copy at or beyond this distance are checked against the listed
#: picture where it is held; closer ones are convincing on their own.
VERIFY_FROM = 10


def _crop(pixels: npt.NDArray[np.uint8], box: Box | None) -> npt.NDArray[np.uint8]:
    """The part of ``pixels`` that ``box`` (shares of the frame) covers; all without one."""
    if box is None:
        return pixels
    height, width = pixels.shape[:2]
    top, bottom, left, right = box
    return pixels[
        int(top * height) : math.ceil(bottom * height), int(left * width) : math.ceil(right * width)
    ]


def resolve(
    store: Store,
    matches: Sequence[Match],
    frames: Mapping[int, npt.NDArray[np.uint8]],
    boxes: Mapping[tuple[int, str], Box],
) -> tuple[list[Match], list[str]]:
    """Report crop matches as their picture, and drop edited copies the picture refutes.

    Args:
        store: the store holding the lists.
        matches: what the index found.
        frames: reduced pixels of the scanned frames, by frame index (0 for a still).
        boxes: where each edited-copy region lies in its frame, by (frame, variant); a
            region that matched is verified on its own (a collage's other half would
            take most keypoints of the whole), then, if that fails, with the whole frame.

    Returns:
        The matches, one per entry (a whole-frame match wins over an edited copy, then
        the closer one), and notes on what verification dropped.
    """
    derived = store.list_media.derived(m.entry_id for m in matches if m.signal == "pdq")
    parents = {parent for parent, _ in derived.values()}
    held = {e.id: e for e in store.lists.get_entries(parents)} if parents else {}
    best: dict[int, Match] = {}
    matched_in: dict[int, Box | None] = {}
    for match in matches:
        box = None if match.variant is None else boxes.get((match.frame or 0, match.variant))
        if match.entry_id in derived:
            parent_id, crop = derived[match.entry_id]
            parent = held.get(parent_id)
            if parent is None:
                continue
            variant = crop if match.variant is None else f"{match.variant}, then {crop}"
            match = match.model_copy(
                update={
                    "value": parent.value,
                    "entry_id": parent.id,
                    "external_id": parent.external_id,
                    "variant": variant,
                }
            )
        current = best.get(match.entry_id)
        rank = (match.variant is not None, match.distance)
        if current is None or rank < (current.variant is not None, current.distance):
            best[match.entry_id] = match
            matched_in[match.entry_id] = box
    doubtful = [m for m in best.values() if m.variant is not None and m.distance >= VERIFY_FROM]
    pictures = store.list_media.pictures(m.entry_id for m in doubtful) if doubtful else {}
    notes = []
    for match in doubtful:
        jpeg, frame = pictures.get(match.entry_id), frames.get(match.frame or 0)
        if jpeg is None or frame is None:
            continue
        listed = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        # The region that matched first; then the whole frame, which holds more keypoints
        # when the region is most of it (a logo stamped on a bordered copy).
        box = matched_in.get(match.entry_id)
        seen = same_content(_crop(frame, box), listed)
        if not seen.same and box is not None:
            seen = same_content(frame, listed)
        if not seen.same:
            del best[match.entry_id]
            notes.append(
                f"an edited-copy match on list {match.list!r} (distance {match.distance}, "
                f"{match.variant}) was dropped: the listed picture does not match "
                f"({seen.inliers} consistent keypoints)"
            )
    return list(best.values()), notes
