"""``mediaguard exchanges status`` and ``fetch`` on a settings file with a drop folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mediaguard.commands.exchanges import main
from mediaguard.store import Store

from ._support import SECRET


def _flat(text: str) -> str:
    """Output with rich's wrapping and table rules undone."""
    return " ".join(text.replace("│", " ").split())


def test_status_and_fetch(
    migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.txt").write_text(f"md5 {hashlib.md5(b'a').hexdigest()}\n")
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'webhook_signing_secret = "{SECRET}"\n'
        f'database_url = "{migrated_url}"\n'
        f'data_dir = "{tmp_path / "data"}"\n'
        "[[exchanges]]\n"
        f'name = "drop"\nkind = "folder"\nlist = "manual"\npath = "{drop}"\n'
    )
    assert main(["status", "--settings", str(settings)]) == 0
    assert "drop folder manual 3600s 0" in _flat(capsys.readouterr().out)
    assert main(["fetch", "drop", "--settings", str(settings)]) == 0
    assert "drop: 1 page(s), 1 added" in _flat(capsys.readouterr().err)
    with Store.open(migrated_url) as store:
        assert store.lists.count_entries("manual") == 1
    assert main(["status", "--settings", str(settings)]) == 0
    out = _flat(capsys.readouterr().out)
    assert "drop folder manual 3600s 1" in out
    assert main(["fetch", "nope", "--settings", str(settings)]) == 2
    assert "no exchange 'nope'" in capsys.readouterr().err
