"""Stories: retellings, reposts and quotes grouped under one story id; no clock sleeps."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.clock import FakeClock
from tocsin.enrich.base import Enricher
from tocsin.enrich.stories import (
    StoriesEnricher,
    StoriesOptions,
    StoryIndex,
    stories_stats,
    story_stats,
)
from tocsin.enrich.stories_features import (
    article_url,
    linked_ids,
    normalise,
    normalise_words,
    shingle_hashes,
    signatures,
)
from tocsin.enrich.stories_labelled import STORIES, evaluate
from tocsin.mention import Author, Mention

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
_counter = iter(range(10**9))


def mention(
    text: str,
    *,
    at: datetime | None = None,
    minutes: float = 0,
    id: str | None = None,
    source: str = "x",
    url: str = "",
    **fields: Any,
) -> Mention:
    n = next(_counter)
    when = at or T0 + timedelta(minutes=minutes)
    return Mention(
        id=id or f"{source}:{n}",
        source=source,
        url=url or f"https://x.com/u{n}/status/{n}",
        text=text,
        author=Author(handle=f"@u{n}"),
        published_at=when,
        seen_at=when,
        **fields,
    )


FR = (
    "@Colivraison mon colis est marqué livré depuis 5 jours mais je n'ai jamais rien reçu, "
    "le service client ne répond pas"
)
EN = (
    "@QuickCart charged me twice for the same order and support keeps closing my ticket "
    "without answering"
)


def stories(texts: list[str], **options: Any) -> list[str]:
    index = StoryIndex(StoriesOptions(**options))
    return index.assign([mention(t, minutes=i) for i, t in enumerate(texts)])


# -- normalisation ------------------------------------------------------------------------------


def test_normalise_strips_noise_and_keeps_targets() -> None:
    words, targets = normalise(
        "RT @bob: @SNCF Mon TGV a 3h de RETARD!!! 😡 #TGV #fail http://t.co/x"
    )
    assert words == ["mon", "tgv", "a", "3h", "de", "retard"]
    assert targets == ("#fail", "#tgv", "@sncf")
    assert normalise_words("Déçu, très DÉÇU… #colis www.example.com/a") == ["decu", "tres", "decu"]
    assert normalise_words("le #colis est perdu") == ["le", "colis", "est", "perdu"]
    assert normalise("#only #tags")[0] == ["only", "tags"]
    assert normalise("😡😡") == ([], ())


def test_signatures_are_datasketch_minhash() -> None:
    sets = [shingle_hashes(FR.split(), 3), shingle_hashes(EN.split(), 3), shingle_hashes(["a"], 3)]
    batch = signatures(sets, num_perm=24, seed=1)
    for row, shingles in zip(batch, sets, strict=True):
        expected = MinHash(num_perm=24, seed=1, hashfunc=lambda v: v)
        expected.update_batch(shingles.tolist())
        assert np.array_equal(row, expected.hashvalues)


def test_shingles_of_short_texts_and_batches_agree() -> None:
    assert shingle_hashes([], 3).size == 0
    assert shingle_hashes(["a", "b"], 3).size == 1
    assert set(shingle_hashes(["a", "b", "c"], 3)) <= set(shingle_hashes(["a", "b", "c", "d"], 3))
    assert len(shingle_hashes(["a", "b", "c", "a", "b", "c"], 3)) == 3  # abc, bca, cab


# -- grouping by text ---------------------------------------------------------------------------


def test_french_retellings_group() -> None:
    texts = [
        FR,
        f"RT @marie: {FR}",
        FR.replace("5 jours", "6 jours"),
        f"Pareil ! « {FR.removeprefix('@Colivraison ')} » 😡 #Colivraison",
        FR.upper(),
    ]
    ids = stories(texts)
    assert len(set(ids)) == 1


def test_english_retellings_and_quotes_group() -> None:
    texts = [
        EN,
        f"Same here!! {EN}",
        EN.replace("twice", "three times"),
        f"{EN}. Unreal. https://t.co/abc",
    ]
    assert len(set(stories(texts))) == 1


def test_unrelated_complaints_about_the_same_brand_do_not_merge() -> None:
    texts = [
        "@Colivraison livraison en retard, j'attends depuis lundi",
        "@Colivraison colis jamais arrivé, remboursez-moi",
        FR,
        "Mon colis est marqué livré mais je n'ai rien reçu, le livreur ne répond pas au téléphone",
        "@Colivraison mon colis est marqué livré depuis 5 jours, je l'ai enfin reçu ce matin merci",
        EN,
        "@QuickCart cancelled my order and support keeps closing my ticket without a refund",
    ]
    ids = stories(texts)
    assert len(set(ids)) == len(texts)


def test_short_texts_group_only_on_exact_text_to_the_same_addressee() -> None:
    ids = stories(
        [
            "je suis déçu @Colivraison",
            "Je suis DÉÇU @Colivraison !!",
            "@colivraison je suis déçu",
            "je suis déçu @SNCF",
            "je suis déçu",
            "je suis très déçu @Colivraison",
            "Worst service ever #QuickCart",
            "worst service EVER #QuickCart 😡",
            "worst service ever",
        ]
    )
    assert ids[0] == ids[1] == ids[2]
    assert len({ids[0], ids[3], ids[4], ids[5]}) == 4
    assert ids[6] == ids[7] != ids[8]


def test_story_id_is_the_first_mention_id_and_batch_order_is_kept() -> None:
    ms = [mention(EN, minutes=0), mention("unrelated text about trains", minutes=1)]
    ms += [mention(f"RT @a: {EN}", minutes=2)]
    out = StoriesEnricher().enrich(ms)
    assert [m.id for m in out] == [m.id for m in ms]
    assert [m.story_id for m in out] == [ms[0].id, ms[1].id, ms[0].id]
    assert all(dataclasses.replace(o, story_id=None) == m for m, o in zip(ms, out, strict=True))


def test_duplicates_inside_one_batch_group_and_a_reprocessed_id_keeps_its_story() -> None:
    enricher = StoriesEnricher()
    first = mention(FR, minutes=0)
    batch = [first, mention(FR, minutes=1), mention(f"RT @x: {FR}", minutes=2), first]
    assert {m.story_id for m in enricher.enrich(batch)} == {first.id}
    assert enricher.enrich([first])[0].story_id == first.id


def test_enricher_protocol_and_health() -> None:
    enricher = StoriesEnricher()
    assert isinstance(enricher, Enricher)
    assert enricher.name == "stories"
    assert enricher.health().startswith("ok")
    assert enricher.enrich([]) == []


# -- links --------------------------------------------------------------------------------------


def test_reposts_and_quotes_join_by_parent_link_replies_do_not_by_default() -> None:
    original = mention("Hotel Marisol resold my room at twice the price", id="x:100")
    quote = mention(
        "lol no way",
        id="x:101",
        minutes=1,
        raw={"referenced_tweets": [{"type": "quoted", "id": "100"}]},
    )
    reply = mention("that is not what happened at all", id="x:102", minutes=2, parent_id="x:100")
    index = StoryIndex()
    assert index.assign([original, quote, reply]) == ["x:100", "x:100", "x:102"]
    with_replies = StoryIndex(StoriesOptions(join_replies=True))
    assert with_replies.assign([original, quote, reply]) == ["x:100", "x:100", "x:100"]


def test_bluesky_and_mastodon_quotes() -> None:
    uri = "at://did:plc:abc/app.bsky.feed.post/3k"
    event = {
        "commit": {"record": {"embed": {"$type": "app.bsky.embed.record", "record": {"uri": uri}}}}
    }
    view = {
        "record": {
            "embed": {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {"record": {"uri": uri}},
                "media": {"$type": "app.bsky.embed.images"},
            }
        }
    }
    assert linked_ids(mention("x", source="bluesky", raw=event)) == (f"bluesky:{uri}",)
    assert linked_ids(mention("x", source="bluesky", raw=view)) == (f"bluesky:{uri}",)
    status = {"quote": {"state": "accepted", "quoted_status": {"uri": "https://m.example/s/1"}}}
    assert linked_ids(mention("x", source="mastodon", raw=status)) == (
        "mastodon:https://m.example/s/1",
    )
    assert (
        linked_ids(mention("x", raw={"referenced_tweets": [{"type": "replied_to", "id": "1"}]}))
        == ()
    )


def test_article_urls() -> None:
    assert article_url(
        mention("read https://www.lemonde.fr/eco/article/2026/03/02/x.html?utm_source=tw")
    ) == ("https://www.lemonde.fr/eco/article/2026/03/02/x.html")
    assert article_url(mention("see https://t.co/abc and https://x.com/a/status/1")) is None
    assert article_url(mention("home https://example.com/ and https://example.com/faq")) is None
    assert article_url(
        mention("text", source="rss", url="https://news.example/2026/colis-perdus")
    ) == ("https://news.example/2026/colis-perdus")
    raw = {"entities": {"urls": [{"expanded_url": "https://news.example/a/colis-perdus-123"}]}}
    assert (
        article_url(mention("look https://t.co/zz", raw=raw))
        == "https://news.example/a/colis-perdus-123"
    )
    assert article_url(mention("mastodon profile https://m.example/@bob/1234")) is None


def test_mentions_sharing_an_article_join_one_story_unless_disabled() -> None:
    link = "https://news.example/2026/03/colivraison-colis-perdus"
    texts = [
        f"Incroyable {link}",
        f"ça ne m'étonne pas du tout {link}",
        "other thing https://news.example/2026/03/autre",
    ]
    ids = stories(texts)
    assert ids[0] == ids[1] != ids[2]
    assert len(set(stories(texts, join_by_url=False))) == 3


# -- time, expiry, restart ----------------------------------------------------------------------


def test_old_entries_expire_and_memory_stays_bounded() -> None:
    index = StoryIndex(StoriesOptions(window_hours=72))
    first = mention(EN, at=T0)
    assert index.assign([first]) == [first.id]
    assert index.story_of(first.id) == first.id
    later = mention(EN, at=T0 + timedelta(hours=71))
    assert index.assign([later]) == [first.id]  # still within the window
    # The retelling at 71 h kept the story alive; 72 h of silence after it ends it.
    much_later = mention(f"RT @a: {EN}", at=T0 + timedelta(hours=71 + 73))
    assert index.assign([much_later]) == [much_later.id]
    assert index.story_of(first.id) is None
    assert index.sizes() == {"mentions": 1, "texts": 1, "urls": 0, "indexed": 1}


def test_expire_by_explicit_time_and_caps() -> None:
    index = StoryIndex()
    index.assign(
        [mention(f"complaint number {i} about a lost parcel today", minutes=i) for i in range(5)]
    )
    assert index.sizes()["mentions"] == 5
    assert index.expire(T0 + timedelta(hours=80)) > 0
    assert index.sizes() == {"mentions": 0, "texts": 0, "urls": 0, "indexed": 0}
    capped = StoryIndex(StoriesOptions(max_indexed=3, max_mentions=4))
    capped.assign(
        [
            mention(f"{w} is a totally different complaint about trains and delays", minutes=i)
            for i, w in enumerate("abcdefghij")
        ]
    )
    sizes = capped.sizes()
    assert sizes["indexed"] <= 3
    assert sizes["mentions"] <= 4
    assert sizes["texts"] <= 4


def test_a_future_dated_post_does_not_expire_everything_with_a_clock() -> None:
    clock = FakeClock(T0)
    index = StoryIndex(clock=clock)
    first = mention(EN, at=T0)
    index.assign([first])
    index.assign(
        [mention("spam from the future about nothing in particular", at=T0 + timedelta(days=30))]
    )
    assert index.assign([mention(EN, at=T0 + timedelta(minutes=5))]) == [first.id]
    clock.advance(80 * 3600)
    index.assign([mention("a new day and a new complaint about parcels", at=clock.now())])
    assert index.story_of(first.id) is None


def _stream(seed: int, n: int) -> list[Mention]:
    rng = random.Random(seed)
    base = [text for group in STORIES for text in group]
    out: list[Mention] = []
    for i in range(n):
        text = rng.choice(base)
        if rng.random() < 0.3:
            words = text.split()
            words[rng.randrange(len(words))] = rng.choice(["vraiment", "really", "encore", "again"])
            text = " ".join(words)
        out.append(mention(text, id=f"x:s{seed}-{i}", at=T0 + timedelta(minutes=20 * i)))
    return out


def test_seed_after_restart_gives_the_same_story_ids() -> None:
    stream = _stream(3, 400)
    live = StoryIndex()
    expected = live.assign(stream)
    assert len(set(expected)) < len(expected)  # the stream does have stories
    before, after = stream[:250], stream[250:]
    first_run = StoryIndex()
    stored = first_run.assign(before)
    restarted = StoryIndex()
    horizon = before[-1].published_at - timedelta(hours=72)
    recent = [
        (m.id, m.text, m.published_at, s)
        for m, s in zip(before, stored, strict=True)
        if m.published_at >= horizon
    ]
    assert restarted.seed(recent) == len(recent)
    assert stored + restarted.assign(after) == expected
    again = StoryIndex()
    again.seed_mentions(
        dataclasses.replace(m, story_id=s) for m, s in zip(before, stored, strict=True)
    )
    assert again.assign(after) == expected[250:]


def test_seed_without_story_ids_assigns_them() -> None:
    index = StoryIndex()
    assert index.seed([("x:1", EN, T0, None), ("x:2", f"RT @a: {EN}", T0, None)]) == 2
    assert index.story_of("x:2") == "x:1"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 40))
def test_a_story_id_never_changes_once_assigned(seed: int, batch: int) -> None:
    """Re-seen mentions (in any batch, with or without their story id) keep their story."""
    stream = _stream(seed, 120)
    rng = random.Random(seed)
    index = StoryIndex(StoriesOptions(window_hours=12))
    seen: dict[str, str] = {}
    pending = list(stream)
    while pending:
        chunk, pending = pending[:batch], pending[batch:]
        done = stream[: len(stream) - len(pending)]
        # again: one from any time, with its story id (as the store gives it back), and two
        # recent ones (well within the window) without
        old = rng.sample(done, k=1)
        recent = rng.sample(done[-10:], k=min(2, len(done)))
        chunk += [dataclasses.replace(m, story_id=seen.get(m.id)) for m in old] + recent
        known = {m.id: index.story_of(m.id) for m in chunk}
        for m, story in zip(chunk, index.assign(chunk), strict=True):
            if known[m.id] is not None or m.story_id is not None:
                assert story == seen[m.id]
            else:  # new, or forgotten (idle longer than the window): assigned afresh
                seen[m.id] = story
            assert story in seen  # a story id is the id of an earlier (or this) mention
            assert index.story_of(m.id) in (story, None)  # None: older than the window


# -- threshold, measured ------------------------------------------------------------------------


def test_labelled_set_precision_and_recall() -> None:
    score = evaluate(StoriesOptions().threshold)
    assert score.precision == 1.0
    assert score.recall >= 0.95
    assert evaluate(0.3).precision < 1.0  # too low a threshold merges other people's complaints


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        StoriesOptions(threshold=0)
    with pytest.raises(ValueError, match="duplicate"):
        StoriesOptions(threshold=0.6, duplicate=0.5)


# -- stats --------------------------------------------------------------------------------------


def test_story_stats_size_and_growth() -> None:
    now = T0 + timedelta(hours=10)
    ms = [
        mention(EN, at=now - timedelta(minutes=m), story_id="x:root")
        for m in (5, 30, 50, 90, 200, 400, 800)
    ]
    stats = story_stats(ms + ms[:2], now=now)
    assert stats.story_id == "x:root"
    assert stats.size == 7
    assert stats.first_seen == now - timedelta(minutes=800)
    assert stats.last_seen == now - timedelta(minutes=5)
    assert stats.growth_1h == 3.0
    assert stats.growth_6h == 5 / 6  # 5 of them in the last 6 hours
    assert stats.accelerating
    with pytest.raises(ValueError, match="at least one"):
        story_stats([])


def test_stories_stats_groups_by_story() -> None:
    a = [mention(EN, minutes=i, story_id="x:a") for i in range(3)]
    b = [mention(FR, minutes=60 + i) for i in range(1)]
    stats = stories_stats(a + b)
    assert list(stats) == ["x:a", b[0].id]
    assert stats["x:a"].size == 3
    assert stats["x:a"].growth_1h == 2.0  # measured at the latest time overall (60 min)
    assert stats[b[0].id].growth_1h == 1.0
