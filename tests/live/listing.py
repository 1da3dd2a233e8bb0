"""A hash list that holds a photo as the test broadcasts show it, and the alert it gives.

Shared by the live suites (``mediaguard watch``, the service's stream workers, the Ray
actors): each lists one photo and expects an alert when the broadcast shows it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mediaguard.config import ScanConfig
from mediaguard.lists.hashlists import import_file
from mediaguard.live import EventKind, StreamEvent
from mediaguard.policy.model import Decision
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


def one_list_alert(events: list[StreamEvent]) -> tuple[StreamEvent, StreamEvent]:
    """The one alert and the final event of a watch that showed the listed photo once.

    The watch starts, blocks once on the list ``known``, clears after the policy's
    window of 5 samples, and ends with its source.
    """
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.STARTED
    assert kinds[-1] is EventKind.ENDED
    alerts = [e for e in events if e.kind is EventKind.ALERT]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.decision is Decision.BLOCK
    assert alert.previous is Decision.ALLOW
    assert [r.code for r in alert.reasons] == ["list_block"]
    assert alert.matches[0].list == "known"
    assert alert.latency_s is not None
    assert alert.latency_s < 2
    cleared = [e for e in events if e.kind is EventKind.CLEARED]
    assert len(cleared) == 1
    assert cleared[0].decision is Decision.ALLOW
    final = events[-1]
    assert final.error == "end of stream"
    StreamEvent.model_validate_json(final.to_json())
    return alert, final
