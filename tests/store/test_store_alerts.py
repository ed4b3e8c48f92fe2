"""AlertStore on SQLite and PostgreSQL: alerts once per key, the outbox, claims and leases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from store_helpers import T0

from tocsin.alert import Alert
from tocsin.store import Store
from tocsin.store.alerts import AlertStore, NewDelivery, clean_error

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


def delivery(key: str = "d1", channel: str = "ops", **fields: object) -> NewDelivery:
    values: dict[str, object] = {
        "channel": channel,
        "recipient": "alice",
        "title": "t",
        "body": "b",
        "key": key,
        "expires_at": T0 + 24 * HOUR,
    }
    values.update(fields)
    return NewDelivery(**values)  # type: ignore[arg-type]


def test_save_once_per_key_with_its_deliveries(alerts: AlertStore) -> None:
    saved, new = alerts.save(make_alert(), [delivery("a"), delivery("b")], now=T0)
    assert new
    assert saved.id is not None
    again, new_again = alerts.save(make_alert(title="other"), [delivery("c")], now=T0)
    assert not new_again
    assert again.id == saved.id
    assert again.title == "Negative mention"
    assert again.reasons == ("negative", "priority 62 ≥ 45")
    assert again.details == {"priority": 62}
    rows = alerts.deliveries(alert_id=saved.id)
    assert [d.key for d in rows] == ["a", "b"]
    assert alerts.deliveries(status="pending")[0].alert_id == saved.id
    assert [d.key for d in alerts.deliveries()] == ["a", "b"]  # "c" never enqueued


def test_deliveries_may_be_built_from_the_stored_alert(alerts: AlertStore) -> None:
    def build(alert: Alert) -> list[NewDelivery]:
        return [delivery(f"alert-{alert.id}", body=f"/alerts/{alert.id}")]

    saved, _ = alerts.save(make_alert(), build, now=T0)
    (row,) = alerts.deliveries()
    assert row.key == f"alert-{saved.id}"
    assert row.body == f"/alerts/{saved.id}"


def test_save_is_all_or_nothing(alerts: AlertStore) -> None:
    def broken(alert: Alert) -> list[NewDelivery]:
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError):
        alerts.save(make_alert(), broken, now=T0)
    assert alerts.get_by_key("neg:rss:1") is None
    _saved, new = alerts.save(make_alert(), [delivery()], now=T0)
    assert new
    assert len(alerts.deliveries()) == 1


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


def test_watching_alert_opens_once_with_its_deliveries(alerts: AlertStore) -> None:
    watched, _ = alerts.save(make_alert(state="watching"), now=T0)
    assert alerts.deliveries() == []
    opened = alerts.open_watching(
        watched.key,
        lambda a: [delivery(f"open-{a.id}")],
        now=T0 + HOUR,
        reasons=["engagement crossed 45"],
        escalation="default",
        next_escalation_at=T0 + 2 * HOUR,
    )
    assert opened is not None
    assert opened.state == "open"
    assert opened.reasons == ("engagement crossed 45",)
    assert [d.key for d in alerts.deliveries()] == [f"open-{watched.id}"]
    # a second re-evaluation finds it open already: nothing more is sent
    assert alerts.open_watching(watched.key, [delivery("again")], now=T0 + HOUR) is None
    assert alerts.open_watching("unknown", [delivery("x")], now=T0) is None
    assert len(alerts.deliveries()) == 1
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
    assert not alerts.set_escalation(saved.id, "default", 1, T0 + 2 * HOUR)
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


def test_set_escalation_enqueues_the_steps_deliveries(alerts: AlertStore) -> None:
    saved, _ = alerts.save(make_alert(), now=T0, next_escalation_at=T0, escalation="e")
    assert saved.id is not None
    with pytest.raises(ValueError, match="now"):
        alerts.set_escalation(saved.id, "e", 1, None, deliveries=[delivery("s1")])
    assert alerts.set_escalation(saved.id, "e", 1, T0 + HOUR, deliveries=[delivery("s1")], now=T0)
    (due,) = alerts.due_escalations(T0 + HOUR)
    assert due.step == 1
    assert due.next_at == T0 + HOUR
    assert [(d.key, d.alert_id) for d in alerts.deliveries()] == [("s1", saved.id)]
    assert alerts.set_escalation(saved.id, "e", 2, None)
    assert alerts.due_escalations(T0 + 100 * HOUR) == []


def test_enqueue_is_idempotent_by_key(alerts: AlertStore) -> None:
    assert alerts.enqueue([delivery("x"), delivery("y")], now=T0) == 2
    assert alerts.enqueue([delivery("x", body="changed"), delivery("z")], now=T0) == 1
    assert [(d.key, d.body, d.alert_id) for d in alerts.deliveries()] == [
        ("x", "b", None),
        ("y", "b", None),
        ("z", "b", None),
    ]


def test_claim_retry_send(alerts: AlertStore) -> None:
    alerts.enqueue([delivery("x"), delivery("later", not_before=T0 + HOUR)], now=T0)
    (claimed,) = alerts.claim_due(T0, limit=10, lease_seconds=60)
    assert claimed.key == "x"
    assert claimed.status == "sending"
    assert claimed.next_attempt_at == T0 + timedelta(seconds=60)
    assert alerts.claim_due(T0 + timedelta(seconds=59)) == []  # leased
    assert alerts.mark_failed(claimed.id, "HTTP 503 from hook", T0 + timedelta(seconds=30))
    (row,) = alerts.deliveries(status="pending", limit=1)
    assert (row.attempts, row.last_error) == (1, "HTTP 503 from hook")
    assert not alerts.mark_failed(claimed.id, "not sending any more", T0)
    (again,) = alerts.claim_due(T0 + timedelta(seconds=30))
    assert again.id == claimed.id
    assert again.attempts == 1
    assert alerts.mark_sent(again.id, T0 + timedelta(seconds=31))
    assert not alerts.mark_sent(again.id, T0 + timedelta(seconds=32))
    # a late failure report from a worker whose lease ran out does not undo the success
    assert not alerts.mark_failed(again.id, "late", T0 + timedelta(seconds=40))
    sent = alerts.deliveries(status="sent")
    assert [(d.key, d.attempts, d.sent_at) for d in sent] == [("x", 2, T0 + timedelta(seconds=31))]
    assert alerts.next_attempt_at() == T0 + HOUR
    assert [d.key for d in alerts.claim_due(T0 + HOUR)] == ["later"]


def test_a_dead_workers_lease_expires(alerts: AlertStore) -> None:
    alerts.enqueue([delivery("x")], now=T0)
    (first,) = alerts.claim_due(T0, lease_seconds=120)
    assert alerts.claim_due(T0 + timedelta(seconds=119)) == []
    (second,) = alerts.claim_due(T0 + timedelta(seconds=120), lease_seconds=120)
    assert second.id == first.id
    assert second.status == "sending"


def test_expire(alerts: AlertStore) -> None:
    alerts.enqueue(
        [delivery("old", expires_at=T0 + HOUR), delivery("new", expires_at=T0 + 9 * HOUR)],
        now=T0,
    )
    assert alerts.claim_due(T0 + 2 * HOUR, limit=10)[0].key == "new"  # "old" not claimable
    assert alerts.expire(T0 + 2 * HOUR) == 1
    assert alerts.expire(T0 + 2 * HOUR) == 0
    assert [d.key for d in alerts.deliveries(status="expired")] == ["old"]
    assert alerts.next_attempt_at() is not None
    assert alerts.expire(T0 + 9 * HOUR) == 1  # also a row left "sending"
    assert alerts.next_attempt_at() is None


def test_split_keeps_what_was_sent(alerts: AlertStore) -> None:
    alerts.enqueue([delivery("x", channel="team")], now=T0)
    (claimed,) = alerts.claim_due(T0)
    part = delivery("x#1", channel="team#1", not_before=T0 + timedelta(seconds=10))
    alerts.split(claimed.id, [part], now=T0, note="URL 1 of 2 failed")
    x, x1 = alerts.deliveries()
    assert (x.status, x.sent_at) == ("sent", T0)
    assert (x1.channel, x1.status, x1.attempts, x1.last_error) == (
        "team#1",
        "pending",
        1,
        "URL 1 of 2 failed",
    )
    assert alerts.claim_due(T0 + timedelta(seconds=9)) == []
    assert [d.key for d in alerts.claim_due(T0 + timedelta(seconds=10))] == ["x#1"]


def test_errors_are_cleaned() -> None:
    text = clean_error("refused by json://u:hunter2@127.0.0.1/x\x00\nnext line\x1b[31m")
    assert "hunter2" not in text
    assert "\n" not in text
    assert "\x1b" not in text
    assert len(clean_error("x" * 5000)) == 1000


def test_two_workers_never_claim_the_same_row(database_url: str) -> None:
    """Workers on separate connections (threads) claim disjoint sets of deliveries."""
    stores = [Store.open(database_url) for _ in range(4)]
    try:
        stores[0].upgrade()
        AlertStore(stores[0]).enqueue([delivery(f"d{i}") for i in range(200)], now=T0)
        claimed: list[list[int]] = [[] for _ in stores]
        barrier = threading.Barrier(len(stores))

        def work(n: int) -> None:
            store = AlertStore(stores[n])
            barrier.wait()
            while batch := store.claim_due(T0, limit=7, lease_seconds=600):
                claimed[n].extend(d.id for d in batch)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        every = [i for ids in claimed for i in ids]
        assert len(every) == 200
        assert len(set(every)) == 200
    finally:
        for s in stores:
            s.close()


def test_taking_an_alert_cancels_its_unsent_pages_only(alerts: AlertStore) -> None:
    first, _ = alerts.save(make_alert(), [delivery("rule:ops")], now=T0)
    other, _ = alerts.save(make_alert("neg:rss:2"), [], now=T0)
    assert first.id is not None
    assert other.id is not None
    pages = [delivery("esc:[1]", alert_id=first.id), delivery("esc:[2]", alert_id=first.id)]
    alerts.enqueue([*pages, delivery("esc:[3]", alert_id=other.id)], now=T0)
    claimed = alerts.claim_due(T0, limit=2)  # oldest first: the rule's message and page 1
    assert [d.key for d in claimed] == ["rule:ops", "esc:[1]"]
    alerts.acknowledge(first.id, "alice", now=T0)
    status = {d.key: d.status for d in alerts.deliveries()}
    assert status["esc:[2]"] == "cancelled"  # would only wake someone else
    assert status["esc:[1]"] == "sending"  # already in flight: left to its outcome
    assert status["esc:[3]"] == "pending"  # another alert's page
    alerts.resolve(first.id, "alice", now=T0)  # nothing left to cancel: no error
