"""Redacting the astronaut photo in a fresh interpreter: the tests of what a user installs.

A subprocess sees only what its own imports find (no test fixtures, no modules already
loaded), so these tests run ``mediaguard redact`` as a user's process would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: The astronaut's face in scikit-image's photo, checked by hand (box 181,58 - 269,177).
FACE = (slice(70, 170), slice(190, 260))


def redact_astronaut(
    script: str, tmp_path: Path, photos: Any, *extra: str, env: dict[str, str] | None = None
) -> None:
    """Run ``script`` with argv ``SOURCE OUTPUT *extra``; the face must come out hidden.

    The script redacts SOURCE (the astronaut, as PNG) into OUTPUT and exits 0; the corner
    of the photo, far from any face, must come out untouched.
    """
    source, output = tmp_path / "astronaut.png", tmp_path / "redacted.png"
    original = photos.pixels("astronaut")
    Image.fromarray(original).save(source)
    done = subprocess.run(
        [sys.executable, "-c", script, str(source), str(output), *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    redacted = np.asarray(Image.open(output).convert("RGB"))
    assert np.abs(redacted[FACE].astype(int) - original[FACE].astype(int)).mean() > 10
    assert np.array_equal(redacted[:40, :40], original[:40, :40])
