"""The JSON API: search, a mention, the inbox, alerts; auth and roles as on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from triage_web_helpers import T0, Env, make_env, mention

from tocsin.alert import Alert
from tocsin.mention import Sentiment
from tocsin.store import Store
from tocsin.store.triage import TriageStore

NEG = Sentiment("negative", -0.9)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    batch = [
        mention("1", "acme refund", minutes=1, sentiment=NEG, priority=80.0),
        mention("2", "acme thanks", minutes=2, priority=10.0),
        mention("3", "acme again", minutes=3, sentiment=NEG, priority=30.0),
    ]
    store.save_batch("rss", batch, now=T0)
    TriageStore(store).ingest(batch, T0)
    alert = Alert(
        key="k", rule="r", kind="negative_mention", subject="rss:1", title="t", created_at=T0
    )
    store.alerts.save(alert, [], now=T0)
    yield make_env(store)
    store.close()


READS = [
    "/api/v1/mentions?q=acme",
    "/api/v1/mentions/rss:1",
    "/api/v1/inbox",
    "/api/v1/inbox/item?subject=mention:rss:1",
    "/api/v1/alerts",
    "/api/v1/alerts/1",
]
WRITES = [
    ("/api/v1/inbox/state", {"subjects": ["mention:rss:1"], "state": "ignored"}),
    ("/api/v1/inbox/assign", {"subjects": ["mention:rss:1"], "assignee_id": None}),
    ("/api/v1/alerts/1/ack", None),
    ("/api/v1/alerts/1/resolve", None),
]


def test_reads_need_a_viewer_and_writes_a_responder(env: Env) -> None:
    for path in READS:
        assert env.client.get(path).status_code == 401, path
        assert env.client.get(path).json()["detail"] == "sign in first"
        assert env.client.get(path, headers=env.as_("vera")).status_code == 200, path
    for path, body in WRITES:
        assert env.client.post(path, json=body).status_code == 401, path
        refused = env.client.post(path, json=body, headers=env.as_("vera"))
        assert refused.status_code == 403, path
        assert refused.json() == {"detail": "this needs the responder role"}
    assert env.audit() == []
    for path, body in WRITES:
        assert env.client.post(path, json=body, headers=env.as_("rita")).status_code == 200, path


def test_search_and_mentions(env: Env) -> None:
    found = env.client.get("/api/v1/mentions", params={"q": "acme", "limit": 2},
                           headers=env.as_("vera")).json()  # fmt: skip
    assert [m["id"] for m in found["mentions"]] == ["rss:3", "rss:2"]
    assert "raw" not in found["mentions"][0]
    after = env.client.get(
        "/api/v1/mentions", params={"q": "acme", **found["next"]}, headers=env.as_("vera")
    ).json()
    assert [m["id"] for m in after["mentions"]] == ["rss:1"]
    assert after["next"] is None
    negative = env.client.get(
        "/api/v1/mentions", params={"sentiment": "negative"}, headers=env.as_("vera")
    ).json()
    assert [m["id"] for m in negative["mentions"]] == ["rss:3", "rss:1"]
    bad = env.client.get("/api/v1/mentions", params={"q": "acme AND"}, headers=env.as_("vera"))
    assert bad.status_code == 400
    assert bad.json()["column"] == 5
    assert "^" in bad.json()["detail"]
    assert env.client.get("/api/v1/mentions/rss:404", headers=env.as_("vera")).status_code == 404


def test_inbox_and_alerts(env: Env) -> None:
    items = env.client.get("/api/v1/inbox", params={"limit": 1}, headers=env.as_("vera")).json()
    assert [i["subject"] for i in items["items"]] == ["mention:rss:1"]
    assert items["items"][0]["due_at"] == "2026-11-25T12:30:00+00:00"
    rest = env.client.get(
        "/api/v1/inbox", params={"after": items["next"]}, headers=env.as_("vera")
    ).json()
    assert [i["subject"] for i in rest["items"]] == ["mention:rss:3"]
    assert env.client.get("/api/v1/inbox?view=x", headers=env.as_("vera")).status_code == 400
    TriageStore(env.store).acquire("mention:rss:3", env.people["rob"].id, T0)
    changed = env.client.post(
        "/api/v1/inbox/state",
        json={"subjects": ["mention:rss:1", "mention:rss:3", "mention:rss:9"], "state": "ignored"},
        headers=env.as_("rita"),
    ).json()
    assert [c["subject"] for c in changed["changed"]] == ["mention:rss:1"]
    assert changed["locked"] == ["mention:rss:3"]
    assert changed["missing"] == ["mention:rss:9"]
    bad = env.client.post(
        "/api/v1/inbox/state", json={"subjects": ["x"], "state": "gone"}, headers=env.as_("rita")
    )
    assert bad.status_code == 422
    acked = env.client.post("/api/v1/alerts/1/ack", headers=env.as_("rita")).json()
    assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "Rita")
    assert [e.action for e in env.audit()] == ["triage.state", "alert.ack"]
    assert env.client.get("/api/v1/alerts?view=resolved", headers=env.as_("vera")).json() == {
        "alerts": []
    }


def test_openapi_describes_the_api(env: Env) -> None:
    spec = env.client.get("/api/openapi.json").json()
    for path in ("/api/v1/mentions", "/api/v1/inbox", "/api/v1/alerts/{alert_id}/ack"):
        assert path in spec["paths"]
