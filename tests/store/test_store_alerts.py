"""AlertStore on SQLite and PostgreSQL: alerts once per key with their first deliveries,
watching alerts, acknowledgement and escalation state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0, make_delivery

from tocsin.alert import Alert
from tocsin.store import Store
from tocsin.store.alerts import AlertStore
from tocsin.store.outbox import NewDelivery, Outbox

HOUR = timedelta(hours=1)


@pytest.fixture
def alerts(store: Store) -> AlertStore:
    return AlertStore(store)


def make_alert(key: str = "neg:rss:1", **fields: object) -> Alert:
    values: dict[str, object] = {
        "key": key,
        "rule": "negative",
        "kind": "negative_mention",
        "subject": "rss:1",
        "title": "Negative mention",
        "created_at": T0,
        "reasons": ("negative", "priority 62 ≥ 45"),
        "mention_id": "rss:1",
        "details": {"priority": 62},
    }
    values.update(fields)
    return Alert(**values)  # type: ignore[arg-type]


def test_save_once_per_key_with_its_deliveries(alerts: AlertStore, outbox: Outbox) -> None:
    saved, new = alerts.save(make_alert(), [make_delivery("a"), make_delivery("b")], now=T0)
    assert new
    assert saved.id is not None
    again, new_again = alerts.save(make_alert(title="other"), [make_delivery("c")], now=T0)
    assert not new_again
    assert again.id == saved.id
    assert again.title == "Negative mention"
    assert again.reasons == ("negative", "priority 62 ≥ 45")
    assert again.details == {"priority": 62}
    rows = outbox.deliveries(alert_id=saved.id)
    assert [d.key for d in rows] == ["a", "b"]
    assert outbox.deliveries(status="pending")[0].alert_id == saved.id
    assert [d.key for d in outbox.deliveries()] == ["a", "b"]  # "c" never enqueued


def test_deliveries_may_be_built_from_the_stored_alert(alerts: AlertStore, outbox: Outbox) -> None:
    def build(alert: Alert) -> list[NewDelivery]:
        return [make_delivery(f"alert-{alert.id}", body=f"/alerts/{alert.id}")]

    saved, _ = alerts.save(make_alert(), build, now=T0)
    (row,) = outbox.deliveries()
    assert row.key == f"alert-{saved.id}"
    assert row.body == f"/alerts/{saved.id}"


def test_save_is_all_or_nothing(alerts: AlertStore, outbox: Outbox) -> None:
    def broken(alert: Alert) -> list[NewDelivery]:
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError):
        alerts.save(make_alert(), broken, now=T0)
    assert alerts.get_by_key("neg:rss:1") is None
    _saved, new = alerts.save(make_alert(), [make_delivery()], now=T0)
    assert new
    assert len(outbox.deliveries()) == 1


def test_get_and_list_newest_first(alerts: AlertStore) -> None:
    for i in range(3):
        alerts.save(make_alert(f"k{i}", created_at=T0 + i * HOUR), now=T0)
    alerts.save(make_alert("w", state="watching", created_at=T0 + 5 * HOUR), now=T0)
    assert [a.key for a in alerts.list()] == ["w", "k2", "k1", "k0"]
    assert [a.key for a in alerts.list(states=["open"], limit=2)] == ["k2", "k1"]
    assert [a.key for a in alerts.list(since=T0 + HOUR, states=("open",))] == ["k2", "k1"]
    k1 = alerts.get_by_key("k1")
    assert k1 is not None
    assert k1.id is not None
    assert alerts.get(k1.id) == k1
    assert k1.created_at == T0 + HOUR
    assert k1.created_at.tzinfo is not None
    assert alerts.get(10_000) is None


def test_watching_alert_opens_once_with_its_deliveries(alerts: AlertStore, outbox: Outbox) -> None:
    watched, _ = alerts.save(make_alert(state="watching"), now=T0)
    assert outbox.deliveries() == []
    opened = alerts.open_watching(
        watched.key,
        lambda a: [make_delivery(f"open-{a.id}")],
        now=T0 + HOUR,
        reasons=["engagement crossed 45"],
        escalation="default",
        next_escalation_at=T0 + 2 * HOUR,
    )
    assert opened is not None
    assert opened.state == "open"
    assert opened.reasons == ("engagement crossed 45",)
    assert [d.key for d in outbox.deliveries()] == [f"open-{watched.id}"]
    # a second re-evaluation finds it open already: nothing more is sent
    assert alerts.open_watching(watched.key, [make_delivery("again")], now=T0 + HOUR) is None
    assert alerts.open_watching("unknown", [make_delivery("x")], now=T0) is None
    assert len(outbox.deliveries()) == 1
    (due,) = alerts.due_escalations(T0 + 2 * HOUR)
    assert due.alert.id == watched.id
    assert due.escalation == "default"
    assert due.step == 0


def test_acknowledge_stops_escalation_and_is_idempotent(alerts: AlertStore) -> None:
    saved, _ = alerts.save(make_alert(), now=T0, escalation="default", next_escalation_at=T0 + HOUR)
    assert saved.id is not None
    assert [d.alert.id for d in alerts.due_escalations(T0 + HOUR)] == [saved.id]
    assert alerts.due_escalations(T0 + HOUR - timedelta(seconds=1)) == []
    acked = alerts.acknowledge(saved.id, "alice", now=T0 + timedelta(minutes=5))
    assert acked is not None
    assert acked.state == "acknowledged"
    again = alerts.acknowledge(saved.id, "bob", now=T0 + timedelta(minutes=9))
    assert again is not None
    assert (again.acknowledged_by, again.acknowledged_at) == ("alice", T0 + timedelta(minutes=5))
    assert alerts.due_escalations(T0 + 10 * HOUR) == []
    # a late escalation step does not re-arm an acknowledged alert
    assert alerts.set_escalation(saved.id, "default", 1, T0 + 2 * HOUR) is None
    resolved = alerts.resolve(saved.id, "bob", now=T0 + HOUR)
    assert resolved is not None
    assert resolved.state == "resolved"
    assert resolved.acknowledged_by == "alice"
    assert resolved.resolved_by == "bob"
    late_ack = alerts.acknowledge(saved.id, "carol", now=T0 + 2 * HOUR)
    assert late_ack is not None
    assert late_ack.state == "resolved"
    assert alerts.resolve(saved.id, "dave", now=T0 + 3 * HOUR) == resolved
    assert alerts.acknowledge(10_000, "x", now=T0) is None
    assert alerts.resolve(10_000, "x", now=T0) is None


def test_set_escalation_enqueues_the_steps_deliveries(alerts: AlertStore, outbox: Outbox) -> None:
    saved, _ = alerts.save(make_alert(), now=T0, next_escalation_at=T0, escalation="e")
    assert saved.id is not None
    with pytest.raises(ValueError, match="now"):
        alerts.set_escalation(saved.id, "e", 1, None, deliveries=[make_delivery("s1")])
    assert alerts.set_escalation(
        saved.id, "e", 1, T0 + HOUR, deliveries=[make_delivery("s1")], now=T0
    )
    (due,) = alerts.due_escalations(T0 + HOUR)
    assert due.step == 1
    assert due.next_at == T0 + HOUR
    assert [(d.key, d.alert_id) for d in outbox.deliveries()] == [("s1", saved.id)]
    assert alerts.set_escalation(saved.id, "e", 2, None) == 0
    assert alerts.due_escalations(T0 + 100 * HOUR) == []


def test_taking_an_alert_cancels_its_unsent_pages_only(alerts: AlertStore, outbox: Outbox) -> None:
    first, _ = alerts.save(make_alert(), [make_delivery("rule:ops")], now=T0)
    other, _ = alerts.save(make_alert("neg:rss:2"), [], now=T0)
    assert first.id is not None
    assert other.id is not None
    pages = [
        make_delivery("esc:[1]", alert_id=first.id),
        make_delivery("esc:[2]", alert_id=first.id),
    ]
    outbox.enqueue([*pages, make_delivery("esc:[3]", alert_id=other.id)], now=T0)
    claimed = outbox.claim_due(T0, limit=2)  # oldest first: the rule's message and page 1
    assert [d.key for d in claimed] == ["rule:ops", "esc:[1]"]
    alerts.acknowledge(first.id, "alice", now=T0)
    status = {d.key: d.status for d in outbox.deliveries()}
    assert status["esc:[2]"] == "cancelled"  # would only wake someone else
    assert status["esc:[1]"] == "sending"  # already in flight: left to its outcome
    assert status["esc:[3]"] == "pending"  # another alert's page
    alerts.resolve(first.id, "alice", now=T0)  # nothing left to cancel: no error
