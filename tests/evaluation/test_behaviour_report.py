"""The behavioural evaluation's report: the project's own checks run on stored answers of base and adapter,
pass rates per check and per category (no worker, no model: the answers are a stored engine result)."""

from __future__ import annotations

import pytest

from evaluation.services.behaviour import answer_failures, behaviour_report, checks_ran
from training.engine import results
from training.engine.artifacts import BEHAVIOUR_HEADING, card_with_behaviour

pytestmark = pytest.mark.django_db

SIGNOFF = "— Acme Support"


def answer(text: str, cut: bool = False) -> dict:
    return {"text": text, "new_tokens": len(text.split()), "cut": cut}


def prompt(i: int, *, split: str = "validation", category: str = "billing", base: str, adapter: str) -> dict:
    return {
        "split": split,
        "source": "validation" if split == "validation" else "control",
        "index": i,
        "category": category if split == "validation" else "",
        # Doubled spaces in the user's turn: findings in the prompt never count against an answer.
        "prompt": [{"role": "user", "content": f"How  do I export invoice {i}?"}],
        "reference": f"Open Billing and export invoice {i}.\n{SIGNOFF}",
        "base": answer(base),
        "adapter": answer(adapter),
    }


def stored_run(prompts: list[dict]) -> dict:
    """What `JobResult.behaviour` holds once stored as JSON."""
    return {
        "prompts": prompts,
        "decoding": {"strategy": "greedy", "max_new_tokens": 64, "prompt_format": "chat template", "batch_size": 8},
        "seconds": 3.5,
        "budget_seconds": 60.0,
        "validation_available": len([p for p in prompts if p["split"] == "validation"]),
        "control_available": 300,
        "skipped": 0,
    }


@pytest.fixture
def styled(project):
    project.style_rules = {"signoff": SIGNOFF}
    project.save()
    return project


def twelve_prompts() -> list[dict]:
    """12 validation prompts (8 billing, 4 general) and 2 control prompts. The base never signs off and
    leaks a template token in 3 answers; the adapter signs off on all but one and leaks none."""
    rows = []
    for i in range(12):
        base = f"You can export invoice {i} from the billing page."
        if i < 3:
            base += " <|im_end|>"
        adapter = f"Open Billing and export invoice {i}.\n{SIGNOFF}" if i != 11 else "Open Billing."
        rows.append(prompt(i, category="billing" if i < 8 else "general", base=base, adapter=adapter))
    rows.append(prompt(0, split="control", base="The sky is blue because of scattering.", adapter="Blue light."))
    rows.append(prompt(1, split="control", base="Canberra.", adapter=f"Canberra.\n{SIGNOFF}"))
    return rows


def rates(report: results.BehaviourReport) -> dict[str, tuple[int, int, int]]:
    return {c["code"]: (c["base_passed"], c["adapter_passed"], c["n"]) for c in report["checks"]}


def test_pass_rates_per_check_from_a_stored_result(styled):
    run = results.behaviour_run(stored_run(twelve_prompts()))
    assert run is not None
    report = behaviour_report(styled, run)

    by_code = rates(report)
    # The house sign-off: never kept by the base, kept by the adapter in 11 of 12 answers.
    assert by_code["style.signoff"] == (0, 11, 12)
    # A formatting check: the base leaks a chat-template token in 3 answers, the adapter in none.
    assert by_code["fmt.template_token"] == (9, 12, 12)
    # The prompts' doubled spaces count against no answer.
    assert by_code["fmt.double_space"] == (12, 12, 12)
    assert report["all_checks"] == {
        "code": "*",
        "label": "Every check",
        "n": 12,
        "base_passed": 0,
        "adapter_passed": 11,
        "stated": False,
    }
    labels = {c["code"]: c["label"] for c in report["checks"]}
    assert labels["fmt.template_token"] == "Leaked template token"
    assert labels["style.signoff"] == "Answer does not end with the house sign-off"
    assert [c["code"] for c in report["checks"] if c["stated"]] == ["style.signoff"]
    assert report["checks"][0]["code"] == "style.signoff"  # rules the project states come first
    # Every check that ran has a row; the fact check needs a knowledge base, the schema check a schema.
    assert not any(code.startswith(("fact.", "schema.", "meta.", "glossary.")) for code in by_code)
    assert "style.opening" not in by_code  # the project states no opening
    assert {"fmt.empty_turn", "pii.email", "tokens.too_long"} <= set(by_code)

    categories = {
        (c["split"], c["category"]): (c["base_passed"], c["adapter_passed"], c["n"]) for c in report["categories"]
    }
    assert categories == {
        ("validation", "billing"): (0, 8, 8),
        ("validation", "general"): (0, 3, 4),
        ("control", ""): (0, 1, 2),
    }
    first = report["prompts"][0]
    assert first["base_failed"] == ["fmt.template_token", "style.signoff"]
    assert first["adapter_failed"] == []
    assert report["decoding"]["max_new_tokens"] == 64
    assert report["seconds"] == 3.5
    assert report["checks_seconds"] >= 0
    assert results.behaviour_report(report) == report  # stored JSON reads back through the schema


def test_the_view_judges_only_rows_with_enough_answers(styled):
    report = behaviour_report(styled, results.behaviour_run(stored_run(twelve_prompts())))
    view = results.behaviour_view(report)
    assert view is not None
    assert (view.overall.base, view.overall.adapter, view.overall.change) == (
        "0 of 12 (0%)",
        "11 of 12 (92%)",
        "+11 answers",
    )
    rows = {r.code: r for r in view.checks}
    assert rows["fmt.template_token"].change == "+3 answers"
    assert rows["fmt.template_token"].note == ""
    # Nothing found in any answer: listed apart, not as a table row.
    assert "fmt.double_space" not in rows
    assert "fmt.double_space" in {r.code for r in view.clean}
    categories = {r.label: r for r in view.categories}
    assert categories["billing"].note == "only 8 answers: too few to judge"
    assert categories["billing"].change == ""
    assert categories["Everyday requests (control set)"].note == "only 2 answers: too few to judge"
    assert view.examples[0].base_failed == ["Leaked template token", "Answer does not end with the house sign-off"]
    assert view.prompt_lines[:2] == ["How do I export invoice 0?", "How do I export invoice 1?"]


def test_a_rule_the_policy_turns_off_is_not_reported(styled):
    styled.validation_policy = {"disabled": ["fmt.template_token"]}
    styled.save()
    report = behaviour_report(styled, results.behaviour_run(stored_run(twelve_prompts())))
    assert "fmt.template_token" not in rates(report)
    assert report["prompts"][0]["base_failed"] == ["style.signoff"]


def test_project_rules_join_the_checks_that_ran(project):
    plain = checks_ran(project)
    assert not any(code.startswith(("style.", "schema.", "glossary.", "fact.")) for code in plain)
    project.style_rules = {"opening": "Hello!", "signoff": "", "max_words": 40}
    project.response_schema = {"type": "object"}
    project.glossary = {"login": "sign in"}
    project.save()
    stated = {code for code, is_stated in checks_ran(project).items() if is_stated}
    assert stated == {
        "style.opening",
        "style.length",
        "schema.invalid_json",
        "schema.mismatch",
        "glossary.forbidden_term",
    }


def test_only_findings_in_the_answer_count():
    findings = [
        {"code": "fmt.double_space", "location": {"message": 0, "start": 3, "end": 5}},  # the prompt
        {"code": "style.signoff", "location": {"message": 1, "start": 0, "end": 9}},
        {"code": "fact.supported", "location": {"message": 1, "start": 0, "end": 9}},  # a claim that holds
        {"code": "meta.unknown_category", "location": None},  # the example's label, not the answer
        {"code": "tokens.too_long", "location": None},
    ]
    assert answer_failures(findings, 1) == ["style.signoff", "tokens.too_long"]


def test_the_model_card_gets_the_tables(styled):
    report = behaviour_report(styled, results.behaviour_run(stored_run(twelve_prompts())))
    card = "# Adapter\n\n## Metrics\n\n| a | b |\n\n## Package versions\n\n- torch: 2\n"
    text = card_with_behaviour(card, report)
    assert text.index(BEHAVIOUR_HEADING) < text.index("## Package versions")
    assert "| Every check | 0 of 12 (0%) | 11 of 12 (92%) | 12 | +11 answers |" in text
    assert "| Answer does not end with the house sign-off (`style.signoff`) | 0 of 12 (0%) | 11 of 12 (92%) |" in text
    assert "| billing | 0 of 8 (0%) | 8 of 8 (100%) | 8 | only 8 answers: too few to judge |" in text
    assert card_with_behaviour(text, report) == text  # put in again: replaced, not repeated
