"""The Inbox (``GET /inbox``): mentions and stories to handle, highest priority first.

Viewers read it; responders act, always through POST forms carrying the session's ``csrf``
field, and every change is written to the audit log in the change's own transaction:

- ``POST /inbox/state`` and ``POST /inbox/assign``: one item (``subject``);
- ``POST /inbox/bulk``: several (``subject`` repeated) with ``action`` = ``state`` or
  ``assign``; items someone else is handling are skipped and counted;
- ``POST /inbox/take``: take the item's edit lock for `LOCK_TTL` (``take_over=1`` to take
  it from someone else, audited as ``triage.take_over``); ``/inbox/refresh`` extends it
  while the item page is open (htmx polls it); ``/inbox/release`` lets it go.

Without JavaScript each form posts and is redirected (303) to the page to show. With htmx
(``HX-Request``) the answer is the changed part only: the item's list entry (form field
``part=entry``, with the views' counts out of band) or its panel on the item page, the
list after a bulk action; 409 answers carry ``HX-Reswap`` so that htmx shows them too.

While someone holds an item's lock, others see "being handled by X" and cannot act on it
unless they take it over. Every read is bounded: one index-backed query per state with a
LIMIT (`TriageStore.list`), the page's mentions by id, and counts capped at 1000.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tocsin.mention import Mention
from tocsin.store import Store
from tocsin.store.triage import (
    ACTIVE_STATES,
    LOCK_TTL,
    TRIAGE_STATES,
    AuditHook,
    Change,
    Outcome,
    TriageItem,
    TriageStore,
)
from tocsin.store.users import AuditEntry
from tocsin.triage import DEFAULT_TARGETS, overdue, time_left
from tocsin.web import audit
from tocsin.web.auth import User, require
from tocsin.web.csrf import form_fields
from tocsin.web.i18n import words
from tocsin.web.pages import render, wants_fragment

__all__ = ["PAGE_SIZE", "VIEWS", "WORDS", "InboxRow", "audit_hook", "load_rows", "router"]

router = APIRouter()

_VIEWER = Depends(require("viewer"))
_RESPONDER = Depends(require("responder"))

PAGE_SIZE = 50
VIEWS = ("active", "mine", *TRIAGE_STATES)
"""``active``: everything still to handle; ``mine``: what is assigned to me; or one state."""

WORDS: Mapping[str, Mapping[str, str]] = words("inbox")
_TABLES = (WORDS, words("search"))  # the search page's words are shared by the triage pages


@dataclass(frozen=True, slots=True)
class InboxRow:
    """An item as the page shows it: the item, its mention (for a story: its first one),
    the story's size (counted up to 1000), who is assigned and who holds the lock."""

    item: TriageItem
    mention: Mention | None
    story_size: int | None
    assignee: str | None
    holder: str | None
    holder_id: int | None
    overdue: bool
    time_left: str
    band: str


def _triage(request: Request) -> TriageStore:
    return TriageStore(request.app.state.store)


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


def load_rows(store: Store, items: Sequence[TriageItem], now: datetime) -> list[InboxRow]:
    """What the page needs about `items` (sync; a bounded number of queries)."""
    triage = TriageStore(store)
    mention_ids = [i.ref for i in items if i.kind == "mention"]
    stories: dict[str, tuple[int, str | None]] = {
        i.ref: triage.story_summary(i.ref) for i in items if i.kind == "story"
    }
    first_ids = [first for _, first in stories.values() if first is not None]
    found = store.get_many([*mention_ids, *first_ids])
    names = triage.people([*(i.assignee_id for i in items), *(i.holder(now) for i in items)])
    rows = []
    for item in items:
        size: int | None = None
        if item.kind == "story":
            size, first = stories[item.ref]
            mention = found.get(first) if first else None
        else:
            mention = found.get(item.ref)
        holder = item.holder(now)
        rows.append(
            InboxRow(
                item=item,
                mention=mention,
                story_size=size,
                assignee=None if item.assignee_id is None else names.get(item.assignee_id, "?"),
                holder=None if holder is None else names.get(holder, "?"),
                holder_id=holder,
                overdue=overdue(item.state, item.due_at, now),
                time_left=time_left(item.due_at, now),
                band=DEFAULT_TARGETS.band(item.priority),
            )
        )
    return rows


def parse_after(value: str | None) -> tuple[float, str] | None:
    """The keyset of the next page: ``"<priority>|<subject>"``."""
    if not value or "|" not in value:
        return None
    priority, _, subject = value.partition("|")
    try:
        return float(priority), subject
    except ValueError:
        return None


def view_query(view: str, user: User) -> tuple[tuple[str, ...], int | None]:
    if view == "mine":
        return ACTIVE_STATES, user.id
    if view == "active":
        return ACTIVE_STATES, None
    return (view,), None


def _page_data(
    store: Store, view: str, user: User, after: tuple[float, str] | None, now: datetime
) -> dict[str, Any]:
    triage = TriageStore(store)
    states, assignee = view_query(view, user)
    items = triage.list(states, assignee_id=assignee, after=after, limit=PAGE_SIZE + 1)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    last = items[-1] if items and more else None
    return {
        "rows": load_rows(store, items, now),
        "counts": triage.counts(),
        "people": triage.assignable() if user.can("responder") else [],
        "next": None if last is None else f"{last.priority!r}|{last.subject}",
    }


async def _list_context(
    request: Request, user: User, view: str, after: str | None, notice: list[tuple[str, int]]
) -> dict[str, Any]:
    """What the list of one view shows (the whole page, or the list after a bulk action)."""
    if view not in VIEWS:
        view = "active"
    now = _now(request)
    data = await asyncio.to_thread(
        _page_data, request.app.state.store, view, user, parse_after(after), now
    )
    return {
        "view": view,
        "views": VIEWS,
        "states": TRIAGE_STATES,
        "now": now,
        "notice": notice,
        "can_act": user.can("responder"),
        "me": user,
        **data,
    }


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    view: str = "active",
    after: str | None = None,
    notice: str | None = None,
    n: int = 0,
    m: int = 0,
    user: User = _VIEWER,
) -> HTMLResponse:
    """The inbox: one view (to handle, mine, or a state), a page of items."""
    context = await _list_context(request, user, view, after, _notice(notice, n, m))
    context["back"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(request, "inbox.html", context, *_TABLES)


def _notice(code: str | None, n: int, m: int) -> list[tuple[str, int]]:
    """Fixed messages chosen by code (nothing from the query string is shown as text)."""
    if code == "bulk":
        notes = [("done_changed", n)] if n else []
        notes += [("done_locked", m)] if m else []
        return notes or [("done_none", 0)]
    if code in ("taken", "released"):
        return [(f"done_{code}", 0)]
    return []


async def _item_context(
    request: Request, user: User, item: TriageItem, notice: list[tuple[str, int]]
) -> dict[str, Any]:
    """What the item page's panel shows about `item`."""
    now = _now(request)
    (row,) = await asyncio.to_thread(load_rows, request.app.state.store, [item], now)
    can_act = user.can("responder")
    people = await asyncio.to_thread(_triage(request).assignable) if can_act else []
    return {
        "row": row,
        "me": user,
        "now": now,
        "states": TRIAGE_STATES,
        "people": people,
        "can_act": can_act,
        "notice": notice,
        "refresh_seconds": int(LOCK_TTL.total_seconds() // 4),
    }


@router.get("/inbox/item", response_class=HTMLResponse)
async def item_page(
    request: Request,
    subject: str,
    notice: str | None = None,
    user: User = _VIEWER,
) -> HTMLResponse:
    """One item: its mention or story, why its priority, its lock, and what can be done."""
    item = await asyncio.to_thread(_triage(request).get, subject)
    if item is None:
        return render(request, "inbox_item.html", {"row": None}, *_TABLES, status=404)
    context = await _item_context(request, user, item, _notice(notice, 0, 0))
    return render(request, "inbox_item.html", context, *_TABLES)


# -- acting -----------------------------------------------------------------------------------


def audit_hook(request: Request) -> AuditHook:
    """Audit entries for `request`'s user, address and clock; subject ``triage:<subject>``."""

    def hook(action: str, change: Change) -> AuditEntry:
        subject = f"triage:{change.subject}"
        return audit.request_entry(request, action, subject, change.before, change.after)

    return hook


def _safe_next(value: str | None, default: str) -> str:
    """Only a path of this app's inbox (no open redirect)."""
    if value and value.startswith("/inbox") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _with_notice(path: str, **params: object) -> str:
    base = path.split("#", 1)[0]
    kept = [p for p in base.partition("?")[2].split("&") if p and p.split("=")[0] not in params]
    query = "&".join([*kept, urlencode({k: str(v) for k, v in params.items()})])
    return f"{base.partition('?')[0]}?{query}"


def _one(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[-1]


def _assignee(request: Request, value: str, people: Sequence[tuple[int, str]]) -> int | None:
    if value in ("", "none"):
        return None
    try:
        wanted = int(value)
    except ValueError:
        raise HTTPException(400, f"assignee {value!r} is not a person's id") from None
    if wanted not in {pid for pid, _ in people}:
        raise HTTPException(400, f"user {wanted} cannot be assigned (not a responder or above)")
    return wanted


async def _act(
    request: Request, user: User, subjects: Sequence[str], action: str, value: str
) -> Outcome:
    triage = _triage(request)
    now = _now(request)
    hook = audit_hook(request)
    if action == "state":
        if value not in TRIAGE_STATES:
            raise HTTPException(400, f"state {value!r} is not one of {', '.join(TRIAGE_STATES)}")
        return await asyncio.to_thread(
            lambda: triage.set_state(subjects, value, user_id=user.id, now=now, audit=hook)
        )
    if action == "assign":
        people = await asyncio.to_thread(triage.assignable)
        assignee = _assignee(request, value, people)
        return await asyncio.to_thread(
            lambda: triage.assign(subjects, assignee, user_id=user.id, now=now, audit=hook)
        )
    raise HTTPException(400, f"action {action!r} is not state or assign")


def _view_of(path: str) -> tuple[str, str | None]:
    """The view and page (``after``) of an inbox address."""
    query = parse_qs(urlsplit(path).query)
    view = (query.get("view") or ["active"])[-1]
    after = query["after"][-1] if query.get("after") else None
    return (view if view in VIEWS else "active"), after


async def _fragment(
    request: Request,
    user: User,
    item: TriageItem,
    fields: Mapping[str, list[str]],
    notice: list[tuple[str, int]],
    status: int = 200,
) -> HTMLResponse:
    """`item` as it is now, for htmx: its list entry (``part=entry``; the views' counts go
    with it, out of band) or its panel on the item page."""
    if _one(fields, "part") == "entry":
        back = _safe_next(_one(fields, "next"), "/inbox")
        now, triage = _now(request), _triage(request)
        (row,) = await asyncio.to_thread(load_rows, request.app.state.store, [item], now)
        context: dict[str, Any] = {
            "part": "_triage_entry.html",
            "row": row,
            "me": user,
            "states": TRIAGE_STATES,
            "can_act": user.can("responder"),
            "back": back,
            "entry_notice": notice,
            "views": VIEWS,
            "view": _view_of(back)[0],
            "counts": await asyncio.to_thread(triage.counts),
            "oob": True,
        }
    else:
        context = await _item_context(request, user, item, notice)
        context["part"] = "_triage_panel.html"
    response = render(request, "_triage_update.html", context, *_TABLES, status=status)
    if status >= 400:
        response.headers["HX-Reswap"] = "outerHTML"  # shown in place (static/partials.js)
    return response


async def _refused(
    request: Request, item: TriageItem, user: User, fields: Mapping[str, list[str]]
) -> HTMLResponse:
    """409: someone else is handling `item` (the page says who, and offers a take-over)."""
    notice = [("locked_refused", 0)]
    if wants_fragment(request):
        return await _fragment(request, user, item, fields, notice, status=409)
    context = await _item_context(request, user, item, notice)
    return render(request, "inbox_item.html", context, *_TABLES, status=409)


async def _changed(
    request: Request,
    user: User,
    subject: str,
    fields: Mapping[str, list[str]],
    notice: list[tuple[str, int]],
) -> HTMLResponse:
    """After a change to one item, for htmx: the item as it is now."""
    item = await asyncio.to_thread(_triage(request).get, subject)
    if item is None:
        raise HTTPException(404, "there is no such item in the inbox")
    return await _fragment(request, user, item, fields, notice)


async def _single(request: Request, user: User, action: str) -> Response:
    fields = await form_fields(request)
    subject = _one(fields, "subject")
    value = _one(fields, "state" if action == "state" else "assignee")
    outcome = await _act(request, user, [subject], action, value)
    if outcome.missing:
        raise HTTPException(404, "there is no such item in the inbox")
    if outcome.locked:
        return await _refused(request, outcome.locked[0], user, fields)
    if wants_fragment(request):
        return await _changed(request, user, subject, fields, [])
    target = _safe_next(_one(fields, "next"), "/inbox/item?" + urlencode({"subject": subject}))
    return RedirectResponse(target, status_code=303)


@router.post("/inbox/state")
async def set_state(request: Request, user: User = _RESPONDER) -> Response:
    """Set one item's state (form: ``subject``, ``state``, optional ``next``, ``part``)."""
    return await _single(request, user, "state")


@router.post("/inbox/assign")
async def assign(request: Request, user: User = _RESPONDER) -> Response:
    """Assign one item (form: ``subject``, ``assignee`` = a user id or empty)."""
    return await _single(request, user, "assign")


@router.post("/inbox/bulk")
async def bulk(request: Request, user: User = _RESPONDER) -> Response:
    """Act on the selected items (form: ``subject`` repeated, ``action`` = ``state`` or
    ``assign``, with ``state`` or ``assignee``)."""
    fields = await form_fields(request)
    subjects = [s for s in fields.get("subject", []) if s][:500]
    action = _one(fields, "action")
    value = _one(fields, "state" if action == "state" else "assignee")
    outcome = await _act(request, user, subjects, action, value)
    back = _safe_next(_one(fields, "next"), "/inbox")
    changed, locked = len(outcome.changed), len(outcome.locked)
    if wants_fragment(request):  # the list as it is now, and the views' counts
        view, after = _view_of(back)
        context = await _list_context(request, user, view, after, _notice("bulk", changed, locked))
        context |= {"part": "_triage_list.html", "back": back, "oob": True}
        return render(request, "_triage_update.html", context, *_TABLES)
    target = _with_notice(back, notice="bulk", n=changed, m=locked)
    return RedirectResponse(target, status_code=303)


@router.post("/inbox/take")
async def take(request: Request, user: User = _RESPONDER) -> Response:
    """Take an item's edit lock (``take_over=1`` to take it from someone else)."""
    fields = await form_fields(request)
    subject = _one(fields, "subject")
    take_over = _one(fields, "take_over") == "1"
    triage, now, hook = _triage(request), _now(request), audit_hook(request)
    result = await asyncio.to_thread(
        lambda: triage.acquire(subject, user.id, now, take_over=take_over, audit=hook)
    )
    if result.item is None:
        raise HTTPException(404, "there is no such item in the inbox")
    if not result.ok:
        return await _refused(request, result.item, user, fields)
    if wants_fragment(request):
        return await _fragment(request, user, result.item, fields, _notice("taken", 0, 0))
    target = "/inbox/item?" + urlencode({"subject": subject, "notice": "taken"})
    return RedirectResponse(target, status_code=303)


@router.post("/inbox/refresh")
async def refresh(request: Request, user: User = _RESPONDER) -> Response:
    """Keep holding an item's lock (polled by the open item page); 409 once it is lost.
    To htmx: 204, or 409 with ``HX-Refresh`` (the page reloads to show who has it now)."""
    fields = await form_fields(request)
    subject = _one(fields, "subject")
    triage, now = _triage(request), _now(request)
    item = await asyncio.to_thread(triage.refresh, subject, user.id, now)
    if item is None or item.locked_until is None:
        if wants_fragment(request):
            return Response(status_code=409, headers={"HX-Refresh": "true"})
        return JSONResponse({"held": False}, status_code=409)
    if wants_fragment(request):
        return Response(status_code=204)
    return JSONResponse({"held": True, "until": item.locked_until.isoformat()})


@router.post("/inbox/release")
async def release(request: Request, user: User = _RESPONDER) -> Response:
    """Let go of an item's lock."""
    fields = await form_fields(request)
    subject = _one(fields, "subject")
    triage, now, hook = _triage(request), _now(request), audit_hook(request)
    await asyncio.to_thread(lambda: triage.release(subject, user.id, now, audit=hook))
    if wants_fragment(request):
        return await _changed(request, user, subject, fields, _notice("released", 0, 0))
    target = _safe_next(_one(fields, "next"), "/inbox")
    return RedirectResponse(_with_notice(target, notice="released"), status_code=303)
