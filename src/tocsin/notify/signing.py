"""Signed action links: "acknowledge" and "resolve" straight from a message.

A token names an alert, an action, who it was sent to, and when it expires, and carries an
HMAC-SHA256 of all that under the workspace's secret::

    <alert id, base 36>.<a|r><recipient>.<expiry, unix seconds in base 36>.<MAC>

e.g. ``2n9c.aalice.tb4xk0.Jz2Zr5b3Jc1u7H0x5pUT``: readable, URL-safe, and under 100
characters (for SMS) for any person name (a name has at most 63 characters). The MAC is the
first 15 bytes of the HMAC (120 bits: RFC 2104 asks for at least 80, and a forger must try
each guess against the server), in URL-safe base64 (20 characters, no padding), compared
in constant time.

The secret is ``[notify] signing_secret`` (use ``"env:NAME"`` to keep it out of the file);
when it is empty, `workspace_secret` creates a random one in the workspace, once.

A link only proves that its holder received the message. Opening it (GET) must only show a
confirmation page: chat apps (Slack, Teams) and mail scanners open links to preview them.
The action happens on the page's POST.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

__all__ = [
    "ACTIONS",
    "SECRET_FILE",
    "InvalidLink",
    "SignedAction",
    "sign",
    "signing_secret",
    "verify",
    "workspace_secret",
]

Action = Literal["ack", "resolve"]
ACTIONS: dict[str, str] = {"ack": "a", "resolve": "r"}
"""The actions a link can carry, and their one-letter code in the token."""

SECRET_FILE = ".tocsin-secret"  # noqa: S105 (a file name, not a secret)
"""The file, in the workspace, that holds the generated secret."""

_CODES = {code: action for action, code in ACTIONS.items()}
_DOMAIN = b"tocsin-action-link-v1\x00"
_MAC_BYTES = 15
_WHO = re.compile(r"^[a-z0-9_-]{0,63}$")
_TOKEN = re.compile(
    r"^([0-9a-z]{1,13})\.([a-z])([a-z0-9_-]{0,63})\.([0-9a-z]{1,13})\.([A-Za-z0-9_-]{20})$"
)


class InvalidLink(ValueError):
    """A link that must not be acted upon; the message says why, for the page to show."""


@dataclass(frozen=True, slots=True)
class SignedAction:
    """What a valid token asks: `action` on alert `alert_id`, by `who` (the recipient the
    link was sent to, "" for a shared channel), valid until `expires_at` (UTC)."""

    alert_id: int
    action: Action
    who: str
    expires_at: datetime


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError(
            "no signing secret: set [notify] signing_secret, or use workspace_secret()"
        )
    return key


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, _DOMAIN + payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).rstrip(b"=").decode("ascii")


def sign(secret: str | bytes, alert_id: int, action: str, who: str, expires_at: datetime) -> str:
    """A token for `action` (``"ack"`` or ``"resolve"``) on alert `alert_id`, sent to the
    person `who` ("" for a channel), valid until the aware datetime `expires_at`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown link action {action!r}; one of {', '.join(ACTIONS)}")
    if not _WHO.match(who):
        raise ValueError(f"{who!r} is not a person's name (lower case letters, digits, - and _)")
    if alert_id < 0:
        raise ValueError(f"alert id {alert_id} is negative")
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError(f"expires_at must be timezone-aware, got {expires_at.isoformat()}")
    expiry = max(0, int(expires_at.timestamp()))
    payload = f"{_base36(alert_id)}.{ACTIONS[action]}{who}.{_base36(expiry)}"
    return f"{payload}.{_mac(_key(secret), payload)}"


def verify(secret: str | bytes, token: str, now: datetime) -> SignedAction:
    """The action `token` carries, if it was signed with `secret` and has not expired at the
    aware datetime `now`. Raises `InvalidLink` saying what is wrong otherwise."""
    key = _key(secret)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise InvalidLink("this link is incomplete or malformed; copy the whole link again")
    payload, mac = match.group(0).rsplit(".", 1)
    if not hmac.compare_digest(_mac(key, payload).encode(), mac.encode()):
        raise InvalidLink(
            "this link's signature does not match: it was altered, or tocsin's signing "
            "secret changed since it was sent; acknowledge from tocsin instead"
        )
    alert36, code, who, expiry36 = match.group(1, 2, 3, 4)
    if code not in _CODES:
        raise InvalidLink(f"this link asks for an unknown action {code!r}")
    expires_at = datetime.fromtimestamp(int(expiry36, 36), UTC)
    if now >= expires_at:
        raise InvalidLink(
            f"this link expired at {expires_at:%Y-%m-%d %H:%M} UTC; "
            "acknowledge from tocsin (web or `tocsin ack ID`) instead"
        )
    action: Action = "ack" if _CODES[code] == "ack" else "resolve"
    return SignedAction(int(alert36, 36), action, who, expires_at)


def workspace_secret(workspace: Path | str) -> str:
    """The workspace's generated signing secret, created on first use.

    The secret lives in ``<workspace>/.tocsin-secret``, readable by its owner only (0600; a
    looser mode is tightened). It is written to a temporary file and hard-linked into place,
    so processes starting together all end up with the same secret. Delete the file to
    change the secret: links already sent stop working.
    """
    path = Path(workspace) / SECRET_FILE
    if not path.exists():
        temporary = path.with_name(f"{SECRET_FILE}.{secrets.token_hex(8)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)  # atomic, and never replaces a secret in use
        finally:
            temporary.unlink(missing_ok=True)
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError(f"{path} is empty; delete it and tocsin will create a new secret")
    return secret


def signing_secret(configured: str, workspace: Path | str) -> str:
    """The secret to sign links with: `configured` (``[notify] signing_secret``) when set,
    else the workspace's generated one."""
    return configured or workspace_secret(workspace)
