"""The ``onnx`` sentiment mode: your own transformer, exported to ONNX, run with onnxruntime.

Point it at a folder holding ``model.onnx`` (any single ``*.onnx`` file will do),
``tokenizer.json`` (a Hugging Face *tokenizers* file) and, optionally, ``config.json``:
its ``id2label`` maps the model's outputs to negative/neutral/positive (names such as
``negative``, ``neg``, ``NEGATIVE`` or ``LABEL_0`` are understood); without it, three
outputs are read as negative, neutral, positive and two as negative, positive. For example::

    optimum-cli export onnx --model cardiffnlp/twitter-xlm-roberta-base-sentiment xlmr/

Texts are tokenised in batches with padding and truncation, and the logits go through a
softmax. Needs ``pip install 'tocsin[onnx]'`` (onnxruntime, tokenizers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tocsin.enrich.sentiment_model import softmax

__all__ = ["OnnxSentimentModel", "label_columns"]

INSTALL_HINT = "pip install 'tocsin[onnx]'"
_NAMES = {
    "negative": 0,
    "neg": 0,
    "neutral": 1,
    "neu": 1,
    "positive": 2,
    "pos": 2,
}


def label_columns(config: dict[str, Any], outputs: int) -> list[int]:
    """For each model output, the column (0 negative, 1 neutral, 2 positive) it feeds."""
    id2label = config.get("id2label") or {}
    names = {int(k): str(v).strip().lower() for k, v in id2label.items()}
    if names and all(name in _NAMES for name in names.values()):
        if len(names) != outputs:
            raise ValueError(f"config.json id2label has {len(names)} labels, model {outputs}")
        return [_NAMES[names[i]] for i in range(outputs)]
    if outputs == 3:
        return [0, 1, 2]
    if outputs == 2:
        return [0, 2]
    raise ValueError(
        f"the ONNX model has {outputs} outputs; add an id2label to config.json naming "
        "negative, neutral and positive"
    )


def _find_model(folder: Path) -> Path:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"ONNX sentiment model folder {folder} does not exist; export a model there "
            "(model.onnx, tokenizer.json, config.json) or fix sentiment_model_path"
        )
    preferred = folder / "model.onnx"
    if preferred.is_file():
        return preferred
    found = sorted(folder.glob("*.onnx"))
    if len(found) != 1:
        what = "no .onnx file" if not found else f"{len(found)} .onnx files"
        raise FileNotFoundError(f"{folder} has {what}; put the exported model there as model.onnx")
    return found[0]


@dataclass(frozen=True, slots=True)
class OnnxSentimentModel:
    """An onnxruntime session with its tokenizer and the label mapping."""

    session: Any
    tokenizer: Any
    columns: list[int]
    input_names: tuple[str, ...]
    batch_size: int = 32

    @classmethod
    def load(cls, folder: Path, max_length: int = 256, batch_size: int = 32) -> OnnxSentimentModel:
        """Open ``folder``'s model and tokenizer; clear errors for what is missing."""
        folder = Path(folder)
        model_path = _find_model(folder)
        tokenizer_path = folder / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise FileNotFoundError(
                f"{tokenizer_path} is missing; save the model's tokenizer there "
                "(tokenizer.save_pretrained or Tokenizer.save)"
            )
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportError(
                f"sentiment mode 'onnx' needs onnxruntime and tokenizers: {INSTALL_HINT}"
            ) from exc
        config_path = folder / "config.json"
        config = (
            json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        outputs = session.get_outputs()[0].shape[-1]
        if not isinstance(outputs, int):
            outputs = len(config.get("id2label") or {}) or 3
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        pad_id = config.get("pad_token_id")
        if pad_id is None:
            pad_id = tokenizer.token_to_id("<pad>") or tokenizer.token_to_id("[PAD]") or 0
        tokenizer.enable_padding(pad_id=int(pad_id))
        tokenizer.enable_truncation(max_length=max_length)
        names = tuple(i.name for i in session.get_inputs())
        return cls(session, tokenizer, label_columns(config, outputs), names, batch_size)

    def _logits(self, texts: Sequence[str]) -> NDArray[np.float64]:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.zeros_like(ids),
        }
        missing = [name for name in self.input_names if name not in feeds]
        if missing:
            raise ValueError(f"the ONNX model wants inputs tocsin does not know: {missing}")
        result = self.session.run(None, {name: feeds[name] for name in self.input_names})
        return np.asarray(result[0], dtype=np.float64)

    def predict_proba(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> NDArray[np.float64]:
        """``(len(texts), 3)`` probabilities of negative, neutral, positive."""
        out = np.zeros((len(texts), 3), dtype=np.float64)
        for start in range(0, len(texts), self.batch_size):
            chunk = [t or " " for t in texts[start : start + self.batch_size]]
            probabilities = softmax(self._logits(chunk))
            for source, column in enumerate(self.columns):
                out[start : start + len(chunk), column] += probabilities[:, source]
        return out
