"""Built-in sources register through the same hook as outside plugins."""

from __future__ import annotations

from typing import ClassVar

import pluggy
import pytest

import tocsin
from tocsin import hookspecs
from tocsin.hookspecs import hookimpl
from tocsin.plugins import BUILTIN_PLUGINS, plugin_manager, source_classes
from tocsin.sources.rss import RssSource


def test_builtin_sources_are_registered_by_hook() -> None:
    classes = source_classes()
    assert {"rss", "import", "replay"} <= set(classes)
    assert classes["rss"] is RssSource
    pm = plugin_manager()
    assert all(pm.has_plugin(name) for name in BUILTIN_PLUGINS)


def test_every_source_declares_name_description_and_options() -> None:
    for name, cls in source_classes().items():
        assert cls.name == name
        assert cls.description.strip(), f"{name} has no description"
        assert cls.Options.model_config.get("extra") == "forbid"


def test_two_plugins_claiming_one_name_is_an_error() -> None:
    class Impostor(RssSource):
        name: ClassVar[str] = "rss"

    class Plugin:
        @hookimpl
        def tocsin_sources(self) -> list[type[RssSource]]:
            return [Impostor]

    pm = pluggy.PluginManager("tocsin")
    pm.add_hookspecs(hookspecs)
    pm.register(__import__("tocsin.sources.rss", fromlist=["x"]))
    pm.register(Plugin())
    with pytest.raises(RuntimeError, match="two plugins register a source named 'rss'"):
        source_classes(pm)


def test_public_api_is_declared() -> None:
    assert set(tocsin.__all__) == {"Author", "Mention", "Metrics", "Sentiment", "__version__"}
    for name in tocsin.__all__:
        assert hasattr(tocsin, name), name
