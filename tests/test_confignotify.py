"""The alerting part of tocsin.toml: channels, people, on-call, escalations, rules."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from tocsin.config import ConfigError, load_settings
from tocsin.confignotify import parse_hours, parse_week_hours

BASE = """
[organisation]
name = "Acme"

[[watches]]
name = "brand"
query = "acme"
"""

ALERTING = """
[notify]
public_url = "https://tocsin.example.org/"
signing_secret = "env:TEST_TOCSIN_SIGNING"

[[channels]]
name = "team-hook"
urls = ["json://127.0.0.1:9999/hook"]

[[channels]]
name = "alice-mail"
urls = ["env:TEST_TOCSIN_ALICE_MAIL"]
language = "en"

[[people]]
name = "alice"
channels = ["alice-mail"]

[[oncall]]
name = "comms"
business = ["alice"]
rota = ["alice"]
business_hours = "mon-fri 08:30-19:00"

[[escalations]]
name = "default"
steps = [
  { notify = "oncall:comms" },
  { notify = "channel:team-hook", after_minutes = 10 },
]

[[alerts]]
name = "negative"
when = "negative_mention"
watches = ["brand"]
channels = ["team-hook"]
escalation = "default"
quiet_hours = "22:00-07:00"
"""

ENV = {
    "TEST_TOCSIN_SIGNING": "s3cret-signing",
    "TEST_TOCSIN_ALICE_MAIL": "mailto://alice:hunter2@mail.example.org",
}


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    (tmp_path / "tocsin.toml").write_text(text, encoding="utf-8")
    return load_settings(tmp_path, env=ENV if env is None else env)


def test_a_full_alerting_setup_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    settings = _load(tmp_path, BASE + ALERTING)
    assert settings.notify.public_url == "https://tocsin.example.org"
    assert settings.notify.signing_secret == "s3cret-signing"
    assert settings.channels[1].urls == ["mailto://alice:hunter2@mail.example.org"]
    assert "hunter2" not in repr(settings)
    assert "s3cret" not in repr(settings)
    assert settings.alerts[0].escalation == "default"


def test_every_unknown_name_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    text = BASE + ALERTING.replace('escalation = "default"', 'escalation = "defualt"')
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "alerts 'negative' names the escalation 'defualt'" in message
    assert "did you mean 'default'" in message


def test_a_missing_secret_variable_and_a_bad_url_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, BASE + ALERTING, env={"TEST_TOCSIN_SIGNING": "x"})
    assert "TEST_TOCSIN_ALICE_MAIL, which is not set" in str(caught.value)
    bad = BASE + ALERTING.replace("json://127.0.0.1:9999/hook", "nope://what")
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, bad)
    assert "apprise does not understand a URL of scheme 'nope'" in str(caught.value)


def test_rules_hours_and_escalation_order_are_checked(tmp_path: Path) -> None:
    bad = BASE + ALERTING.replace(
        'when = "negative_mention"', 'when = "negative_mentions"'
    ).replace('"22:00-07:00"', '"22h-7h"').replace(
        "after_minutes = 10", "after_minutes = 10 }, { notify = 'person:alice'"
    )
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, bad)
    message = str(caught.value)
    assert "did you mean 'negative_mention'" in message
    assert "'22h-7h' is not a time range" in message
    assert "steps must be in time order" in message


def test_hours_parsing() -> None:
    assert parse_hours("22:00-07:00") == (time(22), time(7))
    assert parse_hours("09:00-24:00") == (time(9), time(0))
    days, start, end = parse_week_hours("fri-mon 10:00-12:30")
    assert (days, start, end) == (frozenset({4, 5, 6, 0}), time(10), time(12, 30))
    with pytest.raises(ValueError, match="impossible"):
        parse_hours("25:00-26:00")
