"""``mediaguard hashlist`` and list matching through ``mediaguard scan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mediaguard.cli import EXIT_FLAGGED, EXIT_OK, EXIT_USAGE, main
from mediaguard.commands.hashlist import EXIT_LINES_REJECTED


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    from skimage import data

    path = tmp_path / "rocket.jpg"
    Image.fromarray(data.rocket()).save(path, quality=90)
    return path


def _hashes(photo: Path, tmp_path: Path) -> dict[str, str]:
    out = tmp_path / "first.jsonl"
    assert main(["scan", str(photo), "-f", "jsonl", "-o", str(out), "-w", "1"]) == EXIT_OK
    record = json.loads(out.read_text())
    return {"md5": record["hashes"]["md5"], "pdq": record["hashes"]["pdq"][0]["hash"]}


def test_list_lifecycle_and_scan_matches(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = _hashes(photo, tmp_path)
    lines = tmp_path / "list.txt"
    lines.write_text(f"pdq {hashes['pdq']}\nbogus line\n")
    assert main(["hashlist", "create", "tvec", "--category", "terrorism", "--action", "block"]) == 0
    capsys.readouterr()
    assert main(["hashlist", "import", "tvec", str(lines)]) == EXIT_LINES_REJECTED
    err = capsys.readouterr().err
    assert "1 added" in err
    assert "bogus line" in err
    # The photo was scanned (and recorded) before the list existed: retroactive match.
    assert "retroactive" in err
    assert "allow" in err.split("retroactive")[1]  # the earlier decision is shown

    assert main(["hashlist", "ls"]) == EXIT_OK
    assert "tvec" in capsys.readouterr().out
    assert main(["hashlist", "show", "tvec"]) == EXIT_OK
    assert "pdq entries" in capsys.readouterr().out
    assert main(["hashlist", "lookup", hashes["pdq"], "--type", "pdq"]) == EXIT_OK
    assert "1 match(es)" in capsys.readouterr().out

    out = tmp_path / "v.jsonl"
    code = main(["scan", str(photo), "-f", "jsonl", "-o", str(out), "-w", "1"])
    assert code == EXIT_FLAGGED
    verdict = json.loads(out.read_text())
    assert verdict["decision"] == "block"
    assert verdict["matches"][0]["list"] == "tvec"
    assert main(["scan", str(photo), "--no-lists", "-w", "1"]) == EXIT_OK

    exported = tmp_path / "export.txt"
    assert main(["hashlist", "export", "tvec", str(exported)]) == EXIT_OK
    assert exported.read_text() == f"pdq {hashes['pdq']}\n"
    assert main(["hashlist", "rm", "tvec", "--yes"]) == EXIT_OK
    assert main(["scan", str(photo), "-w", "1"]) == EXIT_OK


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["hashlist", "import", "missing", "x.txt"], id="missing-file"),
        pytest.param(["hashlist", "show", "nope"], id="missing-list"),
        pytest.param(
            ["hashlist", "create", "bad", "--category", "religious_content"], id="protected"
        ),
        pytest.param(["hashlist", "create", "Bad Name!", "--category", "spam"], id="bad-name"),
        pytest.param(["hashlist", "lookup", "xyz"], id="bad-hash"),
    ],
)
def test_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == EXIT_USAGE
    assert "error" in capsys.readouterr().err.lower()


def test_lookup_infers_md5_from_32_hex_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md5 = "0123456789abcdef" * 2
    lines = tmp_path / "l.txt"
    lines.write_text(f"md5 {md5}\n")
    assert main(["hashlist", "create", "known", "--category", "spam", "--action", "block"]) == 0
    assert main(["hashlist", "import", "known", str(lines)]) == EXIT_OK
    capsys.readouterr()
    assert main(["hashlist", "lookup", md5.upper()]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 match(es)" in out
    assert "md5" in out


def test_lookup_of_64_hex_digits_asks_for_the_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hashlist", "lookup", "ab" * 32]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert "SHA-256 or a PDQ hash" in err
    assert "--type sha256 or --type pdq" in err


def test_import_into_missing_list_exits_2(tmp_path: Path) -> None:
    lines = tmp_path / "l.txt"
    lines.write_text("md5 " + "a" * 32 + "\n")
    assert main(["hashlist", "import", "ghost", str(lines)]) == EXIT_USAGE
