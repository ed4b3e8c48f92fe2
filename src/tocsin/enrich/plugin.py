"""The built-in enrichment chain, registered by hook like any plugin's enrichers.

Order matters: language first (sentiment and demand read it), then sentiment, demand and
stories, and reach last (priority weighs sentiment, urgency and reach together).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tocsin.config import Enrich
from tocsin.enrich.demand import DemandEnricher
from tocsin.enrich.language import LanguageEnricher, LanguageOptions
from tocsin.enrich.reach import PriorityWeights, ReachEnricher
from tocsin.enrich.sentiment import SentimentEnricher
from tocsin.enrich.stories import StoriesEnricher, StoriesOptions
from tocsin.hookspecs import hookimpl

__all__ = ["tocsin_enrichers"]


@hookimpl
def tocsin_enrichers(settings: Enrich, languages: tuple[str, ...]) -> list[Any]:
    weights = PriorityWeights(
        negative_retelling=settings.negative_retelling,
        positive_retelling=settings.positive_retelling,
    )
    return [
        LanguageEnricher(LanguageOptions(preferred=languages or ("en", "fr"))),
        SentimentEnricher(
            settings.sentiment, Path(path) if (path := settings.sentiment_model_path) else None
        ),
        DemandEnricher(),
        StoriesEnricher(StoriesOptions(window_hours=settings.story_window_hours)),
        ReachEnricher(weights),
    ]
