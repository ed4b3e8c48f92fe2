"""Evaluating language detection on labelled folders, and the errors for bad folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.enrich.language_eval import (
    LanguageEvalError,
    evaluate,
    format_result,
    load_dataset,
)

FRENCH = [
    "Le service client ne répond jamais, c'est vraiment insupportable.",
    "Merci beaucoup pour votre aide rapide, tout fonctionne maintenant.",
    "Quelqu'un sait pourquoi la livraison est encore en retard cette semaine ?",
]
ENGLISH = [
    "The customer service never answers, this is really unbearable.",
    "Thanks a lot for your quick help, everything works now.",
    "Does anyone know why the delivery is late again this week?",
]


def _write(root: Path, folder: str, lines: list[str], name: str = "val_text.txt") -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_evaluate_scores_each_language_and_overall(tmp_path: Path) -> None:
    _write(tmp_path, "french", FRENCH)
    _write(tmp_path, "en", [*ENGLISH, "", "Bonjour à tous, je suis très content du produit."])
    result = evaluate(tmp_path)
    by_lang = {s.lang: s for s in result.scores}
    assert by_lang["fr"].folder == "french"
    assert by_lang["fr"].accuracy == 1.0
    assert by_lang["en"].total == 4  # the blank line is skipped
    assert by_lang["en"].correct == 3
    assert result.total == 7
    assert result.accuracy == pytest.approx(6 / 7)
    assert result.macro_accuracy == pytest.approx((1.0 + 0.75) / 2)
    assert result.texts_per_second > 0
    text = format_result(result)
    assert "french (fr)" in text
    assert "75.0%" in text
    assert "overall" in text
    assert "texts/s" in text


def test_limit_and_split(tmp_path: Path) -> None:
    _write(tmp_path, "fr", FRENCH, "test_text.txt")
    result = evaluate(tmp_path, split="test", limit=2)
    assert result.total == 2
    assert result.split == "test"


def test_missing_folder_names_it_and_the_layout(tmp_path: Path) -> None:
    with pytest.raises(LanguageEvalError, match=r"no such folder.*val_text\.txt"):
        load_dataset(tmp_path / "nope")


def test_empty_folder_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(LanguageEvalError, match="no language sub-folders"):
        load_dataset(tmp_path)


def test_every_problem_is_listed_with_its_fix(tmp_path: Path) -> None:
    _write(tmp_path, "french", FRENCH)
    _write(tmp_path, "klingon", ["nuqneH"])
    (tmp_path / "german").mkdir()
    _write(tmp_path, "english", [])
    (tmp_path / "spanish").mkdir()
    (tmp_path / "spanish" / "val_text.txt").write_bytes(b"hola\n\xff\xfe mal\n")
    with pytest.raises(LanguageEvalError) as info:
        load_dataset(tmp_path)
    message = str(info.value)
    assert "'klingon' is not a language name" in message
    assert "ISO 639-1" in message
    assert str(tmp_path / "german" / "val_text.txt") + ": missing" in message
    assert "english" in message
    assert "has no text" in message
    assert "line 2 is not UTF-8" in message
    assert str(tmp_path / "french") not in message


def test_two_folders_for_one_language(tmp_path: Path) -> None:
    _write(tmp_path, "fr", FRENCH)
    _write(tmp_path, "french", FRENCH)
    with pytest.raises(LanguageEvalError, match="second folder for 'fr'"):
        load_dataset(tmp_path)
