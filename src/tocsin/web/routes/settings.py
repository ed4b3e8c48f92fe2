"""Settings (``GET /settings``, lead and above): the watches with a live preview of what a
query matches among recent mentions; for admins also the sources with their health, the
channels with a "send test" button, the people and the on-call schedules.

The configuration lives in ``tocsin.toml``: the forms of `settings_entries` write it (the
whole file checked first) and `tocsin run` applies it within seconds. A test message goes
through the real outbox, so it proves the whole delivery path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.mention import Mention
from tocsin.query import QueryError, parse
from tocsin.store.outbox import NewDelivery
from tocsin.web import audit
from tocsin.web.auth import User, require
from tocsin.web.i18n import layered, words
from tocsin.web.i18n import request_language as language_of_app
from tocsin.web.overview_data import health_rows
from tocsin.web.pages import render
from tocsin.web.routes.alerts_page import on_call_now

__all__ = ["PREVIEW_DAYS", "TABLES", "WORDS", "router", "translator"]

router = APIRouter()
_LEAD = Depends(require("lead"))
_ADMIN = Depends(require("admin"))
PREVIEW_DAYS = 7
PREVIEW_LIMIT = 20

WORDS: Mapping[str, Mapping[str, str]] = words("settings")


TABLES = (WORDS, words("overview"))
"""The words of the settings pages: theirs, then the Overview's (mention cards, health)."""


def translator(request: Request) -> Callable[..., str]:
    """``t(key, **values)`` with `TABLES` (for text made outside a template)."""
    return layered(language_of_app(request), *TABLES)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request,
    q: str = "",
    sent: str = "",
    saved: str = "",
    removed: str = "",
    user: User = _LEAD,
) -> HTMLResponse:
    """The settings, and the preview of `q` when given (a bad query is shown with its
    caret, status 400)."""
    state = request.app.state
    settings, now = state.settings, state.clock.now()
    error, found = await _preview(request, q)
    is_admin = user.can("admin")
    health = await asyncio.to_thread(state.store.health, now=now) if is_admin else []
    intervals = {s.name: getattr(s.options, "interval", None) for s in settings.sources}
    states = {row.source: row for row in health_rows(health, intervals, now=now)}
    context = {
        "user": user,
        "watches": settings.watches,
        "sources": [(s, states.get(s.name)) for s in settings.sources] if is_admin else [],
        "channels": settings.channels if is_admin else [],
        "people": settings.people if is_admin else [],
        "schedules": settings.oncall if is_admin else [],
        "escalations": settings.escalations if is_admin else [],
        "rules": settings.alerts if is_admin else [],
        "is_admin": is_admin,
        "writable": state.config is not None,
        "oncall": on_call_now(settings, now, language_of_app(request)),
        "q": q,
        "error": error,
        "found": found,
        "days": PREVIEW_DAYS,
        "sent": sent if sent in {c.name for c in settings.channels} else "",
        "saved": saved[:64],
        "removed": removed[:64],
    }
    return render(request, "settings.html", context, *TABLES, status=400 if error else 200)


@router.get("/settings/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview(
    request: Request, q: str = "", query: str = "", user: User = _LEAD
) -> HTMLResponse:
    """What a query (`q`, or the `query` field of the watch form) matches among the mentions
    of the last days, as a fragment: the watch form updates it as the lead types."""
    q = q or query
    error, found = await _preview(request, q)
    context = {"q": q, "error": error, "found": found, "days": PREVIEW_DAYS}
    return render(request, "_preview.html", context, *TABLES)


async def _preview(request: Request, q: str) -> tuple[str, list[Mention]]:
    """(the parser's error, the newest matching mentions) for query `q`."""
    if not q.strip():
        return "", []
    try:
        node = parse(q)
    except QueryError as exc:
        return str(exc), []
    state = request.app.state
    since = state.clock.now() - timedelta(days=PREVIEW_DAYS)
    found = await asyncio.to_thread(state.store.search, node, since=since, limit=PREVIEW_LIMIT)
    return "", list(found)


@router.post("/settings/channels/{name}/test")
async def send_test(request: Request, name: str, user: User = _ADMIN) -> Response:
    """Queue a test message to channel `name` in the outbox (audited)."""
    state = request.app.state
    if name not in {c.name for c in state.settings.channels}:
        raise HTTPException(404, "no such channel")
    now = state.clock.now()
    t = translator(request)
    delivery = NewDelivery(
        channel=name,
        recipient=name,
        title=t("test_title"),
        body=t("test_body", who=user.name),
        key=f"test:{name}:{now.isoformat()}",
        expires_at=now + timedelta(hours=1),
    )
    await asyncio.to_thread(state.store.outbox.enqueue, [delivery], now=now)
    after = {"channel": name, "title": delivery.title}
    await audit.record_request(request, "channel.test", f"channel:{name}", None, after)
    return RedirectResponse(f"/settings?sent={name}", status_code=303)
