"""Import and export throughput on PostgreSQL, printed as JSON lines.

    .venv/bin/python benchmarks/bench_import_export.py [--n-import 100000] [--n-export 1000000] [--keep]

Uses its own database (annotune_bench2 by default: created, migrated, dropped at the end unless
--keep). The import runs the worker's code in this process: streamed reading, every row through
`clean_messages`, labels and duplicate checks, then one transaction that computes each row's validation
findings and does batched inserts with a revision per example. The export streams the chat-messages
JSONL (and the other formats on a slice).
Goals: import of 100,000 examples under 30 s; export over 50,000 examples/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time

from _common import emit, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/annotune_bench2"
CATEGORIES = ["billing", "account", "shipping", "general"]


def conversation(i: int, rng: random.Random) -> dict:
    order, days, warehouse = rng.randint(1, 10**9), rng.randint(1, 9), rng.randint(1, 50)
    messages = [
        {"role": "user", "content": f"Customer question {i}: where is order {order} and when will it ship?"},
        {"role": "assistant", "content": f"Order {i} ships in {days} days from warehouse {warehouse}."},
    ]
    if i % 5 == 0:
        messages.insert(0, {"role": "system", "content": "You are Acme's support assistant. Be brief."})
    return {"messages": messages, "category": CATEGORIES[i % 4], "style_tags": [], "context": ""}


def bench_import(n: int, owner) -> None:
    from django.core.files import File

    from annotation.models import Example, Membership, Project, Role
    from curated_data.models import ImportJob
    from curated_data.services import imports

    project = Project.objects.create(name="Benchmark: import", categories=[{"name": c} for c in CATEGORIES])
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    rng = random.Random(1)
    with tempfile.NamedTemporaryFile("w+b", suffix=".jsonl") as handle:
        for i in range(n):
            handle.write(json.dumps(conversation(i, rng)).encode() + b"\n")
        handle.flush()
        size = handle.tell()
        handle.seek(0)
        started, cpu = time.perf_counter(), time.process_time()
        job = imports.import_create(project=project, user=owner, upload=File(handle, name="bench.jsonl"))
        stored = time.perf_counter()
        imports.import_run(job_id=job.pk)
        finished, cpu = time.perf_counter(), time.process_time() - cpu
    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == "succeeded", (job.error, job.report.get("errors", [])[:3])
    assert Example.objects.filter(project=project).count() == n
    written = (job.finished_at - job.started_at).total_seconds()
    extra = {"examples": n, "file_mb": round(size / 2**20, 1), "upload_s": round(stored - started, 2)}
    emit("import_chat_jsonl_seconds", finished - started, "s", **extra, worker_s=round(written, 2), cpu_s=round(cpu, 2))
    emit("import_chat_jsonl_rate", n / (finished - started), "examples/s", examples=n)


def seed_export(project, author, n: int) -> None:
    """n approved examples written with COPY (the import path is measured above, not here)."""
    from django.db import connection

    from annotation.services.conversations import content_hash, search_text

    rng = random.Random(2)
    started = time.perf_counter()
    columns = (
        "project_id, messages, category, style_tags, context, status, author_id, version, content_hash, "
        "search_text, findings, error_count, created_at, updated_at"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY annotation_example ({columns}) FROM STDIN") as copy:
        for i in range(n):
            record = conversation(i, rng)
            messages = record["messages"]
            copy.write_row((project.pk, json.dumps(messages), record["category"], "[]", "", "approved", author.pk, 1,
                            content_hash(messages), search_text(messages), "[]", 0, "now()", "now()"))  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_example")
    emit("seed_export_examples", n, "rows", seconds=round(time.perf_counter() - started, 1))


def bench_export(n: int, owner, slice_n: int) -> None:
    from annotation.models import Membership, Project, Role
    from annotation.selectors.examples import ExampleFilters
    from curated_data.services import exports

    project = Project.objects.create(name="Benchmark: export")
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    seed_export(project, owner, n)
    for file_format in ("messages", "json", "alpaca", "sharegpt", "csv"):
        filters = ExampleFilters(status="approved")
        started, cpu = time.perf_counter(), time.process_time()
        rows = size = 0
        chunks = exports.export_chunks(project=project, user=owner, filters=filters, file_format=file_format)
        for chunk in chunks:
            data = chunk.encode()  # what the streaming response sends
            size += len(data)
            rows += data.count(b"\n")
            if file_format != "messages" and rows >= slice_n:
                break
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        emit(f"export_{file_format}_rate", rows / elapsed, "examples/s", examples=rows, mb=round(size / 2**20, 1),
             seconds=round(elapsed, 2), cpu_s=round(cpu, 2))  # fmt: skip


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-import", type=int, default=100_000)
    parser.add_argument("--n-export", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=200_000, help="rows measured for the non-default formats")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DB)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    os.environ.setdefault("ANNOTUNE_STORAGE_ROOT", tempfile.mkdtemp(prefix="bench-storage-"))
    os.environ.setdefault("ANNOTUNE_IMPORT_MAX_ROWS", str(max(args.n_import, 200_000)))
    setup_django(args.database_url)
    try:
        from tests.factories import UserFactory

        owner = UserFactory(username="bench-owner")
        if args.n_import:
            bench_import(args.n_import, owner)
        if args.n_export:
            bench_export(args.n_export, owner, min(args.slice, args.n_export))
    finally:
        if not args.keep and args.database_url.startswith("postgres"):
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
