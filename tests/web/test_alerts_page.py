"""The alerts page: open alerts, acknowledge, resolve (audited), who is on call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from triage_web_helpers import T0, Env, make_env

from tocsin.alert import Alert
from tocsin.store import Store


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    yield make_env(store)
    store.close()


def _alert(store: Store, key: str = "k1", title: str = "Negative mention") -> int:
    alert = Alert(
        key=key,
        rule="negative",
        kind="negative_mention",
        subject="rss:1",
        title=title,
        created_at=T0,
        reasons=("priority 80",),
        url="javascript:alert(1)",
    )
    stored, _ = store.alerts.save(alert, [], now=T0)
    assert stored.id is not None
    return stored.id


def test_open_alerts_and_who_is_on_call(env: Env) -> None:
    first = _alert(env.store, title="<script>alert(1)</script>")
    page = env.client.get("/alerts", headers=env.as_("vera"))
    assert page.status_code == 200
    assert f"Alert #{first}" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'href="javascript:' not in page.text
    # 2026-11-25 is a Wednesday, 13:00 in Paris: business hours
    assert "<strong>comms</strong>: alice (business hours until 18:00)" in page.text
    assert 'action="/alerts/' not in page.text  # viewers only read
    responder = env.client.get("/alerts", headers=env.as_("rita"))
    assert f'action="/alerts/{first}/ack"' in responder.text
    assert 'name="csrf"' in responder.text
    assert env.client.get("/alerts").headers["location"] == "/login?next=/alerts"


def test_acknowledge_and_resolve_are_audited(env: Env) -> None:
    alert_id = _alert(env.store)
    assert env.client.post(f"/alerts/{alert_id}/ack", headers=env.as_("vera")).status_code == 403
    done = env.client.post(f"/alerts/{alert_id}/ack", headers=env.as_("rita"))
    assert done.status_code == 303
    assert done.headers["location"] == f"/alerts/{alert_id}?done=ack"
    page = env.client.get(done.headers["location"], headers=env.as_("rita"))
    assert "Alert acknowledged." in page.text
    assert "acknowledged by Rita" in page.text
    again = env.client.post(f"/alerts/{alert_id}/ack", headers=env.as_("rob"))
    assert again.status_code == 303
    stored = env.store.alerts.get(alert_id)
    assert stored is not None
    assert stored.acknowledged_by == "Rita"
    env.client.post(f"/alerts/{alert_id}/resolve", headers=env.as_("rob"))
    entries = env.audit()
    assert [(e.action, e.subject, e.actor) for e in entries] == [
        ("alert.ack", f"alert:{alert_id}", "rita@example.org"),
        ("alert.resolve", f"alert:{alert_id}", "rob@example.org"),
    ]
    assert json.loads(entries[0].before)["state"] == "open"
    assert json.loads(entries[0].after)["state"] == "acknowledged"
    assert f"Alert #{alert_id}" not in env.client.get("/alerts", headers=env.as_("vera")).text
    resolved = env.client.get("/alerts?view=resolved", headers=env.as_("vera"))
    assert f"Alert #{alert_id}" in resolved.text


def test_unknown_alert(env: Env) -> None:
    assert env.client.get("/alerts/999", headers=env.as_("vera")).status_code == 404
    assert env.client.post("/alerts/999/ack", headers=env.as_("rita")).status_code == 404


def test_an_alert_shows_how_its_messages_stand(env: Env) -> None:
    """A page that never reached its person must be visible: expired and retrying messages
    are flagged on the list and detailed on the alert's page, channel errors as text."""
    from tocsin.store.outbox import NewDelivery

    alert_id = _alert(env.store)
    later = T0 + timedelta(hours=1)

    def message(key: str, recipient: str, expires: datetime) -> NewDelivery:
        return NewDelivery("ops", recipient, "t", "b", key, expires, alert_id=alert_id)

    outbox = env.store.outbox
    outbox.enqueue(
        [
            message("rule:ops", "ops", later),
            message("esc:[1]", "carol", T0 + timedelta(seconds=30)),
        ],
        now=T0,
    )
    sent, failing = outbox.claim_due(T0, limit=2)
    outbox.mark_sent(sent.id, T0)
    outbox.mark_failed(failing.id, "HTTP 503 <b>down</b>", later)
    outbox.expire(T0 + timedelta(minutes=1))
    page = env.client.get("/alerts", headers=env.as_("vera"))
    assert "1 sent · 1 never delivered (expired)" in page.text
    assert 'class="messages undelivered"' in page.text
    detail = env.client.get(f"/alerts/{alert_id}", headers=env.as_("vera"))
    assert "carol" in detail.text
    assert "HTTP 503 &lt;b&gt;down&lt;/b&gt;" in detail.text
    assert '<details class="deliveries" open>' in detail.text
