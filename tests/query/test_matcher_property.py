"""The compiled matcher returns exactly what evaluating each query alone returns."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.query import And, Document, Field, Matcher, Near, Node, Not, Or, Phrase, Term, matches
from tocsin.query import Wildcard as Wild
from tocsin.query.prefilter import anchors, shared_counts

WORDS = [
    "acme", "Acme", "ACME", "service", "client", "école", "ecole", "Ecole", "œuvre", "oeuvre",
    "straße", "strasse", "café", "cafe", "boycott", "BoycottAcme", "boycottacme", "refund",
    "remboursement", "rembourser", "le", "the", "de", "panne", "Orange", "orange", "répond",
    "ne", "pas", "customer", "outage", "l'entreprise", "e-commerce", "𝐀𝐂𝐌𝐄", "ﬁn", "fin",
]  # fmt: skip
EMOJI = ["🔥", "👍", "👍🏽", "😡"]
PUNCT = [" ", " ", " ", ", ", ". ", " ! ", "'", "-", " : ", "\n", "  "]

word = st.sampled_from(WORDS)


@st.composite
def wildcards(draw: st.DrawFn) -> Wild:
    w = draw(word).replace("'", "").replace("-", "")
    cut = draw(st.integers(0, len(w)))
    shape = draw(st.sampled_from(["prefix", "q", "inner", "suffix", "both"]))
    if shape == "prefix":
        pattern = w[:cut] + "*"
    elif shape == "q":
        pattern = "?" + w[1:]
    elif shape == "inner":
        pattern = w[:cut] + "?" + w[cut + 1 :]
    elif shape == "suffix":
        pattern = "*" + w[cut:]
    else:
        pattern = w[:cut] + "*" + w[cut + 2 :] + "*"
    return Wild(draw(st.sampled_from(["", "", "#"])) + pattern)


terms = st.one_of(
    st.builds(Term, word),
    st.builds(lambda w: Term("#" + w.replace("'", "")), word),
    st.builds(lambda w: Term("@" + w), word),
    st.builds(lambda w: Term(w, case_sensitive=True), word),
    st.builds(Term, st.sampled_from(EMOJI)),
)
phrases = st.builds(
    Phrase, st.lists(word, min_size=1, max_size=3).map(tuple), slop=st.integers(0, 2)
)
positional_leaf = st.one_of(terms, phrases, wildcards())
positional = st.one_of(
    positional_leaf,
    st.lists(positional_leaf, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
)
nears = st.builds(Near, positional, positional, st.integers(0, 4), st.booleans())
fields = st.one_of(
    st.builds(Field, st.just("lang"), st.just("="), st.sampled_from(["fr", "en"])),
    st.builds(Field, st.just("title"), st.just("="), st.sampled_from(["acme", "rembours*"])),
    st.builds(Field, st.just("followers"), st.just(">"), st.just("100")),
    st.builds(Field, st.just("source"), st.just("="), st.just("bluesky")),
)
leaves = st.one_of(terms, terms, phrases, wildcards(), nears, fields)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.lists(children, min_size=1, max_size=4).map(lambda c: And(tuple(c))),
        st.lists(children, min_size=1, max_size=4).map(lambda c: Or(tuple(c))),
        st.builds(Not, children),
    )


queries = st.recursive(leaves, _extend, max_leaves=8)


@st.composite
def texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.one_of(word, word, st.sampled_from(EMOJI)), max_size=12))
    out = []
    for piece in pieces:
        mark = draw(st.sampled_from(["", "", "", "#", "@"]))
        out.append(mark + piece + draw(st.sampled_from(PUNCT)))
    return "".join(out)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    text = draw(texts())
    meta: dict[str, object] = {
        "title": draw(st.sampled_from(["", "", "ACME rembourse", "Rappel"])),
        "lang": draw(st.sampled_from([None, "fr", "en", "fr-CA"])),
        "source": draw(st.sampled_from([None, "bluesky", "rss"])),
        "followers": draw(st.sampled_from([None, 5, 1000])),
    }
    return text, meta


def _reference(watches: dict[str, Node], doc: Document) -> tuple[str, ...]:
    return tuple(sorted(name for name, node in watches.items() if matches(node, doc)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(queries, min_size=1, max_size=12),
    st.lists(documents(), min_size=1, max_size=6),
)
def test_compiled_matcher_agrees_with_each_query_alone(
    nodes: list[Node], docs: list[tuple[str, dict[str, object]]]
) -> None:
    watches = {f"w{i:02d}": node for i, node in enumerate(nodes)}
    matcher = Matcher(watches)
    for text, meta in docs:
        doc = Document.from_text(text, **meta)  # type: ignore[arg-type]
        expected = _reference(watches, doc)
        assert matcher.match(doc) == expected, (text, meta)
        assert matcher.match_text(text, **meta) == expected  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(queries, st.lists(queries, max_size=4), texts())
def test_anchors_are_necessary(node: Node, others: list[Node], text: str) -> None:
    """A document a query matches always contains one of the query's anchors.

    With or without the watch set's shared counts, which only change the choice.
    """
    doc = Document.from_text(text)
    if not matches(node, doc):
        return
    words = set(doc.tokens.words)
    for found in (anchors(node), anchors(node, shared_counts([node, *others]))):
        if found is None:
            continue
        assert any(
            (text in words) if kind == "w" else any(w.startswith(text) for w in words)
            for kind, text in found
        ), (node, text, found)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(queries, min_size=1, max_size=8),
    st.lists(queries, min_size=1, max_size=4),
    texts(),
)
def test_with_watches_is_a_fresh_build(old: list[Node], new: list[Node], text: str) -> None:
    watches: dict[str, Node] = {f"w{i}": node for i, node in enumerate(old)}
    changes: dict[str, Node | None] = {f"w{i}": node for i, node in enumerate(new)}
    changes["w0"] = None
    before = Matcher(watches)
    after = before.with_watches(changes)
    expected = {**watches, **{k: v for k, v in changes.items() if v is not None}}
    del expected["w0"]
    doc = Document.from_text(text, lang="fr")
    assert after.names == tuple(sorted(expected))
    assert after.match(doc) == Matcher(expected).match(doc) == _reference(expected, doc)
    assert before.match(doc) == _reference(watches, doc)
