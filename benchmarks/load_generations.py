"""Load: one API token asks for 20 long generations at once while another user signs in and saves.

    .venv/bin/python benchmarks/load_generations.py [--generations 20] [--max-tokens 1024] [--duration 45]
        [--workers 2] [--threads 4] [--caps on|off] [--keep]

Everything runs on 127.0.0.1 in a temporary folder: a SQLite database (migrated, seeded with a tiny
random-weight model, a project, a token user and a second user with one example), gunicorn as the
Procfile starts it (DEBUG off), and one Celery worker on the `inference` queue (concurrency 1, torch
on one thread). After one warm-up answer (the worker loads the model), the token user sends
--generations parallel `/v1/chat/completions` calls of --max-tokens each (every other one streamed),
then one more once they are all in flight; meanwhile the second user repeats sign-in, open the editor,
save the example, as a person would, for --duration seconds. Bounded: every call has a client timeout,
the whole run stops after --duration plus the server's wait (60 s).

`--caps off` sets every generation cap to 0 (no cap): the behaviour before them, for comparison.

Prints JSON lines {"metric", "value", "unit"}: p50 / p95 / max of the second user's requests (all, and
per step), how many generations were answered, refused with 429 (with Retry-After), or ended otherwise,
the status of the call sent once the others were in flight, and how the rows ended (a call whose
client was answered 504 or left is cancelled on the worker) and how long after the load the worker
was still generating.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "load-generations-password-1"  # noqa: S105 (a throwaway account in a temporary database)
CAPS = ("RUNNING_PER_USER", "QUEUED_PER_USER", "QUEUED_PER_PROJECT", "WAITERS_PER_PROCESS")


def emit(metric: str, value: float, unit: str, **extra) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, **extra}), flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def environment(var: Path, caps: str) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}},
        "DEBUG": "0",
        "SECRET_KEY": "load-generations-" + "k3y" * 20,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "DATABASE_URL": f"sqlite:///{var / 'annotune.sqlite3'}",
        "ANNOTUNE_VAR_DIR": str(var),
        "ANNOTUNE_MODELS_DIR": str(var / "models"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "annotune.settings",
        "OMP_NUM_THREADS": "1",
        "ANNOTUNE_TORCH_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if caps == "off":
        env.update({f"ANNOTUNE_GENERATE_{name}": "0" for name in CAPS})
    return env


SEED = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from accounts.services import api_token_create
from annotation.models import Example, Membership, Project, Role
from annotation.services.examples import example_create
from training.services.base_models import tiny_model_create
users = get_user_model()
heavy = users.objects.create_user("heavy", password=None)
other = users.objects.create_user("other", password=PASSWORD)
base = tiny_model_create(arch="llama", size="test", name="load-tiny")
project = Project.objects.create(name="Generation load", created_by=heavy, base_model=base)
Membership.objects.create(project=project, user=heavy, role=Role.OWNER)
Membership.objects.create(project=project, user=other, role=Role.ANNOTATOR)
example = example_create(project=project, author=other, messages=[
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "It ships on Monday."},
])
key = api_token_create(user=heavy, name="load test", scope="inference")[1]
print(json.dumps({"project": project.pk, "example": example.pk, "token": key}))
""".replace("PASSWORD", repr(PASSWORD))

ROWS = """
import json, django
django.setup()
from django.db.models import Count
from serving.models import GenerationRequest
rows = GenerationRequest.objects.exclude(pk=WARM_ID)
print(json.dumps({
    "statuses": dict(rows.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n")),
    "codes": dict(rows.order_by().values("error_code").annotate(n=Count("pk")).values_list("error_code", "n")),
    "tokens": [o[0].get("new_tokens", 0) for o in rows.values_list("outputs", flat=True) if o],
}))
"""


def run_python(code: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def wait_for(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout:g} s")
        time.sleep(0.3)


class Person:
    """The second user: a browser session that signs in, opens the editor and saves, timing each request."""

    def __init__(self, base: str, project: int, example: int) -> None:
        self.base, self.project, self.example = base, project, example
        self.timings: list[tuple[str, float, int]] = []

    def timed(self, step: str, method: str, path: str, session, **kwargs):
        started = time.perf_counter()
        try:
            response = session.request(method, self.base + path, timeout=30, allow_redirects=False, **kwargs)
            status = response.status_code
        except Exception:  # noqa: BLE001 (a timeout or a refused connection counts as a failure)
            response, status = None, 0
        self.timings.append((step, time.perf_counter() - started, status))
        return response

    def round(self, n: int) -> None:
        import requests

        session = requests.Session()
        self.timed("login page", "GET", "/login/", session)
        token = session.cookies.get("csrftoken", "")
        referer = {"Referer": self.base + "/login/"}
        form = {"username": "other", "password": PASSWORD, "csrfmiddlewaretoken": token}
        self.timed("sign in", "POST", "/login/", session, data=form, headers=referer)
        edit = f"/projects/{self.project}/examples/{self.example}/edit/"
        page = self.timed("open editor", "GET", edit, session)
        version = re.search(r'name="version" value="(\d+)"', page.text if page is not None else "")
        body = {
            "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
            "version": version.group(1) if version else "0",
            "role": ["user", "assistant"],
            "content": ["Where is my parcel?", f"It ships on Monday (save {n})."],
            "category": "",
        }
        self.timed("save", "POST", edit, session, data=body, headers={"Referer": self.base + edit})

    def run(self, until: float) -> None:
        n = 0
        while time.monotonic() < until:
            self.round(n)
            n += 1
            time.sleep(0.5)  # a person reads between clicks


def generate(base: str, token: str, *, max_tokens: int, stream: bool, results: list, index: int) -> None:
    import requests

    body = {"model": "load-tiny", "messages": [{"role": "user", "content": f"Tell me a long story ({index})."}]}
    body |= {"max_tokens": max_tokens, "temperature": 1.0, "seed": index, "stream": stream}
    started = time.perf_counter()
    status, retry_after = 0, None
    try:
        with requests.post(
            base + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=(10, 90),
            stream=stream,
        ) as response:
            status, retry_after = response.status_code, response.headers.get("Retry-After")
            for _ in response.iter_content(chunk_size=None):
                pass
    except Exception:  # noqa: BLE001 (a timeout counts as "other")
        status = 0
    results[index] = {"status": status, "retry_after": retry_after, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--duration", type=float, default=45.0, help="seconds the second user keeps working")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--caps", choices=["on", "off"], default="on")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args()

    import requests

    var = Path(tempfile.mkdtemp(prefix="annotune-load-generations-"))
    env = environment(var, args.caps)
    seeded = run_python(SEED, env)
    port = int(run_python("import socket,json\ns=socket.socket();s.bind(('127.0.0.1',0));"
                          "print(json.dumps(s.getsockname()[1]))", env))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    worker = start(
        [str(BIN / "celery"), "-A", "annotune", "worker", "-Q", "inference", "--concurrency", "1",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "-n", "load@%h"],
        env, var / "worker.log",
    )  # fmt: skip
    web = start(
        [str(BIN / "gunicorn"), "annotune.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--threads", str(args.threads), "--keep-alive", "75", "--timeout", "120"],
        env, var / "gunicorn.log",
    )  # fmt: skip
    try:

        def answers() -> bool:
            try:
                return requests.get(base + "/login/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answers, "gunicorn")
        auth = {"Authorization": f"Bearer {seeded['token']}"}
        warm = {"model": "load-tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        started = time.monotonic()
        while True:  # the first answer waits for the worker to start and load the model
            reply = requests.post(base + "/v1/chat/completions", json=warm, headers=auth, timeout=90)
            if reply.status_code == 200 or time.monotonic() - started > 180:
                break
            time.sleep(1)
        emit("warm_up_answer", reply.status_code, "http status", seconds=round(time.monotonic() - started, 1))
        warm_id = int(reply.json()["id"].split("-")[1]) if reply.status_code == 200 else 0

        person = Person(base, seeded["project"], seeded["example"])
        baseline_until = time.monotonic() + 5
        person.run(baseline_until)  # the same steps on an idle server first
        idle = [seconds for _, seconds, _ in person.timings]
        person.timings.clear()

        results: list = [None] * (args.generations + 1)
        threads = [
            threading.Thread(
                target=generate,
                args=(base, seeded["token"]),
                kwargs={"max_tokens": args.max_tokens, "stream": i % 2 == 1, "results": results, "index": i},
            )
            for i in range(args.generations)
        ]
        load_started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(2.0)  # all in flight (answered, queued or waiting)
        extra = threading.Thread(
            target=generate,
            args=(base, seeded["token"]),
            kwargs={"max_tokens": args.max_tokens, "stream": False, "results": results, "index": args.generations},
        )
        extra.start()
        person.run(load_started + args.duration)
        for thread in [*threads, extra]:
            thread.join(timeout=120)
        load_seconds = time.monotonic() - load_started

        # How long the worker still generated after the load: until no row is queued or running.
        drained_after = None
        for _ in range(120):
            rows = run_python(ROWS.replace("WARM_ID", str(warm_id)), env)
            if not {"queued", "running"} & set(rows["statuses"]):
                drained_after = time.monotonic() - load_started - load_seconds
                break
            time.sleep(1)
    finally:
        stop(web)
        stop(worker)

    emit("caps", 1 if args.caps == "on" else 0, "bool")
    timings = [seconds for _, seconds, _ in person.timings]
    emit("other_user_idle_p50", percentile(idle, 0.5) * 1000, "ms", requests=len(idle))
    emit("other_user_idle_p95", percentile(idle, 0.95) * 1000, "ms")
    emit("other_user_p50", percentile(timings, 0.5) * 1000, "ms", requests=len(timings))
    emit("other_user_p95", percentile(timings, 0.95) * 1000, "ms")
    emit("other_user_max", max(timings, default=float("nan")) * 1000, "ms")
    emit("other_user_failed", sum(1 for _, _, status in person.timings if status == 0 or status >= 400), "requests")
    for step in ("login page", "sign in", "open editor", "save"):
        values = [seconds for name, seconds, _ in person.timings if name == step]
        if values:
            emit(f"other_user_{step.replace(' ', '_')}_p95", percentile(values, 0.95) * 1000, "ms",
                 p50=round(statistics.median(values) * 1000, 1), n=len(values))  # fmt: skip
    first = [r for r in results[: args.generations] if r]
    statuses = Counter(r["status"] for r in first)
    emit("generations_sent", len(first), "requests")
    emit("generations_answered_200", statuses.get(200, 0), "requests")
    emit("generations_refused_429", statuses.get(429, 0), "requests",
         with_retry_after=sum(1 for r in first if r["status"] == 429 and r["retry_after"]))  # fmt: skip
    emit("generations_other", sum(n for s, n in statuses.items() if s not in (200, 429)), "requests",
         statuses={str(k): v for k, v in statuses.items() if k not in (200, 429)})  # fmt: skip
    refused = [r["seconds"] for r in first if r["status"] == 429]
    if refused:
        emit("generation_refusal_p95", percentile(refused, 0.95) * 1000, "ms")
    last = results[args.generations] or {"status": 0, "retry_after": None}
    emit("generation_sent_while_others_in_flight", last["status"], "http status", retry_after=last["retry_after"])
    emit("load_seconds", load_seconds, "s")
    emit("worker_busy_after_load", drained_after if drained_after is not None else float("nan"), "s")
    emit("rows_by_status", sum(rows["statuses"].values()), "rows", statuses=rows["statuses"], codes=rows["codes"])
    if rows["tokens"]:
        emit("tokens_per_answer_max", max(rows["tokens"]), "tokens", mean=round(statistics.mean(rows["tokens"]), 1))
    if args.keep:
        print(f"# kept {var}", file=sys.stderr)
    else:
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
