"""Fan-out of newly stored mentions to the Live page's subscribers (in process).

`tocsin run` calls `Broadcaster.publish(report.mentions)` from the pipeline's ``on_batch``
callback; each open ``/live/stream`` holds a `Subscription`. Publishing never blocks and never
waits for a browser: each subscriber has a bounded queue, and a slow one loses its *oldest*
pending mentions (counted in `Subscription.dropped`), never the pipeline's time.

Only mentions that matched a watch are published, and each mention id once (a bounded memory
of recent ids skips engagement re-polls of mentions already shown). This is one process's
fan-out: with several web processes (scale-out), each needs its own feed of batches (e.g.
PostgreSQL LISTEN/NOTIFY), which is not built here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from tocsin.mention import Mention

__all__ = ["Broadcaster", "Subscription", "broadcaster_of"]

log = logging.getLogger("tocsin.web.live")

#: Pending mentions kept per subscriber before the oldest are dropped.
DEFAULT_QUEUE_SIZE = 200
#: Mention ids remembered to publish each mention once.
DEFAULT_MEMORY = 10_000


class Subscription:
    """One listener's bounded queue of mentions (optionally only some watches')."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        *,
        watches: Iterable[str] = (),
        maxsize: int = DEFAULT_QUEUE_SIZE,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"a subscription queue holds at least 1 mention, not {maxsize}")
        self.watches = frozenset(watches)
        self.dropped = 0
        self.closed = False
        self._broadcaster = broadcaster
        self._pending: deque[Mention] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self._loop = loop

    def wants(self, mention: Mention) -> bool:
        """Whether this subscriber asked for `mention` (any of its watches, or all)."""
        return not self.watches or not self.watches.isdisjoint(mention.watches)

    def offer(self, mention: Mention) -> None:
        """Queue `mention`; when the queue is full the oldest pending mention is dropped."""
        if self.closed:
            return
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(mention)
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop is running:
            self._ready.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._ready.set)  # published from another thread

    def take(self) -> list[Mention]:
        """Everything pending, oldest first (without waiting)."""
        self._ready.clear()
        items: list[Mention] = []
        while self._pending:  # popleft: safe against a publisher in another thread
            items.append(self._pending.popleft())
        return items

    async def next(self, timeout: float | None) -> list[Mention]:
        """Wait up to `timeout` seconds for mentions and return them (empty: timed out or
        closed). A `timeout` of 0 never waits."""
        if not self._pending and not self.closed:
            if timeout is not None and timeout <= 0:
                return []
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        return self.take()

    def close(self) -> None:
        """Stop receiving and leave the broadcaster (idempotent)."""
        if not self.closed:
            self.closed = True
            self._broadcaster.unsubscribe(self)
            self._pending.clear()
            self._ready.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Broadcaster:
    """Hands each newly stored matching mention to every interested subscriber."""

    def __init__(
        self, *, queue_size: int = DEFAULT_QUEUE_SIZE, memory: int = DEFAULT_MEMORY
    ) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._memory = memory

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscribers)

    def subscribe(self, watches: Iterable[str] = ()) -> Subscription:
        """A new subscription (to close when done: it is a context manager)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        sub = Subscription(self, watches=watches, maxsize=self.queue_size, loop=loop)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget `subscription` (what `Subscription.close` calls)."""
        self._subscribers.discard(subscription)

    def publish(self, mentions: Sequence[Mention]) -> int:
        """Offer `mentions` (those with a watch, each id once) to the subscribers; never
        blocks. Returns how many mentions were new."""
        fresh = [m for m in mentions if m.watches and self._remember(m.id)]
        for sub in tuple(self._subscribers):
            for m in fresh:
                if sub.wants(m):
                    sub.offer(m)
        return len(fresh)

    def _remember(self, mention_id: str) -> bool:
        if mention_id in self._seen:
            self._seen.move_to_end(mention_id)
            return False
        self._seen[mention_id] = None
        while len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        return True


def broadcaster_of(app: Any) -> Broadcaster:
    """The app's broadcaster (``app.state.broadcaster``), created on first use."""
    found = getattr(app.state, "broadcaster", None)
    if not isinstance(found, Broadcaster):
        found = Broadcaster()
        app.state.broadcaster = found
    return found
