"""Accounts pages: ``/admin/users`` and ``/admin/audit`` for admins, ``/account/tokens`` for
everyone.

Admins add people, change their role, disable or re-enable them and set a new password; the
last enabled admin can neither be demoted nor disabled, and nobody disables themselves, so
tocsin always keeps someone who can manage it. Every change is written to the audit log in
the same transaction as the change. API tokens are shown once, at creation, and stored as
their SHA-256 only.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tocsin.store.sessions import SessionStore
from tocsin.store.users import UserExists, UserRecord, UserStore
from tocsin.web import csrf
from tocsin.web.audit import request_entry
from tocsin.web.auth import ROLE_DESCRIPTIONS, ROLES, User, hash_password, password_problem, require
from tocsin.web.pages import render
from tocsin.web.sessions import new_api_token

__all__ = ["AUDIT_PAGE", "router"]

router = APIRouter()
Admin = Annotated[User, Depends(require("admin"))]
Viewer = Annotated[User, Depends(require("viewer"))]

AUDIT_PAGE = 50
_DONE = {
    "created": "The account is created.",
    "role": "The role is changed.",
    "disabled": "The account is disabled; its sessions are ended.",
    "enabled": "The account is enabled again.",
    "password": "The password is changed; the account's sessions are ended.",
    "revoked": "The token is revoked.",
}


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return render(request, name, context, status=status)


def _users(request: Request) -> UserStore:
    return UserStore(request.app.state.store)


def _sessions(request: Request) -> SessionStore:
    return SessionStore(request.app.state.store)


# -- users -----------------------------------------------------------------------------------


async def _users_page(
    request: Request, *, status: int = 200, error: str | None = None, form: dict[str, str]
) -> HTMLResponse:
    people = await asyncio.to_thread(_users(request).list)
    done = _DONE.get(request.query_params.get("done", ""))
    return _page(
        request,
        "users.html",
        status,
        people=people,
        roles=ROLES,
        role_descriptions=ROLE_DESCRIPTIONS,
        error=error,
        done=done,
        form=form,
    )


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
async def users_page(request: Request, _: Admin) -> HTMLResponse:
    """Everyone with an account, and a form to add one."""
    return await _users_page(request, form={})


def _new_user_problem(form: dict[str, str]) -> str | None:
    email = form.get("email", "").strip()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        return "Enter the person's email address (name@example.org)."
    if not form.get("name", "").strip():
        return "Enter the person's name."
    if form.get("role") not in ROLES:
        return f"Choose a role: {', '.join(ROLES)}."
    return password_problem(form.get("password", ""))


@router.post("/admin/users", include_in_schema=False)
async def add_user(request: Request, _: Admin) -> Response:
    """Create an account."""
    form = await csrf.read_form(request)
    shown = {k: form.get(k, "") for k in ("email", "name", "role")}
    problem = _new_user_problem(form)
    if problem is not None:
        return await _users_page(request, status=400, error=problem, form=shown)
    password_hash = await asyncio.to_thread(hash_password, form["password"])
    entry = request_entry(request, "user.create", "", None, None)
    try:
        await asyncio.to_thread(
            _users(request).add,
            form["email"],
            form["name"],
            form["role"],
            password_hash,
            now=request.app.state.clock.now(),
            audit=entry,
        )
    except UserExists:
        error = "An account with this email exists already."
        return await _users_page(request, status=409, error=error, form=shown)
    return RedirectResponse("/admin/users?done=created", status_code=303)


async def _target(request: Request, user_id: int) -> UserRecord:
    record = await asyncio.to_thread(_users(request).get, user_id)
    if record is None:
        raise HTTPException(404, f"there is no account {user_id}")
    return record


async def _refuse_losing_last_admin(request: Request, record: UserRecord) -> None:
    if record.role == "admin" and not record.disabled:
        admins = await asyncio.to_thread(_users(request).count_admins)
        if admins <= 1:
            raise HTTPException(
                409, "this is the last admin: make someone else admin first, then try again"
            )


@router.post("/admin/users/{user_id}/role", include_in_schema=False)
async def change_role(request: Request, user_id: int, _: Admin) -> Response:
    """Give an account another role."""
    form = await csrf.read_form(request)
    role = form.get("role", "")
    if role not in ROLES:
        raise HTTPException(400, f"choose a role: {', '.join(ROLES)}")
    record = await _target(request, user_id)
    if role != "admin":
        await _refuse_losing_last_admin(request, record)
    entry = request_entry(request, "user.role", f"user:{user_id}", None, None)
    await asyncio.to_thread(_users(request).update, user_id, role=role, audit=entry)
    return RedirectResponse("/admin/users?done=role", status_code=303)


@router.post("/admin/users/{user_id}/disable", include_in_schema=False)
async def disable_user(request: Request, user_id: int, admin: Admin) -> Response:
    """Disable an account and end its sessions (its API tokens stop working too)."""
    if user_id == admin.id:
        raise HTTPException(409, "you cannot disable your own account")
    record = await _target(request, user_id)
    await _refuse_losing_last_admin(request, record)
    entry = request_entry(request, "user.disable", f"user:{user_id}", None, None)
    await asyncio.to_thread(_users(request).update, user_id, disabled=True, audit=entry)
    return RedirectResponse("/admin/users?done=disabled", status_code=303)


@router.post("/admin/users/{user_id}/enable", include_in_schema=False)
async def enable_user(request: Request, user_id: int, _: Admin) -> Response:
    """Enable a disabled account again."""
    await _target(request, user_id)
    entry = request_entry(request, "user.enable", f"user:{user_id}", None, None)
    await asyncio.to_thread(_users(request).update, user_id, disabled=False, audit=entry)
    return RedirectResponse("/admin/users?done=enabled", status_code=303)


@router.post("/admin/users/{user_id}/password", include_in_schema=False)
async def set_password(request: Request, user_id: int, _: Admin) -> Response:
    """Set a new password for an account (its sessions end)."""
    form = await csrf.read_form(request)
    password = form.get("password", "")
    problem = password_problem(password)
    if problem is not None:
        raise HTTPException(400, problem)
    await _target(request, user_id)
    password_hash = await asyncio.to_thread(hash_password, password)
    entry = request_entry(request, "user.password", f"user:{user_id}", None, None)
    await asyncio.to_thread(
        _users(request).update, user_id, password_hash=password_hash, audit=entry
    )
    return RedirectResponse("/admin/users?done=password", status_code=303)


# -- audit log -------------------------------------------------------------------------------


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
async def audit_page(
    request: Request,
    _: Admin,
    before: int | None = None,
    subject: str | None = None,
) -> HTMLResponse:
    """The audit log, newest first, `AUDIT_PAGE` entries a page (``?before=ID`` pages back,
    ``?subject=user:3`` shows one thing's history)."""
    rows = await asyncio.to_thread(
        _users(request).audit_entries,
        before_id=before,
        limit=AUDIT_PAGE + 1,
        subject=subject or None,
    )
    older = rows[AUDIT_PAGE - 1].id if len(rows) > AUDIT_PAGE else None
    return _page(
        request, "audit.html", entries=rows[:AUDIT_PAGE], older=older, subject=subject or ""
    )


# -- API tokens ------------------------------------------------------------------------------


async def _tokens_page(
    request: Request,
    user: User,
    *,
    status: int = 200,
    new_token: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    tokens = await asyncio.to_thread(_sessions(request).tokens, user.id)
    done = _DONE.get(request.query_params.get("done", ""))
    return _page(
        request,
        "tokens.html",
        status,
        tokens=tokens,
        new_token=new_token,
        error=error,
        done=done,
    )


@router.get("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
async def tokens_page(request: Request, user: Viewer) -> HTMLResponse:
    """Your API tokens: name, created, last used; create and revoke."""
    return await _tokens_page(request, user)


@router.post("/account/tokens", include_in_schema=False)
async def create_token(request: Request, user: Viewer) -> Response:
    """Create an API token and show it, once."""
    form = await csrf.read_form(request)
    name = form.get("name", "").strip()
    if not name or len(name) > 100:
        error = "Name the token (what uses it, e.g. “dashboard script”), in 100 characters."
        return await _tokens_page(request, user, status=400, error=error)
    token, token_hash = new_api_token()
    entry = request_entry(request, "token.create", "", None, None)
    await asyncio.to_thread(
        _sessions(request).create_token,
        user.id,
        name,
        token_hash,
        now=request.app.state.clock.now(),
        audit=entry,
    )
    return await _tokens_page(request, user, new_token=token)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
async def revoke_token(request: Request, token_id: int, user: Viewer) -> Response:
    """Revoke one of your API tokens: it stops working at once."""
    entry = request_entry(request, "token.revoke", f"token:{token_id}", None, None)
    revoked = await asyncio.to_thread(
        _sessions(request).revoke_token,
        token_id,
        user_id=user.id,
        now=request.app.state.clock.now(),
        audit=entry,
    )
    if revoked is None:
        raise HTTPException(404, f"you have no token {token_id} to revoke")
    return RedirectResponse("/account/tokens?done=revoked", status_code=303)
