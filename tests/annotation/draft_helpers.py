"""Drafted examples made through the real services: the editor's draft request, the worker's answer on the
row, the example saved with the draft kept, submitted for review."""

from __future__ import annotations

from django.db.models.functions import Now

from annotation.models import Example
from annotation.services import drafts
from annotation.services import examples as example_services
from serving.models import Adapter, GenerationRequest, GenerationStatus
from training.models import BaseModel

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "How do I reset my password?"}]
DRAFT = "Open Settings, then Security, then Reset password."


def drafting_adapter(project, owner, name: str = "support-v2") -> Adapter:
    """The project's active adapter on a base model (nothing is loaded: the worker's answer is written)."""
    base = project.base_model or BaseModel.objects.create(
        name="smol-instruct", source="/models/x", architecture="LlamaForCausalLM"
    )
    if project.base_model_id is None:
        project.base_model = base
        project.save(update_fields=["base_model"])
    Adapter.objects.filter(project=project).update(is_active=False)
    return Adapter.objects.create(
        project=project, base_model=base, name=name, storage_path=f"adapters/{name}", is_active=True, created_by=owner
    )


def answered_draft(project, user, prompt, text: str) -> GenerationRequest:
    """A draft request for `prompt`, answered with `text` as the inference worker leaves it."""
    row = drafts.draft_request(project=project, user=user, messages=prompt)
    output = {**row.targets[0], "text": text, "new_tokens": 9, "seconds": 0.4, "finish_reason": "stop"}
    GenerationRequest.objects.filter(pk=row.pk).update(
        status=GenerationStatus.SUCCEEDED, outputs=[output], started_at=Now(), heartbeat_at=Now(), finished_at=Now()
    )
    row.refresh_from_db()
    return row


def drafted_example(project, author, answer: str, *, draft: str = DRAFT, prompt=None, submit: bool = True) -> Example:
    """An example whose answer was drafted (`draft`) and then written as `answer`, kept and submitted."""
    prompt = list(prompt or QUESTION)
    row = answered_draft(project, author, prompt, draft)
    example = example_services.example_create(
        project=project, author=author, messages=[*prompt, {"role": "assistant", "content": answer}], submit=submit
    )
    drafts.draft_keep(example=example, user=author, generation_id=row.pk)
    example.refresh_from_db()
    return example
