"""`tocsin analyze`: one JSON object per text with its full enrichment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app

runner = CliRunner()
FIELDS = {
    "lang",
    "lang_confidence",
    "sentiment",
    "sentiment_score",
    "demand",
    "complaint",
    "urgent",
    "reach",
    "velocity",
    "priority",
    "priority_factors",
    "story",
}


@pytest.fixture(autouse=True)
def _no_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOCSIN_WORKSPACE", raising=False)


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_texts_as_arguments_give_one_json_object_each() -> None:
    result = runner.invoke(
        app,
        [
            "analyze",
            "Je vais porter plainte contre Acme, remboursez-moi !",
            "How do I change my delivery address?",
            "RT Je vais porter plainte contre Acme, remboursez-moi !",
        ],
    )
    assert result.exit_code == EXIT_OK, result.output
    first, second, third = _lines(result.stdout)
    assert set(first) == {"text", *FIELDS}
    assert (first["lang"], first["demand"], first["complaint"]) == ("fr", "compensation", True)
    assert first["urgent"] == ["legal_threat"]
    assert first["priority"] == pytest.approx(sum(first["priority_factors"].values()))  # type: ignore[union-attr]
    assert (second["lang"], second["demand"], second["complaint"]) == ("en", "information", False)
    assert (first["story"], second["story"], third["story"]) == (1, 2, 1)


def test_jsonl_keeps_other_fields_uses_metrics_and_skips_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "Boycott Acme!", "followers": 5000, "likes": 10}) + "\n"
        "{broken\n"
        + json.dumps({"id": "b", "title": "no text"})
        + "\n\n"
        + json.dumps({"id": "c", "text": "merci Acme", "lang": "fr"})
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["analyze", "--jsonl", str(path)])
    assert result.exit_code == EXIT_PARTIAL
    a, c = _lines(result.stdout)
    assert (a["id"], a["urgent"], a["reach"]) == ("a", ["boycott_call"], 5000 + 10 * 2)
    assert c["id"] == "c"
    assert f"{path}:2: skipped: not valid JSON" in result.stderr
    assert f'{path}:3: skipped: needs a "text" field' in result.stderr


def test_stdin_lines_and_a_missing_file() -> None:
    result = runner.invoke(app, ["analyze"], input="first line\nsecond line\n")
    assert result.exit_code == EXIT_OK
    assert [line["text"] for line in _lines(result.stdout)] == ["first line", "second line"]
    missing = runner.invoke(app, ["analyze", "--jsonl", "nope.jsonl"])
    assert missing.exit_code == EXIT_USAGE
    assert "no such file: nope.jsonl" in missing.stderr
