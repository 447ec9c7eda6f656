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


def machine_reference(rounds: int = 3) -> float:
    """CPU milliseconds this machine takes for a fixed piece of pure-Python work (JSON, regular
    expressions, dicts and sorting, the web's and the importer's daily diet), the best of `rounds`.

    CPU-seconds per request or per 1,000 rows differ between machines (the same code measured 2-3
    times apart on two machines of the same kind): scripts print this beside their figures so that
    figures from different machines can be put on one scale."""
    import re

    words = re.compile(r"\b[a-z]{4,}\b")
    text = "Open Billing and choose Download to get the invoice for order 1234 of the account " * 4
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        counts: dict[str, int] = {}
        for i in range(20_000):
            record = json.loads(json.dumps({"id": i, "messages": [{"role": "user", "content": text}]}))
            for word in words.findall(record["messages"][0]["content"]):
                counts[word] = counts.get(word, 0) + 1
        sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        best = min(best, (time.process_time() - started) * 1000)
    return best


def emit_machine_reference() -> None:
    emit("machine_reference", machine_reference(), "cpu_ms", work="benchmarks/_common.py:machine_reference")
