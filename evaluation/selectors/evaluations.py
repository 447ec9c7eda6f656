"""Reads of blind pairwise evaluations: the list, the blind queue, results and preference pairs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404

from annotation import permissions
from annotation.selectors.preferences import BLIND_EVALUATION, PreferenceRow, jsonl, preference_row
from training.engine import pairwise

from ..models import Evaluation, EvaluationItem, EvaluationStatus, Judgment, Verdict

# A verdict on an item as an outcome of system `first` (a) against system `second` (b).
OUTCOME = {Verdict.FIRST: "a", Verdict.SECOND: "b", Verdict.TIE: "tie", Verdict.BOTH_BAD: "bad"}


def evaluation_for(user, project_id, evaluation_id) -> Evaluation:
    """The evaluation if the user is a member of its project (404 for outsiders)."""
    project = permissions.project_for(user, project_id)
    evaluation = get_object_or_404(Evaluation.objects.select_related("base_model"), project=project, pk=evaluation_id)
    evaluation.project = project
    return evaluation


def evaluation_list(project):
    return Evaluation.objects.filter(project=project).annotate(
        item_count=Count("items", distinct=True), judgment_count=Count("items__judgments", distinct=True)
    )


@dataclass(frozen=True)
class QueueItem:
    """What a reviewer sees: the prompt and two answers, never the systems (until the evaluation closes)."""

    id: int
    messages: list[dict]
    answer_1: str
    answer_2: str
    remaining: int
    system_1: str | None = None  # only once closed
    system_2: str | None = None


def queue_next(evaluation: Evaluation, user) -> QueueItem | None:
    """The next item this user has not judged: the least judged first (so a second reviewer widens
    coverage before repeating items), then in order."""
    if evaluation.status != EvaluationStatus.OPEN:
        return None
    pending = (
        EvaluationItem.objects.filter(evaluation=evaluation)
        .exclude(judgments__reviewer=user)
        .annotate(judged=Count("judgments"))
        .select_related("prompt", "first", "second")
        .order_by("judged", "id")
    )
    item = pending.first()
    if item is None:
        return None
    return QueueItem(
        id=item.pk,
        messages=item.prompt.messages,
        answer_1=item.first.text,
        answer_2=item.second.text,
        remaining=pending.count(),
    )


def judged_by(evaluation: Evaluation, user) -> int:
    return Judgment.objects.filter(item__evaluation=evaluation, reviewer=user).count()


def promotable(evaluation: Evaluation, user, *, limit: int = 50) -> list[dict]:
    """The user's decisive judgments with the answer they judged better (no system names: still blind)."""
    rows = (
        Judgment.objects.filter(item__evaluation=evaluation, reviewer=user, verdict__in=("1", "2"))
        .select_related("item__prompt", "item__first", "item__second")
        .order_by("-id")[:limit]
    )
    return [
        {
            "judgment": j,
            "prompt": j.item.prompt.messages,
            "answer": (j.item.first if j.verdict == "1" else j.item.second).text,
        }
        for j in rows
    ]


@dataclass
class Results:
    judgments: int
    labels: dict[str, str]
    pairs: list[pairwise.PairResult]
    ranking: list[pairwise.Ranked]
    categories: list[tuple[str, list[pairwise.PairResult], list[pairwise.Ranked]]] = field(default_factory=list)
    agreement: pairwise.Agreement = field(default_factory=lambda: pairwise.Agreement(0, None, None))


def _judgments(evaluation: Evaluation):
    return (
        Judgment.objects.filter(item__evaluation=evaluation)
        .select_related("item__prompt", "item__first", "item__second")
        .order_by("item_id", "created_at", "id")
    )


def results(evaluation: Evaluation) -> Results:
    labels = evaluation.labels()
    outcomes = []
    by_item: dict[int, list[str]] = defaultdict(list)
    for judgment in _judgments(evaluation):
        item = judgment.item
        outcomes.append(
            pairwise.Outcome(
                a=labels[item.first.system],
                b=labels[item.second.system],
                result=OUTCOME[judgment.verdict],
                category=item.prompt.category,
            )
        )
        by_item[item.pk].append(judgment.verdict)
    systems = list(labels.values())
    categories = []
    names = sorted({o.category for o in outcomes if o.category})
    for name in names:
        subset = [o for o in outcomes if o.category == name]
        categories.append((name, pairwise.pair_results(subset), pairwise.bradley_terry(subset, systems)))
    return Results(
        judgments=len(outcomes),
        labels=labels,
        pairs=pairwise.pair_results(outcomes),
        ranking=pairwise.bradley_terry(outcomes, systems),
        categories=categories,
        agreement=pairwise.agreement((v[0], v[1]) for v in by_item.values() if len(v) >= 2),
    )


def decisive_pairs(judgments) -> Iterator[PreferenceRow]:
    """One preference pair per decisive judgment of `judgments` (with their items' prompt and answers
    selected), in TRL's conversational format; ties and both-bad are left out."""
    for judgment in judgments.filter(~Q(verdict__in=[Verdict.TIE, Verdict.BOTH_BAD])):
        item = judgment.item
        chosen, rejected = (item.first, item.second) if judgment.verdict == Verdict.FIRST else (item.second, item.first)
        yield preference_row(item.prompt.messages, chosen.text, rejected.text, BLIND_EVALUATION)


def preference_pairs(evaluation: Evaluation) -> Iterator[PreferenceRow]:
    """The evaluation's decisive judgments as preference pairs."""
    return decisive_pairs(_judgments(evaluation))


def project_judgment_pairs(project) -> Iterator[PreferenceRow]:
    """The decisive judgments of all the project's evaluations, evaluation by evaluation, in one query."""
    judgments = (
        Judgment.objects.filter(item__evaluation__project=project)
        .select_related("item__prompt", "item__first", "item__second")
        .order_by("item__evaluation_id", "item_id", "created_at", "id")
    )
    return decisive_pairs(judgments)


def preference_jsonl(evaluation: Evaluation) -> str:
    return "".join(jsonl(pair) for pair in preference_pairs(evaluation))
