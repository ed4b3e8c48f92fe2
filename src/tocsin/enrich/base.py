"""What an enricher is: a named stage that takes matched mentions and returns enriched copies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from tocsin.mention import Mention

__all__ = ["Enricher", "Remembers"]


@runtime_checkable
class Enricher(Protocol):
    """Adds fields to mentions (language, sentiment, demand, reach, story).

    `enrich` returns one mention for each mention given, in the same order, each built with
    `dataclasses.replace`; it never drops or reorders mentions.
    """

    name: str

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]: ...


@runtime_checkable
class Remembers(Protocol):
    """An enricher that remembers recent mentions (stories). At start the pipeline gives it
    what the store holds of the last `history`, so a restart forgets nothing."""

    @property
    def history(self) -> timedelta: ...

    def remember(self, items: Iterable[tuple[str, str, datetime, str | None]]) -> int:
        """Take ``(id, text, published_at, story_id)`` oldest first; return how many."""
        ...
