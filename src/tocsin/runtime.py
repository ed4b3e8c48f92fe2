"""Assembles a running tocsin from a workspace: store, sources, matcher, enrichers, pipeline.

The CLI (and later the web app) call these; nothing here knows a platform by name — sources
and enrichers come from the plugin hooks.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import pluggy

from tocsin import __version__
from tocsin.clock import Clock
from tocsin.config import ConfigError, Enrich, Retention, Settings, load_settings
from tocsin.enrich.base import Enricher
from tocsin.events import SOURCE_DOWN, SOURCE_UP
from tocsin.health import health_events
from tocsin.pipeline import Pipeline
from tocsin.plugins import plugin_manager, source_classes
from tocsin.query import And, Matcher, Near, Node, Or, Phrase, Term, Wildcard, parse
from tocsin.sources.base import Source, SourceOptions
from tocsin.store import Store

__all__ = [
    "USER_AGENT",
    "SettingsListener",
    "build_matcher",
    "build_sources",
    "enforce_retention",
    "enrichers",
    "follow_settings",
    "http_client",
    "monitor_sources",
    "open_store",
    "pipeline_listener",
    "query_terms",
    "run_until_signalled",
    "source_changes",
    "watch_changes",
    "zero_config_sources",
]

log = logging.getLogger("tocsin")

USER_AGENT = f"tocsin/{__version__} (self-hosted social listening)"


def http_client() -> httpx.AsyncClient:
    """The one HTTP client sources share: redirects are followed by hand, never blindly."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        timeout=httpx.Timeout(20.0, connect=10.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def open_store(settings: Settings, workspace: Path, *, upgrade: bool = True) -> Store:
    """Open the workspace's database and bring its schema up to date."""
    store = Store.open(settings.database_url_for(workspace), workspace=workspace)
    if upgrade:
        store.upgrade()
    return store


def build_matcher(settings: Settings) -> Matcher:
    """Compile the enabled watches of the workspace."""
    return Matcher({w.name: parse(w.query) for w in settings.watches if w.enabled})


def build_sources(
    settings: Settings,
    *,
    client: httpx.AsyncClient,
    clock: Clock,
    pm: pluggy.PluginManager | None = None,
) -> list[Source]:
    """Instantiate every enabled source of the workspace from its registered class."""
    classes = source_classes(pm)
    return [
        classes[kind](name, options, client=client, clock=clock)
        for kind, name, options in settings.source_configs()
    ]


def enrichers(
    settings: Settings | None = None, pm: pluggy.PluginManager | None = None
) -> list[Enricher]:
    """Every enricher registered by plugins, built-ins first, configured by the workspace's
    `settings` (the defaults without a workspace)."""
    pm = pm or plugin_manager()
    groups = pm.hook.tocsin_enrichers(
        settings=settings.enrich if settings else Enrich(),
        languages=tuple(settings.organisation.languages) if settings else (),
    )
    return [enricher for group in reversed(groups) for enricher in group]


async def run_until_signalled(pipeline: Pipeline, *, signals: Sequence[int] | None = None) -> None:
    """Run the pipeline until SIGINT/SIGTERM; the first signal drains, a second one aborts."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    wanted = signals if signals is not None else (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        if stop.is_set():
            log.warning("second signal: stopping now; unsaved batches will be fetched again")
            raise KeyboardInterrupt
        log.info("stopping: finishing the batches in flight (press Ctrl-C again to abort)")
        stop.set()

    for sig in wanted:
        loop.add_signal_handler(sig, on_signal)
    try:
        await pipeline.run(stop)
    finally:
        for sig in wanted:
            loop.remove_signal_handler(sig)


async def monitor_sources(
    store: Store, sources: Sequence[Source], clock: Clock, *, every: float = 60.0
) -> None:
    """Record a `source_down` event when a source stops delivering (and `source_up` when it
    is back), checking every `every` seconds; alerting notifies them."""
    kinds = (SOURCE_DOWN, SOURCE_UP)
    while True:
        await clock.sleep(every)
        # read each time: the list changes when tocsin.toml's sources are edited
        intervals = {s.key: getattr(s.options, "interval", None) for s in sources}
        now = clock.now()
        health = {h.source: h for h in await asyncio.to_thread(store.health, now=now)}
        last = {key: await asyncio.to_thread(store.last_event, key, kinds) for key in intervals}
        for event in health_events(intervals, health, last, now=now):
            log.log(
                logging.ERROR if event.kind == SOURCE_DOWN else logging.INFO, "%s", event.message
            )
            await asyncio.to_thread(store.record_event, event)


async def enforce_retention(
    store: Store, retention: Retention, clock: Clock, *, every: float = 3600.0
) -> None:
    """Delete mentions and ingestion errors older than the workspace's retention, hourly."""
    while True:
        now = clock.now()
        removed = await asyncio.to_thread(
            store.purge,
            mentions_before=now - timedelta(days=retention.mentions_days),
            errors_before=now - timedelta(days=retention.errors_days),
        )
        if removed:
            log.info("retention: removed %d row(s) older than the configured retention", removed)
        await clock.sleep(every)


def query_terms(node: Node) -> list[str]:
    """The words and phrases a query looks for (not the excluded ones), for source searches.

    Wildcards give their stem (`rembours*` -> `rembours`) when it is at least 3 letters.
    """
    found: list[str] = []
    if isinstance(node, Term):
        found.append(node.text.lstrip("#@"))
    elif isinstance(node, Phrase):
        found.append(" ".join(node.words))
    elif isinstance(node, Wildcard):
        stem = node.pattern.lstrip("#@").split("*")[0].split("?")[0]
        if len(stem) >= 3:
            found.append(stem)
    elif isinstance(node, Near):
        found += query_terms(node.left) + query_terms(node.right)
    elif isinstance(node, And | Or):
        for child in node.children:
            found += query_terms(child)
    return list(dict.fromkeys(t for t in found if t))


def zero_config_sources(
    terms: Sequence[str],
    *,
    client: httpx.AsyncClient,
    clock: Clock,
    only: Sequence[str] = (),
    pm: pluggy.PluginManager | None = None,
) -> list[Source]:
    """Every source that can listen for `terms` with no key or setup (or those in `only`)."""
    classes = source_classes(pm)
    unknown = sorted(set(only) - set(classes))
    if unknown:
        raise ValueError(
            f"unknown source(s): {', '.join(unknown)}; choose among {', '.join(classes)}"
        )
    return [
        cls(key, options, client=client, clock=clock)
        for name, cls in classes.items()
        if not only or name in only
        for key, options in cls.zero_config(terms)
    ]


def watch_changes(current: Matcher, settings: Settings) -> dict[str, Node | None]:
    """What to apply to `current` so it matches the enabled watches of `settings`."""
    wanted = {w.name: parse(w.query) for w in settings.watches if w.enabled}
    changes: dict[str, Node | None] = {
        name: node for name, node in wanted.items() if current.watches.get(name) != node
    }
    changes.update({name: None for name in current.watches if name not in wanted})
    return changes


def source_changes(
    old: Settings, new: Settings, running: Sequence[Source]
) -> tuple[list[Source], list[tuple[str, str, SourceOptions]]]:
    """Which of the `running` sources (built from `old`) to keep as they are, and the
    ``(type, name, options)`` of the enabled sources of `new` to build afresh."""
    before = {name: (kind, options) for kind, name, options in old.source_configs()}
    by_name = {source.key: source for source in running}
    keep: list[Source] = []
    build: list[tuple[str, str, SourceOptions]] = []
    for kind, name, options in new.source_configs():
        source = by_name.get(name)
        if source is not None and before.get(name) == (kind, options):
            keep.append(source)
        else:
            build.append((kind, name, options))
    return keep, build


SettingsListener = Callable[[Settings], None]


async def follow_settings(
    workspace: Path,
    clock: Clock,
    listeners: Sequence[SettingsListener],
    *,
    every: float = 5.0,
) -> None:
    """Apply edits of tocsin.toml (by hand, or from the web Settings) without a restart.

    The file is checked every `every` seconds; each listener gets the new settings (the
    pipeline's watches and sources, alerting, the web app). A file with mistakes is reported
    and ignored: what is in force stays until it is fixed.
    """
    path = workspace / "tocsin.toml"
    seen = path.stat().st_mtime_ns if path.exists() else 0
    while True:
        await clock.sleep(every)
        mtime = path.stat().st_mtime_ns if path.exists() else 0
        if mtime == seen:
            continue
        seen = mtime
        try:
            settings = await asyncio.to_thread(load_settings, workspace)
        except ConfigError as exc:
            log.error("tocsin.toml changed but has mistakes; nothing applied:\n%s", exc)
            continue
        for listener in listeners:
            try:
                listener(settings)
            except Exception:
                log.exception("applying the edited tocsin.toml failed in %r", listener)


def pipeline_listener(
    pipeline: Pipeline,
    settings: Settings,
    *,
    client: httpx.AsyncClient,
    clock: Clock,
    pm: pluggy.PluginManager | None = None,
) -> SettingsListener:
    """Give the running `pipeline` the watches and sources of each new settings: watches
    recompiled only where changed, sources restarted only where their options changed."""
    current = settings

    def apply(new: Settings) -> None:
        nonlocal current
        changes = watch_changes(pipeline.matcher, new)
        if changes:
            pipeline.matcher = pipeline.matcher.with_watches(changes)
            log.info("watches applied: %s", ", ".join(sorted(changes)))
        keep, build = source_changes(current, new, pipeline.sources)
        if build or len(keep) != len(pipeline.sources):
            classes = source_classes(pm)
            built = [classes[k](n, o, client=client, clock=clock) for k, n, o in build]
            stopped = len(pipeline.sources) - len(keep)
            pipeline.replace_sources([*keep, *built])
            log.info(
                "sources applied: %d kept, %d (re)started, %d stopped",
                len(keep),
                len(built),
                stopped,
            )
        current = new

    return apply
