"""What the author of a mention wants, whether it is a complaint, and why it may be urgent.

Named rules (``lexicons/demand.toml``, documented with examples in ``docs/enrichment.md``)
are regular expressions on *folded* text: lower case, accents removed, apostrophes made
``'``. Every rule has French and English patterns and both always run, because posts mix
languages and declared languages are often wrong. All patterns are compiled into one
regex; a post is scanned once, left to right, and each match names its rule.

* **Negation.** A rule marked ``negatable`` is cancelled by a negation word shortly before
  it in the same clause (`NEGATION`): "je ne vais pas porter plainte", "no need to
  apologise", "not disappointed". Negated positives are rules of their own
  (``not_satisfied``: "pas du tout satisfait", "not happy" are complaints), as are missing
  apologies (``apology_missing``: "pas un mot d'excuse", "didn't even apologise").
* **Questions** are ``information`` ("comment je fais pour… ?", "how do I…?"), except in a
  complaint, where the author wants an ``explanation``. "Pourquoi… ?"/"why…?" asks for an
  explanation in any case.
* **Sarcasm**: only common fixed forms are handled (rule ``sarcasm``): "merci pour rien",
  "thanks for nothing", praise followed closely by a misfortune word ("bravo, encore un
  retard", "great, another delay"). Irony in general is not detected.
* **Primary demand** (`PRECEDENCE`): compensation > fix > apology > explanation >
  information > none. The most concrete request wins, because an answer that ignores a
  refund or a repair fails the author; every demand found is kept in `Analysis.demands`.
* **Complaint**: a complaint rule fired, or an apology was asked for, or a legal threat,
  safety issue, data breach or boycott call was raised (a journalist's question alone is
  not a complaint).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from tocsin.enrich.rulescan import RuleScanner
from tocsin.mention import Mention, Sentiment

__all__ = [
    "DEMANDS",
    "NEGATION",
    "PRECEDENCE",
    "URGENT_REASONS",
    "Analysis",
    "DemandEnricher",
    "Rule",
    "analyze",
    "fold",
    "load_rules",
]

DEMANDS = ("apology", "explanation", "fix", "compensation", "information", "none")
#: Primary demand when several are found: first in this order wins.
PRECEDENCE = ("compensation", "fix", "apology", "explanation", "information")
URGENT_REASONS = ("legal_threat", "safety", "data_breach", "boycott_call", "media")
#: Urgent reasons that also make a post a complaint.
_COMPLAINING_URGENCY = frozenset(URGENT_REASONS) - {"media"}

#: A negation in the 30 characters before a negatable match (same clause) cancels it.
NEGATION = re.compile(
    r"(?:\bn'|\b(?:ne|pas|jamais|sans|aucun|aucune|inutile|not|no|never|without|nor)\b|n't\b"
    r"|\b(?:dont|didnt|wont|cant|isnt|wasnt)\b)"
)
_WINDOW = 30
_CLAUSE_END = re.compile(
    r".*(?:[.!?;,:()]|\b(?:et|mais|car|donc|puis|and|but|because|so|then)\b)", re.DOTALL
)
_FOLD_TABLE = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "œ": "oe", "æ": "ae", "ß": "ss"})
_COMBINING = re.compile(r"[\u0300-\u036f]")
_EFFECT = re.compile(r"^(?:complaint|demand:(?:\w+)|urgent:(?:\w+))$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One named rule: its effects, whether a negation cancels it, its patterns."""

    name: str
    effects: tuple[str, ...]
    negatable: bool
    doc: str
    fr: tuple[str, ...]
    en: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Analysis:
    """What `analyze` found in one text."""

    demand: str = "none"
    complaint: bool = False
    urgent: tuple[str, ...] = ()
    #: Every demand found, primary first (`PRECEDENCE` order).
    demands: tuple[str, ...] = ()
    #: Names of the rules that fired, in text order, each once.
    rules: tuple[str, ...] = ()
    #: Names of the rules that matched but were cancelled by a negation.
    negated: tuple[str, ...] = ()


def fold(text: str) -> str:
    """Lower case, accents removed, apostrophes unified, spaces collapsed."""
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_FOLD_TABLE)))
    return " ".join(text.split())


def _check(rule: Rule) -> None:
    for effect in rule.effects:
        kind, _, value = effect.partition(":")
        ok = _EFFECT.match(effect) and (
            kind == "complaint"
            or (kind == "demand" and value in PRECEDENCE)
            or (kind == "urgent" and value in URGENT_REASONS)
        )
        if not ok:
            raise ValueError(
                f"demand rule {rule.name!r}: unknown effect {effect!r}; use 'complaint', "
                f"'demand:<{'|'.join(PRECEDENCE)}>' or 'urgent:<{'|'.join(URGENT_REASONS)}>'"
            )
    if not rule.fr or not rule.en:
        raise ValueError(f"demand rule {rule.name!r} needs French (fr) and English (en) patterns")
    for pattern in (*rule.fr, *rule.en):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"demand rule {rule.name!r}: bad pattern {pattern!r}: {exc}") from None
        if compiled.groupindex:
            raise ValueError(f"demand rule {rule.name!r}: pattern {pattern!r} has a named group")


def load_rules(text: str | None = None) -> tuple[Rule, ...]:
    """Rules from TOML `text`, or from the shipped ``lexicons/demand.toml``."""
    if text is None:
        text = resources.files("tocsin.enrich").joinpath("lexicons/demand.toml").read_text("utf-8")
    rules = []
    for raw in tomllib.loads(text).get("rule", []):
        rule = Rule(
            name=str(raw["name"]),
            effects=tuple(raw["effects"]),
            negatable=bool(raw.get("negatable", False)),
            doc=str(raw.get("doc", "")),
            fr=tuple(raw.get("fr", ())),
            en=tuple(raw.get("en", ())),
        )
        _check(rule)
        rules.append(rule)
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class _Compiled:
    scanner: RuleScanner
    by_name: dict[str, Rule]


@lru_cache(maxsize=4)
def _compiled(text: str | None = None) -> _Compiled:
    rules = load_rules(text)
    patterns = [(rule.name, p) for rule in rules for p in (*rule.fr, *rule.en)]
    return _Compiled(RuleScanner(patterns), {rule.name: rule for rule in rules})


def _negated(folded: str, start: int) -> bool:
    window = folded[max(0, start - _WINDOW) : start]
    clause = _CLAUSE_END.match(window)
    if clause:
        window = window[clause.end() :]
    return NEGATION.search(window) is not None


def analyze(text: str, lang: str | None = None, *, rules_toml: str | None = None) -> Analysis:
    """Demand, complaint and urgent reasons of one text, with the rules that fired.

    `lang` is accepted for symmetry with the other analyses but does not select rules:
    French and English rules always both run (mixed posts, wrong language tags).
    """
    del lang
    compiled = _compiled(rules_toml)
    folded = fold(text)
    fired: dict[str, Rule] = {}
    negated: dict[str, None] = {}
    for name, start in compiled.scanner.scan(folded):
        rule = compiled.by_name[name]
        if rule.negatable and _negated(folded, start):
            negated[rule.name] = None
        else:
            fired.setdefault(rule.name, rule)
    return _decide(fired, tuple(negated))


def _decide(fired: dict[str, Rule], negated: tuple[str, ...]) -> Analysis:
    if not fired:
        return Analysis(negated=negated)
    effects = {effect for rule in fired.values() for effect in rule.effects}
    urgent = tuple(r for r in URGENT_REASONS if f"urgent:{r}" in effects)
    complaint = "complaint" in effects or any(r in _COMPLAINING_URGENCY for r in urgent)
    demands = [d for d in PRECEDENCE if f"demand:{d}" in effects]
    if complaint and demands == ["information"]:
        demands = ["explanation"]  # a complaining question wants to know what happened
    return Analysis(
        demand=demands[0] if demands else "none",
        complaint=complaint,
        urgent=urgent,
        demands=tuple(demands),
        rules=tuple(fired),
        negated=tuple(n for n in negated if n not in fired),
    )


class DemandEnricher:
    """Sets `Mention.demand`, `Mention.complaint` and `Mention.urgent`."""

    name = "demand"
    description = (
        "What the author wants (apology, explanation, fix, compensation, information), "
        "whether it is a complaint, and urgent reasons (legal threat, safety, data breach, "
        "boycott call, media), from named French and English rules; see `docs/enrichment.md`."
    )

    def __init__(self, rules_toml: str | None = None) -> None:
        self.rules_toml = rules_toml
        _compiled(rules_toml)  # a bad rule file fails here, not on the first mention

    def health(self) -> str:
        """``ok``: the rules compile (checked when the enricher is built)."""
        return "ok"

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]:
        """One enriched copy per mention, same order; the title counts with the text."""
        out = []
        for m in mentions:
            text = f"{m.title}\n{m.text}" if m.title else m.text
            found = analyze(text, m.lang, rules_toml=self.rules_toml)
            out.append(
                dataclasses.replace(
                    m,
                    demand=found.demand,
                    complaint=found.complaint,
                    urgent=found.urgent,
                    sentiment=_sarcasm_aware(m.sentiment, found),
                )
            )
        return out


def _sarcasm_aware(sentiment: Sentiment | None, found: Analysis) -> Sentiment | None:
    """Sarcastic praise ("merci pour rien", "great, another delay") reads positive to a
    sentiment model; when the `sarcasm` rule fired, a positive label is turned negative with
    the same strength (runs after the sentiment enricher)."""
    if sentiment is None or "sarcasm" not in found.rules or sentiment.label != "positive":
        return sentiment
    return Sentiment("negative", -abs(sentiment.score))
