"""Who sent this request: the session middleware, sessions and API tokens.

Each HTTP request goes through `SessionMiddleware` before any route:

- ``Authorization: Bearer <token>``: an API token (`new_api_token`); a wrong or revoked
  one, or one of a disabled account, is refused with 401 at once;
- else the ``tocsin_session`` cookie: a random token whose SHA-256 is looked up in
  ``web_sessions``; sessions end after `IDLE` without a request, `LIFETIME` after login,
  at logout, and when the account is disabled or its password changes; a dead cookie is
  cleared on the response;
- the user found is put on ``request.state.user`` (a `tocsin.web.auth.User`), with
  ``request.state.session`` (the `SessionRecord`, for its CSRF token) and
  ``request.state.auth`` (``"session"``, ``"token"`` or None);
- a POST, PUT, PATCH or DELETE made with the session cookie must carry the session's CSRF
  token (see `tocsin.web.csrf`), else 403.

Routes then declare the role they need (`tocsin.web.auth.require`). `install(app)` adds the
middleware, the 401/403 handlers (browsers are sent to ``/login?next=...``, API clients
under ``/api/`` get JSON), the template helpers and the account pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.store.sessions import SessionRecord, SessionStore
from tocsin.store.users import UserRecord
from tocsin.web import csrf
from tocsin.web.auth import User

__all__ = [
    "API_TOKEN_PREFIX",
    "COOKIE",
    "IDLE",
    "LIFETIME",
    "SessionMiddleware",
    "clear_session_cookie",
    "digest",
    "install",
    "is_secure",
    "login_url",
    "new_api_token",
    "safe_next",
    "set_session_cookie",
    "start_session",
]

COOKIE = "tocsin_session"
IDLE = timedelta(hours=12)
"""A session unused this long ends."""
LIFETIME = timedelta(days=7)
"""A session ends this long after login, used or not."""
TOUCH_EVERY = timedelta(minutes=1)
"""``last_seen_at`` / ``last_used_at`` are written at most this often (fewer writes)."""
API_TOKEN_PREFIX = "tocsin_"  # noqa: S105 (a prefix, not a secret)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def digest(token: str) -> str:
    """The SHA-256 (hex) of a session or API token: all the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_token() -> tuple[str, str]:
    """``(token, its digest)``: a fresh API token, to show once, and what to store."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def start_session(user_id: int, now: datetime) -> tuple[str, SessionRecord]:
    """``(cookie token, session)`` for a fresh login (store the session, send the token)."""
    token = secrets.token_urlsafe(32)
    session = SessionRecord(
        token_hash=digest(token),
        user_id=user_id,
        csrf=csrf.new_token(),
        created_at=now,
        expires_at=now + LIFETIME,
        last_seen_at=now,
    )
    return token, session


def is_secure(request: Request) -> bool:
    """Whether cookies must be ``Secure``: the request came over https, or tocsin is
    published at an https address (``[notify] public_url``, e.g. behind a proxy)."""
    if request.url.scheme == "https":
        return True
    settings = getattr(request.app.state, "settings", None)
    public_url = getattr(getattr(settings, "notify", None), "public_url", "")
    return isinstance(public_url, str) and public_url.lower().startswith("https://")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """Send the session cookie: HttpOnly, SameSite=Lax, Path=/, Secure over https."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(
        COOKIE, path="/", secure=is_secure(request), httponly=True, samesite="lax"
    )


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site (``/inbox?x=1``), else ``/``: never another
    site (``//evil``, ``https://evil``, ``/\\evil``), so a link cannot bounce people away."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\\\r\n\t") or any(ord(c) < 32 for c in target):
        return "/"
    return target


def login_url(next_path: str) -> str:
    """``/login?next=...`` for a same-site path."""
    return "/login?next=" + quote(safe_next(next_path), safe="/")


# -- the middleware --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Who:
    user: User | None = None
    session: SessionRecord | None = None
    auth: str | None = None
    refused: str | None = None  # why a presented credential was refused (Bearer)
    stale_cookie: bool = False


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {bytes(k).lower(): bytes(v) for k, v in scope.get("headers", ())}


def _cookie(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # a malformed Cookie header: treat as no cookie
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _user(record: UserRecord) -> User:
    return User(id=record.id, email=record.email, name=record.name, role=record.role)


def _identify(scope: Scope, sessions: SessionStore, now: datetime) -> _Who:
    """Who the request's credentials name (sync: runs in a worker thread)."""
    headers = _headers(scope)
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _Who(refused="use Authorization: Bearer <API token>")
        found = sessions.token_user(digest(token.strip()))
        if found is None:
            return _Who(refused="this API token is unknown, revoked or its account disabled")
        record, api_token = found
        if api_token.last_used_at is None or now - api_token.last_used_at >= TOUCH_EVERY:
            sessions.touch_token(api_token.id, now=now)
        return _Who(user=_user(record), auth="token")
    cookie = _cookie(headers)
    if cookie is None:
        return _Who()
    found_session = sessions.session(digest(cookie), now=now, idle_since=now - IDLE)
    if found_session is None:
        return _Who(stale_cookie=True)
    record, session = found_session
    if now - session.last_seen_at >= TOUCH_EVERY:
        sessions.touch_session(session.token_hash, now=now)
    return _Who(user=_user(record), session=session, auth="session")


def _wants_json(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path == "/api" or path.startswith("/api/")


async def _refuse(scope: Scope, receive: Receive, send: Send, code: int, message: str) -> None:
    from tocsin.web.app import SECURITY_HEADERS  # here: app.py imports this module

    headers = dict(SECURITY_HEADERS) | {"Cache-Control": "no-store"}
    response: Response
    if _wants_json(scope):
        if code == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        response = JSONResponse({"detail": message}, status_code=code, headers=headers)
    else:
        page = f"<!doctype html><title>tocsin</title><p>{html.escape(message)}</p>"
        response = HTMLResponse(page, status_code=code, headers=headers)
    await response(scope, receive, send)


class SessionMiddleware:
    """Pure ASGI middleware (streams such as Server-Sent Events pass through untouched):
    authenticate, check CSRF, hand on. Reads the store, clock and settings from
    ``app.state`` at each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if isinstance(scope.get("state", {}).get("user"), User):
            # Already authenticated by an in-process layer around the app (an embedding
            # application, the tests); nothing outside the process can set ASGI state.
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        sessions = SessionStore(state.store)
        who = await asyncio.to_thread(_identify, scope, sessions, state.clock.now())
        if who.refused is not None:
            await _refuse(scope, receive, send, 401, who.refused)
            return
        request_state = scope.setdefault("state", {})
        request_state["user"] = who.user
        request_state["session"] = who.session
        request_state["auth"] = who.auth
        if (
            who.auth == "session"
            and who.session is not None
            and scope.get("method", "GET") in csrf.UNSAFE_METHODS
            and not csrf.exempt(str(scope.get("path", "")))
        ):
            try:
                given, receive = await csrf.submitted_token(scope, receive)
            except csrf.BodyTooLarge:
                await _refuse(scope, receive, send, 413, "this form is too large")
                return
            if not csrf.matches(who.session.csrf, given):
                message = (
                    "this form has expired or did not come from tocsin "
                    "(its CSRF token is missing or wrong): reload the page and try again"
                )
                await _refuse(scope, receive, send, 403, message)
                return
        if who.stale_cookie:
            send = _clearing_cookie(send, scope)
        await self.app(scope, receive, send)


def _clearing_cookie(send: Send, scope: Scope) -> Send:
    """`send`, adding a Set-Cookie that deletes a dead session cookie to the response."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    header = f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax{secure}".encode()

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            headers = list(message.get("headers", []))
            if not any(
                bytes(k).lower() == b"set-cookie" and COOKIE.encode() in bytes(v)
                for k, v in headers
            ):
                headers.append((b"set-cookie", header))
            message["headers"] = headers
        await send(message)

    return sending


# -- 401 and 403 -----------------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> Response:
    """401: browsers go to the login page (HTMX through ``HX-Redirect``), API clients get
    JSON; 403: a short page for browsers, JSON for the API; anything else as FastAPI does."""
    assert isinstance(exc, StarletteHTTPException)
    api = _wants_json(request.scope)
    if exc.status_code == 401 and not api:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = login_url(target if request.method == "GET" else "/")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)
    if exc.status_code == 401:
        return JSONResponse(
            {"detail": exc.detail},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if exc.status_code == 403 and not api:
        detail = html.escape(str(exc.detail))
        page = (
            '<!doctype html><html><head><meta charset="utf-8"><title>tocsin</title>'
            '<link rel="stylesheet" href="/static/style.css"></head><body><main>'
            f'<h1>403</h1><p>{detail}</p><p><a href="/">tocsin</a></p></main></body></html>'
        )
        return HTMLResponse(page, status_code=403)
    return await http_exception_handler(request, exc)


# -- wiring ----------------------------------------------------------------------------------


def _signed_in(context: Any) -> User | None:
    request = context.get("request")
    user = getattr(getattr(request, "state", None), "user", None)
    return user if isinstance(user, User) else None


def install(app: FastAPI) -> None:
    """Wire accounts into `app` (made by `tocsin.web.create_app`): the session middleware,
    the 401/403 handlers, the template helpers ``csrf_field()``, ``csrf_token()`` and
    ``signed_in()``, and the login, logout, users, audit and API token pages."""
    import jinja2

    from tocsin.web.routes import admin, login

    app.add_middleware(SessionMiddleware)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    globals_ = app.state.templates.env.globals
    globals_["csrf_field"] = csrf.csrf_field
    globals_["csrf_token"] = csrf.csrf_token
    globals_["signed_in"] = jinja2.pass_context(_signed_in)
    app.include_router(login.router)
    app.include_router(admin.router)
