"""`tocsin eval sentiment`: macro-F1 per language on a folder, exit 2 for usage errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tocsin.cli import EXIT_OK, EXIT_USAGE, app

runner = CliRunner()


def _write(root: Path) -> Path:
    folder = root / "data" / "french"
    folder.mkdir(parents=True)
    texts = ["Service nul, je suis très déçu", "Le colis arrive mardi", "Merci, génial !"]
    (folder / "val_text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (folder / "val_labels.txt").write_text("0\n1\n2\n", encoding="utf-8")
    return root / "data"


def test_eval_sentiment_prints_scores(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "sentiment", "--data", str(_write(tmp_path))])
    assert result.exit_code == EXIT_OK, result.output
    assert "french" in result.output
    assert "macro-F1" in result.output
    assert "mean" in result.output
    assert "negative" in result.output


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "sentiment", "--data", str(tmp_path / "missing")])
    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in result.output


def test_bad_mode_is_a_usage_error(tmp_path: Path) -> None:
    data = _write(tmp_path)
    result = runner.invoke(app, ["eval", "sentiment", "--data", str(data), "--mode", "fast"])
    assert result.exit_code == EXIT_USAGE
    assert "unknown sentiment mode" in result.output


def test_onnx_without_model_path_is_a_usage_error(tmp_path: Path) -> None:
    data = _write(tmp_path)
    result = runner.invoke(app, ["eval", "sentiment", "--data", str(data), "--mode", "onnx"])
    assert result.exit_code == EXIT_USAGE
    assert "--model-path" in result.output


def test_mismatched_files_are_a_usage_error(tmp_path: Path) -> None:
    data = _write(tmp_path)
    (data / "french" / "val_labels.txt").write_text("0\n1\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "sentiment", "--data", str(data)])
    assert result.exit_code == EXIT_USAGE
    assert "val_labels.txt has 2" in result.output


def test_eval_language_prints_accuracy_per_language(tmp_path: Path) -> None:
    for folder, texts in {
        "french": ["Je suis très déçu par le service client de cette banque"] * 3,
        "english": ["I am really disappointed with the customer service of this bank"] * 3,
    }.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "val_text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "language", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "french (fr)" in result.stdout
    assert "100.0%" in result.stdout
    missing = runner.invoke(app, ["eval", "language", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2


def test_eval_spikes_scores_a_nab_folder(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
    from test_spikes_eval import _make_corpus

    _make_corpus(tmp_path / "nab")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["eval", "spikes", "--nab", str(tmp_path / "nab"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "standard" in result.stdout
    assert (out / "tocsin" / "demo" / "tocsin_series.csv").is_file()
    missing = runner.invoke(app, ["eval", "spikes", "--nab", str(tmp_path), "--out", str(out)])
    assert missing.exit_code == 2
