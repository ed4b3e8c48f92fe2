"""``TOCSIN_*`` environment overrides and ``{organisation}`` substitution in raw settings.

``TOCSIN_<SECTION>_<KEY>`` overrides a key of a single-table section (organisation, database,
retention, run, enrich, web, notify): ``TOCSIN_DATABASE_URL``, ``TOCSIN_RUN_LOG_LEVEL``. List
keys take comma-separated values (``TOCSIN_ORGANISATION_LANGUAGES=fr,en,de``). Other
``TOCSIN_`` variables are ignored; `unknown_env_vars` names those that look like a typo of a
setting.
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from tocsin.tomlpos import Path as KeyPath

__all__ = [
    "ENV_PREFIX",
    "ENV_SECTIONS",
    "NOT_CONFIG",
    "apply_env",
    "env_keys",
    "substitute_organisation",
    "typo_env_vars",
]

ENV_PREFIX = "TOCSIN_"
ENV_SECTIONS = ("organisation", "database", "retention", "run", "enrich", "web", "notify")
NOT_CONFIG = frozenset({"TOCSIN_WORKSPACE", "TOCSIN_REQUIRE_SERVICES"})


def env_keys(root: type[BaseModel]) -> dict[str, tuple[str, str, bool]]:
    """``{"TOCSIN_RUN_LOG_LEVEL": ("run", "log_level", is_list)}`` for every overridable key."""
    keys: dict[str, tuple[str, str, bool]] = {}
    for section in ENV_SECTIONS:
        model = root.model_fields[section].annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"settings section {section!r} must be a model")
        for key, field in model.model_fields.items():
            is_list = typing.get_origin(field.annotation) is list
            keys[f"{ENV_PREFIX}{section}_{key}".upper()] = (section, key, is_list)
    return keys


def apply_env(
    data: Mapping[str, Any], env: Mapping[str, str], root: type[BaseModel]
) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    """`data` with the environment's overrides, and which variable set which key."""
    out = copy.deepcopy(dict(data))
    origins: dict[KeyPath, str] = {}
    for var, (section, key, is_list) in env_keys(root).items():
        if var not in env:
            continue
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            continue
        value: Any = env[var]
        if is_list:
            value = [item.strip() for item in value.split(",") if item.strip()]
        table[key] = value
        origins[(section, key)] = var
    return out, origins


def typo_env_vars(env: Mapping[str, str], root: type[BaseModel]) -> list[str]:
    """Warnings for ``TOCSIN_`` variables that are no setting but look like one."""
    known = env_keys(root)
    warnings = []
    for var in sorted(env):
        upper = var.upper()
        if not upper.startswith(ENV_PREFIX) or var in known or upper in NOT_CONFIG:
            continue
        if upper.startswith(f"{ENV_PREFIX}TEST_"):
            continue
        close = difflib.get_close_matches(upper, list(known), n=1, cutoff=0.8)
        if close:
            warnings.append(
                f"{var} is not a tocsin setting and is ignored; did you mean {close[0]}?"
            )
    return warnings


def _is_url_key(key: str) -> bool:
    return key in ("url", "urls") or key.endswith(("_url", "_urls"))


def _substitute(value: Any, values: Mapping[str, str], *, url: bool) -> Any:
    if isinstance(value, list):
        return [_substitute(item, values, url=url) for item in value]
    if not isinstance(value, str) or "{organisation" not in value:
        return value
    for placeholder, text in values.items():
        value = value.replace(placeholder, quote(text, safe="") if url else text)
    return value


def substitute_organisation(data: Mapping[str, Any]) -> dict[str, Any]:
    """Replace ``{organisation}`` and ``{organisation_tag}`` in watch queries and source options.

    ``{organisation}`` is the organisation's name; ``{organisation_tag}`` the same in lower
    case without spaces or punctuation (for ``#hashtags`` and ``@handles``). In the values of
    URL keys (``url``, ``*_url``) both are percent-encoded; in queries double quotes are
    dropped from the name so that ``"{organisation}"`` stays one phrase.
    """
    out = dict(data)
    organisation = out.get("organisation")
    name = organisation.get("name") if isinstance(organisation, Mapping) else None
    if not isinstance(name, str) or not name:
        return out
    values = {
        "{organisation}": name,
        "{organisation_tag}": re.sub(r"[\W_]+", "", name).lower(),
    }
    in_query = {key: text.replace('"', " ").strip() for key, text in values.items()}
    if isinstance(out.get("watches"), list):
        out["watches"] = [
            {k: _substitute(v, in_query, url=False) if k == "query" else v for k, v in w.items()}
            if isinstance(w, Mapping)
            else w
            for w in out["watches"]
        ]
    if isinstance(out.get("sources"), list):
        out["sources"] = [
            {
                k: v if k in ("type", "name") else _substitute(v, values, url=_is_url_key(k))
                for k, v in s.items()
            }
            if isinstance(s, Mapping)
            else s
            for s in out["sources"]
        ]
    return out
