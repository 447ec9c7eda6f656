"""No package of ours shadows a PyPI package: TRL, Hugging Face `datasets` and the engine import from the project root.

Our data app used to be a top-level `datasets`, which hid Hugging Face's from anything started in
the project root (manage.py, celery, the spawned training child): `from trl import SFTTrainer` failed
and transformers' Trainer needed a guard. Both checks run in fresh interpreters, with the project
root first on sys.path as it is for those processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Every top-level package of ours next to manage.py: none may be a PyPI package's top-level module.
OURS = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))

PROBE = """
import json, sys
import datasets
import transformers.trainer
from trl import SFTTrainer
import training.engine.trainer

print(json.dumps({
    "datasets": datasets.__file__,
    "has_dataset": hasattr(datasets, "Dataset") and hasattr(datasets, "load_dataset"),
    "trainer_sees": getattr(getattr(transformers.trainer, "datasets", None), "__file__", None),
    "sft_trainer": SFTTrainer.__module__,
    "engine": training.engine.trainer.__file__,
}))
"""

WORKER = """
import json, multiprocessing, os, sys
sys.path.insert(0, os.getcwd())  # as for `celery -A annotune worker` started in the project root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")


def probe(code):
    exec(compile(code, "probe", "exec"), {"__name__": "probe"})
    sys.stdout.flush()


if __name__ == "__main__":
    import django

    django.setup()  # a worker has the Django apps loaded before it spawns the training child
    from curated_data.models import DatasetVersion

    # Spawned as training/processes/runner.py starts the engine's child.
    child = multiprocessing.get_context("spawn").Process(target=probe, args=(sys.argv[1],))
    child.start()
    child.join(timeout=240)
    print(json.dumps({"exitcode": child.exitcode, "label": DatasetVersion._meta.app_label}))
"""


def needs_the_training_stack():
    for name in ("trl", "transformers", "torch", "datasets"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed (pip install -e '.[train,dev]')")


def run(command: list[str]) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1", "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def assert_hugging_face_everywhere(found: dict) -> None:
    assert {"site-packages", "dist-packages"} & set(Path(found["datasets"]).parts), found
    assert found["has_dataset"], found
    assert found["trainer_sees"] == found["datasets"], found
    assert found["sft_trainer"].startswith("trl."), found
    assert found["engine"] == str(ROOT / "training" / "engine" / "trainer.py"), found


def test_no_package_of_ours_is_named_like_a_dependency_module():
    for name in ("datasets", "evaluate", "tokenizers", "transformers", "trl", "peft", "accelerate"):
        assert name not in OURS, f"{name}/ in the project root shadows the PyPI package of that name"


def test_trl_hugging_face_datasets_and_the_engine_import_from_the_project_root():
    needs_the_training_stack()
    [found] = run(["-c", PROBE])
    assert_hugging_face_everywhere(found)


@pytest.mark.slow
def test_they_import_in_a_worker_like_spawned_child(tmp_path):
    needs_the_training_stack()
    script = tmp_path / "worker.py"  # spawn re-imports the main module, so it must be a file
    script.write_text(WORKER)
    found, parent = run([str(script), PROBE])
    assert_hugging_face_everywhere(found)
    assert parent == {"exitcode": 0, "label": "datasets"}
