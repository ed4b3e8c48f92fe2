"""SQL for detection state that must survive a restart: streaming detectors' state (JSON)
and each watch's crisis level."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tocsin.store.tables import crisis_levels, detector_state

__all__ = ["CrisisRow", "load_crisis", "load_states", "save_crisis", "save_states"]

CrisisRow = tuple[int, datetime, tuple[str, ...]]
"""(level, since, reasons) of a watch."""


def load_states(conn: sa.Connection, prefix: str) -> dict[str, dict[str, Any]]:
    t = detector_state
    query = sa.select(t.c.name, t.c.state).where(t.c.name.startswith(prefix, autoescape=True))
    out: dict[str, dict[str, Any]] = {}
    for name, text in conn.execute(query):
        try:
            value = json.loads(text)
        except ValueError:
            continue  # unreadable: the detector starts afresh
        if isinstance(value, dict):
            out[name] = value
    return out


def save_states(
    conn: sa.Connection, insert: Any, states: Mapping[str, Mapping[str, Any]], now: datetime
) -> None:
    if not states:
        return
    rows = [
        {"name": name, "state": json.dumps(dict(state)), "updated_at": now}
        for name, state in states.items()
    ]
    stmt = insert(detector_state)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt, rows)


def load_crisis(conn: sa.Connection) -> dict[str, CrisisRow]:
    t = crisis_levels
    out: dict[str, CrisisRow] = {}
    for row in conn.execute(sa.select(t)):
        try:
            reasons = json.loads(row.reasons)
        except ValueError:
            reasons = []
        out[row.watch] = (int(row.level), row.since, tuple(str(r) for r in reasons))
    return out


def save_crisis(
    conn: sa.Connection, insert: Any, watch: str, row: CrisisRow, now: datetime
) -> None:
    level, since, reasons = row
    values = {
        "watch": watch,
        "level": level,
        "since": since,
        "reasons": json.dumps(list(reasons), ensure_ascii=True),
        "updated_at": now,
    }
    stmt = insert(crisis_levels).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["watch"], set_={k: v for k, v in values.items() if k != "watch"}
    )
    conn.execute(stmt)
