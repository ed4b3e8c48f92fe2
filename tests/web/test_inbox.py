"""The inbox: ordering, explanation, state changes, bulk actions, locks, overdue, roles."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from triage_web_helpers import T0, Env, make_env, mention

from tocsin.mention import Sentiment
from tocsin.store import Store
from tocsin.store.triage import TriageStore
from tocsin.triage import ResponseTargets, overdue, select, time_left

NEG = Sentiment("negative", -0.9)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    batch = [
        mention("low", "acme meh", sentiment=NEG, priority=20.0, priority_factors={"x": 20.0}),
        mention(
            "high",
            "acme <b>boycott</b>",
            sentiment=NEG,
            priority=85.0,
            priority_factors={"sentiment": 22.5, "reach": 40.0, "urgency": 15.0},
            urgent=("boycott_call",),
        ),
        mention("mid", "acme so-so", sentiment=NEG, priority=50.0),
    ]
    store.save_batch("rss", batch, now=T0)
    TriageStore(store).ingest(batch, T0)
    yield make_env(store)
    store.close()


def _order(html: str) -> list[str]:
    return re.findall(r'name="subject" value="([^"]+)" form="bulk"', html)


def _post(env: Env, who: str, path: str, **fields: object) -> Any:
    return env.client.post(path, data=fields, headers=env.as_(who))


def test_items_are_ordered_by_priority_with_why(env: Env) -> None:
    page = env.client.get("/inbox", headers=env.as_("rita"))
    assert page.status_code == 200
    assert _order(page.text) == ["mention:rss:high", "mention:rss:mid", "mention:rss:low"]
    assert "urgency +15.0" in page.text  # the priority's explanation
    assert "target 30 min" in page.text
    assert "&lt;b&gt;boycott&lt;/b&gt;" in page.text
    assert 'name="csrf"' in page.text
    viewer = env.client.get("/inbox", headers=env.as_("vera"))
    assert viewer.status_code == 200
    assert 'action="/inbox/bulk"' not in viewer.text
    assert "acting on it needs the responder role" in viewer.text
    assert env.client.get("/inbox").status_code == 303  # to the sign-in page


def test_state_change_is_audited(env: Env) -> None:
    done = env.client.post(
        "/inbox/state",
        data={"subject": "mention:rss:high", "state": "to_respond", "csrf": ""},
        headers=env.as_("rita"),
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/inbox/item?subject=mention%3Arss%3Ahigh"
    item = TriageStore(env.store).get("mention:rss:high")
    assert item is not None
    assert item.state == "to_respond"
    (entry,) = env.audit()
    assert (entry.actor, entry.action, entry.subject) == (
        "rita@example.org",
        "triage.state",
        "triage:mention:rss:high",
    )
    assert json.loads(entry.before)["state"] == "new"
    assert json.loads(entry.after)["state"] == "to_respond"
    view = env.client.get("/inbox?view=to_respond", headers=env.as_("vera"))
    assert "subject=mention%3Arss%3Ahigh" in view.text
    assert "subject=mention%3Arss%3Amid" not in view.text
    bad = _post(env, "rita", "/inbox/state", subject="mention:rss:high", state="done")
    assert bad.status_code == 400
    missing = _post(env, "rita", "/inbox/state", subject="mention:rss:nope", state="ignored")
    assert missing.status_code == 404


def test_viewers_cannot_act(env: Env) -> None:
    for path in ("/inbox/state", "/inbox/assign", "/inbox/bulk", "/inbox/take"):
        response = _post(env, "vera", path, subject="mention:rss:high", state="ignored")
        assert response.status_code == 403
        assert env.client.post(path, data={}).status_code == 303  # to the sign-in page
    assert env.audit() == []


def test_bulk_actions(env: Env) -> None:
    rob = env.people["rob"].id
    subjects = ["mention:rss:high", "mention:rss:low"]
    response = env.client.post(
        "/inbox/bulk",
        data={"subject": subjects, "action": "assign", "assignee": str(rob), "next": "/inbox"},
        headers=env.as_("rita"),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox?notice=bulk&n=2&m=0"
    mine = env.client.get("/inbox?view=mine", headers=env.as_("rob"))
    assert _order(mine.text) == subjects
    notice = env.client.get(response.headers["location"], headers=env.as_("rita"))
    assert "2 item(s) changed." in notice.text
    ignored = env.client.post(
        "/inbox/bulk",
        data={"subject": subjects, "action": "state", "state": "ignored"},
        headers=env.as_("rita"),
    )
    assert ignored.status_code == 303
    assert _order(env.client.get("/inbox", headers=env.as_("rita")).text) == ["mention:rss:mid"]
    assert [e.action for e in env.audit()] == ["triage.assign"] * 2 + ["triage.state"] * 2
    vera = env.people["vera"].id  # a viewer cannot be given items
    refused = env.client.post(
        "/inbox/bulk",
        data={"subject": subjects, "action": "assign", "assignee": str(vera)},
        headers=env.as_("rita"),
    )
    assert refused.status_code == 400
    odd = env.client.post(
        "/inbox/bulk",
        data={"subject": subjects, "action": "delete", "next": "//evil.example/"},
        headers=env.as_("rita"),
    )
    assert odd.status_code == 400


def test_locks_between_two_people(env: Env) -> None:
    subject = "mention:rss:high"
    taken = _post(env, "rita", "/inbox/take", subject=subject)
    assert taken.status_code == 303
    page = env.client.get(f"/inbox/item?subject={subject}", headers=env.as_("rita"))
    assert "You are handling this item until 12:10 UTC." in page.text
    assert 'hx-post="/inbox/refresh" hx-trigger="every 150s"' in page.text  # kept while open
    # rob sees who has it, and cannot act
    listing = env.client.get("/inbox", headers=env.as_("rob"))
    assert "Being handled by Rita (until 12:10 UTC)." in listing.text
    other = env.client.get(f"/inbox/item?subject={subject}", headers=env.as_("rob"))
    assert "Take over from Rita" in other.text
    assert 'action="/inbox/state"' not in other.text
    blocked = _post(env, "rob", "/inbox/state", subject=subject, state="ignored")
    assert blocked.status_code == 409
    assert "Someone else is handling this item" in blocked.text
    assert _post(env, "rob", "/inbox/take", subject=subject).status_code == 409
    bulk = _post(env, "rob", "/inbox/bulk", subject=subject, action="state", state="ignored")
    assert bulk.headers["location"] == "/inbox?notice=bulk&n=0&m=1"
    # rita keeps it while her page is open
    env.clock.advance(9 * 60)
    kept = _post(env, "rita", "/inbox/refresh", subject=subject)
    assert kept.json() == {"held": True, "until": "2026-11-25T12:19:00+00:00"}
    env.clock.advance(5 * 60)
    assert _post(env, "rob", "/inbox/take", subject=subject).status_code == 409
    # rob takes it over explicitly: audited
    over = _post(env, "rob", "/inbox/take", subject=subject, take_over="1")
    assert over.status_code == 303
    entry = env.audit()[-1]
    assert (entry.action, entry.actor) == ("triage.take_over", "rob@example.org")
    assert json.loads(entry.before)["locked_by"] == env.people["rita"].id
    assert json.loads(entry.after)["locked_by"] == env.people["rob"].id
    lost = _post(env, "rita", "/inbox/refresh", subject=subject)
    assert lost.status_code == 409
    assert _post(env, "rob", "/inbox/state", subject=subject, state="responded").status_code == 303
    released = _post(env, "rob", "/inbox/release", subject=subject)
    assert released.status_code == 303
    assert [e.action for e in env.audit()] == [
        "triage.take",
        "triage.take_over",
        "triage.state",
        "triage.release",
    ]


def test_a_lock_expires_without_refresh(env: Env) -> None:
    subject = "mention:rss:mid"
    _post(env, "rita", "/inbox/take", subject=subject)
    env.clock.advance(10 * 60 + 1)
    assert "Being handled" not in env.client.get("/inbox", headers=env.as_("rob")).text
    assert _post(env, "rob", "/inbox/state", subject=subject, state="ignored").status_code == 303


def test_overdue_items_are_highlighted(env: Env) -> None:
    page = env.client.get("/inbox", headers=env.as_("vera"))
    assert "overdue" not in page.text.split('<ol class="triage-list">')[1]
    env.clock.advance(31 * 60)  # past the 30 min target of the priority-85 item only
    page = env.client.get("/inbox", headers=env.as_("vera"))
    items = page.text.split('<li class="triage-item')[1:]
    assert " overdue" in items[0].split(">")[0]
    assert "OVERDUE" in items[0].upper()
    assert " overdue" not in items[1].split(">")[0]
    assert "(-1 min)" in items[0]


def test_unknown_item_and_pages(env: Env) -> None:
    assert env.client.get("/inbox/item?subject=x", headers=env.as_("vera")).status_code == 404
    weird = env.client.get("/inbox?view=nope&after=zz", headers=env.as_("vera"))
    assert weird.status_code == 200


def test_rules() -> None:
    targets = ResponseTargets()
    assert targets.target(70) == timedelta(minutes=30)
    assert targets.target(69.9) == timedelta(hours=2)
    assert targets.target(10) == timedelta(hours=24)
    assert targets.band(45) == "2 h"
    custom = ResponseTargets(bands=((90.0, timedelta(minutes=15)),), otherwise=timedelta(hours=4))
    assert custom.due(95, T0) == T0 + timedelta(minutes=15)
    assert overdue("new", T0, T0)
    assert not overdue("responded", T0, T0)
    assert not overdue("new", None, T0)
    assert time_left(T0 + timedelta(minutes=65), T0) == "1 h 05"
    assert time_left(T0 - timedelta(hours=3), T0) == "-3 h"
    story = [mention(str(i), sentiment=NEG, priority=40.0 + i, story_id="s") for i in range(3)]
    picked = select(story, T0)
    assert [c.subject for c in picked][-1] == "story:s"
    assert picked[-1].priority == 42.0
