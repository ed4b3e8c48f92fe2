"""Keep secrets out of reprs, logs and error messages.

A key is secret when one of its words (split on ``_``, ``-``, ``.``) is ``key``,
``credentials`` or ends with ``token``, ``password``, ``passwd``, ``secret``, ``apikey``,
``privatekey`` (``accesstoken``, ``apikey``). ``keywords`` or ``monkey_count`` are not
secret; ``api_key``, ``private-key`` and ``client_secret`` are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretBytes, SecretStr

__all__ = ["REDACTED", "is_secret_key", "redact_mapping", "redact_url", "redact_value"]

REDACTED = "**********"
_SECRET_WORDS = frozenset({"key", "credential", "credentials", "auth", "authorization"})
_SECRET_ENDINGS = ("token", "password", "passwd", "secret", "apikey", "privatekey")
_WORD_SPLIT = re.compile(r"[_\-.\s]+")


def is_secret_key(name: str) -> bool:
    """Whether a setting called `name` holds a secret that must never be shown."""
    words = _WORD_SPLIT.split(name.lower())
    return any(word in _SECRET_WORDS or word.endswith(_SECRET_ENDINGS) for word in words)


def redact_url(url: str) -> str:
    """``postgresql://me:pw@host/db`` -> ``postgresql://me:**********@host/db``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{netloc}"))


def redact_value(key: str, value: Any) -> Any:
    """`value` as it may be shown: hidden when `key` is secret, URLs without passwords."""
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if is_secret_key(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    return value


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `values` safe to show: secret keys hidden, URL passwords hidden."""
    return {key: redact_value(str(key), value) for key, value in values.items()}
