"""`mediaguard redact`: options, messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from mediaguard.commands import redact as command
from mediaguard.commands.context import EXIT_OK, EXIT_USAGE
from mediaguard.commands.redact import EXIT_FACES_VISIBLE, EXIT_FAILED, redact_command
from mediaguard.redaction import FaceDetector, RedactReport
from mediaguard.redaction.findings import Finding

from .conftest import MakeFaceVideo


@pytest.fixture
def app(face_detector: FaceDetector, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The command on its own app, sharing the suite's loaded face model."""
    original = command.redact

    def redact_with_shared_model(*args: object, **kwargs: object) -> RedactReport:
        return original(*args, face_detector=face_detector, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "redact", redact_with_shared_model)
    application = typer.Typer()
    application.command("redact")(redact_command)
    application.command("noop")(lambda: None)  # a second command keeps "redact" explicit
    return application


def _flat(text: str) -> str:
    """Output with rich's wrapping and panel borders undone, for phrase matching."""
    return " ".join(text.replace("│", " ").split())


def _run(app: typer.Typer, *args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["redact", *map(str, args)])
    return result.exit_code, _flat(result.output)


def _png(photos, path: Path) -> Path:
    Image.fromarray(photos.pixels("astronaut")).save(path)
    return path


def test_image_ok_and_verified(app: typer.Typer, tmp_path: Path, photos) -> None:
    code, output = _run(app, _png(photos, tmp_path / "in.png"), tmp_path / "out.png", "--verify")
    assert code == EXIT_OK, output
    assert "no face found" in output
    assert (tmp_path / "out.png").exists()


def test_video_ok(app: typer.Typer, tmp_path: Path, face_video: MakeFaceVideo) -> None:
    code, output = _run(app, face_video(frames=6, audio="aac"), tmp_path / "out.mp4")
    assert code == EXIT_OK, output
    assert "6 frames" in output
    assert "1 audio stream" in output


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["--mode", "pixelate"], id="mode"),
        pytest.param(["--mask-scale", "0.5"], id="mask-scale"),
        pytest.param(["--threshold", "1.5"], id="threshold"),
    ],
)
def test_usage_errors(app: typer.Typer, tmp_path: Path, photos, options: list[str]) -> None:
    code, _ = _run(app, _png(photos, tmp_path / "in.png"), tmp_path / "out.png", *options)
    assert code == EXIT_USAGE
    assert not (tmp_path / "out.png").exists()


def test_output_name_that_does_not_fit(app: typer.Typer, tmp_path: Path, photos) -> None:
    code, output = _run(app, _png(photos, tmp_path / "in.png"), tmp_path / "out.jpg")
    assert code == EXIT_USAGE
    assert ".png" in output


@pytest.mark.parametrize("case", ["corrupt", "unwritable", "missing"])
def test_failures_exit_4_and_write_nothing(
    app: typer.Typer, tmp_path: Path, photos, case: str
) -> None:
    source = _png(photos, tmp_path / "in.png")
    output = tmp_path / "out.png"
    if case == "corrupt":
        source.write_bytes(source.read_bytes()[:2000])
    elif case == "unwritable":
        output = tmp_path / "no-such-folder" / "out.png"
    else:
        source = tmp_path / "nope.png"
    code, output_text = _run(app, source, output)
    assert code == EXIT_FAILED, output_text
    assert "no output was written" in output_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_visible_faces_exit_1(
    app: typer.Typer, tmp_path: Path, photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _png(photos, tmp_path / "in.png")
    asked: dict[str, object] = {}

    def leaky(src: Path, out: Path, **kwargs: object) -> RedactReport:
        out.write_bytes(source.read_bytes())
        asked.update(kwargs)
        sheet = kwargs["contact_sheet"]
        assert isinstance(sheet, Path)
        sheet.write_bytes(b"png")
        return RedactReport(
            source=src, output=out, kind="video", mode="blur", mask_scale=1.3, threshold=0.2,
            frames=3, frames_masked=2, faces=2, regions=0, verified=True,
            findings=(Finding(2, (10, 20, 50, 70), 0.61), Finding(2, (100, 20, 140, 70), 0.3)),
            contact_sheet=sheet,
        )  # fmt: skip

    monkeypatch.setattr(command, "redact", leaky)
    code, output = _run(app, source, tmp_path / "out.png", "--verify")
    assert code == EXIT_FACES_VISIBLE
    assert "--verify found 2 face(s) still visible" in output
    assert "frame 2: box (10, 20)-(50, 70), score 0.61" in output
    assert "frame 2: box (100, 20)-(140, 70), score 0.30" in output
    # The sheet goes next to the output unless --contact-sheet says otherwise.
    assert asked["contact_sheet"] == tmp_path / "out.verify.png"
    assert f"contact sheet of their crops: {tmp_path / 'out.verify.png'}" in output
    assert (tmp_path / "out.png").exists()  # kept for inspection

    code, output = _run(
        app, source, tmp_path / "out.png", "--verify", "--contact-sheet", tmp_path / "s.png"
    )
    assert code == EXIT_FACES_VISIBLE
    assert asked["contact_sheet"] == tmp_path / "s.png"


def test_contact_sheet_needs_verify(app: typer.Typer, tmp_path: Path, photos) -> None:
    source = _png(photos, tmp_path / "in.png")
    code, output = _run(app, source, tmp_path / "out.png", "--contact-sheet", tmp_path / "s.png")
    assert code == EXIT_USAGE
    assert "--contact-sheet shows what --verify finds" in output
    assert not (tmp_path / "out.png").exists()


def test_help_explains_the_privacy_defaults(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["redact", "--help"], env={"COLUMNS": "240"})
    text = _flat(result.output)
    assert "privacy failure" in text
    assert "complete face" in text
    assert "GPS" in text
