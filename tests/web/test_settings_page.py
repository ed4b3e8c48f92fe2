"""Settings: watches with a live query preview, channels with a test message, on-call."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from triage_web_helpers import T0, Env, make_env, mention

from tocsin.store import Store


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    env = make_env(store)
    env.add_person("ada", "admin")
    yield env
    store.close()


def test_leads_see_the_watches_and_preview_a_query(env: Env) -> None:
    env.store.save_batch(
        "rss",
        [
            mention("1", "Acme est en panne <script>alert(1)</script>", watches=("brand",)),
            mention("2", "Globex recrute", watches=("rival",)),
        ],
        now=T0,
    )
    page = env.client.get("/settings", params={"q": "acme AND panne"}, headers=env.as_("lea"))
    assert page.status_code == 200
    text = unescape(page.text)
    assert "1 of the mentions of the last 7 days match" in text
    assert "<script>alert(1)</script>" not in page.text
    assert "<code>acme</code>" in page.text
    assert "send a test message" not in text.lower()  # channels are for admins
    bad = env.client.get("/settings", params={"q": "acme AND ("}, headers=env.as_("lea"))
    assert bad.status_code == 400
    assert "^" in unescape(bad.text)
    assert env.client.get("/settings", headers=env.as_("rita")).status_code == 403
    assert env.client.get("/settings").status_code == 303  # to the sign-in page


def test_admins_send_a_test_message_through_the_outbox(env: Env) -> None:
    page = env.client.get("/settings", headers=env.as_("ada"))
    assert 'action="/settings/channels/ops/test"' in page.text
    sent = env.client.post("/settings/channels/ops/test", headers=env.as_("ada"))
    assert sent.status_code == 303
    assert sent.headers["location"] == "/settings?sent=ops"
    [delivery] = env.store.outbox.deliveries()
    assert (delivery.channel, delivery.status) == ("ops", "pending")
    assert "sent by Ada" in delivery.body
    assert [row.action for row in env.audit()] == ["channel.test"]
    assert (
        env.client.post("/settings/channels/nope/test", headers=env.as_("ada")).status_code == 404
    )
    assert env.client.post("/settings/channels/ops/test", headers=env.as_("lea")).status_code == 403
