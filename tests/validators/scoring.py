"""Precision and recall per code of the validators on a labelled corpus (shared by tests and benchmarks)."""

from __future__ import annotations

from collections import defaultdict

from validators import ExampleInput, validate_example
from validators.inputs import ProjectSpec


def score(items: list[dict], spec: ProjectSpec, codes: set[str], fact_check: bool = False,
          checks: list[str] | None = None) -> dict[str, dict]:  # fmt: skip
    """code -> {precision, recall, positives, tp, fp, fn (ids of the first misses)}; item-level labels."""
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, list[str]] = defaultdict(list)
    fn: dict[str, list[str]] = defaultdict(list)
    for item in items:
        example = ExampleInput.from_dict(item["example"])
        found = {f.code for f in validate_example(example, spec, fact_check=fact_check, checks=checks)} & codes
        labels = set(item["labels"])
        for code in codes:
            if code in found and code in labels:
                tp[code] += 1
            elif code in found:
                fp[code].append(example.id or "")
            elif code in labels:
                fn[code].append(example.id or "")
    out = {}
    for code in sorted(codes):
        positives = tp[code] + len(fn[code])
        predicted = tp[code] + len(fp[code])
        out[code] = {
            "precision": tp[code] / predicted if predicted else 1.0,
            "recall": tp[code] / positives if positives else 1.0,
            "positives": positives,
            "tp": tp[code],
            "fp": fp[code][:8],
            "fn": fn[code][:8],
            "fp_count": len(fp[code]),
            "fn_count": len(fn[code]),
        }
    return out


def unsupported_rate(items: list[dict], spec: ProjectSpec) -> tuple[float, list[str]]:
    """Share of clean, supported responses that get fact.unsupported (and their ids)."""
    clean = [item for item in items if item["labels"] == ["fact.supported"]]
    flagged = []
    for item in clean:
        example = ExampleInput.from_dict(item["example"])
        if any(f.code == "fact.unsupported" for f in validate_example(example, spec, fact_check=True, checks=[])):
            flagged.append(example.id or "")
    return (len(flagged) / len(clean) if clean else 0.0), flagged
