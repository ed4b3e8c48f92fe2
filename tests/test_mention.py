"""The Mention record: frozen, slotted, UTC only, stable ids, JSON round trip."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tocsin.mention import Author, Mention, Metrics, Sentiment, make_id, split_id

PARIS = timezone(timedelta(hours=1))


def _mention(**kw: object) -> Mention:
    values: dict[str, object] = {
        "id": "rss:https://news.example.org/a",
        "source": "rss",
        "url": "https://news.example.org/a",
        "text": "Acme rappelle un produit",
        "published_at": datetime(2026, 11, 1, 10, 0, tzinfo=PARIS),
        "seen_at": datetime(2026, 11, 1, 9, 5, tzinfo=UTC),
    }
    values.update(kw)
    return Mention(**values)  # type: ignore[arg-type]


def test_ids_are_source_colon_native_id() -> None:
    assert make_id("bluesky", "at://did:plc:x/app.bsky.feed.post/1") == (
        "bluesky:at://did:plc:x/app.bsky.feed.post/1"
    )
    assert split_id("bluesky:at://did:plc:x/post/1") == ("bluesky", "at://did:plc:x/post/1")
    assert _mention().native_id == "https://news.example.org/a"
    for bad in ("", "no-colon", ":x", "rss:"):
        with pytest.raises(ValueError, match="not of the form"):
            split_id(bad)
    with pytest.raises(ValueError, match="empty native id"):
        make_id("rss", "")
    with pytest.raises(ValueError, match="contain no ':'"):
        make_id("a:b", "1")


def test_id_must_start_with_its_source() -> None:
    with pytest.raises(ValueError, match="does not start with its source"):
        _mention(id="mastodon:1")


def test_datetimes_are_converted_to_utc_and_naive_ones_refused() -> None:
    m = _mention()
    assert m.published_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert m.published_at.tzinfo is UTC
    with pytest.raises(ValueError, match="has no time zone"):
        _mention(published_at=datetime(2026, 11, 1, 10, 0))


def test_frozen_and_slotted_and_replace_makes_a_new_record() -> None:
    m = _mention()
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.text = "changed"  # type: ignore[misc]
    assert not hasattr(m, "__dict__")
    assert not hasattr(Author(), "__dict__")
    enriched = dataclasses.replace(m, watches=["brand"], sentiment=Sentiment("negative", -0.8))
    assert enriched.watches == ("brand",)
    assert m.watches == ()


def test_json_round_trip_keeps_every_field() -> None:
    m = _mention(
        author=Author(handle="@jeanne", name="Jeanne", followers=1200, verified=True),
        metrics=Metrics(likes=3, reposts=1, replies=2, quotes=0, views=90),
        title="Rappel",
        lang="fr",
        parent_id="rss:parent",
        thread_id="rss:thread",
        raw={"guid": "a"},
        watches=("brand", "crisis"),
        sentiment=Sentiment("negative", -0.5),
        demand="explanation",
        reach=4000,
        priority=0.9,
        story_id="s1",
    )
    back = Mention.from_dict(m.to_dict())
    assert back == m
    assert back.raw == {"guid": "a"}


def test_from_dict_refuses_unknown_fields() -> None:
    data = _mention().to_dict() | {"colour": "red"}
    with pytest.raises(ValueError, match="unknown mention field"):
        Mention.from_dict(data)
