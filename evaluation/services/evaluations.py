"""Blind pairwise evaluations: create (owner), generate the answers (inference worker), judge, close.

Who may do what: owners create, close, export and see results at any time; owners and reviewers
judge; everyone else in the project is refused (403); outsiders get 404 from `project_for`.
The queue is blind for everyone until the evaluation closes.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation import permissions
from annotation.models import Example, Project
from annotune import dispatch, work
from annotune.errors import ApplicationError
from annotune.heartbeat import beating
from curated_data.models import DatasetVersion
from serving.models import Adapter
from serving.selectors.adapters import adapters_by_id
from serving.selectors.generations import generation_error_message
from serving.services.backends import Decoding, ServingBackend
from serving.services.generation import AdapterDeleted
from training.services import quotas

from ..models import (
    Evaluation,
    EvaluationAnswer,
    EvaluationItem,
    EvaluationPrompt,
    EvaluationStatus,
    Judgment,
    Verdict,
)

log = logging.getLogger(__name__)

MAX_PROMPTS = 200
DEFAULT_MAX_NEW_TOKENS = 128


def can_judge(user, project: Project) -> bool:
    return permissions.can_review(user, project)


def can_manage(user, project: Project) -> bool:
    return permissions.can_manage_project(user, project)


def can_see_results(user, evaluation: Evaluation) -> bool:
    """Owners at any time; reviewers once the evaluation is closed."""
    project = evaluation.project
    return can_manage(user, project) or (evaluation.is_closed and can_judge(user, project))


def _prompt_from_record(record: dict[str, Any]) -> list[dict[str, str]] | None:
    """The turns before the first assistant answer (system + user), or None if there is no user turn."""
    turns = []
    for message in record.get("messages") or []:
        if message.get("role") == "assistant":
            break
        turns.append({"role": message["role"], "content": message["content"]})
    return turns if turns and turns[-1]["role"] == "user" else None


def _version_prompts(version: DatasetVersion) -> tuple[str, list[tuple[list[dict], str]]]:
    for split, path, count in (
        ("validation", version.validation_path, version.validation_count),
        ("train", version.train_path, version.train_count),
    ):
        if not path or not count:
            continue
        prompts = []
        with default_storage.open(path, "rb") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    turns = _prompt_from_record(record)
                    if turns:
                        prompts.append((turns, str(record.get("category") or "")))
        if prompts:
            return split, prompts
    return "validation", []


def with_system_prompt(turns: list[dict[str, str]], system_prompt: str) -> list[dict[str, str]]:
    """The project's default system prompt first where a prompt has none, as training (engine.data.
    load_conversations) and the playground do: adapters are judged on the prompts they were trained with."""
    if not system_prompt or turns[0]["role"] == "system":
        return turns
    return [{"role": "system", "content": system_prompt}, *turns]


def _pasted_prompts(text: str) -> list[tuple[list[dict], str]]:
    lines = [line.strip() for line in (text or "").replace("\r\n", "\n").split("\n")]
    return [([{"role": "user", "content": line}], "") for line in lines if line]


@transaction.atomic
def evaluation_create(
    *,
    project: Project,
    user,
    name: str,
    adapter_ids: list[int],
    include_base: bool = True,
    dataset_version_id: int | None = None,
    prompts_text: str = "",
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> Evaluation:
    """Record the prompts and systems and queue the answers on the inference queue."""
    permissions.require(can_manage(user, project), "Only owners create evaluations.")
    ids = list(dict.fromkeys(adapter_ids or []))
    adapters = adapters_by_id(project, ids)
    missing = [i for i in ids if i not in adapters]
    if missing:
        raise ApplicationError(f"No adapter {missing[0]} in this project.", {"adapters": ["Unknown adapter."]})
    archived = [adapters[i].name for i in ids if adapters[i].archived]
    if archived:  # archived adapters are out of service (the page does not offer them; vLLM unloaded them)
        raise ApplicationError(
            f"Adapter “{archived[0]}” is archived: unarchive it to evaluate it.", {"adapters": ["archived"]}
        )
    systems = ([{"adapter_id": None, "label": "Base model"}] if include_base else []) + [
        {"adapter_id": a.pk, "label": adapters[a.pk].name} for a in (adapters[i] for i in ids)
    ]
    if len(systems) < 2:
        raise ApplicationError("Compare at least two systems (the base model and adapters).", {"systems": ["Two+."]})
    bases = {a.base_model for a in adapters.values()}
    if len(bases) > 1:
        raise ApplicationError("Compare adapters of one base model.", {"adapters": ["base_model_mismatch"]})
    base_model = next(iter(bases)) if bases else project.base_model
    if base_model is None:
        raise ApplicationError("This project has no base model yet.")
    if not 1 <= int(max_new_tokens) <= 1024:
        raise ApplicationError("max_new_tokens must be from 1 to 1024.", {"max_new_tokens": ["1–1024."]})
    version = None
    if dataset_version_id is not None:
        version = DatasetVersion.objects.filter(project=project, pk=dataset_version_id).first()
        if version is None:
            raise ApplicationError("No such dataset version in this project.", {"dataset_version": ["Unknown."]})
        source, prompts = _version_prompts(version)
    else:
        source, prompts = "pasted", _pasted_prompts(prompts_text)
    if not prompts:
        raise ApplicationError("No prompts: choose a dataset version or paste prompts, one per line.")
    prompts = [(with_system_prompt(turns, project.default_system_prompt), category) for turns, category in prompts]
    if len(prompts) > MAX_PROMPTS:
        raise ApplicationError(f"At most {MAX_PROMPTS} prompts per evaluation.")
    # One task on the inference queue: it counts as one waiting request of its creator and its project.
    quotas.generation_admit(user=user, project=project, what="evaluation")
    evaluation = Evaluation.objects.create(
        project=project,
        name=(name or "").strip()[:200] or f"Evaluation of {len(systems)} systems",
        base_model=base_model,
        dataset_version=version,
        prompt_source=source,
        systems=[{"key": f"s{i}", **s} for i, s in enumerate(systems)],
        params={"greedy": True, "temperature": 0.0, "max_new_tokens": int(max_new_tokens)},
        created_by=user,
    )
    EvaluationPrompt.objects.bulk_create(
        EvaluationPrompt(evaluation=evaluation, position=i, messages=m, category=c[:100])
        for i, (m, c) in enumerate(prompts)
    )
    from ..tasks import generate_evaluation_answers

    dispatch.send_on_commit(generate_evaluation_answers, evaluation.pk)
    return evaluation


def evaluation_close(*, evaluation: Evaluation, user) -> Evaluation:
    permissions.require(can_manage(user, evaluation.project), "Only owners close evaluations.")
    if evaluation.status != EvaluationStatus.OPEN:
        raise ApplicationError("Only an open evaluation can be closed.")
    Evaluation.objects.filter(pk=evaluation.pk, status=EvaluationStatus.OPEN).update(
        status=EvaluationStatus.CLOSED, closed_at=timezone.now()
    )
    evaluation.refresh_from_db()
    return evaluation


def judgment_submit(*, evaluation: Evaluation, item_id: int, user, verdict: str, comment: str = "") -> Judgment:
    permissions.require(can_judge(user, evaluation.project), "Only reviewers and owners judge.")
    if verdict not in Verdict.values:
        raise ApplicationError("Choose 1, 2, t (tie) or b (both bad).", {"verdict": ["Unknown verdict."]})
    try:
        with transaction.atomic():
            # The status as it is now, held until the judgment commits: a close that came after the
            # caller loaded the evaluation (names revealed, results published) is not judged past.
            status = Evaluation.objects.select_for_update().values_list("status", flat=True).get(pk=evaluation.pk)
            if status != EvaluationStatus.OPEN:
                raise ApplicationError("This evaluation is not open for judging.")
            item = EvaluationItem.objects.filter(evaluation=evaluation, pk=item_id).first()
            if item is None:
                raise ApplicationError("No such item in this evaluation.", {"item": ["Unknown item."]})
            return Judgment.objects.create(item=item, reviewer=user, verdict=verdict, comment=(comment or "")[:5000])
    except IntegrityError:
        raise ApplicationError("You already judged this item.") from None


@transaction.atomic
def judgment_promote(*, judgment: Judgment, user, answer: str | None = None) -> Example:
    """The better answer of a decisive judgment, edited if need be, becomes a new example of the project.

    It enters the normal review flow (submitted, validated like any other); a comment on it records where
    it came from. Only the judge may promote their judgment, once.
    """
    from annotation.models import Comment
    from annotation.services.examples import example_create

    permissions.require(judgment.reviewer_id == user.pk, "Only the reviewer who judged this item can promote it.")
    # The row as it is now, locked until this promotion commits: two submissions of the same promotion
    # (a double click, a retried request) create one example, the second is told it is done.
    judgment = (
        Judgment.objects.select_for_update(of=("self",)).select_related("item__evaluation__project").get(pk=judgment.pk)
    )
    item = judgment.item
    evaluation = item.evaluation
    if judgment.verdict not in ("1", "2"):
        raise ApplicationError("Only a judgment that picked a better answer can be promoted.")
    if judgment.promoted_example_id is not None:
        raise ApplicationError(f"Already promoted, as example #{judgment.promoted_example_id}.")
    chosen = item.first if judgment.verdict == "1" else item.second
    text = chosen.text if answer is None else str(answer).strip()
    if not text:
        raise ApplicationError("The answer is empty: write the answer the example should teach.", {"answer": ["?"]})
    messages = [*item.prompt.messages, {"role": "assistant", "content": text}]
    categories = {c.get("name") for c in evaluation.project.categories or [] if isinstance(c, dict)}
    category = item.prompt.category if item.prompt.category in categories else ""
    example = example_create(project=evaluation.project, author=user, messages=messages, category=category, submit=True)
    edited = " (edited)" if text != chosen.text else ""
    Comment.objects.create(
        example=example,
        author=user,
        body=f"Promoted from blind evaluation “{evaluation.name}” (#{evaluation.pk}), prompt #{item.prompt_id}: "
        f"the answer {user.username} judged better{edited}.",
    )
    judgment.promoted_example = example
    judgment.save(update_fields=["promoted_example"])
    return example


# -- worker side ----------------------------------------------------------------------------------
def _fail(mine, evaluation_id: int, code: str, detail: str) -> None:
    """The evaluation's pages and API show its error to owners and reviewers: it is stored in plain words
    (no server path, internal URL or exception text: `generation_error_message`); the detail goes to the log."""
    message = generation_error_message(code, detail, staff=False)
    if message != detail:
        log.warning("evaluation %s failed (%s): %s", evaluation_id, code, detail)
    mine.update(status=EvaluationStatus.FAILED, error_code=code[:50], error=message, finished_at=timezone.now())


def evaluation_generate(evaluation_id: int, backend: ServingBackend) -> str:
    """Claim the evaluation, answer every prompt with every system (greedy) through `backend` (the
    playground's: the inference worker's cached model, or the vLLM server), then build the items.

    A work row's claim (`annotune.work.claim`: queued -> running, the attempt counted); the worker beats on
    the row while it generates; the reaper fails an evaluation whose worker died. Every write after the
    claim goes through the row fenced to this attempt: a worker the reaper took for dead writes neither
    its answers nor a status over the reaper's failure."""
    from serving.inference.errors import InferenceError

    mine = work.claim(Evaluation, evaluation_id)
    if mine is None:
        return "skipped"
    evaluation = Evaluation.objects.select_related("base_model").get(pk=evaluation_id)
    prompts = list(evaluation.prompts.all())
    ids = [s["adapter_id"] for s in evaluation.systems if s["adapter_id"] is not None]
    adapters = {a.pk: a for a in Adapter.objects.filter(pk__in=ids).select_related("base_model")}
    decoding = Decoding(max_new_tokens=int(evaluation.params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)))
    answers: dict[tuple[int, str], EvaluationAnswer] = {}
    try:
        with beating(mine, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
            for system in evaluation.systems:  # one system at a time: one adapter switch per system
                adapter = adapters.get(system["adapter_id"])
                if system["adapter_id"] is not None and adapter is None:
                    raise AdapterDeleted(f"Adapter “{system['label']}” was deleted.")
                for prompt in prompts:
                    answer = backend.answer(
                        base_model=evaluation.base_model, adapter=adapter, messages=prompt.messages, decoding=decoding
                    )
                    answers[(prompt.pk, system["key"])] = EvaluationAnswer(
                        prompt=prompt, system=system["key"], text=answer.text, new_tokens=answer.completion_tokens
                    )
    except (InferenceError, ApplicationError) as exc:
        code = getattr(exc, "code", "") or "refused"
        _fail(mine, evaluation_id, code, exc.message)
        return "failed"
    except Exception as exc:
        log.exception("evaluation %s failed", evaluation_id)
        _fail(mine, evaluation_id, "internal", f"{type(exc).__name__}: {exc}")
        return "failed"
    with transaction.atomic():
        # The status first: when the reaper failed the evaluation meanwhile, nothing of this attempt is written.
        if not mine.update(
            status=EvaluationStatus.OPEN,
            finished_at=timezone.now(),
            params={**evaluation.params, "worker": backend.worker[:200]},
        ):
            log.warning("evaluation %s was failed by the reaper before it finished; answers discarded", evaluation_id)
            return "superseded"
        EvaluationAnswer.objects.bulk_create(answers.values())
        saved = {(a.prompt_id, a.system): a for a in EvaluationAnswer.objects.filter(prompt__evaluation=evaluation)}
        keys = [s["key"] for s in evaluation.systems]
        items = []
        for prompt in prompts:
            for a, b in itertools.combinations(keys, 2):
                first, second = (a, b) if secrets.randbelow(2) else (b, a)  # order drawn per item, stored
                items.append(
                    EvaluationItem(
                        evaluation=evaluation,
                        prompt=prompt,
                        first=saved[(prompt.pk, first)],
                        second=saved[(prompt.pk, second)],
                    )
                )
        EvaluationItem.objects.bulk_create(items)
    return "succeeded"
