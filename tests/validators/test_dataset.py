from __future__ import annotations

import hashlib
import json
import unicodedata

from tests.validators.helpers import conv
from validators import (
    DatasetReport,
    ExampleInput,
    ProjectSpec,
    content_hash,
    near_duplicate_pairs,
    validate_dataset,
)
from validators.dataset import near_duplicate_groups


def make(i: int, category: str = "billing", author: str = "ann", tags: tuple[str, ...] = ("concise",),
         answer: str | None = None) -> ExampleInput:  # fmt: skip
    words = " ".join(f"w{(i * 7 + k) % 997}x{i}" for k in range(12))
    return ExampleInput.from_dict({
        "id": f"e{i}", "category": category, "author": author, "style_tags": list(tags),
        "messages": [{"role": "user", "content": f"Question {i} about {words}?"},
                     {"role": "assistant", "content": answer or f"Answer {i}: {words}."}],
    })  # fmt: skip


def codes_of(report: DatasetReport) -> list[str]:
    return [f.code for f in report.findings]


def test_content_hash_matches_the_platform_algorithm() -> None:
    messages = [{"role": "user", "content": "  Hello\u00a0WORLD "}, {"role": "assistant", "content": "Hi"}]
    expected_text = "user:hello world\nassistant:hi"
    assert content_hash(messages) == hashlib.sha256(expected_text.encode()).hexdigest()
    assert content_hash([{"role": "user", "content": "hello   world"}, {"role": "assistant", "content": "HI"}]) == (
        content_hash(messages)
    )
    assert unicodedata.normalize("NFKC", "\u00a0") == " "


def test_balanced_clean_dataset_has_no_findings() -> None:
    spec = ProjectSpec(categories={"billing": 0.5, "account": 0.5}, style_tags=("concise",))
    examples = [make(i, "billing" if i % 2 else "account", f"a{i % 4}") for i in range(40)]
    report = validate_dataset(examples, spec)
    assert report.findings == []
    assert report.stats["categories"]["billing"] == {"count": 20, "share": 0.5, "target": 0.5}
    assert report.stats["annotators"]["a0"]["share"] == 0.25
    assert DatasetReport.from_dict(json.loads(report.to_json())).stats == json.loads(report.to_json())["stats"]


def test_category_balance_dominance_and_general_share() -> None:
    spec = ProjectSpec(categories={"billing": 0.3, "account": 0.3, "general": 0.4}, general_category="general")
    examples = [make(i, "billing") for i in range(30)] + [make(100 + i, "account") for i in range(10)]
    report = validate_dataset(examples, spec)
    found = {(f.code, f.evidence.get("category")) for f in report.findings}
    assert ("ds.category_imbalance", "billing") in found
    assert ("ds.category_dominant", "billing") in found
    assert ("ds.general_share", "general") in found


def test_length_outliers_annotator_dominance_and_style_coverage() -> None:
    spec = ProjectSpec(style_tags=("concise", "playful"))
    examples = [make(i, author="ann" if i < 30 else f"b{i}") for i in range(40)]
    examples.append(make(999, answer="Long " * 2000))
    report = validate_dataset(examples, spec)
    outliers = [f for f in report.findings if f.code == "ds.length_outlier"]
    assert [f.evidence["example_id"] for f in outliers] == ["e999"]
    assert outliers[0].evidence["part"] == "response"
    assert "ds.annotator_dominance" in codes_of(report)
    coverage = [f for f in report.findings if f.code == "ds.style_tag_coverage"]
    assert [f.evidence["tag"] for f in coverage] == ["playful"]


def test_exact_and_near_duplicates_and_leakage() -> None:
    base = [make(i) for i in range(30)]
    exact_copy = ExampleInput.from_dict({**base[0].to_dict(), "id": "copy"})
    near = base[1].to_dict()
    near["id"] = "near"
    near["messages"][1]["content"] += " Thanks"
    examples = [*base, exact_copy, ExampleInput.from_dict(near)]
    split = {e.id or "": "train" for e in base}
    split["copy"] = "validation"
    report = validate_dataset(examples, ProjectSpec(), split=split)
    assert report.stats["duplicates"]["exact"] == [["e0", "copy"]]
    assert report.stats["duplicates"]["near"] == [["e1", "near"]]
    leaks = [f for f in report.findings if f.code == "ds.leakage"]
    assert [sorted(f.evidence["example_ids"]) for f in leaks] == [["copy", "e0"]]
    assert report.blocking


def test_near_duplicate_pairs_threshold() -> None:
    a = " ".join(f"word{i}" for i in range(50))
    b = a.replace("word10 ", "other ")
    c = " ".join(f"thing{i}" for i in range(50))
    pairs = near_duplicate_pairs([a, b, c], threshold=0.8)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert 0.8 <= pairs[0][2] < 1.0


def test_near_duplicate_groups_are_the_components_of_the_pairs() -> None:
    """The grouping skips pairs already joined; it must give exactly the pairs' connected components."""
    import random

    rng = random.Random(5)
    fixed = " ".join(f"policy{k}" for k in range(45))
    texts = [f"Order {i} ships soon: {fixed}" for i in range(300)]  # one word apart: all near-duplicates
    texts += [" ".join(f"unique{i}x{k}" for k in range(rng.randint(5, 30))) for i in range(100)]  # no duplicates
    base = " ".join(f"chain{k}" for k in range(40))
    chain = [base]
    for step in range(1, 6):  # each one word away from the previous: a chain, not a clique
        chain.append(chain[-1].replace(f"chain{step * 6}", f"link{step}"))
    texts += chain + ["", ""]
    rng.shuffle(texts)

    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j, _ in near_duplicate_pairs(texts, threshold=0.8):
        parent[find(j)] = find(i)
    expected: dict[int, list[int]] = {}
    for i in range(len(texts)):
        expected.setdefault(find(i), []).append(i)
    want = sorted(sorted(g) for g in expected.values() if len(g) > 1)
    got = sorted(sorted(g) for g in near_duplicate_groups(texts, threshold=0.8))
    assert got == want
    assert max(len(g) for g in got) >= 250  # the templated answers form one big group
    assert any(set(g) == {texts.index(t) for t in chain} for g in got)


def test_low_diversity() -> None:
    examples = [make(i, answer="The same answer every single time for you. " * 3) for i in range(40)]
    report = validate_dataset(examples, ProjectSpec())
    low = [f for f in report.findings if f.code == "ds.low_diversity"]
    assert [f.evidence["part"] for f in low] == ["response"]
    assert report.stats["diversity"]["response_distinct_2"] < 0.1


def test_per_example_findings_and_policy() -> None:
    examples = [conv("Fine answer."), conv("Mail bob@corp.io please.", id="x1")]
    report = validate_dataset(examples, ProjectSpec(), policy={"overrides": {"pii.email": "error"}}, per_example=True)
    assert list(report.example_findings) == ["x1"]
    assert report.example_findings["x1"][0].severity == "error"
    assert report.blocking
