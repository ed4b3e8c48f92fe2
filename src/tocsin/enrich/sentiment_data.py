"""Labelled sentiment data on disk: ``<data>/<language>/<split>_{text,labels}.txt``.

One text per line in ``<split>_text.txt`` and, on the same line of ``<split>_labels.txt``,
its label: ``0`` (negative), ``1`` (neutral) or ``2`` (positive); the words themselves are
accepted too. Folder names are language names (``french``) or ISO 639-1 codes (``fr``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LABELS",
    "LANGUAGE_CODES",
    "DataError",
    "LabelledTexts",
    "language_code",
    "load_split",
]

LABELS = ("negative", "neutral", "positive")
LANGUAGE_CODES = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
}
_LABEL_IDS = {"0": 0, "1": 1, "2": 2, **{name: i for i, name in enumerate(LABELS)}}


class DataError(ValueError):
    """A data folder or file that cannot be read; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class LabelledTexts:
    """The texts of one language and split with their label ids (0, 1, 2)."""

    language: str
    code: str | None
    texts: list[str]
    labels: list[int]


def language_code(folder_name: str) -> str | None:
    """ISO 639-1 code for a language folder (``french`` or ``fr``), None when unknown."""
    name = folder_name.lower()
    if name in LANGUAGE_CODES:
        return LANGUAGE_CODES[name]
    return name if name in LANGUAGE_CODES.values() else None


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 ({exc.reason}); re-save it as UTF-8") from exc
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def _read_language(folder: Path, split: str) -> LabelledTexts:
    text_path = folder / f"{split}_text.txt"
    label_path = folder / f"{split}_labels.txt"
    for path in (text_path, label_path):
        if not path.is_file():
            raise DataError(
                f"{path} is missing; each language folder needs {split}_text.txt and "
                f"{split}_labels.txt with one line per text"
            )
    texts, raw_labels = _lines(text_path), _lines(label_path)
    if len(texts) != len(raw_labels):
        raise DataError(
            f"{text_path} has {len(texts)} lines but {label_path} has {len(raw_labels)}; "
            "they must have one label per text, line for line"
        )
    labels = []
    for number, raw in enumerate(raw_labels, 1):
        label = _LABEL_IDS.get(raw.strip().lower())
        if label is None:
            raise DataError(
                f"{label_path}, line {number}: unknown label {raw.strip()!r}; use 0 "
                "(negative), 1 (neutral) or 2 (positive)"
            )
        labels.append(label)
    return LabelledTexts(folder.name, language_code(folder.name), texts, labels)


def load_split(data_dir: Path, split: str = "val") -> list[LabelledTexts]:
    """Read every language folder of `data_dir` for `split`, sorted by folder name."""
    if not data_dir.is_dir():
        raise DataError(
            f"data folder {data_dir} does not exist; pass a folder holding one sub-folder "
            f"per language with {split}_text.txt and {split}_labels.txt"
        )
    folders = sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(
            f"{data_dir} has no language folders; expected e.g. {data_dir}/french/{split}_text.txt"
        )
    return [_read_language(folder, split) for folder in folders]
