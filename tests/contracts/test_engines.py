"""What every engine promises the CLI and the service, checked on every engine.

An engine decides where scans run: in this process, on a local process pool, or on a
Ray cluster (ordered or not, by path or shipping the bytes). Whichever runs it, a user
gets exactly one result per input, the same verdict the in-process scanner gives, and a
typed failure, never a lost file, for what cannot be read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engines.corpus import CORPUS_KINDS, write_corpus
from mediaguard.config import ScanConfig
from mediaguard.engines.local import scan_paths
from mediaguard.engines.ray import RayScanStats, scan_paths_ray
from mediaguard.policy.model import Policy
from mediaguard.verdict import ScanFailure, ScanResult, Verdict

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

Engine = Callable[[list[Path]], Iterable[ScanResult]]


def _pool(files: list[Path]) -> Iterator[ScanResult]:
    return scan_paths(files, config=ScanConfig(), policy=Policy.default_policy(), workers=2)


def _ray(*, ordered: bool, send_bytes: bool, workers: int | None) -> Engine:
    def run(files: list[Path]) -> list[ScanResult]:
        stats = RayScanStats()
        results = list(
            scan_paths_ray(
                files,
                config=ScanConfig(),
                policy=Policy.default_policy(),
                address=None,
                workers=workers,
                ordered=ordered,
                send_bytes=send_bytes,
                stats=stats,
            )
        )
        # ``workers=None`` means one per CPU of the cluster, which has two.
        assert len(stats.worker_pids) == 2
        return results

    return run


# (engine, whether it keeps input order, whether it needs the Ray cluster)
ENGINES = [
    pytest.param((_pool, True, False), id="process-pool"),
    pytest.param((_ray(ordered=True, send_bytes=False, workers=2), True, True), id="ray-paths"),
    pytest.param(
        (_ray(ordered=False, send_bytes=False, workers=2), False, True), id="ray-unordered"
    ),
    pytest.param((_ray(ordered=True, send_bytes=True, workers=None), True, True), id="ray-bytes"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, photos: Any) -> list[Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"), photos)


@pytest.fixture(scope="module")
def reference(corpus: list[Path]) -> list[ScanResult]:
    """The in-process scanner's results: what every engine must give."""
    return list(scan_paths(corpus, config=ScanConfig(), policy=Policy.default_policy(), workers=1))


def _key(result: ScanResult) -> dict[str, Any]:
    """What must not depend on the engine (timings and scan times do)."""
    if isinstance(result, ScanFailure):
        return result.model_dump()
    return result.model_dump(include={"source", "media", "hashes", "decision", "matches"})


def test_the_reference_covers_every_kind_of_result(reference: list[ScanResult]) -> None:
    kinds = Counter(type(r).__name__ if isinstance(r, Verdict) else r.error for r in reference)
    assert kinds == CORPUS_KINDS


@pytest.mark.parametrize("engine", ENGINES)
def test_one_result_per_input_equal_to_the_in_process_scan(
    engine: tuple[Engine, bool, bool],
    corpus: list[Path],
    reference: list[ScanResult],
    request: pytest.FixtureRequest,
) -> None:
    run, keeps_order, needs_ray = engine
    if needs_ray:
        request.getfixturevalue("ray_cluster")

    results = list(run(corpus))

    if keeps_order:
        assert [r.source for r in results] == [str(p) for p in corpus]
    else:
        assert Counter(r.source for r in results) == Counter(str(p) for p in corpus)
    by_source = {r.source: r for r in results}
    for expected in reference:
        got = by_source[expected.source]
        assert _key(got) == _key(expected)
        if isinstance(expected, Verdict):
            assert isinstance(got, Verdict)
            assert got.scores.keys() == expected.scores.keys()
            for category, score in expected.scores.items():
                assert got.scores[category] == pytest.approx(score, abs=1e-4)
            assert [r.code for r in got.reasons] == [r.code for r in expected.reasons]
