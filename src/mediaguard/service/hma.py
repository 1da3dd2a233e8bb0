"""HMA's banks, hashing and matching, served from mediaguard's hash lists.

Design note: Hasher-Matcher-Actioner (HMA 2.0, "Open Media Match") keeps hashes in
*banks* of *content*, each content carrying one signal per signal type. mediaguard keeps
them in hash lists of entries, one hash each. The mapping is deliberately thin, so one
store serves both APIs and a list imported or fetched through ``/v1`` is a bank here:

* a bank ``NAME_1`` is the hash list ``name_1`` (HMA's ``UPPER_WITH_UNDERSCORE`` names,
  lowercased; a list whose name has ``.`` or ``-`` is not shown as a bank);
* a bank content id is an entry id; content added with several signals becomes one
  entry per signal, and the id returned is the first one's;
* ``matching_enabled_ratio`` lives in ``hma_banks`` (1.0 when never set) and is applied by
  ``/m/lookup``'s seeded coin flip exactly as HMA does; ``/m/raw_lookup`` ignores it;
* signal types use HMA's names: ``pdq``, ``video_md5`` (our ``md5``); our ``sha256`` and
  ``vpdq`` entries are reported under those names.

Shapes follow HMA's blueprints (``OpenMediaMatch/blueprints``), including the distance
being a string, as HMA's ``pretty_str`` writes it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mediaguard.match.types import (
    HashFormatError,
    Match,
    SignalType,
    parse_signal_type,
    parse_value,
)
from mediaguard.media import MediaError, load
from mediaguard.service.errors import ApiError
from mediaguard.service.exchanges.config import ExchangeSettings
from mediaguard.service.outbound import Fetcher
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.signals import hashes
from mediaguard.store import AlreadyExistsError, HashListInfo, NewEntry, NotFoundError

#: HMA's names of our signal types, for output.
HMA_NAMES: Final[Mapping[SignalType, str]] = {
    SignalType.PDQ: "pdq",
    SignalType.MD5: "video_md5",
    SignalType.SHA256: "sha256",
    SignalType.VPDQ: "vpdq",
}
#: HMA's content types, and the signal types each is hashed with by default.
CONTENT_TYPES: Final[Mapping[str, tuple[SignalType, ...]]] = {
    "photo": (SignalType.PDQ,),
    "video": (SignalType.MD5,),
}
#: HMA's PDQ_CONFIDENT_MATCH_THRESHOLD, used by /m/compare.
COMPARE_PDQ_THRESHOLD: Final = 31
_BANK: Final = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_LIST: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


def list_name(bank: str) -> str:
    """The hash list behind bank ``bank``.

    Raises:
        ApiError: 400 when the name is not ``UPPER_WITH_UNDERSCORE`` (leading letter).
    """
    if not _BANK.fullmatch(bank):
        raise ApiError(
            400,
            "invalid_bank_name",
            "Bank names must be UPPER_WITH_UNDERSCORE, start with a letter and have at "
            "most 64 characters",
        )
    return bank.lower()


def bank_name(info: HashListInfo) -> str | None:
    """The bank name of a list, or None when its name has no bank spelling."""
    return info.name.upper() if _LIST.fullmatch(info.name) else None


def hma_signal(name: str) -> SignalType:
    """Our signal type for an HMA signal type name.

    Raises:
        ApiError: 400 ``No such SignalType``.
    """
    try:
        return parse_signal_type(name)
    except HashFormatError as err:
        raise ApiError(400, "invalid_signal_type", f"No such SignalType '{name}'") from err


# ------------------------------------------------------------------------- banks


def _bank(info: HashListInfo, ratio: float) -> dict[str, Any]:
    return {"name": bank_name(info), "matching_enabled_ratio": ratio}


def banks(runtime: ServiceRuntime) -> list[dict[str, Any]]:
    """``GET /c/banks``: every list that has a bank name."""
    shown = [info for info in runtime.store.lists.lists() if bank_name(info) is not None]
    ratios = runtime.store.exchanges.bank_ratios(info.id for info in shown)
    return [_bank(info, ratios[info.id]) for info in shown]


def get_bank(runtime: ServiceRuntime, bank: str) -> dict[str, Any]:
    """``GET /c/bank/<name>``.

    Raises:
        ApiError: 404 when there is no such bank.
    """
    info = _info(runtime, bank)
    return _bank(info, runtime.store.exchanges.bank_ratios([info.id])[info.id])


def _info(runtime: ServiceRuntime, bank: str) -> HashListInfo:
    try:
        return runtime.store.lists.get_list(list_name(bank))
    except NotFoundError as err:
        raise ApiError(404, "not_found", f"bank '{bank}' not found") from err


def _changed(runtime: ServiceRuntime) -> None:
    if runtime.matcher is not None:
        runtime.matcher.mark_stale()


def create_bank(runtime: ServiceRuntime, bank: str, ratio: float) -> dict[str, Any]:
    """``POST /c/banks``: a new list with the configured category and action.

    Raises:
        ApiError: 400 for a bad name or ratio; 403 when the bank exists (as HMA).
    """
    name = list_name(bank)
    _check_ratio(ratio)
    settings = runtime.settings
    try:
        runtime.store.lists.create_list(
            name,
            settings.hma_bank_category,
            settings.hma_bank_action,
            source="hma",
            description="created through HMA's API",
        )
    except AlreadyExistsError as err:
        raise ApiError(403, "already_exists", "Bank already exists") from err
    if ratio != 1.0:
        runtime.store.exchanges.set_bank_ratio(name, ratio)
    _changed(runtime)
    return get_bank(runtime, bank)


def _check_ratio(ratio: float) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ApiError(400, "invalid_ratio", "enabled_ratio must be between 0.0 and 1.0")


def update_bank(
    runtime: ServiceRuntime, bank: str, *, new_name: str | None, ratio: float | None
) -> dict[str, Any]:
    """``PUT /c/bank/<name>``: change the ratio; renaming is not supported.

    Raises:
        ApiError: 404 without the bank; 400 for a rename, a bad name or ratio.
    """
    info = _info(runtime, bank)
    if new_name is not None and new_name != bank:
        list_name(new_name)
        raise ApiError(
            400, "not_supported", "renaming a bank is not supported by mediaguard's hash lists"
        )
    if ratio is not None:
        _check_ratio(ratio)
        runtime.store.exchanges.set_bank_ratio(info.name, ratio)
        _changed(runtime)
    return get_bank(runtime, bank)


def delete_bank(runtime: ServiceRuntime, bank: str) -> None:
    """``DELETE /c/bank/<name>``; deleting a bank that does not exist succeeds, as in HMA."""
    try:
        runtime.store.lists.delete_list(list_name(bank))
    except NotFoundError:
        return
    _changed(runtime)


# ----------------------------------------------------------------------- content


def _content(runtime: ServiceRuntime, bank: str, content_id: int) -> Any:
    info = _info(runtime, bank)
    found = [e for e in runtime.store.lists.get_entries([content_id]) if e.list_id == info.id]
    if not found:
        raise ApiError(404, "not_found", f"content '{content_id}' not found")
    return info, found[0]


def get_content(
    runtime: ServiceRuntime, bank: str, content_id: int, *, signals: bool, metadata: bool
) -> dict[str, Any]:
    """``GET /c/bank/<name>/content/<id>``, in HMA's ``BankContentResponse`` shape.

    Raises:
        ApiError: 404 without the bank or content.
    """
    info, entry = _content(runtime, bank, content_id)
    ratio = runtime.store.exchanges.bank_ratios([info.id])[info.id]
    body: dict[str, Any] = {
        "id": entry.id,
        "disable_until_ts": 1,
        "original_media_uri": None,
        "bank": _bank(info, ratio),
    }
    if signals:
        body["signals"] = {HMA_NAMES[SignalType(entry.signal_type)]: entry.value}
    if metadata and entry.external_id:
        body["metadata"] = {"content_id": entry.external_id}
    if entry.note:
        body["note"] = entry.note
    return body


def add_signals(
    runtime: ServiceRuntime, bank: str, signals: Mapping[str, Any], note: str | None
) -> dict[str, Any]:
    """Add one content's signals to a bank; HMA's ``{"id", "signals"}`` answer.

    Raises:
        ApiError: 404 without the bank; 400 for no signals, an unknown type, a bad hash.
    """
    info = _info(runtime, bank)
    if not signals:
        raise ApiError(400, "no_signals", "No signals given")
    if note is not None and (not isinstance(note, str) or len(note) > 255):
        raise ApiError(400, "invalid_note", "note must be a string of at most 255 characters")
    parsed: dict[SignalType, str] = {}
    for name, value in signals.items():
        signal = hma_signal(name)
        if signal is SignalType.VPDQ or not isinstance(value, str):
            raise ApiError(400, "invalid_signal", f"Invalid {name} signal")
        try:
            parsed[signal] = parse_value(signal, value)
        except HashFormatError as err:
            raise ApiError(400, "invalid_signal", f"Invalid {name} signal: {err}") from err
    ids: list[int] = []
    for signal, value in parsed.items():
        result = runtime.store.lists.add_entries(
            info.name,
            [NewEntry(signal.value, value, note=note or None)],
            return_ids=True,
            atomic=True,
        )
        ids.extend(result.added_ids or [])
        if not result.added_ids:
            ids.extend(_existing(runtime, info.name, signal, value))
    _changed(runtime)
    return {"id": ids[0], "signals": {HMA_NAMES[s]: v for s, v in parsed.items()}}


def _existing(runtime: ServiceRuntime, list_name: str, signal: SignalType, value: str) -> list[int]:
    """The id of ``value`` already in the list: from the index, not by reading the list."""
    if runtime.matcher is not None:
        runtime.matcher.mark_stale()
        found = [
            m.entry_id
            for m in runtime.matcher.lookup(signal, value)
            if m.list == list_name and m.value == value
        ]
        if found:
            return found[:1]
    entries = runtime.store.lists.iter_entries(list_name, signal.value)
    return [next(e.id for e in entries if e.value == value)]


def remove_content(runtime: ServiceRuntime, bank: str, content_id: int) -> int:
    """``DELETE /c/bank/<name>/content/<id>``: how many entries were removed (0 or 1).

    Raises:
        ApiError: 404 without the bank.
    """
    info = _info(runtime, bank)
    found = [e for e in runtime.store.lists.get_entries([content_id]) if e.list_id == info.id]
    if not found:
        return 0
    removed = runtime.store.lists.remove_entries(
        info.name, [found[0].value], signal_type=found[0].signal_type
    )
    _changed(runtime)
    return removed


# ----------------------------------------------------------------------- hashing


@dataclass(frozen=True, slots=True)
class Media:
    """Bytes to hash and the HMA content type they are."""

    data: bytes
    content_type: str


def content_type_of(declared: str | None, header: str | None) -> str:
    """HMA's content type: the one asked for, else from the response's ``Content-Type``.

    Raises:
        ApiError: 400 for an unknown type or one that cannot be told.
    """
    if declared:
        if declared not in CONTENT_TYPES:
            raise ApiError(400, "invalid_content_type", f"no such content_type: '{declared}'")
        return declared
    kind = (header or "").lower()
    if kind.startswith("image"):
        return "photo"
    if kind.startswith("video"):
        return "video"
    raise ApiError(
        400,
        "invalid_content_type",
        f"unsupported url ContentType: '{header}', if you know the expected type, provide "
        "it with the content_type query param",
    )


def selected(content_type: str, types: str | None) -> tuple[SignalType, ...]:
    """The signal types to hash: HMA's ``types`` list, or the content type's defaults.

    Raises:
        ApiError: 400 for a type that does not exist for this content type, or none.
    """
    allowed = CONTENT_TYPES[content_type]
    if types is None:
        return allowed
    chosen: list[SignalType] = []
    for raw in types.split(","):
        name = raw.strip()
        if not name:
            continue
        signal = parse_signal_type(name) if name in ("pdq", "video_md5", "md5") else None
        if signal is None or signal not in allowed:
            raise ApiError(
                400, "invalid_signal_type", f"signal type '{name}' doesn't exist or is disabled"
            )
        chosen.append(signal)
    if not chosen:
        raise ApiError(400, "invalid_signal_type", "empty signal type selection")
    return tuple(chosen)


def hash_media(runtime: ServiceRuntime, media: Media, types: str | None) -> dict[str, str]:
    """HMA's ``{signal type: hash}`` of some media.

    Raises:
        MediaError: when a photo cannot be decoded (its typed error, 4xx).
    """
    result: dict[str, str] = {}
    for signal in selected(media.content_type, types):
        if signal is SignalType.PDQ:
            decoded = load(media.data, runtime.scanner.config.limits)
            result["pdq"] = hashes.pdq(decoded.frames[0]).hex
        else:
            result["video_md5"] = hashes.digests(media.data).md5
    return result


def fetch_media(runtime: ServiceRuntime, url: str, content_type: str | None) -> Media:
    """Download ``url`` under the webhook guard and the scan size limit.

    Raises:
        FetchError: refused, too large, timed out or failed (4xx).
        ApiError: 400 when the content type cannot be told.
    """
    settings = runtime.settings
    fetcher = Fetcher(
        max_bytes=settings.max_scan_bytes,
        timeout=settings.url_fetch_timeout_seconds,
        allow_private=settings.url_fetch_allow_private,
    )
    fetched = fetcher.get(url)
    return Media(fetched.body, content_type_of(content_type, fetched.headers.get("content-type")))


# ---------------------------------------------------------------------- matching


def _matcher(runtime: ServiceRuntime) -> Any:
    if runtime.matcher is None:
        raise ApiError(503, "hashlists_disabled", "hash lists are turned off in the settings")
    return runtime.matcher


def query(runtime: ServiceRuntime, signal_type: str, signal: str) -> list[Match]:
    """The entries one hash matches, with each list's PDQ radius.

    Raises:
        ApiError: 400 for an unknown type or invalid hash; 503 without hash lists.
    """
    parsed = hma_signal(signal_type)
    try:
        value = parse_value(parsed, signal)
    except HashFormatError as err:
        raise ApiError(400, "invalid_signal", f"invalid signal: {err}") from err
    return list(_matcher(runtime).lookup(parsed, value))


def _distance(match: Match) -> str:
    return str(match.distance)


def _filter_banks(matches: Sequence[Match], banks: set[str] | None) -> list[tuple[str, Match]]:
    """Matches with their bank names: lists without one are left out, as are other banks."""
    return [
        (m.list.upper(), m)
        for m in matches
        if _LIST.fullmatch(m.list) and (banks is None or m.list.upper() in banks)
    ]


def raw_lookup(
    runtime: ServiceRuntime,
    signal_type: str,
    signal: str,
    *,
    banks: set[str] | None,
    include_distance: bool,
) -> dict[str, Any]:
    """``GET /m/raw_lookup``: ``{"matches": [ids]}``, or with distances."""
    kept = _filter_banks(query(runtime, signal_type, signal), banks)
    if include_distance:
        return {
            "matches": [{"bank_content_id": m.entry_id, "distance": _distance(m)} for _b, m in kept]
        }
    return {"matches": [m.entry_id for _b, m in kept]}


def lookup(
    runtime: ServiceRuntime,
    signal_type: str,
    signal: str,
    *,
    banks: set[str] | None,
    seed: str | None,
    bypass_coinflip: bool,
) -> dict[str, list[dict[str, Any]]]:
    """HMA's ``{bank: [{"bank_content_id", "distance"}]}`` for one hash.

    Banks are kept when their ``matching_enabled_ratio`` is at least a coin flip seeded
    by ``seed`` (HMA's roll-out: the same seed, the same banks), unless bypassed.
    """
    matches = query(runtime, signal_type, signal)
    kept = _filter_banks(matches, banks)
    lists = {info.name: info.id for info in runtime.store.lists.lists()}
    ratios = runtime.store.exchanges.bank_ratios(lists[m.list] for _b, m in kept if m.list in lists)
    coin = 0.0 if bypass_coinflip else random.Random(seed).random()
    result: dict[str, list[dict[str, Any]]] = {}
    for bank, m in kept:
        if m.list in lists and ratios[lists[m.list]] >= coin:
            result.setdefault(bank, []).append(
                {"bank_content_id": m.entry_id, "distance": _distance(m)}
            )
    return result


def compare(body: Any) -> dict[str, Any]:
    """``POST /m/compare``: ``{type: [match, {"distance": d}]}`` for each pair.

    Raises:
        ApiError: 400 for a body that is not an object of two-hash lists, or a bad hash.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Request input was not a dict")
    result: dict[str, Any] = {}
    for name, pair in body.items():
        if not isinstance(pair, list):
            raise ApiError(400, "bad_request", f"Comparison hashes for {name} was not a list")
        if len(pair) != 2:
            raise ApiError(400, "bad_request", "Comparison hash list length must be exactly 2")
        signal = hma_signal(name)
        if signal is SignalType.VPDQ or not all(isinstance(h, str) for h in pair):
            raise ApiError(400, "bad_request", f"{name} does not support hash comparison")
        try:
            left, right = (parse_value(signal, h) for h in pair)
        except HashFormatError as err:
            raise ApiError(400, "invalid_signal", f"Invalid {name} hash: {err}") from err
        if signal is SignalType.PDQ:
            distance = (int(left, 16) ^ int(right, 16)).bit_count()
            result[name] = [distance <= COMPARE_PDQ_THRESHOLD, {"distance": distance}]
        else:
            result[name] = [left == right, {}]
    return result


def index_status(runtime: ServiceRuntime, signal_type: str | None) -> dict[str, Any]:
    """``GET /m/index/status``: ``{type: {"present", "built_to", "size"}}``.

    mediaguard's index is brought up to date on every lookup, so ``built_to`` is the
    time of the newest entry of that type (-1 when there is none).
    """
    names = {"pdq": SignalType.PDQ, "video_md5": SignalType.MD5}
    if signal_type is not None:
        if signal_type not in names:
            raise ApiError(400, "invalid_signal_type", f"No such signal type '{signal_type}'")
        names = {signal_type: names[signal_type]}
    status: dict[str, Any] = {}
    for name, signal in names.items():
        size = runtime.store.lists.count_entries(signal_type=signal.value)
        status[name] = {"present": size > 0, "built_to": -1, "size": size}
    return status


# --------------------------------------------------------------------- exchanges


def exchanges(runtime: ServiceRuntime) -> list[str]:
    """``GET /c/exchanges``: the names of the configured exchanges."""
    return [e.name for e in runtime.settings.exchanges]


def _exchange(runtime: ServiceRuntime, name: str) -> ExchangeSettings:
    for settings in runtime.settings.exchanges:
        if settings.name == name:
            return settings
    raise ApiError(404, "not_found", f"Exchange '{name}' not found")


def exchange(runtime: ServiceRuntime, name: str) -> dict[str, Any]:
    """``GET /c/exchange/<name>``: its kind, list and whether it runs; never credentials."""
    settings = _exchange(runtime, name)
    upper = settings.list.upper() if _LIST.fullmatch(settings.list) else None
    return {
        "name": settings.name,
        "api": settings.kind,
        "enabled": settings.enabled,
        "bank": upper,
        "list": settings.list,
        "every_seconds": settings.every_seconds,
    }


def exchange_status(runtime: ServiceRuntime, name: str) -> dict[str, Any]:
    """``GET /c/exchange/<name>/status``: HMA's ``{last_fetch_time, checkpoint_time, success}``.

    ``checkpoint_time`` is the cursor when it is a time (ThreatExchange, NCMEC, a feed
    with time cursors), else the time of the last successful fetch; 0 when unset.
    """
    settings = _exchange(runtime, name)
    status = runtime.store.exchanges.status(settings.name)
    if status is None:
        return {"last_fetch_time": 0, "checkpoint_time": 0, "success": False}
    checkpoint = 0
    if status.cursor is not None and status.cursor.isdigit():
        checkpoint = int(status.cursor)
    elif status.last_success_at is not None:
        checkpoint = int(status.last_success_at.timestamp())
    last = int(status.last_fetch_at.timestamp()) if status.last_fetch_at else 0
    success = status.last_error is None and status.last_success_at is not None
    return {"last_fetch_time": last, "checkpoint_time": checkpoint, "success": success}


__all__ = ["CONTENT_TYPES", "HMA_NAMES", "MediaError", "list_name"]
