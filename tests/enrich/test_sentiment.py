"""The sentiment enricher: rules (negation, intensifiers, emoji), batching, packaged model."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tocsin.enrich.base import Enricher
from tocsin.enrich.sentiment import SentimentEnricher, classify, to_sentiments
from tocsin.enrich.sentiment_features import normalise, tokenise
from tocsin.enrich.sentiment_lexicon import FEATURE_NAMES, lexicon_features
from tocsin.enrich.sentiment_model import DefaultModel, canonical_language
from tocsin.mention import Mention, Sentiment

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
COMPOUND = FEATURE_NAMES.index("compound")


def _compound(text: str, lang: str | None) -> float:
    normalised = normalise(text)
    return float(lexicon_features([normalised], [tokenise(normalised)], [lang])[0, COMPOUND])


def _mention(n: int, text: str, lang: str | None = None) -> Mention:
    return Mention(
        id=f"test:{n}",
        source="test",
        url=f"https://example.org/{n}",
        text=text,
        published_at=NOW,
        seen_at=NOW,
        lang=lang,
    )


@pytest.mark.parametrize(
    ("text", "lang", "sign"),
    [
        ("Je ne suis pas du tout satisfait du service", "fr", -1),
        ("pas du tout satisfait", "fr", -1),
        ("satisfait", "fr", 1),
        ("Ce n'est pas mauvais", "fr", 1),
        ("not bad at all", "en", 1),
        ("bad", "en", -1),
        ("I am not happy with this", "en", -1),
        ("Das ist nicht gut", "de", -1),
    ],
)
def test_lexicon_negation_flips_polarity(text: str, lang: str, sign: int) -> None:
    assert _compound(text, lang) * sign > 0


@pytest.mark.parametrize(
    ("plain", "boosted", "lang"),
    [("bon", "très bon", "fr"), ("good", "very good", "en"), ("bad", "extremely bad", "en")],
)
def test_intensifiers_strengthen(plain: str, boosted: str, lang: str) -> None:
    assert abs(_compound(boosted, lang)) > abs(_compound(plain, lang))


def test_but_weighs_the_second_clause_more() -> None:
    assert _compound("the food is good but the service is terrible", "en") < 0


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Je ne suis pas du tout satisfait de ce service, vraiment nul", "negative"),
        ("Service client génial, merci beaucoup, je suis ravie !", "positive"),
        ("This is not bad at all, I love it!", "positive"),
        ("Worst airline ever, I hate this, never again", "negative"),
        ("😡😡😡", "negative"),
        ("❤️😍🥰", "positive"),
    ],
)
def test_model_labels_clear_cases(text: str, label: str) -> None:
    assert classify([text])[0].label == label
    lang = "fr" if " je " in f" {text.lower()} " else "en"
    assert classify([text], [lang])[0].label == label


def test_emoji_alone_carries_polarity() -> None:
    angry, happy = classify(["😡", "😍"])
    assert angry.score < happy.score


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_is_neutral(text: str) -> None:
    assert classify([text]) == [Sentiment("neutral", 0.0)]


def test_scores_are_in_range_and_match_labels() -> None:
    texts = ["great!", "awful service", "The meeting is at 10am.", "bof", "?!", "a" * 5000]
    for sentiment in classify(texts):
        assert -1.0 <= sentiment.score <= 1.0
        assert sentiment.label in ("negative", "neutral", "positive")


def test_enricher_keeps_order_and_sets_sentiment() -> None:
    texts = [
        "Acme est en panne depuis ce matin, c'est une honte",
        "Merci Acme, super service !",
        "Acme publie ses résultats jeudi",
        "I love Acme",
        "",
    ] * 3
    mentions = [_mention(n, t, "fr" if n % 5 < 3 else "en") for n, t in enumerate(texts)]
    enricher = SentimentEnricher()
    assert isinstance(enricher, Enricher)
    assert enricher.name == "sentiment"
    out = enricher.enrich(mentions)
    assert [m.id for m in out] == [m.id for m in mentions]
    assert all(m.sentiment is not None for m in out)
    single = [enricher.enrich([m])[0].sentiment for m in mentions]
    assert [m.sentiment for m in out] == single
    assert out[0].sentiment is not None
    assert out[0].sentiment.label == "negative"
    assert out[1].sentiment is not None
    assert out[1].sentiment.label == "positive"
    assert out[0].text == mentions[0].text
    assert out[0].lang == "fr"
    assert enricher.enrich([]) == []


def test_languages_must_match_texts() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        classify(["a", "b"], ["en"])


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown sentiment mode 'fast'"):
        classify(["a"], mode="fast")


def test_onnx_mode_needs_a_path() -> None:
    with pytest.raises(ValueError, match="--model-path"):
        classify(["a"], mode="onnx")


def test_language_codes_are_canonicalised() -> None:
    assert canonical_language("fr-FR") == "fr"
    assert canonical_language("PT_br") == "pt"
    assert canonical_language("xx") is None
    assert canonical_language(None) is None
    assert classify(["merci"], ["fr-FR"]) == classify(["merci"], ["fr"])


def test_model_loads_from_package_data() -> None:
    folder = resources.files("tocsin.enrich") / "models"
    assert (folder / "sentiment_default.npz").is_file()
    assert (folder / "sentiment_default.json").is_file()
    model = DefaultModel.load()
    assert model.meta["labels"] == ["negative", "neutral", "positive"]
    probabilities = model.predict_proba(["ok", "bien"], ["en", None])
    assert probabilities.shape == (2, 3)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_missing_model_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train_sentiment\.py"):
        DefaultModel.load(tmp_path)


def test_to_sentiments_handles_an_empty_batch() -> None:
    assert to_sentiments(np.zeros((0, 3)), []) == []
