"""A hash list that holds a photo as the test broadcasts show it.

Shared by the live suites (``mediaguard watch``, the service's stream workers, the Ray
actors): each lists one photo and expects an alert when the broadcast shows it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mediaguard.config import ScanConfig
from mediaguard.lists.hashlists import import_file
from mediaguard.scanner import Scanner
from mediaguard.store import Store

from .broadcast import picture


def list_broadcast_photo(store: Store, photo: str, action: str = "block") -> None:
    """Create the list ``known`` holding the PDQ of ``photo``'s broadcast frame."""
    pixels = np.ascontiguousarray(picture(photo, 160, 120)[4:124, 4:164])
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    pdq = Scanner(ScanConfig(detectors=())).scan(buffer.getvalue()).hashes.pdq[0].hash
    store.lists.create_list("known", "test-category", action)
    import_file(store, "known", io.StringIO(f"pdq {pdq}\n"))
