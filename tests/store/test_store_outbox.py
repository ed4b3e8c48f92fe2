"""The outbox on SQLite and PostgreSQL: enqueue once per key, claims and leases, retries,
expiry, splits, and two workers never claiming the same row."""

from __future__ import annotations

import threading
from datetime import timedelta

from store_helpers import T0, make_delivery

from tocsin.store import Store
from tocsin.store.outbox import Outbox, clean_error

HOUR = timedelta(hours=1)


def test_enqueue_is_idempotent_by_key(outbox: Outbox) -> None:
    assert outbox.enqueue([make_delivery("x"), make_delivery("y")], now=T0) == 2
    assert outbox.enqueue([make_delivery("x", body="changed"), make_delivery("z")], now=T0) == 1
    assert [(d.key, d.body, d.alert_id) for d in outbox.deliveries()] == [
        ("x", "b", None),
        ("y", "b", None),
        ("z", "b", None),
    ]


def test_claim_retry_send(outbox: Outbox) -> None:
    outbox.enqueue([make_delivery("x"), make_delivery("later", not_before=T0 + HOUR)], now=T0)
    (claimed,) = outbox.claim_due(T0, limit=10, lease_seconds=60)
    assert claimed.key == "x"
    assert claimed.status == "sending"
    assert claimed.next_attempt_at == T0 + timedelta(seconds=60)
    assert outbox.claim_due(T0 + timedelta(seconds=59)) == []  # leased
    assert outbox.mark_failed(claimed.id, "HTTP 503 from hook", T0 + timedelta(seconds=30))
    (row,) = outbox.deliveries(status="pending", limit=1)
    assert (row.attempts, row.last_error) == (1, "HTTP 503 from hook")
    assert not outbox.mark_failed(claimed.id, "not sending any more", T0)
    (again,) = outbox.claim_due(T0 + timedelta(seconds=30))
    assert again.id == claimed.id
    assert again.attempts == 1
    assert outbox.mark_sent(again.id, T0 + timedelta(seconds=31))
    assert not outbox.mark_sent(again.id, T0 + timedelta(seconds=32))
    # a late failure report from a worker whose lease ran out does not undo the success
    assert not outbox.mark_failed(again.id, "late", T0 + timedelta(seconds=40))
    sent = outbox.deliveries(status="sent")
    assert [(d.key, d.attempts, d.sent_at) for d in sent] == [("x", 2, T0 + timedelta(seconds=31))]
    assert outbox.next_attempt_at() == T0 + HOUR
    assert [d.key for d in outbox.claim_due(T0 + HOUR)] == ["later"]


def test_a_dead_workers_lease_expires(outbox: Outbox) -> None:
    outbox.enqueue([make_delivery("x")], now=T0)
    (first,) = outbox.claim_due(T0, lease_seconds=120)
    assert outbox.claim_due(T0 + timedelta(seconds=119)) == []
    (second,) = outbox.claim_due(T0 + timedelta(seconds=120), lease_seconds=120)
    assert second.id == first.id
    assert second.status == "sending"


def test_expire(outbox: Outbox) -> None:
    outbox.enqueue(
        [
            make_delivery("old", expires_at=T0 + HOUR),
            make_delivery("new", expires_at=T0 + 9 * HOUR),
        ],
        now=T0,
    )
    assert outbox.claim_due(T0 + 2 * HOUR, limit=10)[0].key == "new"  # "old" not claimable
    assert outbox.expire(T0 + 2 * HOUR) == 1
    assert outbox.expire(T0 + 2 * HOUR) == 0
    assert [d.key for d in outbox.deliveries(status="expired")] == ["old"]
    assert outbox.next_attempt_at() is not None
    assert outbox.expire(T0 + 9 * HOUR) == 1  # also a row left "sending"
    assert outbox.next_attempt_at() is None


def test_split_keeps_what_was_sent(outbox: Outbox) -> None:
    outbox.enqueue([make_delivery("x", channel="team")], now=T0)
    (claimed,) = outbox.claim_due(T0)
    part = make_delivery("x#1", channel="team#1", not_before=T0 + timedelta(seconds=10))
    outbox.split(claimed.id, [part], now=T0, note="URL 1 of 2 failed")
    x, x1 = outbox.deliveries()
    assert (x.status, x.sent_at) == ("sent", T0)
    assert (x1.channel, x1.status, x1.attempts, x1.last_error) == (
        "team#1",
        "pending",
        1,
        "URL 1 of 2 failed",
    )
    assert outbox.claim_due(T0 + timedelta(seconds=9)) == []
    assert [d.key for d in outbox.claim_due(T0 + timedelta(seconds=10))] == ["x#1"]


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
        Outbox(stores[0]).enqueue([make_delivery(f"d{i}") for i in range(200)], now=T0)
        claimed: list[list[int]] = [[] for _ in stores]
        barrier = threading.Barrier(len(stores))

        def work(n: int) -> None:
            outbox = Outbox(stores[n])
            barrier.wait()
            while batch := outbox.claim_due(T0, limit=7, lease_seconds=600):
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


def test_progress_counts_each_alert_s_messages_by_state(store: Store, outbox: Outbox) -> None:
    from tocsin.alert import Alert

    ids = []
    for n in (1, 2):
        alert = Alert(
            key=f"k{n}", rule="r", kind="negative_mention", subject="s", title="t", created_at=T0
        )
        saved, _ = store.alerts.save(alert, [], now=T0)
        assert saved.id is not None
        ids.append(saved.id)
    first, second = ids
    outbox.enqueue(
        [
            make_delivery("a", alert_id=first),
            make_delivery("b", alert_id=first),
            make_delivery("c", alert_id=first, expires_at=T0 + timedelta(minutes=1)),
            make_delivery("d", alert_id=second, not_before=T0 + HOUR),
        ],
        now=T0,
    )
    sent, failed = outbox.claim_due(T0, limit=2)
    outbox.mark_sent(sent.id, T0)
    outbox.mark_failed(failed.id, "HTTP 503", T0 + HOUR)
    outbox.expire(T0 + timedelta(minutes=2))
    assert outbox.progress(ids) == {
        first: {"sent": 1, "retrying": 1, "expired": 1},
        second: {"queued": 1},
    }
    assert outbox.progress([]) == {}
