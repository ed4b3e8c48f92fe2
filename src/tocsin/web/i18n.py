"""The web app's words in French and English (the workspace language)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["layered", "request_language", "translator"]

Words = Mapping[str, Mapping[str, str]]
"""A page's words: ``{language: {key: text}}``, English always present."""

_WORDS = {
    "en": {
        "ack": "Acknowledge",
        "resolve": "Resolve",
        "confirm_ack": "Acknowledge alert #{id}?",
        "confirm_resolve": "Resolve alert #{id}?",
        "confirm_hint": "Acknowledging tells the team you have it and stops the escalation.",
        "done_ack": "Alert #{id} is acknowledged by {who}.",
        "done_resolve": "Alert #{id} is resolved by {who}.",
        "invalid": "This link cannot be used",
        "invalid_hint": "Acknowledge or resolve the alert from tocsin (tocsin ack ID).",
        "unknown_alert": "There is no alert #{id} any more.",
        "state": "State",
        "why": "Why",
        "nav_overview": "Overview",
        "nav_live": "Live",
        "nav_search": "Search",
        "nav_inbox": "Inbox",
        "nav_alerts": "Alerts",
        "nav_tokens": "API tokens",
        "nav_users": "Users",
        "nav_audit": "Audit",
        "nav_signout": "Sign out",
        "nav_story": "story",
        "nav_settings": "Settings",
    },
    "fr": {
        "ack": "Prendre en charge",
        "resolve": "Clore",
        "confirm_ack": "Prendre en charge l'alerte n° {id} ?",
        "confirm_resolve": "Clore l'alerte n° {id} ?",
        "confirm_hint": "La prise en charge prévient l'équipe et arrête l'escalade.",
        "done_ack": "L'alerte n° {id} est prise en charge par {who}.",
        "done_resolve": "L'alerte n° {id} est close par {who}.",
        "invalid": "Ce lien n'est pas utilisable",
        "invalid_hint": "Prenez l'alerte en charge depuis tocsin (tocsin ack ID).",
        "unknown_alert": "L'alerte n° {id} n'existe plus.",
        "state": "État",
        "why": "Pourquoi",
        "nav_overview": "Vue d'ensemble",
        "nav_live": "En direct",
        "nav_search": "Recherche",
        "nav_inbox": "À traiter",
        "nav_alerts": "Alertes",
        "nav_tokens": "Jetons d'API",
        "nav_users": "Utilisateurs",
        "nav_audit": "Journal",
        "nav_signout": "Se déconnecter",
        "nav_story": "sujet",
        "nav_settings": "Réglages",
    },
}


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)`` in `language` (English for unknown languages or keys)."""
    words = _WORDS.get(language, _WORDS["en"])

    def t(key: str, **values: object) -> str:
        text = words.get(key) or _WORDS["en"].get(key, key)
        return text.format(**values) if values else text

    return t


def layered(language: str, *tables: Words) -> Callable[..., str]:
    """``t(key, **values)`` looking `key` up in `tables` in order (in `language`, then in
    English), then in the app's words: how a page adds its own words to the shared ones."""
    fallback = translator(language)

    def t(key: str, **values: object) -> str:
        for table in tables:
            text = table.get(language, table["en"]).get(key) or table["en"].get(key)
            if text is not None:
                return text.format(**values) if values else text
        return fallback(key, **values)

    return t


def request_language(request: Any) -> str:
    """The workspace language the app renders `request` in."""
    lang = request.app.state.templates.env.globals.get("lang", "en")
    return lang if isinstance(lang, str) else "en"
