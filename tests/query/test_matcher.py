"""Matcher: many named watches, one document."""

from __future__ import annotations

from tocsin.query import Document, Matcher, parse


def test_matcher_returns_sorted_matching_names() -> None:
    matcher = Matcher(
        {
            "sav": parse('"service client" OR SAV'),
            "boycott": parse("boycott* OR #boycottacme"),
            "acme": parse("acme -job"),
            "english": parse("lang:en"),
        }
    )
    doc = Document.from_text("Le service client d'ACME : #BoycottAcme", lang="fr")
    assert matcher.match(doc) == ("acme", "boycott", "sav")
    assert matcher.match(Document.from_text("nothing here", lang="en")) == ("english",)
    assert len(matcher) == 4
    assert matcher.names == ("acme", "boycott", "english", "sav")


def test_empty_matcher() -> None:
    assert Matcher({}).match(Document.from_text("acme")) == ()


def test_match_mention_is_match_of_its_document() -> None:
    from datetime import UTC, datetime

    from tocsin.mention import Author, Mention

    at = datetime(2026, 11, 1, tzinfo=UTC)
    watches = {
        "brand": parse("acme"),
        "fr": parse("acme lang:fr"),
        "big": parse("followers:>1000"),
        "title": parse('title:"rappel produit"'),
        "not": parse("-acme"),
        "site": parse("site:lemonde.fr verified:true"),
    }
    matcher = Matcher(watches)
    mentions = [
        Mention(
            id=f"rss:{n}",
            source="rss",
            url=url,
            text=text,
            title=title,
            lang=lang,
            published_at=at,
            seen_at=at,
            author=Author(handle="@jo", followers=followers, verified=verified),
        )
        for n, (url, text, title, lang, followers, verified) in enumerate(
            [
                ("https://www.lemonde.fr/a", "Acme rappelle", "Rappel produit", "fr", 5000, True),
                ("https://x.example/b", "rien", "", "en", None, False),
                ("https://x.example/c", "ACME!", "", None, 10, False),
            ]
        )
    ]
    for m in mentions:
        assert matcher.match_mention(m) == matcher.match(Document.from_mention(m))
    assert matcher.match_mention(mentions[0]) == ("big", "brand", "fr", "site", "title")


def test_anchors_avoid_words_many_watches_share() -> None:
    from tocsin.query.prefilter import anchors, shared_counts

    watches = [parse(f'"{brand} remboursement"') for brand in ("zarkel", "moxtri", "vanbex")]
    shared = shared_counts(watches)
    assert shared[("w", "remboursement")] == 3
    assert anchors(watches[0]) == {("w", "remboursement")}  # longest word, alone
    assert anchors(watches[0], shared) == {("w", "zarkel")}
    matcher = Matcher({f"w{i}": node for i, node in enumerate(watches)})
    assert matcher.match_text("Zarkel remboursement") == ("w0",)
    assert matcher.match_text("remboursement, #moxtri") == ()
    assert matcher.match_text("le @Moxtri remboursement") == ("w1",)
