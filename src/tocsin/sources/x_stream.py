"""X rules and filtered stream: query translation, rule sync, line reader, reconnect backoff.

`x_query` turns a tocsin query that uses only words, phrases, AND/OR/NOT/- and parentheses
into X search syntax, and refuses the rest (wildcards, NEAR, field filters) naming `rules`.

Rules: the rules this source wants are tagged ``tocsin:<source key>``; `sync_rules` reads the
app's rule set, deletes this source's stale rules, adds the missing ones, and leaves every rule
with another tag alone. The stream is one JSON object per line, with ``\\r\\n`` keep-alives every
20 s; a line cut by a dropped connection is never parsed. `Backoff` is X's documented policy:
linear (+250 ms, up to 16 s) for network errors, exponential (5 s doubling, up to 320 s) for
HTTP errors, exponential from 60 s for 429, never sooner than ``x-rate-limit-reset``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tocsin.sources.api_request import ApiResponse, send
from tocsin.sources.base import SourceError
from tocsin.sources.http import parse_retry_after

__all__ = [
    "Backoff",
    "RuleChange",
    "StreamCut",
    "error_detail",
    "parse_line",
    "rate_limit_reset",
    "read_lines",
    "sync_rules",
    "x_query",
]

RULES_PATH = "/2/tweets/search/stream/rules"
_TOKEN = re.compile(r'\s*(?:(")([^"]*)"|([()])|(-)|([^\s()"]+))')
_WORD = re.compile(r"[\w#@$][\w'.&-]*", re.UNICODE)


def x_query(query: str) -> str:
    """`query` in X syntax; `ValueError` for tocsin operators X lacks (write `rules` then)."""
    out: list[str] = []
    negate = False
    pos = 0
    for match in _TOKEN.finditer(query):
        if match.start() != pos:
            break
        pos = match.end()
        quote, phrase, paren, minus, word = match.groups()
        if minus or word == "NOT":
            negate = True
            continue
        if word == "AND":
            continue
        if quote:
            term = f'"{phrase}"'
        elif paren or word == "OR":
            term = paren or "OR"
        elif word and _WORD.fullmatch(word) and not word.endswith(("*", "?")):
            term = word
        else:
            raise ValueError(
                f"query {query!r}: {word!r} has no X equivalent (wildcards, NEAR, {{exact}} and "
                "field filters are tocsin-only); write the X search in `rules` instead, e.g. "
                "rules = ['acme (refund OR broken) -is:retweet']"
            )
        out.append(("-" if negate and term != ")" else "") + term)
        negate = False
    if pos != len(query.rstrip()) and query[pos:].strip():
        raise ValueError(f"query {query!r} cannot be read near {query[pos:][:20]!r}")
    return " ".join(out).replace("( ", "(").replace(" )", ")")


class StreamCut(SourceError):
    """The stream ended or broke (network level): reconnect with linear backoff."""


@dataclass(frozen=True, slots=True)
class RuleChange:
    """What `sync_rules` did: the rule values added and the rule ids deleted."""

    added: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


def error_detail(response: ApiResponse) -> str:
    """X's short explanation from an error body (``detail``/``title``/``errors[].message``)."""
    doc = response.doc
    if not isinstance(doc, dict):
        return ""
    parts = [doc.get(k) for k in ("title", "detail", "reason")]
    for error in doc.get("errors") or []:
        if isinstance(error, dict):
            parts.append(error.get("message") or error.get("detail"))
    text = "; ".join(p for p in parts if isinstance(p, str) and p)
    return f" ({text[:300]})" if text else ""


async def sync_rules(
    client: httpx.AsyncClient,
    base_url: str,
    *,
    wanted: Sequence[str],
    tag: str,
    headers: Mapping[str, str],
    timeout: float,
) -> RuleChange:
    """Make the app's rules tagged `tag` exactly `wanted`; other tags are not touched."""
    url = f"{base_url}{RULES_PATH}"
    listed = await _rules_call(client, "GET", url, None, headers, timeout)
    current = [r for r in listed.get("data") or [] if isinstance(r, dict)]
    ours = {r.get("value"): r for r in current if r.get("tag") == tag}
    stale = tuple(str(r["id"]) for v, r in ours.items() if v not in wanted and "id" in r)
    missing = tuple(v for v in dict.fromkeys(wanted) if v not in ours)
    if stale:
        await _rules_call(client, "POST", url, {"delete": {"ids": list(stale)}}, headers, timeout)
    if missing:
        body = {"add": [{"value": v, "tag": tag} for v in missing]}
        done = await _rules_call(client, "POST", url, body, headers, timeout)
        _check_added(done, url)
    return RuleChange(missing, stale)


async def _rules_call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: object,
    headers: Mapping[str, str],
    timeout: float,
) -> dict[str, Any]:
    response = await send(
        client, method, url, headers=headers, timeout=timeout, max_bytes=1_000_000, json_body=body
    )
    if response.status >= 400:
        raise SourceError(
            f"{method} {url} returned HTTP {response.status}{error_detail(response)}; "
            "check `bearer_token` and that your X access level includes the filtered stream "
            "(else set `stream = false`)"
        )
    return response.json_object("a stream rules answer")


def _check_added(doc: Mapping[str, Any], url: str) -> None:
    """Raise naming each rule X refused (syntax, length, too many rules)."""
    refused = []
    for error in doc.get("errors") or []:
        if isinstance(error, dict) and error.get("title") != "DuplicateRule":
            refused.append(
                f"{error.get('value', '?')!r}: {error.get('title', '')} {error.get('details', '')}"
            )
    if refused:
        raise SourceError(
            f"POST {url}: X refused rule(s) {'; '.join(refused)}; fix them in `rules` (X syntax) "
            "or simplify `query`"
        )


async def read_lines(response: httpx.Response, url: str) -> AsyncIterator[str]:
    """Complete, non-blank lines of a streamed body; `StreamCut` when it ends or breaks."""
    buffer = ""
    try:
        async for chunk in response.aiter_text():
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if line.strip():
                    yield line.strip()
    except httpx.TimeoutException as exc:
        raise StreamCut(
            f"stream {url} was silent longer than `stream_timeout` (X sends a keep-alive every "
            "20s); reconnecting"
        ) from exc
    except httpx.HTTPError as exc:
        raise StreamCut(f"stream {url} was cut: {type(exc).__name__}; reconnecting") from exc
    cut = f" mid-line ({len(buffer)} characters dropped)" if buffer.strip() else ""
    raise StreamCut(f"stream {url} ended{cut}; reconnecting and catching up by search")


class Backoff:
    """X's reconnect policy; `delay` gives the wait before the next attempt."""

    def __init__(self) -> None:
        self.network = 0
        self.http = 0
        self.limited = 0

    def reset(self) -> None:
        """A connection worked: the next failure starts over (an immediate reconnect)."""
        self.network = self.http = self.limited = 0

    def delay(self, exc: SourceError, status: int | None, reset_in: float | None) -> float:
        """Seconds to wait after `exc` (HTTP `status` if any; 429's reset in seconds)."""
        if status == 429:
            self.limited += 1
            wait = 60.0 * 2 ** (self.limited - 1)
            return float(max(wait, reset_in or 0.0, exc.retry_after or 0.0))
        if status is not None:
            self.http += 1
            return float(max(min(320.0, 5.0 * 2 ** (self.http - 1)), exc.retry_after or 0.0))
        self.network += 1
        return min(16.0, 0.25 * (self.network - 1))


def rate_limit_reset(headers: httpx.Headers, now: datetime) -> float | None:
    """Seconds until ``x-rate-limit-reset`` (epoch seconds), else from ``Retry-After``."""
    reset = headers.get("x-rate-limit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - now.timestamp())
    return parse_retry_after(headers.get("retry-after"), now)


def parse_line(line: str) -> object:
    """One stream line as JSON; `ValueError` naming the problem."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"stream line is not JSON ({exc})") from exc
