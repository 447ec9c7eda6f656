"""Shared helpers for benchmark scripts: Django set-up on a chosen database, timing, JSON lines."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DB = "postgres://postgres@127.0.0.1:5432/annotune_bench"


def setup_django(database_url: str | None = None) -> None:
    """Point Django at the benchmark database (created if missing) and migrate it."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    os.environ["DATABASE_URL"] = database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_BENCH_DB
    if os.environ["DATABASE_URL"].startswith("postgres"):
        _ensure_postgres_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def emit(metric: str, value: float, unit: str, **extra) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, **extra}), flush=True)


def latencies_ms(call: Callable[[], object], repeat: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] if len(samples) > 1 else samples[0]
