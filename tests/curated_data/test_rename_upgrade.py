"""A database made before the `datasets` package became `curated_data` migrates and keeps its rows.

The old code is taken from git (the last commit that still has `datasets/apps.py`), unpacked into a
temporary folder, and migrated onto a temporary SQLite file; a dataset version is written with raw
SQL; then this code's `migrate` runs against the same file and the row is read through the new model.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD_APP = "datasets/apps.py"


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=60, check=False)


def commit_before_the_rename() -> str:
    """HEAD while it still has the old package, else the parent of the last commit that touched it."""
    if shutil.which("git") is None or git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("needs the git history of the repository")
    if git("cat-file", "-e", f"HEAD:{OLD_APP}").returncode == 0:
        return "HEAD"
    last = git("rev-list", "-n1", "HEAD", "--", OLD_APP).stdout.decode().strip()
    if not last:
        pytest.skip("the history (shallow clone?) does not reach the commit before the rename")
    return f"{last}^"


def manage(tree: Path, database: Path, var: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE"}} | {
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": "",
        "ANNOTUNE_VAR_DIR": str(var),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def insert(db: sqlite3.Connection, table: str, given: dict[str, object]) -> int:
    """Insert a row with `given` values and a placeholder for every other NOT NULL column (SQLite)."""
    values = dict(given)
    schema = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    for _cid, name, kind, notnull, default, pk in db.execute(f"PRAGMA table_info({table})"):
        if name in values or pk or not notnull or default is not None:
            continue
        kind = kind.lower()
        if f'JSON_VALID("{name}")' in schema:
            values[name] = "{}"
        elif "datetime" in kind or "date" in kind:
            values[name] = "2025-01-01 00:00:00"
        elif "bool" in kind:
            values[name] = 0
        elif any(word in kind for word in ("int", "real", "decimal", "float")):
            values[name] = 0
        else:
            values[name] = ""
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))  # noqa: S608
    return int(cursor.lastrowid or 0)


READ = """
import json
from curated_data.models import DatasetVersion
from django.contrib.contenttypes.models import ContentType
version = DatasetVersion.objects.select_related("project", "created_by").get(sha256="ab" * 32)
print(json.dumps({
    "number": version.number,
    "project": version.project.name,
    "user": version.created_by.username,
    "counts": version.category_counts,
    "content_type": ContentType.objects.get_for_model(DatasetVersion).pk,
    "label": DatasetVersion._meta.app_label,
    "module": DatasetVersion.__module__,
}))
"""


def test_a_database_from_before_the_rename_migrates_and_keeps_its_dataset_versions(tmp_path):
    commit = commit_before_the_rename()
    archive = git("archive", "--format=tar", commit)
    assert archive.returncode == 0, archive.stderr.decode()
    old = tmp_path / "old"
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(old, filter="data")
    assert (old / OLD_APP).is_file()
    database = tmp_path / "annotune.sqlite3"

    manage(old, database, tmp_path / "var-old", "migrate", "--noinput")
    with sqlite3.connect(database) as db:
        user = insert(db, "auth_user", {"username": "olivia", "password": "!", "is_superuser": 0, "is_staff": 0})
        project = insert(db, "annotation_project", {"name": "Billing bot"})
        version = {
            "project_id": project,
            "created_by_id": user,
            "number": 3,
            "sha256": "ab" * 32,
            "category_counts": json.dumps({"billing": {"total": 2, "train": 2, "validation": 0}}),
            "validation_report": "{}",
        }
        insert(db, "datasets_datasetversion", version)
        content_type = db.execute(
            "SELECT id FROM django_content_type WHERE app_label = 'datasets' AND model = 'datasetversion'"
        ).fetchone()[0]
        applied_before = db.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    assert ("datasets", "0001_initial") in applied_before

    manage(ROOT, database, tmp_path / "var-new", "migrate", "--noinput")
    read = json.loads(manage(ROOT, database, tmp_path / "var-new", "shell", "-c", READ).strip().splitlines()[-1])

    assert read == {
        "number": 3,
        "project": "Billing bot",
        "user": "olivia",
        "counts": {"billing": {"total": 2, "train": 2, "validation": 0}},
        "content_type": content_type,
        "label": "datasets",
        "module": "curated_data.models",
    }
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        datasets_migrations = db.execute("SELECT name FROM django_migrations WHERE app = 'datasets'").fetchall()
        other_labels = db.execute("SELECT COUNT(*) FROM django_migrations WHERE app = 'curated_data'").fetchone()[0]
    assert not any(name.startswith("curated_data_") for name in tables)
    assert {"datasets_datasetversion", "datasets_importjob"} <= tables
    assert {name for app, name in applied_before if app == "datasets"} <= {name for (name,) in datasets_migrations}
    assert other_labels == 0
