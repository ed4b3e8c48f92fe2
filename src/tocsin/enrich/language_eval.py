"""Measure the language enricher on labelled folders: accuracy per language and texts/s.

The data folder holds one sub-folder per language, named by the language in English
(``french/``) or by its ISO 639-1 code (``fr/``); each holds ``<split>_text.txt`` with one
text per line (``val_text.txt`` by default). This is the layout of the multilingual tweet
sentiment sets under ``shared/data/sentiment``. ``tocsin eval language --data DIR`` prints
`format_result` of `evaluate`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tocsin.enrich.language import LanguageOptions, detect, warm_up

__all__ = [
    "LANGUAGE_NAMES",
    "LanguageEvalError",
    "LanguageEvalResult",
    "LanguageScore",
    "evaluate",
    "format_result",
    "load_dataset",
]

#: Folder names understood besides ISO 639-1 codes.
LANGUAGE_NAMES = {
    "arabic": "ar",
    "chinese": "zh",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "polish": "pl",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
    "swedish": "sv",
    "turkish": "tr",
    "ukrainian": "uk",
}


class LanguageEvalError(ValueError):
    """The data folder is not usable; the message lists every problem and its fix."""


@dataclass(frozen=True, slots=True)
class LanguageScore:
    """How one language's texts were labelled."""

    lang: str
    folder: str
    total: int
    correct: int
    #: What its texts were labelled as (``None``: too short to say), most frequent first.
    predicted: tuple[tuple[str | None, int], ...] = ()

    @property
    def accuracy(self) -> float:
        """Share of texts labelled with the folder's language."""
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class LanguageEvalResult:
    """Accuracy per language and overall, and the speed of `detect` on these texts."""

    scores: tuple[LanguageScore, ...]
    seconds: float
    split: str = "val"
    options: LanguageOptions = field(default_factory=LanguageOptions)

    @property
    def total(self) -> int:
        """Number of texts."""
        return sum(s.total for s in self.scores)

    @property
    def accuracy(self) -> float:
        """Share of all texts labelled right (micro average)."""
        return sum(s.correct for s in self.scores) / self.total if self.total else 0.0

    @property
    def macro_accuracy(self) -> float:
        """Mean of the per-language accuracies."""
        return sum(s.accuracy for s in self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def texts_per_second(self) -> float:
        """Texts detected per second (one thread, cleaning included)."""
        return self.total / self.seconds if self.seconds > 0 else float("inf")


def _code(folder: Path) -> str | None:
    name = folder.name.lower()
    if name in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[name]
    if len(name) == 2 and name.isascii() and name.isalpha():
        return name
    return None


def _read(path: Path, problems: list[str]) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror}); check its permissions")
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(f"{path}: line {line} is not UTF-8; re-encode the file as UTF-8")
        return []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        problems.append(f"{path}: has no text; put one text per line")
    return lines


def load_dataset(data_dir: Path | str, split: str = "val") -> dict[str, tuple[str, list[str]]]:
    """``{code: (folder name, texts)}`` from the folder layout; raise `LanguageEvalError`."""
    root = Path(data_dir)
    layout = (
        f"a folder with one sub-folder per language (english/ or en/, french/ or fr/, ...), "
        f"each holding {split}_text.txt with one text per line"
    )
    if not root.is_dir():
        raise LanguageEvalError(f"{root}: no such folder; --data must name {layout}")
    problems: list[str] = []
    data: dict[str, tuple[str, list[str]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        code = _code(folder)
        if code is None:
            problems.append(
                f"{folder}: {folder.name!r} is not a language name tocsin knows; rename it to "
                f"its ISO 639-1 code (e.g. fr) or one of: {', '.join(sorted(LANGUAGE_NAMES))}"
            )
            continue
        if code in data:
            problems.append(f"{folder}: a second folder for {code!r} (first: {data[code][0]})")
            continue
        path = folder / f"{split}_text.txt"
        if not path.is_file():
            problems.append(f"{path}: missing; each language folder needs {split}_text.txt")
            continue
        texts = _read(path, problems)
        if texts:
            data[code] = (folder.name, texts)
    if not data and not problems:
        problems.append(f"{root}: no language sub-folders; it must be {layout}")
    if problems:
        raise LanguageEvalError("cannot evaluate language detection:\n- " + "\n- ".join(problems))
    return data


def evaluate(
    data_dir: Path | str,
    *,
    split: str = "val",
    options: LanguageOptions | None = None,
    limit: int | None = None,
) -> LanguageEvalResult:
    """Run `detect` on every text of every language folder (at most `limit` per language)."""
    opts = options or LanguageOptions()
    data = load_dataset(data_dir, split)
    warm_up(opts)  # the model loads outside the timed part
    scores: list[LanguageScore] = []
    seconds = 0.0
    for code, (folder, texts) in data.items():
        sample = texts[:limit] if limit else texts
        start = time.perf_counter()
        found = detect(sample, opts)
        seconds += time.perf_counter() - start
        predicted = Counter(lang for lang, _ in found)
        scores.append(
            LanguageScore(
                lang=code,
                folder=folder,
                total=len(sample),
                correct=predicted[code],
                predicted=tuple(predicted.most_common()),
            )
        )
    return LanguageEvalResult(tuple(scores), seconds, split, opts)


def format_result(result: LanguageEvalResult, *, confusions: int = 3) -> str:
    """A plain-text table: one line per language, then the overall figures."""
    lines = [f"{'language':<12} {'texts':>6} {'accuracy':>9}  most often labelled as"]
    for s in result.scores:
        top = ", ".join(f"{lang or 'none'} {n}" for lang, n in s.predicted[:confusions])
        lines.append(f"{s.folder + ' (' + s.lang + ')':<12} {s.total:>6} {s.accuracy:>9.1%}  {top}")
    lines.append(
        f"{'overall':<12} {result.total:>6} {result.accuracy:>9.1%}  "
        f"(mean of languages {result.macro_accuracy:.1%})"
    )
    lines.append(f"speed: {result.texts_per_second:,.0f} texts/s on one thread")
    return "\n".join(lines)
