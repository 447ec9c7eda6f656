"""Fixtures of the adapter tests: a tiny base model row, adapters in a per-test storage folder.

Imported by the test modules that use them (`from tests.serving.adapter_fixtures import *`).
"""

from __future__ import annotations

import pytest

from serving.models import Adapter
from tests.serving.adapter_helpers import cached_base, random_adapter
from training.models import BaseModel
from training.services import folders

__all__ = ["adapter_dirs", "base_model", "make_adapter", "storage", "tiny_model_dir"]


@pytest.fixture(scope="session")
def tiny_model_dir():
    return cached_base()


@pytest.fixture(scope="session")
def adapter_dirs(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter-files")
    return {
        "a": random_adapter(tiny_model_dir, root / "a", seed=1),
        "b": random_adapter(tiny_model_dir, root / "b", seed=2),
        "r8": random_adapter(tiny_model_dir, root / "r8", seed=3, rank=8),
    }


@pytest.fixture
def storage(settings, tmp_path):
    """Artifact storage in a folder of this test (workers get it as ANNOTUNE_STORAGE_ROOT)."""
    root = tmp_path / "storage"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def base_model(db, project, tiny_model_dir):
    base = BaseModel.objects.create(
        name="tiny-llama", source=str(tiny_model_dir), architecture="LlamaForCausalLM", has_chat_template=True
    )
    project.base_model = base
    project.save(update_fields=["base_model"])
    return base


@pytest.fixture
def make_adapter(project, base_model, storage, owner):
    def make(name: str, folder, *, base=None, rank: int = 4, **fields) -> Adapter:
        prefix = f"adapters/project-{project.pk}/{name.lower().replace(' ', '-')}"
        size = folders.save_folder(folder, prefix)
        return Adapter.objects.create(
            project=project,
            base_model=base or base_model,
            name=name,
            method="lora",
            storage_path=prefix,
            size_bytes=size,
            metrics=fields.pop("metrics", {"eval_loss": 1.5, "perplexity": 4.48}),
            lineage=fields.pop(
                "lineage",
                {
                    "dataset_sha256": "ab" * 32,
                    "config": {"rank": rank, "alpha": 2 * rank, "target_modules": "attention"},
                },
            ),
            created_by=owner,
            **fields,
        )

    return make
