"""Tables of term lists and URL lists: the lists of words and links found in media.

Design note: a term list (phrases and regular expressions) and a URL list (domains and
URL prefixes) are one shape, a named list with a category and an action holding short
text entries, so they share two tables told apart by ``kind``; the matching that tells
them apart lives in :mod:`mediaguard.match`. They sit beside the hash-list tables rather
than in them because a hash entry is fixed-length hex and a text entry is not, and the
hash tables' checks and indexes are built on that. Names are unique over both kinds, so a
policy's ``[lists.<name>]`` rule names one list.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mediaguard.store.base import ID, NOW, Base, UTCDateTime, in_check

#: What a list holds: terms (phrases, regular expressions) or URLs (domains, prefixes).
LIST_KINDS: tuple[str, ...] = ("term", "url")
#: The kinds of entry, two per kind of list.
ENTRY_TYPES: tuple[str, ...] = ("phrase", "regex", "domain", "prefix")
#: Entry types a list of each kind may hold.
ENTRY_TYPES_OF: dict[str, tuple[str, ...]] = {
    "term": ("phrase", "regex"),
    "url": ("domain", "prefix"),
}
#: Longest entry, in characters. A unique index on PostgreSQL holds keys up to about
#: 2,700 bytes; 500 characters of UTF-8 stay under it, and no real phrase, pattern or
#: link prefix is longer.
MAX_ENTRY_CHARS = 500
#: Action hints a text list may carry, as for hash lists; the policy has the last word.
TEXT_LIST_ACTIONS: tuple[str, ...] = ("block", "review", "allow")


class TextList(Base):
    """A named term list or URL list with a category, a source and an action hint."""

    __tablename__ = "text_lists"
    __table_args__ = (
        CheckConstraint(in_check("kind", LIST_KINDS), name="kind"),
        CheckConstraint(in_check("action", TEXT_LIST_ACTIONS), name="action"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)


class TextListEntry(Base):
    """One phrase, regular expression, domain or URL prefix of one list."""

    __tablename__ = "text_list_entries"
    __table_args__ = (
        UniqueConstraint("list_id", "entry_type", "value"),
        CheckConstraint(in_check("entry_type", ENTRY_TYPES), name="entry_type"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("text_lists.id", ondelete="CASCADE"))
    entry_type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(MAX_ENTRY_CHARS))
    external_id: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=NOW)
