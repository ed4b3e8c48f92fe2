"""The web app's words in French and English (the workspace language), from the TOML files of
``words/``: ``app.toml`` for what every page shares, one file per page for the rest."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["WORDS_DIR", "layered", "request_language", "translator", "words"]

Words = Mapping[str, Mapping[str, str]]
"""A page's words: ``{language: {key: text}}``, English always present."""
WORDS_DIR = Path(__file__).parent / "words"


@cache
def words(name: str) -> Words:
    """The words of ``words/<name>.toml`` beside this module: ``{language: {key: text}}``.

    One TOML file per page keeps the Python modules about behaviour, and lets a translator
    work on text alone; a test checks that every file has the same keys in each language.
    """
    with (WORDS_DIR / f"{name}.toml").open("rb") as handle:
        found = tomllib.load(handle)
    return {language: dict(table) for language, table in found.items()}


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)`` in `language` (English for unknown languages or keys)."""
    app = words("app")
    chosen = app.get(language, app["en"])

    def t(key: str, **values: object) -> str:
        text = chosen.get(key) or app["en"].get(key, key)
        return text.format(**values) if values else text

    return t


def layered(language: str, *tables: Words) -> Callable[..., str]:
    """``t(key, **values)`` looking `key` up in `tables` in order (in `language`, then in
    English), then in the app's words: how a page adds its own words to the shared ones."""
    fallback = translator(language)

    def t(key: str, **values: object) -> str:
        for table in tables:
            text = table.get(language, table["en"]).get(key) or table["en"].get(key)
            if text is not None:
                return text.format(**values) if values else text
        return fallback(key, **values)

    return t


def request_language(request: Any) -> str:
    """The workspace language the app renders `request` in."""
    lang = request.app.state.templates.env.globals.get("lang", "en")
    return lang if isinstance(lang, str) else "en"
