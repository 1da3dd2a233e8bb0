"""The CLI, driven in-process through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mediaguard.cli import EXIT_FLAGGED, EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, main

STRICT = 'name = "strict"\nversion = "3"\n[categories.sexual]\nreview = 0.0\nblock = 0.0\n'


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos in a nested folder, with names that lie about their format."""
    from skimage import data

    root = tmp_path_factory.mktemp("scan")
    (root / "nested").mkdir()
    Image.fromarray(data.chelsea()).save(root / "chelsea.jpg", quality=90)
    Image.fromarray(data.coffee()).save(root / "nested" / "coffee.dat", format="PNG")
    Image.fromarray(data.rocket()).save(root / "nested" / "rocket.png", format="WEBP")
    return root


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Path:
    """The good photos plus files that cannot be scanned."""
    root = tmp_path_factory.mktemp("mixed")
    for path in folder.rglob("*"):
        if path.is_file():
            (root / path.name).write_bytes(path.read_bytes())
    (root / "empty.jpg").write_bytes(b"")
    (root / "page.jpg").write_text("<!doctype html><html><body>not a photo</body></html>")
    (root / "cut.jpg").write_bytes((folder / "chelsea.jpg").read_bytes()[:3000])
    return root


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scan_folder_recursively_writes_jsonl(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code = main(["scan", str(folder), "--format", "jsonl", "--output", str(out), "--workers", "1"])
    assert code == EXIT_OK
    records = _jsonl(out)
    assert sorted(Path(str(r["source"])).name for r in records) == [
        "chelsea.jpg",
        "coffee.dat",
        "rocket.png",
    ]
    formats = {Path(str(r["source"])).name: r["media"]["format"] for r in records}  # type: ignore[index]
    assert formats == {"chelsea.jpg": "jpeg", "coffee.dat": "png", "rocket.png": "webp"}
    assert all(r["decision"] == "allow" for r in records)


def test_json_output_is_one_array(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert main(["scan", str(folder), "-f", "json", "-o", str(out), "-w", "1"]) == EXIT_OK
    document = json.loads(out.read_text())
    assert isinstance(document, list)
    assert len(document) == 3


def test_mixed_folder_scans_all_good_files_and_lists_bad_ones(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code = main(["scan", str(mixed), "-f", "jsonl", "-o", str(out), "-w", "1"])
    assert code == EXIT_UNREADABLE
    records = {Path(str(r["source"])).name: r for r in _jsonl(out)}
    assert len(records) == 6
    assert {n for n, r in records.items() if "decision" in r} == {
        "chelsea.jpg",
        "coffee.dat",
        "rocket.png",
    }
    assert records["empty.jpg"]["error"] == "UnsupportedMedia"
    assert records["page.jpg"]["error"] == "UnsupportedMedia"
    assert records["cut.jpg"]["error"] == "CorruptMedia"


def test_process_pool_gives_same_results_in_order(mixed: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert main(["scan", str(mixed), "-f", "jsonl", "-o", str(one), "-w", "1"]) == EXIT_UNREADABLE
    assert main(["scan", str(mixed), "-f", "jsonl", "-o", str(two), "-w", "2"]) == EXIT_UNREADABLE
    first, second = _jsonl(one), _jsonl(two)
    assert [r["source"] for r in first] == [r["source"] for r in second]
    for a, b in zip(first, second, strict=True):
        assert a.get("hashes") == b.get("hashes")
        assert a.get("decision") == b.get("decision")
        for category, score in dict(a.get("scores", {})).items():  # type: ignore[call-overload]
            assert score == pytest.approx(dict(b["scores"])[category], abs=1e-4)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [
        pytest.param("review", EXIT_FLAGGED, id="review"),
        pytest.param("block", EXIT_FLAGGED, id="block"),
    ],
)
def test_fail_on(folder: Path, tmp_path: Path, fail_on: str, expected: int) -> None:
    policy = tmp_path / "strict.toml"
    policy.write_text(STRICT)
    assert (
        main(["scan", str(folder), "-p", str(policy), "--fail-on", fail_on, "-w", "1"]) == expected
    )


def test_review_only_does_not_fail_on_block(folder: Path, tmp_path: Path) -> None:
    policy = tmp_path / "review.toml"
    policy.write_text('name = "r"\nversion = "1"\n[categories.sexual]\nreview = 0.0\n')
    assert (
        main(["scan", str(folder), "-p", str(policy), "--fail-on", "block", "-w", "1"]) == EXIT_OK
    )
    assert main(["scan", str(folder), "-p", str(policy), "--fail-on", "review", "-w", "1"]) == (
        EXIT_FLAGGED
    )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["scan"], id="no-paths"),
        pytest.param(["scan", ".", "--format", "xml"], id="bad-format"),
        pytest.param(["scan", ".", "--workers", "0"], id="bad-workers"),
        pytest.param(["scan", ".", "--detectors", "nope"], id="unknown-detector"),
        pytest.param(["frobnicate"], id="unknown-command"),
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert main(args) == EXIT_USAGE


def test_bad_policy_exits_2_and_names_field(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text('name = "x"\nversion = "1"\n[categories.sexual]\nblock = 7\n')
    assert main(["scan", str(folder), "-p", str(policy)]) == EXIT_USAGE
    assert "categories.sexual.block" in capsys.readouterr().err


def test_protected_policy_category_exits_2(folder: Path, tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text('name = "x"\nversion = "1"\n[categories.ethnicity]\nreview = 0.5\n')
    assert main(["scan", str(folder), "-p", str(policy)]) == EXIT_USAGE


def test_missing_input_is_listed_not_fatal(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    missing = tmp_path / "nope.jpg"
    code = main(["scan", str(folder), str(missing), "-f", "jsonl", "-o", str(out), "-w", "1"])
    assert code == EXIT_UNREADABLE
    records = _jsonl(out)
    assert len(records) == 4
    assert records[-1]["source"] == str(missing)
    assert "error" in records[-1]


def test_models_lists_licences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "open_nsfw" in out
    assert "BSD-2-Clause" in out
    # The face model of `mediaguard redact` is listed with its licence too.
    assert "centerface" in out
    assert "MIT" in out


def test_models_shows_opt_in_agpl_nudenet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--detectors", "open_nsfw,nudenet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "AGPL-3.0" in out
    assert "nudenet" in out


def test_samples_command_writes_real_photos(tmp_path: Path) -> None:
    assert main(["samples", str(tmp_path / "s")]) == EXIT_OK
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert "grace_hopper.jpg" in files
    assert "coffee.heif" in files
    assert main(["scan", str(tmp_path / "s"), "-w", "1"]) == EXIT_OK
