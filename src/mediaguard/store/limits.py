"""Rate-limit buckets in the database, so that every ``serve`` process shares one budget.

Design note: each bucket runs the generic cell rate algorithm (GCRA). A bucket holds one
number, its theoretical arrival time ``tat``; a request conforms when
``max(tat, now) + interval - now <= burst``, and charging it moves ``tat`` to that sum.
This is a token bucket of ``burst / interval`` tokens refilled one per ``interval``,
kept in a single column. Checking and charging are then one ``INSERT ... ON CONFLICT DO
UPDATE ... WHERE conforms RETURNING``: a request that conforms gets its row back, one
that does not updates nothing and gets no row, so the API pays one round trip per
request and no two processes can both spend the last token (the upsert locks the row).

Times are seconds since the epoch, read on each host: hosts whose clocks disagree by a
second shift each other's budget by a second's worth of requests, no more. A bucket whose
``tat`` has passed is the same as no bucket, so :meth:`LimitRepository.prune_spent` may
remove it at any time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from mediaguard.store.database import Database, translated
from mediaguard.store.errors import InvalidInputError
from mediaguard.store.service_models import RateBucket

_BUCKET_RE: Final = re.compile(r"[a-z][a-z0-9-]{0,15}:[A-Za-z0-9_.:-]{1,63}")
# Float rounding of epoch seconds (about 4e-7 s today) must not refuse the last token.
_SLACK: Final = 1e-3


def _bucket(name: str) -> str:
    if not _BUCKET_RE.fullmatch(name):
        raise InvalidInputError(f"bucket: expected 'kind:id', at most 80 characters: {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class Rate:
    """How fast a bucket refills and how much it holds.

    Attributes:
        interval: seconds one charge occupies (the refill period of one token).
        burst: seconds of charges the bucket holds; ``burst / interval`` charges may
            arrive at once.
    """

    interval: float
    burst: float

    @classmethod
    def per(cls, count: int, seconds: float) -> Rate:
        """``count`` charges per ``seconds``, all of which may arrive at once."""
        if count < 1 or seconds <= 0:
            raise InvalidInputError(f"rate: need count >= 1 and seconds > 0, got {count}/{seconds}")
        return cls(seconds / count, seconds)


class LimitRepository:
    """Shared rate-limit buckets in SQLite or PostgreSQL.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def take(self, bucket: str, rate: Rate, now: float) -> bool:
        """Charge one request to ``bucket`` if it conforms to ``rate``; True when it did.

        Raises:
            InvalidInputError: when the bucket name is malformed.
            StoreError: when the database fails.
        """
        stmt = self._charge(bucket, rate, now, conforming=True)
        with translated("take a rate-limit token"), self._db.begin() as conn:
            return conn.execute(stmt.returning(RateBucket.tat)).first() is not None

    def charge(self, charges: Sequence[tuple[str, Rate]], now: float) -> None:
        """Charge one event to each bucket whether or not it conforms, in one transaction.

        Used for what is counted after the fact (a failed log-in), where refusing is
        decided beforehand with :meth:`wait`.

        Raises:
            InvalidInputError: when a bucket name is malformed.
            StoreError: when the database fails (nothing is charged then).
        """
        with translated("charge rate-limit buckets"), self._db.begin() as conn:
            for bucket, rate in charges:
                conn.execute(self._charge(bucket, rate, now, conforming=False))

    def _charge(
        self, bucket: str, rate: Rate, now: float, *, conforming: bool
    ) -> sqlite.Insert | postgresql.Insert:
        """The upsert that moves ``bucket``'s arrival time on by one charge; with
        ``conforming``, only when the charge conforms (else it updates no row)."""
        after = case((RateBucket.tat > now, RateBucket.tat), else_=now) + rate.interval
        stmt = self._db.insert(RateBucket).values(bucket=_bucket(bucket), tat=now + rate.interval)
        return stmt.on_conflict_do_update(
            index_elements=["bucket"],
            set_={"tat": after},
            where=after - now <= rate.burst + _SLACK if conforming else None,
        )

    def wait(self, charges: Sequence[tuple[str, Rate]], now: float) -> float:
        """Seconds until one more charge to every bucket would conform; 0 when it does now.

        Raises:
            InvalidInputError: when a bucket name is malformed.
            StoreError: when the database fails.
        """
        rates = {_bucket(bucket): rate for bucket, rate in charges}
        with translated("read rate-limit buckets"), self._db.connect() as conn:
            rows = conn.execute(
                select(RateBucket.bucket, RateBucket.tat).where(RateBucket.bucket.in_(rates))
            ).all()
        waits = [tat + rates[name].interval - rates[name].burst - now for name, tat in rows]
        return max([0.0, *(wait - _SLACK for wait in waits)])

    def forget(self, bucket: str) -> None:
        """Empty ``bucket`` (e.g. an account's failed log-ins once its owner got in).

        Raises:
            InvalidInputError: when the bucket name is malformed.
            StoreError: when the database fails.
        """
        with translated("reset a rate-limit bucket"), self._db.begin() as conn:
            conn.execute(delete(RateBucket).where(RateBucket.bucket == _bucket(bucket)))

    def prune_spent(self, now: float, *, dry_run: bool = False) -> int:
        """Remove buckets whose every charge has expired; returns how many (or would).

        Raises:
            StoreError: when the database fails.
        """
        spent = RateBucket.tat < now
        with translated("prune spent rate-limit buckets"), self._db.begin() as conn:
            if dry_run:
                count = conn.execute(
                    select(func.count()).select_from(RateBucket).where(spent)
                ).scalar_one()
            else:
                count = conn.execute(delete(RateBucket).where(spent)).rowcount
        return int(count)
