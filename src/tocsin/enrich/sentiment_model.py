"""The default sentiment model: hashed n-gram logistic regression stacked with lexicon scores.

Stage 1 is a multinomial logistic regression over hashed character (2-5) and word (1-2)
n-grams of all languages at once, plus the same n-grams crossed with the text's language
(smaller tables; absent when the language is unknown). Stage 2 ("stacker") is a small
logistic regression over stage 1's three logits and the lexicon features
(`sentiment_lexicon`), each also crossed with the text's language, so each language gets its
own weighting of the n-gram model against its lexicon and its own class calibration. Texts
of unknown language use the shared weights only.

Weights ship as ``models/sentiment_default.npz`` (float16 n-gram weights, float64 stacker)
with ``models/sentiment_default.json`` (metadata); no pickle, loaded with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tocsin.enrich.sentiment_features import (
    BLOCK_BITS,
    batch_features,
    hashed_scores,
    normalise,
    tokenise,
)
from tocsin.enrich.sentiment_lexicon import LANGUAGES, lexicon_features

__all__ = [
    "DefaultModel",
    "canonical_language",
    "load_default_model",
    "model_dir",
    "softmax",
    "stack_features",
]

MODEL_NAME = "sentiment_default"


def model_dir() -> Path:
    """The folder of the shipped model files (inside the installed package)."""
    return Path(str(resources.files("tocsin.enrich") / "models"))


def canonical_language(lang: str | None) -> str | None:
    """``"fr-FR"`` -> ``"fr"``; None for languages the model has no specific weights for."""
    if not lang:
        return None
    code = lang[:2].lower()
    return code if code in LANGUAGES else None


def softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return result


def stack_features(
    stage1: NDArray[np.float64], lexicon: NDArray[np.float64], langs: Sequence[str | None]
) -> NDArray[np.float64]:
    """Stacker input: ``[z, one-hot(lang), z * one-hot(lang)...]`` with ``z = [stage1, lex]``."""
    z = np.hstack([stage1, lexicon])
    onehot = np.zeros((len(langs), len(LANGUAGES)), dtype=np.float64)
    index = {code: i for i, code in enumerate(LANGUAGES)}
    for row, lang in enumerate(langs):
        if lang in index:
            onehot[row, index[lang]] = 1.0
    crossed = (z[:, None, :] * onehot[:, :, None]).reshape(len(langs), -1)
    return np.hstack([z, onehot, crossed])


@dataclass(frozen=True, slots=True)
class DefaultModel:
    """Loaded weights of the default model; `predict_proba` scores a batch at once."""

    ngram_weights: tuple[NDArray[np.float16], ...]
    stage1_bias: NDArray[np.float64]
    stack_weights: NDArray[np.float64]
    stack_bias: NDArray[np.float64]
    meta: dict[str, Any]

    @classmethod
    def load(cls, folder: Path | None = None) -> DefaultModel:
        """Read ``sentiment_default.npz``/``.json`` from `folder` (default: the package's)."""
        folder = folder or model_dir()
        weights_path = folder / f"{MODEL_NAME}.npz"
        meta_path = folder / f"{MODEL_NAME}.json"
        for path in (weights_path, meta_path):
            if not path.is_file():
                raise FileNotFoundError(
                    f"sentiment model file {path} is missing; reinstall tocsin or rebuild it "
                    "with `python scripts/train_sentiment.py --data DIR`"
                )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if tuple(meta.get("block_bits", ())) != BLOCK_BITS:
            raise ValueError(
                f"{meta_path} was trained with other hashing sizes; retrain the model "
                "with `python scripts/train_sentiment.py`"
            )
        with np.load(weights_path, allow_pickle=False) as data:
            return cls(
                ngram_weights=tuple(data[f"ngram_weights_{i}"] for i in range(len(BLOCK_BITS))),
                stage1_bias=data["stage1_bias"].astype(np.float64),
                stack_weights=data["stack_weights"].astype(np.float64),
                stack_bias=data["stack_bias"].astype(np.float64),
                meta=meta,
            )

    def stage1_logits(
        self,
        normalised: Sequence[str],
        tokens: Sequence[Sequence[str]],
        langs: Sequence[str | None],
    ) -> NDArray[np.float64]:
        """Logits of the n-gram model alone."""
        batch = batch_features(normalised, tokens, langs)
        return hashed_scores(batch, self.ngram_weights) + self.stage1_bias

    def predict_proba(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> NDArray[np.float64]:
        """``(len(texts), 3)`` probabilities of negative, neutral, positive."""
        if not texts:
            return np.zeros((0, 3), dtype=np.float64)
        codes = [canonical_language(x) for x in langs] if langs else [None] * len(texts)
        normalised = [normalise(t) for t in texts]
        tokens = [tokenise(t) for t in normalised]
        stage1 = self.stage1_logits(normalised, tokens, codes)
        lexicon = lexicon_features(normalised, tokens, codes)
        x = stack_features(stage1, lexicon, codes)
        return softmax(x @ self.stack_weights + self.stack_bias)


@cache
def load_default_model() -> DefaultModel:
    """The shipped default model, loaded once per process."""
    return DefaultModel.load()
