"""`Store.search` on SQLite and PostgreSQL: the same answers as the in-memory matcher.

Each query's result is checked against a hand-written expectation and against brute force
(`tocsin.query.matches` over every stored mention, newest first); both databases run the same
tests through the `database_url` fixture, so they agree with each other.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0, make_mention

from tocsin.mention import Author, Mention
from tocsin.query import Document, QueryError, matches, parse
from tocsin.store import Store
from tocsin.store import search as search_module


def _m(native: str, text: str, minutes: int, **fields: object) -> Mention:
    return make_mention(native, text=text, minutes=minutes, **fields)


CORPUS = [
    _m("fr1", "Le service client d'Acme est nul, je lance un #boycott", 1, lang="fr",
       url="https://www.lemonde.fr/a/1", watches=("acme",)),
    _m("en1", "Acme's customer service is GREAT! Love it", 2, lang="en",
       author=Author("fan", "Fan", 5000, True), watches=("acme",)),
    _m("fr2", "L'Œuvre de la Straße : ÉLAN incroyable chez Acme", 3, lang="fr",
       url="https://blog.lemonde.fr/x"),
    _m("en2", "Boycott Acme now. #Boycott", 4, lang="en", author=Author("@Angry", followers=50),
       watches=("boycott",)),
    _m("fr3", "Service après-vente catastrophique, rappel du produit", 5, lang="fr",
       title="Rappel produit Acme", url="https://news.example.com/r", source="hn"),
    _m("en3", "acme recall: the CUSTOMER SERVICE never answers", 6, lang="en",
       url="https://example.com/b"),
    _m("fr4", "Aujourd'hui, l'oeuvre d'élan a été créée. Ça coûte cher", 7, lang="fr"),
    _m("en4", "Nothing to see here, just cats", 8, lang="en"),
    _m("ru1", "Новогодняя ёлка от Acme: 3.14 € на acme.example.com", 9, lang="ru"),
]  # fmt: skip


@pytest.fixture
def corpus(store: Store) -> Store:
    by_source: dict[str, list[Mention]] = {}
    for m in CORPUS:
        by_source.setdefault(m.source, []).append(m)
    for source, batch in by_source.items():
        store.save_batch(source, batch, now=T0)
    return store


def _ids(found: list[Mention]) -> list[str]:
    return [m.native_id for m in found]


def _brute_force(query: str) -> list[str]:
    node = parse(query)
    newest = sorted(CORPUS, key=lambda m: m.published_at, reverse=True)
    return [m.native_id for m in newest if matches(node, Document.from_mention(m))]


CASES = [
    ("acme", ["ru1", "fr2", "en1", "fr1", "en2", "fr3", "en3"]),
    ("ёлка", ["ru1"]),
    ("ЁЛКА", ["ru1"]),
    ("елка", []),
    ('"3.14"', ["ru1"]),
    ("example", ["ru1"]),
    ("boycott", ["en2", "fr1"]),
    ('"service client"', ["fr1"]),
    ('"customer service"', ["en3", "en1"]),
    ("elan", ["fr4", "fr2"]),
    ("ÉLAN", ["fr4", "fr2"]),
    ("oeuvre", ["fr4", "fr2"]),
    ("œuvre", ["fr4", "fr2"]),
    ("strasse", ["fr2"]),
    ("aujourd'hui", ["fr4"]),
    ("ca coute", ["fr4"]),
    ("acme -boycott", ["ru1", "en3", "fr3", "fr2", "en1"]),
    ("acme NOT service", ["ru1", "en2", "fr2"]),
    ("service OR cats", ["en4", "en3", "fr3", "en1", "fr1"]),
    ("acme lang:fr", ["fr3", "fr2", "fr1"]),
    ("lang:en -acme", ["en4"]),
    ("source:hn", ["fr3"]),
    ("rappel title:rappel", ["fr3"]),
    ("acme site:lemonde.fr", ["fr2", "fr1"]),
    ("site:example.com", ["ru1", "en4", "fr4", "en3", "fr3", "en2", "en1"]),
    ("site:news.example.com", ["fr3"]),
    ("author:@angry", ["en2"]),
    ("followers:>1000", ["en1"]),
    ("acme verified:true", ["en1"]),
    ("serv*", ["en3", "fr3", "en1", "fr1"]),
    ("-acme -cats", ["fr4"]),
    ("(boycott OR rappel) -#boycott", ["fr3"]),
    ("acme NEAR/3 service", ["en3", "fr3", "en1", "fr1"]),  # fr3: title, then text
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q for q, _ in CASES])
def test_search_gives_the_matcher_s_answer(corpus: Store, query: str, expected: list[str]) -> None:
    found = _ids(corpus.search(query))
    assert found == _brute_force(query)
    assert sorted(found) == sorted(expected)


def test_hashtag_only_matches_the_hashtag(corpus: Store) -> None:
    assert _ids(corpus.search("#boycott")) == _brute_force("#boycott")


def test_no_query_lists_everything_newest_first(corpus: Store) -> None:
    assert _ids(corpus.search()) == [m.native_id for m in reversed(CORPUS)]
    assert _ids(corpus.search(limit=2)) == ["ru1", "en4"]


def test_a_parsed_tree_is_accepted(corpus: Store) -> None:
    assert _ids(corpus.search(parse("boycott"))) == ["en2", "fr1"]


def test_filters_beside_the_query(corpus: Store) -> None:
    assert _ids(corpus.search("acme", watch="acme")) == ["en1", "fr1"]
    assert _ids(corpus.search(watch="boycott")) == ["en2"]
    assert _ids(corpus.search("acme", source="hn")) == ["fr3"]
    since, until = T0 + timedelta(minutes=3), T0 + timedelta(minutes=6)
    assert _ids(corpus.search("acme", since=since, until=until)) == ["fr3", "en2", "fr2"]
    assert _ids(corpus.search(since=T0 + timedelta(minutes=8))) == ["ru1", "en4"]


def test_lang_filter(corpus: Store) -> None:
    assert _ids(corpus.search(lang="en")) == ["en4", "en3", "en2", "en1"]


def test_limit_pages_through_candidates(store: Store) -> None:
    noise = [make_mention(f"n{i}", text=f"acme filler {i}", minutes=i) for i in range(450)]
    hits = [make_mention(f"h{i}", text="acme boycott", minutes=i * 50) for i in range(6)]
    store.save_batch("rss", noise + hits, now=T0)
    found = store.search("acme -filler", limit=4)
    assert _ids(found) == ["h5", "h4", "h3", "h2"]
    assert _ids(store.search("acme -filler")) == ["h5", "h4", "h3", "h2", "h1", "h0"]
    assert store.search("acme", limit=0) == []


def test_results_carry_their_watches(corpus: Store) -> None:
    (found,) = corpus.search('"service client"')
    assert found.watches == ("acme",)


def test_a_bad_query_raises_query_error(corpus: Store) -> None:
    with pytest.raises(QueryError):
        corpus.search('"unclosed')


def test_updated_text_is_found_by_its_new_words_only(store: Store) -> None:
    store.save_batch("rss", [make_mention("1", text="ancien texte")], now=T0)
    store.save_batch("rss", [make_mention("1", text="nouveau contenu")], now=T0)
    assert _ids(store.search("nouveau")) == ["1"]
    assert store.search("ancien") == []


def _count_matcher_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs of the mentions the matcher is asked about, from now on."""
    seen: list[str] = []
    real = search_module.matches

    def counting(node: object, doc: Document) -> bool:
        seen.append(doc.url)
        return real(node, doc)  # type: ignore[arg-type]

    monkeypatch.setattr(search_module, "matches", counting)
    return seen


def test_the_full_text_prefilter_does_the_narrowing(
    corpus: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only full-text hits reach the matcher (not every row)."""
    seen = _count_matcher_calls(monkeypatch)
    assert _ids(corpus.search('"service client"')) == ["fr1"]
    assert seen == ["https://www.lemonde.fr/a/1"]


def test_a_common_query_is_read_newest_first_and_gives_the_same_answer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite, a query with many full-text matches skips the prefilter for a while; the
    answers are those of the prefiltered plan, also when the newest mentions do not match
    (the walk stops after COMMON_WALK candidates and goes on with the prefilter)."""
    older = [make_mention(f"a{i}", text=f"acme {i}", minutes=i) for i in range(120)]
    newer = [make_mention(f"c{i}", text=f"just cats {i}", minutes=500 + i) for i in range(400)]
    store.save_batch("rss", older + newer, now=T0)
    expected = {q: _ids(store.search(q, limit=5)) for q in ("acme", "acme OR cats")}
    seen = _count_matcher_calls(monkeypatch)
    monkeypatch.setattr(search_module, "COMMON_MATCHES", 50)
    monkeypatch.setattr(search_module, "COMMON_WALK", 100)
    assert _ids(store.search("acme OR cats", limit=5)) == expected["acme OR cats"]
    assert len(seen) == 5  # the newest are matches
    seen.clear()
    assert _ids(store.search("acme", limit=5)) == expected["acme"] == [
        "a119", "a118", "a117", "a116", "a115"
    ]  # fmt: skip
    walked = 200 if store.engine.dialect.name == "sqlite" else 0  # one page, then give up
    assert len(seen) == walked + 5  # ...and the prefilter found them
