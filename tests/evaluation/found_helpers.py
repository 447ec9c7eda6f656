"""Rows for the "what training found" tests: a succeeded job, approved examples and their scores."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from annotation.models import Example, ExampleStatus, Review, ReviewDecision, Revision
from evaluation.models import ExampleScore
from tests.factories import ExampleFactory, conversation
from training.models import BaseModel, JobStatus, TrainingJob


def make_job(project, owner, **fields) -> TrainingJob:
    base, _ = BaseModel.objects.get_or_create(name="tiny-found", defaults={"source": "/nonexistent/tiny"})
    values = {
        "project": project,
        "base_model": base,
        "train_path": "training/jobs/x/train.jsonl",
        "dataset_sha256": "ab" * 32,
        "method": "lora",
        "config": {"method": "lora"},
        "created_by": owner,
        "status": JobStatus.SUCCEEDED,
        "finished_at": timezone.now(),
        **fields,
    }
    return TrainingJob.objects.create(**values)


def approved_example(project, author, reviewer, n: int, *, category: str = "billing", messages=None) -> Example:
    """An approved example as the review service leaves it: round 1, a revision, the reviewer's approval."""
    example = ExampleFactory(
        project=project,
        author=author,
        messages=messages or conversation(n),
        category=category,
        status=ExampleStatus.APPROVED,
        review_round=1,
    )
    Revision.objects.create(
        example=example, version=1, author=author, messages=example.messages, category=category, changed_fields=[]
    )
    Review.objects.create(project=project, example=example, reviewer=reviewer, round=1, decision=ReviewDecision.APPROVE)
    # The job took its data after this: revisions written later are edits "since training".
    Revision.objects.filter(example=example).update(created_at=timezone.now() - timedelta(days=1))
    return example


def score(job, example, adapter_loss, *, base_loss=None, split="train", **fields) -> ExampleScore:
    base_loss = adapter_loss + 1.0 if base_loss is None else base_loss
    return ExampleScore.objects.create(
        job=job,
        example=example,
        split=split,
        adapter_loss=adapter_loss,
        base_loss=base_loss,
        loss_drop=None if adapter_loss is None else base_loss - adapter_loss,
        tokens=20,
        truncated_tokens=0,
        category=example.category,
        author=example.author,
        **fields,
    )


def scored_set(project, job, author, reviewer, losses: list[float], *, category: str = "billing", split="train"):
    """Approved examples with these adapter losses (same order); returns the examples."""
    out = []
    for i, loss in enumerate(losses):
        example = approved_example(project, author, reviewer, 1000 + Example.objects.count() + i, category=category)
        score(job, example, loss, split=split)
        out.append(example)
    return out
