"""Run the validators over a project's examples (or, with --dataset, the dataset checks) and print findings."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Example, ExampleStatus, Project
from annotation.services import validation
from annotation.services.validation_runs import dataset_report


class Command(BaseCommand):
    help = "Validate a project's examples and print the findings (text or JSON). Nothing is stored."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--dataset", action="store_true", help="Run the dataset-level checks over the approved pool instead."
        )
        parser.add_argument("--strict", action="store_true", help="Exit with status 1 when any error is found.")

    def handle(self, *args, project_id: int, format: str, dataset: bool, strict: bool, **options):  # noqa: A002
        try:
            project = Project.objects.select_related("base_model").get(pk=project_id)
        except Project.DoesNotExist:
            raise CommandError(f"No project with id {project_id}.") from None
        if dataset:
            result = self._dataset(project)
            errors = result["summary"]["dataset_errors"] + result["summary"]["examples_with_errors"]
        else:
            result = self._examples(project)
            errors = sum(e["error_count"] for e in result["examples"])
        if format == "json":
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True))
        elif dataset:
            self._print_dataset(result)
        else:
            self._print_examples(result)
        if strict and errors:
            raise CommandError(f"{errors} error(s) found.")

    def _examples(self, project: Project) -> dict:
        fingerprint = validation.knowledge_fingerprint(project)
        fact_check = validation.has_knowledge(fingerprint)
        rows = Example.objects.filter(project=project).select_related("author", "project").order_by("id")
        out = []
        for example in rows.iterator(chunk_size=500):
            findings = validation.findings_for(project, validation.example_payload(example), fact_check=fact_check)
            out.append(
                {
                    "id": example.pk,
                    "status": example.status,
                    "author": example.author.username,
                    "error_count": len(validation.error_findings(findings)),
                    "findings": findings,
                }
            )
        return {"project": project.pk, "fact_check": fact_check, "examples": out}

    def _dataset(self, project: Project) -> dict:
        values = (
            Example.objects.filter(project=project, status=ExampleStatus.APPROVED)
            .order_by("id")
            .values_list("id", "messages", "category", "style_tags", "context", "author__username")
        )
        examples = [
            {"id": pk, "messages": m, "category": c, "style_tags": t, "context": x, "author": a}
            for pk, m, c, t, x, a in values
        ]
        return {"project": project.pk, **dataset_report(project, examples)}

    def _line(self, finding: dict) -> str:
        location = finding.get("location")
        where = f" [turn {location['message'] + 1}]" if location else ""
        hint = f" → {finding['suggestion']}" if finding.get("suggestion") else ""
        return f"  {finding['severity'].upper():7} {finding['code']}{where}: {finding['message']}{hint}"

    def _print_examples(self, result: dict) -> None:
        flagged = [e for e in result["examples"] if e["findings"]]
        for example in flagged:
            self.stdout.write(f"Example {example['id']} ({example['status']}, {example['author']}):")
            for finding in example["findings"]:
                self.stdout.write(self._line(finding))
        errors = sum(e["error_count"] for e in result["examples"])
        self.stdout.write(
            f"{len(result['examples'])} example(s) checked, {len(flagged)} with findings, {errors} error(s)."
        )

    def _print_dataset(self, result: dict) -> None:
        self.stdout.write(f"Dataset checks over {result['stats'].get('n_examples', 0)} approved example(s):")
        for finding in result["findings"]:
            self.stdout.write(self._line(finding))
        for example_id, findings in sorted(result["example_findings"].items(), key=lambda kv: int(kv[0])):
            self.stdout.write(f"Example {example_id}:")
            for finding in findings:
                self.stdout.write(self._line(finding))
        s = result["summary"]
        self.stdout.write(
            f"{s['dataset_errors']} dataset error(s), {s['dataset_warnings']} warning(s); "
            f"{s['examples_with_errors']} example(s) with errors."
        )
