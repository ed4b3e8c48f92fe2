"""How a page is answered: its template rendered with the page's words as ``t`` and the
helpers templates use (`safe_url`, the session's CSRF value, the user), never cached, and
varying with ``HX-Request`` (an address answers htmx with a fragment of the same page)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from tocsin.web.i18n import Words, layered, request_language

__all__ = ["csrf_value", "render", "safe_url", "wants_fragment"]


def safe_url(url: str | None) -> str:
    """`url` when it is an http(s) link, else ``""`` (no ``javascript:`` or ``data:``)."""
    if not url:
        return ""
    lowered = url.strip().lower()
    return url.strip() if lowered.startswith(("https://", "http://")) else ""


def wants_fragment(request: Request) -> bool:
    """Whether htmx asks for part of a page (``HX-Request``): answer with the fragment only.
    Not when it restores a page missing from its history cache (``HX-History-Restore-
    Request``): that needs the whole page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


def csrf_value(request: Request) -> str:
    """The session's CSRF token, for the hidden ``csrf`` field of forms ("" without one)."""
    session = getattr(request.state, "session", None)
    token = getattr(session, "csrf", None)
    return token if isinstance(token, str) else ""


def render(
    request: Request, name: str, context: dict[str, Any], *tables: Words, status: int = 200
) -> HTMLResponse:
    """Template `name` with ``t`` looking words up in `tables` in order, then in the app's
    (`tocsin.web.i18n.layered`); `context` may override any of the shared names."""
    base: dict[str, Any] = {
        "t": layered(request_language(request), *tables),
        "safe_url": safe_url,
        "csrf_value": csrf_value(request),
        "user": getattr(request.state, "user", None),
    }
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, name, base | context, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "HX-Request"
    return response
