"""The words of the web app (``src/tocsin/web/words/*.toml``): every file says everything in
English and in French, with the same placeholders, and every page's table is used."""

from __future__ import annotations

import re
import string

import pytest

from tocsin.web.i18n import WORDS_DIR, layered, translator, words

FILES = sorted(p.stem for p in WORDS_DIR.glob("*.toml"))


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_there_are_word_files() -> None:
    assert {"app", "inbox", "search", "settings"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_each_file_says_everything_in_both_languages(name: str) -> None:
    table = words(name)
    assert set(table) == {"en", "fr"}
    assert set(table["en"]) == set(table["fr"]), set(table["en"]) ^ set(table["fr"])
    for key, english in table["en"].items():
        french = table["fr"][key]
        assert _placeholders(english) == _placeholders(french), key
        assert french.strip(), key


def test_a_page_s_words_come_first_then_the_app_s_then_english() -> None:
    page = {"en": {"only_here": "Here {n}", "nav_live": "Mine"}, "fr": {}}
    t = layered("fr", page)
    assert t("only_here", n=2) == "Here 2"  # no French: the English of the page
    assert t("nav_live") == "Mine"
    assert t("nav_inbox") == "À traiter"  # the app's, in French
    assert translator("de")("nav_inbox") == "Inbox"
    assert re.fullmatch(r"\w+", t("unknown_key"))


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_read_by_the_app(name: str) -> None:
    source = "\n".join(p.read_text() for p in WORDS_DIR.parent.rglob("*.py"))
    assert f'words("{name}")' in source
