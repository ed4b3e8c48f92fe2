"""CSRF protection: every state-changing request made with a session cookie carries the
session's CSRF token.

A signed-in browser sends cookies with any request, including one a hostile page makes it
send (a cross-site form post). So a POST, PUT, PATCH or DELETE authenticated by the session
cookie must also carry the session's random CSRF token, which a hostile page cannot read:
in the hidden form field ``csrf`` (put in forms with ``{{ csrf_field() }}``) or in the
``X-CSRF-Token`` header (HTMX: ``hx-headers``, with ``{{ csrf_token() }}``). The token is
compared in constant time. The session middleware (`tocsin.web.sessions`) runs the check
before any route, so a route added later is covered without doing anything.

Not checked:

- requests authenticated by an API token (``Authorization: Bearer``): browsers never add
  that header by themselves, so a hostile page cannot forge one;
- requests with no session at all: they act as nobody, and routes that need a user refuse
  them (401) anyway;
- the signed alert action links ``/a/{token}``: people open them from a chat or a mail,
  usually without a session; the signed, expiring token in the path is the credential and
  a hostile page cannot make one up, so it does the job of the CSRF token;
- ``/login``: it has no session yet; its form carries its own token, checked against a
  short-lived cookie (double submit), by `tocsin.web.routes.login`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from fastapi import HTTPException, Request
from markupsafe import Markup, escape

__all__ = [
    "EXEMPT_PATHS",
    "FIELD",
    "HEADER",
    "UNSAFE_METHODS",
    "csrf_field",
    "csrf_token",
    "exempt",
    "form_fields",
    "matches",
    "new_token",
    "read_form",
    "submitted_token",
]

FIELD = "csrf"
HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT_PATHS: dict[str, str] = {
    "/a/": "signed alert action links: the signed, expiring token in the path is the "
    "credential and a hostile page cannot forge it",
    "/login": "no session yet; the login form has its own double-submit token",
}
"""Path prefixes (``/a/``) or exact paths (``/login``) exempt from the check, with why."""

MAX_FORM_BYTES = 1 << 20  # a form body read for its token (urlencoded)
MAX_MULTIPART_BYTES = 32 << 20  # an upload read for its token

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


def new_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(32)


def matches(expected: str, given: str | None) -> bool:
    """Whether `given` is `expected`, compared in constant time."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def exempt(path: str) -> bool:
    """Whether requests to `path` skip the session CSRF check (see `EXEMPT_PATHS`)."""
    return any(path.startswith(p) if p.endswith("/") else path == p for p in EXEMPT_PATHS)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BodyTooLarge(Exception):
    """A form body over the size read for its CSRF token."""


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, list[Message]]:
    chunks: list[bytes] = []
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise BodyTooLarge
        chunks.append(body)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


_PART_NAME = re.compile(rb'content-disposition:[^\r\n]*;\s*name="([^"]*)"', re.IGNORECASE)


def _multipart_field(body: bytes, boundary: str, name: str) -> str | None:
    for part in body.split(b"--" + boundary.encode("latin-1")):
        head, sep, value = part.partition(b"\r\n\r\n")
        found = _PART_NAME.search(head)
        if sep and found and found.group(1) == name.encode():
            return value.removesuffix(b"\r\n").decode("utf-8", "replace")
    return None


async def submitted_token(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The CSRF token a request carries (header first, else the form field ``csrf``), and
    the `receive` to hand on (the body, when read here, is replayed to the route).
    `BodyTooLarge` when the form is too big to look into."""
    header = _header(scope, HEADER.encode())
    if header:
        return header, receive
    content_type = (_header(scope, b"content-type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        body, messages = await _read_body(receive, MAX_FORM_BYTES)
        values = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        return values.get(FIELD), _replay(messages, receive)
    if content_type.startswith("multipart/form-data") and "boundary=" in content_type:
        raw_type = _header(scope, b"content-type") or ""
        boundary = raw_type.split("boundary=", 1)[1].split(";", 1)[0].strip().strip('"')
        body, messages = await _read_body(receive, MAX_MULTIPART_BYTES)
        return _multipart_field(body, boundary, FIELD), _replay(messages, receive)
    return None, receive


# -- forms -----------------------------------------------------------------------------------


async def form_fields(request: Request) -> dict[str, list[str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body, each with all its
    values (UTF-8; 415 for other bodies, 413 over 1 MiB)."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "this form is too large")
    fields: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, []).append(value)
    return fields


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form body, the last value of each (see `form_fields`)."""
    return {key: values[-1] for key, values in (await form_fields(request)).items()}


# -- templates -------------------------------------------------------------------------------


def _session_token(context: Any) -> str:
    request = context.get("request")
    session = getattr(getattr(request, "state", None), "session", None)
    token = getattr(session, "csrf", None)
    if isinstance(token, str):
        return token
    login_token = context.get("login_csrf")
    return login_token if isinstance(login_token, str) else ""


@jinja2.pass_context
def csrf_token(context: Any) -> str:
    """Jinja global: the CSRF token of the page's session ("" without a session)."""
    return _session_token(context)


@jinja2.pass_context
def csrf_field(context: Any) -> Markup:
    """Jinja global: the hidden ``csrf`` input every form posting back must contain."""
    token = escape(_session_token(context))
    return Markup(f'<input type="hidden" name="{FIELD}" value="{token}">')  # noqa: S704
