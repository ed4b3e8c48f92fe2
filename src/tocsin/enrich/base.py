"""What an enricher is: a named stage that takes matched mentions and returns enriched copies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tocsin.mention import Mention

__all__ = ["Enricher"]


@runtime_checkable
class Enricher(Protocol):
    """Adds fields to mentions (language, sentiment, demand, reach, story).

    `enrich` returns one mention for each mention given, in the same order, each built with
    `dataclasses.replace`; it never drops or reorders mentions.
    """

    name: str

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]: ...
