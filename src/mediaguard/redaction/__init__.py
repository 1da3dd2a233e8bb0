"""Face redaction: hide faces (and optionally flagged regions) in an image or a video.

Design note: faces are detected only to be hidden. The face detector
(:class:`~mediaguard.redaction.faces.FaceDetector`) is not a
:class:`~mediaguard.signals.base.Detector` and is never registered in the signals
detector registry, so it can never produce a scan category, a verdict field or a stored
value. Its boxes stay inside this package; a redaction reports counts and frame numbers
only. No landmark, embedding or recognition is ever computed.

Redaction is an action that follows a verdict, so it sits after the pipeline and takes a
path, not a verdict. It is built to fail safe:

* **Lean towards hiding.** The face threshold is low, every mask is the detected box
  enlarged by ``mask_scale`` about its centre, and masks are rectangles, which cover a
  face's corners that an inscribed ellipse would leave visible.
* **Every video frame is covered, and the masks do not flicker.** Faces are detected on
  every ``detect_every``-th frame and tracked across frames by box overlap. Between two
  detections of a track its mask is interpolated; after its last detection the mask is
  held for ``hold`` more frames; and a newly found face is also masked on the
  ``lookback`` frames before it was found (they are still buffered), so a face missed on
  a frame or two, or only found a little late, is still hidden.
* **Nothing half-done is left behind.** The output is written to a temporary file in the
  output's folder and renamed only when complete; on any failure the temporary file is
  removed and a typed error is raised.
* **Nothing about the hidden faces is kept.** Their boxes stay inside this package; the
  report holds counts and frame numbers, and boxes only of the faces ``verify`` still
  sees in the output (``findings``), with a contact sheet of their crops only where the
  caller asks, so that a person can judge them. The face detector is not a registered
  detector.
* **Metadata is stripped** (EXIF, GPS, XMP, ICC, text chunks; container and stream tags)
  unless ``keep_metadata`` is set. Even then XMP, IPTC, the EXIF thumbnail and maker
  notes are dropped: XMP can name the people in face regions, and thumbnails and maker
  notes can carry an unredacted copy of the picture.

The modules, bottom up: ``boxes`` (box geometry), ``faces`` (CenterFace and the windows
searched around tracked faces), ``tracking`` (masks across missed frames), ``masks``
(painting), ``findings`` (what ``verify`` still sees, and its contact sheet), ``report``,
``output`` (the file renamed into place), ``regions`` (opt-in
region masks), ``coverage`` (what ``verify`` calls still visible), ``image`` (the Pillow
path), ``frames``, ``encode`` and ``video`` (the PyAV path), and ``api`` (:func:`redact`).
"""

from mediaguard.redaction.api import redact
from mediaguard.redaction.boxes import Located
from mediaguard.redaction.coverage import VISIBLE_INSIDE_SCORE, VISIBLE_OUTSIDE, covered_fraction
from mediaguard.redaction.faces import DEFAULT_THRESHOLD, FaceBoxes, FaceDetector, model_info
from mediaguard.redaction.findings import Finding
from mediaguard.redaction.image import MAX_IMAGE_DETECT_SIZE, SMALL_IMAGE_DETECT_SIZE
from mediaguard.redaction.masks import DEFAULT_MASK_SCALE, MODES, Mode, mask_rects, redact_pixels
from mediaguard.redaction.regions import REGION_CATEGORIES, REGION_DETECTORS
from mediaguard.redaction.report import ProgressCallback, RedactionError, RedactReport
from mediaguard.redaction.tracking import MaskPlanner
from mediaguard.redaction.video import (
    DEFAULT_DETECT_EVERY,
    DEFAULT_VIDEO_DETECT_SIZE,
    mask_rectangles,
)

__all__ = [
    "DEFAULT_DETECT_EVERY",
    "DEFAULT_MASK_SCALE",
    "DEFAULT_THRESHOLD",
    "DEFAULT_VIDEO_DETECT_SIZE",
    "MAX_IMAGE_DETECT_SIZE",
    "MODES",
    "REGION_CATEGORIES",
    "REGION_DETECTORS",
    "SMALL_IMAGE_DETECT_SIZE",
    "VISIBLE_INSIDE_SCORE",
    "VISIBLE_OUTSIDE",
    "FaceBoxes",
    "FaceDetector",
    "Finding",
    "Located",
    "MaskPlanner",
    "Mode",
    "ProgressCallback",
    "RedactReport",
    "RedactionError",
    "covered_fraction",
    "mask_rectangles",
    "mask_rects",
    "model_info",
    "redact",
    "redact_pixels",
]
