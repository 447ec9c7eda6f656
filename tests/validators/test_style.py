"""House style rules (validators/style.py): opening, sign-off, length; parsing; no database."""

from __future__ import annotations

import pytest

from validators import ExampleInput, KnowledgeBase, Policy, ProjectSpec, Severity, validate_example
from validators.style import (
    StyleCheck,
    StyleRules,
    blank_house_marks,
    follows_style,
    parse_style_rules,
    style_rules_problems,
)

RULES = {"opening": "**In short:**", "signoff": "— Acme Support", "max_words": 20}
GOOD = "**In short:** Refunds take 5 working days.\nYour bank may need longer.\n— Acme Support"


def spec(rules=RULES, **extra) -> ProjectSpec:
    return ProjectSpec.from_dict({"style_rules": rules}, **extra)


def answer(text: str, *, user: str = "How long do refunds take?") -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": text}]}


def codes(example, project_spec=None, policy=None) -> list[str]:
    return [f.code for f in validate_example(example, project_spec or spec(), policy)]


def test_an_answer_in_the_house_style_has_no_finding() -> None:
    assert codes(answer(GOOD)) == []
    assert codes(answer(GOOD + "  \n")) == ["fmt.trailing_whitespace"]  # trailing whitespace: not a style slip
    assert follows_style(GOOD, RULES)
    assert follows_style(GOOD + "\n", StyleRules.from_dict(RULES))


def test_a_missing_opening_is_found_with_what_the_answer_starts_with() -> None:
    [finding] = validate_example(answer("**In short: Refunds take 5 days.\n— Acme Support"), spec())
    assert finding.code == "style.opening"
    assert finding.severity is Severity.WARNING
    assert finding.message == "The answer should start with “**In short:**”; it starts with “**In short: Refunds”."
    assert finding.suggestion == "Start the answer with “**In short:**”."
    assert finding.location is not None
    assert (finding.location.message, finding.location.start, finding.location.end) == (1, 0, 19)
    assert finding.evidence == {"expected": "**In short:**", "found": "**In short: Refunds"}
    capitals = validate_example(answer("**in short:** Refunds take 5 days.\n— Acme Support"), spec())
    assert [f.message for f in capitals] == ["The answer should start with “**In short:**” (mind the capitals)."]


def test_a_missing_signoff_is_found_at_the_end_and_trailing_whitespace_is_ignored() -> None:
    text = "**In short:** Refunds take 5 days.\nThanks, Acme"
    [finding] = validate_example(answer(text), spec())
    assert finding.code == "style.signoff"
    assert finding.message == "The answer should end with “— Acme Support”; it ends with “Thanks, Acme”."
    assert finding.location is not None
    assert text[finding.location.start : finding.location.end] == "Thanks, Acme"
    assert codes(answer("**In short:** Refunds take 5 days.\n— Acme Support \n\n")) == ["fmt.trailing_whitespace"]
    assert not follows_style("**In short:** Refunds take 5 days. — Acme", RULES)


def test_a_long_answer_is_found_with_its_word_count() -> None:
    long = "**In short:** " + " ".join(["word"] * 30) + "\n— Acme Support"
    [finding] = validate_example(answer(long), spec())
    assert finding.code == "style.length"
    assert finding.message == "The answer has 35 words; the project's limit is 20."
    assert finding.evidence == {"words": 35, "max_words": 20}
    assert codes(answer(long), spec({"max_words": 35})) == []


def test_every_assistant_turn_is_checked_and_user_turns_never() -> None:
    example = {
        "messages": [
            {"role": "system", "content": "Be helpful."},
            {"role": "user", "content": "no style here"},
            {"role": "assistant", "content": GOOD},
            {"role": "user", "content": "And then?"},
            {"role": "assistant", "content": "Then nothing."},
        ]
    }
    found = validate_example(example, spec())
    assert sorted((f.code, f.location.message) for f in found if f.location) == [
        ("style.opening", 4),
        ("style.signoff", 4),
    ]


def test_no_rules_no_findings_and_empty_turns_are_left_to_the_formatting_check() -> None:
    assert codes(answer("whatever")) == ["style.opening", "style.signoff"]
    assert codes(answer("whatever"), ProjectSpec()) == []
    assert codes(answer("whatever"), spec({})) == []
    assert codes(answer("whatever"), spec({"opening": "", "signoff": None})) == []
    assert codes(answer("   ")) == ["fmt.empty_turn"]
    assert StyleCheck().check(ExampleInput.coerce(answer("x")), ProjectSpec()) == []
    assert not follows_style("", {})
    assert follows_style("anything", {})


def test_the_project_policy_regrades_and_disables_style_codes() -> None:
    slip = answer("Refunds take 5 days.")
    errors = validate_example(slip, spec(), Policy.from_dict({"overrides": {"style.*": "error"}}))
    assert {(f.code, f.severity) for f in errors} == {
        ("style.opening", Severity.ERROR),
        ("style.signoff", Severity.ERROR),
    }
    assert codes(slip, policy={"disabled": ["style.signoff"]}) == ["style.opening"]


def test_stored_rules_are_read_leniently_and_typed_rules_strictly() -> None:
    assert StyleRules.from_dict({"opening": " Hi ", "signoff": 3, "max_words": True}) == StyleRules(opening="Hi")
    assert StyleRules.from_dict(None) == StyleRules()
    assert StyleRules.from_dict(RULES).to_dict() == RULES
    assert StyleRules().to_dict() == {}
    assert StyleRules.from_dict(RULES).describe() == [
        "Start every answer with “**In short:**”.",
        "End every answer with “— Acme Support”.",
        "Keep every answer to at most 20 words.",
    ]
    assert style_rules_problems(RULES) == {}
    assert style_rules_problems(None) == {}
    assert style_rules_problems({"opening": "", "max_words": None}) == {}
    problems = style_rules_problems({"opening": 5, "signoff": "x" * 201, "max_words": 0, "tone": "warm"})
    assert problems == {
        "": "Unknown rule(s): tone. The rules are: opening, signoff, max_words.",
        "opening": "Required opening: text, or empty for none.",
        "signoff": "Required sign-off: at most 200 characters (this has 201).",
        "max_words": "Maximum words per answer: a whole number from 1 to 100,000, or empty.",
    }
    assert style_rules_problems(["opening"]) == {
        "": 'An object such as {"opening": "Hi!", "signoff": "— The team", "max_words": 60}, or {}.'
    }
    assert "control characters" in style_rules_problems({"signoff": "bye\x00"})["signoff"]
    assert style_rules_problems({"max_words": 2.5})["max_words"].startswith("Maximum words per answer")
    with pytest.raises(ValueError, match="Required opening"):
        parse_style_rules({"opening": ["x"]})
    assert parse_style_rules({"signoff": " — Bye "}) == StyleRules(signoff="— Bye")


def test_the_fact_check_reads_answers_without_the_house_marks() -> None:
    kb = KnowledgeBase.build([], facts=["Acme delivers to the EU, the UK and Norway."])
    text = "**In short:** Standard delivery is quick.\nTrack it in Orders.\n— Acme Support"
    example = answer(text)
    blanked = blank_house_marks(ExampleInput.coerce(example), RULES)
    content = blanked.messages[1].content
    assert len(content) == len(text)
    assert "In short" not in content
    assert "Acme Support" not in content
    assert "Standard delivery is quick." in content
    found = validate_example(example, spec(knowledge_base=kb), fact_check=True)
    claims = [f.evidence.get("claim") for f in found if f.code.startswith("fact.")]
    assert claims
    assert not any("Acme Support" in str(c) or "In short" in str(c) for c in claims)
    # Without rules the sign-off is read as text like any other (and here names Acme).
    plain = validate_example(example, ProjectSpec(knowledge_base=kb), fact_check=True)
    assert any("Acme Support" in str(f.evidence.get("claim")) for f in plain)
