"""The scan configuration file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from mediaguard.config import ScanConfig
from mediaguard.errors import ConfigError

FULL = """
[limits]
max_bytes = 1000000
working_size = 640
[video_limits]
max_duration_s = 600
[sampling]
rate = "1/2"
scene_cuts = false
[scan]
dihedral = true
hashlists = true
record = false
database_url = "sqlite:///x.db"
[[detectors]]
name = "open_nsfw"
[[detectors]]
name = "onnx"
id = "weapons"
model = "models/w.onnx"
"""


def test_full_config(tmp_path: Path) -> None:
    path = tmp_path / "mediaguard.toml"
    path.write_text(FULL)
    config = ScanConfig.load(path)
    assert config.limits.max_bytes == 1_000_000
    assert config.limits.working_size == 640
    assert config.video_limits.max_duration_s == 600
    assert config.sampling.rate == Fraction(1, 2)
    assert not config.sampling.scene_cuts
    assert (config.dihedral, config.hashlists, config.record) == (True, True, False)
    assert config.database_url == "sqlite:///x.db"
    assert [d.name for d in config.detectors] == ["open_nsfw", "onnx"]
    assert config.detectors[1].options["model"] == "models/w.onnx"
    assert config.base_dir == tmp_path


def test_defaults() -> None:
    config = ScanConfig.from_mapping({}, base_dir=Path())
    assert [d.name for d in config.detectors] == ["open_nsfw"]
    assert not config.hashlists
    assert config.record


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"limit": {}}, "limit", id="unknown-section"),
        pytest.param({"limits": {"max_bytes": -1}}, "limits.max_bytes", id="negative"),
        pytest.param({"limits": {"max_byte": 1}}, "max_byte", id="unknown-limit"),
        pytest.param({"scan": {"dihedral": "yes"}}, "scan.dihedral", id="not-bool"),
        pytest.param({"scan": {"frobnicate": 1}}, "frobnicate", id="unknown-scan-key"),
        pytest.param({"scan": {"database_url": 5}}, "scan.database_url", id="bad-url"),
        pytest.param({"detectors": {"name": "x"}}, "detectors", id="not-array"),
        pytest.param({"detectors": [{"id": "x"}]}, "detectors[0].name", id="no-name"),
        pytest.param({"sampling": {"rate": 0}}, "sampling.rate", id="zero-rate"),
        pytest.param({"video_limits": {"max_frames": 0}}, "max_frames", id="zero-frames"),
    ],
)
def test_errors_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        ScanConfig.from_mapping(data, base_dir=Path())


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        ScanConfig.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ScanConfig.load(bad)
