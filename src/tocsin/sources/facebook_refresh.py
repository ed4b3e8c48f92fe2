"""Engagement refresh of a Facebook page's posts and comments through Graph ``?ids=`` lookups.

One request reads up to 50 objects of one kind: ``GET /{version}/?ids=a,b&fields=…``. Posts
(ids ``<page id>_<post>``) are asked for their reactions, shares and comment count
(``reactions.limit(0).summary(true)``, ``shares``, ``comments.limit(0).summary(true)``),
comments (ids ``<post>_<comment>``) for ``like_count`` and ``comment_count``. The page's numeric
id is looked up once (``GET /{page_id}?fields=id``) when `page_id` is a username.

Graph refuses a whole ``?ids=`` request when one object is gone ("Some of the aliases you
requested do not exist: …", code 803 or 100): the ids it names are dropped (a deleted post or
comment is just not returned) and the rest asked again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tocsin.sources.base import RawItem, SourceError

if TYPE_CHECKING:
    from tocsin.sources.facebook import FacebookPageSource

__all__ = ["BATCH", "POST_METRICS", "refresh_objects"]

BATCH = 50
"""Ids per ``?ids=`` request (Graph's limit)."""
POST_METRICS = "comments.limit(0).summary(true),reactions.limit(0).summary(true),shares"
_GRAPH_ID = re.compile(r"\d+_\d+")
_MISSING = re.compile(r"do(?:es)? not exist:?\s*([\w,\s]+)")
_MISSING_CODES = frozenset({100, 803})


async def refresh_objects(
    source: FacebookPageSource,
    native_ids: Sequence[str],
    *,
    post_fields: str,
    comment_fields: str,
) -> list[RawItem]:
    """The current version of each post and comment of `native_ids` still on the page."""
    ids = [i for i in dict.fromkeys(native_ids) if _GRAPH_ID.fullmatch(i)][:BATCH]
    if not ids:
        return []
    page = await _numeric_page_id(source)
    posts = [i for i in ids if i.startswith(f"{page}_")]
    comments = [i for i in ids if i not in posts]
    items: list[RawItem] = []
    for kind, group, fields in (
        ("post", posts, f"{post_fields},{POST_METRICS}"),
        ("comment", comments, comment_fields),
    ):
        found = await _lookup(source, group, fields)
        for object_id in group:
            data = found.get(object_id)
            if isinstance(data, dict) and data.get("message"):
                post_id = object_id if kind == "post" else f"{page}_{object_id.split('_')[0]}"
                context = {
                    "id": post_id,
                    "permalink_url": data.get("permalink_url", "") if kind == "post" else "",
                }
                payload = {"kind": kind, "data": data, "post": context}
                items += _checked(source, RawItem(source.key, object_id, payload, object_id))
    return items


def _checked(source: FacebookPageSource, item: RawItem) -> list[RawItem]:
    """``[item]`` when it normalises, else ``[]`` (a refresh that cannot be read changes
    nothing)."""
    try:
        source.normalise(item)
    except (ValueError, TypeError, KeyError, AttributeError):
        return []
    return [item]


async def _numeric_page_id(source: FacebookPageSource) -> str:
    """`page_id` when numeric, else the id Graph gives for it (asked once, then kept)."""
    opts = source.options
    if opts.page_id.isdigit():
        return opts.page_id
    if source.numeric_page_id is None:
        url = f"{opts.base_url}/{opts.api_version}/{opts.page_id}?fields=id"
        found = (await source.get_json(url)).get("id")
        if not isinstance(found, str) or not found.isdigit():
            raise SourceError(f"Graph gave no numeric id for page {opts.page_id!r}")
        source.numeric_page_id = found
    return source.numeric_page_id


async def _lookup(source: FacebookPageSource, ids: list[str], fields: str) -> dict[str, Any]:
    """``{id: object}`` for the `ids` that still exist (those Graph says are gone are left out)."""
    opts = source.options
    left = list(ids)
    for _attempt in range(3):
        if not left:
            return {}
        query = urlencode({"ids": ",".join(left), "fields": fields})
        try:
            return await source.get_json(f"{opts.base_url}/{opts.api_version}/?{query}")
        except SourceError as exc:  # a GraphError carries Facebook's `code`
            gone = _missing_ids(exc)
            if getattr(exc, "code", None) not in _MISSING_CODES or not gone & set(left):
                raise
            left = [i for i in left if i not in gone]
    return {}


def _missing_ids(exc: SourceError) -> set[str]:
    """The ids named by Graph's "Some of the aliases you requested do not exist: a,b"."""
    match = _MISSING.search(str(exc))
    return {part.strip() for part in match.group(1).split(",")} if match else set()
