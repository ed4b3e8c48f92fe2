"""Send a message to a configured `Channel` through apprise, without leaking its secrets.

A channel's URLs carry secrets (Slack and Teams tokens in the path, SMTP passwords, bot
tokens, webhook paths). apprise logs whole URLs at DEBUG and connection errors that quote the
request path at WARNING, so:

- its ``apprise`` logger does not propagate into tocsin's logs (`quiet_apprise_logging`, done
  on import; apprise's own per-call capture still sees the records);
- what `send` returns as an error is built from that capture and *scrubbed*: every part of
  the URL except its scheme, host and port (user, password, path segments, query values) is
  replaced by ``***`` wherever it appears, percent-encoded or not, and any URL in the text
  is cut down to ``scheme://host``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from tocsin.confignotify import Channel

__all__ = [
    "DEFAULT_TIMEOUT",
    "SendResult",
    "describe_url",
    "quiet_apprise_logging",
    "register_secrets",
    "scrub",
    "secrets_of",
    "send",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds one channel URL may take before the attempt counts as failed."""

_MASK = "***"
_ERROR_LIMIT = 500
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]]*[^\s'\"<>()\[\].,;:!?]")
_SPLIT = re.compile(r"[/:@?&=#,;+\s]+")
_MIN_SECRET = 3  # shorter fragments ("a", "v2") would shred the error text for nothing
_HOST_SCHEMES = frozenset({"mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms"})

log = logging.getLogger(__name__)


def _preload_imghdr() -> None:
    """apprise's e-mail plugin imports PGPy, which imports ``imghdr`` (deprecated since
    Python 3.11, removed in 3.13, where apprise installs a shim): import it once here with
    its DeprecationWarning silenced, so loading apprise's plugins does not warn."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with contextlib.suppress(ImportError):
            importlib.import_module("imghdr")


_preload_imghdr()


class _SecretFilter(logging.Filter):
    """Rewrites log records that quote a registered secret (scrubbed like errors)."""

    def __init__(self) -> None:
        super().__init__("")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        cleaned = scrub(message, self.secrets)
        if cleaned != " ".join(message.split()):
            record.msg, record.args = cleaned, None
        return True


_FILTER = _SecretFilter()
_FILTERED_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry", "urllib3")


def register_secrets(urls: Iterable[str]) -> None:
    """Remember the secrets of `urls` so that no log record of apprise (or of urllib3, which
    it sends HTTP through) can show them. `send` registers its channel's URLs itself."""
    for url in urls:
        _FILTER.secrets |= secrets_of(url)


def quiet_apprise_logging() -> None:
    """Keep apprise's log records (which quote channel URLs, tokens included) out of
    tocsin's logs, and scrub registered secrets from any record of apprise or urllib3 that a
    handler attached directly to those loggers would see."""
    logger = logging.getLogger("apprise")  # apprise.logger.LOGGER_NAME
    logger.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())  # not Python's last-resort stderr handler
    for name in _FILTERED_LOGGERS:
        named = logging.getLogger(name)
        if _FILTER not in named.filters:
            named.addFilter(_FILTER)


quiet_apprise_logging()


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one message to one channel: `ok` when every URL tried accepted it;
    otherwise `error` (never containing a secret of the URLs) and `failed`, the indexes
    (in ``channel.urls``) that did not get it — the others did."""

    ok: bool
    error: str = ""
    failed: tuple[int, ...] = ()


def describe_url(url: str) -> str:
    """Where a URL points, safe to show: ``scheme://host[:port]`` for the schemes whose host
    is a real host (mail, webhooks), else only ``scheme://…`` (``tgram://TOKEN/...``,
    ``slack://T/B/C`` keep tokens where a host would be)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower() or "?"
    if scheme not in _HOST_SCHEMES:
        return f"{scheme}://…"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{scheme}://{parts.hostname or ''}{port}"


def secrets_of(url: str) -> set[str]:
    """The parts of `url` that may be secret, raw and percent-decoded: user, password, path
    segments, query values, fragment (and the host, unless the scheme's host is a real
    host). Query keys and the scheme are not secret."""
    parts = urlsplit(url)
    try:
        port = str(parts.port or "")
    except ValueError:  # "tgram://123456:ABCdef/..." has a token where a port would be
        port = ""
    public = {parts.scheme.lower(), port}
    if parts.scheme.lower() in _HOST_SCHEMES:
        public.add((parts.hostname or "").lower())
    netloc = parts.netloc.rsplit(":", 1)[0] if port else parts.netloc
    pieces = [*_SPLIT.split(netloc), *_SPLIT.split(parts.path), *_SPLIT.split(parts.fragment)]
    pieces += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    if parts.password:
        pieces.append(parts.password)
    found: set[str] = set()
    for piece in pieces:
        for value in (piece, unquote(piece)):
            if len(value) >= _MIN_SECRET and value.lower() not in public:
                found.add(value)
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ``***`` and every URL cut to ``scheme://host``."""
    text = _URL.sub(lambda m: describe_url(m.group(0)), text)
    for secret in sorted(set(secrets), key=len, reverse=True):  # longest first
        if secret:
            text = text.replace(secret, _MASK)
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"


def _asset() -> apprise.AppriseAsset:
    return apprise.AppriseAsset(
        app_id="tocsin",
        app_desc="tocsin social listening",
        storage_mode=apprise.PersistentStoreMode.MEMORY,
    )


async def _send_url(url: str, title: str, body: str, timeout: float) -> str | None:
    """Send to one URL; None on success, else a (not yet scrubbed) reason."""
    app = apprise.Apprise(asset=_asset())
    if not app.add(url):
        return "apprise does not understand this URL (check the channel's settings)"
    try:
        result = await asyncio.wait_for(
            app.async_notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.MARKDOWN,
                timeout=timeout,
            ),
            timeout + 5.0,  # apprise's own limit should fire first
        )
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:  # a plugin bug must not stop the outbox
        return f"{type(exc).__name__}: {exc}"
    if result:
        return None
    messages = [
        entry.message
        for entry in result.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL", "DEPRECATION WARNING")
    ]
    reason = "; ".join(dict.fromkeys(messages)) or "the service refused the message"
    status = getattr(result.status, "name", "")
    return f"{reason} ({status.lower()})" if status and status != "FAILURE" else reason


async def send(
    channel: Channel,
    title: str,
    body: str,
    *,
    only: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SendResult:
    """Send `title` and `body` (markdown; converted by apprise where a service needs HTML or
    text) to every URL of `channel`, concurrently, or only to ``channel.urls[only]``."""
    if only is not None and not 0 <= only < len(channel.urls):
        return SendResult(
            ok=False,
            error=f"channel {channel.name!r} has no URL number {only + 1} any more "
            f"(it has {len(channel.urls)}): the configuration changed since this message "
            "was queued",
            failed=(only,),
        )
    indexes = list(range(len(channel.urls))) if only is None else [only]
    register_secrets(channel.urls)
    reasons = await asyncio.gather(
        *(_send_url(channel.urls[i], title, body, timeout) for i in indexes)
    )
    failed = tuple(i for i, reason in zip(indexes, reasons, strict=True) if reason is not None)
    if not failed:
        return SendResult(ok=True)
    errors = []
    for i, reason in zip(indexes, reasons, strict=True):
        if reason is None:
            continue
        url = channel.urls[i]
        where = f"URL {i + 1} of {len(channel.urls)} ({describe_url(url)})"
        errors.append(f"{where}: {scrub(reason, secrets_of(url))}")
    everything = {s for url in channel.urls for s in secrets_of(url)}
    error = scrub(f"channel {channel.name!r}: " + "; ".join(errors), everything)
    return SendResult(ok=False, error=error, failed=failed)
