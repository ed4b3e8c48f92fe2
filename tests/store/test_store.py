"""Store writes and reads, on SQLite and PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_helpers import T0, MakeMention

from tocsin.events import SOURCE_DOWN, SOURCE_UP, Event
from tocsin.mention import Author, Metrics, Sentiment
from tocsin.sources.base import IngestError
from tocsin.store import SaveResult, Store, StoreError, normalise_url, writes


def _error(
    ref: str, *, at: datetime = T0, source: str = "rss", raw: str = "<item/>"
) -> IngestError:
    return IngestError(source=source, ref=ref, error=f"bad {ref}", raw=raw, at=at)


def test_get_many_and_story_seeds(store: Store, mention: MakeMention) -> None:
    store.save_batch(
        "rss",
        [
            mention("old", minutes=-600, text="old"),
            mention("b", minutes=5, text="second", story_id="rss:a"),
            mention("a", minutes=1, text="first", title="Title", story_id="rss:a"),
        ],
        now=T0,
    )
    got = store.get_many(["rss:a", "rss:b", "rss:missing"])
    assert sorted(got) == ["rss:a", "rss:b"]
    assert got["rss:b"].text == "second"
    seeds = store.story_seeds(since=T0)
    assert seeds == [
        ("rss:a", "Title\nfirst", T0 + timedelta(minutes=1), "rss:a"),
        ("rss:b", "second", T0 + timedelta(minutes=5), "rss:a"),
    ]


def test_events_are_kept_newest_first_and_filtered(store: Store) -> None:
    down = Event(SOURCE_DOWN, "rss:news", "3 failures", T0, {"failures": 3})
    store.record_event(down)
    store.record_event(Event(SOURCE_UP, "rss:news", "back", T0 + timedelta(minutes=5)))
    store.record_event(Event(SOURCE_DOWN, "reddit:r", "silent", T0 + timedelta(minutes=6)))
    assert [e.message for e in store.events()] == ["silent", "back", "3 failures"]
    assert [e.subject for e in store.events(kinds=[SOURCE_DOWN])] == ["reddit:r", "rss:news"]
    last = store.last_event("rss:news", [SOURCE_DOWN, SOURCE_UP])
    assert last is not None
    assert (last.kind, last.at) == (SOURCE_UP, T0 + timedelta(minutes=5))
    first = store.events(subject="rss:news")[-1]
    assert (first.details, first.id is not None) == ({"failures": 3}, True)
    assert store.events(since=T0 + timedelta(minutes=5, seconds=1)) == store.events(limit=1)
    assert store.last_event("nope", [SOURCE_DOWN]) is None


def test_every_field_round_trips(store: Store, mention: MakeMention) -> None:
    full = mention(
        "x1",
        source="mastodon",
        text="Texte complet\navec é, œ et 🔥",
        title="Titre",
        url="https://WWW.News.example.org/a?b=1",
        lang="fr",
        author=Author("bob@example.social", "Bob", 12345, True, "https://example.social/@bob"),
        metrics=Metrics(likes=1, reposts=2, replies=3, quotes=4, views=None),
        parent_id="mastodon:x0",
        thread_id="mastodon:x0",
        raw={"nested": {"list": [1, 2.5, None, True]}, "text": "é\x00"},
        watches=("w2", "w1"),
        sentiment=Sentiment("neutral", 0.0),
        lang_confidence=0.93,
        demand="compensation",
        complaint=True,
        urgent=("legal_threat", "media"),
        reach=99,
        velocity=12.5,
        priority=0.75,
        priority_factors={"sentiment": 0.3, "reach": 0.45},
        story_id="story-1",
    )
    store.save_batch("mastodon", [full], now=T0)
    got = store.get("mastodon:x1")
    assert got == dataclasses.replace(full, watches=("w1", "w2"))
    assert got is not None
    assert got.raw == {"nested": {"list": [1, 2.5, None, True]}, "text": "é\x00"}
    assert store.get("mastodon:nope") is None


def test_bad_text_and_huge_counts_do_not_fail_the_batch(store: Store, mention: MakeMention) -> None:
    odd = mention("1", text="nul\x00 and lone \ud800 surrogate", author=Author(followers=10**30))
    assert store.save_batch("rss", [odd, mention("2")], now=T0) == SaveResult(2, 0, 0)
    got = store.get("rss:1")
    assert got is not None
    assert got.text == "nul and lone ? surrogate"
    assert got.author.followers == 2**63 - 1


def test_datetimes_come_back_aware_utc(store: Store, mention: MakeMention) -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2026, 6, 1, 14, 0, tzinfo=paris)
    store.save_batch(
        "rss",
        [mention("1", published_at=local, seen_at=local)],
        errors=[_error("e", at=local)],
        now=local,
    )
    got = store.get("rss:1")
    assert got is not None
    for value in (got.published_at, got.seen_at, store.errors()[0].at):
        assert value.tzinfo is UTC
        assert value == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# -- atomicity ------------------------------------------------------------------------------


def test_a_failure_mid_batch_keeps_nothing_of_it(store: Store, mention: MakeMention) -> None:
    store.save_batch("rss", [mention("0")], cursor="c0", now=T0)
    naive = datetime(2026, 1, 1)
    with pytest.raises(sa.exc.StatementError, match="no time zone"):
        store.save_batch(
            "rss",
            [mention("1"), mention("2", watches=("w",))],
            errors=[_error("ok"), _error("naive", at=naive)],
            cursor="c1",
            now=T0,
        )
    assert store.count() == 1
    assert store.get_cursor("rss") == "c0"
    assert store.errors() == []


def test_a_failure_while_indexing_rolls_back_the_upsert(
    store: Store, mention: MakeMention, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_batch("rss", [mention("1", text="old")], cursor="c0", now=T0)

    def explode(m: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writes, "fts_body", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save_batch("rss", [mention("1", text="new"), mention("2")], cursor="c1", now=T0)
    got = store.get("rss:1")
    assert got is not None
    assert got.text == "old"
    assert (store.count(), store.get_cursor("rss")) == (1, "c0")


# -- errors ---------------------------------------------------------------------------------


def test_errors_are_kept_with_their_raw_text_newest_first(store: Store) -> None:
    raw = '<item>\n  <title>Café "broken</title>\x00 🔥'
    result = store.save_batch(
        "rss", [], errors=[_error("entry 1", raw=raw), _error("entry 2")], now=T0
    )
    assert result == SaveResult(0, 0, 2)
    store.save_batch("hn", [], errors=[_error("item 9", source="hn")], now=T0)
    got = store.errors()
    assert [e.ref for e in got] == ["item 9", "entry 2", "entry 1"]
    assert got[2].raw == raw.replace("\x00", "")
    assert got[2].error == "bad entry 1"
    assert [e.ref for e in store.errors(source="rss", limit=1)] == ["entry 2"]


# -- purge ----------------------------------------------------------------------------------


def test_purge_deletes_old_mentions_with_their_watches_and_old_errors(
    store: Store, mention: MakeMention
) -> None:
    old = mention("old", text="ancien boycott", minutes=-120, watches=("w",))
    new = mention("new", text="nouveau", watches=("w",))
    store.save_batch(
        "rss",
        [old, new],
        errors=[_error("e-old", at=T0 - timedelta(days=1)), _error("e-new")],
        now=T0,
    )
    deleted = store.purge(mentions_before=T0 - timedelta(minutes=60), errors_before=T0)
    assert deleted == 2
    assert (store.count(), store.get("rss:old")) == (1, None)
    assert [e.ref for e in store.errors()] == ["e-new"]
    store.save_batch("rss", [old], now=T0)  # comes back cleanly, with a fresh index entry
    assert store.count() == 2
    assert store.purge() == 0


# -- opening --------------------------------------------------------------------------------


def test_relative_sqlite_paths_resolve_against_the_workspace(tmp_path: Path) -> None:
    url = normalise_url("sqlite:///data/tocsin.db", workspace=tmp_path)
    assert url.database == str(tmp_path / "data" / "tocsin.db")
    assert normalise_url("sqlite:////abs/x.db").database == "/abs/x.db"
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with Store.open("sqlite:///data/tocsin.db", workspace=tmp_path) as db:
        db.upgrade()
    assert (tmp_path / "data" / "tocsin.db").exists()


def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as db, db.engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }


def test_an_unreachable_database_names_the_url_without_its_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://tocsin:s3cret@127.0.0.1:1/tocsin?connect_timeout=2")
    message = str(caught.value)
    assert "postgresql+psycopg://tocsin:***@127.0.0.1:1/tocsin" in message
    assert "s3cret" not in message


def test_unknown_database_kinds_are_refused_clearly() -> None:
    with pytest.raises(StoreError, match="supports sqlite:/// and postgresql://"):
        Store.open("mysql://u@127.0.0.1/db")
    with pytest.raises(StoreError, match="not valid"):
        Store.open("not a url")
