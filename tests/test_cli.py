"""The command line, end to end on a real workspace (no network: only file sources run)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app, parse_since

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(folder), "--organisation", "Acme"])
    assert result.exit_code == EXIT_OK, result.output
    return folder


def _export(path: Path) -> Path:
    texts = [
        "Acme est en panne depuis ce matin",
        "Le service client d'ACME m'a remboursé",
        "Rien à voir",
    ]
    rows = [
        {
            "id": str(n),
            "body": text,
            "link": f"https://forum.example.org/{n}",
            "date": f"2026-11-2{n}T08:00:00Z",
            "user": f"user{n}",
        }
        for n, text in enumerate(texts, 1)
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _import(workspace: Path, export: Path, *extra: str) -> int:
    args = ["import", str(export), "-w", str(workspace), "--map", "text=body", "--map", "url=link"]
    args += ["--map", "published_at=date", "--map", "author.handle=user", *extra]
    result = runner.invoke(app, args)
    return result.exit_code


def test_init_refuses_to_overwrite(workspace: Path) -> None:
    result = runner.invoke(app, ["init", str(workspace)])
    assert result.exit_code == EXIT_USAGE
    assert "force" in result.output


def test_import_then_search_in_every_format(workspace: Path, tmp_path: Path) -> None:
    assert _import(workspace, _export(tmp_path / "export.csv")) == EXIT_OK
    table = runner.invoke(app, ["mentions", "-w", str(workspace)])
    assert table.exit_code == EXIT_OK, table.output
    assert "3 mention(s)" in table.output

    found = runner.invoke(
        app, ["mentions", "acme AND panne", "-w", str(workspace), "--format", "json"]
    )
    lines = [json.loads(line) for line in found.stdout.splitlines()]
    assert [m["id"] for m in lines] == ["import:1"]
    assert lines[0]["watches"] == ["brand", "crisis"]

    by_watch = runner.invoke(
        app, ["mentions", "-w", str(workspace), "--watch", "brand", "--format", "csv"]
    )
    rows = list(csv.DictReader(io.StringIO(by_watch.stdout)))
    assert [r["id"] for r in rows] == ["import:2", "import:1"]  # newest first


def test_a_broken_line_is_reported_and_the_rest_imported(workspace: Path, tmp_path: Path) -> None:
    export = tmp_path / "export.jsonl"
    good = {"body": "Acme ok", "link": "https://x.example/a", "date": "2026-11-01T00:00:00Z"}
    lines = [
        json.dumps({"id": "a", **good}),
        '{"id": "b", "body": ',
        json.dumps({"id": "c", **good}),
    ]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _import(workspace, export) == EXIT_PARTIAL
    errors = runner.invoke(app, ["errors", "-w", str(workspace)])
    assert "line 2" in errors.output
    count = runner.invoke(app, ["mentions", "-w", str(workspace), "--format", "json"])
    assert len(count.stdout.splitlines()) == 2


def test_bad_query_exits_2_with_a_caret(workspace: Path) -> None:
    result = runner.invoke(app, ["mentions", "acme AND (panne", "-w", str(workspace)])
    assert result.exit_code == EXIT_USAGE
    assert "^" in result.output


def test_query_check_explains_and_exit_code_says_whether_it_matches() -> None:
    ok = runner.invoke(
        app, ["query", "check", '"service client"~3', "--text", "Le service de ce client"]
    )
    assert ok.exit_code == EXIT_OK, ok.output
    assert "MATCH" in ok.output
    no = runner.invoke(app, ["query", "check", "{Orange}", "--text", "une orange pressée"])
    assert no.exit_code == EXIT_FAILURE
    assert "NO MATCH" in no.output
    bad = runner.invoke(app, ["query", "check", "acme NEAR/x panne"])
    assert bad.exit_code == EXIT_USAGE
    assert "NEAR" in bad.output


def test_sources_lists_configured_sources_and_types(workspace: Path) -> None:
    result = runner.invoke(app, ["sources", "-w", str(workspace)])
    assert result.exit_code == EXIT_OK, result.output
    assert "google-news-fr" in result.output
    assert "never" in result.output
    types = runner.invoke(app, ["sources", "types"])
    assert "rss" in types.output
    assert "import" in types.output


def test_config_mistake_names_file_line_and_fix(workspace: Path) -> None:
    config = workspace / "tocsin.toml"
    config.write_text(config.read_text().replace("interval = 900", "interval = 10", 1))
    result = runner.invoke(app, ["sources", "-w", str(workspace)])
    assert result.exit_code == EXIT_USAGE
    assert "tocsin.toml:" in result.output
    assert "interval" in result.output


def test_missing_workspace_says_run_init(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mentions", "-w", str(tmp_path)])
    assert result.exit_code == EXIT_USAGE
    assert "tocsin init" in result.output


def test_db_upgrade_is_idempotent(workspace: Path) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade", "-w", str(workspace)])
        assert result.exit_code == EXIT_OK, result.output


def test_since_accepts_durations_and_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(Exception, match="neither a duration"):
        parse_since("yesterday", now)


def test_a_mistyped_setting_variable_is_warned_about(workspace: Path) -> None:
    result = runner.invoke(
        app, ["sources", "-w", str(workspace)], env={"TOCSIN_DATABSE_URL": "sqlite:///x.db"}
    )
    assert result.exit_code == EXIT_OK
    assert "did you mean TOCSIN_DATABASE_URL" in result.output


def test_hostile_text_is_shown_literally_never_as_markup(workspace: Path, tmp_path: Path) -> None:
    export = tmp_path / "hostile.jsonl"
    text = "Acme [/] [bold red]fake alert[/] [link=javascript:alert(1)]clic[/link] \x1b[31mred"
    record = {
        "id": "h",
        "body": text,
        "link": "https://x.example/h",
        "date": "2026-11-01T00:00:00Z",
    }
    export.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert _import(workspace, export) == EXIT_OK
    result = runner.invoke(app, ["mentions", "-w", str(workspace)])
    assert result.exit_code == EXIT_OK, result.output
    assert "[bold" in result.output  # shown as typed (the table may wrap the rest)
    assert "[/]" in result.output
    assert "\x1b" not in result.output


def test_sources_add_appends_a_validated_source_and_keeps_comments(workspace: Path) -> None:
    config = workspace / "tocsin.toml"
    before = config.read_text()
    added = runner.invoke(
        app, ["sources", "add", "google-news", "Crème Brûlée", "-w", str(workspace)]
    )
    assert added.exit_code == EXIT_OK, added.output
    text = config.read_text()
    assert text.startswith(before.rstrip("\n"))  # the user's comments are kept
    assert 'name = "google-news-creme-brulee-fr"' in text
    assert "q=Cr%C3%A8me+Br%C3%BBl%C3%A9e" in text
    listed = runner.invoke(app, ["sources", "-w", str(workspace)])
    assert "google-news-creme-brulee-fr" in listed.output

    again = runner.invoke(
        app, ["sources", "add", "google-news", "Crème Brûlée", "-w", str(workspace)]
    )
    assert again.exit_code == EXIT_USAGE  # the same name twice is refused...
    assert config.read_text() == text  # ...and the file is left as it was

    feed = runner.invoke(
        app, ["sources", "add", "rss", "https://www.lemonde.fr/rss/une.xml", "-w", str(workspace)]
    )
    assert feed.exit_code == EXIT_OK, feed.output
    assert 'name = "rss-lemonde-fr"' in config.read_text()
    bad = runner.invoke(app, ["sources", "add", "rss", "javascript:alert(1)", "-w", str(workspace)])
    assert bad.exit_code == EXIT_USAGE
