"""The Live page (``GET /live``) and its Server-Sent Events stream (``GET /live/stream``).

The page shows the latest mentions (a bounded read) and `live.js` adds each new one as it
arrives. The stream sends one ``mention`` event per new mention whose data is the card
rendered on the server by ``_mention.html`` (autoescaped: the browser parses it inertly with
`DOMParser`, never as script), a comment every `HEARTBEAT` seconds so proxies keep the
connection and a closed one is noticed, and a ``dropped`` event when this client was too slow
and lost its oldest pending mentions. Its subscription closes when the client goes.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from tocsin.mention import Mention
from tocsin.web.auth import User, require
from tocsin.web.broadcast import Subscription, broadcaster_of
from tocsin.web.i18n import request_language
from tocsin.web.pages import render
from tocsin.web.routes.overview import WORDS, page_translator

__all__ = ["HEARTBEAT", "LATEST", "events", "frame", "router"]

router = APIRouter()
Viewer = Annotated[User, Depends(require("viewer"))]

#: Seconds between heartbeat comments on an idle stream.
HEARTBEAT = 15.0
#: How many of the latest mentions the page shows when it opens.
LATEST = 50
_LINES = re.compile(r"\r\n|\r|\n")


def frame(event: str, data: str) -> bytes:
    """One SSE event: every line of `data` as a ``data:`` line (so no line of it can start
    another field or event), UTF-8 with anything unencodable replaced."""
    lines = "".join(f"data: {line}\n" for line in _LINES.split(data))
    return f"event: {event}\n{lines}\n".encode("utf-8", "replace")


async def events(
    subscription: Subscription,
    render_one: Callable[[Mention], str],
    *,
    heartbeat: float = HEARTBEAT,
    is_disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The stream of `subscription`: rendered mentions, heartbeats, drop notices; closes the
    subscription however it ends (client gone, cancelled, server stopping)."""
    try:
        yield b"retry: 5000\n: connected\n\n"
        while not subscription.closed:
            mentions = await subscription.next(heartbeat)
            if is_disconnected is not None and await is_disconnected():
                break
            if subscription.dropped:
                yield frame("dropped", str(subscription.dropped))
                subscription.dropped = 0
            if not mentions:
                yield b": heartbeat\n\n"
                continue
            for m in mentions:
                yield frame("mention", render_one(m))
    finally:
        subscription.close()


def _watch_names(request: Request) -> list[str]:
    return [w.name for w in request.app.state.settings.watches if w.enabled]


def _card_renderer(request: Request) -> Callable[[Mention], str]:
    template = request.app.state.templates.env.get_template("_mention.html")
    t = page_translator(request_language(request))

    def render_one(m: Mention) -> str:
        return str(template.render(m=m, t=t))

    return render_one


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
async def live(
    request: Request,
    user: Viewer,
    watch: str = "",
) -> HTMLResponse:
    """The Live page: the latest mentions (of `watch`, or all watches) and the feed."""
    names = _watch_names(request)
    selected = watch if watch in names else ""
    store = request.app.state.store
    latest = await asyncio.to_thread(store.search, watch=selected or None, limit=LATEST)
    t = page_translator(request_language(request))
    words = {k: t(k) for k in ("pause", "resume", "connecting", "connected", "disconnected")}
    words["new"] = t("waiting_new", n="{n}")
    stream = "/live/stream" + (f"?{urlencode({'watch': selected})}" if selected else "")
    context: dict[str, Any] = {
        "user": user,
        "watches": names,
        "selected": selected,
        "latest": [m for m in latest if m.watches],
        "stream": stream,
        "words": json.dumps(words, ensure_ascii=False),
    }
    return render(request, "live.html", context, WORDS)


@router.get("/live/stream", include_in_schema=False)
async def live_stream(
    request: Request,
    user: Viewer,
    watch: str = "",
) -> StreamingResponse:
    """New mentions (of `watch`, or of all watches) as Server-Sent Events."""
    watches = [watch] if watch in _watch_names(request) else []
    broadcaster = broadcaster_of(request.app)
    render_one = _card_renderer(request)

    async def stream() -> AsyncIterator[bytes]:
        subscription = broadcaster.subscribe(watches)  # only once the response streams
        try:
            async for chunk in events(subscription, render_one):
                yield chunk
        finally:
            subscription.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
