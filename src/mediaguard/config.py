"""Scan configuration: limits, which detectors run, and how hashes are matched.

Design note: the configuration says *what runs*; the policy says *what it means*. They
are separate files because they change for different reasons and are owned by different
people (platform engineers versus policy teams). Relative paths in the configuration,
such as a custom model's weights, resolve against the file's own directory so a config
and its models can be moved together.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mediaguard.errors import ConfigError
from mediaguard.media.limits import Limits, VideoLimits
from mediaguard.media.sampling import Sampling
from mediaguard.signals import text


@dataclass(frozen=True, slots=True)
class TextOptions:
    """The ``[text]`` table: reading text in images (OCR), opt-in because of its cost.

    Attributes:
        enabled: read text (needs ``pip install 'mediaguard[text]'``).
        min_confidence: lines recognised with a lower confidence are not reported.
        upright: also turn upside-down lines (one more model, a little slower).
        input_size: long side, pixels, of the frames text is read on; frames are
            decoded at least this large when text is on.
        detect_size: long side, pixels, of the copy lines are found on.
    """

    enabled: bool = False
    min_confidence: float = text.DEFAULT_MIN_CONFIDENCE
    upright: bool = False
    input_size: int = text.DEFAULT_INPUT_SIZE
    detect_size: int = text.DEFAULT_DETECT_SIZE

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TextOptions:
        """Raises: ConfigError naming the invalid field."""
        values = dict(data)
        enabled = _flag(values, "text", "enabled", default=False)
        upright = _flag(values, "text", "upright", default=False)
        confidence = values.pop("min_confidence", text.DEFAULT_MIN_CONFIDENCE)
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise ConfigError(f"text.min_confidence: expected a number, got {confidence!r}")
        if not 0.0 <= confidence <= 1.0:
            raise ConfigError(f"text.min_confidence: expected 0 to 1, got {confidence!r}")
        sizes = {}
        for key, default in (
            ("input_size", text.DEFAULT_INPUT_SIZE),
            ("detect_size", text.DEFAULT_DETECT_SIZE),
        ):
            size = values.pop(key, default)
            if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 8192:
                raise ConfigError(f"text.{key}: expected pixels from 32 to 8192, got {size!r}")
            sizes[key] = size
        _no_more(values, "text", ("enabled", "min_confidence", "upright", *sizes))
        return cls(enabled, float(confidence), upright, **sizes)


@dataclass(frozen=True, slots=True)
class CodeOptions:
    """The ``[codes]`` table: reading QR codes and barcodes, on by default (it is cheap)."""

    enabled: bool = True

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CodeOptions:
        """Raises: ConfigError naming the invalid field."""
        values = dict(data)
        enabled = _flag(values, "codes", "enabled", default=True)
        _no_more(values, "codes", ("enabled",))
        return cls(enabled)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """One ``[[detectors]]`` table: the registry name plus the detector's own options."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


DEFAULT_DETECTORS = (DetectorSpec("open_nsfw"),)
_SCAN_FLAGS = {"dihedral": False, "hashlists": False, "record": True}


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """Everything a scanner needs besides the policy.

    Attributes:
        limits: resource limits for image intake.
        video_limits: resource limits for video intake.
        sampling: which video frames are scanned (fixed rate plus scene cuts).
        detectors: detectors to run, in order.
        dihedral: also match the 8 rotations/mirrors of each PDQ hash.
        hashlists: match against the hash lists in the store.
        record: record scanned items' hashes and matches in the store, for retroactive
            matching and quarantine (only when ``hashlists`` is on).
        text: reading text in images (``[text]``).
        codes: reading QR codes and barcodes (``[codes]``).
        database_url: the store; None for ``$MEDIAGUARD_DATABASE_URL`` or the default
            SQLite file in the data directory.
        base_dir: where relative paths in detector options resolve.
    """

    limits: Limits = field(default_factory=Limits)
    video_limits: VideoLimits = field(default_factory=VideoLimits)
    sampling: Sampling = field(default_factory=Sampling)
    detectors: tuple[DetectorSpec, ...] = DEFAULT_DETECTORS
    dihedral: bool = False
    hashlists: bool = False
    record: bool = True
    text: TextOptions = field(default_factory=TextOptions)
    codes: CodeOptions = field(default_factory=CodeOptions)
    database_url: str | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base_dir: Path) -> ScanConfig:
        """Build a config from a parsed TOML document.

        Raises:
            ConfigError: naming the invalid field and what was expected.
        """
        sections = ("limits", "video_limits", "sampling", "scan", "text", "codes", "detectors")
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(
                f"unknown section(s) {', '.join(unknown)}; expected {', '.join(sections)}"
            )
        limits = Limits.from_mapping(_table(data, "limits"))
        video_limits = VideoLimits.from_mapping(_table(data, "video_limits"))
        sampling = Sampling.from_mapping(_table(data, "sampling"))
        scan = dict(_table(data, "scan"))
        flags = {key: scan.pop(key, default) for key, default in _SCAN_FLAGS.items()}
        database_url = scan.pop("database_url", None)
        if scan:
            raise ConfigError(
                f"scan: unknown field(s) {', '.join(sorted(scan))}; expected "
                f"{', '.join([*_SCAN_FLAGS, 'database_url'])}"
            )
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise ConfigError(f"scan.{key}: expected true or false, got {value!r}")
        if database_url is not None and not isinstance(database_url, str):
            raise ConfigError(f"scan.database_url: expected a URL string, got {database_url!r}")
        detectors: tuple[DetectorSpec, ...] = DEFAULT_DETECTORS
        if "detectors" in data:
            detectors = tuple(_detector(i, t) for i, t in enumerate(_array(data, "detectors")))
        return cls(
            limits=limits,
            video_limits=video_limits,
            sampling=sampling,
            detectors=detectors,
            text=TextOptions.from_mapping(_table(data, "text")),
            codes=CodeOptions.from_mapping(_table(data, "codes")),
            database_url=database_url,
            base_dir=base_dir,
            **flags,
        )

    @classmethod
    def load(cls, path: str | Path) -> ScanConfig:
        """Read a TOML config file.

        Raises:
            ConfigError: when the file is unreadable, not TOML, or invalid.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
        return cls.from_mapping(data, base_dir=path.resolve().parent)

    def with_detectors(self, names: list[str]) -> ScanConfig:
        """A copy running the named detectors with default options."""
        return replace(self, detectors=tuple(DetectorSpec(n) for n in names))


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
    return value


def _flag(values: dict[str, Any], section: str, key: str, *, default: bool) -> bool:
    value = values.pop(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{section}.{key}: expected true or false, got {value!r}")
    return value


def _no_more(values: Mapping[str, Any], section: str, expected: tuple[str, ...]) -> None:
    if values:
        raise ConfigError(
            f"{section}: unknown field(s) {', '.join(sorted(values))}; expected "
            f"{', '.join(expected)}"
        )


def _array(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected an array of tables ([[{key}]]), got {value!r}")
    return value


def _detector(index: int, table: Any) -> DetectorSpec:
    if not isinstance(table, Mapping):
        raise ConfigError(f"detectors[{index}]: expected a table, got {table!r}")
    options = dict(table)
    name = options.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"detectors[{index}].name: expected a detector name, got {name!r}")
    return DetectorSpec(name=name, options=options)
