"""Load: simulated annotators and reviewers against gunicorn + PostgreSQL, then a reconciliation.

    .venv/bin/python benchmarks/load_annotators.py [--duration 300] [--annotators 50] [--reviewers 10]
        [--database-url postgres://postgres@127.0.0.1:5432/annotune_load] [--workers 2] [--threads 4]
        [--redis-url redis://127.0.0.1:6379/13 | none] [--with-training] [--keep-database]

Creates (drops first) its own database named in --database-url, migrates it, seeds one project with
the users and a queue of submitted examples, starts gunicorn (DEBUG off) on a free port, and drives it
with locust (headless, through its Environment API) for --duration seconds:

  annotator: create a draft, open the editor, save it three times (optimistic locking), submit
  reviewer:  claim the next example of the queue, open it, approve (4 in 5) or reject

--with-training also starts a Celery worker on the `training` queue and launches one CPU training job
(tiny model) on a dataset version of the seeded approved examples. The load starts once the job has
made its first step; the job trains through the whole load and is cancelled after it
(`training_steps_during_load` says how far it got, and that it was running at both ends).

The simulated users use locust's FastHttpUser (geventhttpclient): the load generator runs on the
machine it measures, and this client costs a fraction of the CPU of the requests-based one.

Prints JSON lines {"metric", "value", "unit"}: p50 / p95 per operation, the error rate, where the CPU
went (cores used by the web, the database backends, the training worker and the load generator), and a
reconciliation of what the clients were told against what the database holds: every acknowledged
save is there exactly once (none lost, none applied twice), the example ends with its last
acknowledged edit, and no example was reviewed twice in a round.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotune_load"
SEEDED_QUEUE = 300  # submitted examples waiting for review when the load starts
SEEDED_APPROVED = 40  # approved examples (the training job's dataset version)
MARK = "[save:"  # each save writes a unique mark into the assistant turn
TRAINING = {"method": "lora", "max_steps": 1_000_000, "logging_steps": 20, "save_steps": 1_000_000,
            "max_seq_length": 128, "warmup_ratio": 0.0, "rank": 8, "alpha": 16}  # fmt: skip


def emit(metric: str, value: float, unit: str, **extra) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, **extra}), flush=True)


def problem(response) -> str:
    """A failed response for the failure log: its status and the start of its body, or the connection error."""
    return f"{response.status_code}: {(response.text or '')[:200] or getattr(response, 'error', '')}"


def cpu_seconds(roots: dict[str, list[int]], database: str) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named group of process trees, and by the database
    server's backends serving `database` (PostgreSQL names the database in each backend's title)."""
    import psutil

    def tree(pid: int) -> float:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    used = {name: sum(tree(pid) for pid in pids) for name, pids in roots.items()}
    used["database"] = 0.0
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        title = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and f" {database} " in f" {title} " and process.info["cpu_times"]:
            used["database"] += process.info["cpu_times"].user + process.info["cpu_times"].system
    return used


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(args, var_dir: Path) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV", "ANNOTUNE_TRAINING_NICE"}
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DJANGO_SETTINGS_MODULE": "annotune.settings",
        "DEBUG": "0",
        "SECRET_KEY": "load-test-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "DATABASE_URL": args.database_url,
        "ANNOTUNE_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        "ANNOTUNE_TRAINING_DEVICE_MEMORY_MB": "4096",
        # The web's database connections outlive the load, so the backends' CPU read at both ends is all of it.
        "DATABASE_CONN_MAX_AGE": str(int(args.duration) + 600),
        # As docker/compose.yaml: Redis as the broker and the shared cache (throttling counters).
        **({"CELERY_BROKER_URL": args.redis_url, "CACHE_URL": args.redis_url} if args.redis_url != "none" else {}),
    }


# --- phases run in child processes (Django, no gevent) ------------------------------------------


def _database(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    if not name.startswith("annotune_load"):
        raise SystemExit(f"refusing to drop/create {name!r}: the load database's name must start with annotune_load")
    with psycopg.connect(f"{base}/postgres".replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def phase_prepare(args) -> None:
    _database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create
    from annotation.models import Example, Membership, Project, Role
    from annotation.services.conversations import content_hash, search_text

    users = get_user_model()
    owner = users.objects.create_user("owner", password=None)
    project = Project.objects.create(name="Load test", created_by=owner, reviews_required=1)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    people: dict[str, list[dict]] = {"annotators": [], "reviewers": []}
    groups = (("annotators", Role.ANNOTATOR, args.annotators), ("reviewers", Role.REVIEWER, args.reviewers))
    for kind, role, count in groups:
        for i in range(count):
            user = users.objects.create_user(f"{kind[:-1]}{i:03d}", password=None)
            Membership.objects.create(project=project, user=user, role=role)
            people[kind].append({"username": user.username, "token": api_token_create(user=user, name="benchmark")[1]})
    authors = list(users.objects.filter(username__startswith="annotator"))
    rows = []
    for i in range(SEEDED_QUEUE + SEEDED_APPROVED):
        messages = [
            {"role": "user", "content": f"Seeded question {i}: how do I reset the password of account {i}?"},
            {"role": "assistant", "content": f"Open Settings, choose Security and press Reset for account {i}."},
        ]
        status = "submitted" if i < SEEDED_QUEUE else "approved"
        rows.append(
            Example(
                project=project,
                messages=messages,
                category=random.choice(["billing", "account"]),
                author=authors[i % len(authors)],
                status=status,
                version=1,
                review_round=1,
                content_hash=content_hash(messages),
                search_text=search_text(messages),
            )  # fmt: skip
        )
    Example.objects.bulk_create(rows)
    Example.objects.filter(project=project, status="submitted").update(submitted_at=django.utils.timezone.now())
    job_id = None
    if args.with_training:
        from curated_data.services.versions import version_create
        from training.engine.tiny import DEFAULT_ARCH
        from training.services.base_models import tiny_model_create
        from training.services.jobs import job_launch

        project.base_model = tiny_model_create(arch=DEFAULT_ARCH, size="test", name="load-tiny")
        project.save(update_fields=["base_model"])
        version = version_create(project=project, user=owner, override_reason="load test")
        # Steps enough to outlast any load: the job trains for the whole run and is cancelled after it.
        job_id = job_launch(project=project, user=owner, preset="quick", config=TRAINING, dataset_version=version).pk
    print(json.dumps({"project": project.pk, "reject_reasons": project.reject_reasons, "job": job_id, **people}))


def phase_reconcile(args) -> None:
    import django

    django.setup()
    from annotation.models import Example, Review, Revision

    log = json.loads(Path(args.client_log).read_text())
    project = log["project"]
    acked = log["saves"]  # [example, version, mark]
    revisions = Revision.objects.filter(example__project_id=project).values_list("example_id", "version", "messages")
    applied: Counter[str] = Counter()
    revision_of: dict[tuple[int, int], str] = {}
    for example_id, version, messages in revisions.iterator(chunk_size=5000):
        text = json.dumps(messages)
        for part in text.split(MARK)[1:]:
            mark = part.split("]", 1)[0]
            applied[mark] += 1
            revision_of[(example_id, version)] = mark
    marks = [mark for _, _, mark in acked]
    lost = [m for m in marks if applied[m] == 0]
    doubled = [m for m in marks if applied[m] > 1]
    wrong_version = [(e, v, m) for e, v, m in acked if revision_of.get((e, v)) != m]
    last_ack: dict[int, tuple[int, str]] = {}
    for example_id, version, mark in acked:
        if example_id not in last_ack or version > last_ack[example_id][0]:
            last_ack[example_id] = (version, mark)
    # A save whose answer never came (a connection error) may have been applied: the example may end with it.
    unanswered: dict[int, set[str]] = defaultdict(set)
    answered = set(marks)
    for example_id, mark in log["sent"]:
        if mark not in answered:
            unanswered[example_id].add(mark)
    finals = dict(Example.objects.filter(pk__in=list(last_ack)).values_list("id", "messages"))
    final_marks = {e: json.dumps(m).split(MARK)[-1].split("]", 1)[0] for e, m in finals.items()}
    final_missing = [e for e, (_, mark) in last_ack.items() if final_marks.get(e) not in {mark} | unanswered[e]]
    unanswered_applied = [m for marks_of in unanswered.values() for m in marks_of if applied[m]]
    per_round = Counter(Review.objects.filter(example__project_id=project).values_list("example_id", "round"))
    reviewed_twice = [key for key, n in per_round.items() if n > 1]
    decided = Counter((e, r) for e, r, _ in log["decisions"])
    acked_twice = [key for key, n in decided.items() if n > 1]
    missing_reviews = [key for key in decided if key not in per_round]
    emit("reconcile_acknowledged_saves", len(acked), "saves")
    emit("reconcile_saves_lost", len(lost), "saves", examples=lost[:10])
    emit("reconcile_saves_applied_twice", len(doubled), "saves", examples=doubled[:10])
    emit("reconcile_saves_at_wrong_version", len(wrong_version), "saves", examples=wrong_version[:10])
    emit("reconcile_final_content_not_last_save", len(final_missing), "examples", examples=final_missing[:10])
    emit("reconcile_unanswered_saves", sum(map(len, unanswered.values())), "saves",
         applied=len(unanswered_applied))  # fmt: skip
    emit("reconcile_acknowledged_decisions", len(log["decisions"]), "decisions")
    emit("reconcile_decisions_missing", len(missing_reviews), "decisions")
    emit("reconcile_reviewed_twice_in_a_round", len(reviewed_twice), "examples", examples=reviewed_twice[:10])
    emit("reconcile_decisions_acknowledged_twice_in_a_round", len(acked_twice), "examples")
    ok = not (lost or doubled or wrong_version or final_missing or reviewed_twice or acked_twice or missing_reviews)
    emit("reconcile_ok", 1 if ok else 0, "bool")
    if log.get("job"):
        from training.models import TrainingJob

        job = TrainingJob.objects.get(pk=log["job"])
        steps = log["training_steps"]
        emit("training_steps_during_load", steps["end"] - steps["start"], "steps",
             running_at_start=steps["status_start"] == "running", running_at_end=steps["status_end"] == "running",
             status_after_cancel=job.status)  # fmt: skip


def phase_cancel(args) -> None:
    """Cancel the load's training job (cooperatively, as an owner would) and wait until it has stopped."""
    import django

    django.setup()
    from training.models import TrainingJob
    from training.services.jobs import job_cancel

    job = TrainingJob.objects.select_related("project", "created_by").get(pk=args.job)
    print(json.dumps({"status": job.status, "step": job.step}), flush=True)  # as the load ended
    if job.status in ("queued", "running"):
        job_cancel(job=job, user=job.created_by)
    deadline = time.monotonic() + 120
    while TrainingJob.objects.filter(pk=job.pk, status__in=["queued", "running"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"training job {job.pk} did not stop within 120 s of its cancel")
        time.sleep(1)


def training_state(database_url: str, job: int) -> tuple[str, int]:
    """(status, step) of the job, read directly (the load's own process does not set Django up)."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        row = conn.execute("SELECT status, step FROM training_trainingjob WHERE id = %s", [job]).fetchone()
    return row[0], row[1]


# --- the load (gevent, through locust) -----------------------------------------------------------


def run_load(args, seed: dict, base_url: str) -> dict:
    import gevent
    from locust import FastHttpUser, between, events, task
    from locust.env import Environment

    timings: dict[str, list[float]] = defaultdict(list)
    failures: Counter[str] = Counter()
    client_log: dict = {"project": seed["project"], "job": seed.get("job"), "saves": [], "sent": [], "decisions": []}
    annotators = iter(seed["annotators"])
    reviewers = iter(seed["reviewers"])
    project = seed["project"]
    api = f"/api/v1/projects/{project}"

    @events.request.add_listener
    def record(request_type, name, response_time, response_length, exception=None, **kwargs):
        timings[name].append(response_time)
        if exception is not None:
            failures[name] += 1

    class Annotator(FastHttpUser):
        fixed_count = args.annotators
        wait_time = between(1, 3)
        host = base_url

        def on_start(self):
            self.auth = {"Authorization": f"Token {next(annotators)['token']}"}

        def think(self):
            gevent.sleep(random.uniform(0.2, 1.0))

        @task
        def write_one(self):
            n = uuid.uuid4().hex[:8]
            messages = [
                {"role": "user", "content": f"Load question {n}: where can I download my invoice?"},
                {"role": "assistant", "content": "Open Billing and choose Download."},
            ]
            with self.client.post(f"{api}/examples/", json={"messages": messages, "category": "billing"},
                                  headers=self.auth, name="create draft", catch_response=True) as r:  # fmt: skip
                if r.status_code != 201:
                    r.failure(problem(r))
                    return
                example = r.json()
            self.think()
            with self.client.get(f"{api}/examples/{example['id']}/", headers=self.auth, name="open editor",
                                 catch_response=True) as r:  # fmt: skip
                if r.status_code != 200:
                    r.failure(problem(r))
                    return
                version = r.json()["version"]
            for _ in range(3):
                self.think()
                mark = uuid.uuid4().hex
                messages[1]["content"] = f"Open Billing, choose Download {MARK}{mark}]"
                body = {"version": version, "messages": messages}
                client_log["sent"].append((example["id"], mark))
                with self.client.patch(f"{api}/examples/{example['id']}/", json=body, headers=self.auth, name="save",
                                       catch_response=True) as r:  # fmt: skip
                    if r.status_code != 200:
                        r.failure(problem(r))
                        return
                    version = r.json()["version"]
                    client_log["saves"].append((example["id"], version, mark))
            self.think()
            with self.client.post(f"{api}/examples/{example['id']}/submit/", json={"version": version},
                                  headers=self.auth, name="submit", catch_response=True) as r:  # fmt: skip
                if r.status_code != 200:
                    r.failure(problem(r))

    class Reviewer(FastHttpUser):
        fixed_count = args.reviewers
        wait_time = between(0.5, 2)
        host = base_url

        def on_start(self):
            self.auth = {"Authorization": f"Token {next(reviewers)['token']}"}

        @task
        def review_next(self):
            with self.client.post(f"{api}/review/next/", json={}, headers=self.auth, name="review next",
                                  catch_response=True) as r:  # fmt: skip
                if r.status_code == 204:
                    return
                if r.status_code != 200:
                    r.failure(problem(r))
                    return
                example = r.json()
            gevent.sleep(random.uniform(0.5, 2.0))  # reading it
            approve = random.random() < 0.8
            path = f"{api}/examples/{example['id']}/{'approve' if approve else 'reject'}/"
            body = {"comment": "ok"} if approve else {"reason": seed["reject_reasons"][0], "comment": "off topic"}
            with self.client.post(path, json=body, headers=self.auth, name="approve" if approve else "reject",
                                  catch_response=True) as r:  # fmt: skip
                if r.status_code != 200:
                    r.failure(problem(r))
                    return
                review = r.json()["review"]
                client_log["decisions"].append((example["id"], review["round"], review["decision"]))

    # At the end every user finishes the task it is in: no request is cut off half way.
    env = Environment(user_classes=[Annotator, Reviewer], events=events, stop_timeout=60)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(args.annotators + args.reviewers, spawn_rate=args.spawn_rate)
    gevent.spawn_later(args.duration, runner.quit)
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    client_log["elapsed"] = elapsed

    total = sum(len(v) for v in timings.values())
    failed = sum(failures.values())
    emit("load_duration", elapsed, "s", annotators=args.annotators, reviewers=args.reviewers)
    emit("requests", total, "requests")
    emit("throughput", total / elapsed if elapsed else 0, "requests/s")
    emit("error_rate", failed / total if total else 0, "fraction", failed=failed)
    for name in sorted(timings):
        samples = timings[name]
        q = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else samples * 99
        emit(f"{name.replace(' ', '_')}_p50", q[49], "ms", n=len(samples), failed=failures[name])
        emit(f"{name.replace(' ', '_')}_p95", q[94], "ms", n=len(samples))
    for error in list(env.stats.errors.values())[:5]:
        emit("error_sample", error.occurrences, "count", detail=f"{error.method} {error.name}: {error.error}"[:300])
    return client_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--reviewers", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=20, help="users started per second")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13",
                        help="broker and cache, as in docker/compose.yaml ('none': the embedded defaults)")  # fmt: skip
    parser.add_argument("--with-training", action="store_true", help="a CPU training job runs during the load")
    parser.add_argument("--keep-database", action="store_true", help="leave the load database for inspection")
    parser.add_argument("--phase", choices=["main", "prepare", "reconcile", "cancel"], default="main",
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--client-log", help=argparse.SUPPRESS)
    parser.add_argument("--job", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.phase == "prepare":
        return phase_prepare(args)
    if args.phase == "reconcile":
        return phase_reconcile(args)
    if args.phase == "cancel":
        return phase_cancel(args)

    from _common import emit_machine_reference

    emit_machine_reference()
    if args.redis_url != "none":  # the load's own Redis database: no message of an earlier run is left
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    var_dir = Path(tempfile.mkdtemp(prefix="annotune-load-"))
    env = environment(args, var_dir)
    me = [sys.executable, str(Path(__file__).resolve()), "--database-url", args.database_url,
          "--annotators", str(args.annotators), "--reviewers", str(args.reviewers)]  # fmt: skip
    prepared = subprocess.run(
        [*me, "--phase", "prepare", *(["--with-training"] if args.with_training else [])],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if prepared.returncode != 0:
        raise SystemExit(prepared.stderr[-4000:])
    seed = json.loads(prepared.stdout.strip().splitlines()[-1])
    port = free_port()
    bin_dir = Path(sys.executable).parent
    processes: list[subprocess.Popen] = []
    web_log = open(var_dir / "web.log", "wb")  # noqa: SIM115
    processes.append(
        subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "annotune.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--timeout",
                "60",
                "--keep-alive",  # as the Procfile: above the clients' idle time, so no reset between requests
                "75",
            ],
            cwd=ROOT,
            env=env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    )
    if args.with_training:
        processes.append(
            subprocess.Popen(
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "annotune",
                    "worker",
                    "-Q",
                    "training",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=web_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the engine's child processes stop with it
            )  # fmt: skip
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or processes[0].poll() is not None:
                    raise SystemExit("gunicorn did not start: see " + str(var_dir / "web.log")) from None
                time.sleep(0.2)
        if seed.get("job"):  # the load starts once the job trains
            deadline = time.monotonic() + 600
            while (state := training_state(args.database_url, seed["job"]))[1] < 1:
                stopped = processes[1].poll() is not None or state[0] not in ("queued", "running")
                if stopped or time.monotonic() > deadline:
                    raise SystemExit(f"the training job did not start ({state[0]}): see {var_dir / 'web.log'}")
                time.sleep(1)
        groups = {"web": [processes[0].pid]}
        if len(processes) > 1:
            groups["training_worker"] = [processes[1].pid]
        database = args.database_url.rpartition("/")[2]
        before = {**cpu_seconds(groups, database), "load_generator": time.process_time()}
        client_log = run_load(args, seed, f"http://127.0.0.1:{port}")
        after = {**cpu_seconds(groups, database), "load_generator": time.process_time()}
        # Where the machine's CPU went during the load (cores: CPU seconds per second of load).
        for name in after:
            emit(f"cpu_{name}", (after[name] - before[name]) / client_log["elapsed"], "cores")
        if seed.get("job"):
            cancelled = subprocess.run([*me, "--phase", "cancel", "--job", str(seed["job"])], cwd=ROOT, env=env,
                                       capture_output=True, text=True, timeout=300)  # fmt: skip
            end = json.loads(cancelled.stdout.strip().splitlines()[0])
            client_log["training_steps"] = {"start": state[1], "status_start": state[0], "end": end["step"],
                                            "status_end": end["status"]}  # fmt: skip
    finally:
        for process in processes:
            process.terminate()
        if len(processes) > 1:  # the training worker's whole group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(processes[1].pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if len(processes) > 1:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(processes[1].pid, signal.SIGKILL)
    (var_dir / "client-log.json").write_text(json.dumps(client_log))
    reconciled = subprocess.run(
        [*me, "--phase", "reconcile", "--client-log", str(var_dir / "client-log.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    sys.stdout.write(reconciled.stdout)
    if reconciled.returncode != 0:
        sys.stderr.write(reconciled.stderr[-4000:])
    if not args.keep_database:
        _database(args.database_url, drop_only=True)
        shutil.rmtree(var_dir, ignore_errors=True)
    else:
        emit("kept", 1, "bool", database=args.database_url, folder=str(var_dir))


if __name__ == "__main__":
    main()
