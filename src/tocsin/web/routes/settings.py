"""Settings (``GET /settings``, lead and above): the watches with a live preview of what a
query matches among recent mentions; for admins also the sources with their health, the
channels with a "send test" button, the people and the on-call schedules.

The configuration lives in ``tocsin.toml``: the forms of `settings_entries` write it (the
whole file checked first) and `tocsin run` applies it within seconds. A test message goes
through the real outbox, so it proves the whole delivery path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.mention import Mention
from tocsin.query import QueryError, parse
from tocsin.store.alerts import NewDelivery
from tocsin.web import audit
from tocsin.web.auth import User, require
from tocsin.web.i18n import layered
from tocsin.web.i18n import request_language as language_of_app
from tocsin.web.overview_data import health_rows
from tocsin.web.routes.alerts_page import on_call_now
from tocsin.web.routes.overview import WORDS as OVERVIEW_WORDS

__all__ = ["PREVIEW_DAYS", "WORDS", "router", "translator"]

router = APIRouter()
_LEAD = Depends(require("lead"))
_ADMIN = Depends(require("admin"))
PREVIEW_DAYS = 7
PREVIEW_LIMIT = 20

WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "settings": "Settings",
        "watches": "Watches",
        "watch_query": "Query",
        "watch_tags": "Tags",
        "watch_off": "disabled",
        "edit_hint": "Changes are written to tocsin.toml (its comments kept, the whole file "
        "checked first) and tocsin run applies them within seconds.",
        "read_only": "This tocsin was started without a tocsin.toml it may write: change the "
        "settings in the workspace's file.",
        "kind_watches": "Watch",
        "kind_sources": "Source",
        "kind_channels": "Channel",
        "kind_people": "Person",
        "kind_oncall": "On-call schedule",
        "new_entry": "New: {kind}",
        "add": "Add",
        "edit": "Edit",
        "save": "Save",
        "next": "Next",
        "remove": "Remove {name}",
        "entry_name": "Name",
        "name_hint": "lower-case letters, digits, - and _; it cannot be changed later",
        "not_saved": "Not saved; nothing was written:",
        "see_field": "see below, at the field",
        "saved": "{name} saved in tocsin.toml; tocsin run applies it within seconds.",
        "removed": "{name} removed from tocsin.toml.",
        "secret_kept": "{n} set, not shown: leave empty to keep, or write all of them again",
        "no_choices": "none defined yet",
        "source_type": "Source type",
        "sources": "Sources",
        "source_state": "Health",
        "source_off": "off",
        "people": "People",
        "schedules": "On-call schedules",
        "users_link": "Users and roles are on the Users page.",
        "preview_js": "The preview follows the query as you type (JavaScript on).",
        "preview": "Try a query",
        "preview_button": "Preview",
        "preview_found": "{n} of the mentions of the last {days} days match (newest first):",
        "preview_none": "Nothing of the last {days} days matches.",
        "channels": "Channels",
        "channel_urls": "{n} URL(s), not shown",
        "send_test": "Send a test message",
        "test_sent": "A test message to {channel} is in the outbox; tocsin run sends it.",
        "oncall": "On call now",
        "no_channels": "No channel yet.",
        "test_title": "[tocsin] Test message",
        "test_body": "This is a test from the tocsin settings page, sent by {who}.",
    },
    "fr": {
        "settings": "Réglages",
        "watches": "Veilles",
        "watch_query": "Requête",
        "watch_tags": "Étiquettes",
        "watch_off": "désactivée",
        "edit_hint": "Les changements sont écrits dans tocsin.toml (ses commentaires gardés, "
        "tout le fichier vérifié avant) et tocsin run les applique en quelques secondes.",
        "read_only": "Ce tocsin a démarré sans tocsin.toml qu'il puisse écrire : changez les "
        "réglages dans le fichier de l'espace de travail.",
        "kind_watches": "Veille",
        "kind_sources": "Source",
        "kind_channels": "Canal",
        "kind_people": "Personne",
        "kind_oncall": "Astreinte",
        "new_entry": "Nouveau : {kind}",
        "add": "Ajouter",
        "edit": "Modifier",
        "save": "Enregistrer",
        "next": "Suivant",
        "remove": "Supprimer {name}",
        "entry_name": "Nom",
        "name_hint": "minuscules, chiffres, - et _ ; il ne pourra plus changer",
        "not_saved": "Non enregistré ; rien n'a été écrit :",
        "see_field": "voir plus bas, au champ",
        "saved": "{name} enregistré dans tocsin.toml ; tocsin run l'applique en quelques secondes.",
        "removed": "{name} supprimé de tocsin.toml.",
        "secret_kept": "{n} renseigné(s), masqué(s) : laissez vide pour garder, ou "
        "réécrivez-les tous",
        "no_choices": "aucun pour l'instant",
        "source_type": "Type de source",
        "sources": "Sources",
        "source_state": "État",
        "source_off": "désactivée",
        "people": "Personnes",
        "schedules": "Astreintes",
        "users_link": "Les utilisateurs et leurs rôles sont sur la page Utilisateurs.",
        "preview_js": "L'aperçu suit la requête pendant la saisie (JavaScript activé).",
        "preview": "Essayer une requête",
        "preview_button": "Aperçu",
        "preview_found": "{n} des mentions des {days} derniers jours correspondent "
        "(les plus récentes d'abord) :",
        "preview_none": "Rien des {days} derniers jours ne correspond.",
        "channels": "Canaux",
        "channel_urls": "{n} URL, masquées",
        "send_test": "Envoyer un message de test",
        "test_sent": "Un message de test vers {channel} est dans la file d'envoi ; "
        "tocsin run l'envoie.",
        "oncall": "D'astreinte maintenant",
        "no_channels": "Aucun canal pour l'instant.",
        "test_title": "[tocsin] Message de test",
        "test_body": "Ceci est un test envoyé depuis les réglages de tocsin par {who}.",
    },
}


def translator(request: Request) -> Callable[..., str]:
    return layered(language_of_app(request), WORDS, OVERVIEW_WORDS)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request,
    q: str = "",
    sent: str = "",
    saved: str = "",
    removed: str = "",
    user: User = _LEAD,
) -> HTMLResponse:
    """The settings, and the preview of `q` when given (a bad query is shown with its
    caret, status 400)."""
    state = request.app.state
    settings, now = state.settings, state.clock.now()
    error, found = await _preview(request, q)
    is_admin = user.can("admin")
    health = await asyncio.to_thread(state.store.health, now=now) if is_admin else []
    intervals = {s.name: getattr(s.options, "interval", None) for s in settings.sources}
    states = {row.source: row for row in health_rows(health, intervals, now=now)}
    context = {
        "t": translator(request),
        "user": user,
        "watches": settings.watches,
        "sources": [(s, states.get(s.name)) for s in settings.sources] if is_admin else [],
        "channels": settings.channels if is_admin else [],
        "people": settings.people if is_admin else [],
        "schedules": settings.oncall if is_admin else [],
        "is_admin": is_admin,
        "writable": state.config is not None,
        "oncall": on_call_now(settings, now, language_of_app(request)),
        "q": q,
        "error": error,
        "found": found,
        "days": PREVIEW_DAYS,
        "sent": sent if sent in {c.name for c in settings.channels} else "",
        "saved": saved[:64],
        "removed": removed[:64],
    }
    response: HTMLResponse = state.templates.TemplateResponse(
        request, "settings.html", context, status_code=400 if error else 200
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview(
    request: Request, q: str = "", query: str = "", user: User = _LEAD
) -> HTMLResponse:
    """What a query (`q`, or the `query` field of the watch form) matches among the mentions
    of the last days, as a fragment: the watch form updates it as the lead types."""
    q = q or query
    error, found = await _preview(request, q)
    context = {"t": translator(request), "q": q, "error": error, "found": found}
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, "_preview.html", {**context, "days": PREVIEW_DAYS}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _preview(request: Request, q: str) -> tuple[str, list[Mention]]:
    """(the parser's error, the newest matching mentions) for query `q`."""
    if not q.strip():
        return "", []
    try:
        node = parse(q)
    except QueryError as exc:
        return str(exc), []
    state = request.app.state
    since = state.clock.now() - timedelta(days=PREVIEW_DAYS)
    found = await asyncio.to_thread(state.store.search, node, since=since, limit=PREVIEW_LIMIT)
    return "", list(found)


@router.post("/settings/channels/{name}/test")
async def send_test(request: Request, name: str, user: User = _ADMIN) -> Response:
    """Queue a test message to channel `name` in the outbox (audited)."""
    state = request.app.state
    if name not in {c.name for c in state.settings.channels}:
        raise HTTPException(404, "no such channel")
    now = state.clock.now()
    t = translator(request)
    delivery = NewDelivery(
        channel=name,
        recipient=name,
        title=t("test_title"),
        body=t("test_body", who=user.name),
        key=f"test:{name}:{now.isoformat()}",
        expires_at=now + timedelta(hours=1),
    )
    await asyncio.to_thread(state.store.alerts.enqueue, [delivery], now=now)
    after = {"channel": name, "title": delivery.title}
    await audit.record_request(request, "channel.test", f"channel:{name}", None, after)
    return RedirectResponse(f"/settings?sent={name}", status_code=303)
