from __future__ import annotations

import json

import pytest

from validators import CHECKS, REGISTRY, Finding, Location, Policy, Severity, has_blocking, help_entries
from validators.registry import make_finding, parse_policy


def test_finding_round_trips_through_json() -> None:
    f = make_finding("pii.email", "E-mail", Location(1, 3, 9), "[EMAIL]", {"text": "a@b.io"})
    data = json.loads(json.dumps(f.to_dict()))
    assert Finding.from_dict(data) == f
    assert data["severity"] == "warning"
    assert data["location"] == {"message": 1, "start": 3, "end": 9}
    dataset_level = make_finding("ds.leakage", "x", evidence={"example_ids": ["1", "2"]})
    assert Finding.from_dict(dataset_level.to_dict()).location is None
    assert dataset_level.blocking


def test_every_check_code_is_registered_and_every_code_has_a_check() -> None:
    check_codes = {code for check in CHECKS.values() for code in check.codes}
    example_codes = {c for c, info in REGISTRY.items() if info.scope == "example"}
    assert check_codes == example_codes
    for info in REGISTRY.values():
        assert info.title
        assert info.description
        assert info.severity in Severity
    assert {e["code"] for e in help_entries()} == set(REGISTRY)


def test_policy_overrides_disables_and_patterns() -> None:
    policy = Policy.from_dict(
        {"overrides": {"pii.*": "info", "pii.card": "warning"}, "disabled": ["fmt.double_space", "glossary.*"]}
    )
    findings = [
        make_finding("pii.email", "e"),
        make_finding("pii.card", "c"),
        make_finding("fmt.double_space", "d"),
        make_finding("glossary.forbidden_term", "g"),
        make_finding("fmt.empty_turn", "x"),
    ]
    applied = {f.code: f.severity for f in policy.apply(findings)}
    assert applied == {"pii.email": Severity.INFO, "pii.card": Severity.WARNING, "fmt.empty_turn": Severity.ERROR}
    assert Policy.from_dict(policy.to_dict()) == policy
    assert has_blocking(policy.apply(findings))
    assert not has_blocking(Policy.from_dict({"overrides": {"fmt.*": "warning", "pii.*": "info"}}).apply(findings))


def test_strict_policy_rejects_unknown_codes_and_severities() -> None:
    with pytest.raises(ValueError, match="no.such"):
        parse_policy({"disabled": ["no.such"]})
    with pytest.raises(ValueError, match="fatal"):
        parse_policy({"overrides": {"pii.email": "fatal"}})
    assert parse_policy({"overrides": {"pii.*": "error"}}).overrides
