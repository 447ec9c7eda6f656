"""Example list API latency at scale: first page and a deep page, p50/p95.

    .venv/bin/python benchmarks/bench_examples.py [--n 1000000] [--database-url postgres://...]

Seeds the project with N examples once (COPY on PostgreSQL, bulk_create elsewhere) and reuses them.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import time
from urllib.parse import urlencode

from _common import emit, latencies_ms, percentile, setup_django

STATUSES = ["draft", "submitted", "approved", "rejected", "changes_requested"]
CATEGORIES = ["billing", "account", "shipping", "general"]


def seed(project, authors, n: int) -> None:
    from django.db import connection

    from annotation.models import Example
    from annotation.services.conversations import content_hash, search_text

    have = Example.objects.filter(project=project).count()
    missing = n - have
    if missing <= 0:
        return
    rng = random.Random(have)
    started = time.perf_counter()

    def rows(count: int):
        for i in range(have, have + count):
            messages = [
                {"role": "user", "content": f"Customer question {i}: where is order {rng.randint(1, 10**6)}?"},
                {"role": "assistant", "content": f"Order {i} ships in {rng.randint(1, 9)} days from our warehouse."},
            ]
            yield (project.pk, json.dumps(messages), rng.choice(CATEGORIES), "[]", "", rng.choice(STATUSES),
                   rng.choice(authors).pk, 1, content_hash(messages), search_text(messages), "[]", 0)  # fmt: skip

    columns = ("project_id, messages, category, style_tags, context, status, author_id, version, content_hash, "
               "search_text, findings, error_count, created_at, updated_at")  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS example_search_trgm")
            raw = cursor.cursor
            with raw.copy(f"COPY annotation_example ({columns}) FROM STDIN") as copy:
                for row in rows(missing):
                    copy.write_row((*row, "now()", "now()"))
            cursor.execute(
                "CREATE INDEX example_search_trgm ON annotation_example USING gin (search_text gin_trgm_ops)"
            )
            cursor.execute("ANALYZE annotation_example")
    else:
        batch = []
        for row in rows(missing):
            batch.append(Example(project_id=row[0], messages=json.loads(row[1]), category=row[2], status=row[5],
                                 author_id=row[6], content_hash=row[8], search_text=row[9]))  # fmt: skip
            if len(batch) == 10_000:
                Example.objects.bulk_create(batch)
                batch = []
        Example.objects.bulk_create(batch)
    emit("seed_examples", missing, "rows", seconds=round(time.perf_counter() - started, 1))


def cursor_for(position: int) -> str:
    """DRF's cursor encoding: base64 of the query string {"p": position}."""
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.db import connection
    from rest_framework.test import APIClient

    from annotation.models import Example, Membership, Project, Role
    from tests.factories import UserFactory

    project, _ = Project.objects.get_or_create(name="Benchmark: examples")
    authors = [UserFactory(username=f"bench-author-{i}") for i in range(20)]
    for user in authors:
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
    seed(project, authors, args.n)
    total = Example.objects.filter(project=project).count()

    client = APIClient()
    client.force_authenticate(authors[0])
    url = f"/api/v1/projects/{project.pk}/examples/"
    ids = Example.objects.filter(project=project).order_by("id").values_list("id", flat=True)
    deep_position = ids[int(total * 0.1)]  # 90% of the way down the newest-first list

    cases = {
        "first_page": {"page_size": args.page_size},
        "deep_page": {"page_size": args.page_size, "cursor": cursor_for(deep_position)},
        "filtered_first_page": {"page_size": args.page_size, "status": "approved", "category": "billing"},
        "search_first_page": {"page_size": args.page_size, "q": "warehouse"},
    }
    for name, params in cases.items():

        def call(params=params):
            response = client.get(url, params)
            assert response.status_code == 200, response.content[:300]
            assert len(response.json()["results"]) == args.page_size

        samples = latencies_ms(call, args.repeat)
        extra = {"examples": total, "page_size": args.page_size, "database": connection.vendor}
        emit(f"list_api_{name}_p50", percentile(samples, 50), "ms", **extra)
        emit(f"list_api_{name}_p95", percentile(samples, 95), "ms", **extra)


if __name__ == "__main__":
    main()
