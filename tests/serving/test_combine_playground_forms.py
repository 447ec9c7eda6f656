"""Combine form (keeps choices after an error, DoRA shown ineligible), playground hints, "never closed." wording."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

from annotune.errors import ApplicationError
from serving.models import Adapter, AdapterOperation, GenerationRequest, GenerationStatus
from serving.views.adapters import DORA_REASON, answer_hint
from training.models import BaseModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(project):
    base = BaseModel.objects.create(name="tiny-llama", source="/models/tiny", parameter_count=1_000_000)
    project.base_model = base
    project.save()
    return base


@pytest.fixture
def adapters(project, base, owner):
    def make(name, method):
        return Adapter.objects.create(
            project=project, base_model=base, name=name, method=method, storage_path=f"adapters/{name}"
        )

    return make("support-lora", "lora"), make("tone-lora", "lora"), make("support-dora", "dora")


@pytest.fixture
def browser(owner):
    client = Client()
    client.force_login(owner)
    return client


def combine_url(project) -> str:
    return reverse("adapter-combine", args=[project.pk])


def test_dora_adapters_are_shown_disabled_with_the_reason(browser, project, adapters):
    _a, _b, dora = adapters
    html = browser.get(combine_url(project)).content.decode()
    row = html.split(f'id="ineligible-{dora.pk}"')[1].split("</tr>")[0]
    assert f'name="use_{dora.pk}"' in row
    assert "disabled" in row
    assert DORA_REASON in row
    assert "Cannot be combined" in row
    assert f'id="ineligible-{adapters[0].pk}"' not in html


def test_combine_error_keeps_the_choices(browser, project, adapters):
    lora, other, _dora = adapters
    response = browser.post(
        combine_url(project),
        {
            f"use_{lora.pk}": "1",
            f"weight_{lora.pk}": "0.7",
            f"weight_{other.pk}": "2.5",
            "method": "svd",
            "name": "mix",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Pick at least two different adapters" in html
    assert f'name="use_{lora.pk}" value="1" aria-label="Use {lora.name}" checked' in html
    assert f'name="use_{other.pk}" value="1" aria-label="Use {other.name}">' in html  # not chosen: stays unticked
    assert f'name="weight_{lora.pk}" value="0.7"' in html
    assert f'name="weight_{other.pk}" value="2.5"' in html
    assert '<option value="svd" selected>' in html
    assert 'name="name" required maxlength="200" value="mix"' in html
    assert not AdapterOperation.objects.exists()


def test_bad_weight_is_named_and_kept(browser, project, adapters):
    lora, other, _dora = adapters
    response = browser.post(
        combine_url(project),
        {f"use_{lora.pk}": "1", f"use_{other.pk}": "1", f"weight_{other.pk}": "heavy", "name": "mix"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f"check the weight of {other.name}" in html
    assert f'name="weight_{other.pk}" value="heavy"' in html
    assert not AdapterOperation.objects.exists()


def test_a_posted_dora_adapter_is_refused_before_anything_is_queued(browser, project, adapters):
    lora, _other, dora = adapters
    response = browser.post(combine_url(project), {f"use_{lora.pk}": "1", f"use_{dora.pk}": "1", "name": "mix"})
    assert response.status_code == 400
    assert "DoRA adapter" in response.content.decode()
    assert not AdapterOperation.objects.exists()


# -- playground hints --------------------------------------------------------------------------------
TINY = SimpleNamespace(name="tiny-llama", parameter_count=1_000_000)
REAL = SimpleNamespace(name="Qwen2.5-7B-Instruct", parameter_count=7_000_000_000)


def test_hint_for_an_answer_that_stopped_at_once():
    hint = answer_hint({"text": "", "new_tokens": 0}, max_new_tokens=128, base_model=TINY)
    assert "stopped at once" in hint
    assert "end-of-turn" in hint
    assert "tiny test model with random weights" in hint


def test_hint_for_an_answer_cut_at_max_tokens_that_shows_nothing():
    hint = answer_hint({"text": "  \n", "new_tokens": 128}, max_new_tokens=128, base_model=REAL)
    assert "cut at max tokens" in hint
    assert "all 128 new tokens" in hint
    assert "random weights" not in hint


def test_hint_for_invisible_tokens_then_end_of_turn():
    hint = answer_hint({"text": "", "new_tokens": 3}, max_new_tokens=128, base_model=REAL)
    assert "3 tokens" in hint
    assert "stopped at end-of-turn" in hint


def test_finish_reason_wins_when_recorded():
    output = {"text": "", "new_tokens": 128, "finish_reason": "stop"}
    assert "stopped at end-of-turn" in answer_hint(output, max_new_tokens=128, base_model=REAL)


def test_visible_answers_get_a_hint_only_when_cut():
    assert answer_hint({"text": "Hello", "new_tokens": 5}, max_new_tokens=128, base_model=TINY) == ""
    cut = answer_hint({"text": "Hello there", "new_tokens": 16}, max_new_tokens=16, base_model=REAL)
    assert cut.startswith("Cut at max tokens (16)")


def test_playground_answer_panel_shows_the_hint(browser, project, base, owner):
    generation = GenerationRequest.objects.create(
        project=project,
        base_model=base,
        messages=[{"role": "user", "content": "Hi"}],
        targets=[{"adapter_id": None, "label": "Base model"}],
        params={"max_new_tokens": 32, "temperature": 0.0, "top_p": 1.0, "seed": 0},
        status=GenerationStatus.SUCCEEDED,
        outputs=[{"adapter_id": None, "label": "Base model", "text": "", "new_tokens": 0, "seconds": 0.01}],
    )
    html = browser.get(reverse("generation-partial", args=[project.pk, generation.pk])).content.decode()
    assert "(empty answer)" in html
    assert "generation stopped at once" in html
    assert "tiny test model" in html


# -- "never closed." ----------------------------------------------------------------------------------
FENCE = {
    "code": "fmt.unclosed_code_fence",
    "severity": "error",
    "message": "This code fence is never closed.",
    "location": {"message": 1, "start": 0, "end": 3},
}


def test_submit_refusal_has_one_full_stop():
    from annotation.services.validation import refuse_blocking

    with pytest.raises(ApplicationError) as caught:
        refuse_blocking([FENCE])
    assert "never closed.." not in caught.value.message
    assert caught.value.message.endswith("never closed.")


def test_approval_refusal_has_one_full_stop():
    from annotation.services.reviews import _refuse_blocked

    with pytest.raises(ApplicationError) as caught:
        _refuse_blocked(SimpleNamespace(findings=[FENCE]))
    assert "never closed.." not in caught.value.message
    assert "never closed. Request changes" in caught.value.message


# -- generation settings -----------------------------------------------------------------------------
HUGE = 10**400  # a whole number that float() cannot hold


def test_generation_settings_too_large_for_a_float_are_refused_by_name(api, owner, project, base, browser):
    url = f"/api/v1/projects/{project.pk}/generate"
    chat = [{"role": "user", "content": "Hi"}]
    bad = api(owner).post(url, {"messages": chat, "max_new_tokens": HUGE, "seed": -HUGE, "timeout": 0}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"max_new_tokens", "seed"}
    page = browser.post(
        reverse("playground", args=[project.pk]), {"conversation": "Hi", "base": "1", "seed": "9" * 400}
    )
    assert page.status_code == 400
    assert "Seed: A whole number" in page.content.decode()  # the form's label
    assert not GenerationRequest.objects.exists()


def test_playground_adapter_choices_that_are_not_ids_are_refused(browser, project, base):
    """str.isdigit() admits '²' and 5000-digit strings, which int() refuses (500)."""
    url = reverse("playground", args=[project.pk])
    for value in ("²", "1" * 5000, "9" * 30):
        response = browser.post(url, {"conversation": "Hi", "adapters": [value]})
        assert response.status_code == 400, value
        assert "Choose the base model or at least one adapter" in response.content.decode()
    assert not GenerationRequest.objects.exists()


def test_an_archived_adapter_does_not_generate(api, owner, project, adapters):
    """Archiving takes an adapter out of service (vLLM unloads it, /v1/ stops listing it); the generate API
    queued it anyway, and with the vLLM backend loaded it back into the server."""
    lora = adapters[0]
    Adapter.objects.filter(pk=lora.pk).update(archived=True)
    url = f"/api/v1/projects/{project.pk}/generate"
    body = {"messages": [{"role": "user", "content": "Hi"}], "adapter": lora.pk, "timeout": 0}
    response = api(owner).post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"adapter": ["archived"]}
    assert "unarchive it" in response.json()["detail"]
    assert not GenerationRequest.objects.exists()


def test_adapter_ids_beyond_the_id_column_are_unknown_adapters(api, owner, project, adapters):
    """SQLite (the embedded default) cannot even compare them: `pk__in` raised OverflowError (500)."""
    huge, client, lora = 10**30, api(owner), adapters[0]
    p = f"/api/v1/projects/{project.pk}"
    generate = client.post(
        f"{p}/generate", {"messages": [{"role": "user", "content": "Hi"}], "adapter": huge}, format="json"
    )
    combine = client.post(
        f"{p}/adapters/combine/",
        {"name": "mix", "sources": [{"adapter_id": lora.pk}, {"adapter_id": huge}]},
        format="json",
    )
    evaluate = client.post(f"{p}/evaluations/", {"adapters": [huge], "prompts": "Hi"}, format="json")
    for response in (generate, combine, evaluate):
        assert response.status_code == 400, response.content
        assert f"No adapter {huge} in this project" in response.json()["detail"]
    assert not GenerationRequest.objects.exists()
    assert not AdapterOperation.objects.exists()
