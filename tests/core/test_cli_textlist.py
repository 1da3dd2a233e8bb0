"""``mediaguard termlist`` and ``mediaguard urllist``: the list commands and their exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaguard.cli import EXIT_OK, EXIT_USAGE, main
from mediaguard.commands.hashlist import EXIT_LINES_REJECTED


def test_term_list_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["termlist", "create", "scam", "--category", "spam", "--action", "block"]) == 0
    lines = tmp_path / "terms.txt"
    lines.write_text("free bitcoin\nre:(a+)+\\1\nre:call \\d{3}\n")
    assert main(["termlist", "import", "scam", str(lines)]) == EXIT_LINES_REJECTED
    err = capsys.readouterr().err
    assert "2 added" in err
    assert "RE2 refuses" in err
    assert main(["termlist", "add", "scam", "Crypto  Giveaway"]) == EXIT_OK
    assert main(["termlist", "add", "scam", "re:(?<=x)y"]) == EXIT_USAGE  # look-behind
    capsys.readouterr()
    assert main(["termlist", "show", "scam", "--entries"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "crypto giveaway" in out
    assert "3" in out
    exported = tmp_path / "out.csv"
    assert main(["termlist", "export", "scam", str(exported), "--format", "csv"]) == EXIT_OK
    assert exported.read_text().splitlines()[0] == "value,type,note,external_id"
    assert main(["termlist", "remove", "scam", "FREE BITCOIN"]) == EXIT_OK
    assert "1 removed" in capsys.readouterr().err
    assert main(["urllist", "show", "scam"]) == EXIT_USAGE  # a term list, not a URL list
    assert main(["termlist", "rm", "scam", "--yes"]) == EXIT_OK


def test_url_list_and_a_protected_category(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["urllist", "create", "phishing", "--category", "fraud"]) == EXIT_OK
    assert main(["urllist", "add", "phishing", "Login.Example-Bank.COM.", "evil.example/x"]) == 0
    assert main(["urllist", "add", "phishing", "co.uk"]) == EXIT_USAGE
    assert "public suffix" in capsys.readouterr().err
    assert main(["urllist", "ls"]) == EXIT_OK
    assert "phishing" in capsys.readouterr().out
    assert main(["urllist", "create", "x", "--category", "ethnicity"]) == EXIT_USAGE
    assert main(["urllist", "import", "phishing", "/no/such/file"]) == EXIT_USAGE
