"""Over a thousand malformed images: each ends in a verdict or a typed MediaError.

The corpus (:mod:`.mutations`) mutates real photos in every still-image format; each
file goes through the full default pipeline (``Scanner.scan``: intake limits, sniff,
decode, hashes, open_nsfw, policy) in a worker process under a 10 s deadline
(:mod:`.runner`), so a crash or a hang is a counted failure rather than a dead or stuck
test run. The distribution of outcomes is printed in the terminal summary.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from mediaguard import errors

from . import mutations
from .conftest import REPORT
from .mutations import PhotoSource
from .runner import CRASH, DECODED, HANG, UNTYPED, scan_all

DEADLINE_S = 10.0
MEDIA_ERRORS = {
    cls.__name__
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.MediaError)
}


@pytest.mark.slow
@pytest.mark.timeout(600)  # the per-file deadline is the real guard; this bounds the run
def test_every_malformed_file_gets_a_verdict_or_a_typed_error(photos: PhotoSource) -> None:
    corpus = mutations.build(photos)
    assert len(corpus) >= 1000

    outcomes = scan_all([s.data for s in corpus], processes=2, deadline_s=DEADLINE_S)

    by_kind = Counter(o.split(" ")[0] for o in outcomes)
    by_format: dict[str, Counter[str]] = {}
    for sample, outcome in zip(corpus, outcomes, strict=True):
        by_format.setdefault(sample.name.split("-")[0], Counter())[outcome.split(" ")[0]] += 1
    REPORT[f"hostile corpus: {len(corpus)} files"] = [
        f"{kind:20} {n:5}" for kind, n in by_kind.most_common()
    ] + [
        f"{fmt:5} " + ", ".join(f"{k} {n}" for k, n in counts.most_common())
        for fmt, counts in sorted(by_format.items())
    ]
    bad = [
        f"{sample.name}: {outcome}"
        for sample, outcome in zip(corpus, outcomes, strict=True)
        if outcome.startswith((CRASH, HANG, UNTYPED))
    ]
    assert not bad, f"{len(bad)} file(s) crashed, hung or raised an untyped error:\n" + "\n".join(
        bad[:50]
    )
    assert set(by_kind) <= MEDIA_ERRORS | {DECODED}


def _misbehave(data: bytes) -> str:
    """A stand-in decoder that crashes or hangs on request, to test the harness itself."""
    if data == b"crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if data == b"hang":
        time.sleep(60)
    return DECODED


@pytest.mark.timeout(60)
def test_the_harness_counts_crashes_and_hangs_and_goes_on() -> None:
    corpus = [b"ok", b"crash", b"ok", b"hang", b"ok", b"ok"]

    outcomes = scan_all(corpus, processes=2, deadline_s=2.0, check=_misbehave)

    assert [o.split(" ")[0] for o in outcomes] == [
        DECODED,
        CRASH,
        DECODED,
        HANG,
        DECODED,
        DECODED,
    ]
