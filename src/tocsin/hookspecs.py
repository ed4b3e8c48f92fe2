"""Every plugin hook of tocsin, one docstring each, and nothing else.

Built-in features register through these hooks exactly like outside plugins do (a package
declares an entry point in the ``tocsin`` group pointing at a module with ``@hookimpl``s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tocsin.config import Enrich
    from tocsin.sources.base import Source

hookspec = pluggy.HookspecMarker("tocsin")
hookimpl = pluggy.HookimplMarker("tocsin")


@hookspec
def tocsin_sources() -> list[type[Source]]:
    """Return source classes (subclasses of `tocsin.sources.base.Source`) this plugin adds.

    Each class is registered under its `name`; two plugins may not claim the same name.
    """
    raise NotImplementedError


@hookspec
def tocsin_enrichers(settings: Enrich, languages: tuple[str, ...]) -> list[Any]:
    """Return enrichers to run on matched mentions, in order (language, sentiment, ...),
    configured from the workspace's ``[enrich]`` `settings` and its organisation's
    `languages` (ISO 639-1, most used first; empty when there is no workspace).

    An enricher has a `name` and ``enrich(mentions: list[Mention]) -> list[Mention]``
    (see `tocsin.enrich.base.Enricher`). Built-in enrichers run first, plugins' after.
    """
    raise NotImplementedError
