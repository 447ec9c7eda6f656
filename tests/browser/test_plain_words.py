"""Issue #23 on the annotation side, in real Chromium: one answer per question, words instead of codes, and
the small defects (review address, confirmation before an irreversible close, the 390 px button row, whole
number ticks, the sweep's cancel button, the product's own error pages). Each page is photographed at
390 px and 1366 px (var/screenshots/plain-*.png)."""

from __future__ import annotations

import pytest

from tests.annotation.journey_data import CONTRADICTION, build_journey, use_storage
from tests.browser.conftest import screenshot
from tests.page_words import snake_codes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {390: 844, 1366: 900}
# The elements that stick out to the right of the screen (for the message when a page is too wide).
WIDE = """[...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .filter((e) => !e.closest("table"))
  .slice(0, 5).map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def shoot(page, name: str) -> None:
    """The page at phone and laptop width, never wider than the screen (a wide table scrolls in its own box);
    back to the laptop width afterwards."""
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)  # let the layout settle after the resize
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width, page.evaluate(WIDE))
        screenshot(page, f"plain-{name}-{width}")
    page.set_viewport_size({"width": 1366, "height": 900})


@pytest.fixture
def journey(settings, tmp_path):
    use_storage(settings, tmp_path)
    return build_journey()


def test_fresh_editor_shows_guidance_and_the_panel_names_what_submit_refuses(page, login, journey):
    login(journey.annotator)
    page.goto(f"/projects/{journey.project.pk}/examples/new/")
    panel = page.locator("#findings")
    panel.locator("section.findings").wait_for()
    assert panel.locator(".finding-error").count() == 0  # nothing typed yet: no red errors
    assert "The checks run as you type" in panel.inner_text()
    shoot(page, "editor-fresh")

    turns = page.locator("fieldset.turn textarea")
    turns.nth(0).fill("How long do I have to ask for a refund?")
    turns.nth(1).fill(CONTRADICTION)
    contradiction = panel.locator('li[data-code="fact.contradicted"]')
    contradiction.wait_for()
    assert "Claim contradicts the knowledge base" in contradiction.inner_text()
    assert "fact.contradicted" not in panel.inner_text()  # the code is a tooltip
    assert contradiction.locator(".check-name").get_attribute("title") == "Check code: fact.contradicted"
    errors = panel.locator("li.finding-error .check-name").all_inner_texts()
    assert errors == ["Claim contradicts the knowledge base"]
    shoot(page, "editor-contradiction")

    page.get_by_role("button", name="Submit for review").click()
    refusal = page.locator("#editor-error")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "Fix the validation errors before submitting" in text
    for title in errors:  # the submit names exactly what the panel showed
        assert title in text
    assert text.count("(turn ") == len(errors)
    assert page.locator(".field-errors").count() == 0 or "findings" not in page.locator(".field-errors").inner_text()
    panel.locator('li[data-code="fact.contradicted"]').wait_for()  # the panel, checked again, agrees
    assert panel.locator("li.finding-error .check-name").all_inner_texts() == errors
    assert snake_codes(page.content()) == []
    shoot(page, "editor-refused")


def test_the_review_address_follows_the_example_and_reasons_are_words(page, login, journey):
    first, second = journey.submitted
    login(journey.reviewer)
    page.goto(f"/projects/{journey.project.pk}/review/{first.pk}/")
    page.get_by_role("heading", name=f"Review #{first.pk}").wait_for()
    shoot(page, "review")
    page.keyboard.press("a")
    page.get_by_role("heading", name=f"Review #{second.pk}").wait_for()
    assert page.url.endswith(f"/review/{second.pk}/")
    assert f"Example {first.pk}: approved." in page.locator(".flash").inner_text()

    page.keyboard.press("r")
    page.keyboard.press(str(journey.project.reject_reasons.index("off_topic") + 1))
    page.keyboard.press("Enter")
    page.locator(".flash").get_by_text(f"Example {second.pk}: rejected: off topic.").wait_for()
    assert "off_topic" not in page.locator("main").inner_text()
    shoot(page, "review-done")


def test_the_address_names_the_example_after_a_refused_decision(page, login, journey):
    from annotation.models import Example

    example = journey.submitted[0]
    login(journey.reviewer)
    page.goto(f"/projects/{journey.project.pk}/review/{example.pk}/")
    page.get_by_role("heading", name=f"Review #{example.pk}").wait_for()
    Example.objects.filter(pk=example.pk).update(status="draft")  # its author took it back meanwhile
    page.locator("#approve-button").click()
    page.locator("#review-error").wait_for()
    # The refusal is the answer to a POST to …/decide/; the address shows the example instead.
    assert page.url.endswith(f"/review/{example.pk}/")


def test_project_page_buttons_wrap_at_390_and_data_health_is_linked_once(page, login, journey):
    login(journey.owner)
    page.goto(f"/projects/{journey.project.pk}/")
    assert page.locator(f'a[href="/projects/{journey.project.pk}/data-health/"]').count() == 1
    page.set_viewport_size({"width": 390, "height": 844})
    export = page.locator(".page-head .actions").get_by_role("button", name="Export")
    box = export.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "project")


def test_length_histograms_count_in_whole_numbers(page, login, journey):
    login(journey.owner)
    page.goto(f"/projects/{journey.project.pk}/data-health/")
    for chart in ("prompt", "response"):
        ticks = page.evaluate(
            f"Chart.getChart(document.getElementById('chart-{chart}')).scales.y.ticks.map((t) => t.value)"
        )
        assert len(ticks) >= 2, chart
        assert all(float(v).is_integer() for v in ticks), (chart, ticks)
    assert snake_codes(page.content()) == []
    shoot(page, "data-health")


@pytest.mark.parametrize(
    "name", ["versions", "members", "settings", "my-work", "dashboard", "examples", "rejected-example"]
)
def test_other_annotation_pages_at_both_widths(page, login, journey, name):
    p = journey.project.pk
    user, url = {
        "versions": (journey.owner, f"/projects/{p}/datasets/versions/"),
        "members": (journey.owner, f"/projects/{p}/members/"),
        "settings": (journey.owner, f"/projects/{p}/settings/"),
        "my-work": (journey.annotator, f"/projects/{p}/my-work/"),
        "dashboard": (journey.owner, f"/projects/{p}/dashboard/"),
        "examples": (journey.owner, f"/projects/{p}/examples/"),
        "rejected-example": (journey.annotator, f"/projects/{p}/examples/{journey.rejected.pk}/"),
    }[name]
    login(user)
    page.goto(url)
    page.locator("main h1").first.wait_for()
    assert snake_codes(page.content()) == []
    shoot(page, name)


def _open_evaluation(journey):
    from evaluation.models import Evaluation, EvaluationStatus
    from training.models import BaseModel

    base = BaseModel.objects.create(name="tiny-llama", source="/models/tiny", architecture="LlamaForCausalLM")
    return Evaluation.objects.create(
        project=journey.project,
        name="Base against the adapter",
        base_model=base,
        prompt_source="pasted",
        systems=[{"key": "s0", "adapter_id": None, "label": "Base model"}],
        params={"max_new_tokens": 64},
        status=EvaluationStatus.OPEN,
        created_by=journey.owner,
    )


def test_close_and_reveal_asks_before_it_closes(page, login, journey):
    from evaluation.models import EvaluationStatus

    evaluation = _open_evaluation(journey)
    login(journey.owner)
    page.goto(f"/projects/{journey.project.pk}/evaluations/{evaluation.pk}/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Close and reveal").click()
    page.wait_for_timeout(300)
    assert len(asked) == 1
    assert "cannot be undone" in asked[0]
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.OPEN  # dismissed: nothing happened
    shoot(page, "evaluation")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Close and reveal").click()
    page.get_by_text("Evaluation closed").wait_for()
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CLOSED


def test_cancel_sweep_leaves_the_page_when_the_sweep_is_over(page, login, journey):
    from curated_data.models import DatasetVersion
    from training.models import BaseModel, JobStatus, Sweep, TrainingJob

    base = BaseModel.objects.create(name="tiny-llama", source="/models/tiny", architecture="LlamaForCausalLM")
    version = DatasetVersion.objects.get(project=journey.project)
    config = {"method": "qlora", "rank": 8, "alpha": 16, "target_modules": "attention", "learning_rate": 0.0002,
              "packing": True, "max_steps": -1, "seed": 42, "lr_scheduler": "constant_with_warmup"}  # fmt: skip
    sweep = Sweep.objects.create(
        project=journey.project,
        created_by=journey.owner,
        dataset_version=version,
        base_model=base,
        base_config=config,
        ranks=[8],
        preset="balanced",
    )
    job = TrainingJob.objects.create(
        project=journey.project, base_model=base, dataset_version=version, sweep=sweep, created_by=journey.owner,
        train_path="x/train.jsonl", dataset_sha256="ab" * 32, train_examples=9, validation_examples=3,
        method="qlora", config=config,
    )  # fmt: skip
    login(journey.owner)
    page.goto(f"/projects/{journey.project.pk}/training/sweeps/{sweep.pk}/")
    cancel = page.get_by_role("button", name="Cancel sweep")
    cancel.wait_for()
    page.locator("#sweep-config summary").click()
    table = page.locator("#sweep-config table").inner_text()
    assert "QLoRA (4-bit base)" in table
    assert "Learning rate\t0.0002" in table
    assert "Packing\tyes" in table
    assert "constant with warm-up" in table or "constant with warmup" in table
    assert "varies per member" in table
    assert "next in line" in page.locator("#sweep-members").inner_text()  # a queued member's place
    assert snake_codes(page.content()) == []
    shoot(page, "sweep-running")

    # The member's own page says why it waits: its place and that no worker takes its queue now.
    page.goto(f"/projects/{journey.project.pk}/training/{job.pk}/")
    waiting = page.locator("#job-waiting").inner_text()
    assert waiting.startswith("Next in line. No live worker takes this queue now")
    assert snake_codes(page.content()) == []
    shoot(page, "job-queued")
    page.goto(f"/projects/{journey.project.pk}/training/sweeps/{sweep.pk}/")
    cancel.wait_for()

    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    cancel.wait_for(state="detached", timeout=15_000)  # the next poll (every 5 s) drops it
    assert "Succeeded" in page.locator("#sweep-members").inner_text()
    shoot(page, "sweep-done")


def test_queue_page_names_methods(page, login, journey):
    from training.models import BaseModel, TrainingJob

    base = BaseModel.objects.create(name="tiny-llama", source="/models/tiny", architecture="LlamaForCausalLM")
    TrainingJob.objects.create(
        project=journey.project, base_model=base, created_by=journey.owner, train_path="x/train.jsonl",
        dataset_sha256="ab" * 32, train_examples=9, validation_examples=3, method="qlora",
        config={"method": "qlora"}, queue="training.cpu",
    )  # fmt: skip
    login(journey.owner)
    page.goto("/training/queue/")
    waiting = page.locator("#waiting-jobs")
    waiting.wait_for()
    assert "QLoRA (4-bit base)" in waiting.inner_text()
    assert snake_codes(page.content()) == []
    shoot(page, "queue")


def test_unknown_addresses_get_the_products_own_page(page, login, journey):
    login(journey.annotator)
    response = page.goto("/projects/999999/")
    assert response is not None
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert "URLconf" not in page.content()
    shoot(page, "not-found")
    response = page.goto(f"/projects/{journey.project.pk}/bulk/")
    assert response is not None
    assert response.status == 403
    assert page.get_by_role("heading", name="You cannot do this here").is_visible()
    shoot(page, "not-allowed")
