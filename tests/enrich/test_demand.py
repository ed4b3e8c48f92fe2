"""The demand enricher: demands, complaints, urgent reasons, negation, sarcasm, mixed posts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.enrich.base import Enricher
from tocsin.enrich.demand import (
    PRECEDENCE,
    URGENT_REASONS,
    DemandEnricher,
    _compiled,
    analyze,
    fold,
    load_rules,
)
from tocsin.enrich.rulescan import RuleScanner, expand, first_chars
from tocsin.mention import Mention

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "demand"),
    [
        ("Vous nous devez des excuses.", "apology"),
        ("J'exige des excuses officielles de la direction.", "apology"),
        ("You owe us an apology.", "apology"),
        ("We demand a public apology.", "apology"),
        ("Expliquez-vous : comment est-ce possible ?", "explanation"),
        ("Pourquoi ma commande est bloquée depuis 10 jours ?", "explanation"),
        ("Why was my account closed?", "explanation"),
        ("Réparez le wifi, ça ne marche plus.", "fix"),
        ("Please fix the app, it crashes every time.", "fix"),
        ("Je veux un geste commercial.", "compensation"),
        ("Remboursez-moi immédiatement.", "compensation"),
        ("I want my money back.", "compensation"),
        ("Comment je fais pour résilier mon abonnement ?", "information"),
        ("How do I cancel my subscription?", "information"),
        ("Super soirée hier au concert.", "none"),
        ("Great show last night.", "none"),
    ],
)
def test_each_demand_in_french_and_english(text: str, demand: str) -> None:
    assert analyze(text).demand == demand


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Je vais porter plainte contre vous.", "legal_threat"),
        ("Mon avocat vous enverra une mise en demeure.", "legal_threat"),
        ("I will sue you, see you in court.", "legal_threat"),
        ("My lawyer will be in touch.", "legal_threat"),
        ("Ma fille a été brûlée par la bouilloire.", "safety"),
        ("Intoxication alimentaire après le repas, toute la famille aux urgences.", "safety"),
        ("The charger caught fire overnight.", "safety"),
        ("Food poisoning after eating your sandwich.", "safety"),
        ("Mes données ont fuité, merci la fuite de données.", "data_breach"),
        ("Mon compte a été piraté.", "data_breach"),
        ("My account was hacked.", "data_breach"),
        ("Your data breach exposed my personal data.", "data_breach"),
        ("Boycottez cette marque !", "boycott_call"),
        ("N'achetez plus rien chez eux.", "boycott_call"),
        ("#BoycottAcme", "boycott_call"),
        ("Don't buy from them, spread the word.", "boycott_call"),
        ("Je contacte la presse dès demain.", "media"),
        ("Journaliste chez France Info, pouvez-vous confirmer ?", "media"),
        ("I have contacted the BBC.", "media"),
        ("Reporter here, request for comment on the recall.", "media"),
    ],
)
def test_each_urgent_reason_in_french_and_english(text: str, reason: str) -> None:
    assert reason in analyze(text).urgent


def test_urgent_reasons_other_than_media_are_complaints() -> None:
    assert analyze("Je vais porter plainte.").complaint
    assert analyze("Boycott them.").complaint
    assert not analyze("I'm a journalist working on a story.").complaint


@pytest.mark.parametrize(
    "text",
    [
        "Je suis pas du tout satisfait.",
        "Pas content du tout de la livraison.",
        "Not happy at all.",
        "Not impressed with the new update.",
        "C'est inadmissible.",
        "This is unacceptable.",
        "Mon colis n'est jamais arrivé.",
        "My order is late again.",
    ],
)
def test_complaints(text: str) -> None:
    assert analyze(text).complaint


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Je ne vais pas porter plainte, pas de souci.", "legal_threat"),
        ("I'm not going to sue anyone.", "legal_threat"),
        ("Vous ne me devez pas d'excuses.", "apology_request"),
        ("You don't owe us an apology.", "apology_request"),
        ("Je ne suis pas déçu.", "complaint_word"),
        ("Not bad at all!", "complaint_word"),
        ("Ce n'est pas dangereux.", "safety"),
        ("It's not dangerous.", "safety"),
    ],
)
def test_negation_cancels_a_rule(text: str, rule: str) -> None:
    found = analyze(text)
    assert rule in found.negated
    assert rule not in found.rules
    assert not found.urgent


def test_no_need_to_apologise_is_not_an_apology_demand() -> None:
    assert analyze("No need to apologise, these things happen.").demand == "none"
    assert analyze("Pas besoin de vous excuser, ça arrive.").demand == "none"


def test_negation_stops_at_the_clause() -> None:
    found = analyze("Personne ne répond, c'est honteux.")
    assert found.complaint
    assert "complaint_word" in found.rules
    assert "legal_threat" in analyze("Je ne plaisante pas, je vais porter plainte.").rules


def test_missing_apology_is_an_apology_demand() -> None:
    assert analyze("Pas un mot d'excuse après trois heures d'attente.").demand == "apology"
    assert analyze("They never even apologised.").demand == "apology"


def test_questions_are_information_unless_a_complaint() -> None:
    assert analyze("Comment je fais pour me connecter ?").demand == "information"
    assert analyze("How do I log in?").demand == "information"
    assert analyze("Ça ne marche pas, comment je fais pour me connecter ?").demand == (
        "explanation"
    )
    assert analyze("The app is not working, how do I log in?").demand == "explanation"


@pytest.mark.parametrize(
    "text",
    [
        "Merci pour rien.",
        "Merci du cadeau...",
        "Bravo, encore un retard !",
        "Thanks for nothing.",
        "Great, another delay.",
        "Love waiting on hold for two hours.",
    ],
)
def test_common_sarcasm_is_a_complaint(text: str) -> None:
    found = analyze(text)
    assert found.complaint
    assert "sarcasm" in found.rules


def test_sincere_thanks_are_not_sarcasm() -> None:
    assert not analyze("Merci pour votre aide !").complaint
    assert not analyze("Great service, thanks!").complaint


def test_mixed_language_post_runs_both_languages() -> None:
    found = analyze("Service nul, I want a refund. Je vais porter plainte.", "fr")
    assert found.demand == "compensation"
    assert found.complaint
    assert found.urgent == ("legal_threat",)
    assert {"complaint_word", "compensation_request", "legal_threat"} <= set(found.rules)
    assert analyze("Boycottez Acme, don't buy their stuff", "en").urgent == ("boycott_call",)


def test_precedence_and_all_demands_kept() -> None:
    found = analyze("Excusez-vous, expliquez-vous et remboursez-moi !")
    assert found.demand == "compensation"
    assert found.demands == ("compensation", "apology", "explanation")
    assert found.demands == tuple(d for d in PRECEDENCE if d in found.demands)


def test_urgent_reasons_in_fixed_order() -> None:
    found = analyze("Journaliste ici : vos clients ont été blessés, ils vont porter plainte.")
    assert found.urgent == ("legal_threat", "safety", "media")
    assert set(found.urgent) <= set(URGENT_REASONS)


@pytest.mark.parametrize("text", ["", "   ", "😀", "http://t.co/x"])
def test_empty_or_contentless_text(text: str) -> None:
    found = analyze(text)
    assert (found.demand, found.complaint, found.urgent, found.rules) == ("none", False, (), ())


def test_fold() -> None:
    assert fold("  Évidemment   DÉÇU\n par l’œuvre ") == "evidemment decu par l'oeuvre"
    assert fold("plain ascii") == "plain ascii"


def _mention(text: str, n: int, **kw: object) -> Mention:
    return Mention(
        id=f"x:{n}",
        source="x",
        url=f"https://x.com/a/status/{n}",
        text=text,
        published_at=NOW,
        seen_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_enricher_sets_fields_and_keeps_order() -> None:
    enricher = DemandEnricher()
    assert isinstance(enricher, Enricher)
    assert enricher.name == "demand"
    mentions = [
        _mention("Remboursez-moi, c'est une arnaque !", 1),
        _mention("", 2),
        _mention("Nice one", 3, title="Acme: see you in court"),
        _mention("How do I update the app?", 4),
    ]
    out = enricher.enrich(mentions)
    assert [m.id for m in out] == ["x:1", "x:2", "x:3", "x:4"]
    assert [m.demand for m in out] == ["compensation", "none", "none", "information"]
    assert [m.complaint for m in out] == [True, False, True, False]
    assert [m.urgent for m in out] == [(), (), ("legal_threat",), ()]
    assert out[0].text == mentions[0].text
    assert enricher.enrich([]) == []


def test_bad_rule_files_fail_with_the_rule_name() -> None:
    bad_effect = "[[rule]]\nname='x'\neffects=['demand:pizza']\nfr=['a']\nen=['b']\n"
    with pytest.raises(ValueError, match=r"'x'.*unknown effect 'demand:pizza'"):
        load_rules(bad_effect)
    one_language = "[[rule]]\nname='y'\neffects=['complaint']\nfr=['a']\n"
    with pytest.raises(ValueError, match="'y' needs French"):
        load_rules(one_language)
    bad_regex = "[[rule]]\nname='z'\neffects=['complaint']\nfr=['(a']\nen=['b']\n"
    with pytest.raises(ValueError, match="'z': bad pattern"):
        DemandEnricher(bad_regex)


def test_custom_rules() -> None:
    toml = "[[rule]]\nname='late'\neffects=['complaint']\nfr=['en retard']\nen=['late']\n"
    enricher = DemandEnricher(toml)
    assert enricher.enrich([_mention("Train late again", 1)])[0].complaint


def test_first_chars() -> None:
    assert first_chars("abc") == frozenset("a")
    assert first_chars("(?:ab|cd)e") == frozenset("ac")
    assert first_chars("#?boycott") == frozenset("#b")
    assert first_chars(r"\?") == frozenset("?")
    assert first_chars("(?:x|y)?z") == frozenset("xyz")
    assert first_chars(r"\w+") is None
    assert first_chars("[ab]c") is None
    assert first_chars("(?:a|\\w)") is None
    assert expand("(?:a|b)c") == ["(?:a)c", "(?:b)c"]
    assert expand("(?:a|b)?c") == ["(?:a|b)?c"]


def test_scanner_agrees_with_one_plain_regex() -> None:
    scanner = _compiled().scanner
    texts = [fold(r["text"]) for r in _doc_like_texts()]
    for text in texts:
        assert list(scanner.scan(text)) == list(scanner.scan_reference(text)), text
    tiny = RuleScanner([("a", r"\w+ing"), ("b", "(?:go|do)ne"), ("q", r"\?")])
    sample = "gone doing done? undone"
    assert list(tiny.scan(sample)) == list(tiny.scan_reference(sample))


def _doc_like_texts() -> list[dict[str, str]]:
    samples = [
        "Je vais porter plainte, c'est inadmissible ! Pourquoi ?",
        "Great, another delay. Thanks for nothing, I want a refund #boycott",
        "pas du tout satisfait, mes données ont fuité, journaliste au parisien",
        "not happy, how do I fix this? my lawyer says it's dangerous",
        "ordinary text about the weather in paris, nothing to see",
        "n'achetez plus, fuyez, remboursement, dédommagement, excusez-vous",
    ]
    return [{"text": s} for s in samples]


def test_sarcasm_turns_a_positive_sentiment_negative() -> None:
    import dataclasses
    from datetime import UTC, datetime

    from tocsin.enrich.demand import DemandEnricher
    from tocsin.mention import Mention, Sentiment

    at = datetime(2026, 11, 25, tzinfo=UTC)
    base = Mention(id="x:1", source="x", url="", text="", published_at=at, seen_at=at)
    sarcastic = dataclasses.replace(
        base, text="Merci pour rien @Acme", sentiment=Sentiment("positive", 0.86)
    )
    sincere = dataclasses.replace(
        base,
        id="x:2",
        text="Merci @Acme pour le remboursement",
        sentiment=Sentiment("positive", 0.9),
    )
    first, second = DemandEnricher().enrich([sarcastic, sincere])
    assert first.sentiment == Sentiment("negative", -0.86)
    assert first.complaint
    assert second.sentiment == Sentiment("positive", 0.9)
