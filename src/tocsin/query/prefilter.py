"""Anchor terms: the words a document must contain for a query to have a chance to match.

The approach of Lucene Monitor's presearcher. For each query tree we extract a small set of
*anchors* such that every document the query matches contains at least one of them:

* a word (``("w", "acme")``): the folded word occurs in the document;
* a prefix (``("p", "rembours")``): some folded word of the document starts with it.

Rules: a term or phrase needs all its words, so it anchors on its best (longest) word; OR
needs one child, so it takes the union of its children's anchors; AND and NEAR need every
child, so they take the child with the best anchor set; NOT, field filters (but ``title:``,
whose words are also in the text), emoji and wildcards starting with ``?``/``*`` give no
anchor. `anchors` returns None for a query with no possible anchor: the matcher evaluates
those on every document, so nothing is ever missed. An empty set means "can never match".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from tocsin.query.ast import And, Field, Near, Node, Or, Phrase, Term, Wildcard
from tocsin.query.evaluate import field_text_node
from tocsin.query.text import fold, is_emoji, words_of

__all__ = ["COMMON", "Anchor", "AnchorSet", "anchors", "cost", "shared_counts"]

Anchor = tuple[str, str]
"""``("w", word)`` or ``("p", prefix)``, both folded like `tocsin.query.text.tokenize`."""

AnchorSet = frozenset[Anchor]

_NEVER: AnchorSet = frozenset()


# Frequent French and English words (folded): an anchor on one of them fires on most posts.
COMMON = frozenset(
    """de la le et les des en un une du est que pour qui dans pas sur au il ne se ce plus par
    je on avec tout mais nous comme ou si leur dit elle avant deux aussi bien ca ete meme tres
    fait sans apres etre avoir merci vraiment encore toujours rien moi vous trop super chez
    cette son sa ses mon ma mes ton ta tes notre votre quand alors donc car faire peut suis
    the to and of is in it you that for on my this with be was have are not but so just at
    me your all can they we about like from no get what out if one up do will there time
    love good great new now how when more some been would should could really still never
    always very much make know think want today day people thanks best worst please""".split()  # noqa: SIM905
)


def cost(anchor_set: AnchorSet, shared: Mapping[Anchor, int] | None = None) -> float:
    """How often a set of anchors is expected to fire: lower is better.

    Without corpus statistics, longer words are taken as rarer (Lucene Monitor's default
    term weighting) and the most frequent French/English words (`COMMON`) as nearly
    certain; a prefix fires more often than the word it spells; each extra anchor in an
    OR adds its own cost. `shared` (from `shared_counts`) says in how many watches of the
    set each word or prefix occurs: a word many watches use is likely a common word (a
    brand is usually in few watches), and an anchor shared by k watches makes k
    candidates each time it fires, so the cost is multiplied by that count.
    """
    total = 0.0
    for anchor in anchor_set:
        kind, text = anchor
        weight = 1.0 / (1 + len(text))
        if len(text) <= 2 or text in COMMON:
            weight *= 10.0
        if shared is not None:
            weight *= shared.get(anchor, 1)
        total += weight * (3.0 if kind == "p" else 1.0)
    return total


def _key(shared: Mapping[Anchor, int] | None) -> Callable[[AnchorSet], tuple[float, list[Anchor]]]:
    return lambda s: (cost(s, shared), sorted(s))


def _best_word(words: tuple[str, ...], shared: Mapping[Anchor, int] | None = None) -> AnchorSet:
    if not words:
        return _NEVER
    return min((frozenset({("w", w)}) for w in words), key=_key(shared))


def _term(node: Term, shared: Mapping[Anchor, int] | None) -> AnchorSet | None:
    text = node.text
    if node.case_sensitive:
        return _best_word(words_of(text), shared) if words_of(text) else None
    mark = text[0] if text[:1] in ("#", "@") else ""
    if not mark and is_emoji(text):
        return None
    return _best_word(words_of(text[len(mark) :]), shared)


def _wildcard(node: Wildcard) -> AnchorSet | None:
    body = node.pattern[1:] if node.pattern[:1] in ("#", "@") else node.pattern
    cut = min((i for i in (body.find("*"), body.find("?")) if i >= 0), default=len(body))
    prefix = fold(body[:cut])
    if not prefix:
        return None
    if cut == len(body):  # no wildcard character at all: a whole word
        return frozenset({("w", prefix)})
    return frozenset({("p", prefix)})


def _best(
    children: list[AnchorSet | None], shared: Mapping[Anchor, int] | None
) -> AnchorSet | None:
    usable = [c for c in children if c is not None]
    if not usable:
        return None
    return min(usable, key=_key(shared))


def _union(children: list[AnchorSet | None]) -> AnchorSet | None:
    out: set[Anchor] = set()
    for child in children:
        if child is None:
            return None
        out |= child
    return frozenset(out)


def anchors(node: Node, shared: Mapping[Anchor, int] | None = None) -> AnchorSet | None:
    """Anchors of `node` (see the module doc); None when the query has none.

    `shared` (optional, see `cost`) only changes which anchors are chosen, never whether
    they are necessary.
    """
    if isinstance(node, Term):
        return _term(node, shared)
    if isinstance(node, Wildcard):
        return _wildcard(node)
    if isinstance(node, Phrase):
        return _best_word(tuple(w for word in node.words for w in words_of(word)), shared)
    if isinstance(node, Near):
        return _best([anchors(node.left, shared), anchors(node.right, shared)], shared)
    if isinstance(node, And):
        return _best([anchors(child, shared) for child in node.children], shared)
    if isinstance(node, Or):
        return _union([anchors(child, shared) for child in node.children])
    if isinstance(node, Field) and node.name == "title":
        return anchors(field_text_node(node.value), shared)
    return None  # Not, other fields


def _candidates(node: Node, out: set[Anchor]) -> None:
    """Every word or prefix `anchors` could choose in `node`."""
    if isinstance(node, Term):
        mark = node.text[0] if node.text[:1] in ("#", "@") else ""
        out.update(("w", w) for w in words_of(node.text[len(mark) :]))
    elif isinstance(node, Phrase):
        out.update(("w", w) for word in node.words for w in words_of(word))
    elif isinstance(node, Wildcard):
        found = _wildcard(node)
        if found:
            out.update(found)
    elif isinstance(node, Near):
        _candidates(node.left, out)
        _candidates(node.right, out)
    elif isinstance(node, And | Or):
        for child in node.children:
            _candidates(child, out)
    elif isinstance(node, Field) and node.name == "title":
        _candidates(field_text_node(node.value), out)


def shared_counts(nodes: Iterable[Node]) -> dict[Anchor, int]:
    """In how many of `nodes` each possible anchor (word or prefix) occurs."""
    counts: Counter[Anchor] = Counter()
    for node in nodes:
        found: set[Anchor] = set()
        _candidates(node, found)
        counts.update(found)
    return dict(counts)
