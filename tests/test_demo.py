"""`manage.py setup_demo` (run by `make run`): the default base model and the demo project, once."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotation.models import (
    Example,
    ExampleStatus,
    Fact,
    Membership,
    Project,
    Review,
    ReviewDecision,
    Role,
    Transition,
)
from annotune.demo import (
    APPROVED,
    DEFECT_PROMPTS,
    DEFECTS,
    DEMO_ANNOTATOR,
    DEMO_POLICY,
    DEMO_PROJECT_NAME,
    FACTS,
    STYLE_RULES,
    follows_house_style,
)
from curated_data.services.versions import version_create
from training.engine.config import PRESETS
from training.models import BaseModel, BaseModelStatus
from training.services.configs import resolve_config
from training.services.default_model import default_model_name
from training.services.estimates import estimate_key


@pytest.fixture(autouse=True)
def folders(settings, tmp_path):
    settings.TRAINING_MODELS_DIR = tmp_path / "models"
    settings.TRAINING_DEFAULT_MODEL_DIR = tmp_path / "models" / "default"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "storage")},
        },
    }


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_superuser(username="admin", password="x")  # noqa: S106


@pytest.fixture
def prebuilt_default(db, settings):
    """The default model's row on a finished test-size folder, so the command reuses it instead of converting."""
    from training.engine.default_model import MARKER
    from training.engine.tiny import build_tiny_model

    folder = settings.TRAINING_DEFAULT_MODEL_DIR
    facts = build_tiny_model(folder, size="test")
    (folder / MARKER).write_text("{}")
    return BaseModel.objects.create(
        name=default_model_name(), source=str(folder), architecture=facts["architecture"], has_chat_template=True
    )


def run() -> str:
    out = StringIO()
    call_command("setup_demo", stdout=out)
    return out.getvalue()


@pytest.mark.slow
def test_twice_converts_one_model_and_one_project(admin, settings):
    first = run()
    assert f"Converted base model “{default_model_name()}”" in first
    assert f"Created demo project “{DEMO_PROJECT_NAME}”" in first
    assert f"{len(APPROVED)} approved conversations and 2 drafts" in first
    second = run()
    assert "exists already" in second
    assert "reused" in second
    assert f"Demo project “{DEMO_PROJECT_NAME}” exists already" in second

    model = BaseModel.objects.get()
    assert model.name == "SmolLM2-135M-Instruct"
    assert model.status == BaseModelStatus.READY
    assert model.has_chat_template
    assert model.architecture == "LlamaForCausalLM"
    assert model.parameter_count == 134_515_008
    assert not model.has_random_weights
    assert Path(model.source) == settings.TRAINING_DEFAULT_MODEL_DIR
    assert (Path(model.source) / "model.safetensors").is_file()
    project = Project.objects.get()
    assert project.name == DEMO_PROJECT_NAME
    assert project.base_model == model
    assert Example.objects.filter(project=project).count() == len(APPROVED) + 2
    # The presets' memory estimates are on the model: a new user's first Train click needs no engine run.
    assert {estimate_key(resolve_config(preset=name, config=None)) for name in PRESETS} <= set(model.estimates)


@pytest.mark.slow
def test_a_model_whose_folder_vanished_is_converted_again(admin, prebuilt_default, settings):
    import shutil

    shutil.rmtree(settings.TRAINING_DEFAULT_MODEL_DIR)
    assert "Converted base model" in run()
    assert BaseModel.objects.count() == 1
    assert (Path(BaseModel.objects.get().source) / "config.json").is_file()


def test_the_demo_project(admin, prebuilt_default):
    assert "reused" in run()
    project = Project.objects.get(name=DEMO_PROJECT_NAME)
    assert project.base_model == prebuilt_default
    assert project.created_by == admin
    assert project.general_category == "general"
    names = [c["name"] for c in project.categories]
    assert "general" in names
    assert all(c["target_share"] for c in project.categories)
    assert "# Acme support assistant" in project.guidelines
    annotator = get_user_model().objects.get(username=DEMO_ANNOTATOR)
    assert not annotator.has_usable_password()
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"admin": Role.OWNER, DEMO_ANNOTATOR: Role.ANNOTATOR}

    # The house style and the knowledge base the answers are held to.
    assert project.style_rules == STYLE_RULES
    assert project.validation_policy == DEMO_POLICY
    assert sorted(Fact.objects.filter(project=project).values_list("statement", flat=True)) == sorted(FACTS)

    approved = Example.objects.filter(project=project, status=ExampleStatus.APPROVED)
    drafts = Example.objects.filter(project=project, status=ExampleStatus.DRAFT)
    assert approved.count() == len(APPROVED) >= 64
    assert drafts.count() == 2
    counts = {name: approved.filter(category=name).count() for name in names}
    assert counts == {"billing": 20, "shipping": 20, "account": 14, "general": 14}
    assert set(drafts.values_list("author__username", flat=True)) == {"admin"}  # the newcomer can finish them
    # Approved honestly: written and submitted by the annotator, approved by the owner through the review service.
    slips: dict[str, set[str]] = {}
    for example in approved:
        assert example.author == annotator
        assert example.error_count == 0
        assert Review.objects.filter(example=example, reviewer=admin, decision=ReviewDecision.APPROVE).count() == 1
        steps = list(Transition.objects.filter(example=example).order_by("pk").values_list("to_status", flat=True))
        assert steps == [ExampleStatus.SUBMITTED, ExampleStatus.APPROVED]
        assert len(example.messages) >= 2
        # Every answer is in the house style, and the platform's checks find nothing wrong with it ...
        codes = {f["code"] for f in example.findings}
        flagged = {
            c for c in codes if c.startswith(("style.", "fmt.", "glossary.", "pii.")) or c == "fact.contradicted"
        }
        prompt = example.messages[0]["content"]
        if prompt in DEFECT_PROMPTS:
            slips[prompt] = flagged
            continue
        assert flagged == set(), (prompt, flagged)
        assert all(follows_house_style(m["content"]) for m in example.messages if m["role"] == "assistant"), prompt
    # ... except the three planted slips, each flagged by the check that exists for it (none for off-topic).
    assert set(slips) == DEFECT_PROMPTS
    for defect in DEFECTS:
        assert slips[defect.prompt] == set(defect.codes), defect.kind
    assert [d.kind for d in DEFECTS] == ["off_topic", "contradicted_fact", "formatting"]

    # One click makes the version: no error to override, a validation split worth reading.
    version = version_create(project=project, user=admin)
    assert version.example_count == len(APPROVED)
    assert version.validation_count >= 10
    assert version.validation_report["errors"] == []
    assert not version.override_reason
    # Its warnings are the slips: the contradicted fact and the broken house style.
    warned = {
        (f["code"], Example.objects.get(pk=f["evidence"]["example"]).messages[0]["content"])
        for f in version.validation_report["warnings"]
    }
    assert warned == {(code, d.prompt) for d in DEFECTS for code in d.codes if code != "fmt.double_space"}


def test_annotune_demo_0_makes_no_project(admin, prebuilt_default, monkeypatch):
    monkeypatch.setenv("ANNOTUNE_DEMO", "0")
    out = run()
    assert "ANNOTUNE_DEMO=0: no demo project." in out
    assert not Project.objects.exists()
    assert BaseModel.objects.get() == prebuilt_default  # the model is still registered


def test_without_an_admin_it_says_what_to_run(prebuilt_default):
    with pytest.raises(CommandError, match="run `manage.py ensure_admin` first"):
        run()
    assert not Project.objects.exists()
