"""A database whose evaluations were written while the models lived in the training app keeps them.

The database is migrated back to the state before the move (training at 0021, evaluation at zero), rows
are written through that state's historical `training` models, then everything migrates forward and the
rows are read through `evaluation.models` with their relations, content types and permissions.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType

from evaluation.models import Evaluation, EvaluationItem, EvaluationStatus, ExampleScore, Judgment, Verdict
from serving.models import Adapter

# Migrating changes the schema, which SQLite refuses inside the test's transaction.
from tests.migration_steps import historical_apps, latest, migrate

pytestmark = pytest.mark.django_db(transaction=True)

LAST_BEFORE_THE_MOVE = ("training", "0021_samples_current_keys")
BEFORE = [LAST_BEFORE_THE_MOVE, ("evaluation", None)]
MOVED = ("evaluation", "evaluationprompt", "evaluationanswer", "evaluationitem", "judgment", "examplescore")


def write_rows_the_old_way(apps) -> dict[str, int]:
    """An evaluation of the base model against an adapter, one prompt and item, a judgment, a score."""
    user_model = apps.get_model("auth", "User")
    owner = user_model.objects.create(username="olivia", password="!")
    reviewer = user_model.objects.create(username="ravi", password="!")
    project = apps.get_model("annotation", "Project").objects.create(name="Billing bot", created_by=owner)
    base = apps.get_model("training", "BaseModel").objects.create(name="tiny-move", source="/nonexistent/tiny")
    job = apps.get_model("training", "TrainingJob").objects.create(
        project=project,
        base_model=base,
        train_path="t.jsonl",
        dataset_sha256="ab" * 32,
        method="lora",
        config={},
        created_by=owner,
    )
    adapter = apps.get_model("training", "Adapter").objects.create(
        project=project, base_model=base, job=job, name="billing-v1", storage_path="adapters/1", created_by=owner
    )
    systems = [
        {"key": "s0", "adapter_id": None, "label": "Base model"},
        {"key": "s1", "adapter_id": adapter.pk, "label": adapter.name},
    ]
    evaluation = apps.get_model("training", "Evaluation").objects.create(
        project=project,
        name="Refunds",
        base_model=base,
        prompt_source="pasted",
        systems=systems,
        params={"max_new_tokens": 64},
        status="open",
        created_by=owner,
    )
    prompt = apps.get_model("training", "EvaluationPrompt").objects.create(
        evaluation=evaluation, position=0, messages=[{"role": "user", "content": "Can I get a refund?"}]
    )
    answer = apps.get_model("training", "EvaluationAnswer")
    first = answer.objects.create(prompt=prompt, system="s1", text="Yes, within 30 days.", new_tokens=6)
    second = answer.objects.create(prompt=prompt, system="s0", text="Maybe.", new_tokens=2)
    item = apps.get_model("training", "EvaluationItem").objects.create(
        evaluation=evaluation, prompt=prompt, first=first, second=second
    )
    judgment = apps.get_model("training", "Judgment").objects.create(
        item=item, reviewer=reviewer, verdict="1", comment="States the policy."
    )
    score = apps.get_model("training", "ExampleScore").objects.create(
        job=job, split="validation", adapter_loss=0.5, base_loss=1.5, loss_drop=1.0, author=reviewer
    )
    content_types = apps.get_model("contenttypes", "ContentType").objects.filter(model__in=MOVED)
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__model="judgment", codename="change_judgment"
    )
    reviewer.user_permissions.add(permission)
    return {
        "evaluation": evaluation.pk,
        "item": item.pk,
        "judgment": judgment.pk,
        "score": score.pk,
        "adapter": adapter.pk,
        "job": job.pk,
        "first": first.pk,
        "second": second.pk,
        "labels": sorted({ct.app_label for ct in content_types}),
        "content_type_ids": {ct.model: ct.pk for ct in content_types},
    }


def test_evaluations_written_under_training_are_read_through_the_evaluation_app():
    migrate(BEFORE)
    try:
        old = write_rows_the_old_way(historical_apps())
    finally:
        migrate(latest())

    # Before the move the content types carried training's label (the move is reversible).
    assert old["labels"] == ["training"]

    evaluation = Evaluation.objects.select_related("project", "base_model", "created_by").get(pk=old["evaluation"])
    assert (evaluation.name, evaluation.project.name, evaluation.created_by.username) == (
        "Refunds",
        "Billing bot",
        "olivia",
    )
    assert evaluation.base_model.name == "tiny-move"
    assert evaluation.status == EvaluationStatus.OPEN
    assert evaluation.labels() == {"s0": "Base model", "s1": "billing-v1"}
    assert Adapter.objects.get(pk=evaluation.systems[1]["adapter_id"]).name == "billing-v1"
    assert list(evaluation.project.evaluations.all()) == [evaluation]

    item = EvaluationItem.objects.select_related("prompt", "first", "second").get(pk=old["item"])
    assert item.evaluation_id == evaluation.pk
    assert item.prompt.messages == [{"role": "user", "content": "Can I get a refund?"}]
    assert (item.first.pk, item.first.system, item.first.text) == (old["first"], "s1", "Yes, within 30 days.")
    assert (item.second.pk, item.second.system) == (old["second"], "s0")
    assert sorted(a.system for a in item.prompt.answers.all()) == ["s0", "s1"]

    judgment = Judgment.objects.select_related("item", "reviewer").get(pk=old["judgment"])
    assert judgment.item == item
    assert judgment.reviewer.username == "ravi"
    assert judgment.verdict == Verdict.FIRST
    assert list(item.judgments.all()) == [judgment]

    score = ExampleScore.objects.select_related("job", "author").get(pk=old["score"])
    assert (score.job.pk, score.author.username, score.loss_drop) == (old["job"], "ravi", 1.0)
    assert list(score.job.example_scores.all()) == [score]

    # The content types kept their ids under the new label: permissions granted before the move still hold.
    moved = {ct.model: ct.pk for ct in ContentType.objects.filter(app_label="evaluation")}
    assert moved == old["content_type_ids"]
    assert not ContentType.objects.filter(app_label="training", model__in=MOVED).exists()
    assert ContentType.objects.get_for_model(Judgment).pk == old["content_type_ids"]["judgment"]
    assert Permission.objects.get(codename="change_judgment").content_type.app_label == "evaluation"
    assert User.objects.get(username="ravi").has_perm("evaluation.change_judgment")
