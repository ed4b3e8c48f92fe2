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
