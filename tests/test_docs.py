"""The docs are checked against the code: every source type and option is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tocsin.plugins import source_classes
from tocsin.query import QueryError, parse

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## (\S+)\s*$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("name", sorted(source_classes()))
def test_every_source_type_and_option_is_documented(name: str) -> None:
    sections = _sections((DOCS / "sources.md").read_text(encoding="utf-8"))
    assert name in sections, f"docs/sources.md has no '## {name}' section"
    for option in source_classes()[name].Options.model_fields:
        assert f"`{option}`" in sections[name], f"option {option!r} of {name} is not documented"


def test_query_examples_in_readme_parse() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"tocsin (?:mentions|query check) (?:-w \S+ )?'([^']+)'", readme)
    assert examples, "the README shows query examples"
    for example in examples:
        try:
            parse(example)
        except QueryError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"README query {example!r} does not parse:\n{exc}")


def _query_doc() -> str:
    return (DOCS / "query-language.md").read_text(encoding="utf-8")


def _table_column(markdown: str, heading: str, column: int) -> list[str]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.findall(r"`([^`]+)`", row.split(" | ")[column])[0] for row in rows]


def test_query_language_examples_parse() -> None:
    doc = _query_doc()
    first_block = doc.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    rows = list(doc.split("## Examples\n", 1)[1].split("\n## ")[0].splitlines())
    examples = [re.findall(r"`([^`]+)`", row)[-1] for row in rows if row.count("`") >= 2]
    assert len(first_block) == 3
    assert len(examples) >= 8
    for query in first_block + examples:
        parse(query)


def test_query_language_documented_mistakes_are_refused() -> None:
    mistakes = _table_column(_query_doc(), "Errors", 0)
    assert len(mistakes) >= 8
    for query in mistakes:
        with pytest.raises(QueryError):
            parse(query)


def test_the_plugin_example_in_sources_md_defines_a_working_source() -> None:
    import types

    import pluggy

    from tocsin import hookspecs
    from tocsin.sources.base import Source

    doc = (DOCS / "sources.md").read_text(encoding="utf-8")
    code = doc.split("## Writing a source plugin", 1)[1].split("```python\n", 1)[1]
    module = types.ModuleType("my_forum_plugin")
    exec(compile(code.split("```", 1)[0], "docs/sources.md", "exec"), module.__dict__)
    pm = pluggy.PluginManager("tocsin")
    pm.add_hookspecs(hookspecs)
    pm.register(module)
    forum = source_classes(pm)["forum"]
    assert issubclass(forum, Source)
    assert forum.Options(url="https://forum.example/api").interval == 600


def test_the_alerting_example_is_a_valid_configuration(tmp_path: Path) -> None:
    from tocsin.config import load_settings

    doc = (DOCS / "alerting.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    header = '[organisation]\nname = "Acme"\n\n[[watches]]\nname = "brand"\nquery = "acme"\n\n'
    (tmp_path / "tocsin.toml").write_text(header + example, encoding="utf-8")
    env = {
        "TOCSIN_SIGNING_SECRET": "s",
        "TOCSIN_SLACK_URL": "json://127.0.0.1/slack",
        "TOCSIN_ALICE_SMS": "json://127.0.0.1/alice",
        "TOCSIN_BOB_MAIL": "mailto://bob:pw@mail.example.org",
    }
    settings = load_settings(tmp_path, env=env)
    assert [r.name for r in settings.alerts] == ["negative"]
    assert settings.escalations[0].steps[-1].after_minutes == 20
