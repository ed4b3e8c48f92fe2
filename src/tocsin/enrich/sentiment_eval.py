"""Evaluate a sentiment mode on labelled folders: macro-F1 per language, confusion, speed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tocsin.enrich.sentiment import load_classifier
from tocsin.enrich.sentiment_data import LABELS, load_split

__all__ = ["LanguageScore", "SentimentReport", "evaluate", "format_report", "macro_f1"]


@dataclass(frozen=True, slots=True)
class LanguageScore:
    """Scores of one language folder; ``confusion[true][predicted]`` counts texts."""

    language: str
    texts: int
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]


@dataclass(frozen=True, slots=True)
class SentimentReport:
    """An evaluation run: per-language scores, the overall confusion and throughput."""

    mode: str
    split: str
    languages: list[LanguageScore]
    confusion: list[list[int]]
    texts_per_second: float
    labels: tuple[str, ...] = field(default=LABELS)

    @property
    def mean_macro_f1(self) -> float:
        """Unweighted mean of the per-language macro-F1."""
        return float(np.mean([s.macro_f1 for s in self.languages])) if self.languages else 0.0


def _confusion(truth: Sequence[int], predicted: Sequence[int]) -> list[list[int]]:
    matrix = np.zeros((3, 3), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(predicted)), 1)
    return matrix.tolist()


def macro_f1(confusion: list[list[int]]) -> float:
    """Macro-averaged F1 over the three classes of a confusion matrix."""
    matrix = np.asarray(confusion, dtype=np.float64)
    true_pos = np.diag(matrix)
    denominators = matrix.sum(axis=0) + matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denominators > 0, 2 * true_pos / denominators, 0.0)
    return float(f1.mean())


def evaluate(
    data_dir: Path, mode: str = "default", split: str = "val", model_path: Path | None = None
) -> SentimentReport:
    """Classify every text of `split` in each language folder of `data_dir` and score it.

    The folder name gives the language passed to the classifier (``french`` -> ``fr``).
    Raises `DataError` for unreadable data and `ValueError` for a bad mode.
    """
    parts = load_split(data_dir, split)
    classifier = load_classifier(mode, model_path)
    scores: list[LanguageScore] = []
    total = np.zeros((3, 3), dtype=np.int64)
    elapsed = 0.0
    count = 0
    for part in parts:
        started = time.perf_counter()
        predicted: list[int] = []
        for i in range(0, len(part.texts), 500):
            chunk = part.texts[i : i + 500]
            probabilities = classifier.predict_proba(chunk, [part.code] * len(chunk))
            predicted.extend(int(p) for p in probabilities.argmax(axis=1))
        elapsed += time.perf_counter() - started
        count += len(part.texts)
        confusion = _confusion(part.labels, predicted)
        total += np.asarray(confusion, dtype=np.int64)
        correct = sum(confusion[i][i] for i in range(3))
        scores.append(
            LanguageScore(
                language=part.language,
                texts=len(part.texts),
                macro_f1=macro_f1(confusion),
                accuracy=correct / len(part.texts) if part.texts else 0.0,
                confusion=confusion,
            )
        )
    return SentimentReport(
        mode=mode,
        split=split,
        languages=scores,
        confusion=total.tolist(),
        texts_per_second=count / elapsed if elapsed > 0 else 0.0,
    )


def format_report(report: SentimentReport) -> str:
    """A plain-text table: macro-F1 and accuracy per language, the mean, the confusion."""
    width = max([len(s.language) for s in report.languages] + [len("language")])
    lines = [
        f"sentiment, mode {report.mode}, split {report.split}",
        f"{'language':<{width}}  {'texts':>5}  {'macro-F1':>8}  {'accuracy':>8}",
    ]
    for s in report.languages:
        lines.append(f"{s.language:<{width}}  {s.texts:>5}  {s.macro_f1:>8.3f}  {s.accuracy:>8.3f}")
    lines.append(f"{'mean':<{width}}  {'':>5}  {report.mean_macro_f1:>8.3f}")
    lines.append("")
    lines.append("confusion (rows: true, columns: predicted)")
    lines.append(" " * 10 + "".join(f"{label:>10}" for label in report.labels))
    for label, row in zip(report.labels, report.confusion, strict=True):
        lines.append(f"{label:<10}" + "".join(f"{n:>10}" for n in row))
    lines.append(f"\n{report.texts_per_second:,.0f} texts/s (batches of 500)")
    return "\n".join(lines)
