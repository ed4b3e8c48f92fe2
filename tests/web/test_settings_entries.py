"""Settings forms: watches, sources, channels, people and on-call written to tocsin.toml,
checked whole, audited, refused from a stale page, by role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from triage_web_helpers import T0, Env, make_env, mention

from tocsin.config import load_settings
from tocsin.configfile import ConfigFile
from tocsin.store import Store
from tocsin.workspace import init_workspace

EXTRA = """
[[channels]]
name = "ops"
urls = ["json://127.0.0.1:9/secret-token"]

[[people]]
name = "alice"
channels = ["ops"]

[[oncall]]
name = "comms"
business = ["alice"]
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    init_workspace(tmp_path, organisation="Acme")
    with (tmp_path / "tocsin.toml").open("a") as handle:
        handle.write(EXTRA)
    config = ConfigFile(tmp_path, env={})
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    env = make_env(store, settings=load_settings(tmp_path, env={}), config=config)
    env.add_person("ada", "admin")
    yield env
    store.close()


def _config(env: Env) -> ConfigFile:
    config: ConfigFile = env.client.app.state.config  # type: ignore[attr-defined]
    return config


def _version(env: Env) -> str:
    return _config(env).version()


def test_a_lead_adds_a_watch_and_it_is_in_the_file_the_page_and_the_audit(env: Env) -> None:
    form = env.client.get("/settings/watches/new", headers=env.as_("lea"))
    assert form.status_code == 200
    assert 'hx-get="/settings/preview"' in form.text
    sent = env.client.post(
        "/settings/watches",
        data={
            "version": _version(env),
            "name": "recall",
            "query": "acme AND (rappel OR recall)",
            "tags": ["brand", "crisis"],
            "enabled": "on",
        },
        headers=env.as_("lea"),
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == "/settings?saved=recall#watches"
    text = _config(env).path.read_text()
    table = text.split('name = "recall"')[1].split("\n\n")[0]
    assert "enabled" not in table  # checked, as by default: nothing written
    assert "# Sources: where to listen." in text  # the file's comments are kept
    page = env.client.get("/settings?saved=recall", headers=env.as_("lea"))
    assert "acme AND (rappel OR recall)" in unescape(page.text)  # the app uses it at once
    [row] = env.audit()
    assert (row.action, row.subject, row.before) == ("watches.create", "watches:recall", "null")
    assert json.loads(row.after)["tags"] == ["brand", "crisis"]


def test_a_bad_query_comes_back_with_its_caret_and_nothing_is_written(env: Env) -> None:
    original = _config(env).path.read_text()
    sent = env.client.post(
        "/settings/watches/crisis",
        data={"version": _version(env), "query": "acme AND ("},
        headers=env.as_("lea"),
    )
    assert sent.status_code == 400
    assert "^" in unescape(sent.text)
    assert "acme AND (" in unescape(sent.text)  # what was typed is kept in the form
    assert _config(env).path.read_text() == original
    assert env.audit() == []


def test_a_save_from_a_stale_page_is_refused_with_409(env: Env) -> None:
    stale = _version(env)
    first = env.client.post(
        "/settings/watches/brand",
        data={"version": stale, "query": "acme", "description": "first"},
        headers=env.as_("lea"),
    )
    assert first.status_code == 303
    second = env.client.post(
        "/settings/watches/brand",
        data={"version": stale, "query": "acme", "description": "second"},
        headers=env.as_("lea"),
    )
    assert second.status_code == 409
    assert "reload the page" in unescape(second.text)
    assert "first" in _config(env).path.read_text()


def test_removing_a_watch_named_by_an_alert_rule_is_refused_with_the_reason(env: Env) -> None:
    config = _config(env)
    with config.path.open("a") as handle:
        handle.write(
            '\n[[alerts]]\nname = "neg"\nwhen = "negative_mention"\nwatches = ["crisis"]\n'
        )
    refused = env.client.post(
        "/settings/watches/crisis/delete", data={"version": _version(env)}, headers=env.as_("lea")
    )
    assert refused.status_code == 400
    assert "names the watch 'crisis', which is not defined" in unescape(refused.text)
    gone = env.client.post(
        "/settings/watches/competitor/delete",
        data={"version": _version(env)},
        headers=env.as_("lea"),
    )
    assert gone.status_code == 303
    assert "Globex" not in config.path.read_text()
    assert [r.action for r in env.audit()] == ["watches.delete"]


def test_channel_urls_are_never_shown_back_and_empty_keeps_them(env: Env) -> None:
    form = env.client.get("/settings/channels/ops/edit", headers=env.as_("ada"))
    assert form.status_code == 200
    assert "secret-token" not in form.text
    kept = env.client.post(
        "/settings/channels/ops",
        data={"version": _version(env), "urls": "", "language": "fr"},
        headers=env.as_("ada"),
    )
    assert kept.status_code == 303
    text = _config(env).path.read_text()
    assert "secret-token" in text
    assert 'language = "fr"' in text
    [row] = env.audit()
    assert "secret-token" not in str(row.before) + str(row.after)
    assert json.loads(row.after)["urls"] == "(1 hidden)"
    assert env.client.get("/settings/channels/ops/edit", headers=env.as_("lea")).status_code == 403


def test_an_admin_adds_a_source_from_its_type_s_own_options(env: Env) -> None:
    chooser = env.client.get("/settings/sources/new", headers=env.as_("ada"))
    assert 'name="type"' in chooser.text
    assert "rss" in chooser.text
    form = env.client.get("/settings/sources/new", params={"type": "rss"}, headers=env.as_("ada"))
    assert 'name="url"' in form.text
    assert 'name="interval"' in form.text
    bad = env.client.post(
        "/settings/sources",
        data={"version": _version(env), "type": "rss", "name": "blog", "url": "ftp://x"},
        headers=env.as_("ada"),
    )
    assert bad.status_code == 400
    sent = env.client.post(
        "/settings/sources",
        data={
            "version": _version(env),
            "type": "rss",
            "name": "blog",
            "url": "https://blog.example.org/feed.xml",
            "interval": "",
            "enabled": "on",
        },
        headers=env.as_("ada"),
    )
    assert sent.status_code == 303, unescape(sent.text)
    settings = load_settings(_config(env).workspace, env={})
    blog = next(s for s in settings.sources if s.name == "blog")
    assert (blog.type, str(getattr(blog.options, "url", ""))) == (
        "rss",
        "https://blog.example.org/feed.xml",
    )
    table = _config(env).path.read_text().split('name = "blog"')[1]
    assert "interval" not in table  # left empty: the default applies, nothing written
    page = env.client.get("/settings", headers=env.as_("ada"))
    assert "/settings/sources/blog/edit" in page.text


def test_people_and_on_call_schedules_are_edited_with_their_references_checked(
    env: Env,
) -> None:
    unknown = env.client.post(
        "/settings/people",
        data={"version": _version(env), "name": "bob", "channels": ["nope"]},
        headers=env.as_("ada"),
    )
    assert unknown.status_code == 400
    added = env.client.post(
        "/settings/people",
        data={"version": _version(env), "name": "bob", "channels": ["ops"]},
        headers=env.as_("ada"),
    )
    assert added.status_code == 303
    rota = env.client.post(
        "/settings/oncall/comms",
        data={"version": _version(env), "business": ["alice"], "rota": "bob\nalice"},
        headers=env.as_("ada"),
    )
    assert rota.status_code == 303
    settings = load_settings(_config(env).workspace, env={})
    assert settings.oncall[0].rota == ["bob", "alice"]
    assert "carol" in unescape(
        env.client.post(
            "/settings/oncall/comms",
            data={"version": _version(env), "rota": "carol"},
            headers=env.as_("ada"),
        ).text
    )


def test_forms_need_their_role_and_a_csrf_token(env: Env) -> None:
    assert env.client.get("/settings/watches/new", headers=env.as_("rita")).status_code == 403
    assert env.client.get("/settings/sources/new", headers=env.as_("lea")).status_code == 403
    data = {"version": _version(env), "name": "x", "query": "x"}
    assert env.client.post("/settings/people", data=data, headers=env.as_("lea")).status_code == 403


def test_the_preview_fragment_follows_the_query(env: Env) -> None:
    env.store.save_batch("rss", [mention("1", "Acme en panne <b>x</b>")], now=T0)
    found = env.client.get(
        "/settings/preview", params={"query": "acme AND panne"}, headers=env.as_("lea")
    )
    assert found.status_code == 200
    assert "<html" not in found.text
    assert "<b>x</b>" not in found.text
    assert "1 des mentions" in unescape(found.text)  # the workspace speaks French
    bad = env.client.get(
        "/settings/preview", params={"query": "acme AND ("}, headers=env.as_("lea")
    )
    assert "^" in unescape(bad.text)


def test_without_a_file_to_write_the_pages_only_show(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    env = make_env(store)
    page = env.client.get("/settings/watches/brand/edit", headers=env.as_("lea"))
    assert page.status_code == 200
    assert "disabled" in page.text
    refused = env.client.post(
        "/settings/watches/brand", data={"query": "x"}, headers=env.as_("lea")
    )
    assert refused.status_code == 409
    store.close()


def test_an_override_puts_someone_on_call_for_a_while(env: Env) -> None:
    added = env.client.post(
        "/settings/people",
        data={"version": _version(env), "name": "bob", "channels": ["ops"]},
        headers=env.as_("ada"),
    )
    assert added.status_code == 303
    bad = env.client.post(
        "/settings/oncall/comms",
        data={"version": _version(env), "business": ["alice"], "overrides": "bob tonight"},
        headers=env.as_("ada"),
    )
    assert bad.status_code == 400
    assert "person start end" in unescape(bad.text)
    sent = env.client.post(
        "/settings/oncall/comms",
        data={
            "version": _version(env),
            "business": ["alice"],
            "overrides": "bob 2026-12-24T18:00 2026-12-26T09:00\n",
        },
        headers=env.as_("ada"),
    )
    assert sent.status_code == 303, unescape(sent.text)
    [override] = load_settings(_config(env).workspace, env={}).oncall[0].overrides
    assert (override.person, override.start.day, override.end.day) == ("bob", 24, 26)
    form = env.client.get("/settings/oncall/comms/edit", headers=env.as_("ada"))
    assert "bob 2026-12-24T18:00 2026-12-26T09:00" in form.text


def test_an_admin_writes_an_escalation_chain_and_an_alert_rule_that_uses_it(env: Env) -> None:
    unordered = env.client.post(
        "/settings/escalations",
        data={"version": _version(env), "name": "night", "steps": "person:alice 30\nchannel:ops"},
        headers=env.as_("ada"),
    )
    assert unordered.status_code == 400
    assert "steps must be in time order" in unescape(unordered.text)
    chain = env.client.post(
        "/settings/escalations",
        data={"version": _version(env), "name": "night", "steps": "oncall:comms\nperson:alice 10"},
        headers=env.as_("ada"),
    )
    assert chain.status_code == 303, unescape(chain.text)
    rule = env.client.post(
        "/settings/alerts",
        data={
            "version": _version(env),
            "name": "negative",
            "when": "negative_mention",
            "watches": ["brand"],
            "channels": ["ops"],
            "escalation": "night",
            "min_priority": "55",
            "enabled": "on",
        },
        headers=env.as_("ada"),
    )
    assert rule.status_code == 303, unescape(rule.text)
    settings = load_settings(_config(env).workspace, env={})
    [escalation] = settings.escalations
    assert [(s.notify, s.after_minutes) for s in escalation.steps] == [
        ("oncall:comms", 0),
        ("person:alice", 10),
    ]
    [alert_rule] = settings.alerts
    assert (alert_rule.when, alert_rule.escalation, alert_rule.min_priority) == (
        "negative_mention",
        "night",
        55.0,
    )
    form = env.client.get("/settings/escalations/night/edit", headers=env.as_("ada"))
    assert "oncall:comms\nperson:alice 10\n" in unescape(form.text)
    page = env.client.get("/settings", headers=env.as_("ada"))
    assert "/settings/alerts/negative/edit" in page.text
    in_use = env.client.post(
        "/settings/escalations/night/delete",
        data={"version": _version(env)},
        headers=env.as_("ada"),
    )
    assert in_use.status_code == 400  # the rule names it
    assert env.client.get("/settings/alerts/new", headers=env.as_("lea")).status_code == 403
