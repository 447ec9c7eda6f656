"""Import and export throughput, and the import's CPU per part, printed as JSON lines.

    .venv/bin/python benchmarks/bench_import_export.py [--database sqlite|postgres|both] [--n-import 20000]
        [--n-export 50000] [--no-index-control] [--keep]

The import runs the worker's code in this process (`imports.import_run`) with a timer (CpuTimer) that
splits this process's CPU (`time.process_time`) between the phases, and reads the database server's CPU: on
PostgreSQL the backend process of this connection (`pg_backend_pid()`, utime + stime from
/proc/<pid>/stat, so the server must run on this machine), on SQLite nothing extra (the engine runs in
this process and its time is in the worker's). Parts, in CPU-seconds per 1,000 rows:

- upload: storing the upload and sniffing its format (the web process's part, `import_create`);
- parse: reading, decoding and parsing each record; validate: shapes, labels, content hashes, duplicates
  (in the file and in the project) and every per-example check with its findings;
- write: inserting examples, revisions and transitions; index: the upkeep of the secondary indexes of
  those tables, measured as the write's CPU minus that of the same import into the same tables with their
  secondary indexes dropped, inside a transaction that is rolled back (`--no-index-control` skips it and
  leaves the upkeep inside write); other: claiming the job, progress, the report.

DEBUG is off during the import, as in a production worker (Django's debug cursor would log every statement). `--database
both` runs each database in a child process (Django is set up once per process). SQLite uses a temporary
file; PostgreSQL its own database (annotune_bench2 by default: created, migrated, dropped at the end unless
--keep). The export (PostgreSQL only) streams the chat-messages JSONL (and the other formats on a slice).
Goal (issue #15): at most 0.15 CPU-s per 1,000 rows in total, on both databases; quote 100,000 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from _common import emit, emit_machine_reference, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/annotune_bench2"
CATEGORIES = ["billing", "account", "shipping", "general"]
PARTS = ("upload", "parse", "validate", "write", "index", "other")
WRITTEN_TABLES = ("annotation_example", "annotation_revision", "annotation_transition")


def conversation(i: int, rng: random.Random) -> dict:
    order, days, warehouse = rng.randint(1, 10**9), rng.randint(1, 9), rng.randint(1, 50)
    messages = [
        {"role": "user", "content": f"Customer question {i}: where is order {order} and when will it ship?"},
        {"role": "assistant", "content": f"Order {i} ships in {days} days from warehouse {warehouse}."},
    ]
    if i % 5 == 0:
        messages.insert(0, {"role": "system", "content": "You are Acme's support assistant. Be brief."})
    return {"messages": messages, "category": CATEGORIES[i % 4], "style_tags": [], "context": ""}


def _ticks_per_second() -> int:
    return os.sysconf("SC_CLK_TCK")


def server_cpu_reader() -> Callable[[], float] | None:
    """CPU-seconds used so far by the database server process of this connection (None on SQLite or when
    the server's /proc entry cannot be read: a server on another machine)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    path, ticks = Path(f"/proc/{pid}/stat"), _ticks_per_second()

    def read() -> float:
        fields = path.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)

    try:
        read()
    except OSError:
        return None
    return read


class CpuTimer:
    """The import's `PhaseTimer`. Reading this process's CPU costs about 2 µs (a system call), more than
    some rows' phases, so the timer reads wall time at every switch and the CPU about every 20 ms: each
    reading's CPU goes to the phases of its window in proportion to their wall time (they share the
    machine alike). The server's CPU is read at switches into or out of the write phase (reading /proc
    each row would cost more than the row); its time outside writes lands on the phase left there (the
    duplicate look-up, progress updates)."""

    WINDOW = 0.02

    def __init__(self, server: Callable[[], float] | None):
        self.server = server
        self.worker: Counter[str] = Counter()
        self.database: Counter[str] = Counter()
        self.window: Counter[str] = Counter()  # wall seconds per phase since the last CPU reading
        self.phase = "other"
        self.wall_at = self.window_at = time.perf_counter()
        self.cpu_at = time.process_time()
        self.server_at = server() if server else 0.0

    def switch(self, phase: str) -> None:
        if phase == self.phase:
            return
        now = time.perf_counter()
        self.window[self.phase] += now - self.wall_at
        self.wall_at = now
        server = self.server is not None and "write" in (phase, self.phase)
        if server or now - self.window_at >= self.WINDOW:
            self._read_cpu(now)
        if server:
            self._read_server()
        self.phase = phase

    def _read_cpu(self, now: float) -> None:
        cpu = time.process_time()
        spent, self.cpu_at, self.window_at = cpu - self.cpu_at, cpu, now
        wall = sum(self.window.values())
        for phase, seconds in self.window.items():
            self.worker[phase] += spent * seconds / wall if wall else 0.0
        if not wall:
            self.worker[self.phase] += spent
        self.window.clear()

    def _read_server(self) -> None:
        assert self.server is not None
        now = self.server()
        self.database[self.phase] += now - self.server_at
        self.server_at = now

    def stop(self) -> None:
        self.switch("other")
        self.window[self.phase] += time.perf_counter() - self.wall_at
        self._read_cpu(time.perf_counter())
        if self.server is not None:
            self._read_server()


def write_file(n: int) -> tempfile._TemporaryFileWrapper:
    rng = random.Random(1)
    handle = tempfile.NamedTemporaryFile("w+b", suffix=".jsonl")  # noqa: SIM115 - closed by the caller
    for i in range(n):
        handle.write(json.dumps(conversation(i, rng)).encode() + b"\n")
    handle.flush()
    return handle


def timed_import(handle, owner, name: str) -> tuple[CpuTimer, float, float]:
    """One import of the file into a new project: (timer, upload CPU-s, wall seconds of the worker part)."""
    from django.core.files import File

    from annotation.models import Example, Membership, Project, Role
    from curated_data.models import ImportJob
    from curated_data.services import imports

    project = Project.objects.create(name=name, categories=[{"name": c} for c in CATEGORIES])
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    handle.seek(0)
    upload_cpu = time.process_time()
    job = imports.import_create(project=project, user=owner, upload=File(handle, name="bench.jsonl"))
    upload_cpu = time.process_time() - upload_cpu
    timer = CpuTimer(server_cpu_reader())
    started = time.perf_counter()
    imports.import_run(job_id=job.pk, timer=timer)
    timer.stop()
    wall = time.perf_counter() - started
    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == "succeeded", (job.error, job.report.get("errors", [])[:3])
    assert job.rows_imported == Example.objects.filter(project=project).count()
    return timer, upload_cpu, wall


def drop_secondary_indexes() -> int:
    """Drop every index of the written tables but their primary keys (inside the caller's transaction)."""
    from django.db import connection

    tables = list(WRITTEN_TABLES)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, c.conname, i.indrelid::regclass::text FROM pg_index i "
                "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
                "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary",
                [tables],
            )
            found = cursor.fetchall()
            for index, constraint, table in found:
                if constraint:
                    cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
                else:
                    cursor.execute(f"DROP INDEX {index}")
            return len(found)
        marks = ", ".join("%s" for _ in tables)
        cursor.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",  # noqa: S608
            tables,
        )
        names = [name for (name,) in cursor.fetchall()]
        for name in names:
            cursor.execute(f'DROP INDEX "{name}"')
        return len(names)


class Rollback(Exception):
    pass


def write_without_indexes(handle, owner) -> tuple[float, float]:
    """Worker and server CPU of the write phase of the same import with the secondary indexes dropped,
    all rolled back (the indexes come back with it)."""
    from django.db import transaction

    result: tuple[float, float] = (0.0, 0.0)
    try:
        with transaction.atomic():
            dropped = drop_secondary_indexes()
            timer, _, _ = timed_import(handle, owner, "Benchmark: import without indexes")
            result = (timer.worker["write"], timer.database["write"])
            emit("import_control_indexes_dropped", dropped, "indexes", write_worker_s=round(result[0], 3),
                 write_server_s=round(result[1], 3))  # fmt: skip
            raise Rollback
    except Rollback:
        pass
    return result


def bench_import(n: int, owner, *, database: str, control: bool) -> None:
    from django.conf import settings

    settings.DEBUG = False  # as in a production worker: no debug cursor logging every statement
    handle = write_file(n)
    size = handle.tell()
    with handle:
        timer, upload_cpu, wall = timed_import(handle, owner, "Benchmark: import")
        worker, server = dict(timer.worker), dict(timer.database)
        worker["upload"] = upload_cpu
        if control:
            plain_worker, plain_server = write_without_indexes(handle, owner)
            worker["index"] = max(worker.get("write", 0.0) - plain_worker, 0.0)
            server["index"] = max(server.get("write", 0.0) - plain_server, 0.0)
            worker["write"], server["write"] = plain_worker, plain_server
    per_k = 1000 / n
    base = {"database": database, "examples": n}
    emit("import_rate", n / wall, "rows/s", **base, wall_s=round(wall, 2), file_mb=round(size / 2**20, 1),
         write_worker_s=round(timer.worker["write"], 3), write_server_s=round(timer.database["write"], 3))  # fmt: skip
    total_worker, total_server = sum(worker.values()), sum(server.values())
    emit("import_cpu_s_per_1000_rows", (total_worker + total_server) * per_k, "cpu_s", **base, part="total",
         worker=round(total_worker * per_k, 4), server=round(total_server * per_k, 4),
         server_measured=timer.server is not None or database == "sqlite")  # fmt: skip
    for part in PARTS:
        w, s = worker.get(part, 0.0), server.get(part, 0.0)
        emit("import_cpu_s_per_1000_rows", (w + s) * per_k, "cpu_s", **base, part=part,
             worker=round(w * per_k, 4), server=round(s * per_k, 4))  # fmt: skip


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


def run_children(args: argparse.Namespace) -> None:
    """`--database both`: one child process per database, each printing its own lines."""
    for database in ("sqlite", "postgres"):
        command = [sys.executable, __file__, "--database", database, "--n-import", str(args.n_import),
                   "--n-export", str(args.n_export), "--slice", str(args.slice),
                   "--database-url", args.database_url]  # fmt: skip
        command += ["--keep"] if args.keep else []
        command += ["--no-index-control"] if args.no_index_control else []
        subprocess.run(command, check=True, env={**os.environ, "BENCH_CHILD": "1"})  # noqa: S603 - this script


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--n-import", type=int, default=20_000, help="rows imported (quote 100000)")
    parser.add_argument("--n-export", type=int, default=50_000, help="rows exported (PostgreSQL only)")
    parser.add_argument("--slice", type=int, default=200_000, help="rows measured for the non-default formats")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DB,
                        help="the PostgreSQL database to use")  # fmt: skip
    parser.add_argument("--no-index-control", action="store_true", help="skip the run without indexes")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if "BENCH_CHILD" not in os.environ:
        emit_machine_reference()
    if args.database == "both":
        run_children(args)
        return
    os.environ.setdefault("ANNOTUNE_STORAGE_ROOT", tempfile.mkdtemp(prefix="bench-storage-"))
    os.environ.setdefault("ANNOTUNE_IMPORT_MAX_ROWS", str(max(args.n_import, 200_000)))
    scratch = tempfile.TemporaryDirectory(prefix="bench-sqlite-")
    url = args.database_url if args.database == "postgres" else f"sqlite:///{scratch.name}/bench.sqlite3"
    setup_django(url)
    try:
        from tests.factories import UserFactory

        owner = UserFactory(username="bench-owner")
        if args.n_import:
            bench_import(args.n_import, owner, database=args.database, control=not args.no_index_control)
        if args.n_export and args.database == "postgres":
            bench_export(args.n_export, owner, min(args.slice, args.n_export))
    finally:
        if not args.keep and args.database == "postgres":
            drop_database(url)
        scratch.cleanup()


if __name__ == "__main__":
    main()
