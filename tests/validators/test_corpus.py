"""Precision and recall per code on the labelled corpus (planted defects, clean examples, hard negatives)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.validators.corpus import corpus_spec, facts_corpus, facts_spec, general_corpus, schema_corpus
from validators import REGISTRY, ExampleInput, validate_example
from validators.inputs import ProjectSpec

FLOOR = 0.9


def score(items: list[dict], spec: ProjectSpec, codes: set[str], fact_check: bool = False) -> dict[str, dict]:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, list[str]] = defaultdict(list)
    fn: dict[str, list[str]] = defaultdict(list)
    for item in items:
        example = ExampleInput.from_dict(item["example"])
        found = {f.code for f in validate_example(example, spec, fact_check=fact_check)} & codes
        labels = set(item["labels"])
        for code in codes:
            if code in found and code in labels:
                tp[code] += 1
            elif code in found:
                fp[code].append(example.id or "")
            elif code in labels:
                fn[code].append(example.id or "")
    out = {}
    for code in codes:
        positives = tp[code] + len(fn[code])
        predicted = tp[code] + len(fp[code])
        out[code] = {
            "precision": tp[code] / predicted if predicted else 1.0,
            "recall": tp[code] / positives if positives else 1.0,
            "positives": positives,
            "fp": fp[code][:5],
            "fn": fn[code][:5],
        }
    return out


GENERAL_CODES = {c for c, info in REGISTRY.items() if info.check in ("formatting", "metadata", "tokens", "pii",
                                                                        "glossary")}  # fmt: skip


@pytest.fixture(scope="module")
def general_scores() -> dict[str, dict]:
    return score(general_corpus(), corpus_spec(), GENERAL_CODES)


def test_corpus_is_large_and_has_clean_examples() -> None:
    items = general_corpus() + schema_corpus() + facts_corpus()
    assert len(items) >= 300
    assert sum(1 for item in items if not item["labels"]) >= 80


@pytest.mark.parametrize("code", sorted(GENERAL_CODES))
def test_general_code_precision_recall(general_scores: dict[str, dict], code: str) -> None:
    result = general_scores[code]
    assert result["positives"] >= 5, result
    assert result["precision"] >= FLOOR, result
    assert result["recall"] >= FLOOR, result


def test_schema_codes_precision_recall() -> None:
    spec = ProjectSpec.from_dict({"response_schema": corpus_schema()})
    results = score(schema_corpus(), spec, {"schema.invalid_json", "schema.mismatch"})
    for code, result in results.items():
        assert result["positives"] >= 10, (code, result)
        assert result["precision"] >= FLOOR, (code, result)
        assert result["recall"] >= FLOOR, (code, result)


def corpus_schema() -> dict:
    from tests.validators.corpus import SCHEMA

    return SCHEMA


def test_fact_codes_precision_recall() -> None:
    codes = {"fact.supported", "fact.contradicted", "fact.unsupported"}
    results = score(facts_corpus(), facts_spec(), codes, fact_check=True)
    for code, result in results.items():
        assert result["positives"] >= 20, (code, result)
        assert result["precision"] >= FLOOR, (code, result)
        assert result["recall"] >= FLOOR, (code, result)
