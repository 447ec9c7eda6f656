"""Reads for "what training found": a job's per-example scores ranked, filtered and summarised.

The worker writes one `ExampleScore` per example after a successful job; they never change after.
The job-wide figures (per-category median and MAD, train / validation means, the loss histogram,
ranks) are computed once from one narrow read and cached under a marker of the rows (count, last
id), so a page costs a fixed number of queries whatever the dataset size. The robust z-score of a
row is computed by the database from the cached medians, so the outlier ranking pages in SQL.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, F, FloatField, Max, QuerySet, Value, When, Window
from django.db.models.functions import Abs, PercentRank

from annotation.models import Example, Project, Review, ReviewDecision, ReviewFlag, Revision
from annotation.selectors.flags import OUTCOMES, flag_outcome, outcome_detail
from annotation.services.flags import FlagEvidence, flag_evidence, top_percent
from annotune.errors import ApplicationError
from serving.models import Adapter
from training.engine import results
from training.models import JobStatus, TrainingJob

from ..models import ExampleScore

SPLITS = ("train", "validation")
# (key, label, what it tells, ordering): the page's tabs and the API's `ranking`.
RANKINGS: dict[str, tuple[str, str, str]] = {
    "needs_look": (
        "Needs a look",
        "The examples the project's checks warned about first (a contradicted fact, a broken house style), then "
        "the hardest to learn within their split: the likeliest to be wrong, whatever kind of slip it is.",
        "attention",
    ),
    "hardest": (
        "Hardest to learn",
        "Highest loss under the adapter: likely wrong, inconsistent with similar examples, or a kind the data has "
        "too few of.",
        "-adapter_loss",
    ),
    "learned": (
        "Learned most",
        "Largest drop from the base model's loss: what the adapter learned from your data.",
        "-loss_drop",
    ),
    "outliers": (
        "Outliers in their category",
        "Furthest from their category's median loss (robust z-score: median and MAD per category).",
        "outlier",
    ),
}
# The list the page opens on: both kinds of evidence in one ranking.
DEFAULT_RANKING = "needs_look"
ORDERINGS = ("attention", "-adapter_loss", "adapter_loss", "-loss_drop", "loss_drop", "outlier")
MIN_GROUP = 3  # a category's median / MAD needs at least this many scores to call anything an outlier
HISTOGRAM_BINS = 20
OUTLIER_Z = 3.0  # |z| at or above: an outlier
GAP_WARN = 0.25  # validation mean above train mean by this share of the train mean: overfitting?
PAGE_SIZE = 25


def data_time(job: TrainingJob) -> datetime:
    """When the job's data was taken: an edit after this makes its scores describe old text."""
    version = job.dataset_version
    return version.created_at if version is not None else job.created_at


# -- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreFilters:
    category: str | None = None  # None: any; "" : examples without a category
    author: str = ""
    split: str = ""

    @classmethod
    def from_query(cls, params: Any) -> ScoreFilters:
        """From a page's or the API's query; a bad value is refused by name (400), never a 500."""
        split = str(params.get("split") or "")
        if split not in ("", *SPLITS):
            raise ApplicationError(f"Unknown split {split!r}.", {"split": ["One of: train, validation."]})
        category = params.get("category")
        author = str(params.get("author") or "")
        for name, value in (("category", category or ""), ("author", author)):
            if "\x00" in str(value) or len(str(value)) > 150:
                raise ApplicationError(f"The {name} filter is not a valid name.", {name: ["Send a name."]})
        return cls(category=None if category in (None, "") else str(category), author=author, split=split)

    @property
    def active(self) -> bool:
        return bool(self.category is not None or self.author or self.split)


def ranking_ordering(ranking: str) -> str:
    if ranking not in RANKINGS:
        raise ApplicationError(f"Unknown list {ranking!r}.", {"ranking": [f"One of: {', '.join(RANKINGS)}."]})
    return RANKINGS[ranking][2]


# -- job-wide figures (cached) --------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryStats:
    category: str
    count: int
    median: float | None
    mad: float | None
    train_mean: float | None
    train_n: int
    validation_mean: float | None
    validation_n: int

    @property
    def gap(self) -> float | None:
        """Validation mean − train mean: positive is worse on unseen examples of this topic."""
        if self.train_mean is None or self.validation_mean is None:
            return None
        return self.validation_mean - self.train_mean

    @property
    def overfits(self) -> bool:
        gap = self.gap
        return gap is not None and self.train_mean is not None and gap > max(0.05, GAP_WARN * abs(self.train_mean))


@dataclass(frozen=True)
class JobFindings:
    """What the page and the API summarise: computed once per job (its scores never change)."""

    total: int
    split_counts: dict[str, int]
    unscored: int  # no assistant token survived truncation: no loss
    truncated: int  # some tokens cut
    categories: list[CategoryStats]
    histogram: dict[str, Any]  # {"edges": [...], "adapter": [...], "base": [...]}
    authors: list[str]
    # Adapter losses per split, highest first: ranks ("top 2 %") by bisection.
    ranked: dict[str, list[float]] = field(default_factory=dict)

    @property
    def by_category(self) -> dict[str, CategoryStats]:
        return {c.category: c for c in self.categories}

    def category_share(self, category: str) -> float | None:
        if not self.total:
            return None
        found = self.by_category.get(category)
        return (found.count if found else 0) / self.total

    def rank(self, split: str, loss: float | None) -> tuple[int, int]:
        """(rank by adapter loss within the split, 1 = highest; examples in the split)."""
        losses = self.ranked.get(split, [])
        if loss is None or not losses:
            return 0, len(losses)
        negated = [-x for x in losses]  # ascending, for bisect
        return bisect.bisect_left(negated, -loss) + 1, len(losses)

    def robust_z(self, category: str, loss: float | None) -> float | None:
        stats = self.by_category.get(category)
        if loss is None or stats is None or stats.median is None or not stats.mad:
            return None
        return 0.6745 * (loss - stats.median) / stats.mad


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _histogram(adapter: list[float], base: list[float]) -> dict[str, Any]:
    values = adapter + base
    if not values:
        return {"edges": [], "adapter": [], "base": []}
    low, high = min(values), max(values)
    width = (high - low) / HISTOGRAM_BINS or 1.0
    edges = [round(low + i * width, 4) for i in range(HISTOGRAM_BINS + 1)]

    def counts(series: list[float]) -> list[int]:
        out = [0] * HISTOGRAM_BINS
        for v in series:
            out[min(HISTOGRAM_BINS - 1, int((v - low) / width))] += 1
        return out

    return {"edges": edges, "adapter": counts(adapter), "base": counts(base)}


def _compute(job: TrainingJob) -> JobFindings:
    rows = list(
        ExampleScore.objects.filter(job=job).values_list(
            "split", "category", "adapter_loss", "base_loss", "truncated_tokens", "author__username"
        )
    )
    groups: dict[str, list[float]] = defaultdict(list)
    split_groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    ranked: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    split_counts = dict.fromkeys(SPLITS, 0)
    adapter, base, authors = [], [], set()
    unscored = truncated = 0
    for split, category, adapter_loss, base_loss, cut, author in rows:
        split_counts[split] = split_counts.get(split, 0) + 1
        counts[category] += 1
        truncated += 1 if cut else 0
        if author:
            authors.add(author)
        if base_loss is not None:
            base.append(base_loss)
        if adapter_loss is None:
            unscored += 1
            continue
        adapter.append(adapter_loss)
        groups[category].append(adapter_loss)
        split_groups[(category, split)].append(adapter_loss)
        ranked[split].append(adapter_loss)
    categories = []
    for category in sorted(counts):
        losses = groups.get(category, [])
        median = statistics.median(losses) if losses else None
        mad = None
        if median is not None and len(losses) >= MIN_GROUP:
            mad = statistics.median(abs(x - median) for x in losses)
        train = split_groups.get((category, "train"), [])
        validation = split_groups.get((category, "validation"), [])
        categories.append(
            CategoryStats(
                category=category,
                count=counts[category],
                median=median,
                mad=mad,
                train_mean=_mean(train),
                train_n=len(train),
                validation_mean=_mean(validation),
                validation_n=len(validation),
            )
        )
    return JobFindings(
        total=len(rows),
        split_counts=split_counts,
        unscored=unscored,
        truncated=truncated,
        categories=categories,
        histogram=_histogram(adapter, base),
        authors=sorted(authors),
        ranked={split: sorted(values, reverse=True) for split, values in ranked.items()},
    )


def job_findings(job: TrainingJob) -> JobFindings:
    """The job-wide figures: one cheap aggregate to check the cache, one narrow read when it misses."""
    marker = ExampleScore.objects.filter(job=job).aggregate(n=Count("id"), last=Max("id"))
    key = f"annotune:found:{job.pk}:{marker['n']}:{marker['last']}"
    found = cache.get(key)
    if found is None:
        found = _compute(job) if marker["n"] else _compute_empty()
        cache.set(key, found, timeout=24 * 3600)
    return found


def _compute_empty() -> JobFindings:
    return JobFindings(
        total=0,
        split_counts=dict.fromkeys(SPLITS, 0),
        unscored=0,
        truncated=0,
        categories=[],
        histogram={"edges": [], "adapter": [], "base": []},
        authors=[],
    )


# -- rows -----------------------------------------------------------------------------------------


def _outlier_expression(found: JobFindings):
    """|robust z| computed by the database from the cached medians (null where a category has no MAD)."""
    whens = [
        When(category=c.category, adapter_loss__isnull=False, then=Value(c.median))
        for c in found.categories
        if c.median is not None and c.mad
    ]
    scale = [When(category=c.category, then=Value(0.6745 / c.mad)) for c in found.categories if c.mad]
    if not whens:
        return Value(None, output_field=FloatField())
    median = Case(*whens, default=Value(None), output_field=FloatField())
    factor = Case(*scale, default=Value(None), output_field=FloatField())
    return Abs((F("adapter_loss") - median) * factor)


def score_queryset(
    job: TrainingJob, found: JobFindings, filters: ScoreFilters, ordering: str = "-adapter_loss"
) -> QuerySet[ExampleScore]:
    """The job's scores with the filters and ordering; `outlier` (|robust z|) annotated on each row."""
    if ordering not in ORDERINGS:
        raise ApplicationError(f"Unknown ordering {ordering!r}.", {"ordering": [f"One of: {', '.join(ORDERINGS)}."]})
    qs = ExampleScore.objects.filter(job=job).annotate(outlier=_outlier_expression(found))
    if filters.category is not None:
        qs = qs.filter(category=filters.category)
    if filters.split:
        qs = qs.filter(split=filters.split)
    if filters.author:
        qs = qs.filter(author__username=filters.author)
    name = ordering.lstrip("-")
    if ordering == "attention":
        # Two kinds of evidence: what the checks say about the text, then what training says about it: the
        # loss's rank within the example's own split (an adapter's loss on validation examples it never saw is
        # higher across the board, so raw losses would list the validation split first).
        within_split = Window(
            PercentRank(), partition_by=[F("split")], order_by=F("adapter_loss").asc(nulls_first=True)
        )
        return (
            qs.annotate(split_rank=within_split)
            .select_related("example", "example__author", "author")
            .defer("example__search_text")
            .order_by(F("check_warnings").desc(), F("split_rank").desc(nulls_last=True), "id")
        )
    if ordering == "outlier":
        order = F("outlier").desc(nulls_last=True)
    elif ordering.startswith("-"):
        order = F(name).desc(nulls_last=True)
    else:
        order = F(name).asc(nulls_last=True)
    return qs.select_related("example", "example__author", "author").defer("example__search_text").order_by(order, "id")


@dataclass
class FoundRow:
    """One scored example as the page shows it (display-ready; the template guesses nothing)."""

    score: ExampleScore
    example: Example | None
    author: str
    reviewer: str
    robust_z: float | None
    rank: int
    of: int
    top_percent: int
    edited_since: bool
    flag: ReviewFlag | None
    outcome: str  # "" when not flagged by this job
    outcome_label: str

    @property
    def example_id(self) -> int | None:
        return self.example.pk if self.example is not None else None

    @property
    def outlier(self) -> bool:
        return self.robust_z is not None and abs(self.robust_z) >= OUTLIER_Z

    @property
    def place(self) -> str:
        """Where its adapter loss sits in its split, in words: "hardest 5 % of the training set" or, for the
        lower half, "easiest 20 % …" (the lowest loss is the easiest 1 example, not the "top 100 %")."""
        if not self.rank or not self.of:
            return ""
        split = "training set" if self.score.split == "train" else f"{self.score.split} set"
        if self.rank * 2 <= self.of:
            return f"hardest {self.top_percent} % of the {split}"
        return f"easiest {top_percent(self.of - self.rank + 1, self.of)} % of the {split}"


def rows_for(job: TrainingJob, found: JobFindings, scores: list[ExampleScore]) -> list[FoundRow]:
    """Display rows for a page of scores: three queries (last approving reviewer, this job's flags,
    edits since the job took its data), whatever the page size."""
    ids = [s.example_id for s in scores if s.example_id is not None]
    reviewers: dict[int, str] = {}
    flags: dict[int, ReviewFlag] = {}
    edited: set[int] = set()
    if ids:
        for example_id, username in (
            Review.objects.filter(example_id__in=ids, decision=ReviewDecision.APPROVE)
            .order_by("example_id", "-id")
            .values_list("example_id", "reviewer__username")
        ):
            reviewers.setdefault(example_id, username)
        for flag in ReviewFlag.objects.filter(job=job, example_number__in=ids).order_by("-id"):
            flags.setdefault(flag.example_number, flag)
        edited = set(
            Revision.objects.filter(example_id__in=ids, created_at__gt=data_time(job))
            .values_list("example_id", flat=True)
            .distinct()
        )
    out = []
    for s in scores:
        example = s.example
        rank, of = found.rank(s.split, s.adapter_loss)
        flag = flags.get(s.example_id) if s.example_id is not None else None
        outcome = flag_outcome(flag, example) if flag is not None else ""
        author = example.author.username if example is not None else (s.author.username if s.author else "—")
        out.append(
            FoundRow(
                score=s,
                example=example,
                author=author,
                reviewer=reviewers.get(s.example_id, "—") if s.example_id else "—",
                robust_z=found.robust_z(s.category, s.adapter_loss),
                rank=rank,
                of=of,
                top_percent=top_percent(rank, of),
                edited_since=s.example_id in edited,
                flag=flag,
                outcome=outcome,
                outcome_label=OUTCOMES.get(outcome, ""),
            )
        )
    return out


def score_page(
    job: TrainingJob, found: JobFindings, filters: ScoreFilters, ordering: str, page: Any, per_page: int = PAGE_SIZE
) -> tuple[Page, list[FoundRow]]:
    paginator = Paginator(score_queryset(job, found, filters, ordering), per_page)
    current = paginator.get_page(page)
    return current, rows_for(job, found, list(current.object_list))


def ranked(job: TrainingJob, found: JobFindings, ranking: str, *, limit: int = 10) -> list[FoundRow]:
    """The first `limit` rows of one of the lists (API: all three in one answer)."""
    qs = score_queryset(job, found, ScoreFilters(), ranking_ordering(ranking))
    if ranking == "learned":
        qs = qs.filter(loss_drop__isnull=False)
    elif ranking == "outliers":
        qs = qs.filter(outlier__isnull=False)
    else:
        qs = qs.filter(adapter_loss__isnull=False)
    return rows_for(job, found, list(qs[:limit]))


# -- flags of the job and what happened since -----------------------------------------------------


@dataclass
class FlagRow:
    flag: ReviewFlag
    example: Example | None
    outcome: str
    detail: str
    evidence: FlagEvidence


@dataclass
class FlagSummary:
    rows: list[FlagRow]
    counts: list[tuple[str, str, int]]  # (outcome, label, n) in OUTCOMES order

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.counts)


def job_flags(job: TrainingJob, *, limit: int = 200) -> FlagSummary:
    """The examples this job sent back, newest first, with what happened to each since (one query)."""
    flags = list(
        ReviewFlag.objects.filter(job=job)
        .select_related("sent_by", "example")
        .defer("example__search_text", "example__messages", "example__findings")
        .order_by("-id")[:limit]
    )
    rows = []
    tally = dict.fromkeys(OUTCOMES, 0)
    for flag in flags:
        outcome = flag_outcome(flag, flag.example)
        tally[outcome] += 1
        rows.append(
            FlagRow(
                flag=flag,
                example=flag.example,
                outcome=outcome,
                detail=outcome_detail(flag, flag.example),
                evidence=flag_evidence(flag.evidence),
            )
        )
    return FlagSummary(rows=rows, counts=[(key, OUTCOMES[key], tally[key]) for key in OUTCOMES])


# -- send-back evidence ---------------------------------------------------------------------------


def evidence_for(job: TrainingJob, found: JobFindings, example_ids: list[int]) -> dict[int, FlagEvidence]:
    """The evidence each example (scored by this job) is sent back with; ids without a score are absent."""
    ids = [i for i in example_ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63]
    out: dict[int, FlagEvidence] = {}
    for s in ExampleScore.objects.filter(job=job, example_id__in=ids):
        rank, of = found.rank(s.split, s.adapter_loss)
        z = found.robust_z(s.category, s.adapter_loss)
        out[s.example_id] = {
            "split": s.split,
            "category": s.category,
            "adapter_loss": s.adapter_loss,
            "base_loss": s.base_loss,
            "loss_drop": s.loss_drop,
            "rank": rank,
            "of": of,
            "robust_z": round(z, 2) if z is not None else None,
        }
    return out


# -- the forgetting report ------------------------------------------------------------------------


@dataclass
class ForgettingView:
    """The job's forgetting check with its likely cause (the general share against its target)."""

    report: results.ForgettingReport
    general_category: str
    general_share: float | None
    general_target: float | None
    cause: str
    advice: str

    @property
    def too_few_note(self) -> str:
        """A plain note when the verdict rests on too few control conversations ("" otherwise)."""
        return results.forgetting_note(self.report)

    @property
    def ratio_percent(self) -> float | None:
        ratio = self.report["control_ratio"]
        return (ratio - 1) * 100 if ratio is not None else None


def _report(raw: Any) -> results.ForgettingReport | None:
    """The stored report (`job.result["forgetting"]`), None when the job has none."""
    if not isinstance(raw, dict):
        return None
    samples = []
    for sample in raw.get("samples") or []:
        if isinstance(sample, dict):
            prompt = results.samples([{"prompt": sample.get("prompt"), "before": "", "after": ""}])[0]["prompt"]
            samples.append(
                {
                    "prompt": prompt,
                    "before": str(sample.get("before") or ""),
                    "after": str(sample.get("after") or ""),
                }
            )
    threshold = results.clean_float(raw.get("threshold")) or results.FORGETTING_THRESHOLD
    control_ratio = results.clean_float(raw.get("control_ratio"))
    count = raw.get("control_examples")
    return {
        "control_ratio": control_ratio,
        "control_base_ppl": results.clean_float(raw.get("control_base_ppl")),
        "control_adapter_ppl": results.clean_float(raw.get("control_adapter_ppl")),
        "validation_ratio": results.clean_float(raw.get("validation_ratio")),
        "control_examples": count if isinstance(count, int) and not isinstance(count, bool) else 0,
        "source": str(raw.get("source") or ""),
        "samples": samples,
        "threshold": threshold,
        "warn": results.forgetting_warns(control_ratio, threshold),
    }


def forgetting(job: TrainingJob, project: Project, found: JobFindings) -> ForgettingView | None:
    report = _report((job.result or {}).get("forgetting"))
    if report is None:
        return None
    general = project.general_category or ""
    target = None
    for c in project.categories or []:
        if isinstance(c, dict) and c.get("name") == general:
            target = results.clean_float(c.get("target_share"))
    share = found.category_share(general) if general else None
    if not report["warn"]:
        cause = ""
        advice = results.forgetting_note(report) or (
            "No action needed: the adapter handles everyday requests about as well as the base model."
        )
    elif not general:
        cause = "The project names no general category, so the data's share of everyday conversations is unknown."
        advice = (
            "Set a general category with a target share in the project settings, add everyday conversations to it, "
            "then train again; fewer steps or a lower learning rate also forget less."
        )
    elif share is not None and target is not None and share < target:
        missing = math.ceil((target * found.total - share * found.total) / max(1e-9, 1 - target))
        cause = (
            f"General conversations ({general}) are {share:.0%} of the training data against a target of "
            f"{target:.0%}: the adapter saw too few everyday requests."
        )
        advice = (
            f"Add and approve about {missing} {general} example{'s' if missing != 1 else ''} to reach the target, "
            "then train a new version; fewer steps or a lower learning rate also forget less."
        )
    else:
        shown = f"{share:.0%}" if share is not None else "unknown"
        target_text = f" (target {target:.0%})" if target is not None else " (no target set)"
        cause = f"General conversations ({general}) are {shown} of the training data{target_text}."
        advice = (
            "The general share is not the cause: the adapter is likely over-trained. Train fewer steps or epochs, "
            "lower the learning rate or the rank."
        )
    return ForgettingView(
        report=report, general_category=general, general_share=share, general_target=target, cause=cause, advice=advice
    )


# -- loading --------------------------------------------------------------------------------------


def adapter_job(user, project_id: Any, adapter_id: Any) -> tuple[Adapter, TrainingJob | None]:
    """The adapter (within a project the user sees) and the job that produced it (None: combined)."""
    from django.http import Http404

    from annotation import permissions

    project = permissions.project_for(user, project_id)
    try:
        adapter = Adapter.objects.select_related(
            "job", "job__base_model", "job__dataset_version", "job__created_by", "base_model"
        ).get(project=project, pk=adapter_id)
    except (Adapter.DoesNotExist, ValueError, TypeError):
        raise Http404("No such adapter.") from None
    adapter.project = project
    job = adapter.job
    if job is not None:
        job.project = project
    return adapter, job


def job_state_note(job: TrainingJob, found: JobFindings) -> str:
    """Why the page has no scores to show ("" when it has)."""
    if found.total:
        return ""
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return f"Job #{job.pk} is {job.get_status_display().lower()}: its examples are scored once it succeeds."
    if job.status != JobStatus.SUCCEEDED:
        return f"Job #{job.pk} {job.get_status_display().lower()}: only a successful job scores its examples."
    return (
        f"Job #{job.pk} has no per-example scores: it finished before scoring existed, or scoring did not run "
        "(see the job's log)."
    )


def forgetting_for(job: TrainingJob | None) -> ForgettingView | None:
    """The forgetting view of a finished job for the job, adapter and compare pages (None: no report)."""
    if job is None or not isinstance((job.result or {}).get("forgetting"), dict):
        return None
    return forgetting(job, job.project, job_findings(job))
