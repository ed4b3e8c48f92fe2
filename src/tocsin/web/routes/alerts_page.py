"""Alerts (``GET /alerts``, ``GET /alerts/{id}``): open alerts, acknowledge, resolve, and who
is on call now.

Viewers read; responders acknowledge (``POST /alerts/{id}/ack``) and resolve (``POST
/alerts/{id}/resolve``) through forms carrying the session's ``csrf`` field. Each change is
written to the audit log (``alert.ack`` / ``alert.resolve``, subject ``alert:<id>``) with the
state before and after. Without JavaScript the form is redirected (303) to the alert's page;
with htmx (``HX-Request``) the answer is the alert's card as it is now, put in place of the
one clicked (form field ``card``: ``full`` on the alert's page, else ``brief``). Who is on
call comes from each ``[[oncall]]`` schedule (`tocsin.notify.oncall.describe`), in the
workspace language and the schedule's time zone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.alert import Alert
from tocsin.config import Settings
from tocsin.notify.oncall import describe
from tocsin.store.outbox import MESSAGE_STATES, UNDELIVERED
from tocsin.store.users import UserStore
from tocsin.web import audit
from tocsin.web.auth import User, require
from tocsin.web.csrf import read_form
from tocsin.web.i18n import request_language, words
from tocsin.web.pages import render, wants_fragment

__all__ = ["VIEWS", "WORDS", "alert_view", "change_alert", "on_call_now", "router"]

router = APIRouter()

_VIEWER = Depends(require("viewer"))
_RESPONDER = Depends(require("responder"))

VIEWS: Mapping[str, tuple[str, ...]] = {
    "open": ("open", "watching", "acknowledged"),
    "resolved": ("resolved",),
}
"""``open``: not resolved yet (open, watching, acknowledged); ``resolved``."""
LIST_LIMIT = 200

WORDS: Mapping[str, Mapping[str, str]] = words("alerts")
_MESSAGES = {"message_states": MESSAGE_STATES, "undelivered_states": sorted(UNDELIVERED)}
_TABLES = (WORDS, words("search"))  # the search page's words are shared by the triage pages


def on_call_now(settings: Settings, at: datetime, language: str) -> list[tuple[str, str]]:
    """``(schedule name, who is on call and until when)`` for each ``[[oncall]]`` schedule."""
    tz = settings.organisation.timezone
    return [(s.name, describe(s, at, language, default_tz=tz)) for s in settings.oncall]


def alert_view(alert: Alert) -> dict[str, Any]:
    """What the audit log and the API show of an alert."""
    return {
        "id": alert.id,
        "state": alert.state,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_by": alert.resolved_by,
        "resolved_at": _iso(alert.resolved_at),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


_language = request_language


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(
    request: Request,
    view: str = "open",
    user: User = _VIEWER,
) -> HTMLResponse:
    """Alerts not resolved yet (or resolved ones), newest first, and who is on call."""
    if view not in VIEWS:
        view = "open"
    store = request.app.state.store
    alerts = await asyncio.to_thread(
        lambda: store.alerts.list(states=VIEWS[view], limit=LIST_LIMIT)
    )
    ids = [a.id for a in alerts if a.id is not None]
    progress = await asyncio.to_thread(store.outbox.progress, ids)
    now = request.app.state.clock.now()
    context = {
        "alerts": alerts,
        "progress": progress,
        **_MESSAGES,
        "view": view,
        "views": list(VIEWS),
        "oncall": on_call_now(request.app.state.settings, now, _language(request)),
        "can_act": user.can("responder"),
        "notice": None,
    }
    return render(request, "alerts.html", context, *_TABLES)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_page(
    request: Request,
    alert_id: int,
    done: str | None = None,
    user: User = _VIEWER,
) -> HTMLResponse:
    """One alert: its reasons, state, the buttons to acknowledge or resolve it, and each of
    its messages: where it went, whether it was delivered, the channel's last error."""
    store = request.app.state.store
    alert = await asyncio.to_thread(store.alerts.get, alert_id)
    messages = await asyncio.to_thread(lambda: store.outbox.deliveries(alert_id=alert_id))
    now = request.app.state.clock.now()
    context = {
        "alert": alert,
        "messages": messages,
        "progress": {alert_id: dict(Counter(m.state for m in messages))} if messages else {},
        **_MESSAGES,
        "oncall": on_call_now(request.app.state.settings, now, _language(request)),
        "can_act": user.can("responder"),
        "notice": f"done_{done}_page" if done in ("ack", "resolve") else None,
    }
    return render(request, "alerts.html", context, *_TABLES, status=200 if alert else 404)


def change_alert(
    request: Request, user: User, alert_id: int, action: str
) -> tuple[Alert, Alert] | None:
    """Acknowledge or resolve an alert as `user` and audit it (sync): ``(before, after)``, or
    None when there is no such alert."""
    alerts = request.app.state.store.alerts
    before = alerts.get(alert_id)
    if before is None:
        return None
    now = request.app.state.clock.now()
    who = user.name or user.email
    if action == "ack":
        after = alerts.acknowledge(alert_id, who, now=now)
    else:
        after = alerts.resolve(alert_id, who, now=now)
    if after is None:
        return None
    if after.state != before.state:
        entry = audit.request_entry(
            request, f"alert.{action}", f"alert:{alert_id}", alert_view(before), alert_view(after)
        )
        UserStore(request.app.state.store).audit(entry)
    return before, after


async def _act(request: Request, user: User, alert_id: int, action: str) -> Response:
    fragment = wants_fragment(request)
    fields = await read_form(request) if fragment else {}
    changed = await asyncio.to_thread(change_alert, request, user, alert_id, action)
    if changed is None:
        raise HTTPException(404, f"there is no alert #{alert_id}")
    if fragment:  # the card as it is now
        context = {
            "a": changed[1],
            "full": fields.get("card") == "full",
            "can_act": user.can("responder"),
            "card_notice": f"done_{action}_page",
        }
        return render(request, "_triage_alert.html", context, *_TABLES)
    return RedirectResponse(f"/alerts/{alert_id}?done={action}", status_code=303)


@router.post("/alerts/{alert_id}/ack")
async def acknowledge(request: Request, alert_id: int, user: User = _RESPONDER) -> Response:
    """Acknowledge an alert (stops its escalation)."""
    return await _act(request, user, alert_id, "ack")


@router.post("/alerts/{alert_id}/resolve")
async def resolve(request: Request, alert_id: int, user: User = _RESPONDER) -> Response:
    """Resolve an alert."""
    return await _act(request, user, alert_id, "resolve")
