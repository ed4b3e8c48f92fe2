"""Evaluate a query tree against one prepared `Document`: `matches`, `explain`, `describe`.

Default terms search the title and the text together (tokenised as ``title + " " + text``,
exactly what the store indexes); ``title:`` searches the title alone. Word positions follow
FTS5, so phrases and ``NEAR`` agree with the database prefilter (see `tocsin.store.fts`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from tocsin.mention import Mention
from tocsin.query.ast import And, Field, Near, Node, Not, Or, Phrase, Term, Wildcard
from tocsin.query.text import Tokens, emoji_key, fold, is_emoji, raw_words, tokenize, words_of

__all__ = ["Document", "describe", "explain", "matches"]

Span = tuple[int, int]  # (first word position, number of words)
_TRUE = frozenset({"true", "yes", "1"})
_NO_TITLE = tokenize("")


@dataclass(frozen=True, slots=True)
class Document:
    """What a query is evaluated against; built once per mention and reused by every watch."""

    tokens: Tokens
    title: Tokens
    lang: str | None = None
    source: str | None = None
    author: str = ""
    url: str = ""
    host: str = ""
    followers: int | None = None
    verified: bool = False

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        title: str = "",
        lang: str | None = None,
        source: str | None = None,
        author: str = "",
        url: str = "",
        followers: int | None = None,
        verified: bool = False,
    ) -> Document:
        """Prepare a document from plain values (tests, ``tocsin query check``)."""
        return cls.from_tokens(
            tokenize(f"{title} {text}" if title else text),
            title=title,
            lang=lang,
            source=source,
            author=author,
            url=url,
            followers=followers,
            verified=verified,
        )

    @classmethod
    def from_tokens(
        cls,
        tokens: Tokens,
        *,
        title: str = "",
        lang: str | None = None,
        source: str | None = None,
        author: str = "",
        url: str = "",
        followers: int | None = None,
        verified: bool = False,
    ) -> Document:
        """`from_text` for an already tokenised ``title + " " + text`` (the matcher's fast path).

        `tokens` must be ``tokenize(f"{title} {text}" if title else text)``.
        """
        try:
            host = (urlsplit(url).hostname or "") if url else ""
        except ValueError:
            host = ""
        return cls(
            tokens=tokens,
            title=tokenize(title) if title else _NO_TITLE,
            lang=lang.lower() if lang else None,
            source=source.lower() if source else None,
            author=_handle(author),
            url=url,
            host=host.lower(),
            followers=followers,
            verified=verified,
        )

    @classmethod
    def from_mention(cls, m: Mention) -> Document:
        """Prepare a document from a mention."""
        return cls.from_text(
            m.text,
            title=m.title,
            lang=m.lang,
            source=m.source,
            author=m.author.handle,
            url=m.url,
            followers=m.author.followers,
            verified=m.author.verified,
        )


def _handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


def _consecutive(seq: tuple[str, ...], words: tuple[str, ...]) -> list[Span]:
    n = len(words)
    if not n:
        return []
    return [(i, n) for i in range(len(seq) - n + 1) if seq[i : i + n] == words]


def _phrase_spans(toks: Tokens, words: tuple[str, ...], slop: int) -> list[Span]:
    """Words in order; with `slop`, at most `slop` extra words in all between them."""
    if not words:
        return []
    pos = toks.positions
    if any(w not in pos for w in words):
        return []
    if slop == 0 and len(words) > 1:
        return [(i, len(words)) for i in pos[words[0]] if toks.words[i : i + len(words)] == words]
    spans: list[Span] = []
    for start in pos[words[0]]:
        end = _in_order(pos, words, 1, start, slop)
        if end is not None:
            spans.append((start, end - start + 1))
    return spans


def _in_order(
    pos: dict[str, list[int]], words: tuple[str, ...], k: int, prev: int, budget: int
) -> int | None:
    """Last position of the first in-order placement of words[k:] after `prev` within budget."""
    if k == len(words):
        return prev
    for p in pos[words[k]]:
        gap = p - prev - 1
        if gap < 0:
            continue
        if gap > budget:
            break
        end = _in_order(pos, words, k + 1, p, budget - gap)
        if end is not None:
            return end
    return None


@lru_cache(maxsize=1024)
def _wildcard_re(pattern: str) -> re.Pattern[str]:
    pieces = re.split(r"([*?])", pattern)
    body = "".join({"*": ".*", "?": "."}.get(p, re.escape(fold(p))) for p in pieces)
    return re.compile(body, re.DOTALL)


def _marked(toks: Tokens, spans: list[Span], mark: str) -> list[Span]:
    if mark == "#":
        return [s for s in spans if s[0] in toks.hashtags]
    if mark == "@":
        return [s for s in spans if s[0] in toks.handles]
    return spans


def _term_spans(node: Term, toks: Tokens) -> list[Span]:
    text = node.text
    if node.case_sensitive:
        wanted = tuple(unicodedata.normalize("NFC", w) for w in raw_words(text))
        return _consecutive(toks.raw, wanted)
    mark = text[0] if text[:1] in ("#", "@") else ""
    words = words_of(text[len(mark) :])
    if len(words) == 1:
        spans = [(p, 1) for p in toks.positions.get(words[0], ())]
    else:
        spans = _phrase_spans(toks, words, 0)
    return _marked(toks, spans, mark)


def _wildcard_spans(node: Wildcard, toks: Tokens) -> list[Span]:
    mark = node.pattern[0] if node.pattern[:1] in ("#", "@") else ""
    regex = _wildcard_re(node.pattern[len(mark) :])
    spans = [(p, 1) for w, ps in toks.positions.items() if regex.fullmatch(w) for p in ps]
    return _marked(toks, sorted(spans), mark)


def near_ok(a: Span, b: Span, distance: int, ordered: bool) -> bool:
    """FTS5's NEAR rule: at most `distance` words between the end of each and the later start."""
    if ordered:
        return a[0] + a[1] <= b[0] and b[0] - a[0] - a[1] <= distance
    last = max(a[0], b[0])
    return last - a[0] - a[1] <= distance and last - b[0] - b[1] <= distance


def spans(node: Node, toks: Tokens) -> list[Span]:
    """Where a positional node (term, wildcard, phrase, NEAR, OR of those) occurs."""
    if isinstance(node, Term):
        return _term_spans(node, toks)
    if isinstance(node, Wildcard):
        return _wildcard_spans(node, toks)
    if isinstance(node, Phrase):
        words = tuple(w for word in node.words for w in words_of(word))
        return _phrase_spans(toks, words, node.slop)
    if isinstance(node, Near):
        out = set()
        for a in spans(node.left, toks):
            for b in spans(node.right, toks):
                if near_ok(a, b, node.distance, node.ordered):
                    start = min(a[0], b[0])
                    out.add((start, max(a[0] + a[1], b[0] + b[1]) - start))
        return sorted(out)
    if isinstance(node, Or):
        return sorted({s for child in node.children for s in spans(child, toks)})
    raise TypeError(f"{type(node).__name__} has no word position")


@lru_cache(maxsize=1024)
def field_text_node(value: str) -> Node:
    """The text query of a ``title:`` value: a word, #hashtag, wildcard or phrase."""
    words = raw_words(value)
    if ("*" in value or "?" in value) and len(raw_words(value.replace("*", "a"))) == 1:
        return Wildcard(value.strip())
    if len(words) == 1:
        mark = value.strip()[:1] if value.strip()[:1] in ("#", "@") else ""
        return Term(mark + words[0])
    return Phrase(words)


def _field(node: Field, doc: Document) -> bool:
    name, value = node.name, node.value
    if name == "lang":
        v = value.lower().replace("_", "-")
        lang = (doc.lang or "").replace("_", "-")
        return lang == v or lang.startswith(v + "-")
    if name == "source":
        return doc.source == value.lower()
    if name == "author":
        return bool(doc.author) and doc.author == _handle(value)
    if name == "site":
        site = value.lower().split("/")[0].removeprefix("www.")
        return doc.host == site or doc.host.endswith("." + site)
    if name == "url":
        return value.lower() in doc.url.lower()
    if name == "title":
        return _text(field_text_node(value), doc.title)
    if name == "verified":
        return doc.verified == (value.lower() in _TRUE)
    if name == "followers":
        return doc.followers is not None and _compare(doc.followers, node.op, int(value))
    raise ValueError(f"unknown field {name!r}")


def _compare(a: int, op: str, b: int) -> bool:
    return {"=": a == b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _text(node: Node, toks: Tokens) -> bool:
    if isinstance(node, Term) and not node.case_sensitive and is_emoji(node.text):
        key = emoji_key(node.text)
        return any(emoji_key(e) == key for e in toks.emoji)
    return bool(spans(node, toks))


def matches(node: Node, doc: Document) -> bool:
    """True when `doc` satisfies the query tree `node`."""
    if isinstance(node, And):
        return all(matches(child, doc) for child in node.children)
    if isinstance(node, Or):
        return any(matches(child, doc) for child in node.children)
    if isinstance(node, Not):
        return not matches(node.child, doc)
    if isinstance(node, Field):
        return _field(node, doc)
    return _text(node, doc.tokens)


def label(node: Node) -> str:
    """A one-line name for a node: ``TERM boycott``, ``NEAR/5 (in order)``, ..."""
    if isinstance(node, Term):
        if node.case_sensitive:
            return f"TERM {{{node.text}}} (exact case)"
        kind = {"#": "HASHTAG", "@": "HANDLE"}.get(node.text[:1], "TERM")
        return f"{'EMOJI' if is_emoji(node.text) else kind} {node.text}"
    if isinstance(node, Wildcard):
        return f"WILDCARD {node.pattern}"
    if isinstance(node, Phrase):
        slop = f"~{node.slop}" if node.slop else ""
        return f'PHRASE "{" ".join(node.words)}"{slop}'
    if isinstance(node, Near):
        return f"NEAR/{node.distance}" + (" (in order)" if node.ordered else "")
    if isinstance(node, Field):
        op = "" if node.op == "=" else node.op
        return f"FIELD {node.name}:{op}{node.value}"
    return type(node).__name__.upper()


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    return ()


def describe(node: Node, indent: int = 0) -> str:
    """An indented tree showing how the query was understood."""
    lines = ["  " * indent + label(node)]
    lines.extend(describe(child, indent + 1) for child in _children(node))
    return "\n".join(lines)


def _detail(node: Node, doc: Document) -> str:
    if isinstance(node, Field):
        return ""
    toks = doc.tokens
    if isinstance(node, Term) and not node.case_sensitive and is_emoji(node.text):
        return ""
    found = spans(node, toks)
    if not found:
        return ": not found"
    shown = ", ".join(" ".join(toks.words[s : s + n]) + f" @{s}" for s, n in found[:3])
    return f": found {shown}"


def explain(node: Node, doc: Document, indent: int = 0) -> list[str]:
    """Why `doc` matches or not: one line per subtree, ✓ or ✗, with where words were found."""
    ok = matches(node, doc)
    detail = "" if isinstance(node, And | Or | Not) else _detail(node, doc)
    lines = [f"{'  ' * indent}{'✓' if ok else '✗'} {label(node)}{detail}"]
    if not isinstance(node, Near):
        for child in _children(node):
            lines.extend(explain(child, doc, indent + 1))
    return lines
