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

from tocsin.query.ast import And, Field, Near, Node, Or, Phrase, Term, Wildcard
from tocsin.query.evaluate import field_text_node
from tocsin.query.text import fold, is_emoji, words_of

__all__ = ["COMMON", "Anchor", "AnchorSet", "anchors", "cost"]

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


def cost(anchor_set: AnchorSet) -> float:
    """How often a set of anchors is expected to fire: lower is better.

    Without corpus statistics, longer words are taken as rarer (Lucene Monitor's default
    term weighting) and the most frequent French/English words (`COMMON`) as nearly
    certain; a prefix fires more often than the word it spells; each extra anchor in an
    OR adds its own cost.
    """
    total = 0.0
    for kind, text in anchor_set:
        weight = 1.0 / (1 + len(text))
        if len(text) <= 2 or text in COMMON:
            weight *= 10.0
        total += weight * (3.0 if kind == "p" else 1.0)
    return total


def _best_word(words: tuple[str, ...]) -> AnchorSet:
    if not words:
        return _NEVER
    return min((frozenset({("w", w)}) for w in words), key=lambda s: (cost(s), sorted(s)))


def _term(node: Term) -> AnchorSet | None:
    text = node.text
    if node.case_sensitive:
        return _best_word(words_of(text)) if words_of(text) else None
    mark = text[0] if text[:1] in ("#", "@") else ""
    if not mark and is_emoji(text):
        return None
    return _best_word(words_of(text[len(mark) :]))


def _wildcard(node: Wildcard) -> AnchorSet | None:
    body = node.pattern[1:] if node.pattern[:1] in ("#", "@") else node.pattern
    cut = min((i for i in (body.find("*"), body.find("?")) if i >= 0), default=len(body))
    prefix = fold(body[:cut])
    if not prefix:
        return None
    if cut == len(body):  # no wildcard character at all: a whole word
        return frozenset({("w", prefix)})
    return frozenset({("p", prefix)})


def _best(children: list[AnchorSet | None]) -> AnchorSet | None:
    usable = [c for c in children if c is not None]
    if not usable:
        return None
    return min(usable, key=lambda s: (cost(s), sorted(s)))


def _union(children: list[AnchorSet | None]) -> AnchorSet | None:
    out: set[Anchor] = set()
    for child in children:
        if child is None:
            return None
        out |= child
    return frozenset(out)


def anchors(node: Node) -> AnchorSet | None:
    """Anchors of `node` (see the module doc); None when the query has none."""
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Wildcard):
        return _wildcard(node)
    if isinstance(node, Phrase):
        return _best_word(tuple(w for word in node.words for w in words_of(word)))
    if isinstance(node, Near):
        return _best([anchors(node.left), anchors(node.right)])
    if isinstance(node, And):
        return _best([anchors(child) for child in node.children])
    if isinstance(node, Or):
        return _union([anchors(child) for child in node.children])
    if isinstance(node, Field) and node.name == "title":
        return anchors(field_text_node(node.value))
    return None  # Not, other fields
