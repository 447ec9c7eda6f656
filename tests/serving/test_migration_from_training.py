"""A database whose adapters, generation requests and adapter operations were written while the models lived in
the training app keeps them.

The database is migrated back to the state before the move (training at 0023, serving at zero), rows are
written through that state's historical `training` models, then everything migrates forward and the rows are
read through `serving.models` with their relations (a job and its adapter both ways, a job continued from an
adapter, an operation's adapters, an evaluation's systems), content types and permissions.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType

from evaluation.models import Evaluation
from serving.models import Adapter, AdapterOperation, GenerationRequest, GenerationStatus, OperationKind

# Migrating changes the schema, which SQLite refuses inside the test's transaction.
from tests.migration_steps import historical_apps, latest, migrate
from training.models import TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)

LAST_BEFORE_THE_MOVE = ("training", "0023_job_phase")
BEFORE = [LAST_BEFORE_THE_MOVE, ("serving", None)]
MOVED = ("adapter", "generationrequest", "adapteroperation")


def write_rows_the_old_way(apps) -> dict:
    """A job and its adapter, a job continued from it, a combination, a merge, a generation request and an
    evaluation that names the adapter; a permission on adapters granted to a user."""
    user_model = apps.get_model("auth", "User")
    owner = user_model.objects.create(username="olivia", password="!")
    operator = user_model.objects.create(username="omar", password="!")
    project = apps.get_model("annotation", "Project").objects.create(name="Billing bot", created_by=owner)
    base = apps.get_model("training", "BaseModel").objects.create(name="tiny-move", source="/nonexistent/tiny")
    jobs = apps.get_model("training", "TrainingJob").objects
    job_fields = {
        "project": project,
        "base_model": base,
        "train_path": "t.jsonl",
        "dataset_sha256": "ab" * 32,
        "method": "lora",
        "config": {},
        "created_by": owner,
    }
    job = jobs.create(**job_fields)
    adapters = apps.get_model("training", "Adapter").objects
    adapter = adapters.create(
        project=project,
        base_model=base,
        job=job,
        name="billing-v1",
        method="lora",
        storage_path="adapters/1",
        size_bytes=1234,
        metrics={"eval_loss": 0.5},
        is_active=True,
        created_by=owner,
    )
    continued = jobs.create(**job_fields, parent_adapter=adapter)
    combined = adapters.create(project=project, base_model=base, name="mix", storage_path="adapters/2")
    operations = apps.get_model("training", "AdapterOperation").objects
    combine = operations.create(
        project=project,
        kind="combine",
        sources=[{"adapter_id": adapter.pk, "name": adapter.name, "weight": 1.0}],
        params={"method": "cat", "name": "mix"},
        status="succeeded",
        result_adapter=combined,
        attempts=1,
        created_by=owner,
    )
    merge = operations.create(project=project, kind="merge", adapter=adapter, status="queued", created_by=owner)
    generation = apps.get_model("training", "GenerationRequest").objects.create(
        project=project,
        base_model=base,
        messages=[{"role": "user", "content": "Can I get a refund?"}],
        targets=[{"adapter_id": adapter.pk}],
        params={"max_new_tokens": 16},
        status="succeeded",
        outputs=[{"adapter_id": adapter.pk, "text": "Yes, within 30 days."}],
        created_by=owner,
    )
    evaluation = apps.get_model("evaluation", "Evaluation").objects.create(
        project=project,
        name="Refunds",
        base_model=base,
        prompt_source="pasted",
        systems=[
            {"key": "s0", "adapter_id": None, "label": "Base model"},
            {"key": "s1", "adapter_id": adapter.pk, "label": adapter.name},
        ],
        created_by=owner,
    )
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="training", codename="change_adapter"
    )
    operator.user_permissions.add(permission)
    content_types = apps.get_model("contenttypes", "ContentType").objects.filter(model__in=MOVED)
    return {
        "job": job.pk,
        "continued": continued.pk,
        "adapter": adapter.pk,
        "combined": combined.pk,
        "combine": combine.pk,
        "merge": merge.pk,
        "generation": generation.pk,
        "evaluation": evaluation.pk,
        "labels": sorted({ct.app_label for ct in content_types}),
        "content_type_ids": {ct.model: ct.pk for ct in content_types},
    }


def test_serving_rows_written_under_training_are_read_through_the_serving_app():
    migrate(BEFORE)
    try:
        old = write_rows_the_old_way(historical_apps())
    finally:
        migrate(latest())

    # Before the move the content types carried training's label (the move is reversible).
    assert old["labels"] == ["training"]

    adapter = Adapter.objects.select_related("project", "base_model", "job", "created_by").get(pk=old["adapter"])
    assert (adapter.name, adapter.project.name, adapter.base_model.name) == ("billing-v1", "Billing bot", "tiny-move")
    assert (adapter.method, adapter.storage_path, adapter.size_bytes) == ("lora", "adapters/1", 1234)
    assert adapter.metrics == {"eval_loss": 0.5}
    assert adapter.is_active
    assert adapter.created_by.username == "olivia"
    assert sorted(a.name for a in adapter.project.adapters.all()) == ["billing-v1", "mix"]

    # The job that produced it and the job continued from it, both ways.
    job = TrainingJob.objects.get(pk=old["job"])
    assert adapter.job == job
    assert job.adapter == adapter
    continued = TrainingJob.objects.select_related("parent_adapter").get(pk=old["continued"])
    assert continued.parent_adapter == adapter
    assert list(adapter.continued_by.all()) == [continued]

    combine = AdapterOperation.objects.select_related("result_adapter").get(pk=old["combine"])
    assert combine.kind == OperationKind.COMBINE
    assert combine.status == GenerationStatus.SUCCEEDED
    assert (combine.result_adapter.pk, combine.result_adapter.name) == (old["combined"], "mix")
    assert combine.sources == [{"adapter_id": adapter.pk, "name": "billing-v1", "weight": 1.0}]
    assert combine.attempts == 1
    merge = AdapterOperation.objects.get(pk=old["merge"])
    assert (merge.kind, merge.status, merge.adapter) == (OperationKind.MERGE, GenerationStatus.QUEUED, adapter)
    assert list(adapter.merges.all()) == [merge]
    assert sorted(o.pk for o in adapter.project.adapter_operations.all()) == sorted([old["combine"], old["merge"]])

    generation = GenerationRequest.objects.select_related("base_model").get(pk=old["generation"])
    assert generation.is_done
    assert generation.base_model.name == "tiny-move"
    assert generation.targets == [{"adapter_id": adapter.pk}]
    assert generation.outputs[0]["text"] == "Yes, within 30 days."
    assert list(adapter.project.generations.all()) == [generation]

    # An evaluation names its systems' adapters by id: they resolve through the serving app.
    evaluation = Evaluation.objects.get(pk=old["evaluation"])
    assert Adapter.objects.get(pk=evaluation.systems[1]["adapter_id"]) == adapter

    # The content types kept their ids under the new label: permissions granted before the move still hold.
    moved = {ct.model: ct.pk for ct in ContentType.objects.filter(app_label="serving")}
    assert moved == old["content_type_ids"]
    assert not ContentType.objects.filter(app_label="training", model__in=MOVED).exists()
    assert ContentType.objects.get_for_model(Adapter).pk == old["content_type_ids"]["adapter"]
    assert Permission.objects.get(codename="change_adapter").content_type.app_label == "serving"
    assert User.objects.get(username="omar").has_perm("serving.change_adapter")
