"""The plugin manager: built-in plugins and outside ones (entry point group ``tocsin``)."""

from __future__ import annotations

import functools
import importlib

import pluggy

from tocsin import hookspecs
from tocsin.sources.base import Source

__all__ = ["BUILTIN_PLUGINS", "plugin_manager", "source_classes"]

BUILTIN_PLUGINS: tuple[str, ...] = (
    "tocsin.sources.rss",
    "tocsin.sources.file",
    "tocsin.sources.hackernews",
    "tocsin.sources.reddit",
    "tocsin.sources.mastodon",
    "tocsin.sources.bluesky",
    "tocsin.sources.webpage",
    "tocsin.sources.facebook",
    "tocsin.sources.youtube",
    "tocsin.sources.x",
    "tocsin.enrich.plugin",
)


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built-ins first, then installed plugins."""
    pm = pluggy.PluginManager("tocsin")
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    pm.load_setuptools_entrypoints("tocsin")
    return pm


def source_classes(pm: pluggy.PluginManager | None = None) -> dict[str, type[Source]]:
    """Every registered source class by platform name; a name claimed twice is an error."""
    pm = pm or plugin_manager()
    found: dict[str, type[Source]] = {}
    for classes in pm.hook.tocsin_sources():
        for cls in classes:
            if cls.name in found and found[cls.name] is not cls:
                raise RuntimeError(
                    f"two plugins register a source named {cls.name!r}: "
                    f"{found[cls.name].__module__} and {cls.__module__}; uninstall one"
                )
            found[cls.name] = cls
    return dict(sorted(found.items()))
