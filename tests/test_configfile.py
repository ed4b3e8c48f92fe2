"""Changing tocsin.toml from the program: comments kept, checked whole, atomic, no lost
update."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tocsin.config import ConfigError, load_settings
from tocsin.configfile import (
    ConfigConflict,
    ConfigFile,
    entries,
    find_entry,
    remove_entry,
    set_entry,
)
from tocsin.workspace import init_workspace


@pytest.fixture
def config(tmp_path: Path) -> ConfigFile:
    init_workspace(tmp_path, organisation="Acme")
    return ConfigFile(tmp_path, env={})


def test_a_change_keeps_every_comment_and_untouched_line(config: ConfigFile) -> None:
    original = config.path.read_text()
    draft = config.read()
    before = set_entry(draft.doc, "watches", "crisis", {"query": "Acme NEAR/3 panne"})
    assert before is not None
    assert "boycott" in before["query"]
    config.save(draft)
    text = config.path.read_text()
    changed = [
        (a, b) for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b
    ]
    assert changed == [(changed[0][0], 'query = "Acme NEAR/3 panne"')]
    assert load_settings(config.workspace, env={}).watches[1].query == "Acme NEAR/3 panne"
    assert (config.path.parent / "tocsin.toml.bak").read_text() == original


def test_added_and_removed_tables_keep_the_comments_that_introduce_the_next_section(
    config: ConfigFile,
) -> None:
    draft = config.read()
    assert set_entry(draft.doc, "watches", "globex2", {"query": "Globex", "tags": None}) is None
    removed = remove_entry(draft.doc, "watches", "competitor")
    assert removed is not None
    assert removed["query"] == "Globex OR #globex"
    config.save(draft)
    text = config.path.read_text()
    assert "# Sources: where to listen." in text
    assert text.index('name = "globex2"') < text.index("# Sources: where to listen.")
    assert [w["name"] for w in entries(config.read().doc, "watches")] == [
        "brand",
        "crisis",
        "globex2",
    ]


def test_the_last_table_of_an_array_can_go_and_come_back(config: ConfigFile) -> None:
    draft = config.read()
    set_entry(draft.doc, "channels", "ops", {"urls": ["json://127.0.0.1:9/hook"]})
    config.save(draft)
    draft = config.read()
    assert find_entry(draft.doc, "channels", "ops") == {
        "name": "ops",
        "urls": ["json://127.0.0.1:9/hook"],
    }
    remove_entry(draft.doc, "channels", "ops")
    config.save(draft)
    assert "channels" not in config.path.read_text()
    assert load_settings(config.workspace, env={}).channels == []


def test_an_invalid_change_is_refused_whole_and_nothing_is_written(config: ConfigFile) -> None:
    original = config.path.read_text()
    draft = config.read()
    set_entry(draft.doc, "watches", "crisis", {"query": "acme AND (", "tags": ["nope"]})
    with pytest.raises(ConfigError) as caught:
        config.save(draft)
    paths = [p.path for p in caught.value.problems]
    assert paths == ["watches[1].query", "watches[1].tags"]
    assert config.path.read_text() == original


def test_a_save_from_a_stale_page_is_refused(config: ConfigFile) -> None:
    mine, theirs = config.read(), config.read()
    set_entry(theirs.doc, "watches", "crisis", {"enabled": False})
    config.save(theirs)
    set_entry(mine.doc, "watches", "brand", {"description": "mine"})
    with pytest.raises(ConfigConflict, match="reload the page"):
        config.save(mine)
    assert "mine" not in config.path.read_text()


def test_the_file_keeps_its_permissions(config: ConfigFile) -> None:
    os.chmod(config.path, 0o600)
    draft = config.read()
    set_entry(draft.doc, "watches", "brand", {"description": "private"})
    config.save(draft)
    assert config.path.stat().st_mode & 0o777 == 0o600
    assert not list(config.path.parent.glob(".tocsin.toml.*.tmp"))


def test_a_list_that_is_not_tables_is_named_in_the_error(tmp_path: Path) -> None:
    init_workspace(tmp_path, organisation="Acme")
    config = ConfigFile(tmp_path, env={})
    draft = config.read()
    draft.doc["people"] = 3
    with pytest.raises(ValueError, match=r"people in tocsin.toml is not a list of \[\[people\]\]"):
        set_entry(draft.doc, "people", "ann", {"channels": ["ops"]})
