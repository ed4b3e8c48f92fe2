"""Many watches, one document: which saved queries does a mention match?

All watches are compiled together once (`Matcher(watches)`):

1. each query's *anchors* are extracted (`tocsin.query.prefilter`): words or prefixes of
   which any matching document contains at least one, preferring words few watches of the
   set share (`shared_counts`). They go into one Aho-Corasick automaton (pyahocorasick)
   as ``" word "`` / ``" prefix"`` keys; queries with no anchor (pure negations,
   field-only, ``?``-leading wildcards, emoji) go to an "always evaluate" list, so none
   is missed;
2. each query is compiled to a predicate (`tocsin.query.compile`) equivalent to
   `tocsin.query.matches`.

Per text (`match_text`), the text is folded once (`tocsin.query.text.fold_tokens`, the
query language's own folding, whose only whitespace is ``" "``) and the automaton scans
it space-padded: a key hit is a whole word or a word start. A text that hits no anchor
costs that folding and that scan; only texts with candidates are split into words
(`tokens_of`) and get a `Document`, and only the candidates are evaluated exactly.

A `Matcher` is immutable. To add, change or remove watches while the pipeline runs, build
the next one and swap the reference (one attribute assignment, atomic in CPython)::

    pipeline.matcher = pipeline.matcher.with_watches({"new": parse("acme"), "old": None})

`with_watches` reuses the compiled form of every unchanged watch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from types import MappingProxyType

import ahocorasick

from tocsin.mention import Mention
from tocsin.query.ast import Node
from tocsin.query.compile import Predicate, compile_query
from tocsin.query.evaluate import Document
from tocsin.query.prefilter import Anchor, AnchorSet, anchors, shared_counts
from tocsin.query.text import fold_tokens, tokens_of

__all__ = ["Matcher"]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One watch, compiled: its tree, anchors (None: always evaluate) and predicate."""

    node: Node
    anchors: AnchorSet | None
    predicate: Predicate


def _compile(node: Node, shared: Mapping[Anchor, int] | None = None) -> _Compiled:
    return _Compiled(node, anchors(node, shared), compile_query(node))


class Matcher:
    """Match documents against a fixed set of named query trees, all compiled together."""

    __slots__ = (
        "_always",
        "_compiled",
        "_has_prefix",
        "_names",
        "_preds",
        "_scan",
        "_words",
        "_wordset",
    )

    def __init__(
        self, watches: Mapping[str, Node], *, _reuse: Mapping[str, _Compiled] | None = None
    ) -> None:
        reuse = _reuse or {}
        # Anchors avoid words many watches share (see `prefilter.cost`); reused watches keep
        # the anchors they were compiled with (any choice is correct, this one is cheap).
        shared: dict[Anchor, int] | None = None
        compiled = {}
        for name in sorted(watches):
            node = watches[name]
            old = reuse.get(name)
            if old is not None and old.node == node:
                compiled[name] = old
            else:
                if shared is None:  # only when something is (re)compiled
                    shared = shared_counts(watches.values())
                compiled[name] = _compile(node, shared)
        self._compiled = compiled
        self._names = tuple(compiled)
        self._preds = tuple(c.predicate for c in compiled.values())
        self._build_index([c.anchors for c in compiled.values()])

    def _build_index(self, anchor_sets: list[AnchorSet | None]) -> None:
        words: dict[str, list[int]] = {}
        keys: dict[str, list[int]] = {}
        always: list[int] = []
        has_prefix = False
        for i, found in enumerate(anchor_sets):
            if found is None:
                always.append(i)
                continue
            for kind, text in found:
                if kind == "w":
                    words.setdefault(text, []).append(i)
                    key = f" {text} "
                else:
                    has_prefix = True
                    key = f" {text}"
                ids = keys.setdefault(key, [])
                if not ids or ids[-1] != i:
                    ids.append(i)
        self._words = {w: tuple(ids) for w, ids in words.items()}
        self._wordset = frozenset(words)
        self._always = tuple(always)
        self._has_prefix = has_prefix
        # One automaton over " word " and " prefix" keys, run over the space-padded folded
        # text: a hit is a whole word (or a word start), no Python boundary check needed.
        self._scan: ahocorasick.Automaton | None = None
        if keys:
            automaton = ahocorasick.Automaton()
            for key, ids in keys.items():
                automaton.add_word(key, tuple(ids))
            automaton.make_automaton()
            self._scan = automaton

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return (
            f"Matcher({len(self)} watches, {len(self._words)} anchor words, "
            f"{len(self._always)} always evaluated)"
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The watch names, sorted."""
        return self._names

    @property
    def watches(self) -> Mapping[str, Node]:
        """The query tree of each watch (read-only)."""
        return MappingProxyType({name: c.node for name, c in self._compiled.items()})

    @property
    def always_evaluated(self) -> tuple[str, ...]:
        """Watches with no anchor, evaluated on every document (pure NOT, field-only...)."""
        return tuple(self._names[i] for i in self._always)

    def with_watches(self, changes: Mapping[str, Node | None]) -> Matcher:
        """A new matcher with `changes` applied: a tree adds or replaces, None removes.

        Unchanged watches are not recompiled. `self` is left as it was.
        """
        watches = {name: c.node for name, c in self._compiled.items()}
        for name, node in changes.items():
            if node is None:
                watches.pop(name, None)
            else:
                watches[name] = node
        return Matcher(watches, _reuse=self._compiled)

    def candidates(self, words: Iterable[str]) -> list[int]:
        """Indexes (into `names`) of the watches whose anchors `words` hit, ascending."""
        if self._has_prefix:
            return self._scan_candidates(" " + " ".join(words) + " ")
        wordset = words if isinstance(words, Set) else frozenset(words)
        hits = self._wordset.intersection(wordset)
        if not self._always and len(hits) <= 1:
            return list(self._words[next(iter(hits))]) if hits else []
        found: set[int] = set(self._always)
        index = self._words
        for word in hits:
            found.update(index[word])
        return sorted(found)

    def _scan_candidates(self, padded: str) -> list[int]:
        """Candidates of a space-padded text whose only separator is ``" "``."""
        scan = self._scan
        if scan is None:
            return list(self._always)
        hits = [ids for _, ids in scan.iter(padded)]
        if not hits:
            return list(self._always)
        if len(hits) == 1 and not self._always:
            return list(hits[0])
        return sorted(set(self._always).union(*hits))

    def _run(self, doc: Document, words: Set[str], ids: list[int]) -> tuple[str, ...]:
        preds, names = self._preds, self._names
        return tuple(names[i] for i in ids if preds[i](doc, words))

    def match(self, doc: Document) -> tuple[str, ...]:
        """The names of the watches `doc` matches, sorted."""
        words = frozenset(doc.tokens.words)
        ids = self.candidates(words)
        return self._run(doc, words, ids) if ids else ()

    def match_mention(self, m: Mention) -> tuple[str, ...]:
        """`match` of ``Document.from_mention(m)``, through the fast path of `match_text`."""
        return self.match_text(
            m.text,
            title=m.title,
            lang=m.lang,
            source=m.source,
            author=m.author.handle,
            url=m.url,
            followers=m.author.followers,
            verified=m.author.verified,
        )

    def match_text(
        self,
        text: str,
        *,
        title: str = "",
        lang: str | None = None,
        source: str | None = None,
        author: str = "",
        url: str = "",
        followers: int | None = None,
        verified: bool = False,
    ) -> tuple[str, ...]:
        """`match` of ``Document.from_text(text, ...)``, building the document only if needed.

        The fast path for a firehose: the text is folded once (`fold_tokens`) and scanned
        once by the anchor automaton; only a text that hits an anchor (or when some watch
        is always evaluated) is split into words and gets a `Document`.
        """
        full = f"{title} {text}" if title else text
        folded = fold_tokens(full)
        if "#" in folded or "@" in folded:
            ids = self._scan_candidates(f" {folded.replace('#', ' ').replace('@', ' ')} ")
        else:
            ids = self._scan_candidates(f" {folded} ")
        if not ids:
            return ()
        tokens = tokens_of(full, folded)
        words = frozenset(tokens.words)
        doc = Document.from_tokens(
            tokens,
            title=title,
            lang=lang,
            source=source,
            author=author,
            url=url,
            followers=followers,
            verified=verified,
        )
        return self._run(doc, words, ids)
