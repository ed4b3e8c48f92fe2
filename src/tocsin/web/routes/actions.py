"""Signed action links from alert messages: ``/a/{token}``.

A GET only shows what the link would do, with a button: link previewers (Slack, Teams, mail
scanners) open links by themselves and must never acknowledge an alert. The POST, sent by
the button with the same token, checks it again and acts.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tocsin.notify.signing import InvalidLink, SignedAction, verify
from tocsin.web import audit
from tocsin.web.pages import render
from tocsin.web.routes.alerts_page import alert_view

__all__ = ["router"]

router = APIRouter()


def _check(request: Request, token: str) -> SignedAction | str:
    state = request.app.state
    try:
        return verify(state.secret, token, state.clock.now())
    except InvalidLink as exc:
        return str(exc)


def _page(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    return render(request, name, context, status=status)


@router.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
async def confirm(request: Request, token: str) -> HTMLResponse:
    """What the link would do, and a button to do it."""
    action = _check(request, token)
    if isinstance(action, str):
        return _page(request, "action_invalid.html", 400, reason=action)
    alert = await asyncio.to_thread(request.app.state.store.alerts.get, action.alert_id)
    if alert is None:
        return _page(request, "action_invalid.html", 404, reason=None, alert_id=action.alert_id)
    return _page(request, "action_confirm.html", action=action, alert=alert, token=token)


@router.post("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
async def act(request: Request, token: str) -> HTMLResponse:
    """Acknowledge or resolve, as the signed link says."""
    action = _check(request, token)
    if isinstance(action, str):
        return _page(request, "action_invalid.html", 400, reason=action)
    store = request.app.state.store
    now = request.app.state.clock.now()
    who = action.who or "link"
    before = await asyncio.to_thread(store.alerts.get, action.alert_id)
    if action.action == "ack":
        alert = await asyncio.to_thread(store.alerts.acknowledge, action.alert_id, who, now=now)
    else:
        alert = await asyncio.to_thread(store.alerts.resolve, action.alert_id, who, now=now)
    if alert is None or before is None:
        return _page(request, "action_invalid.html", 404, reason=None, alert_id=action.alert_id)
    if alert.state != before.state:  # acting twice changes nothing and records nothing
        await asyncio.to_thread(
            audit.record,
            store,
            f"link:{who}",
            f"alert.{action.action}",
            f"alert:{alert.id}",
            alert_view(before),
            alert_view(alert),
            audit.address_of(request),
            at=now,
        )
    return _page(request, "action_done.html", action=action, alert=alert)
