"""The syntax tree of a tocsin query: what the parser returns and every consumer reads.

Consumers: the evaluator (`tocsin.query.evaluate`), the matcher, and the store, which turns a
tree into an FTS5 / tsquery prefilter plus SQL column conditions. Nodes are frozen and
hashable; `pos` (column, 0-based, in the query text) is kept for explanations and not
compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["And", "Field", "Near", "Node", "Not", "Or", "Phrase", "Term", "Wildcard"]


@dataclass(frozen=True, slots=True)
class Term:
    """One token as written: ``boycott``, ``#boycott``, ``@acme``, ``🔥``, or ``{Orange}``.

    `case_sensitive` is set by the ``{...}`` syntax: exact case and accents, whole token.
    """

    text: str
    case_sensitive: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A token pattern with ``*`` (any run of characters) and/or ``?`` (one character)."""

    pattern: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Phrase:
    """``"service client"``: tokens in order, adjacent; with ``~N`` at most N tokens apart."""

    words: tuple[str, ...]
    slop: int = 0
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Near:
    """``a NEAR/5 b``: at most `distance` tokens between the operands; `ordered` for NEAR/5f."""

    left: Node
    right: Node
    distance: int
    ordered: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Field:
    """A field filter: ``lang:fr``, ``followers:>1000``, ``site:example.com``, ``title:rappel``.

    `op` is one of ``=``, ``>``, ``>=``, ``<``, ``<=``; `value` is as written (unquoted).
    """

    name: str
    op: str
    value: str
    pos: int = field(default=0, compare=False)


Node = Term | Wildcard | Phrase | Near | And | Or | Not | Field
