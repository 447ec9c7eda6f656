"""A new user's journey, on exactly the defaults `make run` gives, in a real Chromium.

The platform is set up by the same commands `make run` runs (`ensure_admin`, `ensure_default_model`,
`setup_demo`: the default base model, SmolLM2-135M-Instruct, and the demo project) and served with real
Celery workers as the Procfile starts them (checks and inference in one, training in another). Nothing is
configured beyond that: default model, default preset, no advanced options. The admin invites an annotator and
a reviewer, who set their passwords through their one-time links; the annotator writes two two-turn examples
(one fixed with a Fix button) and submits them; the reviewer approves both by keyboard; the owner creates a
dataset version and clicks Train; the job page shows progress until Succeeded; the adapter page opens with the
behavioural evaluation (the adapter keeps the demo's house style, the base model does not); the playground
answers a question the demo never trained on with the base model and the adapter side by side, and only the
adapter answers in the house style; made active, the adapter drafts a new example's answer in the editor, in
the house style; the base and the adapter are compared blind; the downloaded zip loads with
`PeftModel.from_pretrained`; the GGUF export lists its files for llama.cpp and Ollama. Screenshots of every
step go to var/screenshots/journey-*.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile

import pytest
from django.core.management import call_command

from annotation.models import Example, ExampleDraft, ExampleStatus, Project, Role
from annotune.demo import HELD_OUT_PROMPTS, follows_house_style
from annotune.demo_data import DEFECT_PROMPTS, DEFECTS
from curated_data.models import DatasetVersion
from evaluation.models import Evaluation, Judgment
from serving.models import Adapter
from tests.browser.conftest import LAPTOP, SCREENSHOTS, screenshot
from tests.page_words import snake_codes
from tests.workers import ROOT, celery_worker
from training.engine import results
from training.models import BaseModel, JobStatus, TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ADMIN_PASSWORD = "journey-admin-pass-1"
# The Procfile's workers (make run): checks, imports and inference in one, training apart, so that a
# running training job never keeps a playground answer or a data-health run waiting.
PROCFILE_WORKERS = {"worker": ("default,inference", 2), "training": ("training", 1)}


def _procfile_workers() -> dict[str, tuple[str, int]]:
    """Each Procfile line that starts a Celery worker: its queues and concurrency."""
    workers = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(": ")
        if " worker " in command:
            words = command.split()
            workers[name] = (words[words.index("-Q") + 1], int(words[words.index("--concurrency") + 1]))
    return workers


@pytest.fixture
def platform(tmp_path, settings, monkeypatch):
    """What `make run` sets up, with its folders under this test's temporary folder, and its worker."""
    folders = {
        "ANNOTUNE_STORAGE_ROOT": tmp_path / "storage",
        "ANNOTUNE_TRAINING_DIR": tmp_path / "training",
        "ANNOTUNE_MODELS_DIR": tmp_path / "models",
        "ANNOTUNE_QUANTIZED_DIR": tmp_path / "quantized",
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folders["ANNOTUNE_STORAGE_ROOT"])},
        },
    }
    settings.TRAINING_WORK_DIR = folders["ANNOTUNE_TRAINING_DIR"]
    settings.TRAINING_MODELS_DIR = folders["ANNOTUNE_MODELS_DIR"]
    settings.TRAINING_QUANTIZED_DIR = folders["ANNOTUNE_QUANTIZED_DIR"]
    # The default model's folder is the one `make run` converts (var/models): converted once per machine.
    monkeypatch.setenv("ANNOTUNE_ADMIN_PASSWORD", ADMIN_PASSWORD)
    call_command("ensure_admin")
    call_command("ensure_default_model")
    call_command("setup_demo")
    assert _procfile_workers() == PROCFILE_WORKERS
    env = {key: str(value) for key, value in folders.items()}
    (queues, concurrency), (training_queues, training_concurrency) = PROCFILE_WORKERS.values()
    with (
        celery_worker(queues, concurrency=concurrency, env=env) as worker,
        celery_worker(training_queues, concurrency=training_concurrency, env=env) as training,
    ):
        yield worker, training


def _sign_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/projects/**")


def _invite(page, project: Project, who: str, role: str) -> str:
    """On the Members page: invite `who` with `role`; returns the one-time link the page shows."""
    page.goto(f"/projects/{project.pk}/members/")
    page.get_by_label("Username or e-mail").fill(who)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Add member").click()
    link = page.locator("#invitation-link")
    link.wait_for()
    return link.input_value()


# Every page the journey photographs is also scanned for snake_case codes a person would read (issue #23:
# words, not codes), and photographed again at phone width (390 px), where nothing may stick out to the right
# of the screen (a wide table scrolls in its own box); the test ends by listing what it met.
CODES_SEEN: dict[str, list[str]] = {}
TOO_WIDE: dict[str, list[str]] = {}
PHONE = {"width": 390, "height": 844}
STICKING_OUT = """[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .filter((e) => !e.closest(".table-wrap, table, pre"))
  .slice(0, 5).map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def shoot(page, name: str) -> None:
    screenshot(page, name)
    CODES_SEEN[name] = snake_codes(page.content())
    laptop = page.viewport_size
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)  # let the layout settle
    if page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
        TOO_WIDE[name] = page.evaluate(STICKING_OUT)
    screenshot(page, f"{name}-390")
    page.set_viewport_size(laptop)


def _accept(browser, base_url: str, link: str, username: str, password: str, name: str):
    """A fresh browser (the invitee's): open the link, choose a password, land in the project."""
    context = browser.new_context(base_url=base_url, viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(link)
    page.get_by_role("heading", name="Set your password").wait_for()
    if page.locator("input[name=username]:not([type=hidden])").count():
        page.locator("input[name=username]").fill(username)
    page.locator("input[name=password1]").fill(password)
    page.locator("input[name=password2]").fill(password)
    shoot(page, f"journey-{name}-set-password")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/projects/*/")
    return context, page


def _write_example(page, project: Project, turns: list[str], category: str) -> None:
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("button", name="Write an example").first.click()
    page.locator("fieldset.turn").first.wait_for()
    add = page.get_by_role("button", name="+ Add turn")
    while page.locator("fieldset.turn select[name=role]").count() < len(turns) + _system_turns(page):
        add.click()
    boxes = _dialogue_boxes(page)
    for box, text in zip(boxes, turns, strict=True):
        box.fill(text)
    page.locator("select[name=category]").select_option(category)


def _system_turns(page) -> int:
    roles = page.locator("fieldset.turn select[name=role]").evaluate_all("s => s.map(x => x.value)")
    return roles.count("system")


def _dialogue_boxes(page) -> list:
    """The user / assistant textareas in order (a system turn, if the project pre-fills one, is kept)."""
    turns = page.locator("fieldset.turn")
    boxes = []
    for i in range(turns.count()):
        if turns.nth(i).locator("select[name=role]").input_value() != "system":
            boxes.append(turns.nth(i).locator("textarea"))
    return boxes


def _side_work_waits(project: Project, job: TrainingJob) -> dict[str, float]:
    """Seconds from asking to starting, for a data-health run and a playground question sent while `job`
    trains (empty when the job is no longer running by then)."""
    from django.contrib.auth import get_user_model

    from annotation.models import ValidationRun
    from annotation.services import validation_runs
    from serving.models import GenerationRequest
    from serving.services import generation

    deadline = time.monotonic() + 180
    while TrainingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED and time.monotonic() < deadline:
        time.sleep(0.5)
    if TrainingJob.objects.get(pk=job.pk).status != JobStatus.RUNNING:
        return {}
    owner = get_user_model().objects.get(username="admin")
    run = validation_runs.run_start(project=project, user=owner)
    question = [{"role": "user", "content": "What is a good name for a cat?"}]
    asked = generation.generation_request(
        project=project, user=owner, messages=question, targets=[None], params={"max_new_tokens": 16}
    )
    rows = {"data_health": (ValidationRun, run.pk), "playground": (GenerationRequest, asked.pk)}
    waits: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while len(waits) < len(rows) and time.monotonic() < deadline:
        for name, (model, pk) in rows.items():
            row = model.objects.get(pk=pk)
            if row.started_at is not None:
                waits[name] = (row.started_at - row.created_at).total_seconds()
        time.sleep(0.25)
    assert TrainingJob.objects.get(pk=job.pk).status in (JobStatus.RUNNING, JobStatus.SUCCEEDED)
    return {name: waits.get(name, float("inf")) for name in rows}


# Trains the real default model on the demo (about 5 minutes on 2 quiet cores) and answers with it.
@pytest.mark.timeout(2700)
def test_new_user_goes_from_data_to_a_working_adapter_by_clicking(platform, browser, live_server, page, tmp_path):
    project = Project.objects.get(name__startswith="Demo")
    model = BaseModel.objects.get(pk=project.base_model_id)
    assert (model.name, model.status) == ("SmolLM2-135M-Instruct", "ready")  # the default `make run` registers
    assert not model.has_random_weights
    approved_before = Example.objects.filter(project=project, status=ExampleStatus.APPROVED).count()

    # 1. The admin signs in with the account `make run` created and opens the demo project.
    _sign_in(page, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name=project.name).first.click()
    page.get_by_role("heading", name=project.name).wait_for()
    shoot(page, "journey-01-demo-project")

    # 2. Invitations: an annotator by e-mail, a reviewer by username; each sets a password by the link.
    annotator_link = _invite(page, project, "anna@example.org", "annotator")
    shoot(page, "journey-02-invitation-link")
    reviewer_link = _invite(page, project, "rita", "reviewer")
    assert annotator_link != reviewer_link
    assert "/invite/" in annotator_link
    annotator_ctx, annotator = _accept(browser, live_server.url, annotator_link, "anna", "anna-writes-1", "annotator")
    reviewer_ctx, reviewer = _accept(browser, live_server.url, reviewer_link, "rita", "rita-reviews-1", "reviewer")
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert roles["anna"] == Role.ANNOTATOR
    assert roles["rita"] == Role.REVIEWER
    # A used link works once.
    again = browser.new_context(base_url=live_server.url).new_page()
    again.goto(annotator_link)
    assert "Set your password" not in again.content()
    again.context.close()

    # 3. The annotator writes two two-turn examples; the first is fixed with a Fix button; both submitted.
    _write_example(
        annotator,
        project,
        [
            "How do I  change my delivery address?",
            "Open Orders, choose the order and press Change address before it ships.",
            "And after it has shipped?",
            "Then write to support with the order number and we redirect the parcel.",
        ],
        "shipping",
    )
    findings = annotator.locator("#findings")
    double_space = findings.locator('li[data-code="fmt.double_space"]')
    double_space.wait_for()
    shoot(annotator, "journey-03-finding-inline")
    double_space.locator("button.fix-button").click()
    double_space.wait_for(state="detached")
    assert _dialogue_boxes(annotator)[0].input_value() == "How do I change my delivery address?"
    annotator.get_by_role("button", name="Submit for review").click()
    annotator.wait_for_url("**/examples/")
    _write_example(
        annotator,
        project,
        [
            "Can I pay by bank transfer?",
            "Yes: choose Bank transfer at checkout and use the reference shown there.",
            "How long does it take?",
            "Transfers usually arrive within two working days; the order ships once it does.",
        ],
        "billing",
    )
    annotator.get_by_role("button", name="Submit for review").click()
    annotator.wait_for_url("**/examples/")
    shoot(annotator, "journey-04-submitted")
    written = Example.objects.filter(project=project, author__username="anna")
    assert sorted(written.values_list("status", flat=True)) == [ExampleStatus.SUBMITTED] * 2
    annotator_ctx.close()

    # 4. The reviewer approves both by keyboard.
    first, second = written.order_by("pk")
    reviewer.goto(f"/projects/{project.pk}/review/")
    reviewer.wait_for_url(f"**/review/{first.pk}/")
    reviewer.get_by_text("change my delivery address").first.wait_for()
    shoot(reviewer, "journey-05-review")
    reviewer.keyboard.press("a")
    reviewer.wait_for_url(f"**/review/{second.pk}/")
    reviewer.get_by_text("pay by bank transfer").first.wait_for()
    reviewer.keyboard.press("a")
    reviewer.locator("#queue-empty").wait_for()
    assert sorted(written.values_list("status", flat=True)) == [ExampleStatus.APPROVED] * 2
    reviewer_ctx.close()

    # 5. The owner creates a version and clicks Train on the project page (the default preset).
    page.goto(f"/projects/{project.pk}/datasets/versions/")
    page.get_by_role("button", name="Create version").click()
    page.wait_for_url("**/datasets/versions/1/")
    version = DatasetVersion.objects.get(project=project)
    assert version.example_count == approved_before + 2
    shoot(page, "journey-06-version")
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url("**/training/*/")
    job = TrainingJob.objects.get(project=project)
    # On this CPU worker the launch plan picks LoRA (a GPU worker would get QLoRA).
    assert (job.method, job.preset, job.dataset_version_id) == ("lora", "balanced", version.pk)
    assert job.dataset_sha256 == version.sha256
    shoot(page, "journey-07-job-queued")

    # The job page links to the training queue: the worker `make run` starts, and this job waiting or running.
    job_url = page.url
    page.locator("#job-placement").get_by_role("link").click()
    page.wait_for_url("**/training/queue/")
    page.locator("#workers tbody tr").first.wait_for()
    listed = page.locator(f"tr[data-job='{job.pk}']").count()
    job.refresh_from_db()
    assert listed == 1 or not job.is_active  # a job that already finished has left the queue
    shoot(page, "journey-07b-training-queue")
    page.goto(job_url)

    # While the job trains, checks and model answers do not wait for it (`make run` trains in a worker of its
    # own): a data-health run and a playground question each start within 5 s of being asked.
    waits = _side_work_waits(project, job)
    assert all(seconds < 5 for seconds in waits.values()), waits

    # 6. The job page shows progress until Succeeded, then links to the adapter.
    progress = page.locator("#progress")
    progress.and_(page.locator("[data-status=succeeded]")).wait_for(timeout=1_500_000)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    shoot(page, "journey-08-job-succeeded")
    # How long the one click took, from the click to Succeeded: kept beside the screenshots (never asserted).
    timing = {"metric": "one_click_job_seconds", "value": (job.finished_at - job.created_at).total_seconds()}
    lines = [{**timing, "unit": "s"}]
    lines += [{"metric": f"{name}_start_while_training_seconds", "value": v, "unit": "s"} for name, v in waits.items()]
    (SCREENSHOTS / "journey-timings.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    adapter = Adapter.objects.get(job=job)
    progress.get_by_role("link", name=adapter.name).first.click()
    page.wait_for_url(f"**/adapters/{adapter.pk}/")
    page.get_by_role("heading", name=adapter.name).wait_for()
    assert "Sample generations" in page.content()
    # The behavioural evaluation: the project's own checks on the base model's and the adapter's answers to the
    # validation prompts. The house style is what the demo teaches: the adapter keeps it, the base model does not.
    page.locator("#behaviour .behaviour-checks").wait_for()
    adapter.refresh_from_db()
    rates = {row["code"]: row for row in results.behaviour_report(adapter.behaviour)["checks"]}
    for code in ("style.opening", "style.signoff"):
        row = rates[code]
        assert row["n"] >= 10, row
        assert row["adapter_passed"] >= 0.7 * row["n"], row
        assert row["base_passed"] <= 0.1 * row["n"], row
    shoot(page, "journey-09-adapter")

    # 6b. What training found opens on "Needs a look": the demo's three planted slips (an off-topic answer, a
    # contradicted fact, a formatting slip) are in its first ten rows.
    page.goto(f"/projects/{project.pk}/training/{job.pk}/found/")
    rows = page.locator("article.found-row")
    rows.first.wait_for()
    top_ten = {int(rows.nth(i).locator(".who strong").first.inner_text().lstrip("#")) for i in range(10)}
    planted = {
        example.pk
        for example in Example.objects.filter(project=project)
        if any(m["role"] == "user" and m["content"] in DEFECT_PROMPTS for m in example.messages)
    }
    assert len(planted) == len(DEFECTS)
    shoot(page, "journey-09b-what-training-found")
    assert planted <= top_ten, (planted, top_ten)
    page.goto(f"/projects/{project.pk}/adapters/{adapter.pk}/")

    # 7. The playground: a question the demo never trained on, answered by the base model and the adapter side
    # by side; the adapter answers in the demo's house style, the base does not.
    page.get_by_role("button", name="Try it").click()
    page.wait_for_url("**/playground/**")
    question = HELD_OUT_PROMPTS[1]
    page.locator("textarea[name=conversation]").fill(question)
    page.get_by_role("button", name="Generate").click()
    answers = page.locator("#answers article.answer")
    answers.first.wait_for()
    page.locator("#answers [id^=generation-] footer").nth(1).wait_for(timeout=180_000)
    labels = answers.locator("header").all_inner_texts()
    assert len(labels) == 2
    assert "Base model" in labels[0]
    assert adapter.name in labels[1]
    base_text, adapter_text = (answers.nth(i).locator(".answer-text").inner_text() for i in range(2))
    assert follows_house_style(adapter_text), adapter_text
    assert not follows_house_style(base_text), base_text
    shoot(page, "journey-10-playground")

    # 7b. The adapter drafts the next example: made active, it writes a new question's answer into the editor
    # in the house style; kept as written, the editor says so (and the draft is stored with the example).
    page.goto(f"/projects/{project.pk}/adapters/{adapter.pk}/")
    page.get_by_role("button", name="Make active").click()
    page.get_by_role("button", name="Stop using as active").wait_for()
    page.goto(f"/projects/{project.pk}/examples/new/")
    assert f"with the adapter “{adapter.name}”" in page.locator(".draft-bar").inner_text()
    page.locator("#findings section.findings").wait_for()  # the editor is ready (its first check ran)
    _dialogue_boxes(page)[0].fill(HELD_OUT_PROMPTS[2])  # the user turn (the project's system turn stays)
    page.get_by_role("button", name="Draft answer").click()
    page.locator("#draft-status .draft[data-state=succeeded]").wait_for(timeout=180_000)
    drafted = _dialogue_boxes(page)[1].input_value()
    assert follows_house_style(drafted), drafted
    # The checks ran again on the drafted text: the empty answer they found before is gone.
    page.locator("#findings").get_by_text("(assistant) is empty").wait_for(state="detached", timeout=15_000)
    shoot(page, "journey-10a-drafted-by-the-adapter")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/edit/")
    assert page.locator(".draft-note").inner_text() == f"Drafted by {adapter.name} — unchanged"
    assert ExampleDraft.objects.filter(example__project=project, adapter=adapter).count() == 1

    # 8. A blind judgment between the base model and the adapter: names hidden until the owner closes.
    page.goto(f"/projects/{project.pk}/adapters/")
    page.get_by_role("button", name="Blind evaluations").click()
    page.get_by_label("Base model").check()
    page.get_by_label(adapter.name, exact=True).check()
    page.get_by_label("Prompts").fill("\n".join(HELD_OUT_PROMPTS[:2]))
    page.get_by_label("Max new tokens").fill("64")
    page.get_by_role("button", name="Create evaluation").click()
    page.get_by_role("button", name="Judge blind").wait_for(timeout=180_000)  # answers generated
    page.get_by_role("button", name="Judge blind").click()
    for turn in range(2):
        item_id = page.locator("#judgment-form input[name=item]").input_value()
        page.wait_for_load_state("load")  # the key handler is attached at the end of the page
        html = page.content()
        assert adapter.name not in html  # blind: no system names on the page
        if turn == 0:
            shoot(page, "journey-10b-judging-blind")
        # The reviewer picks the answer in the house style, whichever side it is on: exactly one side has it
        # (the prompts carry the project's system prompt, as in training and the playground).
        sides = page.locator(".grid article .answer").all_inner_texts()
        styled = [follows_house_style(text) for text in sides]
        assert styled.count(True) == 1, sides
        page.keyboard.press("1" if styled[0] else "2")
        page.locator(f"#judgment-form input[name=item][value='{item_id}']").wait_for(state="detached")
    page.get_by_text("Nothing left for you to judge here").wait_for()
    shoot(page, "journey-11-judged-blind")
    evaluation = Evaluation.objects.get(project=project)
    assert evaluation.items.count() == 2
    assert Judgment.objects.filter(item__evaluation=evaluation).count() == 2
    page.goto(f"/projects/{project.pk}/evaluations/{evaluation.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())  # closing cannot be undone: the page asks first
    page.get_by_role("button", name="Close and reveal").click()
    page.get_by_role("heading", name="Ranking (Bradley–Terry)").wait_for()
    assert adapter.name in page.content()
    first = page.locator("table").first.locator("tbody tr").first.inner_text()
    assert adapter.name in first, first  # the adapter won both judgments: it ranks first
    shoot(page, "journey-12-evaluation-results")

    # 9. The zip downloads and loads with PEFT.
    page.goto(f"/projects/{project.pk}/adapters/{adapter.pk}/")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download (PEFT zip)").click()
    archive = tmp_path / "adapter.zip"
    download.value.save_as(archive)
    folder = tmp_path / "adapter"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_ADAPTER, model.source, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    facts = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert facts["lora_modules"] > 0
    assert facts["generated"] > 3

    # 10. GGUF for llama.cpp and Ollama: the section follows the export and then lists its three files.
    page.get_by_role("button", name="Export GGUF").click()
    page.locator("#gguf[data-status=succeeded]").wait_for(timeout=300_000)
    downloads = page.locator(".gguf-downloads li a")
    assert downloads.count() == 3, page.locator("#gguf").inner_text()
    assert "FROM " in page.locator("#serving").inner_text()  # the Ollama Modelfile names the files
    shoot(page, "journey-13-gguf-export")

    # 11. Words, not codes: no page on the way showed a snake_case code outside <code> and tooltips.
    # (Logs and model cards are verbatim files, shown in <pre><code>.)
    seen = {name: codes for name, codes in CODES_SEEN.items() if codes}
    assert not seen, json.dumps(seen, indent=1)
    assert not TOO_WIDE, json.dumps(TOO_WIDE, indent=1)  # every page fits a phone's width

    # 12. No request or task held a write transaction so long that another process found SQLite locked.
    for worker in platform:
        log = open(worker.log_path, encoding="utf-8").read()
        assert "database is locked" not in log, log[-3000:]


# Loads the downloaded adapter on its base with PEFT, in a process of its own (the test process stays
# free of torch), and prints what it found.
LOAD_ADAPTER = """
import json, sys
from pathlib import Path
from peft import PeftModel
from transformers import AutoModelForCausalLM
base, folder = sys.argv[1], Path(sys.argv[2])
config = next(folder.rglob("adapter_config.json")).parent
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(config))
lora = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
out = model.generate(input_ids=model.base_model.model.model.embed_tokens.weight.new_ones((1, 3), dtype=int),
                     max_new_tokens=2, do_sample=False)
print(json.dumps({"lora_modules": len(lora), "generated": out.shape[1]}))
"""
