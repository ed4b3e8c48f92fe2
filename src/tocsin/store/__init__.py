"""Storage: the only place tocsin speaks SQL (SQLAlchemy Core on SQLite or PostgreSQL)."""

from __future__ import annotations

from tocsin.store.database import StoreError, normalise_url
from tocsin.store.store import SaveResult, Store

__all__ = ["SaveResult", "Store", "StoreError", "normalise_url"]
