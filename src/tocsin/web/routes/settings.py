"""Settings (``GET /settings``, lead and above): the watches with a live preview of what a
query matches among recent mentions before it is saved, the channels with a "send test"
button, and the on-call schedules.

The configuration itself lives in ``tocsin.toml`` (reviewed, versioned, reloaded by
`tocsin run` within seconds): this page shows it and lets a lead try a query first. A test
message goes through the real outbox, so it proves the whole delivery path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.query import QueryError, parse
from tocsin.store.alerts import NewDelivery
from tocsin.web import audit
from tocsin.web.auth import User, require
from tocsin.web.i18n import layered
from tocsin.web.i18n import request_language as language_of_app
from tocsin.web.routes.alerts_page import on_call_now
from tocsin.web.routes.overview import WORDS as OVERVIEW_WORDS

__all__ = ["PREVIEW_DAYS", "WORDS", "router"]

router = APIRouter()
_LEAD = Depends(require("lead"))
_ADMIN = Depends(require("admin"))
PREVIEW_DAYS = 7
PREVIEW_LIMIT = 20

WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "settings": "Settings",
        "watches": "Watches",
        "watch_query": "Query",
        "watch_tags": "Tags",
        "watch_off": "disabled",
        "edit_hint": "Watches, sources and channels are set in tocsin.toml; tocsin run "
        "applies edited watches within seconds.",
        "preview": "Try a query",
        "preview_button": "Preview",
        "preview_found": "{n} of the mentions of the last {days} days match (newest first):",
        "preview_none": "Nothing of the last {days} days matches.",
        "channels": "Channels",
        "channel_urls": "{n} URL(s), not shown",
        "send_test": "Send a test message",
        "test_sent": "A test message to {channel} is in the outbox; tocsin run sends it.",
        "oncall": "On call now",
        "no_channels": "No channel: add [[channels]] to tocsin.toml.",
        "test_title": "[tocsin] Test message",
        "test_body": "This is a test from the tocsin settings page, sent by {who}.",
    },
    "fr": {
        "settings": "Réglages",
        "watches": "Veilles",
        "watch_query": "Requête",
        "watch_tags": "Étiquettes",
        "watch_off": "désactivée",
        "edit_hint": "Veilles, sources et canaux se règlent dans tocsin.toml ; tocsin run "
        "applique les veilles modifiées en quelques secondes.",
        "preview": "Essayer une requête",
        "preview_button": "Aperçu",
        "preview_found": "{n} des mentions des {days} derniers jours correspondent "
        "(les plus récentes d'abord) :",
        "preview_none": "Rien des {days} derniers jours ne correspond.",
        "channels": "Canaux",
        "channel_urls": "{n} URL, masquées",
        "send_test": "Envoyer un message de test",
        "test_sent": "Un message de test vers {channel} est dans la file d'envoi ; "
        "tocsin run l'envoie.",
        "oncall": "D'astreinte maintenant",
        "no_channels": "Aucun canal : ajoutez [[channels]] à tocsin.toml.",
        "test_title": "[tocsin] Message de test",
        "test_body": "Ceci est un test envoyé depuis les réglages de tocsin par {who}.",
    },
}


def _translator(request: Request) -> Callable[..., str]:
    return layered(language_of_app(request), WORDS, OVERVIEW_WORDS)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, q: str = "", sent: str = "", user: User = _LEAD
) -> HTMLResponse:
    """The settings, and the preview of `q` when given (a bad query is shown with its
    caret, status 400)."""
    state = request.app.state
    settings, now = state.settings, state.clock.now()
    error, found = "", []
    if q.strip():
        try:
            node = parse(q)
        except QueryError as exc:
            error = str(exc)
        else:
            since = now - timedelta(days=PREVIEW_DAYS)
            found = await asyncio.to_thread(
                state.store.search, node, since=since, limit=PREVIEW_LIMIT
            )
    t = _translator(request)
    context = {
        "t": t,
        "user": user,
        "watches": settings.watches,
        "channels": settings.channels if user.can("admin") else [],
        "is_admin": user.can("admin"),
        "oncall": on_call_now(settings, now, language_of_app(request)),
        "q": q,
        "error": error,
        "found": found,
        "days": PREVIEW_DAYS,
        "sent": sent if sent in {c.name for c in settings.channels} else "",
    }
    response: HTMLResponse = state.templates.TemplateResponse(
        request, "settings.html", context, status_code=400 if error else 200
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/channels/{name}/test")
async def send_test(request: Request, name: str, user: User = _ADMIN) -> Response:
    """Queue a test message to channel `name` in the outbox (audited)."""
    state = request.app.state
    if name not in {c.name for c in state.settings.channels}:
        raise HTTPException(404, "no such channel")
    now = state.clock.now()
    t = _translator(request)
    delivery = NewDelivery(
        channel=name,
        recipient=name,
        title=t("test_title"),
        body=t("test_body", who=user.name),
        key=f"test:{name}:{now.isoformat()}",
        expires_at=now + timedelta(hours=1),
    )
    await asyncio.to_thread(state.store.alerts.enqueue, [delivery], now=now)
    after = {"channel": name, "title": delivery.title}
    await audit.record_request(request, "channel.test", f"channel:{name}", None, after)
    return RedirectResponse(f"/settings?sent={name}", status_code=303)
