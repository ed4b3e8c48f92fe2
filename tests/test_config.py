"""Workspace settings: the shipped template, every kind of error, env overrides, secrets."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import Field, SecretStr

from tocsin import hookspecs
from tocsin.config import (
    ConfigError,
    Settings,
    SourceConfig,
    known_env_vars,
    load_settings,
    unknown_env_vars,
)
from tocsin.sources.base import PollingSource, SourceOptions
from tocsin.workspace import init_workspace


class FakeOptions(SourceOptions):
    url: str
    interval: float = Field(900.0, ge=60)
    api_token: SecretStr | None = None
    password: str = ""


class FakeRss(PollingSource):
    name = "rss"
    description = "A fake feed source for configuration tests."
    Options = FakeOptions

    async def fetch(self, cursor: str | None) -> Any:
        raise NotImplementedError

    def poll_interval(self) -> float:
        return 1.0

    def normalise(self, item: Any) -> Any:
        raise NotImplementedError


class FakeMastodon(FakeRss):
    name = "mastodon"


class _Plugin:
    @hookspecs.hookimpl
    def tocsin_sources(self) -> list[type[FakeRss]]:
        return [FakeRss, FakeMastodon]


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("tocsin")
    manager.add_hookspecs(hookspecs)
    manager.register(_Plugin())
    return manager


HEAD = """\
[organisation]
name = "Acme"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tocsin.toml").write_text(text, encoding="utf-8")
    return tmp_path


def errors_of(tmp_path: Path, text: str, pm: pluggy.PluginManager, **env: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env=env, plugin_manager=pm)
    return info.value


# --- the shipped template ------------------------------------------------------------------


def test_template_loads_with_a_fake_rss_source(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    init_workspace(tmp_path)
    settings = load_settings(tmp_path, env={}, plugin_manager=pm)
    assert settings.organisation.name == "Acme"
    assert settings.organisation.languages == ["fr", "en"]
    assert {w.name for w in settings.watches} == {"brand", "crisis", "competitor"}
    assert settings.watches[0].query == '"Acme" OR #acme OR @acme'
    assert "boycott" in settings.watches[1].query
    names = [name for _, name, _ in settings.source_configs()]
    assert len(names) >= 9
    assert {"google-news-fr", "google-news-en", "hacker-news", "reddit", "le-monde"} <= set(names)
    urls = {name: opts.url for _, name, opts in settings.source_configs()}  # type: ignore[attr-defined]
    assert urls["google-news-fr"].startswith("https://news.google.com/rss/search?q=Acme&hl=fr")
    assert urls["reddit"] == "https://www.reddit.com/search.rss?q=Acme&sort=new"
    assert settings.retention.mentions_days == 365
    assert settings.run.batch_size == 200


def test_template_loads_with_the_installed_plugins(tmp_path: Path) -> None:
    pytest.importorskip("tocsin.sources.rss")
    init_workspace(tmp_path, organisation="Société Générale")
    settings = load_settings(tmp_path, env={})
    assert all(kind == "rss" for kind, _, _ in settings.source_configs())
    assert settings.watches[0].query.startswith('"Société Générale" OR #sociétégénérale')


def test_defaults_of_a_minimal_file(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    settings = load_settings(write(tmp_path, HEAD), env={}, plugin_manager=pm)
    assert settings.database.url == "sqlite:///tocsin.db"
    assert settings.organisation.timezone == "UTC"
    assert (settings.run.queue_size, settings.run.shutdown_timeout) == (1000, 30.0)
    assert (settings.retention.errors_days, settings.web.host, settings.web.port) == (
        30,
        "127.0.0.1",
        8080,
    )
    assert settings.watches == []
    assert settings.sources == []


# --- errors --------------------------------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column(
    tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    err = errors_of(tmp_path, HEAD + "\n[run]\nlog_level = INFO\n", pm)
    text = str(err)
    assert f"{tmp_path / 'tocsin.toml'}:5:" in text
    assert "TOML syntax error" in text
    assert "log_level = INFO\n" in text
    assert "^" in text
    assert "double quotes" in text
    assert err.problems[0].line == 5


def test_bad_type_names_file_line_key_and_fix(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = HEAD + '\n[[sources]]\ntype = "rss"\nname = "a"\nurl = "https://x"\n'
    text += '\n[[sources]]\ntype = "rss"\nname = "b"\nurl = "https://y"\ninterval = "often"\n'
    err = errors_of(tmp_path, text, pm)
    [problem] = err.problems
    assert problem.path == "sources[1].interval"
    assert problem.line == 13
    assert f"{tmp_path / 'tocsin.toml'}:13: sources[1].interval:" in str(err)
    assert "valid number" in problem.message
    assert "'often'" in problem.message
    assert "number without quotes" in problem.fix


def test_unknown_key_suggests_the_right_one(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    err = errors_of(tmp_path, HEAD + "\n[run]\nbatch_sise = 10\n", pm)
    [problem] = err.problems
    assert (problem.path, problem.line) == ("run.batch_sise", 5)
    assert "unknown key 'batch_sise'" in problem.message
    assert "did you mean `batch_size`?" in problem.fix


def test_unknown_source_option_suggests_the_right_one(
    tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    text = HEAD + '[[sources]]\ntype = "rss"\nname = "a"\nurl = "https://x"\nintervall = 60\n'
    [problem] = errors_of(tmp_path, text, pm).problems
    assert (problem.path, problem.line) == ("sources[0].intervall", 7)
    assert "did you mean `interval`?" in problem.fix
    assert "url" in problem.fix


def test_unknown_section_lists_the_known_ones(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    [problem] = errors_of(tmp_path, HEAD + "[retension]\nmentions_days = 3\n", pm).problems
    assert (problem.path, problem.line) == ("retension", 3)
    assert "did you mean `retention`?" in problem.fix


def test_duplicate_watch_names_even_beside_other_errors(
    tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    text = HEAD + '[[watches]]\nname = "brand"\nquery = "acme"\ntags = ["brnd"]\n'
    text += '[[watches]]\nname = "brand"\nquery = "acme"\n'
    err = errors_of(tmp_path, text, pm)
    by_path = {p.path: p for p in err.problems}
    assert "already used by entry [0]" in by_path["watches[1].name"].message
    assert by_path["watches[1].name"].line == 8
    assert "did you mean 'brand'?" in by_path["watches[0].tags"].message
    assert "brand, product, competitor" in by_path["watches[0].tags"].fix


def test_bad_names_get_a_slug_suggestion(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = HEAD + '[[watches]]\nname = "My Brand"\nquery = "acme"\n'
    [problem] = errors_of(tmp_path, text, pm).problems
    assert problem.path == "watches[0].name"
    assert 'name = "my-brand"' in problem.fix


def test_unknown_source_type_lists_known_types(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = HEAD + '[[sources]]\ntype = "rsss"\nname = "a"\nurl = "https://x"\n'
    [problem] = errors_of(tmp_path, text, pm).problems
    assert (problem.path, problem.line) == ("sources[0].type", 4)
    assert "did you mean 'rss'?" in problem.message
    assert "mastodon, rss" in problem.fix


def test_bad_timezone_and_language(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = '[organisation]\nname = "Acme"\ntimezone = "Europe/Pari"\nlanguages = ["fr", "eng"]\n'
    err = errors_of(tmp_path, text, pm)
    by_path = {p.path: p for p in err.problems}
    assert "did you mean 'Europe/Paris'?" in by_path["organisation.timezone"].message
    assert by_path["organisation.timezone"].line == 3
    assert "'eng' is not an ISO 639-1" in by_path["organisation.languages"].message


def test_missing_organisation_name(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    [problem] = errors_of(tmp_path, "[organisation]\ntimezone = 'UTC'\n", pm).problems
    assert (problem.path, problem.line) == ("organisation.name", 1)
    assert "Field required" in problem.message
    assert "add `name = ...`" in problem.fix


def test_several_errors_at_once_in_file_order(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = (
        '[organisation]\nname = "Acme"\ntimezone = "Mars/Olympus"\n'
        '[[sources]]\ntype = "rss"\nname = "a"\nurl = "https://x"\ninterval = 10\n'
        "[retention]\nmentions_days = 0\n"
        "[run]\nlog_level = 'LOUD'\nqueue_size = 'big'\n"
    )
    err = errors_of(tmp_path, text, pm)
    assert [p.line for p in err.problems] == [3, 8, 10, 12, 13]
    assert str(err).startswith(f"{tmp_path / 'tocsin.toml'}: 5 configuration errors")
    assert "greater than or equal to 60" in err.problems[1].message


def test_missing_file_says_run_init(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    with pytest.raises(ConfigError, match="tocsin init"):
        load_settings(tmp_path, env={}, plugin_manager=pm)


# --- queries -------------------------------------------------------------------------------


class _QueryError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def _fake_parse(text: str) -> object:
    if text.count("(") != text.count(")"):
        raise _QueryError("unbalanced parenthesis", text.index("("))
    return object()


def test_bad_query_reports_the_parser_message_with_caret(
    tmp_path: Path, pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("tocsin.query.parser")
    fake.parse = _fake_parse  # type: ignore[attr-defined]
    fake.QueryError = _QueryError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tocsin.query.parser", fake)
    text = HEAD + '[[watches]]\nname = "crisis"\nquery = "acme AND (boycott"\n'
    [problem] = errors_of(tmp_path, text, pm).problems
    assert (problem.path, problem.line) == ("watches[0].query", 5)
    assert problem.message == "unbalanced parenthesis\nacme AND (boycott\n         ^"
    assert "NEAR" in problem.fix


def test_bad_query_with_the_real_parser(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    pytest.importorskip("tocsin.query.parser")
    text = HEAD + '[[watches]]\nname = "crisis"\nquery = "acme AND (boycott"\n'
    [problem] = errors_of(tmp_path, text, pm).problems
    assert (problem.path, problem.line) == ("watches[0].query", 5)
    assert "never closed" in problem.message
    assert "acme AND (boycott\n" in problem.message
    assert "^" in problem.message
    assert "hint:" not in problem.message
    assert "add ')'" in problem.fix


# --- environment ---------------------------------------------------------------------------


def test_env_overrides_scalar_and_list_keys(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = HEAD + '[[watches]]\nname = "brand"\nquery = "{organisation}"\n'
    env = {
        "TOCSIN_DATABASE_URL": "postgresql://u:pw@db/tocsin",
        "TOCSIN_ORGANISATION_NAME": "Globex",
        "TOCSIN_ORGANISATION_LANGUAGES": "de, fr",
        "TOCSIN_RUN_LOG_LEVEL": "debug",
        "TOCSIN_WEB_PORT": "9000",
        "TOCSIN_RETENTION_MENTIONS_DAYS": "90",
        "TOCSIN_SOMETHING_ELSE": "ignored",
        "TOCSIN_TEST_DATABASE_URL": "ignored",
    }
    settings = load_settings(write(tmp_path, text), env=env, plugin_manager=pm)
    assert settings.database.url == "postgresql://u:pw@db/tocsin"
    assert settings.organisation.name == "Globex"
    assert settings.organisation.languages == ["de", "fr"]
    assert settings.watches[0].query == "Globex"
    assert (settings.run.log_level, settings.web.port) == ("DEBUG", 9000)
    assert settings.retention.mentions_days == 90


def test_wrong_env_value_names_the_variable(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    err = errors_of(tmp_path, HEAD, pm, TOCSIN_RUN_BATCH_SIZE="lots")
    [problem] = err.problems
    assert problem.env_var == "TOCSIN_RUN_BATCH_SIZE"
    assert problem.line is None
    assert str(err).splitlines()[1].startswith("TOCSIN_RUN_BATCH_SIZE (environment variable)")
    assert "set TOCSIN_RUN_BATCH_SIZE to a whole number, or unset it" in problem.fix


def test_typo_env_vars_are_warned_about_others_not() -> None:
    env = {
        "TOCSIN_DATABSE_URL": "x",
        "TOCSIN_DATABASE_URL": "y",
        "TOCSIN_TEST_DATABASE_URL": "z",
        "TOCSIN_REQUIRE_SERVICES": "1",
        "TOCSIN_WORKSPACE": "/w",
        "TOCSIN_SOMETHING": "q",
        "HOME": "/root",
    }
    [warning] = unknown_env_vars(env)
    assert warning.startswith("TOCSIN_DATABSE_URL is not a tocsin setting")
    assert "did you mean TOCSIN_DATABASE_URL?" in warning
    assert "TOCSIN_RUN_LOG_LEVEL" in known_env_vars()


# --- substitution, helpers -----------------------------------------------------------------


def test_organisation_placeholder_is_url_encoded_in_urls(
    tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    text = '[organisation]\nname = "Café & Co"\n'
    text += '[[watches]]\nname = "brand"\nquery = \'"{organisation}" OR #{organisation_tag}\'\n'
    text += '[[sources]]\ntype = "rss"\nname = "gn"\n'
    text += 'url = "https://news.google.com/rss/search?q={organisation}&hl=fr"\n'
    settings = load_settings(write(tmp_path, text), env={}, plugin_manager=pm)
    assert settings.watches[0].query == '"Café & Co" OR #caféco'
    [(_, _, options)] = settings.source_configs()
    assert options.url == "https://news.google.com/rss/search?q=Caf%C3%A9%20%26%20Co&hl=fr"  # type: ignore[attr-defined]


def test_database_url_for_resolves_relative_sqlite_paths(tmp_path: Path) -> None:
    def url_for(url: str) -> str:
        settings = Settings.model_validate(
            {"organisation": {"name": "A"}, "database": {"url": url}}
        )
        return settings.database_url_for(tmp_path)

    assert url_for("sqlite:///tocsin.db") == f"sqlite:///{tmp_path / 'tocsin.db'}"
    assert url_for("sqlite+aiosqlite:///data/t.db?timeout=5") == (
        f"sqlite+aiosqlite:///{tmp_path / 'data' / 't.db'}?timeout=5"
    )
    assert url_for("sqlite:////var/t.db") == "sqlite:////var/t.db"
    assert url_for("sqlite:///:memory:") == "sqlite:///:memory:"
    assert url_for("postgresql://db/t") == "postgresql://db/t"


def test_source_configs_leave_disabled_sources_out(
    tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    text = HEAD + '[[sources]]\ntype = "rss"\nname = "a"\nurl = "https://a"\n'
    text += '[[sources]]\ntype = "mastodon"\nname = "b"\nurl = "https://b"\nenabled = false\n'
    settings = load_settings(write(tmp_path, text), env={}, plugin_manager=pm)
    assert [(k, n) for k, n, _ in settings.source_configs()] == [("rss", "a")]
    assert len(settings.source_configs(enabled_only=False)) == 2
    assert isinstance(settings.source_configs()[0][2], FakeOptions)


def test_source_config_built_in_code(pm: pluggy.PluginManager) -> None:
    from tocsin.plugins import source_classes

    context = {"source_classes": source_classes(pm)}
    options = FakeOptions(url="https://a")
    config = SourceConfig.model_validate(
        {"type": "rss", "name": "a", "options": options}, context=context
    )
    assert config.options is options
    assert config.model_dump()["options"]["url"] == "https://a"


# --- secrets -------------------------------------------------------------------------------

SECRETS = ("s3cr3t-token", "hunter2", "dbpass")


def test_secrets_never_appear_in_repr(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = '[organisation]\nname = "Acme"\n[database]\nurl = "postgresql://me:dbpass@h/t"\n'
    text += '[[sources]]\ntype = "rss"\nname = "a"\nurl = "https://a"\n'
    text += 'api_token = "s3cr3t-token"\npassword = "hunter2"\n'
    settings = load_settings(write(tmp_path, text), env={}, plugin_manager=pm)
    shown = repr(settings) + str(settings) + repr(settings.sources[0]) + repr(settings.database)
    for secret in SECRETS:
        assert secret not in shown
    assert "**********" in shown
    options = settings.sources[0].options
    assert options.api_token.get_secret_value() == "s3cr3t-token"  # type: ignore[attr-defined]


def test_secrets_never_appear_in_errors(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    text = '[organisation]\nname = "Acme"\n[database]\nurl = "mysql://me:dbpass@h/t"\n'
    text += '[[sources]]\ntype = "rss"\nname = "a"\nurl = "https://a"\n'
    text += "api_token = ['s3cr3t-token']\npassword = ['hunter2']\n"
    err = errors_of(tmp_path, text, pm)
    assert len(err.problems) == 3
    for secret in SECRETS:
        assert secret not in str(err)
    assert re.search(r"unsupported database URL 'mysql://me:\*+@h/t'", str(err))


def test_enrich_settings_default_and_onnx_needs_a_model_path(tmp_path: Path) -> None:
    init_workspace(tmp_path, organisation="Acme")
    settings = load_settings(tmp_path, env={})
    assert (settings.enrich.sentiment, settings.enrich.negative_retelling) == ("default", 10.0)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={"TOCSIN_ENRICH_SENTIMENT": "onnx"})
    assert "sentiment_model_path" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={"TOCSIN_ENRICH_SENTIMENT": "acurate"})
    assert "did you mean 'accurate'" in str(caught.value)
