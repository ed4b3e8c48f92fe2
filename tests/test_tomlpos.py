"""The key locator finds the line of tables, array entries and keys in TOML text."""

from __future__ import annotations

import tomllib

from tocsin.redaction import is_secret_key, redact_mapping, redact_url
from tocsin.tomlpos import KeyLocator

TEXT = '''\
# comment [not] = a table
title = "x"

[organisation]   # trailing comment
name = "Acme"
"quoted key" = 1
a.b = 2

[[sources]]
type = "rss"
notes = """
interval = 5
[[sources]]
"""
tags = [
  "a",
  "[[sources]]",
]
interval = 10

[[sources]]
type = "rss"
inline = { url = "x", interval = 3 }

[run]
batch_size = 1
'''


def test_locates_tables_array_entries_and_keys() -> None:
    assert tomllib.loads(TEXT)["sources"][0]["interval"] == 10
    loc = KeyLocator(TEXT)
    assert loc.line_of(("title",)) == 2
    assert loc.line_of(("organisation",)) == 4
    assert loc.line_of(("organisation", "name")) == 5
    assert loc.line_of(("organisation", "quoted key")) == 6
    assert loc.line_of(("organisation", "a", "b")) == 7
    assert loc.line_of(("sources", 0)) == 9
    assert loc.line_of(("sources", 0, "interval")) == 19
    assert loc.line_of(("sources", 0, "tags", 1)) == 15
    assert loc.line_of(("sources", 1, "type")) == 22
    assert loc.line_of(("sources", 1, "inline", "url")) == 23
    assert loc.line_of(("run", "batch_size")) == 26


def test_falls_back_to_the_nearest_enclosing_line() -> None:
    loc = KeyLocator(TEXT)
    assert loc.line_of(("sources", 1, "missing")) == 21
    assert loc.line_of(("retention", "mentions_days")) is None
    assert loc.line_of(()) is None


def test_secret_keys() -> None:
    for key in ("token", "api_key", "apikey", "client_secret", "password", "access-token"):
        assert is_secret_key(key), key
    for key in ("keywords", "monkey_count", "url", "interval", "name"):
        assert not is_secret_key(key), key
    assert redact_url("postgresql://me:pw@db:5432/t") == "postgresql://me:**********@db:5432/t"
    assert redact_url("https://example.org/feed") == "https://example.org/feed"
    assert redact_mapping({"token": "abc", "empty_token": "", "url": "https://a:b@c/"}) == {
        "token": "**********",
        "empty_token": "",
        "url": "https://a:**********@c/",
    }
