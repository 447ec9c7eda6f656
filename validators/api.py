"""Top-level entry points: validate one example, validate a dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from validators.base import Check
from validators.dataset import (
    DatasetReport,
    DatasetThresholds,
    check_annotators,
    check_balance,
    check_diversity,
    check_duplicates,
    check_lengths,
    check_style_tags,
    example_key,
)
from validators.factcheck import FactCheck
from validators.findings import Finding, Policy, sort_findings
from validators.formatting import FormattingCheck, MetadataCheck
from validators.glossary import GlossaryCheck
from validators.inputs import ExampleInput, ProjectSpec
from validators.pii import PiiCheck
from validators.schema import ResponseSchemaCheck
from validators.style import StyleCheck
from validators.tokens import TokenBudgetCheck

CHECKS: dict[str, Check] = {
    check.name: check
    for check in (
        FormattingCheck(),
        MetadataCheck(),
        TokenBudgetCheck(),
        ResponseSchemaCheck(),
        PiiCheck(),
        GlossaryCheck(),
        StyleCheck(),
        FactCheck(),
    )
}
"""Per-example checks by name. Instances are stateless and shared."""

FAST_CHECKS: tuple[str, ...] = ("formatting", "metadata", "tokens", "schema", "pii", "glossary", "house_style")
"""What the editor runs on every keystroke batch (no fact check)."""

ExampleLike = ExampleInput | Mapping[str, Any] | Sequence[Mapping[str, Any]]


def validate_example(
    example: ExampleLike,
    spec: ProjectSpec | None = None,
    policy: Policy | Mapping[str, Any] | None = None,
    checks: Iterable[str] | None = None,
    *,
    fact_check: bool = False,
) -> list[Finding]:
    """Run per-example checks and return findings (policy applied), errors first.

    `example`: an `ExampleInput`, the stored dict (``{"messages": [...], "category": ...}``) or a bare list
    of messages. `checks`: names from `CHECKS` (default `FAST_CHECKS`); ``fact_check=True`` adds
    ``"facts"`` (needs ``spec.knowledge_base`` or ``spec.verified_claims``). `policy`: a `Policy` or the
    stored policy dict.
    """
    return example_validator(spec, policy, checks, fact_check=fact_check)(example)


def example_validator(
    spec: ProjectSpec | None = None,
    policy: Policy | Mapping[str, Any] | None = None,
    checks: Iterable[str] | None = None,
    *,
    fact_check: bool = False,
) -> Callable[[ExampleLike], list[Finding]]:
    """`validate_example` with its set-up (checks chosen, policy parsed) done once: a callable giving the
    findings of one example. For many examples of one project (an import)."""
    spec = spec or ProjectSpec()
    names = list(checks) if checks is not None else list(FAST_CHECKS)
    if fact_check and "facts" not in names:
        names.append("facts")
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"Unknown checks: {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    selected = [CHECKS[name] for name in names]
    pol = _policy(policy)

    def validate(example: ExampleLike) -> list[Finding]:
        ex = ExampleInput.coerce(example)
        findings: list[Finding] = []
        for check in selected:
            findings.extend(check.check(ex, spec))
        return sort_findings(pol.apply(findings)) if findings else findings

    return validate


def _policy(policy: Policy | Mapping[str, Any] | None) -> Policy:
    if policy is None:
        return Policy()
    return policy if isinstance(policy, Policy) else Policy.from_dict(policy)


def validate_dataset(
    examples: Iterable[ExampleLike],
    spec: ProjectSpec | None = None,
    policy: Policy | Mapping[str, Any] | None = None,
    split: Mapping[str, str] | None = None,
    *,
    per_example: bool = False,
    fact_check: bool = False,
    near_duplicates: bool = True,
    thresholds: DatasetThresholds | None = None,
    embedder: Any = None,
) -> DatasetReport:
    """Dataset-level checks over a pool (e.g. the approved examples) and the statistics to chart.

    `split`: example id -> ``"train"`` / ``"validation"`` to check leakage. Examples without an id are
    keyed ``"#<index>"``. ``per_example=True`` also runs `validate_example` on each (``fact_check=True``
    includes the fact check) into ``report.example_findings``. `embedder` (a
    `validators.embeddings.SentenceEmbedder`) adds prompt clusters to the diversity statistics.
    """
    exs = [ExampleInput.coerce(e) for e in examples]
    spec = spec or ProjectSpec()
    pol = _policy(policy)
    t = thresholds or DatasetThresholds()
    keys = [example_key(e, i) for i, e in enumerate(exs)]
    findings: list[Finding] = []
    stats: dict[str, Any] = {"n_examples": len(exs)}

    f, s = check_balance(exs, spec, t)
    findings += f
    stats.update(s)
    f, s = check_lengths(exs, keys, t)
    findings += f
    stats["lengths"] = s
    f, s = check_annotators(exs, t)
    findings += f
    stats["annotators"] = s
    f, s = check_style_tags(exs, spec, t)
    findings += f
    stats["style_tags"] = s
    f, s = check_duplicates(exs, keys, split, t, near=near_duplicates)
    findings += f
    stats.update(s)
    f, s = check_diversity(exs, keys, t, embedder)
    findings += f
    stats["diversity"] = s
    if split:
        stats["split"] = {side: sum(1 for k in keys if split.get(k) == side) for side in sorted(set(split.values()))}

    report = DatasetReport(findings=sort_findings(pol.apply(findings)), stats=stats)
    if per_example:
        for key, ex in zip(keys, exs, strict=True):
            found = validate_example(ex, spec, pol, fact_check=fact_check)
            if found:
                report.example_findings[key] = found
    return report
