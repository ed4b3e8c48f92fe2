"""One JSON API request for keyed sources (YouTube, X) that need the body of an error answer.

`tocsin.sources.http.fetch` raises on any 4xx/5xx without reading the body, but keyed APIs say
*why* in the body (``quotaExceeded``, ``keyInvalid``, a rule's syntax error) and accept
``POST``. `send` returns every status with its (bounded) body; transport failures become
`SourceError`s that name the method and URL, never the request headers, which hold the secret.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tocsin.sources.base import SourceError
from tocsin.sources.http import USER_AGENT

__all__ = ["ApiResponse", "send"]


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A status, headers and body; `doc` is the parsed JSON body, or None if it is not JSON."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    @property
    def doc(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None

    def json_object(self, what: str) -> dict[str, Any]:
        """The body as a JSON object; `SourceError` naming the URL and `what` was expected."""
        try:
            doc = json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SourceError(
                f"{self.url} did not return valid JSON ({exc}); expected {what}. "
                "Check `base_url`: it must point at the API root"
            ) from exc
        if not isinstance(doc, dict):
            raise SourceError(
                f"{self.url} returned a JSON {type(doc).__name__}, not {what}; check `base_url`"
            )
        return doc


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    max_bytes: int,
    json_body: object = None,
) -> ApiResponse:
    """Send one request and read its body (at most `max_bytes`), whatever the status."""
    request_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
    try:
        async with asyncio.timeout(timeout * 4):
            request = client.build_request(
                method, url, headers=request_headers, json=json_body, timeout=timeout
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                body = await _read(response, url, max_bytes)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise SourceError(
            f"{method} {url} timed out after {timeout:g}s; raise `timeout` in the source "
            "options if the API is just slow"
        ) from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"{method} {url} failed: {type(exc).__name__}") from exc
    return ApiResponse(response.status_code, response.headers, body, url)


async def _read(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    """The decoded body; `SourceError` past `max_bytes`."""
    out = bytearray()
    async for chunk in response.aiter_bytes():
        out += chunk
        if len(out) > max_bytes:
            raise SourceError(
                f"{url}: body exceeds {max_bytes} bytes; raise `max_bytes` in the source options"
            )
    return bytes(out)
