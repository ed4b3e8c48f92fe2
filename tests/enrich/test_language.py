"""The language enricher: ISO 639-1 codes, cleaning, short texts, declared languages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.enrich.base import Enricher
from tocsin.enrich.language import (
    LanguageEnricher,
    LanguageOptions,
    clean,
    detect,
    detect_one,
)
from tocsin.mention import Mention

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def _mention(text: str, n: int = 1, **kw: object) -> Mention:
    return Mention(
        id=f"bluesky:{n}",
        source="bluesky",
        url=f"https://bsky.app/p/{n}",
        text=text,
        published_at=NOW,
        seen_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


FR = "Je suis vraiment déçu par le service client, personne ne répond depuis trois jours."
EN = "I am really disappointed with customer service, nobody has answered for three days."
DE = "Ich bin wirklich enttäuscht vom Kundendienst, seit drei Tagen antwortet niemand."


def test_detects_common_languages_with_confidence() -> None:
    found = detect([FR, EN, DE, "Estoy muy decepcionado con el servicio, nadie contesta."])
    assert [lang for lang, _ in found] == ["fr", "en", "de", "es"]
    assert all(0.5 < conf <= 1.0 for _, conf in found)


def test_order_is_kept_and_empty_input_gives_empty_output() -> None:
    texts = [EN, FR, EN, FR]
    assert [lang for lang, _ in detect(texts)] == ["en", "fr", "en", "fr"]
    assert detect([]) == []


@pytest.mark.parametrize(
    "text",
    ["", "   ", "lol", "https://t.co/abc http://x.example/y", "😀🔥👍", "@acme @bob", "123 456 !!"],
)
def test_too_little_text_gives_none(text: str) -> None:
    assert detect_one(text) == (None, 0.0)


def test_cleaning_removes_links_handles_hash_and_rt() -> None:
    cleaned = clean("RT @acme_fr: Super #service &amp; merci https://t.co/x www.acme.fr")
    assert "acme_fr" not in cleaned
    assert "http" not in cleaned
    assert "www" not in cleaned
    assert "#" not in cleaned
    assert "service" in cleaned
    assert "&" in cleaned
    assert not cleaned.startswith("RT")
    assert clean("mail me at bob@example.org") == "mail me at bob@example.org"


def test_english_handles_and_hashtags_do_not_change_a_french_text() -> None:
    text = "@JohnSmith @CustomerCare le colis n'est jamais arrivé #delivery #fail https://t.co/x"
    assert detect_one(text)[0] == "fr"


def test_romanised_hindi_is_hindi_but_english_is_not() -> None:
    assert detect_one("bhai kya hai ye, mujhe nahi pata")[0] == "hi"
    assert detect_one("Salman bhai abhi tak wait kar rha hu apka")[0] == "hi"
    assert detect_one("I think the match is fixed, what a shame")[0] == "en"
    no_hinglish = LanguageOptions(hinglish=False)
    assert detect_one("bhai kya hai ye, mujhe nahi pata", no_hinglish)[0] != "hi"


def test_codes_are_iso_639_1_even_for_dialect_labels() -> None:
    egyptian = "ازيك يا باشا عامل ايه النهارده، انا مش فاهم حاجة خالص من الكلام ده"
    lang, _ = detect_one(egyptian)
    assert lang == "ar"
    for lang, _ in detect([FR, EN, egyptian, "ok ok ok", "Chi va piano va sano e va lontano"]):
        assert lang is None or len(lang) == 2


def test_restricting_languages() -> None:
    options = LanguageOptions(languages=("fr", "en"))
    assert {lang for lang, _ in detect([FR, EN, DE], options)} <= {"fr", "en"}
    with pytest.raises(ValueError, match="xx"):
        LanguageEnricher(LanguageOptions(languages=("fr", "xx")))


def test_enricher_sets_lang_and_confidence_keeping_order() -> None:
    enricher = LanguageEnricher()
    assert isinstance(enricher, Enricher)
    assert enricher.name == "language"
    mentions = [_mention(FR, 1), _mention(EN, 2), _mention("", 3)]
    out = enricher.enrich(mentions)
    assert [m.id for m in out] == ["bluesky:1", "bluesky:2", "bluesky:3"]
    assert [m.lang for m in out] == ["fr", "en", None]
    assert out[0].lang_confidence is not None
    assert out[0].lang_confidence > 0.5
    assert out[2].lang_confidence == 0.0
    assert out[0].text == FR  # nothing else changes
    assert enricher.enrich([]) == []


def test_declared_language_kept_when_text_too_short() -> None:
    out = LanguageEnricher().enrich([_mention("👍 https://t.co/x", lang="pt-BR")])
    assert out[0].lang == "pt"
    assert out[0].lang_confidence is None  # declared, not measured


def test_confident_detection_overrides_a_wrong_declaration() -> None:
    out = LanguageEnricher().enrich([_mention(FR, lang="en")])
    assert out[0].lang == "fr"


def test_unsure_detection_keeps_the_declaration() -> None:
    enricher = LanguageEnricher(LanguageOptions(override_confidence=1.01))
    out = enricher.enrich([_mention(FR, lang="en")])
    assert out[0].lang == "en"
    assert out[0].lang_confidence is not None
    assert out[0].lang_confidence < 0.5


def test_agreeing_declaration_and_rerun_are_stable() -> None:
    enricher = LanguageEnricher()
    once = enricher.enrich([_mention(FR, lang="fr"), _mention("ok ok ok", 2, lang="en")])
    assert once[0].lang == "fr"
    assert enricher.enrich(once) == once


def test_title_counts_for_articles() -> None:
    m = _mention("", title="Le groupe annonce le rappel de plusieurs milliers de véhicules")
    assert LanguageEnricher().enrich([m])[0].lang == "fr"


def test_the_workspace_languages_win_when_the_detector_is_unsure() -> None:
    from tocsin.enrich.language import LanguageOptions, detect

    assert detect(["super service merci"])[0][0] == "la"  # what py3langid alone says
    preferred = LanguageOptions(preferred=("fr", "en"))
    [(lang, confidence)] = detect(["super service merci"], preferred)
    assert lang == "fr"
    assert 0 < confidence < 0.5
    # A confident detection is never overridden.
    assert detect(["Das ist wirklich eine Katastrophe für uns alle"], preferred)[0][0] == "de"
