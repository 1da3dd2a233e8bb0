"""Listed pictures: the standard crops stored with a picture, and its reduced copy.

It is apart from :mod:`mediaguard.store.lists` because only a list that was given the
pictures themselves (``hashlist add-media``) has either: a shared list of hashes has
neither. A derived entry is an ordinary PDQ entry of the same list (so the index finds
it like any other) plus a row naming its parent and the crop it is; the reduced copy
lets a near-threshold copy be checked against the picture itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select

from mediaguard.iterutil import chunks
from mediaguard.store import audit
from mediaguard.store import validation as check
from mediaguard.store.database import Database, translated
from mediaguard.store.entry_rows import insert_batch
from mediaguard.store.errors import InvalidInputError, NotFoundError
from mediaguard.store.list_types import NewEntry
from mediaguard.store.models import DerivedEntry, EntryPicture, HashEntry, HashList

#: Largest reduced copy kept per picture.
MAX_PICTURE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class PictureAdded:
    """What adding one picture did: its entries' ids and how many crops were new."""

    entry_ids: tuple[int, ...]
    derived_added: int


class ListMediaRepository:
    """Derived crop entries and reduced copies of listed pictures.

    Args:
        db: the open database; the :class:`~mediaguard.store.Store` facade makes one.
    """

    def __init__(self, db: Database) -> None:
        """Work on ``db``."""
        self._db = db

    def add_picture(
        self,
        list_name: str,
        originals: Sequence[NewEntry],
        crops: Sequence[tuple[str, NewEntry]],
        picture: bytes | None,
    ) -> PictureAdded:
        """Add one picture's own hashes, its crops' PDQ hashes and its reduced copy.

        All in one transaction. The crops and the copy belong to the first original
        (its PDQ hash); an original the list already holds is reused, so adding a
        picture again only fills in what is missing.

        Args:
            list_name: the list.
            originals: the picture's own entries, its PDQ hash first (then digests).
            crops: ``(variant, entry)`` per standard crop, e.g. ``("centre crop 10%", …)``.
            picture: a reduced JPEG of the picture, at most MAX_PICTURE_BYTES.

        Raises:
            InvalidInputError: when no original is a PDQ hash or the copy is too big.
            NotFoundError: when the list does not exist.
            StoreError: when the database fails.
        """
        check.name("list_name", list_name)
        if not originals or originals[0].signal_type != "pdq":
            raise InvalidInputError("originals: the first must be the picture's PDQ hash")
        if picture is not None and len(picture) > MAX_PICTURE_BYTES:
            raise InvalidInputError(f"picture: {len(picture)} bytes, at most {MAX_PICTURE_BYTES}")
        with translated(f"add a picture to hash list {list_name!r}"):
            return self._add_picture(list_name, originals, crops, picture)

    def _add_picture(
        self,
        list_name: str,
        originals: Sequence[NewEntry],
        crops: Sequence[tuple[str, NewEntry]],
        picture: bytes | None,
    ) -> PictureAdded:
        with self._db.begin() as conn:
            list_id = conn.execute(select(HashList.id).where(HashList.name == list_name)).scalar()
            if list_id is None:
                raise NotFoundError(f"hash list {list_name!r} does not exist")
            self._db.serialize_entry_writes(conn)
            insert_batch(self._db, conn, list_id, list(originals))
            ids = []
            for entry in originals:
                ids.append(
                    conn.execute(
                        select(HashEntry.id).where(
                            HashEntry.list_id == list_id,
                            HashEntry.signal_type == entry.signal_type,
                            HashEntry.value == entry.value,
                        )
                    ).scalar_one()
                )
            parent = ids[0]
            variants = {entry.value: variant for variant, entry in crops}
            new = insert_batch(self._db, conn, list_id, [entry for _, entry in crops])
            if new:
                rows = conn.execute(
                    select(HashEntry.id, HashEntry.value).where(HashEntry.id.in_(new))
                ).all()
                conn.execute(
                    self._db.insert(DerivedEntry),
                    [
                        {"entry_id": entry_id, "parent_id": parent, "variant": variants[value]}
                        for entry_id, value in rows
                    ],
                )
            if picture is not None:
                conn.execute(delete(EntryPicture).where(EntryPicture.entry_id == parent))
                conn.execute(self._db.insert(EntryPicture), [{"entry_id": parent, "jpeg": picture}])
            audit.append(
                conn,
                "hashlist.picture_add",
                list_name,
                {"entry_ids": ids, "crops_added": len(new), "picture": picture is not None},
            )
        return PictureAdded(tuple(ids), len(new))

    def derived(self, ids: Iterable[int]) -> dict[int, tuple[int, str]]:
        """For each of ``ids`` that is a derived crop: ``(parent id, variant)``."""
        found: dict[int, tuple[int, str]] = {}
        with translated("read derived entries"), self._db.connect() as conn:
            for chunk in chunks(ids, 500):
                rows = conn.execute(
                    select(
                        DerivedEntry.entry_id, DerivedEntry.parent_id, DerivedEntry.variant
                    ).where(DerivedEntry.entry_id.in_(chunk))
                )
                found.update({entry: (parent, variant) for entry, parent, variant in rows})
        return found

    def derived_ids(self, list_name: str) -> set[int]:
        """Every derived crop entry of a list (exports leave them out by default)."""
        with translated("read derived entries"), self._db.connect() as conn:
            rows = conn.execute(
                select(DerivedEntry.entry_id)
                .join(HashEntry, HashEntry.id == DerivedEntry.entry_id)
                .join(HashList, HashList.id == HashEntry.list_id)
                .where(HashList.name == list_name)
            )
            return {entry_id for (entry_id,) in rows}

    def pictures(self, ids: Iterable[int]) -> dict[int, bytes]:
        """The reduced copies held for any of ``ids``."""
        found: dict[int, bytes] = {}
        with translated("read listed pictures"), self._db.connect() as conn:
            for chunk in chunks(ids, 500):
                rows = conn.execute(
                    select(EntryPicture.entry_id, EntryPicture.jpeg).where(
                        EntryPicture.entry_id.in_(chunk)
                    )
                )
                found.update({entry_id: bytes(jpeg) for entry_id, jpeg in rows})
        return found
