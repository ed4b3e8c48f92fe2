"""Many watches, one document: which saved queries does a mention match?

This version evaluates every watch's tree in turn (correct and simple). A later version
puts an Aho-Corasick prefilter in front; the interface stays `Matcher(watches).match(doc)`.
"""

from __future__ import annotations

from collections.abc import Mapping

from tocsin.query.ast import Node
from tocsin.query.evaluate import Document, matches

__all__ = ["Matcher"]


class Matcher:
    """Match one `Document` against a fixed set of named query trees."""

    __slots__ = ("_watches",)

    def __init__(self, watches: Mapping[str, Node]) -> None:
        self._watches = tuple(sorted(watches.items()))

    def __len__(self) -> int:
        return len(self._watches)

    @property
    def names(self) -> tuple[str, ...]:
        """The watch names, sorted."""
        return tuple(name for name, _ in self._watches)

    def match(self, doc: Document) -> tuple[str, ...]:
        """The names of the watches `doc` matches, sorted."""
        return tuple(name for name, node in self._watches if matches(node, doc))
