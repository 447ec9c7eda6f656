"""Review queue latency at scale: "next" (claim) + approve through the API, p50/p95.

    .venv/bin/python benchmarks/bench_review_queue.py [--n 1000000] [--submitted 100000]
        [--repeat 500] [--database-url postgres://postgres@127.0.0.1:5432/annotune_bench]

Seeds one project with N examples, of which `submitted` wait for review (COPY on PostgreSQL,
bulk_create in batches elsewhere), once; later runs reuse the rows (approved ones are put back).
Prints JSON lines {"metric", "value", "unit", ...}. Goal: p95 of next + approve under 20 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from _common import emit, percentile, setup_django

OTHER_STATUSES = ["draft", "approved", "rejected", "changes_requested"]
CATEGORIES = ["billing", "account", "shipping", "general"]
PROJECT_NAME = "Benchmark: review queue"


def seed(project, authors, n: int, submitted: int) -> None:
    from django.db import connection

    from annotation.models import Example
    from annotation.services.conversations import content_hash, search_text

    have = Example.objects.filter(project=project).count()
    missing = n - have
    if missing <= 0:
        return
    rng = random.Random(have)
    started = time.perf_counter()
    # Submitted examples are spread over the id range (old and new), like a real project's queue.
    submit_every = max(1, n // max(1, submitted))

    def rows(count: int):
        for i in range(have, have + count):
            messages = [
                {"role": "user", "content": f"Customer question {i}: where is order {rng.randint(1, 10**6)}?"},
                {"role": "assistant", "content": f"Order {i} ships in {rng.randint(1, 9)} days from our warehouse."},
            ]
            is_submitted = i % submit_every == 0 and i // submit_every < submitted
            status = "submitted" if is_submitted else rng.choice(OTHER_STATUSES)
            yield (project.pk, json.dumps(messages), rng.choice(CATEGORIES), "[]", "", status,
                   rng.choice(authors).pk, 1, content_hash(messages), search_text(messages), "[]", 0,
                   1 if status != "draft" else 0)  # fmt: skip

    columns = ("project_id, messages, category, style_tags, context, status, author_id, version, content_hash, "
               "search_text, findings, error_count, review_round, created_at, updated_at, submitted_at")  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS example_search_trgm")
            raw = cursor.cursor
            with raw.copy(f"COPY annotation_example ({columns}) FROM STDIN") as copy:
                for row in rows(missing):
                    copy.write_row((*row, "now()", "now()", "now()" if row[5] == "submitted" else None))
            cursor.execute(
                "CREATE INDEX example_search_trgm ON annotation_example USING gin (search_text gin_trgm_ops)"
            )
            cursor.execute("ANALYZE annotation_example")
    else:
        batch = []
        for row in rows(missing):
            batch.append(Example(project_id=row[0], messages=json.loads(row[1]), category=row[2], status=row[5],
                                 author_id=row[6], content_hash=row[8], search_text=row[9],
                                 review_round=row[12]))  # fmt: skip
            if len(batch) == 10_000:
                Example.objects.bulk_create(batch)
                batch = []
        Example.objects.bulk_create(batch)
    emit("seed_examples", missing, "rows", seconds=round(time.perf_counter() - started, 1))


def top_up_queue(project, submitted: int) -> None:
    """Earlier runs approved some examples: put that many back so the queue has `submitted` again."""
    from django.db.models import F

    from annotation.models import Example

    waiting = Example.objects.filter(project=project, status="submitted").count()
    if waiting >= submitted:
        return
    ids = list(
        Example.objects.filter(project=project, status="approved", review_round__gte=1)
        .order_by("-updated_at", "-id")
        .values_list("id", flat=True)[: submitted - waiting]
    )
    # Like an owner's reopen: a new round, so earlier reviews do not count (or hide them) any more.
    Example.objects.filter(pk__in=ids).update(
        status="submitted", review_round=F("review_round") + 1, claimed_by=None, claim_expires_at=None
    )


def explain_queue(project, reviewer) -> str:
    from django.db import connection
    from django.utils import timezone

    from annotation.selectors.reviews import queue_candidates

    qs = queue_candidates(project, reviewer, now=timezone.now())
    if connection.vendor != "postgresql":
        return qs.values_list("pk", flat=True)[:1].explain()
    return qs.values_list("pk", flat=True)[:1].explain(analyze=True, buffers=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--submitted", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--database-url")
    parser.add_argument("--explain", action="store_true", help="print the queue query plan")
    args = parser.parse_args()
    submitted = min(args.submitted, args.n)
    setup_django(args.database_url)

    from django.db import connection
    from rest_framework.test import APIClient

    from annotation.models import Example, Membership, Project, Role
    from tests.factories import UserFactory

    project, _ = Project.objects.get_or_create(name=PROJECT_NAME, defaults={"reviews_required": 1})
    authors = [UserFactory(username=f"bench-author-{i}") for i in range(20)]
    reviewers = [UserFactory(username=f"bench-reviewer-{i}") for i in range(args.reviewers)]
    for user in authors:
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
    for user in reviewers:
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.REVIEWER})
    seed(project, authors, args.n, submitted)
    top_up_queue(project, submitted)
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load: fresh statistics and visibility map. Without the
        # map, the planner prices the queue's index-only scans as heap fetches and may walk the
        # primary key over every reviewed example instead.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE annotation_example")
            cursor.execute("VACUUM ANALYZE annotation_review")
    total = Example.objects.filter(project=project).count()
    waiting = Example.objects.filter(project=project, status="submitted").count()
    if args.explain:
        print(explain_queue(project, reviewers[0]), flush=True)

    # The in-process client stands in for a web process: start it up the way annotune/wsgi.py does.
    from annotune.web_process import prepare_web_process

    prepare_web_process()
    # Each request authenticates like an API client does (a token header), so its user lookup counts.
    from accounts.services import api_token_create

    clients = []
    for user in reviewers:
        _, key = api_token_create(user=user, name="review queue benchmark")
        clients.append(APIClient(HTTP_AUTHORIZATION=f"Token {key}"))
    base = f"/api/v1/projects/{project.pk}"

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    def one(client) -> tuple[float, float]:
        start = time.perf_counter()
        response = client.post(f"{base}/review/next/", {}, format="json")
        assert response.status_code == 200, (response.status_code, response.content[:300])
        claimed = time.perf_counter()
        example_id = response.json()["id"]
        response = client.post(f"{base}/examples/{example_id}/approve/", {}, format="json")
        assert response.status_code == 200, response.content[:300]
        return (claimed - start) * 1000, (time.perf_counter() - claimed) * 1000

    for i in range(10):  # warm-up: connections, caches, role lookups
        one(clients[i % len(clients)])
    next_ms, approve_ms, both_ms = [], [], []
    cpu_started = time.process_time()
    with connection.execute_wrapper(count):
        for i in range(args.repeat):
            claim, approve = one(clients[i % len(clients)])
            next_ms.append(claim)
            approve_ms.append(approve)
            both_ms.append(claim + approve)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / args.repeat
    extra = {"examples": total, "submitted": waiting, "repeat": args.repeat, "database": connection.vendor}
    for name, samples in (("next", next_ms), ("approve", approve_ms), ("next_plus_approve", both_ms)):
        emit(f"review_{name}_p50", percentile(samples, 50), "ms", **extra)
        emit(f"review_{name}_p95", percentile(samples, 95), "ms", **extra)
    # Context for the wall-clock figures on a shared machine: this process's CPU and SQL round trips.
    emit("review_next_plus_approve_client_cpu", cpu_ms, "ms", **extra)
    emit("review_next_plus_approve_statements", statements[0] / args.repeat, "queries", **extra)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # a trivial round trip, for comparison
        started = time.perf_counter()
        for _ in range(200):
            cursor.execute("SELECT 1")
        emit("database_round_trip", (time.perf_counter() - started) * 1000 / 200, "ms", **extra)


if __name__ == "__main__":
    main()
