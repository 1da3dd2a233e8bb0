"""Small iteration helpers shared by the streaming parts of mediaguard."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

_T = TypeVar("_T")


def chunks(iterable: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """Yield lists of up to ``size`` items without materialising ``iterable``."""
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk
