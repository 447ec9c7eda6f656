"""Dataset-level checks run when a version is created: the validators over the snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotation.models import Example, Project

CHECKS = ["balance", "lengths", "annotators", "style_tags", "duplicates", "leakage", "diversity", "per_example"]


def empty_report() -> dict[str, Any]:
    return {"errors": [], "warnings": [], "info": [], "checks": []}


def run_dataset_checks(examples: Sequence[dict[str, Any]], project: Project) -> dict[str, Any]:
    """Check the examples about to become a version; return a report.

    `examples`: dicts with id, messages, category, style_tags, context, content_hash and split
    ("train" / "validation"), and optionally author (the username; looked up when absent). The report
    has lists of findings under "errors", "warnings" and "info" (each a Finding dict: code, severity,
    message, location, suggestion, evidence; per-example findings carry the example id in
    evidence["example"]), the names of the checks that ran under "checks" and the statistics under
    "stats". Any entry in "errors" blocks the version unless an owner gives an override reason.
    """
    from annotation.services.validation_runs import dataset_report

    if not examples:
        return empty_report()
    # Examples that come without their author's username get it looked up (a snapshot brings it).
    missing = [e["id"] for e in examples if "author" not in e]
    authors = dict(Example.objects.filter(pk__in=missing).values_list("id", "author__username")) if missing else {}
    records = [e if "author" in e else {**e, "author": authors.get(e["id"])} for e in examples]
    split = {str(e["id"]): e["split"] for e in examples if e.get("split")}
    full = dataset_report(project, records, split=split or None)
    report = empty_report()
    report["checks"] = list(CHECKS) + (["facts"] if full.get("fact_check_ran") else [])
    buckets = {"error": report["errors"], "warning": report["warnings"], "info": report["info"]}
    for finding in full["findings"]:
        buckets[finding["severity"]].append(finding)
    for example_id, findings in full["example_findings"].items():
        for finding in findings:
            if finding["severity"] in ("error", "warning"):
                buckets[finding["severity"]].append(
                    {**finding, "evidence": {**finding.get("evidence", {}), "example": int(example_id)}}
                )
    report["stats"] = full["stats"]
    report["summary"] = full["summary"]
    return report
