"""Samples stored before the results schema (training/engine/results.py) get its keys: `messages` becomes
`prompt`, `base` `before`, `adapter` `after`, and a plain-text prompt one user turn. The pages and the API
then read one shape (`results.samples`) with no mapping of old keys."""

from typing import Any

from django.db import migrations


def current_sample(row: Any) -> Any:
    """The row with the current keys (a row that is not a sample is left as it is, and skipped on reading)."""
    if not isinstance(row, dict):
        return row
    current = dict(row)
    for old, new in (("messages", "prompt"), ("base", "before"), ("adapter", "after")):
        if old in current:
            current.setdefault(new, current.pop(old))
    prompt = current.get("prompt")
    if isinstance(prompt, str):
        current["prompt"] = [{"role": "user", "content": prompt}] if prompt else []
    elif isinstance(prompt, dict):
        current["prompt"] = prompt.get("messages", [])
    elif isinstance(prompt, list):
        current["prompt"] = [
            m if isinstance(m, dict) else {"role": "user", "content": str(m)} for m in prompt if m is not None
        ]
    return current


def current_samples(raw: Any) -> Any:
    return [current_sample(row) for row in raw] if isinstance(raw, list) else raw


def forwards(apps, schema_editor):
    Adapter = apps.get_model("training", "Adapter")
    TrainingJob = apps.get_model("training", "TrainingJob")
    for pk, samples in Adapter.objects.exclude(samples=[]).values_list("pk", "samples").iterator():
        if current_samples(samples) != samples:
            Adapter.objects.filter(pk=pk).update(samples=current_samples(samples))
    for pk, result in TrainingJob.objects.exclude(result={}).values_list("pk", "result").iterator():
        if isinstance(result, dict) and current_samples(result.get("samples")) != result.get("samples"):
            TrainingJob.objects.filter(pk=pk).update(result={**result, "samples": current_samples(result["samples"])})


class Migration(migrations.Migration):
    dependencies = [("training", "0020_work_row_attempts")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
