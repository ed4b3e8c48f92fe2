"""Adding, changing and removing the watches, sources, channels, people and on-call
schedules of tocsin.toml from the Settings pages.

For each kind of table (`SECTIONS`, and sources): ``GET /settings/<kind>/new``,
``GET /settings/<kind>/<name>/edit``, ``POST /settings/<kind>`` (add),
``POST /settings/<kind>/<name>`` (change) and ``POST /settings/<kind>/<name>/delete``. Watches
are for leads, the rest for admins. A change is written to tocsin.toml only when the whole
file stays valid (`ConfigFile.save`): otherwise the form comes back with each problem at its
field, and nothing is written. Every change is audited with the table before and after
(secrets hidden); `tocsin run` applies it within seconds.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.config import ConfigError, Settings
from tocsin.configfile import ConfigConflict, ConfigFile, Draft, find_entry, remove_entry, set_entry
from tocsin.configsource import slug
from tocsin.plugins import source_classes
from tocsin.web import audit
from tocsin.web.auth import User, require
from tocsin.web.csrf import form_fields
from tocsin.web.pages import render
from tocsin.web.routes.settings import TABLES
from tocsin.web.settings_forms import SECTIONS, Field, Section, form_values, source_fields

__all__ = ["SOURCES", "router"]

router = APIRouter()


def _source_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    cls = source_classes().get(str((entry or {}).get("type", "")))
    if cls is None:
        return []
    return [Field("enabled", "bool"), *source_fields(cls.Options)]


SOURCES = Section("sources", "admin", _source_fields)


def _problems_by_field(
    exc: ConfigError, array: str, index: int | None
) -> tuple[dict[str, str], list[str]]:
    """The problems of `exc` at a field of entry `index` of `array`, and the others."""
    at_field: dict[str, str] = {}
    general: list[str] = []
    for problem in exc.problems:
        match = re.match(rf"^{array}\[(\d+)\]\.(\w+)", problem.path)
        if match and index is not None and int(match.group(1)) == index:
            at_field.setdefault(match.group(2), f"{problem.message} — {problem.fix}")
        else:
            where = f"{problem.path}: " if problem.path else ""
            general.append(f"{where}{problem.message} — {problem.fix}")
    return at_field, general


def _index_of(draft: Draft, array: str, name: str) -> int | None:
    found = draft.doc.get(array)
    names = [t.get("name") for t in found] if isinstance(found, list) else []
    return names.index(name) if name in names else None


def _hidden(entry: Mapping[str, Any] | None, fields: list[Field]) -> dict[str, Any] | None:
    """`entry` for the audit log, its secrets replaced by how many are set."""
    if entry is None:
        return None
    secret = {f.key for f in fields if f.kind == "secret"}
    return {
        k: (f"({len(v) if isinstance(v, list) else 1} hidden)" if k in secret else v)
        for k, v in entry.items()
    }


def _register(section: Section) -> None:
    array = section.array
    base = f"/settings/{array}"
    who = Depends(require(section.role))

    def form(
        request: Request,
        user: User,
        *,
        name: str,
        entry: Mapping[str, Any] | None,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        general: list[str] | None = None,
        version: str = "",
        status: int = 200,
    ) -> HTMLResponse:
        state = request.app.state
        fields = section.fields(state.settings, entry)
        config: ConfigFile | None = state.config
        context = {
            "user": user,
            "array": array,
            "name": name,
            "is_new": entry is None or "name" not in entry,
            "entry": entry or {},
            "kind": str((entry or {}).get("type", "")),
            "fields": fields,
            "values": values if values is not None else (entry or {}),
            "errors": errors or {},
            "general": general or [],
            "version": version,
            "writable": config is not None,
            "types": _types() if array == "sources" else [],
        }
        return render(request, "settings_entry.html", context, *TABLES, status=status)

    async def new_form(request: Request, type: str = "", user: User = who) -> HTMLResponse:
        entry = {"type": type} if array == "sources" and type else None
        config: ConfigFile | None = request.app.state.config
        version = await asyncio.to_thread(config.version) if config else ""
        return form(request, user, name="", entry=entry, version=version)

    async def edit_form(request: Request, name: str, user: User = who) -> HTMLResponse:
        config: ConfigFile | None = request.app.state.config
        draft = await asyncio.to_thread(config.read) if config else None
        entry = (
            find_entry(draft.doc, array, name) if draft else _from_settings(request, array, name)
        )
        if entry is None:
            raise HTTPException(404, f"no {array} named {name!r} in tocsin.toml")
        return form(request, user, name=name, entry=entry, version=draft.version if draft else "")

    async def save(request: Request, name: str, user: User, *, new: bool) -> Response:
        config = _writable(request)
        given = await form_fields(request)
        version = (given.get("version") or [""])[0]
        draft = await asyncio.to_thread(config.read)
        draft = Draft(draft.doc, version)
        existing = None if new else find_entry(draft.doc, array, name)
        if not new and existing is None:
            raise HTTPException(404, f"no {array} named {name!r} in tocsin.toml")
        kind = (given.get("type") or [""])[0] if new else str((existing or {}).get("type", ""))
        shape = existing if existing is not None else ({"type": kind} if kind else None)
        fields = section.fields(request.app.state.settings, shape)
        values, errors = form_values(fields, given, existing)
        if new:
            name = (given.get("name") or [""])[0].strip()
            errors.update(_name_errors(draft, array, name))
            if array == "sources" and not fields:
                errors["type"] = "choose a source type"
            values = {"type": kind, **values} if array == "sources" else values

        def again(status: int, general: list[str] | None = None, **more: str) -> HTMLResponse:
            shown = {**(existing or {}), **{k: v for k, v in values.items() if v is not None}}
            if new:
                shown["name"] = name
            return form(
                request,
                user,
                name=name,
                entry=existing if existing is not None else shape,
                values=shown,
                errors={**errors, **more},
                general=general,
                version=version,
                status=status,
            )

        if errors:
            return again(400)
        before = set_entry(draft.doc, array, name, values)
        try:
            settings = await asyncio.to_thread(config.save, draft)
        except ConfigError as exc:
            at_field, general = _problems_by_field(exc, array, _index_of(draft, array, name))
            return again(400, general, **at_field)
        except ConfigConflict as exc:
            return again(409, [str(exc)])
        request.app.state.settings = settings
        after = find_entry(draft.doc, array, name)
        action = f"{array}.{'create' if new else 'update'}"
        await audit.record_request(
            request, action, f"{array}:{name}", _hidden(before, fields), _hidden(after, fields)
        )
        return RedirectResponse(f"/settings?saved={name}#{array}", status_code=303)

    async def create(request: Request, user: User = who) -> Response:
        return await save(request, "", user, new=True)

    async def update(request: Request, name: str, user: User = who) -> Response:
        return await save(request, name, user, new=False)

    async def delete(request: Request, name: str, user: User = who) -> Response:
        config = _writable(request)
        version = ((await form_fields(request)).get("version") or [""])[0]
        draft = await asyncio.to_thread(config.read)
        draft = Draft(draft.doc, version)
        before = remove_entry(draft.doc, array, name)
        if before is None:
            raise HTTPException(404, f"no {array} named {name!r} in tocsin.toml")
        try:
            settings = await asyncio.to_thread(config.save, draft)
        except (ConfigError, ConfigConflict) as exc:
            general = (
                _problems_by_field(exc, array, None)[1]
                if isinstance(exc, ConfigError)
                else [str(exc)]
            )
            return form(
                request,
                user,
                name=name,
                entry=before,
                general=general,
                version=version,
                status=409 if isinstance(exc, ConfigConflict) else 400,
            )
        request.app.state.settings = settings
        fields = section.fields(settings, before)
        await audit.record_request(
            request, f"{array}.delete", f"{array}:{name}", _hidden(before, fields), None
        )
        return RedirectResponse(f"/settings?removed={name}#{array}", status_code=303)

    for path, page in ((f"{base}/new", new_form), (f"{base}/{{name}}/edit", edit_form)):
        router.add_api_route(
            path, page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False
        )
    router.add_api_route(base, create, methods=["POST"], include_in_schema=False)
    router.add_api_route(f"{base}/{{name}}", update, methods=["POST"], include_in_schema=False)
    router.add_api_route(
        f"{base}/{{name}}/delete", delete, methods=["POST"], include_in_schema=False
    )


def _writable(request: Request) -> ConfigFile:
    config: ConfigFile | None = request.app.state.config
    if config is None:
        raise HTTPException(
            409,
            "this tocsin was started without a tocsin.toml it may write: change the settings "
            "in the file of the workspace instead",
        )
    return config


def _name_errors(draft: Draft, array: str, name: str) -> dict[str, str]:
    if not name:
        return {"name": "required"}
    try:
        slug(name)
    except ValueError as exc:
        return {"name": str(exc)}
    if find_entry(draft.doc, array, name) is not None:
        return {"name": f"{name!r} is taken: choose another name, or edit that one"}
    return {}


def _from_settings(request: Request, array: str, name: str) -> dict[str, Any] | None:
    for item in getattr(request.app.state.settings, array):
        if item.name == name:
            found: dict[str, Any] = item.model_dump(mode="json", exclude_defaults=True)
            return {"name": name, **found}
    return None


def _types() -> list[tuple[str, str]]:
    return [(name, cls.description) for name, cls in sorted(source_classes().items())]


for _section in (*SECTIONS.values(), SOURCES):
    _register(_section)
