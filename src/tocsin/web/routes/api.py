"""The JSON API under ``/api/v1`` (described at ``/api/docs``): mentions, the inbox, alerts.

Authentication is the session middleware's: an API token (``Authorization: Bearer ...``)
or the browser session (with the ``X-CSRF-Token`` header for POSTs) puts the user on
``request.state.user``. Roles are the pages' own: viewers read, responders change the
inbox and alerts. Errors are JSON ``{"detail": ...}``: 400 (with ``column`` and ``hint`` for
a query that does not parse), 401, 403, 404, 409.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tocsin.alert import Alert
from tocsin.mention import Mention
from tocsin.store.triage import TRIAGE_STATES, Outcome, TriageItem, TriageStore
from tocsin.triage import overdue
from tocsin.web.auth import User, require
from tocsin.web.routes import inbox as inbox_routes
from tocsin.web.routes.alerts_page import VIEWS as ALERT_VIEWS
from tocsin.web.routes.alerts_page import change_alert
from tocsin.web.routes.search import SearchError, SearchRequest, run_search

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["api"])

_VIEWER = Depends(require("viewer"))
_RESPONDER = Depends(require("responder"))


class StateChange(BaseModel):
    """Move inbox items to a state."""

    subjects: list[str] = Field(min_length=1, max_length=500)
    state: Literal["new", "watching", "to_respond", "responded", "ignored", "escalated"]


class Assignment(BaseModel):
    """Give inbox items to a person (``assignee_id`` null: to nobody)."""

    subjects: list[str] = Field(min_length=1, max_length=500)
    assignee_id: int | None


def mention_json(m: Mention) -> dict[str, Any]:
    """A mention as the API shows it (its original payload left out)."""
    data = m.to_dict()
    data.pop("raw", None)
    return data


def item_json(item: TriageItem, now: Any) -> dict[str, Any]:
    """An inbox item as the API shows it."""
    return {
        "subject": item.subject,
        "kind": item.kind,
        "ref": item.ref,
        "state": item.state,
        "priority": item.priority,
        "due_at": None if item.due_at is None else item.due_at.isoformat(),
        "overdue": overdue(item.state, item.due_at, now),
        "assignee_id": item.assignee_id,
        "locked_by": item.holder(now),
        "locked_until": None if item.holder(now) is None else _iso(item.locked_until),
        "updated_at": item.updated_at.isoformat(),
    }


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def alert_json(a: Alert) -> dict[str, Any]:
    """An alert as the API shows it."""
    return {
        "id": a.id,
        "key": a.key,
        "rule": a.rule,
        "kind": a.kind,
        "subject": a.subject,
        "title": a.title,
        "reasons": list(a.reasons),
        "severity": a.severity,
        "state": a.state,
        "watch": a.watch,
        "mention_id": a.mention_id,
        "story_id": a.story_id,
        "url": a.url,
        "created_at": a.created_at.isoformat(),
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": _iso(a.acknowledged_at),
        "resolved_by": a.resolved_by,
        "resolved_at": _iso(a.resolved_at),
    }


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "changed": [
            {"subject": c.subject, "before": c.before, "after": c.after} for c in outcome.changed
        ],
        "locked": [i.subject for i in outcome.locked],
        "unchanged": list(outcome.unchanged),
        "missing": list(outcome.missing),
    }


# -- mentions ---------------------------------------------------------------------------------


@router.get("/mentions", summary="Search mentions")
async def mentions(
    request: Request,
    q: str = Query("", description="a query in tocsin's query language"),
    watch: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    sentiment: Literal["negative", "neutral", "positive"] | None = None,
    demand: str | None = None,
    since: str | None = Query(None, description="YYYY-MM-DD or ISO 8601, inclusive"),
    until: str | None = Query(None, description="YYYY-MM-DD (that day included) or ISO 8601"),
    before: str | None = Query(None, description="cursor: `next.before` of the last page"),
    skip: int = Query(0, ge=0, description="cursor: `next.skip` of the last page"),
    limit: int = Query(50, ge=1, le=500),
    user: User = _VIEWER,
) -> JSONResponse:
    """Mentions matching the query and filters, newest first, a page at a time."""
    search = SearchRequest(q, watch, source, lang, sentiment, demand, since, until, before, skip)
    try:
        page = await asyncio.to_thread(run_search, request.app.state.store, search, size=limit)
    except SearchError as exc:
        body: dict[str, Any] = {"detail": exc.message}
        if exc.query_error is not None:
            body |= {
                "column": exc.query_error.column,
                "message": exc.query_error.message,
                "hint": exc.query_error.suggestion,
            }
        return JSONResponse(body, status_code=400)
    following = None if page.next is None else {"before": page.next[0], "skip": page.next[1]}
    return JSONResponse(
        {
            "mentions": [mention_json(m) for m in page.mentions],
            "next": following,
            "scan_limited": page.scan_limited,
        }
    )


@router.get("/mentions/{mention_id:path}", summary="One mention")
async def mention(request: Request, mention_id: str, user: User = _VIEWER) -> JSONResponse:
    """A stored mention by id (``<source>:<native id>``)."""
    found = await asyncio.to_thread(request.app.state.store.get, mention_id)
    if found is None:
        raise HTTPException(404, f"there is no mention {mention_id!r}")
    return JSONResponse(mention_json(found))


# -- inbox ------------------------------------------------------------------------------------


@router.get("/inbox", summary="Inbox items")
async def inbox(
    request: Request,
    view: str = Query("active", description="active, mine, or a state"),
    after: str | None = Query(None, description="cursor: `next` of the last page"),
    limit: int = Query(50, ge=1, le=200),
    user: User = _VIEWER,
) -> JSONResponse:
    """Items to handle, highest priority first."""
    if view not in inbox_routes.VIEWS:
        raise HTTPException(400, f"view {view!r} is not one of {', '.join(inbox_routes.VIEWS)}")
    states, assignee = inbox_routes.view_query(view, user)
    triage = TriageStore(request.app.state.store)
    keyset = inbox_routes.parse_after(after)
    items = await asyncio.to_thread(
        lambda: triage.list(states, assignee_id=assignee, after=keyset, limit=limit + 1)
    )
    now = request.app.state.clock.now()
    last = items[limit - 1] if len(items) > limit else None
    return JSONResponse(
        {
            "items": [item_json(i, now) for i in items[:limit]],
            "next": None if last is None else f"{last.priority!r}|{last.subject}",
        }
    )


@router.get("/inbox/item", summary="One inbox item")
async def inbox_item(request: Request, subject: str, user: User = _VIEWER) -> JSONResponse:
    """One item by subject (``mention:<id>`` or ``story:<id>``)."""
    item = await asyncio.to_thread(TriageStore(request.app.state.store).get, subject)
    if item is None:
        raise HTTPException(404, f"there is no inbox item {subject!r}")
    return JSONResponse(item_json(item, request.app.state.clock.now()))


@router.post("/inbox/state", summary="Set the state of inbox items")
async def inbox_state(request: Request, body: StateChange, user: User = _RESPONDER) -> JSONResponse:
    """Items someone else is handling (their lock) are left as they are, under ``locked``."""
    assert body.state in TRIAGE_STATES
    triage = TriageStore(request.app.state.store)
    now, hook = request.app.state.clock.now(), inbox_routes.audit_hook(request)
    outcome = await asyncio.to_thread(
        lambda: triage.set_state(body.subjects, body.state, user_id=user.id, now=now, audit=hook)
    )
    return JSONResponse(_outcome_json(outcome))


@router.post("/inbox/assign", summary="Assign inbox items")
async def inbox_assign(request: Request, body: Assignment, user: User = _RESPONDER) -> JSONResponse:
    """Items someone else is handling are left as they are, under ``locked``."""
    triage = TriageStore(request.app.state.store)
    people = await asyncio.to_thread(triage.assignable)
    if body.assignee_id is not None and body.assignee_id not in {pid for pid, _ in people}:
        raise HTTPException(400, f"user {body.assignee_id} cannot be assigned")
    now, hook = request.app.state.clock.now(), inbox_routes.audit_hook(request)
    outcome = await asyncio.to_thread(
        lambda: triage.assign(body.subjects, body.assignee_id, user_id=user.id, now=now, audit=hook)
    )
    return JSONResponse(_outcome_json(outcome))


# -- alerts -----------------------------------------------------------------------------------


@router.get("/alerts", summary="Alerts")
async def alerts(
    request: Request,
    view: Literal["open", "resolved"] = "open",
    limit: int = Query(100, ge=1, le=500),
    user: User = _VIEWER,
) -> JSONResponse:
    """Alerts not resolved yet (``open``) or resolved, newest first."""
    store = request.app.state.store
    found = await asyncio.to_thread(
        lambda: store.alerts.list(states=ALERT_VIEWS[view], limit=limit)
    )
    return JSONResponse({"alerts": [alert_json(a) for a in found]})


@router.get("/alerts/{alert_id}", summary="One alert")
async def alert(request: Request, alert_id: int, user: User = _VIEWER) -> JSONResponse:
    """An alert by id."""
    found = await asyncio.to_thread(request.app.state.store.alerts.get, alert_id)
    if found is None:
        raise HTTPException(404, f"there is no alert #{alert_id}")
    return JSONResponse(alert_json(found))


async def _change(request: Request, user: User, alert_id: int, action: str) -> JSONResponse:
    changed = await asyncio.to_thread(change_alert, request, user, alert_id, action)
    if changed is None:
        raise HTTPException(404, f"there is no alert #{alert_id}")
    return JSONResponse(alert_json(changed[1]))


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an alert")
async def ack(request: Request, alert_id: int, user: User = _RESPONDER) -> JSONResponse:
    """Acknowledge (stops the escalation); acknowledging again changes nothing."""
    return await _change(request, user, alert_id, "ack")


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an alert")
async def resolve(request: Request, alert_id: int, user: User = _RESPONDER) -> JSONResponse:
    """Resolve; resolving again changes nothing."""
    return await _change(request, user, alert_id, "resolve")
