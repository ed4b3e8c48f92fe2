"""Query trees -> Python predicates, for the matcher's exact evaluation of candidates.

A predicate takes the prepared `Document` and the set of its folded words. The common
shapes are answered from the word set alone (a plain word is ``w in words``, ``word*`` is
a ``startswith`` scan, AND / OR / NOT combine them); everything positional or field-based
(phrases, NEAR, hashtags, ``{Case}``, emoji, ``lang:``) calls `tocsin.query.matches` on the
subtree, so the semantics are those of the evaluator by construction. The property test
``tests/query/test_matcher_property.py`` checks the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Set

from tocsin.query.ast import And, Node, Not, Or, Phrase, Term, Wildcard
from tocsin.query.evaluate import Document, matches
from tocsin.query.text import fold, is_emoji, words_of

__all__ = ["Predicate", "compile_query"]

Predicate = Callable[[Document, Set[str]], bool]
"""``predicate(doc, words)``: does `doc` (whose folded words are `words`) match?"""


def _plain_word(node: Node) -> str | None:
    """The one folded word a node stands for when it is just "this word anywhere"."""
    if isinstance(node, Term):
        text = node.text
        if node.case_sensitive or text[:1] in ("#", "@") or is_emoji(text):
            return None
        words = words_of(text)
    elif isinstance(node, Phrase):
        words = tuple(w for word in node.words for w in words_of(word))
    else:
        return None
    return words[0] if len(words) == 1 else None


def _plain_prefix(node: Node) -> str | None:
    """The folded prefix of ``word*`` (one trailing star, no mark, no ``?``)."""
    if not isinstance(node, Wildcard):
        return None
    body = node.pattern
    if body[:1] in ("#", "@") or "?" in body or not body.endswith("*"):
        return None
    prefix = body[:-1]
    if not prefix or "*" in prefix:
        return None
    folded = fold(prefix)
    return folded if folded == folded.strip() and " " not in folded else None


def _word(word: str) -> Predicate:
    return lambda doc, words: word in words


def _prefix(prefix: str) -> Predicate:
    return lambda doc, words: any(w.startswith(prefix) for w in words)


def _exact(node: Node) -> Predicate:
    return lambda doc, words: matches(node, doc)


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 2:
        first, second = preds
        return lambda doc, words: first(doc, words) and second(doc, words)
    return lambda doc, words: all(p(doc, words) for p in preds)


def _any(preds: list[Predicate]) -> Predicate:
    return lambda doc, words: any(p(doc, words) for p in preds)


def _negate(pred: Predicate) -> Predicate:
    return lambda doc, words: not pred(doc, words)


def compile_query(node: Node) -> Predicate:
    """A predicate equivalent to ``matches(node, doc)``."""
    word = _plain_word(node)
    if word is not None:
        return _word(word)
    prefix = _plain_prefix(node)
    if prefix is not None:
        return _prefix(prefix)
    if isinstance(node, And):
        preds = [compile_query(c) for c in node.children]
        return preds[0] if len(preds) == 1 else _all(preds)
    if isinstance(node, Or):
        words = [_plain_word(c) for c in node.children]
        if all(w is not None for w in words):
            wanted = frozenset(w for w in words if w is not None)
            return lambda doc, doc_words: not wanted.isdisjoint(doc_words)
        preds = [compile_query(c) for c in node.children]
        return preds[0] if len(preds) == 1 else _any(preds)
    if isinstance(node, Not):
        return _negate(compile_query(node.child))
    return _exact(node)
