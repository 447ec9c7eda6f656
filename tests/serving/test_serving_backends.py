"""The serving seam (`serving.services.backends`): the inference worker's cached model and the vLLM server
answer through one interface, return one typed result and are stored in one shape.

The worker backend runs a real tiny model; the vLLM backend talks to the fake vLLM server the vLLM tests
use (tests/serving/fake_vllm.py; the real server is tests/serving/test_vllm_real.py). Both serve the
same adapter files from artifact storage.
"""

from __future__ import annotations

import pytest

from evaluation.models import EvaluationAnswer
from serving.inference.outputs import Answer, answer_output
from serving.models import GenerationRequest
from serving.services import backends, serving
from serving.services.backends import Decoding, ServingBackend, VllmBackend, WorkerBackend
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import CHAT
from tests.serving.fake_vllm import FakeVllm

pytestmark = pytest.mark.django_db

FINISHED = {"adapter_id", "label", "text", "new_tokens", "prompt_tokens", "finish_reason", "seconds"}


@pytest.fixture(scope="module")
def cache():
    from serving.inference.cache import BaseModelCache

    return BaseModelCache()


@pytest.fixture
def vllm(settings):
    with FakeVllm() as server:
        settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
        settings.ANNOTUNE_VLLM_URL = server.url
        yield server


def test_both_backends_satisfy_the_protocol_and_give_one_stored_shape(
    cache, vllm, base_model, make_adapter, adapter_dirs
):
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    for backend in (WorkerBackend(cache), VllmBackend()):
        assert isinstance(backend, ServingBackend)
        for adapter in (None, lawyer):
            answer = backend.answer(base_model=base_model, adapter=adapter, messages=CHAT, decoding=Decoding(8))
            assert isinstance(answer, Answer)
            assert 0 < answer.completion_tokens <= 8
            assert answer.prompt_tokens > 0
            assert answer.finish_reason in ("stop", "length")
            target = {"adapter_id": adapter and adapter.pk, "label": "x", "model": "ignored"}
            output = answer_output(target, answer)
            assert set(output) == FINISHED, backend
            assert (output["adapter_id"], output["text"], output["new_tokens"]) == (
                adapter and adapter.pk,
                answer.text,
                answer.completion_tokens,
            )
    # vLLM was asked for the adapter by its registry name, loaded from its folder on first use.
    assert [c["model"] for c in vllm.calls("/v1/chat/completions")] == ["tiny-llama", *[f"adapter-{lawyer.pk}"] * 2]
    assert [c["lora_name"] for c in vllm.calls("/v1/load_lora_adapter")] == [f"adapter-{lawyer.pk}"]


def test_the_worker_backend_answers_as_the_cached_model_does(cache, base_model, make_adapter, adapter_dirs):
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    worker = WorkerBackend(cache)
    for adapter in (None, lawyer):
        answer = worker.answer(base_model=base_model, adapter=adapter, messages=CHAT, decoding=Decoding(12))
        plain = cache.generate(base_model.source, CHAT, **serving.cache_target(adapter), max_new_tokens=12)
        assert (answer.text, answer.completion_tokens, answer.prompt_tokens) == (
            plain.text,
            plain.new_tokens,
            plain.prompt_tokens,
        )


def test_the_worker_backend_streams_stops_at_a_stop_string_and_stops_when_asked(cache, base_model):
    worker = WorkerBackend(cache)
    seen: list[tuple[str, int]] = []
    whole = worker.answer(
        base_model=base_model,
        adapter=None,
        messages=CHAT,
        decoding=Decoding(16),
        on_text=lambda text, tokens: seen.append((text, tokens)),
        interval=0.0,
    )
    assert len(whole.text) >= 4, whole  # the tiny model's greedy answer is long enough to cut
    assert seen
    assert all(whole.text.startswith(text) for text, _ in seen)

    stop = whole.text[2:4]
    cut = worker.answer(base_model=base_model, adapter=None, messages=CHAT, decoding=Decoding(16, stop=(stop,)))
    assert (cut.text, cut.finish_reason) == (whole.text[: whole.text.find(stop)], "stop")

    stopped = worker.answer(
        base_model=base_model, adapter=None, messages=CHAT, decoding=Decoding(16), should_stop=lambda: True
    )
    assert stopped.finish_reason == "cancelled"
    assert stopped.completion_tokens < whole.completion_tokens


def test_the_vllm_backend_sends_the_decoding_in_openais_names(vllm, base_model):
    answer = VllmBackend().answer(
        base_model=base_model,
        adapter=None,
        messages=CHAT,
        decoding=Decoding(max_new_tokens=3, temperature=0.7, top_p=0.9, seed=5, stop=("END",)),
    )
    assert (answer.text, answer.completion_tokens, answer.finish_reason) == ("tiny-llama answers Where", 3, "length")
    sent = vllm.calls("/v1/chat/completions")[0]
    assert {k: sent[k] for k in ("max_tokens", "temperature", "top_p", "seed", "stop")} == {
        "max_tokens": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 5,
        "stop": ["END"],
    }


def test_the_backend_follows_the_setting_and_only_the_worker_loads_a_model(settings, vllm):
    def no_model():
        raise AssertionError("the vLLM backend needs no model cache")

    assert isinstance(backends.current_backend(no_model), VllmBackend)
    assert isinstance(backends.current_backend(), VllmBackend)
    settings.ANNOTUNE_INFERENCE_BACKEND = "worker"
    chosen = backends.current_backend(lambda: "the cache")
    assert isinstance(chosen, WorkerBackend)
    assert chosen.cache == "the cache"
    with pytest.raises(RuntimeError, match="inference worker"):
        backends.current_backend()


def test_evaluations_answer_through_vllm_when_it_is_the_backend(
    vllm, project, owner, base_model, make_adapter, adapter_dirs, monkeypatch
):
    from evaluation.services import evaluations
    from evaluation.tasks import generate_evaluation_answers
    from serving import tasks as serving_tasks

    def no_model():
        raise AssertionError("an evaluation on the vLLM backend loads no model in the worker")

    monkeypatch.setattr(serving_tasks, "model_cache", no_model)
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    evaluation = evaluations.evaluation_create(
        project=project, user=owner, name="Via vLLM", adapter_ids=[lawyer.pk], prompts_text="Hi\nWhere is it?"
    )
    assert generate_evaluation_answers(evaluation.pk) == "succeeded"
    texts = sorted(EvaluationAnswer.objects.filter(prompt__evaluation=evaluation).values_list("text", flat=True))
    assert texts == [
        f"adapter-{lawyer.pk} answers Hi",
        f"adapter-{lawyer.pk} answers Where is it?",
        "tiny-llama answers Hi",
        "tiny-llama answers Where is it?",
    ]
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.params["worker"]) == ("open", "vllm")


@pytest.mark.django_db(transaction=True)  # the playground's answer runs once its row is committed
def test_the_playground_and_v1_store_one_shape(vllm, api, owner, project, base_model):
    from serving.openai_compat import services as openai_services
    from serving.openai_compat.catalog import catalog
    from serving.openai_compat.schema import parse_chat_request

    played = api(owner).post(f"/api/v1/projects/{project.pk}/generate", {"messages": CHAT}, format="json")
    assert played.status_code == 200, played.json()
    params = parse_chat_request({"model": "tiny-llama", "messages": CHAT, "max_tokens": 4, "stop": ["x"]})
    row = openai_services.chat_completion_queue(user=owner, served=catalog(owner).resolve("tiny-llama"), params=params)
    body = openai_services.chat_completion_wait(row, model_id="tiny-llama", timeout=5)
    assert body["usage"] == {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
    assert body["choices"][0]["finish_reason"] == "length"
    assert vllm.calls("/v1/chat/completions")[-1]["stop"] == ["x"]
    for request in GenerationRequest.objects.all():
        assert request.status == "succeeded"
        assert [set(o) for o in request.outputs] == [FINISHED]
