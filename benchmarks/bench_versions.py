"""A dataset version of many approved examples, built by a worker: how long the request that asks for
it takes, and the build's time and peak memory.

    .venv/bin/python benchmarks/bench_versions.py [--examples 1000000] [--database-url postgres://...]

Seeds one project with --examples approved examples (PostgreSQL COPY; reused by later runs of the same
size), then, as its owner, opens the versions page and posts its form (Django's test client, in this process): a
project above ANNOTUNE_VERSION_INLINE_MAX answers with the build's page at once. The build then runs in a
child process, as a worker runs it (`versions.version_build_run`), with artifact storage in a temporary
folder. Prints JSON lines: seeding, the request's milliseconds, the build's seconds and peak resident
memory, and the version's counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit, emit_machine_reference, setup_django  # noqa: E402

CATEGORIES = ["billing", "shipping", "returns", "account", "general"]

BUILD = """
import json, resource, sys, time
import django
django.setup()
from curated_data.models import VersionBuild
from curated_data.services import versions
started = time.perf_counter()
versions.version_build_run(int(sys.argv[1]))
seconds = time.perf_counter() - started
build = VersionBuild.objects.select_related("version").get(pk=int(sys.argv[1]))
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "status": build.status, "error": build.error,
                  "examples": build.version.example_count if build.version else 0,
                  "train": build.version.train_count if build.version else 0,
                  "validation": build.version.validation_count if build.version else 0}))
"""


def seed(project, author, n: int) -> None:
    from django.db import connection

    from annotation.models import Example
    from annotation.services.conversations import content_hash, search_text

    have = Example.objects.filter(project=project).count()
    if have >= n:
        return
    started = time.perf_counter()
    columns = (
        "project_id, messages, category, style_tags, context, status, author_id, version, content_hash, "
        "search_text, findings, error_count, review_round, created_at, updated_at"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY annotation_example ({columns}) FROM STDIN") as copy:
        for i in range(have, n):
            messages = [
                {"role": "user", "content": f"Customer question {i}: where is order {i * 7919 % 1_000_003}?"},
                {"role": "assistant", "content": f"Order {i} ships in {i % 9 + 1} days from our warehouse."},
            ]
            copy.write_row((project.pk, json.dumps(messages), CATEGORIES[i % len(CATEGORIES)], "[]", "",
                            "approved", author.pk, 1, content_hash(messages), search_text(messages), "[]", 0, 1,
                            "now()", "now()"))  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_example")
    emit("seed_examples", n - have, "rows", seconds=round(time.perf_counter() - started, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    storage = tempfile.mkdtemp(prefix="bench-versions-storage-")
    os.environ["ANNOTUNE_STORAGE_ROOT"] = storage
    os.environ["ANNOTUNE_BROKER_DIR"] = str(Path(storage) / "broker")  # the build's message goes nowhere else
    setup_django(args.database_url)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("bench_versions seeds with PostgreSQL's COPY: give a postgres:// --database-url")
    from django.contrib.auth import get_user_model
    from django.test import Client

    from annotation.models import Membership, Project, Role
    from curated_data.models import VersionBuild

    emit_machine_reference()
    owner, _ = get_user_model().objects.get_or_create(username="version-bench-owner")
    project, _ = Project.objects.get_or_create(name=f"Version bench {args.examples}", defaults={"created_by": owner})
    Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Role.OWNER})
    VersionBuild.objects.filter(project=project).delete()
    seed(project, owner, args.examples)

    client = Client()
    client.force_login(owner)
    url = f"/projects/{project.pk}/datasets/versions/"
    assert client.get(url).status_code == 200  # warm: the first request of a process loads templates and URLs
    started = time.perf_counter()
    response = client.post(url, {"notes": "bench", "override_reason": "benchmark data"})
    request_ms = (time.perf_counter() - started) * 1000
    build = VersionBuild.objects.filter(project=project).order_by("-pk").first()
    if response.status_code != 302 or build is None:
        sys.exit(f"expected the build's page, got {response.status_code}: {response.content[:300]!r}")
    emit("version_request", request_ms, "ms", status=response.status_code, examples=args.examples)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", BUILD, str(build.pk)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"the build failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    emit("version_build", result["seconds"], "s", status=result["status"], error=result["error"][:200])
    emit("version_build_peak_memory", result["peak_mb"], "MiB")
    emit("version_examples", result["examples"], "examples", train=result["train"], validation=result["validation"])


if __name__ == "__main__":
    main()
