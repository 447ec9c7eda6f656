"""Settings: production refuses to start without a secret; the deploy checklist passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k8s-" + "x7Qp2" * 12,
    "ALLOWED_HOSTS": "annotune.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://annotune.example.org",
    "DATABASE_URL": "postgres://annotune:pw@db.internal:5432/annotune",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only what a process needs to start: other tests may have set variables in this process.
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_secret_key_fails_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_bad_boolean_is_explained():
    result = run_manage("check", env={**PRODUCTION, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_wsgi_start_up_imports_the_views_and_freezes_them():
    """annotune/wsgi.py loads every view before the first request and moves it out of the GC's scans."""
    code = (
        "import gc, sys; import annotune.wsgi as wsgi; "
        "print(callable(wsgi.application), 'annotation.apis.reviews' in sys.modules, "
        "'training.apis.jobs' in sys.modules, gc.get_freeze_count() > 10000, 'torch' in sys.modules)"
    )
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **PRODUCTION, "DATABASE_URL": "", "CELERY_BROKER_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True", "True", "True", "False"]
