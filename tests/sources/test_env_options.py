"""Secret source options read from the environment (``"env:NAME"``), never shown anywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import pydantic
import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.config import ConfigError, load_settings
from tocsin.redaction import redact_mapping
from tocsin.sources.hackernews import HackerNewsOptions
from tocsin.sources.mastodon import MastodonOptions
from tocsin.sources.x import XOptions
from tocsin.sources.youtube import YouTubeOptions

SECRET = "AIzaSy-from-the-environment-0123456789"

CONFIG = """\
[organisation]
name = "Acme"

[[sources]]
type = "youtube"
name = "youtube-acme"
query = "acme"
api_key = "env:TOCSIN_TEST_YOUTUBE_KEY"
"""


def test_secret_option_is_read_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_TEST_YOUTUBE_KEY", SECRET)
    opts = YouTubeOptions(api_key="env:TOCSIN_TEST_YOUTUBE_KEY", query="acme")
    assert opts.api_key.get_secret_value() == SECRET
    assert SECRET not in repr(opts)
    assert SECRET not in str(redact_mapping(opts.model_dump()))


def test_validation_context_env_wins_over_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_TOKEN", raising=False)
    data = {"bearer_token": "env:X_TOKEN", "rules": ["acme"]}
    opts = XOptions.model_validate(data, context={"env": {"X_TOKEN": "from-context"}})
    assert opts.bearer_token.get_secret_value() == "from-context"


@pytest.mark.parametrize(
    ("value", "env", "message"),
    [
        ("env:TOCSIN_TEST_ABSENT", {}, "TOCSIN_TEST_ABSENT, which is not set"),
        ("env:TOCSIN_TEST_EMPTY", {"TOCSIN_TEST_EMPTY": ""}, "TOCSIN_TEST_EMPTY, which is empty"),
        ("env:NOT A NAME", {}, "does not name an environment variable"),
    ],
)
def test_missing_variable_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str, env: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("TOCSIN_TEST_ABSENT", raising=False)
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    with pytest.raises(pydantic.ValidationError) as info:
        MastodonOptions(hashtags=["acme"], access_token=value)
    assert message in str(info.value)
    assert "`access_token`" in str(info.value)


def test_only_secret_options_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME_QUERY", "should not be read")
    assert HackerNewsOptions(query="env:HOME_QUERY").query == "env:HOME_QUERY"


def test_config_error_names_the_variable_the_source_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOCSIN_TEST_YOUTUBE_KEY", raising=False)
    (tmp_path / "tocsin.toml").write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    text = str(info.value)
    assert "tocsin.toml:8: sources[0].api_key" in text
    assert "TOCSIN_TEST_YOUTUBE_KEY, which is not set" in text
    assert "export TOCSIN_TEST_YOUTUBE_KEY=" in text


def test_secret_from_the_environment_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TOCSIN_TEST_YOUTUBE_KEY", SECRET)
    (tmp_path / "tocsin.toml").write_text(CONFIG, encoding="utf-8")
    settings = load_settings(tmp_path)
    ((kind, name, options),) = settings.source_configs()
    assert (kind, name) == ("youtube", "youtube-acme")
    assert isinstance(options, YouTubeOptions)
    assert options.api_key.get_secret_value() == SECRET
    listed = CliRunner().invoke(app, ["sources", "-w", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "youtube-acme" in listed.output
    for text in (listed.output, repr(settings), caplog.text):
        assert SECRET not in text
