"""Behavioural evaluation, the platform's part: the project's own per-example checks run on every answer
the base model and the adapter gave (the engine's `BehaviourRun`), tabulated per check and per category.

Each answer is checked as the conversation it ends: the prompt plus the answer as the last assistant
turn, through `annotation.services.validation` (the function `findings_for` uses, prepared once per
project), with the fact check. A finding counts against the answer when it points at the answer's turn
(or at the whole conversation); findings in the prompt, findings that judge the example's labels
(category, style tags) and findings that confirm a claim (supported, verified) do not.

"Every check that ran": the codes of the per-example checks the validator ran (`validators.FAST_CHECKS`
and the fact check), less the checks that need something the project does not state (a knowledge base,
a JSON Schema, a glossary, a house style rule) and codes the project's policy turns off, plus any other
code found in an answer. Rules the project states are `stated` (always shown on the pages).

Pass rates per check are over the validation prompts (the project's own); the control prompts (everyday
requests) have their own row in the per-category table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from annotation.models import Project
from annotation.services.validation import (
    example_payload,
    findings_checker,
    has_knowledge,
    knowledge_fingerprint,
    project_policy,
    project_spec,
)
from training.engine import results

# Codes whose finding says a claim holds: a note, not a failure.
POSITIVE_CODES = frozenset({"fact.supported", "fact.verified"})
# Checks that judge the example's labels (its category and style tags), which a generated answer has none of.
LABEL_CHECKS = frozenset({"metadata"})
# House style rule behind each style code (`Project.style_rules` keys).
STYLE_RULES = {"style.opening": "opening", "style.signoff": "signoff", "style.length": "max_words"}


def _stated_rule(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def checks_ran(project: Project) -> dict[str, bool]:
    """The codes the project's checks look for in an answer, in the registry's order: code -> whether the
    project states that rule (house style, JSON Schema, glossary, knowledge base)."""
    from validators import CHECKS, FAST_CHECKS, REGISTRY

    spec = project_spec(project)
    policy = project_policy(project)
    knowledge = has_knowledge(knowledge_fingerprint(project))
    style = getattr(spec, "style_rules", None) or {}
    configured = {
        "facts": knowledge,
        "schema": bool(project.response_schema),
        "glossary": bool(project.glossary),
    }
    codes: dict[str, bool] = {}
    for name in (*FAST_CHECKS, "facts"):
        check = CHECKS.get(name)
        if check is None or name in LABEL_CHECKS:
            continue
        for code in check.codes:
            if code in POSITIVE_CODES or policy.is_disabled(code):
                continue
            if code in STYLE_RULES:
                if _stated_rule(style.get(STYLE_RULES[code])):
                    codes[code] = True
            elif name in configured:
                if configured[name]:
                    codes[code] = True
            else:
                codes[code] = False
    order = {code: i for i, code in enumerate(REGISTRY)}
    return dict(sorted(codes.items(), key=lambda kv: (not kv[1], order.get(kv[0], len(order)), kv[0])))


def answer_failures(findings: Iterable[Mapping[str, Any]], answer_index: int) -> list[str]:
    """The codes an answer (message `answer_index` of the checked conversation) fails, sorted."""
    from validators import REGISTRY

    failed = set()
    for f in findings:
        code = str(f.get("code") or "")
        info = REGISTRY.get(code)
        if not code or code in POSITIVE_CODES or (info is not None and info.check in LABEL_CHECKS):
            continue
        location = f.get("location")
        if location is None or (isinstance(location, Mapping) and location.get("message") == answer_index):
            failed.add(code)
    return sorted(failed)


def _rate(code: str, label: str, rows: list[results.CheckedPrompt], stated: bool = False) -> results.CheckRate:
    def passes(failed: list[str]) -> bool:
        return not failed if code == "*" else code not in failed

    return {
        "code": code,
        "label": label,
        "n": len(rows),
        "base_passed": sum(1 for r in rows if passes(r["base_failed"])),
        "adapter_passed": sum(1 for r in rows if passes(r["adapter_failed"])),
        "stated": stated,
    }


def tabulate(
    run: results.BehaviourRun, checked: list[results.CheckedPrompt], ran: Mapping[str, bool], checks_seconds: float
) -> results.BehaviourReport:
    """The report from the answers and the codes each failed (pure: no database)."""
    from validators import REGISTRY

    validation = [p for p in checked if p["split"] == "validation"]
    found = sorted({c for p in validation for c in (*p["base_failed"], *p["adapter_failed"])} - set(ran))
    codes = {**ran, **dict.fromkeys(found, False)}
    checks = [
        _rate(code, REGISTRY[code].title if code in REGISTRY else code, validation, stated)
        for code, stated in codes.items()
    ]
    categories: list[results.CategoryRate] = []
    names = sorted({p["category"] for p in validation}, key=lambda c: (c == "", c.casefold()))
    groups = [("validation", name, [p for p in validation if p["category"] == name]) for name in names]
    control = [p for p in checked if p["split"] == "control"]
    if control:
        groups.append(("control", "", control))
    for split, name, rows in groups:
        rate = _rate("*", "", rows)
        categories.append(
            {
                "category": name,
                "split": split,
                "n": rate["n"],
                "base_passed": rate["base_passed"],
                "adapter_passed": rate["adapter_passed"],
            }
        )
    return {
        "checks": checks,
        "all_checks": _rate("*", "Every check", validation),
        "categories": categories,
        "prompts": checked,
        "decoding": run["decoding"],
        "seconds": run["seconds"],
        "checks_seconds": checks_seconds,
        "skipped": run["skipped"],
        "validation_available": run["validation_available"],
        "control_available": run["control_available"],
    }


def behaviour_report(
    project: Project, run: results.BehaviourRun, *, checker: Callable[[Any], list[dict]] | None = None
) -> results.BehaviourReport:
    """Run the project's checks on every answer of `run` (base and adapter) and tabulate them."""
    started = time.perf_counter()
    check = checker or findings_checker(project, fact_check=True)
    checked: list[results.CheckedPrompt] = []
    for p in run["prompts"]:
        failed = {}
        for side in ("base", "adapter"):
            messages = [*p["prompt"], {"role": "assistant", "content": p[side]["text"]}]
            payload = example_payload(messages=messages, category=p["category"])
            failed[side] = answer_failures(check(payload), len(p["prompt"]))
        checked.append(
            {
                "split": p["split"],
                "category": p["category"],
                "prompt": p["prompt"],
                "reference": p["reference"],
                "base": p["base"],
                "adapter": p["adapter"],
                "base_failed": failed["base"],
                "adapter_failed": failed["adapter"],
            }
        )
    ran = checks_ran(project)
    return tabulate(run, checked, ran, time.perf_counter() - started)


def summary(report: results.BehaviourReport) -> str:
    """One line for the job's log: "behavioural checks: base 2 of 10 answers pass every check, adapter 8"."""
    overall = report["all_checks"]
    return (
        f"behavioural checks on {overall['n']} validation answers: every check passed by base "
        f"{overall['base_passed']}, adapter {overall['adapter_passed']} ({len(report['checks'])} checks ran)"
    )
