"""The in-process fan-out of new mentions to Live subscribers: filters, once per mention,
bounded queues that drop the oldest for slow clients, wake-ups, clean unsubscription."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tocsin.mention import Mention
from tocsin.web.broadcast import Broadcaster, broadcaster_of

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def m(native: str, *watches: str) -> Mention:
    return Mention(
        id=f"rss:{native}",
        source="rss",
        url=f"https://example.org/{native}",
        text=native,
        published_at=T0,
        seen_at=T0,
        watches=watches,
    )


def ids(mentions: list[Mention]) -> list[str]:
    return [x.id for x in mentions]


def test_publish_reaches_every_subscriber_that_wants_it() -> None:
    hub = Broadcaster()
    everything, acme_only = hub.subscribe(), hub.subscribe(["acme"])
    assert hub.publish([m("1", "acme"), m("2", "rival"), m("3")]) == 2  # "3" matched no watch
    assert ids(everything.take()) == ["rss:1", "rss:2"]
    assert ids(acme_only.take()) == ["rss:1"]
    assert everything.take() == []


def test_each_mention_is_published_once_within_memory() -> None:
    hub = Broadcaster(memory=2)
    sub = hub.subscribe()
    hub.publish([m("1", "a"), m("1", "a"), m("2", "a")])
    hub.publish([m("2", "a")])  # an engagement re-poll of a mention already shown
    assert ids(sub.take()) == ["rss:1", "rss:2"]
    hub.publish([m("3", "a"), m("1", "a")])  # "1" was forgotten (memory of 2 ids)
    assert ids(sub.take()) == ["rss:3", "rss:1"]


def test_a_slow_subscriber_loses_its_oldest_mentions_not_the_others() -> None:
    hub = Broadcaster(queue_size=3)
    slow, fast = hub.subscribe(), hub.subscribe()
    for n in range(5):
        hub.publish([m(str(n), "acme")])
        assert ids(fast.take()) == [f"rss:{n}"]
    assert ids(slow.take()) == ["rss:2", "rss:3", "rss:4"]
    assert (slow.dropped, fast.dropped) == (2, 0)


def test_closing_unsubscribes_and_ignores_later_mentions() -> None:
    hub = Broadcaster()
    with hub.subscribe() as sub:
        assert hub.subscribers == 1
    assert hub.subscribers == 0
    assert sub.closed
    hub.publish([m("1", "a")])
    assert sub.take() == []
    sub.close()  # idempotent
    with pytest.raises(ValueError, match="at least 1"):
        Broadcaster(queue_size=0).subscribe()


async def test_next_waits_for_a_publish_and_never_waits_with_zero_timeout() -> None:
    hub = Broadcaster()
    sub = hub.subscribe()
    assert await sub.next(0) == []
    asyncio.get_running_loop().call_soon(hub.publish, [m("1", "a")])
    assert ids(await sub.next(None)) == ["rss:1"]
    sub.close()
    assert await sub.next(None) == []  # closed: returns at once


async def test_a_publish_from_another_thread_wakes_the_subscriber() -> None:
    hub = Broadcaster()
    sub = hub.subscribe()
    waiter = asyncio.create_task(sub.next(None))
    await asyncio.to_thread(hub.publish, [m("1", "a")])
    assert ids(await waiter) == ["rss:1"]


def test_the_app_keeps_one_broadcaster() -> None:
    class App:
        class state:  # mimics FastAPI's app.state
            pass

    app = App()
    first = broadcaster_of(app)
    assert broadcaster_of(app) is first
