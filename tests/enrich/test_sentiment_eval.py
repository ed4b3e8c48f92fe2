"""Evaluating sentiment on labelled folders, and the errors for bad folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.enrich.sentiment_data import DataError, language_code, load_split
from tocsin.enrich.sentiment_eval import evaluate, format_report, macro_f1

FRENCH = (
    ["Service nul, je suis très déçu", "Le colis est arrivé mardi", "Merci, super service !"],
    ["0", "1", "2"],
)
ENGLISH = (
    ["Terrible support, I hate it", "The store opens at 9", "I love this, great job"],
    ["negative", "neutral", "positive"],
)


def write(root: Path, folder: str, texts: list[str], labels: list[str], split: str = "val") -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / f"{split}_text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (root / folder / f"{split}_labels.txt").write_text("\n".join(labels), encoding="utf-8")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write(tmp_path, "french", *FRENCH)
    write(tmp_path, "english", *ENGLISH)
    return tmp_path


def test_evaluate_scores_each_language(data: Path) -> None:
    report = evaluate(data)
    assert [s.language for s in report.languages] == ["english", "french"]
    assert all(s.texts == 3 for s in report.languages)
    assert sum(map(sum, report.confusion)) == 6
    assert all(0.0 <= s.macro_f1 <= 1.0 for s in report.languages)
    assert report.texts_per_second > 0
    text = format_report(report)
    assert "french" in text
    assert "mean" in text
    assert "confusion" in text


def test_macro_f1() -> None:
    assert macro_f1([[1, 0, 0], [0, 1, 0], [0, 0, 1]]) == 1.0
    assert macro_f1([[0, 1, 0], [0, 0, 0], [0, 0, 0]]) == 0.0


def test_language_codes() -> None:
    assert language_code("french") == "fr"
    assert language_code("PT") == "pt"
    assert language_code("klingon") is None


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_split(tmp_path / "nope")
    with pytest.raises(DataError, match="no language folders"):
        load_split(tmp_path)


def test_missing_labels_file(tmp_path: Path) -> None:
    (tmp_path / "french").mkdir()
    (tmp_path / "french" / "val_text.txt").write_text("bonjour\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"val_labels\.txt is missing"):
        load_split(tmp_path)


def test_mismatched_line_counts_name_both_files(tmp_path: Path) -> None:
    write(tmp_path, "french", FRENCH[0], FRENCH[1][:2])
    with pytest.raises(DataError, match=r"val_text\.txt has 3 lines but .*val_labels\.txt has 2"):
        load_split(tmp_path)


def test_unknown_label_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "french", FRENCH[0], ["0", "3", "2"])
    with pytest.raises(DataError, match=r"line 2: unknown label '3'"):
        load_split(tmp_path)


def test_split_is_chosen(tmp_path: Path) -> None:
    write(tmp_path, "french", *FRENCH, split="test")
    assert load_split(tmp_path, "test")[0].labels == [0, 1, 2]
