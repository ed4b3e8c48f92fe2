"""``/login`` and ``/logout``: password sign-in with throttling, and sign-out.

Throttling: after `MAX_ACCOUNT_FAILURES` failed sign-ins for one email, or
`MAX_ADDRESS_FAILURES` from one address, within `WINDOW`, sign-in is refused with 429 until
the oldest failure leaves the window; the answer is the same whether the account exists or
not, and an unknown email costs one argon2 verification like a known one.

The login form has no session to take a CSRF token from: it carries a random token that must
equal the short-lived ``tocsin_login`` cookie set with the form (double submit), so a hostile
page cannot sign a browser into an account of its choosing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tocsin.store.sessions import SessionStore
from tocsin.store.users import UserStore, normalise_email
from tocsin.web import csrf
from tocsin.web.audit import address_of, request_entry
from tocsin.web.auth import User, public, require, verify_password
from tocsin.web.pages import render
from tocsin.web.sessions import (
    IDLE,
    clear_session_cookie,
    is_secure,
    safe_next,
    set_session_cookie,
    start_session,
)

__all__ = [
    "LOGIN_COOKIE",
    "MAX_ACCOUNT_FAILURES",
    "MAX_ADDRESS_FAILURES",
    "WINDOW",
    "router",
]

router = APIRouter()
Anyone = Annotated[User | None, Depends(public)]

MAX_ACCOUNT_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=15)
LOGIN_COOKIE = "tocsin_login"
_LOGIN_COOKIE_AGE = 3600

WRONG = "Wrong email or password."
THROTTLED = (
    "Too many failed sign-ins for this account or from this address. Wait {minutes} minutes "
    "and try again, or ask an admin to set a new password."
)
DISABLED = "This account is disabled: ask an admin."
EXPIRED_FORM = "This sign-in form has expired: try again."


def _page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    next_path: str = "/",
    email: str = "",
) -> HTMLResponse:
    """The login form, with a fresh double-submit token in the form and in a cookie."""
    token = csrf.new_token()
    context = {"error": error, "next": next_path, "email": email, "login_csrf": token}
    response = render(request, "login.html", context, status=status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=_LOGIN_COOKIE_AGE,
        path="/login",
        secure=is_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(request: Request, user: Anyone, next: str = "/") -> Response:
    """The sign-in form (signed-in people go straight to `next`)."""
    target = safe_next(next)
    if user is not None:
        return RedirectResponse(target, status_code=303)
    return _page(request, next_path=target)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login(request: Request, _: Anyone) -> Response:
    """Check the email and password; open a session and go to ``next``."""
    form = await csrf.read_form(request)
    email = normalise_email(form.get("email", ""))[:320]
    password = form.get("password", "")
    target = safe_next(form.get("next"))
    if not csrf.matches(request.cookies.get(LOGIN_COOKIE, ""), form.get(csrf.FIELD)):
        return _page(request, status=403, error=EXPIRED_FORM, next_path=target, email=email)
    state = request.app.state
    users = UserStore(state.store)
    sessions = SessionStore(state.store)
    now = state.clock.now()
    address = address_of(request)
    by_email, by_address = await asyncio.to_thread(
        sessions.failures, email=email, address=address, since=now - WINDOW
    )
    if by_email >= MAX_ACCOUNT_FAILURES or by_address >= MAX_ADDRESS_FAILURES:
        message = THROTTLED.format(minutes=int(WINDOW.total_seconds() // 60))
        response = _page(request, status=429, error=message, next_path=target, email=email)
        response.headers["Retry-After"] = str(int(WINDOW.total_seconds()))
        return response
    record = await asyncio.to_thread(users.by_email, email) if email else None
    ok, new_hash = await asyncio.to_thread(
        verify_password, record.password_hash if record else None, password
    )
    if record is None or not ok:
        await asyncio.to_thread(
            sessions.record_failure, email, address, now=now, forget_before=now - WINDOW
        )
        return _page(request, status=401, error=WRONG, next_path=target, email=email)
    if record.disabled:
        return _page(request, status=403, error=DISABLED, next_path=target, email=email)
    token, session = start_session(record.id, now)
    signed_in = User(record.id, record.email, record.name, record.role)
    request.state.user = signed_in
    entry = request_entry(request, "login", f"user:{record.id}", None, {"session": "opened"})
    await asyncio.to_thread(
        sessions.logged_in, record.id, now=now, password_hash=new_hash, session=session, audit=entry
    )
    await asyncio.to_thread(sessions.purge_sessions, now=now, idle_since=now - IDLE)
    redirect = RedirectResponse(target, status_code=303)
    set_session_cookie(redirect, request, token)
    redirect.delete_cookie(LOGIN_COOKIE, path="/login")
    return redirect


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, user: Annotated[User, Depends(require("viewer"))]) -> Response:
    """End this browser's session and go back to the sign-in page."""
    session = getattr(request.state, "session", None)
    if session is not None:
        sessions = SessionStore(request.app.state.store)
        entry = request_entry(request, "logout", f"user:{user.id}", {"session": "open"}, None)
        await asyncio.to_thread(sessions.delete_session, session.token_hash, audit=entry)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response
