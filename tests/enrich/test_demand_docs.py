"""Every documented demand example gives the documented output; every rule is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.enrich.demand import analyze, load_rules

#: The markdown holding the examples table (moves to docs/enrichment.md once merged).
DOC = Path(__file__).resolve().parents[2] / "docs" / "enrichment.md"
HEADER = ["rule", "lang", "text", "demand", "complaint", "urgent"]


def _rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == HEADER:
            in_table = True
            continue
        if in_table and line.startswith("|---"):
            continue
        if in_table and line.startswith("|"):
            assert len(cells) == len(HEADER), f"{DOC}: bad example row {line!r}"
            rows.append(dict(zip(HEADER, cells, strict=True)))
        elif in_table:
            break
    return rows


ROWS = _rows()


def test_the_doc_has_examples() -> None:
    assert len(ROWS) >= 20


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['rule']}:{r['text'][:30]}")
def test_documented_example(row: dict[str, str]) -> None:
    found = analyze(row["text"])
    rule = row["rule"]
    if rule == "-":
        assert found.rules == ()
    elif rule.startswith("!"):
        assert rule[1:] in found.negated
        assert rule[1:] not in found.rules
    else:
        assert rule in found.rules
    assert found.demand == row["demand"]
    assert found.complaint == (row["complaint"] == "yes")
    urgent = () if row["urgent"] == "-" else tuple(u.strip() for u in row["urgent"].split(","))
    assert found.urgent == urgent


def test_every_rule_has_a_french_and_an_english_example() -> None:
    documented = {(r["rule"].lstrip("!"), r["lang"]) for r in ROWS}
    for rule in load_rules():
        for lang in ("fr", "en"):
            assert (rule.name, lang) in documented, f"{DOC}: no {lang} example of {rule.name}"
