"""Fixtures of the training platform tests: tiny real base models, approved examples, a storage folder."""

from __future__ import annotations

import pytest

from annotation.models import ExampleStatus
from tests.factories import ExampleFactory
from training.models import BaseModel

# A few optimizer steps on tiny data: every job in these tests finishes in seconds of training.
TINY_CONFIG = {
    "method": "lora",
    "max_steps": 4,
    "batch_size": 4,
    "max_seq_length": 64,
    "logging_steps": 1,
    "save_steps": 2,
    "warmup_ratio": 0.0,
    "rank": 4,
    "alpha": 8,
}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """`tiny_models(arch)` -> folder of a tiny random-weight model of that architecture (built once)."""
    built: dict[str, str] = {}

    def get(arch: str) -> str:
        if arch not in built:
            from training.engine.tiny import build_tiny_model

            path = tmp_path_factory.mktemp(f"tiny-{arch}")
            build_tiny_model(path, arch=arch, size="test")
            built[arch] = str(path)
        return built[arch]

    return get


@pytest.fixture(autouse=True)
def training_folders(tmp_path, settings):
    """Storage and the worker's training folder live under the test's temporary folder."""
    storage = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(storage)}},
    }
    settings.TRAINING_WORK_DIR = tmp_path / "training"
    return {"ANNOTUNE_STORAGE_ROOT": str(storage), "ANNOTUNE_TRAINING_DIR": str(tmp_path / "training")}


@pytest.fixture
def fake_base_model(db):
    """A base model row whose files are never read (for tests that stop before the estimate)."""
    return BaseModel.objects.create(name="nowhere", source="/nonexistent/model", architecture="LlamaForCausalLM")


@pytest.fixture
def approve():
    """`approve(project, author, n)` creates n approved examples."""

    def make(project, author, n: int = 24):
        return [ExampleFactory(project=project, author=author, status=ExampleStatus.APPROVED) for _ in range(n)]

    return make


def estimated(base_model: BaseModel, *, preset: str | None = None, config: dict | None = None) -> None:
    """Keep the estimates a launch with these settings reads, so it is placed in the request. A cold launch
    waits for a default-queue worker to make them (training/services/estimating.py); tests that start only
    a training worker make them first, as `make run` does for the presets."""
    from training.services.configs import resolve_config
    from training.services.estimates import estimate_for
    from training.services.launch_plan import DEFAULT_PRESET, method_named, plan_launch

    if preset is None and config is None:
        preset = DEFAULT_PRESET
    full = resolve_config(preset=preset, config=config)
    plan = plan_launch(base_model=base_model, config=full, method_fixed=method_named(preset, config))
    for missing in plan.missing:
        estimate_for(base_model=base_model, config=missing)
