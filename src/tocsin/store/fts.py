"""Query trees -> full-text prefilters: SQLite FTS5 MATCH and PostgreSQL tsquery strings.

Pure functions, no database. The store indexes the folded title and text (`index_text`) and
searches with ``prefilter AND <SQL conditions for field filters>``, then runs
`tocsin.query.matches` on the candidates as the exact post-filter. So every prefilter must
be a *superset* of the real matches; for the syntax FTS5 shares with tocsin (words,
phrases, AND/OR/NOT, trailing ``*``, ``NEAR/n``) the FTS5 expression is *exact*.

Each translation returns ``(expression or None, exact)``: ``None`` means "no text
constraint" (e.g. a field filter, an emoji, ``colo?r`` with nothing before the ``?``).
A NOT is only emitted over an exact operand: negating a superset would drop real matches.
Every word is emitted as a quoted string, so user text can never inject FTS5 syntax.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tocsin.query.ast import And, Field, Near, Node, Not, Or, Phrase, Term, Wildcard
from tocsin.query.text import is_emoji, words_of

__all__ = ["index_text", "to_fts5", "to_tsquery"]

_Expr = tuple[str | None, bool]


def index_text(title: str, text: str) -> str:
    """The text to put in the FTS5 / tsvector column: folded words joined by spaces.

    FTS5 and PostgreSQL's parser both read back exactly tocsin's word tokens from it
    (PostgreSQL would otherwise keep ``3.14`` or ``example.com`` as one lexeme).
    """
    return " ".join(words_of(f"{title} {text}" if title else text))


@dataclass(frozen=True, slots=True)
class _Dialect:
    word: Callable[[str], str]
    prefix: Callable[[str], str]
    phrase: Callable[[tuple[str, ...]], str]
    near: Callable[[list[tuple[str, ...]], list[bool], int], str | None]
    and_: str
    or_: str
    and_not: Callable[[str, str], str]
    pure_not: Callable[[str], str | None]


def _fts_quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _fts_near(phrases: list[tuple[str, ...]], prefixes: list[bool], distance: int) -> str:
    parts = [
        _fts_quote(" ".join(p)) + (" *" if pre else "")
        for p, pre in zip(phrases, prefixes, strict=True)
    ]
    return f"NEAR({' '.join(parts)}, {distance})"


def _ts_quote(word: str) -> str:
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "'"


_FTS5 = _Dialect(
    word=_fts_quote,
    prefix=lambda w: _fts_quote(w) + " *",
    phrase=lambda ws: _fts_quote(" ".join(ws)),
    near=_fts_near,
    and_=" AND ",
    or_=" OR ",
    and_not=lambda a, b: f"({a}) NOT ({b})",
    pure_not=lambda b: None,
)
_TSQUERY = _Dialect(
    word=_ts_quote,
    prefix=lambda w: _ts_quote(w) + ":*",
    phrase=lambda ws: "(" + " <-> ".join(_ts_quote(w) for w in ws) + ")",
    near=lambda ps, pre, n: None,
    and_=" & ",
    or_=" | ",
    and_not=lambda a, b: f"({a}) & !({b})",
    pure_not=lambda b: f"!({b})",
)


def _unmark(text: str) -> tuple[str, bool]:
    """Strip a leading #/@ (the prefilter only knows words): (body, was marked)."""
    if text[:1] in ("#", "@"):
        return text[1:], True
    return text, False


def _term(node: Term, d: _Dialect) -> _Expr:
    body, marked = _unmark(node.text)
    if not marked and not node.case_sensitive and is_emoji(node.text):
        return None, False
    words = words_of(body)
    if not words:
        return None, False
    expr = d.word(words[0]) if len(words) == 1 else d.phrase(words)
    return expr, not (marked or node.case_sensitive)


def _wildcard(node: Wildcard, d: _Dialect) -> _Expr:
    body, marked = _unmark(node.pattern)
    cut = min((i for i in (body.find("*"), body.find("?")) if i >= 0), default=len(body))
    words = words_of(body[:cut])
    if len(words) != 1:
        return None, False
    exact = not marked and cut == len(body) - 1 and body.endswith("*")
    return d.prefix(words[0]), exact


def _phrase_words(node: Phrase) -> tuple[str, ...]:
    return tuple(w for word in node.words for w in words_of(word))


def _phrase(node: Phrase, d: _Dialect) -> _Expr:
    words = _phrase_words(node)
    if not words:
        return None, False
    if len(words) == 1:
        return d.word(words[0]), True
    if node.slop == 0:
        return d.phrase(words), True
    singles: list[tuple[str, ...]] = [(w,) for w in words]
    near = d.near(singles, [False] * len(words), node.slop + len(words) - 2)
    if near is not None:
        return near, False
    return _join([d.word(w) for w in words], d.and_), False


def _near_operands(node: Node) -> list[tuple[tuple[str, ...], bool]] | None:
    """The FTS5 NEAR operand alternatives of a node: (phrase words, prefix); None if none."""
    if isinstance(node, Or):
        out = []
        for child in node.children:
            alts = _near_operands(child)
            if alts is None:
                return None
            out.extend(alts)
        return out
    if isinstance(node, Term) and not node.case_sensitive and node.text[:1] not in ("#", "@"):
        words = words_of(node.text)
        return [(words, False)] if words else None
    if isinstance(node, Phrase) and (node.slop == 0 or len(_phrase_words(node)) == 1):
        words = _phrase_words(node)
        return [(words, False)] if words else None
    if isinstance(node, Wildcard):
        expr, exact = _wildcard(node, _FTS5)
        return [(words_of(node.pattern.rstrip("*")), True)] if exact and expr else None
    return None


def _near(node: Near, d: _Dialect) -> _Expr:
    left, right = _near_operands(node.left), _near_operands(node.right)
    if left and right and len(left) * len(right) <= 64:
        parts = [d.near([lw, rw], [lp, rp], node.distance) for lw, lp in left for rw, rp in right]
        if all(p is not None for p in parts):
            exact = not node.ordered
            return _join([p for p in parts if p is not None], d.or_), exact
    return _and((node.left, node.right), d)[0], False


def _join(parts: list[str], op: str) -> str:
    return parts[0] if len(parts) == 1 else op.join(f"({p})" for p in parts)


def _and(children: tuple[Node, ...], d: _Dialect) -> _Expr:
    pos: list[str] = []
    neg: list[str] = []
    exact = True
    for child in children:
        if isinstance(child, Not):
            expr, ok = _translate(child.child, d)
            target = neg
        else:
            expr, ok = _translate(child, d)
            target = pos
        exact = exact and ok and expr is not None
        if expr is not None and (ok or target is pos):
            target.append(expr)
    if not pos:
        if len(neg) == 1 and len(children) == 1:
            expr = d.pure_not(neg[0])
            return expr, exact and expr is not None
        return None, False
    expr = _join(pos, d.and_)
    if neg:
        expr = d.and_not(expr, _join(neg, d.or_))
    return expr, exact


def _or(children: tuple[Node, ...], d: _Dialect) -> _Expr:
    parts = [_translate(child, d) for child in children]
    if any(expr is None for expr, _ in parts):
        return None, False
    return _join([expr for expr, _ in parts if expr], d.or_), all(ok for _, ok in parts)


def _translate(node: Node, d: _Dialect) -> _Expr:
    if isinstance(node, Term):
        return _term(node, d)
    if isinstance(node, Wildcard):
        return _wildcard(node, d)
    if isinstance(node, Phrase):
        return _phrase(node, d)
    if isinstance(node, Near):
        return _near(node, d)
    if isinstance(node, And):
        return _and(node.children, d)
    if isinstance(node, Or):
        return _or(node.children, d)
    if isinstance(node, Not):
        if isinstance(node.child, Not):
            return _translate(node.child.child, d)
        return _and((node,), d)
    if isinstance(node, Field):
        return None, False
    raise TypeError(f"not a query node: {node!r}")


def to_fts5(node: Node) -> str | None:
    """An FTS5 MATCH expression that finds at least every match (exactly, for shared syntax).

    None when no text constraint can be expressed (pure negation, only field filters, ...);
    the caller then scans with the SQL conditions and post-filters with `matches`.
    """
    return _translate(node, _FTS5)[0]


def to_tsquery(node: Node) -> str | None:
    """A PostgreSQL ``to_tsquery('simple', ...)`` string over `index_text` / `fold` output.

    Same superset rule as `to_fts5`; phrases use ``<->``, prefixes ``:*``; NEAR and
    ``"a b"~N`` become an AND of their words. None when there is no text constraint.
    """
    return _translate(node, _TSQUERY)[0]
