"""Every API write either applies a field or refuses it by name, and a refused body changes nothing."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.core import serializers as django_serializers
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from annotation.models import ClaimVerification, ExampleStatus, Fact, KnowledgeDocument, ValidationRun
from annotune.serializers import StrictInput, valid_input
from curated_data.models import DatasetVersion, ImportJob
from evaluation.models import Evaluation, EvaluationAnswer, EvaluationItem, EvaluationPrompt
from serving.models import Adapter, AdapterOperation, GenerationRequest, OperationKind
from tests.factories import ExampleFactory
from training.models import BaseModel, Sweep, TrainingJob

pytestmark = pytest.mark.django_db

WRITE_METHODS = {"post", "put", "patch", "delete"}
UNKNOWN = "zzz_not_a_field"


def database_state() -> str:
    """Every row of the project's apps (and users), serialised: equal strings mean nothing changed."""
    parts = []
    for label in ("annotation", "datasets", "training", "serving", "evaluation", "auth"):
        for model in apps.get_app_config(label).get_models():
            parts.append(django_serializers.serialize("json", model.objects.order_by("pk")))
    return "\n".join(parts)


@pytest.fixture
def rows(project, owner, annotator):
    base = BaseModel.objects.create(name="nowhere", source="/nonexistent/model", architecture="LlamaForCausalLM")
    project.base_model = base
    project.save()
    example = ExampleFactory(project=project, author=owner, status=ExampleStatus.DRAFT)
    version = DatasetVersion.objects.create(
        project=project,
        number=1,
        sha256="a" * 64,
        example_count=2,
        train_count=1,
        validation_count=1,
        split_seed=1,
        validation_fraction=0.5,
        all_path="x/all.jsonl",
        train_path="x/train.jsonl",
        validation_path="x/validation.jsonl",
        manifest_path="x/manifest.jsonl",
        train_sha256="b" * 64,
        validation_sha256="c" * 64,
        guideline_sha256="d" * 64,
        created_by=owner,
    )
    job = TrainingJob.objects.create(
        project=project,
        base_model=base,
        train_path="x/train.jsonl",
        dataset_sha256="a" * 64,
        method="lora",
        config={},
        created_by=owner,
    )
    adapter = Adapter.objects.create(project=project, job=job, base_model=base, name="a1", created_by=owner)
    evaluation = Evaluation.objects.create(
        project=project, name="e", base_model=base, prompt_source="pasted", status="open", created_by=owner
    )
    prompt = EvaluationPrompt.objects.create(evaluation=evaluation, position=0, messages=[])
    first, second = (EvaluationAnswer.objects.create(prompt=prompt, system=s, text=s) for s in ("s0", "s1"))
    item = EvaluationItem.objects.create(evaluation=evaluation, prompt=prompt, first=first, second=second)
    return {
        "project_id": project.pk,
        "user_id": annotator.pk,
        "example_id": example.pk,
        "document_id": KnowledgeDocument.objects.create(project=project, title="Doc", text="Text.").pk,
        "fact_id": Fact.objects.create(project=project, statement="The sky is blue.").pk,
        "claim_id": ClaimVerification.objects.create(
            project=project, claim_hash="e" * 64, claim_text="c", source="s", verified_by=owner
        ).pk,
        "import_job_id": ImportJob.objects.create(
            project=project, created_by=owner, file="x.jsonl", original_name="x.jsonl"
        ).pk,
        "training_job_id": job.pk,
        "number": version.number,
        "other": version.number,
        "adapter_id": adapter.pk,
        "operation_id": AdapterOperation.objects.create(project=project, kind=OperationKind.MERGE, adapter=adapter).pk,
        "request_id": GenerationRequest.objects.create(project=project, base_model=base, messages=[]).pk,
        "run_id": ValidationRun.objects.create(project=project).pk,
        "evaluation_id": evaluation.pk,
        "item_id": item.pk,
        "sweep_id": Sweep.objects.create(
            project=project, created_by=owner, dataset_version=version, base_model=base, base_config={}, ranks=[4, 8]
        ).pk,
    }


def write_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (path, method)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    )


def concrete(path: str, ids: dict[str, int]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "job_id":
            name = "import_job_id" if "/imports/" in path else "training_job_id"
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_write_endpoint_refuses_an_unknown_field_by_name_and_changes_nothing(api, owner, rows):
    operations = write_operations()
    assert len(operations) >= 35, operations  # the schema really lists the write endpoints
    client = api(owner)
    problems = []
    for path, method in operations:
        url = concrete(path, rows)
        before = database_state()
        response = getattr(client, method)(url, {UNKNOWN: 1}, format="json")
        body = response.json() if response.content else {}
        errors = body.get("errors") or {}
        if response.status_code != 400 or UNKNOWN not in errors:
            problems.append(f"{method.upper()} {path}: {response.status_code} {body}")
            continue
        if not str(errors[UNKNOWN][0]).startswith("Unknown field"):
            problems.append(f"{method.upper()} {path}: message {errors[UNKNOWN]!r}")
        if UNKNOWN not in body["detail"]:
            problems.append(f"{method.upper()} {path}: detail does not name the field: {body['detail']!r}")
        if database_state() != before:
            problems.append(f"{method.upper()} {path}: the refused request changed the database")
    assert not problems, "\n".join(problems)


def test_unknown_field_next_to_a_good_one_applies_neither(api, project, owner):
    response = api(owner).patch(f"/api/v1/projects/{project.pk}/", {"name": "Renamed", "base_modell": 1}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "base_modell" in body["errors"]
    assert "base_model" in body["errors"]["base_modell"][0]  # the message lists what the endpoint accepts
    project.refresh_from_db()
    assert project.name == "Support bot"


def test_patch_project_base_model_is_applied_by_id(api, project, owner):
    base = BaseModel.objects.create(name="tiny", source="/models/tiny")
    client = api(owner)
    response = client.patch(f"/api/v1/projects/{project.pk}/", {"base_model": base.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["base_model"] == base.pk
    project.refresh_from_db()
    assert project.base_model == base

    response = client.patch(f"/api/v1/projects/{project.pk}/", {"base_model": 999_999}, format="json")
    assert response.status_code == 400
    assert "999999" in response.json()["errors"]["base_model"][0]
    assert "base-models" in response.json()["errors"]["base_model"][0]
    project.refresh_from_db()
    assert project.base_model == base

    response = client.patch(f"/api/v1/projects/{project.pk}/", {"base_model": "tiny"}, format="json")
    assert response.status_code == 400
    assert "base_model" in response.json()["errors"]

    response = client.patch(f"/api/v1/projects/{project.pk}/", {"base_model": None}, format="json")
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.base_model is None


def test_nested_input_is_strict_too(api, project, owner):
    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/adapters/combine/",
        {"name": "mix", "sources": [{"adapter_id": 1, "weight": 1, "wieght": 2}, {"adapter_id": 2}]},
        format="json",
    )
    assert response.status_code == 400
    assert "wieght" in str(response.json()["errors"]["sources"])
    assert not AdapterOperation.objects.exists()


def test_read_only_fields_are_refused_as_read_only():
    class Input(StrictInput):
        name = serializers.CharField()
        id = serializers.IntegerField(read_only=True)

    with pytest.raises(serializers.ValidationError) as caught:
        valid_input(Input, {"name": "x", "id": 3})
    assert str(caught.value.detail["id"][0]).startswith("read-only")
    assert valid_input(Input, {"name": "x"}) == {"name": "x"}


def test_every_input_serializer_derives_from_the_strict_base():
    import annotation.apis.examples
    import annotation.apis.projects
    import annotation.apis.quality
    import annotation.apis.reviews
    import curated_data.apis
    import evaluation.apis.evaluations
    import evaluation.apis.found
    import serving.apis.adapters
    import training.apis.base_models
    import training.apis.jobs

    modules = [
        annotation.apis.examples,
        annotation.apis.projects,
        annotation.apis.quality,
        annotation.apis.reviews,
        curated_data.apis,
        evaluation.apis.evaluations,
        evaluation.apis.found,
        serving.apis.adapters,
        training.apis.base_models,
        training.apis.jobs,
    ]
    loose = [
        f"{module.__name__}.{name}"
        for module in modules
        for name, value in vars(module).items()
        if name.endswith("Input")
        and isinstance(value, type)
        and issubclass(value, serializers.Serializer)
        and not issubclass(value, StrictInput)
    ]
    assert not loose
