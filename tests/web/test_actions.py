"""Signed action links: a GET only asks, the POST acts; bad links are refused clearly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tocsin.alert import Alert
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.notify.signing import sign
from tocsin.store import Store
from tocsin.web import create_app
from tocsin.web.app import SECURITY_HEADERS

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRET = "web-test-secret"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    settings = Settings.model_validate(
        {"organisation": {"name": "Acme", "languages": ["fr", "en"]}}
    )
    return TestClient(create_app(settings, store, secret=SECRET, clock=FakeClock(T0)))


def _alert(store: Store, title: str = "Mention négative sur brand") -> int:
    alert = Alert(
        key="k1",
        rule="negative",
        kind="negative_mention",
        subject="x:1",
        title=title,
        created_at=T0,
        reasons=("priorité 70",),
    )
    stored, _ = store.alerts.save(alert, [], now=T0)
    assert stored.id is not None
    return stored.id


def _token(alert_id: int, action: str = "ack", **kw: object) -> str:
    expires = kw.get("expires", T0 + timedelta(days=7))
    return sign(SECRET, alert_id, action, "alice", expires)  # type: ignore[arg-type]


def test_opening_the_link_only_asks_and_the_button_acknowledges(
    client: TestClient, store: Store
) -> None:
    alert_id = _alert(store)
    page = client.get(f"/a/{_token(alert_id)}")
    assert page.status_code == 200
    assert f"Prendre en charge l'alerte n° {alert_id} ?" in unescape(page.text)
    assert '<form method="post"' in page.text
    assert store.alerts.get(alert_id).state == "open"  # type: ignore[union-attr]
    done = client.post(f"/a/{_token(alert_id)}")
    assert done.status_code == 200
    assert "prise en charge par alice" in done.text
    acked = store.alerts.get(alert_id)
    assert acked is not None
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", "alice")
    resolved = client.post(f"/a/{_token(alert_id, 'resolve')}")
    assert "close par alice" in resolved.text
    assert client.post(f"/a/{_token(alert_id, 'resolve')}").status_code == 200  # again
    logged = [(e.actor, e.action) for e in store.users.audit_entries()]
    assert sorted(logged) == [("link:alice", "alert.ack"), ("link:alice", "alert.resolve")]


def test_tampered_expired_and_unknown_links_are_refused(client: TestClient, store: Store) -> None:
    alert_id = _alert(store)
    token = _token(alert_id)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, _token(alert_id, expires=T0 - timedelta(seconds=1))):
        for response in (client.get(f"/a/{bad}"), client.post(f"/a/{bad}")):
            assert response.status_code == 400
            assert "Ce lien n'est pas utilisable" in unescape(response.text)
    assert store.alerts.get(alert_id).state == "open"  # type: ignore[union-attr]
    gone = client.get(f"/a/{_token(9999)}")
    assert gone.status_code == 404


def test_pages_are_escaped_and_carry_security_headers(client: TestClient, store: Store) -> None:
    alert_id = _alert(store, title='<script>alert(1)</script><img src=x onerror="x()">')
    page = client.get(f"/a/{_token(alert_id)}")
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert page.headers["Cache-Control"] == "no-store"
